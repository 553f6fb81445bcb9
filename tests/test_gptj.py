"""GPT-J 6B in the catalog (model type ``gptj``: GPT-2 field names, parallel attention + GELU MLP, LayerNorm with bias,
lm_head with bias) and the two GPU compute rates added to raise the calibration coverage.

Sources (also in src/gpuplan/catalog/data/MODEL_SOURCES.md "GPT-J" and GPU_SOURCES.md G51/G52):

- config: Marcos-gi/base-gpt-j-6B config.json @d2ea4ce5253728dd5541727d8ef209cf9b48530d, a git mirror of the Hugging
  Face repo EleutherAI/gpt-j-6B;
- model card (hyperparameter table): the same mirror's README.md @8a44d5a1b4916f9af766e776dbb6d58f0ee2f97e and
  asgaardlab/model-card-reorganization verified_model_cards/EleutherAI@gpt-j-6b/2_original_model_card.md @3a0a670;
- checkpoint: the Git LFS pointers of pytorch_model-0000{1,2,3}-of-00003.bin at the mirror commit above;
- tensor names: llama.cpp gguf-py ``MODEL_TENSORS[MODEL_ARCH.GPTJ]`` (gguf/constants.py; the installed ``gguf``
  package is that file);
- module layout: transformers models/gptj/modeling_gptj.py (GPTJBlock, GPTJAttention, GPTJMLP).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gpuplan.catalog import get_model
from gpuplan.catalog.arch import ModelArch
from gpuplan.errors import MalformedFileError

ROOT = Path(__file__).resolve().parents[1]
GPUS_CSV = ROOT / "src" / "gpuplan" / "catalog" / "data" / "gpus.csv"
PUBLIC = ROOT.parent / "shared" / "calibration" / "public-normalized.csv"

# Model card hyperparameter table: n_layers 28, d_model 4096, d_ff 16384, n_heads 16, d_head 256, n_ctx 2048,
# n_vocab 50257/50400 ("the embedding matrix has a size of 50400").
CARD_LAYERS, CARD_D_MODEL, CARD_D_FF, CARD_HEADS, CARD_D_HEAD, CARD_CTX, CARD_VOCAB = 28, 4096, 16384, 16, 256, 2048, 50400
CARD_PARAMS = 6_053_381_344


@pytest.fixture(scope="module")
def arch() -> ModelArch:
    return get_model("gpt-j-6b").arch


def test_dims_match_the_model_card(arch: ModelArch) -> None:
    assert arch.model_type == "gptj"
    assert arch.num_layers == CARD_LAYERS
    assert arch.hidden_size == CARD_D_MODEL
    assert arch.vocab_size == CARD_VOCAB
    assert arch.max_position_embeddings == CARD_CTX
    assert {(a.kind, a.num_heads, a.num_kv_heads, a.head_dim) for a in arch.attention} == {
        ("gqa", CARD_HEADS, CARD_HEADS, CARD_D_HEAD)
    }
    # n_inner is null in the config: GPTJMLP uses 4 * n_embd = the card's d_ff.
    assert {(m.intermediate_size, m.gated, m.bias, m.is_moe) for m in arch.mlp} == {(CARD_D_FF, False, True, False)}
    assert not arch.mlp_is_gated
    assert not arch.tie_word_embeddings


def test_checkpoint_bytes_pin_the_parameter_count(arch: ModelArch) -> None:
    """The fp32 checkpoint holds every parameter at 4 B plus one persistent causal-mask buffer per layer.

    LFS sizes 9,937,120,033 + 9,782,538,687 + 4,601,419,021 B (mirror @d2ea4ce). GPTJAttention of transformers 4.19
    (the config's version) registers ``bias`` = tril(ones(n_positions, n_positions), dtype=bool) as a persistent
    buffer: 2048² B per layer. What remains is torch's zip/pickle framing (one record per tensor, 64-byte aligned);
    256 KiB bounds it for the ~340 records. A missing bias vector (fc_in: 16,384 × 28 × 4 B = 1.8 MB) or norm
    (4,096 × 28 × 4 B = 0.46 MB) would fall outside.
    """
    checkpoint_bytes = 9_937_120_033 + 9_782_538_687 + 4_601_419_021
    assert get_model("gpt-j-6b").checkpoint.bytes == checkpoint_bytes
    mask_bytes = CARD_LAYERS * CARD_CTX * CARD_CTX
    framing = checkpoint_bytes - 4 * arch.params_total - mask_bytes
    assert 0 <= framing <= 256 * 1024, framing


def test_count_within_the_card_figure(arch: ModelArch) -> None:
    """The card's 6,053,381,344 (from the JAX checkpoint) is 0.04% above the transformers count; 0.05% allows that
    documented gap and no more than one missing 4096×4096-scale tensor would (16.8M = 0.28%)."""
    assert abs(arch.params_total - CARD_PARAMS) / CARD_PARAMS < 5e-4
    assert arch.params_active == arch.params_total  # dense


def test_tensor_names_follow_llama_cpp_gptj() -> None:
    """Every weight name is one llama.cpp's GGUF writer defines for GPT-J (+ '.bias' for the biased ones)."""
    gguf = pytest.importorskip("gguf")
    names = {gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.GPTJ]}
    allowed = {n.replace("blk.{bid}.", "") for n in names}
    arch = get_model("gpt-j-6b").arch
    seen = set()
    for t in arch.tensors():
        base = t.name.split(".", 2)[-1] if t.layer is not None else t.name
        base = base.removesuffix(".bias")
        assert base in allowed, t.name
        seen.add(base)
    assert seen == allowed  # no ffn_norm, no ffn_gate: GPT-J has neither


