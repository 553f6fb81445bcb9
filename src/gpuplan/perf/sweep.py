"""Throughput per GPU against tokens/s per user: a sweep over load and its Pareto frontier.

The trade-off every serving deployment makes: more sequences per step raise the aggregate output rate (per GPU) and
lower each user's decode speed (1 / TPOT). A sweep evaluates the serving estimator at concurrency 1, 2, 4, … up to the
KV-cache capacity (aggregated) or at decode batch 1, 2, 4, … per GPU up to what fits (disaggregated, ``perf.disagg``);
a point is on the frontier when no other point is at least as good on both axes and better on one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gpuplan.catalog.models import ModelEntry
from gpuplan.perf.disagg import DisaggDeployment, estimate_disaggregated
from gpuplan.perf.serving import estimate_serving
from gpuplan.spec import Deployment, Workload

MAX_SWEEP_POINTS = 16


class SweepPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    concurrency: int
    ttft_s: float | None
    tpot_s: float | None
    tokens_per_s_per_user: float | None
    output_tokens_per_s: float | None
    output_tokens_per_s_per_gpu: float | None
    on_frontier: bool = False


class Sweep(BaseModel):
    model_config = ConfigDict(frozen=True)

    gpus: int
    layout: str
    points: tuple[SweepPoint, ...]


def _doublings(limit: int) -> list[int]:
    """1, 2, 4, … below ``limit``, then ``limit`` itself; at most MAX_SWEEP_POINTS values."""
    out, c = [], 1
    while c < limit and len(out) < MAX_SWEEP_POINTS - 1:
        out.append(c)
        c *= 2
    out.append(max(limit, 1))
    return out


def pareto_frontier(points: list[SweepPoint]) -> list[SweepPoint]:
    """Mark the points no other point dominates on (per-GPU throughput, per-user speed)."""
    def key(p: SweepPoint) -> tuple[float, float]:
        return (p.output_tokens_per_s_per_gpu or 0.0, p.tokens_per_s_per_user or 0.0)

    out = []
    for p in points:
        a = key(p)
        dominated = any(key(q)[0] >= a[0] and key(q)[1] >= a[1] and key(q) != a for q in points)
        out.append(p.model_copy(update={"on_frontier": not dominated}))
    return out


def sweep_aggregated(entry: ModelEntry, dep: Deployment, workload: Workload, calibration=None,
                     **estimate_kw) -> Sweep:
    """Concurrency 1, 2, 4, … up to the KV-cache capacity of ``dep`` (the serving estimator at each)."""
    first = estimate_serving(entry, dep, workload.model_copy(update={"concurrency": 1, "rate_per_s": None}),
                             calibration, **estimate_kw)
    limit = first.max_concurrency or 1024
    points = []
    for c in _doublings(limit):
        est = estimate_serving(entry, dep, workload.model_copy(update={"concurrency": c, "rate_per_s": None}),
                               calibration, **estimate_kw)
        out = est.output_tokens_per_s
        points.append(SweepPoint(concurrency=c, ttft_s=est.ttft_s, tpot_s=est.tpot_s,
                                 tokens_per_s_per_user=est.decode_tokens_per_s, output_tokens_per_s=out,
                                 output_tokens_per_s_per_gpu=out / dep.gpu_count if out else None))
    return Sweep(gpus=dep.gpu_count, layout="aggregated", points=tuple(pareto_frontier(points)))


def sweep_disaggregated(entry: ModelEntry, dd: DisaggDeployment, *, input_tokens: int, output_tokens: int,
                        prefix_cache_hit_fraction: float = 0.0) -> Sweep:
    """Decode batch 1, 2, 4, … per GPU up to what fits; the system rate is the slower pool's."""
    base = estimate_disaggregated(entry, dd.model_copy(update={"decode_batch_per_gpu": None}),
                                  input_tokens=input_tokens, output_tokens=output_tokens,
                                  prefix_cache_hit_fraction=prefix_cache_hit_fraction)
    gpus = dd.prefill_gpus + dd.decode_gpus
    points = []
    for b in _doublings(base.decode_batch_per_gpu):
        est = estimate_disaggregated(entry, dd.model_copy(update={"decode_batch_per_gpu": b}),
                                     input_tokens=input_tokens, output_tokens=output_tokens,
                                     prefix_cache_hit_fraction=prefix_cache_hit_fraction)
        points.append(SweepPoint(concurrency=est.concurrency, ttft_s=est.ttft_s, tpot_s=est.tpot_s,
                                 tokens_per_s_per_user=1.0 / est.tpot_s,
                                 output_tokens_per_s=est.output_tokens_per_s,
                                 output_tokens_per_s_per_gpu=est.output_tokens_per_s / gpus))
    return Sweep(gpus=gpus, layout=dd.label(), points=tuple(pareto_frontier(points)))
