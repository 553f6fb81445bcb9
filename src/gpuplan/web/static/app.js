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
// English sentences the page needs before (or without) the message catalog: /messages itself may fail.
const FALLBACK = {
  "web.network_error": "The gpuplan server cannot be reached. Check that 'gpuplan serve' is still running, then try again.",
  "web.http_error": "The server answered with status {status}. Try again; if it repeats, look at the server's log.",
  "page.messages_failed": "The page's texts could not be loaded, so it shows English. The gpuplan server did not answer: check that 'gpuplan serve' is still running, then reload.",
};

let englishMessages = null;
function englishFallback(key) {
  // The server puts the page's English texts into index.html as JSON data (#messages-en).
  if (englishMessages === null) {
    const node = document.getElementById("messages-en");
    try { englishMessages = node ? JSON.parse(node.textContent) : {}; } catch (e) { englishMessages = {}; }
  }
  return englishMessages[key] !== undefined ? englishMessages[key] : FALLBACK[key];
}

function t(key, params) {
  let text = state.msgs[key];
  if (text === undefined) text = englishFallback(key);
  if (text === undefined) return key;
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
}

function applyTexts() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("web.title");
  for (const el of document.querySelectorAll("[data-t]")) if (el.dataset.t in state.msgs) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-placeholder]")) if (el.dataset.tPlaceholder in state.msgs) el.placeholder = t(el.dataset.tPlaceholder);
  const toggle = document.getElementById("lang-toggle");
  const other = state.lang === "zh" ? "English" : "中文";
  toggle.textContent = other;
  toggle.setAttribute("lang", state.lang === "zh" ? "en" : "zh");
  // The accessible name starts with the visible text ("中文"), then says what the button does.
  toggle.setAttribute("aria-label", t("page.language_name", { name: other }));
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
    try { const data = await response.json(); if (data && typeof data.detail === "string") sentence = data.detail; } catch (e) { /* keep */ }
    const error = new Error(sentence);
    error.status = response.status;
    throw error;
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
    const row = el("tr", {}, [
      el("td", { text: t(`money.kind_${i.kind}`) }), el("td", { text: i.description }),
      el("td", { class: "num", text: `${fmtNum(i.quantity, i.quantity % 1 ? 2 : 0)}${i.unit === "pcs" ? "" : " " + (state.msgs[`money.unit_${i.unit}`] ? t(`money.unit_${i.unit}`) : i.unit)}` }),
      el("td", { class: "num", text: inc || fmtAmount(i.unit_price) }), el("td", { class: "num", text: inc || fmtAmount(i.total) }),
      el("td", { text: i.rule, class: "wide" })]);
    // On a phone the rows show as cards: each value carries its column's name.
    [...row.children].forEach((td, k) => td.setAttribute("data-label", t(`money.col_${cols[k]}`)));
    return row;
  });
  return el("div", { class: "table-wrap", id: "bom" }, [
    el("h3", { text: t("money.bom_title", { rank: state.selected + 1, hardware: hardwareOf(c) }) }),
    el("table", { class: "cards-on-phone" }, [head, el("tbody", {}, rows)])]);
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
function fmtMsOf(ms) {
  // Milliseconds for axis ticks and tables: whole numbers from 10 ms up, one decimal below.
  return fmtNum(ms, Math.abs(ms) < 10 && ms !== 0 ? 1 : 0);
}
function slug(text) { return String(text || "model").split("/").pop().toLowerCase().replace(/[^a-z0-9.]+/g, "-").replace(/^-|-$/g, ""); }
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

// Names compare without case, spaces, hyphens, underscores and slashes: "deepseek r1" = "DeepSeek-R1".
function norm(text) { return String(text || "").toLowerCase().replace(/[\s\-_/]+/g, ""); }
function namesOf(m) { return [m.id, m.id.split("/").pop(), m.name || "", ...(m.aliases || [])]; }

// The weight format as the CLI shows it (views.format_label): a release whose experts use another format says so
// (gpt-oss: "bf16 + mxfp4 experts", not a plain "bf16" that reads as three times the memory).
function formatLabel(modelId, fmt, short) {
  const m = state.models.find((x) => x.id === modelId);
  if (m && m.expert_weight_format && fmt === (m.weight_format || "bf16")) {
    return t(short ? "labels.mixed_format_short" : "labels.mixed_format", { fmt, experts: m.expert_weight_format });
  }
  return fmt || "—";
}

function findModel(text) {
  const q = norm(text);
  if (!q) return null;
  return state.models.find((m) => namesOf(m).some((n) => norm(n) === q)) || null;
}

/** Catalog models matching free text, best first: exact, prefix, substring, then every word; newer releases first
 *  within a rank (DeepSeek-R1 and V3 before the 2023 7B/67B models). */
function searchModels(text, limit = 5) {
  const q = norm(text);
  if (!q) return [];
  const words = String(text).toLowerCase().split(/[\s\-_/]+/).filter(Boolean);
  const ranked = [];
  for (const m of state.models) {
    const names = namesOf(m).map(norm);
    let rank = null;
    if (names.includes(q)) rank = 0;
    else if (names.some((n) => n.startsWith(q))) rank = 1;
    else if (names.some((n) => n.includes(q))) rank = 2;
    else if (words.length > 1 && words.every((w) => names.some((n) => n.includes(w)))) rank = 3;
    if (rank !== null) ranked.push([rank, m]);
  }
  ranked.sort((a, b) => a[0] - b[0] || String(b[1].release_date || "").localeCompare(String(a[1].release_date || ""))
    || (b[1].params_total || 0) - (a[1].params_total || 0));
  return ranked.slice(0, limit).map((r) => r[1]);
}

function suggestionButtons(models) {
  return el("span", { class: "suggest" }, models.map((m) => el("button", { type: "button", "data-model": m.id,
    text: m.name || m.id, onclick: () => pickModel(m.id) })));
}

