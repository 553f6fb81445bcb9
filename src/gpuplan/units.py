"""Unit constants and formatters (DESIGN §11).

Everything inside gpuplan computes in base units: int bytes, seconds, FLOP, USD, watts.
Conversions live here and only here. Capacities print in binary units (GiB = 2**30), rates in
decimal units (GB/s = 10**9 B/s). A vendor's "80GB" is a label, not a byte count.
"""

from __future__ import annotations

import math
import re

KIB = 2**10
MIB = 2**20
GIB = 2**30
TIB = 2**40

KB = 10**3
MB = 10**6
GB = 10**9
TB = 10**12

KILO = 10**3
MEGA = 10**6
GIGA = 10**9
TERA = 10**12
PETA = 10**15

MS = 1e-3
US = 1e-6

SECONDS_PER_HOUR = 3600.0
HOURS_PER_YEAR = 8760.0
DAYS_PER_MONTH = 365.25 / 12

_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "": 1, "b": 1,
    "k": KB, "kb": KB, "kib": KIB, "ki": KIB,
    "m": MB, "mb": MB, "mib": MIB, "mi": MIB,
    "g": GB, "gb": GB, "gib": GIB, "gi": GIB,
    "t": TB, "tb": TB, "tib": TIB, "ti": TIB,
}


def parse_size_bytes(text: str) -> int | None:
    """Parse '64GiB', '64 GB', '512M', '1.5TiB' into bytes; None when the text is not a size.

    Suffixes with an ``i`` are binary (GiB = 2**30); without it they are decimal (GB = 10**9), as vendors
    and the SI define them.
    """
    match = _SIZE_RE.match(str(text))
    if not match:
        return None
    number = float(match.group(1))
    suffix = (match.group(2) or "").lower()
    factor = _SIZE_FACTORS.get(suffix)
    if factor is None or not math.isfinite(number):
        return None
    return int(round(number * factor))


def gib(num_bytes: float) -> float:
    return num_bytes / GIB


def fmt_gib(num_bytes: float | None, digits: int = 1) -> str:
    """Capacity in GiB, e.g. '79.6 GiB'; '—' for unknown."""
    if num_bytes is None:
        return "—"
    return f"{num_bytes / GIB:,.{digits}f} GiB"


def fmt_bytes(num_bytes: float | None) -> str:
    """Human capacity with a binary prefix chosen by size."""
    if num_bytes is None:
        return "—"
    value = float(num_bytes)
    for unit, factor in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if abs(value) >= factor:
            return f"{value / factor:,.2f} {unit}"
    return f"{int(value)} B"


def fmt_rate_bytes(bytes_per_s: float | None) -> str:
    """Bandwidth in decimal units, e.g. '3.35 TB/s'."""
    if bytes_per_s is None:
        return "—"
    if bytes_per_s >= TB:
        return f"{bytes_per_s / TB:.2f} TB/s"
    return f"{bytes_per_s / GB:,.0f} GB/s"


def fmt_flops(flops_per_s: float | None) -> str:
    """Compute rate in TFLOP/s; '—' for unknown."""
    if flops_per_s is None:
        return "—"
    return f"{flops_per_s / TERA:,.1f}"


def fmt_params(count: float | None) -> str:
    """Parameter count as '671.0B', '36.7B', '1.78B', '350M'."""
    if count is None:
        return "—"
    if count >= 1e12:
        return f"{count / 1e12:.3f}T"
    if count >= 1e9:
        return f"{count / 1e9:.2f}B" if count < 1e10 else f"{count / 1e9:.1f}B"
    return f"{count / 1e6:.0f}M"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def fmt_money(value: float | None, currency: str) -> str:
    """'$1,234', '¥8,765', '$0.432', '¥2.10'; '—' when unknown: enough digits that a cost is never shown as 0."""
    if value is None:
        return "—"
    sign = "¥" if currency == "CNY" else "$"
    if abs(value) >= 100:
        return f"{sign}{value:,.0f}"
    if abs(value) >= 1:
        return f"{sign}{value:,.2f}"
    if value == 0:
        return f"{sign}0"
    return f"{sign}{value:.3g}"
