// Shared by the board, the presenter view and the dashboard: the API, the live socket, the clock.
// User text only ever reaches the page through textContent (see el()); the one piece of markup
// inserted as is, the map picture, is SVG the server drew with every text escaped.
"use strict";

const VS = (() => {
  const csrf = document.querySelector('meta[name="csrf"]').content;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the page's CSP
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, body) {
    const opts = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    const type = res.headers.get("content-type") || "";
    const data = type.includes("json") ? await res.json() : await res.text();
    if (res.status === 401) window.location = "/login?next=" + encodeURIComponent(location.pathname);
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  function toast(text, bad = false) {
    const t = el("div", { class: "toast" + (bad ? " bad" : ""), role: "status", text });
    document.body.append(t);
    setTimeout(() => t.remove(), bad ? 6000 : 2500);
  }

  // The live socket: reconnects with backoff, and says so in the badge.
  function live(onMessage, badge) {
    let delay = 500;
    let sock = null;
    let pinger = null;
    function open() {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
      sock = new WebSocket(url);
      sock.onopen = () => {
        delay = 500;
        if (badge) { badge.textContent = "live"; badge.classList.replace("off", "live"); }
        pinger = setInterval(() => sock.readyState === 1 && sock.send("ping"), 20000);
      };
      sock.onmessage = (e) => onMessage(JSON.parse(e.data));
      sock.onclose = () => {
        clearInterval(pinger);
        if (badge) { badge.textContent = "reconnecting…"; badge.classList.replace("live", "off"); }
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 8000);
      };
    }
    open();
  }

  function days(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (v === 0) return "0 d";
    if (v < 1) return `${(v * 24).toFixed(v * 24 < 10 ? 1 : 0)} h`;
    return `${v.toFixed(v < 10 ? 1 : 0)} d`;
  }
  const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`);

  // An estimate in its file form: 3, [2, 5] or {observed: [...]}.
  function estimateText(e) {
    if (e === null || e === undefined) return null;
    if (typeof e === "number") return days(e);
    if (Array.isArray(e)) return `${days(e[0])}–${days(e[1])}`;
    if (e.observed) {
      const mean = e.observed.reduce((a, b) => a + b, 0) / e.observed.length;
      return `${days(mean)} (${e.observed.length} seen)`;
    }
    return null;
  }

  // The agenda clock: the server sends elapsed seconds; this page counts on from when it got them.
  function clock(render) {
    let state = null;
    let got = 0;
    function now() {
      if (!state) return null;
      const run = state.running ? ((performance.now() - got) / 1000) * state.speed : 0;
      const elapsed = Math.min(state.elapsed + run, state.total);
      let phase = state.phases.findIndex((p) => elapsed / 60 < p.end);
      if (phase < 0) phase = state.phases.length - 1;
      const p = state.phases[phase];
      return { ...state, elapsed, phase, left: Math.max(p.end * 60 - elapsed, 0), current: p };
    }
    setInterval(() => state && render(now()), 250);
    return {
      set(s) { state = s; got = performance.now(); render(now()); },
      now,
    };
  }

  const mmss = (s) => {
    const m = Math.floor(s / 60);
    const sec = Math.floor(s % 60);
    return `${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
  };

  function phaseBar(container, c) {
    container.replaceChildren(
      ...c.phases.map((p, i) => {
        const span = p.end - p.start;
        const done = Math.max(0, Math.min(1, (c.elapsed / 60 - p.start) / span));
        return el("div", { class: i === c.phase ? "current" : "", style: `flex:${span}`, title: `${p.start}–${p.end} min: ${p.title}` },
          el("span", { style: `width:${(done * 100).toFixed(1)}%` }));
      }),
    );
  }

  return { api, el, toast, live, days, pct, estimateText, clock, mmss, phaseBar, ApiError, csrf };
})();
