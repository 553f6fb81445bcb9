"""Communication: TP all-reduce (ring), EP all-to-all (dispatch + combine, as DeepEP does it), PP point-to-point."""

from __future__ import annotations

from gpuplan.perf.operations import OpTime


def ring_allreduce_s(message_bytes: float, num_ranks: int, link_bytes_per_s: float, latency_s: float) -> float:
    """Ring all-reduce: 2(n−1)/n · M / bw + 2(n−1) · α (Patarasuk & Yuan 2009; NCCL ring algorithm).

    Reduce-scatter then all-gather, each n−1 steps moving M/n bytes; α is the per-step latency, which dominates the
    small messages of decode.
    """
    if num_ranks <= 1:
        return 0.0
    n = num_ranks
    return 2 * (n - 1) / n * message_bytes / link_bytes_per_s + 2 * (n - 1) * latency_s


def all_to_all_s(bytes_per_rank: float, num_ranks: int, link_bytes_per_s: float, latency_s: float) -> float:
    """All-to-all: each rank sends (n−1)/n of its ``bytes_per_rank`` to the others: (n−1)/n · B / bw + (n−1) · α."""
    if num_ranks <= 1:
        return 0.0
    n = num_ranks
    return (n - 1) / n * bytes_per_rank / link_bytes_per_s + (n - 1) * latency_s


def tp_allreduce_op(*, message_bytes: float, ranks: int, calls: float, link_bytes_per_s: float,
                    latency_s: float) -> OpTime:
    """``calls`` ring all-reduces of ``message_bytes`` (two per layer: after attention and after the MLP)."""
    t = calls * ring_allreduce_s(message_bytes, ranks, link_bytes_per_s, latency_s)
    return OpTime("tp_allreduce", t, "communication")


def ep_all_to_all_op(*, bytes_per_rank: float, ranks: int, calls: float, link_bytes_per_s: float,
                     latency_s: float) -> OpTime:
    """``calls`` all-to-alls (dispatch and combine per MoE layer: DeepEP's normal/low-latency kernels)."""
    t = calls * all_to_all_s(bytes_per_rank, ranks, link_bytes_per_s, latency_s)
    return OpTime("ep_all_to_all", t, "communication")


def pp_send_op(*, message_bytes: float, hops: float, link_bytes_per_s: float, latency_s: float) -> OpTime:
    """Pipeline stages hand the hidden state on: ``hops`` sends of ``message_bytes``."""
    t = hops * (message_bytes / link_bytes_per_s + latency_s) if hops > 0 else 0.0
    return OpTime("pp_send", t, "communication")
