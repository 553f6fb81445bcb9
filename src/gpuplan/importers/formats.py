"""The checkpoint's weight format as a gpuplan format id (``catalog/data/formats.toml``), from what the files say.

Order: a GGUF's ``general.file_type``; else the config's ``quantization_config`` (transformers' quantizer configs:
https://huggingface.co/docs/transformers/main_classes/quantization); else the dtype holding most bytes among
matrices. None when nothing decides it.
"""

from __future__ import annotations

from typing import Any

from gpuplan.importers.model import CheckpointInfo

_DTYPE_FORMAT = {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F8_E4M3": "fp8", "F8_E5M2": "fp8"}


def weight_format_of(info: CheckpointInfo) -> str | None:
    """Format id: ``gguf-<type>``, a quantizer's id, or the dominant matrix dtype ("bf16", "fp8-block", ...)."""
    if info.gguf_file_type:
        return "gguf-" + info.gguf_file_type.lower()
    quant = (info.config or {}).get("quantization_config")
    if isinstance(quant, dict):
        found = _from_quantization_config(quant)
        if found:
            return found
    return _from_dtypes(info)


def _from_quantization_config(quant: dict[str, Any]) -> str | None:
    """``quant_method`` and its options → format id (None for methods gpuplan has no id for)."""
    method = str(quant.get("quant_method", "")).lower()
    bits = quant.get("bits")
    if method == "fp8":
        # DeepSeek-V3: {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}
        # (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json)
        return "fp8-block" if quant.get("weight_block_size") else "fp8"
    if method in ("gptq", "awq") and bits == 4:
        return f"{method}-int4"
    if method == "bitsandbytes":
        if quant.get("load_in_4bit"):
            return "nf4"
        if quant.get("load_in_8bit"):
            return "int8"
    if method == "mxfp4":  # gpt-oss (https://huggingface.co/openai/gpt-oss-120b/blob/main/config.json)
        return "mxfp4"
    if method == "compressed-tensors":
        fmt = str(quant.get("format", "")).lower()
        return {"float-quantized": "fp8", "nvfp4-pack-quantized": "nvfp4", "int-quantized": "int8",
                "pack-quantized": "gptq-int4"}.get(fmt)
    if method == "modelopt":
        algo = str(quant.get("quant_algo", "")).upper()
        return {"FP8": "fp8", "NVFP4": "nvfp4"}.get(algo)
    return None


def _from_dtypes(info: CheckpointInfo) -> str | None:
    """Dtype with the most bytes among ≥2-D tensors; FP8 with ``*_scale_inv`` companions is block-scaled FP8."""
    by_dtype: dict[str, int] = {}
    for tensor in info.tensors:
        if len(tensor.shape) >= 2:
            by_dtype[tensor.dtype] = by_dtype.get(tensor.dtype, 0) + tensor.num_bytes
    if not by_dtype:
        return None
    dominant = max(by_dtype, key=lambda d: (by_dtype[d], d))
    fmt = _DTYPE_FORMAT.get(dominant)
    if fmt == "fp8" and any(t.name.endswith("_scale_inv") for t in info.tensors):
        return "fp8-block"
    return fmt
