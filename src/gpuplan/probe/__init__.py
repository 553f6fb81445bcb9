"""``gpuplan doctor``: what is this machine, and can it run the model or plan?

``probe_host()`` reads the host (RAM, CPU, disk); ``probe_gpus(backend)`` reads the GPUs through a backend — NVML
(nvidia-ml-py), ``nvidia-smi --query-gpu`` as fallback, or a recorded fake (a JSON file of what NVML returned,
replayed; ``GPUPLAN_NVML_RECORDING=path``). ``doctor_report`` maps GPUs to catalog ids and adds verdicts.
"""

from gpuplan.probe.gpus import (
    NvidiaSmiBackend,
    NvmlBackend,
    RecordingBackend,
    default_backend,
    probe_gpus,
    read_recording,
)
from gpuplan.probe.host import probe_host
from gpuplan.probe.models import DoctorReport, GpuReport, HostReport, Verdict
from gpuplan.probe.report import doctor_report

__all__ = [
    "DoctorReport", "GpuReport", "HostReport", "NvidiaSmiBackend", "NvmlBackend", "RecordingBackend", "Verdict",
    "default_backend", "doctor_report", "probe_gpus", "probe_host", "read_recording",
]
