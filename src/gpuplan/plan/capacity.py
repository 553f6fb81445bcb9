"""Capacity mode: the most concurrent users a deployment serves within a TTFT/TPOT SLO (DESIGN §8).

Aggregated: bisection over concurrency C with the serving estimator — C is feasible when TTFT(C) ≤ target,
TPOT(C) ≤ target and C ≤ the KV-cache capacity (no request queues for a slot). TTFT and TPOT grow with C, so
the feasible set is an interval [1, C*] and bisection finds C* in ⌈log2(capacity)⌉ estimates.

Disaggregated (xPyD, ``perf.disagg``): the decode batch per GPU is the largest that fits memory and the TPOT target;
the prefill chunk per GPU the largest (16,384 down to 512 tokens, halving) whose TTFT meets its target; users =
decode batch × decode GPUs, reduced to what the prefill pool can feed: U ≤ prefill requests/s × E2E (Little's law).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError
from gpuplan.perf.disagg import DisaggDeployment, DisaggEstimate, estimate_disaggregated
from gpuplan.spec import Deployment, Slo, Workload

MAX_CAPACITY_USERS = 1_000_000
PREFILL_CHUNKS_PER_GPU = (16384, 8192, 4096, 2048, 1024, 512)


def _meets(est, slo: Slo) -> str | None:
    """None when the estimate meets the SLO, else which target it misses."""
    if slo.ttft_s is not None and (est.ttft_s is None or est.ttft_s > slo.ttft_s):
        return "slo_ttft"
    if slo.tpot_s is not None and (est.tpot_s is None or est.tpot_s > slo.tpot_s):
        return "slo_tpot"
    return None


def aggregated_capacity(entry: ModelEntry, dep: Deployment, workload: Workload, slo: Slo,
                        estimate: Callable) -> tuple[int, object, str] | None:
    """(C*, the estimate at C*, what stops C* + 1) or None when one user already misses the SLO."""

    def at(c: int):
        return estimate(entry, dep, workload.model_copy(update={"concurrency": c, "rate_per_s": None}))

    one = at(1)
    if _meets(one, slo):
        return None
    cap = one.max_concurrency if one.max_concurrency else MAX_CAPACITY_USERS
    top = at(cap)
    if not _meets(top, slo):
        return cap, top, "kv_capacity"
    lo, hi = 1, cap  # lo meets, hi misses
    best = one
    while hi - lo > 1:
        mid = (lo + hi) // 2
        est = at(mid)
        if _meets(est, slo):
            hi = mid
        else:
            lo, best = mid, est
    return lo, best, _meets(at(hi), slo) or "kv_capacity"


def disaggregated_capacity(entry: ModelEntry, dd: DisaggDeployment, *, input_tokens: int, output_tokens: int,
                           slo: Slo) -> tuple[int, DisaggEstimate, DisaggDeployment, str] | None:
    """(users, estimate, the deployment with its chosen prefill chunk, limit) or None when the SLO cannot be met."""
    est = None
    for chunk in PREFILL_CHUNKS_PER_GPU:
        cand = dd.model_copy(update={"prefill_tokens_per_gpu": chunk})
        try:
            est = estimate_disaggregated(entry, cand, input_tokens=input_tokens, output_tokens=output_tokens,
                                         max_tpot_s=slo.tpot_s)
        except GpuplanError:
            return None
        if slo.ttft_s is None or est.ttft_s <= slo.ttft_s:
            dd = cand
            break
    else:
        return None
    if est is None or (slo.tpot_s is not None and est.tpot_s > slo.tpot_s):
        return None
    users = est.concurrency
    limit = "slo_tpot" if slo.tpot_s is not None and est.decode_batch_per_gpu < est.max_decode_batch_per_gpu \
        else "kv_capacity"
    e2e = est.ttft_s + max(output_tokens - 1, 0) * est.tpot_s
    prefill_rps = est.prefill.tokens_per_s_per_node * dd.prefill_nodes / input_tokens
    fed = math.floor(prefill_rps * e2e)
    if fed < users:
        users, limit = fed, "prefill"
    if users < 1:
        return None
    return users, est, dd, limit
