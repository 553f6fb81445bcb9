"""Load shapes (closed-loop concurrency, open-loop Poisson arrivals) and results written as they arrive.

Closed loop: C workers each send their next request as soon as the previous one ends (vLLM ``--max-concurrency``).
Open loop: arrivals at rate λ with exponential gaps (Poisson process, gap ~ Exp(λ), mean 1/λ), each request sent at its
arrival time whatever is in flight. A level ends after N requests or when the duration is up (in-flight requests
finish). Per-request records go to ``<out>.requests.jsonl`` and the summary to ``<out>`` after every request batch
and level, flushed, so an interrupt loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gpuplan import __version__
from gpuplan.bench.client import Endpoint, normalize_base_url, send_request
from gpuplan.bench.models import BenchConfig, BenchReport, LevelResult, Prediction, RequestRecord
from gpuplan.bench.stats import level_result
from gpuplan.bench.workload import RequestSpec

DEFAULT_REQUESTS_PER_WORKER = 8
MIN_DEFAULT_REQUESTS = 32
CONNECT_TIMEOUT_S = 10.0


def default_num_requests(concurrency: int) -> int:
    """Requests per level when neither --requests nor --duration is given: max(8·C, 32)."""
    return max(DEFAULT_REQUESTS_PER_WORKER * concurrency, MIN_DEFAULT_REQUESTS)


class ResultSink:
    """Writes records (JSONL, one per line, flushed) and the summary (JSON, replaced atomically) as they come."""

    def __init__(self, out_path: str | Path) -> None:
        from gpuplan.safeio import check_target

        if not str(out_path).strip():
            check_target(out_path)  # one sentence for an empty path
        self.out_path = Path(out_path)
        self.requests_path = self.out_path.with_name(self.out_path.name + ".requests.jsonl")
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        # Both targets must be absent or regular files (a device node or a planted link is refused, not replaced).
        check_target(self.out_path)
        check_target(self.requests_path)
        fd = os.open(self.requests_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        self._records = os.fdopen(fd, "w", encoding="utf-8")

    def record(self, record: RequestRecord) -> None:
        self._records.write(record.model_dump_json() + "\n")
        self._records.flush()

    def summary(self, report: BenchReport) -> None:
        """Replace the summary atomically through a temporary file created with O_EXCL (never a fixed name)."""
        from gpuplan.safeio import atomic_write

        atomic_write(self.out_path, json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))

    def close(self) -> None:
        self._records.close()


class BenchRunner:
    """Runs every level of a ``BenchConfig`` against the endpoint and returns the ``BenchReport``."""

    def __init__(
        self, config: BenchConfig, requests: Sequence[RequestSpec], *, prediction: Prediction | None = None,
        sink: ResultSink | None = None, on_record: Callable[[RequestRecord], None] | None = None,
        on_level: Callable[[int, int | None], None] | None = None,
    ) -> None:
        self.config = config
        self.requests = list(requests)
        self.prediction = prediction
        self.sink = sink
        self.on_record = on_record
        self.on_level = on_level
        self.endpoint = Endpoint(normalize_base_url(config.url), config.model, config.api, config.ignore_eos)
        self.results: list[LevelResult] = []
        self.started = datetime.now(UTC).isoformat(timespec="seconds")

    def report(self, complete: bool = False) -> BenchReport:
        return BenchReport(gpuplan_version=__version__, started=self.started, config=self.config,
                           results=tuple(self.results), prediction=self.prediction, complete=complete)

    async def run(self) -> BenchReport:
        levels: list[tuple[str, float]] = [("concurrency", c) for c in self.config.concurrency_levels]
        if self.config.rate_per_s is not None:
            levels.append(("rate", self.config.rate_per_s))
        for index, (mode, value) in enumerate(levels):
            await self._run_level(index, mode, value)
        final = self.report(complete=True)
        if self.sink:
            self.sink.summary(final)
        return final

    def _num_requests(self, mode: str, value: float) -> int | None:
        if self.config.num_requests is not None:
            return self.config.num_requests
        if self.config.duration_s is not None:
            return None
        return default_num_requests(int(value)) if mode == "concurrency" else MIN_DEFAULT_REQUESTS

    def _client(self, max_connections: int | None) -> httpx.AsyncClient:
        timeout = httpx.Timeout(self.config.stall_timeout_s, connect=CONNECT_TIMEOUT_S)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=not self.endpoint.is_loopback)

    async def _run_level(self, index: int, mode: str, value: float) -> None:
        total = self._num_requests(mode, value)
        if self.on_level:
            self.on_level(index, total)
        records: list[RequestRecord] = []
        start_s = time.perf_counter()
        deadline_s = start_s + self.config.duration_s if self.config.duration_s is not None else None

        def accept(record: RequestRecord) -> None:
            records.append(record)
            if self.sink:
                self.sink.record(record)
            if self.on_record:
                self.on_record(record)

        interrupted = False
        try:
            async with self._client(int(value) if mode == "concurrency" else None) as client:
                if mode == "concurrency":
                    await self._closed_loop(client, index, int(value), total, deadline_s, start_s, accept)
                else:
                    await self._open_loop(client, index, value, total, deadline_s, start_s, accept)
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            duration_s = time.perf_counter() - start_s
            self.results.append(level_result(
                records, mode=mode, duration_s=duration_s, slo=self.config.slo,
                concurrency=int(value) if mode == "concurrency" else None,
                rate_per_s=value if mode == "rate" else None, interrupted=interrupted,
            ))
            if self.sink:
                self.sink.summary(self.report(complete=False))

    def _spec(self, i: int) -> RequestSpec:
        return self.requests[i % len(self.requests)]

    async def _closed_loop(self, client, index, concurrency, total, deadline_s, start_s, accept) -> None:
        counter = iter(range(total if total is not None else 2**62))

        async def worker() -> None:
            for i in counter:
                if deadline_s is not None and time.perf_counter() >= deadline_s:
                    return
                accept(await send_request(client, self.endpoint, self._spec(i), level_index=index, request_index=i,
                                          level_start_s=start_s))

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def _open_loop(self, client, index, rate_per_s, total, deadline_s, start_s, accept) -> None:
        rng = random.Random(self.config.seed)
        tasks: list[asyncio.Task] = []
        arrival_s = 0.0
        i = 0

        async def one(i: int) -> None:
            accept(await send_request(client, self.endpoint, self._spec(i), level_index=index, request_index=i,
                                      level_start_s=start_s))

        try:
            while total is None or i < total:
                arrival_s += rng.expovariate(rate_per_s)
                if deadline_s is not None and start_s + arrival_s >= deadline_s:
                    break
                await asyncio.sleep(max(0.0, start_s + arrival_s - time.perf_counter()))
                tasks.append(asyncio.create_task(one(i)))
                i += 1
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
