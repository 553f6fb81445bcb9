"""Weight formats (QuantFormat) and the bytes each tensor takes in a format (DESIGN §4, §5).

The facts per format (bits, group sizes, scale dtypes, kept tensors, engines, GPU generations, source) are data in
``catalog/data/formats.toml``; this module holds the per-tensor arithmetic:

* dense formats (bf16, fp8, AWQ, NF4, MXFP4 …): a tensor whose component is quantized takes
  ``numel · weight_bits`` plus its scales — per group of ``group_size`` weights along a row (scale + zero bits), per
  ``block_rows × block_cols`` tile (DeepSeek FP8: ``ceil(out/128) · ceil(in/128)`` fp32 scales per matrix, per expert),
  per row, per tensor, plus GPTQ's ``g_idx`` (32 bits per input column). Everything else — embeddings, lm_head, norms,
  routers, any 1-D tensor — stays 16-bit.
* GGUF formats: the per-tensor llama.cpp mix from :mod:`gpuplan.memory.gguf_mix`.

Byte totals are rounded up once, per tensor (STYLE habit 2: bits / 8, never bits // 8).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from math import prod
from typing import TYPE_CHECKING

from gpuplan.catalog.datafiles import shipped_toml
from gpuplan.errors import InvalidInputError, UnknownNameError, closest
from gpuplan.records import Record, record

if TYPE_CHECKING:  # gguf_mix (llama.cpp's type tables and recipes) is imported only when a GGUF format is sized
    from gpuplan.memory.gguf_mix import MixContext, TensorLike

KEPT_BITS = 16  # what a non-quantized tensor is stored in (bf16/fp16 checkpoints)

# Bits per KV-cache element by cache dtype. ``fp8_ds_mla`` is the DeepSeek sparse-MLA FP8 layout vLLM uses with
# FlashMLA (``--kv-cache-dtype fp8_ds_mla``): per token and layer 656 bytes = 512 fp8 e4m3 latent ("NoPE") values
# + 4 fp32 scales (one per 128 latent values) + 64 bf16 RoPE values. Layout as documented in Tencent/KsanaLLM
# 3rdparty/LLM_kernels/csrc/utils/quant_type.h (``kFp8DsMla``, "Each token's KV cache is 656 Bytes"), which mirrors
# DeepSeek's FlashMLA README; the vLLM file itself could not be opened here. The per-element figure below is the
# 8-bit latent; size caches with FP8_DS_MLA_BYTES_PER_TOKEN_LAYER.
KV_DTYPES: dict[str, float] = {
    "bf16": 16, "fp16": 16, "fp32": 32, "fp8": 8, "fp8_e4m3": 8, "fp8_e5m2": 8, "fp8_ds_mla": 8,
}
FP8_DS_MLA_BYTES_PER_TOKEN_LAYER = 512 * 1 + 4 * 4 + 64 * 2  # = 656


@record(slots=True, kw_only=True)
class QuantFormat(Record):
    """How weights are stored: bits per weight including scales/zeros, kept tensors, compute path, engines, GPUs.

    A frozen dataclass (gpuplan.records: ``gpuplan size`` starts without pydantic)."""

    id: str
    name: str
    kind: str  # "dense" | "gguf"
    weight_bits: float | None = None
    group_size: int | None = None
    scale_bits: float = 0
    zero_bits: float = 0
    block_rows: int | None = None
    block_cols: int | None = None
    block_scale_bits: float = 0
    row_scale_bits: float = 0
    row_index_bits: float = 0
    tensor_scale_bits: float = 0
    quantized_components: tuple[str, ...] = ()
    kept_16bit_components: tuple[str, ...] = ()
    gguf_ftype: str | None = None
    compute_path: str
    engines: tuple[str, ...]
    min_compute_capability: float | None = None
    compute_capability_note: str | None = None
    vendors: tuple[str, ...]
    source: str

    @property
    def bits_per_weight(self) -> float:
        """Nominal bits per quantized weight, scales and zeros included.

        dense: weight_bits + (scale_bits + zero_bits) / group_size + block_scale_bits / (block_rows · block_cols)
        (AWQ g128: 4 + 20/128 = 4.156; fp8-block: 8 + 32/16384). GGUF: the base ggml type's bits (Q4_K 4.5,
        Q8_0 8.5). Row, column-index and per-tensor scales depend on the shape and are left out of this figure.
        """
        if self.kind == "gguf":
            from gpuplan.memory.gguf_mix import FTYPE_BASE_TYPE, GGML_TYPES, UD_RECIPES

            assert self.gguf_ftype is not None
            recipe = UD_RECIPES.get(self.gguf_ftype)
            base = recipe.base if recipe else FTYPE_BASE_TYPE[self.gguf_ftype]
            return GGML_TYPES[base].bits_per_element
        bits = float(self.weight_bits or 0)
        if self.group_size:
            bits += (self.scale_bits + self.zero_bits) / self.group_size
        if self.block_rows and self.block_cols:
            bits += self.block_scale_bits / (self.block_rows * self.block_cols)
        return bits


@dataclass(frozen=True, slots=True)
class TensorBytes:
    """One tensor in one format: the storage type chosen for it, its bits per element and its bytes."""

    tensor: TensorLike  # gpuplan.catalog.arch.TensorSpec
    type_name: str
    bits_per_element: float
    num_bytes: int


#: What a GGUF format keeps unquantized when its entry does not say: norms, the MoE router and its bias — as F32, not
#: 16-bit (convert_hf_to_gguf.py writes them F32 and llama-quant.cpp never quantizes them).
GGUF_KEPT_COMPONENTS = ("norm", "router", "router_bias")


@cache
def _formats() -> dict[str, QuantFormat]:
    data = shipped_toml("formats.toml")
    out = {}
    for fid, fields in data.items():
        if fields.get("kind") == "gguf" and "kept_16bit_components" not in fields:
            fields = {**fields, "kept_16bit_components": GGUF_KEPT_COMPONENTS}
        out[fid] = QuantFormat(id=fid, **fields)
    return out


def list_formats() -> tuple[QuantFormat, ...]:
    """Every weight format gpuplan knows, in catalog order."""
    return tuple(_formats().values())


def get_format(fmt_id: str) -> QuantFormat:
    """The format with this id (case-insensitive); a 'did you mean' error otherwise."""
    formats = _formats()
    key = fmt_id.strip().lower()
    if key in formats:
        return formats[key]
    raise UnknownNameError("formats.unknown_format", given=fmt_id,
                           suggestions=", ".join(closest(fmt_id, formats)) or "-")


# ---------------------------------------------------------------------------------------------- dense formats
def effective_component(t: TensorLike) -> str:
    """The component a tensor counts as for quantization: MTP-layer tensors are split by name (their router stays
    16-bit, their eh_proj is 'mtp_proj', their norms are norms); 1-D tensors are norms; '.bias' tensors are 'bias'."""
    if len(t.shape) <= 1:
        return "norm"
    if t.name.endswith(".bias"):
        return "bias"  # 2-D bias tables (gpt-oss expert biases) are stored unquantized
    if t.component != "mtp":
        return t.component
    if "ffn_gate_inp" in t.name:
        return "router"
    if "exp_probs_b" in t.name:
        return "router_bias"
    if ".nextn." in t.name:
        return "mtp_proj"
    return "mtp"


def dense_tensor_bits(t: TensorLike, fmt: QuantFormat) -> float:
    """Stored bits of one tensor in a dense format.

    quantized: numel · weight_bits + groups · (scale+zero) + tiles · block_scale + rows · row_scale
    + columns · row_index (GPTQ g_idx) + tensor_scale; a 3-D expert tensor (E, out, in) counts E matrices.
    kept: numel · 16.
    """
    n = prod(t.shape)
    if effective_component(t) not in fmt.quantized_components or fmt.weight_bits is None:
        return n * (fmt.weight_bits if fmt.weight_bits and fmt.weight_bits > KEPT_BITS else KEPT_BITS)
    mats = t.shape[0] if len(t.shape) == 3 else 1
    rows, cols = t.shape[-2], t.shape[-1]
    bits = n * float(fmt.weight_bits)
    if fmt.group_size:
        bits += mats * rows * math.ceil(cols / fmt.group_size) * (fmt.scale_bits + fmt.zero_bits)
    if fmt.block_rows and fmt.block_cols:
        bits += mats * math.ceil(rows / fmt.block_rows) * math.ceil(cols / fmt.block_cols) * fmt.block_scale_bits
    bits += mats * rows * fmt.row_scale_bits + mats * cols * fmt.row_index_bits + fmt.tensor_scale_bits
    return bits


def fp8_block_scale_count(t: TensorLike, fmt: QuantFormat) -> int:
    """Number of block scales a tensor stores (0 when kept 16-bit): E · ceil(out/128) · ceil(in/128)."""
    if not (fmt.block_rows and fmt.block_cols) or effective_component(t) not in fmt.quantized_components:
        return 0
    mats = t.shape[0] if len(t.shape) == 3 else 1
    return mats * math.ceil(t.shape[-2] / fmt.block_rows) * math.ceil(t.shape[-1] / fmt.block_cols)


# ---------------------------------------------------------------------------------------------- entry points
def _mix_context(tensors: Sequence[TensorLike], n_layers: int, n_experts: int | None,
                 has_imatrix: bool | None, ftype: str) -> MixContext:
    """llama.cpp facts derived from the tensors: n_gqa = rows(attn_q) / rows(attn_k); LLM_TYPE_70B for 80-layer
    GQA models (llama.cpp llama-model.cpp maps 80-layer Llama/Qwen2 to 70B); imatrix assumed exactly when the file
    type needs one (IQ1/IQ2/IQ3_XXS: tensor_requires_imatrix), as published files of those types were made."""
    from gpuplan.memory.gguf_mix import FTYPE_BASE_TYPE, UD_RECIPES, MixContext

    q_rows = next((t.shape[0] for t in tensors if t.name.endswith("attn_q")), None)
    k_rows = next((t.shape[0] for t in tensors if t.name.endswith("attn_k")), None)
    gqa = q_rows // k_rows if q_rows and k_rows else 1
    if has_imatrix is None:
        recipe = UD_RECIPES.get(ftype)
        base = recipe.base if recipe else FTYPE_BASE_TYPE.get(ftype, "")
        has_imatrix = base in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS") and ftype != "UD-Q2_K_XL"
    return MixContext(num_layers=n_layers, num_experts=n_experts or 0, num_gqa=gqa,
                      is_70b=n_layers == 80 and gqa > 1, has_imatrix=has_imatrix)


def tensor_bytes(arch_tensors: Sequence[TensorLike], fmt_id: str, *, n_layers: int, n_experts: int | None = None,
                 has_imatrix: bool | None = None) -> tuple[TensorBytes, ...]:
    """Per-tensor storage of ``arch_tensors`` in format ``fmt_id``, in input order.

    ``n_layers``: transformer blocks in the file (llama.cpp's n_layer_all; MTP blocks included only when the tensors
    include them); ``n_experts``: routed experts (None for dense models); ``has_imatrix``: GGUF only, None = the
    usual choice for the file type.
    """
    if n_layers < 1:
        raise InvalidInputError("formats.bad_layers", given=n_layers)
    fmt = get_format(fmt_id)
    if fmt.kind == "gguf":
        from gpuplan.memory.gguf_mix import gguf_tensor_types

        assert fmt.gguf_ftype is not None
        ctx = _mix_context(arch_tensors, n_layers, n_experts, has_imatrix, fmt.gguf_ftype)
        return tuple(
            TensorBytes(tensor=r.tensor, type_name=r.type_name, bits_per_element=r.bits_per_element,
                        num_bytes=r.num_bytes)
            for r in gguf_tensor_types(arch_tensors, fmt.gguf_ftype, ctx)
        )
    out = []
    # a tensor's storage depends on its component and shape only (dense_tensor_bits): worked out once per pair, not
    # once per layer
    seen: dict[tuple, tuple[str, float, int]] = {}
    for t in arch_tensors:
        comp = effective_component(t)
        key = (comp, t.shape if type(t.shape) is tuple else tuple(t.shape))
        hit = seen.get(key)
        if hit is None:
            bits = dense_tensor_bits(t, fmt)
            n = prod(t.shape)
            hit = seen[key] = (fmt.id if comp in fmt.quantized_components else "bf16",
                                         bits / n if n else 0.0, math.ceil(bits / 8))
        out.append(TensorBytes(tensor=t, type_name=hit[0], bits_per_element=hit[1], num_bytes=hit[2]))
    return tuple(out)


def weights_bytes(arch_tensors: Sequence[TensorLike], fmt_id: str, **ctx: object) -> int:
    """Σ bytes of all tensors in ``fmt_id`` (see :func:`tensor_bytes` for the keyword arguments)."""
    return sum(r.num_bytes for r in tensor_bytes(arch_tensors, fmt_id, **ctx))  # type: ignore[arg-type]


def gguf_metadata_bytes(vocab_size: int) -> int:
    """Estimated GGUF header + metadata bytes beyond tensor data (used to compare with whole-file sizes).

    The tokenizer dominates: per vocab entry a length-prefixed string (8 B length + ~7 B text), an int32 token type
    and, for BPE vocabularies, about one merge string (8 B + ~12 B); ≈ 40 B per vocab entry, plus ~64 B of tensor-info
    per tensor that is ignored here (under 0.1 MB). An estimate, not a measurement: under 0.2 % of a 7B Q4 file.
    """
    return 40 * vocab_size
