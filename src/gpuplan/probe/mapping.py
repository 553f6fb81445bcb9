"""Map a GPU name as NVML reports it to a catalog id.

1. GPU Feature Discovery's ``nvidia.com/gpu.product`` label is the NVML name with spaces replaced by '-' and
   characters outside ``[A-Za-z0-9-_.]`` dropped (shared/reference/ecosystem.md §2; e.g. ``NVIDIA-H100-80GB-HBM3``);
   the catalog stores it as ``gfd_product``.
2. Otherwise the names are compared with vendor words removed ("NVIDIA", "GeForce", "Tesla").
Where several entries share a name (RTX 4060 Ti 8 GB / 16 GB) the closest memory size wins, within 10 %.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gpuplan.catalog import GpuSpec, list_gpus

MEMORY_MATCH_FRACTION = 0.10
_VENDOR_WORDS = re.compile(r"\b(nvidia|geforce|tesla|quadro)\b")


def _norm(name: str) -> str:
    return " ".join(_VENDOR_WORDS.sub(" ", name.lower().replace("-", " ").replace("_", " ")).split())


def _closest_memory(candidates: Sequence[GpuSpec], memory_total_bytes: int) -> GpuSpec | None:
    def gap(g: GpuSpec) -> float:
        return abs(g.memory_bytes - memory_total_bytes) / g.memory_bytes

    best = min(candidates, key=gap, default=None)
    return best if best is not None and gap(best) <= MEMORY_MATCH_FRACTION else None


def catalog_id_for(name: str, memory_total_bytes: int, gpus: Sequence[GpuSpec] | None = None) -> str | None:
    """The catalog id of the GPU NVML calls ``name`` with ``memory_total_bytes``; ``None`` when unsure."""
    try:
        pool = tuple(gpus) if gpus is not None else list_gpus()
    except (OSError, ValueError):
        return None
    label = re.sub(r"[^a-z0-9_.-]", "", name.strip().replace(" ", "-").lower())
    by_label = [g for g in pool if g.gfd_product and g.gfd_product.lower() == label]
    if by_label:
        hit = _closest_memory(by_label, memory_total_bytes)
        return hit.id if hit else None
    wanted = _norm(name)
    by_name = [g for g in pool if _norm(g.name) == wanted or wanted in {_norm(a) for a in g.aliases}]
    hit = _closest_memory(by_name, memory_total_bytes) if by_name else None
    return hit.id if hit else None
