"""``POST /v1/scores``: score a batch of customer histories with the serving model."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from berth.api import wire
from berth.api.body import decode_batch, request_body
from berth.api.convert import DecodedBatch, ModelOutputError, batch_issues, to_outputs
from berth.api.deps import ScoringContextDep, Services
from berth.api.errors import ProblemError, problem_responses
from berth.api.holder import LoadedModel
from berth.api.prediction_log import PendingPredictions, Reservation
from berth.api.schemas import ScoreByIdRequest, ScoreRequest, ScoreResponse
from berth.api.stored import stored_batch
from berth.api.threads import helper
from berth.api.wire import CustomerScoreOut
from berth.i18n import negotiate_language
from berth.modeling.churn import ARRAY_EVALUATOR_MAX_ROWS
from berth.recommend.for_scores import recommend_for_scores
from berth.recommend.playbook import Playbook
from berth.scoring import CustomerScore, Scorer

router = APIRouter(prefix="/v1", tags=["scores"])

# Scored on the event loop when the body is at most ``inline_scoring_max_bytes`` AND holds at most
# this many customers: the bytes bound the decoding, the count the scoring (a 64 kB body can hold
# hundreds of bare customers, tens of milliseconds of work).
INLINE_MAX_CUSTOMERS = 8
# From this many customers a batch is scored in two halves at once. Each half then has more than
# ARRAY_EVALUATOR_MAX_ROWS customers, so its margins take the same path (XGBoost's predictor) as
# the whole batch would: the scores are those of one call, bit for bit.
PARALLEL_SCORING_MIN_CUSTOMERS = 2 * (ARRAY_EVALUATOR_MAX_ROWS + 1)


@dataclass(frozen=True)
class ScoreOptions:
    """What a caller asked beside the scores: the language of the words, and recommendations."""

    lang: str = "en"
    playbook: Playbook | None = None  # None: no recommendations


def _decode_and_score(
    model: LoadedModel, raw: bytes | DecodedBatch, limit: int, options: ScoreOptions
) -> tuple[DecodedBatch, list[CustomerScoreOut]]:
    """Decode (unless done already), then :func:`_score`: the worker thread's part of a request."""
    batch = decode_batch(raw, limit) if isinstance(raw, bytes) else raw
    return batch, _score(model, batch, options)


def _score(model: LoadedModel, batch: DecodedBatch, options: ScoreOptions) -> list[CustomerScoreOut]:
    """Validate the cross-field rules, score, recommend and check the output."""
    issues = batch_issues(batch)
    if issues:
        raise RequestValidationError(issues)
    scores = _scores(model.scorer, batch, options.lang)
    recommendations = None
    if options.playbook is not None:
        ranked = recommend_for_scores(scores, options.playbook, _segments(batch))
        recommendations = {s.customer_id: r for s, r in zip(scores, ranked, strict=True)}
    return to_outputs(batch.customer_ids, scores, recommendations)


def _segments(batch: DecodedBatch) -> Mapping[str, str | None]:
    """Each customer's profile segment (the playbook's triggers may name segments)."""
    column = batch.columns.get("customers", {}).get("segment")
    if column is None:
        return {}
    values = column.to_pylist() if hasattr(column, "to_pylist") else list(column)
    # as the history build reads labels (berth plan's path): trimmed, lower case
    normalised = [None if v is None else str(v).strip().lower() or None for v in values]
    return dict(zip(batch.customer_ids, normalised, strict=True))


def _scores(scorer: Scorer, batch: DecodedBatch, lang: str) -> list[CustomerScore]:
    """The scorer's scores of the batch; a large one in two halves at once (this thread and the
    helper), as the scorer's compiled steps release the GIL."""
    customers = len(batch.customer_ids)
    if customers < PARALLEL_SCORING_MIN_CUSTOMERS:
        return list(scorer.score(batch.columns, batch.as_of, lang=lang))
    first, second = batch.split(customers // 2)
    later = helper().submit(scorer.score, second, batch.as_of, lang=lang)
    return [*scorer.score(first, batch.as_of, lang=lang), *later.result()]


@router.post(
    "/scores",
    response_model=ScoreResponse,
    summary="Score customers",
    openapi_extra=request_body(ScoreRequest, ScoreByIdRequest),
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 500, 503, 504),
)
async def create_scores(
    request: Request,
    context: ScoringContextDep,
    recommendations: Annotated[
        bool, Query(description="Include the playbook's recommended actions with each score.")
    ] = True,
    lang: Annotated[
        Literal["en", "zh"] | None,
        Query(description="Language of driver sentences (default: from Accept-Language, else en)."),
    ] = None,
) -> Response:
    """Score each customer as of ``as_of``; every served score is written to the prediction log.

    The body is a ``ScoreRequest`` (histories in the body) or a ``ScoreByIdRequest`` (customer ids
    whose histories are stored: ``POST /v1/events``, ``berth ingest``; ids without one are a 404);
    more than ``max_batch_size`` customers is a 413. Each driver
    carries a sentence in ``lang`` (or the Accept-Language header's language); with a playbook
    configured, each score carries its recommended actions unless ``recommendations=false``.
    """
    language = lang or negotiate_language(request.headers.get("accept-language"))
    options = ScoreOptions(language, context.services.playbook if recommendations else None)
    body_bytes = int(request.headers.get("content-length") or 0)
    reservation = reserve_log(context.services, body_bytes)
    try:
        response = await _score_and_log(request, context, reservation, body_bytes, options)
        response.headers["Content-Language"] = language
        response.headers["Vary"] = "Accept-Language"
        return response
    finally:
        reservation.release()


