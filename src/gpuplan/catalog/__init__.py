"""Facts: models, accelerators, hosts, formats, prices, engines, calibration — the one loader of shipped data."""

from gpuplan.catalog.arch import ModelArch, TensorSpec
from gpuplan.catalog.gpus import GpuSpec, HostSpec, get_gpu, get_host, list_gpus, list_hosts
from gpuplan.catalog.models import ModelEntry, get_model, list_models

__all__ = [
    "GpuSpec", "HostSpec", "ModelArch", "ModelEntry", "TensorSpec",
    "get_gpu", "get_host", "get_model", "list_gpus", "list_hosts", "list_models",
]
