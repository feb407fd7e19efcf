"""``GET /v1/customers/{customer_id}/score``: the latest stored batch score of a customer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from berth.api.deps import ScoreCaller, ServicesDep
from berth.api.errors import ProblemError, problem_responses
from berth.api.schemas import StoredScoreOut

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.get(
    "/{customer_id}/score",
    response_model=StoredScoreOut,
    summary="Latest stored score of a customer",
    responses=problem_responses(401, 403, 404, 422, 503),
)
def read_customer_score(
    customer_id: Annotated[str, Path(min_length=1, max_length=128)],
    caller: ScoreCaller,
    services: ServicesDep,
) -> StoredScoreOut:
    """The batch score with the latest ``as_of`` (from ``berth score``), or 404."""
    record = services.store.latest_score(customer_id)
    if record is None:
        raise ProblemError(404, f"no stored score for customer {customer_id!r}", kind="not-found")
    return StoredScoreOut(
        customer_id=record.customer_id,
        as_of=record.as_of,
        churn_probability=record.churn_probability,
        partial_churn_probability=record.partial_churn_probability,
        risk_band=record.risk_band,
        model_name=record.model_name,
        model_version=record.model_version,
        scored_at=record.scored_at,
        **record.loyalty,
    )
