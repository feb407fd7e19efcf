"""Scoring by id: a scoring request's batch built from the stored customer history.

``POST /v1/scores`` with ``{"as_of": ..., "customer_ids": [...]}`` and
``GET /v1/customers/{id}/score?fresh=true`` read each customer's history from the store
(:meth:`berth.history.HistoryStore.history`) as the same columns the body path decodes, and hand
them to the same scorer and the same prediction log.
"""

from __future__ import annotations

from datetime import date

from starlette.concurrency import run_in_threadpool

from berth.api.body import parse_body
from berth.api.convert import DecodedBatch
from berth.api.errors import ProblemError
from berth.api.schemas import ScoreByIdRequest
from berth.history import CustomerHistory, HistoryStore
from berth.store import Store

__all__ = ["is_by_id", "stored_batch", "stored_batch_of"]

_IDS_KEY = b'"customer_ids"'
_CUSTOMERS_KEY = b'"customers"'


def is_by_id(raw: bytes) -> bool:
    """Whether a scoring body is the ``customer_ids`` form (a history body names ``customers``)."""
    return _IDS_KEY in raw and _CUSTOMERS_KEY not in raw


async def stored_batch(raw: bytes, store: Store, limit: int) -> DecodedBatch | None:
    """The batch of a ``customer_ids`` body (None for any other body): 422 for a malformed one,
    413 above ``limit`` ids, 404 naming the ids without a stored shipment up to ``as_of``."""
    if not is_by_id(raw):
        return None
    request = parse_body(ScoreByIdRequest, raw)
    if len(request.customer_ids) > limit:
        raise ProblemError(
            413,
            f"batch of {len(request.customer_ids)} customers exceeds the limit of {limit} customers "
            "per request",
            kind="batch-too-large",
            extra={"limit": limit},
        )
    return await stored_batch_of(store, request.customer_ids, request.as_of)


async def stored_batch_of(store: Store, customer_ids: list[str], as_of: date) -> DecodedBatch:
    """The stored history of ``customer_ids`` up to ``as_of`` as a batch; 404 naming unknown ids."""
    history: CustomerHistory = await run_in_threadpool(
        HistoryStore(store.engine).history, customer_ids, as_of
    )
    if history.missing:
        shown = ", ".join(repr(i) for i in history.missing[:20])
        more = f" and {len(history.missing) - 20} more" if len(history.missing) > 20 else ""
        raise ProblemError(
            404,
            f"no stored shipment up to {as_of} for customer id(s) {shown}{more}",
            kind="unknown-customers",
            extra={"customer_ids": history.missing},
        )
    return DecodedBatch(
        as_of=as_of,
        customer_ids=history.customer_ids,
        columns=history.columns,
        shipment_starts=history.shipment_starts,
        interaction_starts=history.interaction_starts,
    )
