"""POST /v1/scores: happy path, validation, limits, time-outs and the prediction log."""

from __future__ import annotations

import copy
import hashlib
import json
import struct
import threading
import time
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pyarrow
import pytest

from berth.api.columnar import decode_columns
from berth.api.convert import DecodedBatch
from berth.api.hashing import input_hashes
from berth.api.routes.scores import INLINE_MAX_CUSTOMERS
from berth.api.wire import decode
from berth.errors import DataContractError
from berth.scoring import CustomerScore

from .conftest import Api, MakeApi, assert_problem
from .fakes import FakeScorer
from .payloads import AS_OF, batch, customer


def test_scores_one_customer(api: Api) -> None:
    response = api.score()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "berth-churn"
    assert body["model_version"] == "1"
    assert body["as_of"] == AS_OF.isoformat()
    assert body["request_id"] == response.headers["x-request-id"]
    [score] = body["scores"]
    assert score["customer_id"] == "C-0"
    assert 0 <= score["churn_probability"] <= 1
    assert score["risk_band"] in {"low", "medium", "high", "critical"}
    assert score["partial_churn_probability"] == pytest.approx(score["churn_probability"] / 2, abs=1e-6)
    assert score["eligible"] is True
    assert {d["name"] for d in score["drivers"]} == {"rhythm", "volume"}
    assert score["drivers"][0]["label_zh"] == "发货节奏与最近一次发货"
    # the loyalty, value and taxonomy half travels with every score
    assert score["tier_current"] == "gold"
    assert score["tier_probabilities"]["silver"] == 0.25
    assert score["p_alive"] == pytest.approx(1 - score["churn_probability"], abs=1e-6)
    assert score["clv"] > 0
    assert score["activity_state"] in {"active", "dozing"}
    assert score["relationship_level"] == "unknown"


def test_scores_keep_request_order(api: Api) -> None:
    body = {"as_of": AS_OF.isoformat(), "customers": [customer(c) for c in ("Z", "A", "M")]}
    response = api.score(body)
    assert [s["customer_id"] for s in response.json()["scores"]] == ["Z", "A", "M"]


def test_scorer_receives_canonical_column_tables(make_api: MakeApi) -> None:
    seen: dict[str, Any] = {}

    class Spy(FakeScorer):
        def score(self, tables: Any, as_of: Any, **_: Any) -> list[CustomerScore]:
            seen.update(tables=copy.deepcopy(tables), as_of=as_of)
            return super().score(tables, as_of)

    api = make_api(scorer=Spy())
    assert api.score().status_code == 200
    tables = seen["tables"]
    assert seen["as_of"] == AS_OF
    assert set(tables) == {"shipments", "interactions", "customers"}
    assert _values(tables["shipments"]["customer_id"]) == ["C-0"] * 3
    assert tables["shipments"]["damaged"].tolist() == [0.0] * 3  # numbers as float64 arrays
    # text: a list, an object array or an Arrow string array (the columnar decoder's), None missing
    assert _values(tables["shipments"]["shipment_id"]) == [None] * 3
    interactions = tables["interactions"]
    assert _values(interactions["type"]) == ["complaint", "survey"]
    np.testing.assert_array_equal(interactions["sentiment"], [-1.0, np.nan])
    # zoned timestamps become naive UTC
    assert interactions["timestamp"][0] == np.datetime64("2025-06-01T08:00:00")
    assert _values(tables["customers"]["contract"]) == [True]
    lengths = {len(column) for table in tables.values() for column in table.values()}
    assert lengths <= {1, 2, 3}


def _values(column: Any) -> list[Any]:
    return column.to_pylist() if isinstance(column, pyarrow.Array) else list(column)


def test_request_ids_are_unique_and_the_callers_id_is_kept_beside(api: Api) -> None:
    first = api.score(headers={"X-Request-ID": "crm-123.abc"})
    again = api.score(headers={"X-Request-ID": "crm-123.abc"})  # a client reusing its id
    for response in (first, again):
        assert response.headers["x-client-request-id"] == "crm-123.abc"
        assert response.json()["client_request_id"] == "crm-123.abc"
        assert response.json()["request_id"] == response.headers["x-request-id"]
    assert first.json()["request_id"] != again.json()["request_id"]
    store = api.services.store
    api.services.writer.flush()
    logged = [store.predictions(r.json()["request_id"]) for r in (first, again)]
    assert [len(rows) for rows in logged] == [1, 1]
    assert {row.client_request_id for rows in logged for row in rows} == {"crm-123.abc"}
    assert {row.bundle_hash for rows in logged for row in rows} == {"0" * 64}  # the fake's content hash
    unsafe = api.score(headers={"X-Request-ID": "bad id with spaces"})
    assert "x-client-request-id" not in unsafe.headers
    assert unsafe.json()["client_request_id"] is None
    assert len(unsafe.headers["x-request-id"]) == 32


