"""The host: CPU model and flags, RAM, disk free (psutil, /proc/cpuinfo, shutil.disk_usage)."""

from __future__ import annotations

import os
import platform
import shutil
import socket
from pathlib import Path

from gpuplan.probe.models import HostReport

# CPU flags that decide llama.cpp CPU kernels (ggml CPU backend feature detection)
INTERESTING_CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16",
                         "amx_int8", "neon", "asimd", "sve")


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str | None, tuple[str, ...]]:
    """(model name, interesting flags) from /proc/cpuinfo; (None, ()) where it does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:1_000_000]
    except OSError:
        return platform.processor() or None, ()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, tuple(f for f in INTERESTING_CPU_FLAGS if f in flags)


def probe_host(disk_path: str | os.PathLike | None = None) -> HostReport:
    """Read the host. ``disk_path``: where the weights go (default: the Hugging Face cache dir or the home dir)."""
    import psutil

    path = Path(disk_path) if disk_path else _default_disk_path()
    probe_at = path
    while not probe_at.exists() and probe_at != probe_at.parent:
        probe_at = probe_at.parent
    try:
        usage = shutil.disk_usage(probe_at)
        disk_total, disk_free = usage.total, usage.free
    except OSError:
        disk_total = disk_free = None
    model, flags = _cpuinfo()
    vm = psutil.virtual_memory()
    return HostReport(
        hostname=socket.gethostname(), os=f"{platform.system()} {platform.release()}", machine=platform.machine(),
        python=platform.python_version(), cpu_model=model, cpu_logical_cores=psutil.cpu_count(logical=True),
        cpu_physical_cores=psutil.cpu_count(logical=False), cpu_flags=flags, memory_total_bytes=int(vm.total),
        memory_available_bytes=int(vm.available), disk_path=str(path), disk_total_bytes=disk_total,
        disk_free_bytes=disk_free,
    )


def _default_disk_path() -> Path:
    """HF_HOME / HF_HUB_CACHE if set (huggingface_hub environment variables), else ~/.cache/huggingface."""
    for name in ("HF_HUB_CACHE", "HF_HOME"):
        if os.environ.get(name):
            return Path(os.environ[name])
    return Path.home() / ".cache" / "huggingface"
