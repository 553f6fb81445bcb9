"""Limits and security settings of the API server (one frozen object, built by ``gpuplan serve`` or a test)."""

from __future__ import annotations

from dataclasses import dataclass

from gpuplan.units import KIB

#: Largest request body accepted (the issue: "request size limits"); a plan with 20 candidates is about 50 KiB.
MAX_BODY_BYTES = 64 * KIB
#: Search-space limits for plan requests over the API (the CLI allows more; a server must not be pinned by one call).
MAX_PLAN_GPUS = 64
MAX_PLAN_NODES = 8
MAX_PLAN_TOP = 20
#: Points in one throughput-vs-concurrency sweep.
MAX_SWEEP_POINTS = 16
#: Requests being answered at once (all endpoints but /health); one more gets 429 with Retry-After.
MAX_IN_FLIGHT = 256
#: Threads for cheap computations (size, catalog): separate from the plan/estimate slots so those cannot starve them.
LIGHT_JOBS = 4
#: A request body must arrive within this many seconds (slow-body clients hold a request slot otherwise).
BODY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ApiSettings:
    """How one server instance behaves.

    ``token``: when set, every request must carry it (``Authorization: Bearer``, ``X-Gpuplan-Token``, the cookie the
    page gets, or ``?token=`` once). ``request_time_limit_s``: wall-clock budget of one computation (plan search,
    sweep, render) before the server answers 503. ``max_parallel_jobs``: computations running at once; one more
    request waits up to ``queue_wait_s`` for a slot, then gets 429.
    """

    token: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    request_time_limit_s: float = 10.0
    max_parallel_jobs: int = 2
    queue_wait_s: float = 2.0
    serve_page: bool = True
    light_jobs: int = LIGHT_JOBS
    max_in_flight: int = MAX_IN_FLIGHT
    body_timeout_s: float = BODY_TIMEOUT_S
    allowed_hosts: tuple[str, ...] | None = None
