"""Per-tensor GGUF types: which ggml type llama.cpp's ``llama-quantize`` gives each tensor, and its bytes.

A GGUF "file type" such as Q4_K_M is a *mix*: most tensors get the base type (Q4_K), sensitive ones get more bits
(``output`` → Q6_K, half of ``attn_v`` / ``ffn_down`` → Q6_K, ...), 1-D tensors stay F32. This module re-implements
``llama_tensor_get_type`` / ``llama_tensor_get_type_impl`` / ``tensor_type_fallback`` / ``tensor_allows_quantization``
of llama.cpp ``src/llama-quant.cpp`` at commit 007dbbf3fd17eefe9b47fee45f48f7ba5e62b714
(https://github.com/ggml-org/llama.cpp/blob/007dbbf3fd17eefe9b47fee45f48f7ba5e62b714/src/llama-quant.cpp), rule by
rule, for the file types gpuplan offers, plus Unsloth's DeepSeek "UD" dynamic mixes (see ``_UD_RECIPES``).

Block sizes and bytes per block are ``gguf.constants.GGML_QUANT_SIZES`` (gguf-py, ggml-org/llama.cpp
``gguf-py/gguf/constants.py``); ``tests/test_quant.py`` checks this copy against the installed package.

Which tensors are F32 before quantization comes from the converter (``convert_hf_to_gguf.py``,
``ModelBase.prepare_tensors``): 1-D tensors, ``*_norm.weight``, ``ffn_gate_inp`` (MoE router) and every tensor whose
name does not end in ``.weight`` (biases, ``exp_probs_b.bias``) are written as F32; llama-quantize never touches them.

Pure: no I/O, no printing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import Protocol

from gpuplan.errors import UnknownNameError, UnsupportedError, closest


class TensorLike(Protocol):
    """What this module needs of ``gpuplan.catalog.arch.TensorSpec``."""

    name: str
    shape: tuple[int, ...]
    layer: int | None
    component: str


@dataclass(frozen=True, slots=True)
class GgmlType:
    """A ggml storage type: ``block_elements`` weights stored in ``block_bytes`` bytes (scales included)."""

    name: str
    block_elements: int
    block_bytes: int

    @property
    def bits_per_element(self) -> float:
        """8 · block_bytes / block_elements (Q4_K: 8·144/256 = 4.5)."""
        return 8 * self.block_bytes / self.block_elements


# gguf.constants.GGML_QUANT_SIZES (ggml-org/llama.cpp gguf-py/gguf/constants.py): (block elements, block bytes).
GGML_TYPES: dict[str, GgmlType] = {
    t.name: t
    for t in (
        GgmlType("F32", 1, 4), GgmlType("F16", 1, 2), GgmlType("BF16", 1, 2),
        GgmlType("Q4_0", 32, 18), GgmlType("Q4_1", 32, 20), GgmlType("Q5_0", 32, 22), GgmlType("Q5_1", 32, 24),
        GgmlType("Q8_0", 32, 34),
        GgmlType("Q2_K", 256, 84), GgmlType("Q3_K", 256, 110), GgmlType("Q4_K", 256, 144),
        GgmlType("Q5_K", 256, 176), GgmlType("Q6_K", 256, 210),
        GgmlType("IQ1_S", 256, 50), GgmlType("IQ1_M", 256, 56), GgmlType("IQ2_XXS", 256, 66),
        GgmlType("IQ2_XS", 256, 74), GgmlType("IQ2_S", 256, 82), GgmlType("IQ3_XXS", 256, 98),
        GgmlType("IQ3_S", 256, 110), GgmlType("IQ4_NL", 32, 18), GgmlType("IQ4_XS", 256, 136),
        GgmlType("TQ1_0", 256, 54), GgmlType("TQ2_0", 256, 66),
        GgmlType("MXFP4", 32, 17), GgmlType("NVFP4", 64, 36),
    )
}

# llama_ftype_get_default_type(): the base ggml type of each llama.cpp file type.
FTYPE_BASE_TYPE: dict[str, str] = {
    "F32": "F32", "F16": "F16", "BF16": "BF16",
    "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1", "Q8_0": "Q8_0",
    "Q2_K_S": "Q2_K", "Q2_K": "Q2_K", "IQ3_XS": "IQ3_S",
    "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K",
    "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K",
    "IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS", "IQ2_S": "IQ2_XS", "IQ2_M": "IQ2_S", "IQ3_XXS": "IQ3_XXS",
    "IQ1_S": "IQ1_S", "IQ1_M": "IQ1_M", "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS", "IQ3_S": "IQ3_S",
    "IQ3_M": "IQ3_S", "MXFP4_MOE": "MXFP4",
}

_IQ_LOW = ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")
_FALLBACK = {  # tensor_type_fallback(): row length not a multiple of the block size
    "IQ1_S": "IQ4_NL", "IQ1_M": "IQ4_NL", "IQ2_XXS": "IQ4_NL", "IQ2_XS": "IQ4_NL", "IQ2_S": "IQ4_NL",
    "IQ3_XXS": "IQ4_NL", "IQ3_S": "IQ4_NL", "IQ4_XS": "IQ4_NL",
    "Q2_K": "Q4_0", "Q3_K": "Q4_0", "TQ1_0": "Q4_0", "TQ2_0": "Q4_0",
    "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
}
_QUANTIZED = frozenset(n for n in GGML_TYPES if n not in ("F32", "F16", "BF16"))


@dataclass(frozen=True, slots=True)
class MixContext:
    """Model facts llama.cpp's type choice depends on.

    ``num_layers``: ``n_layer_all`` (blocks in the GGUF, next-n/MTP blocks included when converted);
    ``num_experts``: routed experts (0 dense); ``num_gqa``: n_head / n_head_kv as the GGUF states it (DeepSeek MLA
    GGUFs of 2025 state head_count_kv = n_head, so 1); ``is_70b``: llama.cpp's ``LLM_TYPE_70B`` (80-layer Llama /
    Qwen2); ``has_imatrix``: an importance matrix was used (required by IQ1/IQ2/IQ3_XXS; changes a few choices).
    """

    num_layers: int
    num_experts: int = 0
    num_gqa: int = 1
    is_70b: bool = False
    has_imatrix: bool = False
    is_falcon: bool = False


@dataclass(frozen=True, slots=True)
class TensorType:
    """The ggml type chosen for one tensor and its stored bytes."""

    tensor: TensorLike
    type_name: str
    num_bytes: int

    @property
    def bits_per_element(self) -> float:
        n = prod(self.tensor.shape)
        return 8 * self.num_bytes / n if n else 0.0


def ggml_tensor_bytes(type_name: str, shape: Sequence[int]) -> int:
    """Bytes of one tensor: rows · (row_length / block_elements) · block_bytes (ggml_row_size · nrows).

    ``shape`` is (…, row_length) — the last axis is ggml's ne[0]. Assumes row_length is a multiple of the block.
    """
    t = GGML_TYPES[type_name]
    row = shape[-1] if shape else 1
    rows = prod(shape[:-1]) if len(shape) > 1 else 1
    return rows * (row // t.block_elements) * t.block_bytes


def _gguf_name(name: str) -> str:
    """llama.cpp tensor names carry a '.weight' / '.bias' suffix; TensorSpec names only carry '.bias'."""
    return name if name.endswith(".bias") else name + ".weight"


def _category(full: str) -> str:
    """tensor_get_category() — a substring test, in llama.cpp's order."""
    if full == "output.weight":
        return "output"
    if full in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for key, cat in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"), ("attn_v.weight", "attn_v"),
                     ("attn_k.weight", "attn_k"), ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                     ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"), ("ffn_down", "ffn_down")):
        if key in full:
            return cat
    return "other"


