"""``POST /v1/admin/reload``: load the model again and switch to it atomically."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from berth.api.deps import AdminCaller, ServicesDep
from berth.api.errors import ModelLoadError, ProblemError, problem_responses
from berth.api.routes.model import model_info_out
from berth.api.schemas import ReloadOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadOut,
    summary="Reload the model",
    responses=problem_responses(401, 403, 503),
)
async def reload_model(caller: AdminCaller, services: ServicesDep) -> ReloadOut:
    """Call the loader again; requests in flight finish with the model they started with.

    When the new model fails to load, the old one keeps serving and the answer is a 503 problem
    with the reason.
    """
    previous = services.holder.current
    try:
        loaded = await run_in_threadpool(services.holder.load)
    except ModelLoadError as exc:
        services.metrics.model_reloads.labels("failed").inc()
        serving = previous.info.version if previous is not None else None
        raise ProblemError(
            503,
            f"reload failed, still serving {serving or 'no model'}: {exc}",
            kind="reload-failed",
            extra={"serving_version": serving},
        ) from None
    services.metrics.model_reloads.labels("ok").inc()
    return ReloadOut(
        previous_version=previous.info.version if previous is not None else None, model=model_info_out(loaded)
    )
