"""Every row of the model catalog (src/gpuplan/catalog/data/models/*.json), checked as data.

Loads the files with ``json`` only (independent of the catalog loader). Parametrized over every entry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "src" / "gpuplan" / "catalog" / "data" / "models"
COUNTS_FILE = ROOT / "tests" / "data" / "transformers_param_counts.json"

FAMILIES = {"deepseek", "llama", "qwen", "kimi", "gpt-oss", "glm", "mistral", "gpt-j"}
REQUIRED_KEYS = {
    "id",
    "aliases",
    "name",
    "series",
    "release_date",
    "config",
    "config_source",
    "config_confidence",
    "params_total_official",
    "params_active_official",
    "params_source",
    "context_length",
    "context_source",
    "checkpoint",
    "notes",
}
CHECKPOINT_KEYS = {"weight_format", "expert_weight_format", "bytes", "bytes_source"}
SUPPORTED_MODEL_TYPES = {
    "llama",
    "qwen2",
    "qwen3",
    "qwen3_moe",
    "mistral",
    "mixtral",
    "deepseek",
    "deepseek_v2",
    "deepseek_v3",
    "deepseek_v32",
    "deepseek_v4",
    "kimi_k2",
    "gpt_oss",
    "glm4_moe",
    "gptj",
}
# GPT-2-style configs (GPT-J) use other field names for the same values: transformers' GPTJConfig.attribute_map.
FIELD_ALIASES = {"gptj": {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                          "max_position_embeddings": "n_positions"}}
CONFIDENCE = {"official", "verbatim copy", "derived"}
WEIGHT_FORMATS = {"bf16", "fp16", "fp32", "fp8", "fp8-block", "mxfp4", "int4"}
# Bytes per stored parameter by checkpoint format, for the checkpoint-size plausibility check.
BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0, "fp8": 1.0, "fp8-block": 1.0}
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
ALIAS_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _load_files() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(MODELS_DIR.glob("*.json"))}


FILES = _load_files()
ENTRIES = [(fam, m) for fam, doc in FILES.items() for m in doc["models"]]
IDS = [m["id"] for _, m in ENTRIES]
COUNTS = json.loads(COUNTS_FILE.read_text())["models"] if COUNTS_FILE.exists() else {}


def test_family_files_present():
    assert set(FILES) == FAMILIES
    for fam, doc in FILES.items():
        assert doc["family"] == fam
        assert doc["models"], fam


def test_ids_unique():
    assert len(IDS) == len(set(IDS))
    lowered = [i.lower() for i in IDS]
    assert len(lowered) == len(set(lowered))


def test_aliases_unique_across_files():
    seen: dict[str, str] = {}
    ids_lower = {i.lower() for i in IDS}
    for _, m in ENTRIES:
        for alias in m["aliases"]:
            assert alias not in seen, f"alias {alias!r} of {m['id']} already used by {seen[alias]}"
            assert alias not in ids_lower, f"alias {alias!r} equals a model id"
            seen[alias] = m["id"]


REQUIRED_IDS = [
    # The list: every DeepSeek release people deploy, and the comparators.
    "deepseek-ai/deepseek-llm-7b-base",
    "deepseek-ai/deepseek-llm-7b-chat",
    "deepseek-ai/deepseek-llm-67b-base",
    "deepseek-ai/deepseek-llm-67b-chat",
    "deepseek-ai/deepseek-coder-1.3b-instruct",
    "deepseek-ai/deepseek-coder-6.7b-instruct",
    "deepseek-ai/deepseek-coder-33b-instruct",
    "deepseek-ai/deepseek-moe-16b-base",
    "deepseek-ai/deepseek-moe-16b-chat",
    "deepseek-ai/DeepSeek-V2",
    "deepseek-ai/DeepSeek-V2-Chat",
    "deepseek-ai/DeepSeek-V2-Lite",
    "deepseek-ai/DeepSeek-V2-Lite-Chat",
    "deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct",
    "deepseek-ai/DeepSeek-Coder-V2-Instruct",
    "deepseek-ai/DeepSeek-V2.5",
    "deepseek-ai/DeepSeek-V3",
    "deepseek-ai/DeepSeek-V3-0324",
    "deepseek-ai/DeepSeek-V3.1",
    "deepseek-ai/DeepSeek-V3.1-Terminus",
    "deepseek-ai/DeepSeek-V3.2-Exp",
    "deepseek-ai/DeepSeek-V3.2",
    "deepseek-ai/DeepSeek-R1",
    "deepseek-ai/DeepSeek-R1-0528",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B",
    "deepseek-ai/DeepSeek-V4-Flash",
    "deepseek-ai/DeepSeek-V4-Pro",
    "meta-llama/Llama-2-7b-hf",
    "meta-llama/Llama-2-13b-hf",
    "meta-llama/Llama-2-70b-hf",
    "meta-llama/Meta-Llama-3-8B",
    "meta-llama/Meta-Llama-3-70B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.1-405B",
    "meta-llama/Llama-3.3-70B-Instruct",
    "meta-llama/Llama-3.1-405B-Instruct-FP8",
    "codellama/CodeLlama-7b-hf",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-14B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-235B-A22B",
    "moonshotai/Kimi-K2-Instruct",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "zai-org/GLM-4.5",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
]


def test_required_models_present():
    missing = sorted(set(REQUIRED_IDS) - set(IDS))
    assert not missing


@pytest.fixture(params=ENTRIES, ids=[m["id"] for _, m in ENTRIES])
def entry(request):
    return request.param


def test_keys_and_types(entry):
    _, m = entry
    assert set(m) == REQUIRED_KEYS
    assert set(m["checkpoint"]) == CHECKPOINT_KEYS
    assert ID_RE.match(m["id"]), m["id"]
    assert isinstance(m["aliases"], list) and m["aliases"]
    for alias in m["aliases"]:
        assert ALIAS_RE.match(alias), alias
    for key in ("name", "series", "config_source", "context_source"):
        assert isinstance(m[key], str) and m[key].strip(), key
    assert m["config_confidence"] in CONFIDENCE
    assert m["release_date"] is None or DATE_RE.match(m["release_date"])
    assert isinstance(m["notes"], str)


def test_config_model_type_and_dims(entry):
    _, m = entry
    c = m["config"]
    assert c["model_type"] in SUPPORTED_MODEL_TYPES
    aliases = FIELD_ALIASES.get(c["model_type"], {})
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        value = c[aliases.get(key, key)]
        assert isinstance(value, int) and value > 0, key
    if c.get("num_key_value_heads") is not None:
        assert 0 < c["num_key_value_heads"] <= c["num_attention_heads"]
        assert c["num_attention_heads"] % c["num_key_value_heads"] == 0
    assert isinstance(c.get("architectures"), list) and c["architectures"]


def test_context_length(entry):
    _, m = entry
    ctx = m["context_length"]
    assert isinstance(ctx, int) and ctx > 0
    max_pos = m["config"].get(FIELD_ALIASES.get(m["config"]["model_type"], {}).get("max_position_embeddings",
                                                                                 "max_position_embeddings"))
    if max_pos is not None and ctx > max_pos:
        # allowed only with an explanation in notes
        assert "max_position_embeddings" in m["notes"], m["id"]


def test_official_claims_present_with_source(entry):
    _, m = entry
    total, active = m["params_total_official"], m["params_active_official"]
    if total is not None or active is not None:
        assert isinstance(m["params_source"], str) and m["params_source"].strip()
    if total is not None:
        assert total > 0
    if active is not None:
        assert total is not None and 0 < active < total


WITH_TOTAL_AND_COUNT = [
    (f, m)
    for f, m in ENTRIES
    if m["params_total_official"] is not None and m["id"] in COUNTS and "params_total" in COUNTS[m["id"]]
]


@pytest.mark.parametrize("entry", WITH_TOTAL_AND_COUNT, ids=[m["id"] for _, m in WITH_TOTAL_AND_COUNT])
def test_official_total_close_to_counted(entry):
    """Official totals are rounded names ("7B", "671B"); they must sit within 20% of the transformers count
    (tests/data/transformers_param_counts.json). The widest gap is R1-Distill-Qwen-1.5B: 1.5B named, 1.777B
    counted (untied head; CONFIGS.md)."""
    _, m = entry
    counted = COUNTS[m["id"]]["params_total"]
    assert abs(m["params_total_official"] - counted) / counted <= 0.20


WITH_ACTIVE_AND_COUNT = [
    (f, m)
    for f, m in ENTRIES
    if m["params_active_official"] is not None and "params_active" in COUNTS.get(m["id"], {})
]


@pytest.mark.parametrize("entry", WITH_ACTIVE_AND_COUNT, ids=[m["id"] for _, m in WITH_ACTIVE_AND_COUNT])
def test_official_active_close_to_counted(entry):
    """Official active counts sit within 15% of total − routed + Σ routed_layer·k/E (transformers). The widest
    gap is gpt-oss-20b: the card's 3.6B leaves out the 0.58B input embedding that the count includes
    (4.19B; CONFIGS.md "Caveats"); V3's 37B is 37.55B counted, i.e. 36.62B plus the 0.93B input
    embedding (README_WEIGHTS.md: 36.7B activated including the 0.9B output head)."""
    _, m = entry
    counted = COUNTS[m["id"]]["params_active"]
    assert abs(m["params_active_official"] - counted) / counted <= 0.15


def test_counts_file_covers_catalog():
    assert set(COUNTS) == set(IDS)


def test_checkpoint(entry):
    _, m = entry
    ck = m["checkpoint"]
    assert ck["weight_format"] in WEIGHT_FORMATS
    assert ck["expert_weight_format"] is None or ck["expert_weight_format"] in WEIGHT_FORMATS
    if ck["bytes"] is None:
        assert ck["bytes_source"] is None
        return
    assert isinstance(ck["bytes"], int) and ck["bytes"] > 0
    assert isinstance(ck["bytes_source"], str) and ck["bytes_source"].strip()


WITH_BYTES = [(f, m) for f, m in ENTRIES if m["checkpoint"]["bytes"] is not None]


@pytest.mark.parametrize("entry", WITH_BYTES, ids=[m["id"] for _, m in WITH_BYTES])
def test_checkpoint_bytes_match_parameter_count(entry):
    """Sourced checkpoint bytes ≈ counted params × bytes per param of the format. The ±5% band covers the
    MTP layer and FP8 block scales stored in DeepSeek-V3/R1 checkpoints (684.5e9 elements for 671.0e9 params,
    CONFIGS.md) and non-weight files counted by HF usedStorage."""
    _, m = entry
    ck = m["checkpoint"]
    assert ck["expert_weight_format"] is None, "mixed formats need a per-tensor check"
    expected = COUNTS[m["id"]]["params_total"] * BYTES_PER_PARAM[ck["weight_format"]]
    assert 0.97 <= ck["bytes"] / expected <= 1.05


def test_quantization_config_matches_format(entry):
    """The loader reads quantization_config: it must be kept for quantized checkpoints and agree with the format."""
    _, m = entry
    q = m["config"].get("quantization_config")
    ck = m["checkpoint"]
    if ck["weight_format"] == "fp8-block":
        assert q is not None and q["quant_method"] == "fp8" and q["weight_block_size"] == [128, 128]
    if ck["expert_weight_format"] == "mxfp4" and m["config"]["model_type"] == "gpt_oss":
        assert q is not None and q["quant_method"] == "mxfp4"
    if ck["weight_format"] in ("bf16", "fp16", "fp32") and ck["expert_weight_format"] is None:
        assert q is None


V4_ENTRIES = [(f, m) for f, m in ENTRIES if m["config"]["model_type"] == "deepseek_v4"]


@pytest.mark.parametrize("entry", V4_ENTRIES, ids=[m["id"] for _, m in V4_ENTRIES])
def test_v4_compress_ratios(entry):
    _, m = entry
    c = m["config"]
    # one entry per layer plus one per MTP layer (the trailing 0)
    assert len(c["compress_ratios"]) == c["num_hidden_layers"] + c["num_nextn_predict_layers"]
    assert set(c["compress_ratios"]) <= {0, 4, 128}