_FACTS: dict[int, tuple] = {}


def _facts(t: TensorLike) -> tuple:
    """(the tensor, its GGUF name, category, kept F32 by the converter, quantizable), worked out once per tensor object:
    every GGUF format of a model walks the same tensors (the object is kept with its facts, so its id is not reused)."""
    hit = _FACTS.get(id(t))
    if hit is None or hit[0] is not t:
        if len(_FACTS) > 50_000:  # about fifty models
            _FACTS.clear()
        full = _gguf_name(t.name)
        hit = _FACTS[id(t)] = (t, full, _category(full), converter_keeps_f32(t), allows_quantization(t))
    return hit


def _is_attn_v_like(cat: str) -> bool:
    return cat in ("attn_v", "attn_qkv", "attn_kv_b")


def converter_keeps_f32(t: TensorLike) -> bool:
    """convert_hf_to_gguf.py writes these as F32: 1-D tensors, norms, the MoE router, and non-'.weight' tensors."""
    full = _gguf_name(t.name)
    return (len(t.shape) <= 1 or full.endswith("_norm.weight") or "ffn_gate_inp" in full
            or not full.endswith(".weight"))


def allows_quantization(t: TensorLike) -> bool:
    """tensor_allows_quantization(): 2-D/3-D '.weight' tensors except norms and the expert router."""
    full = _gguf_name(t.name)
    if len(t.shape) < 2 or not full.endswith("weight"):
        return False
    return "_norm.weight" not in full and "ffn_gate_inp.weight" not in full


