"""gpuplan.importers: real safetensors / GGUF files written in tmp_path, hostile variants, the Hub route offline.

Expected byte counts come from the writers themselves (numpy ``nbytes``, the ``safetensors`` package's own parser,
``gguf.constants.GGML_QUANT_SIZES``), never from gpuplan. Published architecture numbers are cited where used.
"""

from __future__ import annotations

import json
import math
import struct
import tracemalloc
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
from safetensors import safe_open
from safetensors.numpy import save_file

from gpuplan.errors import (
    GpuplanError,
    InvalidInputError,
    MalformedFileError,
    OfflineError,
    UnknownNameError,
    UnsupportedError,
)
from gpuplan.importers import CheckpointInfo, import_model

pytestmark = pytest.mark.timeout(10)

LLAMA_TINY = {
    "model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 16,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128,
}


# ---------------------------------------------------------------------------------------------------- helpers
def write_config(directory: Path, config: dict | None = None) -> Path:
    path = directory / "config.json"
    path.write_text(json.dumps(config if config is not None else LLAMA_TINY), encoding="utf-8")
    return path


def write_raw_safetensors(path: Path, header: dict, data_bytes: int, *, declared_len: int | None = None) -> None:
    """A safetensors file written byte by byte (for dtypes numpy lacks, and for hostile headers)."""
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    length = len(body) if declared_len is None else declared_len
    path.write_bytes(struct.pack("<Q", length) + body + bytes(data_bytes))


