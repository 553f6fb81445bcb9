"""Verdicts: can this machine run the model (or the plan)?

Facts (shared/reference/ecosystem.md §6, from the CUDA Toolkit release notes Table 3 and the CUDA minor-version
compatibility guide, docs.nvidia.com/deploy/cuda-compatibility/):
- driver needed by a CUDA toolkit (Linux x86_64): ``TOOLKIT_DRIVER_FLOORS``;
- minor-version compatibility: any CUDA 12.x runs on driver ≥ 525.60.13, 13.x on ≥ 580 (without PTX JIT features);
- engines: vLLM wheels are built with CUDA 12.9 and need compute capability ≥ 7.5 (vLLM GPU install docs,
  ``docs/getting_started/installation/gpu.cuda.inc.md``); TRT-LLM for DeepSeek needs driver ≥ 575.
Per-format compute-capability floors come from the format catalog (``QuantFormat.min_compute_capability``:
FP8 ≥ 8.9, NVFP4 ≥ 10.0, BF16 ≥ 8.0, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpuplan.catalog import ModelEntry
from gpuplan.i18n import t
from gpuplan.memory.quant import get_format
from gpuplan.memory.weights import model_tensor_bytes, native_format
from gpuplan.probe.models import GpuReport, HostReport, Verdict
from gpuplan.units import GIB

TOOLKIT_DRIVER_FLOORS = {
    "12.0": "525.60.13", "12.1": "530.30.02", "12.2": "535.54.03", "12.3": "545.23.06", "12.4": "550.54.14",
    "12.5": "555.42.02", "12.6": "560.28.03", "12.8": "570.26", "12.9": "575.51.03", "13.0": "580.65.06",
    "13.1": "590.44.01", "13.2": "595.45.04",
}
MINOR_COMPAT_DRIVER_FLOORS = {"11": "450.80.02", "12": "525.60.13", "13": "580.65.06"}


@dataclass(frozen=True)
class EngineFloor:
    """What an engine's published builds need from the machine."""

    cuda: str | None
    driver: str | None
    min_compute_capability: float | None
    source: str


ENGINE_FLOORS = {
    "vllm": EngineFloor("12.9", None, 7.5, "vLLM GPU install docs (gpu.cuda.inc.md, v0.21.0): CC >= 7.5, wheels CUDA 12.9"),
    "trtllm": EngineFloor(None, "575.0", None, "shared/reference/ecosystem.md §6: TRT-LLM DeepSeek Hopper/Blackwell, driver >= 575"),
}
ALTERNATIVE_FORMATS = ("awq-int4", "gguf-q4_k_m")
SMALLER_FORMATS = ("fp8", "awq-int4", "gguf-q4_k_m", "gguf-q3_k_m", "gguf-q2_k", "gguf-ud-iq1_s")
CPU_FORMATS = ("gguf-q4_k_m", "gguf-q8_0")
HOST_RAM_HEADROOM_FRACTION = 0.10  # OS, KV cache and buffers beside the weights (assumption, stated)
GPU_MEMORY_TIGHT_FRACTION = 0.90  # weights above 90 % of GPU memory leave no room for the KV cache (assumption)


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """'550.54.14' → (550, 54, 14); None for unknown or unparsable."""
    if not text:
        return None
    try:
        return tuple(int(p) for p in text.strip().split("."))
    except ValueError:
        return None


def cuda_text(cuda_driver_version: int | None) -> str | None:
    """NVML's CUDA driver version integer → 'major.minor' (12040 → '12.4')."""
    if cuda_driver_version is None:
        return None
    return f"{cuda_driver_version // 1000}.{(cuda_driver_version % 1000) // 10}"


def _v(level: str, check: str, key: str, **params: object) -> Verdict:
    text = {k: str(v) for k, v in params.items()}
    return Verdict(level=level, check=check, key=f"doctor.{key}", params=text, message=t(f"doctor.{key}", **text))


def _gib(num_bytes: float) -> str:
    return f"{num_bytes / GIB:.1f}"


