"""Targets ``prometheus`` and ``grafana``: alert rules, their promtool unit tests, and a dashboard.

Metric names and units (shared/reference/ecosystem.md §3): dcgm-exporter ``DCGM_FI_DEV_GPU_TEMP`` (°C),
``DCGM_FI_DEV_GPU_UTIL`` (0–100), ``DCGM_FI_DEV_FB_USED``/``_FREE`` (MiB), ``DCGM_FI_DEV_POWER_USAGE`` (W),
``DCGM_FI_DEV_XID_ERRORS`` (value of the last XID), ``DCGM_FI_DEV_ROW_REMAP_FAILURE`` (NVIDIA/dcgm-exporter
``etc/default-counters.csv``); vLLM ``vllm:kv_cache_usage_perc`` (0–1), ``vllm:num_requests_waiting``,
``vllm:time_to_first_token_seconds``, ``vllm:inter_token_latency_seconds`` (docs/design/metrics.md); SGLang
``sglang:token_usage``, ``sglang:num_queue_reqs``, ``sglang:time_to_first_token_seconds``,
``sglang:inter_token_latency_seconds`` (docs/references/production_metrics.md).
dcgm-exporter ships no alert rules (ecosystem.md §3.4), so the rules are authored here; thresholds are named below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gpuplan.artifacts.common import RenderContext, RenderedFile, hash_header, yaml_dump
from gpuplan.i18n import t

GPU_TEMP_MAX_C = 85.0               # the threshold
GPU_MEMORY_MAX_FRACTION = 0.90      # the threshold, raised above the plan's own pre-allocation (see below)
GPU_UNDERUSED_PERCENT = 20.0        # mean utilization over 30 min below this = under-used
GPU_POWER_CAP_FRACTION = 0.98       # sustained draw at the board power limit
KV_CACHE_MAX_FRACTION = 0.90        # ecosystem.md §3.4: vllm:kv_cache_usage_perc > 0.9
SLO_FALLBACK_FACTOR = 1.5           # without an SLO, alert at 1.5 × the plan's predicted TTFT / TPOT

ENGINE_METRICS = {
    "vllm": {"kv": "vllm:kv_cache_usage_perc", "queue": "vllm:num_requests_waiting",
             "ttft": "vllm:time_to_first_token_seconds", "itl": "vllm:inter_token_latency_seconds",
             "running": "vllm:num_requests_running", "gen": "vllm:generation_tokens_total"},
    "sglang": {"kv": "sglang:token_usage", "queue": "sglang:num_queue_reqs",
               "ttft": "sglang:time_to_first_token_seconds", "itl": "sglang:inter_token_latency_seconds",
               "running": "sglang:num_running_reqs", "gen": "sglang:generation_tokens_total"},
    "llama.cpp": {"queue": "llamacpp:requests_deferred", "running": "llamacpp:requests_processing",
                  "gen": "llamacpp:tokens_predicted_total"},
}
ENGINE_METRICS["ktransformers"] = ENGINE_METRICS["sglang"]


@dataclass(frozen=True)
class Alert:
    """One alert rule and the synthetic series that must fire it and that must keep it silent."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    bad: dict[str, str]
    good: dict[str, str]
    eval_time: str
    exp_labels: dict[str, str] = field(default_factory=dict)


GPU_LABELS = 'gpu="0",UUID="GPU-00000000",hostname="node-0"'
GPU_LABEL_DICT = {"gpu": "0", "UUID": "GPU-00000000", "hostname": "node-0"}


def memory_threshold_fraction(ctx: RenderContext) -> float:
    """max(0.90, planned per-GPU bytes / capacity + 0.03): engines that pre-allocate (vLLM reserves
    gpu_memory_utilization of the GPU at start) would otherwise fire the alert all the time."""
    m = ctx.cand.memory
    planned = m.per_gpu_total_bytes / m.capacity_bytes if m.capacity_bytes else 0.0
    util = ctx.cand.gpu_memory_utilization or 0.0
    return round(min(0.99, max(GPU_MEMORY_MAX_FRACTION, planned + 0.03, util + 0.03)), 2)


def slo_targets_s(ctx: RenderContext) -> tuple[float | None, float | None, str]:
    """(TTFT, TPOT) thresholds in seconds and where they came from: the plan's SLO, else 1.5 × its prediction."""
    slo = ctx.plan.slo
    if slo.ttft_s is not None or slo.tpot_s is not None:
        return slo.ttft_s, slo.tpot_s, "slo"
    p = ctx.cand.perf
    ttft = p.ttft_s * SLO_FALLBACK_FACTOR if p.ttft_s else None
    tpot = p.tpot_s * SLO_FALLBACK_FACTOR if p.tpot_s else None
    return ttft, tpot, "prediction"


