"""Fit a user's own efficiencies from measured serving results (``gpuplan bench`` output), for ``gpuplan calibrate``.

The model is the same step-time model as everywhere (:mod:`gpuplan.perf.serving`); only three parameters move, each
inside a physical range:

* ``mem_efficiency_fraction`` η_mem (0.05–1.0): decode reads weights and KV at η_mem × peak bandwidth → TPOT;
* ``compute_efficiency_fraction`` η_max (0.05–1.0): prefill GEMMs → TTFT;
* ``step_overhead_s`` (0–50 ms): fixed time per step (scheduling, sampling, launches) → TPOT at small batches.

The loss is the mean squared log error over the measured p50 TTFT, p50 TPOT and aggregate output tokens/s of every
level (a log error treats 10% fast and 10% slow alike). It is minimized by coordinate-wise golden-section search over
the three ranges, three sweeps; deterministic, no randomness. With one level the fit is exact at best: the error after
the fit is reported on the same levels, so it is a fit quality, not a prediction error — say so to the user.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, field_validator

from gpuplan.catalog import get_gpu
from gpuplan.catalog.models import ModelEntry
from gpuplan.errors import GpuplanError, InvalidInputError
from gpuplan.perf.calibration import (
    Calibration,
    CalibrationParams,
    CalibrationSet,
    calibration_key,
    load_calibration,
)
from gpuplan.perf.serving import estimate_serving
from gpuplan.perf.validation import percentile
from gpuplan.spec import Deployment, Workload

FIT_RANGES: dict[str, tuple[float, float]] = {
    "mem_efficiency_fraction": (0.05, 1.0),
    "compute_efficiency_fraction": (0.05, 1.0),
    "step_overhead_s": (0.0, 0.05),
}
_GOLDEN = (math.sqrt(5) - 1) / 2


class Observation(BaseModel):
    """One measured load level: what was asked and what came back (medians; tokens/s aggregate)."""

    model_config = ConfigDict(frozen=True)

    label: str
    concurrency: int | None = None
    rate_per_s: float | None = None
    input_tokens: int
    output_tokens: int
    ttft_s: float | None = None
    tpot_s: float | None = None
    output_tokens_per_s: float | None = None

    @field_validator("rate_per_s", "ttft_s", "tpot_s", "output_tokens_per_s")
    @classmethod
    def _measured(cls, value: float | None) -> float | None:
        """NaN, infinite, zero or negative measurements are no measurement (a NaN-only file fits nothing)."""
        return value if value is not None and math.isfinite(value) and value > 0 else None


class LevelComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    metric: str
    measured: float
    before: float | None
    after: float | None


class UserFit(BaseModel):
    """The fitted parameters, the entry key they belong to, and measured vs predicted before and after."""

    model_config = ConfigDict(frozen=True)

    engine: str
    architecture_key: str
    params: dict[str, float]
    base_calibration: str
    rows: tuple[LevelComparison, ...]
    median_ape_before_fraction: float | None
    median_ape_after_fraction: float | None


def _predict(entry: ModelEntry, dep: Deployment, obs: Observation, cal: Calibration) -> dict[str, float | None]:
    wl = Workload(input_tokens=obs.input_tokens, output_tokens=obs.output_tokens, concurrency=obs.concurrency,
                  rate_per_s=None if obs.concurrency else obs.rate_per_s)
    est = estimate_serving(entry, dep, wl, cal)
    return {"ttft_s": est.ttft_s, "tpot_s": est.tpot_s, "output_tokens_per_s": est.output_tokens_per_s}


def _loss(entry, dep, observations, cal) -> float:
    total, n = 0.0, 0
    for obs in observations:
        try:
            pred = _predict(entry, dep, obs, cal)
        except GpuplanError:
            return math.inf
        for metric in ("ttft_s", "tpot_s", "output_tokens_per_s"):
            meas, got = getattr(obs, metric), pred[metric]
            if meas and got and meas > 0 and got > 0:
                total += math.log(got / meas) ** 2
                n += 1
    return total / n if n else math.inf


def _with(base: CalibrationParams, values: dict[str, float]) -> Calibration:
    return Calibration(id="user-fit", params=base.model_copy(update=values), exact=True)


def _golden(f, lo: float, hi: float, iters: int = 30) -> float:
    a, b = lo, hi
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = f(d)
    return (a + b) / 2


def fit_user_calibration(entry: ModelEntry, dep: Deployment, observations: Sequence[Observation],
                         calibration: CalibrationSet | None = None) -> UserFit:
    """Fit η_mem, η_max and the step overhead to the observations; report before/after on the same levels."""
    usable = [o for o in observations if o.ttft_s or o.tpot_s or o.output_tokens_per_s]
    if not usable:
        raise InvalidInputError("calibrate.no_measurements")
    gpu = get_gpu(dep.gpu_id)
    cset = calibration or load_calibration()
    base = cset.resolve(dep.engine, gpu.architecture, gpu.gpu_class)
    values = {name: float(getattr(base.params, name)) for name in FIT_RANGES}
    for _ in range(3):
        for name, (lo, hi) in FIT_RANGES.items():
            def f(x, name=name):
                return _loss(entry, dep, usable, _with(base.params, {**values, name: x}))
            values[name] = _golden(f, lo, hi)
    after_cal = _with(base.params, values)
    rows: list[LevelComparison] = []
    before_err: list[float] = []
    after_err: list[float] = []
    for obs in usable:
        try:
            before = _predict(entry, dep, obs, base)
        except GpuplanError:
            before = dict.fromkeys(("ttft_s", "tpot_s", "output_tokens_per_s"))
        after = _predict(entry, dep, obs, after_cal)
        for metric in ("ttft_s", "tpot_s", "output_tokens_per_s"):
            meas = getattr(obs, metric)
            if not meas:
                continue
            rows.append(LevelComparison(label=obs.label, metric=metric, measured=meas, before=before[metric],
                                        after=after[metric]))
            if before[metric]:
                before_err.append(abs(before[metric] - meas) / meas)
            if after[metric]:
                after_err.append(abs(after[metric] - meas) / meas)
    return UserFit(
        engine="llama.cpp" if dep.engine == "ollama" else dep.engine,
        architecture_key=calibration_key(gpu.architecture, gpu.gpu_class),
        params={k: round(v, 6) for k, v in values.items()},
        base_calibration=base.id, rows=tuple(rows),
        median_ape_before_fraction=percentile(before_err, 50), median_ape_after_fraction=percentile(after_err, 50),
    )


def user_calibration_toml(fit: UserFit, fitted_on: Sequence[str], existing: dict | None = None,
                          note: str = "") -> str:
    """The user calibration file with this fit's entry, replacing an entry with the same (engine, architecture) and
    keeping the others (``existing`` is the parsed old file). Same shape as the shipped calibration.toml."""
    entries = [e for e in (existing or {}).get("entry", [])
               if not (e.get("engine") == fit.engine and str(e.get("architecture", "*")).lower() == fit.architecture_key)]
    new = {"engine": fit.engine, "architecture": fit.architecture_key, "note": note, **fit.params,
           "fitted_on": {k: list(fitted_on) for k in fit.params}}
    entries.insert(0, new)
    lines = ["# gpuplan user calibration, written by 'gpuplan calibrate'. Entries here take precedence over the",
             "# shipped ones for the same (engine, architecture). Re-run 'gpuplan calibrate' to update.",
             "schema_version = 1", ""]
    defaults = (existing or {}).get("defaults")
    if defaults:
        lines.append("[defaults]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in defaults.items()]
        lines.append("")
    for e in entries:
        lines.append("[[entry]]")
        fitted = e.get("fitted_on", {})
        for k, v in e.items():
            if k != "fitted_on":
                lines.append(f"{k} = {_toml_value(v)}")
        if fitted:
            lines.append("[entry.fitted_on]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in fitted.items()]
        lines.append("")
    return "\n".join(lines)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(type(v))
