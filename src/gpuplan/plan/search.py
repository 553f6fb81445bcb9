"""Plan search (DESIGN §8): enumerate → feasible? → estimate → price → rank, with the reasons for every rejection.

Deterministic: candidates are enumerated in catalog order and ties break on (objective, higher throughput, lower
TPOT and TTFT, GPU count, GPU id, engine, format). Budgets fail closed: an unknown price never passes a budget and, when
ranking by cost, every priced candidate comes before every unpriced one (``cost.priced``, ``cost.missing``). The hot loop reuses cached per-(model, format, layout) byte tables, and
only the candidates that can still rank among the ``top`` shown are sized and estimated (``_run_jobs``).
"""

from __future__ import annotations

import gc
import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache, partial

from gpuplan import __version__
from gpuplan.artifacts.engine_argv import ARGV_ENGINES, EngineConfig, engine_flags
from gpuplan.catalog import GpuSpec, get_gpu, get_model, list_gpus
from gpuplan.catalog.checkpoints import (
    QUALITY_LEVELS,
    checkpoint_for,
    quality_allowed,
    quality_tier,
    quantize_step_checkpoint,
)
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError, InvalidInputError
from gpuplan.i18n import t
from gpuplan.memory import size_inference as _size_inference_uncached
from gpuplan.memory import size_training
from gpuplan.memory.engines import engine_seq_cap
from gpuplan.memory.inference import kv_capacity
from gpuplan.memory.quant import get_format
from gpuplan.memory.weights import CACHE_CLEARERS, native_format
from gpuplan.planfile import (
    Candidate,
    CostSummary,
    MemorySummary,
    PerfSummary,
    PlanFile,
    PlanModel,
    Rejection,
)
from gpuplan.records import Record, record
from gpuplan.spec import Deployment, Slo, TrainingJob, Workload
from gpuplan.units import fmt_money

OBJECTIVES = ("tco", "capex", "per_token", "throughput", "cloud")
SERVING_ENGINES = ("vllm", "sglang", "llama.cpp", "trtllm", "vllm-ascend")
GPUS_PER_NODE_CHOICES = (1, 2, 4, 8)
PRESETS: dict[str, dict] = {
    # A developer with one consumer GPU: one user, llama.cpp/GGUF allowed, consumer and workstation cards.
    "personal": {"users": 1, "input_tokens": 2000, "output_tokens": 500, "max_gpus": 2, "classes": ("consumer", "workstation", "unified"), "objective": "capex", "quality": "4bit"},
    # A small team: 50 users, 2 s TTFT, 50 ms TPOT (20 tok/s each), one node.
    "team": {"users": 50, "input_tokens": 2000, "output_tokens": 500, "ttft_s": 2.0, "tpot_s": 0.05, "max_nodes": 1, "objective": "tco"},
    # An enterprise service: 500 users, 10 ms... no: 100 ms TPOT and 3 s TTFT, data-center GPUs, up to 4 nodes.
    "enterprise": {"users": 500, "input_tokens": 2000, "output_tokens": 1000, "ttft_s": 3.0, "tpot_s": 0.1, "max_nodes": 4, "classes": ("datacenter",), "objective": "tco"},
    # LoRA fine-tuning of the model on one node.
    "finetune": {"task": "lora", "max_nodes": 1, "objective": "capex"},
    # Pre-training / full fine-tuning with ZeRO-3 across nodes.
    "pretrain": {"task": "full", "max_nodes": 4, "classes": ("datacenter",), "objective": "tco"},
}


# A frozen dataclass (gpuplan.records), not pydantic: `gpuplan plan` starts without pydantic (issue 16). The API
# validates its own body (api.schemas.PlanRequest) before build_request makes this; the bounds here are checked too.
@record
class PlanRequest(Record):
    """What the user asks for (the edges convert ms → s and CNY → USD before this)."""

    model: str
    task: str = "serve"
    users: int | None = None
    rate_per_s: float | None = None
    input_tokens: int = 2000
    output_tokens: int = 500
    ttft_s: float | None = None
    tpot_s: float | None = None
    gpus: tuple[str, ...] = ()
    exclude_gpus: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    china_only: bool = False
    max_gpus: int = 64
    max_nodes: int = 4
    budget_usd: float | None = None
    objective: str = "tco"
    engines: tuple[str, ...] = ()
    engine_versions: dict[str, str] = field(default_factory=dict)  # "sglang" → "0.5.6" from --engine sglang==0.5.6
    weight_formats: tuple[str, ...] = ()
    years: float = 3
    top: int = 10
    training: TrainingJob | None = None
    #: Lowest weight quality allowed: released (the released precision), 8bit, 4bit, any.
    quality: str = "released"
    #: Allow formats no published checkpoint provides, made by a rendered quantization step (engine/quantize.sh).
    self_quantize: bool = False
    # Money (issue 12): the display currency, the purchase market (None: "china" street prices for CNY plans, else
    # "new"), the busy share of the time for cost per token, and the electricity tariff (None: the currency's default).
    currency: str = "USD"
    market: str | None = None
    utilization_fraction: float = 0.5
    electricity_region: str | None = None
    # GPUs the user owns ("2xrtx-4090", "1xrtx-3090"): plan on them only, with zero capex (gpuplan.plan.owned)
    have: tuple[str, ...] = ()
    gpu_count: int | None = None  # --gpus: only shapes with exactly this many GPUs
    #: Evaluate every candidate, also those that cannot rank among the ``top`` shown (slower; every rejection counted
    #: by its own reason instead of ``not_evaluated``).
    exhaustive: bool = False

    _BOUNDS = {
        "users": {"minimum": 1, "maximum": 1_000_000}, "rate_per_s": {"exclusiveMinimum": 0},
        "input_tokens": {"minimum": 1, "maximum": 10_000_000}, "output_tokens": {"minimum": 1, "maximum": 1_000_000},
        "ttft_s": {"exclusiveMinimum": 0}, "tpot_s": {"exclusiveMinimum": 0},
        "max_gpus": {"minimum": 1, "maximum": 4096}, "max_nodes": {"minimum": 1, "maximum": 64},
        "budget_usd": {"exclusiveMinimum": 0}, "years": {"exclusiveMinimum": 0, "maximum": 20},
        "top": {"minimum": 1, "maximum": 200}, "utilization_fraction": {"exclusiveMinimum": 0, "maximum": 1},
        "gpu_count": {"minimum": 1, "maximum": 4096},
    }

    @property
    def purchase(self) -> str:
        return self.market or ("china" if self.currency == "CNY" else "new")

    @property
    def capacity_mode(self) -> bool:
        """No --users and no --rate but an SLO: find the most users each candidate serves within it."""
        return self.task == "serve" and self.users is None and self.rate_per_s is None and bool(
            self.ttft_s or self.tpot_s)


