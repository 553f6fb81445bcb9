"""Percentiles and per-level summaries of request records.

Definitions follow vLLM's ``benchmark_serving`` (vllm-project/vllm, ``vllm/benchmarks/serve.py``):
TTFT = first content token time − send time; ITL = gaps between consecutive content chunks (pooled over requests);
TPOT = (E2E − TTFT) / (output tokens − 1) per request; E2E = last byte − send time; throughput = tokens of
successful requests / level wall time; goodput = requests meeting every SLO target / level wall time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from gpuplan.bench.models import LevelResult, Percentiles, RequestRecord, SloTarget


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy ``percentile`` default, method 'linear').

    rank = q/100 · (n − 1); value = v[floor] + (v[ceil] − v[floor]) · frac(rank). ``sorted_values`` must be sorted
    and non-empty.
    """
    n = len(sorted_values)
    rank = q / 100.0 * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo)


def summarize(values: Sequence[float]) -> Percentiles:
    """p50, p90, p99 and mean of ``values``; all ``None`` when there are none."""
    if not values:
        return Percentiles()
    ordered = sorted(values)
    return Percentiles(
        p50=percentile(ordered, 50), p90=percentile(ordered, 90), p99=percentile(ordered, 99),
        mean=sum(ordered) / len(ordered), count=len(ordered),
    )


def tpot_s(e2e_s: float, ttft_s: float, output_tokens: int) -> float | None:
    """Time per output token after the first: (E2E − TTFT) / (output tokens − 1); unknown for < 2 tokens."""
    if output_tokens < 2:
        return None
    return (e2e_s - ttft_s) / (output_tokens - 1)


def meets_slo(record: RequestRecord, slo: SloTarget) -> bool:
    """A successful request whose TTFT and TPOT are within every target that is set (unknown TPOT passes)."""
    if not record.ok:
        return False
    if slo.ttft_s is not None and (record.ttft_s is None or record.ttft_s > slo.ttft_s):
        return False
    return not (slo.tpot_s is not None and record.tpot_s is not None and record.tpot_s > slo.tpot_s)


def _tokens_source(records: Sequence[RequestRecord]) -> str:
    sources = {r.tokens_source for r in records if r.ok}
    if not sources:
        return "none"
    return sources.pop() if len(sources) == 1 else "mixed"


def level_result(
    records: Sequence[RequestRecord], *, mode: str, duration_s: float, slo: SloTarget,
    concurrency: int | None = None, rate_per_s: float | None = None, interrupted: bool = False,
) -> LevelResult:
    """Summarize one level's records (see the module docstring for the definitions)."""
    good = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    kinds = Counter(r.error_kind or "other" for r in failed)
    input_total = sum(r.input_tokens or 0 for r in good)
    output_total = sum(r.output_tokens for r in good)
    per_s = (lambda x: x / duration_s) if duration_s > 0 else (lambda x: None)
    num_good_slo = sum(1 for r in good if meets_slo(r, slo))
    slo_set = slo.ttft_s is not None or slo.tpot_s is not None
    return LevelResult(
        mode=mode, concurrency=concurrency, rate_per_s=rate_per_s, duration_s=duration_s,
        requests_sent=len(records), requests_completed=len(good), errors=len(failed),
        error_kinds=dict(sorted(kinds.items())),
        ttft_s=summarize([r.ttft_s for r in good if r.ttft_s is not None]),
        itl_s=summarize([gap for r in good for gap in r.itl_s]),
        tpot_s=summarize([r.tpot_s for r in good if r.tpot_s is not None]),
        e2e_s=summarize([r.e2e_s for r in good if r.e2e_s is not None]),
        input_tokens_total=input_total, output_tokens_total=output_total,
        input_tokens_per_s=per_s(input_total) if good else None,
        output_tokens_per_s=per_s(output_total) if good else None,
        requests_per_s=per_s(len(good)),
        goodput_requests_per_s=per_s(num_good_slo) if slo_set else None,
        goodput_fraction=(num_good_slo / len(records)) if slo_set and records else None,
        tokens_source=_tokens_source(records), interrupted=interrupted,
    )
