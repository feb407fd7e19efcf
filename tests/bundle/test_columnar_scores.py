"""A trained model scores a request decoded into columns exactly as one decoded through structs."""

from __future__ import annotations

import json

import numpy as np

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
