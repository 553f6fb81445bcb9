"""The plan file (``plan.yaml``): a versioned schema that ``plan`` writes and ``cost``, ``render`` and ``bench`` read.

The summaries here are plain data (filled by the plan layer from the memory, perf and cost results), so the
layers below ``plan`` (``artifacts`` renders from a plan) can read a plan without importing the plan layer.

Frozen dataclasses (:class:`gpuplan.records.Record`), not pydantic models: writing a plan (``gpuplan plan``, whose
whole process must stay within 0.3 s of CPU, issue 16) needs no pydantic. Reading one from a user's file still checks
every field: :meth:`PlanFile.model_validate` has pydantic validate the annotations (nested records included, unknown
keys ignored as before), then each record's bounds, then ``planbounds.check_model_fields`` bounds the free text.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from gpuplan.catalog.checkpoints import CheckpointRef
from gpuplan.errors import GpuplanError, InvalidInputError, MalformedFileError
from gpuplan.records import Record, record
from gpuplan.spec import Slo, TrainingJob, Workload

PLAN_SCHEMA_VERSION = 1
MAX_PLAN_FILE_BYTES = 8 * 2**20


@record
class MemorySummary(Record):
    """Per-GPU memory of a candidate (bytes)."""

    weights_bytes: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int
    per_gpu_total_bytes: int
    capacity_bytes: int
    budget_bytes: int
    kv_cache_bytes_per_token: int
    max_concurrency: int | None
    max_context_tokens: int | None = None
    host_bytes: int = 0
    binding: str = "kv_cache"


@record
class PerfSummary(Record):
    """Predicted speed of a candidate (seconds, tokens/s)."""

    ttft_s: float | None
    tpot_s: float | None
    output_tokens_per_s: float | None
    input_tokens_per_s: float | None = None
    requests_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    max_concurrency: int | None = None
    concurrency: int | None = None
    bottleneck: str | None = None
    calibration: str | None = None
    uncertainty_fraction: float | None = None
    calibration_rows: int | None = None   # measured rows behind the calibration cell (0: priors only, band doubled)
    train_tokens_per_s: float | None = None
    train_days: float | None = None


@record
class ExchangeRate(Record):
    """The dated USD→CNY rate a plan's money was converted with."""

    cny_per_usd: float
    date: str
    source: str


@record
class BomItem(Record):
    """One line of a bill of materials: what, how many, the price in the plan's currency (``None`` = unknown) and
    the rule that sized it. ``included_in`` names the line whose price already covers this one (e.g. RAM in the
    server's price), so a ``None`` price there means "no separate price", not "unknown"."""

    kind: str
    description: str
    quantity: float
    unit: str = "pcs"
    unit_price: float | None = None
    total: float | None = None
    included_in: str | None = None
    rule: str = ""
    source: str | None = None


@record
class CostSummary(Record):
    """Money of a candidate: the ``*_usd`` fields for machines, and the same amounts in ``currency`` (``capex``,
    ``tco``, ...) converted with ``exchange_rate``; ``None`` = unknown price (``missing`` names what)."""

    capex_usd: float | None = None
    opex_usd_per_year: float | None = None
    tco_usd: float | None = None
    years: float = 3
    cloud_usd_per_hour: float | None = None
    cloud_provider: str | None = None
    cloud_usd_total: float | None = None
    usd_per_million_output_tokens: float | None = None
    usd_per_million_input_tokens: float | None = None
    break_even_months: float | None = None
    unknowns: tuple[str, ...] = ()
    currency: str = "USD"
    capex: float | None = None
    opex_per_year: float | None = None
    tco: float | None = None
    cloud_per_hour: float | None = None
    cloud_total: float | None = None
    per_million_output_tokens: float | None = None
    per_million_input_tokens: float | None = None
    exchange_rate: ExchangeRate | None = None
    priced: bool | None = None
    missing: tuple[str, ...] = ()
    purchase: str | None = None
    utilization_fraction: float | None = None
    electricity_region: str | None = None
    cloud_instance: str | None = None
    cloud_gpus_per_instance: int | None = None


@record(kw_only=True)
class DisaggSummary(Record):
    """A prefill/decode-disaggregated layout (xPyD): two pools, each DP-attention with EP over all its GPUs."""

    prefill_nodes: int
    decode_nodes: int
    gpus_per_node: int
    prefill_expert_parallel_size: int
    decode_expert_parallel_size: int
    prefill_tokens_per_gpu: int
    decode_batch_per_gpu: int
    speculative_tokens: int = 0
    prefill_two_batch_overlap: bool = True
    decode_two_batch_overlap: bool = True
    kv_transfer_s: float
    prefill_tokens_per_s_per_node: float
    decode_tokens_per_s_per_node: float
    bottleneck_pool: str

    @property
    def label(self) -> str:
        return f"{self.prefill_nodes}P{self.decode_nodes}D"


@record
class CapacityResult(Record):
    """Capacity mode: the most concurrent users the chosen candidate serves within the SLO, and what limits it."""

    users: int
    layout: str                  # "aggregated" or "xPyD" (e.g. "1P1D")
    limit: str                   # slo_ttft | slo_tpot | kv_capacity | prefill | engine_max
    ttft_s: float | None
    tpot_s: float | None
    output_tokens_per_s: float | None


