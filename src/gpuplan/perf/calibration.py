"""Fitted efficiencies and overheads as data: ``catalog/data/calibration.toml`` plus an optional user file.

The file holds ``[defaults]`` and a list of ``[[entry]]`` tables keyed by (engine, architecture); an entry sets only
the parameters it was fitted for, and lists, per parameter, the measured rows it was fitted on (``fitted_on``).
``scripts/fit_calibration.py`` writes it; ``gpuplan calibrate`` (later) writes a user file of the same shape.

Resolution for a deployment (first hit wins, per parameter): (engine, architecture/class) → (engine, architecture)
→ (engine, ``*``) → the same three for the fallback engine → (``*``, architecture) → ``[defaults]``. The class is the
catalog's ``gpu_class`` (consumer, workstation, datacenter, unified ...). A user file's
entries take precedence over the shipped ones with the same key. The core never reads the environment: the caller
passes the user file's path explicitly (the CLI passes ``~/.config/gpuplan/calibration.toml`` when it exists).
"""

from __future__ import annotations

import tomllib
from dataclasses import field
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpuplan.catalog.datafiles import shipped_toml
from gpuplan.errors import MalformedFileError, closest
from gpuplan.records import Record, record

# Engines that share a runtime with another engine, for parameters not fitted on themselves.
ENGINE_FALLBACK = {"ollama": "llama.cpp", "ktransformers": "llama.cpp", "sglang": "vllm", "transformers": "vllm",
                   "vllm": "sglang", "trtllm": "vllm", "vllm-ascend": "vllm", "mindie": "vllm-ascend"}

# A format-factor key for the routed experts alone ("fp8-block@experts"): CalibrationParams.expert_mem_factor.
EXPERTS_KEY_SUFFIX = "@experts"

PARAM_NAMES = (
    "mem_efficiency_fraction", "compute_efficiency_fraction", "compute_half_m_tokens", "step_overhead_s",
    "layer_overhead_s", "seq_overhead_s", "allreduce_latency_s", "prefill_chunk_tokens", "mfu_fraction",
    "uncertainty_fraction", "host_mem_efficiency_fraction", "host_compute_efficiency_fraction",
    "internode_latency_s", "sparse_prefill_full_topk", "sparse_attention_min_num_heads",
)