class _Memo:
    """A bounded memo of one pure function of (model, frozen specs): a repeated or slightly changed search (the page
    re-runs a plan when the language or the budget changes) reuses the memory and speed of every candidate it has
    already sized. The model object is kept with each result and must be the same object on a hit (an imported model
    re-registered under the same id misses); the memory layer's cache clearers empty it too."""

    def __init__(self, maxsize: int = 8192) -> None:  # about 8 KiB an entry: up to ~64 MiB per memo
        self.maxsize = maxsize
        self.store: dict = {}

    def get(self, model, key, compute):
        full = (model.id, key)
        hit = self.store.get(full)
        if hit is None or hit[0] is not model:
            try:
                hit = (model, compute(), None)
            except GpuplanError as exc:  # a rejection is as deterministic as a result: remember it too
                hit = (model, None, exc)
            if len(self.store) >= self.maxsize:  # drop the oldest quarter: the latest search stays whole
                for old in list(self.store)[: self.maxsize // 4]:
                    del self.store[old]
            self.store[full] = hit
        if hit[2] is not None:
            raise hit[2]
        return hit[1]

    def clear(self) -> None:
        self.store.clear()


def _spec_key(spec) -> tuple:
    """A frozen spec's field values in declaration order (hashing the pydantic model itself costs several times more)."""
    return tuple(spec.__dict__.values())


_SIZE_MEMO = _Memo()
_ESTIMATE_MEMO = _Memo()


def size_inference(model, dep, *, context_tokens, concurrency, gpu):
    """The memory layer's ``size_inference``, memoized per (model, deployment, context, concurrency, GPU)."""
    return _SIZE_MEMO.get(model, (_spec_key(dep), context_tokens, concurrency, gpu.id), lambda: _size_inference_uncached(
        model, dep, context_tokens=context_tokens, concurrency=concurrency, gpu=gpu))


def _estimator(calibration):
    """``estimate_serving`` with the given calibration; memoized when it is the shipped one (a user's calibration
    file may change between searches)."""
    from gpuplan.perf import estimate_serving

    if calibration is not None:
        return partial(estimate_serving, calibration=calibration, detail=False)

    def estimate(model, dep, workload, kv_max_concurrency=None):
        return _ESTIMATE_MEMO.get(model, (_spec_key(dep), _spec_key(workload)), lambda: estimate_serving(
            model, dep, workload, detail=False, kv_max_concurrency=kv_max_concurrency))

    return estimate


def _clear_memos() -> None:
    from gpuplan.plan import capacity
    from gpuplan.plan.bounds import clear

    clear()
    capacity.clear()
    _SIZE_MEMO.clear()
    _ESTIMATE_MEMO.clear()


@dataclass
class _Rejects:
    """Rejections grouped by reason; the nearest miss of each group is the one closest to passing.

    Rejections may arrive out of catalog order (the search evaluates the candidates from the best they could reach):
    each carries its catalog position, and the group's nearest miss is the closest one, the earliest in catalog
    order among equal ones, as if they had arrived in catalog order; the groups are listed by count, equal counts in
    the catalog order of their first rejection, the skipped (``not_evaluated``) last."""

    groups: dict[str, list] = field(default_factory=dict)
    calls: int = 0

    def add(self, reason: str, closeness: float, text="", position: float | None = None) -> None:
        """``text`` may be a callable: it is rendered only when this rejection becomes the group's nearest miss.
        ``position``: the candidate's catalog position (None: the order of the calls); equal positions keep the
        order of the calls."""
        self.calls += 1
        pos = (self.calls if position is None else position, self.calls)
        group = self.groups.get(reason)
        if group is None:  # [count, closeness, text, its position, the group's first position]
            group = self.groups[reason] = [0, -math.inf, "", (-math.inf,), pos]
        group[0] += 1
        if pos < group[4]:
            group[4] = pos
        if closeness > group[1] or (closeness == group[1] and pos < group[3]):
            group[1], group[2], group[3] = closeness, (text() if callable(text) else text), pos

    def add_many(self, reason: str, count: int, closeness: float, position: float, text, first_position: float) -> None:
        """``count`` rejections at once: the closest of them (``closeness``, at ``position``; ``text`` as in
        :meth:`add`) and the earliest position among them."""
        self.calls += 1
        pos, first = (position, self.calls), (first_position, self.calls)
        group = self.groups.get(reason)
        if group is None:
            group = self.groups[reason] = [0, -math.inf, "", (-math.inf,), first]
        group[0] += count
        if first < group[4]:
            group[4] = first
        if closeness > group[1] or (closeness == group[1] and pos < group[3]):
            group[1], group[2], group[3] = closeness, (text() if callable(text) else text), pos

    def as_list(self) -> tuple[Rejection, ...]:
        return tuple(
            Rejection(reason=reason, count=g[0], nearest=g[2] or None)
            for reason, g in sorted(self.groups.items(), key=lambda kv: (kv[0] == "not_evaluated", -kv[1][0],
                                                                         kv[1][4]))
        )


class _Deferred:
    """Stands in for a :class:`_Rejects` while candidates are evaluated out of catalog order: each rejection is added
    with the candidate's catalog position (``seq[0]`` when it is added, plus ``offset``)."""

    def __init__(self, target: _Rejects, seq: list, offset: float = 0.0) -> None:
        self.target, self.seq, self.offset = target, seq, offset

    def add(self, reason: str, closeness: float, text="") -> None:
        self.target.add(reason, closeness, text, self.seq[0] + self.offset)


#: Objectives whose value is the hardware shape's price alone (not its speed): candidates can be ranked by it before
#: they are estimated.
PRICE_OBJECTIVES = ("tco", "capex", "cloud")


def _run_jobs(jobs: list[tuple], evaluate, rejects: _Deferred, lower_rejects: _Deferred, seq: list,
              model: ModelEntry, req: PlanRequest, prices, native: str, users: int, context: int,
              calibration=None, complete_capacity=None) -> list[tuple[int, bool, Candidate]]:
    """Size and estimate the candidates (``jobs`` in catalog order); returns (catalog position, allowed, candidate)
    for the feasible ones.

    Each job gets the best rank key it could reach (``_best_keys``: its price for PRICE_OBJECTIVES; its price over a
    bound on its throughput for per_token, or minus that bound for throughput; in capacity mode minus a bound on its
    users, then its price; plan.bounds). The jobs run from the best key up, and a job stops being evaluated once
    ``top`` distinct (GPU, count, engine, format) candidates are kept whose keys are all strictly better than the best
    it could reach: it ranks below all of them whatever it does, and is reported in one ``not_evaluated`` rejection
    group instead of under its own reason. Not for an arrival rate ranked by speed, not when ``exhaustive``. Kept
    exact: equal keys (broken by throughput) are all evaluated; a lower-quality job runs while it may be the best
    lower-quality candidate and undercut the best allowed one (the --quality alternative); with a budget, unpriced
    jobs still run (their rejection, price unknown, is the answer the user needs) and so do native-format jobs until
    one fits (the quantized-format note depends on it).
    """
    speed = req.objective not in PRICE_OBJECTIVES
    capacity = req.capacity_mode
    prune = not req.exhaustive and not (speed and req.rate_per_s and not capacity)
    out: list[tuple[int, bool, Candidate]] = []
    if not prune:
        for job in jobs:
            seq[0] = job[0]
            cand = evaluate(job, rejects if job[-1] else lower_rejects)
            if cand is not None:
                out.append((job[0], job[-1], cand))
        return out
    if capacity:
        # The lower-quality jobs apart (_run_lower_jobs): ranked by users, nothing of the allowed ones depends on them
        out = _run_lower_jobs([job for job in jobs if not job[-1]], evaluate, lower_rejects, seq, req, prices, model,
                              calibration, complete_capacity)
        jobs = [job for job in jobs if job[-1]]
    best_keys, floors = _best_keys(jobs, model, req, prices, users, context, calibration)
    # The jobs run in the order of their keys. A key in ``floors`` is at most the job's (its GPUs' price in place of
    # the shape's, _floor_value): it comes up no later than the key would, and is made exact then — unless it
    # already shows the job skipped (the key is only worse, and the limit only falls), which spares pricing the
    # shapes of most skipped jobs. A job made exact waits in the heap for its own place.
    heap = [(best_keys[i][0], job[0], i) for i, job in enumerate(jobs)]
    heapq.heapify(heap)
    skipped: list[tuple[int, tuple]] = []  # allowed jobs skipped on a floor, with the limit then (logged at the end)
    not_evaluated: list[tuple] = []  # allowed jobs skipped: (job, key, limit then, bound), counted at the end
    by_cost = req.objective != "throughput"
    groups: dict[tuple, tuple] = {}  # (gpu, count, engine, format) kept → its best rank key
    limit = None                # the top-th best of those: a job that cannot reach it is not shown
    best_allowed = None         # the best rank key of an allowed candidate kept (the plan's first, so far)
    best_lower = math.inf       # the best objective value of a lower-quality candidate kept
    native_kept = False
    budget = req.budget_usd
    while heap:
        key, _, i = heapq.heappop(heap)
        job = jobs[i]
        bound = best_keys[i][1]
        allowed, fmt = job[-1], job[5]
        if i in floors:
            if allowed and limit is not None and key > limit and not budget:
                if capacity:  # its nearest-miss text and closeness need no price
                    not_evaluated.append((job, key, limit, bound))
                else:
                    skipped.append((i, limit))
                continue
            if not allowed and _lower_skipped(key, best_lower, best_allowed, capacity):
                continue
            floors.discard(i)
            exact = _exact_key(job, key, bound, req, prices)
            best_keys[i] = (exact, bound)
            heapq.heappush(heap, (exact, job[0], i))
            continue
        if allowed:
            if limit is not None and key > limit and not (budget and (
                    fmt == native and not native_kept
                    or _base_price(job[1], job[2], job[3], req, prices)[0] is None)):
                not_evaluated.append((job, key, limit, bound))
                continue
        elif _lower_skipped(key, best_lower, best_allowed, capacity):
            continue  # not the best lower-quality candidate, or cannot undercut the plan's first: not the alternative
        seq[0] = job[0]
        cand = evaluate(job, rejects if allowed else lower_rejects, bound if capacity and allowed else None)
        if cand is None:
            continue
        out.append((job[0], allowed, cand))
        if not allowed:
            best_lower = min(best_lower, _objective_value(cand, req.objective))
        else:
            native_kept = native_kept or cand.weight_format == native
            got = (-(cand.capacity_users or 0) if capacity else by_cost and cand.cost.capex_usd is None,
                   _objective_value(cand, req.objective))
            best_allowed = got if best_allowed is None else min(best_allowed, got)
            group = (cand.gpu, cand.gpu_count, cand.engine, cand.weight_format)
            if group not in groups or got < groups[group]:
                groups[group] = got
                if len(groups) >= req.top:
                    limit = heapq.nsmallest(req.top, groups.values())[-1]
    _log_skipped(skipped, jobs, best_keys, not_evaluated, req, prices)
    _log_not_evaluated(rejects.target, not_evaluated, req, prices)
    return out


def _lower_skipped(key: tuple, best_lower: float, best_allowed: tuple | None, capacity: bool) -> bool:
    """A lower-quality job that cannot be the --quality alternative: not cheaper than one kept, or (ranked by cost,
    users mode) not cheaper than the plan's first. True of its floor only when true of its key."""
    return key[1] > best_lower or (not capacity and best_allowed is not None and not best_allowed[0]
                                   and key[1] >= best_allowed[1])


def _exact_key(job: tuple, floor: tuple, bound: float, req: PlanRequest, prices) -> tuple:
    """The rank key of a job whose key was a floor (_best_keys): priced by the cost model now."""
    gpu, count, nodes = job[1:4]
    if req.capacity_mode:
        return floor[0], _shape_price_key(gpu, count, nodes, req, prices)[1]
    if req.objective == "per_token":
        price = _base_price(gpu, count, nodes, req, prices)
        return price[0] is None, price[3] / bound if price[3] else math.inf
    return _shape_price_key(gpu, count, nodes, req, prices)


def _log_skipped(skipped: list[tuple[int, tuple]], jobs: list[tuple], best_keys: list, not_evaluated: list,
                 req: PlanRequest, prices) -> None:
    """Add the allowed jobs skipped on a floor (users mode) to ``not_evaluated``. Their group's nearest miss is the one
    closest to ranking (_skip_closeness, from the job's price): the floors bound each closeness from above
    (_skip_closeness only grows as a key falls), so the jobs are made exact from the highest bound down while one may
    still reach the closest found (ties included: the first in catalog order wins); the others stay on their floors,
    strictly further than it, which only counts them."""
    if not skipped:
        return
    skipped.sort(key=lambda s: -_skip_closeness(best_keys[s[0]][0], s[1], req))
    best = -math.inf
    for i, limit in skipped:
        key, bound = best_keys[i]
        if _skip_closeness(key, limit, req) < best:
            break
        best_keys[i] = key = _exact_key(jobs[i], key, bound, req, prices), bound
        best = max(best, _skip_closeness(key[0], limit, req))
    for i, limit in skipped:
        not_evaluated.append((jobs[i], best_keys[i][0], limit, best_keys[i][1]))


def _run_lower_jobs(jobs: list[tuple], evaluate, lower_rejects: _Deferred, seq: list, req: PlanRequest,
                    prices, model: ModelEntry, calibration=None,
                    complete_capacity=None) -> list[tuple[int, bool, Candidate]]:
    """Capacity mode: the lower-quality jobs, which only give the --quality alternative — the best of them on the
    objective (_lower_quality_option), whatever the users each serves. They run from the best floor under their
    objective value up (catalog order among equal ones) while one may still be that best: a job whose floor is above
    a lower-quality candidate already kept cannot be, nor can any later one (their rejections are not reported). The
    floor is the shape's price (made exact when its own floor, _floor_value, comes up) for the price objectives;
    ranked by speed, minus a bound on the throughput at the users bound (plan.bounds: no estimate has more), or for
    cost per token (the candidate's score at one user per replica, _evaluate) the owned cost's floor over a bound on
    that throughput; a job whose bounds miss the targets with one user is no candidate. Cost per token is the score
    at one user per replica, before the capacity search: a job is estimated at one user when its floor comes up, and
    searched for its capacity (``complete_capacity``) when that score comes up. The alternative is the one the
    exhaustive search finds: its value is the lowest of all, so it runs, as does every job that ties with it."""
    values: dict[tuple, tuple] = {}
    speed = req.objective in ("per_token", "throughput")
    scored = req.objective == "per_token" and complete_capacity is not None
    bounds: dict[tuple, float] = {}
    heap = []
    for job in jobs:
        if speed:
            value = _speed_floor(job, model, req, prices, calibration, bounds)
            if value is None:
                continue  # the bounds say one user misses the targets: no candidate
            exact = not scored  # a floor under the score, or (throughput) the floor the evaluation goes by
        else:
            value, exact = _shape_value(job[1], job[2], job[3], req, prices, values)
        heap.append((value, job[0], exact, job, None))
    heapq.heapify(heap)
    out: list[tuple[int, bool, Candidate]] = []
    best = math.inf
    while heap:
        value, position, exact, job, first = heapq.heappop(heap)
        if value > best:
            break  # every job left is at least as far
        if not exact:
            seq[0] = job[0]
            if scored:  # its score at one user; the capacity search waits for that score to come up
                first = evaluate(job, lower_rejects, None, False)
                if first is not None:
                    heapq.heappush(heap, (_objective_value(first, req.objective), position, True, job, first))
                continue
            heapq.heappush(heap, (_shape_price_key(job[1], job[2], job[3], req, prices)[1], position, True, job,
                                  None))
            continue
        seq[0] = job[0]
        cand = evaluate(job, lower_rejects) if first is None else complete_capacity(job, first)
        if cand is not None:
            out.append((job[0], False, cand))
            best = min(best, _objective_value(cand, req.objective))
    return out


def _speed_floor(job: tuple, model: ModelEntry, req: PlanRequest, prices, calibration, bounds: dict) -> float | None:
    """Capacity mode ranked by speed: a floor under a lower-quality job's objective value, or None when its users
    bound (without the KV capacity) is 0. Throughput: minus output_tokens_per_s_bound at the users bound per replica
    (the bound's B / step bound(B) only grows with B, and the capacity is at most that many users). Cost per token:
    the owned cost's floor over the throughput bound at one user per replica (the score _evaluate gives it)."""
    from gpuplan.plan.bounds import output_tokens_per_s_bound, users_bound

    _, gpu, count, nodes, _, fmt, engine, (tp, pp, dp, ep, dpa) = job[:8]
    kv = _kv_dtype(fmt, engine)
    layout = (gpu.id, engine, fmt, tp, ep, dp if dpa else 1)
    most = bounds.get(layout)
    if most is None:
        most = bounds[layout] = users_bound(model, gpu, engine, fmt, kv, tp, ep, dpa, dp, None, req.input_tokens,
                                            req.output_tokens, req.tpot_s, calibration, req.ttft_s)
    if most == 0:
        return None
    replicas = dp if not dpa else 1
    # the throughput bound of the layout at its replica count (the same for every node count)
    tps = bounds.get((*layout, dpa, dp))
    if tps is None:
        tps = bounds[*layout, dpa, dp] = output_tokens_per_s_bound(
            model, gpu, engine, fmt, kv, tp, ep, dpa, dp, replicas,
            (most if most < math.inf else 2 ** 62) if req.objective == "throughput" else 1, req.input_tokens,
            req.output_tokens, calibration)
    if req.objective == "throughput":
        return -tps
    owned, exact = _floor_value(gpu, count, req, prices)
    if exact or owned == math.inf:
        return math.inf  # no price (or no depreciation): no score
    return owned / tps


def _best_capacity_keys(jobs: list[tuple], model: ModelEntry, req: PlanRequest, prices, context: int,
                        calibration) -> tuple[list, set[int]]:
    """Capacity mode (rank_by_capacity: most users first, then the objective), for the allowed jobs (the
    lower-quality ones run apart, _run_lower_jobs): users at most the replicas times the TTFT/TPOT bound
    (plan.bounds.users_bound) and the KV capacity (the memory model, asked here once for the search unless the targets
    already exclude one user); the objective value at best its price (price objectives; for capex and TCO a floor
    under it, _shape_value, the job's index then in the set returned with the keys) or unbounded. A job the memory
    model rejects comes first (its rejection is cheap and stays under its own reason).

    The bound without the KV capacity is the same for every hardware shape of a (GPU, engine, format, TP, EP,
    DP-attention) layout: it is found once per layout here and each job's KV capacity caps it."""
    from gpuplan.plan.bounds import users_bound

    out: list = []
    values: dict[tuple, tuple] = {}  # (gpu, count, nodes) → price or its floor, exact
    bounds: dict[tuple, float] = {}  # (gpu, engine, format, TP, EP, DP-attention ranks) → users_bound, no KV limit
    floors: set[int] = set()
    for i, job in enumerate(jobs):
        _, gpu, count, nodes, _, fmt, engine, (tp, pp, dp, ep, dpa) = job[:8]
        value, exact = _shape_value(gpu, count, nodes, req, prices, values)
        if not exact:
            floors.add(i)
        # the bound without the KV capacity first (no sizing): a job whose bounds miss the targets with one user (0)
        # is not sized at all
        layout = (gpu.id, engine, fmt, tp, ep, dp if dpa else 1)
        most = bounds.get(layout)
        if most is None:
            most = bounds[layout] = users_bound(
                model, gpu, engine, fmt, _kv_dtype(fmt, engine), tp, ep, dpa, dp, None, req.input_tokens,
                req.output_tokens, req.tpot_s, calibration, req.ttft_s)
        if most == 0:
            out.append(((0.0, value), 0.0))
            continue
        key = _capacity_key(job, model, req, context, calibration, value, most)
        if key is None:  # the memory model rejects it: first, exactly
            floors.discard(i)
            key = ((-math.inf, -math.inf), math.inf)
        out.append(key)
    return out, floors


def _shape_value(gpu: GpuSpec, count: int, nodes: int, req: PlanRequest, prices, values: dict) -> tuple[float, bool]:
    """Capacity mode: (the objective value of a shape at best — its price for capex and TCO, or a floor under it
    (_floor_value) —, whether it is exact); memoized in ``values``."""
    shape = (gpu.id, count, nodes)
    hit = values.get(shape)
    if hit is None:
        if req.objective in ("capex", "tco"):
            hit = _floor_value(gpu, count, req, prices)
        elif req.objective in PRICE_OBJECTIVES:
            hit = _shape_price_key(gpu, count, nodes, req, prices)[1], True
        else:
            hit = -math.inf, True  # ranked by speed: no price bounds the objective
        values[shape] = hit
    return hit


def _capacity_key(job: tuple, model: ModelEntry, req: PlanRequest, context: int, calibration,
                  value: float, most: float | None = None) -> tuple[tuple, float] | None:
    """A job's capacity-mode key and users bound with its KV capacity (the memory model's, sized with one user); None
    when the memory model rejects the job. ``most``: the job's users bound without the KV capacity, when known."""
    from gpuplan.plan.bounds import capped_users_bound, users_bound

    _, gpu, count, nodes, _, fmt, engine, (tp, pp, dp, ep, dpa) = job[:8]
    kv = _kv_dtype(fmt, engine)
    try:  # size_inference's verdict on one sequence (tests/test_planner_speedups.py compares the two)
        fits, max_concurrency = kv_capacity(model, gpu, engine=engine, weight_format=fmt, kv_dtype=kv, tp=tp, pp=pp,
                                            ep=ep, dp_att=dp if dpa else 1, gpu_count=count, context_tokens=context)
    except GpuplanError:
        return None
    if not fits:
        return None
    limit = None if max_concurrency is None else min(max_concurrency, engine_seq_cap(engine))
    args = (model, gpu, engine, fmt, kv, tp, ep, dpa, dp, limit, req.input_tokens, req.output_tokens, req.tpot_s,
            calibration, req.ttft_s)
    most = (dp if not dpa else 1) * (users_bound(*args) if most is None or calibration is not None
                                     else capped_users_bound(most, *args))
    return (-most, value), most


def _kv_dtype(fmt: str, engine: str) -> str:
    """The KV-cache dtype the planner gives a format: FP8 KV with FP8 weights (not on llama.cpp); FP16 with FP16
    weights (the engines' 'auto' cache follows the model dtype: a BF16 release cast with --dtype half caches FP16, as
    a GPU without BF16 must — 'auto' here would be labelled bf16)."""
    if fmt == "fp16" and engine not in ("llama.cpp", "ollama"):
        return "fp16"
    return "fp8" if fmt in ("fp8", "fp8-block") and engine != "llama.cpp" else "auto"


def _best_keys(jobs: list[tuple], model: ModelEntry, req: PlanRequest, prices, users: int, context: int,
               calibration) -> tuple[list, set[int]]:
    """Per job: the best rank key it could reach — (unpriced, objective value), or in capacity mode (−users,
    objective value) — and the bound behind it (throughput, or users in capacity mode; 0 for a price); and the set of
    jobs whose key is a floor under that key, its GPUs' price standing for the shape's (_floor_value), made exact by
    _run_jobs when it comes up (_exact_key)."""
    from gpuplan.plan.bounds import output_tokens_per_s_bound

    if req.capacity_mode:
        return _best_capacity_keys(jobs, model, req, prices, context, calibration)

    shapes: dict[tuple, tuple] = {}  # (gpu, count, nodes) → price key or None, owned cost per year, unpriced, floor
    bounds: dict[tuple, float] = {}
    floors: set[int] = set()
    out = []
    objective = req.objective
    for i, job in enumerate(jobs):
        _, gpu, count, nodes, _, fmt, engine, (tp, _, dp, ep, dpa) = job[:8]
        shape = (gpu.id, count, nodes)
        hit = shapes.get(shape)
        if hit is None:
            if objective == "throughput":  # speed alone: no price
                hit = (None, None, False, False)
            elif objective in ("capex", "tco", "per_token"):
                value, exact = _floor_value(gpu, count, req, prices)
                if objective == "per_token":  # the owned cost per year at least the GPUs over the depreciation years
                    hit = (None, None if exact else value, exact, not exact)
                else:
                    hit = ((exact, value), None, exact, not exact)
            else:
                price = _base_price(gpu, count, nodes, req, prices)
                hit = (_shape_price_key(gpu, count, nodes, req, prices) if objective in PRICE_OBJECTIVES else None,
                       price[3], price[0] is None, False)
            shapes[shape] = hit
        if hit[3]:
            floors.add(i)
        if hit[0] is not None:
            out.append((hit[0], 0.0))
            continue
        replicas = dp if not dpa else 1
        # the bound of a (GPU, engine, format, TP, EP, DP-attention) layout at a replica count: the same for every
        # node count (pipeline stages do not enter it)
        layout = (gpu.id, engine, fmt, tp, ep, dpa, dp, replicas)
        bound = bounds.get(layout)
        if bound is None:
            bound = bounds[layout] = output_tokens_per_s_bound(
                model, gpu, engine, fmt, _kv_dtype(fmt, engine), tp, ep, dpa, dp, replicas,
                math.ceil(users / replicas), req.input_tokens, req.output_tokens, calibration)
        if objective == "throughput":
            out.append(((False, -bound), bound))
        elif hit[3]:  # per_token, a floor: the owned cost's floor over the bound
            out.append(((False, hit[1] / bound if hit[1] != math.inf else math.inf), bound))
        else:  # per_token: owned cost per year over output tokens/s (the candidate's score), unknown → last
            owned = hit[1]
            out.append(((hit[2], owned / bound if owned else math.inf), bound))
    return out, floors


_GPU_UNIT_USD: dict = {}


def _floor_value(gpu: GpuSpec, count: int, req: PlanRequest, prices) -> tuple[float, bool]:
    """(value, exact): a floor under the shape's objective value from its GPUs' purchase price alone, computed as
    cost_of computes that part of the capex; servers, network, power, operations and depreciation only add to it
    (the price loader refuses negative facts). capex and TCO are at least the GPUs' price, the owned cost per year
    (per_token) at least that over the depreciation years. A GPU without a price leaves the capex unknown: the value
    is then exact (unpriced: infinite)."""
    from gpuplan.cost import formulas as f
    from gpuplan.cost.model import gpu_price_fact

    book = prices or default_prices()
    key = (gpu.id, req.purchase)
    hit = _GPU_UNIT_USD.get(key)
    if hit is None or hit[0] is not book:
        if len(_GPU_UNIT_USD) > 4096:
            _GPU_UNIT_USD.clear()
        hit = _GPU_UNIT_USD[key] = (book, book.to_usd(gpu_price_fact(book, gpu.id, req.purchase)[1]),
                                    book.depreciation_years)
    gpus = f.bought_share_usd(f.gpus_capex_usd(hit[1], count), count, count)  # cost_of's capex_gpus (none owned)
    if gpus is None:
        return math.inf, True
    if req.objective == "per_token":
        return (gpus / hit[2].value if hit[2] is not None else math.inf), False
    return gpus, False


def _log_not_evaluated(rejects: _Rejects, skipped: list[tuple], req: PlanRequest, prices) -> None:
    """Count the jobs skipped because they cannot rank among the ``top`` shown — (job, its key, the limit then, its
    bound) each — in one ``not_evaluated`` group, whose nearest miss names the one closest to ranking (the cheapest,
    or the fastest or the most users it could reach; the earliest in catalog order among equal ones): its text alone
    is rendered."""
    if not skipped:
        return
    best = None
    first = math.inf
    for entry in skipped:
        job, key, limit = entry[:3]
        closeness = _skip_closeness(key, limit, req)
        if job[0] < first:
            first = job[0]
        if best is None or closeness > best[0] or (closeness == best[0] and job[0] < best[1]):
            best = (closeness, job[0], entry)
    rejects.add_many("not_evaluated", len(skipped), best[0], best[1], partial(_skip_text, *best[2], req, prices),
                     first)


def _skip_closeness(key: tuple, limit: tuple, req: PlanRequest) -> float:
    """How close a skipped job came to ranking (larger: closer): the users it could reach (capacity mode), minus its
    best objective value; a job with no price (or none to compare with) comes last."""
    if req.capacity_mode:
        return -key[0]
    if req.objective not in PRICE_OBJECTIVES:
        return -key[1] if not key[0] else -1e300
    if key[0] or key[1] == math.inf or limit[1] == math.inf:
        return -1e300
    return -key[1]


def _skip_text(job: tuple, key: tuple, limit: tuple, bound: float, req: PlanRequest, prices) -> str:
    """The nearest-miss sentence of a skipped job (_log_not_evaluated)."""
    from gpuplan.cost.summary import in_currency

    _, gpu, count, nodes, _, fmt, engine = job[:7]
    cand = _describe(gpu, count, engine, fmt)
    if req.capacity_mode:
        return t("prune.near_users", cand=cand, users=f"{bound:,.0f}", top=req.top)
    if req.objective not in PRICE_OBJECTIVES:
        return t("prune.near_speed", cand=cand, tps=f"{bound:,.0f}", top=req.top)
    if key[0] or key[1] == math.inf or limit[1] == math.inf:
        return t("prune.near_unpriced", cand=cand, top=req.top)
    cny = _base_price(gpu, count, nodes, req, prices)[4]

    def money(usd: float) -> str:
        text = fmt_money(in_currency(usd, req.currency, cny), req.currency)
        return text if req.objective != "cloud" else t("prune.per_hour", cost=text)

    return t("prune.near", cand=cand, objective=t(f"prune.objective_{req.objective}"), cost=money(key[1]),
             top=req.top, limit=money(limit[1]))


def _gpu_pool(req: PlanRequest) -> list[GpuSpec]:
    if req.gpus:
        pool = [get_gpu(g) for g in req.gpus]
    else:
        pool = list(list_gpus())
    if req.exclude_gpus:
        bad = {get_gpu(g).id for g in req.exclude_gpus}
        pool = [g for g in pool if g.id not in bad]
    if req.classes:
        pool = [g for g in pool if g.gpu_class in req.classes]
    if req.china_only:
        pool = [g for g in pool if g.china_available]
    if not pool and req.gpus:
        # --gpu minus --exclude-gpu, the preset's classes or --china-only left nothing: say so, not an empty plan
        raise InvalidInputError("qa.empty_gpu_pool", gpus=", ".join(req.gpus))
    return pool


LLAMACPP_MAX_USERS = 16  # llama.cpp's parallel slots share one context; beyond a few users gpuplan plans vLLM/SGLang


def _formats_for(model: ModelEntry, req: PlanRequest, users: int) -> list[str]:
    """Formats to try: the checkpoint's own, bf16, fp8 and AWQ int4 for the serving engines; GGUF quantizations
    (and, for models over 300B, the DeepSeek dynamic 1.58-bit mix) only where llama.cpp is in play (few users)."""
    if req.weight_formats:
        return list(req.weight_formats)
    native = native_format(model)
    out = [native]
    if native == "bf16":
        out.append("fp16")  # the release cast at load time (--dtype half), for GPUs without BF16 (see the search loop)
    for f in ("bf16", "fp8", "awq-int4"):
        if f == "fp8" and native.startswith("fp8"):
            continue  # the checkpoint is already FP8 (DeepSeek's block-scaled layout): no second FP8 variant
        if f == "bf16" and native in ("fp16", "fp32"):
            continue  # a 16-bit (or wider) release is loaded as released; no second 16-bit variant
        if f not in out:
            out.append(f)
    if users <= LLAMACPP_MAX_USERS:
        out += ["gguf-q8_0", "gguf-q4_k_m"]
        if model.arch.params_total > 300e9:
            out.append("gguf-ud-iq1_s")
    return out


def _tier(fmt: str, native: str, req: PlanRequest) -> tuple[str, bool]:
    """A format's quality tier and whether the request allows it (formats named with --weights always are)."""
    tier = quality_tier(fmt, native)
    return tier, bool(req.weight_formats) or quality_allowed(tier, req.quality)


def _node_shapes(gpu: GpuSpec, req: PlanRequest) -> list[tuple[int, int]]:
    """(nodes, GPUs per node) to try: unified-memory and embedded parts come one per machine; consumer and workstation
    cards stay in one machine; data-center parts scale out with full 8-GPU nodes."""
    if gpu.gpu_class in ("unified", "embedded"):
        return [(1, 1)] if req.gpu_count in (None, 1) else []  # --gpus 2 on a Mac was planned as one, unsaid
    shapes = [(1, n) for n in GPUS_PER_NODE_CHOICES if n <= req.max_gpus]
    if gpu.gpu_class == "datacenter":
        most = max(req.max_nodes, math.ceil((req.gpu_count or 0) / 8))
        shapes += [(nodes, 8) for nodes in range(2, most + 1)
                   if nodes * 8 <= max(req.max_gpus, req.gpu_count or 0)]
    if req.gpu_count:
        shapes = [(n, g) for n, g in shapes if n * g == req.gpu_count]
    return shapes


_COMPATIBLE: dict[tuple, tuple] = {}  # (format, engine, GPU id) → (the GPU, _compatible's answer): shipped tables only


def _compatible(fmt_id: str, engine: str, gpu: GpuSpec) -> str | None:
    """None when the engine runs this format on this GPU, else the rejection reason key."""
    if gpu.vendor not in _any_engine_vendors():
        return "engine_vendor"  # no catalog engine runs on this vendor (Moore Threads' MUSA): that, not the format
    fmt = get_format(fmt_id)
    if engine not in fmt.engines:
        return "format_engine"
    if gpu.vendor not in fmt.vendors:
        return "format_vendor"
    if gpu.vendor == "nvidia" and fmt.min_compute_capability and (gpu.compute_capability or 0) < fmt.min_compute_capability:
        return "format_cc"
    if fmt_id == "bf16" and gpu.architecture in _fp16_only_architectures(engine):
        return "format_cc"  # an NPU without BF16 (Ascend 310P): the release is planned cast to fp16 instead
    if gpu.vendor not in _engine_vendors(engine):
        return "engine_vendor"
    if engine == "trtllm" and gpu.vendor != "nvidia":
        return "engine_vendor"  # TensorRT-LLM runs on NVIDIA GPUs only (engines.toml vendors)
    return None


def _has_bf16(gpu: GpuSpec) -> bool:
    """False for NVIDIA GPUs below BF16's compute capability and for NPUs whose engine serves FP16 only (310P)."""
    from gpuplan.memory.engines import gpu_has_bf16

    return gpu_has_bf16(gpu)


def _fp16_only_architectures(engine: str) -> tuple[str, ...]:
    """Architectures on which ``engine`` serves 16-bit weights as FP16 only (engines.toml, with its source)."""
    from gpuplan.memory.engines import engine_facts

    return tuple(engine_facts(engine).get("fp16_only_architectures", ()))


@cache
def _any_engine_vendors() -> frozenset[str]:
    """The vendors some catalog engine runs on (engines.toml ``vendors``)."""
    from gpuplan.memory.engines import engines_data

    return frozenset(v for facts in engines_data().values() if isinstance(facts, dict) for v in facts.get("vendors", ()))


def _engine_vendors(engine: str) -> tuple[str, ...]:
    """The accelerator vendors an engine runs on (engines.toml ``vendors``: vLLM/SGLang CUDA and ROCm builds,
    TensorRT-LLM NVIDIA only, vLLM-Ascend and MindIE Huawei only, llama.cpp also Apple)."""
    from gpuplan.memory.engines import engine_facts

    return tuple(engine_facts(engine).get("vendors", ()))


def _layouts(model: ModelEntry, gpus_per_node: int, nodes: int, engine: str) -> list[tuple[int, int, int, int, bool]]:
    """(tp, pp, dp, ep, dp_attention) choices for a node shape: TP inside a node, PP across nodes, DP replicas.

    llama.cpp splits layers over the GPUs of one machine (``--split-mode layer``): modeled as PP = GPUs, one replica.
    SGLang on MLA models also gets DP-attention over all GPUs with EP where the experts divide.
    """
    arch = model.arch
    if engine in ("llama.cpp", "ollama"):
        return [(1, gpus_per_node, 1, 1, False)] if nodes == 1 else []
    heads = arch.num_attention_heads
    if engine == "trtllm":
        # trtllm-serve runs one model instance over the node's GPUs (--tp_size, --ep_size; no replica flag); MoE models
        # get EP over the TP ranks, MLA models also attention DP (enable_attention_dp), as in TensorRT-LLM's
        # DeepSeek-R1 deployment guide.
        if nodes > 1 or heads % gpus_per_node:
            return []
        experts = arch.num_experts
        ep = gpus_per_node if experts and experts % gpus_per_node == 0 else 1
        out_t = [(gpus_per_node, 1, 1, ep, False)]
        if arch.attention_kind == "mla" and gpus_per_node > 1:
            out_t.append((gpus_per_node, 1, gpus_per_node, ep, True))
        return out_t
    out = []
    for tp in (1, 2, 4, 8):
        if tp > gpus_per_node or heads % tp or gpus_per_node % tp:
            continue
        out.append((tp, nodes, gpus_per_node // tp, 1, False))
    if engine == "sglang" and arch.attention_kind == "mla" and gpus_per_node * nodes >= 8:
        total = gpus_per_node * nodes
        experts = arch.num_experts
        ep = total if experts and experts % total == 0 else 1
        out.append((total, 1, total, ep, True))
    return out


def search(req: PlanRequest, prices=None, calibration=None) -> PlanFile:
    """Run the planner; returns a PlanFile with ranked candidates, the Pareto frontier and grouped rejections.

    ``calibration`` (a perf CalibrationSet, e.g. with a user's ``gpuplan calibrate`` file) replaces the shipped one.

    The cyclic garbage collector pauses while it runs: a search allocates tens of thousands of short-lived, acyclic
    objects, and the collections they triggered (each also walking every object of the imported modules) took a tenth
    of a full-catalog search; whatever cycles it leaves are collected once the collector runs again.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _search(req, prices, calibration)
    finally:
        if paused:
            gc.enable()


def _search(req: PlanRequest, prices=None, calibration=None) -> PlanFile:
    started = time.perf_counter()
    if req.objective not in OBJECTIVES:
        raise InvalidInputError("plan.bad_objective", given=req.objective, allowed=", ".join(OBJECTIVES))
    if req.quality not in QUALITY_LEVELS:
        raise InvalidInputError("checkpoint.bad_quality", given=req.quality, allowed=", ".join(QUALITY_LEVELS))
    if req.have:
        from gpuplan.plan.owned import search_owned

        return search_owned(req, prices, calibration)
    if req.gpu_count and req.gpu_count not in GPUS_PER_NODE_CHOICES and req.gpu_count % 8:
        raise InvalidInputError("capacity.bad_gpu_count", given=req.gpu_count,
                                allowed=", ".join(map(str, GPUS_PER_NODE_CHOICES)))
    model = get_model(req.model)
    if req.task != "serve":
        return _search_training(req, model, prices, started, calibration)
    users = req.users or 1
    workload = Workload(input_tokens=req.input_tokens, output_tokens=req.output_tokens,
                        concurrency=None if req.rate_per_s else users, rate_per_s=req.rate_per_s)
    context = req.input_tokens + req.output_tokens
    if model.max_context_tokens and context > model.max_context_tokens:
        # plan has no --context: name the two flags whose sum is the context (the output may be a model default)
        raise InvalidInputError("qa.plan_context_too_long", given=f"{context:,}", allowed=f"{model.max_context_tokens:,}",
                                input=f"{req.input_tokens:,}", output=f"{req.output_tokens:,}", model=model.id)
    engines = req.engines or SERVING_ENGINES
    capacity = req.capacity_mode
    rejects = _Rejects()
    kept: list[Candidate] = []
    lower: list[Candidate] = []  # candidates at a lower quality than allowed (shown as the alternative)
    lower_rejects = _Rejects()  # their rejections are not the user's question: kept apart, not reported
    native = native_format(model)
    considered = 0
    from gpuplan.plan.capacity import (
        capacity_result,
        disaggregated_candidates,
        rank_by_capacity,
        with_capacity,
    )

    # Enumerate in catalog order; the cheap checks reject on the spot. What needs memory sizing and a speed estimate
    # becomes a job, run after enumeration (cheapest first when pruning, see _run_jobs). Rejections and candidates
    # carry their catalog position (_Rejects, and the candidates sorted by it), so counts, nearest misses and ties
    # read as in catalog order.
    seq = [0]
    deferred, lower_deferred = _Deferred(rejects, seq), _Deferred(lower_rejects, seq)
    jobs: list[tuple] = []
    found: list[tuple[int, bool, Candidate]] = []  # (catalog position, allowed quality, candidate)
    # per-search memos of what does not depend on the hardware shape (the loop visits thousands of shapes)
    formats = _formats_for(model, req, users)
    wholes: dict[str, int | None] = {}
    checkpoints: dict[tuple, object] = {}
    incompatible: dict[tuple, list] = {}  # (allowed quality, reason) → [format/engine/GPU rejections, first position]
    tiers: dict[str, tuple[str, bool]] = {}
    shapes: dict[tuple, list] = {}  # (GPUs per node, nodes, engine) → layouts
    pool = _gpu_pool(req)
    if req.gpu_count and not any(_node_shapes(gpu, req) for gpu in pool):
        # no machine shape gives exactly --gpus on these GPUs: one sentence, not "Searched 0 candidates"
        raise InvalidInputError("qa.gpu_count_unplannable", given=req.gpu_count, max_gpus=req.max_gpus,
                                gpus=", ".join(gpu.id for gpu in pool[:6]) + (", …" if len(pool) > 6 else ""))
    for gpu in pool:
        for nodes, per_node in _node_shapes(gpu, req):
            count = per_node * nodes
            for fmt in formats:
                whole = wholes[fmt] if fmt in wholes else wholes.setdefault(fmt, _whole_weights_bytes(model, fmt))
                if whole is None:
                    continue
                tier, allowed = tiers[fmt] if fmt in tiers else tiers.setdefault(fmt, _tier(fmt, native, req))
                fmt_rejects = deferred if allowed else lower_deferred
                if whole / count > gpu.memory_bytes:
                    considered += 1
                    seq[0] += 1
                    fmt_rejects.add("weights", -whole / count / gpu.memory_bytes,
                                    partial(_near_weights, gpu, count, fmt, whole))
                    continue
                if fmt == "fp16" and native == "bf16" and not req.weight_formats and _has_bf16(gpu):
                    continue  # the cast is for GPUs without BF16; elsewhere it would copy every candidate
                for engine in engines:
                    if engine in ("llama.cpp", "ollama") and not req.engines and (
                            users > LLAMACPP_MAX_USERS or gpu.gpu_class == "datacenter" or not fmt.startswith("gguf-")):
                        continue  # llama.cpp is planned for personal machines with GGUF files, unless asked for
                    if engine == "trtllm" and nodes > 1:
                        continue  # gpuplan renders trtllm-serve for one node (no mpirun/slurm launcher yet)
                    key = (fmt, engine, gpu.id)
                    hit = _COMPATIBLE.get(key)
                    if hit is None or hit[0] is not gpu:
                        hit = _COMPATIBLE[key] = (gpu, _compatible(fmt, engine, gpu))
                    reason = hit[1]
                    if reason:  # no sentence to name a nearest miss by: counted, added to its group below
                        considered += 1
                        seq[0] += 1
                        tally = incompatible.get((allowed, reason))
                        if tally is None:
                            incompatible[allowed, reason] = [1, seq[0]]
                        else:
                            tally[0] += 1
                        continue
                    checkpoint = checkpoints.get(key[:2], False)
                    if checkpoint is False:
                        checkpoint = checkpoint_for(model, fmt, engine)
                        if checkpoint is None and req.self_quantize:
                            checkpoint = quantize_step_checkpoint(model, fmt, engine)
                        checkpoints[key[:2]] = checkpoint
                    if checkpoint is None:
                        considered += 1
                        seq[0] += 1
                        fmt_rejects.add("no_checkpoint", -1, partial(t, "checkpoint.near_none", fmt=fmt,
                                                                     engine=engine, model=model.id))
                        continue
                    shape = (per_node, nodes, engine)
                    layouts = shapes[shape] if shape in shapes else shapes.setdefault(
                        shape, _layouts(model, per_node, nodes, engine))
                    for layout in layouts:
                        considered += 1
                        seq[0] += 1
                        jobs.append((seq[0], gpu, count, nodes, per_node, fmt, engine, layout, checkpoint, tier,
                                     allowed))
                    if capacity and engine == "sglang" and nodes >= 2:
                        for pd in disaggregated_candidates(model, gpu, nodes, per_node, fmt, req, prices,
                                                           _Deferred(fmt_rejects.target, seq, 0.5)):
                            considered += 1
                            found.append((seq[0] + 0.5, allowed,
                                          pd.model_copy(update={"checkpoint": checkpoint, "quality": tier})))
    for (allowed, reason), (count, first) in incompatible.items():
        (rejects if allowed else lower_rejects).add_many(reason, count, -1, first, "", first)
    est_fn = _estimator(calibration)  # memoized: a repeated search reuses estimates; no per-operator breakdown

    def evaluate(job: tuple, sink: _Deferred, most: float | None = None, capacity_step: bool = True
                 ) -> Candidate | None:
        """``most``: capacity mode, a bound on the job's users (all replicas), when _run_jobs has one.
        ``capacity_step`` False: the candidate at one user per replica, before its capacity (complete_capacity)."""
        _, gpu, count, nodes, per_node, fmt, engine, (tp, pp, dp, ep, dpa), checkpoint, tier, _ = job
        cand = _evaluate(model, gpu, count, nodes, per_node, fmt, engine, tp, pp, dp, ep, dpa, users, workload,
                         context, req, sink, prices, est_fn, checkpoint=checkpoint, quality=tier)
        if cand is not None and capacity and capacity_step:
            cand = complete_capacity(job, cand, most)
        return cand

    def complete_capacity(job: tuple, cand: Candidate, most: float | None = None) -> Candidate | None:
        """Capacity mode: the candidate at the most users it serves within the targets (plan.capacity)."""
        dp, dpa = job[7][2], job[7][4]
        replicas = dp if not dpa else 1
        return with_capacity(model, cand, workload, req, est_fn,
                             most / replicas if most is not None and most < math.inf else None)

    found += _run_jobs(jobs, evaluate, deferred, lower_deferred, seq, model, req, prices, native, users, context,
                       calibration, complete_capacity)
    for _, allowed, cand in sorted(found, key=lambda f: f[0]):
        (kept if allowed else lower).append(cand)
    ranked = (rank_by_capacity(kept, req.objective) if req.capacity_mode else _rank(kept, req.objective))[: req.top]
    # Price the kept candidates exactly, with their throughput (cost per million tokens needs it).
    native_fits = any(c.weight_format == native for c in kept)
    ranked = [_with_bom(_with_flags(c), model, req, prices, native_fits) for c in ranked]
    alternative = _lower_quality_option(ranked, lower, req, prices, model, native_fits)
    pareto = _pareto(ranked)
    assumptions = [t("capacity.assume", i=req.input_tokens, o=req.output_tokens) if req.capacity_mode else
                   t("qa.assume_one_user" if users == 1 else "plan.assume_users", users=users, i=req.input_tokens,
                     o=req.output_tokens),
                   t("plan.assume_years", years=f"{req.years:g}"), *_money_assumptions(req, prices)] + _workload_warnings(model, req, ranked)
    if any(c.engine == "ktransformers" for c in ranked):
        assumptions.append(t("qa.note_ktransformers_render"))  # render writes its report, not a launch (artifacts.engines)
    capacity = capacity_result(ranked[0]) if req.capacity_mode and ranked else None
    return PlanFile(
        gpuplan_version=__version__, created=date.today().isoformat(),
        model=_plan_model(model), task="serve", workload=workload,
        slo=Slo(ttft_s=req.ttft_s, tpot_s=req.tpot_s), objective=req.objective, currency=req.currency,
        quality=req.quality, candidates=tuple(ranked), lower_quality=alternative, pareto=tuple(pareto),
        rejections=rejects.as_list(), assumptions=tuple(assumptions),
        search={"candidates_considered": considered, "seconds": round(time.perf_counter() - started, 4)},
        capacity=capacity,
    )


def _money_assumptions(req: PlanRequest, prices) -> list[str]:
    """The money assumptions in words: utilization, electricity tariff, exchange rate."""
    from gpuplan.cost.model import default_region

    book = prices or default_prices()
    out = [t("money.note_utilization", util_pct=round(req.utilization_fraction * 100), util=f"{req.utilization_fraction:g}")]
    region = req.electricity_region or default_region(book, req.currency)
    if region:
        out.append(t("money.note_electricity", region=region))
    if book.usd_to_cny is not None:
        out.append(t("money.exchange_line", currency=req.currency, rate=f"{book.usd_to_cny.value:g}",
                     date=book.usd_to_cny.date, source=book.usd_to_cny.source))
    return out


def _workload_warnings(model: ModelEntry, req: PlanRequest, ranked: Sequence[Candidate]) -> list[str]:
    """Sentences for a workload that is likely not what the user meant: a reasoning model with room for a short
    answer only, or no TPOT target (then nothing bounds the speed each user sees)."""
    from gpuplan.catalog.models import (
        REASONING_OUTPUT_TOKENS,
        REASONING_OUTPUT_TOKENS_MIN,
        is_reasoning_model,
    )

    out = []
    if is_reasoning_model(model) and req.output_tokens < REASONING_OUTPUT_TOKENS_MIN:
        out.append(t("ux.short_context", ctx=req.input_tokens + req.output_tokens, input=req.input_tokens,
                     output=req.output_tokens, model=model.display_name, typical="4–8k",
                     suggest=REASONING_OUTPUT_TOKENS))
    if req.tpot_s is None and ranked and ranked[0].perf.tpot_s is not None:
        out.append(t("ux.no_tpot_target", tpot=f"{ranked[0].perf.tpot_s * 1000:,.0f} ms"))
    return out


def _whole_weights_bytes(model: ModelEntry, fmt: str) -> int | None:
    """All weights in a format (cached in the memory layer); None when the format cannot hold this model."""
    from gpuplan.memory.inference import _whole_weights
    from gpuplan.memory.weights import model_tensor_bytes

    try:
        model_tensor_bytes(model, fmt)  # registers the entry; raises for formats the model cannot take
        return _whole_weights(model.id, fmt)[0]
    except GpuplanError:
        return None


def _plan_model(model: ModelEntry) -> PlanModel:
    return PlanModel(id=model.id, name=model.display_name, params_total=model.arch.params_total,
                     params_active=model.arch.params_active, context_length=model.max_context_tokens,
                     checkpoint_bytes=model.checkpoint.bytes, checkpoint_format=model.checkpoint.weight_format)


def _near_weights(gpu: GpuSpec, count: int, fmt: str, whole: int) -> str:
    """The nearest-miss text of a shape whose GPUs cannot hold the weights (rendered only for the group's nearest)."""
    return t("plan.near_weights", cand=_describe(gpu, count, "*", fmt), need=f"{whole / count / 2**30:.1f}",
             have=f"{gpu.memory_bytes / 2**30:.1f}")


def _describe(gpu: GpuSpec, count: int, engine: str, fmt: str) -> str:
    return f"{count}×{gpu.id} {engine} {fmt}"


def _deployment(gpu: GpuSpec, count: int, nodes: int, fmt: str, engine: str, tp: int, pp: int, dp: int, ep: int,
                dpa: bool, req: PlanRequest) -> Deployment:
    return Deployment(gpu_id=gpu.id, gpu_count=count, nodes=nodes, engine=engine, weight_format=fmt,
                      engine_version=req.engine_versions.get(engine),
                      tensor_parallel_size=tp, pipeline_parallel_size=pp, data_parallel_size=dp,
                      expert_parallel_size=ep, enable_dp_attention=dpa, kv_dtype=_kv_dtype(fmt, engine))


def _evaluate(model, gpu, count, nodes, per_node, fmt, engine, tp, pp, dp, ep, dpa, users, workload, context, req,
              rejects, prices, estimate_serving, checkpoint=None, quality=None) -> Candidate | None:
    replicas = dp if not dpa else 1
    per_replica_users = math.ceil(users / replicas)
    dep = _deployment(gpu, count, nodes, fmt, engine, tp, pp, dp, ep, dpa, req)
    label = _describe(gpu, count, engine, fmt)
    try:
        mem = size_inference(model, dep, context_tokens=context, concurrency=per_replica_users, gpu=gpu)
    except GpuplanError as exc:
        rejects.add("layout", -1, f"{label}: {exc}")
        return None
    assert mem.per_gpu is not None
    if mem.binding == "weights":
        over = mem.per_gpu.weights_bytes / max(mem.per_gpu.budget_bytes, 1)
        rejects.add("weights", -over, partial(t, "plan.near_weights", cand=label,
                                           need=f"{mem.per_gpu.weights_bytes / 2**30:.1f}",
                                           have=f"{mem.per_gpu.budget_bytes / 2**30:.1f}"))
        return None
    if not mem.fits:
        rejects.add("kv_cache", (mem.max_concurrency or 0) / per_replica_users,
                    partial(t, "plan.near_kv", cand=label, n=mem.max_concurrency or 0, ctx=context, need=per_replica_users))
        return None
    rep_workload = workload.model_copy(update={"concurrency": per_replica_users}) if workload.concurrency else \
        workload.model_copy(update={"rate_per_s": (workload.rate_per_s or 0) / replicas})
    try:
        # one replica of the deployment just sized: its KV capacity is the one above (data parallelism without
        # DP-attention does not change a GPU's memory), so the estimator does not size it again
        est = estimate_serving(model, dep.model_copy(update={"data_parallel_size": 1 if not dpa else dp}), rep_workload,
                               kv_max_concurrency=mem.max_concurrency)
    except GpuplanError as exc:
        rejects.add("perf_unknown", -1, f"{label}: {exc}")
        return None
    if req.ttft_s and (est.ttft_s is None or est.ttft_s > req.ttft_s):
        rejects.add("slo_ttft", -(est.ttft_s or math.inf) / req.ttft_s,
                    partial(t, "plan.near_ttft", cand=label, **_ms_pair(est.ttft_s, req.ttft_s)))
        return None
    if req.tpot_s and (est.tpot_s is None or est.tpot_s > req.tpot_s):
        rejects.add("slo_tpot", -(est.tpot_s or math.inf) / req.tpot_s,
                    partial(t, "plan.near_tpot", cand=label, **_ms_pair(est.tpot_s, req.tpot_s)))
        return None
    out_tps = (est.output_tokens_per_s or 0) * replicas
    in_tps = (est.input_tokens_per_s or 0) * replicas
    base = _base_cost(gpu, count, nodes, req, prices)
    cost = base[0]
    if req.budget_usd and _over_budget(cost, req, rejects, label):
        return None
    return Candidate(
        checkpoint=checkpoint, quality=quality,
        gpu=gpu.id, gpu_name=gpu.name, gpu_count=count, nodes=nodes, gpus_per_node=per_node, engine=engine,
        weight_format=fmt, kv_dtype=mem.kv_dtype, tensor_parallel_size=tp, pipeline_parallel_size=pp,
        data_parallel_size=dp, expert_parallel_size=ep, enable_dp_attention=dpa, max_model_len=context,
        max_num_seqs=mem.engine_args.get("max_num_seqs"),
        gpu_memory_utilization=mem.engine_args.get("gpu_memory_utilization", mem.engine_args.get("mem_fraction_static")),
        engine_args=_other_engine_args(dep, mem, per_replica_users),
        memory=MemorySummary(
            weights_bytes=mem.per_gpu.weights_bytes, kv_cache_bytes=mem.per_gpu.kv_cache_bytes,
            activation_bytes=mem.per_gpu.activation_bytes, overhead_bytes=mem.per_gpu.overhead_bytes,
            per_gpu_total_bytes=mem.per_gpu.total_bytes, capacity_bytes=mem.per_gpu.capacity_bytes,
            budget_bytes=mem.per_gpu.budget_bytes, kv_cache_bytes_per_token=mem.kv_cache_bytes_per_token,
            max_concurrency=(mem.max_concurrency or 0) * (replicas if not dpa else 1),
            max_context_tokens=mem.max_context_tokens, host_bytes=mem.host_bytes, binding=mem.binding or "fits",
        ),
        perf=PerfSummary(
            ttft_s=est.ttft_s, tpot_s=est.tpot_s, output_tokens_per_s=out_tps, input_tokens_per_s=in_tps,
            requests_per_s=(est.requests_per_s or 0) * replicas, decode_tokens_per_s=est.decode_tokens_per_s,
            max_concurrency=(mem.max_concurrency or 0) * (replicas if not dpa else 1), concurrency=users,
            bottleneck=est.bottleneck, calibration=est.calibration,
            uncertainty_fraction=getattr(est, "uncertainty_fraction", None),
            calibration_rows=getattr(est, "calibration_rows", None),
        ),
        cost=cost,
        # per-token ranking: owned cost per year over output tokens/s is proportional to $/Mtok (same workload split)
        score=(base[1] / out_tps) if (req.objective == "per_token" and base[1] and out_tps) else None,
    )


def _ms_pair(got_s: float | None, want_s: float) -> dict[str, str]:
    """A missed target and the estimate in ms, with as many decimals as it takes for them to read differently
    (100.4 ms against a 100 ms target must not print as "100 ms, target 100 ms")."""
    got = (got_s or 0.0) * 1000
    want = want_s * 1000
    for digits in range(0, 4):
        a, b = f"{got:,.{digits}f}", f"{want:,.{digits}f}"
        if a != b:
            break
    return {"got": a, "want": f"{want:,.{digits}f}".rstrip("0").rstrip(".") if "." in b else b}


def _over_budget(cost: CostSummary, req: PlanRequest, rejects: _Rejects, label: str) -> bool:
    """Budgets fail closed: an unknown capex never passes (rejected as 'price_unknown', naming what is missing);
    a known one passes when it is within the budget. Amounts in the rejection are in the plan's currency."""
    from gpuplan.cost.summary import in_currency

    budget = req.budget_usd or 0.0
    if cost.capex_usd is None:
        missing = ", ".join(t(f"money.missing_{m}") for m in cost.missing) or t("money.missing_gpu")
        rejects.add("price_unknown", -1e18, partial(t, "money.near_unpriced", cand=label, missing=missing))
        return True
    if cost.capex_usd <= budget:
        return False
    rate = cost.exchange_rate.cny_per_usd if cost.exchange_rate else None
    rejects.add("budget", -cost.capex_usd / budget, partial(
        t, "money.near_budget", cand=label, cost=fmt_money(in_currency(cost.capex_usd, req.currency, rate), req.currency),
        budget=fmt_money(in_currency(budget, req.currency, rate), req.currency)))
    return True


def _with_flags(cand: Candidate) -> Candidate:
    """The candidate with its engine flags spelled from its own fields (only the kept ones are spelled: the search
    carries the memory model's knobs until ranking). Disaggregated candidates keep the flags of their pools."""
    if cand.disaggregation is not None or cand.engine not in ARGV_ENGINES:
        return cand
    return cand.model_copy(update={"engine_args": _engine_args(cand, cand.checkpoint)})


def _engine_args(cand: Candidate, checkpoint) -> dict:
    """The exact engine flags the memory model assumed, from the one module that spells them (artifacts.engine_argv).

    ``cand.engine_args`` carries the memory model's batching knobs (max_num_batched_tokens, block_size) until here.
    """
    knobs = cand.engine_args
    if cand.engine not in ARGV_ENGINES:
        return knobs  # TensorRT-LLM and vLLM-Ascend: spelled in _other_engine_args from the memory model
    return engine_flags(EngineConfig(
        engine=cand.engine, checkpoint=checkpoint, weight_format=cand.weight_format, kv_dtype=cand.kv_dtype,
        tensor_parallel_size=cand.tensor_parallel_size, pipeline_parallel_size=cand.pipeline_parallel_size,
        data_parallel_size=cand.data_parallel_size, expert_parallel_size=cand.expert_parallel_size,
        enable_dp_attention=cand.enable_dp_attention, context_tokens=cand.max_model_len or 0,
        max_seqs=cand.max_num_seqs or 1, memory_fraction=cand.gpu_memory_utilization,
        max_num_batched_tokens=knobs.get("max_num_batched_tokens"), block_size=knobs.get("block_size"),
        offload=cand.offload, gpu_layers=cand.gpu_layers, cpu_moe_layers=cand.cpu_moe_layers))


def _lower_quality_option(ranked: list[Candidate], lower: list[Candidate], req: PlanRequest, prices,
                          model: ModelEntry, native_fits: bool) -> Candidate | None:
    """The best candidate below the allowed quality, when nothing fits at it or when it beats the first candidate on
    the objective (the cheaper option the user could open with ``--quality``)."""
    if not lower:
        return None
    # the same order as _rank (objective, then fewer GPUs, GPU id, engine, format), without copying every candidate
    best = min(lower, key=lambda c: (_objective_value(c, req.objective), c.gpu_count, c.gpu, c.engine,
                                     c.weight_format, c.tensor_parallel_size))
    value = _objective_value(best, req.objective)
    best = best.model_copy(update={"score": None if value in (math.inf, -math.inf) else value})
    if ranked and (best.score is None or ranked[0].score is None or best.score >= ranked[0].score):
        return None
    return _with_bom(_with_flags(best), model, req, prices, native_fits)


def _other_engine_args(dep: Deployment, mem, max_seqs: int) -> dict:
    """Flags of the engines engine_argv does not spell yet (TensorRT-LLM, vLLM-Ascend), from the memory model; for
    the others only the memory model's batching knobs, which _engine_args turns into flags."""
    if dep.engine == "vllm-ascend":
        from gpuplan.artifacts.ascend import vllm_ascend_args

        return vllm_ascend_args(dep, mem, max_seqs)
    if dep.engine == "trtllm":
        return _trtllm_args(dep, mem, max_seqs)
    return {k: v for k, v in mem.engine_args.items() if k in ("max_num_batched_tokens", "block_size")}


#: The token budget per iteration the memory model assumed for TensorRT-LLM's activations (memory.inference).
TRTLLM_MAX_NUM_TOKENS = 8192


def _trtllm_args(dep: Deployment, mem, max_seqs: int) -> dict:
    """trtllm-serve flags (TensorRT-LLM docs, commands/trtllm-serve: --tp_size, --pp_size, --ep_size,
    --max_batch_size, --max_num_tokens, --max_seq_len, --kv_cache_free_gpu_memory_fraction) and the YAML keys of its
    --config file (enable_attention_dp, kv_cache_config.dtype); shared/reference/ecosystem.md §1.7."""
    args: dict = {"--backend": "pytorch", "--tp_size": dep.tensor_parallel_size,
                  "--pp_size": dep.pipeline_parallel_size, "--max_batch_size": max_seqs,
                  "--max_num_tokens": dep.max_num_batched_tokens or TRTLLM_MAX_NUM_TOKENS,
                  "--max_seq_len": mem.context_tokens,
                  "--kv_cache_free_gpu_memory_fraction": mem.engine_args["kv_cache_free_gpu_memory_fraction"]}
    if dep.expert_parallel_size > 1:
        args["--ep_size"] = dep.expert_parallel_size
    if dep.enable_dp_attention:
        args["enable_attention_dp"] = True
    if mem.kv_dtype.startswith("fp8"):
        args["kv_cache_config"] = {"dtype": "fp8"}
    return args


def _price(gpu: GpuSpec, count: int, nodes: int, out_tps: float, in_tps: float, req: PlanRequest,
           prices) -> CostSummary:
    """Money of a candidate through the cost model (prices dated and sourced; unknown prices stay unknown)."""
    from gpuplan.cost import cost_of, to_cost_summary

    res = cost_of(_cost_inputs(gpu, count, nodes, req, out_tps or None, in_tps or None), prices or default_prices(),
                  monthly=False)  # a candidate's summary carries no month-by-month series
    return to_cost_summary(res)


def _cost_inputs(gpu: GpuSpec, count: int, nodes: int, req: PlanRequest, out_tps: float | None = None,
                 in_tps: float | None = None):
    from gpuplan.cost import CostInputs

    return CostInputs(gpu_id=gpu.id, gpu_class=gpu.gpu_class, gpu_count=count, nodes=nodes,
                      gpu_tdp_watts=gpu.tdp_watts, years=req.years,
                      output_tokens_per_s=out_tps, input_tokens_per_s=in_tps,
                      utilization_fraction=req.utilization_fraction, currency=req.currency, purchase=req.purchase,
                      electricity_region=req.electricity_region)


def _with_bom(c: Candidate, model: ModelEntry, req: PlanRequest, prices, native_fits: bool = True) -> Candidate:
    """The candidate priced exactly (with its throughput) and its bill of materials, in the plan's currency."""
    from gpuplan.cost import cost_of
    from gpuplan.cost.bom import BomInputs, bill_of_materials
    from gpuplan.cost.summary import to_cost_summary

    gpu = get_gpu(c.gpu)
    book = prices or default_prices()
    res = cost_of(_cost_inputs(gpu, c.gpu_count, c.nodes, req, c.perf.output_tokens_per_s or None,
                               c.perf.input_tokens_per_s or None), book, monthly=False)  # the plan shows no series
    whole = _whole_weights_bytes(model, c.weight_format) if c.weight_format else None
    bom = bill_of_materials(res, BomInputs(gpu_name=gpu.name, gpu_tdp_watts=gpu.tdp_watts,
                                           gpus_per_node=c.gpus_per_node, checkpoint_bytes=whole,
                                           host_bytes_per_node=c.memory.host_bytes), book)
    notes = c.notes
    native = native_format(model)
    if req.budget_usd and c.weight_format != native and (get_format(c.weight_format).bits_per_weight or 16) < \
            (get_format(native).bits_per_weight or 16):
        notes = (*notes, t("money.note_quantized" if native_fits else "money.note_quantized_budget",
                           fmt=c.weight_format, native=native))
    return c.model_copy(update={"cost": to_cost_summary(res), "bill_of_materials": bom, "notes": notes})


_BASE_COSTS: dict = {}


def _base_price(gpu: GpuSpec, count: int, nodes: int, req: PlanRequest, prices) -> list:
    """The cost model's price of a hardware shape, without throughput (the same for every layout on it), cached per
    search shape: [capex, TCO, cloud per hour (USD; None when unknown), owned cost per year, CNY per USD of the
    plan's rate (None without one), the CostResult, its summary (made when first asked, _base_cost)]. Ordering the
    jobs needs the figures only; the summary is made for the shapes a candidate is built on."""
    from gpuplan.cost import cost_of

    key = (gpu.id, count, nodes, req.years, id(prices), req.currency, req.purchase, req.electricity_region,
           req.utilization_fraction)
    hit = _BASE_COSTS.get(key)
    if hit is None:
        res = cost_of(_cost_inputs(gpu, count, nodes, req), prices or default_prices(), monthly=False)
        cny = res.usd_to_cny if res.usd_to_cny is not None and res.usd_to_cny_date and res.usd_to_cny_source \
            else None  # the summary's exchange_rate (cost.summary.to_cost_summary)
        hit = [res.capex_usd, res.tco_usd, res.cloud_usd_per_hour, res.owned_usd_per_year, cny, res, None]
        if len(_BASE_COSTS) > 20000:
            _BASE_COSTS.clear()
        _BASE_COSTS[key] = hit
    return hit


def _base_cost(gpu: GpuSpec, count: int, nodes: int, req: PlanRequest, prices) -> tuple[CostSummary, float | None]:
    """Capex/TCO/cloud of a hardware shape, without throughput (the same for every layout on it): cached per search
    shape. Returns the summary and the owned cost per year (for per-token ranking)."""
    hit = _base_price(gpu, count, nodes, req, prices)
    if hit[6] is None:
        from gpuplan.cost import to_cost_summary

        hit[6] = (to_cost_summary(hit[5]), hit[3])
    return hit[6]


_PRICE_FIELD = {"capex": 0, "tco": 1, "cloud": 2}


def _shape_price_key(gpu: GpuSpec, count: int, nodes: int, req: PlanRequest, prices) -> tuple[bool, float]:
    """_price_key of the shape's summary, from its price alone."""
    hit = _base_price(gpu, count, nodes, req, prices)
    value = hit[_PRICE_FIELD[req.objective]]
    return hit[0] is None, value if value is not None else math.inf


def default_prices():
    """The shipped price book (parsed once per process by the loader)."""
    from gpuplan.catalog.prices import load_prices

    return load_prices()


def _objective_value(c: Candidate, objective: str) -> float:
    inf = math.inf
    if objective == "capex":
        return c.cost.capex_usd if c.cost.capex_usd is not None else inf
    if objective == "tco":
        return c.cost.tco_usd if c.cost.tco_usd is not None else inf
    if objective == "per_token":
        return c.score if c.score is not None else inf
    if objective == "cloud":
        return c.cost.cloud_usd_per_hour if c.cost.cloud_usd_per_hour is not None else inf
    return -(c.perf.output_tokens_per_s or 0.0)


def _rank(cands: Sequence[Candidate], objective: str) -> list[Candidate]:
    """Sort by the objective; for cost objectives every priced candidate comes before every unpriced one (fail
    closed), and among unpriced ones the fewest GPUs come first (the least hardware that meets the target: with no
    price, more GPUs must not rank as if they were free). Ties break by higher throughput, then lower TPOT and TTFT,
    then fewer GPUs, GPU id, engine and format (documented, deterministic)."""
    scored = [c.model_copy(update={"score": _objective_value(c, objective)}) for c in cands]
    by_cost = objective != "throughput"

    def key(c: Candidate) -> tuple:
        p = c.perf
        unpriced = by_cost and c.cost.capex_usd is None
        return (unpriced, c.score if c.score is not None else math.inf, c.gpu_count if unpriced else 0,
                -(p.output_tokens_per_s or p.train_tokens_per_s or 0.0),
                p.tpot_s if p.tpot_s is not None else math.inf, p.ttft_s if p.ttft_s is not None else math.inf,
                c.gpu_count, c.gpu, c.engine, c.weight_format, c.tensor_parallel_size)

    scored.sort(key=key)
    # Drop exact duplicates of (gpu, count, engine, format) keeping the best layout.
    seen: set = set()
    out = []
    for c in scored:
        key = (c.gpu, c.gpu_count, c.engine, c.weight_format)
        if key in seen:
            continue
        seen.add(key)
        out.append(c.model_copy(update={"score": None if c.score in (math.inf, -math.inf) else c.score}))
    return out


def _pareto(ranked: Sequence[Candidate]) -> list[int]:
    """Indices of candidates no other beats on both cost (TCO, else capex) and aggregate output throughput.

    Sort by cost (then by throughput, best first) and sweep: a candidate is on the frontier when its throughput beats
    every cheaper one's.
    """
    def cost(c: Candidate) -> float:
        v = c.cost.tco_usd if c.cost.tco_usd is not None else c.cost.capex_usd
        return v if v is not None else math.inf

    order = sorted(range(len(ranked)), key=lambda i: (cost(ranked[i]), -(ranked[i].perf.output_tokens_per_s or 0.0)))
    best = -math.inf
    out = []
    for i in order:
        tps = ranked[i].perf.output_tokens_per_s or 0.0
        if tps > best and cost(ranked[i]) < math.inf:
            out.append(i)
            best = tps
    return sorted(out)


def _search_training(req: PlanRequest, model: ModelEntry, prices, started: float, calibration=None) -> PlanFile:
    job = req.training or TrainingJob(task=req.task if req.task != "pretrain" else "full")
    if req.task == "pretrain":
        job = job.model_copy(update={"task": "full", "zero_stage": max(job.zero_stage, 3)})
    rejects = _Rejects()
    kept: list[Candidate] = []
    considered = 0
    try:
        from gpuplan.perf import estimate_training
    except ImportError:  # pragma: no cover - perf is part of the package
        estimate_training = None
    for gpu in _gpu_pool(req):
        if gpu.vendor != "nvidia" and gpu.vendor != "amd":
            continue
        for nodes in range(1, req.max_nodes + 1):
            for per_node in GPUS_PER_NODE_CHOICES:
                count = per_node * nodes
                if count > req.max_gpus or (nodes > 1 and per_node < 8):
                    continue
                for zero in ((0, 3) if job.task in ("lora", "qlora") else (1, 2, 3)):
                    considered += 1
                    j = job.model_copy(update={"zero_stage": zero if count > 1 else 0})
                    label = f"{count}×{gpu.id} ZeRO-{j.zero_stage}"
                    try:
                        # selective recomputation first (faster); full gradient checkpointing when that does not fit
                        mem = size_training(model, j, gpu_id=gpu.id, gpu_count=count, gpu=gpu)
                        if not mem.fits and j.recompute != "full":
                            j = j.model_copy(update={"recompute": "full"})
                            mem = size_training(model, j, gpu_id=gpu.id, gpu_count=count, gpu=gpu)
                    except GpuplanError as exc:
                        rejects.add("layout", -1, f"{label}: {exc}")
                        continue
                    if not mem.fits:
                        rejects.add("training_memory", -mem.total_bytes / mem.capacity_bytes,
                                    partial(t, "plan.near_train", cand=label, need=f"{mem.total_bytes / 2**30:.1f}",
                                      have=f"{mem.capacity_bytes / 2**30:.1f}"))
                        continue
                    tps = days = None
                    if estimate_training is not None:
                        dep = Deployment(gpu_id=gpu.id, gpu_count=count, nodes=nodes, data_parallel_size=count)
                        try:
                            te = estimate_training(model, dep, j, calibration)
                            tps, days = te.tokens_per_s, getattr(te, "days_to_train", None)
                        except GpuplanError:
                            pass
                    cost = _price(gpu, count, nodes, 0.0, 0.0, req, prices)
                    if req.budget_usd and _over_budget(cost, req, rejects, label):
                        continue
                    kept.append(Candidate(
                        gpu=gpu.id, gpu_name=gpu.name, gpu_count=count, nodes=nodes, gpus_per_node=per_node,
                        engine=j.engine, weight_format="nf4" if j.task == "qlora" else "bf16", kv_dtype="bf16",
                        data_parallel_size=count,
                        engine_args={"zero_stage": j.zero_stage, "micro_batch_size": j.micro_batch_size,
                                     "recompute": j.recompute},
                        memory=MemorySummary(
                            weights_bytes=mem.weights_bytes, kv_cache_bytes=0, activation_bytes=mem.activation_bytes,
                            overhead_bytes=mem.overhead_bytes + mem.gradients_bytes + mem.optimizer_bytes + mem.logits_bytes,
                            per_gpu_total_bytes=mem.total_bytes, capacity_bytes=mem.capacity_bytes,
                            budget_bytes=mem.capacity_bytes, kv_cache_bytes_per_token=0, max_concurrency=None,
                            host_bytes=mem.host_bytes, binding=mem.binding),
                        perf=PerfSummary(ttft_s=None, tpot_s=None, output_tokens_per_s=None, train_tokens_per_s=tps,
                                         train_days=days),
                        cost=cost,
                    ))
    objective = req.objective if req.objective != "throughput" else "capex"
    ranked = _rank(kept, objective)
    return PlanFile(
        gpuplan_version=__version__, created=date.today().isoformat(), model=_plan_model(model), task=job.task,
        training=(job.model_copy(update={"zero_stage": ranked[0].engine_args["zero_stage"],
                                         "recompute": ranked[0].engine_args["recompute"]}) if ranked else job),
        objective=objective, currency=req.currency, candidates=tuple(ranked[: req.top]), pareto=(),
        rejections=rejects.as_list(), assumptions=(t("memory.assume_training"),),
        search={"candidates_considered": considered, "seconds": round(time.perf_counter() - started, 4)},
    )


CACHE_CLEARERS.append(_clear_memos)  # an imported model re-sized under the same id invalidates the memos