def _g(x: float) -> str:
    return f"{x:.6g}"


def gpu_alerts(ctx: RenderContext) -> list[Alert]:
    mem_thr = memory_threshold_fraction(ctx)
    total_mib = 80000
    used_bad = int(total_mib * (mem_thr + (1 - mem_thr) / 2))
    alerts = [
        Alert("GpuTemperatureHigh", f"DCGM_FI_DEV_GPU_TEMP > {_g(GPU_TEMP_MAX_C)}", "5m", "critical",
              t("render.al_temp", limit=_g(GPU_TEMP_MAX_C)),
              {f"DCGM_FI_DEV_GPU_TEMP{{{GPU_LABELS}}}": "90x20"},
              {f"DCGM_FI_DEV_GPU_TEMP{{{GPU_LABELS}}}": "70x20"}, "15m", GPU_LABEL_DICT),
        Alert("GpuIdle", "DCGM_FI_DEV_GPU_UTIL < 1", "30m", "warning", t("render.al_idle"),
              {f"DCGM_FI_DEV_GPU_UTIL{{{GPU_LABELS}}}": "0x60"},
              {f"DCGM_FI_DEV_GPU_UTIL{{{GPU_LABELS}}}": "50x60"}, "45m", GPU_LABEL_DICT),
        Alert("GpuUnderused", f"avg_over_time(DCGM_FI_DEV_GPU_UTIL[30m]) < {_g(GPU_UNDERUSED_PERCENT)}", "30m",
              "info", t("render.al_underused", limit=_g(GPU_UNDERUSED_PERCENT)),
              {f"DCGM_FI_DEV_GPU_UTIL{{{GPU_LABELS}}}": "10x90"},
              {f"DCGM_FI_DEV_GPU_UTIL{{{GPU_LABELS}}}": "80x90"}, "75m", GPU_LABEL_DICT),
        Alert("GpuMemoryHigh",
              f"DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > {_g(mem_thr)}", "10m",
              "warning", t("render.al_memory", limit=f"{mem_thr * 100:.0f}"),
              {f"DCGM_FI_DEV_FB_USED{{{GPU_LABELS}}}": f"{used_bad}x30",
               f"DCGM_FI_DEV_FB_FREE{{{GPU_LABELS}}}": f"{total_mib - used_bad}x30"},
              {f"DCGM_FI_DEV_FB_USED{{{GPU_LABELS}}}": f"{total_mib // 2}x30",
               f"DCGM_FI_DEV_FB_FREE{{{GPU_LABELS}}}": f"{total_mib // 2}x30"}, "20m", GPU_LABEL_DICT),
        Alert("GpuXidError", "DCGM_FI_DEV_XID_ERRORS > 0", "0m", "critical", t("render.al_xid"),
              {f"DCGM_FI_DEV_XID_ERRORS{{{GPU_LABELS}}}": "0 0 79x10"},
              {f"DCGM_FI_DEV_XID_ERRORS{{{GPU_LABELS}}}": "0x12"}, "10m", GPU_LABEL_DICT),
        Alert("GpuRowRemapFailure", "DCGM_FI_DEV_ROW_REMAP_FAILURE > 0", "0m", "critical", t("render.al_remap"),
              {f"DCGM_FI_DEV_ROW_REMAP_FAILURE{{{GPU_LABELS}}}": "0 1x10"},
              {f"DCGM_FI_DEV_ROW_REMAP_FAILURE{{{GPU_LABELS}}}": "0x11"}, "10m", GPU_LABEL_DICT),
    ]
    tdp = ctx.gpu.tdp_watts if ctx.gpu else None
    if tdp:
        limit = tdp * GPU_POWER_CAP_FRACTION
        alerts.append(Alert(
            "GpuPowerAtLimit", f"DCGM_FI_DEV_POWER_USAGE >= {_g(limit)}", "15m", "warning",
            t("render.al_power", watts=_g(limit), tdp=_g(tdp)),
            {f"DCGM_FI_DEV_POWER_USAGE{{{GPU_LABELS}}}": f"{_g(tdp)}x40"},
            {f"DCGM_FI_DEV_POWER_USAGE{{{GPU_LABELS}}}": f"{_g(tdp * 0.5)}x40"}, "30m", GPU_LABEL_DICT))
    return alerts


