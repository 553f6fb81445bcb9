"""Read safetensors headers (8-byte length + JSON) with bounds; the tensor data is never read or mapped.

Format: https://huggingface.co/docs/safetensors/index#format — an unsigned little-endian 64-bit header length N,
then N bytes of UTF-8 JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``,
then the data buffer; offsets are relative to the start of the data buffer.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gpuplan.errors import MalformedFileError
from gpuplan.importers.files import file_size_bytes, read_at
from gpuplan.importers.model import TensorInfo
from gpuplan.units import MIB

#: Bits per element of every safetensors dtype: ``Dtype::bitsize`` in huggingface/safetensors
#: safetensors/src/tensor.rs (https://github.com/huggingface/safetensors/blob/main/safetensors/src/tensor.rs).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
}

#: Header bound from the gpuplan brief (100 MiB); the reference loader rejects headers over 100,000,000 bytes
#: (``MAX_HEADER_SIZE`` in safetensors/src/tensor.rs), so no loadable file comes near it.
MAX_HEADER_BYTES = 100 * MIB
MAX_TENSORS = 1_000_000
#: GGML and PyTorch tensors have at most a handful of dimensions; 64 only stops absurd shapes early.
MAX_DIMS = 64


def tensor_bytes(dtype: str, shape: Iterable[int]) -> tuple[int, int]:
    """(elements, bytes) of a tensor: elements = Π shape, bytes = elements · bits(dtype) / 8 (must be whole)."""
    num_elements = math.prod(shape)
    total_bits = num_elements * DTYPE_BITS[dtype]
    return num_elements, total_bits // 8 if total_bits % 8 == 0 else -1


def read_safetensors_header(path: Path) -> tuple[list[TensorInfo], int]:
    """Tensors of one ``.safetensors`` file and the file's size in bytes, from its header alone.

    Checks (each failure → ``MalformedFileError`` naming the file): file ≥ 8 bytes; header length ≤ 100 MiB and
    ≤ file size − 8; header is a JSON object; ≤ 1,000,000 tensors; every entry has a known dtype, a shape of
    non-negative ints and ``data_offsets`` [begin, end] inside the data buffer with end − begin = elements × bits / 8;
    no two tensors overlap.
    """
    size = file_size_bytes(path)
    if size < 8:
        raise MalformedFileError("importers.st_too_small", file=str(path), size=size)
    (header_len,) = struct.unpack("<Q", read_at(path, 0, 8))
    if header_len > MAX_HEADER_BYTES or header_len > size - 8:
        raise MalformedFileError("importers.st_header_too_big", file=str(path), declared=header_len,
                                 limit=MAX_HEADER_BYTES, size=size)
    raw = read_at(path, 8, header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedFileError("importers.st_header_not_json", file=str(path), reason=str(exc)[:120]) from None
    if not isinstance(header, dict):
        raise MalformedFileError("importers.st_header_not_json", file=str(path), reason=type(header).__name__)
    tensors = tensors_from_header(header, size - 8 - header_len, str(path))
    return tensors, size


def tensors_from_header(header: Mapping[str, Any], data_size: int | None, where: str) -> list[TensorInfo]:
    """Validate the entries of a parsed header; ``data_size`` None skips the in-file bounds (Hub metadata)."""
    count = len(header) - (1 if "__metadata__" in header else 0)
    if count > MAX_TENSORS:
        raise MalformedFileError("importers.st_too_many_tensors", file=where, count=count, limit=MAX_TENSORS)
    out: list[TensorInfo] = []
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, Mapping):
            raise MalformedFileError("importers.st_bad_entry", file=where, tensor=name, reason="not an object")
        tensor, begin, end = tensor_from_entry(name, entry.get("dtype"), entry.get("shape"), entry.get("data_offsets"),
                                               data_size, where)
        out.append(tensor)
        spans.append((begin, end, name))
    _check_no_overlap(spans, where)
    return out


def tensor_from_entry(name: str, dtype: Any, shape: Any, offsets: Any, data_size: int | None,
                      where: str) -> tuple[TensorInfo, int, int]:
    """One header entry → TensorInfo (and its byte span), or one sentence saying what is wrong with it."""
    if not isinstance(dtype, str):
        raise MalformedFileError("importers.st_bad_entry", file=where, tensor=name, reason="dtype is not a string")
    if dtype not in DTYPE_BITS:
        raise MalformedFileError("importers.st_unknown_dtype", file=where, tensor=name, dtype=dtype[:40],
                                 allowed=", ".join(DTYPE_BITS))
    if (not isinstance(shape, list | tuple) or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise MalformedFileError("importers.st_bad_entry", file=where, tensor=name,
                                 reason="shape is not a list of non-negative integers")
    if (not isinstance(offsets, list | tuple) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
        raise MalformedFileError("importers.st_bad_entry", file=where, tensor=name,
                                 reason="data_offsets is not [begin, end]")
    begin, end = int(offsets[0]), int(offsets[1])
    if end < begin or (data_size is not None and end > data_size):
        raise MalformedFileError("importers.st_offsets", file=where, tensor=name, begin=begin, end=end,
                                 size=data_size if data_size is not None else "?")
    num_elements, num_bytes = tensor_bytes(dtype, shape)
    if num_bytes != end - begin:
        raise MalformedFileError("importers.st_size_mismatch", file=where, tensor=name, dtype=dtype,
                                 shape=list(shape), expected=num_bytes if num_bytes >= 0 else "?", actual=end - begin)
    return TensorInfo(name, dtype, tuple(int(d) for d in shape), num_elements, num_bytes), begin, end


def _check_no_overlap(spans: list[tuple[int, int, str]], where: str) -> None:
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:], strict=False):
        if b1 < e0 and e1 > b1 and e0 > b0:
            raise MalformedFileError("importers.st_overlap", file=where, tensor=n1, other=n0)
