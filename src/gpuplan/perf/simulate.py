"""A small discrete-event simulation of continuous batching, for latency percentiles (DESIGN §6).

The engine loop of vLLM/SGLang, simplified: every step admits waiting requests while fewer than ``cap`` run (the KV
capacity / max_num_seqs), then runs one decode token for every request past its prefill plus up to
``prefill_chunk_tokens`` − (decodes) prompt tokens of the oldest requests still prefilling (chunked prefill, decodes
first). The step's duration is :func:`gpuplan.perf.step.step_time` for exactly that mix. Arrivals are Poisson at the
workload's rate (seeded, deterministic) or, for a concurrency, a closed loop of that many clients that send the next
request when one completes. TTFT = end of the step that finishes the prompt − arrival; TPOT = (finish − first token)
/ (output − 1); E2E = finish − arrival.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.memory.kv import resolve_kv_dtype
from gpuplan.memory.weights import resolve_format
from gpuplan.perf.calibration import Calibration, CalibrationSet
from gpuplan.perf.serving import MTP_ACCEPTANCE_FRACTION, _calibration, _capacity, hardware_for
from gpuplan.perf.step import step_time
from gpuplan.perf.tables import model_table
from gpuplan.perf.validation import percentile
from gpuplan.spec import Deployment, Workload

PERCENTILES = (50.0, 90.0, 99.0)
MAX_STEPS = 200_000  # a bound on the simulated steps: an overloaded system stops here instead of running forever


class PercentileRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    ttft_s: float
    tpot_s: float
    e2e_s: float


class SimulationResult(BaseModel):
    """Latency percentiles of ``num_requests`` completed requests and the throughput the simulation saw."""

    model_config = ConfigDict(frozen=True)

    num_requests: int
    percentiles: tuple[float, ...]
    rows: tuple[PercentileRow, ...]
    output_tokens_per_s: float
    truncated: bool  # True when MAX_STEPS was reached before every request completed


@dataclass
class _Req:
    arrival_s: float
    prompt_left: float
    out_left: float
    context: float = 0.0
    first_s: float | None = None
    done_s: float | None = None
    order: int = field(default=0)


def simulate_serving(entry: ModelEntry, dep: Deployment, workload: Workload,
                     calibration: Calibration | CalibrationSet | None = None, *, num_requests: int = 300,
                     seed: int = 0, speculative_tokens: int = 0,
                     speculative_acceptance_fraction: float | None = None) -> SimulationResult:
    """Simulate ``num_requests`` requests of ``workload`` on ``dep`` (module docstring).

    Independent DP replicas (no DP-attention) are simulated as one replica under its share of the load; the
    reported throughput is then scaled back to all replicas.
    """
    replicas = dep.data_parallel_size if not dep.enable_dp_attention else 1
    if replicas > 1:
        one = dep.model_copy(update={"data_parallel_size": 1, "gpu_count": max(1, dep.gpu_count // replicas),
                                     "nodes": max(1, dep.nodes // replicas)})
        part = (workload.model_copy(update={"rate_per_s": workload.rate_per_s / replicas}) if workload.rate_per_s
                else workload.model_copy(update={"concurrency": -(-(workload.concurrency or 1) // replicas)}))
        res = simulate_serving(entry, one, part, calibration, num_requests=num_requests, seed=seed,
                               speculative_tokens=speculative_tokens,
                               speculative_acceptance_fraction=speculative_acceptance_fraction)
        return res.model_copy(update={"output_tokens_per_s": res.output_tokens_per_s * replicas})
    gpu = get_gpu(dep.gpu_id)
    fmt = resolve_format(entry, dep.weight_format)
    kv = resolve_kv_dtype(dep.kv_dtype, dep.engine, entry.arch, compute_capability=gpu.compute_capability)
    cal = _calibration(calibration, "llama.cpp" if dep.engine == "ollama" else dep.engine, gpu)
    p = cal.params
    hw = hardware_for(gpu, dep, fmt)
    tab = model_table(entry.id, fmt, kv, dep.tensor_parallel_size, dep.expert_parallel_size, hw.dp_attention)
    inp, out = float(workload.input_tokens), float(workload.output_tokens)
    cached = inp * workload.prefix_cache_hit_fraction
    cap = _capacity(entry.id, dep, int(inp + out), gpu.id) or 1
    cap = max(1, cap)
    accept = MTP_ACCEPTANCE_FRACTION if speculative_acceptance_fraction is None else speculative_acceptance_fraction
    per_step = sum(accept**i for i in range(speculative_tokens + 1))
    budget = max(p.prefill_chunk_tokens, 1.0)
    rng = random.Random(seed)

    arrivals: list[tuple[float, int]] = []
    clients = 0
    if workload.rate_per_s:
        t_s = 0.0
        for i in range(num_requests):
            t_s += rng.expovariate(workload.rate_per_s)
            arrivals.append((t_s, i))
    else:
        clients = workload.concurrency or 1
        arrivals = [(0.0, i) for i in range(min(clients, num_requests))]
    heapq.heapify(arrivals)
    issued = len(arrivals)
    waiting: list[_Req] = []
    running: list[_Req] = []
    done: list[_Req] = []
    now = 0.0
    steps = 0
    while len(done) < num_requests and steps < MAX_STEPS:
        while arrivals and arrivals[0][0] <= now:
            a_s, i = heapq.heappop(arrivals)
            waiting.append(_Req(a_s, max(inp - cached, 1.0), out, context=cached, order=i))
        while waiting and len(running) < cap:
            running.append(waiting.pop(0))
        if not running:
            if not arrivals:
                break
            now = arrivals[0][0]
            continue
        decoders = [r for r in running if r.prompt_left <= 0]
        left = max(budget - len(decoders), 0.0)
        prefill_tokens = 0.0
        pairs = 0.0
        chunks: list[tuple[_Req, float]] = []
        for r in running:
            if r.prompt_left > 0 and left > 0:
                take = min(r.prompt_left, left)
                chunks.append((r, take))
                left -= take
                prefill_tokens += take
                pairs += take * (r.context + take / 2)
        nd = len(decoders)
        kv_read = sum(r.context for r in running)
        spec = speculative_tokens + 1
        st = step_time(tab, hw, p, fmt, new_tokens=nd * spec + prefill_tokens, num_seqs=len(running),
                       kv_tokens_read=kv_read, attention_pairs=pairs + nd * spec * sum(
                           r.context for r in decoders) / max(nd, 1))
        now += st.total_s
        steps += 1
        for r, take in chunks:
            r.prompt_left -= take
            r.context += take
            if r.prompt_left <= 0:
                r.first_s = now
                r.out_left -= 1
        for r in decoders:
            r.out_left -= per_step
            r.context += per_step
        still = []
        for r in running:
            if r.first_s is not None and r.out_left <= 0:
                r.done_s = now
                done.append(r)
                if clients and issued < num_requests:
                    heapq.heappush(arrivals, (now, issued))
                    issued += 1
            else:
                still.append(r)
        running = still
    return _summarize(done, num_requests, out, steps >= MAX_STEPS)


def _summarize(done: list[_Req], num_requests: int, out: float, truncated: bool) -> SimulationResult:
    ttft = [r.first_s - r.arrival_s for r in done if r.first_s is not None]
    tpot = [(r.done_s - r.first_s) / max(out - 1, 1) for r in done if r.done_s is not None and r.first_s is not None]
    e2e = [r.done_s - r.arrival_s for r in done if r.done_s is not None]
    rows = tuple(PercentileRow(ttft_s=percentile(ttft, q) or 0.0, tpot_s=percentile(tpot, q) or 0.0,
                               e2e_s=percentile(e2e, q) or 0.0) for q in PERCENTILES)
    span = max((r.done_s or 0.0) for r in done) - min(r.arrival_s for r in done) if done else 0.0
    return SimulationResult(num_requests=len(done), percentiles=PERCENTILES, rows=rows,
                            output_tokens_per_s=len(done) * out / span if span > 0 else 0.0, truncated=truncated)