def _histogram_series(metric: str, threshold_s: float, bad: bool, labels: str) -> dict[str, str]:
    """Buckets at threshold/2, 2×threshold, +Inf: 'bad' puts every observation above threshold/2 (the quantile
    lands at ≥ 1.25 × threshold for any percentile ≥ 50), 'good' puts all in the lowest bucket (≤ threshold/2)."""
    lo, hi = _g(threshold_s / 2), _g(threshold_s * 2)
    pre = f"{labels}," if labels else ""
    first = "0x30" if bad else "0+10x30"
    return {f'{metric}_bucket{{{pre}le="{lo}"}}': first, f'{metric}_bucket{{{pre}le="{hi}"}}': "0+10x30",
            f'{metric}_bucket{{{pre}le="+Inf"}}': "0+10x30"}


def model_selector(ctx: RenderContext) -> str:
    """Label matcher for this model's engine metrics: vLLM and SGLang label them model_name = served name."""
    if ctx.engine in ("vllm", "sglang", "ktransformers"):
        return f'model_name="{ctx.served_model_name}"'
    return ""


def engine_alerts(ctx: RenderContext) -> list[Alert]:
    m = ENGINE_METRICS.get(ctx.engine)
    if not m:
        return []
    out: list[Alert] = []
    labels = model_selector(ctx)
    ldict = {"model_name": ctx.served_model_name} if labels else {}
    sel = f"{{{labels}}}" if labels else ""
    if "kv" in m:
        out.append(Alert("KvCacheNearlyFull", f"{m['kv']}{sel} > {_g(KV_CACHE_MAX_FRACTION)}", "5m", "warning",
                         t("render.al_kv", limit=f"{KV_CACHE_MAX_FRACTION * 100:.0f}"),
                         {f"{m['kv']}{sel}": "0.97x20"}, {f"{m['kv']}{sel}": "0.5x20"}, "15m", ldict))
    queue_limit = ctx.cand.max_num_seqs or 16
    series_sel = sel or '{pod="engine-0"}'
    out.append(Alert("EngineQueueDeep", f"{m['queue']}{sel} > {queue_limit}", "5m", "warning",
                     t("render.al_queue", limit=queue_limit),
                     {f"{m['queue']}{series_sel}": f"{queue_limit * 2}x20"},
                     {f"{m['queue']}{series_sel}": "0x20"}, "15m", ldict or {"pod": "engine-0"}))
    ttft, tpot, _ = slo_targets_s(ctx)
    q = ctx.plan.slo.percentile / 100.0
    for name, metric, limit, key in (("TtftOverSlo", m.get("ttft"), ttft, "render.al_ttft"),
                                     ("ItlOverSlo", m.get("itl"), tpot, "render.al_itl")):
        if metric is None or limit is None:
            continue
        expr = f"histogram_quantile({_g(q)}, sum by (le) (rate({metric}_bucket{sel}[5m]))) > {_g(limit)}"
        out.append(Alert(name, expr, "10m", "warning",
                         t(key, pct=_g(ctx.plan.slo.percentile), limit_ms=_g(limit * 1000)),
                         _histogram_series(metric, limit, True, labels),
                         _histogram_series(metric, limit, False, labels), "25m"))
    return out


def all_alerts(ctx: RenderContext) -> list[Alert]:
    return gpu_alerts(ctx) + ([] if ctx.is_training else engine_alerts(ctx))


def rules_doc(alerts: list[Alert]) -> dict[str, Any]:
    def rule(a: Alert) -> dict[str, Any]:
        r: dict[str, Any] = {"alert": a.name, "expr": a.expr}
        if a.for_ != "0m":
            r["for"] = a.for_
        r["labels"] = {"severity": a.severity}
        r["annotations"] = {"summary": a.summary}
        return r

    gpu = [rule(a) for a in alerts if a.name.startswith("Gpu")]
    eng = [rule(a) for a in alerts if not a.name.startswith("Gpu")]
    groups = [{"name": "gpuplan-gpu", "rules": gpu}]
    if eng:
        groups.append({"name": "gpuplan-engine", "rules": eng})
    return {"groups": groups}


def tests_doc(alerts: list[Alert], rule_file: str) -> dict[str, Any]:
    """promtool unit tests: per alert one case where it fires and one where it stays silent."""
    cases = []
    for a in alerts:
        for bad in (True, False):
            series = a.bad if bad else a.good
            exp = [{"exp_labels": {**a.exp_labels, "severity": a.severity},
                    "exp_annotations": {"summary": a.summary}}] if bad else []
            cases.append({
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "alert_rule_test": [{"eval_time": a.eval_time, "alertname": a.name, "exp_alerts": exp}],
            })
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": cases}


