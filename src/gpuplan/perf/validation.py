"""``gpuplan validate``: predict every row of a measured dataset and report the error (DESIGN §10).

The dataset format is ``shared/calibration/README.md``'s normalized CSV. Each row becomes a Deployment and a Workload
(or a TrainingJob) and is predicted with the shipped calibration; a row that cannot be predicted (unknown model, GPU,
engine, metric) is kept with its reason and counts against coverage. Error = |predicted − measured| / measured.

Held-out rows: the rows ``scripts/fit_calibration.py`` never fits on are chosen by :func:`is_heldout` (a documented,
deterministic rule) so that the report can show the error on data the fit did not see.

Optional columns beyond the shared format: ``data_parallel_size`` and ``enable_dp_attention`` (SGLang
``--dp-size N --enable-dp-attention``). Conditions a source states for a row of a shared file that has no such column
are shipped in ``catalog/data/dataset_conditions.toml``, each with its quote, and applied to the row whose file name,
id, model, engine and value all match.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from gpuplan.errors import GpuplanError, MalformedFileError
from gpuplan.perf.calibration import Calibration, CalibrationSet

REQUIRED_COLUMNS = ("id", "task", "model", "weight_format", "gpu", "gpu_count", "engine", "batch", "input_tokens",
                    "output_tokens", "metric", "value")
SPEED_METRICS = ("decode_tokens_per_s", "prefill_tokens_per_s", "output_tokens_per_s")
# Every speed or latency metric (the per-engine and per-family tables group these).
TIMING_METRICS = SPEED_METRICS + ("ttft_s", "itl_s")
HELDOUT_RULE = ("A row is held out when the integer in its id (M137 → 137) is divisible by 4: every fourth id, "
                "independent of file order, never used by scripts/fit_calibration.py.")
MAX_ROWS = 100_000


class DatasetRow(BaseModel):
    """One measured row, as read from the CSV (empty cells → None)."""

    model_config = ConfigDict(frozen=True)

    id: str
    task: str
    model: str
    weight_format: str
    kv_dtype: str | None = None
    gpu: str | None = None
    gpu_count: int = 1
    engine: str
    tensor_parallel_size: int | None = None
    batch: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    metric: str
    value: float
    source_id: str | None = None
    host: str | None = None              # host catalog id (CPU+GPU hybrid rows)
    engine_version: str | None = None    # as the source states it ("0.5.6.post2", "b7315", "vllm-ascend 0.9.1")
    dataset: str = ""
    data_parallel_size: int | None = None   # SGLang --dp-size with --enable-dp-attention (attention split over DP)
    enable_dp_attention: bool = False


class RowResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    dataset: str
    metric: str
    model: str
    gpu: str | None
    engine: str
    measured: float
    predicted: float | None
    ape_fraction: float | None
    heldout: bool
    reason: str | None = None  # why it was not predicted
    task: str = ""
    engine_version: str | None = None
    family: str = "unknown"    # model family group (model_family): deepseek-mla-moe, moe, dense
    aic_predicted: float | None = None     # AIConfigurator's value (gpuplan[measured]) where it has data
    aic_ape_fraction: float | None = None


class MetricSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: int
    predicted: int
    median_ape_fraction: float | None
    p90_ape_fraction: float | None


class MeasuredComparison(BaseModel):
    """gpuplan and AIConfigurator side by side, on the rows AIConfigurator covers (gpuplan[measured])."""

    model_config = ConfigDict(frozen=True)

    rows: int                                   # rows both predicted
    gpuplan_median_ape_fraction: float | None
    aic_median_ape_fraction: float | None
    gpuplan_heldout_median_ape_fraction: float | None
    aic_heldout_median_ape_fraction: float | None


class ValidationReport(BaseModel):
    """What ``gpuplan validate --json`` prints."""

    model_config = ConfigDict(frozen=True)

    datasets: tuple[str, ...]
    rows_total: int
    rows_predicted: int
    coverage_fraction: float
    median_ape_fraction: float | None
    p90_ape_fraction: float | None
    by_metric: dict[str, MetricSummary]
    heldout: MetricSummary
    heldout_speed: MetricSummary
    fitted: MetricSummary
    heldout_rule: str
    by_engine: dict[str, MetricSummary] = {}          # "sglang 0.5.3": speed rows of that engine and version
    by_family: dict[str, MetricSummary] = {}          # speed rows per model family
    heldout_by_family: dict[str, MetricSummary] = {}  # held-out speed rows per model family ("moe serving" too)
    measured: MeasuredComparison | None = None        # present when aiconfigurator-core is installed
    worst: tuple[RowResult, ...]
    unpredicted: tuple[RowResult, ...]
    rows: tuple[RowResult, ...]


def is_heldout(row_id: str) -> bool:
    """The held-out rule (``HELDOUT_RULE``): the id's number is divisible by 4."""
    digits = "".join(ch for ch in row_id if ch.isdigit())
    return bool(digits) and int(digits) % 4 == 0


