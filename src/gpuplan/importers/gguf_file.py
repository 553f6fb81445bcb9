"""GGUF files (llama.cpp): exact tensor types and bytes, and a config rebuilt from the ``<arch>.*`` metadata.

Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): magic ``GGUF``, version u32, tensor count u64,
metadata KV count u64, the KV pairs, the tensor infos (name, n_dims u32, ne[n_dims] u64, type u32, offset u64), padding
to ``general.alignment`` (default 32), then the tensor data. A bounded scanner walks this header — counts capped,
every length checked against the bytes left, the declared data end checked against the file size — taking GGML type
names and block sizes from the ``gguf`` package (``GGMLQuantizationType``, ``GGML_QUANT_SIZES``). When the header is
small, ``gguf.GGUFReader`` (the reference reader, which memory-maps the file) re-reads it and must agree; on headers
with a full tokenizer it is skipped because it takes tens of seconds there (see ``CROSS_CHECK_MAX_HEADER_BYTES``).
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuplan.errors import MalformedFileError
from gpuplan.i18n import t
from gpuplan.importers.files import file_size_bytes
from gpuplan.importers.gguf_config import config_from_gguf_metadata
from gpuplan.importers.model import CheckpointInfo, TensorInfo, build_info
from gpuplan.units import MIB

MAX_TENSORS = 1_000_000
MAX_KV = 1_000_000
#: ggml tensors have at most GGML_MAX_DIMS = 4 dimensions (ggml/include/ggml.h); 8 leaves room for format growth.
MAX_DIMS = 8
MAX_KEY_BYTES = 65_536
#: Arrays longer than this are counted, not kept (tokenizer vocabularies); per-layer arrays are far shorter.
KEEP_ARRAY_ITEMS = 4096
KEEP_STRING_BYTES = 4096
SUPPORTED_VERSIONS = (2, 3)
#: ``gguf.GGUFReader`` builds numpy views per metadata array item: ~20 s for a 128k-token vocabulary on this 2-core
#: machine, against ~0.5 s for the scan. It re-reads the header as a cross-check only when the header is this small
#: (files without a full tokenizer); the scan already takes types and sizes from gguf.constants.GGML_QUANT_SIZES.
CROSS_CHECK_MAX_HEADER_BYTES = 1 * MIB
DEFAULT_ALIGNMENT = 32

# GGUF value types (gguf.md "gguf_metadata_value_type") → struct format of one scalar.
_SCALAR_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9

SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


@dataclass(frozen=True)
class ArrayLen:
    """A metadata array too long to keep: its item count only."""

    count: int


@dataclass(frozen=True)
class GgufScan:
    """What the bounded scan found in one file."""

    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    data_end_bytes: int
    size_bytes: int
    header_bytes: int


class _Truncated(Exception):
    pass


class _Bad(Exception):
    pass


class _Cursor:
    """Reads little- or big-endian values from a memory map, refusing to step past its end."""

    def __init__(self, buf: mmap.mmap, endian: str) -> None:
        self.buf, self.endian, self.pos, self.size = buf, endian, 0, len(buf)

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _Truncated

    def scalar(self, fmt: str) -> Any:
        width = struct.calcsize(fmt)
        self.need(width)
        (value,) = struct.unpack_from(self.endian + fmt, self.buf, self.pos)
        self.pos += width
        return value

    def string(self, keep: int) -> str | None:
        length = self.scalar("Q")
        self.need(length)
        start = self.pos
        self.pos += length
        if length > keep:
            return None
        return bytes(self.buf[start:start + length]).decode("utf-8", errors="replace")


def scan_gguf(path: Path) -> GgufScan:
    """Walk the header with bounds; raise MalformedFileError (one sentence naming the file) on anything off."""
    size = file_size_bytes(path)
    if size < 24:
        raise MalformedFileError("importers.gguf_too_small", file=str(path), size=size)
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _scan(buf, path, size)
    except OSError as exc:
        raise MalformedFileError("importers.gguf_malformed", file=str(path), reason=str(exc)[:120]) from None


def _scan(buf: mmap.mmap, path: Path, size: int) -> GgufScan:
    magic = bytes(buf[0:4])
    if magic != b"GGUF":
        raise MalformedFileError("importers.gguf_bad_magic", file=str(path), found=repr(magic))
    (version_le,) = struct.unpack_from("<I", buf, 4)
    endian = "<" if version_le & 0xFFFF else ">"
    cur = _Cursor(buf, endian)
    cur.pos = 4
    version = cur.scalar("I")
    if version not in SUPPORTED_VERSIONS:
        raise MalformedFileError("importers.gguf_version", file=str(path), version=version,
                                 allowed=", ".join(map(str, SUPPORTED_VERSIONS)))
    tensor_count, kv_count = cur.scalar("Q"), cur.scalar("Q")
    if tensor_count > MAX_TENSORS:
        raise MalformedFileError("importers.gguf_too_many_tensors", file=str(path), count=tensor_count,
                                 limit=MAX_TENSORS)
    if kv_count > MAX_KV:
        raise MalformedFileError("importers.gguf_too_many_kv", file=str(path), count=kv_count, limit=MAX_KV)
    try:
        metadata = _read_kvs(cur, kv_count)
        infos = _read_tensor_infos(cur, tensor_count, path)
    except _Truncated:
        raise MalformedFileError("importers.gguf_truncated_header", file=str(path), size=size) from None
    except _Bad as exc:
        raise MalformedFileError("importers.gguf_malformed", file=str(path), reason=str(exc)) from None
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise MalformedFileError("importers.gguf_malformed", file=str(path), reason=f"general.alignment {alignment!r}")
    data_start = -(-cur.pos // alignment) * alignment
    # With no tensors there is no data section, and writers do not pad the file (llama.cpp's vocab-only GGUFs).
    data_end = data_start + max(offset + t.num_bytes for t, offset in infos) if infos else cur.pos
    if data_end > size:
        raise MalformedFileError("importers.gguf_truncated", file=str(path), needed=data_end, size=size)
    return GgufScan(metadata, tuple(t for t, _ in infos), data_end, size, cur.pos)


def _read_kvs(cur: _Cursor, count: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for _ in range(count):
        key = cur.string(MAX_KEY_BYTES)
        if key is None:
            raise _Bad("a metadata key longer than 64 KiB")
        if key in metadata:
            raise _Bad(f"duplicate metadata key {key[:80]!r}")
        metadata[key] = _read_value(cur, cur.scalar("I"), depth=0)
    return metadata


def _read_value(cur: _Cursor, vtype: int, depth: int) -> Any:
    if vtype in _SCALAR_FMT:
        return cur.scalar(_SCALAR_FMT[vtype])
    if vtype == _STRING:
        return cur.string(KEEP_STRING_BYTES)  # None when too long to keep
    if vtype != _ARRAY:
        raise _Bad(f"unknown metadata value type {vtype}")
    if depth >= 2:
        raise _Bad("metadata arrays nested deeper than 2")
    itype, count = cur.scalar("I"), cur.scalar("Q")
    if itype in _SCALAR_FMT:
        width = struct.calcsize(_SCALAR_FMT[itype])
        cur.need(width * count)
        if count > KEEP_ARRAY_ITEMS:
            cur.pos += width * count
            return ArrayLen(count)
        return [cur.scalar(_SCALAR_FMT[itype]) for _ in range(count)]
    if itype not in (_STRING, _ARRAY):
        raise _Bad(f"unknown metadata array item type {itype}")
    cur.need(8 * count)  # every string or array item is at least 8 bytes (its length)
    if count > KEEP_ARRAY_ITEMS:
        if itype == _STRING:
            _skip_strings(cur, count)
        else:
            for _ in range(count):
                _read_value(cur, itype, depth + 1)
        return ArrayLen(count)
    return [_read_value(cur, itype, depth + 1) for _ in range(count)]


def _skip_strings(cur: _Cursor, count: int) -> None:
    """Step over ``count`` strings (tokenizer vocabularies: 100k-250k entries) in a tight loop."""
    unpack = struct.Struct(cur.endian + "Q").unpack_from
    buf, pos, size = cur.buf, cur.pos, cur.size
    for _ in range(count):
        if pos + 8 > size:
            raise _Truncated
        pos += 8 + unpack(buf, pos)[0]
        if pos > size:
            raise _Truncated
    cur.pos = pos


def _read_tensor_infos(cur: _Cursor, count: int, path: Path) -> list[tuple[TensorInfo, int]]:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    cur.need(24 * count)  # name length u64 + n_dims u32 + type u32 + offset u64 at least
    out: list[tuple[TensorInfo, int]] = []
    names: set[str] = set()
    for _ in range(count):
        name = cur.string(MAX_KEY_BYTES)
        if name is None:
            raise _Bad("a tensor name longer than 64 KiB")
        if name in names:
            raise _Bad(f"duplicate tensor {name[:80]!r}")
        names.add(name)
        n_dims = cur.scalar("I")
        if n_dims > MAX_DIMS:
            raise _Bad(f"tensor {name[:80]!r} has {n_dims} dimensions")
        ne = [cur.scalar("Q") for _ in range(n_dims)]
        raw_type, offset = cur.scalar("I"), cur.scalar("Q")
        try:
            ggml_type = GGMLQuantizationType(raw_type)
            block, type_size = GGML_QUANT_SIZES[ggml_type]
        except (ValueError, KeyError):
            raise MalformedFileError("importers.gguf_unknown_type", file=str(path), tensor=name[:120],
                                     type=raw_type) from None
        num_elements = 1
        for dim in ne:
            num_elements *= dim
        if ne and ne[0] % block:
            raise _Bad(f"tensor {name[:80]!r}: first dimension {ne[0]} is not a multiple of the {block}-element "
                       f"{ggml_type.name} block")
        num_bytes = num_elements * type_size // block
        out.append((TensorInfo(name, ggml_type.name, tuple(reversed(ne)), num_elements, num_bytes), offset))
    return out


def read_with_gguf_package(path: Path, scan: GgufScan) -> tuple[TensorInfo, ...]:
    """Tensor list from ``gguf.GGUFReader``, cross-checked against the scan (names, types, elements, bytes)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
        tensors = tuple(
            TensorInfo(rt.name, rt.tensor_type.name, tuple(int(d) for d in reversed(rt.shape.tolist())),
                       int(rt.n_elements), int(rt.n_bytes))
            for rt in reader.tensors
        )
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, MemoryError, OSError, UnicodeDecodeError) as exc:
        raise MalformedFileError("importers.gguf_malformed", file=str(path), reason=str(exc)[:120]) from None
    finally:
        reader = None  # drop the memory map promptly
    if tensors != scan.tensors:
        raise MalformedFileError("importers.gguf_malformed", file=str(path),
                                 reason="the gguf package and gpuplan's header scan disagree on the tensor list")
    return tensors