def test_one_prediction_log_row_per_scored_customer(make_api: MakeApi) -> None:
    api = make_api()
    store = api.services.store
    ids = []
    for n in (1, 3, 5):
        response = api.score(batch(n))
        assert response.status_code == 200
        ids.append((response.json()["request_id"], n))
    assert api.score(batch(2), key="wrong").status_code == 401  # not served: not logged
    bad = batch(2)
    bad["customers"][1]["customer_id"] = "C-0"
    assert api.score(bad).status_code == 422
    assert api.services.writer.flush(timeout=10)
    assert store.count_predictions() == 9
    for request_id, n in ids:
        rows = store.predictions(request_id)
        assert [r.customer_id for r in rows] == [f"C-{i}" for i in range(n)]
        assert all(r.model_version == "1" for r in rows)
    first = store.predictions(ids[0][0])[0]
    (expected,) = input_hashes(DecodedBatch.from_request(decode(json.dumps(batch(1)))))
    assert first.input_hash == expected
    assert first.outputs["model_name"] == "berth-churn"
    assert first.outputs["risk_band"] in {"low", "medium", "high", "critical"}


def test_prediction_log_is_flushed_on_shutdown(make_api: MakeApi, db_url: str) -> None:
    from berth.store import Store

    api = make_api()
    for _ in range(20):
        assert api.score(batch(2)).status_code == 200
    api.client.__exit__(None, None, None)  # lifespan shutdown drains the writer
    store = Store(db_url)
    try:
        assert store.count_predictions() == 40
    finally:
        store.dispose()


def test_full_writer_queue_writes_in_the_request(make_api: MakeApi) -> None:
    api = make_api(prediction_log_queue=1)
    api.services.writer.close()  # a closed writer refuses work: every request writes itself
    for _ in range(3):
        assert api.score(batch(2)).status_code == 200
    assert api.services.store.count_predictions() == 6


def test_a_2xx_response_means_its_rows_are_already_stored(make_api: MakeApi) -> None:
    """Durable mode (the default): the response waits for the commit, so no flush is needed."""
    api = make_api()
    for n in (1, 4):
        response = api.score(batch(n))
        assert response.status_code == 200
        assert len(api.services.store.predictions(response.json()["request_id"])) == n


