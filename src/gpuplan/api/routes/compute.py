"""Computations on a deployment: ``size``, ``estimate``, ``validate``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from gpuplan.api import services
from gpuplan.api.routes.common import lang_of, run_job
from gpuplan.api.schemas import EstimateRequest, EstimateResponse, FitRequest, SizeRequest, ValidateRequest
from gpuplan.memory import InferenceMemory, TrainingMemory

router = APIRouter(tags=["compute"])


@router.post("/size", response_model=InferenceMemory | TrainingMemory)
async def size(body: SizeRequest, request: Request, lang: str = Depends(lang_of)):
    """``gpuplan size --json``: memory per GPU, the verdict and the binding term."""
    return await run_job(request, lambda: services.size(body), lang)


@router.post("/fit")
async def fit(body: FitRequest, request: Request, lang: str = Depends(lang_of)) -> dict[str, Any]:
    """``gpuplan fit --json``: what runs on one machine (GPU memory, then CPU offload into its RAM), how fast."""
    return await run_job(request, lambda: services.fit(body), lang)


@router.post("/estimate", response_model=EstimateResponse)
async def estimate(body: EstimateRequest, request: Request, lang: str = Depends(lang_of)) -> EstimateResponse:
    """Predicted TTFT, TPOT and throughput of a deployment, and a curve over ``sweep`` concurrencies."""
    return await run_job(request, lambda: services.estimate(body, lang), lang)


@router.post("/validate")
async def validate(body: ValidateRequest, request: Request, lang: str = Depends(lang_of)) -> dict[str, Any]:
    """``gpuplan validate --json`` over a measured dataset sent as CSV text."""
    return await run_job(request, lambda: services.validate(body), lang)
