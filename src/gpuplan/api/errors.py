"""Every failure becomes ``{"detail": one sentence}`` in the request's language, with a 4xx status.

- ``GpuplanError``: its own status (400/404/422/503) and the same sentence the CLI prints.
- Request validation (FastAPI) and pydantic errors raised while building core objects: 422, one sentence naming
  the field, what was given and what is allowed (a core value object's own bounds check: its sentence).
- Job limits: 429 when all computation slots are busy, 503 (with Retry-After) past the time budget.
- Anything unexpected inside a computation is wrapped as ``ComputeError`` (422) by ``run_job``: the input led the
  model somewhere it cannot answer; the traceback goes to the server log, never to the client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gpuplan.api.jobs import BusyError, JobTimeoutError
from gpuplan.api.lang import request_language
from gpuplan.errors import GpuplanError, printable
from gpuplan.i18n import t

log = logging.getLogger("gpuplan.api")

# Pydantic error types with a sentence of their own (the rest fall back to pydantic's English message).
_VALIDATION_KEYS = {
    "missing": "v_missing", "greater_than_equal": "v_ge", "greater_than": "v_gt", "less_than_equal": "v_le",
    "less_than": "v_lt", "string_too_short": "v_too_short", "string_too_long": "v_too_long",
    "too_long": "v_too_many", "too_short": "v_too_few", "int_parsing": "v_int", "int_type": "v_int",
    "int_from_float": "v_int", "float_parsing": "v_number", "float_type": "v_number", "bool_parsing": "v_bool",
    "bool_type": "v_bool", "string_type": "v_string", "literal_error": "v_literal", "extra_forbidden": "v_extra",
    "json_invalid": "v_json", "model_attributes_type": "v_object", "dict_type": "v_object", "list_type": "v_list",
    "enum": "v_literal",
}


class ComputeError(GpuplanError, ValueError):
    """An unexpected failure while computing an answer for a client's input."""

    http_status = 422


def _short(value: object, limit: int = 80) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"a {len(str(abs(value)))}-digit number"
    text = printable(repr(value) if not isinstance(value, str) else value)  # no newline or escape in a sentence
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validation_sentence(errors: list[dict], lang: str) -> str:
    """One sentence for the first validation error (field, what was given, what is allowed, what to do)."""
    if not errors:
        return t("api.invalid_request", lang=lang)
    first = errors[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, GpuplanError):  # a core value object's own check (gpuplan.records): its sentence as is
        return cause.message(lang)
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or t("api.the_body", lang=lang)
    if first.get("type") == "json_invalid":
        field = t("api.the_body", lang=lang)
    ctx = {k: _short(v) for k, v in (first.get("ctx") or {}).items()}
    key = _VALIDATION_KEYS.get(first.get("type", ""))
    if key:
        params = {"field": field, "given": _short(first.get("input")), **ctx}
        params.setdefault("expected", ctx.get("expected", ""))
        detail = t(f"api.{key}", lang=lang, **params)
    else:
        detail = first.get("msg", "")
    return t("api.invalid_field", lang=lang, field=field, detail=detail)


def _json(status: int, sentence: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": sentence}, status_code=status, headers=headers)


def install_handlers(app: FastAPI, time_limit_s: float, max_jobs: int) -> None:
    @app.exception_handler(GpuplanError)
    async def _gpuplan(request: Request, exc: GpuplanError):
        return _json(exc.http_status, exc.message(request_language(request)))

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError):
        return _json(422, validation_sentence(list(exc.errors()), request_language(request)))

    @app.exception_handler(ValidationError)
    async def _pydantic(request: Request, exc: ValidationError):
        return _json(422, validation_sentence(list(exc.errors()), request_language(request)))

    @app.exception_handler(BusyError)
    async def _busy(request: Request, exc: BusyError):
        return _json(429, t("api.busy", lang=request_language(request), allowed=max_jobs), {"Retry-After": "2"})

    @app.exception_handler(JobTimeoutError)
    async def _timeout(request: Request, exc: JobTimeoutError):
        return _json(503, t("api.timeout", lang=request_language(request), allowed=f"{time_limit_s:g}"),
                     {"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        lang = request_language(request)
        if exc.status_code == 404:
            return _json(404, t("api.not_found", lang=lang, given=request.url.path))
        if exc.status_code == 405:
            return _json(405, t("api.method_not_allowed", lang=lang, given=request.method, path=request.url.path))
        return _json(exc.status_code, str(exc.detail))
