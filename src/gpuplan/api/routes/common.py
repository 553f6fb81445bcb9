"""Helpers shared by the routers: the request's language and running a computation within the limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Query, Request
from pydantic import ValidationError

from gpuplan.api.errors import ComputeError, log
from gpuplan.api.lang import request_language
from gpuplan.errors import GpuplanError

T = TypeVar("T")

LangQuery = Query(None, max_length=16, description="Language of sentences: en or zh (else Accept-Language).")


def lang_of(request: Request, lang: str | None = LangQuery) -> str:
    """Dependency: 'en' or 'zh' (the ``lang`` parameter is declared so it shows in the OpenAPI schema)."""
    return request_language(request)


async def run_job(request: Request, fn: Callable[[], T], lang: str) -> T:
    """Run ``fn`` in the app's bounded worker pool; unexpected failures become a 422 sentence, logged."""

    def guarded() -> T:
        try:
            return fn()
        except (GpuplanError, ValidationError):
            raise
        except Exception as exc:  # noqa: BLE001 - the client gets a sentence, the log gets the traceback
            log.exception("computation failed for %s", request.url.path)
            raise ComputeError("api.internal", detail=type(exc).__name__) from None

    return await runner_for(request).run(guarded, lang)


#: Endpoints whose computation can take seconds (plan search, sweeps, rendering, validation): the few plan slots.
HEAVY_ENDPOINTS = ("/plan", "/estimate", "/validate", "/cost", "/render")


def runner_for(request: Request):
    """The plan-slot runner for heavy endpoints, the light runner for the rest (size, catalog)."""
    path = request.url.path
    tail = path.split("/api/v1", 1)[-1]
    state = request.app.state
    if any(tail == p or tail.startswith(p + "/") or tail.startswith(p + ".") for p in HEAVY_ENDPOINTS):
        return state.runner
    return getattr(state, "light_runner", state.runner)
