"""Engine versions as an input: ``sglang==0.5.6`` → ("sglang", "0.5.6"), and whether calibration data covers it.

One parser for every edge (``estimate --engine``, ``plan --engine``, the API): :func:`parse_engine_spec`. Versions
compare by their leading numeric components (``0.5.6.post2`` → (0, 5, 6, 2); ``b7315`` → (7315,) for a llama.cpp
build; ``vllm-ascend 0.9.1`` → (0, 9, 1)). A version is covered when it lies between the oldest and the newest version
the calibration rows were measured on (inclusive, on the components both state).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gpuplan.errors import InvalidInputError

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+?)\s*(?:==\s*([A-Za-z0-9_.+\- ]+?))?\s*$")
_NUM = re.compile(r"\d+")


def parse_engine_spec(text: str, allowed: Iterable[str]) -> tuple[str, str | None]:
    """``'sglang==0.5.6'`` → ``('sglang', '0.5.6')``; ``'vllm'`` → ``('vllm', None)``.

    Raises InvalidInputError (one sentence: what was given, what is allowed) for an unknown engine or a malformed
    version.
    """
    allowed = tuple(allowed)
    m = _SPEC.match(text or "")
    engine = (m.group(1) if m else (text or "")).strip().lower()
    if not m or engine not in allowed:
        raise InvalidInputError("speedmodel.bad_engine_spec", given=text, allowed=", ".join(allowed))
    version = (m.group(2) or "").strip() or None
    if version is not None and not _NUM.search(version):
        raise InvalidInputError("speedmodel.bad_engine_spec", given=text, allowed=", ".join(allowed))
    return engine, version


def version_key(version: str) -> tuple[int, ...]:
    """Numeric components of a version string, in order (empty when it has none)."""
    return tuple(int(x) for x in _NUM.findall(version or ""))


def version_covered(version: str | None, versions: Iterable[str]) -> bool | None:
    """True when ``version`` lies within [oldest, newest] of ``versions``; None when either side is not stated."""
    keys = sorted(k for k in (version_key(v) for v in versions) if k)
    if version is None or not keys:
        return None
    want = version_key(version)
    if not want:
        return None
    n = min(len(want), *(len(k) for k in keys))
    lo, hi = keys[0][:n], keys[-1][:n]
    return lo <= want[:n] <= hi


def newest_version(versions: Iterable[str]) -> str | None:
    """The newest of ``versions`` (the default an estimate reports when the user names none)."""
    vs = [v for v in versions if version_key(v)]
    return max(vs, key=version_key) if vs else None