def _use_more_bits(i_layer: int, n_layers: int) -> bool:
    """The first and last eighth of the layers, and every third layer in between."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


class _State:
    """quantize_state_impl: the running counters llama.cpp keeps while it walks the tensors."""

    def __init__(self, n_attention_wv: int, ctx: MixContext, tied: bool) -> None:
        self.n_attention_wv = n_attention_wv
        self.i_attention_wv = 0
        self.n_ffn_down = ctx.num_layers
        self.i_ffn_down = 0
        self.ctx = ctx
        self.tied = tied


def _impl(qs: _State, new_type: str, t: TensorLike, ftype: str, cat: str) -> str:  # noqa: C901 - mirrors upstream
    """llama_tensor_get_type_impl(), rule for rule (Falcon-only branches kept for completeness)."""
    ctx = qs.ctx
    n_expert = ctx.num_experts
    gqa = ctx.num_gqa
    layer = t.layer if t.layer is not None else 0
    n_layer = ctx.num_layers
    if cat == "output" or (qs.tied and cat == "token_embd"):
        nx = t.shape[-1]
        if ftype == "MXFP4_MOE":
            return "Q8_0"
        if ctx.is_falcon or nx % GGML_TYPES[new_type].block_elements != 0:
            return "Q8_0"
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
            return "Q5_K"
        return new_type if new_type == "Q8_0" else "Q6_K"
    if ftype == "MXFP4_MOE":
        return "MXFP4" if len(t.shape) == 3 and t.shape[0] > 1 else "Q8_0"
    if cat == "token_embd":
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            return "Q2_K"
        if ftype in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            return "IQ3_S"
        return new_type
    if ftype in _IQ_LOW:
        iq2sm = ftype in ("IQ2_S", "IQ2_M")
        if _is_attn_v_like(cat):
            new_type = "Q4_K" if (gqa >= 4 or n_expert >= 4) else ("IQ3_S" if iq2sm else "Q2_K")
            qs.i_attention_wv += 1
        elif n_expert == 8 and cat == "attn_k":
            new_type = "Q4_K"
        elif cat == "ffn_down":
            if qs.i_ffn_down < qs.n_ffn_down // 8:
                new_type = "IQ3_S" if iq2sm else "Q2_K"
            qs.i_ffn_down += 1
        elif cat == "attn_output":
            if n_expert == 8:
                new_type = "Q5_K"
            elif ftype in ("IQ1_S", "IQ1_M"):
                new_type = "IQ2_XXS"
            elif iq2sm:
                new_type = "IQ3_S"
        return new_type
    if _is_attn_v_like(cat):
        i, n = qs.i_attention_wv, qs.n_attention_wv
        if ftype == "Q2_K":
            new_type = "Q4_K" if gqa >= 4 else "Q3_K"
        elif ftype == "Q2_K_S" and gqa >= 4:
            new_type = "Q4_K"
        elif ftype == "IQ3_XXS":
            new_type = "Q4_K" if gqa >= 4 else ("IQ3_S" if not ctx.has_imatrix else "IQ3_XXS")
        elif ftype in ("IQ3_XS", "IQ3_S") and gqa >= 4:
            new_type = "Q4_K"
        elif ftype == "IQ3_M":
            new_type = "Q4_K"
        elif ftype == "Q3_K_M":
            new_type = "Q5_K" if i < 2 else "Q4_K"
        elif ftype == "Q3_K_L":
            new_type = "Q5_K"
        elif ftype in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
            new_type = "Q5_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n):
            new_type = "Q6_K"
        elif ftype == "Q4_K_S" and i < 4:
            new_type = "Q5_K"
        if ctx.is_70b and new_type in ("Q3_K", "Q4_K"):
            new_type = "Q5_K"
        if n_expert == 8:
            new_type = "Q8_0"
        qs.i_attention_wv += 1
        return new_type
    if cat == "attn_k":
        if n_expert == 8:
            return "Q8_0"
        if ftype == "IQ3_XS":
            return "IQ3_XXS"
        if ftype == "IQ3_XXS":
            return "IQ2_S"
        return new_type
    if cat == "attn_q":
        if ftype == "IQ3_XS":
            return "IQ3_XXS"
        if ftype == "IQ3_XXS":
            return "IQ2_S"
        return new_type
    if cat == "ffn_down":
        i_layer = layer if n_expert > 1 else qs.i_ffn_down
        if ftype == "Q2_K":
            new_type = "Q3_K"
        elif ftype == "Q2_K_S":
            if i_layer < n_layer // 8:
                new_type = "Q4_K"
        elif ftype == "IQ3_XXS" and not ctx.has_imatrix:
            new_type = "Q4_K" if i_layer < n_layer // 8 else "Q3_K"
        elif ftype == "Q3_K_M":
            new_type = ("Q5_K" if i_layer < n_layer // 16
                        else "Q4_K" if (not ctx.is_falcon or _use_more_bits(i_layer, n_layer)) else "Q3_K")
        elif ftype == "IQ3_M" and (i_layer < n_layer // 8 or (n_expert == 8 and _use_more_bits(i_layer, n_layer))):
            new_type = "Q4_K"
        elif ftype == "Q3_K_L":
            new_type = "Q4_K" if ctx.is_falcon else "Q5_K"
        elif ftype == "Q4_K_M":
            if ctx.is_falcon:
                new_type = ("Q6_K" if i_layer < n_layer // 16
                            else "Q5_K" if _use_more_bits(i_layer, n_layer) else "Q4_K")
            elif _use_more_bits(i_layer, n_layer):
                new_type = "Q6_K"
        elif i_layer < n_layer // 8 and ftype in ("IQ4_NL", "IQ4_XS") and not ctx.has_imatrix:
            new_type = "Q5_K"
        elif ftype == "Q5_K_M" and _use_more_bits(i_layer, n_layer):
            new_type = "Q6_K"
        elif ftype == "Q4_K_S" and not ctx.is_falcon and i_layer < n_layer // 8:
            new_type = "Q5_K"
        elif ftype in ("Q4_0", "Q5_0") and ctx.has_imatrix and i_layer < n_layer // 8:
            new_type = "Q4_1" if ftype == "Q4_0" else "Q5_1"
        qs.i_ffn_down += 1
        return new_type
    if cat == "attn_output":
        if not ctx.is_falcon:
            if n_expert == 8:
                if ftype in ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S",
                             "IQ3_M", "IQ4_XS"):
                    new_type = "Q5_K"
            else:
                new_type = {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K",
                            "IQ3_M": "Q4_K"}.get(ftype, new_type)
        elif ftype == "Q3_K_L":
            new_type = "Q4_K"
        return new_type
    if cat == "attn_qkv":
        if ftype in ("Q3_K_M", "Q3_K_L", "IQ3_M"):
            return "Q4_K"
        return {"Q4_K_M": "Q5_K", "Q5_K_M": "Q6_K"}.get(ftype, new_type)
    if cat in ("ffn_gate", "ffn_up"):
        if ftype == "IQ3_XS" and n_layer // 8 <= layer < 7 * n_layer // 8:
            return "IQ3_XXS"
    return new_type


def _fallback(type_name: str, row_length: int) -> str:
    """tensor_type_fallback(): a row length that is not a multiple of the block → a 32-block type, else F16."""
    if row_length % GGML_TYPES[type_name].block_elements == 0:
        return type_name
    alt = _FALLBACK.get(type_name, "F16")
    if row_length % GGML_TYPES[alt].block_elements != 0:
        return "F16"
    return alt


def _walk_order(tensors: Sequence[TensorLike]) -> list[TensorLike]:
    """llama_model_loader's weight_name_comparer: by block index (non-block tensors first), then by name."""
    return sorted(tensors, key=lambda t: (-1 if t.layer is None else t.layer, _gguf_name(t.name)))


