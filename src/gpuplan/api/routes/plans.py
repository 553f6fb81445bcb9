"""Plans: search (``plan``), the plan file, ``cost`` of a candidate, ``render`` of artifacts (JSON or a zip)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gpuplan.api import services
from gpuplan.api.routes.common import lang_of, run_job
from gpuplan.api.schemas import CostRequest, PlanBody, PlanRequest, RenderRequest, RenderResponse
from gpuplan.planfile import PlanFile

router = APIRouter(tags=["plans"])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "plan"


def _checked(body):
    """A plan sent by a client is untrusted like a plan file: every field bounded (gpuplan.planbounds)."""
    from gpuplan.planbounds import check_model_fields

    check_model_fields(body.plan)
    return body


@router.post("/plan", response_model=PlanFile)
async def plan(body: PlanRequest, request: Request, lang: str = Depends(lang_of)) -> PlanFile:
    """``gpuplan plan --json``: ranked candidates, Pareto frontier, grouped rejections with the nearest miss."""
    return await run_job(request, lambda: services.plan(body), lang)


@router.post("/plan/file", response_class=Response,
             responses={200: {"content": {"application/yaml": {}}, "description": "plan.yaml"}})
async def plan_file(body: PlanBody, request: Request, lang: str = Depends(lang_of)) -> Response:
    """The plan as the YAML file ``plan -o plan.yaml`` writes (read by ``cost``, ``render``, ``bench --plan``)."""
    text = await run_job(request, lambda: services.plan_yaml(_checked(body).plan), lang)
    name = f"plan-{_slug(body.plan.model.id.split('/')[-1])}.yaml"
    return Response(text, media_type="application/yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/cost")
async def cost(body: CostRequest, request: Request, lang: str = Depends(lang_of)) -> dict[str, Any]:
    """``gpuplan cost PLAN --json``: capex, opex, TCO, own vs rent month by month, break-even, $/Mtok."""
    return await run_job(request, lambda: services.cost(_checked(body), lang), lang)


@router.post("/render", response_model=RenderResponse)
async def render(body: RenderRequest, request: Request, lang: str = Depends(lang_of)) -> RenderResponse:
    """``gpuplan render PLAN --target ...``: the artifact files as text."""
    files = await run_job(request, lambda: services.render(_checked(body)), lang)
    return RenderResponse(files=files)


@router.post("/render.zip", response_class=Response,
             responses={200: {"content": {"application/zip": {}}, "description": "the artifacts in one zip"}})
async def render_zip(body: RenderRequest, request: Request, lang: str = Depends(lang_of)) -> Response:
    """The same files in one zip (built in memory), ready to unpack and apply."""
    folder = f"gpuplan-{_slug(body.plan.model.id.split('/')[-1])}"

    def job() -> bytes:
        return services.zip_bytes(services.render(_checked(body)), folder)

    data = await run_job(request, job, lang)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{folder}.zip"'})
