"""Which part of the model a checkpoint tensor belongs to, from its name (Hugging Face or llama.cpp naming).

The components are those of ``gpuplan.catalog.arch.COMPONENTS`` (embed, lm_head, attention, indexer, mlp,
routed_experts, shared_experts, router, norm, mtp) plus "other" for anything unrecognized. Quantization side tensors
(``weight_scale_inv`` of DeepSeek FP8, GPTQ ``scales``/``qzeros``/``g_idx``) follow their weight's name and so land in
the same component. Layers at index ≥ ``num_hidden_layers`` are MTP layers (DeepSeek-V3 stores its MTP module as
``model.layers.61``; llama.cpp as ``blk.61.nextn.*``).

Name patterns: HF modeling files (``modeling_deepseek_v3.py``, ``modeling_llama.py``, ``modeling_qwen3_moe.py``,
``modeling_mixtral.py`` in huggingface/transformers) and llama.cpp ``gguf-py/gguf/constants.py`` ``TENSOR_NAMES``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gpuplan.importers.model import TensorInfo

_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|blk|h|block|blocks)\.(\d+)\.")
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mtp", re.compile(r"\.nextn\.|(?:^|\.)mtp(?:\.|_)")),
    ("indexer", re.compile(r"indexer")),
    ("router", re.compile(r"\.mlp\.gate\.|\.router\.|ffn_gate_inp(?!_shexp)|exp_probs_b|block_sparse_moe\.gate\.|"
                          r"e_score_correction")),
    ("norm", re.compile(r"norm")),
    ("shared_experts", re.compile(r"shared_expert|_shexp")),
    ("routed_experts", re.compile(r"\.experts\.|_exps")),
    ("embed", re.compile(r"embed_tokens|token_embd|tok_embeddings|(?:^|\.)wte\.")),
    ("lm_head", re.compile(r"(?:^|\.)lm_head\.|^output\.")),
    ("attention", re.compile(r"self_attn|attn|attention")),
    ("mlp", re.compile(r"\.mlp\.|ffn_|feed_forward")),
)


def component_of(name: str, num_layers: int | None) -> str:
    """The component a tensor name belongs to; "other" when no rule matches."""
    match = _LAYER_RE.search(name)
    if match is not None and num_layers is not None and int(match.group(1)) >= num_layers:
        return "mtp"
    for component, pattern in _RULES:
        if pattern.search(name):
            return component
    return "other"


def sums_by_component(tensors: Iterable[TensorInfo], num_layers: int | None) -> tuple[dict[str, int], dict[str, int]]:
    """(elements, bytes) per component: Σ num_elements and Σ num_bytes of the tensors in each."""
    elements: dict[str, int] = {}
    stored: dict[str, int] = {}
    for tensor in tensors:
        component = component_of(tensor.name, num_layers)
        elements[component] = elements.get(component, 0) + tensor.num_elements
        stored[component] = stored.get(component, 0) + tensor.num_bytes
    return elements, stored
