"""The plan file (``plan.yaml``): a versioned schema that ``plan`` writes and ``cost``, ``render`` and ``bench`` read.

The summaries here are plain data (filled by the plan layer from the memory, perf and cost results), so the
layers below ``plan`` (``artifacts`` renders from a plan) can read a plan without importing the plan layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpuplan.errors import InvalidInputError, MalformedFileError
from gpuplan.spec import Slo, TrainingJob, Workload

PLAN_SCHEMA_VERSION = 1
MAX_PLAN_FILE_BYTES = 8 * 2**20


class MemorySummary(BaseModel):
    """Per-GPU memory of a candidate (bytes)."""

    model_config = ConfigDict(frozen=True)

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


class PerfSummary(BaseModel):
    """Predicted speed of a candidate (seconds, tokens/s)."""

    model_config = ConfigDict(frozen=True)

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
    train_tokens_per_s: float | None = None
    train_days: float | None = None


class CostSummary(BaseModel):
    """Money of a candidate (USD; ``None`` = unknown price)."""

    model_config = ConfigDict(frozen=True)

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


class Candidate(BaseModel):
    """One deployment option with the numbers behind it and the exact engine arguments it assumes."""

    model_config = ConfigDict(frozen=True)

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
    engine_args: dict[str, Any] = Field(default_factory=dict)
    memory: MemorySummary
    perf: PerfSummary
    cost: CostSummary = Field(default_factory=CostSummary)
    score: float | None = None
    notes: tuple[str, ...] = ()


class PlanModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None = None
    params_total: int
    params_active: int
    context_length: int | None = None
    checkpoint_bytes: int | None = None
    checkpoint_format: str | None = None


class Rejection(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    count: int
    nearest: str | None = None


class PlanFile(BaseModel):
    """A saved plan: the model, the request, ranked candidates (first = chosen), frontier, rejections, assumptions."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = PLAN_SCHEMA_VERSION
    gpuplan_version: str = ""
    created: str = ""
    model: PlanModel
    task: str = "serve"
    workload: Workload = Field(default_factory=Workload)
    slo: Slo = Field(default_factory=Slo)
    training: TrainingJob | None = None
    objective: str = "tco"
    currency: str = "USD"
    candidates: tuple[Candidate, ...] = ()
    pareto: tuple[int, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    assumptions: tuple[str, ...] = ()
    search: dict[str, float] = Field(default_factory=dict)

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
        from gpuplan.planbounds import check_model_fields

        try:
            plan = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise MalformedFileError("planfile.invalid", path=source, field=where, detail=first.get("msg", "")) from None
        check_model_fields(plan)  # every field bounded, text one line, ids and engine flags what they claim to be
        return plan

    @classmethod
    def load(cls, path: str | Path) -> PlanFile:
        from gpuplan.safeio import read_text

        p = Path(path)
        if "\x00" in str(p) or not p.exists():
            raise InvalidInputError("planfile.missing", path=str(p))
        return cls.from_text(read_text(p, MAX_PLAN_FILE_BYTES), source=str(p))
