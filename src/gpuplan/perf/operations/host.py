"""Weights held in host RAM: routed experts run on the CPU (KTransformers, llama.cpp ``-ot exps=CPU`` /
``--n-cpu-moe``), or whole layers left on the host (llama.cpp ``-ngl`` below the layer count).

Experts on the CPU are computed there: time = max(bytes / (host BW · η_host_mem), FLOPs / (host FLOP/s · η_host_comp)).
Decode (a few tokens) is bound by the host's memory bandwidth, prefill (hundreds of tokens per expert) by its
AVX-512/AMX compute — which is why KTransformers prefills at ~80–90 tokens/s while it decodes at ~13 tokens/s on the
same two Xeon sockets (KTransformers DeepSeek-V3 tutorial, public-2 rows N050–N056).
Layers on the host are streamed to the GPU over PCIe / read in place by the CPU: bytes / (host BW · η_mem).
"""

from __future__ import annotations

from gpuplan.perf.operations import OpTime


def host_experts_op(*, expert_bytes: float, flops: float, host_bytes_per_s: float, host_flops_per_s: float) -> OpTime:
    """Routed experts on the CPU; rates already include their efficiencies. No stated FLOP rate → memory only."""
    memory_s = expert_bytes / max(host_bytes_per_s, 1.0)
    compute_s = flops / host_flops_per_s if host_flops_per_s > 0 else 0.0
    if compute_s > memory_s:
        return OpTime("host_experts", compute_s, "host_compute", memory_s, compute_s)
    return OpTime("host_experts", memory_s, "host_memory", memory_s, compute_s)


def host_layers_op(*, weight_bytes: float, host_bytes_per_s: float) -> OpTime:
    """Layers kept in host RAM, read once per pass."""
    t = weight_bytes / max(host_bytes_per_s, 1.0)
    return OpTime("host_layers", t, "host_memory", t, 0.0)
