// The presenter view: the clock, the phase and its prompt, the totals and the map, large.
"use strict";

(() => {
  const { el, days, pct } = VS;
  const $ = (id) => document.getElementById(id);
  let version = null;
  let stamp = null;

  function show(state) {
    if (version !== null && state.version < version) return;
    const t = state.figures.totals;
    $("stream-name").textContent = [state.stream.name, state.stream.product].filter(Boolean).join(" · ");
    const box = (value, what, cls = "") => el("div", { class: `total ${cls}` }, el("div", { class: "value", text: value }), el("div", { class: "what", text: what }));
    $("totals").replaceChildren(
      box(days(t.lead), "lead time"), box(days(t.touch), "touch"), box(days(t.wait), "wait"),
      box(pct(t.flow_efficiency), "flow efficiency"), box(pct(state.quality.rolled_estimated), "rolled %C&A"),
      box(state.constraint || "–", "constraint", "constraint"),
    );
    if (state.version !== version || state.data_stamp !== stamp) {
      version = state.version;
      stamp = state.data_stamp;
      if ((state.stream.steps || []).length) {
        fetch(`/api/map/svg?version=${state.version}`).then((r) => (r.ok ? r.text() : "")).then((svg) => { $("picture").innerHTML = svg; });
      } else {
        $("picture").replaceChildren(el("p", { class: "muted", text: "The wall is empty: add the first step on the board." }));
      }
    }
  }

  const clock = VS.clock((c) => {
    $("clock").textContent = VS.mmss(c.finished ? 0 : c.left);
    $("phase-title").textContent = `${c.current.title}` + (c.running ? "" : c.elapsed > 0 ? " · paused" : " · not started");
    $("prompt").textContent = c.current.prompt;
    VS.phaseBar($("phases"), c);
    $("phase-names").replaceChildren(...c.phases.map((p, i) => el("div", { class: i === c.phase ? "current" : "", style: `flex:${p.end - p.start}`, text: `${p.start}′ ${p.title}` })));
    $("guardrails").replaceChildren(...c.guardrails.map((g) => el("span", { text: g })));
  });

  VS.live((msg) => {
    if (msg.type === "map") show(msg.state);
    else if (msg.type === "agenda" || msg.type === "pong") clock.set(msg.agenda);
  }, $("live"));
})();
