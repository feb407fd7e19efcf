"""``POST /v1/events``: shipments, interactions and profile updates into the stored customer history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from berth.api.body import parse_body, request_body
from berth.api.deps import EventsCaller, ServicesDep
from berth.api.errors import ProblemError, problem_responses
from berth.api.schemas import (
    MAX_EVENT_ROWS,
    EventResult,
    EventsRequest,
    EventsResponse,
    InteractionEvent,
    ProfileEvent,
    RowProblem,
    ShipmentEvent,
)
from berth.history import HistoryStore, StoreCounts, interaction_rows, profile_rows, shipment_rows

router = APIRouter(prefix="/v1", tags=["events"])

_TABLES: Mapping[str, type[BaseModel]] = {
    "shipments": ShipmentEvent,
    "interactions": InteractionEvent,
    "profiles": ProfileEvent,
}
_SENTIMENT_WORDS = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}
FUTURE_TOLERANCE_DAYS = 1  # the data contract's default future_tolerance_days


def _rows_of(raw: bytes) -> dict[str, list[Any]]:
    """The body's row lists; a body that is not ``{table: [object, ...]}`` is a 422 worded by pydantic."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    well_formed = (
        isinstance(body, dict)
        and set(body) <= set(_TABLES)
        and all(isinstance(rows, list) and all(isinstance(r, dict) for r in rows) for rows in body.values())
    )
    if not well_formed:
        parse_body(EventsRequest, raw)  # raises the 422 with field paths
        raise ProblemError(422, "the body must be an object of shipments, interactions and profiles")
    assert isinstance(body, dict)
    # A row that breaks the schema (a missing customer_id, a negative volume) makes the body a 422
    # naming every such field, nothing stored: the OpenAPI document states those rules. Rows are
    # refused one by one only for the data contract's rules the schema cannot state (below).
    parse_body(EventsRequest, raw)
    total = sum(len(rows) for rows in body.values())
    if total > MAX_EVENT_ROWS:
        raise ProblemError(
            413,
            f"{total:,} rows exceed the limit of {MAX_EVENT_ROWS:,} rows per request",
            kind="batch-too-large",
            extra={"limit": MAX_EVENT_ROWS},
        )
    return {table: body.get(table, []) for table in _TABLES}


def _rule_problems(row: BaseModel, latest: date) -> list[RowProblem]:
    """The data contract's rules that span a row: no date in the future, resolution after contact."""
    problems = []
    for name in ("shipment_date", "timestamp", "resolved_at", "since"):
        value = getattr(row, name, None)
        if value is None:
            continue
        day = value.date() if isinstance(value, datetime) else value
        if day > latest:
            problems.append(RowProblem(field=name, reason=f"{value.isoformat()} is in the future"))
    resolved, opened = getattr(row, "resolved_at", None), getattr(row, "timestamp", None)
    if resolved is not None and opened is not None and resolved < opened:
        problems.append(RowProblem(field="resolved_at", reason="resolved_at is before timestamp"))
    return problems


def _validated(
    model: type[BaseModel], rows: Sequence[Any], latest: date
) -> list[BaseModel | list[RowProblem]]:
    """Each row validated on its own (strict, as the scoring body): the model, or why it is refused."""
    out: list[BaseModel | list[RowProblem]] = []
    for row in rows:
        try:
            parsed = model.model_validate_json(orjson.dumps(row))
        except ValidationError as exc:
            out.append(
                [
                    RowProblem(field=".".join(map(str, e["loc"])), reason=e["msg"])
                    for e in exc.errors(include_url=False, include_input=False, include_context=False)
                ]
            )
            continue
        problems = _rule_problems(parsed, latest)
        out.append(problems or parsed)
    return out


def _checked(raw: bytes) -> dict[str, list[BaseModel | list[RowProblem]]]:
    """The body's rows, each parsed or refused: up to 10,000 rows of work, so off the event loop."""
    rows = _rows_of(raw)
    latest = datetime.now(UTC).date() + timedelta(days=FUTURE_TOLERANCE_DAYS)
    return {table: _validated(model, rows[table], latest) for table, model in _TABLES.items()}


def _record(row: BaseModel) -> dict[str, Any]:
    record = row.model_dump()
    sentiment = record.get("sentiment")
    if isinstance(sentiment, str) and isinstance(row, InteractionEvent):
        record["sentiment"] = _SENTIMENT_WORDS[sentiment]
    return record


def _results(
    checked: list[BaseModel | list[RowProblem]], stored: Sequence[bool], new: str, old: str
) -> list[EventResult]:
    out: list[EventResult] = []
    accepted = iter(stored)
    for item in checked:
        if isinstance(item, list):
            out.append(EventResult(status="refused", problems=item))
        else:
            status = new if next(accepted) else old
            out.append(EventResult(status=status, customer_id=item.customer_id))  # type: ignore[attr-defined]
    return out


@router.post(
    "/events",
    response_model=EventsResponse,
    summary="Store shipments, interactions and profile updates",
    openapi_extra=request_body(EventsRequest),
    responses=problem_responses(400, 401, 403, 413, 415, 422, 503),
)
async def create_events(request: Request, caller: EventsCaller, services: ServicesDep) -> EventsResponse:
    """Store each valid row in the customer history; answer once they are committed.

    The body is an ``EventsRequest``. Each row's result says ``stored`` (new), ``duplicate`` (the
    same shipment id, or interaction customer/timestamp/type, is stored already: nothing changes),
    ``updated`` (a profile replaced) or ``refused`` (with the field and the reason; other rows are
    stored all the same). Scoring by id (``POST /v1/scores`` with ``customer_ids``) reads them.
    """
    checked = await run_in_threadpool(_checked, await request.body())
    valid = {
        table: [_record(r) for r in items if not isinstance(r, list)] for table, items in checked.items()
    }
    counts: StoreCounts = await run_in_threadpool(
        HistoryStore(services.store.engine).store,
        shipment_rows(valid["shipments"]),
        interaction_rows(valid["interactions"]),
        profile_rows(valid["profiles"]),
        per_row=True,
    )
    # profiles are stored once per customer (the last row wins): a row's status is its customer's
    profile_ids = list({r["customer_id"]: None for r in valid["profiles"]})
    is_new = dict(zip(profile_ids, counts.stored_profiles, strict=True))
    results = {
        "shipments": _results(checked["shipments"], counts.stored_shipments, "stored", "duplicate"),
        "interactions": _results(checked["interactions"], counts.stored_interactions, "stored", "duplicate"),
        "profiles": _results(
            checked["profiles"], [is_new[r["customer_id"]] for r in valid["profiles"]], "stored", "updated"
        ),
    }
    every = [r.status for items in results.values() for r in items]
    return EventsResponse(
        request_id=request.state.request_id,
        stored=every.count("stored"),
        duplicates=every.count("duplicate"),
        updated=every.count("updated"),
        refused=every.count("refused"),
        **results,
    )
