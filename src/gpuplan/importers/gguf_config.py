"""Rebuild a Hugging Face-style config dict from GGUF metadata (``<arch>.*`` keys), as far as the keys give it.

Key names: gguf-py ``gguf/constants.py`` (``Keys.LLM``, ``Keys.Attention``, ``Keys.Rope``), ggml-org/llama.cpp. How
llama.cpp's converter writes each HF field (``convert_hf_to_gguf.py``, https://github.com/ggml-org/llama.cpp/blob/master/
convert_hf_to_gguf.py) decides the inverse mapping here; in particular for ``deepseek2`` (DeepSeek-V2/V3/R1, Kimi-K2)
current converters store MLA as MQA over the latent: ``attention.key_length`` = kv_lora_rank + qk_rope_head_dim,
``attention.value_length`` = kv_lora_rank, ``head_count_kv`` = 1, and the per-head sizes in
``attention.key_length_mla`` (= qk_nope_head_dim + qk_rope_head_dim) and ``attention.value_length_mla``
(= v_head_dim); older files (before llama.cpp's MLA cache, 2025) store the per-head sizes in key_length/value_length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gpuplan.i18n import t
from gpuplan.importers.config import REQUIRED_INT_FIELDS, check_config
from gpuplan.importers.model import TensorInfo

#: GGUF ``general.architecture`` → HF ``model_type`` (MoE and DeepSeek variants are refined below).
ARCH_TO_MODEL_TYPE = {
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen2moe": "qwen2_moe",
    "qwen3": "qwen3",
    "qwen3moe": "qwen3_moe",
    "deepseek": "deepseek",
    "deepseek2": "deepseek_v2",
    "gpt-oss": "gpt_oss",
    "glm4moe": "glm4_moe",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3_text",
    "phi3": "phi3",
    "mistral3": "mistral",
}

#: ``<arch>.expert_gating_func`` values (gguf-py ``ExpertGatingFuncType``): DeepSeek-V3 routes with sigmoid
#: (its config.json ``scoring_func: "sigmoid"``), DeepSeek-V2 with softmax.
GATING_SOFTMAX, GATING_SIGMOID = 1, 2

_NEXTN_RE = re.compile(r"^blk\.(\d+)\.nextn\.")


def _first_int(value: Any) -> int | None:
    """A scalar int, or the largest entry of a per-layer int array (0 entries mark layers without the feature)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return max(value)
    return None


