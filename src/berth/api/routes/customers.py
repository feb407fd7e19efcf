"""``GET /v1/customers/{customer_id}/score`` and ``.../recommendations``: what is stored for a customer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from berth.api.deps import ScoreCaller, ServicesDep
from berth.api.errors import ProblemError, problem_responses
from berth.api.schemas import CustomerRecommendationsOut, RecommendationOut, StoredScoreOut
from berth.recommend.for_scores import recommend_for_scores
from berth.recommend.playbook import Playbook
from berth.scoring import CustomerScore, Driver
from berth.store import ScoreRecord, Store

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


CustomerId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get(
    "/{customer_id}/recommendations",
    response_model=CustomerRecommendationsOut,
    summary="What to do for a customer",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def read_customer_recommendations(
    customer_id: CustomerId, caller: ScoreCaller, services: ServicesDep
) -> CustomerRecommendationsOut:
    """The customer's row of the latest stored campaign plan (``berth plan``): its action, or that
    it is a control; without a plan, the playbook applied to the latest stored score; else 404."""
    return await run_in_threadpool(_recommendations, services.store, services.playbook, customer_id)


def _recommendations(store: Store, playbook: Playbook | None, customer_id: str) -> CustomerRecommendationsOut:
    planned = store.latest_planned_action(customer_id)
    if planned is not None:
        control = planned.group == "control"
        return CustomerRecommendationsOut(
            customer_id=customer_id,
            source="plan",
            as_of=planned.as_of,
            model_name=planned.model_name,
            model_version=planned.model_version,
            campaign_id=planned.campaign_id,
            group="control" if control else "treatment",
            churn_probability=planned.churn_probability,
            recommendations=[]
            if control
            else [
                RecommendationOut(
                    action=planned.action,
                    expected_net_value=planned.expected_net_value,
                    expected_saved_value=planned.expected_saved_value,
                    uplift=planned.uplift,
                    cost=planned.cost,
                )
            ],
            note=f"held out as a control of campaign {planned.campaign_id}: take no retention action, so "
            f"the campaign can measure what {planned.action} achieves"
            if control
            else planned.reason,
        )
    record = store.latest_score(customer_id)
    if record is None:
        raise ProblemError(404, f"no stored plan or score for customer {customer_id!r}", kind="not-found")
    if playbook is None:
        raise ProblemError(
            404,
            f"no stored plan for customer {customer_id!r}, and no playbook configured to rank actions "
            "from its score (BERTH_PLAYBOOK_PATH)",
            kind="not-found",
        )
    ((actions, reason),) = recommend_for_scores([_as_score(record)], playbook)
    return CustomerRecommendationsOut(
        customer_id=customer_id,
        source="score",
        as_of=record.as_of,
        model_name=record.model_name,
        model_version=record.model_version,
        campaign_id=None,
        group=None,
        churn_probability=record.churn_probability,
        recommendations=[RecommendationOut(**vars(r)) for r in actions],
        note=None if actions else reason,
    )


def _as_score(record: ScoreRecord) -> CustomerScore:
    """A stored score as the scorer's output (segment triggers cannot hold: the table keeps none)."""
    loyalty = {k: v for k, v in record.loyalty.items() if k != "tier_probabilities"}
    return CustomerScore(
        customer_id=record.customer_id,
        churn_probability=record.churn_probability,
        risk_band=record.risk_band,
        drivers=tuple(Driver(name, contribution) for name, contribution in record.drivers),
        **loyalty,
    )