def weights_bytes(model: ModelEntry, weight_format: str) -> int:
    """Checkpoint bytes when the format is the published one and the catalog has them, else Σ tensor bytes."""
    if weight_format == native_format(model) and model.checkpoint.bytes:
        return int(model.checkpoint.bytes)
    return sum(b for _, b in model_tensor_bytes(model, weight_format))


def _cc(gpu: GpuReport) -> float | None:
    return float(gpu.compute_capability) if gpu.compute_capability else None


def compute_capability_verdicts(gpus: Sequence[GpuReport], weight_format: str) -> list[Verdict]:
    """Format floor vs each distinct GPU model: FP8 needs ≥ 8.9, NVFP4 ≥ 10.0, BF16 ≥ 8.0 (format catalog)."""
    need = get_format(weight_format).min_compute_capability
    out = []
    for gpu in _distinct(gpus):
        cc = _cc(gpu)
        if need is None or cc is None:
            continue
        if cc + 1e-9 < need:
            alts = [f for f in ALTERNATIVE_FORMATS if (get_format(f).min_compute_capability or 0) <= cc + 1e-9]
            out.append(_v("fail", "compute_capability", "cc_too_low", format=weight_format, need=f"{need:.1f}",
                          gpu=gpu.name, cc=gpu.compute_capability, alternatives=" / ".join(alts) or "—"))
        else:
            out.append(_v("ok", "compute_capability", "cc_ok", format=weight_format, need=f"{need:.1f}", gpu=gpu.name,
                          cc=gpu.compute_capability))
    return out


def _distinct(gpus: Sequence[GpuReport]) -> list[GpuReport]:
    seen, out = set(), []
    for g in gpus:
        if g.name not in seen:
            seen.add(g.name)
            out.append(g)
    return out


def driver_verdicts(gpus: Sequence[GpuReport], engine: str, driver_version: str | None) -> list[Verdict]:
    """The engine's CUDA build vs the installed driver; the engine's compute-capability floor."""
    floor = ENGINE_FLOORS.get(engine)
    if floor is None:
        return [_v("info", "driver", "driver_engine_unknown", engine=engine, allowed=", ".join(sorted(ENGINE_FLOORS)))]
    out = []
    for gpu in _distinct(gpus):
        cc = _cc(gpu)
        if floor.min_compute_capability is not None and cc is not None and cc + 1e-9 < floor.min_compute_capability:
            out.append(_v("fail", "engine", "engine_cc_too_low", engine=engine, gpu=gpu.name, cc=gpu.compute_capability,
                          need=f"{floor.min_compute_capability:.1f}"))
    have = version_tuple(driver_version)
    if have is None:
        return [*out, _v("warn", "driver", "driver_unknown", engine=engine)]
    if floor.cuda is not None:
        full = TOOLKIT_DRIVER_FLOORS[floor.cuda]
        compat = MINOR_COMPAT_DRIVER_FLOORS[floor.cuda.split(".")[0]]
        if have >= version_tuple(full):
            out.append(_v("ok", "driver", "driver_ok", driver=driver_version, engine=engine, cuda=floor.cuda, need=full))
        elif have >= version_tuple(compat):
            out.append(_v("warn", "driver", "driver_minor_compat", driver=driver_version, engine=engine,
                          cuda=floor.cuda, need=full, compat=compat))
        else:
            out.append(_v("fail", "driver", "driver_too_old", driver=driver_version, engine=engine, cuda=floor.cuda,
                          need=compat))
    elif floor.driver is not None:
        level, key = ("ok", "driver_ok_plain") if have >= version_tuple(floor.driver) else ("fail", "driver_too_old_plain")
        out.append(_v(level, "driver", key, driver=driver_version, engine=engine, need=floor.driver))
    return out


def smaller_format_that_fits(model: ModelEntry, gpus: Sequence[GpuReport], total: int,
                             weights: int) -> tuple[str, int] | None:
    """The first of SMALLER_FORMATS that every GPU can run and whose weights fit GPU_MEMORY_TIGHT_FRACTION of ``total``."""
    ccs = [c for c in (_cc(g) for g in gpus) if c is not None]
    lowest_cc = min(ccs) if ccs else None
    for fmt in SMALLER_FORMATS:
        need = get_format(fmt).min_compute_capability
        if need is not None and (lowest_cc is None or lowest_cc + 1e-9 < need):
            continue
        size = weights_bytes(model, fmt)
        if size < weights and size <= GPU_MEMORY_TIGHT_FRACTION * total:
            return fmt, size
    return None


