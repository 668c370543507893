// The dataset page's engine panels: what each training update executed, reused and why (from the run
// records' "work"), and one model's dependency graph drawn as SVG (from GET .../graph/).  Plain DOM and
// SVG, no library; polls the API every few seconds and redraws only when a new revision was recorded.
(() => {
  "use strict";

  const panel = document.getElementById("engine-work");
  const config = { runs: panel.dataset.runs, graph: panel.dataset.graph, modes: panel.dataset.modes.split(",") };
  const POLL_MS = 4000;
  const SVG = "http://www.w3.org/2000/svg";
  const STATE_TEXT = { executed: "executed", verified: "re-verified", reused: "reused (memo)", input: "input",
                       deleted: "deleted batch", unset: "slot never set" };
  const STATE_SHORT = { executed: "executed", verified: "re-verified", reused: "reused", input: "set",
                        deleted: "deleted", unset: "unset" };
  const BOX_GAP = 44, BOX_PAD = 8, CELL = 11, CELL_GAP = 2, TITLE_H = 34, ROW_GAP = 14;

  const state = { runs: new Map(), lastRevision: 0, graphKey: "", open: new Set() };
  const workTable = document.querySelector("#engine-work-table tbody");
  const countSelect = document.getElementById("engine-work-count");
  const modeSelect = document.getElementById("engine-graph-mode");
  const revisionSelect = document.getElementById("engine-graph-revision");
  const view = document.getElementById("engine-graph-view");

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { ok: response.ok, status: response.status, body };
  }

  function withQuery(url, params) {
    const target = new URL(url, window.location.origin);
    Object.entries(params).forEach(([k, v]) => { if (v !== "" && v !== null && v !== undefined) target.searchParams.set(k, v); });
    return target.toString();
  }

  function el(tag, attrs = {}, text = null) {
    const node = document.createElement(tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== null) node.textContent = text;
    return node;
  }

  function svg(tag, attrs = {}, parent = null) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    if (parent) parent.appendChild(node);
    return node;
  }

  // -- engine work per revision ----------------------------------------------------------------

  async function refreshRuns() {
    let next = withQuery(config.runs, { revision_min: Math.max(state.lastRevision, 1), page_size: 1000 });
    let changed = false;
    while (next) {
      const page = await getJSON(next);
      if (!page.ok) return false;
      for (const run of page.body.results) {
        const key = `${run.revision}:${run.mode}`;
        const old = state.runs.get(key);
        if (!old || old.created_at !== run.created_at) changed = true;
        state.runs.set(key, run);
        state.lastRevision = Math.max(state.lastRevision, run.revision);
      }
      next = page.body.next;
    }
    return changed;
  }

  function reasonsText(work) {
    const all = new Map();
    for (const fn of work.functions || []) {
      for (const reason of fn.reasons) {
        const text = `${fn.function}: ${reason.why}`;
        all.set(text, (all.get(text) || 0) + reason.count);
      }
    }
    const sorted = [...all.entries()].sort((a, b) => b[1] - a[1]);
    const shown = sorted.slice(0, 3).map(([text, n]) => `${n}× ${text}`);
    if (sorted.length > 3) shown.push(`and ${sorted.length - 3} more`);
    return shown.join("; ") || "nothing executed";
  }

  function drawWork() {
    const revisions = [...new Set([...state.runs.values()].map((r) => r.revision))].sort((a, b) => b - a);
    const shown = revisions.slice(0, Number(countSelect.value));
    workTable.replaceChildren();
    if (!shown.length) {
      const row = el("tr");
      row.appendChild(el("td", { colspan: 7, class: "muted" }, "No training records yet."));
      workTable.appendChild(row);
      return;
    }
    for (const revision of shown) {
      for (const mode of config.modes) {
        const run = state.runs.get(`${revision}:${mode}`);
        if (!run) continue;
        const work = run.work || {};
        const key = `${revision}:${mode}`;
        const row = el("tr", { class: "summary", "data-run": key, title: "Show each function's share" });
        row.append(el("td", { class: "num" }, String(revision)), el("td", {}, mode),
                   el("td", { class: "num" }, String(work.executed ?? run.executed)),
                   el("td", { class: "num" }, work.hits === undefined ? "–" : String(work.hits)),
                   el("td", { class: "num" }, work.verified === undefined ? "–" : String(work.verified)),
                   el("td", { class: "num" }, work.backdated === undefined ? "–" : String(work.backdated)),
                   el("td", { class: "why" }, work.functions ? reasonsText(work) : "not recorded (older record)"));
        row.addEventListener("click", () => {
          if (state.open.has(key)) state.open.delete(key); else state.open.add(key);
          drawWork();
        });
        workTable.appendChild(row);
        if (state.open.has(key) && work.functions) {
          for (const fn of work.functions) {
            const detail = el("tr", { class: "detail" });
            const why = fn.reasons.map((r) => `${r.count}× ${r.why}`).join("; ") || "–";
            detail.append(el("td"), el("td", {}, fn.function), el("td", { class: "num" }, String(fn.executed)),
                          el("td", { class: "num" }, String(fn.hits)), el("td", { class: "num" }, String(fn.verified)),
                          el("td", { class: "num" }, String(fn.backdated)), el("td", { class: "why" }, why));
            workTable.appendChild(detail);
          }
        }
      }
    }
  }

  function fillRevisions() {
    const chosen = revisionSelect.value;
    const revisions = [...new Set([...state.runs.values()].filter((r) => r.mode === modeSelect.value)
      .map((r) => r.revision))].sort((a, b) => b - a);
    revisionSelect.replaceChildren(el("option", { value: "" }, "latest"));
    for (const revision of revisions) revisionSelect.appendChild(el("option", { value: revision }, String(revision)));
    revisionSelect.value = revisions.includes(Number(chosen)) ? chosen : "";
  }

  // -- the dependency graph --------------------------------------------------------------------

  // Columns by the longest path from the root's function; an input one column after its deepest reader.
  function layers(functions) {
    const byName = new Map(functions.map((f) => [f.function, f]));
    const depth = new Map([[functions[0].function, 0]]);
    for (let round = 0; round < functions.length; round += 1) {
      for (const fn of functions) {
        if (!depth.has(fn.function) || fn.kind === "input") continue;
        for (const dep of fn.deps) {
          const d = depth.get(fn.function) + 1;
          if (byName.has(dep) && (depth.get(dep) ?? -1) < d) depth.set(dep, d);
        }
      }
    }
    const readers = new Map();
    for (const fn of functions) {
      for (const dep of fn.deps) readers.set(dep, Math.max(readers.get(dep) ?? 0, depth.get(fn.function) ?? 0));
    }
    const columns = [];
    for (const fn of functions) {
      const column = fn.kind === "input" ? (readers.get(fn.function) ?? 0) + 1 : (depth.get(fn.function) ?? 0);
      (columns[column] = columns[column] || []).push(fn);
    }
    return columns.filter(Boolean);
  }

  function drawGraph(graph) {
    view.replaceChildren();
    const head = el("p", { class: "muted" });
    head.textContent = `${graph.mode} at revision ${graph.revision}: ${graph.calls} calls below ${graph.root}` +
      (graph.functions.some((f) => f.nodes.length < f.calls) ? " (boxes list their first 200 calls)" : "");
    view.appendChild(head);
    const columns = layers(graph.functions);
    const width = Math.max(view.clientWidth - 4, 640);
    const boxW = Math.max(150, Math.floor((width - BOX_GAP * (columns.length - 1)) / columns.length));
    const perRow = Math.max(1, Math.floor((boxW - 2 * BOX_PAD + CELL_GAP) / (CELL + CELL_GAP)));
    const place = new Map();
    let height = 0;
    columns.forEach((column, c) => {
      let y = 0;
      column.sort((a, b) => (a.kind === "input") - (b.kind === "input"));
      for (const fn of column) {
        const rows = Math.ceil(fn.nodes.length / perRow);
        const h = TITLE_H + rows * (CELL + CELL_GAP) + BOX_PAD;
        place.set(fn.function, { x: c * (boxW + BOX_GAP), y, w: boxW, h, column: c });
        y += h + ROW_GAP;
      }
      height = Math.max(height, y);
    });
    // An edge that skips columns runs below the boxes it passes, so it is not hidden behind them.
    const bottoms = columns.map((column) => Math.max(...column.map((fn) => place.get(fn.function).y + place.get(fn.function).h)));
    const lanes = [];
    const root = svg("svg", { width: columns.length * (boxW + BOX_GAP) - BOX_GAP + 2, height: height + 2,
                              role: "img", "aria-label": `dependency graph of the ${graph.mode} model` });
    const defs = svg("defs", {}, root);
    const marker = svg("marker", { id: "engine-arrow", viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 7,
                                   markerHeight: 7, orient: "auto-start-reverse" }, defs);
    svg("path", { d: "M0,0 L8,4 L0,8 z", fill: "#999" }, marker);
    const edges = svg("g", {}, root);
    for (const fn of graph.functions) {
      const from = place.get(fn.function);
      for (const dep of fn.deps) {
        const to = place.get(dep);
        if (!to) continue;
        const x1 = from.x + from.w, y1 = from.y + 16, x2 = to.x, y2 = to.y + 16;
        let d;
        if (to.column - from.column > 1) {
          const lane = Math.max(...bottoms.slice(from.column + 1, to.column)) + 8 + 6 * lanes.length;
          lanes.push(lane);
          const xa = x1 + BOX_GAP / 2, xb = x2 - BOX_GAP / 2;
          d = `M${x1},${y1} C${xa},${y1} ${xa},${lane} ${xa + 12},${lane} L${xb - 12},${lane} C${xb},${lane} ${xb},${y2} ${x2},${y2}`;
        } else {
          const bend = Math.max(20, (x2 - x1) / 2);
          d = `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
        }
        svg("path", { class: "edge", d, "marker-end": "url(#engine-arrow)" }, edges);
      }
    }
    root.setAttribute("height", Math.max(height, ...lanes.map((lane) => lane + 8)) + 2);
    for (const fn of graph.functions) {
      const at = place.get(fn.function);
      const group = svg("g", { class: "fn", "data-function": fn.function, transform: `translate(${at.x + 1},${at.y + 1})` }, root);
      svg("rect", { class: "box", width: at.w, height: at.h, rx: 5 }, group);
      const title = svg("text", { class: "box-title", x: BOX_PAD, y: 15 }, group);
      title.textContent = `${fn.function}${fn.chained ? " ↺" : ""}`;
      const counts = svg("text", { x: BOX_PAD, y: 28 }, group);
      counts.textContent = Object.entries(fn.states).map(([s, n]) => `${n} ${STATE_SHORT[s] || s}`).join(" · ");
      svg("title", {}, title).textContent = `${fn.calls} calls of ${fn.function}` +
        (fn.chained ? " (its calls read each other)" : "");
      fn.nodes.forEach((node, i) => {
        const x = BOX_PAD + (i % perRow) * (CELL + CELL_GAP), y = TITLE_H + Math.floor(i / perRow) * (CELL + CELL_GAP);
        const holder = node.url ? svg("a", { href: node.url }, group) : group;
        const cell = svg("rect", { class: `call ${node.state}`, x, y, width: CELL, height: CELL, rx: 2,
                                   "data-state": node.state }, holder);
        svg("title", {}, cell).textContent = `${node.label}: ${STATE_TEXT[node.state] || node.state}` +
          (node.url ? "" : " (no row in the store)");
      });
    }
    view.appendChild(root);
  }

  async function refreshGraph(force = false) {
    const mode = modeSelect.value, revision = revisionSelect.value;
    const latest = Math.max(0, ...[...state.runs.values()].filter((r) => r.mode === mode).map((r) => r.revision));
    const key = `${mode}:${revision || latest}`;
    if (!force && key === state.graphKey) return;
    state.graphKey = key;
    if (!latest) {
      view.replaceChildren(el("p", { class: "muted" }, `No ${mode} model yet.`));
      return;
    }
    const answer = await getJSON(withQuery(config.graph, { mode, revision }));
    if (!answer.ok) {
      view.replaceChildren(el("p", { class: "muted" }, answer.body && answer.body.detail
        ? answer.body.detail : `The graph could not be read (HTTP ${answer.status}).`));
      return;
    }
    drawGraph(answer.body);
  }

  async function poll() {
    try {
      if (await refreshRuns()) {
        drawWork();
        fillRevisions();
      }
      await refreshGraph();
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }

  countSelect.addEventListener("change", drawWork);
  modeSelect.addEventListener("change", () => { fillRevisions(); refreshGraph(); });
  revisionSelect.addEventListener("change", () => refreshGraph());
  let resized = null;
  window.addEventListener("resize", () => {
    window.clearTimeout(resized);
    resized = window.setTimeout(() => refreshGraph(true), 200);
  });
  poll();
})();
