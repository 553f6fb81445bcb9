"""Operators of one forward pass, one module per kind (STYLE.md's AIConfigurator anchor).

A step is a list of operations, each asked for its time: :mod:`gemm` (dense matmuls by shape and dtype),
:mod:`moe` (grouped GEMM over the experts a batch touches), :mod:`attention` (MHA/GQA, MLA absorbed as FlashMLA runs
it, DeepSeek-V3.2 sparse attention with its lightning indexer), :mod:`elementwise` (norms, activations, residuals,
sampling), :mod:`communication` (TP all-reduce, EP all-to-all, PP sends), :mod:`host` (routed experts run on the host
CPU: KTransformers, llama.cpp ``--n-cpu-moe``) and :mod:`overhead` (launches, scheduler). Each returns an
:class:`OpTime`: its seconds at min(roofline, fitted efficiency), and what bounds it.
"""

from __future__ import annotations

from typing import NamedTuple

BOUNDS = ("memory", "compute", "communication", "host_memory", "host_compute", "overhead")


class OpTime(NamedTuple):
    """One operator's share of a step.

    ``memory_s``: its bytes over the achievable bandwidth; ``compute_s``: its FLOPs over the achievable rate; ``time_s``
    the larger of the two (roofline) for GPU kernels, or the fixed/communication time for the others; ``bound`` names
    the limit that sets ``time_s`` (one of ``BOUNDS``). A named tuple: immutable, and cheap to build in the planner's
    hot loop (a frozen dataclass costs three times as much to construct).
    """

    name: str
    time_s: float
    bound: str
    memory_s: float = 0.0
    compute_s: float = 0.0


def roofline(name: str, memory_s: float, compute_s: float) -> OpTime:
    """max(memory, compute): the operator is as slow as its slower resource (Williams et al. 2009, "Roofline")."""
    if compute_s > memory_s:
        return OpTime(name, compute_s, "compute", memory_s, compute_s)
    return OpTime(name, memory_s, "memory", memory_s, compute_s)
