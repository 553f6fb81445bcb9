"""Norms, activations, residual adds and rotary embedding, plus sampling: memory-bound element-wise kernels.

Per token per layer a transformer block reads and writes the hidden state a handful of times outside the GEMMs: two
RMSNorms (read + write), two residual adds (read 2 + write 1), the rotary embedding on q/k, the SwiGLU activation on
the MLP intermediate (read 2 + write 1). The table precomputes those bytes per token (``elementwise_bytes_per_token``).
Sampling reads the logits of each sequence once (vocab × 4 bytes fp32, top-p/top-k sort in the engines' samplers).
"""

from __future__ import annotations

from gpuplan.perf.operations import OpTime

LOGIT_BYTES = 4  # fp32 logits (vLLM and SGLang samplers upcast to float32)
# Activations smaller than the last-level cache stay there between kernels: a decode batch's hidden states
# (256 × 7168 × 2 B = 3.7 MB) never reach DRAM; a prefill chunk's (8192 × 7168 × 2 B = 117 MB) do. 50 MB is the
# H100's L2 (NVIDIA H100 Tensor Core GPU Architecture whitepaper); the GPU catalog does not state L2 sizes, so the
# H100's stands for all. Below it, element-wise kernels cost their launches (the overhead operator).
L2_RESIDENT_BYTES = 50e6


def elementwise_op(*, bytes_per_token: float, tokens: float, bytes_per_s: float, hidden_bytes_per_token: float = 0.0
                   ) -> OpTime:
    """All element-wise kernels of one step: bytes per token × tokens over the achievable bandwidth, when one
    activation tensor (tokens × ``hidden_bytes_per_token``) spills the L2; zero when it stays there."""
    if hidden_bytes_per_token and tokens * hidden_bytes_per_token <= L2_RESIDENT_BYTES:
        return OpTime("elementwise", 0.0, "memory", 0.0, 0.0)
    t = bytes_per_token * tokens / bytes_per_s if bytes_per_s > 0 else 0.0
    return OpTime("elementwise", t, "memory", t, 0.0)


def sampling_op(*, vocab_size: int, num_seqs: float, bytes_per_s: float) -> OpTime:
    """Sampling: one pass over each sequence's fp32 logits."""
    t = vocab_size * LOGIT_BYTES * num_seqs / bytes_per_s if bytes_per_s > 0 else 0.0
    return OpTime("sampling", t, "memory", t, 0.0)