def package_view(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """What the reference ``safetensors`` package reads from the same file: name → (dtype, shape)."""
    with safe_open(str(path), framework="numpy") as handle:
        return {k: (handle.get_slice(k).get_dtype(), tuple(handle.get_slice(k).get_shape())) for k in handle.keys()}


def quant_bytes(qtype: GGMLQuantizationType, num_elements: int) -> int:
    """Bytes of a GGML tensor from gguf's own table: elements / block size × block bytes."""
    block, type_size = GGML_QUANT_SIZES[qtype]
    return num_elements // block * type_size


def write_gguf(path: Path, arch: str, metadata: dict, tensors: dict[str, tuple[np.ndarray, GGMLQuantizationType]],
               *, split_max_tensors: int = 0) -> None:
    """A real GGUF via gguf.GGUFWriter; quantized tensors go through gguf.quants."""
    writer = gguf.GGUFWriter(str(path), arch, split_max_tensors=split_max_tensors)
    for key, (value, vtype) in metadata.items():
        writer.add_key_value(key, value, vtype)
    for name, (array, qtype) in tensors.items():
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            writer.add_tensor(name, array.astype(np.float32 if qtype == GGMLQuantizationType.F32 else np.float16))
        else:
            try:
                packed = gguf.quants.quantize(array.astype(np.float32), qtype)
            except (gguf.quants.QuantError, NotImplementedError):  # writer lacks this quantizer: raw blocks
                packed = np.zeros(gguf.quants.quant_shape_to_byte_shape(array.shape, qtype), np.uint8)
            writer.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


U32, F32V, BOOL = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.BOOL


def llama_gguf_tensors(cfg: dict) -> dict[str, tuple[np.ndarray, GGMLQuantizationType]]:
    """Every tensor of a llama model with llama.cpp names; matrices Q8_0 / Q4_0, norms F32, embeddings F16."""
    H, V, inter = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = H // heads
    rng = np.random.default_rng(0)
    q8, q4 = GGMLQuantizationType.Q8_0, GGMLQuantizationType.Q4_0

    def m(rows: int, cols: int) -> np.ndarray:
        return rng.standard_normal((rows, cols)).astype(np.float32)

    out = {"token_embd.weight": (m(V, H), GGMLQuantizationType.F16)}
    for i in range(cfg["num_hidden_layers"]):
        out |= {
            f"blk.{i}.attn_norm.weight": (np.ones(H, np.float32), GGMLQuantizationType.F32),
            f"blk.{i}.attn_q.weight": (m(heads * hd, H), q8),
            f"blk.{i}.attn_k.weight": (m(kv * hd, H), q8),
            f"blk.{i}.attn_v.weight": (m(kv * hd, H), q8),
            f"blk.{i}.attn_output.weight": (m(H, heads * hd), q8),
            f"blk.{i}.ffn_norm.weight": (np.ones(H, np.float32), GGMLQuantizationType.F32),
            f"blk.{i}.ffn_gate.weight": (m(inter, H), q4),
            f"blk.{i}.ffn_up.weight": (m(inter, H), q4),
            f"blk.{i}.ffn_down.weight": (m(H, inter), q8),
        }
    out["output_norm.weight"] = (np.ones(H, np.float32), GGMLQuantizationType.F32)
    out["output.weight"] = (m(V, H), q8)
    return out


def llama_metadata(cfg: dict) -> dict:
    return {
        "llama.block_count": (cfg["num_hidden_layers"], U32),
        "llama.embedding_length": (cfg["hidden_size"], U32),
        "llama.attention.head_count": (cfg["num_attention_heads"], U32),
        "llama.attention.head_count_kv": (cfg["num_key_value_heads"], U32),
        "llama.feed_forward_length": (cfg["intermediate_size"], U32),
        "llama.context_length": (cfg["max_position_embeddings"], U32),
        "llama.rope.freq_base": (500000.0, F32V),
        "llama.attention.layer_norm_rms_epsilon": (1e-5, F32V),  # Llama-3.1-8B config.json: rms_norm_eps 1e-05
        "general.file_type": (int(gguf.LlamaFileType.MOSTLY_Q8_0), U32),
    }


@pytest.fixture()
def llama_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-llama-Q8_0.gguf"
    write_gguf(path, "llama", llama_metadata(LLAMA_TINY), llama_gguf_tensors(LLAMA_TINY))
    return path


def assert_sentence(err: GpuplanError, path: Path | str) -> None:
    """One sentence naming the file, in both languages, with no unfilled placeholder."""
    for lang in ("en", "zh"):
        text = err.message(lang)
        assert str(path) in text, text
        assert "{" not in text and "\n" not in text, text


# ---------------------------------------------------------------------------------------------------- safetensors
def test_single_safetensors_exact_bytes_and_dtypes(tmp_path: Path) -> None:
    arrays = {
        "model.embed_tokens.weight": np.zeros((16, 32), np.float16),
        "model.norm.weight": np.zeros((32,), np.float32),
        "lm_head.weight": np.zeros((16, 32), np.int8),
    }
    save_file(arrays, str(tmp_path / "model.safetensors"))
    write_config(tmp_path)
    info = import_model(str(tmp_path))
    assert isinstance(info, CheckpointInfo) and info.source == "local-dir"
    assert info.config == LLAMA_TINY
    assert info.total_bytes == sum(a.nbytes for a in arrays.values())
    assert info.total_params == sum(a.size for a in arrays.values())
    assert info.bytes_by_dtype == {"F16": 1024, "I8": 512, "F32": 128}  # 16·32·2, 16·32·1, 32·4 (nbytes)
    assert info.file_bytes == (tmp_path / "model.safetensors").stat().st_size
    ref = package_view(tmp_path / "model.safetensors")
    assert {t.name: (t.dtype, t.shape) for t in info.tensors} == ref


def test_sub_byte_and_fp8_dtypes_match_safetensors_package(tmp_path: Path) -> None:
    # BF16, FP8 and FP4 (2 per byte) as DeepSeek-V3 (F8_E4M3 + F32 scales) and NVFP4/MXFP4 checkpoints store them;
    # bit widths from safetensors Dtype::bitsize (huggingface/safetensors safetensors/src/tensor.rs).
    header = {
        "w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]},
        "e": {"dtype": "F8_E4M3", "shape": [4, 4], "data_offsets": [12, 28]},
        "s": {"dtype": "F32", "shape": [1, 1], "data_offsets": [28, 32]},
        "f": {"dtype": "F4", "shape": [2, 8], "data_offsets": [32, 40]},
        "__metadata__": {"format": "pt"},
    }
    path = tmp_path / "w.safetensors"
    write_raw_safetensors(path, header, 40)
    info = import_model(str(path))
    assert info.bytes_by_dtype == {"F8_E4M3": 16, "BF16": 12, "F4": 8, "F32": 4}
    assert info.total_params == 6 + 16 + 1 + 16
    assert {t.name: (t.dtype, t.shape) for t in info.tensors} == package_view(path)


def test_sharded_with_index(tmp_path: Path) -> None:
    shard1 = {"a.weight": np.ones((8, 8), np.float32), "b.weight": np.ones((4,), np.float16)}
    shard2 = {"c.weight": np.ones((2, 3, 4), np.int32)}
    save_file(shard1, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file(shard2, str(tmp_path / "model-00002-of-00002.safetensors"))
    weight_map = {k: "model-00001-of-00002.safetensors" for k in shard1} | {
        k: "model-00002-of-00002.safetensors" for k in shard2}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    write_config(tmp_path)
    # A stray file the index does not name (Mistral repos ship consolidated.safetensors beside the shards).
    save_file({"zzz": np.ones((1000,), np.float32)}, str(tmp_path / "consolidated.safetensors"))
    info = import_model(str(tmp_path))
    arrays = shard1 | shard2
    assert info.total_bytes == sum(a.nbytes for a in arrays.values())
    assert {t.name for t in info.tensors} == set(arrays)
    assert info.file_bytes == sum((tmp_path / f).stat().st_size for f in set(weight_map.values()))
    assert any("consolidated.safetensors" in note for note in info.notes)


def test_sharded_without_index_sums_all_files(tmp_path: Path) -> None:
    save_file({"a": np.ones((3,), np.float32)}, str(tmp_path / "part1.safetensors"))
    save_file({"b": np.ones((5,), np.float16)}, str(tmp_path / "part2.safetensors"))
    write_config(tmp_path)
    assert import_model(str(tmp_path)).total_bytes == 3 * 4 + 5 * 2


def test_index_naming_missing_shard(tmp_path: Path) -> None:
    save_file({"a": np.ones((3,), np.float32)}, str(tmp_path / "model-00001-of-00002.safetensors"))
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                                "b": "model-00002-of-00002.safetensors"}}))
    write_config(tmp_path)
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key == "importers.index_missing_shard"
    assert "model-00002-of-00002.safetensors" in str(exc.value)


def test_index_with_path_traversal_is_refused(tmp_path: Path) -> None:
    save_file({"a": np.ones((3,), np.float32)}, str(tmp_path / "m.safetensors"))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../../etc/passwd"}}))
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key == "importers.index_bad"


