"""Importers: a model's architecture and exact checkpoint bytes from real files — weights are never loaded.

``import_model(ref)`` accepts

* a local directory: ``config.json`` + ``*.safetensors`` (sharded with ``model.safetensors.index.json`` or not),
  or a directory holding one ``.gguf`` model (single file or all parts of a split one);
* a ``.gguf`` file (a split part ``…-00001-of-00003.gguf`` brings its sibling parts), a ``.safetensors`` file, or a
  ``config.json`` path (its directory is read);
* a Hugging Face repo id ``org/name`` (tried only when no such local path exists; cached for offline reuse).

Nothing executes user code: no pickle (``.bin``/``.pt`` are refused with a pointer to safetensors), no
``trust_remote_code``, ``auto_map`` is only noted. Every malformed or hostile input ends in one gpuplan error sentence
that names the file, after bounded reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gpuplan.errors import InvalidInputError, UnsupportedError

if TYPE_CHECKING:
    from gpuplan.importers.model import CheckpointInfo, TensorInfo

__all__ = ["CheckpointInfo", "TensorInfo", "import_model"]


def __getattr__(name: str):
    """The result classes on first use: every command installs ``importers.entry`` as the catalog's resolver (and so
    imports this package), and most never import a model (issue 16: start-up of `gpuplan plan` and `size`)."""
    if name in ("CheckpointInfo", "TensorInfo"):
        from gpuplan.importers import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def import_model(ref: str, *, offline: bool = False, cache_dir: Path | None = None) -> CheckpointInfo:
    """Read ``ref`` (path or Hub repo id) into a CheckpointInfo; see the module docstring for what ``ref`` may be."""
    from gpuplan.importers.hub import import_hub, looks_like_repo_id

    path = Path(ref).expanduser()
    if path.exists():
        return _import_path(path, ref)
    if looks_like_repo_id(ref):
        return import_hub(ref, offline=offline, cache_dir=cache_dir)
    raise InvalidInputError("importers.not_found", given=ref)


def _import_path(path: Path, ref: str) -> CheckpointInfo:
    from gpuplan.importers.gguf_file import import_gguf
    from gpuplan.importers.local_dir import PICKLE_SUFFIXES, import_safetensors_dir, import_safetensors_file

    if not path.is_dir():
        from gpuplan.importers.files import file_size_bytes

        file_size_bytes(path)  # a regular file (a FIFO would block every read below)
    if path.is_dir():
        models = _gguf_models(path)
        if any(path.glob("*.safetensors")) or ((path / "config.json").is_file() and not models):
            return import_safetensors_dir(path, ref)
        if len(models) == 1:
            return import_gguf(models[0], ref)
        if len(models) > 1:
            raise UnsupportedError("importers.dir_many_gguf", file=str(path),
                                   names=", ".join(p.name for p in models[:5]))
        return import_safetensors_dir(path, ref)  # says: pickle only, or nothing to read
    suffix = path.suffix.lower()
    if suffix == ".gguf":
        return import_gguf(path, ref)
    if suffix == ".safetensors":
        return import_safetensors_file(path, ref)
    if path.name == "config.json" or path.name.endswith(".safetensors.index.json"):
        return import_safetensors_dir(path.parent, ref)
    if suffix in PICKLE_SUFFIXES:
        raise UnsupportedError("importers.pickle_only", file=str(path), names=path.name)
    if _starts_with(path, b"GGUF"):
        return import_gguf(path, ref)
    raise UnsupportedError("importers.unknown_file", file=str(path))


def _gguf_models(directory: Path) -> list[Path]:
    """One path per GGUF model in ``directory``: single files and the first part of each split set; multimodal
    projector files (``mmproj-*.gguf``, llama.cpp's vision encoders) are not models of their own."""
    from gpuplan.importers.gguf_file import SPLIT_RE

    out: list[Path] = []
    for p in sorted(directory.glob("*.gguf")):
        if p.name.lower().startswith("mmproj"):
            continue
        match = SPLIT_RE.match(p.name)
        if match is None or int(match["no"]) == 1:
            out.append(p)
    return out


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False
