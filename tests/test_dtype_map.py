"""Checkpoint dtype maps (issue 15): modules a checkpoint keeps in 16 bits, from quantization_config and from the
safetensors headers of a local directory.

Golden value: vLLM loading meta-llama/Meta-Llama-3.1-405B-Instruct-FP8 at TP8 on 8 × H100 logs
"Loading model weights took 57.7520 GB" (vLLM 0.5.3 model_runner.py, which divides by 2**30: GiB), issue
https://github.com/vllm-project/vllm/issues/6746. Tolerance 3%: the July-2024 upload carried 16 duplicated KV heads
(the catalog keeps the 8 of the released config, 1 GiB less per GPU) and the log has four significant figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuplan.catalog import get_model
from gpuplan.memory import size_inference
from gpuplan.memory.dtype_map import module_is_kept, unquantized_modules
from gpuplan.spec import Deployment

GIB = 2**30


def _weights_per_gpu(model_id: str, gpus: int, fmt: str = "native") -> int:
    dep = Deployment(gpu_id="h100-sxm", gpu_count=gpus, tensor_parallel_size=gpus, engine="vllm", weight_format=fmt)
    mem = size_inference(get_model(model_id), dep, context_tokens=4096, concurrency=1)
    return mem.per_gpu.weights_bytes


def test_llama_405b_fp8_tp8_weights_match_the_vllm_log() -> None:
    got = _weights_per_gpu("meta-llama/Llama-3.1-405B-Instruct-FP8", 8) / GIB
    assert got == pytest.approx(57.752, rel=0.03)


def test_the_map_is_what_moves_it() -> None:
    """The same checkpoint without its modules_to_not_convert (every linear FP8) falls ~9 GiB per GPU short of the
    log: the BF16 attention of all 126 layers and the BF16 MLPs of the first and last layers are the difference."""
    real = get_model("meta-llama/Llama-3.1-405B-Instruct-FP8")
    config = json.loads(json.dumps(real.config))
    config["quantization_config"].pop("modules_to_not_convert")
    bare = real.model_copy(update={"id": "test/405b-fp8-no-map", "config": config})
    dep = Deployment(gpu_id="h100-sxm", gpu_count=8, tensor_parallel_size=8, engine="vllm", weight_format="native")
    native = size_inference(real, dep, context_tokens=4096, concurrency=1).per_gpu.weights_bytes
    plain = size_inference(bare, dep, context_tokens=4096, concurrency=1).per_gpu.weights_bytes
    attention = 126 * (2 * 16384 * 16384 + 2 * 1024 * 16384)  # q, o + k, v (8 KV heads x 128)
    mlp = 2 * 3 * 16384 * 53248  # layers 0 and 125
    # one extra byte per weight, over TP 8 (lm_head is BF16 in the fp8 format either way; scales are negligible)
    assert native - plain == pytest.approx((attention + mlp) / 8, rel=1e-6)


def test_both_405b_checkpoints_are_in_the_catalog() -> None:
    bf16 = get_model("meta-llama/Llama-3.1-405B")
    fp8 = get_model("meta-llama/Llama-3.1-405B-Instruct-FP8")
    assert bf16.checkpoint.weight_format == "bf16" and fp8.checkpoint.weight_format == "fp8"
    assert bf16.arch.params_total == fp8.arch.params_total
    assert not unquantized_modules(bf16.config)


@pytest.mark.parametrize(("module", "entries", "kept"), [
    ("lm_head", ("lm_head",), True),
    ("model.layers.3.self_attn.q_proj", ("self_attn",), True),          # transformers: key + "." in name
    ("model.layers.3.self_attn.q_proj", ("model.layers.3.self_attn.q_proj.weight",), True),
    ("model.layers.31.mlp.up_proj", ("model.layers.3.mlp.up_proj",), False),  # no prefix collision 3 vs 31
    ("model.layers.7.mlp.down_proj", ("re:.*mlp\\.down_proj",), True),    # compressed-tensors regex
    ("model.layers.7.mlp.gate_proj", ("re:.*mlp\\.down_proj",), False),
])
def test_module_matching_follows_the_quantizers(module: str, entries: tuple[str, ...], kept: bool) -> None:
    assert module_is_kept(module, entries) is kept


def test_all_three_config_keys_are_read() -> None:
    cfg = {"quantization_config": {"modules_to_not_convert": ["a"], "ignore": ["re:b.*"], "ignored_layers": ["c"],
                                   "weight_block_size": [128, 128]}}
    assert unquantized_modules(cfg) == ("a", "re:b.*", "c")


def test_local_fp8_dir_with_bf16_attention_headers(tmp_path: Path) -> None:
    """A local FP8 checkpoint whose headers store attention in BF16 (no modules list in its config) is sized with
    BF16 attention: the dtype map comes from the safetensors headers."""
    from tests.test_importers import LLAMA_TINY, write_raw_safetensors

    from gpuplan.catalog.models import register_model
    from gpuplan.importers import import_model
    from gpuplan.importers.entry import entry_from_info

    cfg = dict(LLAMA_TINY, quantization_config={"quant_method": "fp8", "activation_scheme": "dynamic"})
    (tmp_path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    h, i, v, kv = 32, 64, 16, 2 * 8  # hidden, intermediate, vocab, kv heads x head_dim
    header: dict = {}
    offset = 0

    def add(name: str, dtype: str, shape: tuple[int, ...]) -> None:
        nonlocal offset
        size = {"BF16": 2, "F8_E4M3": 1, "F32": 4}[dtype]
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n * size]}
        offset += n * size

    add("model.embed_tokens.weight", "BF16", (v, h))
    add("lm_head.weight", "BF16", (v, h))
    add("model.norm.weight", "BF16", (h,))
    for layer in range(2):
        p = f"model.layers.{layer}"
        for name, shape in (("self_attn.q_proj", (h, h)), ("self_attn.k_proj", (kv, h)), ("self_attn.v_proj", (kv, h)),
                            ("self_attn.o_proj", (h, h))):
            add(f"{p}.{name}.weight", "BF16", shape)
        for name, shape in (("mlp.gate_proj", (i, h)), ("mlp.up_proj", (i, h)), ("mlp.down_proj", (h, i))):
            add(f"{p}.{name}.weight", "F8_E4M3", shape)
            add(f"{p}.{name}.weight_scale", "F32", (1,))
        add(f"{p}.input_layernorm.weight", "BF16", (h,))
        add(f"{p}.post_attention_layernorm.weight", "BF16", (h,))
    write_raw_safetensors(tmp_path / "model.safetensors", header, offset)
    info = import_model(str(tmp_path))
    entry = register_model(entry_from_info(info, str(tmp_path)))
    assert entry.checkpoint.weight_format == "fp8"
    dep = Deployment(gpu_id="h100-sxm", engine="vllm", weight_format="native")
    mem = size_inference(entry, dep, context_tokens=64, concurrency=1)
    attention_bf16 = 2 * (2 * h * h + 2 * kv * h) * 2
    mlp_fp8 = 2 * 3 * h * i
    # attention at 2 bytes (headers), MLP at 1 byte (+ per-tensor scales), embeddings/norms at 2
    assert mem.weights_by_component_bytes["attention"] == attention_bf16
    assert mem.weights_by_component_bytes["mlp"] >= mlp_fp8
    assert mem.weights_by_component_bytes["mlp"] < mlp_fp8 * 1.1
