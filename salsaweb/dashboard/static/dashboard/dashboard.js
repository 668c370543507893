// The dataset page: uploads CSV files, shows each mode's model, predicts, and draws live charts.
// Everything comes from the REST API (session auth + CSRF token); lists are fetched page by page,
// and polling asks only for records of batches it has not seen yet.
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const FAST_POLL_MS = 1000;   // while training is under way or uploads are running
  const SLOW_POLL_MS = 5000;   // otherwise, to notice work started elsewhere (the API, another tab)
  const CURVES_SHOWN = 8;      // convergence curves overlaid: the latest batches'
  const RUN_PAGE_SIZE = 1000;

  const state = {
    dataset: null,            // the dataset as the API gives it (revision, rows, state)
    runs: new Map(),          // "batch:mode" -> run record
    lastBatch: 0,             // highest batch number among the runs seen
    lastRevision: 0,          // highest data revision among the runs seen
    models: {},               // mode -> model or null
    training: [],             // per-mode training state rows
    curves: [],               // latest curves of the convergence chart's mode
    uploads: 0,               // uploads in flight
    timer: null,
    csv: {},                  // chart id -> {header, rows} for "Download CSV"
  };

  // -- API -------------------------------------------------------------------------------------

  async function api(url, options = {}) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken, ...(options.headers || {}) };
    const response = await fetch(url, { credentials: "same-origin", ...options, headers });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { ok: response.ok, status: response.status, body };
  }

  function withQuery(url, params) {
    const target = new URL(url, window.location.origin);
    Object.entries(params).forEach(([key, value]) => target.searchParams.set(key, value));
    return target.toString();
  }

  // Every page of a list, following "next".
  async function allPages(url) {
    const items = [];
    let next = url;
    while (next) {
      const page = await api(next);
      if (!page.ok) throw new Error(`GET ${next}: ${page.status}`);
      items.push(...page.body.results);
      next = page.body.next;
    }
    return items;
  }

  async function refreshRuns() {
    // The last seen revision is asked again: a later update may have recorded its run.
    const url = withQuery(config.api.runs, { revision_min: Math.max(state.lastRevision, 1), page_size: RUN_PAGE_SIZE });
    for (const run of await allPages(url)) {
      state.runs.set(`${run.revision}:${run.mode}`, run);
      state.lastRevision = Math.max(state.lastRevision, run.revision);
      state.lastBatch = Math.max(state.lastBatch, run.batch);
    }
  }

  async function refreshModels() {
    // A mode without any run record has no model yet: no need to ask (and be told 404).
    const trained = new Set([...state.runs.values()].map((run) => run.mode));
    await Promise.all(config.modes.filter((mode) => trained.has(mode)).map(async (mode) => {
      const answer = await api(withQuery(config.api.model, { mode }));
      state.models[mode] = answer.ok ? answer.body : null;
    }));
  }

  async function refreshCurves() {
    const mode = document.getElementById("convergence-mode").value;
    const answer = await api(withQuery(config.api.curves, { mode, page_size: CURVES_SHOWN }));
    state.curves = answer.ok ? answer.body.results : [];
  }

  async function refreshDataset() {
    const answer = await api(config.api.dataset);
    if (answer.ok) state.dataset = answer.body;
  }

  async function refreshTraining() {
    if (!config.api.training) return;
    const answer = await api(config.api.training);
    state.training = answer.ok ? answer.body.modes : [];
  }

  function busy() {
    const pending = state.training.some((row) => row.status === "queued" || row.status === "running");
    return state.uploads > 0 || pending || (state.dataset !== null && state.dataset.state === "training");
  }

  async function refresh() {
    clearTimeout(state.timer);
    try {
      await Promise.all([refreshDataset(), refreshRuns(), refreshCurves(), refreshTraining()]);
      await refreshModels();
      render();
    } catch (error) {
      console.error(error);
    }
    state.timer = setTimeout(refresh, busy() ? FAST_POLL_MS : SLOW_POLL_MS);
  }

  // -- rendering -------------------------------------------------------------------------------

  const number = (value, digits = 6) => (value === null || value === undefined ? "–" : Number(value).toPrecision(digits));

  function render() {
    renderStatus();
    renderModels();
    renderConvergence();
    renderTiming();
    renderMemos();
  }

  function renderStatus() {
    if (!state.dataset) return;
    const d = state.dataset;
    document.getElementById("dataset-status").textContent = `revision ${d.revision} · ${d.rows} rows · ${d.state}`;
  }

  function trainingText(mode) {
    const row = state.training.find((r) => r.mode === mode);
    if (!row) return "";
    if (row.status === "running") {
      const at = row.iteration === null ? "" : ` · iteration ${row.iteration}, loss ${number(row.loss, 4)}`;
      return `running: revisions ${row.first_batch}–${row.requested}${at}`;
    }
    if (row.status === "queued") return `queued: ${row.pending} change(s)`;
    if (row.status === "failed") return `failed: ${row.error}`;
    return row.status === "done" ? "done" : "";
  }

  function renderModels() {
    const body = document.querySelector("#model-table tbody");
    body.replaceChildren(...config.modes.map((mode) => {
      const tr = document.createElement("tr");
      tr.dataset.mode = mode;
      const model = state.models[mode];
      const cells = [mode];
      if (model) {
        cells.push(...config.features.map((f) => number(model.weights[f])), number(model.bias),
          `${model.revision}${model.up_to_date ? "" : ` of ${model.data_revision}`}`, model.iterations,
          model.converged ? "yes" : "no", number(model.loss), number(model.optimum.loss), trainingText(mode));
      } else {
        cells.push(...config.features.map(() => "–"), "–", "–", "–", "–", "–", "–", trainingText(mode) || "no model yet");
      }
      const warnings = model && model.warnings ? model.warnings : [];
      if (warnings.length) {
        cells[cells.length - 1] = [cells[cells.length - 1], `warning: ${warnings.join(" ")}`].filter(Boolean).join(" · ");
      }
      const numeric = (i) => i > 0 && i !== cells.length - 1 && i !== cells.length - 4;  // not mode, converged, training
      cells.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        cell.textContent = text;
        if (numeric(i)) cell.className = "num";
        if (i === cells.length - 1 && warnings.length) cell.className = "warning";  // not "done": say why
        tr.appendChild(cell);
      });
      return tr;
    }));
  }

  function runsOf(mode) {
    return [...state.runs.values()].filter((run) => run.mode === mode).sort((a, b) => a.revision - b.revision);
  }

  const PLOT_CONFIG = { responsive: true, displaylogo: false };
  const MODE_COLORS = { incremental: "#1f77b4", naive: "#ff7f0e", delta: "#2ca02c" };

  function plot(id, traces, layout) {
    if (!window.Plotly) return;
    const base = { margin: { t: 10, r: 10, b: 45, l: 60 }, uirevision: id, legend: { orientation: "h", y: -0.2 } };
    window.Plotly.react(`chart-${id}`, traces, { ...base, ...layout }, PLOT_CONFIG);
  }

  function renderConvergence() {
    const mode = document.getElementById("convergence-mode").value;
    const log = document.getElementById("convergence-log").checked;
    const curves = [...state.curves].reverse();  // oldest of the shown revisions first
    const traces = curves.map((curve, i) => ({
      x: curve.losses.map((_, k) => k), y: curve.losses, mode: "lines", name: `revision ${curve.revision}`,
      line: { width: i === curves.length - 1 ? 3 : 1.5 }, opacity: 0.35 + 0.65 * (i + 1) / curves.length,
      hovertemplate: `revision ${curve.revision} (batch ${curve.batch})<br>iteration %{x}<br>loss %{y:.6g}<extra></extra>`,
    }));
    const latest = state.curves[0];
    const longest = Math.max(1, ...state.curves.map((c) => c.losses.length - 1));
    if (latest && latest.optimum_loss !== null) {
      traces.push({ x: [0, longest], y: [latest.optimum_loss, latest.optimum_loss], mode: "lines",
        name: `optimum (revision ${latest.revision})`, line: { dash: "dash", color: "#000" },
        hovertemplate: "optimum loss %{y:.6g}<extra></extra>" });
    }
    const live = state.training.find((row) => row.mode === mode && row.status === "running" && row.iteration !== null);
    if (live) {
      traces.push({ x: [live.iteration], y: [live.loss], mode: "markers", name: `training revision ${live.requested}`,
        marker: { size: 10, symbol: "diamond" } });
    }
    plot("convergence", traces, { xaxis: { title: { text: "iteration" }, dtick: longest <= 10 ? 1 : undefined },
      yaxis: { title: { text: "loss (mean squared error)" }, type: log ? "log" : "linear" } });
    const rows = [];
    state.curves.forEach((curve) => curve.losses.forEach((loss, k) =>
      rows.push([curve.revision, curve.batch, curve.mode, k, loss, curve.optimum_loss])));
    state.csv.convergence = { header: ["revision", "batch", "mode", "iteration", "loss", "optimum_loss"], rows };
  }

  function renderTiming() {
    const xKey = document.getElementById("timing-x").value;
    const log = document.getElementById("timing-log").checked;
    const traces = config.modes.map((mode) => {
      const runs = runsOf(mode);
      return { x: runs.map((r) => r[xKey]), y: runs.map((r) => r.wall_ms), mode: "lines+markers", name: mode,
        marker: { size: 4, color: MODE_COLORS[mode] }, line: { color: MODE_COLORS[mode] }, customdata: runs.map((r) => [r.batch, r.rows_total, r.iterations]),
        hovertemplate: `${mode}<br>batch %{customdata[0]} · %{customdata[1]} rows<br>%{y:.1f} ms · %{customdata[2]} iterations<extra></extra>` };
    });
    const batchTicks = state.lastBatch <= 10 ? 1 : undefined;  // whole batch numbers on short axes
    plot("timing", traces, { xaxis: { title: { text: xKey === "batch" ? "batch number" : "total rows" },
      dtick: xKey === "batch" ? batchTicks : undefined },
      yaxis: { title: { text: "wall time per batch (ms)" }, type: log ? "log" : "linear" } });
    state.csv.timing = { header: ["batch", "mode", "rows_batch", "rows_total", "wall_ms", "iterations"],
      rows: config.modes.flatMap((mode) => runsOf(mode).map((r) => [r.batch, mode, r.rows_batch, r.rows_total, r.wall_ms, r.iterations])) };
  }

  function renderMemos() {
    const traces = config.modes.flatMap((mode) => {
      const runs = runsOf(mode);
      const x = runs.map((r) => r.batch);
      return [
        { x, y: runs.map((r) => r.executed), mode: "lines+markers", name: `${mode} executed`, legendgroup: mode,
          marker: { size: 4, color: MODE_COLORS[mode] }, line: { color: MODE_COLORS[mode] },
          hovertemplate: `${mode}: batch %{x}<br>%{y} executed<extra></extra>` },
        { x, y: runs.map((r) => r.reused), mode: "lines", name: `${mode} reused`, legendgroup: mode,
          line: { dash: "dot", color: MODE_COLORS[mode] },
          hovertemplate: `${mode}: batch %{x}<br>%{y} reused<extra></extra>` },
      ];
    });
    plot("memos", traces, { xaxis: { title: { text: "batch number" }, dtick: state.lastBatch <= 10 ? 1 : undefined },
      yaxis: { title: { text: "derived calls" } } });
    state.csv.memos = { header: ["batch", "mode", "executed", "reused"],
      rows: config.modes.flatMap((mode) => runsOf(mode).map((r) => [r.batch, mode, r.executed, r.reused])) };
  }

  // -- CSV download ----------------------------------------------------------------------------

  function csvCell(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function downloadCsv(chart) {
    const data = state.csv[chart];
    if (!data) return;
    const text = [data.header, ...data.rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    link.download = `${config.name}-${chart}.csv`.replace(/[^\w.-]+/g, "_");
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // -- uploads ---------------------------------------------------------------------------------

  function describeError(answer) {
    const body = answer.body;
    if (!body) return `HTTP ${answer.status}`;
    if (body.fields) return Object.entries(body.fields).map(([field, problems]) => `${field}: ${[].concat(problems).join(" ")}`).join("; ");
    return body.detail || `HTTP ${answer.status}`;
  }

  async function uploadOne(file, item) {
    if (file.size > config.maxUploadBytes) {
      item.className = "fail";
      item.textContent = `${file.name}: larger than the upload limit of ${config.maxUploadBytes.toLocaleString()} bytes`;
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    const answer = await api(config.api.batches, { method: "POST", body: form });
    if (answer.ok) {
      const b = answer.body;
      item.className = "ok";
      item.textContent = `${file.name}: batch #${b.number}, ${b.rows} rows (revision ${b.revision}; training ${b.training})`;
    } else {
      const problem = describeError(answer);  // CSV errors already start with the file's name
      item.className = "fail";
      item.textContent = problem.startsWith(file.name) ? problem : `${file.name}: ${problem}`;
    }
  }

  async function uploadAll(files) {
    const list = document.getElementById("upload-results");
    const items = [...files].map((file) => {
      const item = document.createElement("li");
      item.className = "pending";
      item.textContent = `${file.name}: waiting`;
      list.prepend(item);
      return [file, item];
    });
    state.uploads += items.length;
    refresh();
    for (const [file, item] of items) {  // one at a time, so batches are numbered in the order chosen
      item.textContent = `${file.name}: uploading`;
      try {
        await uploadOne(file, item);
      } catch (error) {
        item.className = "fail";
        item.textContent = `${file.name}: ${error}`;
      }
      state.uploads -= 1;
      refresh();
    }
    await refreshBatchList();
  }

  // The batch list is drawn by the server: after uploads, take the section from a fresh copy of the page.
  async function refreshBatchList() {
    const response = await fetch(window.location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("batches");
    if (fresh) document.getElementById("batches").replaceWith(fresh);
  }

  // -- wiring ----------------------------------------------------------------------------------

  const dropzone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach((type) => dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => dropzone.addEventListener(type, () => dropzone.classList.remove("over")));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) uploadAll(event.dataTransfer.files);
  });
  dropzone.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") input.click(); });

  document.getElementById("predict-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const row = Object.fromEntries(config.features.map((f) => [f, Number(form.elements[f].value)]));
    const output = document.getElementById("prediction");
    const answer = await api(config.api.predict, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ mode: form.elements.mode.value, rows: [row] }) });
    output.className = answer.ok ? "" : "error";
    output.textContent = answer.ok
      ? `${config.target} ≈ ${number(answer.body.predictions[0], 8)} (${answer.body.mode}, revision ${answer.body.revision})`
      : describeError(answer);
  });

  document.getElementById("convergence-mode").addEventListener("change", refresh);
  ["convergence-log", "timing-x", "timing-log"].forEach((id) => document.getElementById(id).addEventListener("change", render));
  document.querySelectorAll("button.download").forEach((button) =>
    button.addEventListener("click", () => downloadCsv(button.dataset.chart)));
  document.addEventListener("submit", (event) => {  // delegated: the batch list is redrawn after uploads
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  window.addEventListener("load", render);  // Plotly (loaded after this script) is there by now
  refresh();
})();
