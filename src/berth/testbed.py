"""Generalisation test bed: simulator regimes Berth is never tuned on, scored with standard peers.

Each :class:`Regime` is a simulator configuration with a fresh seed and a scoring cutoff on the
truth grid whose 90-day horizon is fully observed. :func:`run_regime` simulates it, trains Berth
on the data known at the cutoff, scores at the cutoff and computes, on the same rows:

- ``berth``: ``train_churn_model`` (default ``TrainConfig``) scored through ``BundleScorer``;
- ``bgnbd``: BG/NBD fitted by pymc-marketing (MAP) on the RFM summary at the cutoff (daily
  periods), P(no shipment in the horizon);
- ``recency``: logistic regression on log(1 + days since the last shipment) fitted on the earlier
  RFM snapshots (monotone, so its ROC AUC is the raw recency rank's; the fit calibrates it);
- ``rfm_xgboost``: XGBoost on 9 RFM features from snapshots every 14 days whose labels end on or
  before the cutoff (no leakage);
- ``oracle``: the simulator's true churn probability.

Rows: customers with a shipment in the 365 days up to the cutoff (Berth's eligible customers).
``benchmarks/bench_generalisation.py`` runs every regime and prints the table.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from berth.simulate import (
    CohortParams,
    ShockParams,
    SimulatedPort,
    SimulationConfig,
    draw_parameters,
    rich_interactions,
    simulate_port,
)
from berth.tables import PortData

HORIZON_DAYS = 90
LOOKBACK_DAYS = 365  # eligible: a shipment in this window up to the cutoff (Berth's default)
SNAPSHOT_STEP_DAYS = 14
MIN_SNAPSHOT_HISTORY_DAYS = 28
MAX_SNAPSHOTS = 26
START = date(2024, 1, 1)
BASE_SEED = 190_400  # fresh seeds (issue 19, part 4), used nowhere else
PEERS = ("bgnbd", "recency", "rfm_xgboost")
METHODS = ("berth", *PEERS)
RFM_FEATURES = (
    "recency_days",
    "tenure_days",
    "shipments_30d",
    "shipments_90d",
    "shipments_365d",
    "revenue_30d",
    "revenue_90d",
    "revenue_365d",
    "revenue_per_shipment_365d",
)


@dataclass(frozen=True)
class Regime:
    """A named simulator configuration and the cutoff it is scored at."""

    name: str
    description: str
    config: SimulationConfig
    cutoff: date


@dataclass
class RegimeResult:
    """ROC AUC and Brier per method on one regime's scoring rows, and what the run noticed."""

    regime: str
    rows: int
    churn_rate: float
    metrics: dict[str, dict[str, float]]  # method → {"roc_auc", "brier"}
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8), repr=False)
    scores: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def scoring_cutoff_day(days: int, step: int, horizon: int = HORIZON_DAYS) -> int:
    """Latest truth-grid cutoff (day index) whose horizon ends inside the history."""
    last = days - 1 - horizon
    if last < step:
        raise ValueError(f"{days} days leave no cutoff with a {horizon}-day horizon")
    return (last // step) * step


def _regime(name: str, description: str, config: SimulationConfig) -> Regime:
    day = scoring_cutoff_day(config.days, config.cutoff_step_days)
    return Regime(name, description, config, config.start + timedelta(days=day))


def regimes(n_customers: int = 3_000, seed: int = BASE_SEED) -> list[Regime]:
    """The test bed's regimes, each with its own fresh seed (``seed + 1`` …)."""

    def config(offset: int, days: int = 730, **kwargs: object) -> SimulationConfig:
        return SimulationConfig(
            n_customers=n_customers,
            days=days,
            seed=seed + offset,
            start=START,
            horizons_days=(HORIZON_DAYS,),
            **kwargs,
        )

    shock_start = START + timedelta(days=scoring_cutoff_day(730, 30) - 60)
    return [
        _regime("reference", "default parameters, fresh seed, two years", config(1)),
        _regime(
            "drawn_parameters",
            "behavioural parameters redrawn by seed (cadence, hazards, offers, effects)",
            draw_parameters(config(2), seed + 2),
        ),
        _regime(
            "single_cohort",
            "every customer acquired in the first quarter; cutoff at day 330 (< 1 year of history)",
            config(3, days=421, cohort=CohortParams(first=START, days=91)),
        ),
        _regime("shipments_only", "no interactions or customers table", config(4, shipments_only=True)),
        _regime(
            "rich_interactions",
            "monthly surveys, complaints and calls that follow drift",
            config(5, interactions=rich_interactions()),
        ),
        _regime(
            "market_shock",
            "competitor campaign from 60 days before the cutoff: 60% of south China and south-east "
            "Asia customers drift ×8, loss ×2, rate ×0.8",
            config(
                6,
                shocks=(
                    ShockParams(
                        start=shock_start,
                        regions=("south_china", "southeast_asia"),
                        share=0.6,
                        drifting_factor=8.0,
                        lost_factor=2.0,
                        rate_factor=0.8,
                    ),
                ),
            ),
        ),
    ]


# --- RFM snapshots ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shipments:
    """Shipments as sorted arrays: customer code, day index (from ``START``-like origin), revenue."""

    customer_ids: np.ndarray  # object array; position = code
    code: np.ndarray
    day: np.ndarray
    revenue: np.ndarray

    @classmethod
    def from_frame(cls, shipments: pd.DataFrame, origin: date) -> Shipments:
        """Sort by (customer, day); days counted from ``origin``."""
        codes, uniques = pd.factorize(shipments["customer_id"])
        days = (shipments["shipment_date"].to_numpy() - np.datetime64(origin, "us")) // np.timedelta64(1, "D")
        order = np.lexsort((days, codes))
        return cls(
            customer_ids=np.asarray(uniques, dtype=object),
            code=codes[order].astype(np.int64),
            day=np.asarray(days)[order].astype(np.int64),
            revenue=shipments["revenue"].to_numpy(dtype=float)[order],
        )

    def _positions(self, day: int) -> np.ndarray:
        """Per customer: index just past its last shipment on or before ``day``."""
        stride = np.int64(1 << 32)
        keys = self.code * stride + self.day
        return np.searchsorted(keys, np.arange(len(self.customer_ids)) * stride + day, side="right")

    def rfm(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """(customers × 9 RFM features, eligible mask) from the shipments on or before ``day``."""
        end = self._positions(day)
        begin = self._positions(-(1 << 31))
        seen = end > begin
        last = np.where(seen, self.day[np.maximum(end - 1, 0)], day)
        first = np.where(seen, self.day[np.minimum(begin, len(self.day) - 1)], day)
        cum = np.concatenate([[0.0], np.cumsum(self.revenue)])
        columns = [day - last, day - first]
        counts, revenue = {}, {}
        for window in (30, 90, 365):
            lo = self._positions(day - window)
            counts[window] = (end - lo).astype(float)
            revenue[window] = cum[end] - cum[lo]
        columns += [counts[30], counts[90], counts[365], revenue[30], revenue[90], revenue[365]]
        columns.append(revenue[365] / np.maximum(counts[365], 1.0))
        eligible = seen & (day - last < LOOKBACK_DAYS)
        return np.column_stack(columns).astype(float), eligible

    def churned(self, day: int, horizon: int) -> np.ndarray:
        """Per customer: 1 when it has no shipment on days ``day + 1 … day + horizon``."""
        return (self._positions(day + horizon) == self._positions(day)).astype(np.int8)


def snapshot_days(first_day: int, cutoff_day: int, horizon: int = HORIZON_DAYS) -> list[int]:
    """Training snapshot days every 14 days whose label window ends on or before the cutoff."""
    days = range(cutoff_day - horizon, first_day + MIN_SNAPSHOT_HISTORY_DAYS - 1, -SNAPSHOT_STEP_DAYS)
    return sorted(days)[-MAX_SNAPSHOTS:]


def rfm_training_rows(ships: Shipments, cutoff_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Stacked RFM rows and labels of the eligible customers at every training snapshot."""
    values, labels = [], []
    for day in snapshot_days(int(ships.day.min()), cutoff_day):
        matrix, eligible = ships.rfm(day)
        values.append(matrix[eligible])
        labels.append(ships.churned(day, HORIZON_DAYS)[eligible])
    if not values:
        return np.zeros((0, len(RFM_FEATURES))), np.zeros(0, dtype=np.int8)
    return np.concatenate(values), np.concatenate(labels)


# --- peers ---------------------------------------------------------------------------------------


def recency_scores(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Logistic regression on log(1 + days since the last shipment), fitted on earlier snapshots."""
    from sklearn.linear_model import LogisticRegression

    feature = RFM_FEATURES.index("recency_days")
    model = LogisticRegression().fit(np.log1p(train_x[:, [feature]]), train_y)
    return model.predict_proba(np.log1p(x[:, [feature]]))[:, 1]


def rfm_xgboost_scores(
    train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, threads: int = 2
) -> np.ndarray:
    """XGBoost on the 9 RFM features, fitted on the earlier snapshots (fixed settings, no tuning)."""
    from xgboost import XGBClassifier

    model = XGBClassifier(
        n_estimators=300,
        max_depth=4,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.9,
        min_child_weight=5,
        tree_method="hist",
        n_jobs=threads,
        random_state=0,
    )
    model.fit(train_x, train_y)
    return np.asarray(model.predict_proba(x)[:, 1], dtype=float)


def bgnbd_scores(
    ships: Shipments, cutoff_day: int, codes: np.ndarray, horizon: int = HORIZON_DAYS
) -> np.ndarray:
    """P(no shipment in the horizon) from pymc-marketing's BG/NBD, MAP fit at the cutoff (daily periods).

    Fitted on every customer with a shipment by the cutoff. Frequency counts repeat shipment days;
    a customer is observed from its first shipment day to the end of the cutoff day, so
    T = cutoff − first + 1 and recency = last − first (both in days).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz's refactor notice, pytensor's missing-BLAS notice
        from pymc_marketing.clv import BetaGeoModel

        keep = ships.day <= cutoff_day
        frame = pd.DataFrame({"code": ships.code[keep], "day": ships.day[keep]}).drop_duplicates()
        summary = frame.groupby("code")["day"].agg(["min", "max", "count"])
        data = pd.DataFrame(
            {
                "customer_id": summary.index.to_numpy(),
                "frequency": (summary["count"] - 1).to_numpy(dtype=float),
                "recency": (summary["max"] - summary["min"]).to_numpy(dtype=float),
                "T": (cutoff_day - summary["min"] + 1).to_numpy(dtype=float),
            }
        )
        model = BetaGeoModel(data=data)
        model.fit(method="map", progressbar=False)
        wanted = data.set_index("customer_id").loc[codes].reset_index()
        p = model.expected_probability_no_purchase(t=horizon, data=wanted)
    return np.clip(np.asarray(p).reshape(-1), 0.0, 1.0)


def berth_scores(data: PortData, cutoff: date, codes_ids: np.ndarray) -> tuple[np.ndarray, str]:
    """Berth trained on the data known at ``cutoff`` (default config), scored at ``cutoff``."""
    from berth.bundle import BundleScorer
    from berth.config import TrainConfig
    from berth.features import HistoryArrays
    from berth.training import train_churn_model

    trained = train_churn_model(data, TrainConfig(), cutoff=cutoff, horizon_days=HORIZON_DAYS)
    scorer = BundleScorer(trained.bundle)
    history = HistoryArrays.from_port_data(data, known_until=cutoff)
    scored = scorer.score_history(history, cutoff, with_drivers=False)
    by_id = pd.Series(scored.churn_probability, index=scored.customer_ids.astype(str))
    served = trained.bundle.model_kind if trained.bundle.model_kind != "xgboost" else trained.served_predictor
    return by_id.reindex(codes_ids.astype(str)).to_numpy(dtype=float), served


# --- one regime ----------------------------------------------------------------------------------


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {"roc_auc": float(roc_auc_score(y, p)), "brier": float(brier_score_loss(y, p))}


def run_regime(
    regime: Regime,
    methods: Sequence[str] = METHODS,
    log: Callable[[str], None] | None = None,
    threads: int = 2,
) -> RegimeResult:
    """Simulate one regime, fit every method on data up to its cutoff, score all on the same rows."""
    say = log or (lambda _message: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    port: SimulatedPort = simulate_port(regime.config)
    seconds["simulate"] = time.perf_counter() - t0
    config = regime.config
    cutoff_day = (regime.cutoff - config.start).days
    truth = port.truth
    rows = truth[
        (truth["cutoff"] == pd.Timestamp(regime.cutoff))
        & (truth["horizon_days"] == HORIZON_DAYS)
        & (truth["days_since_last_shipment"] < LOOKBACK_DAYS)
    ].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"regime {regime.name}: no eligible customer at {regime.cutoff}")
    y = rows["churned"].to_numpy()
    say(
        f"{regime.name}: {len(port.shipments):,} shipments, {len(port.interactions):,} interactions, "
        f"{len(rows):,} scoring rows, churn {y.mean():.3f} (simulated in {seconds['simulate']:.1f} s)"
    )
    ships = Shipments.from_frame(port.shipments, config.start)
    code_of = pd.Series(np.arange(len(ships.customer_ids)), index=ships.customer_ids.astype(str))
    codes = code_of.reindex(rows["customer_id"].astype(str)).to_numpy()
    scores: dict[str, np.ndarray] = {"oracle": rows["true_churn_probability"].to_numpy(dtype=float)}
    notes: list[str] = []

    if {"recency", "rfm_xgboost"} & set(methods):
        t0 = time.perf_counter()
        train_x, train_y = rfm_training_rows(ships, cutoff_day)
        x = ships.rfm(cutoff_day)[0][codes]
        if "recency" in methods:
            scores["recency"] = recency_scores(train_x, train_y, x)
        if "rfm_xgboost" in methods:
            scores["rfm_xgboost"] = rfm_xgboost_scores(train_x, train_y, x, threads)
        seconds["rfm_peers"] = time.perf_counter() - t0
        say(f"  RFM peers: {len(train_y):,} snapshot rows, {seconds['rfm_peers']:.1f} s")
    if "bgnbd" in methods:
        t0 = time.perf_counter()
        scores["bgnbd"] = bgnbd_scores(ships, cutoff_day, codes)
        seconds["bgnbd"] = time.perf_counter() - t0
        say(f"  BG/NBD (pymc-marketing): {seconds['bgnbd']:.1f} s")
    if "berth" in methods:
        t0 = time.perf_counter()
        berth, kind = berth_scores(port.port_data(), regime.cutoff, rows["customer_id"].to_numpy())
        seconds["berth"] = time.perf_counter() - t0
        if kind == "btyd":
            notes.append("Berth fell back to BG/NBD")
        missing = ~np.isfinite(berth)
        if missing.any():
            notes.append(f"Berth left {int(missing.sum())} rows unscored (filled with 0.5)")
            berth = np.where(missing, 0.5, berth)
        scores["berth"] = berth
        say(f"  Berth (served: {kind}): {seconds['berth']:.1f} s")
    order = [m for m in (*METHODS, "oracle") if m in scores]
    metrics = {m: _metrics(y, scores[m]) for m in order}
    kept = {m: scores[m] for m in order}
    return RegimeResult(regime.name, len(rows), float(y.mean()), metrics, seconds, notes, y, kept)


def paired_auc_difference_se(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int = 200, seed: int = 0
) -> float:
    """Bootstrap standard error of ROC AUC(a) − ROC AUC(b) on the same rows (paired resamples)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        idx = rng.integers(0, y.shape[0], y.shape[0])
        if 0 < y[idx].sum() < y.shape[0]:
            differences.append(roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx]))
    return float(np.std(differences, ddof=1)) if len(differences) > 1 else float("nan")


def results_table(results: Sequence[RegimeResult]) -> pd.DataFrame:
    """One row per regime: AUC and Brier per method, the best peer and Berth's gaps."""
    records = []
    for r in results:
        record: dict[str, object] = {"regime": r.regime, "rows": r.rows, "churn": round(r.churn_rate, 3)}
        for method, values in r.metrics.items():
            record[f"{method}_auc"] = values["roc_auc"]
            record[f"{method}_brier"] = values["brier"]
        peers = [p for p in PEERS if p in r.metrics]
        if peers:
            best = max(peers, key=lambda p: r.metrics[p]["roc_auc"])
            record["best_peer"] = best
            if "berth" in r.metrics:
                record["berth_minus_best_peer_auc"] = (
                    r.metrics["berth"]["roc_auc"] - r.metrics[best]["roc_auc"]
                )
                if "berth" in r.scores and best in r.scores:
                    record["berth_minus_best_peer_se"] = paired_auc_difference_se(
                        r.labels, r.scores["berth"], r.scores[best]
                    )
                record["berth_minus_oracle_auc"] = (
                    r.metrics["berth"]["roc_auc"] - r.metrics["oracle"]["roc_auc"]
                )
        record["notes"] = "; ".join(r.notes)
        records.append(record)
    return pd.DataFrame.from_records(records)
