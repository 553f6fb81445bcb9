"""Planning on hardware the user already owns (``--have 2xrtx-4090,1xrtx-3090``): no capex for it, only running cost.

Three shapes, each explained in the result:

* **one GPU type alone** — the normal search restricted to that type and at most the owned count (every owned type is
  tried on its own, serving all users);
* **one replica per GPU type behind a router** — vLLM and SGLang run one GPU type per instance, so a mixed fleet
  (A100 + T4, a common case in deployment guides) serves as one replica per type with requests split between them:
  users are split in proportion to each type's aggregate memory bandwidth (decode is bandwidth-bound), each share is
  planned on its own type, and the fleet's throughput is the sum;
* **llama.cpp across all cards** — llama.cpp splits the layers over every GPU of one machine, of any type, in
  proportion to their memory (``--split-mode layer --tensor-split``, llama.cpp tools/server README); its decode
  speed is bounded by reading each GPU's share of the weights at that GPU's bandwidth in turn (an upper bound, as in
  ``gpuplan fit``).

Money: owned GPUs and their host have zero capex; the running cost (power, operations) is the cost model's opex, so
TCO = opex × years and cost per million tokens uses opex alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gpuplan.catalog import GpuSpec, get_gpu, get_model
from gpuplan.errors import GpuplanError, InvalidInputError
from gpuplan.i18n import t
from gpuplan.planfile import Candidate, CostSummary, PlanFile

_HAVE_RE = re.compile(r"^\s*(?:(\d{1,9})\s*[x×*]\s*)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*$")
MAX_OWNED_GPUS = 4096
LLAMACPP_SPLIT_FORMAT = "gguf-q4_k_m"


@dataclass(frozen=True)
class Owned:
    """One owned GPU type and how many of it."""

    gpu: GpuSpec
    count: int


def parse_have(items: tuple[str, ...]) -> tuple[Owned, ...]:
    """``("2xrtx-4090", "1xrtx-3090")`` or ``("2xrtx-4090,1xrtx-3090",)`` → owned GPU types (counts summed per type)."""
    counts: dict[str, int] = {}
    specs: dict[str, GpuSpec] = {}
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            match = _HAVE_RE.match(part)
            if match is None:
                raise InvalidInputError("owned.bad_have", given=part.strip())
            count = int(match.group(1) or 1)
            if count < 1:
                raise InvalidInputError("owned.bad_have", given=part.strip())
            gpu = get_gpu(match.group(2))
            specs[gpu.id] = gpu
            counts[gpu.id] = counts.get(gpu.id, 0) + count
    if not counts:
        raise InvalidInputError("owned.bad_have", given=",".join(items))
    if sum(counts.values()) > MAX_OWNED_GPUS:
        raise InvalidInputError("owned.too_many", given=sum(counts.values()), allowed=MAX_OWNED_GPUS)
    return tuple(Owned(specs[g], n) for g, n in counts.items())


def owned_cost(cand: Candidate, req, prices) -> CostSummary:
    """The cost model with every GPU of the candidate owned (``CostInputs.owned_gpus``): zero capex, opex as bought,
    TCO = opex × years, $/Mtok from opex; in the request's currency, market and electricity region."""
    from gpuplan.cost import cost_of, to_cost_summary
    from gpuplan.plan.search import _cost_inputs

    inputs = _cost_inputs(get_gpu(cand.gpu), cand.gpu_count, cand.nodes, req,
                          cand.perf.output_tokens_per_s or None, cand.perf.input_tokens_per_s or None)
    return to_cost_summary(cost_of(inputs.model_copy(update={"owned_gpus": cand.gpu_count}), prices))


def _bandwidth_weight(o: Owned) -> float:
    return (o.gpu.memory_bandwidth_bytes_per_s or 0.0) * o.count


