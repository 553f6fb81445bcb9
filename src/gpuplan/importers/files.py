"""Bounded file access shared by the importers: sizes and small reads that never exceed a stated limit."""

from __future__ import annotations

from pathlib import Path

from gpuplan.errors import InvalidInputError, MalformedFileError


def file_size_bytes(path: Path) -> int:
    """``stat().st_size`` of a regular file; an unreadable path or a FIFO/device becomes one sentence."""
    import stat

    try:
        st = path.stat()
    except OSError as exc:
        raise InvalidInputError("importers.file_unreadable", file=str(path), reason=exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError("safety.not_regular", path=str(path), kind="special file")
    return st.st_size


def read_bounded(path: Path, limit_bytes: int, *, too_big_key: str) -> bytes:
    """The whole file when it is at most ``limit_bytes`` long; reads at most ``limit_bytes + 1`` bytes either way."""
    size = file_size_bytes(path)
    if size > limit_bytes:
        raise MalformedFileError(too_big_key, file=str(path), size=size, limit=limit_bytes)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit_bytes + 1)
    except OSError as exc:
        raise InvalidInputError("importers.file_unreadable", file=str(path), reason=exc.strerror or str(exc)) from None
    if len(data) > limit_bytes:  # grew between stat and read
        raise MalformedFileError(too_big_key, file=str(path), size=len(data), limit=limit_bytes)
    return data


def read_at(path: Path, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` (fewer at end of file)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)
    except OSError as exc:
        raise InvalidInputError("importers.file_unreadable", file=str(path), reason=exc.strerror or str(exc)) from None