def file_type_name(metadata: dict[str, Any]) -> str | None:
    """``general.file_type`` as llama.cpp names it ("Q4_K_M", "BF16", "F32"): LlamaFileType without "MOSTLY_"."""
    from gguf.constants import LlamaFileType

    value = metadata.get("general.file_type")
    if not isinstance(value, int):
        return None
    try:
        name = LlamaFileType(value).name
    except ValueError:
        return f"unknown({value})"
    return {"ALL_F32": "F32"}.get(name, name.removeprefix("MOSTLY_"))


def split_parts(path: Path) -> list[Path]:
    """All parts of a split GGUF (``name-00001-of-00003.gguf``) beside ``path``; ``[path]`` when not split."""
    match = SPLIT_RE.match(path.name)
    if not match:
        return [path]
    count = int(match["count"])
    if count < 1 or int(match["no"]) > count:
        return [path]
    parts = [path.with_name(f"{match['stem']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise MalformedFileError("importers.gguf_split_missing", file=str(path), count=count,
                                 missing=", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""))
    return parts


def import_gguf(path: Path, ref: str) -> CheckpointInfo:
    """A ``.gguf`` file (every part of a split one) → CheckpointInfo(source="gguf") with a rebuilt config."""
    parts = split_parts(path)
    tensors: list[TensorInfo] = []
    file_bytes = 0
    first_meta: dict[str, Any] = {}
    notes: list[str] = []
    for i, part in enumerate(parts):
        scan = scan_gguf(part)
        cheap = scan.header_bytes <= CROSS_CHECK_MAX_HEADER_BYTES
        tensors.extend(read_with_gguf_package(part, scan) if cheap else scan.tensors)
        file_bytes += scan.size_bytes
        if i == 0:
            first_meta = scan.metadata
    names = [t_.name for t_ in tensors]
    if len(set(names)) != len(names):
        raise MalformedFileError("importers.gguf_malformed", file=str(path),
                                 reason="the same tensor name appears in two split parts")
    if len(parts) > 1:
        notes.append(t("importers.note_gguf_split", file=str(parts[0]), count=len(parts)))
        declared = first_meta.get("split.tensors.count")
        if isinstance(declared, int) and declared != len(tensors):
            raise MalformedFileError("importers.gguf_split_count", file=str(parts[0]), declared=declared,
                                     found=len(tensors))
    config, config_notes = config_from_gguf_metadata(first_meta, tensors, str(parts[0]))
    notes.extend(config_notes)
    return build_info(source="gguf", ref=ref, config=config, tensors=tensors, file_bytes=file_bytes,
                      gguf_file_type=file_type_name(first_meta), notes=notes)
