// The live board: the wall of steps, the totals, the agenda, and every edit sent with the version
// it was made on. The server answers a clash with 409 and the current map; the page shows both.
"use strict";

(() => {
  const { api, el, toast, days, pct, estimateText } = VS;
  const $ = (id) => document.getElementById(id);
  let state = null; // the latest map state the server sent
  let editing = null; // the step name open in the dialog (null: a new step)
  let editBase = 0; // the map version the dialog was opened on

  // -- edits ----------------------------------------------------------------------------------

  // Send one edit; on a clash show both sides and let the person choose.
  // ``made_on``: the version the person was looking at when they started the change (the step
  // dialog keeps the version it opened on); by default the version on screen now.
  async function send(method, path, body, describe, madeOn) {
    const base = madeOn !== undefined ? madeOn : state ? state.version : 0;
    const payload = body === undefined ? undefined : { base_version: base, ...body };
    const url = method === "DELETE" ? `${path}?base_version=${base}` : path;
    try {
      const res = await api(method, url, payload);
      show(res.state);
      return res;
    } catch (err) {
      if (err.status === 409) {
        show(err.body.current);
        conflict(err.body, describe, () => send(method, path, body, describe));
      } else {
        toast(err.message, true);
      }
      throw err;
    }
  }

  function conflict(body, mine, retry) {
    $("conflict-text").textContent = `${body.detail}. Your change was not saved yet.`;
    const theirs = (body.touched || []).map((key) => {
      const steps = body.current.stream.steps || [];
      if (key.startsWith("step:")) {
        const s = steps.find((x) => x.name === key.slice(5));
        return s ? JSON.stringify(s, null, 1) : `${key.slice(5)}: no longer on the board`;
      }
      return `${key}: ${JSON.stringify(key === "order" ? steps.map((s) => s.name) : body.current.stream[key], null, 1)}`;
    });
    $("conflict-theirs").textContent = theirs.join("\n\n") || "(see the board)";
    $("conflict-mine").textContent = mine || "";
    const dlg = $("conflict-dialog");
    $("conflict-keep").onclick = () => dlg.close();
    $("conflict-mine-btn").onclick = () => { dlg.close(); retry().catch(() => {}); };
    dlg.showModal();
  }

  // -- rendering ------------------------------------------------------------------------------

  function show(next) {
    if (!next) return;
    if (state && next.version < state.version) return; // an older broadcast arriving late
    const picture = !state || next.version !== state.version || next.data_stamp !== state.data_stamp;
    state = next;
    const s = state.stream;
    $("name").textContent = s.name || "Value stream";
    $("product").textContent = s.product || "";
    document.title = `${s.name || "Value stream"} · valuestream board`;
    $("version").textContent = state.version ? `version ${state.version}` : "no map saved yet";
    renderTotals();
    renderScope();
    renderWall();
    renderPanels();
    if (picture) loadPicture();
  }

  let pictureTimer = null;
  function loadPicture() {
    clearTimeout(pictureTimer);
    pictureTimer = setTimeout(async () => {
      const frame = $("picture");
      if (!(state.stream.steps || []).length) {
        frame.replaceChildren(el("p", { class: "muted", text: "Add a step to see the map." }));
        return;
      }
      const res = await fetch(`/api/map/svg?version=${state.version}`);
      if (res.ok) frame.innerHTML = await res.text(); // server-drawn SVG, every text escaped
    }, 400);
  }

  function total(value, what, extra, cls = "") {
    return el("div", { class: `total ${cls}` }, el("div", { class: "value", text: value }), el("div", { class: "what", text: what }), extra ? el("div", { class: "range", text: extra }) : null);
  }

  function renderTotals() {
    const t = state.figures.totals;
    const q = state.quality;
    const ranged = t.lead_high > t.lead_low ? `${days(t.lead_low)} to ${days(t.lead_high)}` : null;
    $("totals").replaceChildren(
      total(days(t.lead), "lead time per item", ranged),
      total(days(t.touch), "touch (work)", null),
      total(days(t.wait), "wait", null),
      total(pct(t.flow_efficiency), "flow efficiency", t.flow_efficiency_high > t.flow_efficiency_low ? `${pct(t.flow_efficiency_low)} to ${pct(t.flow_efficiency_high)}` : null),
      total(pct(q.rolled_estimated), "rolled %C&A", q.rolled_measured !== null ? `data: ${pct(q.rolled_measured)}` : null),
      total(state.constraint || "–", "the constraint", null, "constraint"),
    );
  }

  function renderScope() {
    const steps = state.stream.steps || [];
    const scope = state.stream.scope || {};
    const pick = (id, value) => {
      const sel = el("select", { id }, el("option", { value: "", text: "(first / last step)" }), ...steps.map((st) => el("option", { value: st.name, text: st.name, selected: st.name === value })));
      sel.addEventListener("change", () => send("PUT", "/api/map/scope", { start: $("scope-start").value || null, finish: $("scope-finish").value || null }, "scope").catch(() => {}));
      return sel;
    };
    const first = steps.find((x) => x.name === scope.start) || steps[0];
    const last = steps.find((x) => x.name === scope.finish) || steps[steps.length - 1];
    $("scope").replaceChildren(
      el("div", {}, el("label", { for: "scope-start", text: "Stream starts at" }), pick("scope-start", scope.start)),
      el("div", { class: "criteria" }, el("label", { text: "Entry criteria" }), first && first.entry ? first.entry : "– (set on the first step)"),
      el("div", {}, el("label", { for: "scope-finish", text: "Stream finishes at" }), pick("scope-finish", scope.finish)),
      el("div", { class: "criteria" }, el("label", { text: "Exit criteria" }), last && last.exit ? last.exit : "– (set on the last step)"),
    );
  }

  function measuredFor(name) {
    return (state.comparison || []).find((r) => r.step === name && r.basis === "measured") || null;
  }

  function stepCard(step, i) {
    const fig = state.figures.steps[i] || {};
    const m = measuredFor(step.name);
    const q = (state.quality.steps || [])[i] || {};
    const touch = estimateText(step.touch_days);
    let wait = estimateText(step.wait_days);
    if (step.batch_every_days) wait = `${wait ? wait + " + " : ""}${days(step.batch_every_days / 2)} batching`;
    const card = el("div", {
      class: "step" + (state.constraint === step.name ? " constraint" : ""),
      draggable: "true",
      dataset: { name: step.name, index: String(i) },
      tabindex: "0",
      "aria-label": `Step ${i + 1}: ${step.name}`,
    },
      el("div", { class: "head" },
        el("div", {}, el("div", { class: "name", text: step.name }), el("div", { class: "owner", text: step.owner || "no owner yet" })),
        el("span", { class: `kind ${step.kind || "work"}`, text: (step.kind || "work").replace("_", " ") })),
      el("div", { class: "note wait" + (wait ? "" : " empty") }, el("span", { class: "label", text: "wait" }), el("span", { class: "days", text: wait || "?" })),
      el("div", { class: "note touch" + (touch ? "" : " empty") }, el("span", { class: "label", text: "touch" }), el("span", { class: "days", text: touch || "?" })),
      fig.visits > 1.0001 ? el("div", { class: "extra", text: `passes ${fig.visits.toFixed(2)}× (rework)` }) : null,
      m ? el("div", { class: "measured" + (m.flag ? " flag" : ""), title: m.note || "" },
        m.flag
          ? `⚑ the wall says ${days(m.est_wait)} wait, the data says ${days(m.wait_p50)}` + (m.touch_ratio && (m.touch_ratio > 2 || m.touch_ratio < 0.5) ? `; touch ${days(m.est_touch)} vs ${days(m.touch_p50)}` : "")
          : `data (${m.items} items): wait ${days(m.wait_p50)}, touch ${days(m.touch_p50)}`) : null,
      q.judged_by ? el("div", { class: "quality" }, el("span", { text: `%C&A ${pct(q.estimated)}` }), el("span", { text: q.measured !== null && q.measured !== undefined ? `data ${pct(q.measured)}` : "" })) : null,
      step.notes ? el("div", { class: "extra", text: `“${step.notes}”` }) : null,
    );
    card.addEventListener("click", () => openStep(step));
    card.addEventListener("keydown", (e) => { if (e.key === "Enter") openStep(step); });
    card.addEventListener("dragstart", (e) => { e.dataTransfer.setData("text/plain", step.name); card.classList.add("dragging"); });
    card.addEventListener("dragend", () => card.classList.remove("dragging"));
    card.addEventListener("dragover", (e) => { e.preventDefault(); card.classList.add("drop-before"); });
    card.addEventListener("dragleave", () => card.classList.remove("drop-before"));
    card.addEventListener("drop", (e) => {
      e.preventDefault();
      card.classList.remove("drop-before");
      const name = e.dataTransfer.getData("text/plain");
      const names = state.stream.steps.map((x) => x.name);
      const from = names.indexOf(name);
      let to = i;
      if (from < 0 || from === to) return;
      if (from < to) to -= 1;
      send("POST", `/api/map/steps/${encodeURIComponent(name)}/move`, { to }, `move ${name} to place ${to + 1}`).catch(() => {});
    });
    return card;
  }

  function renderWall() {
    const steps = state.stream.steps || [];
    const wall = $("wall");
    if (!steps.length) {
      wall.replaceChildren(el("div", { class: "empty-board" },
        el("h2", { text: "An empty wall" }),
        el("p", { class: "muted", text: "Start from a template, from the imported data, or put up the first step." }),
        el("div", { class: "choices" },
          el("button", { class: "primary", onclick: openTemplates, text: "Choose a template" }),
          el("button", { onclick: discover, text: "Start from the data" }),
          el("button", { onclick: () => openStep(null), text: "+ Add the first step" }))));
      return;
    }
    const cards = [];
    steps.forEach((st, i) => {
      if (i) cards.push(el("div", { class: "arrow", "aria-hidden": "true", text: "→" }));
      cards.push(stepCard(st, i));
    });
    cards.push(el("button", { class: "add-step", id: "add-step", onclick: () => openStep(null), text: "+ Add step" }));
    wall.replaceChildren(...cards);
  }

  // -- panels ---------------------------------------------------------------------------------

  function renderPanels() {
    renderRework();
    renderData();
    renderQuality();
    renderWorkflow();
    renderExperimentPanel();
    renderBaselines();
  }

  function renderRework() {
    const steps = (state.stream.steps || []).map((s) => s.name);
    const loops = state.stream.rework || [];
    const rows = loops.map((l, k) => el("tr", {},
      el("td", { text: l.from }), el("td", { text: "→ " + l.to }), el("td", { class: "num", text: pct(l.share) }),
      el("td", {}, el("button", { class: "link", text: "remove", onclick: () => putLoops(loops.filter((_, j) => j !== k)) }))));
    const from = el("select", { id: "loop-from" }, ...steps.map((n) => el("option", { value: n, text: n })));
    const to = el("select", { id: "loop-to" }, ...steps.map((n) => el("option", { value: n, text: n })));
    const share = el("input", { id: "loop-share", type: "number", min: "1", max: "99", value: "20" });
    $("panel-rework").replaceChildren(
      el("h2", { text: "Rework loops" }),
      el("p", { class: "muted", text: "A share of the items leaving a step goes back to an earlier one." }),
      rows.length ? el("table", {}, el("tr", {}, el("th", { text: "from" }), el("th", { text: "back to" }), el("th", { class: "num", text: "share" }), el("th", {})), ...rows) : el("p", { class: "muted", text: "No rework loops yet." }),
      steps.length > 1 ? el("div", { class: "row" },
        el("div", {}, el("label", { for: "loop-from", text: "From" }), from),
        el("div", {}, el("label", { for: "loop-to", text: "back to" }), to),
        el("div", {}, el("label", { for: "loop-share", text: "share %" }), share),
        el("div", {}, el("button", { id: "loop-add", text: "Add loop", onclick: () => putLoops([...loops, { from: from.value, to: to.value, share: Number(share.value) / 100 }]) }))) : null,
    );
  }

  const putLoops = (loops) => send("PUT", "/api/map/rework", { loops }, `rework loops: ${loops.map((l) => `${l.from}→${l.to} ${pct(l.share)}`).join(", ") || "none"}`).catch(() => {});

  function renderData() {
    const p = $("panel-data");
    if (!state.has_data) {
      p.replaceChildren(el("h2", { text: "The wall and the data" }),
        el("p", { class: "muted", text: "No item histories in this workspace yet: the figures are the room's estimates. Import a tracker export with 'valuestream import' and the measured times appear beside them." }));
      return;
    }
    const flagged = (state.comparison || []).filter((r) => r.flag);
    p.replaceChildren(
      el("h2", { text: `The wall and the data (${state.items} items)` }),
      el("p", { text: state.comparison_explain || "" }),
      flagged.length ? el("table", {}, el("tr", {}, el("th", { text: "step" }), el("th", { class: "num", text: "wall wait" }), el("th", { class: "num", text: "data wait p50" }), el("th", { text: "note" })),
        ...flagged.map((r) => el("tr", {}, el("td", { text: r.step }), el("td", { class: "num", text: days(r.est_wait) }), el("td", { class: "num", text: days(r.wait_p50) }), el("td", { text: r.note })))) : null,
    );
  }

  function renderQuality() {
    const rows = (state.quality.steps || []).filter((r) => r.judged_by);
    $("panel-quality").replaceChildren(
      el("h2", { text: "%C&A: complete and accurate" }),
      el("p", { text: state.quality.explain }),
      rows.length ? el("table", {}, el("tr", {}, el("th", { text: "step" }), el("th", { text: "judged by" }), el("th", { class: "num", text: "estimated" }), el("th", { class: "num", text: "measured" })),
        ...rows.map((r) => el("tr", {}, el("td", { text: r.step }), el("td", { text: r.judged_by }), el("td", { class: "num", text: pct(r.estimated) }), el("td", { class: "num", text: pct(r.measured) })))) : null,
    );
  }

  function renderWorkflow() {
    if ($("panel-workflow").contains(document.activeElement)) return; // someone is typing here
    const wf = state.stream.workflow || null;
    const input = (id, label, value, hint) => el("div", {}, el("label", { for: id, text: label }), el("input", { id, value: value || "", placeholder: hint || "" }));
    const list = (v) => (v || []).join(", ");
    $("panel-workflow").replaceChildren(
      el("h2", { text: "Tracker states and blocked states" }),
      el("p", { class: "muted", text: "How the tracker's states map onto the stream, so the data can be measured against the wall. Each step lists its own states in its sticky." }),
      el("div", { class: "row" }, input("wf-start", "Start state", wf && wf.start, "Opportunity"), input("wf-finish", "Finish state", wf && wf.finish, "Adopted")),
      input("wf-touch", "Touch states", list(wf && wf.touch), "Discovery, Build, Test"),
      input("wf-wait", "Wait states", list(wf && wf.wait), "Ready for Dev, Legal Review"),
      input("wf-blocked", "Blocked states", list(wf && wf.blocked), "Blocked, On hold"),
      el("div", { class: "actions" },
        wf ? el("button", { class: "link", text: "remove the mapping", onclick: () => send("PUT", "/api/map/workflow", { workflow: null }, "remove the tracker mapping").catch(() => {}) }) : null,
        el("button", { id: "wf-save", text: "Save mapping", onclick: saveWorkflow })),
    );
  }

  const splitList = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);

  function saveWorkflow() {
    const start = $("wf-start").value.trim();
    const finish = $("wf-finish").value.trim();
    if (!start || !finish) { toast("The mapping needs a start and a finish state.", true); return; }
    const workflow = { start, finish, touch: splitList($("wf-touch").value), wait: splitList($("wf-wait").value), blocked: splitList($("wf-blocked").value) };
    send("PUT", "/api/map/workflow", { workflow }, "tracker mapping").catch(() => {});
  }

  let ranked = null;
  function renderExperimentPanel() {
    const p = $("panel-experiment");
    const arrivals = el("input", { id: "exp-arrivals", type: "number", min: "0.1", step: "any", placeholder: "items per week" });
    const parts = [
      el("h2", { text: "Choose one experiment" }),
      el("p", { class: "muted", text: "Candidate changes, one per step, simulated on this map as 'valuestream experiments' does, ranked by the days they take off the lead time." }),
      el("div", { class: "row" },
        state.has_data ? null : el("div", {}, el("label", { for: "exp-arrivals", text: "Items entering per week" }), arrivals),
        el("div", {}, el("button", { id: "exp-rank", class: "primary", text: ranked ? "Rank again" : "Rank the candidates", onclick: () => rank(arrivals.value) }))),
    ];
    if (ranked) {
      parts.push(el("p", { text: ranked.explain }));
      parts.push(el("table", { id: "experiments" },
        el("tr", {}, el("th", { text: "#" }), el("th", { text: "change" }), el("th", { class: "num", text: "days saved" }), el("th", { class: "num", text: `value / week (${ranked.currency})` }), el("th", {})),
        ...ranked.candidates.map((c) => el("tr", { class: c.at_constraint ? "at-constraint" : "" },
          el("td", { text: String(c.rank) }), el("td", { text: c.change }),
          el("td", { class: "num", text: c.days_saved === null ? "–" : `${c.days_saved.toFixed(1)} (${(c.days_saved_low ?? 0).toFixed(1)}–${(c.days_saved_high ?? 0).toFixed(1)})` }),
          el("td", { class: "num", text: c.value_per_week === null ? "–" : Math.round(c.value_per_week).toLocaleString() }),
          el("td", {}, el("button", { class: "choose", text: "Choose", onclick: () => choose(c.change) }))))));
      parts.push(el("p", { class: "muted", text: `Basis: ${ranked.basis}; ${ranked.items.toLocaleString()} simulated items × ${ranked.replications}. ★ = at the constraint.` }));
    }
    p.replaceChildren(...parts);
  }

  async function rank(arrivals) {
    const btn = $("exp-rank");
    btn.disabled = true;
    btn.textContent = "Simulating…";
    try {
      ranked = await api("GET", "/api/experiments" + (arrivals ? `?arrivals_per_week=${encodeURIComponent(arrivals)}` : ""));
    } catch (err) {
      toast(err.message, true);
    }
    renderExperimentPanel();
  }

  async function choose(change) {
    const day = new Date().toISOString().slice(0, 10);
    try {
      await api("POST", "/api/experiments/choose", { change, date: day });
      toast(`Written to the events log for ${day}: ${change}`);
    } catch (err) {
      toast(err.message, true);
    }
  }

  function renderBaselines() {
    const tp = el("input", { id: "base-throughput", type: "number", min: "0.1", step: "any", placeholder: "items finished per week" });
    $("panel-baselines").replaceChildren(
      el("h2", { text: "Measures and cadence" }),
      el("p", { class: "muted", text: state.has_data ? "Record today's lead time, flow efficiency and throughput (measured over the last 90 days) in the events log, then book the 15-minute weekly check." : "Record the map's lead time and flow efficiency and the room's throughput in the events log, then book the 15-minute weekly check." }),
      el("div", { class: "row" },
        state.has_data ? null : el("div", {}, el("label", { for: "base-throughput", text: "Throughput per week" }), tp),
        el("div", {}, el("button", { id: "base-record", text: "Record the three baselines", onclick: async () => {
          try {
            const r = await api("POST", "/api/baselines", { date: new Date().toISOString().slice(0, 10), throughput_per_week: tp.value ? Number(tp.value) : null });
            toast(r.title);
          } catch (err) { toast(err.message, true); }
        } }))),
      el("p", {}, el("a", { href: "/dashboard", text: "The weekly check lives on the dashboard →" })),
    );
  }

  // -- the step dialog ------------------------------------------------------------------------

  const FORMS = [["none", "no estimate"], ["number", "days"], ["range", "low–high"], ["observed", "observed"]];
  for (const id of ["f-touch-form", "f-wait-form"]) $(id).replaceChildren(...FORMS.map(([v, t]) => el("option", { value: v, text: t })));

  function fillEstimate(key, e) {
    const form = $(`f-${key}-form`);
    const input = $(`f-${key}`);
    if (e === undefined || e === null) { form.value = "none"; input.value = ""; }
    else if (typeof e === "number") { form.value = "number"; input.value = String(e); }
    else if (Array.isArray(e)) { form.value = "range"; input.value = `${e[0]}-${e[1]}`; }
    else { form.value = "observed"; input.value = e.observed.join(" "); }
  }

  function readEstimate(key) {
    const form = $(`f-${key}-form`).value;
    const text = $(`f-${key}`).value.trim();
    if (form === "none" || !text) return null;
    const nums = text.split(/[\s,;–-]+/).filter(Boolean).map(Number);
    if (nums.some((n) => Number.isNaN(n))) throw new Error(`${key}: write days as numbers, like 2, 1-3 or 1 4 2`);
    if (form === "number") return nums[0];
    if (form === "range") { if (nums.length !== 2) throw new Error(`${key}: a range is two numbers, low-high`); return nums; }
    return { observed: nums };
  }

  function openStep(step) {
    editing = step ? step.name : null;
    editBase = state ? state.version : 0;
    $("step-title").textContent = step ? `Step: ${step.name}` : "New step";
    $("f-name").value = step ? step.name : "";
    $("f-kind").value = step ? step.kind || "work" : "work";
    $("f-owner").value = (step && step.owner) || "";
    $("f-states").value = step && step.states ? step.states.join(", ") : "";
    fillEstimate("touch", step && step.touch_days);
    fillEstimate("wait", step && step.wait_days);
    $("f-batch").value = (step && step.batch_every_days) || "";
    $("f-capacity").value = (step && step.capacity) || "";
    $("f-entry").value = (step && step.entry) || "";
    $("f-exit").value = (step && step.exit) || "";
    $("f-notes").value = (step && step.notes) || "";
    $("step-error").textContent = "";
    $("step-delete").classList.toggle("hidden", !step);
    $("step-dialog").showModal();
    $("f-name").focus();
  }

  function readStep() {
    const out = { name: $("f-name").value.trim(), kind: $("f-kind").value };
    const text = { owner: "f-owner", entry: "f-entry", exit: "f-exit", notes: "f-notes" };
    for (const [k, id] of Object.entries(text)) { const v = $(id).value.trim(); if (v) out[k] = v; }
    const states = splitList($("f-states").value);
    if (states.length) out.states = states;
    const touch = readEstimate("touch");
    const wait = readEstimate("wait");
    if (touch !== null) out.touch_days = touch;
    if (wait !== null) out.wait_days = wait;
    if ($("f-batch").value) out.batch_every_days = Number($("f-batch").value);
    if ($("f-capacity").value) out.capacity = Number($("f-capacity").value);
    const old = editing && state.stream.steps.find((s) => s.name === editing);
    if (old && old.visits) out.visits = old.visits;
    return out;
  }

  $("step-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    let step;
    try { step = readStep(); } catch (err) { $("step-error").textContent = err.message; return; }
    const describe = JSON.stringify(step, null, 1);
    try {
      if (editing === null) await send("POST", "/api/map/steps", { step }, describe, editBase);
      else await send("PUT", `/api/map/steps/${encodeURIComponent(editing)}`, { step }, describe, editBase);
      $("step-dialog").close();
    } catch (err) {
      if (err.status === 409) $("step-dialog").close();
      else $("step-error").textContent = err.message;
    }
  });
  $("step-cancel").addEventListener("click", () => $("step-dialog").close());
  $("step-delete").addEventListener("click", async () => {
    const name = editing;
    try { await send("DELETE", `/api/map/steps/${encodeURIComponent(name)}`, undefined, `delete ${name}`, editBase); } catch (err) { return; }
    $("step-dialog").close();
  });

  // -- header, templates, data, versions, files ---------------------------------------------

  $("name").addEventListener("click", () => {
    const name = window.prompt("The stream's name", state.stream.name || "");
    if (name === null || !name.trim()) return;
    const product = window.prompt("The product or slice it is about (optional)", state.stream.product || "");
    send("PUT", "/api/map/header", { name: name.trim(), product: product && product.trim() ? product.trim() : null }, `name: ${name}`).catch(() => {});
  });

  async function openTemplates() {
    const names = Object.keys(await api("GET", "/api/templates"));
    $("templates-list").replaceChildren(...names.map((n) => el("button", { text: n, onclick: async () => {
      $("templates-dialog").close();
      await send("POST", "/api/map/template", { name: n }, `template ${n}`).catch(() => {});
    } })));
    $("templates-dialog").showModal();
  }
  $("btn-templates").addEventListener("click", openTemplates);
  $("templates-close").addEventListener("click", () => $("templates-dialog").close());

  async function discover() {
    if ((state.stream.steps || []).length && !window.confirm("Replace the board with the steps the data shows? (The current map stays as a version.)")) return;
    await send("POST", "/api/map/discover", {}, "start from the data").catch(() => {});
  }
  $("btn-discover").addEventListener("click", discover);

  let chosenVersion = null;
  $("btn-versions").addEventListener("click", async () => {
    const list = await api("GET", "/api/map/versions");
    chosenVersion = null;
    $("version-restore").disabled = true;
    $("version-yaml").textContent = "Pick a version.";
    const rows = list.map((v) => {
      const tr = el("tr", { dataset: { version: String(v.version) } }, el("td", { text: `v${v.version}` }), el("td", { text: new Date(v.saved_at).toLocaleString() }), el("td", { text: v.name || "" }));
      tr.addEventListener("click", async () => {
        for (const r of $("versions-table").querySelectorAll("tr")) r.classList.remove("selected");
        tr.classList.add("selected");
        const one = await api("GET", `/api/map/versions/${v.version}`);
        chosenVersion = v.version;
        $("version-yaml").textContent = one.yaml;
        $("version-restore").disabled = v.version === state.version;
      });
      return tr;
    });
    $("versions-table").replaceChildren(...rows);
    $("versions-dialog").showModal();
  });
  $("versions-close").addEventListener("click", () => $("versions-dialog").close());
  $("version-restore").addEventListener("click", async () => {
    if (chosenVersion === null) return;
    await send("POST", `/api/map/versions/${chosenVersion}/restore`, {}, `restore version ${chosenVersion}`).catch(() => {});
    $("versions-dialog").close();
  });

  $("btn-upload").addEventListener("click", () => { $("upload-error").textContent = ""; $("upload-dialog").showModal(); });
  $("upload-cancel").addEventListener("click", () => $("upload-dialog").close());
  $("upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = $("upload-file").files[0];
    if (!file) { $("upload-error").textContent = "Choose a stream.yaml file first."; return; }
    try {
      await send("PUT", "/api/map/yaml", { yaml: await file.text() }, `upload ${file.name}`);
      $("upload-dialog").close();
    } catch (err) { $("upload-error").textContent = err.message; }
  });

  // -- the agenda -----------------------------------------------------------------------------

  const clock = VS.clock((c) => {
    $("clock").textContent = VS.mmss(c.finished ? c.total : c.elapsed);
    $("clock").title = `${VS.mmss(c.left)} left in this phase`;
    $("phase-title").textContent = `${c.current.start}–${c.current.end} min · ${c.current.title}` + (c.running ? "" : c.elapsed > 0 ? " (paused)" : " (not started)");
    $("prompt").textContent = c.current.prompt;
    VS.phaseBar($("phases"), c);
    $("agenda-start").disabled = c.running;
    $("agenda-pause").disabled = !c.running;
    const exp = $("panel-experiment");
    exp.classList.toggle("focus", c.current.key === "experiment");
  });
  const guard = (g) => $("guardrails").replaceChildren(...g.map((t) => el("span", { text: t })));
  for (const action of ["start", "pause", "next", "reset"]) {
    $(`agenda-${action}`).addEventListener("click", async () => {
      try { clock.set(await api("POST", `/api/agenda/${action}`)); } catch (err) { toast(err.message, true); }
    });
  }
  $("facilitate").addEventListener("change", (e) => $("controls").classList.toggle("hidden", !e.target.checked));
  if (new URLSearchParams(location.search).has("facilitator")) { $("facilitate").checked = true; $("controls").classList.remove("hidden"); }

  // -- live -----------------------------------------------------------------------------------

  VS.live((msg) => {
    if (msg.type === "map") show(msg.state);
    else if (msg.type === "agenda" || msg.type === "pong") { clock.set(msg.agenda); guard(msg.agenda.guardrails); }
    else if (msg.type === "presence") $("presence").textContent = `${msg.count} here`;
  }, $("live"));
  api("GET", "/api/map").then(show).catch((err) => toast(err.message, true));
  window.vsBoard = { state: () => state };
})();
