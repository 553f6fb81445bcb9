"""Request and response models of the REST API.

Field names are the CLI's flag names with '-' → '_' (``--tpot-ms`` → ``tpot_ms``); units as the CLI takes them (ms
at the edge, converted once by the same ``build_request`` the CLI uses). Every field has bounds, so a request
cannot ask for an unbounded search; responses reuse the core's models, which are what ``--json`` prints.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from gpuplan.api.settings import MAX_PLAN_GPUS, MAX_PLAN_NODES, MAX_PLAN_TOP, MAX_SWEEP_POINTS
from gpuplan.perf import ServingEstimate
from gpuplan.perf.serving import OperationShare
from gpuplan.planfile import Candidate, PlanFile
from gpuplan.records import pydantic_adapter
from gpuplan.spec import Deployment, Workload

# The core's records' schemas once for the bodies and responses that hold them (pydantic regenerates a dataclass's
# schema in every model otherwise); the ones held in several places first.
for _record in (Workload, Deployment, OperationShare, Candidate, PlanFile):
    pydantic_adapter(_record)

#: A catalog id in a list (GPU, engine, weight format, render target).
Id = Annotated[str, Field(min_length=1, max_length=64)]
#: One concurrency of a sweep.
Concurrency = Annotated[int, Field(ge=1, le=100_000)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SizeRequest(_Request):
    """``gpuplan size`` as JSON (same flags, same defaults)."""

    model: str = Field(min_length=1, max_length=200, description=(
        "Catalog id or alias (e.g. deepseek-r1), a server-side directory with config.json or .gguf file, or a Hugging "
        "Face id already in the server's cache."))
    weights: str = Field("native", min_length=1, max_length=64)
    kv_dtype: str = Field("auto", min_length=1, max_length=32)
    context: int | None = Field(None, ge=1, le=10_000_000, description="Tokens per sequence (prompt + output).")
    concurrency: int = Field(1, ge=1, le=100_000)
    gpu: str | None = Field(None, min_length=1, max_length=64)
    gpus: int = Field(1, ge=1, le=MAX_PLAN_GPUS * MAX_PLAN_NODES)
    tensor_parallel_size: int | None = Field(None, ge=1, le=512)
    pipeline_parallel_size: int = Field(1, ge=1, le=64)
    expert_parallel_size: int = Field(1, ge=1, le=512)
    dp_attention: bool = False
    engine: str | None = Field(None, min_length=1, max_length=32,
                               description="Serving engine; default: the first that runs on the GPU's vendor.")
    gpu_memory_utilization: float | None = Field(None, ge=0.05, le=1.0)
    task: str = Field("serve", min_length=1, max_length=16)
    recompute: str = Field("auto", min_length=1, max_length=16,
                           description="Activation recomputation: auto (as plan), none, selective or full.")
    zero: int = Field(0, ge=0, le=3)
    offload: str = Field("none", min_length=1, max_length=16)
    seq_len: int = Field(4096, ge=16, le=1_048_576)
    micro_batch_size: int = Field(1, ge=1, le=4096)
    lora_rank: int = Field(16, ge=1, le=4096)


class FitRequest(_Request):
    """``gpuplan fit`` as JSON: what runs on one machine, with CPU offload into its RAM."""

    gpu: Id
    gpus: int = Field(1, ge=1, le=64)
    ram_gib: float | None = Field(None, ge=1, le=16384, description="Host RAM in GiB (counts CPU offload).")
    family: str | None = Field(None, min_length=1, max_length=64)
    context: int = Field(4096, ge=1, le=10_000_000)
    quality: Literal["released", "8bit", "4bit", "any"] = Field(
        "4bit", description="Lowest weight quality allowed (fit defaults to 4bit, the GGUF files people run).")


class EstimateRequest(_Request):
    """``gpuplan estimate`` as JSON (same flags), plus ``sweep``: concurrencies for a throughput/latency curve.

    ``data_parallel_size`` > 1 without ``dp_attention`` means that many engine replicas behind a load balancer
    (users split evenly, throughput adds up), as in ``estimate --dp`` and in plan candidates.
    """

    model: str = Field(min_length=1, max_length=200)
    gpu: str = Field(min_length=1, max_length=64)
    gpus: int = Field(1, ge=1, le=MAX_PLAN_GPUS * MAX_PLAN_NODES)
    nodes: int = Field(1, ge=1, le=MAX_PLAN_NODES)
    tensor_parallel_size: int | None = Field(None, ge=1, le=512)
    pipeline_parallel_size: int = Field(1, ge=1, le=64)
    expert_parallel_size: int = Field(1, ge=1, le=512)
    data_parallel_size: int = Field(1, ge=1, le=512)
    dp_attention: bool = False
    engine: str | None = Field(None, min_length=1, max_length=32,
                               description="Serving engine; default: the first that runs on the GPU's vendor.")
    weights: str = Field("native", min_length=1, max_length=64)
    kv_dtype: str = Field("auto", min_length=1, max_length=32)
    input_tokens: int = Field(2000, ge=1, le=1_000_000)
    output_tokens: int = Field(500, ge=1, le=100_000)
    concurrency: int | None = Field(None, ge=1, le=100_000)
    rate: float | None = Field(None, ge=0.0001, le=100_000, description="Arrival rate, requests per second.")
    prefix_cache_hit: float = Field(0.0, ge=0.0, le=0.99)
    speculative_tokens: int = Field(0, ge=0, le=16)
    acceptance: float | None = Field(None, ge=0.0, le=1.0)
    sweep: list[Concurrency] = Field(default_factory=list, max_length=MAX_SWEEP_POINTS,
                             description="Concurrencies to estimate as well (throughput/latency curve).")


class SweepPoint(BaseModel):
    """One point of the throughput/latency curve (whole deployment: all replicas); ``error`` when not predictable."""

    model_config = ConfigDict(frozen=True)

    concurrency: int
    ttft_s: float | None = None
    tpot_s: float | None = None
    e2e_s: float | None = None
    output_tokens_per_s: float | None = None
    requests_per_s: float | None = None
    max_concurrency: int | None = None
    error: str | None = None


def _model_of(record: type, name: str, doc: str, **extra: Any) -> type[BaseModel]:
    """A frozen pydantic model with a core record's fields (in order, with their defaults), then ``extra``: the core's
    results are dataclasses (gpuplan.records), and a response that adds fields to one is a model of its own."""
    hints = get_type_hints(record)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = ...
        fields[f.name] = (hints[f.name], default)
    return create_model(name, __doc__=doc, __config__=ConfigDict(frozen=True), **fields, **extra)


EstimateResponse = _model_of(
    ServingEstimate, "EstimateResponse",
    "What ``estimate --json`` prints (the ServingEstimate, the bottleneck in words, the inputs), plus the sweep.",
    bottleneck_sentence=(str, ...), model=(str, ...), deployment=(Deployment, ...), workload=(Workload, ...),
    sweep=(tuple[SweepPoint, ...], ()))


class PlanRequest(_Request):
    """``gpuplan plan`` as JSON (same flags; ``max_gpus`` ≤ 64 and ``max_nodes`` ≤ 8 over the API)."""

    model: str = Field(min_length=1, max_length=200)
    users: int | None = Field(None, ge=1, le=100_000)
    rate: float | None = Field(None, ge=0.0001, le=100_000)
    input_tokens: int | None = Field(None, ge=1, le=1_000_000)
    output_tokens: int | None = Field(None, ge=1, le=100_000)
    ttft_ms: float | None = Field(None, ge=1, le=3_600_000)
    tpot_ms: float | None = Field(None, ge=0.1, le=60_000)
    gpu: list[Id] = Field(default_factory=list, max_length=32)
    exclude_gpu: list[Id] = Field(default_factory=list, max_length=64)
    china_only: bool = False
    max_gpus: int | None = Field(None, ge=1, le=MAX_PLAN_GPUS)
    max_nodes: int | None = Field(None, ge=1, le=MAX_PLAN_NODES)
    gpus: int | None = Field(None, ge=1, le=MAX_PLAN_GPUS, description="Exactly this many GPUs (capacity mode: "
                             "without users/rate and with ttft_ms/tpot_ms the plan reports the most users served).")
    budget_usd: float | None = Field(None, ge=1, le=1e12)
    budget_cny: float | None = Field(None, ge=1, le=1e13)
    currency: Literal["USD", "CNY"] | None = Field(
        None, description="Display currency (default: the budget's currency, CNY for lang=zh, else USD).")
    utilization: float | None = Field(None, gt=0, le=1, description="Busy share of the time for cost per token.")
    market: Literal["new", "used", "china"] | None = Field(None, description="GPU purchase prices to use.")
    electricity: str | None = Field(None, min_length=1, max_length=64, description="Electricity tariff region.")
    objective: str | None = Field(None, min_length=1, max_length=32)
    engine: list[Id] = Field(default_factory=list, max_length=8)
    weights: list[Id] = Field(default_factory=list, max_length=16)
    quality: Literal["released", "8bit", "4bit", "any"] | None = Field(
        None, description="Lowest weight quality allowed (default: released; the personal preset: 4bit).")
    self_quantize: bool = Field(False, description="Allow formats made by a rendered quantization step.")
    exhaustive: bool = Field(False, description="Estimate every candidate, also those that cost more than the top "
                             "shown (slower; every rejection under its own reason instead of 'not_evaluated').")
    task: str | None = Field(None, min_length=1, max_length=16)
    train_tokens: float | None = Field(None, gt=0, le=1e15, description="Tokens in the training data set.")
    epochs: float = Field(1.0, gt=0, le=1000, description="Passes over the training data set.")
    preset: str | None = Field(None, min_length=1, max_length=32)
    years: float = Field(3, ge=0.1, le=20)
    top: int = Field(10, ge=1, le=MAX_PLAN_TOP)
    have: list[str] = Field(default_factory=list, max_length=16,
                            description="GPUs you own, e.g. ['2xrtx-4090', '1xrtx-3090']: planned with zero capex.")


class PlanBody(_Request):
    """A plan (``plan --json`` / plan.yaml content) and which candidate to use."""

    plan: PlanFile
    candidate: int = Field(0, ge=0, le=199)


class CostRequest(PlanBody):
    """``gpuplan cost PLAN`` as JSON (a price file cannot be sent: the server reads no user files)."""

    years: float = Field(3.0, ge=0.1, le=20)
    currency: Literal["USD", "CNY"] | None = Field(None, description="Default: the plan's currency.")
    market: Literal["new", "used", "china"] | None = None
    provider: str | None = Field(None, min_length=1, max_length=64)
    term: Literal["on-demand", "reserved-1y"] = "on-demand"
    electricity: str | None = Field(None, min_length=1, max_length=64)
    usd_per_kwh: float | None = Field(None, ge=0, le=10)
    cny_per_kwh: float | None = Field(None, ge=0, le=100)
    pue: float | None = Field(None, ge=1, le=5)
    ops_fraction: float | None = Field(None, ge=0, le=1)
    gpu_price_usd: float | None = Field(None, ge=0, le=10_000_000)
    used: bool = False
    gpu_tdp_watts: float | None = Field(None, gt=0, le=10_000)
    load: float = Field(0.7, ge=0, le=1)
    utilization: float | None = Field(None, gt=0, le=1, description="Default: the plan's (0.5).")
    node_class: str | None = Field(None, min_length=1, max_length=64)
    network: str | None = Field(None, min_length=1, max_length=64)
    have: list[str] = Field(default_factory=list, max_length=16,
                            description="GPUs you own, e.g. ['2xrtx-4090']: those of the candidate's type (and their "
                                        "servers) have no capex; power and operations stay. Default: the plan's own.")


class RenderRequest(PlanBody):
    """``gpuplan render PLAN --target ...`` as JSON."""

    targets: list[Id] = Field(default_factory=lambda: ["all"], min_length=1, max_length=12)


class RenderedFileOut(BaseModel):
    """One file as in ``render --json`` (path relative to the output folder, kind, bytes) with its content."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: str
    bytes: int
    content: str


class RenderResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: tuple[RenderedFileOut, ...]


class ValidateRequest(_Request):
    """``gpuplan validate --dataset FILE`` with the CSV text in the body (normalized format)."""

    dataset_csv: str = Field(min_length=1, max_length=60_000)
    worst: int = Field(10, ge=0, le=100)


class MessagesResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    lang: str
    messages: dict[str, str]


class HealthResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: str
    version: str
    token_required: bool


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: one sentence in the request's language."""

    detail: str