# Frozen dataclasses (gpuplan.records), not pydantic: a whole `gpuplan plan` process must stay within 0.3 s of CPU
# (issue 16), and building these four models was a fifth of its start-up. User files are checked by _user_params.
@record
class CalibrationParams(Record):
    """The parameters of the step-time model for one (engine, architecture).

    * ``mem_efficiency_fraction`` η_mem: achieved / peak memory bandwidth when streaming weights and KV.
    * ``compute_efficiency_fraction`` η_max and ``compute_half_m_tokens`` M½: GEMM efficiency at M tokens is
      η_comp(M) = η_max · M / (M + M½) (small batches cannot fill the tensor cores).
    * ``step_overhead_s``, ``layer_overhead_s``, ``seq_overhead_s``: fixed time per step, per layer per step, per
      sequence per step (launches, sampling, scheduling).
    * ``allreduce_latency_s`` α: per-hop latency of a ring all-reduce; ``internode_latency_s``: the same when the
      group spans nodes (InfiniBand/RoCE hops through the NIC instead of NVLink loads and stores).
    * ``prefill_chunk_tokens``: tokens per chunked-prefill step (weights re-read per chunk).
    * ``format_mem_factors`` / ``format_compute_factors``: multipliers on η for a weight format (dequantization cost);
      a ``FORMAT@experts`` key applies to the routed experts alone (their grouped GEMMs can run another kernel).
    * ``family_mem_factors`` / ``family_compute_factors``: multipliers on η for a model family (the catalog's
      ``family``: an engine's kernels for gpt-oss or DeepSeek-V3.2 mature at their own pace) — the model-family key
      of a calibration cell.
    * ``sparse_prefill_full_topk``: an engine fact, not fitted: 1 when the engine prefills DSA (DeepSeek-V3.2) with
      FlashMLA's ``flash_mla_sparse_fwd`` over an index tensor of the full top-k width, so every query costs k key
      slots, its invalid (-1) entries masked, not skipped; 0 when each query costs min(position, k) (a kernel given
      per-query lengths).
    * ``sparse_attention_min_num_heads``: an engine fact, not fitted: the fewest query heads per GPU the engine's DSA
      kernel takes; fewer (128 heads over TP 8 = 16) are padded and computed. vLLM's FlashMLA-sparse backend: "kernel
      requires num_local_head to be a multiple of 64 on hopper and 128 on blackwell" (vllm/v1/attention/backends/mla/
      flashmla_sparse.py, "padding num_heads ... due to sparse attn kernel requirement"); the Hopper value is stated
      (the data has no Blackwell row). 0: no padding.
    * ``mfu_fraction``: model FLOPs utilization for training frameworks.
    * ``uncertainty_fraction``: the ± band reported with an estimate (the fit's residual on its own rows).
    * ``host_mem_efficiency_fraction`` / ``host_compute_efficiency_fraction``: achieved / peak host memory bandwidth
      and CPU FLOP/s for weights in host RAM (experts on the CPU, layers left on the host).
    """

    mem_efficiency_fraction: float = 0.75
    compute_efficiency_fraction: float = 0.6
    compute_half_m_tokens: float = 16.0
    step_overhead_s: float = 3e-4
    layer_overhead_s: float = 1e-5
    seq_overhead_s: float = 1e-5
    allreduce_latency_s: float = 1e-5
    prefill_chunk_tokens: float = 8192.0
    mfu_fraction: float = 0.4
    uncertainty_fraction: float = 0.35
    internode_latency_s: float = 2e-5
    sparse_prefill_full_topk: float = 0.0
    sparse_attention_min_num_heads: float = 0.0
    host_mem_efficiency_fraction: float = 0.6
    host_compute_efficiency_fraction: float = 0.4
    format_mem_factors: dict[str, float] = field(default_factory=dict)
    format_compute_factors: dict[str, float] = field(default_factory=dict)
    family_mem_factors: dict[str, float] = field(default_factory=dict)
    family_compute_factors: dict[str, float] = field(default_factory=dict)

    def mem_factor(self, weight_format: str, family: str = "") -> float:
        return self.format_mem_factors.get(weight_format, 1.0) * self.family_mem_factors.get(family, 1.0)

    def compute_factor(self, weight_format: str, family: str = "") -> float:
        return self.format_compute_factors.get(weight_format, 1.0) * self.family_compute_factors.get(family, 1.0)

    def expert_mem_factor(self, weight_format: str, family: str = "") -> float:
        """``mem_factor`` for the routed experts' grouped GEMMs: a ``FORMAT@experts`` key where the fit found their
        kernel apart from the dense one (FP8 on Ampere: fused Marlin MoE vs FP8 Marlin linears), else the format's."""
        fmt = self.format_mem_factors.get(weight_format + EXPERTS_KEY_SUFFIX)
        return self.mem_factor(weight_format, family) if fmt is None else fmt * self.family_mem_factors.get(family, 1.0)

    def expert_compute_factor(self, weight_format: str, family: str = "") -> float:
        fmt = self.format_compute_factors.get(weight_format + EXPERTS_KEY_SUFFIX)
        return (self.compute_factor(weight_format, family) if fmt is None
                else fmt * self.family_compute_factors.get(family, 1.0))


@record(kw_only=True)
class CalibrationEntry(Record):
    """One ``[[entry]]``: the parameters set for (engine, architecture) and the rows each was fitted on."""

    engine: str
    architecture: str = "*"
    params: dict[str, Any]
    fitted_on: dict[str, tuple[str, ...]] = field(default_factory=dict)
    versions: tuple[str, ...] = ()   # engine versions of the rows it was fitted on (as the sources state them)
    origin: str = "shipped"

    @property
    def rows(self) -> frozenset[str]:
        """The measured rows behind this entry (union over its parameters)."""
        return frozenset(r for ids in self.fitted_on.values() for r in ids)


@record
class Calibration(Record):
    """The resolved parameters for one deployment and the id of the entries they came from."""

    id: str
    params: CalibrationParams
    exact: bool  # True when an (engine, architecture) entry was fitted for this very pair
    rows: int = 0  # measured rows of this engine behind the entries used (calibration_rows): 0 = none of its own
    versions: tuple[str, ...] = ()  # engine versions those rows were measured on (empty: not stated)


@record
class CalibrationSet(Record):
    """All entries, shipped and user, with the defaults."""

    defaults: dict[str, Any]
    entries: tuple[CalibrationEntry, ...]
    heldout_rule: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_cache", {})  # resolve()'s answers: not a field (not dumped, not compared)

    def _find(self, engine: str, arch: str) -> CalibrationEntry | None:
        for e in self.entries:  # user entries come first
            if e.engine == engine and e.architecture == arch:
                return e
        return None

    def resolve(self, engine: str, architecture: str, gpu_class: str | None = None) -> Calibration:
        """Merge parameters along the fallback chain (module docstring); cached per (engine, architecture, class)."""
        key = (engine, architecture.lower(), (gpu_class or "").lower())
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = _resolve(self, *key)
        return hit


def calibration_key(architecture: str, gpu_class: str | None) -> str:
    """'ampere/consumer': the most specific key an entry can have (GeForce and data-center parts of one
    architecture differ in clocks, memory and in how the catalog states their 16-bit rate)."""
    return f"{architecture.lower()}/{gpu_class.lower()}" if gpu_class else architecture.lower()