# ---------------------------------------------------------------------------------------------- Unsloth UD mixes
@dataclass(frozen=True, slots=True)
class _UdRule:
    pattern: str          # regex on the GGUF tensor name (with '.weight')
    type_name: str
    first_moe_layers: int | None = None  # rule applies only to the first N MoE layers


@dataclass(frozen=True, slots=True)
class UdRecipe:
    """An Unsloth dynamic mix: regex → ggml type rules, first match wins; unmatched tensors use ``base``."""

    base: str
    rules: tuple[_UdRule, ...]
    source: str


_UD_SOURCE = (
    "https://unsloth.ai/blog/deepseekr1-dynamic (recipe: attention 4/6-bit, first 3 dense layers 4/6-bit, shared "
    "experts higher, routed experts at the named type, down_proj column of the table); per-type tensor counts of "
    "UD-IQ1_S from its llama.cpp load log (f32 361, q4_K 190, q5_K 116, q6_K 184, iq2_xxs 6, iq1_s 168; 130.60 GiB) "
    "https://github.com/gpustack/gpustack/issues/1107"
)


def _ud_common(routed: str, down_first: str, down_rest: str, first_n: int) -> tuple[_UdRule, ...]:
    """The structure the UD-IQ1_S load log pins (tensor counts per type, R1: 61 blocks, 3 dense, 58 MoE):

    q6_K 184 = output + 2 attention tensors/block (attn_kv_b, attn_output) + dense ffn_down (3) + ffn_down_shexp (58);
    q4_K 190 = token_embd + 3 attention tensors/block (q_a, q_b, kv_a_mqa) + dense ffn_gate/up (6);
    q5_K 116 = ffn_gate/up_shexp; routed gate/up at the base type, routed down at a higher type in the first MoE
    blocks (6 in UD-IQ1_S).
    """
    return (
        _UdRule(r"^output\.weight$", "Q6_K"),
        _UdRule(r"^token_embd\.weight$", "Q4_K"),
        _UdRule(r"attn_(kv_b|output)\.weight$", "Q6_K"),
        _UdRule(r"attn_", "Q4_K"),
        _UdRule(r"ffn_down_shexp", "Q6_K"),
        _UdRule(r"ffn_(gate|up)_shexp", "Q5_K"),
        _UdRule(r"ffn_down_exps", down_first, first_moe_layers=first_n),
        _UdRule(r"ffn_down_exps", down_rest),
        _UdRule(r"ffn_(gate|up)_exps", routed),
        _UdRule(r"ffn_down\.weight$", "Q6_K"),
        _UdRule(r"ffn_(gate|up)\.weight$", "Q4_K"),
    )