function pickModel(id) {
  const input = document.getElementById("model-search");
  input.value = id;
  clearFieldError("model-search");
  showModelInfo();
  input.focus();
}

function showModelInfo() {
  const info = document.getElementById("model-info");
  const text = document.getElementById("model-search").value;
  const m = findModel(text);
  if (m) {
    info.textContent = t("web.model_info", { name: m.name || m.id, total: fmtParams(m.params_total),
      active: fmtParams(m.params_active), ctx: fmtNum(m.context_length || 0), format: formatLabel(m.id, m.weight_format, false) });
    if (state.lastModel !== m.id) {
      state.lastModel = m.id;
      // A reasoning model thinks for thousands of tokens: its own default output length, unless the user typed one.
      const out = document.getElementById("output-tokens");
      if (!out.dataset.userSet && m.default_output_tokens) out.value = m.default_output_tokens;
    }
  } else if (text.trim()) {
    const hits = searchModels(text, 4);
    info.replaceChildren(...(hits.length ? [t("page.did_you_mean"), suggestionButtons(hits)] : [t("web.model_unknown")]));
  } else {
    info.textContent = t("web.model_hint");
  }
  showContextInfo();
}

function showContextInfo() {
  const box = document.getElementById("context-info");
  const m = findModel(document.getElementById("model-search").value);
  const inp = Number(document.getElementById("input-tokens").value), out = Number(document.getElementById("output-tokens").value);
  if (!m || !(inp > 0) || !(out > 0)) { box.textContent = ""; return; }
  const ctx = inp + out;
  box.textContent = m.context_length && ctx > m.context_length
    ? t("page.context_too_long", { ctx: fmtNum(ctx), max: fmtNum(m.context_length) })
    : t("page.context_info", { ctx: fmtNum(ctx), max: fmtNum(m.context_length || 0) });
}

// ---------- field errors ----------
function setFieldError(id, text) {
  const input = document.getElementById(id);
  const errId = `${id}-error`;
  let note = document.getElementById(errId);
  if (!note) {
    note = el("p", { id: errId, class: "field-error" });
    input.insertAdjacentElement("afterend", note);
  }
  note.replaceChildren(...(Array.isArray(text) ? text : [text]));
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== errId);
  input.setAttribute("aria-describedby", [errId, ...described].join(" "));
}

function clearFieldError(id) {
  const input = document.getElementById(id);
  const note = document.getElementById(`${id}-error`);
  if (note) note.remove();
  input.removeAttribute("aria-invalid");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== `${id}-error`);
  if (described.length) input.setAttribute("aria-describedby", described.join(" ")); else input.removeAttribute("aria-describedby");
}

const NUMERIC_FIELDS = { "users": [1, 100000, true], "rate": [0.0001, 100000, false], "input-tokens": [1, 1000000, true],
  "output-tokens": [1, 100000, true], "ttft-ms": [1, 3600000, false], "tpot-ms": [0.1, 60000, false],
  "budget": [1, 1e12, false], "years": [0.1, 20, false], "max-gpus": [1, 64, false], "epochs": [0.01, 1000, false],
  "ram-gib": [1, 16384, false], "utilization": [1, 100, false] };

/** Checks the form before it is sent; marks each bad field (aria-invalid + a message attached to it). */
function validateForm() {
  for (const node of document.querySelectorAll("[aria-invalid=true]")) clearFieldError(node.id);
  const bad = [];
  const modelText = document.getElementById("model-search").value.trim();
  if (!modelText) { setFieldError("model-search", t("web.need_model")); bad.push("model-search"); }
  else if (state.models.length && !findModel(modelText)) {
    const hits = searchModels(modelText, 4);
    setFieldError("model-search", [t("page.field_model_unknown", { given: modelText }), ...(hits.length ? [" ", t("page.did_you_mean"), suggestionButtons(hits)] : [])]);
    bad.push("model-search");
  }
  const training = document.getElementById("task").value !== "serve";
  for (const [id, [min, max, integer]] of Object.entries(NUMERIC_FIELDS)) {
    const input = document.getElementById(id);
    if (input.closest("[hidden]")) continue;
    if (training && ["users", "rate", "input-tokens", "output-tokens", "ttft-ms", "tpot-ms"].includes(id)) continue;
    const raw = input.value.trim();
    if (raw === "") continue;
    const v = Number(raw);
    if (!isFinite(v)) { setFieldError(id, t("page.field_number")); bad.push(id); }
    else if (v < min || v > max || (integer && !Number.isInteger(v))) { setFieldError(id, t("page.field_range", { min: fmtNum(min, min < 1 ? 4 : 0), max: fmtNum(max) })); bad.push(id); }
  }
  if (parseHave(document.getElementById("have").value) === null) { setFieldError("have", t("page.have_bad")); bad.push("have"); }
  if (document.getElementById("ram-gib").value.trim() && !document.getElementById("gpu-select").value && !bad.includes("ram-gib")) {
    setFieldError("ram-gib", t("page.ram_needs_gpu")); bad.push("ram-gib");
  }
  if (!training && !document.getElementById("users").value.trim() && !document.getElementById("rate").value.trim()) {
    setFieldError("users", t("page.field_required")); bad.push("users");
  }
  if (bad.length) {
    const first = document.getElementById(bad[0]);
    first.scrollIntoView({ block: "center" });
    first.focus({ preventScroll: true });
  }
  return bad.length === 0;
}