def test_layer_tensors_and_biases(arch: ModelArch) -> None:
    """modeling_gptj.py: ln_1 (weight, bias); q/k/v/out_proj without bias; fc_in, fc_out with bias; ln_f (weight,
    bias); lm_head with bias."""
    H, I, V = CARD_D_MODEL, CARD_D_FF, CARD_VOCAB  # noqa: E741
    layer0 = {t.name: t.shape for t in arch.tensors() if t.layer == 0}
    assert layer0 == {
        "blk.0.attn_norm": (H,), "blk.0.attn_norm.bias": (H,),
        "blk.0.attn_q": (H, H), "blk.0.attn_k": (H, H), "blk.0.attn_v": (H, H), "blk.0.attn_output": (H, H),
        "blk.0.ffn_up": (I, H), "blk.0.ffn_up.bias": (I,), "blk.0.ffn_down": (H, I), "blk.0.ffn_down.bias": (H,),
    }
    outer = {t.name: t.shape for t in arch.tensors() if t.layer is None}
    assert outer == {"token_embd": (V, H), "output_norm": (H,), "output_norm.bias": (H,), "output": (V, H),
                     "output.bias": (V,)}


def test_tiny_gptj_matches_transformers_tensor_by_tensor() -> None:
    """A 2-layer GPT-J built by transformers on the meta device has exactly the tensors (shapes) the arch lists."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch

    cfg = {"model_type": "gptj", "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 128, "n_inner": None,
           "rotary_dim": 8, "vocab_size": 96, "tie_word_embeddings": False}
    hf_cfg = transformers.GPTJConfig(**{k: v for k, v in cfg.items() if k != "model_type"})
    with torch.device("meta"):
        model = transformers.GPTJForCausalLM(hf_cfg)
    rename = {"transformer.wte.weight": "token_embd", "transformer.ln_f.weight": "output_norm",
              "transformer.ln_f.bias": "output_norm.bias", "lm_head.weight": "output", "lm_head.bias": "output.bias"}
    per_layer = {"ln_1.weight": "attn_norm", "ln_1.bias": "attn_norm.bias", "attn.q_proj.weight": "attn_q",
                 "attn.k_proj.weight": "attn_k", "attn.v_proj.weight": "attn_v", "attn.out_proj.weight": "attn_output",
                 "mlp.fc_in.weight": "ffn_up", "mlp.fc_in.bias": "ffn_up.bias", "mlp.fc_out.weight": "ffn_down",
                 "mlp.fc_out.bias": "ffn_down.bias"}
    theirs = {}
    for name, p in model.named_parameters():
        if name in rename:
            theirs[rename[name]] = tuple(p.shape)
            continue
        _, _, bid, rest = name.split(".", 3)
        theirs[f"blk.{bid}.{per_layer[rest]}"] = tuple(p.shape)
    ours = {t.name: t.shape for t in ModelArch.from_config(cfg).tensors()}
    assert ours == theirs


def test_kv_cache_bytes_per_token(arch: ModelArch) -> None:
    """MHA: 2 (K and V) · 28 layers · 16 heads · 256 · 2 B (BF16/FP16) = 458,752 B per token (card dims)."""
    from gpuplan.memory.kv import kv_cache_bytes_per_token

    assert kv_cache_bytes_per_token(arch, "bf16") == 2 * CARD_LAYERS * CARD_HEADS * CARD_D_HEAD * 2 == 458_752


@pytest.mark.parametrize("fmt", ["fp16", "awq-int4", "gguf-q4_k_m", "gguf-q8_0"])
def test_quantized_sizes_keep_biases_and_norms_unquantized(fmt: str) -> None:
    """The quantizers accept the GPT-J names; 1-D tensors (biases, norms) stay 16/32-bit as llama.cpp and AWQ keep
    them; the attention and MLP matrices are stored below 16 bits per weight in the 4/8-bit formats (AWQ also keeps
    the embedding and head in 16-bit; llama.cpp quantizes them)."""
    from gpuplan.memory.weights import model_tensor_bytes

    rows = model_tensor_bytes(get_model("gpt-j-6b"), fmt)
    assert len(rows) == len(get_model("gpt-j-6b").arch.tensors())
    for t, nbytes in rows:
        bits = 8 * nbytes / t.num_elements
        if len(t.shape) == 1:
            assert bits >= 16, t.name
        elif fmt != "fp16" and (t.component in ("attention", "mlp") or fmt.startswith("gguf")):
            assert bits < 16, (t.name, bits)


def test_bad_gptj_configs_raise_one_clear_error() -> None:
    good = {"model_type": "gptj", "n_embd": 64, "n_head": 4, "n_layer": 2, "vocab_size": 96}
    ModelArch.from_config(good)
    with pytest.raises(MalformedFileError):
        ModelArch.from_config({**good, "n_head": 5})  # 64 is not a multiple of 5: no whole head_dim
    with pytest.raises(MalformedFileError):
        ModelArch.from_config({k: v for k, v in good.items() if k != "n_embd"})
    with pytest.raises(MalformedFileError):
        ModelArch.from_config({**good, "n_inner": -1})


def test_generic_field_names_give_the_same_arch() -> None:
    """transformers GPTJConfig.attribute_map: hidden_size→n_embd, num_hidden_layers→n_layer,
    num_attention_heads→n_head, max_position_embeddings→n_positions (a config rebuilt from GGUF metadata uses these)."""
    own = get_model("gpt-j-6b").config
    generic = {k: v for k, v in own.items() if k not in ("n_embd", "n_layer", "n_head", "n_positions")}
    generic.update(hidden_size=own["n_embd"], num_hidden_layers=own["n_layer"], num_attention_heads=own["n_head"],
                   max_position_embeddings=own["n_positions"])
    a, b = ModelArch.from_config(own), ModelArch.from_config(generic)
    assert a.tensors() == b.tensors()
    assert a.max_position_embeddings == b.max_position_embeddings == CARD_CTX


def _gpu_row(gpu_id: str) -> dict[str, str]:
    with GPUS_CSV.open(newline="", encoding="utf-8") as fh:
        return next(r for r in csv.DictReader(fh) if r["id"] == gpu_id)


def test_m2_ultra_76c_rates() -> None:
    # Apple Mac Pro page (GPU_SOURCES.md G51): the 76-core M2 Ultra GPU reaches "up to 27.2 teraflops"; Apple states
    # three figures, hence 0.2%. FP16 equals FP32 on M1-generation and later Apple GPU cores (G52: 256 F16 and 256 F32
    # OPs/clock/core; M2 Ultra >= 27,200 GFLOPS F32 and F16), so the two cells are equal.
    row = _gpu_row("apple-m2-ultra-76c")
    assert float(row["dense_fp32_flops_per_s"]) == pytest.approx(27.2e12, rel=2e-3)
    assert float(row["dense_fp16_flops_per_s"]) == float(row["dense_fp32_flops_per_s"])
    assert row["dense_bf16_flops_per_s"] == ""  # no source states a BF16 rate


def test_h100_96gb_rates_stay_unknown() -> None:
    # torchtitan benchmarks/llama3_h100_202412_torchtitan.md (G4): the 96 GB HBM2e part's peak "is between SXM and NVL,
    # and we don't know its exact value"; no NVIDIA figure was found, so no rate may be filled in.
    row = _gpu_row("h100-sxm-96gb")
    rates = [v for k, v in row.items() if k.startswith("dense_")]
    assert all(v == "" for v in rates)


@pytest.mark.skipif(not PUBLIC.exists(), reason="shared/calibration is not checked out here")
def test_public_gptj_and_m2_ultra_rows_are_predicted() -> None:
    """The six TensorRT-LLM GPT-J rows (M159-M164) and the three M2 Ultra prefill rows now get a prediction."""
    from gpuplan.perf.validation import load_dataset, validate_rows

    report = validate_rows(load_dataset(PUBLIC))
    missing = {r.id for r in report.unpredicted}
    assert not missing & {"M159", "M160", "M161", "M162", "M163", "M164", "M037", "M056", "M069"}, missing
    assert report.rows_predicted / report.rows_total >= 0.90
