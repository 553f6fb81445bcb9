"""KV-cache bytes per token (DESIGN §5).

* MHA/GQA: 2 · layers · n_kv · head_dim · bytes per element; per GPU n_kv → n_kv / min(TP, n_kv): heads are split by
  tensor parallelism and replicated once TP > n_kv (vLLM ``num_kv_head_replicas``).
* MLA: layers · (kv_lora_rank + qk_rope_head_dim) · bytes — the latent cache is **not sharded by TP**: every TP rank
  holds the full latent (DeepSeek-V3: 61 · 576 · 2 = 70,272 B/token in BF16). vLLM's ``fp8_ds_mla`` layout stores
  656 B per token per layer (512 fp8 latent + 4 fp32 scales + 64 bf16 RoPE dims).
* DeepSeek-V3.2 lightning indexer: an extra per-layer key cache of ``index_head_dim`` fp8 values + one fp32 scale.
* DeepSeek-V4: a sliding window of 128 uncompressed entries per layer plus compressed entries every 4 (CSA, with an
  indexer key) or 128 (HCA) tokens.
* Sliding-window layers (gpt-oss, Mistral) keep at most ``window`` tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpuplan.catalog.arch import ModelArch
from gpuplan.errors import InvalidInputError
from gpuplan.memory.quant import FP8_DS_MLA_BYTES_PER_TOKEN_LAYER, KV_DTYPES

# Bits per cached element for each KV dtype choice (quant.KV_DTYPES), plus llama.cpp's quantized cache types
# q8_0 / q4_0 (32-element blocks with an fp16 scale: 8.5 and 4.5 bits, ggml-common.h block_q8_0 / block_q4_0).
KV_BITS: dict[str, float] = {**KV_DTYPES, "f16": 16, "q8_0": 8.5, "q4_0": 4.5}
INDEXER_SCALE_BYTES = 4  # one fp32 scale per indexer key (vLLM DeepSeek-V3.2 indexer cache)


# vLLM's cache layout for a DSA model (MLA with a lightning indexer, hf_config.index_topk: DeepSeek-V3.2) on CUDA.
# vLLM 0.34.0 (the parser tests/test_engine_parsers.py runs): DeepseekV32ForCausalLM.verify_and_update_config
# (vllm/model_executor/models/config.py) only maps "bfloat16" to "auto", which stays the model dtype (bf16) on SM90 and
# SM100; mla_attention._canonicalize_sparse_mla_kv_cache_dtype turns "auto" into fp8_ds_mla only on the SM120 backend
# FLASHINFER_MLA_SPARSE_SM120, and any quantized dtype ("fp8", "fp8_e4m3") into fp8_ds_mla on FLASHMLA_SPARSE, the
# sparse backend SM90 gets for an FP8 cache (FLASH_ATTN_MLA_SPARSE takes 16-bit caches only); SM100 prefers
# FLASHINFER_MLA_SPARSE with its standard FP8 layout (vllm/platforms/cuda.py backend priorities).
VLLM_DSA_AUTO_FP8_DS_MLA_SM_MAJOR = (12,)
VLLM_DSA_FP8_AS_DS_MLA_SM_MAJOR = (9, 12)
# vLLM up to 0.13 turned "auto" (and any fp8) into fp8_ds_mla on every GPU: "The default config uses a custom fp8
# kvcache" (vllm-project/recipes DeepSeek/DeepSeek-V3_2.md @008786cb, the source of rows N038/N039; rows N032-N036
# state vLLM v0.13.0).
VLLM_DSA_AUTO_FP8_DS_MLA_THROUGH = (0, 13)
# SGLang 0.5.23 (the pinned parser): _deepseek DSA override in sglang/srt/arg_groups/overrides.py turns "auto" into
# fp8_e4m3 on SM >= 10 (bfloat16 below) and gives an fp8_e4m3 cache the trtllm DSA backends on SM >= 10 (the raw
# 576-byte MLA row) and flashmla_kv on Hopper; calculate_mla_kv_cache_dim (sglang/srt/mem_cache/
# kv_cache_configurator.py) stores the latter as 512 fp8 + 512 // 128 fp32 scales + 64 bf16 RoPE = 656 B, the
# fp8_ds_mla row.
SGLANG_DSA_AUTO_FP8_MIN_SM_MAJOR = 10
SGLANG_DSA_FP8_AS_DS_MLA_SM_MAJOR = (9,)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.lstrip("v").split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


_DSA: dict[int, tuple[ModelArch, bool]] = {}


def _is_dsa(arch: ModelArch) -> bool:
    """MLA with a lightning indexer (DeepSeek-V3.2); memoized per arch object (the planner asks per candidate)."""
    hit = _DSA.get(id(arch))
    if hit is not None and hit[0] is arch:
        return hit[1]
    dsa = any(a.kind == "mla" and a.indexer_heads for a in arch.attention)
    _DSA[id(arch)] = (arch, dsa)
    return dsa


def resolve_kv_dtype(kv_dtype: str, engine: str, arch: ModelArch | None = None, *,
                     compute_capability: float | None = None, engine_version: str | None = None) -> str:
    """'auto' → the engine's default cache dtype (16-bit: bf16 for the GPU engines, f16 for llama.cpp); for a DSA
    model on vLLM or SGLang, the layout the engine really allocates (module constants above).
    ``engine_version`` None means the vLLM gpuplan renders for."""
    if kv_dtype != "auto" and kv_dtype not in KV_BITS:
        raise InvalidInputError("memory.bad_kv_dtype", given=kv_dtype, allowed=", ".join(["auto", *KV_BITS]))
    dsa = arch is not None and engine in ("vllm", "sglang") and _is_dsa(arch)
    major = int(compute_capability) if dsa and compute_capability else None
    if dsa and engine == "vllm":
        old = engine_version is not None and _version(engine_version) <= VLLM_DSA_AUTO_FP8_DS_MLA_THROUGH
        if kv_dtype == "auto" and (old or major in VLLM_DSA_AUTO_FP8_DS_MLA_SM_MAJOR):
            return "fp8_ds_mla"
        if kv_dtype in ("fp8", "fp8_e4m3") and (old or major in VLLM_DSA_FP8_AS_DS_MLA_SM_MAJOR):
            return "fp8_ds_mla"
    if dsa and engine == "sglang" and major is not None:
        if kv_dtype == "auto" and major >= SGLANG_DSA_AUTO_FP8_MIN_SM_MAJOR:
            return "fp8"
        if kv_dtype in ("fp8", "fp8_e4m3") and major in SGLANG_DSA_FP8_AS_DS_MLA_SM_MAJOR:
            return "fp8_ds_mla"
    if kv_dtype == "auto":
        return "fp16" if engine in ("llama.cpp", "ollama") else "bf16"
    return kv_dtype


@dataclass(frozen=True, slots=True)
class KvLayout:
    """KV bytes for one sequence: a part that grows with every token and a part capped by sliding windows."""

    bytes_per_token: float          # grows linearly with the sequence (full-attention layers, compressed caches)
    window_bytes_per_token: float   # per token, but only for the last ``window_tokens`` tokens
    window_tokens: int              # 0 when no layer slides

    def bytes_for_sequence(self, tokens: int) -> float:
        return self.bytes_per_token * tokens + self.window_bytes_per_token * min(tokens, self.window_tokens)


def kv_layout(arch: ModelArch, kv_dtype: str, *, tp: int = 1, pp: int = 1, per_gpu: bool = False) -> KvLayout:
    """KV cache layout of the whole model (``per_gpu=False``) or of one GPU under TP×PP (``per_gpu=True``)."""
    bits = KV_BITS[kv_dtype]
    elem = bits / 8
    grow = 0.0
    window = 0.0
    window_tokens = 0
    layers = range(arch.num_layers)
    for i in layers:
        att = arch.attention[i]
        if att.kind == "gqa":
            kv_heads = att.num_kv_heads / min(tp, att.num_kv_heads) if per_gpu else att.num_kv_heads
            per_tok = 2 * kv_heads * att.head_dim * elem
            if att.sliding_window:
                window += per_tok
                window_tokens = max(window_tokens, att.sliding_window)
            else:
                grow += per_tok
        elif att.kind == "mla":
            latent = (att.kv_lora_rank or 0) + (att.qk_rope_head_dim or 0)
            if kv_dtype == "fp8_ds_mla":
                grow += FP8_DS_MLA_BYTES_PER_TOKEN_LAYER
            else:
                grow += latent * elem
            if att.indexer_heads:
                grow += (att.indexer_head_dim or 0) * 1 + INDEXER_SCALE_BYTES
        elif att.kind == "dsv4":
            hd = att.head_dim
            window += hd * elem
            window_tokens = max(window_tokens, att.sliding_window or 128)
            ratio = att.compress_ratio or 0
            if ratio:
                grow += hd * elem / ratio
                if ratio < 128:
                    grow += (att.indexer_head_dim or 0) * elem / ratio
    if per_gpu and pp > 1:
        grow /= pp
        window /= pp
    return KvLayout(grow, window, window_tokens)


def kv_cache_bytes_per_token(arch: ModelArch, kv_dtype: str = "bf16") -> int:
    """Whole model, one sequence, bytes per token of context (sliding windows counted as full: long-context bound).

    DeepSeek-V3 in BF16: 61 layers · (512 + 64) · 2 B = 70,272 B (DESIGN §5).
    """
    lay = kv_layout(arch, kv_dtype)
    return math.ceil(lay.bytes_per_token + (lay.window_bytes_per_token if lay.window_tokens else 0))


def kv_bytes_for_sequence(arch: ModelArch, kv_dtype: str, tokens: int, *, tp: int = 1, pp: int = 1,
                          per_gpu: bool = False, block_tokens: int = 1) -> int:
    """Bytes one sequence of ``tokens`` occupies, rounded up to whole paged blocks of ``block_tokens``."""
    padded = math.ceil(tokens / block_tokens) * block_tokens
    return math.ceil(kv_layout(arch, kv_dtype, tp=tp, pp=pp, per_gpu=per_gpu).bytes_for_sequence(padded))
