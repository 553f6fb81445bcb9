"""Per-step fixed costs: kernel launches / CUDA-graph replay and the scheduler, per step, per layer, per sequence.

step_overhead_s (scheduler, CUDA-graph replay, detokenize hand-off) + layer_overhead_s · layers (launches that a
graph does not hide, per-layer synchronisation) + seq_overhead_s · sequences (per-request bookkeeping, sampling
params). All three are fitted per engine (calibration.toml); without a CUDA graph (llama.cpp, eager mode) the
per-layer cost is what the fit absorbs.
"""

from __future__ import annotations

from gpuplan.perf.operations import OpTime


def overhead_op(*, passes: float, layers: int, num_seqs: float, step_overhead_s: float, layer_overhead_s: float,
                seq_overhead_s: float) -> OpTime:
    t = passes * (step_overhead_s + layer_overhead_s * layers) + seq_overhead_s * num_seqs
    return OpTime("overhead", t, "overhead")
