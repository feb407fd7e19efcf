"""``GET /v1/customers/{customer_id}/score`` and ``.../recommendations``: what is stored for a customer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from berth.api.deps import ScoreCaller, Services, ServicesDep
from berth.api.errors import ProblemError, problem_responses
from berth.api.routes.scores import ScoreOptions, _score, log_served, reserve_log
from berth.api.schemas import CustomerRecommendationsOut, DriverOut, RecommendationOut, StoredScoreOut
from berth.api.stored import stored_batch_of
from berth.features import GROUP_LABELS
from berth.recommend.for_scores import recommend_for_scores
from berth.recommend.playbook import Playbook
from berth.scoring import (
    LOYALTY_AMOUNT_FIELDS,
    LOYALTY_LABEL_FIELDS,
    LOYALTY_PROBABILITY_FIELDS,
    CustomerScore,
    Driver,
)
from berth.store import ScoreRecord, Store

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.get(
    "/{customer_id}/score",
    response_model=StoredScoreOut,
    summary="Latest stored score of a customer, or a fresh one from the stored history",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def read_customer_score(
    customer_id: Annotated[str, Path(min_length=1, max_length=128)],
    caller: ScoreCaller,
    services: ServicesDep,
    request: Request,
    fresh: Annotated[
        bool, Query(description="Score now from the stored history (POST /v1/events, berth ingest).")
    ] = False,
    as_of: Annotated[
        date | None, Query(description="With fresh=true: score as of this date (default today, UTC).")
    ] = None,
) -> StoredScoreOut:
    """The batch score with the latest ``as_of`` (from ``berth score``), or 404; with ``fresh=true``
    the serving model's score from the customer's stored history (logged like POST /v1/scores)."""
    if fresh:
        return await _fresh_score(request, services, customer_id, as_of or datetime.now(UTC).date())
    if as_of is not None:
        raise ProblemError(
            422,
            "as_of applies to fresh=true only: the stored score is the latest berth score wrote",
            kind="validation-error",
            extra={
                "errors": [
                    {
                        "loc": ["query", "as_of"],
                        "pointer": "",
                        "msg": "as_of needs fresh=true",
                        "type": "value_error",
                    }
                ]
            },
        )
    record = await run_in_threadpool(services.store.latest_score, customer_id)
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
        drivers=_drivers_out(record.drivers),
        **record.loyalty,
    )


async def _fresh_score(request: Request, services: Services, customer_id: str, as_of: date) -> StoredScoreOut:
    """Score one customer from the stored history, log it, and answer in the stored score's shape."""
    model = services.holder.require()
    reservation = reserve_log(services, 0)
    try:
        batch = await stored_batch_of(services.store, [customer_id], as_of)
        (score,) = _score(model, batch, ScoreOptions(playbook=None))
        await log_served(request, services, model, batch, [score], reservation)
    finally:
        reservation.release()
    return StoredScoreOut(
        customer_id=customer_id,
        as_of=as_of,
        churn_probability=score.churn_probability,
        partial_churn_probability=score.partial_churn_probability,
        risk_band=score.risk_band,
        model_name=model.info.name,
        model_version=model.info.version,
        scored_at=datetime.now(UTC),
        drivers=_drivers_out((d.name, d.contribution) for d in score.drivers),
        **{name: getattr(score, name) for name in _LOYALTY_OUT},
    )


def _drivers_out(drivers: Iterable[tuple[str, float]]) -> list[DriverOut]:
    """(group, contribution) pairs as the response's drivers, with the groups' labels."""
    return [
        DriverOut(
            name=name, contribution=value, label_en=GROUP_LABELS[name][0], label_zh=GROUP_LABELS[name][1]
        )
        for name, value in drivers
        if name in GROUP_LABELS
    ]


_LOYALTY_OUT = (
    *LOYALTY_LABEL_FIELDS,
    *LOYALTY_PROBABILITY_FIELDS,
    *LOYALTY_AMOUNT_FIELDS,
    "tier_probabilities",
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
