"""The language of one request: ``?lang=en|zh`` first, then ``Accept-Language``, else English.

The server never relies on the process-wide language: handlers pass ``lang`` explicitly to ``t()`` and
``GpuplanError.message(lang)``, and computations in worker threads run in a context with that language set.
"""

from __future__ import annotations

from starlette.requests import Request

from gpuplan.i18n import normalize_language


def accept_language(header: str | None) -> str | None:
    """The first supported language of an Accept-Language header ('zh-CN,zh;q=0.9,en;q=0.8' → 'zh').

    Entries are taken in descending q order (RFC 9110 §12.5.4); unsupported ones are skipped.
    """
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        piece = part.strip()
        if not piece:
            continue
        name, _, params = piece.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, index, name.strip()))
    for neg_q, _, name in sorted(ranked):
        if neg_q >= 0:
            continue
        lang = normalize_language(name)
        if lang:
            return lang
    return None


def request_language(request: Request) -> str:
    """'en' or 'zh' for this request."""
    return (normalize_language(request.query_params.get("lang"))
            or accept_language(request.headers.get("accept-language")) or "en")