def test_duplicate_tensor_across_shards(tmp_path: Path) -> None:
    save_file({"a": np.ones((3,), np.float32)}, str(tmp_path / "x.safetensors"))
    save_file({"a": np.ones((3,), np.float32)}, str(tmp_path / "y.safetensors"))
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key == "importers.duplicate_tensor"


def test_config_only_directory(tmp_path: Path) -> None:
    write_config(tmp_path)
    info = import_model(str(tmp_path))
    assert info.tensors == () and info.total_bytes == 0 and info.config == LLAMA_TINY and info.notes


def test_config_json_path_reads_its_directory(tmp_path: Path) -> None:
    save_file({"a": np.ones((3,), np.float32)}, str(tmp_path / "model.safetensors"))
    info = import_model(str(write_config(tmp_path)))
    assert info.total_bytes == 12 and info.config == LLAMA_TINY


# ---------------------------------------------------------------------------------------------------- hostile safetensors
def _hostile(path: Path, key: str) -> MalformedFileError:
    tracemalloc.start()
    try:
        with pytest.raises(MalformedFileError) as exc:
            import_model(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, peak  # bounded memory: nothing near the declared sizes is allocated
    assert exc.value.key == key, exc.value.key
    assert_sentence(exc.value, path)
    return exc.value


def test_header_length_of_100_gb(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    write_raw_safetensors(path, {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 4,
                          declared_len=100 * 10**9)
    _hostile(path, "importers.st_header_too_big")


def test_header_longer_than_file(tmp_path: Path) -> None:
    path = tmp_path / "short.safetensors"
    write_raw_safetensors(path, {}, 0, declared_len=4096)
    _hostile(path, "importers.st_header_too_big")


def test_header_not_json(tmp_path: Path) -> None:
    path = tmp_path / "garbage.safetensors"
    body = b"\x00\xffnot json at all"
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    _hostile(path, "importers.st_header_not_json")


def test_header_json_but_not_object(tmp_path: Path) -> None:
    path = tmp_path / "list.safetensors"
    body = b"[1, 2, 3]"
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    _hostile(path, "importers.st_header_not_json")


def test_offsets_outside_file(tmp_path: Path) -> None:
    path = tmp_path / "offsets.safetensors"
    write_raw_safetensors(path, {"a": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}}, 16)
    _hostile(path, "importers.st_offsets")


def test_offsets_inconsistent_with_shape(tmp_path: Path) -> None:
    path = tmp_path / "mismatch.safetensors"
    write_raw_safetensors(path, {"a": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 16]}}, 32)
    err = _hostile(path, "importers.st_size_mismatch")
    assert "32" in str(err) and "16" in str(err)  # needs 4·4·2 = 32 bytes, spans 16


def test_overlapping_tensors(tmp_path: Path) -> None:
    path = tmp_path / "overlap.safetensors"
    write_raw_safetensors(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                 "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, 24)
    _hostile(path, "importers.st_overlap")


def test_unknown_dtype(tmp_path: Path) -> None:
    path = tmp_path / "dtype.safetensors"
    write_raw_safetensors(path, {"a": {"dtype": "Q4_K", "shape": [4], "data_offsets": [0, 4]}}, 4)
    err = _hostile(path, "importers.st_unknown_dtype")
    assert "Q4_K" in str(err) and "BF16" in str(err)


def test_negative_shape(tmp_path: Path) -> None:
    path = tmp_path / "shape.safetensors"
    write_raw_safetensors(path, {"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, 4)
    _hostile(path, "importers.st_bad_entry")


def test_file_shorter_than_length_prefix(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\x01\x02")
    _hostile(path, "importers.st_too_small")


# ---------------------------------------------------------------------------------------------------- config.json
def test_config_of_50_mb(tmp_path: Path) -> None:
    save_file({"a": np.ones((3,), np.float32)}, str(tmp_path / "model.safetensors"))
    path = tmp_path / "config.json"
    with path.open("wb") as handle:  # sparse: 50 MB on paper, nothing written
        handle.truncate(50 * 10**6)
    _hostile(tmp_path, "importers.config_too_big")


@pytest.mark.parametrize(
    ("field", "value"),
    [("num_hidden_layers", -3), ("num_hidden_layers", "32"), ("hidden_size", 10**12), ("vocab_size", True),
     ("num_attention_heads", 0), ("num_key_value_heads", 64), ("intermediate_size", 1.5)],
)
def test_config_absurd_fields(tmp_path: Path, field: str, value: object) -> None:
    write_config(tmp_path, LLAMA_TINY | {field: value})
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key == "importers.bad_config"
    assert field in str(exc.value)
    assert_sentence(exc.value, tmp_path / "config.json")


def test_config_missing_field(tmp_path: Path) -> None:
    write_config(tmp_path, {k: v for k, v in LLAMA_TINY.items() if k != "hidden_size"})
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key == "importers.bad_config_missing" and "hidden_size" in str(exc.value)


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", "\"a string\""])
def test_config_not_an_object(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key in ("importers.config_not_json", "importers.config_not_object")
    assert_sentence(exc.value, tmp_path / "config.json")


def test_auto_map_is_only_noted(tmp_path: Path) -> None:
    write_config(tmp_path, LLAMA_TINY | {"auto_map": {"AutoModel": "evil.Model"}})
    info = import_model(str(tmp_path))
    assert any("auto_map" in note for note in info.notes)


@pytest.mark.parametrize(
    ("quant", "expected"),
    [  # quantization_config blocks as published in the models' config.json
        ({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]},
         "fp8-block"),  # https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json
        ({"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn"]},
         "mxfp4"),  # https://huggingface.co/openai/gpt-oss-120b/blob/main/config.json
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True},
         "awq-int4"),  # https://huggingface.co/Qwen/Qwen2.5-72B-Instruct-AWQ/blob/main/config.json
        ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True},
         "gptq-int4"),  # the fields of https://huggingface.co/Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4/blob/main/config.json
        ({"quant_method": "something-new"}, "bf16"),  # unknown method: falls back to the stored dtype
    ],
)
def test_weight_format_from_quantization_config(tmp_path: Path, quant: dict, expected: str) -> None:
    write_raw_safetensors(tmp_path / "model.safetensors",
                          {"w": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 32]}}, 32)
    write_config(tmp_path, LLAMA_TINY | {"quantization_config": quant})
    assert import_model(str(tmp_path)).weight_format == expected


