"""Sentences for errors raised below the CLI that are not GpuplanErrors (pydantic validation of core objects)."""

from __future__ import annotations

from gpuplan.errors import GpuplanError, printable
from gpuplan.i18n import t


def validation_sentence(exc) -> str:
    """One sentence for the first error of a pydantic ValidationError: field, value given, what is allowed."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, GpuplanError):
        return str(cause)
    field = ".".join(str(p) for p in first.get("loc", ())) or "?"
    given = printable(first.get("input"))
    shown = given if isinstance(given, str) and given.startswith("a ") and given.endswith("-digit number") else repr(given)
    return t("safety.cli_invalid", field=printable(field), given=printable(shown[:80]), detail=first.get("msg", ""))
