"""A local Hugging Face model directory: ``config.json`` + ``*.safetensors`` (sharded with an index, or not).

Only headers are read. Pickle checkpoints (``.bin``, ``.pt``, ``.pth``, ``.ckpt``, ``.pkl``) are refused: loading
pickle runs code chosen by the file's author.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from gpuplan.errors import MalformedFileError, UnsupportedError
from gpuplan.i18n import t
from gpuplan.importers.config import read_config_file
from gpuplan.importers.files import read_bounded
from gpuplan.importers.model import CheckpointInfo, TensorInfo, build_info
from gpuplan.importers.safetensors_header import read_safetensors_header
from gpuplan.units import MIB

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
INDEX_NAME = "model.safetensors.index.json"
#: DeepSeek-V3's index (91k tensors) is about 9 MB; 64 MiB bounds a hostile one.
MAX_INDEX_BYTES = 64 * MIB


def import_safetensors_dir(directory: Path, ref: str) -> CheckpointInfo:
    """config.json (when present) + every shard's header → CheckpointInfo(source="local-dir")."""
    notes: list[str] = []
    config = None
    config_path = directory / "config.json"
    if config_path.is_file():
        config, config_notes = read_config_file(config_path)
        notes.extend(config_notes)
    shards, index_notes, index_map = _shard_paths(directory)
    notes.extend(index_notes)
    if not shards:
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        names = ", ".join(pickles[:5]) + (" …" if len(pickles) > 5 else "")
        if pickles and config is None:
            raise UnsupportedError("importers.pickle_only", file=str(directory), names=names)
        if config is None:
            raise UnsupportedError("importers.dir_empty", file=str(directory))
        if pickles:  # the architecture is still known from config.json; the pickle bytes are not opened
            notes.append(t("importers.note_pickle_skipped", file=str(directory), names=names))
        else:
            notes.append(t("importers.note_no_weights", file=str(directory)))
        return build_info(source="local-dir", ref=ref, config=config, tensors=(), file_bytes=None, notes=notes)
    if config is None:
        notes.append(t("importers.note_no_config", file=str(directory)))
    tensors, file_bytes = read_shards(shards)
    if index_map is not None:
        _check_index_against_shards(index_map[1], tensors, index_map[0])
    return build_info(source="local-dir", ref=ref, config=config, tensors=tensors, file_bytes=file_bytes,
                      notes=notes)


def _check_index_against_shards(weight_map: dict[str, str], tensors: list[TensorInfo], index: Path) -> None:
    """Every tensor the index names must be in the shard headers (a missing one means a damaged download)."""
    found = {tensor.name for tensor in tensors}
    for name, shard in weight_map.items():
        if name not in found:
            raise MalformedFileError("importers.index_tensor_missing", file=str(index), tensor=name[:120],
                                     shard=shard[:120])


def import_safetensors_file(path: Path, ref: str) -> CheckpointInfo:
    """One ``.safetensors`` file; its sibling config.json is read when present."""
    notes: list[str] = []
    config = None
    sibling = path.parent / "config.json"
    if sibling.is_file():
        config, config_notes = read_config_file(sibling)
        notes.extend(config_notes)
    else:
        notes.append(t("importers.note_no_config", file=str(path.parent)))
    tensors, file_bytes = read_shards([path])
    return build_info(source="local-dir", ref=ref, config=config, tensors=tensors, file_bytes=file_bytes,
                      notes=notes)


def read_shards(shards: list[Path]) -> tuple[list[TensorInfo], int]:
    """Headers of all shards; a tensor name in two shards is an error. Returns (tensors, Σ file sizes)."""
    tensors: list[TensorInfo] = []
    seen: dict[str, Path] = {}
    file_bytes = 0
    for shard in shards:
        shard_tensors, size = read_safetensors_header(shard)
        file_bytes += size
        for tensor in shard_tensors:
            other = seen.get(tensor.name)
            if other is not None:
                raise MalformedFileError("importers.duplicate_tensor", tensor=tensor.name, file=str(shard),
                                         other=str(other))
            seen[tensor.name] = shard
        tensors.extend(shard_tensors)
    return tensors, file_bytes


def _shard_paths(directory: Path) -> tuple[list[Path], list[str], tuple[Path, dict[str, str]] | None]:
    """The weight files to read: the index's shards when an index exists, else every ``*.safetensors`` file."""
    index = directory / INDEX_NAME
    if not index.is_file():
        candidates = sorted(directory.glob("*.safetensors.index.json"))
        index = candidates[0] if len(candidates) == 1 else index
    all_files = sorted(p for p in directory.glob("*.safetensors") if p.is_file())
    if not index.is_file():
        return all_files, [], None
    shards, weight_map = _index_shards(index, directory)
    ignored = sorted({p.name for p in all_files} - {p.name for p in shards})
    notes = [t("importers.note_ignored_files", file=str(index), names=", ".join(ignored))] if ignored else []
    return shards, notes, (index, weight_map)


def _index_shards(index: Path, directory: Path) -> tuple[list[Path], dict[str, str]]:
    """Shard files named by ``weight_map`` (plain file names inside ``directory``; each must exist)."""
    raw = read_bounded(index, MAX_INDEX_BYTES, too_big_key="importers.index_too_big")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedFileError("importers.index_bad", file=str(index), reason=str(exc)[:120]) from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise MalformedFileError("importers.index_bad", file=str(index), reason="no weight_map of name → file")
    shards: list[Path] = []
    for name in sorted(set(weight_map.values())):
        pure = PurePosixPath(name)
        if pure.name != name or name in ("", ".", "..") or "\\" in name:
            raise MalformedFileError("importers.index_bad", file=str(index), reason=f"shard name {name[:80]!r}")
        path = directory / name
        if not path.is_file():
            raise MalformedFileError("importers.index_missing_shard", file=str(index), shard=name,
                                     dir=str(directory))
        shards.append(path)
    return shards, weight_map