# Predicted tensor bytes for DeepSeek-R1 (61 blocks) vs the published sizes (Unsloth's "GB" are GiB):
#   UD-IQ1_S 132.26 vs 130.60 GiB (+1.3 %, tensor-type counts exact) · UD-Q2_K_XL 213.96 vs 212 (+0.9 %) ·
#   UD-IQ2_XXS 181.06 vs 183 (-1.1 %) · UD-IQ1_M 153.1 vs 158 (-3.1 %: the blog's figures do not pin this recipe;
#   tests/test_gguf_sizes.py marks it as a known gap).
UD_RECIPES: dict[str, UdRecipe] = {
    # Down_proj column of the blog table: IQ1_S "2.06/1.56bit", IQ1_M "2.06bit", IQ2_XXS "2.5/2.06bit",
    # Q2_K_XL "3.5/2.5bit" (IQ2_XXS = 2.06, IQ1_S = 1.56, Q2_K = 2.5 + scales, Q3_K = 3.4 bits).
    "UD-IQ1_S": UdRecipe("IQ1_S", _ud_common("IQ1_S", "IQ2_XXS", "IQ1_S", 6), _UD_SOURCE),
    "UD-IQ1_M": UdRecipe("IQ1_M", _ud_common("IQ1_M", "IQ2_XXS", "IQ2_XXS", 6), _UD_SOURCE),
    # UD-IQ2_XXS: "2.22-bit" MoE average = (2 · 2.0625 + d) / 3 → down_proj averages 2.535 bits → 84 % of the 58
    # MoE blocks (49) in Q2_K (2.625), the rest IQ2_XXS; the blog says the first blocks are the sensitive ones.
    "UD-IQ2_XXS": UdRecipe("IQ2_XXS", _ud_common("IQ2_XXS", "Q2_K", "IQ2_XXS", 49), _UD_SOURCE),
    "UD-Q2_K_XL": UdRecipe("Q2_K", _ud_common("Q2_K", "Q3_K", "Q2_K", 6), _UD_SOURCE),
}


