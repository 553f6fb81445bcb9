"""The error hierarchy (STYLE habit 7).

Every error a user can cause is a ``GpuplanError`` subclass that also subclasses the matching builtin. It carries a
message key and its parameters; ``str(err)`` renders the sentence in the current language: what was given, what is
allowed, what to do. The CLI prints that sentence without a traceback, the API returns it with a 4xx.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from gpuplan.i18n import t


class GpuplanError(Exception):
    """Base class: a sentence for the user, built from an i18n key and parameters."""

    http_status = 400

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(key)

    def message(self, lang: str | None = None) -> str:
        return t(self.key, lang=lang, **{k: printable(v) for k, v in self.params.items()})

    def __str__(self) -> str:
        return self.message()


class InvalidInputError(GpuplanError, ValueError):
    """A value the user gave is out of the allowed set or range."""


class UnknownNameError(GpuplanError, KeyError):
    """An id (model, GPU, format, engine, ...) that the catalog does not know."""

    http_status = 404


class MalformedFileError(GpuplanError, ValueError):
    """A file the user pointed at cannot be parsed safely (truncated, hostile, not the format)."""


class UnsupportedError(GpuplanError, ValueError):
    """A valid request gpuplan cannot answer (an architecture or combination it does not model)."""

    http_status = 422


class OfflineError(GpuplanError, ConnectionError):
    """The network is needed and not reachable."""

    http_status = 503


#: Longest text value quoted in a sentence; longer ones are cut with '…' (a 5,000-character name stays readable).
MAX_QUOTED_CHARS = 200
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(value: object) -> object:
    """A parameter as it may appear in a one-line sentence: text with control characters (newlines, terminal
    escapes) shown escaped and at most MAX_QUOTED_CHARS characters; a 30+-digit integer as its digit count."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"a {len(str(abs(value)))}-digit number"
    if not isinstance(value, str):
        return value
    text = _CONTROL_RE.sub(lambda m: repr(m.group())[1:-1], value)
    return text if len(text) <= MAX_QUOTED_CHARS else text[: MAX_QUOTED_CHARS - 1] + "…"


def closest(given: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for 'did you mean …', case-insensitive, best first."""
    pool = list(dict.fromkeys(choices))
    lowered = {c.lower(): c for c in pool}
    g = given.lower()
    hits = difflib.get_close_matches(g, list(lowered), n=n, cutoff=0.5)
    out = [lowered[h] for h in hits]
    if len(out) < n:
        for c in pool:
            if g and g in c.lower() and c not in out:
                out.append(c)
            if len(out) >= n:
                break
    return out[:n]