def _resolve(cal: CalibrationSet, engine: str, arch: str, gpu_class: str) -> Calibration:
    engine = "llama.cpp" if engine == "ollama" else engine
    fb = ENGINE_FALLBACK.get(engine)
    full = calibration_key(arch, gpu_class)
    specific = [full, arch] if full != arch else [arch]
    chain = [(engine, k) for k in specific] + [(engine, "*")]
    if fb:
        chain += [(fb, k) for k in specific] + [(fb, "*")]
    chain.append(("*", arch))
    merged: dict[str, Any] = dict(cal.defaults)
    used: list[str] = []
    for key in reversed(chain):
        e = cal._find(*key)
        if e is None:
            continue
        for name, value in e.params.items():
            if isinstance(value, dict) and isinstance(merged.get(name), dict):
                merged[name] = {**merged[name], **value}
            else:
                merged[name] = value
        used.append(f"{e.engine}/{e.architecture}")
    exact = any(cal._find(engine, k) is not None for k in specific)
    ident = "+".join(reversed(used)) if used else "defaults"
    rows: set[str] = set()
    versions: set[str] = set()
    for key in chain:
        e = cal._find(*key)
        if e is not None and e.engine == engine:  # the engine's own rows: a fallback engine's stand behind nothing
            rows |= e.rows
            versions.update(e.versions)
    return Calibration(id=ident, params=CalibrationParams(**merged), exact=exact, rows=len(rows),
                       versions=tuple(sorted(versions)))


def _parse(data: dict[str, Any], origin: str, where: str) -> tuple[dict[str, Any], list[CalibrationEntry]]:
    entries = []
    try:
        for raw in data.get("entry", []):
            raw = dict(raw)
            engine = str(raw.pop("engine"))
            arch = str(raw.pop("architecture", "*")).lower()
            fitted = {k: tuple(v) for k, v in dict(raw.pop("fitted_on", {})).items()}
            versions = tuple(str(v) for v in raw.pop("versions", ()))
            raw.pop("note", None)
            entries.append(CalibrationEntry(engine=engine, architecture=arch, params=_checked_params(raw),
                                            fitted_on=fitted, versions=versions, origin=origin))
        defaults = _checked_params(dict(data.get("defaults", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedFileError("perf.bad_calibration", path=where, reason=str(exc).splitlines()[0]) from None
    return defaults, entries


_FACTOR_PARAMS = ("format_mem_factors", "format_compute_factors", "family_mem_factors", "family_compute_factors")


def _number(name: str, value: Any) -> float | int:
    """A parameter's value as pydantic's float field took it: a number (ints kept; the record makes them floats),
    a bool or a numeric string converted; anything else a ValueError naming the parameter."""
    if type(value) is int or type(value) is float:
        return value
    if isinstance(value, bool | str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"parameter {name} must be a number, not {value!r}")


def _checked_params(raw: dict[str, Any]) -> dict[str, Any]:
    """An entry's (or the defaults') parameters, checked: every name a CalibrationParams field (a misspelled one is
    refused with the closest names, not ignored), every value a number, the factor tables maps of numbers."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _FACTOR_PARAMS:
            if not isinstance(value, dict):
                raise ValueError(f"parameter {name} must be a table of numbers, not {value!r}")
            out[name] = {str(k): _number(f"{name}.{k}", v) for k, v in value.items()}
        elif name in CalibrationParams.model_fields:
            out[name] = _number(name, value)
        else:
            near = closest(str(name), CalibrationParams.model_fields)
            raise ValueError(f"unknown parameter {name!r}" + (f" (did you mean {', '.join(near)}?)" if near else ""))
    return out


MAX_USER_CALIBRATION_BYTES = 16 * 2**20


@lru_cache(maxsize=8)
def load_calibration(user_file: str | None = None) -> CalibrationSet:
    """The shipped calibration, with a user file's entries (and defaults) taking precedence when given."""
    data = shipped_toml("calibration.toml")
    defaults, entries = _parse(data, "shipped", "calibration.toml")
    if user_file:
        path = Path(user_file)
        from gpuplan.safeio import load_toml, read_text

        try:
            # A regular file of at most 16 MiB (a FIFO or /dev/zero is refused, not read forever).
            user = load_toml(read_text(path, MAX_USER_CALIBRATION_BYTES), str(path))
        except tomllib.TOMLDecodeError as exc:
            raise MalformedFileError("perf.bad_calibration", path=str(path), reason=str(exc)) from None
        u_defaults, u_entries = _parse(user, "user", str(path))
        defaults = {**defaults, **u_defaults}
        entries = u_entries + entries
    return CalibrationSet(defaults=defaults, entries=tuple(entries), heldout_rule=str(data.get("heldout_rule", "")))