// ---------- the plan ----------
function readForm() {
  const v = (id) => document.getElementById(id).value.trim();
  const num = (id) => (v(id) === "" ? null : Number(v(id)));
  const model = findModel(v("model-search"));
  const task = v("task");
  const body = { model: model ? model.id : v("model-search"), objective: v("objective"), years: num("years") || 3,
    china_only: document.getElementById("china-only").checked, currency: v("currency") };
  if (task === "serve") {
    Object.assign(body, { users: num("users"), input_tokens: num("input-tokens"), output_tokens: num("output-tokens") });
    if (num("rate")) body.rate = num("rate");
    if (num("ttft-ms")) body.ttft_ms = num("ttft-ms");
    if (num("tpot-ms")) body.tpot_ms = num("tpot-ms");
    if (v("engine")) body.engine = [v("engine")];
  } else {
    body.task = task;
    const tokens = parseTokens(v("train-tokens"));
    if (tokens) body.train_tokens = tokens;
    if (num("epochs")) body.epochs = num("epochs");
  }
  const budget = num("budget");
  if (budget) body[v("currency") === "CNY" ? "budget_cny" : "budget_usd"] = budget;
  if (v("gpu-select")) body.gpu = [v("gpu-select")];
  if (num("max-gpus")) body.max_gpus = num("max-gpus");
  if (num("ram-gib")) body.ram_gib = num("ram-gib");
  const have = parseHave(v("have"));
  if (have && have.length) body.have = have;
  if (v("market")) body.market = v("market");
  if (v("quality")) body.quality = v("quality");
  if (num("utilization")) body.utilization = num("utilization") / 100;
  if (state.preset) body.preset = state.preset;
  for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
  return body;
}

/** "2xrtx-4090, 1×rtx-3090" → ["2xrtx-4090", "1xrtx-3090"]; "" → []; null when a part is not COUNTxGPU. */
function parseHave(text) {
  const parts = String(text || "").split(/[,;]+/).map((x) => x.trim()).filter(Boolean);
  const out = [];
  for (const part of parts) {
    const m = /^(?:(\d{1,4})\s*[x×*]\s*)?([a-z0-9][a-z0-9._-]*)$/i.exec(part);
    if (!m) return null;
    out.push(`${m[1] ? Number(m[1]) : 1}x${m[2].toLowerCase()}`);
  }
  return out;
}

function parseTokens(text) {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([kKmMbBgGtT]?)\s*$/.exec(text || "");
  if (!m) return null;
  return Number(m[1]) * { "": 1, k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 }[m[2].toLowerCase()];
}

async function runPlan(body, quiet = false) {
  if (!quiet && !validateForm()) { showError(t("page.fix_fields")); return; }
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
    const { ram_gib: _ram, ...planBody } = body;  // RAM goes to /fit, not to the planner
    const plan = await api("/plan", { body: planBody });
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
    if (err.status === 404 && !findModel(body.model)) {
      const hits = searchModels(body.model, 4);
      if (hits.length) document.getElementById("error").append(" ", t("page.did_you_mean"), suggestionButtons(hits));
    }
    document.getElementById("error").scrollIntoView({ block: "nearest" });
  } finally {
    clearInterval(tick);
    state.busy = false;
    button.disabled = false;
  }
}

function chosen() { return state.plan && state.plan.candidates[state.selected]; }
function isTraining() { return state.plan && state.plan.task !== "serve"; }

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
  for (const id of ["perf-figure", "ttft-figure"]) document.getElementById(id).hidden = !c || isTraining();
  loadFit();
  if (!c) return;
  renderMemoryChart();
  if (!isTraining()) loadSweep();
  loadCost();
}

/** With the user's own GPU and RAM given: what runs on that machine, GPU-only or with CPU offload (``fit``). */
async function loadFit() {
  const card = document.getElementById("fit-card");
  const req = state.request || {};
  if (!req.ram_gib || !req.gpu || req.gpu.length !== 1) { card.hidden = true; return; }
  const body = { gpu: req.gpu[0], gpus: req.max_gpus || 1, ram_gib: req.ram_gib,
    context: (req.input_tokens || 2000) + (req.output_tokens || 500) };
  if (req.quality) body.quality = req.quality;
  const key = JSON.stringify(body);
  if (state.fitKey !== key) {
    try { state.fit = await api("/fit", { body }); state.fitKey = key; } catch (err) { card.hidden = true; return; }
  }
  renderFit();
}