def split_users(owned: tuple[Owned, ...], users: int) -> tuple[int, ...]:
    """Users per GPU type for a router: ∝ aggregate memory bandwidth (largest remainder, at least 1 each)."""
    weights = [_bandwidth_weight(o) for o in owned]
    total = sum(weights) or 1.0
    raw = [users * w / total for w in weights]
    out = [max(1, math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    i = 0
    while sum(out) < users and order:
        out[order[i % len(order)]] += 1
        i += 1
    return tuple(out)


def search_owned(req, prices=None, calibration=None) -> PlanFile:
    """Plan on the owned GPUs of ``req.have``: each type alone, a router over one replica per type, and llama.cpp over
    all cards; ranked by the request's objective with owned (zero-capex) money."""
    from gpuplan.plan.search import _rank, default_prices, search

    prices = prices or default_prices()
    owned = parse_have(req.have)
    users = req.users or 1
    kept: list[Candidate] = []
    lower: list[Candidate] = []  # each type's best option below the allowed quality (issue 11)
    rejections = []
    base_plan = None
    for o in owned:
        sub = req.model_copy(update={"have": (), "gpus": (o.gpu.id,), "exclude_gpus": (), "classes": (),
                                     "china_only": False, "max_gpus": o.count,
                                     "max_nodes": max(1, math.ceil(o.count / 8)), "budget_usd": None,
                                     "top": req.top})
        plan = search(sub, prices=prices, calibration=calibration)
        base_plan = base_plan or plan
        rejections += list(plan.rejections)
        kept += [c.model_copy(update={"cost": owned_cost(c, req, prices)}) for c in plan.candidates]
        if plan.lower_quality is not None:
            lower.append(plan.lower_quality.model_copy(update={"cost": owned_cost(plan.lower_quality, req, prices)}))
    notes = [t("owned.assume_owned", have=", ".join(f"{o.count}×{o.gpu.id}" for o in owned))]
    fleet: dict = {"owned": [{"gpu": o.gpu.id, "count": o.count} for o in owned]}
    if len(owned) > 1 and req.task == "serve":
        router = _router(req, owned, users, prices, calibration)
        fleet["router"] = router
        notes.append(router["sentence"])
        split = _llamacpp_split(req, owned, users)
        fleet["llama_cpp_split"] = split
        notes.append(split["sentence"])
    assert base_plan is not None
    ranked = _rank(kept, req.objective)[: req.top]
    alternative = _rank(lower, req.objective)[0] if lower else None
    if alternative is not None and ranked and (alternative.score is None or ranked[0].score is None
                                               or alternative.score >= ranked[0].score):
        alternative = None  # the lower-quality option is shown only when it is cheaper or the only one
    return base_plan.model_copy(update={
        "candidates": tuple(ranked), "lower_quality": alternative, "pareto": (),
        "rejections": tuple(rejections)[:20],
        "assumptions": tuple(base_plan.assumptions) + tuple(notes),
        "owned": fleet,
    })


def _router(req, owned: tuple[Owned, ...], users: int, prices, calibration) -> dict:
    """One replica per GPU type behind a router; each plans its share of the users on its own type."""
    from gpuplan.plan.search import search

    shares = split_users(owned, users)
    parts = []
    for o, share in zip(owned, shares, strict=True):
        sub = req.model_copy(update={"have": (), "gpus": (o.gpu.id,), "exclude_gpus": (), "classes": (),
                                     "china_only": False, "max_gpus": o.count,
                                     "max_nodes": max(1, math.ceil(o.count / 8)), "budget_usd": None,
                                     "users": share, "rate_per_s": None, "top": 1})
        try:
            plan = search(sub, prices=prices, calibration=calibration)
        except GpuplanError:
            plan = None
        best = plan.candidates[0] if plan and plan.candidates else None
        parts.append({"gpu": o.gpu.id, "count": o.count, "users": share,
                      "candidate": best.model_dump(mode="json") if best else None})
    feasible = all(p["candidate"] for p in parts)
    out_tps = sum((p["candidate"]["perf"]["output_tokens_per_s"] or 0.0) for p in parts if p["candidate"])
    desc = " + ".join(
        t("owned.router_part", users=p["users"],
          cand=f"{p['candidate']['gpu_count']}×{p['gpu']} {p['candidate']['engine']} {p['candidate']['weight_format']}")
        if p["candidate"] else t("owned.router_part_none", users=p["users"], gpu=p["gpu"]) for p in parts)
    sentence = (t("owned.router", parts=desc, tps=f"{out_tps:,.0f}") if feasible
                else t("owned.router_infeasible", parts=desc))
    return {"feasible": feasible, "output_tokens_per_s": out_tps if feasible else None, "parts": parts,
            "sentence": sentence}


def _llamacpp_split(req, owned: tuple[Owned, ...], users: int) -> dict:
    """llama.cpp over every owned card: layers split ∝ memory; fits when weights + KV fit the summed memory (each card
    keeps its own compute buffer); decode ≤ 1 / Σ_i (share_i · weights / bandwidth_i)."""
    from gpuplan.memory.inference import _whole_weights
    from gpuplan.memory.kv import kv_cache_bytes_per_token
    from gpuplan.memory.weights import model_tensor_bytes

    model = get_model(req.model)
    fmt = LLAMACPP_SPLIT_FORMAT
    try:
        model_tensor_bytes(model, fmt)
        weights = _whole_weights(model.id, fmt)[0]
    except GpuplanError:
        return {"feasible": False, "sentence": t("owned.split_no_format", fmt=fmt)}
    context = req.input_tokens + req.output_tokens
    kv = kv_cache_bytes_per_token(model.arch, "fp16") * context * users  # llama.cpp's default f16 cache
    memory = sum(o.gpu.memory_bytes * o.count for o in owned)
    usable = memory * 0.9  # headroom for each card's CUDA context and compute buffer (assumption, stated)
    seconds = 0.0
    for o in owned:
        share = o.gpu.memory_bytes * o.count / memory
        bw = o.gpu.memory_bandwidth_bytes_per_s
        if not bw:
            return {"feasible": False, "sentence": t("owned.split_no_bandwidth", gpu=o.gpu.id)}
        seconds += weights * share / bw
    feasible = weights + kv <= usable
    tps = 1.0 / seconds if seconds else None
    # llama.cpp --tensor-split takes one proportion per device (GiB of each card here)
    split = ",".join(str(round(o.gpu.memory_bytes / 2**30)) for o in owned for _ in range(o.count))
    sentence = (t("owned.split", fmt=fmt, need=f"{(weights + kv) / 2**30:.1f}", have=f"{usable / 2**30:.1f}",
                  split=split, tps=f"{tps:,.0f}") if feasible
                else t("owned.split_infeasible", fmt=fmt, need=f"{(weights + kv) / 2**30:.1f}",
                       have=f"{usable / 2**30:.1f}"))
    return {"feasible": feasible, "weight_format": fmt, "weights_bytes": weights, "kv_cache_bytes": kv,
            "usable_bytes": int(usable), "tensor_split": split, "decode_tokens_per_s_bound": tps if feasible else None,
            "sentence": sentence}