def test_weight_format_from_dtypes(tmp_path: Path, llama_gguf: Path) -> None:
    header = {"w": {"dtype": "F8_E4M3", "shape": [256, 256], "data_offsets": [0, 65536]},
              "w_scale_inv": {"dtype": "F32", "shape": [2, 2], "data_offsets": [65536, 65552]},
              "norm": {"dtype": "BF16", "shape": [256], "data_offsets": [65552, 66064]}}
    write_raw_safetensors(tmp_path / "fp8.safetensors", header, 66064)
    assert import_model(str(tmp_path / "fp8.safetensors")).weight_format == "fp8-block"
    assert import_model(str(llama_gguf)).weight_format == "gguf-q8_0"


# ---------------------------------------------------------------------------------------------------- pickle, paths
@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "consolidated.00.pth"])
def test_pickle_only_directory_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x80\x04\x95 pickle payload that must never be unpickled")
    with pytest.raises(UnsupportedError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key == "importers.pickle_only" and "safetensors" in str(exc.value) and name in str(exc.value)
    with pytest.raises(UnsupportedError) as exc:
        import_model(str(tmp_path / name))
    assert exc.value.key == "importers.pickle_only"
    # With a config.json the architecture is still read; the pickle is named in a note and never opened.
    write_config(tmp_path)
    info = import_model(str(tmp_path))
    assert info.config == LLAMA_TINY and info.tensors == ()
    assert any(name in note and "safetensors" in note for note in info.notes)


def test_missing_path_that_is_no_repo_id(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as exc:
        import_model(str(tmp_path / "nope" / "model"))
    assert exc.value.key == "importers.not_found"


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError) as exc:
        import_model(str(tmp_path))
    assert exc.value.key == "importers.dir_empty"


# ---------------------------------------------------------------------------------------------------- GGUF
def test_gguf_exact_types_and_bytes(llama_gguf: Path) -> None:
    info = import_model(str(llama_gguf))
    assert info.source == "gguf" and info.gguf_file_type == "Q8_0"
    expected = llama_gguf_tensors(LLAMA_TINY)
    assert {t.name for t in info.tensors} == set(expected)
    for tensor in info.tensors:
        array, qtype = expected[tensor.name]
        assert tensor.dtype == qtype.name
        assert tensor.shape == array.shape  # row-major, as in PyTorch / safetensors
        assert tensor.num_elements == array.size
        assert tensor.num_bytes == quant_bytes(qtype, array.size)
    assert info.total_params == sum(a.size for a, _ in expected.values())
    assert info.total_bytes == sum(quant_bytes(q, a.size) for a, q in expected.values())
    assert set(info.bytes_by_dtype) == {"Q8_0", "Q4_0", "F16", "F32"}
    assert info.file_bytes == llama_gguf.stat().st_size > info.total_bytes


def test_gguf_config_rebuilt_and_counts_match_arch(llama_gguf: Path) -> None:
    from gpuplan.catalog import ModelArch

    info = import_model(str(llama_gguf))
    cfg = info.config
    assert cfg is not None
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "max_position_embeddings", "vocab_size", "model_type"):
        assert cfg[key] == LLAMA_TINY[key], key
    assert cfg["rope_theta"] == 500000.0 and cfg["tie_word_embeddings"] is False
    assert cfg["rms_norm_eps"] == 1e-5  # stored as float32 (9.99999975e-06), read back as the converter's value
    # The rebuilt config must describe the file: gpuplan's own parameter count equals the file's element count.
    assert ModelArch.from_config(cfg).params_total == info.total_params


def test_gguf_params_by_component_match_arch(llama_gguf: Path) -> None:
    from gpuplan.catalog import ModelArch

    info = import_model(str(llama_gguf))
    arch = ModelArch.from_config(info.config)
    assert info.params_by_component == {k: v for k, v in arch.params_by_component.items() if v}
    assert sum(info.bytes_by_component.values()) == info.total_bytes


