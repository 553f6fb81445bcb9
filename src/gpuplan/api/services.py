"""What each endpoint computes: request model in, the core's result out. No FastAPI here.

The CLI's own helpers are reused where they exist (``build_request`` for plan, ``flag_overrides`` for cost, the
``*_summary`` JSON contracts), so the API answers with the same numbers and shapes as ``--json``.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from typing import Any

from gpuplan.api.schemas import (
    CostRequest,
    EstimateRequest,
    EstimateResponse,
    PlanRequest,
    RenderedFileOut,
    RenderRequest,
    SizeRequest,
    SweepPoint,
    ValidateRequest,
)
from gpuplan.api.settings import MAX_PLAN_GPUS, MAX_PLAN_NODES
from gpuplan.errors import GpuplanError, InvalidInputError
from gpuplan.planfile import PlanFile

OFFLOAD_CHOICES = ("none", "cpu", "nvme", "experts", "layers")


def models_list(family: str | None, query: str | None) -> list[dict[str, Any]]:
    """``models --json``, optionally one family and/or a case-insensitive search over id, name and aliases."""
    from gpuplan.catalog import list_models
    from gpuplan.views import model_summary

    rows = list_models()
    if family:
        fams = sorted({m.family for m in rows})
        rows = tuple(m for m in rows if m.family.lower() == family.lower())
        if not rows:
            raise InvalidInputError("api.unknown_family", given=family, allowed=", ".join(fams))
    out = [model_summary(m) for m in rows]
    if query:
        out = search_models(out, query)
    return out


def _squash(text: str) -> str:
    """Lower case, Chinese family names to their Latin token, separators (space - _ . /) dropped:
    "DeepSeek R1", "deepseek-r1" and "深度求索 R1" all become "deepseekr1"."""
    from gpuplan.catalog.models import normalize_model_name

    return "".join(ch for ch in normalize_model_name(text) if ch.isalnum())


def _match_rank(summary: dict[str, Any], q: str) -> int | None:
    """0 exact id/alias, 1 a name starts with the query, 2 contains it; None = no match (case, Chinese family names
    and separators ignored)."""
    names = [summary["id"], summary["id"].split("/")[-1], summary["name"] or "", *summary["aliases"]]
    norm = [_squash(n) for n in names]
    if q in norm:
        return 0
    if any(n.startswith(q) for n in norm):
        return 1
    if any(q in n for n in norm):
        return 2
    return None


def search_models(summaries: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """The search box: matches ranked exact → prefix → substring, catalog order within a rank; when nothing matches,
    the closest catalog names ("deepseek-ai/DeepSeek-7B" → the DeepSeek LLM 7B models, size tokens first)."""
    from gpuplan.catalog.models import suggest_models

    q = _squash(query)
    ranked = [(rank, i, s) for i, s in enumerate(summaries) if (rank := _match_rank(s, q)) is not None]
    if not ranked and q:
        by_id = {s["id"]: s for s in summaries}
        return [by_id[i] for i in suggest_models(query, n=5) if i in by_id]
    return [s for _, _, s in sorted(ranked, key=lambda r: (r[0], r[1]))]


def model_detail(ref: str) -> dict[str, Any]:
    """``inspect --json`` for a catalog model (the API never fetches from the Hub)."""
    from gpuplan.catalog import get_model
    from gpuplan.views import inspect_summary

    entry = get_model(ref)
    return inspect_summary(entry, entry.arch, None, entry.id)


def gpus_list(vendor: str | None, china: bool) -> list[dict[str, Any]]:
    """``gpus --json`` with the same filters."""
    from gpuplan.catalog import list_gpus
    from gpuplan.views import gpu_summary

    rows = list_gpus()
    if vendor:
        vendors = sorted({g.vendor for g in rows})
        rows = tuple(g for g in rows if g.vendor == vendor.lower())
        if not rows:
            raise InvalidInputError("api.unknown_vendor", given=vendor, allowed=", ".join(vendors))
    if china:
        rows = tuple(g for g in rows if g.china_available)
    return [gpu_summary(g) for g in rows]


def gpu_detail(ref: str) -> dict[str, Any]:
    from gpuplan.catalog import get_gpu
    from gpuplan.views import gpu_summary

    return gpu_summary(get_gpu(ref))


def size(req: SizeRequest):
    """``size --json``: InferenceMemory (serving) or TrainingMemory (fine-tuning), mapped as the CLI maps flags."""
    from gpuplan.catalog import get_model
    from gpuplan.i18n import t
    from gpuplan.spec import TASKS, Deployment, TrainingJob, check_choice

    check_choice(req.task, TASKS, t("size.what_task"))
    check_choice(req.offload, OFFLOAD_CHOICES, t("size.what_offload"))
    from gpuplan.views import engine_for_gpu, kv_for_weights, layout_for_gpus, weights_for_gpu

    engine = engine_for_gpu(req.engine, req.gpu)
    entry = get_model(req.model)
    weights = req.weights
    if req.task != "serve":
        if req.gpu is None:
            raise InvalidInputError("size.training_needs_gpu")
        from gpuplan.views import size_training_auto

        job = TrainingJob(task=req.task, sequence_length=req.seq_len, micro_batch_size=req.micro_batch_size,
                          zero_stage=req.zero, offload=req.offload if req.offload in ("cpu", "nvme") else "none",
                          lora_rank=req.lora_rank)
        return size_training_auto(entry, job, gpu_id=req.gpu, gpu_count=req.gpus,
                                  tp=req.tensor_parallel_size or 1,
                                  base_format=None if weights == "native" else weights, recompute=req.recompute)
    ctx = req.context or min(entry.max_context_tokens or 4096, 4096)
    if req.gpu is None:
        from gpuplan.memory import size_model_only

        return size_model_only(entry, weights, req.kv_dtype, engine, ctx, req.concurrency)
    from gpuplan.memory import size_inference

    pp = req.pipeline_parallel_size
    weights = weights_for_gpu(entry, weights, req.gpu, engine)
    tp, _ = layout_for_gpus(entry.arch, req.gpus, req.tensor_parallel_size, pp, None, req.dp_attention)
    dep = Deployment(
        gpu_id=req.gpu, gpu_count=req.gpus, engine=engine, weight_format=weights,
        kv_dtype=kv_for_weights(req.kv_dtype, weights),
        tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel_size=req.expert_parallel_size,
        data_parallel_size=max(1, req.gpus // (tp * pp)) if req.dp_attention else 1,
        enable_dp_attention=req.dp_attention, gpu_memory_utilization=req.gpu_memory_utilization,
        offload=req.offload if req.offload in ("experts", "layers") else "none",
    )
    return size_inference(entry, dep, context_tokens=ctx, concurrency=req.concurrency)


def _point(entry, dep, workload, concurrency: int, cal, req: EstimateRequest, lang: str) -> SweepPoint:
    """Whole-deployment speed with ``concurrency`` sequences in flight (replicas split them, as the planner does)."""
    from gpuplan.perf import estimate_serving

    try:
        est = estimate_serving(entry, dep, workload.model_copy(update={"concurrency": concurrency, "rate_per_s": None}),
                               cal, speculative_tokens=req.speculative_tokens,
                               speculative_acceptance_fraction=req.acceptance)
    except GpuplanError as exc:
        return SweepPoint(concurrency=concurrency, error=exc.message(lang))
    return SweepPoint(concurrency=concurrency, ttft_s=est.ttft_s, tpot_s=est.tpot_s, e2e_s=est.e2e_s,
                      output_tokens_per_s=est.output_tokens_per_s, requests_per_s=est.requests_per_s,
                      max_concurrency=est.max_concurrency)


def fit(req) -> dict[str, Any]:
    """``fit --json``: every catalog model that runs on the machine, GPU-only or with CPU offload into its RAM."""
    from gpuplan.views import fit_summary

    ram_bytes = int(req.ram_gib * 2**30) if req.ram_gib else None
    return fit_summary(req.gpu, req.gpus, ram_bytes, None, req.family, req.context, quality=req.quality)


def estimate(req: EstimateRequest, lang: str) -> EstimateResponse:
    """``estimate --json`` (flags mapped as ``cli/estimate.py`` maps them, shipped calibration) + the sweep."""
    from gpuplan.catalog import get_model
    from gpuplan.perf import estimate_serving, load_calibration
    from gpuplan.spec import ENGINES, Deployment, Workload, check_choice
    from gpuplan.views import (
        bottleneck_sentence,
        check_request_context,
        engine_for_gpu,
        kv_for_weights,
        layout_for_gpus,
        weights_for_gpu,
    )

    if req.concurrency is not None and req.rate is not None:
        raise InvalidInputError("api.both_load")
    if req.engine is not None:
        check_choice(req.engine, ENGINES, "engine")
    engine = engine_for_gpu(req.engine, req.gpu)
    entry = get_model(req.model)
    check_request_context(entry, req.input_tokens, req.output_tokens)
    if req.tensor_parallel_size:
        # A layout given whole (the page sends a plan candidate's, a disaggregated one's per pool) is estimated as given
        tp, dp = req.tensor_parallel_size, req.data_parallel_size
    else:
        # Without TP the default layout fills the GPUs (DP left out: replicas), or the request is one sentence
        dp_given = req.data_parallel_size if "data_parallel_size" in req.model_fields_set else None
        tp, dp = layout_for_gpus(entry.arch, req.gpus, None, req.pipeline_parallel_size, dp_given, req.dp_attention)
    dep = Deployment(gpu_id=req.gpu, gpu_count=req.gpus, nodes=req.nodes, engine=engine,
                     weight_format=weights_for_gpu(entry, req.weights, req.gpu, engine),
                     kv_dtype=kv_for_weights(req.kv_dtype, weights_for_gpu(entry, req.weights, req.gpu, engine)),
                     tensor_parallel_size=tp,
                     pipeline_parallel_size=req.pipeline_parallel_size, expert_parallel_size=req.expert_parallel_size,
                     data_parallel_size=dp, enable_dp_attention=req.dp_attention)
    load = {"rate_per_s": req.rate} if req.rate is not None else {"concurrency": req.concurrency or 1}
    workload = Workload(input_tokens=req.input_tokens, output_tokens=req.output_tokens,
                        prefix_cache_hit_fraction=req.prefix_cache_hit, **load)
    cal = load_calibration(None)
    est = estimate_serving(entry, dep, workload, cal, speculative_tokens=req.speculative_tokens,
                           speculative_acceptance_fraction=req.acceptance)
    points = tuple(_point(entry, dep, workload, c, cal, req, lang) for c in sorted(set(req.sweep)) if c >= 1)
    return EstimateResponse(**est.model_dump(), bottleneck_sentence=bottleneck_sentence(est), model=entry.id,
                            deployment=dep, workload=workload, sweep=points)


def plan(req: PlanRequest) -> PlanFile:
    """``plan --json``: the CLI's ``build_request`` on the same option names, then the search, within API limits."""
    from gpuplan.plan import search
    from gpuplan.views import build_request

    opts = req.model_dump()
    plan_request = build_request(opts)
    plan_request = plan_request.model_copy(update={
        "max_gpus": min(plan_request.max_gpus, MAX_PLAN_GPUS),
        "max_nodes": min(plan_request.max_nodes, MAX_PLAN_NODES)})
    return search(plan_request)


