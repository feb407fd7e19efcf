"""Dynamic batching of small scoring requests: one scoring thread, requests that wait together
are scored together.

A request of one customer spends most of its scoring time in per-call overhead: a feature is a
handful of NumPy calls whatever the number of customers, so four customers cost about 1.6 times
one (``benchmarks/bench_serving.py``). Small requests therefore queue for one scoring thread; a
request finding it idle is scored at once, and the requests that arrive while it works are
scored together in its next call, by the same scorer and the same code as one alone. One thread
also spares the GIL contention of a worker thread per request.

Requests are only scored together when they share the model snapshot and ``as_of`` and name
different customers; each gets exactly its own customers back, checked by
:func:`berth.api.convert.to_outputs`. If a joint call fails, each request of it is scored alone,
so one request's failure is never another's. Every request keeps its own time limit; a joint
call that outlives the limit is abandoned (its thread finishes in the background) and the next
requests are served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import anyio.to_thread
import numpy as np

from berth._logging import get_logger
from berth.api import wire
from berth.api.convert import to_outputs
from berth.api.holder import LoadedModel
from berth.api.schemas import CustomerScoreOut
from berth.scoring import ColumnTables, CustomerScore

log = get_logger(__name__)

# Requests up to SMALL_BODY_BYTES are queued; a joint call scores at most this many customers from
# at most this many bytes of JSON (tens of milliseconds at most).
SMALL_BODY_BYTES: Final = 64 * 1024
MAX_BATCH_CUSTOMERS: Final = 64
MAX_BATCH_BYTES: Final = 256 * 1024


@dataclass
class _Job:
    model: LoadedModel
    body: wire.ScoreRequest
    columns: ColumnTables
    size: int
    done: asyncio.Future[list[CustomerScoreOut]]
    ids: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = frozenset(c.customer_id for c in self.body.customers)


Outcome = list[CustomerScoreOut] | Exception


class ScoreBatcher:
    """Queues small requests for one scoring thread and scores those that wait together at once."""

    def __init__(
        self,
        *,
        timeout_s: float,
        max_customers: int = MAX_BATCH_CUSTOMERS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._timeout_s = timeout_s
        self._max_customers = max_customers
        self._max_bytes = max_bytes
        self._pending: list[_Job] = []
        self._drain_task: asyncio.Task[None] | None = None
        self.calls = 0  # scorer calls made (tests)

    async def score(
        self, model: LoadedModel, body: wire.ScoreRequest, columns: ColumnTables, size: int
    ) -> list[CustomerScoreOut]:
        """The checked outputs of ``body`` (validated, as ``columns``), scored with ``model``.

        Raises TimeoutError after ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        job = _Job(model, body, columns, size, loop.create_future())
        self._pending.append(job)
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = loop.create_task(self._drain())
        with anyio.fail_after(self._timeout_s):
            return await job.done  # cancelled on timeout: the scoring thread then skips it

    async def _drain(self) -> None:
        try:
            while self._pending:
                jobs, self._pending = self._pending, []
                groups = self._groups(jobs)
                with anyio.move_on_after(self._timeout_s):
                    outcomes = await anyio.to_thread.run_sync(
                        self._score_groups, groups, abandon_on_cancel=True
                    )
                    for job, outcome in outcomes:
                        _settle(job, outcome)
        except Exception as exc:  # never leave a request waiting on a broken loop
            log.error("scoring queue failed", error=repr(exc))
            for job in self._pending:
                _settle(job, exc)
            self._pending = []

    def _groups(self, jobs: Sequence[_Job]) -> list[list[_Job]]:
        groups: list[list[_Job]] = []
        for job in jobs:
            if job.done.done():  # timed out or cancelled while queued
                continue
            for group in groups:
                head = group[0]
                if (
                    head.model is job.model
                    and head.body.as_of == job.body.as_of
                    and sum(len(j.ids) for j in group) + len(job.ids) <= self._max_customers
                    and sum(j.size for j in group) + job.size <= self._max_bytes
                    and not any(j.ids & job.ids for j in group)
                ):
                    group.append(job)
                    break
            else:
                groups.append([job])
        return groups

    def _score_groups(self, groups: Sequence[list[_Job]]) -> list[tuple[_Job, Outcome]]:
        """In the scoring thread: the outcome of every job (futures are settled on the loop)."""
        outcomes: list[tuple[_Job, Outcome]] = []
        for group in groups:
            outcomes.extend(self._score_group(group))
        return outcomes

    def _score_group(self, group: list[_Job]) -> list[tuple[_Job, Outcome]]:
        head = group[0]
        try:
            columns = head.columns if len(group) == 1 else merge_columns([j.columns for j in group])
            self.calls += 1
            results = head.model.scorer.score(columns, head.body.as_of)
        except Exception as exc:
            if len(group) == 1:
                return [(head, exc)]
            log.warning("joint scoring failed; scoring each request alone", error=repr(exc))
            return [outcome for job in group for outcome in self._score_group([job])]
        if len(group) == 1:
            return [(head, _outputs(head, results))]  # to_outputs judges exactly what was returned
        by_id = {score.customer_id: score for score in results}
        return [(job, _outputs(job, [by_id[i] for i in job.ids if i in by_id])) for job in group]


def _outputs(job: _Job, results: Sequence[CustomerScore]) -> Outcome:
    try:
        return to_outputs(job.body, results)
    except Exception as exc:
        return exc


def _settle(job: _Job, outcome: Outcome) -> None:
    if job.done.done():
        return
    if isinstance(outcome, Exception):
        job.done.set_exception(outcome)
    else:
        job.done.set_result(outcome)


def merge_columns(tables: Sequence[ColumnTables]) -> dict[str, dict[str, Any]]:
    """The column tables of several requests end to end (same tables and columns in each)."""
    merged: dict[str, dict[str, Any]] = {}
    for name, first in tables[0].items():
        columns: dict[str, Any] = {}
        for column, values in first.items():
            parts = [table[name][column] for table in tables]
            if isinstance(values, np.ndarray):
                columns[column] = np.concatenate(parts)
            else:
                columns[column] = [value for part in parts for value in part]
        merged[name] = columns
    return merged