@pytest.mark.parametrize(
    ("name", "component"),
    [  # names from https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/model.safetensors.index.json
        ("model.embed_tokens.weight", "embed"),
        ("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "attention"),
        ("model.layers.0.self_attn.q_a_proj.weight_scale_inv", "attention"),
        ("model.layers.0.self_attn.kv_a_layernorm.weight", "norm"),
        ("model.layers.0.mlp.down_proj.weight", "mlp"),
        ("model.layers.3.mlp.experts.255.down_proj.weight_scale_inv", "routed_experts"),
        ("model.layers.3.mlp.shared_experts.gate_proj.weight", "shared_experts"),
        ("model.layers.3.mlp.gate.e_score_correction_bias", "router"),
        ("model.layers.61.eh_proj.weight", "mtp"),
        ("model.layers.61.embed_tokens.weight", "mtp"),
        ("model.norm.weight", "norm"),
        ("lm_head.weight", "lm_head"),
        # llama.cpp names (gguf-py constants.py TENSOR_NAMES)
        ("token_embd.weight", "embed"),
        ("blk.3.ffn_gate_exps.weight", "routed_experts"),
        ("blk.3.ffn_down_shexp.weight", "shared_experts"),
        ("blk.3.ffn_gate_inp.weight", "router"),
        ("blk.3.exp_probs_b.bias", "router"),
        ("blk.0.attn_kv_a_mqa.weight", "attention"),
        ("blk.61.nextn.eh_proj.weight", "mtp"),
        ("output.weight", "lm_head"),
        ("output_norm.weight", "norm"),
    ],
)
def test_tensor_components(name: str, component: str) -> None:
    from gpuplan.importers.components import component_of

    assert component_of(name, 61) == component  # DeepSeek-V3: num_hidden_layers 61


def test_gguf_directory_with_one_model(llama_gguf: Path) -> None:
    assert import_model(str(llama_gguf.parent)).total_bytes == import_model(str(llama_gguf)).total_bytes


def test_gguf_split_parts_are_summed(tmp_path: Path) -> None:
    tensors = llama_gguf_tensors(LLAMA_TINY)
    write_gguf(tmp_path / "whole.gguf", "llama", llama_metadata(LLAMA_TINY), tensors)
    split_dir = tmp_path / "split"
    split_dir.mkdir()
    write_gguf(split_dir / "tiny.gguf", "llama", llama_metadata(LLAMA_TINY), tensors, split_max_tensors=8)
    parts = sorted(split_dir.glob("tiny-*-of-*.gguf"))
    assert len(parts) == math.ceil(len(tensors) / 8)
    whole = import_model(str(tmp_path / "whole.gguf"))
    for part in (parts[0], parts[-1]):
        info = import_model(str(part))
        assert info.total_bytes == whole.total_bytes and info.total_params == whole.total_params
        assert info.config == whole.config
        assert info.file_bytes == sum(p.stat().st_size for p in parts)
    parts[1].unlink()
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(parts[0]))
    assert exc.value.key == "importers.gguf_split_missing" and parts[1].name in str(exc.value)


def test_gguf_deepseek_v3_metadata_rebuilds_mla_config(tmp_path: Path) -> None:
    """DeepSeek-V3 hyperparameters (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json) written the
    way llama.cpp's convert_hf_to_gguf.py (DeepseekV2Model) writes them, with tiny stand-in tensors."""
    from gpuplan.catalog import ModelArch, get_model

    d = "deepseek2"
    meta = {
        f"{d}.block_count": (61, U32), f"{d}.embedding_length": (7168, U32), f"{d}.context_length": (163840, U32),
        f"{d}.feed_forward_length": (18432, U32), f"{d}.attention.head_count": (128, U32),
        f"{d}.attention.head_count_kv": (1, U32), f"{d}.vocab_size": (129280, U32),
        f"{d}.attention.q_lora_rank": (1536, U32), f"{d}.attention.kv_lora_rank": (512, U32),
        f"{d}.attention.key_length": (512 + 64, U32), f"{d}.attention.value_length": (512, U32),
        f"{d}.attention.key_length_mla": (128 + 64, U32), f"{d}.attention.value_length_mla": (128, U32),
        f"{d}.rope.dimension_count": (64, U32), f"{d}.leading_dense_block_count": (3, U32),
        f"{d}.expert_feed_forward_length": (2048, U32), f"{d}.expert_count": (256, U32),
        f"{d}.expert_shared_count": (1, U32), f"{d}.expert_used_count": (8, U32),
        f"{d}.expert_group_count": (8, U32), f"{d}.expert_group_used_count": (4, U32),
        f"{d}.expert_weights_scale": (2.5, F32V), f"{d}.expert_weights_norm": (True, BOOL),
        f"{d}.expert_gating_func": (int(gguf.ExpertGatingFuncType.SIGMOID), U32),
        f"{d}.nextn_predict_layers": (1, U32), f"{d}.rope.freq_base": (10000.0, F32V),
        "general.file_type": (int(gguf.LlamaFileType.MOSTLY_Q4_K_M), U32),
    }
    rng = np.random.default_rng(1)
    tensors = {
        "blk.0.attn_kv_a_mqa.weight": (rng.standard_normal((64, 256)), GGMLQuantizationType.Q4_K),
        "output.weight": (rng.standard_normal((8, 256)), GGMLQuantizationType.Q6_K),
        "output_norm.weight": (np.ones(256), GGMLQuantizationType.F32),
    }
    path = tmp_path / "DeepSeek-V3-Q4_K_M.gguf"
    write_gguf(path, d, meta, tensors)
    info = import_model(str(path))
    cfg = info.config
    assert info.gguf_file_type == "Q4_K_M"
    assert info.bytes_by_dtype["Q4_K"] == quant_bytes(GGMLQuantizationType.Q4_K, 64 * 256)
    assert info.bytes_by_dtype["Q6_K"] == quant_bytes(GGMLQuantizationType.Q6_K, 8 * 256)
    upstream = get_model("deepseek-v3").config
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size",
                "intermediate_size", "moe_intermediate_size", "n_routed_experts", "n_shared_experts",
                "num_experts_per_tok", "first_k_dense_replace", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim",
                "qk_nope_head_dim", "v_head_dim", "n_group", "topk_group", "max_position_embeddings"):
        assert cfg[key] == upstream[key], key
    assert cfg["model_type"] == "deepseek_v3" and cfg["scoring_func"] == "sigmoid" and cfg["norm_topk_prob"] is True
    assert cfg["routed_scaling_factor"] == upstream["routed_scaling_factor"]
    assert "num_nextn_predict_layers" not in cfg and any("multi-token" in n for n in info.notes)
    # Same architecture as the catalog's DeepSeek-V3 (MTP aside, which this GGUF does not store).
    assert ModelArch.from_config(cfg).params_total == get_model("deepseek-v3").arch.params_total