def _float(value: Any) -> float | None:
    """A metadata number as float, rounded to 7 significant digits: GGUF stores these as float32 (~7.2 decimal
    digits), so 1e-06 reads back as 9.99999997e-07 and rounding recovers the value the converter was given."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(f"{float(value):.7g}")


def config_from_gguf_metadata(
    metadata: dict[str, Any], tensors: Sequence[TensorInfo], where: str
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """HF-named config from GGUF metadata; (None, note) when there is no ``general.architecture``."""
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        return None, (t("importers.note_gguf_no_arch", file=where),)
    notes: list[str] = []

    def get(key: str) -> Any:
        return metadata.get(f"{arch}.{key}")

    by_name = {tensor.name: tensor for tensor in tensors}
    config: dict[str, Any] = {"model_type": ARCH_TO_MODEL_TYPE.get(arch, arch), "gguf_architecture": arch}
    if arch not in ARCH_TO_MODEL_TYPE:
        notes.append(t("importers.note_gguf_arch_unmapped", file=where, arch=arch))
    block_count = _first_int(get("block_count"))
    nextn = _first_int(get("nextn_predict_layers")) or 0
    nextn_blocks = {int(m.group(1)) for name in by_name if (m := _NEXTN_RE.match(name))}
    layers = block_count
    if block_count is not None and nextn and nextn_blocks:
        layers = block_count - nextn  # llama.cpp appends the MTP layers to block_count when it keeps them
    elif nextn and not nextn_blocks:
        notes.append(t("importers.note_gguf_no_mtp", file=where, count=nextn))
    _put(config, "hidden_size", _first_int(get("embedding_length")))
    _put(config, "num_hidden_layers", layers)
    _put(config, "num_attention_heads", _first_int(get("attention.head_count")))
    _put(config, "num_key_value_heads", _first_int(get("attention.head_count_kv")))
    _put(config, "intermediate_size", _first_int(get("feed_forward_length")))
    _put(config, "max_position_embeddings", _first_int(get("context_length")))
    _put(config, "head_dim", _first_int(get("attention.key_length")))
    _put(config, "rope_theta", _float(get("rope.freq_base")))
    _put(config, "rms_norm_eps", _float(get("attention.layer_norm_rms_epsilon")))
    _put(config, "sliding_window", _first_int(get("attention.sliding_window")))
    _put(config, "vocab_size", _vocab_size(metadata, get("vocab_size"), by_name))
    config["tie_word_embeddings"] = "output.weight" not in by_name
    if nextn_blocks:
        config["num_nextn_predict_layers"] = len(nextn_blocks)
    _add_moe(config, get)
    if arch == "deepseek2":
        _add_mla(config, get, notes, where)
    check_config(config, where, require=False)  # a config.json's sanity bounds: absurd metadata → one sentence
    if not all(config.get(name) is not None for name, _, _ in REQUIRED_INT_FIELDS):
        notes.append(t("importers.note_gguf_incomplete", file=where))
    return config, tuple(notes)


def _put(config: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        config[key] = value


def _vocab_size(metadata: dict[str, Any], declared: Any, by_name: dict[str, TensorInfo]) -> int | None:
    """Rows of ``token_embd.weight`` (what the weights hold), else ``<arch>.vocab_size``, else the token list length."""
    embd = by_name.get("token_embd.weight")
    if embd is not None and len(embd.shape) == 2:
        return embd.shape[0]
    if _first_int(declared) is not None:
        return _first_int(declared)
    tokens = metadata.get("tokenizer.ggml.tokens")
    count = getattr(tokens, "count", None) if not isinstance(tokens, list) else len(tokens)
    return count if isinstance(count, int) and count > 0 else None


def _add_moe(config: dict[str, Any], get) -> None:
    """Experts under the field names each model_type's HF config uses."""
    experts = _first_int(get("expert_count")) or 0
    if not experts:
        return
    mt = config["model_type"]
    used = _first_int(get("expert_used_count"))
    expert_ffn = _first_int(get("expert_feed_forward_length"))
    shared = _first_int(get("expert_shared_count"))
    if mt == "llama":
        config["model_type"] = mt = "mixtral"  # llama.cpp stores Mixtral as arch "llama" with experts
    if mt in ("mixtral", "gpt_oss"):
        config["num_local_experts"] = experts
    elif mt in ("qwen2_moe", "qwen3_moe"):
        config["num_experts"] = experts
    else:
        config["n_routed_experts"] = experts
    _put(config, "num_experts_per_tok", used)
    _put(config, "moe_intermediate_size", expert_ffn)
    if mt == "qwen2_moe":
        _put(config, "shared_expert_intermediate_size", _first_int(get("expert_shared_feed_forward_length")))
    elif shared is not None and mt not in ("mixtral", "gpt_oss", "qwen3_moe"):
        config["n_shared_experts"] = shared
    leading_dense = _first_int(get("leading_dense_block_count"))
    if leading_dense is not None and mt not in ("mixtral", "gpt_oss", "qwen2_moe", "qwen3_moe"):
        config["first_k_dense_replace"] = leading_dense
        config.setdefault("moe_layer_freq", 1)
    _put(config, "n_group", _first_int(get("expert_group_count")))
    _put(config, "topk_group", _first_int(get("expert_group_used_count")))
    _put(config, "routed_scaling_factor", _float(get("expert_weights_scale")))
    norm = get("expert_weights_norm")
    if isinstance(norm, bool):
        config["norm_topk_prob"] = norm


def _add_mla(config: dict[str, Any], get, notes: list[str], where: str) -> None:
    """DeepSeek MLA fields; model_type deepseek_v3 when routing is sigmoid, deepseek_v2 when softmax."""
    gating = _first_int(get("expert_gating_func"))
    if gating == GATING_SIGMOID:
        config["model_type"] = "deepseek_v3"
        config["scoring_func"] = "sigmoid"
    elif gating == GATING_SOFTMAX:
        config["scoring_func"] = "softmax"
    else:
        notes.append(t("importers.note_gguf_gating_unknown", file=where))
    rope = _first_int(get("rope.dimension_count"))
    key_mla = _first_int(get("attention.key_length_mla"))
    value_mla = _first_int(get("attention.value_length_mla"))
    key, value = _first_int(get("attention.key_length")), _first_int(get("attention.value_length"))
    qk_head = key_mla if key_mla is not None else key
    _put(config, "q_lora_rank", _first_int(get("attention.q_lora_rank")))
    _put(config, "kv_lora_rank", _first_int(get("attention.kv_lora_rank")))
    _put(config, "qk_rope_head_dim", rope)
    if qk_head is not None and rope is not None and qk_head > rope:
        config["qk_nope_head_dim"] = qk_head - rope
    _put(config, "v_head_dim", value_mla if value_mla is not None else value)
    config.pop("head_dim", None)  # the HF DeepSeek configs have none; key_length here is the latent width
    if "num_attention_heads" in config:
        config["num_key_value_heads"] = config["num_attention_heads"]  # as in the HF configs (MLA has no KV heads)
    config.setdefault("q_lora_rank", None)
