"""Catalog resources: ``models``, ``gpus`` (same JSON as ``models --json`` / ``gpus --json``), messages, health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from gpuplan import __version__
from gpuplan.api import services
from gpuplan.api.routes.common import lang_of, run_job
from gpuplan.api.schemas import HealthResponse, MessagesResponse
from gpuplan.i18n import catalog as message_catalog

router = APIRouter(tags=["catalog"])

#: Message areas the page needs (its own texts, plus the planner's reasons and bottlenecks, size rows, cost notes).
PAGE_AREAS = ("web.", "page.", "plan.", "size.row_", "cost.", "money.", "money2.", "fit.", "labels.")


@router.get("/health", response_model=HealthResponse)
def health(request: Request) -> HealthResponse:
    return HealthResponse(status="ok", version=__version__,
                          token_required=bool(request.app.state.settings.token))


@router.get("/messages", response_model=MessagesResponse)
def messages(lang: str = Depends(lang_of)) -> MessagesResponse:
    """The page's texts in one language (``?lang=zh``): every key of the ``web`` catalog and the planner's."""
    msgs = {k: v for k, v in message_catalog(lang).items() if k.startswith(PAGE_AREAS)}
    return MessagesResponse(lang=lang, messages=msgs)


@router.get("/exchange")
def exchange() -> dict[str, Any]:
    """The dated USD→CNY rate the cost model uses (``{"usd_to_cny": {value, unit, date, source}}``)."""
    from gpuplan.catalog.prices import load_prices

    fact = load_prices(None, {}).usd_to_cny
    return {"usd_to_cny": None if fact is None else fact.model_dump(mode="json")}


@router.get("/models")
async def models(request: Request, family: str | None = Query(None, max_length=64),
                 q: str | None = Query(None, max_length=200, description="Search id, name and aliases."),
                 lang: str = Depends(lang_of)) -> list[dict[str, Any]]:
    """``gpuplan models --json`` (optionally ``--family``), plus a search box filter ``q``."""
    return await run_job(request, lambda: services.models_list(family, q), lang)


@router.get("/models/{ref:path}")
async def model(request: Request, ref: str, lang: str = Depends(lang_of)) -> dict[str, Any]:
    """``gpuplan inspect MODEL --json`` for a catalog model (ids contain '/': deepseek-ai/DeepSeek-R1)."""
    return await run_job(request, lambda: services.model_detail(ref[:200]), lang)


@router.get("/gpus")
async def gpus(request: Request, vendor: str | None = Query(None, max_length=32), china: bool = False,
               lang: str = Depends(lang_of)) -> list[dict[str, Any]]:
    """``gpuplan gpus --json`` with ``--vendor`` and ``--china``."""
    return await run_job(request, lambda: services.gpus_list(vendor, china), lang)


@router.get("/gpus/{ref}")
async def gpu(request: Request, ref: str, lang: str = Depends(lang_of)) -> dict[str, Any]:
    """One row of ``gpus --json``."""
    return await run_job(request, lambda: services.gpu_detail(ref[:64]), lang)