async def _score_and_log(
    request: Request,
    context: ScoringContextDep,
    reservation: Reservation,
    body_bytes: int,
    options: ScoreOptions,
) -> Response:
    services, model = context.services, context.model
    settings = services.settings
    large = body_bytes > settings.inline_scoring_max_bytes
    try:
        # the prediction-log writer waits while a large body is read and scored (bounded: defer_s)
        with services.writer.foreground() if large else nullcontext():
            raw = await request.body()
            # {"as_of", "customer_ids"}: the histories come from the store (berth.api.stored)
            decoded = await stored_batch(raw, services.store, settings.max_batch_size)
            if decoded is None and len(raw) <= settings.inline_scoring_max_bytes:
                decoded = decode_batch(raw, settings.max_batch_size)
            if decoded is not None and len(decoded.customer_ids) <= INLINE_MAX_CUSTOMERS:
                # A few customers (one customer's history: ~14 kB) are a bounded millisecond of
                # work: on the event loop they skip the thread hop and the threads' GIL contention.
                batch, scores = decoded, _score(model, decoded, options)
            else:
                with anyio.fail_after(settings.request_timeout_s):
                    batch, scores = await anyio.to_thread.run_sync(
                        _decode_and_score,
                        model,
                        decoded or raw,
                        settings.max_batch_size,
                        options,
                        abandon_on_cancel=True,
                    )
    except TimeoutError:
        raise ProblemError(
            504, f"scoring took longer than {settings.request_timeout_s:g} s", kind="timeout"
        ) from None
    except ModelOutputError as exc:
        raise ProblemError(500, f"the model produced an invalid output: {exc}", kind="model-output") from exc
    await log_served(request, services, model, batch, scores, reservation, body_bytes=len(raw))
    info = model.info
    payload = wire.ScoreResponse(
        client_request_id=request.state.client_request_id,
        request_id=request.state.request_id,
        model_name=info.name,
        model_version=info.version,
        as_of=batch.as_of,
        scores=scores,
    )
    # Serialised here: returning a model would have FastAPI validate every score again (tens of
    # ms for 1,000 customers) although to_outputs already checked them. ScoreResponse documents it.
    return Response(content=wire.encode_response(payload), media_type="application/json")


def reserve_log(services: Services, body_bytes: int) -> Reservation:
    """Room in the prediction log's backlog for a request's rows, or a 503 with Retry-After."""
    reservation = services.writer.reserve(body_bytes)
    if reservation is None:
        rows, waiting = services.writer.backlog
        raise ProblemError(
            503,
            f"the prediction log is {rows:,} rows ({waiting / 1e6:.0f} MB of requests) behind; retry shortly",
            kind="overloaded",
            headers={"Retry-After": "1"},
        )
    return reservation


async def log_served(
    request: Request,
    services: Services,
    model: LoadedModel,
    batch: DecodedBatch,
    scores: list[CustomerScoreOut],
    reservation: Reservation,
    *,
    body_bytes: int = 0,
) -> None:
    """Log the scores a request is about to serve (every scoring route), and count them."""
    info = model.info
    await _log_predictions(
        services,
        PendingPredictions(
            request_id=request.state.request_id,
            model_name=info.name,
            model_version=info.version,
            batch=batch,
            scores=scores,
            created_at=datetime.now(UTC),
            body_bytes=body_bytes,
            bundle_hash=_bundle_hash(info.content_hash),
            client_request_id=request.state.client_request_id,
        ),
        reservation,
    )
    services.metrics.scores_served.labels(info.version).inc(len(scores))


def _bundle_hash(content_hash: str) -> str | None:
    """The hex digest of ``sha256:<hex>`` (what the log's 64-character column holds)."""
    digest = content_hash.removeprefix("sha256:")
    return digest if len(digest) == 64 else None


async def _log_predictions(services: Services, pending: PendingPredictions, reservation: Reservation) -> None:
    """Queue the rows for the background writer (write them here when its queue is full); in
    durable mode, return only once they are committed, and answer 503 when they cannot be."""
    settings = services.settings
    durable = settings.prediction_log_mode == "durable"
    try:
        submitted = services.writer.submit(pending)
        reservation.release()  # the rows and bytes now count as submitted (or are written here)
        if not submitted:
            await run_in_threadpool(services.writer.write_now, pending)
        elif durable:
            await asyncio.wait_for(asyncio.wrap_future(pending.written), timeout=settings.request_timeout_s)
    except Exception as exc:
        raise ProblemError(
            503,
            "the prediction log could not store these scores, so they are not served: retry shortly",
            kind="prediction-log-unavailable",
            headers={"Retry-After": "5"},
        ) from exc
