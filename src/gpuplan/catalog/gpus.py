"""The accelerator and host catalogs: ``catalog/data/gpus.csv`` and ``hosts.csv`` (columns documented in GPU_SOURCES.md)."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

from gpuplan.errors import UnknownNameError, closest
from gpuplan.records import Record, record

_FLOAT_COLUMNS = (
    "memory_bandwidth_bytes_per_s", "dense_fp32_flops_per_s", "dense_tf32_flops_per_s", "dense_bf16_flops_per_s",
    "dense_fp16_flops_per_s", "dense_fp8_flops_per_s", "dense_int8_ops_per_s", "dense_fp4_flops_per_s",
    "dense_int4_ops_per_s", "interconnect_bytes_per_s", "tdp_watts", "compute_capability",
)
_INT_COLUMNS = ("memory_bytes", "pcie_gen", "pcie_lanes", "launch_year")


@record(slots=True, kw_only=True)
class GpuSpec(Record):
    """One accelerator. Rates in base units (bytes/s, FLOP/s); ``None`` = unsupported or unknown.

    A frozen dataclass (gpuplan.records: ``gpuplan size`` starts without pydantic)."""

    id: str
    aliases: tuple[str, ...] = ()
    name: str
    vendor: str
    gpu_class: str
    architecture: str
    compute_capability: float | None = None
    memory_bytes: int
    memory_basis: str = "label"
    memory_bandwidth_bytes_per_s: float | None = None
    dense_fp32_flops_per_s: float | None = None
    dense_tf32_flops_per_s: float | None = None
    dense_bf16_flops_per_s: float | None = None
    dense_fp16_flops_per_s: float | None = None
    dense_fp8_flops_per_s: float | None = None
    dense_int8_ops_per_s: float | None = None
    dense_fp4_flops_per_s: float | None = None
    dense_int4_ops_per_s: float | None = None
    tdp_watts: float | None = None
    interconnect: str = "pcie"
    interconnect_bytes_per_s: float | None = None
    pcie_gen: int | None = None
    pcie_lanes: int | None = None
    launch_year: int | None = None
    china_available: bool = False
    gfd_product: str | None = None
    sources: tuple[str, ...] = ()
    notes: str | None = None

    @property
    def dense_16bit_flops_per_s(self) -> float | None:
        """BF16 tensor rate, else FP16 (Turing/Volta have no BF16)."""
        return self.dense_bf16_flops_per_s or self.dense_fp16_flops_per_s

    def peak_flops_per_s(self, compute_dtype: str) -> float | None:
        """Dense peak for a compute dtype: 'bf16', 'fp16', 'fp8', 'int8', 'fp4', 'int4', 'fp32'."""
        table = {
            "bf16": self.dense_16bit_flops_per_s,
            "fp16": self.dense_fp16_flops_per_s or self.dense_bf16_flops_per_s,
            "fp8": self.dense_fp8_flops_per_s,
            "int8": self.dense_int8_ops_per_s,
            "fp4": self.dense_fp4_flops_per_s,
            "int4": self.dense_int4_ops_per_s,
            "fp32": self.dense_fp32_flops_per_s,
        }
        return table.get(compute_dtype)

    @property
    def is_unified_memory(self) -> bool:
        return self.gpu_class in ("unified", "embedded")


@record(slots=True, kw_only=True)
class HostSpec(Record):
    """A CPU memory class for offload planning; bandwidth is the theoretical peak (channels × 8 B × MT/s)."""

    id: str
    name: str
    memory_type: str
    memory_channels: int
    memory_mts: int
    memory_bandwidth_bytes_per_s: float | None = None
    max_memory_bytes: int | None = None
    cpu_cores: int | None = None
    cpu_fp32_flops_per_s: float | None = None       # AVX-512 / AVX2 FMA peak (llamafile, llama.cpp CPU kernels)
    cpu_amx_bf16_flops_per_s: float | None = None   # Intel AMX BF16 peak (KTransformers >= 0.3 AMX kernels)
    sources: tuple[str, ...] = ()
    notes: str | None = None


def _num(text: str, kind: type) -> float | int | None:
    text = (text or "").strip()
    if not text:
        return None
    value = float(text)
    return int(value) if kind is int else value


def _read_csv(name: str) -> list[dict[str, str]]:
    path = resources.files("gpuplan.catalog") / "data" / name
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


@cache
def list_gpus() -> tuple[GpuSpec, ...]:
    out = []
    for row in _read_csv("gpus.csv"):
        rec: dict[str, object] = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        for col in _FLOAT_COLUMNS:
            rec[col] = _num(row.get(col, ""), float)
        for col in _INT_COLUMNS:
            rec[col] = _num(row.get(col, ""), int)
        rec["gpu_class"] = rec.pop("class")
        rec["aliases"] = tuple(a.strip().lower() for a in (row.get("aliases") or "").split(";") if a.strip())
        rec["sources"] = tuple(s.strip() for s in (row.get("sources") or "").split(";") if s.strip())
        rec["china_available"] = (row.get("china_available") or "").strip().lower() == "true"
        rec["gfd_product"] = rec.get("gfd_product") or None
        rec["notes"] = rec.get("notes") or None
        out.append(GpuSpec(**{k: v for k, v in rec.items() if k in GpuSpec.model_fields}))  # a column without a field: ignored
    return tuple(out)


@cache
def _gpu_index() -> dict[str, GpuSpec]:
    idx: dict[str, GpuSpec] = {}
    for g in list_gpus():
        keys = [g.id, *g.aliases]
        if g.gfd_product:  # GPU Feature Discovery label, e.g. NVIDIA-H100-80GB-HBM3 (what probe and k8s see)
            keys += [g.gfd_product, g.gfd_product.removeprefix("NVIDIA-")]
        for key in keys:
            idx.setdefault(key.lower(), g)
    return idx


def get_gpu(ref: str) -> GpuSpec:
    key = ref.strip().lower().replace("_", "-").replace(" ", "-")
    hit = _gpu_index().get(key) or _gpu_index().get(key.removeprefix("nvidia-"))
    if hit is None:
        names = [g.id for g in list_gpus()] + [a for g in list_gpus() for a in g.aliases]
        near = closest(key, names)
        if not near:  # no "Did you mean: —?"
            raise UnknownNameError("ux.unknown_gpu_no_match", given=ref)
        raise UnknownNameError("catalog.unknown_gpu", given=ref, suggestions=", ".join(near))
    return hit


@cache
def list_hosts() -> tuple[HostSpec, ...]:
    out = []
    for row in _read_csv("hosts.csv"):
        rec: dict[str, object] = {k: v.strip() for k, v in row.items() if k}
        rec["memory_channels"] = _num(row["memory_channels"], int)
        rec["memory_mts"] = _num(row["memory_mts"], int)
        rec["memory_bandwidth_bytes_per_s"] = _num(row["memory_bandwidth_bytes_per_s"], float)
        rec["max_memory_bytes"] = _num(row.get("max_memory_bytes", ""), int)
        rec["cpu_cores"] = _num(row.get("cpu_cores", ""), int)
        rec["cpu_fp32_flops_per_s"] = _num(row.get("cpu_fp32_flops_per_s", ""), float)
        rec["cpu_amx_bf16_flops_per_s"] = _num(row.get("cpu_amx_bf16_flops_per_s", ""), float)
        rec["sources"] = tuple(s.strip() for s in (row.get("sources") or "").split(";") if s.strip())
        rec["notes"] = rec.get("notes") or None
        out.append(HostSpec(**{k: v for k, v in rec.items() if k in HostSpec.model_fields}))
    return tuple(out)


def get_host(ref: str) -> HostSpec:
    for h in list_hosts():
        if h.id == ref.strip().lower():
            return h
    raise UnknownNameError(
        "catalog.unknown_host", given=ref, suggestions=", ".join(closest(ref, [h.id for h in list_hosts()])) or "—"
    )
