"""Message catalogs, English and Simplified Chinese.

Every user-facing sentence lives in ``i18n/<lang>/<area>.toml`` as ``key = "template {param}"``; the full key is
``<area>.<key>`` (file name without ``.toml``). ``t("catalog.unknown_model", given="x", suggestions="y")``
renders it in the current language. Helpers working on separate areas own separate files, so catalogs never
conflict. A test checks both languages have the same keys and placeholders.

The language is process-wide state set by the edges (CLI ``--lang``, API ``?lang=``); the core never reads the
environment (``language_from_env`` is for the edges to call).
"""

from __future__ import annotations

import contextvars
import os
import string
import tomllib
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "zh")
_DIRS = {"en": "en", "zh": "zh_CN"}
_current: contextvars.ContextVar[str] = contextvars.ContextVar("gpuplan_lang", default="en")
_HERE = Path(__file__).parent


def normalize_language(value: str | None) -> str | None:
    """'zh_CN.UTF-8', 'zh-CN', 'zh' → 'zh'; 'en_US.UTF-8', 'C' → 'en'; anything else → None."""
    if not value:
        return None
    low = value.strip().lower().replace("-", "_")
    if low.startswith("zh"):
        return "zh"
    if low.startswith("en") or low in ("c", "posix") or low.startswith("c."):
        return "en"
    return None


def language_from_env(environ: dict[str, str] | None = None) -> str:
    """GPUPLAN_LANG first, then LC_ALL / LC_MESSAGES / LANG; English when none says otherwise."""
    env = os.environ if environ is None else environ
    for name in ("GPUPLAN_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        lang = normalize_language(env.get(name))
        if lang:
            return lang
    return "en"


def set_language(lang: str) -> None:
    norm = normalize_language(lang)
    if norm is None:
        raise ValueError(lang)
    _current.set(norm)


def get_language() -> str:
    return _current.get()


@cache
def catalog(lang: str) -> dict[str, str]:
    """All messages of one language, keyed '<area>.<key>'."""
    folder = _HERE / _DIRS[lang]
    messages: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        messages.update(_area(lang, path.stem))
    return messages


@cache
def _area(lang: str, area: str) -> dict[str, str]:
    """The messages of one area file (``<area>.toml``), keyed '<area>.<key>'; {} when there is no such file.

    ``t`` reads only the areas it is asked for, so a command pays for its own messages, not all of them."""
    path = _HERE / _DIRS[lang] / f"{area}.toml"
    if "/" in area or "\\" in area or not path.is_file():
        return {}
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {f"{area}.{key}": value for key, value in _flatten(data)}


def _flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", str(value)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def t(key: str, /, lang: str | None = None, **params: object) -> str:
    """Render message ``key`` in ``lang`` (default: the current language), falling back to English.

    ``key`` is positional-only, so a message may have a ``{key}`` placeholder (``t("calibrate.params", key=...)``).
    """
    use = lang or get_language()
    area = key.split(".", 1)[0]
    template = _area(use, area).get(key) or _area("en", area).get(key)
    if template is None:
        # A missing key is a programming error; show it plainly rather than crash a user's command.
        return key + (" " + repr(params) if params else "")
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
