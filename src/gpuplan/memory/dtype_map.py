"""A checkpoint's own dtype map: which modules its ``quantization_config`` keeps unquantized (16-bit).

Read from the config exactly as the engines read it:

* ``modules_to_not_convert`` (transformers quantizers; FBGEMM FP8, bitsandbytes, AWQ, MXFP4): a module is skipped
  when an entry equals its name or appears in it followed by a dot (transformers ``_replace_with_*``:
  ``key + "." in name or key == name``);
* ``ignore`` (llm-compressor / compressed-tensors): the same, plus ``re:<regex>`` entries matched against the
  module name (compressed-tensors ``find_name_or_class_matches``);
* ``ignored_layers`` (vLLM's FP8 and ModelOpt configs): prefixes as vLLM ``is_layer_skipped`` compares them.

``weight_block_size`` needs no map: it selects the block-scaled FP8 format (``fp8-block``) when the format is read.
Module names are the Hugging Face ones (``model.layers.N.self_attn.q_proj``); gpuplan's tensors carry llama.cpp-style
names, mapped here for the standard decoder blocks. A tensor whose module has no mapping keeps its format's choice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gpuplan.memory.quant import KEPT_BITS

if TYPE_CHECKING:
    from gpuplan.memory.gguf_mix import TensorLike

# llama.cpp-style tensor suffix → Hugging Face module suffix (standard Llama/Qwen/Mistral decoder blocks).
_HF_SUFFIX = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_TOP = {"token_embd": "model.embed_tokens", "output": "lm_head"}
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.([a-z_]+)$")


def unquantized_modules(config: dict[str, Any] | None) -> tuple[str, ...]:
    """Entries of ``modules_to_not_convert`` / ``ignore`` / ``ignored_layers`` in the config's quantization_config."""
    quant = (config or {}).get("quantization_config")
    if not isinstance(quant, dict):
        return ()
    out: list[str] = []
    for key in ("modules_to_not_convert", "ignore", "ignored_layers"):
        value = quant.get(key)
        if isinstance(value, list):
            out += [str(v) for v in value if isinstance(v, str) and v]
    return tuple(out)


def hf_module_name(tensor: TensorLike) -> str | None:
    """The Hugging Face module a gpuplan tensor belongs to, or None when there is no standard mapping."""
    if tensor.name in _TOP:
        return _TOP[tensor.name]
    match = _BLOCK_RE.match(tensor.name)
    if match and match.group(2) in _HF_SUFFIX:
        return f"model.layers.{match.group(1)}.{_HF_SUFFIX[match.group(2)]}"
    return None


def module_is_kept(module: str, entries: tuple[str, ...]) -> bool:
    """True when one of ``entries`` keeps ``module`` unquantized (equality, an ancestor, a '.weight' spelling,
    or a compressed-tensors ``re:`` pattern)."""
    for entry in entries:
        if entry.startswith("re:"):
            if re.fullmatch(entry[3:], module) or re.fullmatch(entry[3:], module + ".weight"):
                return True
            continue
        name = entry.removesuffix(".weight")
        if module == name or (name + ".") in (module + "."):
            return True
    return False


def kept_bytes(tensor: TensorLike) -> int:
    """Bytes of a tensor kept in 16 bits."""
    n = 1
    for d in tensor.shape:
        n *= d
    return n * KEPT_BITS // 8