def prometheus_files(ctx: RenderContext) -> list[RenderedFile]:
    alerts = all_alerts(ctx)
    head = hash_header(ctx, t("render.what_rules"))
    ttft, tpot, origin = slo_targets_s(ctx)
    head += f"# {t('render.slo_origin_' + origin)}\n"
    rules = head + yaml_dump(rules_doc(alerts))
    tests = hash_header(ctx, t("render.what_rule_tests")) + yaml_dump(tests_doc(alerts, "prometheus-rules.yml"))
    return [RenderedFile("monitoring/prometheus-rules.yml", rules, "prometheus-rules"),
            RenderedFile("monitoring/prometheus-rules.test.yml", tests, "promtool-test"),
            RenderedFile("monitoring/prometheus.yml", scrape_config(ctx), "prometheus-config")]


#: dcgm-exporter listens on 9400, path /metrics (NVIDIA/dcgm-exporter README; ecosystem.md §3.1).
DCGM_EXPORTER_PORT = 9400


def scrape_config(ctx: RenderContext) -> str:
    """prometheus.yml for a host or compose deployment: the rules, the engine's /metrics and dcgm-exporter.
    On Kubernetes the pods carry prometheus.io/* annotations instead (k8s/deployment.yaml)."""
    doc = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["prometheus-rules.yml"],
        "scrape_configs": [
            {"job_name": f"{ctx.name}-engine", "metrics_path": "/metrics",
             "static_configs": [{"targets": [f"localhost:{ctx.port}"]}]},
            {"job_name": "dcgm-exporter", "static_configs": [{"targets": [f"localhost:{DCGM_EXPORTER_PORT}"]}]},
        ],
    }
    if ctx.is_training:
        doc["scrape_configs"] = doc["scrape_configs"][1:]
    return hash_header(ctx, t("render.what_prometheus_yml")) + yaml_dump(doc)


def dashboard_panels(ctx: RenderContext) -> list[tuple[str, str, str]]:
    """(title, PromQL, unit) per panel: the GPU view from dcgm-exporter, then the engine's view."""
    panels = [
        (t("render.gp_util"), "DCGM_FI_DEV_GPU_UTIL", "percent"),
        (t("render.gp_temp"), "DCGM_FI_DEV_GPU_TEMP", "celsius"),
        (t("render.gp_mem"), "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)", "percentunit"),
        (t("render.gp_power"), "DCGM_FI_DEV_POWER_USAGE", "watt"),
        (t("render.gp_xid"), "DCGM_FI_DEV_XID_ERRORS", "none"),
    ]
    m = ENGINE_METRICS.get(ctx.engine) if not ctx.is_training else None
    if m:
        q = _g(ctx.plan.slo.percentile / 100.0)
        labels = model_selector(ctx)
        sel = f"{{{labels}}}" if labels else ""
        if "kv" in m:
            panels.append((t("render.gp_kv"), f"{m['kv']}{sel}", "percentunit"))
        panels.append((t("render.gp_queue"), f"{m['queue']}{sel}", "none"))
        panels.append((t("render.gp_running"), f"{m['running']}{sel}", "none"))
        panels.append((t("render.gp_tokens"), f"sum(rate({m['gen']}{sel}[1m]))", "none"))
        for key, metric in (("render.gp_ttft", m.get("ttft")), ("render.gp_itl", m.get("itl"))):
            if metric:
                panels.append((t(key, pct=_g(ctx.plan.slo.percentile)),
                               f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{sel}[5m])))", "s"))
    return panels


def grafana_files(ctx: RenderContext) -> list[RenderedFile]:
    """A Grafana dashboard (schemaVersion 39 JSON); JSON has no comments, so the plan statement is the description."""
    from gpuplan.artifacts.common import header_lines

    panels = []
    for i, (title, expr, unit) in enumerate(dashboard_panels(ctx)):
        panels.append({
            "id": i + 1, "type": "timeseries", "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr, "datasource": {"type": "prometheus", "uid": "${datasource}"}}],
        })
    dash = {
        "title": f"gpuplan: {ctx.served_model_name} ({ctx.engine})",
        "uid": f"gpuplan-{ctx.name}"[:40],
        "description": " | ".join(header_lines(ctx, t("render.what_dashboard"))),
        "tags": ["gpuplan", ctx.engine],
        "timezone": "browser", "schemaVersion": 39, "version": 1, "editable": True,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }
    return [RenderedFile("monitoring/grafana-dashboard.json",
                         json.dumps(dash, indent=2, ensure_ascii=False) + "\n", "json")]
