"""Read and sanity-check a Hugging Face ``config.json`` in bounded memory; never import or run ``auto_map`` code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gpuplan.errors import MalformedFileError
from gpuplan.i18n import t
from gpuplan.importers.files import read_bounded
from gpuplan.units import MIB

#: A config.json is a few KiB (DeepSeek-V3's is 1.7 KiB); 4 MiB leaves room for configs that embed long lists.
MAX_CONFIG_BYTES = 4 * MIB

# (field, low, high): sanity bounds, not published facts. They reject damaged or hostile files (negative layers,
# a string for a size, 10^12 hidden units) while admitting every real model: the largest published values are far
# inside them (e.g. vocab 256,000 for Gemma, 1,000+ experts nowhere, 128 layers for Llama-3.1-405B).
REQUIRED_INT_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("hidden_size", 1, 10**6),
    ("num_hidden_layers", 1, 1000),
    ("vocab_size", 1, 10**7),
    ("num_attention_heads", 1, 10**5),
)
OPTIONAL_INT_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("num_key_value_heads", 1, 10**5),
    ("intermediate_size", 1, 10**7),
    ("max_position_embeddings", 1, 10**9),
    ("head_dim", 1, 10**5),
    ("n_routed_experts", 0, 10**5),
    ("num_experts", 0, 10**5),
    ("num_local_experts", 0, 10**5),
    ("num_experts_per_tok", 0, 10**4),
    ("moe_intermediate_size", 1, 10**7),
    ("n_shared_experts", 0, 10**4),
    ("kv_lora_rank", 1, 10**6),
    ("q_lora_rank", 1, 10**6),
    ("qk_rope_head_dim", 1, 10**5),
    ("qk_nope_head_dim", 1, 10**5),
    ("v_head_dim", 1, 10**5),
    ("first_k_dense_replace", 0, 1000),
    ("num_nextn_predict_layers", 0, 100),
)


def read_config_file(path: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Parse and check ``path``; return the config (unchanged) and notes. Raises MalformedFileError with one sentence."""
    raw = read_bounded(path, MAX_CONFIG_BYTES, too_big_key="importers.config_too_big")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedFileError("importers.config_not_json", file=str(path), reason=_short(exc)) from None
    if not isinstance(data, dict):
        raise MalformedFileError("importers.config_not_object", file=str(path), found=type(data).__name__)
    return data, check_config(data, str(path))


def check_config(config: dict[str, Any], where: str, *, require: bool = True) -> tuple[str, ...]:
    """Required fields present and integral within sane ranges; optional ones checked when present. Returns notes.

    ``require=False`` range-checks the required fields only where present (configs rebuilt from GGUF metadata).

    Multimodal configs keep the language model under ``text_config``; when the top level lacks ``hidden_size`` the
    checks run there instead (and a note says so).
    """
    notes: list[str] = []
    target = config
    text = config.get("text_config")
    if "hidden_size" not in config and isinstance(text, dict):
        target = text
        notes.append(t("importers.note_text_config", file=where))
    for name, low, high in REQUIRED_INT_FIELDS:
        if name not in target or target[name] is None:
            if not require:
                continue
            raise MalformedFileError("importers.bad_config_missing", file=where, field=name)
        _check_int(target, name, low, high, where)
    for name, low, high in OPTIONAL_INT_FIELDS:
        if target.get(name) is not None:
            _check_int(target, name, low, high, where)
    kv, heads = target.get("num_key_value_heads"), target.get("num_attention_heads")
    if kv is not None and heads is not None and kv > heads:
        raise MalformedFileError("importers.bad_config", file=where, field="num_key_value_heads", value=kv,
                                 allowed=f"1..{target['num_attention_heads']} (num_attention_heads)")
    first_dense = target.get("first_k_dense_replace")
    if first_dense is not None and first_dense > target.get("num_hidden_layers", first_dense):
        raise MalformedFileError("importers.bad_config", file=where, field="first_k_dense_replace", value=first_dense,
                                 allowed=f"0..{target['num_hidden_layers']} (num_hidden_layers)")
    if "auto_map" in config:
        notes.append(t("importers.note_auto_map", file=where))
    return tuple(notes)


def _check_int(config: dict[str, Any], name: str, low: int, high: int, where: str) -> None:
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MalformedFileError("importers.bad_config", file=where, field=name, value=_short(value),
                                 allowed=f"{low}..{high}")


def _short(value: object, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
