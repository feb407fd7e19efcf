"""``POST /v1/feedback`` and ``PATCH /v1/feedback/{id}``: actions taken and their outcomes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from berth.api.body import parse_body, request_body
from berth.api.deps import ScoreCaller, ServicesDep
from berth.api.errors import ProblemError, problem_responses
from berth.api.schemas import FeedbackCreate, FeedbackCreated, FeedbackOut, FeedbackOutcome

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


def _issue(loc: list[str | int], msg: str) -> dict[str, object]:
    return {"loc": loc, "pointer": "/" + "/".join(map(str, loc[1:])), "msg": msg, "type": "value_error"}


@router.post(
    "",
    status_code=201,
    response_model=FeedbackCreated,
    summary="Record an action taken for a customer",
    openapi_extra=request_body(FeedbackCreate),
    responses=problem_responses(400, 401, 403, 413, 415, 422, 503),
)
async def create_feedback(request: Request, caller: ScoreCaller, services: ServicesDep) -> FeedbackCreated:
    """Store the action (and its outcome when already known); answer 201 with the new id.

    The body is a ``FeedbackCreate``.
    """
    body = parse_body(FeedbackCreate, await request.body())
    feedback_id = await run_in_threadpool(
        services.store.add_feedback,
        body.customer_id,
        body.action,
        body.taken_at,
        outcome=body.outcome,
        outcome_at=body.outcome_at,
        notes=body.notes,
        request_id=body.request_id,
        campaign_id=body.campaign_id,
    )
    return FeedbackCreated(id=feedback_id)


@router.patch(
    "/{feedback_id}",
    response_model=FeedbackOut,
    summary="Record the outcome of an earlier action",
    openapi_extra=request_body(FeedbackOutcome),
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 503),
)
async def update_feedback_outcome(
    feedback_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    caller: ScoreCaller,
    services: ServicesDep,
) -> FeedbackOut:
    """Set the outcome of feedback ``feedback_id`` (body: ``FeedbackOutcome``); 404 when there is none."""
    body = parse_body(FeedbackOutcome, await request.body())
    store = services.store
    existing = await run_in_threadpool(store.get_feedback, feedback_id)
    if existing is None:
        raise ProblemError(404, f"no feedback with id {feedback_id}", kind="not-found")
    if body.outcome_at < existing.taken_at:
        raise ProblemError(
            422,
            "outcome_at is before the action's taken_at",
            kind="validation-error",
            extra={"errors": [_issue(["body", "outcome_at"], "outcome_at is before taken_at")]},
        )
    await run_in_threadpool(store.record_outcome, feedback_id, body.outcome, body.outcome_at)
    record = await run_in_threadpool(store.get_feedback, feedback_id)
    assert record is not None
    return FeedbackOut(**record.__dict__)