def test_rows_that_cannot_be_stored_are_not_served(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api()

    def refuse(rows: Any, on_chunk: Any = None) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(api.services.store, "log_predictions", refuse)
    monkeypatch.setattr("berth.api.prediction_log._RETRY_DELAYS", (0.01,))
    response = api.score(batch(2))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "not served" in response.json()["detail"]


def test_a_full_backlog_answers_503_with_retry_after(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api()
    monkeypatch.setattr(api.services.writer, "reserve", lambda body_bytes: None)
    response = api.score(batch(1))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert api.services.store.count_predictions() == 0


def test_the_backlog_bound_counts_rows_and_bytes_until_written() -> None:
    from datetime import UTC, datetime

    from berth.api.convert import to_outputs
    from berth.api.prediction_log import PendingPredictions, PredictionLogWriter

    release = threading.Event()

    class SlowStore:
        def log_predictions(self, rows: Any, on_chunk: Any = None) -> None:
            release.wait(5)

    decoded = decode_columns(json.dumps(batch(3)).encode())
    assert decoded is not None
    scores = to_outputs(decoded.customer_ids, FakeScorer().score(decoded.columns, decoded.as_of))
    writer = PredictionLogWriter(
        SlowStore(), linger_s=0, defer_s=0, max_backlog_rows=5, max_backlog_bytes=10_000
    )  # type: ignore[arg-type]
    writer.start()
    try:
        assert writer.admits(100, 10**9), "an empty backlog admits any request"
        first = PendingPredictions("a", "m", "1", decoded, scores, datetime.now(UTC), body_bytes=4_000)
        assert writer.submit(first)
        assert writer.backlog == (3, 4_000)
        assert writer.admits(2, 6_000)
        assert not writer.admits(3, 10)  # 6 rows > 5
        assert not writer.admits(1, 6_001)  # bytes
        release.set()
        first.written.result(timeout=5)
        assert writer.flush(timeout=5)
        assert writer.backlog == (0, 0)
    finally:
        release.set()
        writer.close()


def test_a_request_that_gave_up_waiting_does_not_stop_the_writer() -> None:
    """A cancelled future (the client went away) is skipped; later entries still complete, and
    entries queued when the writer closes are failed rather than left waiting."""
    from datetime import UTC, datetime

    from berth.api.convert import to_outputs
    from berth.api.prediction_log import (
        PendingPredictions,
        PredictionLogUnavailableError,
        PredictionLogWriter,
    )

    class Store:
        def log_predictions(self, rows: Any, on_chunk: Any = None) -> None:
            time.sleep(0.05)

    decoded = decode_columns(json.dumps(batch(1)).encode())
    assert decoded is not None
    scores = to_outputs(decoded.customer_ids, FakeScorer().score(decoded.columns, decoded.as_of))

    def entry() -> PendingPredictions:
        return PendingPredictions("r", "m", "1", decoded, scores, datetime.now(UTC))

    writer = PredictionLogWriter(Store(), linger_s=0, defer_s=0)  # type: ignore[arg-type]
    writer.start()
    try:
        gone = entry()
        assert writer.submit(gone)
        gone.written.cancel()
        later = entry()
        assert writer.submit(later)
        later.written.result(timeout=5)
        reservation = writer.reserve(1_000)
        assert reservation is not None
        assert writer.backlog == (0, 1_000)
        reservation.release()
        reservation.release()
        assert writer.backlog == (0, 0)
    finally:
        writer.close()
    stranded = entry()
    assert not writer.submit(stranded), "a closed writer refuses work"
    # an entry still queued when the thread is gone is failed by close()
    dead = PredictionLogWriter(Store(), linger_s=0, defer_s=0)  # type: ignore[arg-type]
    queued = entry()
    assert dead.submit(queued)
    dead.close()
    with pytest.raises(PredictionLogUnavailableError):
        queued.written.result(timeout=1)


def test_input_hash_format() -> None:
    """The canonical bytes of docs/api.md, written out for a one-shipment customer."""
    raw = json.dumps(
        {
            "as_of": "2025-06-30",
            "customers": [
                {
                    "shipments": [{"volume": 1, "shipment_date": "2025-01-02", "lane": None}],
                    "customer_id": "C",
                }
            ],
        }
    )
    nan, nat = struct.pack("<d", float("nan")), struct.pack("<q", -(2**63))
    day = (date(2025, 1, 2) - date(1970, 1, 1)).days
    canonical = b"".join(
        [
            b"berth-input-v2\x00",
            struct.pack("<qqq", (AS_OF - date(1970, 1, 1)).days, 1, 0),
            struct.pack("<i", 1) + b"C",
            nan + nan + nat,  # contract, loyalty_member, since
            struct.pack("<i", -1) * 4,  # account_manager, credit_rating, region, segment
            nan * 4 + struct.pack("<q", day) + struct.pack("<d", 1.0),  # cost ... shipment_date, volume
            struct.pack("<i", -1) * 4,  # cargo_type, channel, lane, shipment_id: one null each
        ]
    )
    expected = hashlib.sha256(canonical).hexdigest()
    assert input_hashes(DecodedBatch.from_request(decode(raw))) == [expected]
    columnar = decode_columns(raw.encode())
    assert columnar is not None
    assert input_hashes(columnar) == [expected]


def test_input_hash_is_canonical() -> None:
    """Spelled differently, decoded either way: one hash; another as_of or value: another hash."""
    a = customer("C-1")
    b = json.loads(json.dumps(a))
    b["profile"] = dict(reversed(list(b["profile"].items())))
    b["shipments"][0]["shipment_id"] = None  # explicit null == missing
    b["shipments"][0]["volume"] = 10  # 10 == 10.0
    b["interactions"][0]["timestamp"] = "2025-06-01T08:00:00Z"  # the same instant as 10:00+02:00
    b["interactions"][0]["sentiment"] = -1.0  # the number the word "negative" stands for
    bodies = [json.dumps({"as_of": str(AS_OF), "customers": [x]}) for x in (a, b)]
    hashes = set()
    for raw in bodies:
        hashes.update(input_hashes(DecodedBatch.from_request(decode(raw))))
        columnar = decode_columns(raw.encode())
        if columnar is not None:
            hashes.update(input_hashes(columnar))
    assert len(hashes) == 1
    other_day = json.dumps({"as_of": "2025-06-29", "customers": [a]})
    assert input_hashes(DecodedBatch.from_request(decode(other_day))) != list(hashes)
    c = json.loads(json.dumps(a))
    c["shipments"][0]["volume"] = 10.5
    changed = json.dumps({"as_of": str(AS_OF), "customers": [c]})
    assert input_hashes(DecodedBatch.from_request(decode(changed))) != list(hashes)


DELETE = object()


def _with(path: str, value: Any) -> dict[str, Any]:
    """batch(2) with ``value`` set (or DELETE'd) at a dotted path (``customers.0.shipments.1.volume``)."""
    body = batch(2)
    *parents, leaf = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[leaf]
    else:
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "kind"),
    [
        ("customers.0.extra", 1, "extra_forbidden"),
        ("customers.1.shipments.0.colour", "red", "extra_forbidden"),
        ("customers.0.shipments.1.volume", -1.0, "greater_than_equal"),
        ("customers.0.shipments.0.revenue", -5, "greater_than_equal"),
        ("customers.0.shipments.0.cost", -0.1, "greater_than_equal"),
        ("customers.0.shipments.0.delay_hours", -3, "greater_than_equal"),
        ("customers.0.shipments.0.volume", "12", "float_type"),
        ("customers.0.interactions.1.score", 11, "less_than_equal"),
        ("customers.0.interactions.1.score", -1, "greater_than_equal"),
        ("customers.0.interactions.0.type", "tweet", "literal_error"),
        ("customers.0.shipments.0.shipment_date", "2025-13-01", "date_parsing"),
        ("customers.0.shipments.0.shipment_date", "yesterday", "date_parsing"),
        ("customers.0.shipments.0.shipment_date", 1735689600, "date_type"),
        ("customers.0.shipments.0.shipment_date", "1800-01-01", "greater_than_equal"),
        ("customers.0.shipments.0.shipment_date", "2025-07-01", "date_after_as_of"),
        ("customers.1.interactions.1.timestamp", "2025-07-01T00:00:00Z", "date_after_as_of"),
        ("customers.0.interactions.0.resolved_at", "2025-07-02T00:00:00Z", "date_after_as_of"),
        ("customers.0.interactions.0.resolved_at", "2025-05-01T00:00:00Z", "resolved_too_early"),
        ("customers.0.profile.since", "2026-01-01", "date_after_as_of"),
        ("customers.1.customer_id", "C-0", "duplicate_customer"),
        ("customers.0.customer_id", "", "string_too_short"),
        ("customers.0.shipments", [], "too_short"),
        ("customers", [], "too_short"),
        ("as_of", "30/06/2025", "date_parsing"),
        ("as_of", DELETE, "missing"),
        ("customers.0.profile.loyalty_member", "yes", "bool_type"),
        ("customers.0.profile.contract", "annual", "bool_type"),
        ("customers.0.interactions.1.timestamp", "2025-06-10", "datetime_parsing"),
        ("customers.0.interactions.1.timestamp", "1899-12-31T23:00:00Z", "datetime_out_of_range"),
        ("customers.0.shipments.0.damaged", 1, "bool_type"),
    ],
)
def test_invalid_bodies_are_422_with_field_paths(api: Api, path: str, value: Any, kind: str) -> None:
    loc = ["body", *(int(part) if part.isdigit() else part for part in path.split("."))]
    problem = assert_problem(api.score(_with(path, value)), 422, "validation-error")
    issues = problem["errors"]
    assert any(issue["loc"] == loc and issue["type"] == kind for issue in issues), issues
    issue = next(i for i in issues if i["loc"] == loc)
    assert issue["pointer"] == "/" + "/".join(str(p) for p in loc[1:])
    assert issue["msg"]
    assert "input" not in issue  # inputs are never echoed back


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(api: Api, token: str) -> None:
    text = json.dumps(batch(1)).replace('"volume": 10.0', f'"volume": {token}')
    assert token in text
    response = api.client.post(
        "/v1/scores", content=text, headers={**api.headers(), "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "customers", 0, "shipments", 0, "volume"]
    assert problem["errors"][0]["type"] == "finite_number"


def test_malformed_json_is_422(api: Api) -> None:
    response = api.client.post(
        "/v1/scores", content=b'{"as_of": ', headers={**api.headers(), "Content-Type": "application/json"}
    )
    assert assert_problem(response, 422)["errors"][0]["type"] == "json_invalid"


def test_all_issues_are_reported_at_once(api: Api) -> None:
    body = _with("customers.0.shipments.0.shipment_date", "2025-07-01")
    body["customers"][1]["shipments"][2]["shipment_date"] = "2025-08-01"
    problem = assert_problem(api.score(body), 422)
    assert len(problem["errors"]) == 2
    assert "(and 1 more)" in problem["detail"]


def test_batch_above_limit_is_413_with_the_limit(make_api: MakeApi) -> None:
    api = make_api(max_batch_size=3)
    assert api.score(batch(3)).status_code == 200
    body = batch(4)
    body["customers"][3]["shipments"] = "not even a list"  # the count is checked before validation
    problem = assert_problem(api.score(body), 413, "batch-too-large")
    assert "limit of 3 customers" in problem["detail"]
    assert problem["limit"] == 3


def test_body_above_limit_is_413(make_api: MakeApi) -> None:
    api = make_api(max_body_bytes=2048)
    problem = assert_problem(api.score(batch(10)), 413, "content-too-large")
    assert "2048 bytes" in problem["detail"]


def test_streamed_body_above_limit_is_413(make_api: MakeApi) -> None:
    api = make_api(max_body_bytes=2048)
    payload = json.dumps(batch(10)).encode()

    def chunks() -> Any:
        for start in range(0, len(payload), 512):
            yield payload[start : start + 512]

    response = api.client.post(
        "/v1/scores", content=chunks(), headers={**api.headers(), "Content-Type": "application/json"}
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_body_is_415(api: Api, content_type: str | None) -> None:
    headers = api.headers()
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = api.client.post("/v1/scores", content=json.dumps(batch()).encode(), headers=headers)
    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in problem["detail"]


def test_json_with_charset_is_accepted(api: Api) -> None:
    response = api.client.post(
        "/v1/scores",
        content=json.dumps(batch()).encode(),
        headers={**api.headers(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_slow_model_is_504(make_api: MakeApi) -> None:
    api = make_api(scorer=FakeScorer(delay_s=1.0), request_timeout_s=0.05, inline_scoring_max_bytes=0)
    problem = assert_problem(api.score(), 504, "timeout")
    assert "0.05 s" in problem["detail"]
    assert api.services.writer.flush(timeout=5)
    assert api.services.store.count_predictions() == 0


@pytest.mark.parametrize(
    ("inline_max", "customers", "in_worker_thread"),
    [
        (64 * 1024, 1, False),
        (64 * 1024, INLINE_MAX_CUSTOMERS, False),
        (64 * 1024, INLINE_MAX_CUSTOMERS + 1, True),
        (0, 1, True),
    ],
)
def test_small_bodies_are_scored_on_the_event_loop(
    make_api: MakeApi, inline_max: int, customers: int, in_worker_thread: bool
) -> None:
    """A body of at most ``inline_scoring_max_bytes`` and INLINE_MAX_CUSTOMERS customers skips the
    thread hop; any other goes to a worker thread, where the request timeout applies."""
    threads: list[str] = []

    def record(scores: list[CustomerScore]) -> list[CustomerScore]:
        threads.append(threading.current_thread().name)
        return scores

    api = make_api(scorer=FakeScorer(transform=record), inline_scoring_max_bytes=inline_max)
    response = api.score(batch(customers))
    assert response.status_code == 200
    assert len(response.json()["scores"]) == customers
    assert threads
    assert all(("AnyIO worker" in name) is in_worker_thread for name in threads)


def test_model_error_is_500_without_trace(make_api: MakeApi) -> None:
    def explode(scores: list[CustomerScore]) -> list[CustomerScore]:
        raise KeyError("secret internal detail")

    api = make_api(scorer=FakeScorer(transform=explode), raise_server_exceptions=False)
    problem = assert_problem(api.score(), 500, "internal-error")
    assert "secret" not in json.dumps(problem)
    assert problem["request_id"] in problem["detail"]


@pytest.mark.parametrize(
    "transform",
    [
        lambda s: [replace(x, churn_probability=float("nan")) for x in s],
        lambda s: [replace(x, churn_probability=1.5) for x in s],
        lambda s: [replace(x, risk_band="extreme") for x in s],
        lambda s: s[:-1],
        lambda s: [*s, replace(s[0], customer_id="ghost")],
    ],
    ids=["nan", "above-one", "band", "missing", "extra"],
)
def test_invalid_model_output_is_500(make_api: MakeApi, transform: Any) -> None:
    api = make_api(scorer=FakeScorer(transform=transform))
    assert_problem(api.score(batch(2)), 500, "model-output")


def test_data_contract_error_from_model_is_422(make_api: MakeApi) -> None:
    def reject(scores: list[CustomerScore]) -> list[CustomerScore]:
        raise DataContractError("too many bad rows", column="volume")

    api = make_api(scorer=FakeScorer(transform=reject))
    problem = assert_problem(api.score(), 422, "data-contract")
    assert "volume" in problem["detail"]


def test_non_finite_driver_is_dropped(make_api: MakeApi) -> None:
    def nan_driver(scores: list[CustomerScore]) -> list[CustomerScore]:
        return [
            replace(s, drivers=(*s.drivers[:1], replace(s.drivers[1], contribution=float("inf"))))
            for s in scores
        ]

    api = make_api(scorer=FakeScorer(transform=nan_driver))
    [score] = api.score().json()["scores"]
    assert [d["name"] for d in score["drivers"]] == ["rhythm"]


def test_column_tables_hold_every_contract_column_row_by_row() -> None:
    from berth import tables
    from berth.api.convert import to_column_tables

    body = batch(3)
    body["customers"][1]["interactions"] = []
    body["customers"][2]["profile"] = {}
    request = decode(json.dumps(body))
    columns = to_column_tables(request)
    expected = {
        tables.SHIPMENTS: {*tables.SHIPMENT_REQUIRED, *tables.SHIPMENT_OPTIONAL},
        tables.INTERACTIONS: {*tables.INTERACTION_REQUIRED, *tables.INTERACTION_OPTIONAL},
        tables.CUSTOMERS: {*tables.CUSTOMER_REQUIRED, *tables.CUSTOMER_OPTIONAL},
    }
    assert {name: set(table) for name, table in columns.items()} == expected
    ships = [(c["customer_id"], s) for c in body["customers"] for s in c["shipments"]]
    assert list(columns[tables.SHIPMENTS][tables.CUSTOMER_ID]) == [cid for cid, _ in ships]
    volumes = [np.nan if s.get("volume") is None else s["volume"] for _, s in ships]
    np.testing.assert_array_equal(columns[tables.SHIPMENTS]["volume"], volumes)
    inter_ids = [c["customer_id"] for c in body["customers"] for _ in c.get("interactions", [])]
    assert list(columns[tables.INTERACTIONS][tables.CUSTOMER_ID]) == inter_ids
    assert columns[tables.CUSTOMERS]["segment"][2] is None
    assert all(len(v) == len(ships) for v in columns[tables.SHIPMENTS].values())


@pytest.mark.parametrize("n", [3, 600])  # below and above the size where pandas converts them
def test_interaction_times_become_microsecond_arrays(n: int) -> None:
    from datetime import datetime, timedelta

    from berth.api.convert import _datetimes

    start = datetime(1969, 12, 31, 23, 59, 59, 999_999)  # before the epoch: floors, not truncates
    values = [None if i % 7 == 3 else start + timedelta(days=97 * i, microseconds=13 * i) for i in range(n)]
    expected = np.array(["NaT" if v is None else v.isoformat() for v in values], dtype="datetime64[us]")
    converted = _datetimes(values)
    assert converted.dtype == np.dtype("datetime64[us]")
    np.testing.assert_array_equal(converted, expected)


@pytest.mark.parametrize("with_none", [False, True])  # mapped ordinals, or the comprehension for None
def test_dates_become_day_arrays(with_none: bool) -> None:
    from datetime import date, timedelta

    from berth.api.convert import _dates

    values = [date(1900, 1, 1) + timedelta(days=331 * i) for i in range(300)]  # before and after 1970
    if with_none:
        values[5] = None  # type: ignore[call-overload]
    expected = np.array(["NaT" if v is None else v.isoformat() for v in values], dtype="datetime64[D]")
    converted = _dates(values)
    assert converted.dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(converted, expected)


def test_sentiment_words_and_numbers_become_one_float_column() -> None:
    from berth.api.convert import _sentiments

    np.testing.assert_array_equal(_sentiments([0.5, None, -1.0]), [0.5, np.nan, -1.0])
    np.testing.assert_array_equal(
        _sentiments(["positive", None, 0.25, "negative", "neutral"]), [1.0, np.nan, 0.25, -1.0, 0.0]
    )


def test_the_log_writer_hands_the_gil_back_by_time_not_per_request() -> None:
    """The writer yields to the event loop once it has worked ``every_s``, not after each
    request's rows: each hand-off is a thread switch the event loop pays for."""
    from berth.api.prediction_log import _GilYield

    clock = iter([0.0, 0.0005, 0.001, 0.0021, 0.0021, 0.003, 0.0045, 0.0045])
    hand_offs: list[int] = []
    yield_gil = _GilYield(0.002, clock=lambda: next(clock), hand_off=lambda: hand_offs.append(1))  # t = 0
    for _ in range(4):  # t = 0.0005, 0.001, 0.0021 (hands off, restarts at 0.0021), 0.003
        yield_gil()
    assert len(hand_offs) == 1
    yield_gil()  # t = 0.0045: 2.4 ms since the last hand-off
    assert len(hand_offs) == 2


def test_the_log_writer_waits_for_large_requests_until_its_deadline() -> None:
    """While a large request runs the writer holds its rows back (the request uses both cores),
    but never longer than ``defer_s``; with none running it writes at once."""
    from datetime import UTC, datetime

    from berth.api.convert import to_outputs
    from berth.api.prediction_log import PendingPredictions, PredictionLogWriter

    written = threading.Event()
    times: list[float] = []

    class Store:
        def log_predictions(self, rows: Any, on_chunk: Any = None) -> None:
            times.append(time.monotonic())
            written.set()

    decoded = decode_columns(json.dumps(batch(1)).encode())
    assert decoded is not None
    scores = to_outputs(decoded.customer_ids, FakeScorer().score(decoded.columns, decoded.as_of))
    pending = PendingPredictions("r", "m", "1", decoded, scores, datetime.now(UTC))
    writer = PredictionLogWriter(Store(), linger_s=0, defer_s=0.4)  # type: ignore[arg-type]
    writer.start()
    try:
        with writer.foreground():
            started = time.monotonic()
            assert writer.submit(pending)
            assert not written.wait(0.2)  # held back while the request runs
            assert written.wait(5)  # ... but not past the deadline
            assert times[0] - started >= 0.4 - 0.05
        written.clear()
        started = time.monotonic()
        assert writer.submit(pending)
        assert written.wait(5)
        assert times[1] - started < 0.3  # nothing running: no wait
    finally:
        writer.close()


def test_a_large_batch_is_scored_in_two_halves_in_request_order(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from berth.api.routes import scores

    monkeypatch.setattr(scores, "PARALLEL_SCORING_MIN_CUSTOMERS", 6)
    seen: list[list[str]] = []

    class Spy(FakeScorer):
        def score(self, tables: Any, as_of: Any, **_: Any) -> list[CustomerScore]:
            seen.append(list(tables["customers"]["customer_id"]))
            return super().score(tables, as_of)

    api = make_api(scorer=Spy())
    response = api.score(batch(9))
    assert response.status_code == 200
    assert sorted(seen) == [[f"C-{i}" for i in range(4)], [f"C-{i}" for i in range(4, 9)]]
    assert [s["customer_id"] for s in response.json()["scores"]] == [f"C-{i}" for i in range(9)]
    seen.clear()
    assert api.score(batch(5)).status_code == 200
    assert seen == [[f"C-{i}" for i in range(5)]]  # below the threshold: one call


def test_openapi_response_example_is_a_valid_response(api: Api) -> None:
    from berth.api.schemas import ScoreResponse

    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["ScoreResponse"]
    [example] = schema["examples"]
    parsed = ScoreResponse.model_validate(example)
    assert parsed.scores[0].tier_probabilities is not None
    assert parsed.scores[0].recommendations
    assert parsed.scores[0].drivers[0].sentence
    # every field is shown, but the note that only a customer without a paying action has
    assert set(type(parsed.scores[0]).model_fields) - set(example["scores"][0]) == {"recommendation_note"}
