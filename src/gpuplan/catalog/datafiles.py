"""The one reader of shipped TOML data files (formats, engines, calibration): parsed once per process."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any


@cache
def shipped_toml(name: str) -> dict[str, Any]:
    """``catalog/data/<name>`` parsed as TOML."""
    text = (resources.files("gpuplan.catalog") / "data" / name).read_text(encoding="utf-8")
    return tomllib.loads(text)