def _opt_int(text: str | None, column: str, row_id: str, where: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise MalformedFileError("validate.bad_cell", path=where, row=row_id, column=column, value=text) from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise MalformedFileError("validate.bad_cell", path=where, row=row_id, column=column, value=text)
    return int(value)


def parse_dataset(text: str, where: str) -> tuple[DatasetRow, ...]:
    """Rows of a normalized CSV; one clear sentence for a missing column or a bad number."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise MalformedFileError("validate.missing_columns", path=where, missing=", ".join(missing),
                                 required=", ".join(REQUIRED_COLUMNS))
    out = []
    for i, raw in enumerate(reader):
        if i >= MAX_ROWS:
            raise MalformedFileError("validate.too_many_rows", path=where, limit=MAX_ROWS)
        rid = (raw.get("id") or "").strip() or f"row{i + 2}"
        try:
            value = float(raw.get("value") or "")
        except ValueError:
            raise MalformedFileError("validate.bad_cell", path=where, row=rid, column="value",
                                     value=raw.get("value") or "") from None
        if not math.isfinite(value) or value <= 0:
            raise MalformedFileError("validate.bad_cell", path=where, row=rid, column="value", value=str(value))
        out.append(DatasetRow(
            id=rid, task=(raw.get("task") or "").strip(), model=(raw.get("model") or "").strip(),
            weight_format=(raw.get("weight_format") or "").strip(), kv_dtype=(raw.get("kv_dtype") or "").strip() or None,
            gpu=(raw.get("gpu") or "").strip() or None,
            gpu_count=_opt_int(raw.get("gpu_count"), "gpu_count", rid, where) or 1,
            engine=_runtime(raw),
            tensor_parallel_size=_opt_int(raw.get("tensor_parallel_size"), "tensor_parallel_size", rid, where),
            batch=(raw.get("batch") or "").strip() or None,
            input_tokens=_opt_int(raw.get("input_tokens"), "input_tokens", rid, where),
            output_tokens=_opt_int(raw.get("output_tokens"), "output_tokens", rid, where),
            metric=(raw.get("metric") or "").strip(), value=value,
            source_id=(raw.get("source_id") or "").strip() or None, dataset=where,
            host=(raw.get("host") or "").strip().lower() or None,
            engine_version=(raw.get("engine_version") or "").strip() or None,
            data_parallel_size=_opt_int(raw.get("data_parallel_size"), "data_parallel_size", rid, where),
            enable_dp_attention=(raw.get("enable_dp_attention") or "").strip().lower() in ("1", "true", "yes"),
        ))
    return tuple(_with_stated_conditions(r) for r in out)


def _with_stated_conditions(row: DatasetRow) -> DatasetRow:
    """``row`` amended by the conditions its source states (module docstring); unchanged when nothing matches."""
    from gpuplan.catalog.datafiles import shipped_toml

    for c in shipped_toml("dataset_conditions.toml").get("row", ()):
        if (c["dataset"] == Path(row.dataset).name and c["id"] == row.id and c["model"] == row.model
                and c["engine"] == row.engine and math.isclose(float(c["value"]), row.value, rel_tol=1e-9)):
            return row.model_copy(update={k: c[k] for k in ("data_parallel_size", "enable_dp_attention") if k in c})
    return row


MAX_DATASET_BYTES = 64 * 2**20


def _runtime(raw: dict) -> str:
    """The engine a row ran on: a version that names its own runtime wins over the engine column
    (public-2 writes vLLM-Ascend as engine "vllm", engine_version "vllm-ascend 0.9.1")."""
    engine = (raw.get("engine") or "").strip()
    version = (raw.get("engine_version") or "").strip().split()
    if engine == "vllm" and version and version[0] == "vllm-ascend":
        return "vllm-ascend"
    return engine


def load_dataset(path: str | Path) -> tuple[DatasetRow, ...]:
    from gpuplan.safeio import read_text

    p = Path(path)
    # A regular UTF-8 file of bounded size: a FIFO or /dev/zero is one sentence, not a hang or gigabytes of memory.
    return parse_dataset(read_text(p, MAX_DATASET_BYTES), p.name)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method), q in 0–100; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(results: Iterable[RowResult]) -> MetricSummary:
    rs = list(results)
    apes = [r.ape_fraction for r in rs if r.ape_fraction is not None]
    return MetricSummary(rows=len(rs), predicted=len(apes), median_ape_fraction=percentile(apes, 50),
                         p90_ape_fraction=percentile(apes, 90))


def model_family(model_ref: str) -> str:
    """The family group a dataset model reports under: ``deepseek-mla-moe`` (MLA + routed experts: DeepSeek-V2/V3/R1,
    Kimi-K2), ``moe`` (other routed-expert models), ``dense``; ``unknown`` when the model is not in the catalog."""
    from gpuplan.perf.predict import find_model

    try:
        arch = find_model(model_ref).arch
    except GpuplanError:
        return "unknown"
    if arch.num_experts:
        return "deepseek-mla-moe" if arch.attention[0].kind == "mla" else "moe"
    return "dense"


def engine_label(engine: str, version: str | None) -> str:
    """'sglang 0.5.3'; a version that names its own runtime stays as stated ('vllm-ascend 0.9.1');
    'sglang (version not stated)'."""
    if not version:
        return f"{engine} (version not stated)"
    first = version.split()[0]
    if " " in version and not first[0].isdigit():
        return version
    return f"{engine} {version}"


def predict_row(row: DatasetRow, calibration: Calibration | CalibrationSet | None = None) -> float:
    """The model's value for ``row``'s metric; raises GpuplanError (with the reason) when it cannot say."""
    from gpuplan.perf.predict import predict_value

    return predict_value(row, calibration)


def _compare_measured(results: list[RowResult], rows: Sequence[DatasetRow]) -> tuple[list[RowResult],
                                                                                   MeasuredComparison]:
    """AIConfigurator's value beside gpuplan's for every row it covers (perf.measured)."""
    from gpuplan.perf.measured import measured_value

    out = []
    for res, row in zip(results, rows, strict=True):
        mv = measured_value(row)
        if mv.value is not None and mv.value > 0:
            res = res.model_copy(update={"aic_predicted": mv.value,
                                         "aic_ape_fraction": abs(mv.value - row.value) / row.value})
        out.append(res)
    both = [r for r in out if r.aic_ape_fraction is not None and r.ape_fraction is not None]
    held = [r for r in both if r.heldout]
    return out, MeasuredComparison(
        rows=len(both), gpuplan_median_ape_fraction=percentile([r.ape_fraction for r in both], 50),
        aic_median_ape_fraction=percentile([r.aic_ape_fraction for r in both], 50),
        gpuplan_heldout_median_ape_fraction=percentile([r.ape_fraction for r in held], 50),
        aic_heldout_median_ape_fraction=percentile([r.aic_ape_fraction for r in held], 50))


def validate_rows(rows: Sequence[DatasetRow], calibration: Calibration | CalibrationSet | None = None,
                  worst: int = 10, measured: bool | None = None) -> ValidationReport:
    """Predict every row and summarize the errors per metric, overall, held-out and fitted.

    ``measured``: also ask AIConfigurator (gpuplan[measured]) for the rows it covers; default: when installed.
    """
    results = []
    for row in rows:
        predicted = reason = ape = None
        try:
            predicted = predict_row(row, calibration)
            ape = abs(predicted - row.value) / row.value
        except GpuplanError as exc:
            reason = str(exc)
        results.append(RowResult(id=row.id, dataset=row.dataset, metric=row.metric, model=row.model, gpu=row.gpu,
                                 engine=row.engine, measured=row.value, predicted=predicted, ape_fraction=ape,
                                 heldout=is_heldout(row.id), reason=reason, task=row.task,
                                 engine_version=row.engine_version, family=model_family(row.model)))
    comparison = None
    if measured is None:
        from gpuplan.perf.measured import measured_available

        measured = measured_available()
    if measured:
        results, comparison = _compare_measured(results, rows)
    by_metric = {m: summarize(r for r in results if r.metric == m) for m in sorted({r.metric for r in results})}
    overall = summarize(results)
    speed = [r for r in results if r.metric in TIMING_METRICS]
    by_engine = {k: summarize(r for r in speed if engine_label(r.engine, r.engine_version) == k)
                 for k in sorted({engine_label(r.engine, r.engine_version) for r in speed})}
    families = sorted({r.family for r in speed})
    by_family = {f: summarize(r for r in speed if r.family == f) for f in families}
    held = [r for r in speed if r.heldout]
    heldout_by_family = {f: summarize(r for r in held if r.family == f) for f in families}
    moe_serving = [r for r in held if r.family != "dense" and r.task == "serving"]
    if moe_serving:
        heldout_by_family["moe serving (all MoE families)"] = summarize(moe_serving)
        ds = [r for r in moe_serving if r.family == "deepseek-mla-moe"]
        if ds:
            heldout_by_family["deepseek-mla-moe serving"] = summarize(ds)
    ranked = sorted((r for r in results if r.ape_fraction is not None), key=lambda r: -(r.ape_fraction or 0))
    return ValidationReport(
        datasets=tuple(dict.fromkeys(r.dataset for r in rows)), rows_total=overall.rows,
        rows_predicted=overall.predicted, coverage_fraction=overall.predicted / overall.rows if overall.rows else 0.0,
        median_ape_fraction=overall.median_ape_fraction, p90_ape_fraction=overall.p90_ape_fraction,
        by_metric=by_metric, heldout=summarize(r for r in results if r.heldout),
        heldout_speed=summarize(r for r in results if r.heldout and r.metric in SPEED_METRICS),
        fitted=summarize(r for r in results if not r.heldout), heldout_rule=HELDOUT_RULE, by_engine=by_engine,
        by_family=by_family, heldout_by_family=heldout_by_family, measured=comparison,
        worst=tuple(ranked[:worst]), unpredicted=tuple(r for r in results if r.predicted is None),
        rows=tuple(results),
    )
