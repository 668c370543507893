// The dataset page: uploads CSV files, shows each mode's model, predicts, and draws live charts.
// Everything comes from the REST API (session auth + CSRF token); lists are fetched page by page,
// and polling asks only for records of batches it has not seen yet.
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const FAST_POLL_MS = 1000;   // while training is under way or uploads are running
  const SLOW_POLL_MS = 5000;   // otherwise, to notice work started elsewhere (the API, another tab)
  const CURVES_SHOWN = 8;      // convergence curves overlaid per mode: the latest revisions'
  const RUN_PAGE_SIZE = 1000;

  const state = {
    dataset: null,            // the dataset as the API gives it (revision, rows, state)
    runs: new Map(),          // "batch:mode" -> run record
    lastBatch: 0,             // highest batch number among the runs seen
    lastRevision: 0,          // highest data revision among the runs seen
    models: {},               // mode -> model or null
    training: [],             // per-mode training state rows
    curves: [],               // latest curves of every mode, newest revision first
    uploads: 0,               // uploads in flight
    uploaded: [],             // {item, name, revision}: upload lines whose training is not settled yet
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
    const pages = await Promise.all(config.modes.map((mode) =>
      api(withQuery(config.api.curves, { mode, page_size: CURVES_SHOWN }))));
    state.curves = pages.flatMap((answer) => (answer.ok ? answer.body.results : []));
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
    state.uploaded = state.uploaded.filter((upload) => {
      upload.status.textContent = uploadStatus(upload.revision);
      return upload.status.textContent !== "trained";
    });
  }

  // Where the training of an uploaded revision stands, from the same poll as the header: it ends in the truth.
  function uploadStatus(revision) {
    const rows = config.modes.map((mode) => state.training.find((r) => r.mode === mode)).filter(Boolean);
    if (rows.length === config.modes.length && rows.every((r) => r.covered >= revision)) return "trained";
    const failed = rows.find((r) => r.status === "failed" && r.covered < revision);
    if (failed) return `training failed (${failed.mode}): ${failed.error}`;
    const running = rows.filter((r) => r.status === "running" && r.covered < revision).map((r) => r.mode);
    return running.length ? `training (${running.join(", ")})` : "training queued";
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

  // The model section: one state card per mode (always in view), weights with features as rows, and a bar
  // chart of standardized weights (w x sd(x) / sd(y): comparable whatever the columns' units).
  function renderModels() {
    config.modes.forEach((mode) => {
      const card = document.querySelector(`#model-states .model-state[data-mode="${mode}"]`);
      const model = state.models[mode];
      const facts = [];
      if (model) {
        const gap = model.optimum.loss ? (model.loss - model.optimum.loss) / model.optimum.loss : null;
        const above = gap === null ? "" : (gap < 1e-9 ? " (loss at it, to rounding)" : ` (loss +${(100 * gap).toPrecision(2)}% above)`);
        facts.push(["revision", `${model.revision}${model.up_to_date ? " (latest)" : ` of ${model.data_revision}`}`],
          ["converged", model.diverged ? "diverged" : (model.converged ? "yes" : "no")],
          ["iterations", String(model.iterations)],
          ["loss", number(model.loss)],
          ["optimum loss", `${number(model.optimum.loss)}${above}`]);
      }
      facts.push(["training", trainingText(mode) || (model ? (model.up_to_date ? "up to date" : "behind") : "no model yet")]);
      const list = document.createElement("dl");
      facts.forEach(([term, text]) => {
        const dt = document.createElement("dt");
        dt.textContent = term;
        const dd = document.createElement("dd");
        dd.textContent = text;
        dd.dataset.fact = term.replace(/ /g, "-");
        if (term === "converged" && text !== "yes") dd.className = "warning";
        list.append(dt, dd);
      });
      const warnings = document.createElement("ul");
      warnings.className = "warnings";
      ((model && model.warnings) || []).forEach((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        warnings.appendChild(li);
      });
      card.querySelector(".model-facts").replaceChildren(list, warnings);
    });
    const reference = config.modes.map((mode) => state.models[mode]).find(Boolean);
    document.querySelectorAll("#weights-table tbody tr").forEach((tr) => {
      const feature = tr.dataset.feature;
      const cells = config.modes.map((mode) => {
        const model = state.models[mode];
        if (!model) return "–";
        return number(feature === "bias" ? model.bias : model.weights[feature]);
      });
      const optimum = reference ? (feature === "bias" ? reference.optimum.bias : reference.optimum.weights[feature]) : null;
      cells.push(number(optimum));
      tr.querySelectorAll("td").forEach((td, i) => { td.textContent = cells[i]; });
    });
    const optimumHead = document.querySelector("#weights-table th.optimum");
    optimumHead.textContent = reference ? `optimum (revision ${reference.revision})` : "optimum";
    renderWeights();
  }

  function renderWeights() {
    const traces = config.modes.filter((mode) => state.models[mode] && state.models[mode].standardized_weights)
      .map((mode) => {
        const model = state.models[mode];
        const values = config.features.map((f) => model.standardized_weights[f]);
        return { type: "bar", orientation: "h", y: config.features, x: values, name: `${mode} · revision ${model.revision}`,
          marker: { color: revisionColor(model.revision), pattern: { shape: MODE_STYLE[mode].pattern } },
          hovertemplate: `${mode}, revision ${model.revision}<br>%{y}: %{x:.4g} sd(${config.target}) per sd<extra></extra>` };
      });
    plot("weights", traces, { barmode: "group", margin: { t: 30, r: 10, b: 45, l: 110 },
      height: 110 + 14 * config.features.length * Math.max(traces.length, 1),
      xaxis: { title: { text: `standardized weight: sd(${config.target}) per sd(feature)` }, zeroline: true },
      yaxis: { autorange: "reversed", automargin: true }, legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom" } });
    state.csv.weights = { header: ["mode", "revision", "feature", "weight", "standardized_weight", "optimum_weight"],
      rows: config.modes.filter((mode) => state.models[mode]).flatMap((mode) => {
        const model = state.models[mode];
        return [...config.features.map((f) => [mode, model.revision, f, model.weights[f],
          model.standardized_weights ? model.standardized_weights[f] : null, model.optimum.weights[f]]),
        [mode, model.revision, "bias", model.bias, null, model.optimum.bias]];
      }) };
  }

  function runsOf(mode) {
    return [...state.runs.values()].filter((run) => run.mode === mode).sort((a, b) => a.revision - b.revision);
  }

  const PLOT_CONFIG = { responsive: true, displaylogo: false };
  const MODE_COLORS = { incremental: "#1f77b4", naive: "#ff7f0e", delta: "#2ca02c" };
  // A revision keeps its colour in every chart and for every mode; modes differ by line dash and symbol.
  const REVISION_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#393b79"];
  const MODE_STYLE = {
    incremental: { dash: "solid", symbol: "circle", pattern: "" },
    naive: { dash: "dash", symbol: "square", pattern: "/" },
    delta: { dash: "dot", symbol: "diamond", pattern: "." },
  };
  const ROUNDING = 1e-12;  // relative: a loss this close to its optimum is the optimum, up to float64 sums
  const revisionColor = (revision) => REVISION_PALETTE[(revision - 1) % REVISION_PALETTE.length];

  function plot(id, traces, layout) {
    if (!window.Plotly) return;
    const base = { margin: { t: 10, r: 10, b: 45, l: 70 }, uirevision: id, legend: { orientation: "h", y: -0.2 } };
    window.Plotly.react(`chart-${id}`, traces, { ...base, ...layout }, PLOT_CONFIG);
  }

  // A tick label a person reads at a glance: 0.05, 2.5, 300, 20k, 1e-9.
  function tickLabel(value) {
    const size = Math.abs(value);
    if (size >= 1e4 && size < 1e7) return `${Number((value / 1e3).toPrecision(3))}k`;
    if (size >= 1e-3 && size < 1e4) return String(Number(value.toPrecision(3)));
    return value.toExponential(0).replace("e+", "e");
  }

  // Ticks of a log axis over [low, high]: every 1, 2, 5 within a decade or two, decades beyond, each labelled.
  function logAxis(values) {
    const positive = values.filter((v) => v !== null && v > 0 && Number.isFinite(v));
    if (!positive.length) return { type: "log" };
    const low = Math.floor(Math.log10(Math.min(...positive)));
    const high = Math.ceil(Math.log10(Math.max(...positive)));
    const decades = Math.max(high - low, 1);
    const steps = decades <= 2 ? [1, 2, 5] : [1];
    const every = Math.max(1, Math.ceil(decades / 8));
    const tickvals = [];
    for (let k = low; k <= high; k += every) steps.forEach((m) => tickvals.push(m * 10 ** k));
    return { type: "log", tickmode: "array", tickvals, ticktext: tickvals.map(tickLabel) };
  }

  function shownModes() {
    return config.modes.filter((mode) => document.querySelector(`#convergence-modes input[value="${mode}"]`).checked);
  }

  // Loss per iteration (or against wall time) of the latest revisions of every shown mode, overlaid: as the
  // distance from each curve's own optimum (convergence speeds compare), or as loss with one optimum line each.
  function renderConvergence() {
    const distance = document.getElementById("convergence-y").value === "distance";
    const byTime = document.getElementById("convergence-x").value === "time";
    const log = document.getElementById("convergence-log").checked;
    const modes = shownModes();
    const curves = state.curves.filter((c) => modes.includes(c.mode)).sort((a, b) => a.revision - b.revision);
    const traces = [];
    const legend = new Set();
    const ys = [];
    curves.forEach((curve) => {
      const xs = byTime && curve.elapsed_ms ? curve.elapsed_ms : curve.losses.map((_, k) => k);
      if (byTime && !curve.elapsed_ms) return;  // recorded before times were kept
      const y = curve.losses.map((loss) => {
        if (loss === null || !distance) return loss;
        const excess = loss - curve.optimum_loss;
        return excess > ROUNDING * Math.abs(curve.optimum_loss) ? excess : null;  // at the optimum to rounding
      });
      ys.push(...y);
      const first = !legend.has(curve.revision);
      legend.add(curve.revision);
      const folded = curve.first_batch < curve.revision ? ` (revisions ${curve.first_batch}–${curve.revision} together)` : "";
      traces.push({ x: xs, y, mode: "lines", name: `revision ${curve.revision}`, legendgroup: `r${curve.revision}`,
        showlegend: first, line: { color: revisionColor(curve.revision), dash: MODE_STYLE[curve.mode].dash, width: 2 },
        customdata: curve.losses.map((loss, k) => [k, loss]),
        hovertemplate: `${curve.mode}, revision ${curve.revision}${folded}, batch ${curve.batch}<br>iteration %{customdata[0]}` +
          `${byTime ? " at %{x:.1f} ms" : ""}<br>loss %{customdata[1]:.6g}<extra></extra>` });
      if (!distance && first && curve.optimum_loss !== null) {
        const sameRevision = curves.filter((c) => c.revision === curve.revision);
        const longest = Math.max(...sameRevision.map((c) => (byTime && c.elapsed_ms ? c.elapsed_ms[c.elapsed_ms.length - 1] : c.losses.length - 1)));
        traces.push({ x: [0, longest], y: [curve.optimum_loss, curve.optimum_loss], mode: "lines",
          name: `optimum, revision ${curve.revision}`, legendgroup: `r${curve.revision}`, showlegend: false,
          line: { color: revisionColor(curve.revision), dash: "dashdot", width: 1 },
          hovertemplate: `optimum of revision ${curve.revision}: %{y:.6g}<extra></extra>` });
        ys.push(curve.optimum_loss);
      }
    });
    const live = state.training.filter((row) => modes.includes(row.mode) && row.status === "running" && row.iteration !== null);
    const annotations = [];
    live.forEach((row) => {
      if (distance || byTime) {  // its optimum (and its clock) are known once it is recorded
        annotations.push(`training ${row.mode} revision ${row.requested}: iteration ${row.iteration}, loss ${number(row.loss, 4)}`);
      } else {
        traces.push({ x: [row.iteration], y: [row.loss], mode: "markers", name: `training ${row.mode} revision ${row.requested}`,
          marker: { size: 11, symbol: "diamond", color: revisionColor(row.requested), line: { color: "#000", width: 1 } } });
        ys.push(row.loss);
      }
    });
    document.getElementById("convergence-live").textContent = annotations.join(" · ");
    const longest = Math.max(1, ...curves.map((c) => c.losses.length - 1));
    const yTitle = distance ? "loss − optimum loss (each curve's own)" : "loss (mean squared error)";
    plot("convergence", traces, {
      xaxis: { title: { text: byTime ? "wall time since the update started (ms)" : "iteration" },
        dtick: !byTime && longest <= 10 ? 1 : undefined, rangemode: "tozero" },
      yaxis: { title: { text: yTitle }, ...(log ? logAxis(ys) : { type: "linear" }) },
    });
    const rows = [];
    state.curves.forEach((curve) => curve.losses.forEach((loss, k) =>
      rows.push([curve.revision, curve.first_batch, curve.batch, curve.mode, k, curve.elapsed_ms ? curve.elapsed_ms[k] : null,
        loss, curve.optimum_loss])));
    state.csv.convergence = { header: ["revision", "first_revision", "batch", "mode", "iteration", "elapsed_ms", "loss",
      "optimum_loss"], rows };
  }

  // Wall time per update against total rows (or revision), every mode; an update that took in several
  // revisions at once is reached by a dotted segment, not a line that pretends the revisions between were timed.
  function renderTiming() {
    const xKey = document.getElementById("timing-x").value;
    const log = document.getElementById("timing-log").checked;
    const traces = [];
    const gaps = { x: [], y: [], text: [] };
    const folds = { x: [], y: [], text: [] };
    const all = [];
    config.modes.forEach((mode) => {
      const runs = runsOf(mode);
      const x = [];
      const y = [];
      runs.forEach((run, i) => {
        const together = `${mode}: revisions ${run.first_batch}–${run.revision} trained in one update`;
        if (run.first_batch < run.revision) {  // trained together: ringed, and reached by a dotted bridge
          folds.x.push(run[xKey]);
          folds.y.push(run.wall_ms);
          folds.text.push(together);
        }
        if (i > 0 && run.first_batch < run.revision) {
          gaps.x.push(runs[i - 1][xKey], run[xKey], null);
          gaps.y.push(runs[i - 1].wall_ms, run.wall_ms, null);
          gaps.text.push(together, together, "");
          x.push(null);
          y.push(null);
        }
        x.push(run[xKey]);
        y.push(run.wall_ms);
        all.push(run.wall_ms);
      });
      const points = runs.flatMap((run, i) => (i > 0 && run.first_batch < run.revision ? [null, run] : [run]));
      traces.push({ x, y, mode: "lines+markers", name: mode, legendgroup: mode,
        line: { color: "#444", dash: MODE_STYLE[mode].dash, width: 1.5 },
        marker: { size: 7, symbol: MODE_STYLE[mode].symbol, color: points.map((r) => (r ? revisionColor(r.revision) : null)) },
        customdata: points.map((r) => (r ? [r.revision, r.batch, r.rows_total, r.iterations, r.first_batch] : null)),
        hovertemplate: `${mode}<br>revision %{customdata[0]} (batch %{customdata[1]}) · %{customdata[2]} rows` +
          `<br>%{y:.1f} ms · %{customdata[3]} iterations<extra></extra>` });
    });
    if (gaps.x.length) {
      traces.push({ x: gaps.x, y: gaps.y, text: gaps.text, mode: "lines", name: "bridge over revisions trained together",
        legendgroup: "together", showlegend: false, line: { color: "#999", dash: "dot", width: 2 },
        hovertemplate: "%{text}<extra></extra>", connectgaps: false });
    }
    if (folds.x.length) {
      traces.push({ x: folds.x, y: folds.y, text: folds.text, mode: "markers", name: "revisions trained together",
        legendgroup: "together", marker: { symbol: "circle-open", size: 15, color: "#555", line: { width: 2 } },
        hovertemplate: "%{text}<extra></extra>" });
    }
    const batchTicks = state.lastRevision <= 10 ? 1 : undefined;  // whole numbers on short axes
    plot("timing", traces, { xaxis: { title: { text: xKey === "revision" ? "revision" : "total rows" },
      dtick: xKey === "revision" ? batchTicks : undefined, rangemode: "tozero" },
      yaxis: { title: { text: "wall time per update (ms)" }, rangemode: "tozero", ...(log ? logAxis(all) : { type: "linear" }) } });
    state.csv.timing = { header: ["revision", "first_revision", "batch", "mode", "rows_batch", "rows_total", "wall_ms",
      "iterations"], rows: config.modes.flatMap((mode) => runsOf(mode).map((r) => [r.revision, r.first_batch, r.batch, mode,
      r.rows_batch, r.rows_total, r.wall_ms, r.iterations])) };
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

  // Every chart's series in one table: a chart column, then the union of the charts' columns (blank where
  // a chart has no such column).
  function allSeries() {
    const charts = Object.keys(state.csv);
    const header = ["chart", ...new Set(charts.flatMap((chart) => state.csv[chart].header))];
    const rows = charts.flatMap((chart) => {
      const own = state.csv[chart].header;
      return state.csv[chart].rows.map((row) => header.map((column, i) =>
        (i === 0 ? chart : (own.includes(column) ? row[own.indexOf(column)] : null))));
    });
    return { header, rows };
  }

  function downloadCsv(chart) {
    const data = chart === "all" ? allSeries() : state.csv[chart];
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
    // The file itself is the body (no multipart framing to scan); its name travels in Content-Disposition.
    const answer = await api(config.api.batches, {
      method: "POST",
      body: file,
      headers: { "Content-Type": "text/csv", "Content-Disposition": `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}` },
    });
    if (answer.ok) {
      const b = answer.body;
      item.className = "ok";
      item.textContent = `${file.name}: batch #${b.number}, ${b.rows} rows (revision ${b.revision}) · `;
      const status = document.createElement("span");
      status.className = "training-status";
      item.appendChild(status);
      state.uploaded.push({ status, revision: b.revision });
      status.textContent = b.training === "done" ? "trained" : "training queued";
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

  ["convergence-y", "convergence-x", "convergence-log", "timing-x", "timing-log"].forEach((id) =>
    document.getElementById(id).addEventListener("change", render));
  document.getElementById("convergence-modes").addEventListener("change", render);
  document.querySelectorAll("button.download").forEach((button) =>
    button.addEventListener("click", () => downloadCsv(button.dataset.chart)));
  document.addEventListener("submit", (event) => {  // delegated: the batch list is redrawn after uploads
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  window.addEventListener("load", render);  // Plotly (loaded after this script) is there by now
  refresh();
})();