function renderFit() {
  const card = document.getElementById("fit-card");
  const data = state.fit;
  if (!data) return;
  card.hidden = false;
  const gpu = state.gpus.find((g) => g.id === data.gpu);
  document.getElementById("fit-title").textContent = t("page.fit_title", { n: data.gpu_count, gpu: gpu ? gpu.name : data.gpu,
    ram: fmtNum(data.ram_bytes / GIB) });
  const cols = ["model", "format", "placement", "weights", "host", "context", "speed"];
  const labels = cols.map((k) => t(`fit.col_${k}`));
  const chosenId = state.plan ? state.plan.model.id : null;
  const rows = [...data.models].sort((a, b) => (b.model === chosenId) - (a.model === chosenId));
  const table = document.getElementById("fit");
  if (!rows.length) { table.replaceChildren(el("tbody", {}, [el("tr", {}, [el("td", { class: "wide", text: t("page.fit_none") })])])); return; }
  const body = rows.map((r) => el("tr", { class: r.model === chosenId ? "selected" : "" }, [
    r.model.split("/").pop(), formatLabel(r.model, r.weight_format, true).replace(/^gguf-/, ""), t(`fit.place_${r.placement}`), fmtGiB(r.weights_bytes),
    r.host_bytes ? fmtGiB(r.host_bytes) : "—", r.max_context_tokens ? fmtNum(r.max_context_tokens) : "—",
    `${r.decode_tokens_per_s_bound ? `≤${fmtNum(r.decode_tokens_per_s_bound)} tok/s ` : ""}${t(`fit.speed_${r.speed_class}`)}`,
  ].map((v, i) => el("td", { "data-label": labels[i], text: v }))));
  table.replaceChildren(el("caption", { text: document.getElementById("fit-title").textContent }),
    el("thead", {}, [el("tr", {}, labels.map((text) => el("th", { scope: "col", text })))]), el("tbody", {}, body));
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
    [t("web.fact_engine"), `${c.engine} · ${formatLabel(state.plan.model.id, c.weight_format, false)} · ${layoutOf(c)}`],
  ];
  if (isTraining()) {
    facts.push([t("page.col_train_tps"), fmtNum(p.train_tokens_per_s)], [t("page.col_train_days"), fmtNum(p.train_days, 1)]);
  } else {
    facts.push([t("web.fact_ttft"), fmtMs(p.ttft_s)], [t("web.fact_tpot"), fmtMs(p.tpot_s, 1)],
      [t("web.fact_throughput"), `${fmtNum(p.output_tokens_per_s)} tok/s`],
      [t("web.fact_capacity"), t("web.fact_capacity_value", { n: fmtNum(c.memory.max_concurrency) })]);
  }
  facts.push([t("web.fact_capex"), c.cost.priced === false ? t("money.unpriced_row", { missing: (c.cost.missing || []).map((m) => t(`money.missing_${m}`)).join(", ") }) : fmtCost(c.cost, "capex")],
    [t("web.fact_tco", { years: c.cost.years }), fmtCost(c.cost, "tco")]);
  const users = plan.workload ? plan.workload.concurrency : null;
  const name = plan.model.name || plan.model.id;
  const first = state.selected === 0;
  let title;
  if (plan.workload && plan.workload.rate_per_s) title = t("page.best_title_rate", { model: name, rate: fmtNum(plan.workload.rate_per_s, 2) });
  else if (users === 1) title = t(first ? "page.best_title_one" : "page.selected_title_one", { model: name, rank: state.selected + 1 });
  else title = t(first ? "web.best_title" : "web.selected_title", { model: name, users: users ? fmtNum(users) : "—", rank: state.selected + 1 });
  box.replaceChildren(
    el("h2", { text: title }),
    el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
  );
  if (p.bottleneck) box.append(el("p", { class: "hint", text: t("plan.why", { bottleneck: t(`plan.bottleneck_${p.bottleneck}`) }) }));
  for (const note of c.notes || []) box.append(el("p", { class: "hint", text: note }));
  const bom = renderBom(c);
  if (bom) box.append(bom);
  // A Mac runs the engine natively: render writes no Kubernetes files for Apple GPUs (containers cannot reach Metal).
  const gpu = (state.gpus || []).find((g) => g.id === c.gpu);
  document.getElementById("dl-k8s").hidden = Boolean(gpu && gpu.vendor === "apple");
}

function columnsFor(plan) {
  const money = currency() === "CNY" ? "¥" : "$";
  const base = [
    ["rank", t("plan.col_rank")], ["hardware", t("plan.col_hardware")], ["engine", t("plan.col_engine")],
    ["format", t("plan.col_format")], ["layout", t("plan.col_layout")], ["memory", t("page.col_memory")],
  ];
  const speed = plan.task !== "serve"
    ? [["train_tps", t("page.col_train_tps")], ["train_days", t("page.col_train_days")]]
    : [["ttft", t("plan.col_ttft")], ["tpot", t("plan.col_tpot")], ["throughput", t("plan.col_throughput")]];
  const cost = [["capex", t("plan.col_capex")], ["tco", t("plan.col_tco")]];
  if (plan.task === "serve") cost.push(["per_mtok", t("web.col_per_mtok", { sign: money })]);
  return [...base, ...speed, ...cost];
}

function cellValue(key, c, i, plan) {
  const p = c.perf;
  switch (key) {
    case "rank": return `${i + 1}${plan.pareto.includes(i) ? "*" : ""}`;
    case "hardware": return hardwareOf(c);
    case "engine": return c.engine;
    case "format": return formatLabel(plan.model.id, c.weight_format, true);
    case "layout": return plan.task !== "serve" ? `ZeRO-${c.engine_args.zero_stage ?? 0} · ${c.engine_args.recompute || ""}` : layoutOf(c);
    case "memory": return `${fmtNum(c.memory.per_gpu_total_bytes / GIB, 1)} / ${fmtNum(c.memory.capacity_bytes / GIB, 0)}`;
    case "ttft": return fmtMs(p.ttft_s);
    case "tpot": return fmtMs(p.tpot_s, 1);
    case "throughput": return fmtNum(p.output_tokens_per_s);
    case "train_tps": return fmtNum(p.train_tokens_per_s);
    case "train_days": return fmtNum(p.train_days, 1);
    case "capex": return c.cost.priced === false ? "—" : fmtCost(c.cost, "capex");
    case "tco": return fmtCost(c.cost, "tco");
    case "per_mtok": return fmtCost(c.cost, "per_million_output_tokens");
    default: return "";
  }
}

function renderCandidates() {
  const table = document.getElementById("candidates");
  const plan = state.plan;
  const cols = columnsFor(plan);
  const caption = el("caption", { text: t("page.caption_candidates") });
  if (!plan.candidates.length) {
    table.replaceChildren(caption, el("tbody", {}, [el("tr", {}, [el("td", { class: "wide", text: t("plan.none") })])]));
    return;
  }
  const head = el("thead", {}, [el("tr", {}, cols.map(([key, label]) => el("th", { scope: "col", "data-col": key, text: label })))]);
  const rows = plan.candidates.map((c, i) => {
    const pick = () => { state.selected = i; renderResults(); document.querySelector(`#candidates button.pick[data-rank="${i + 1}"]`).focus(); };
    const cells = cols.map(([key, label]) => {
      if (key === "rank") {
        // One button per row selects it: rows are not tab stops; the button says which candidate it picks.
        const button = el("button", { type: "button", class: "pick", "data-rank": String(i + 1), "aria-pressed": String(i === state.selected),
          "aria-label": t("page.select_candidate", { rank: i + 1 }), text: cellValue(key, c, i, plan), onclick: (e) => { e.stopPropagation(); pick(); } });
        return el("td", { "data-label": label }, [button]);
      }
      return el("td", { "data-label": label, class: ["hardware", "engine", "format", "layout"].includes(key) ? "" : "num", text: cellValue(key, c, i, plan) });
    });
    const tr = el("tr", { class: i === state.selected ? "selected" : "" }, cells);
    tr.addEventListener("click", pick);
    return tr;
  });
  table.replaceChildren(caption, head, el("tbody", {}, rows));
}

