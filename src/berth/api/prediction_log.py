"""The prediction-log writer: one thread, batched inserts, durable by default.

Requests hand a :class:`PendingPredictions` to :meth:`PredictionLogWriter.submit`; one thread
hashes the inputs and inserts the rows in batches (one executemany per batch).

**Durable mode** (the default): each pending entry carries a future that the writer completes
once its batch is committed, and the route answers only then, so a 2xx response means its rows
are stored. Requests that arrive while a batch commits are taken together in the next one (group
commit): under load one commit serves many responses. A batch that still fails after retries
fails its futures, and those requests answer 503 (nothing acknowledged, nothing lost silently).
**Async mode** (``BERTH_PREDICTION_LOG_MODE=async``, opt-in for deployments that accept losing
the last rows on a crash): responses do not wait; the writer lingers (``linger_s``) to collect
bigger batches and defers to large requests in progress (``defer_s``).

The backlog (rows and bytes submitted and not yet written) is bounded: :meth:`admits` says whether
a request of that size fits, and the route answers 503 with ``Retry-After`` when it does not.
When the queue is full, ``submit`` returns False and the caller writes synchronously. ``close``
drains the queue on shutdown. Rows that could not be written are counted
(``berth_prediction_log_dropped_total``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from berth._logging import get_logger
from berth.api.convert import DecodedBatch, log_outputs
from berth.api.hashing import input_hashes
from berth.api.wire import CustomerScoreOut
from berth.store import PredictionLogEntry, Store

log = get_logger(__name__)

_RETRY_DELAYS = (0.05, 0.25, 1.0)


class _GilYield:
    """Lets the event loop thread run once the writer has held the GIL for ``every_s`` (hashing and
    inserting a large batch would hold it for tens of milliseconds otherwise). Not after every
    request's rows: each hand-off costs the event loop a thread switch, which under load cost more
    throughput than the writer's own work."""

    def __init__(
        self,
        every_s: float = 0.002,
        clock: Callable[[], float] = time.perf_counter,
        hand_off: Callable[[], None] = lambda: time.sleep(0),
    ) -> None:
        self._every_s = every_s
        self._clock = clock
        self._hand_off = hand_off
        self._since = clock()

    def __call__(self) -> None:
        if self._clock() - self._since >= self._every_s:
            self._hand_off()
            self._since = self._clock()


class _Foreground:
    """Counts the large requests in progress; the writer waits for none to be left, up to a deadline."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = threading.Condition()

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                if self._running == 0:
                    self._idle.notify_all()

    def wait_idle(self, deadline: float) -> None:
        """Return when no large request runs, or at ``deadline`` (``time.monotonic``)."""
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, timeout=max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class PendingPredictions:
    """The predictions of one 2xx scoring response, not yet written."""

    request_id: str
    model_name: str
    model_version: str
    batch: DecodedBatch
    scores: Sequence[CustomerScoreOut]
    created_at: datetime
    body_bytes: int = 0  # the request body's size: what the backlog bound counts
    bundle_hash: str | None = None  # content hash of the bundle that scored (as verified at load)
    client_request_id: str | None = None  # the caller's X-Request-ID (correlation, not unique)
    written: Future[None] = field(default_factory=Future, compare=False, repr=False)

    @property
    def rows(self) -> int:
        """Log rows these predictions make (one per customer)."""
        return len(self.batch.customer_ids)

    def entries(self) -> list[PredictionLogEntry]:
        """One log row per customer (hashing happens here, off the request path)."""
        return [
            PredictionLogEntry(
                request_id=self.request_id,
                customer_id=customer_id,
                model_version=self.model_version,
                input_hash=digest,
                outputs=log_outputs(score, self.model_name),
                created_at=self.created_at,
                bundle_hash=self.bundle_hash,
                client_request_id=self.client_request_id,
            )
            for customer_id, digest, score in zip(
                self.batch.customer_ids, input_hashes(self.batch), self.scores, strict=True
            )
        ]


class PredictionLogUnavailableError(RuntimeError):
    """The prediction log could not store a request's rows."""


def _complete(pending: PendingPredictions, error: str | None) -> None:
    """Complete an entry's future, unless its request gave up waiting (cancelled) or it already is
    (the same entry submitted twice)."""
    future = pending.written
    try:
        if not future.set_running_or_notify_cancel():
            return
    except RuntimeError:  # already running or finished
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(PredictionLogUnavailableError(error))


@dataclass
class Reservation:
    """Backlog bytes held for a request between its admission and its submission."""

    writer: PredictionLogWriter
    body_bytes: int
    released: bool = False

    def release(self) -> None:
        """Give the bytes back (once)."""
        if not self.released:
            self.released = True
            self.writer._release(self.body_bytes)


