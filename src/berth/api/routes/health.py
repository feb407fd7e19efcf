"""``/healthz`` (liveness), ``/readyz`` (readiness) and ``/metrics`` (Prometheus); no auth."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from berth.api.deps import ServicesDep
from berth.api.errors import ProblemError, problem_responses
from berth.api.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
async def read_health() -> HealthOut:
    """200 while the process serves HTTP."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, summary="Readiness", responses=problem_responses(503))
async def read_readiness(services: ServicesDep) -> ReadyOut:
    """200 when a model is loaded and the database answers, else a 503 problem saying which."""
    model = services.holder.current
    if model is None:
        raise ProblemError(503, "no model is loaded", kind="not-ready")
    if not await run_in_threadpool(services.store.ping):
        raise ProblemError(503, "the database does not answer", kind="not-ready")
    return ReadyOut(status="ready", model_name=model.info.name, model_version=model.info.version)


@router.get("/metrics", include_in_schema=False)
async def read_metrics(services: ServicesDep) -> Response:
    """Prometheus exposition text."""
    body, content_type = services.metrics.render()
    return Response(body, media_type=content_type)