function renderRejections() {
  const card = document.getElementById("rejections-card");
  const plan = state.plan;
  card.hidden = !plan.rejections.length;
  const labels = ["col_reason", "col_count", "col_nearest"].map((k) => t(`plan.${k}`));
  const head = el("thead", {}, [el("tr", {}, labels.map((text) => el("th", { scope: "col", text })))]);
  const rows = plan.rejections.map((r) => el("tr", {}, [
    el("td", { "data-label": labels[0], text: t(`plan.reason_${r.reason}`) }),
    el("td", { "data-label": labels[1], class: "num", text: fmtNum(r.count) }),
    el("td", { "data-label": labels[2], class: "wide", text: r.nearest || "—" })]));
  document.getElementById("rejections").replaceChildren(el("caption", { text: t("page.caption_rejections") }), head, el("tbody", {}, rows));
}

function renderAssumptions(extra = []) {
  const items = [...state.plan.assumptions, ...extra];
  const c = chosen();
  if (c && c.perf.calibration) items.push(t("web.calibration_note", { name: c.perf.calibration, pct: fmtNum((c.perf.uncertainty_fraction || 0) * 100) }));
  document.getElementById("assumptions").replaceChildren(...items.map((a) => el("li", { text: a })));
}

// ---------- charts ----------
function chartWidth(container) { return Math.max(260, Math.floor(container.clientWidth || 320)); }

/** A data table under a chart (the values are not only in hover tooltips). */
function dataTable(title, headers, rows) {
  const table = el("table", {}, [
    el("caption", { text: t("page.data_caption", { chart: title }) }),
    el("thead", {}, [el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))]),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v, i) => (i === 0 ? el("th", { scope: "row", text: v }) : el("td", { class: "num", text: v })))))),
  ]);
  return el("details", { class: "chart-data" }, [el("summary", { text: t("page.show_data") }), el("div", { class: "table-wrap" }, [table])]);
}

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
  const table = dataTable(t("web.chart_memory"), [t("page.col_part"), t("page.col_gib")],
    [...parts.map(([, bytes, label]) => [label, fmtNum(bytes / GIB, 2)]), [t("web.mem_budget"), fmtNum(m.budget_bytes / GIB, 2)]]);
  box.replaceChildren(s, legend, note, table);
}

/** Round axis: the smallest step from {1, 1.5, 2, 2.5, 3, 4, 5, 6, 8} × 10^k with `intervals` steps covering `max`. */
function niceScale(max, intervals = 4) {
  if (!(max > 0)) return { step: 1, max: intervals };
  const raw = max / intervals;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    const step = m * p;
    if (step * intervals >= max * (1 - 1e-9)) return { step, max: step * intervals };
  }
  return { step: 10 * p, max: 10 * p * intervals };
}

/** The top of a latency axis for `values` and a target: the target is on the axis when it is within 2× the data,
 *  else it is only named (a 3 s target over 200 ms values would flatten them). */
function latencyMax(values, target) {
  const top = robustMax(values, 0);
  return target && target <= 2 * top ? Math.max(top, target * 1.1) : top;
}

/** The top of a latency axis that one spike cannot flatten: when the largest value is over 3× the median, the axis
 *  stops at the largest ordinary value (and the target line), and the spikes are drawn clipped with their value. */
