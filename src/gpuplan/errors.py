"""The error hierarchy (STYLE habit 7).

Every error a user can cause is a ``GpuplanError`` subclass that also subclasses the matching builtin. It carries a
message key and its parameters; ``str(err)`` renders the sentence in the current language: what was given, what is
allowed, what to do. The CLI prints that sentence without a traceback, the API returns it with a 4xx.
"""

from __future__ import annotations

import difflib
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
        return t(self.key, lang=lang, **self.params)

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