def memory_verdicts(gpus: Sequence[GpuReport], host: HostReport, weights: int, weight_format: str,
                    model: ModelEntry | None = None) -> list[Verdict]:
    """Total GPU memory vs the weights; if short, whether GPU + host RAM hold them (llama.cpp/KTransformers offload)."""
    total = sum(g.memory_total_bytes for g in gpus)
    if weights <= GPU_MEMORY_TIGHT_FRACTION * total:
        return [_v("ok", "gpu_memory", "gpu_memory_ok", weights_gib=_gib(weights), format=weight_format,
                   total_gib=_gib(total), count=len(gpus))]
    if weights <= total:
        return [_v("warn", "gpu_memory", "gpu_memory_tight", weights_gib=_gib(weights), format=weight_format,
                   total_gib=_gib(total), count=len(gpus))]
    out = [_v("fail", "gpu_memory", "gpu_memory_short", weights_gib=_gib(weights), format=weight_format,
              total_gib=_gib(total), count=len(gpus))]
    if model is not None:
        fits = smaller_format_that_fits(model, gpus, total, weights)
        if fits is not None:
            out.append(_v("info", "smaller_format", "smaller_format_fits", format=fits[0], weights_gib=_gib(fits[1]),
                          total_gib=_gib(total)))
    ram = host.memory_total_bytes
    if ram is not None and weights <= total + ram * (1 - HOST_RAM_HEADROOM_FRACTION):
        out.append(_v("info", "hybrid", "hybrid_option", weights_gib=_gib(weights), gpu_gib=_gib(total),
                      ram_gib=_gib(ram)))
    return out


def disk_verdicts(host: HostReport, weights: int, weight_format: str) -> list[Verdict]:
    """Disk free where the weights go vs the checkpoint size."""
    if host.disk_free_bytes is None:
        return [_v("warn", "disk", "disk_unknown", path=host.disk_path)]
    level, key = ("ok", "disk_ok") if host.disk_free_bytes >= weights else ("fail", "disk_short")
    return [_v(level, "disk", key, path=host.disk_path, free_gib=_gib(host.disk_free_bytes),
               weights_gib=_gib(weights), format=weight_format)]


def cpu_verdicts(model: ModelEntry, host: HostReport) -> list[Verdict]:
    """No GPU: which GGUF quantizations fit host RAM for CPU-only llama.cpp."""
    ram = host.memory_total_bytes
    out = []
    for fmt in CPU_FORMATS:
        need = weights_bytes(model, fmt)
        if ram is not None and need <= ram * (1 - HOST_RAM_HEADROOM_FRACTION):
            out.append(_v("ok", "cpu_only", "cpu_option_fits", format=fmt, need_gib=_gib(need), ram_gib=_gib(ram)))
        else:
            out.append(_v("fail", "cpu_only", "cpu_option_too_big", format=fmt, need_gib=_gib(need),
                          ram_gib=_gib(ram) if ram is not None else "?"))
    return out


def model_verdicts(model: ModelEntry, gpus: Sequence[GpuReport], host: HostReport, *, driver_version: str | None,
                   engine: str = "vllm", weight_format: str | None = None) -> list[Verdict]:
    """Every verdict for running ``model`` (in ``weight_format``, default its checkpoint's) with ``engine`` here."""
    fmt = weight_format or native_format(model)
    weights = weights_bytes(model, fmt)
    out = disk_verdicts(host, weights, fmt)
    if not gpus:
        return [_v("warn", "gpu", "no_gpu_for_model", model=model.id), *out, *cpu_verdicts(model, host)]
    out += compute_capability_verdicts(gpus, fmt)
    out += memory_verdicts(gpus, host, weights, fmt, model)
    out += driver_verdicts(gpus, engine, driver_version)
    return out
