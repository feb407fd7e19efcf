"""``GET /v1/model``: what the serving model is."""

from __future__ import annotations

from fastapi import APIRouter

from berth.api.deps import ModelDep, ScoreCaller
from berth.api.errors import problem_responses
from berth.api.holder import LoadedModel, finite_metrics
from berth.api.schemas import ModelInfoOut

router = APIRouter(prefix="/v1", tags=["model"])


def model_info_out(model: LoadedModel) -> ModelInfoOut:
    """The public description of a loaded model."""
    info = model.info
    return ModelInfoOut(
        name=info.name,
        version=info.version,
        trained_at=info.trained_at,
        horizon_days=info.horizon_days,
        training_cutoff=info.training_cutoff,
        content_hash=info.content_hash,
        metrics=finite_metrics(info),
        extra=dict(info.extra),
        loaded_at=model.loaded_at,
    )


@router.get(
    "/model",
    response_model=ModelInfoOut,
    summary="The serving model",
    responses=problem_responses(401, 403, 503),
)
async def read_model(caller: ScoreCaller, model: ModelDep) -> ModelInfoOut:
    """Name, version, training cutoff and validation metrics of the serving model."""
    return model_info_out(model)
