"""Dynamic batching of small scoring requests (berth.api.batching), with the fake scorer."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from berth.api.batching import ScoreBatcher, merge_columns
from berth.api.convert import to_column_tables
from berth.api.holder import LoadedModel
from berth.api.schemas import CustomerScoreOut
from berth.api.wire import SCORE_REQUEST_DECODER, ScoreRequest
from berth.scoring import CustomerScore

from .fakes import FakeScorer
from .payloads import AS_OF, batch, customer


def _model(scorer: FakeScorer) -> LoadedModel:
    return LoadedModel(scorer=scorer, info=scorer.info, loaded_at=datetime.now(UTC))


def _request(body: dict[str, Any]) -> ScoreRequest:
    return SCORE_REQUEST_DECODER.decode(json.dumps(body))


def _score_together(
    batcher: ScoreBatcher, model: LoadedModel, bodies: list[dict[str, Any]]
) -> list[list[CustomerScoreOut] | BaseException]:
    """Submit every body in the same event-loop turn, as requests read together would be."""

    async def run() -> list[list[CustomerScoreOut] | BaseException]:
        requests = [_request(body) for body in bodies]
        tasks = [batcher.score(model, r, to_column_tables(r), 100) for r in requests]
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(run())


def _alone(body: dict[str, Any]) -> list[CustomerScoreOut]:
    [result] = _score_together(ScoreBatcher(timeout_s=5), _model(FakeScorer()), [body])
    assert isinstance(result, list)
    return result


def test_requests_waiting_together_share_one_scorer_call() -> None:
    scorer = FakeScorer()
    batcher = ScoreBatcher(timeout_s=5)
    bodies = [
        {"as_of": AS_OF.isoformat(), "customers": [customer(f"C-{i}", days_ago=(i + 1, 30))]}
        for i in range(3)
    ]
    results = _score_together(batcher, _model(scorer), bodies)
    assert scorer.calls == 1
    for body, result in zip(bodies, results, strict=True):
        assert result == _alone(body)  # each request gets exactly its own scores, as if alone


def test_a_customer_in_two_waiting_requests_is_scored_in_each_its_own_way() -> None:
    scorer = FakeScorer()
    recent = {"as_of": AS_OF.isoformat(), "customers": [customer("C-0", days_ago=(1,))]}
    lapsed = {"as_of": AS_OF.isoformat(), "customers": [customer("C-0", days_ago=(150,))]}
    results = _score_together(ScoreBatcher(timeout_s=5), _model(scorer), [recent, lapsed])
    assert scorer.calls == 2
    assert results == [_alone(recent), _alone(lapsed)]
    assert results[0] != results[1]


def test_requests_of_different_dates_or_models_are_not_mixed() -> None:
    scorer, other = FakeScorer(), FakeScorer("2")
    later = batch(1, as_of=AS_OF + timedelta(days=10))
    batcher = ScoreBatcher(timeout_s=5)

    async def run() -> list[list[CustomerScoreOut]]:
        requests = [_request(b) for b in (batch(1), later, batch(1))]
        models = [_model(scorer), _model(scorer), _model(other)]
        return await asyncio.gather(
            *(batcher.score(m, r, to_column_tables(r), 100) for m, r in zip(models, requests, strict=True))
        )

    first, second, third = asyncio.run(run())
    assert scorer.calls == 2
    assert other.calls == 1
    assert first == _alone(batch(1)) == third
    assert second == _alone(later)


def test_batches_respect_the_customer_limit() -> None:
    scorer = FakeScorer()
    bodies = [batch(1) | {"customers": [customer(f"C-{i}")]} for i in range(5)]
    results = _score_together(ScoreBatcher(timeout_s=5, max_customers=2), _model(scorer), bodies)
    assert scorer.calls == 3
    assert [r[0].customer_id for r in results if isinstance(r, list)] == [f"C-{i}" for i in range(5)]


def test_a_failing_joint_call_fails_only_the_request_that_caused_it() -> None:
    def refuse_bad(scores: list[CustomerScore]) -> list[CustomerScore]:
        if any(s.customer_id == "BAD" for s in scores):
            raise RuntimeError("model cannot score BAD")
        return scores

    scorer = FakeScorer(transform=refuse_bad)
    bodies = [{"as_of": AS_OF.isoformat(), "customers": [customer(i)]} for i in ("C-0", "BAD", "C-2")]
    first, bad, third = _score_together(ScoreBatcher(timeout_s=5), _model(scorer), bodies)
    assert isinstance(bad, RuntimeError)
    assert first == _alone(bodies[0])
    assert third == _alone(bodies[2])
    assert scorer.calls == 1 + 3  # the joint call, then each request alone


def test_a_request_over_its_time_limit_times_out_and_the_queue_goes_on() -> None:
    slow = FakeScorer(delay_s=0.5)
    batcher = ScoreBatcher(timeout_s=0.1)

    async def run() -> tuple[BaseException | None, float]:
        request = _request(batch(1))
        error: BaseException | None = None
        try:
            await batcher.score(_model(slow), request, to_column_tables(request), 100)
        except TimeoutError as exc:
            error = exc
        started = asyncio.get_running_loop().time()
        quick = FakeScorer()
        await batcher.score(_model(quick), request, to_column_tables(request), 100)
        return error, asyncio.get_running_loop().time() - started

    error, waited = asyncio.run(run())
    assert isinstance(error, TimeoutError)
    assert waited < 0.4  # served once the slow call was abandoned, not after it finished


def test_merged_columns_are_the_tables_end_to_end() -> None:
    a = to_column_tables(_request(batch(2)))
    b = to_column_tables(_request({"as_of": AS_OF.isoformat(), "customers": [customer("C-9")]}))
    merged = merge_columns([a, b])
    for name, table in merged.items():
        assert set(table) == set(a[name])
        for column, values in table.items():
            expected = [*a[name][column], *b[name][column]]
            if isinstance(values, np.ndarray):
                np.testing.assert_array_equal(values, np.asarray(expected, dtype=values.dtype))
            else:
                assert values == expected


@pytest.mark.parametrize("size", [1, 3])
def test_served_requests_through_the_app_use_the_batcher(make_api: Any, size: int) -> None:
    scorer = FakeScorer()
    api = make_api(scorer=scorer)
    response = api.score(batch(size))
    assert response.status_code == 200
    assert [s["customer_id"] for s in response.json()["scores"]] == [f"C-{i}" for i in range(size)]
    assert api.services.batcher.calls == 1
