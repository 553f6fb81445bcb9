"""Result objects of ``gpuplan bench`` (pydantic v2; the same objects feed the table, ``--json`` and ``--out``).

JSON keys carry their units (``ttft_s``, ``output_tokens_per_s``). ``None`` means unknown (e.g. no request succeeded).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ErrorKind = Literal[
    "http_4xx",       # the server answered 4xx (bad model name, bad request)
    "http_5xx",       # the server answered 5xx
    "connect",        # no TCP connection (server down, wrong port)
    "timeout",        # no byte for longer than the stall timeout (stall before the first token or mid-stream)
    "disconnect",     # the connection broke mid-response (server died mid-stream)
    "malformed_sse",  # a `data:` line that is not JSON, or JSON without the OpenAI shape
    "truncated",      # the stream ended cleanly but without [DONE] or a finish_reason
    "no_tokens",      # the stream finished without a single content token
    "stream_error",   # the server sent an {"error": ...} object inside the stream
    "other",          # anything else, with its message kept in the record
]
ERROR_KINDS: tuple[str, ...] = ErrorKind.__args__  # type: ignore[attr-defined]


class RequestRecord(BaseModel):
    """One request as the client saw it; times are seconds from the request being sent (monotonic clock)."""

    model_config = ConfigDict(frozen=True)

    level_index: int
    request_index: int
    start_s: float = Field(description="send time, seconds since the start of the level")
    ok: bool
    error_kind: str | None = None
    error_detail: str | None = None
    http_status: int | None = None
    ttft_s: float | None = None
    e2e_s: float | None = None
    tpot_s: float | None = None
    itl_s: tuple[float, ...] = ()
    input_tokens: int | None = None
    output_tokens: int = 0
    num_content_chunks: int = 0
    tokens_source: Literal["usage", "chunks"] = "chunks"
    requested_output_tokens: int | None = None


class Percentiles(BaseModel):
    """p50/p90/p99 (linear interpolation between closest ranks, as numpy's default) and the mean; seconds."""

    model_config = ConfigDict(frozen=True)

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None
    count: int = 0


class SloTarget(BaseModel):
    """Latency targets that define goodput: a request is good when it met every target that is set."""

    model_config = ConfigDict(frozen=True)

    ttft_s: float | None = None
    tpot_s: float | None = None


class Prediction(BaseModel):
    """The plan's predicted numbers for its chosen candidate (``plan.yaml`` → ``candidates[0].perf``)."""

    model_config = ConfigDict(frozen=True)

    plan_path: str
    candidate: str
    concurrency: int | None = None
    ttft_s: float | None = None
    tpot_s: float | None = None
    output_tokens_per_s: float | None = None


class LevelResult(BaseModel):
    """The summary of one concurrency level or one arrival rate."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["concurrency", "rate"]
    concurrency: int | None = None
    rate_per_s: float | None = None
    duration_s: float
    requests_sent: int
    requests_completed: int
    errors: int
    error_kinds: dict[str, int] = Field(default_factory=dict)
    ttft_s: Percentiles
    itl_s: Percentiles
    tpot_s: Percentiles
    e2e_s: Percentiles
    input_tokens_total: int
    output_tokens_total: int
    input_tokens_per_s: float | None = None
    output_tokens_per_s: float | None = None
    requests_per_s: float | None = None
    goodput_requests_per_s: float | None = None
    goodput_fraction: float | None = None
    tokens_source: Literal["usage", "chunks", "mixed", "none"] = "none"
    interrupted: bool = False


class BenchConfig(BaseModel):
    """What was asked: the endpoint, the load shape and the request shape."""

    model_config = ConfigDict(frozen=True)

    url: str
    model: str
    api: Literal["chat", "completions"] = "chat"
    concurrency_levels: tuple[int, ...] = ()
    rate_per_s: float | None = None
    input_tokens: int = 256
    output_tokens: int = 128
    dataset: str | None = None
    num_requests: int | None = None
    duration_s: float | None = None
    seed: int = 0
    stall_timeout_s: float = 60.0
    ignore_eos: bool = False
    slo: SloTarget = Field(default_factory=SloTarget)


class BenchReport(BaseModel):
    """What ``bench --json`` prints and ``--out`` holds: the config, one result per level, the plan's prediction."""

    model_config = ConfigDict(frozen=True)

    gpuplan_version: str = ""
    started: str = ""
    config: BenchConfig
    results: tuple[LevelResult, ...] = ()
    prediction: Prediction | None = None
    complete: bool = False
