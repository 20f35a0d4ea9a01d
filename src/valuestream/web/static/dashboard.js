// The dashboard: the report (rebuilt by the server from the workspace), the weekly check and the
// events log. It reloads what changed when the workspace does (an import from the CLI, an event).
"use strict";

(() => {
  const { api, el, toast } = VS;
  const $ = (id) => document.getElementById(id);

  async function loadEvents() {
    const events = await api("GET", "/api/events");
    $("events").replaceChildren(...(events.length ? events.slice().reverse().map((e) => el("li", {},
      el("span", { class: "date", text: e.date }), el("span", { class: "title", text: e.title }),
      el("span", { class: "event-kind", text: e.kind }),
      e.id === 0 ? el("span", { class: "muted", title: "Written in the map's stream file, not in the workspace's log", text: "in the map" }) : el("button", { class: "link", text: "remove", title: "Take it out of the log", onclick: async () => {
        if (!window.confirm(`Remove '${e.title}' (${e.date}) from the events log?`)) return;
        try { await api("DELETE", `/api/events/${e.id}`); } catch (err) { toast(err.message, true); }
      } }))) : [el("li", { class: "muted", text: "No events yet." })]));
  }

  async function loadCheck() {
    const c = await api("GET", "/api/check");
    const box = $("check");
    if (c.missing) {
      box.replaceChildren(el("h2", { text: "Weekly check" }), el("p", { class: "muted", text: c.missing }));
      return;
    }
    box.replaceChildren(
      el("h2", { text: "Weekly check" }),
      el("ul", { class: "verdicts" }, ...c.verdicts.map((v) => {
        const [head, ...rest] = v.split(": ");
        return el("li", { class: /no signal/.test(v) ? "calm" : /signal/.test(v) ? "signal" : "" }, el("strong", { text: head + ": " }), rest.join(": "));
      })),
      el("details", {}, el("summary", { text: "The whole check: signals, rates, oldest items" }), el("pre", { text: c.explain })),
    );
  }

  function reloadReport() {
    $("report").src = `/dashboard/report?t=${Date.now()}`;
    lastLoad = Date.now();
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  $("ev-date").value = new Date().toISOString().slice(0, 10);
  $("event-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/events", { date: $("ev-date").value, title: $("ev-title").value.trim(), kind: $("ev-kind").value.trim() || "policy", new_period: $("ev-period").checked });
      $("ev-title").value = "";
      toast("Added to the events log.");
    } catch (err) { toast(err.message, true); }
  });

  let timer = null;
  let seen = null; // the map version the report was built on
  let lastLoad = Date.now();
  let mapTimer = null;
  const refresh = () => { clearTimeout(timer); timer = setTimeout(() => { reloadReport(); loadEvents(); loadCheck(); }, 300); };
  VS.live((msg) => {
    if (msg.type === "events" || msg.type === "workspace") refresh();
    else if (msg.type === "map") {
      $("name").textContent = `${msg.state.stream.name || "Value stream"}: team dashboard`;
      // a new map version redraws the report at most every half minute: while the room edits the
      // board, rebuilding the whole report on every change would keep the laptop busy
      if (seen !== null && msg.state.version !== seen) {
        const wait = Math.max(0, 30000 - (Date.now() - lastLoad));
        clearTimeout(mapTimer);
        mapTimer = setTimeout(refresh, wait);
      }
      seen = msg.state.version;
    }
  }, $("live"));
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  loadEvents().catch((err) => toast(err.message, true));
  loadCheck().catch((err) => toast(err.message, true));
})();
