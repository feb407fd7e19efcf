"""Deterministic fake scorers honouring the :class:`berth.scoring.Scorer` protocol.

``make_scorer`` is also the ``BERTH_SCORER_FACTORY`` of the subprocess test
(``tests.api.fakes:make_scorer``, development only).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from datetime import date, datetime

import pyarrow

from berth.scoring import ColumnTables, CustomerScore, Driver, ModelInfo
from berth.settings import Settings


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def band(probability: float) -> str:
    """The fake's risk band."""
    if probability < 0.25:
        return "low"
    if probability < 0.5:
        return "medium"
    if probability < 0.75:
        return "high"
    return "critical"


class FakeScorer:
    """Churn grows with days since the last shipment; a hash of the id adds a stable wobble."""

    def __init__(
        self,
        version: str = "1",
        *,
        name: str = "berth-churn",
        delay_s: float = 0.0,
        transform: Callable[[list[CustomerScore]], list[CustomerScore]] | None = None,
    ) -> None:
        self.version = version
        self.name = name
        self.delay_s = delay_s
        self.transform = transform
        self.calls = 0
        self._lock = threading.Lock()

    @property
    def info(self) -> ModelInfo:
        """Fixed metadata."""
        return ModelInfo(
            name=self.name,
            version=self.version,
            trained_at="2025-01-01T00:00:00Z",
            horizon_days=90,
            training_cutoff="2024-12-31",
            content_hash="sha256:" + "0" * 64,
            metrics={"auc": 0.81, "brier": 0.12, "undefined": float("nan")},
            extra={"features": 42},
        )

    def score(self, tables: ColumnTables, as_of: date, *, lang: str | None = None) -> list[CustomerScore]:
        """Score every customer in the shipments table."""
        with self._lock:
            self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        shipments = tables["shipments"]
        last: dict[str, date] = {}
        counts: dict[str, int] = {}
        ids = shipments["customer_id"]
        if isinstance(ids, pyarrow.Array):  # text may come as Arrow (scoring.ColumnTables)
            ids = ids.to_pylist()
        for cid, day in zip(ids, shipments["shipment_date"], strict=True):
            d = _as_date(day)
            last[cid] = max(last.get(cid, d), d)
            counts[cid] = counts.get(cid, 0) + 1
        out = []
        for cid, latest in last.items():
            wobble = int(hashlib.sha256(cid.encode()).hexdigest()[:4], 16) / 0xFFFF * 0.1
            recency = (as_of - latest).days
            p = min(0.99, 0.02 + recency / 200 + wobble)
            out.append(
                CustomerScore(
                    customer_id=cid,
                    churn_probability=round(p, 6),
                    risk_band=band(p),
                    partial_churn_probability=round(p / 2, 6),
                    drivers=(
                        Driver(
                            "rhythm",
                            round(recency / 100, 4),
                            "Shipping rhythm and recency",
                            "发货节奏与最近一次发货",
                        ),
                        Driver("volume", -0.1 * counts[cid], "Volume and its trend", "货量及其趋势"),
                    ),
                    tier_current="gold" if counts[cid] > 1 else "bronze",
                    tier_expected="silver" if p > 0.5 else "gold",
                    tier_probabilities={
                        "lapsed": round(p / 2, 6),
                        "silver": 0.25,
                        "gold": round(0.75 - p / 2, 6),
                    },
                    p_downgrade=round(p / 2 + 0.25, 6),
                    p_upgrade=0.0,
                    expected_shipments=round(20 * (1 - p), 4),
                    expected_revenue=round(2_000 * (1 - p), 2),
                    clv=round(1_500 * (1 - p), 2),
                    p_alive=round(1 - p, 6),
                    activity_state="dozing" if recency > 30 else "active",
                    loyalty_form="unknown_attitude",
                    abc_class="B",
                    relationship_level="unknown",
                    upgrade_stage="repeat",
                )
            )
        return self.transform(out) if self.transform else out


def make_scorer(settings: Settings) -> FakeScorer:
    """Factory for ``BERTH_SCORER_FACTORY``: the version comes from ``BERTH_FAKE_VERSION``."""
    return FakeScorer(os.environ.get("BERTH_FAKE_VERSION", "fake-1"), name=settings.model_name)
