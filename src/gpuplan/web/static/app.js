// gpuplan web page: vanilla JS, hand-written SVG charts, no CDN (works on an offline intranet).
// Every sentence comes from the server's message catalogs (GET /api/v1/messages?lang=en|zh).
"use strict";

const API = "/api/v1";
const SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = { weights: "#3b6fd6", kv: "#2aa876", act: "#e0a100", overhead: "#9a6bd1", free: "#d9dee7",
  throughput: "#3b6fd6", tpot: "#d6453b", ttft: "#e0a100", own: "#3b6fd6", rent: "#d6453b" };

const state = { lang: "en", msgs: {}, models: [], gpus: [], plan: null, request: null, selected: 0,
  usdToCny: null, sweep: null, cost: null, busy: false };

// ---------- text ----------
function t(key, params) {
  let text = state.msgs[key];
  if (text === undefined) return key;
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
}

function applyTexts() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("web.title");
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-placeholder]")) el.placeholder = t(el.dataset.tPlaceholder);
  document.getElementById("lang-toggle").textContent = state.lang === "zh" ? "English" : "中文";
  document.getElementById("lang-toggle").setAttribute("aria-label", t("web.switch_language"));
}

// ---------- HTTP ----------
async function api(path, options = {}) {
  const sep = path.includes("?") ? "&" : "?";
  const init = { method: options.method || "GET", headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (options.body !== undefined) {
    init.method = options.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(`${API}${path}${sep}lang=${state.lang}`, init);
  } catch (err) {
    throw new Error(t("web.network_error"));
  }
  if (!response.ok) {
    let sentence = t("web.http_error", { status: response.status });
    try { const data = await response.json(); if (data && data.detail) sentence = data.detail; } catch (e) { /* keep */ }
    throw new Error(sentence);
  }
  return options.raw ? response : response.json();
}

// ---------- formatting ----------
const GIB = 2 ** 30;
function fmtNum(x, digits = 0) {
  if (x === null || x === undefined || !isFinite(x)) return "—";
  return Number(x).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
function fmtGiB(bytes, digits = 1) { return bytes === null || bytes === undefined ? "—" : `${fmtNum(bytes / GIB, digits)} GiB`; }
function fmtMs(seconds, digits = 0) { return seconds === null || seconds === undefined ? "—" : `${fmtNum(seconds * 1000, digits)} ms`; }
function currency() { return (state.plan && state.plan.currency) || "USD"; }
function toCurrency(usd) {
  if (usd === null || usd === undefined) return null;
  if (currency() === "CNY") return state.usdToCny ? usd * state.usdToCny : null;
  return usd;
}
// Amounts as the API priced them: the candidate's cost block carries capex, tco, ... in its own currency (with the
// dated rate); plans from before that carry USD only and are converted here.
const USD_FIELD = { capex: "capex_usd", tco: "tco_usd", opex_per_year: "opex_usd_per_year", cloud_per_hour: "cloud_usd_per_hour",
  per_million_output_tokens: "usd_per_million_output_tokens", per_million_input_tokens: "usd_per_million_input_tokens" };
function costValue(cost, field) {
  if (!cost) return null;
  if (cost.currency === currency() && cost.priced !== null && cost.priced !== undefined) return cost[field];
  return toCurrency(cost[USD_FIELD[field]]);
}
function fmtAmount(v) {
  if (v === null || v === undefined || !isFinite(v)) return "—";
  const sign = currency() === "CNY" ? "¥" : "$";
  const a = Math.abs(v);
  if (a >= 100) return sign + fmtNum(v);
  if (a >= 1 || v === 0) return sign + fmtNum(v, 2);
  return sign + Number(v).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-US", { maximumSignificantDigits: 3 });
}
function fmtCost(cost, field) { return fmtAmount(costValue(cost, field)); }

function renderBom(c) {
  const items = c.bill_of_materials || [];
  if (!items.length) return null;
  const cols = ["kind", "item", "qty", "unit_price", "total", "rule"];
  const head = el("thead", {}, [el("tr", {}, cols.map((k) => el("th", { scope: "col", text: t(`money.col_${k}`) })))]);
  const rows = items.map((i) => {
    const inc = i.included_in ? t("money.included", { item: t(`money.kind_${i.included_in}`) }) : null;
    return el("tr", {}, [
      el("td", { text: t(`money.kind_${i.kind}`) }), el("td", { text: i.description }),
      el("td", { class: "num", text: `${fmtNum(i.quantity, i.quantity % 1 ? 2 : 0)}${i.unit === "pcs" ? "" : " " + (state.msgs[`money.unit_${i.unit}`] ? t(`money.unit_${i.unit}`) : i.unit)}` }),
      el("td", { class: "num", text: inc || fmtAmount(i.unit_price) }), el("td", { class: "num", text: inc || fmtAmount(i.total) }),
      el("td", { text: i.rule })]);
  });
  return el("div", { class: "table-wrap", id: "bom" }, [
    el("h3", { text: t("money.bom_title", { rank: state.selected + 1, hardware: hardwareOf(c) }) }),
    el("table", {}, [head, el("tbody", {}, rows)])]);
}

function fmtCompact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${fmtNum(v / 1e9, 1)}G`;
  if (a >= 1e6) return `${fmtNum(v / 1e6, 1)}M`;
  if (a >= 1e3) return `${fmtNum(v / 1e3, a >= 1e4 ? 0 : 1)}k`;
  return fmtNum(v, a < 10 && a !== 0 ? 1 : 0);
}
function fmtParams(n) { return n >= 1e9 ? `${fmtNum(n / 1e9, 1)}B` : `${fmtNum(n / 1e6, 0)}M`; }
function layoutOf(c) {
  let s = `TP${c.tensor_parallel_size}`;
  if (c.pipeline_parallel_size > 1) s += `·PP${c.pipeline_parallel_size}`;
  if (c.data_parallel_size > 1) s += `·DP${c.data_parallel_size}${c.enable_dp_attention ? "a" : ""}`;
  if (c.expert_parallel_size > 1) s += `·EP${c.expert_parallel_size}`;
  return s;
}
function hardwareOf(c) { return `${c.gpu_count}× ${c.gpu_name || c.gpu}${c.nodes > 1 ? ` (${t("web.nodes", { n: c.nodes })})` : ""}`; }

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k === "color") node.style.backgroundColor = v;  // CSSOM, allowed by the page's CSP (no inline style)
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------- status ----------
function setStatus(text) { document.getElementById("status").textContent = text || ""; }
function showError(text) {
  const box = document.getElementById("error");
  box.textContent = text || "";
  box.hidden = !text;
}

// ---------- catalog ----------
async function loadMessages() {
  const data = await api("/messages");
  state.msgs = data.messages;
  applyTexts();
}

async function loadCatalog() {
  const [models, gpus, exchange] = await Promise.all([api("/models"), api("/gpus"), api("/exchange")]);
  state.models = models;
  state.gpus = gpus;
  state.usdToCny = exchange.usd_to_cny ? exchange.usd_to_cny.value : null;
  const list = document.getElementById("model-list");
  list.replaceChildren(...models.map((m) => el("option", { value: m.id, label: `${m.name} · ${fmtParams(m.params_total)}` })));
  fillGpuSelect();
}

function fillGpuSelect() {
  const select = document.getElementById("gpu-select");
  const keep = select.value;
  const first = el("option", { value: "", text: t("web.recommend") });
  const byClass = {};
  for (const g of state.gpus) (byClass[g.class] = byClass[g.class] || []).push(g);
  const groups = Object.entries(byClass).map(([cls, gs]) => el("optgroup", { label: t(`web.class_${cls}`) },
    gs.map((g) => el("option", { value: g.id, text: `${g.name} · ${fmtGiB(g.memory_bytes, 0)}` }))));
  select.replaceChildren(first, ...groups);
  select.value = keep;
}

function findModel(text) {
  const q = text.trim().toLowerCase().replace(/\s+/g, "");
  if (!q) return null;
  return state.models.find((m) => [m.id, m.id.split("/").pop(), m.name || "", ...m.aliases]
    .some((n) => n.toLowerCase().replace(/\s+/g, "") === q)) || null;
}

function showModelInfo() {
  const info = document.getElementById("model-info");
  const text = document.getElementById("model-search").value;
  const m = findModel(text);
  if (m) {
    info.textContent = t("web.model_info", { name: m.name || m.id, total: fmtParams(m.params_total),
      active: fmtParams(m.params_active), ctx: fmtNum(m.context_length || 0), format: m.weight_format || "—" });
  } else if (text.trim()) {
    const q = text.trim().toLowerCase();
    const hits = state.models.filter((x) => (x.id + " " + (x.name || "") + " " + x.aliases.join(" ")).toLowerCase().includes(q)).slice(0, 4);
    info.textContent = hits.length ? t("web.model_suggest", { names: hits.map((x) => x.name || x.id).join(", ") }) : t("web.model_unknown");
  } else {
    info.textContent = t("web.model_hint");
  }
}

// ---------- the plan ----------
function readForm() {
  const v = (id) => document.getElementById(id).value.trim();
  const num = (id) => (v(id) === "" ? null : Number(v(id)));
  const body = { model: v("model-search"), users: num("users"), input_tokens: num("input-tokens"),
    output_tokens: num("output-tokens"), objective: v("objective"), years: num("years") || 3,
    china_only: document.getElementById("china-only").checked, currency: v("currency") };
  if (num("ttft-ms")) body.ttft_ms = num("ttft-ms");
  if (num("tpot-ms")) body.tpot_ms = num("tpot-ms");
  const budget = num("budget");
  if (budget) body[v("currency") === "CNY" ? "budget_cny" : "budget_usd"] = budget;
  if (v("gpu-select")) body.gpu = [v("gpu-select")];
  if (num("max-gpus")) body.max_gpus = num("max-gpus");
  for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
  return body;
}

async function runPlan(body, quiet = false) {
  if (!body.model) { showError(t("web.need_model")); document.getElementById("model-search").focus(); return; }
  if (state.busy) return;
  state.busy = true;
  const button = document.getElementById("run-plan");
  button.disabled = true;
  showError("");
  const started = performance.now();
  setStatus(t("web.searching"));
  const tick = setInterval(() => setStatus(t("web.searching_s", { s: ((performance.now() - started) / 1000).toFixed(0) })), 1000);
  try {
    const plan = await api("/plan", { body });
    state.plan = plan;
    state.request = body;
    if (!quiet) state.selected = 0;
    state.selected = Math.min(state.selected, Math.max(plan.candidates.length - 1, 0));
    setStatus(t("web.searched", { n: fmtNum(plan.search.candidates_considered || 0), s: ((performance.now() - started) / 1000).toFixed(1) }));
    renderResults();
    if (!quiet) document.getElementById("results").scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (err) {
    setStatus("");
    showError(err.message);
  } finally {
    clearInterval(tick);
    state.busy = false;
    button.disabled = false;
  }
}

function chosen() { return state.plan && state.plan.candidates[state.selected]; }

/** The plan with only the selected candidate: small enough for the 64 KiB request limit, index 0 = chosen. */
function planForCandidate() {
  const c = chosen();
  return Object.assign({}, state.plan, { candidates: [c], pareto: [] });
}

function renderResults() {
  const results = document.getElementById("results");
  results.hidden = false;
  renderSummary();
  renderCandidates();
  renderRejections();
  renderAssumptions();
  const c = chosen();
  document.querySelectorAll(".downloads, .charts").forEach((n) => { n.hidden = !c; });
  if (!c) return;
  renderMemoryChart();
  loadSweep();
  loadCost();
}

function renderSummary() {
  const box = document.getElementById("summary");
  const plan = state.plan;
  const c = chosen();
  if (!c) {
    box.replaceChildren(el("h2", { text: t("web.no_candidate") }), el("p", { text: t("web.no_candidate_hint") }));
    return;
  }
  const p = c.perf;
  const facts = [
    [t("web.fact_hardware"), hardwareOf(c)],
    [t("web.fact_engine"), `${c.engine} · ${c.weight_format} · ${layoutOf(c)}`],
    [t("web.fact_ttft"), fmtMs(p.ttft_s)],
    [t("web.fact_tpot"), fmtMs(p.tpot_s, 1)],
    [t("web.fact_throughput"), `${fmtNum(p.output_tokens_per_s)} tok/s`],
    [t("web.fact_capacity"), t("web.fact_capacity_value", { n: fmtNum(c.memory.max_concurrency) })],
    [t("web.fact_capex"), c.cost.priced === false ? t("money.unpriced_row", { missing: (c.cost.missing || []).map((m) => t(`money.missing_${m}`)).join(", ") }) : fmtCost(c.cost, "capex")],
    [t("web.fact_tco", { years: c.cost.years }), fmtCost(c.cost, "tco")],
  ];
  const users = plan.workload.concurrency || "—";
  box.replaceChildren(
    el("h2", { text: t(state.selected === 0 ? "web.best_title" : "web.selected_title", { model: plan.model.name || plan.model.id, users, rank: state.selected + 1 }) }),
    el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
  );
  if (p.bottleneck) box.append(el("p", { class: "hint", text: t("plan.why", { bottleneck: t(`plan.bottleneck_${p.bottleneck}`) }) }));
  for (const note of c.notes || []) box.append(el("p", { class: "hint", text: note }));
  const bom = renderBom(c);
  if (bom) box.append(bom);
}

function renderCandidates() {
  const table = document.getElementById("candidates");
  const plan = state.plan;
  const cols = ["rank", "hardware", "engine", "format", "layout", "memory", "ttft", "tpot", "throughput", "capex", "tco", "per_mtok"];
  const head = el("thead", {}, [el("tr", {}, cols.map((c) => el("th", { scope: "col", text: c === "per_mtok" ? t("web.col_per_mtok", { sign: currency() === "CNY" ? "¥" : "$" }) : t(`plan.col_${c}`) })))]);
  const rows = plan.candidates.map((c, i) => {
    const tr = el("tr", { class: i === state.selected ? "selected" : "", tabindex: "0", "aria-selected": String(i === state.selected) }, [
      el("td", { text: `${i + 1}${plan.pareto.includes(i) ? "*" : ""}` }),
      el("td", { text: hardwareOf(c) }), el("td", { text: c.engine }), el("td", { text: c.weight_format }),
      el("td", { text: layoutOf(c) }),
      el("td", { text: `${fmtNum(c.memory.per_gpu_total_bytes / GIB, 1)}/${fmtNum(c.memory.capacity_bytes / GIB, 0)}` }),
      el("td", { text: fmtMs(c.perf.ttft_s) }), el("td", { text: fmtMs(c.perf.tpot_s, 1) }),
      el("td", { text: fmtNum(c.perf.output_tokens_per_s) }), el("td", { text: c.cost.priced === false ? "—" : fmtCost(c.cost, "capex") }),
      el("td", { text: fmtCost(c.cost, "tco") }), el("td", { text: fmtCost(c.cost, "per_million_output_tokens") }),
    ]);
    const pick = () => { state.selected = i; renderResults(); };
    tr.addEventListener("click", pick);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
    return tr;
  });
  table.replaceChildren(head, el("tbody", {}, rows));
  if (!plan.candidates.length) table.replaceChildren(el("tbody", {}, [el("tr", {}, [el("td", { text: t("plan.none") })])]));
}

function renderRejections() {
  const card = document.getElementById("rejections-card");
  const plan = state.plan;
  card.hidden = !plan.rejections.length;
  const head = el("thead", {}, [el("tr", {}, ["col_reason", "col_count", "col_nearest"].map((k) => el("th", { scope: "col", text: t(`plan.${k}`) })))]);
  const rows = plan.rejections.map((r) => el("tr", {}, [
    el("td", { text: t(`plan.reason_${r.reason}`) }), el("td", { class: "num", text: fmtNum(r.count) }), el("td", { text: r.nearest || "" })]));
  document.getElementById("rejections").replaceChildren(head, el("tbody", {}, rows));
}

function renderAssumptions(extra = []) {
  const items = [...state.plan.assumptions, ...extra];
  const c = chosen();
  if (c && c.perf.calibration) items.push(t("web.calibration_note", { name: c.perf.calibration, pct: fmtNum((c.perf.uncertainty_fraction || 0) * 100) }));
  document.getElementById("assumptions").replaceChildren(...items.map((a) => el("li", { text: a })));
}

// ---------- charts ----------
function chartWidth(container) { return Math.max(260, Math.floor(container.clientWidth || 320)); }

function renderMemoryChart() {
  const box = document.getElementById("mem-chart");
  const m = chosen().memory;
  const cap = m.capacity_bytes;
  const parts = [
    ["weights", m.weights_bytes, t("size.row_weights")],
    ["kv", m.kv_cache_bytes, t("web.mem_kv")],
    ["act", m.activation_bytes, t("size.row_activations")],
    ["overhead", m.overhead_bytes, t("web.mem_overhead")],
    ["free", Math.max(cap - m.per_gpu_total_bytes, 0), t("web.mem_free")],
  ];
  const w = chartWidth(box), h = 64, pad = 4, barH = 34;
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", class: "memory-bar",
    "aria-label": t("web.chart_memory_aria", { used: fmtGiB(m.per_gpu_total_bytes), cap: fmtGiB(cap) }) });
  let x = pad;
  const inner = w - 2 * pad;
  for (const [key, bytes, label] of parts) {
    const bw = cap > 0 ? (bytes / cap) * inner : 0;
    if (bw <= 0) continue;
    const rect = svg("rect", { x: x.toFixed(2), y: 8, width: Math.max(bw, 0.5).toFixed(2), height: barH, fill: COLORS[key], "data-part": key });
    rect.append(svg("title", {}, `${label}: ${fmtGiB(bytes, 2)}`));
    s.append(rect);
    x += bw;
  }
  const bx = pad + (m.budget_bytes / cap) * inner;
  s.append(svg("line", { x1: bx, x2: bx, y1: 2, y2: barH + 14, stroke: "#222", "stroke-width": 2, "stroke-dasharray": "4 3" }));
  s.append(svg("text", { x: Math.min(bx, w - 4), y: h - 4, "text-anchor": bx > w - 80 ? "end" : "middle", class: "axis" }, t("web.mem_budget")));
  const legend = el("ul", { class: "legend" }, parts.map(([key, bytes, label]) =>
    el("li", {}, [el("span", { class: "swatch", color: COLORS[key] }), `${label} ${fmtGiB(bytes, 1)}`])));
  const note = el("p", { class: "hint", text: t("web.mem_note", { used: fmtGiB(m.per_gpu_total_bytes), cap: fmtGiB(cap, 0),
    n: fmtNum(m.max_concurrency), gpus: chosen().gpu_count }) });
  box.replaceChildren(s, legend, note);
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * A line chart sized to its container. series: [{label, color, axis: "left"|"right", points: [[x, y]], dash}];
 * opts: {xLog, xLabel, yLabel, yRightLabel, fmtY, fmtYR, fmtX, markers: [{x, label}]}.
 */
function lineChart(container, series, opts) {
  const w = chartWidth(container), h = Math.round(Math.min(300, Math.max(200, w * 0.55)));
  const m = { l: 52, r: opts.yRightLabel ? 52 : 14, t: 14, b: 40 };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const fx = (x) => {
    if (xMax === xMin) return m.l + pw / 2;
    if (opts.xLog) return m.l + ((Math.log2(x) - Math.log2(xMin)) / (Math.log2(xMax) - Math.log2(xMin))) * pw;
    return m.l + ((x - xMin) / (xMax - xMin)) * pw;
  };
  const maxOf = (axis) => niceMax(Math.max(0, ...series.filter((s) => s.axis === axis).flatMap((s) => s.points.map((p) => p[1]))));
  const yMax = { left: maxOf("left"), right: maxOf("right") };
  const fy = (y, axis) => m.t + ph - (y / yMax[axis]) * ph;
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", class: "line-chart", "aria-label": opts.aria || "" });
  for (let i = 0; i <= 4; i++) {
    const y = m.t + (ph * i) / 4;
    s.append(svg("line", { x1: m.l, x2: m.l + pw, y1: y, y2: y, class: "grid" }));
    s.append(svg("text", { x: m.l - 6, y: y + 4, "text-anchor": "end", class: "axis" }, (opts.fmtY || fmtCompact)(yMax.left * (1 - i / 4))));
    if (opts.yRightLabel) s.append(svg("text", { x: m.l + pw + 6, y: y + 4, "text-anchor": "start", class: "axis" }, (opts.fmtYR || fmtCompact)(yMax.right * (1 - i / 4))));
  }
  const ticks = opts.xTicks || [...new Set(xs)];
  let lastX = -Infinity;
  for (const x of ticks) {
    const px = fx(x);
    if (px - lastX < 26) continue;
    lastX = px;
    s.append(svg("text", { x: px, y: m.t + ph + 16, "text-anchor": "middle", class: "axis" }, (opts.fmtX || fmtCompact)(x)));
  }
  s.append(svg("text", { x: m.l + pw / 2, y: h - 4, "text-anchor": "middle", class: "axis-label" }, opts.xLabel));
  for (const [index, mk] of (opts.markers || []).entries()) {
    if (mk.x < xMin || mk.x > xMax) continue;
    const px = fx(mk.x);
    s.append(svg("line", { x1: px, x2: px, y1: m.t, y2: m.t + ph, class: "marker" }));
    s.append(svg("text", { x: px + 4, y: m.t + 12 + 14 * index, class: "marker-label", "text-anchor": px > m.l + pw * 0.7 ? "end" : "start",
      dx: px > m.l + pw * 0.7 ? -8 : 0 }, mk.label));
  }
  for (const ser of series) {
    if (!ser.points.length) continue;
    const d = ser.points.map((p, i) => `${i ? "L" : "M"}${fx(p[0]).toFixed(1)},${fy(p[1], ser.axis).toFixed(1)}`).join(" ");
    s.append(svg("path", { d, fill: "none", stroke: ser.color, "stroke-width": 2.5, "stroke-dasharray": ser.dash || "", "data-series": ser.key }));
    for (const p of ser.points.length <= 24 ? ser.points : []) {
      const dot = svg("circle", { cx: fx(p[0]).toFixed(1), cy: fy(p[1], ser.axis).toFixed(1), r: 3, fill: ser.color });
      dot.append(svg("title", {}, `${ser.label}: ${(ser.fmt || fmtCompact)(p[1])} @ ${(opts.fmtX || fmtCompact)(p[0])}`));
      s.append(dot);
    }
  }
  const legend = el("ul", { class: "legend" }, series.map((ser) =>
    el("li", {}, [el("span", { class: `swatch${ser.dash ? " dashed" : ""}`, color: ser.color }), ser.label])));
  const axes = el("p", { class: "hint axes", text: opts.yRightLabel ? `${opts.yLabel} · ${opts.yRightLabel}` : opts.yLabel });
  container.replaceChildren(axes, s, legend);
}

function sweepPoints(c) {
  const users = state.plan.workload.concurrency || 1;
  // Up to the KV-cache capacity: past it requests queue and the curve says nothing about the engine.
  const cap = Math.max(c.memory.max_concurrency || users, users);
  const out = [];
  for (let x = 1; x <= cap && out.length < 14; x *= 2) out.push(x);
  if (!out.includes(cap)) out.push(cap);
  if (!out.includes(users)) out.push(users);
  return out.sort((a, b) => a - b).slice(0, 16);
}

async function loadSweep() {
  const c = chosen();
  const box = document.getElementById("perf-chart");
  box.replaceChildren(el("p", { class: "hint", text: t("web.loading") }));
  const plan = state.plan;
  const body = { model: plan.model.id, gpu: c.gpu, gpus: c.gpu_count, nodes: c.nodes, engine: c.engine, weights: c.weight_format,
    kv_dtype: c.kv_dtype, tensor_parallel_size: c.tensor_parallel_size, pipeline_parallel_size: c.pipeline_parallel_size,
    data_parallel_size: c.data_parallel_size, expert_parallel_size: c.expert_parallel_size, dp_attention: c.enable_dp_attention,
    input_tokens: plan.workload.input_tokens, output_tokens: plan.workload.output_tokens, sweep: sweepPoints(c) };
  const forIndex = state.selected;
  try {
    const data = await api("/estimate", { body });
    if (forIndex !== state.selected || chosen() !== c) return;
    state.sweep = data.sweep;
    drawSweep();
  } catch (err) {
    box.replaceChildren(el("p", { class: "error", text: err.message }));
  }
}

function drawSweep() {
  const box = document.getElementById("perf-chart");
  const pts = (state.sweep || []).filter((p) => !p.error && p.output_tokens_per_s !== null);
  if (!pts.length) { box.replaceChildren(el("p", { class: "hint", text: t("web.no_curve") })); return; }
  const users = state.plan.workload.concurrency;
  const c = chosen();
  const series = [
    { key: "throughput", label: t("web.series_throughput"), color: COLORS.throughput, axis: "left", points: pts.map((p) => [p.concurrency, p.output_tokens_per_s]) },
    { key: "tpot", label: t("web.series_tpot"), color: COLORS.tpot, axis: "right", points: pts.filter((p) => p.tpot_s !== null).map((p) => [p.concurrency, p.tpot_s * 1000]), fmt: (v) => `${fmtNum(v, 1)} ms` },
    { key: "ttft", label: t("web.series_ttft"), color: COLORS.ttft, axis: "right", dash: "6 4", points: pts.filter((p) => p.ttft_s !== null).map((p) => [p.concurrency, p.ttft_s * 1000]), fmt: (v) => `${fmtNum(v)} ms` },
  ];
  const markers = [];
  if (users) markers.push({ x: users, label: t("web.marker_users", { n: users }) });
  if (c.memory.max_concurrency && c.memory.max_concurrency !== users) markers.push({ x: c.memory.max_concurrency, label: t("web.marker_capacity") });
  lineChart(box, series, { xLog: true, fmtX: (v) => fmtNum(v), xLabel: t("web.axis_concurrency"), yLabel: t("web.axis_throughput"), yRightLabel: t("web.axis_latency"),
    markers, aria: t("web.chart_perf") });
  const failed = (state.sweep || []).find((p) => p.error);
  if (failed) box.append(el("p", { class: "hint", text: t("web.curve_stops", { n: failed.concurrency, reason: failed.error }) }));
}

async function loadCost() {
  const c = chosen();
  const box = document.getElementById("cost-chart");
  box.replaceChildren(el("p", { class: "hint", text: t("web.loading") }));
  const forIndex = state.selected;
  try {
    const data = await api("/cost", { body: { plan: planForCandidate(), candidate: 0, years: c.cost.years || 3, currency: currency() } });
    if (forIndex !== state.selected || chosen() !== c) return;
    state.cost = data;
    if (data.usd_to_cny) state.usdToCny = data.usd_to_cny;
    drawCost();
  } catch (err) {
    box.replaceChildren(el("p", { class: "error", text: err.message }));
  }
}

function drawCost() {
  const box = document.getElementById("cost-chart");
  const data = state.cost;
  const own = data.monthly.filter((p) => p.own_usd !== null).map((p) => [p.month, toCurrency(p.own_usd)]);
  const rent = data.monthly.filter((p) => p.rent_usd !== null).map((p) => [p.month, toCurrency(p.rent_usd)]);
  const series = [];
  if (own.length) series.push({ key: "own", label: t("web.series_own"), color: COLORS.own, axis: "left", points: own, fmt: (v) => fmtMoneyValue(v) });
  if (rent.length) series.push({ key: "rent", label: t("web.series_rent", { provider: data.cloud_provider || "" }), color: COLORS.rent, axis: "left", dash: "6 4", points: rent, fmt: (v) => fmtMoneyValue(v) });
  if (!series.length) { box.replaceChildren(el("p", { class: "hint", text: t("web.no_cost") })); return; }
  const markers = data.break_even_months !== null ? [{ x: data.break_even_months, label: t("web.marker_break_even", { m: fmtNum(data.break_even_months, 1) }) }] : [];
  const months = data.monthly.map((p) => p.month);
  const step = months.length > 24 ? 6 : 3;
  lineChart(box, series, { xLabel: t("web.axis_months"), yLabel: t("web.axis_cumulative", { currency: currency() }), markers,
    fmtY: (v) => (currency() === "CNY" ? "¥" : "$") + fmtCompact(v), xTicks: months.filter((mo) => mo % step === 0), fmtX: (v) => String(v),
    aria: t("web.chart_cost") });
  const notes = [];
  if (!rent.length) notes.push(t("web.no_rent_price"));
  if (data.break_even_months !== null) notes.push(t("web.break_even", { m: fmtNum(data.break_even_months, 1) }));
  notes.push(...(data.unknowns_text || []));
  for (const n of notes) box.append(el("p", { class: "hint", text: n }));
}
function fmtMoneyValue(v) { return (currency() === "CNY" ? "¥" : "$") + fmtNum(v); }

// ---------- downloads ----------
async function download(path, body, fallbackName) {
  const button = document.activeElement;
  showError("");
  setStatus(t("web.preparing"));
  try {
    const response = await api(path, { body, raw: true });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(disposition);
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: match ? match[1] : fallbackName });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    setStatus(t("web.downloaded", { name: match ? match[1] : fallbackName }));
  } catch (err) {
    setStatus("");
    showError(err.message);
  } finally {
    if (button && button.focus) button.focus();
  }
}

function planForDownload() {
  // The chosen candidate first (render and cost read candidate 0), then the others in rank order.
  const plan = state.plan;
  const order = [state.selected, ...plan.candidates.map((_, i) => i).filter((i) => i !== state.selected)];
  return Object.assign({}, plan, { candidates: order.map((i) => plan.candidates[i]),
    pareto: plan.pareto.map((i) => order.indexOf(i)).sort((a, b) => a - b) });
}

// ---------- examples ----------
const EXAMPLES = {
  "r1-100": { model: "deepseek-ai/DeepSeek-R1", users: 100, input: 2000, output: 500, ttft: 3000, tpot: 100 },
  "distill-team": { model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", users: 50, input: 2000, output: 500, ttft: 2000, tpot: 50 },
  "personal": { model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", users: 1, input: 2000, output: 500, objective: "capex" },
};

function useExample(name) {
  const ex = EXAMPLES[name];
  const set = (id, v) => { document.getElementById(id).value = v === undefined || v === null ? "" : v; };
  set("model-search", ex.model); set("users", ex.users); set("input-tokens", ex.input); set("output-tokens", ex.output);
  set("ttft-ms", ex.ttft); set("tpot-ms", ex.tpot); set("objective", ex.objective || "tco"); set("gpu-select", "");
  set("max-gpus", "");
  showModelInfo();
  runPlan(readForm());
}

// ---------- language ----------
async function switchLanguage() {
  state.lang = state.lang === "zh" ? "en" : "zh";
  try { localStorage.setItem("gpuplan_lang", state.lang); } catch (e) { /* private mode */ }
  await loadMessages();
  fillGpuSelect();
  showModelInfo();
  setStatus("");
  if (state.plan) {
    renderResults();
    // Sentences inside the plan (nearest misses, assumptions) were written by the server: fetch them again.
    if (state.request) runPlan(state.request, true);
  }
}

function initialLanguage() {
  const url = new URLSearchParams(location.search).get("lang");
  let saved = null;
  try { saved = localStorage.getItem("gpuplan_lang"); } catch (e) { /* private mode */ }
  const pick = url || saved || navigator.language || "en";
  return pick.toLowerCase().startsWith("zh") ? "zh" : "en";
}

// ---------- start ----------
let resizeTimer = null;
async function start() {
  state.lang = initialLanguage();
  document.getElementById("lang-toggle").addEventListener("click", switchLanguage);
  document.getElementById("plan-form").addEventListener("submit", (e) => { e.preventDefault(); runPlan(readForm()); });
  document.getElementById("model-search").addEventListener("input", showModelInfo);
  for (const b of document.querySelectorAll("[data-example]")) b.addEventListener("click", () => useExample(b.dataset.example));
  document.getElementById("dl-plan").addEventListener("click", () => download("/plan/file", { plan: planForDownload() }, "plan.yaml"));
  document.getElementById("dl-k8s").addEventListener("click", () => download("/render.zip", { plan: planForCandidate(), targets: ["k8s", "engine"] }, "k8s.zip"));
  document.getElementById("dl-all").addEventListener("click", () => download("/render.zip", { plan: planForCandidate(), targets: ["all"] }, "artifacts.zip"));
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (chosen()) { renderMemoryChart(); if (state.sweep) drawSweep(); if (state.cost) drawCost(); } }, 150);
  });
  try {
    await loadMessages();
    await loadCatalog();
    showModelInfo();
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("DOMContentLoaded", start);
