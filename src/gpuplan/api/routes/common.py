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

    return await request.app.state.runner.run(guarded, lang)