@record(kw_only=True)
class Candidate(Record):
    """One deployment option with the numbers behind it and the exact engine arguments it assumes."""

    gpu: str
    gpu_name: str | None = None
    gpu_count: int
    nodes: int = 1
    gpus_per_node: int = 1
    engine: str
    weight_format: str
    kv_dtype: str
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    expert_parallel_size: int = 1
    enable_dp_attention: bool = False
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    gpu_memory_utilization: float | None = None
    offload: str = "none"
    gpu_layers: int | None = None
    cpu_moe_layers: int | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)
    #: The artifact this candidate loads (repository, GGUF file/tag, revision, the engine's quantization flag);
    #: None in plans written before checkpoints were recorded (render then loads the release repository).
    checkpoint: CheckpointRef | None = None
    #: Quality tier of the weight format vs the released weights: released | 8bit | 4bit | any.
    quality: str | None = None
    memory: MemorySummary
    perf: PerfSummary
    cost: CostSummary = field(default_factory=CostSummary)
    bill_of_materials: tuple[BomItem, ...] = ()
    score: float | None = None
    notes: tuple[str, ...] = ()
    capacity_users: int | None = None          # capacity mode: most concurrent users within the SLO
    capacity_limit: str | None = None          # what stops one more user (CapacityResult.limit)
    disaggregation: DisaggSummary | None = None


@record(kw_only=True)
class PlanModel(Record):
    id: str
    name: str | None = None
    params_total: int
    params_active: int
    context_length: int | None = None
    checkpoint_bytes: int | None = None
    checkpoint_format: str | None = None


@record
class Rejection(Record):
    reason: str
    count: int
    nearest: str | None = None


@record(kw_only=True)
class PlanFile(Record):
    """A saved plan: the model, the request, ranked candidates (first = chosen), frontier, rejections, assumptions."""

    schema_version: int = PLAN_SCHEMA_VERSION
    gpuplan_version: str = ""
    created: str = ""
    model: PlanModel
    task: str = "serve"
    workload: Workload = field(default_factory=Workload)
    slo: Slo = field(default_factory=Slo)
    training: TrainingJob | None = None
    objective: str = "tco"
    currency: str = "USD"
    #: Lowest quality the search was allowed to choose (released | 8bit | 4bit | any).
    quality: str = "released"
    candidates: tuple[Candidate, ...] = ()
    #: The best candidate at a lower quality than allowed, when it beats the first candidate on the objective or
    #: when nothing fits at the allowed quality (None otherwise).
    lower_quality: Candidate | None = None
    pareto: tuple[int, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    assumptions: tuple[str, ...] = ()
    search: dict[str, float] = field(default_factory=dict)
    # Plans on owned hardware (``--have``): the owned GPUs and the mixed-fleet options (a router over one replica per
    # GPU type; llama.cpp split over all cards), each with its feasibility and numbers (gpuplan.plan.owned).
    owned: dict[str, Any] | None = None
    capacity: CapacityResult | None = None

    @property
    def chosen(self) -> Candidate:
        if not self.candidates:
            raise InvalidInputError("planfile.no_candidates")
        return self.candidates[0]

    def to_yaml(self) -> str:
        import yaml

        header = f"# gpuplan plan file, schema version {self.schema_version}. Read by: gpuplan cost | render | bench --plan\n"
        return header + yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    def dump(self, path: str | Path) -> Path:
        """Write the plan atomically: a failed write never truncates an existing plan file."""
        from gpuplan.safeio import atomic_write

        return atomic_write(path, self.to_yaml())

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> PlanFile:
        import yaml

        from gpuplan.safeio import load_yaml

        try:
            data = load_yaml(text, source)
        except yaml.YAMLError as exc:
            raise MalformedFileError("planfile.not_yaml", path=source, detail=str(exc).splitlines()[0]) from None
        if not isinstance(data, dict):
            raise MalformedFileError("planfile.not_plan", path=source)
        version = data.get("schema_version")
        if version != PLAN_SCHEMA_VERSION:
            raise MalformedFileError("planfile.bad_version", path=source, given=str(version),
                                     allowed=str(PLAN_SCHEMA_VERSION))
        from pydantic import ValidationError

        from gpuplan.planbounds import check_model_fields

        try:
            plan = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            detail = first.get("msg", "")
            inner = (first.get("ctx") or {}).get("error")
            if isinstance(inner, GpuplanError):  # a record's bound: its own sentence, not "Value error, …."
                detail = str(inner).rstrip(".。")
            raise MalformedFileError("planfile.invalid", path=source, field=where, detail=detail) from None
        check_model_fields(plan)  # every field bounded, text one line, ids and engine flags what they claim to be
        return plan

    @classmethod
    def model_validate(cls, data: Any) -> PlanFile:
        """A plan from parsed YAML/JSON, every field's type checked by pydantic from the annotations (nested records
        converted, then each one's bounds checked by its ``__post_init__``); a pydantic ``ValidationError`` if not."""
        return _plan_adapter().validate_python(data)

    @classmethod
    def load(cls, path: str | Path) -> PlanFile:
        from gpuplan.safeio import read_text

        p = Path(path)
        if "\x00" in str(p) or not p.exists():
            raise InvalidInputError("planfile.missing", path=str(p))
        return cls.from_text(read_text(p, MAX_PLAN_FILE_BYTES), source=str(p))


def _plan_adapter():
    """pydantic's validator for PlanFile, built on the first plan file read (writing a plan needs no pydantic)."""
    from gpuplan.records import pydantic_adapter

    return pydantic_adapter(PlanFile)
