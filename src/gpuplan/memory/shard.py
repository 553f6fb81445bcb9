"""Weights per GPU under tensor, pipeline and expert parallelism (DESIGN §5), with the engines' replication rules.

Rules (vLLM model code: VocabParallelEmbedding, ColumnParallelLinear/RowParallelLinear, ReplicatedLinear for MLA's
``q_a_proj`` / ``kv_a_proj_with_mqa``, FusedMoE with and without ``--enable-expert-parallel``):

* embeddings and lm_head are vocab-parallel: ÷ TP; embeddings live on the first pipeline stage, the head on the last;
* norms, routers, router biases and the V3.2/V4 indexers are replicated;
* GQA: q and o ÷ TP; k and v ÷ min(TP, n_kv) (replicated once TP > n_kv);
* MLA: q_a and kv_a replicated; q_b, kv_b, o ÷ TP;
* dense MLP and shared experts ÷ TP; routed experts ÷ EP when EP > 1 (each rank holds whole experts), else ÷ TP;
* with DP-attention (SGLang ``--enable-dp-attention``) attention is sharded only over TP / DP ranks;
* pipeline stages take contiguous, even blocks of layers; per GPU is the heaviest stage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gpuplan.catalog.arch import ModelArch, TensorSpec

_REPLICATED_SUFFIXES = (".attn_q_a", ".attn_kv_a_mqa", ".attn_kv", ".attn_q_a_norm", ".attn_kv_a_norm", ".attn_kv_norm")


@dataclass(frozen=True, slots=True)
class ShardedWeights:
    per_gpu_bytes: int
    by_component_bytes: dict[str, int]
    stage_bytes: tuple[int, ...]


def _divisor(t: TensorSpec, arch: ModelArch, tp: int, ep: int, att_tp: int) -> int:
    comp = t.component
    if comp in ("norm", "router", "router_bias", "indexer"):
        return 1
    if comp in ("embed", "lm_head", "mlp", "shared_experts"):
        return tp
    if comp == "routed_experts":
        return ep if ep > 1 else tp
    if comp in ("attention", "mtp"):
        name = t.name
        if any(name.endswith(s) for s in _REPLICATED_SUFFIXES) or ".compressor." in name:
            return 1
        if comp == "mtp":
            return tp if not name.endswith(("norm", "_base", "_scale")) else 1
        att = arch.attention[t.layer or 0]
        if att.kind == "gqa" and (".attn_k" in name or ".attn_v" in name):
            return min(att_tp, att.num_kv_heads)
        return att_tp
    return tp


def shard_weights(arch: ModelArch, tensor_bytes: Sequence[tuple[TensorSpec, int]], *, tp: int = 1, pp: int = 1,
                  ep: int = 1, dp_attention: int = 1) -> ShardedWeights:
    """Bytes of weights on the most loaded GPU, given (tensor, bytes) pairs for the whole model."""
    att_tp = max(1, tp // dp_attention)
    L = arch.num_layers
    stages = [0.0] * pp
    by_comp: dict[str, float] = {}
    for t, nbytes in tensor_bytes:
        share = nbytes / _divisor(t, arch, tp, ep, att_tp)
        if t.layer is None:
            stage = 0 if t.component == "embed" else pp - 1
        else:
            stage = min(pp - 1, (min(t.layer, L - 1) * pp) // L)
        stages[stage] += share
        by_comp[t.component] = by_comp.get(t.component, 0.0) + share / pp
    heavy = max(range(pp), key=lambda s: stages[s])
    return ShardedWeights(
        per_gpu_bytes=math.ceil(stages[heavy]),
        by_component_bytes={k: math.ceil(v) for k, v in by_comp.items()},
        stage_bytes=tuple(math.ceil(s) for s in stages),
    )
