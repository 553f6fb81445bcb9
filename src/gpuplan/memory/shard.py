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


def _rule(t: TensorSpec, arch: ModelArch) -> tuple[str, int]:
    """How a tensor is split, independent of the layout: ("one" | "tp" | "experts" | "att", 0) or ("kv", n_kv)."""
    comp = t.component
    if comp in ("norm", "router", "router_bias", "indexer"):
        return ("one", 0)
    if comp in ("embed", "lm_head", "mlp", "shared_experts"):
        return ("tp", 0)
    if comp == "routed_experts":
        return ("experts", 0)
    if comp in ("attention", "mtp"):
        name = t.name
        if any(name.endswith(s) for s in _REPLICATED_SUFFIXES) or ".compressor." in name:
            return ("one", 0)
        if comp == "mtp":
            return ("tp", 0) if not name.endswith(("norm", "_base", "_scale")) else ("one", 0)
        att = arch.attention[t.layer or 0]
        if att.kind == "gqa" and (".attn_k" in name or ".attn_v" in name):
            return ("kv", att.num_kv_heads)
        return ("att", 0)
    return ("tp", 0)


def _divisor_of(rule: str, num_kv: int, tp: int, ep: int, att_tp: int) -> int:
    if rule == "one":
        return 1
    if rule == "experts":
        return ep if ep > 1 else tp
    if rule == "att":
        return att_tp
    if rule == "kv":
        return min(att_tp, num_kv)
    return tp


def _divisor(t: TensorSpec, arch: ModelArch, tp: int, ep: int, att_tp: int) -> int:
    return _divisor_of(*_rule(t, arch), tp, ep, att_tp)


@dataclass(frozen=True, slots=True)
class _Group:
    """Bytes of the tensors that share a component and a split rule: per layer (prefix sums), and outside layers."""

    component: str
    rule: str
    num_kv: int
    prefix_bytes: tuple[int, ...]  # prefix_bytes[l] = bytes of layers < l
    first_stage_bytes: int  # embeddings (first pipeline stage)
    last_stage_bytes: int  # head, final norm (last pipeline stage)


_GROUPS: dict[int, tuple[object, tuple[_Group, ...]]] = {}
_RULES: dict[int, tuple[ModelArch, dict[int, tuple]]] = {}


def _groups(arch: ModelArch, tensor_bytes: Sequence[tuple[TensorSpec, int]]) -> tuple[_Group, ...]:
    """The tensors summed by (component, split rule), once per tensor table (tables are cached by the callers, so
    their identity is the key): sharding then costs O(groups × stages), not O(tensors) — 47k for DeepSeek-V3."""
    hit = _GROUPS.get(id(tensor_bytes))
    if hit is not None and hit[0] is tensor_bytes:
        return hit[1]
    L = arch.num_layers
    acc: dict[tuple[str, str, int], list] = {}
    rules = _RULES.get(id(arch))
    if rules is None or rules[0] is not arch:
        if len(_RULES) > 64:
            _RULES.clear()
        rules = _RULES[id(arch)] = (arch, {})
    # id(tensor) → (tensor, its group key, its layer slot or None, embeddings?): the same tensors come in every
    # format's and part's table
    known = rules[1]
    for t, nbytes in tensor_bytes:
        hit = known.get(id(t))
        if hit is None or hit[0] is not t:
            rule, nkv = _rule(t, arch)
            hit = known[id(t)] = (t, (t.component, rule, nkv), None if t.layer is None else min(t.layer, L - 1),
                                  t.component == "embed")
        _, key, layer, embed = hit
        g = acc.get(key)
        if g is None:  # (not setdefault: its default, a list of L zeros, would be built for every tensor)
            g = acc[key] = [[0] * L, 0, 0]
        if layer is None:
            g[1 if embed else 2] += nbytes
        else:
            g[0][layer] += nbytes
    out = []
    for (comp, rule, nkv), (per_layer, first, last) in acc.items():
        prefix = [0]
        for b in per_layer:
            prefix.append(prefix[-1] + b)
        out.append(_Group(comp, rule, nkv, tuple(prefix), first, last))
    groups = tuple(out)
    if len(_GROUPS) > 256:
        _GROUPS.clear()
    _GROUPS[id(tensor_bytes)] = (tensor_bytes, groups)
    return groups


def shard_weights(arch: ModelArch, tensor_bytes: Sequence[tuple[TensorSpec, int]], *, tp: int = 1, pp: int = 1,
                  ep: int = 1, dp_attention: int = 1) -> ShardedWeights:
    """Bytes of weights on the most loaded GPU, given (tensor, bytes) pairs for the whole model.

    Pipeline stages take layers ``l`` with ``l · pp // L == s`` (contiguous, even blocks); embeddings go to the first
    stage, everything outside the layers to the last."""
    att_tp = max(1, tp // dp_attention)
    L = arch.num_layers
    bounds = [-(-s * L // pp) for s in range(pp + 1)]  # first layer of each stage: ceil(s · L / pp)
    stages = [0.0] * pp
    by_comp: dict[str, float] = {}
    for g in _groups(arch, tensor_bytes):
        div = _divisor_of(g.rule, g.num_kv, tp, ep, att_tp)
        prefix = g.prefix_bytes
        for s in range(pp):
            stages[s] += (prefix[bounds[s + 1]] - prefix[bounds[s]]) / div
        stages[0] += g.first_stage_bytes / div
        stages[pp - 1] += g.last_stage_bytes / div
        total = prefix[-1] + g.first_stage_bytes + g.last_stage_bytes
        by_comp[g.component] = by_comp.get(g.component, 0.0) + total / div / pp
    heavy = max(range(pp), key=lambda s: stages[s])
    return ShardedWeights(
        per_gpu_bytes=math.ceil(stages[heavy]),
        by_component_bytes={k: math.ceil(v) for k, v in by_comp.items()},
        stage_bytes=tuple(math.ceil(s) for s in stages),
    )