def plan_yaml(plan_file: PlanFile) -> str:
    """The plan file text (what ``plan -o plan.yaml`` writes)."""
    return plan_file.to_yaml()


def cost(req: CostRequest, lang: str) -> dict[str, Any]:
    """``cost PLAN --json``: the CostResult plus training cost and the notes rendered in ``lang``."""
    from gpuplan.catalog.prices import load_prices
    from gpuplan.views import cost_of_plan_candidate, flag_overrides, money_view, training_cost_of_plan

    plan_file = req.plan
    count = len(plan_file.candidates)
    if count == 0 or not 0 <= req.candidate < count:
        raise InvalidInputError("cost.no_candidate", path="plan", given=req.candidate, count=count,
                                last=max(count - 1, 0))
    c = plan_file.candidates[req.candidate]
    o = req.model_dump(exclude={"plan"})
    overrides = flag_overrides(c.gpu, o, datetime.now(UTC).strftime("%Y-%m"))
    prices = load_prices(None, overrides)
    inputs, result = cost_of_plan_candidate(plan_file, c, o, prices)
    data = result.model_dump(mode="json")
    training = training_cost_of_plan(plan_file, c, inputs, prices)
    data["training"] = None if training is None else training.model_dump(mode="json")
    data["assumptions_text"] = [n.text(lang) for n in result.assumptions]
    data["unknowns_text"] = [n.text(lang) for n in result.unknowns]
    data["usd_to_cny"] = prices.usd_to_cny.value if prices.usd_to_cny else None
    data["cost"] = money_view(result)
    return data


