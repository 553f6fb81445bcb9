"""Acceptance test: the analytic parameter counts agree with transformers' own models to 0.01%.

Every catalog model whose model_type the installed transformers can build is instantiated on the meta device
(no weights, no remote code; ``kimi_k2`` is built as ``deepseek_v3``) by ``scripts/transformers_param_counts.py``,
and its counts are compared with ``gpuplan.catalog.get_model(id).arch``:

- ``params_total``          = sum(p.numel() for p in model.parameters()) (a tied tensor counted once; no MTP);
- ``params_routed_experts`` = parameters whose name contains ``.experts.``;
- ``params_active``         = total - routed + sum over MoE layers of routed_layer * k / E;
- ``params_mtp``            = MTP / next-n layers, measured as (L+1 layers) - (L layers) + the MTP-only tensors.

Model types transformers cannot build are skipped with the reason (deepseek-moe-16b: model_type ``deepseek``
exists only as remote code).
"""

from __future__ import annotations

import gc
import importlib.util
import json
from functools import cache
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]
COUNTS_FILE = ROOT / "tests" / "data" / "transformers_param_counts.json"
REL_TOL = 1e-4  # the 0.01%


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "transformers_param_counts", ROOT / "scripts" / "transformers_param_counts.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TPC = _load_script()
ENTRIES = {e["id"]: e for e in TPC.catalog_entries()}
STORED = json.loads(COUNTS_FILE.read_text())


@cache
def _counts_for_config(config_json: str) -> dict:
    result = TPC.counts_for({"config": json.loads(config_json)})
    gc.collect()
    return result


def counts(model_id: str) -> dict:
    """transformers' counts for one catalog model; each model is built, counted and deleted. Entries with an
    identical config (V3 / V3-0324 / R1, base / chat pairs) are built once."""
    return _counts_for_config(json.dumps(ENTRIES[model_id]["config"], sort_keys=True))


def _buildable(model_id: str) -> dict:
    result = counts(model_id)
    if "skipped" in result:
        pytest.skip(result["skipped"])
    return result


def _arch(model_id: str):
    catalog = pytest.importorskip("gpuplan.catalog")
    if not hasattr(catalog, "get_model"):
        pytest.skip("gpuplan.catalog.get_model is not available yet (lead's arch module)")
    return catalog.get_model(model_id).arch


def _close(analytic: int, reference: int) -> bool:
    return abs(analytic - reference) <= REL_TOL * max(reference, 1)


MODEL_IDS = list(ENTRIES)


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_stored_counts_are_current(model_id):
    """tests/data/transformers_param_counts.json (what the analytic code was checked against) matches a fresh
    build from the current catalog config. Regenerate with
    ``python scripts/transformers_param_counts.py --out tests/data/transformers_param_counts.json``."""
    fresh = counts(model_id)
    stored = STORED["models"][model_id]
    if "skipped" in fresh:
        assert "skipped" in stored
        return
    for key in (
        "params_total",
        "params_routed_experts",
        "params_active",
        "params_embed",
        "params_lm_head",
        "params_mtp_per_layer",
    ):
        assert fresh.get(key) == stored.get(key), key


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_analytic_total_matches_transformers(model_id):
    ref = _buildable(model_id)
    arch = _arch(model_id)
    assert _close(arch.params_total, ref["params_total"]), (arch.params_total, ref["params_total"])


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_analytic_routed_matches_transformers(model_id):
    ref = _buildable(model_id)
    arch = _arch(model_id)
    assert _close(arch.params_routed_experts, ref["params_routed_experts"]), (
        arch.params_routed_experts,
        ref["params_routed_experts"],
    )


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_analytic_active_matches_transformers(model_id):
    ref = _buildable(model_id)
    arch = _arch(model_id)
    assert _close(arch.params_active, ref["params_active"]), (arch.params_active, ref["params_active"])


MTP_IDS = [m for m in MODEL_IDS if int(ENTRIES[m]["config"].get("num_nextn_predict_layers") or 0) > 0]


