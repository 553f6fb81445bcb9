"""Result objects of ``gpuplan doctor`` (pydantic v2; the table and ``--json`` render the same objects).

``Recording`` is also the file format of a recorded NVML fake (``tests/data/nvml_recordings/*.json``,
``scripts/record_nvml.py``): what NVML returned, field by field, in base units.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RECORDING_SCHEMA = "gpuplan-nvml-recording/1"


class RecordedLink(BaseModel):
    """One NVLink link as NVML reports it (``nvmlDeviceGetNvLinkState`` / ``...RemotePciInfo``)."""

    model_config = ConfigDict(frozen=True)

    link: int
    active: bool
    remote_pci_bus_id: str | None = None


class RecordedGpu(BaseModel):
    """One GPU as NVML (or nvidia-smi) reported it; ``None`` = not reported / not supported."""

    model_config = ConfigDict(frozen=True)

    index: int
    name: str
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total_bytes: int = Field(ge=0)
    memory_used_bytes: int | None = Field(None, ge=0)
    compute_capability: tuple[int, int] | None = None
    temperature_c: float | None = None
    power_limit_watts: float | None = None
    ecc_enabled: bool | None = None
    pcie_link_gen_max: int | None = None
    pcie_link_width_max: int | None = None
    pcie_link_gen_current: int | None = None
    pcie_link_width_current: int | None = None
    nvlinks: tuple[RecordedLink, ...] | None = None
    mig_enabled: bool | None = None


class Recording(BaseModel):
    """What one NVML session returned: system versions and the GPUs. ``sources`` say where a fake came from."""

    model_config = ConfigDict(frozen=True)

    schema_: str = Field(RECORDING_SCHEMA, alias="schema")
    backend: str = "nvml"
    driver_version: str | None = None
    cuda_driver_version: int | None = Field(None, description="nvmlSystemGetCudaDriverVersion, e.g. 12040 = 12.4")
    nvml_version: str | None = None
    gpus: tuple[RecordedGpu, ...] = ()
    sources: tuple[str, ...] = ()
    notes: str | None = None


class GpuReport(BaseModel):
    """One GPU, mapped to the catalog."""

    model_config = ConfigDict(frozen=True)

    index: int
    name: str
    catalog_id: str | None
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total_bytes: int
    memory_used_bytes: int | None = None
    compute_capability: str | None = None
    temperature_c: float | None = None
    power_limit_watts: float | None = None
    ecc_enabled: bool | None = None
    pcie_link_gen_max: int | None = None
    pcie_link_width_max: int | None = None
    pcie_link_gen_current: int | None = None
    pcie_link_width_current: int | None = None
    nvlink_active_links: int | None = None
    mig_enabled: bool | None = None


class HostReport(BaseModel):
    """The host: OS, CPU, memory, disk free where the weights would go."""

    model_config = ConfigDict(frozen=True)

    hostname: str
    os: str
    machine: str
    python: str
    cpu_model: str | None = None
    cpu_logical_cores: int | None = None
    cpu_physical_cores: int | None = None
    cpu_flags: tuple[str, ...] = ()
    memory_total_bytes: int | None = None
    memory_available_bytes: int | None = None
    disk_path: str
    disk_total_bytes: int | None = None
    disk_free_bytes: int | None = None


class Verdict(BaseModel):
    """One finding: ``ok``, ``warn`` or ``fail``, a message key with its parameters, and the rendered sentence."""

    model_config = ConfigDict(frozen=True)

    level: Literal["ok", "warn", "fail", "info"]
    check: str
    key: str
    params: dict[str, str] = Field(default_factory=dict)
    message: str = ""


class DoctorReport(BaseModel):
    """What ``doctor --json`` prints."""

    model_config = ConfigDict(frozen=True)

    host: HostReport
    backend: str
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    gpus: tuple[GpuReport, ...] = ()
    gpu_error: str | None = None
    target: str | None = None
    verdicts: tuple[Verdict, ...] = ()