def render(req: RenderRequest) -> tuple[RenderedFileOut, ...]:
    """``render PLAN --target ...``: the files as text (nothing is written to disk)."""
    from gpuplan.artifacts import render_plan

    files = render_plan(req.plan, req.targets, candidate=req.candidate)
    return tuple(RenderedFileOut(path=f.path, kind=f.kind, bytes=len(f.content.encode("utf-8")), content=f.content)
                 for f in files)


def zip_bytes(files: tuple[RenderedFileOut, ...], folder: str) -> bytes:
    """The rendered files in one zip, under ``folder/`` (built in memory; never touches the disk)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            safe = "/".join(p for p in f.path.replace("\\", "/").split("/") if p not in ("", ".", ".."))
            archive.writestr(f"{folder}/{safe}", f.content)
    return buffer.getvalue()


def validate(req: ValidateRequest) -> dict[str, Any]:
    """``validate --json`` over a dataset sent as CSV text (shipped calibration; per-row results left out, as the
    CLI leaves them out)."""
    from gpuplan.perf import load_calibration
    from gpuplan.perf.validation import parse_dataset, validate_rows

    rows = parse_dataset(req.dataset_csv, "request")
    report = validate_rows(rows, load_calibration(None), worst=req.worst)
    return report.model_dump(mode="json", exclude={"rows"})
