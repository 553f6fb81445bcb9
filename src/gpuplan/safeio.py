"""Reading and writing files that users point at: bounded, regular files only, atomic writes (DESIGN §11).

Every file gpuplan reads on a user's behalf goes through ``read_bytes`` / ``read_text``: it must be a regular file
(a FIFO would block forever, ``/dev/zero`` never ends) and no larger than a stated bound, checked before and while
reading. Structured text (YAML, JSON, TOML) is parsed by ``load_yaml`` / ``load_json`` / ``load_toml``: YAML aliases
are refused (an alias bomb expands a few KB into gigabytes) and nesting deeper than ``MAX_NESTING`` is refused
instead of overflowing the interpreter's stack.

Every file gpuplan writes goes through ``atomic_write``: the new content goes to a temporary file created with
``O_EXCL`` in the target's own folder (so a link planted there is never followed), is flushed, and replaces the
target in one ``rename``; the old file stays intact when anything fails. A target that exists and is not a regular
file (a device, a FIFO, a folder, a symbolic link) is refused. ``write_folder`` does the same for a set of files:
they are written into a fresh temporary folder beside the target, which then takes the target's place.

This module sits just above ``errors``: it touches only the paths it is given (never the environment).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpuplan.errors import InvalidInputError, MalformedFileError
from gpuplan.units import MIB

#: Default bound for a text file a user points at (plan files, datasets, results, calibration).
DEFAULT_MAX_BYTES = 64 * MIB
#: Deepest nesting of lists/maps accepted in YAML/JSON/TOML from users (plan files nest 4 levels).
MAX_NESTING = 64
_CHUNK = 1 << 20


def check_path(path: str | Path) -> Path:
    """``path`` as a Path: not empty and without a NUL byte (which no file name can hold)."""
    text = str(path)
    if not text.strip():
        raise InvalidInputError("safety.empty_path")
    if "\x00" in text:
        raise InvalidInputError("safety.nul_in_path", path=text.replace("\x00", "\\x00")[:200])
    return Path(path)


# --- reading ------------------------------------------------------------------------------------------------------

def read_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of regular file ``path``, at most ``max_bytes``; one sentence for anything else."""
    p = check_path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InvalidInputError("safety.missing", path=str(p)) from None
    except OSError as exc:
        raise InvalidInputError("safety.read_failed", path=str(p), detail=_os_detail(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError("safety.not_regular", path=str(p), kind=_kind(st.st_mode))
    if st.st_size > max_bytes:
        raise MalformedFileError("safety.too_big", path=str(p), limit=_fmt_bytes(max_bytes))
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO after the check, open() must not block on it.
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InvalidInputError("safety.read_failed", path=str(p), detail=_os_detail(exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInputError("safety.not_regular", path=str(p), kind=_kind(os.fstat(fd).st_mode))
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise MalformedFileError("safety.too_big", path=str(p), limit=_fmt_bytes(max_bytes))
        return b"".join(chunks)
    except OSError as exc:
        raise InvalidInputError("safety.read_failed", path=str(p), detail=_os_detail(exc)) from None
    finally:
        os.close(fd)


def read_text(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """UTF-8 text of regular file ``path`` (a BOM is dropped); a binary file is one sentence, not a traceback."""
    data = read_bytes(path, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedFileError("safety.not_text", path=str(path), offset=exc.start) from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symbolic link")):
        if test(mode):
            return name
    return "special file"


def _fmt_bytes(num: int) -> str:
    return f"{num / MIB:g} MiB" if num >= MIB else f"{num} bytes"


def _os_detail(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# --- parsing ------------------------------------------------------------------------------------------------------

def _depth_ok(value: Any, limit: int = MAX_NESTING) -> bool:
    """True when ``value`` nests lists/dicts at most ``limit`` deep (iterative: no recursion to overflow)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            return False
        stack.extend((c, depth + 1) for c in children)
    return True


@contextlib.contextmanager
def nesting_guard(source: str) -> Iterator[None]:
    """Turn a parser's RecursionError (input nested thousands deep) into one sentence."""
    try:
        yield
    except RecursionError:
        raise MalformedFileError("safety.too_deep", path=source, limit=MAX_NESTING) from None


def load_yaml(text: str, source: str = "<text>") -> Any:
    """YAML via a safe loader that refuses anchors/aliases and deep nesting; ``yaml.YAMLError`` for bad syntax."""
    import yaml

    class _Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent, index):  # type: ignore[override]
            if self.check_event(yaml.AliasEvent):
                raise MalformedFileError("safety.yaml_alias", path=source)
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise MalformedFileError("safety.too_deep", path=source, limit=MAX_NESTING)
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    with nesting_guard(source):
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def load_json(text: str | bytes, source: str = "<text>") -> Any:
    """JSON with a nesting bound; ``ValueError`` (json.JSONDecodeError) for bad syntax."""
    import json

    with nesting_guard(source):
        data = json.loads(text)
    if not _depth_ok(data):
        raise MalformedFileError("safety.too_deep", path=source, limit=MAX_NESTING)
    return data


def load_toml(text: str, source: str = "<text>") -> dict[str, Any]:
    """TOML with a nesting bound; ``tomllib.TOMLDecodeError`` for bad syntax."""
    import tomllib

    with nesting_guard(source):
        data = tomllib.loads(text)
    if not _depth_ok(data):
        raise MalformedFileError("safety.too_deep", path=source, limit=MAX_NESTING)
    return data


# --- writing ------------------------------------------------------------------------------------------------------

def check_target(path: str | Path) -> Path:
    """``path`` as a write target: not empty, its folder exists, and it is absent or a regular file (not a link)."""
    text = str(path)
    p = check_path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InvalidInputError("safety.write_failed", path=text, detail=_os_detail(exc)) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InvalidInputError("safety.target_not_regular", path=text, kind=_kind(st.st_mode))
    parent = p.parent
    if not parent.is_dir():
        raise InvalidInputError("safety.no_parent", path=text, parent=str(parent))
    return p


def atomic_write(path: str | Path, data: str | bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename); the old file survives
    any failure. ``mode`` sets permission bits (default: those of the file replaced, else 0o666 less the umask)."""
    p = check_target(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name[:40]}.", suffix=".tmp")
    except OSError as exc:
        raise InvalidInputError("safety.write_failed", path=str(p), detail=_os_detail(exc)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is None:  # keep an existing file's permission bits; a new one gets 0o666 less the umask
            try:
                mode = stat.S_IMODE(os.lstat(p).st_mode)
            except FileNotFoundError:
                mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InvalidInputError("safety.write_failed", path=str(p), detail=_os_detail(exc)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@dataclass(frozen=True)
class FileToWrite:
    """One file of a folder written by ``write_folder``: a relative path, its content, its permission bits."""

    path: str
    content: str | bytes
    mode: int = 0o644


def write_folder(out: str | Path, files: Iterable[FileToWrite], force: bool = False) -> Path:
    """Write ``files`` under folder ``out`` all or nothing.

    They go into a new temporary folder beside ``out``; then it is renamed to ``out``. An existing empty ``out`` is
    replaced; a non-empty one only with ``force`` (its old content is removed once the new folder is in place, so
    no stale file survives). Relative paths must stay inside the folder.
    """
    text = str(out)
    target = check_path(out)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidInputError("safety.out_not_folder", path=text, kind=_kind(st.st_mode))
        if any(target.iterdir()) and not force:
            raise InvalidInputError("safety.out_not_empty", path=text)
    parent = target.absolute().parent
    if not parent.is_dir():
        raise InvalidInputError("safety.no_parent", path=text, parent=str(parent))
    try:
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name[:40]}.", suffix=".tmp"))
    except OSError as exc:
        raise InvalidInputError("safety.write_failed", path=text, detail=_os_detail(exc)) from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        for f in files:
            rel = Path(f.path)
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise InvalidInputError("safety.bad_relative_path", path=f.path)
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            payload = f.content.encode("utf-8") if isinstance(f.content, str) else f.content
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), f.mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.chmod(dest, f.mode & ~_umask())
        _swap_in(tmp, target, st is not None)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidInputError("safety.write_failed", path=text, detail=_os_detail(exc)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _swap_in(tmp: Path, target: Path, exists: bool) -> None:
    """Put folder ``tmp`` at ``target``: rename; an existing target moves aside first and is removed after."""
    if not exists:
        os.rename(tmp, target)
        return
    old = Path(tempfile.mkdtemp(dir=tmp.parent, prefix=f".{target.name[:40]}.", suffix=".old"))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)  # put the old folder back
        raise
    shutil.rmtree(old, ignore_errors=True)