function robustMax(values, floor = 0) {
  const v = values.filter((x) => x !== null && isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return floor;
  const median = v[Math.floor(v.length / 2)];
  const max = v[v.length - 1];
  if (v.length >= 4 && median > 0 && max > 3 * median) {
    const ordinary = v.filter((x) => x <= 3 * median);
    return Math.max(ordinary[ordinary.length - 1] * 1.15, floor);
  }
  return Math.max(max, floor);
}

const MARKS = { circle: (x, y, c) => svg("circle", { cx: x, cy: y, r: 3.2, fill: c }),
  square: (x, y, c) => svg("rect", { x: x - 3, y: y - 3, width: 6, height: 6, fill: c }),
  triangle: (x, y, c) => svg("path", { d: `M${x},${y - 4} L${x + 4},${y + 3} L${x - 4},${y + 3} Z`, fill: c }) };

function legendSample(ser) {
  const s = svg("svg", { width: 26, height: 10, "aria-hidden": "true" });
  s.append(svg("line", { x1: 1, x2: 25, y1: 5, y2: 5, stroke: ser.color, "stroke-width": 2.5, "stroke-dasharray": ser.dash || "" }));
  if (ser.mark) s.append(MARKS[ser.mark](13, 5, ser.color));
  return s;
}

/**
 * A line chart sized to its container. series: [{key, label, color, axis: "left"|"right", points: [[x, y]], dash, mark}];
 * opts: {xLog, xLabel, left: {label, fmt, max}, right: {label, fmt, max}, fmtX, xTicks, markers: [{x, label}],
 * hlines: [{y, axis, label}], aria}. Marker labels sit above the plot (never over the lines) on rows that do not
 * collide; tick values are round numbers.
 */
function lineChart(container, series, opts) {
  const w = chartWidth(container), h = Math.round(Math.min(320, Math.max(220, w * 0.58)));
  const markers = (opts.markers || []).filter((mk) => mk.x !== null && mk.x !== undefined);
  const m = { l: 54, r: opts.right ? 54 : 16, t: 16 + 14 * Math.min(markers.length, 2), b: 42 };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const fx = (x) => {
    if (xMax === xMin) return m.l + pw / 2;
    if (opts.xLog) return m.l + ((Math.log2(x) - Math.log2(xMin)) / (Math.log2(xMax) - Math.log2(xMin))) * pw;
    return m.l + ((x - xMin) / (xMax - xMin)) * pw;
  };
  const intervals = 4;
  const scales = {};
  for (const axis of ["left", "right"]) {
    const cfg = opts[axis];
    if (!cfg) continue;
    const top = cfg.max !== undefined ? cfg.max : Math.max(0, ...series.filter((s) => s.axis === axis).flatMap((s) => s.points.map((p) => p[1])));
    scales[axis] = niceScale(top, intervals);
  }
  const fy = (y, axis) => m.t + ph - (Math.min(y, scales[axis].max) / scales[axis].max) * ph;
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", class: "line-chart", "aria-label": opts.aria || "" });
  for (let i = 0; i <= intervals; i++) {
    const y = m.t + (ph * i) / intervals;
    s.append(svg("line", { x1: m.l, x2: m.l + pw, y1: y, y2: y, class: "grid" }));
    for (const [axis, x, anchor] of [["left", m.l - 6, "end"], ["right", m.l + pw + 6, "start"]]) {
      if (!scales[axis]) continue;
      const value = scales[axis].max - scales[axis].step * i;
      s.append(svg("text", { x, y: y + 4, "text-anchor": anchor, class: "axis", "data-axis": axis, "data-value": String(value) }, opts[axis].fmt(value)));
    }
  }
  for (const [axis, x, anchor] of [["left", 4, "start"], ["right", w - 4, "end"]]) {
    if (scales[axis]) s.append(svg("text", { x, y: m.t - 4 - 14 * Math.min(markers.length, 2), "text-anchor": anchor, class: "axis-label" }, opts[axis].label));
  }
  const ticks = opts.xTicks || [...new Set(xs)].sort((a, b) => a - b);
  let lastX = -Infinity;
  for (const x of ticks) {
    const px = fx(x);
    if (px - lastX < 30) continue;
    lastX = px;
    s.append(svg("text", { x: px, y: m.t + ph + 16, "text-anchor": "middle", class: "axis" }, (opts.fmtX || fmtCompact)(x)));
  }
  s.append(svg("text", { x: m.l + pw / 2, y: h - 6, "text-anchor": "middle", class: "axis-label" }, opts.xLabel));
  // Horizontal target lines (SLO, budget): dashed, labelled at the right end inside the plot.
  for (const [index, line] of (opts.hlines || []).entries()) {
    const sc = scales[line.axis];
    if (!sc || !(line.y > 0)) continue;
    if (line.y > sc.max) {  // far above the data: named at the top, not drawn (it would flatten the lines)
      s.append(svg("text", { x: m.l + pw - 4, y: m.t + 12 + 14 * index, "text-anchor": "end", class: "slo-label", "data-line": line.key }, `▲ ${line.label}`));
      continue;
    }
    const y = fy(line.y, line.axis);
    s.append(svg("line", { x1: m.l, x2: m.l + pw, y1: y, y2: y, class: "slo", "data-line": line.key }));
    s.append(svg("text", { x: m.l + pw - 4, y: y - 4, "text-anchor": "end", class: "slo-label" }, line.label));
  }
  // Vertical markers: the line inside the plot, the label above it, on the first row where it does not collide.
  const rows = [[], []];
  for (const mk of markers) {
    if (mk.x < xMin || mk.x > xMax) continue;
    const px = fx(mk.x);
    s.append(svg("line", { x1: px, x2: px, y1: m.t, y2: m.t + ph, class: "marker" }));
    const width = mk.label.length * 6.5 + 8;
    const anchor = px > m.l + pw * 0.7 ? "end" : px < m.l + pw * 0.3 ? "start" : "middle";
    const left = anchor === "end" ? px - width : anchor === "start" ? px : px - width / 2;
    let row = rows.findIndex((r) => r.every(([a, b]) => left + width < a || left > b));
    if (row < 0) row = rows.length - 1;
    rows[row].push([left, left + width]);
    s.append(svg("text", { x: px, y: m.t - 4 - 14 * row, "text-anchor": anchor, class: "marker-label" }, mk.label));
  }
  for (const ser of series) {
    if (!ser.points.length) continue;
    const sc = scales[ser.axis];
    const d = ser.points.map((p, i) => `${i ? "L" : "M"}${fx(p[0]).toFixed(1)},${fy(p[1], ser.axis).toFixed(1)}`).join(" ");
    s.append(svg("path", { d, fill: "none", stroke: ser.color, "stroke-width": 2.5, "stroke-dasharray": ser.dash || "", "data-series": ser.key }));
    for (const p of ser.points.length <= 24 ? ser.points : []) {
      const dot = (MARKS[ser.mark] || MARKS.circle)(fx(p[0]).toFixed(1), fy(p[1], ser.axis).toFixed(1), ser.color);
      dot.append(svg("title", {}, `${ser.label}: ${(ser.fmt || fmtCompact)(p[1])} @ ${(opts.fmtX || fmtCompact)(p[0])}`));
      s.append(dot);
      if (p[1] > sc.max) {
        s.append(svg("text", { x: fx(p[0]) - 4, y: m.t + 10, "text-anchor": "end", class: "clip-label", "data-clipped": ser.key },
          `▲ ${t("page.clipped", { v: (ser.fmt || fmtCompact)(p[1]) })}`));
      }
    }
  }
  const legend = el("ul", { class: "legend" }, series.map((ser) => el("li", {}, [legendSample(ser), ser.label])));
  container.replaceChildren(s, legend);
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
  document.getElementById("ttft-chart").replaceChildren(el("p", { class: "hint", text: t("web.loading") }));
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
  const ttftBox = document.getElementById("ttft-chart");
  const pts = (state.sweep || []).filter((p) => !p.error && p.output_tokens_per_s !== null);
  if (!pts.length) {
    box.replaceChildren(el("p", { class: "hint", text: t("web.no_curve") }));
    ttftBox.replaceChildren();
    return;
  }
  const users = state.plan.workload.concurrency;
  const c = chosen();
  const slo = state.plan.slo || {};
  const markers = [];
  if (users) markers.push({ x: users, label: t("web.marker_users", { n: fmtNum(users) }) });
  if (c.memory.max_concurrency && c.memory.max_concurrency !== users) markers.push({ x: c.memory.max_concurrency, label: t("web.marker_capacity") });
  const tpotPts = pts.filter((p) => p.tpot_s !== null).map((p) => [p.concurrency, p.tpot_s * 1000]);
  const tpotTarget = slo.tpot_s ? slo.tpot_s * 1000 : null;
  const perfSeries = [
    { key: "throughput", label: t("page.series_throughput"), color: COLORS.throughput, axis: "left", mark: "circle", points: pts.map((p) => [p.concurrency, p.output_tokens_per_s]) },
    { key: "tpot", label: t("page.series_tpot"), color: COLORS.tpot, axis: "right", dash: "7 4", mark: "square", points: tpotPts, fmt: (v) => `${fmtMsOf(v)} ms` },
  ];
  lineChart(box, perfSeries, { xLog: true, fmtX: (v) => fmtNum(v), xLabel: t("web.axis_concurrency"),
    left: { label: t("page.axis_throughput"), fmt: fmtCompact },
    right: { label: t("page.axis_ms"), fmt: fmtMsOf, max: latencyMax(tpotPts.map((p) => p[1]), tpotTarget) },
    hlines: tpotTarget ? [{ key: "slo-tpot", y: tpotTarget, axis: "right", label: t("page.slo_tpot", { v: fmtMsOf(tpotTarget) }) }] : [],
    markers, aria: t("page.chart_perf") });
  const ttftPts = pts.filter((p) => p.ttft_s !== null).map((p) => [p.concurrency, p.ttft_s * 1000]);
  const ttftTarget = slo.ttft_s ? slo.ttft_s * 1000 : null;
  if (ttftPts.length) {
    lineChart(ttftBox, [{ key: "ttft", label: t("page.series_ttft"), color: COLORS.ttft, axis: "left", dash: "2 4", mark: "triangle", points: ttftPts, fmt: (v) => `${fmtMsOf(v)} ms` }],
      { xLog: true, fmtX: (v) => fmtNum(v), xLabel: t("web.axis_concurrency"),
        left: { label: t("page.axis_ms"), fmt: fmtMsOf, max: latencyMax(ttftPts.map((p) => p[1]), ttftTarget) },
        hlines: ttftTarget ? [{ key: "slo-ttft", y: ttftTarget, axis: "left", label: t("page.slo_ttft", { v: fmtMsOf(ttftTarget) }) }] : [],
        markers, aria: t("page.chart_ttft") });
  } else {
    ttftBox.replaceChildren(el("p", { class: "hint", text: t("web.no_curve") }));
  }
  box.append(dataTable(t("page.chart_perf"), [t("page.col_concurrency"), t("page.col_throughput"), t("page.col_tpot_ms"), t("page.col_ttft_ms")],
    pts.map((p) => [fmtNum(p.concurrency), fmtNum(p.output_tokens_per_s), p.tpot_s === null ? "—" : fmtMsOf(p.tpot_s * 1000),
      p.ttft_s === null ? "—" : fmtMsOf(p.ttft_s * 1000)])));
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

function budgetInCurrency() {
  const req = state.request || {};
  if (currency() === "CNY") return req.budget_cny || (req.budget_usd ? toCurrency(req.budget_usd) : null);
  return req.budget_usd || (req.budget_cny && state.usdToCny ? req.budget_cny / state.usdToCny : null);
}

function drawCost() {
  const box = document.getElementById("cost-chart");
  const data = state.cost;
  const own = data.monthly.filter((p) => p.own_usd !== null).map((p) => [p.month, toCurrency(p.own_usd)]);
  const rent = data.monthly.filter((p) => p.rent_usd !== null).map((p) => [p.month, toCurrency(p.rent_usd)]);
  const opsPriced = data.ops_usd_per_year !== null && data.ops_usd_per_year !== undefined && data.ops_usd_per_year > 0;
  const series = [];
  if (own.length) series.push({ key: "own", label: t(opsPriced ? "page.series_own" : "page.series_own_no_ops"), color: COLORS.own, axis: "left", mark: "circle", points: own, fmt: (v) => fmtMoneyValue(v) });
  if (rent.length) series.push({ key: "rent", label: t("page.series_rent", { provider: data.cloud_provider || "" }), color: COLORS.rent, axis: "left", dash: "7 4", mark: "square", points: rent, fmt: (v) => fmtMoneyValue(v) });
  if (!series.length) { box.replaceChildren(el("p", { class: "hint", text: t("web.no_cost") })); return; }
  const markers = data.break_even_months !== null ? [{ x: data.break_even_months, label: t("web.marker_break_even", { m: fmtNum(data.break_even_months, 1) }) }] : [];
  const months = data.monthly.map((p) => p.month);
  const step = months.length > 24 ? 6 : 3;
  const budget = budgetInCurrency();
  const sign = currency() === "CNY" ? "¥" : "$";
  lineChart(box, series, { xLabel: t("web.axis_months"), markers,
    left: { label: t("web.axis_cumulative", { currency: currency() }), fmt: (v) => sign + fmtCompact(v) },
    hlines: budget ? [{ key: "budget", y: budget, axis: "left", label: t("page.budget_line", { v: sign + fmtCompact(budget) }) }] : [],
    xTicks: months.filter((mo) => mo % step === 0), fmtX: (v) => String(v), aria: t("web.chart_cost") });
  const byMonth = new Map();
  for (const p of data.monthly) if (p.month % step === 0 || p.month === months[months.length - 1]) byMonth.set(p.month, p);
  box.append(dataTable(t("web.chart_cost"), [t("page.col_month"), t("page.col_own", { currency: currency() }), t("page.col_rent", { currency: currency() })],
    [...byMonth.values()].map((p) => [String(p.month), p.own_usd === null ? "—" : fmtAmount(toCurrency(p.own_usd)), p.rent_usd === null ? "—" : fmtAmount(toCurrency(p.rent_usd))])));
  const notes = [];
  if (!rent.length) notes.push(t("web.no_rent_price"));
  if (data.break_even_months !== null) notes.push(t("web.break_even", { m: fmtNum(data.break_even_months, 1) }));
  notes.push(...(data.unknowns_text || []));
  for (const n of notes) box.append(el("p", { class: "hint", text: n }));
}
function fmtMoneyValue(v) { return (currency() === "CNY" ? "¥" : "$") + fmtNum(v); }

// ---------- downloads ----------
function setDownloadStatus(text) { document.getElementById("dl-status").textContent = text || ""; }

async function download(path, body, name) {
  const button = document.activeElement;
  showError("");
  setDownloadStatus(t("web.preparing"));
  try {
    const response = await api(path, { body, raw: true });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    setDownloadStatus(t("web.downloaded", { name }));
  } catch (err) {
    setDownloadStatus(err.message);
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
  "r1-100": { model: "deepseek-ai/DeepSeek-R1", users: 100, input: 2000, output: 6000, ttft: 3000, tpot: 100 },
  "distill-team": { model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", users: 50, input: 2000, output: 6000, ttft: 2000, tpot: 50 },
  // One developer's own machine: gpuplan's "personal" preset (consumer and workstation GPUs, at most 2).
  "personal": { model: "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", users: 1, input: 2000, output: 6000, objective: "capex", preset: "personal" },
};

function useExample(name) {
  const ex = EXAMPLES[name];
  const set = (id, v) => { document.getElementById(id).value = v === undefined || v === null ? "" : v; };
  set("task", "serve"); showTaskFields();
  set("model-search", ex.model); set("users", ex.users); set("rate", ""); set("input-tokens", ex.input); set("output-tokens", ex.output);
  set("ttft-ms", ex.ttft); set("tpot-ms", ex.tpot); set("objective", ex.objective || "tco"); set("gpu-select", "");
  set("max-gpus", ""); set("engine", "");
  delete document.getElementById("output-tokens").dataset.userSet;
  state.lastModel = findModel(ex.model) ? findModel(ex.model).id : null;
  setPreset(ex.preset || null);
  showModelInfo();
  runPlan(readForm());
}

function setPreset(name) {
  state.preset = name;
  document.getElementById("preset-note").hidden = name !== "personal";
}

function showTaskFields() {
  const training = document.getElementById("task").value !== "serve";
  for (const node of document.querySelectorAll(".serve-only")) node.hidden = training;
  for (const node of document.querySelectorAll(".train-only")) node.hidden = !training;
}

// ---------- language ----------
async function switchLanguage() {
  state.lang = state.lang === "zh" ? "en" : "zh";
  try { localStorage.setItem("gpuplan_lang", state.lang); } catch (e) { /* private mode */ }
  try { await loadMessages(); } catch (err) { showError(t("page.messages_failed")); return; }
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
  const form = document.getElementById("plan-form");
  form.addEventListener("submit", (e) => { e.preventDefault(); runPlan(readForm()); });
  form.addEventListener("input", (e) => {
    if (e.target.id && e.target.getAttribute("aria-invalid") === "true") clearFieldError(e.target.id);
    if (e.target.id === "output-tokens") e.target.dataset.userSet = "true";
    if (["gpu-select", "max-gpus", "engine", "china-only"].includes(e.target.id)) setPreset(null);
    if (["input-tokens", "output-tokens"].includes(e.target.id)) showContextInfo();
  });
  document.getElementById("task").addEventListener("change", showTaskFields);
  document.getElementById("model-search").addEventListener("input", showModelInfo);
  for (const b of document.querySelectorAll("[data-example]")) b.addEventListener("click", () => useExample(b.dataset.example));
  const model = () => slug(state.plan.model.id);
  document.getElementById("dl-plan").addEventListener("click", () => download("/plan/file", { plan: planForDownload() }, "plan.yaml"));
  document.getElementById("dl-k8s").addEventListener("click", () => download("/render.zip", { plan: planForCandidate(), targets: ["k8s", "engine"] }, t("page.download_k8s_name", { model: model() })));
  document.getElementById("dl-all").addEventListener("click", () => download("/render.zip", { plan: planForCandidate(), targets: ["all"] }, t("page.download_all_name", { model: model() })));
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (chosen()) { renderMemoryChart(); if (state.sweep && !isTraining()) drawSweep(); if (state.cost) drawCost(); } }, 150);
  });
  showTaskFields();
  if (state.lang === "zh") document.getElementById("currency").value = "CNY";  // as the API defaults for Chinese
  try {
    await loadMessages();
  } catch (err) {
    // The page already reads in English (the server fills the texts in); say why the language cannot change.
    showError(t("page.messages_failed"));
  }
  try {
    await loadCatalog();
    showModelInfo();
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("DOMContentLoaded", start);