def _ud_type(recipe: UdRecipe, t: TensorLike, first_moe_layer: int) -> str:
    full = _gguf_name(t.name)
    for rule in recipe.rules:
        if not re.search(rule.pattern, full):
            continue
        if rule.first_moe_layers is not None and (t.layer is None or t.layer >= first_moe_layer + rule.first_moe_layers):
            continue
        return rule.type_name
    return recipe.base


# ---------------------------------------------------------------------------------------------- entry point
def gguf_tensor_types(tensors: Sequence[TensorLike], ftype: str, ctx: MixContext) -> tuple[TensorType, ...]:
    """The ggml type and bytes of every tensor after ``llama-quantize <f16.gguf> <out> <ftype>``.

    ``ftype`` is a llama.cpp file type name (``Q4_K_M``, ``IQ2_XXS`` …) or an Unsloth mix (``UD-IQ1_S`` …).
    Returned in the input order.
    """
    key = ftype.upper()
    recipe = UD_RECIPES.get(key)
    if recipe is None and key not in FTYPE_BASE_TYPE:
        raise UnknownNameError("formats.unknown_gguf_ftype", given=ftype,
                               suggestions=", ".join(closest(ftype, [*FTYPE_BASE_TYPE, *UD_RECIPES])) or "-",
                               allowed=", ".join([*FTYPE_BASE_TYPE, *UD_RECIPES]))
    if recipe is not None and not any(t.component == "routed_experts" for t in tensors):
        raise UnsupportedError("formats.ud_needs_moe", given=ftype)
    tied = not any(t.name == "output" for t in tensors)
    facts = [_facts(t) for t in tensors]
    n_wv = sum(1 for f in facts if f[4] and _is_attn_v_like(f[2]))
    qs = _State(n_wv, ctx, tied)
    moe_layers = [t.layer for t in tensors if t.component == "routed_experts" and t.layer is not None]
    first_moe = min(moe_layers) if moe_layers else 0
    chosen: dict[int, str] = {}
    for t in _walk_order(tensors):
        _, _, cat, keeps_f32, quantizable = _facts(t)
        if keeps_f32 or not quantizable:
            type_name = "F32"
        elif recipe is not None:
            type_name = _fallback(_ud_type(recipe, t, first_moe), t.shape[-1])
        else:
            base = FTYPE_BASE_TYPE[key]
            type_name = base
            if base in _QUANTIZED:
                type_name = _fallback(_impl(qs, base, t, key, cat), t.shape[-1])
        chosen[id(t)] = type_name
    return tuple(TensorType(t, chosen[id(t)], ggml_tensor_bytes(chosen[id(t)], t.shape)) for t in tensors)
