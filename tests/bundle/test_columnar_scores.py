"""A trained model scores a request decoded into columns exactly as one decoded through structs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow
import pytest

from berth.api import wire
from berth.api.columnar import decode_columns
from berth.api.convert import DecodedBatch
from berth.api.hashing import input_hashes
from berth.api.requests import request_body
from berth.bundle import BundleScorer
from berth.tables import PortData
from berth.training import TrainedModel


def test_columnar_and_struct_decoding_score_identically(trained: TrainedModel, sim_data: PortData) -> None:
    as_of = trained.training_cutoff
    ids = list(
        np.random.default_rng(3).choice(sim_data.shipments["customer_id"].unique(), 300, replace=False)
    )
    raw = json.dumps(request_body(sim_data, ids, as_of)).encode()
    fast = decode_columns(raw)
    assert fast is not None  # the simulator's bodies are in the plain valid form
    slow = DecodedBatch.from_request(wire.decode(raw))
    assert len(fast.customer_ids) > 250
    # > 2,000 shipments and interactions: the text columns take the Arrow factorising in the history build
    assert int(fast.shipment_starts[-1]) > 2_000
    assert int(fast.interaction_starts[-1]) > 2_000
    scorer = BundleScorer(trained.bundle)
    assert scorer.score(fast.columns, fast.as_of) == scorer.score(slow.columns, slow.as_of)
    assert input_hashes(fast) == input_hashes(slow)
    # one customer (the small-column paths) as well
    one = json.dumps(request_body(sim_data, ids[:1], as_of)).encode()
    fast_one, slow_one = decode_columns(one), DecodedBatch.from_request(wire.decode(one))
    assert fast_one is not None
    assert scorer.score(fast_one.columns, as_of) == scorer.score(slow_one.columns, as_of)


def test_a_large_batch_scored_in_two_halves_scores_as_one(
    trained: TrainedModel, sim_data: PortData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route scores a large batch in two halves at once; each half takes the same margin path
    as the whole (more rows than the compiled walk's limit), so every score is the same, bit for bit."""
    from berth.api.routes import scores
    from berth.modeling import churn

    monkeypatch.setattr(churn, "ARRAY_EVALUATOR_MAX_ROWS", 99)  # halves of 150 customers: XGBoost's path
    monkeypatch.setattr(scores, "PARALLEL_SCORING_MIN_CUSTOMERS", 200)
    as_of = trained.training_cutoff
    ids = list(
        np.random.default_rng(4).choice(sim_data.shipments["customer_id"].unique(), 300, replace=False)
    )
    batch = decode_columns(json.dumps(request_body(sim_data, ids, as_of)).encode())
    assert batch is not None
    scorer = BundleScorer(trained.bundle)
    calls: list[int] = []
    score = scorer.score

    def spy(columns: Any, day: Any, *, lang: str | None = None) -> Any:
        calls.append(len(columns["customers"]["customer_id"]))
        return score(columns, day, lang=lang)

    monkeypatch.setattr(scorer, "score", spy)
    halves = scores._scores(scorer, batch, "zh")
    assert sorted(calls) == [150, 150]
    assert halves == score(batch.columns, as_of, lang="zh")


def test_short_arrow_text_columns_score_as_lists(trained: TrainedModel, sim_data: PortData) -> None:
    """The Scorer contract allows Arrow string arrays for any text column, customer ids included;
    short ones take the history build's dict paths (below the Arrow factorising threshold)."""
    as_of = trained.training_cutoff
    ids = list(np.random.default_rng(5).choice(sim_data.shipments["customer_id"].unique(), 3, replace=False))
    batch = DecodedBatch.from_request(wire.decode(json.dumps(request_body(sim_data, ids, as_of)).encode()))
    flags = {"contract", "loyalty_member"}  # yes/no, not text
    as_arrow = {
        table: {
            name: pyarrow.array(list(column), type=pyarrow.string())
            if name not in flags and (not isinstance(column, np.ndarray) or column.dtype == object)
            else column
            for name, column in columns.items()
        }
        for table, columns in batch.columns.items()
    }
    for table, name in [("shipments", "lane"), ("interactions", "type"), ("customers", "segment")]:
        assert isinstance(as_arrow[table][name], pyarrow.Array)
    assert isinstance(as_arrow["interactions"]["customer_id"], pyarrow.Array)
    assert len(as_arrow["interactions"]["customer_id"]) < 2_000
    scorer = BundleScorer(trained.bundle)
    assert scorer.score(as_arrow, as_of) == scorer.score(batch.columns, as_of)
