#!/usr/bin/env python3
"""Record what NVML reports on this machine as a gpuplan NVML recording (JSON) for ``gpuplan doctor`` tests.

Run on a machine with an NVIDIA GPU and driver:

    python scripts/record_nvml.py > tests/data/nvml_recordings/<name>.json
    python scripts/record_nvml.py --backend nvidia-smi --out smi.json   # the fallback path instead

Replay it with ``GPUPLAN_NVML_RECORDING=<file> gpuplan doctor`` or ``gpuplan doctor --recording <file>``.
The recording holds the GPU names, UUIDs and PCI bus ids, memory, compute capability, temperature, power limit,
ECC and MIG mode, PCIe links and NVLink states, the driver and the CUDA driver API version — no process list and
no host data. Exit status 1 (with the reason on stderr) when no GPU can be read.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime

from gpuplan.probe.gpus import NoGpuError, NvidiaSmiBackend, NvmlBackend


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("nvml", "nvidia-smi"), default="nvml")
    parser.add_argument("--out", default="-", help="file to write (default: stdout)")
    parser.add_argument("--note", default="", help="free text stored in 'notes' (where and how it was recorded)")
    ns = parser.parse_args()
    backend = NvmlBackend() if ns.backend == "nvml" else NvidiaSmiBackend()
    try:
        recording = backend.read()
    except NoGpuError as exc:
        print(f"no GPU could be read: {exc}", file=sys.stderr)
        return 1
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    note = f"Recorded by scripts/record_nvml.py ({ns.backend}) on {platform.platform()} at {stamp}. {ns.note}".strip()
    recording = recording.model_copy(update={"notes": note, "sources": (f"live {ns.backend} on this machine, {stamp}",)})
    text = json.dumps(recording.model_dump(mode="json", by_alias=True), indent=1) + "\n"
    if ns.out == "-":
        sys.stdout.write(text)
    else:
        with open(ns.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