def test_gguf_old_style_mla_keys(tmp_path: Path) -> None:
    """Before llama.cpp's MLA cache (2025) key_length/value_length held the per-head sizes (192 / 128 for V2-Lite,
    https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json) and q_lora_rank was absent."""
    d = "deepseek2"
    meta = {
        f"{d}.block_count": (27, U32), f"{d}.embedding_length": (2048, U32), f"{d}.attention.head_count": (16, U32),
        f"{d}.attention.head_count_kv": (16, U32), f"{d}.attention.kv_lora_rank": (512, U32),
        f"{d}.attention.key_length": (192, U32), f"{d}.attention.value_length": (128, U32),
        f"{d}.rope.dimension_count": (64, U32), f"{d}.expert_count": (64, U32),
        f"{d}.expert_gating_func": (int(gguf.ExpertGatingFuncType.SOFTMAX), U32),
    }
    path = tmp_path / "v2-lite.gguf"
    write_gguf(path, d, meta, {"output_norm.weight": (np.ones(2048), GGMLQuantizationType.F32)})
    cfg = import_model(str(path)).config
    assert cfg["model_type"] == "deepseek_v2" and cfg["q_lora_rank"] is None
    assert (cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]) == (128, 64, 128)
    assert cfg["num_key_value_heads"] == 16 and "head_dim" not in cfg


def test_gguf_qwen3_moe_field_names(tmp_path: Path) -> None:
    """Qwen3-30B-A3B (https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json): 128 experts, top-8, 768."""
    a = "qwen3moe"
    meta = {f"{a}.block_count": (48, U32), f"{a}.embedding_length": (2048, U32), f"{a}.attention.head_count": (32, U32),
            f"{a}.attention.head_count_kv": (4, U32), f"{a}.attention.key_length": (128, U32),
            f"{a}.expert_count": (128, U32), f"{a}.expert_used_count": (8, U32),
            f"{a}.expert_feed_forward_length": (768, U32), f"{a}.feed_forward_length": (6144, U32)}
    path = tmp_path / "qwen3moe.gguf"
    write_gguf(path, a, meta, {"output_norm.weight": (np.ones(2048), GGMLQuantizationType.F32)})
    cfg = import_model(str(path)).config
    assert cfg["model_type"] == "qwen3_moe" and cfg["num_experts"] == 128 and cfg["num_experts_per_tok"] == 8
    assert cfg["moe_intermediate_size"] == 768 and cfg["head_dim"] == 128 and "n_routed_experts" not in cfg


def test_gguf_package_reader_agrees_with_scan(llama_gguf: Path) -> None:
    from gpuplan.importers.gguf_file import read_with_gguf_package, scan_gguf

    scan = scan_gguf(llama_gguf)
    assert read_with_gguf_package(llama_gguf, scan) == scan.tensors
    reader = gguf.GGUFReader(str(llama_gguf))
    assert sum(int(t.n_bytes) for t in reader.tensors) == import_model(str(llama_gguf)).total_bytes


def test_vocab_only_gguf_without_padding(tmp_path: Path) -> None:
    """llama.cpp ships vocab-only GGUFs (models/ggml-vocab-*.gguf): no tensors, and no padding after the header."""
    path = tmp_path / "ggml-vocab-tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_token_list(["<s>", "</s>", "hello"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    # gguf-py pads the header to the alignment even without tensors; llama.cpp's C writer does not (its vocab files
    # end right after the last string). Drop the padding to get that layout: header end not on a 32-byte boundary.
    path.write_bytes(path.read_bytes().rstrip(b"\x00"))
    assert path.stat().st_size % 32 != 0
    info = import_model(str(path))
    assert info.tensors == () and info.total_bytes == 0 and info.config["vocab_size"] == 3