class PredictionLogWriter:
    """One daemon thread writing queued predictions in batches."""

    def __init__(
        self,
        store: Store,
        *,
        max_pending: int = 10_000,
        batch_rows: int = 2_000,
        linger_s: float = 0.05,
        defer_s: float = 0.5,
        on_drop: Callable[[int], None] | None = None,
        max_backlog_rows: int = 200_000,
        max_backlog_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self._store = store
        self._max_rows = max_backlog_rows
        self._max_bytes = max_backlog_bytes
        self._backlog_rows = 0
        self._backlog_bytes = 0
        self._linger_s = linger_s
        self._defer_s = defer_s
        self._foreground = _Foreground()
        self._wake = threading.Event()
        self._queue: queue.Queue[PendingPredictions | None] = queue.Queue(maxsize=max_pending)
        self._batch_rows = batch_rows
        self._on_drop = on_drop
        self._unfinished = 0
        self._closed = False
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="berth-prediction-log", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    @property
    def backlog(self) -> tuple[int, int]:
        """(rows, bytes) submitted and not yet written."""
        with self._idle:
            return self._backlog_rows, self._backlog_bytes

    def admits(self, rows: int, body_bytes: int) -> bool:
        """Whether a request of this size fits in the backlog bound (an empty backlog admits any)."""
        with self._idle:
            return self._fits(rows, body_bytes)

    def _fits(self, rows: int, body_bytes: int) -> bool:  # the caller holds self._idle
        if self._backlog_rows == 0 and self._backlog_bytes == 0:
            return True
        return (
            self._backlog_rows + rows <= self._max_rows
            and self._backlog_bytes + body_bytes <= self._max_bytes
        )

    def reserve(self, body_bytes: int) -> Reservation | None:
        """Count a request's bytes in the backlog from its admission (None: over the bound).

        Released by the caller once the request's rows are submitted (they count from then) or
        when it fails before; releasing twice is harmless."""
        with self._idle:
            if not self._fits(0, body_bytes):
                return None
            self._backlog_bytes += body_bytes
        return Reservation(self, body_bytes)

    def _release(self, body_bytes: int) -> None:
        with self._idle:
            self._backlog_bytes -= body_bytes

    def submit(self, pending: PendingPredictions) -> bool:
        """Queue predictions; False when the queue is full or closed (then call :meth:`write_now`).
        ``pending.written`` completes when the rows are committed (or fails when they cannot be)."""
        with self._idle:
            if self._closed:
                return False
            self._unfinished += 1
            self._backlog_rows += pending.rows
            self._backlog_bytes += pending.body_bytes
            try:
                self._queue.put_nowait(pending)  # under the lock: never after close()'s stop marker
            except queue.Full:
                full = True
            else:
                full = False
        if full:
            self._done([pending])
            return False
        return True

    def foreground(self) -> AbstractContextManager[None]:
        """Wrap a large request's work: while one runs, the writer waits (at most ``defer_s`` per
        batch of rows), so its hashing and inserts do not take a core from a request that uses both."""
        return self._foreground.running()

    def write_now(self, pending: PendingPredictions) -> None:
        """Write predictions in the calling thread (back-pressure path)."""
        self._store.log_predictions(pending.entries())

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is written; False on timeout."""
        self._wake.set()
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout=timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Drain the queue and stop the thread; entries it could not write are failed, not left waiting."""
        with self._idle:
            self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("prediction log writer did not stop in time", pending=self._unfinished)
                return
        self._fail_queued("the prediction-log writer stopped")

    def _fail_queued(self, reason: str) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._done([item])
                _complete(item, reason)

    def _done(self, batch: Sequence[PendingPredictions]) -> None:
        with self._idle:
            self._unfinished -= len(batch)
            self._backlog_rows -= sum(p.rows for p in batch)
            self._backlog_bytes -= sum(p.body_bytes for p in batch)
            if self._unfinished == 0:
                self._idle.notify_all()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            if self._linger_s > 0:
                self._wake.wait(self._linger_s)  # let a batch build up (flush and close cut it short)
                self._wake.clear()
            batch = [first]
            rows = first.rows
            while rows < self._batch_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                rows += item.rows
            try:
                error = self._write(batch)
            except Exception as exc:  # never let the thread die with requests waiting on it
                log.error("prediction log writer failed", error=repr(exc))
                error = f"the writer failed: {type(exc).__name__}"
            self._done(batch)
            for pending in batch:
                _complete(pending, error)

    def _write(self, batch: list[PendingPredictions]) -> str | None:
        """Write a batch; None when committed, else why not (the rows are counted as dropped)."""
        entries: list[PredictionLogEntry] = []
        deadline = time.monotonic() + self._defer_s
        hand_off = _GilYield()

        def yield_gil() -> None:  # between steps: let the event loop run, and large requests finish
            hand_off()
            self._foreground.wait_idle(deadline)

        try:
            for pending in batch:
                yield_gil()
                entries.extend(pending.entries())
        except Exception as exc:  # a bug in hashing must not kill the writer
            log.error("prediction log entries failed", error=repr(exc))
            self._drop(sum(p.rows for p in batch))
            return f"hashing failed: {type(exc).__name__}"
        for attempt, delay in enumerate((*_RETRY_DELAYS, None)):
            try:
                self._store.log_predictions(entries, on_chunk=yield_gil)
                return None
            except Exception as exc:
                if delay is None:
                    log.error("prediction log write failed", rows=len(entries), error=repr(exc))
                    self._drop(len(entries))
                    return f"the database refused the rows: {type(exc).__name__}"
                log.warning("prediction log write retry", attempt=attempt + 1, error=type(exc).__name__)
                time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns")

    def _drop(self, rows: int) -> None:
        if self._on_drop is not None:
            self._on_drop(rows)