@pytest.mark.parametrize("model_id", MTP_IDS)
def test_analytic_mtp_matches_transformers(model_id):
    ref = _buildable(model_id)
    if "params_mtp_per_layer" not in ref:
        pytest.skip("MTP size is measured only for deepseek_v3/v32/v4 and glm4_moe")
    arch = _arch(model_id)
    expected = ref["params_mtp_per_layer"] * ref["num_mtp_layers"]
    # the router bias (E values) is a buffer, not a parameter; either convention is inside the tolerance
    assert _close(arch.params_mtp, expected), (arch.params_mtp, expected)


# Published element counts of real checkpoints, each equal to the transformers count of the same config.
# Exact integers (tolerance 0): they are counts, not rounded claims.
PUBLISHED_TOTALS = {
    # shared/reference/configs/CONFIGS.md "Checks against real checkpoints": safetensors element totals of
    # plain BF16 checkpoints (gogongxt/python scripts/models/*.md tensor tables)
    "Qwen/Qwen2.5-72B-Instruct": 72_706_203_648,
    "Qwen/Qwen3-32B": 32_762_123_264,
    "deepseek-ai/DeepSeek-V2-Lite-Chat": 15_706_484_224,
    # HF API safetensors.total captured in daniel-p-green/alain-ai-learning-platform @522537b
    # out/research-deepseek-ai-deepseek-r1-distill-{qwen-32b,llama-8b}/sources/huggingface/model.json
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": 32_763_876_352,
    "deepseek-ai/DeepSeek-R1-Distill-Llama-8B": 8_030_261_248,
    # gogongxt/python @cbff706 scripts/models/{qwen3_8b,qwen2.5_7b_instruct,deepseek_r1_distill_qwen_7b,
    # meta_llama_3.1_8b_instruct}.md: "参数总量" (total elements) of the BF16 safetensors of each snapshot
    "Qwen/Qwen3-8B": 8_190_735_360,
    "Qwen/Qwen2.5-7B-Instruct": 7_615_616_512,
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": 7_615_616_512,
    "meta-llama/Llama-3.1-8B-Instruct": 8_030_261_248,
    # gogongxt/python @cbff706 scripts/models/qwen3_30b_a3b_instruct_2507.md: the 2507 checkpoint has the same
    # dims as Qwen3-30B-A3B (only max_position_embeddings and rope_theta differ), 30,532,122,624 elements
    "Qwen/Qwen3-30B-A3B": 30_532_122_624,
    # gogongxt/python @daf3d3d scripts/models/llama2-7b.txt: 6,738,417,664 stored elements, of which
    # 32 layers x 64 are rotary inv_freq buffers (not parameters): 6,738,417,664 - 2,048
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    # CONFIGS.md: checkpoint elements reconciled to parameters (MTP, scales, router bias removed)
    "openai/gpt-oss-20b": 20_914_757_184,
    "deepseek-ai/DeepSeek-V3.1": 671_026_404_352,
    "moonshotai/Kimi-K2-Instruct": 1_026_408_209_408,
    "deepseek-ai/DeepSeek-V4-Pro": 1_572_997_179_491,
}
# CONFIGS.md: MTP layer sizes reconciled from the V3.1, V3.2 and V4-Pro checkpoints (router bias included)
PUBLISHED_MTP_WITH_BIAS = {
    "deepseek-ai/DeepSeek-V3.1": 11_610_068_224,
    "deepseek-ai/DeepSeek-V3.2": 11_624_027_648,
    "deepseek-ai/DeepSeek-V4-Pro": 25_840_145_979,
}


@pytest.mark.parametrize("model_id", sorted(PUBLISHED_TOTALS))
def test_transformers_total_equals_published_checkpoint(model_id):
    assert _buildable(model_id)["params_total"] == PUBLISHED_TOTALS[model_id]


@pytest.mark.parametrize("model_id", sorted(PUBLISHED_MTP_WITH_BIAS))
def test_mtp_measurement_equals_published_checkpoint(model_id):
    ref = _buildable(model_id)
    assert ref["params_mtp_per_layer_with_router_bias"] == PUBLISHED_MTP_WITH_BIAS[model_id]


def test_skipped_types_are_only_remote_code_ones():
    """Only deepseek-moe-16b (model_type 'deepseek', remote code only) may be unbuildable."""
    skipped = {m for m in MODEL_IDS if "skipped" in counts(m)}
    assert {ENTRIES[m]["config"]["model_type"] for m in skipped} <= {"deepseek"}