def test_gguf_with_large_tokenizer_is_fast(tmp_path: Path) -> None:
    """A 200k-entry vocabulary (Gemma-3's is 262,144: https://huggingface.co/google/gemma-3-27b-it) is skipped fast."""
    import time

    path = tmp_path / "big-vocab.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_token_list([f"t{i}" for i in range(200_000)])
    writer.add_tensor("output_norm.weight", np.ones(32, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    start = time.perf_counter()
    info = import_model(str(path))
    assert time.perf_counter() - start < 5.0
    assert info.config["vocab_size"] == 200_000 and info.total_bytes == 32 * 4


# ---------------------------------------------------------------------------------------------------- hostile GGUF
def test_gguf_absurd_metadata_gets_one_sentence(tmp_path: Path) -> None:
    meta = llama_metadata(LLAMA_TINY) | {"llama.block_count": (2**31, U32)}
    path = tmp_path / "absurd.gguf"
    write_gguf(path, "llama", meta, {"output_norm.weight": (np.ones(32), GGMLQuantizationType.F32)})
    with pytest.raises(MalformedFileError) as exc:
        import_model(str(path))
    assert exc.value.key == "importers.bad_config" and "num_hidden_layers" in str(exc.value)
    assert_sentence(exc.value, path)


def test_truncated_gguf(llama_gguf: Path, tmp_path: Path) -> None:
    data = llama_gguf.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) // 2])
    err = _hostile(cut, "importers.gguf_truncated")
    assert str(len(data) // 2) in str(err)


def test_gguf_cut_inside_header(llama_gguf: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut-header.gguf"
    cut.write_bytes(llama_gguf.read_bytes()[:100])
    _hostile(cut, "importers.gguf_truncated_header")


def test_gguf_garbage_magic(llama_gguf: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGML" + llama_gguf.read_bytes()[4:])
    _hostile(bad, "importers.gguf_bad_magic")


def test_gguf_absurd_counts(llama_gguf: Path, tmp_path: Path) -> None:
    data = bytearray(llama_gguf.read_bytes())
    many_tensors = tmp_path / "tensors.gguf"
    many_tensors.write_bytes(bytes(data[:8] + struct.pack("<Q", 2**40) + data[16:]))
    _hostile(many_tensors, "importers.gguf_too_many_tensors")
    many_kv = tmp_path / "kv.gguf"
    many_kv.write_bytes(bytes(data[:16] + struct.pack("<Q", 2**62) + data[24:]))
    _hostile(many_kv, "importers.gguf_too_many_kv")
    # A kv count under the cap but far more than the file holds: the walk stops at the end of the file.
    lying_kv = tmp_path / "kv2.gguf"
    lying_kv.write_bytes(bytes(data[:16] + struct.pack("<Q", 999_999) + data[24:]))
    _hostile(lying_kv, "importers.gguf_truncated_header")


def test_gguf_absurd_string_length(llama_gguf: Path, tmp_path: Path) -> None:
    data = bytearray(llama_gguf.read_bytes())
    bad = tmp_path / "strlen.gguf"
    bad.write_bytes(bytes(data[:24] + struct.pack("<Q", 2**63) + data[32:]))  # first key's length
    _hostile(bad, "importers.gguf_truncated_header")


def test_gguf_version_1_refused(llama_gguf: Path, tmp_path: Path) -> None:
    data = bytearray(llama_gguf.read_bytes())
    old = tmp_path / "v1.gguf"
    old.write_bytes(bytes(data[:4] + struct.pack("<I", 1) + data[8:]))
    _hostile(old, "importers.gguf_version")


def crafted_gguf(ne0: int, ggml_type: int, data_bytes: int) -> bytes:
    """A one-tensor GGUF v3 written byte by byte (layout: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md)."""
    name = b"blk.0.ffn_up.weight"
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    head += struct.pack("<Q", len(name)) + name + struct.pack("<IQIQ", 1, ne0, ggml_type, 0)
    head += bytes(-len(head) % 32)
    return head + bytes(data_bytes)


def test_crafted_gguf_reads(tmp_path: Path) -> None:
    path = tmp_path / "crafted.gguf"
    path.write_bytes(crafted_gguf(64, int(GGMLQuantizationType.Q8_0), 68))  # 2 blocks × 34 bytes (Q8_0)
    info = import_model(str(path))
    assert [(t.dtype, t.shape, t.num_bytes) for t in info.tensors] == [("Q8_0", (64,), 68)]
    assert info.config is None  # no general.architecture: bytes known, architecture not


def test_gguf_unknown_tensor_type(tmp_path: Path) -> None:
    path = tmp_path / "type.gguf"
    path.write_bytes(crafted_gguf(64, 9999, 68))
    err = _hostile(path, "importers.gguf_unknown_type")
    assert "9999" in str(err)


def test_gguf_row_not_a_whole_number_of_blocks(tmp_path: Path) -> None:
    path = tmp_path / "block.gguf"
    path.write_bytes(crafted_gguf(33, int(GGMLQuantizationType.Q8_0), 68))  # Q8_0 blocks hold 32 elements
    _hostile(path, "importers.gguf_malformed")


def test_empty_gguf_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    _hostile(empty, "importers.gguf_too_small")


# ---------------------------------------------------------------------------------------------------- Hub
def test_hub_offline_env_says_so_and_names_local_route(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as exc:
        import_model("deepseek-ai/DeepSeek-V3", cache_dir=tmp_path)
    text = str(exc.value)
    assert "deepseek-ai/DeepSeek-V3" in text and "gpuplan inspect ./path/to/model-dir" in text
    assert "gpuplan inspect ./path/to/model-dir" in exc.value.message("zh")


def test_hub_offline_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with pytest.raises(OfflineError):
        import_model("Qwen/Qwen3-8B", offline=True, cache_dir=tmp_path)


def _fake_hub(monkeypatch: pytest.MonkeyPatch, repo_dir: Path) -> list[str]:
    """Serve config.json and safetensors metadata from a local directory through huggingface_hub's own types."""
    import huggingface_hub as hfh
    from huggingface_hub.utils import SafetensorsFileMetadata, SafetensorsRepoMetadata
    from huggingface_hub.utils import TensorInfo as HubTensorInfo

    calls: list[str] = []

    def fake_download(repo_id: str, filename: str, **kwargs) -> str:
        calls.append(f"download {repo_id} {filename}")
        return str(repo_dir / filename)

    def fake_metadata(self, repo_id: str, **kwargs):
        calls.append(f"metadata {repo_id}")
        files = {}
        for path in sorted(repo_dir.glob("*.safetensors")):
            (length,) = struct.unpack("<Q", path.read_bytes()[:8])
            header = json.loads(path.read_bytes()[8:8 + length])
            header.pop("__metadata__", None)
            files[path.name] = SafetensorsFileMetadata(metadata={}, tensors={
                k: HubTensorInfo(dtype=v["dtype"], shape=v["shape"], data_offsets=tuple(v["data_offsets"]))
                for k, v in header.items()})
        weight_map = {k: f for f, m in files.items() for k in m.tensors}
        return SafetensorsRepoMetadata(metadata=None, sharded=len(files) > 1, weight_map=weight_map,
                                       files_metadata=files)

    monkeypatch.setattr("gpuplan.importers.hub.check_reachable", lambda endpoint, repo_id: None)
    monkeypatch.setattr(hfh, "hf_hub_download", fake_download)
    monkeypatch.setattr(hfh.HfApi, "get_safetensors_metadata", fake_metadata)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return calls


def test_hub_route_then_offline_from_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    write_config(repo)
    save_file({"a": np.ones((4, 4), np.float16)}, str(repo / "model-00001-of-00002.safetensors"))
    save_file({"b": np.ones((8,), np.float32)}, str(repo / "model-00002-of-00002.safetensors"))
    calls = _fake_hub(monkeypatch, repo)
    cache = tmp_path / "cache"
    online = import_model("org/tiny-llama", cache_dir=cache)
    assert online.source == "hub" and online.config == LLAMA_TINY
    assert online.total_bytes == 4 * 4 * 2 + 8 * 4 and online.bytes_by_dtype == {"F32": 32, "F16": 32}
    assert calls == ["download org/tiny-llama config.json", "metadata org/tiny-llama"]
    local = import_model(str(repo))
    assert [(t.name, t.dtype, t.shape, t.num_bytes) for t in online.tensors] == [
        (t.name, t.dtype, t.shape, t.num_bytes) for t in local.tensors]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = import_model("org/tiny-llama", cache_dir=cache)
    assert cached.tensors == online.tensors and cached.config == online.config and len(calls) == 2
    assert any(str(cache) in note for note in cached.notes)


def test_hub_not_found_and_gated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub as hfh
    from huggingface_hub import errors as hfe

    _fake_hub(monkeypatch, tmp_path)
    for exc_type, expected, key in ((hfe.RepositoryNotFoundError, UnknownNameError, "importers.hub_not_found"),
                                    (hfe.GatedRepoError, InvalidInputError, "importers.hub_gated")):
        def raiser(repo_id: str, filename: str, exc_type=exc_type, **kwargs):
            raise exc_type.__new__(exc_type)

        monkeypatch.setattr(hfh, "hf_hub_download", raiser)
        with pytest.raises(expected) as exc:
            import_model("org/private-model", cache_dir=tmp_path)
        assert exc.value.key == key and "org/private-model" in str(exc.value)


def test_hub_connection_error_is_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub as hfh

    _fake_hub(monkeypatch, tmp_path)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no route")

    monkeypatch.setattr(hfh, "hf_hub_download", refuse)
    with pytest.raises(OfflineError) as exc:
        import_model("org/model", cache_dir=tmp_path)
    assert "gpuplan inspect ./path/to/model-dir" in str(exc.value)


def test_unreachable_hub_is_told_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    from gpuplan.importers.hub import check_reachable

    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    with socket.socket() as sock:  # a loopback port that was free a moment ago: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(OfflineError) as exc:
        check_reachable(f"http://127.0.0.1:{port}", "org/model", timeout_s=2.0)
    assert time.perf_counter() - start < 3.0 and "org/model" in str(exc.value)


# ---------------------------------------------------------------------------------------------------- messages
def test_message_catalogs_match() -> None:
    import tomllib

    from gpuplan.i18n import placeholders

    root = Path(__file__).resolve().parents[1] / "src" / "gpuplan" / "i18n"
    en = tomllib.loads((root / "en" / "importers.toml").read_text(encoding="utf-8"))
    zh = tomllib.loads((root / "zh_CN" / "importers.toml").read_text(encoding="utf-8"))
    assert en.keys() == zh.keys()
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key


def test_every_raised_key_exists() -> None:
    import re

    from gpuplan.i18n import catalog

    src = Path(__file__).resolve().parents[1] / "src" / "gpuplan" / "importers"
    keys = set()
    for path in src.glob("*.py"):
        keys |= set(re.findall(r'"(importers\.[a-z0-9_]+)"', path.read_text(encoding="utf-8")))
    assert keys
    for lang in ("en", "zh"):
        missing = keys - set(catalog(lang))
        assert not missing, (lang, missing)
