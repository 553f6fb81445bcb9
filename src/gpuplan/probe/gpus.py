"""GPU backends: NVML (nvidia-ml-py), ``nvidia-smi --query-gpu`` (fallback), and a recorded fake (JSON replay).

Every backend returns a ``Recording`` — what NVML said, in base units — so the real path, the fallback and the CI
fake go through the same mapping and verdict code. NVML calls used (NVML API reference,
https://docs.nvidia.com/deploy/nvml-api/): nvmlSystemGetDriverVersion, nvmlSystemGetCudaDriverVersion,
nvmlDeviceGetName/UUID/PciInfo/MemoryInfo/CudaComputeCapability/Temperature/EnforcedPowerLimit (mW)/EccMode/
MaxPcieLinkGeneration/MaxPcieLinkWidth/CurrPcieLinkGeneration/CurrPcieLinkWidth/NvLinkState/NvLinkRemotePciInfo/
MigMode. nvidia-smi query fields: ``nvidia-smi --help-query-gpu``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from gpuplan.errors import InvalidInputError, MalformedFileError
from gpuplan.probe.models import GpuReport, RecordedGpu, RecordedLink, Recording
from gpuplan.units import MIB

RECORDING_ENV = "GPUPLAN_NVML_RECORDING"
MAX_RECORDING_BYTES = 2 * MIB
NVLINK_MAX_LINKS = 18  # NVML_NVLINK_MAX_LINKS in nvml.h (18 on Hopper)
SMI_TIMEOUT_S = 20.0
SMI_FIELDS = (
    "index", "name", "uuid", "pci.bus_id", "memory.total", "memory.used", "compute_cap", "temperature.gpu",
    "power.limit", "ecc.mode.current", "pcie.link.gen.max", "pcie.link.width.max", "pcie.link.gen.current",
    "pcie.link.width.current", "mig.mode.current", "driver_version",
)


class GpuBackend(Protocol):
    name: str

    def read(self) -> Recording: ...


class NoGpuError(Exception):
    """The backend found no usable NVIDIA driver or device; the message says why."""


class RecordingBackend:
    """Replays a recording (JSON, bounded size, validated)."""

    name = "recording"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def read(self) -> Recording:
        return read_recording(self.path)


def read_recording(path: str | os.PathLike) -> Recording:
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError("doctor.recording_missing", path=str(p))
    if p.stat().st_size > MAX_RECORDING_BYTES:
        raise MalformedFileError("doctor.recording_bad", path=str(p), detail=f"larger than {MAX_RECORDING_BYTES} bytes")
    from gpuplan.safeio import load_json, read_bytes

    try:
        return Recording.model_validate(load_json(read_bytes(p, MAX_RECORDING_BYTES).decode("utf-8"), str(p)))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedFileError("doctor.recording_bad", path=str(p), detail=str(exc)[:120]) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise MalformedFileError("doctor.recording_bad", path=str(p), detail=f"{where}: {first.get('msg')}") from None


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class NvmlBackend:
    """The real path: NVML through nvidia-ml-py (``import pynvml``)."""

    name = "nvml"

    def read(self) -> Recording:
        try:
            import pynvml
        except ImportError as exc:
            raise NoGpuError(f"nvidia-ml-py not installed: {exc}") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NoGpuError(f"NVML: {exc}") from None
        try:
            return _read_nvml(pynvml)
        finally:
            pynvml.nvmlShutdown()


def _safe(fn, *args):
    """Call an NVML function; ``None`` when the GPU or driver does not support it."""
    import pynvml

    try:
        return fn(*args)
    except pynvml.NVMLError:
        return None


def _read_nvml(nv) -> Recording:
    gpus = []
    for index in range(nv.nvmlDeviceGetCount()):
        h = nv.nvmlDeviceGetHandleByIndex(index)
        mem = nv.nvmlDeviceGetMemoryInfo(h)
        pci = _safe(nv.nvmlDeviceGetPciInfo, h)
        cc = _safe(nv.nvmlDeviceGetCudaComputeCapability, h)
        power_mw = _safe(nv.nvmlDeviceGetEnforcedPowerLimit, h)
        ecc = _safe(nv.nvmlDeviceGetEccMode, h)
        mig = _safe(nv.nvmlDeviceGetMigMode, h)
        gpus.append(RecordedGpu(
            index=index, name=_text(nv.nvmlDeviceGetName(h)), uuid=_text(_safe(nv.nvmlDeviceGetUUID, h) or "") or None,
            pci_bus_id=_text(pci.busId) if pci is not None else None, memory_total_bytes=int(mem.total),
            memory_used_bytes=int(mem.used), compute_capability=tuple(cc) if cc else None,
            temperature_c=_safe(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU),
            power_limit_watts=power_mw / 1000 if power_mw is not None else None,
            ecc_enabled=bool(ecc[0]) if ecc is not None else None,
            pcie_link_gen_max=_safe(nv.nvmlDeviceGetMaxPcieLinkGeneration, h),
            pcie_link_width_max=_safe(nv.nvmlDeviceGetMaxPcieLinkWidth, h),
            pcie_link_gen_current=_safe(nv.nvmlDeviceGetCurrPcieLinkGeneration, h),
            pcie_link_width_current=_safe(nv.nvmlDeviceGetCurrPcieLinkWidth, h),
            nvlinks=_nvlinks(nv, h), mig_enabled=bool(mig[0]) if mig is not None else None,
        ))
    cuda = _safe(nv.nvmlSystemGetCudaDriverVersion)
    return Recording(
        backend="nvml", driver_version=_text(nv.nvmlSystemGetDriverVersion()), cuda_driver_version=cuda,
        nvml_version=_text(_safe(nv.nvmlSystemGetNVMLVersion) or "") or None, gpus=tuple(gpus),
    )


def _nvlinks(nv, handle) -> tuple[RecordedLink, ...] | None:
    links = []
    for link in range(NVLINK_MAX_LINKS):
        state = _safe(nv.nvmlDeviceGetNvLinkState, handle, link)
        if state is None:
            break
        remote = _safe(nv.nvmlDeviceGetNvLinkRemotePciInfo, handle, link) if state else None
        links.append(RecordedLink(link=link, active=bool(state),
                                  remote_pci_bus_id=_text(remote.busId) if remote is not None else None))
    return tuple(links) if links else None


class NvidiaSmiBackend:
    """The fallback: ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits`` plus the header's CUDA version."""

    name = "nvidia-smi"

    def __init__(self, executable: str = "nvidia-smi") -> None:
        self.executable = executable

    def read(self) -> Recording:
        exe = shutil.which(self.executable)
        if exe is None:
            raise NoGpuError("nvidia-smi not found")
        try:
            csv_out = subprocess.run(
                [exe, f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=True).stdout
            header = subprocess.run([exe], capture_output=True, text=True, timeout=SMI_TIMEOUT_S).stdout
        except (subprocess.SubprocessError, OSError) as exc:
            raise NoGpuError(f"nvidia-smi failed: {exc}") from None
        return parse_smi(csv_out, header)


def _smi_value(text: str) -> str | None:
    value = text.strip()
    return None if value in ("", "N/A", "[N/A]", "[Not Supported]", "Not Supported", "[Unknown Error]") else value


def _smi_int(text: str) -> int | None:
    value = _smi_value(text)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _smi_float(text: str) -> float | None:
    value = _smi_value(text)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def parse_smi(csv_text: str, header_text: str = "") -> Recording:
    """Parse ``nvidia-smi --query-gpu`` CSV (fields ``SMI_FIELDS``, MiB, no units) and the banner's CUDA version."""
    gpus, driver = [], None
    for line in csv_text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(SMI_FIELDS):
            continue
        row = dict(zip(SMI_FIELDS, cells, strict=True))
        cc_text = _smi_value(row["compute_cap"])
        cc = tuple(int(x) for x in cc_text.split(".")) if cc_text and "." in cc_text else None
        ecc, mig = _smi_value(row["ecc.mode.current"]), _smi_value(row["mig.mode.current"])
        total_mib, used_mib = _smi_int(row["memory.total"]), _smi_int(row["memory.used"])
        gpus.append(RecordedGpu(
            index=_smi_int(row["index"]) or len(gpus), name=row["name"], uuid=_smi_value(row["uuid"]),
            pci_bus_id=_smi_value(row["pci.bus_id"]), memory_total_bytes=(total_mib or 0) * MIB,
            memory_used_bytes=used_mib * MIB if used_mib is not None else None,
            compute_capability=cc, temperature_c=_smi_float(row["temperature.gpu"]),
            power_limit_watts=_smi_float(row["power.limit"]),
            ecc_enabled=None if ecc is None else ecc.lower() == "enabled",
            pcie_link_gen_max=_smi_int(row["pcie.link.gen.max"]), pcie_link_width_max=_smi_int(row["pcie.link.width.max"]),
            pcie_link_gen_current=_smi_int(row["pcie.link.gen.current"]),
            pcie_link_width_current=_smi_int(row["pcie.link.width.current"]),
            mig_enabled=None if mig is None else mig.lower() == "enabled",
        ))
        driver = driver or _smi_value(row["driver_version"])
    return Recording(backend="nvidia-smi", driver_version=driver, cuda_driver_version=_banner_cuda(header_text),
                     gpus=tuple(gpus))


def _banner_cuda(header_text: str) -> int | None:
    """'CUDA Version: 12.4' in the nvidia-smi banner → 12040 (NVML's encoding: 1000·major + 10·minor)."""
    marker = "CUDA Version:"
    at = header_text.find(marker)
    if at < 0:
        return None
    token = header_text[at + len(marker):].split()[0] if header_text[at + len(marker):].split() else ""
    try:
        major, minor = (int(x) for x in token.split(".")[:2])
    except ValueError:
        return None
    return major * 1000 + minor * 10


def default_backend(recording: str | os.PathLike | None = None) -> GpuBackend:
    """A recording if given (argument or ``GPUPLAN_NVML_RECORDING``), else NVML if it loads, else nvidia-smi."""
    path = recording or os.environ.get(RECORDING_ENV)
    if path:
        return RecordingBackend(path)
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return NvmlBackend()
    except Exception:  # noqa: BLE001 - any NVML failure means: try the fallback
        if shutil.which("nvidia-smi"):
            return NvidiaSmiBackend()
    return NvmlBackend()


def probe_gpus(backend: GpuBackend) -> list[GpuReport]:
    """The GPUs the backend reports, each mapped to a catalog id (``[]`` when there is no GPU)."""
    try:
        recording = backend.read()
    except NoGpuError:
        return []
    return gpu_reports(recording)


def gpu_reports(recording: Recording) -> list[GpuReport]:
    from gpuplan.probe.mapping import catalog_id_for

    out = []
    for g in recording.gpus:
        links = g.nvlinks
        out.append(GpuReport(
            index=g.index, name=g.name, catalog_id=catalog_id_for(g.name, g.memory_total_bytes), uuid=g.uuid,
            pci_bus_id=g.pci_bus_id, memory_total_bytes=g.memory_total_bytes, memory_used_bytes=g.memory_used_bytes,
            compute_capability=f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.compute_capability else None,
            temperature_c=g.temperature_c, power_limit_watts=g.power_limit_watts, ecc_enabled=g.ecc_enabled,
            pcie_link_gen_max=g.pcie_link_gen_max, pcie_link_width_max=g.pcie_link_width_max,
            pcie_link_gen_current=g.pcie_link_gen_current, pcie_link_width_current=g.pcie_link_width_current,
            nvlink_active_links=sum(1 for link in links if link.active) if links is not None else None,
            mig_enabled=g.mig_enabled,
        ))
    return out
