"""Calibrated churn scores in the tails: how many sit at the numerical clip, and what each
calibration method costs or gains in ranking (ROC AUC) and calibration (Brier).

    uv run python benchmarks/bench_score_tails.py                       # 3 seeds × 3 regimes × 3,000
    uv run python benchmarks/bench_score_tails.py --customers 1500 --seeds 1 --regimes reference

For each regime of the generalisation test bed (``berth.testbed.regimes``, seeds other than the
test bed's) Berth is trained once on the data known at the scoring cutoff; the calibration slice's
raw tree scores are kept, and each calibration method is fitted on them and applied to the
scoring rows (customers with a shipment in the 365 days up to the cutoff): the churn trees and
the partial-churn trees, against the realised 90-day labels. It prints, per method: ROC AUC,
Brier, the share of scores within 1e-5 of 1 (the clip) and the share of distinct values among the
top 5 % of scores. ``docs/modeling.md`` (Calibration in the tails) quotes the figures.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

import berth.training as training
from berth.bundle import BundleScorer
from berth.config import TrainConfig
from berth.features import HistoryArrays, date_to_day
from berth.labels import label_customers
from berth.modeling.calibration import Calibrator, fit_calibrator
from berth.modeling.churn import ChurnClassifier
from berth.simulate import simulate_port
from berth.testbed import BASE_SEED, HORIZON_DAYS, regimes

CLIP = 1.0 - 1e-5


def steps(raw: np.ndarray, outcome: np.ndarray) -> Calibrator:
    """The isotonic calibrator as fitted before: step thresholds, flat beyond them."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, outcome)
    return Calibrator("isotonic", x=tuple(iso.X_thresholds_), y=tuple(iso.y_thresholds_))


METHODS = {
    "isotonic steps (before)": steps,
    "isotonic, logit knots + Platt tails": lambda r, y: fit_calibrator(r, y, "isotonic"),
    "platt (the default now)": lambda r, y: fit_calibrator(r, y, "platt"),
}


def run(regime: Any) -> list[dict[str, Any]]:
    port = simulate_port(regime.config)
    data = port.port_data()
    fitted: list[tuple[ChurnClassifier, np.ndarray, np.ndarray]] = []
    original = training.fit_churn_classifier

    def capture(train_values, train_outcome, cal_values, cal_outcome, names, **kwargs):  # type: ignore[no-untyped-def]
        model = original(train_values, train_outcome, cal_values, cal_outcome, names, **kwargs)
        fitted.append((model, model.raw_probability(cal_values), np.asarray(cal_outcome)))
        return model

    training.fit_churn_classifier = capture  # type: ignore[assignment]
    try:
        trained = training.train_churn_model(
            data, TrainConfig(), cutoff=regime.cutoff, horizon_days=HORIZON_DAYS
        )
    finally:
        training.fit_churn_classifier = original
    history = HistoryArrays.from_port_data(data, known_until=regime.cutoff)
    scored = BundleScorer(trained.bundle).score_history(history, regime.cutoff, with_drivers=False)
    assert scored.features is not None
    ids = scored.customer_ids[scored.eligible]
    values = scored.features[scored.eligible]
    full = HistoryArrays.from_port_data(data)
    codes = pd.Index(full.customer_ids).get_indexer(ids)
    labels = label_customers(full, codes, date_to_day(regime.cutoff), HORIZON_DAYS, 0.5)
    out = []
    for (model, raw_cal, y_cal), target, label in zip(
        fitted, ("churn", "partial churn"), (labels.churned, labels.partial_churned), strict=False
    ):
        raw = model.raw_probability(values)
        for method, fit in METHODS.items():
            p = fit(raw_cal, y_cal).transform(raw)
            top = np.sort(p)[-max(p.shape[0] // 20, 1) :]
            out.append(
                {
                    "regime": regime.name,
                    "target": target,
                    "method": method,
                    "roc_auc": roc_auc_score(label, p),
                    "brier": brier_score_loss(label, p),
                    "at_clip": float(np.mean(p >= CLIP)),
                    "distinct_top5pct": np.unique(top).shape[0] / top.shape[0],
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--regimes", nargs="*", default=["reference", "drawn_parameters", "shipments_only"])
    args = parser.parse_args()
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    with threadpool_limits(2):
        for k in range(args.seeds):
            for regime in regimes(args.customers, seed=BASE_SEED + 1_000 * (k + 1)):
                if regime.name in args.regimes:
                    rows = run(regime)
                    for row in rows:
                        row["seed"] = k
                    records.extend(rows)
                    print(pd.DataFrame.from_records(rows).round(5).to_string(index=False), flush=True)
    table = pd.DataFrame.from_records(records)
    pd.set_option("display.width", 200)
    seconds = time.perf_counter() - started
    print(f"\nmean over {args.seeds} seeds × {len(args.regimes)} regimes ({seconds:.0f} s):")
    print(
        table.groupby(["target", "method"], sort=False)[["roc_auc", "brier", "at_clip", "distinct_top5pct"]]
        .mean()
        .round(5)
        .to_string()
    )
    paired = table.pivot_table(
        index=["regime", "seed", "target"], columns="method", values=["roc_auc", "brier"]
    )
    now, before = "platt (the default now)", "isotonic steps (before)"
    for metric in ("roc_auc", "brier"):
        diff = paired[(metric, now)] - paired[(metric, before)]
        print(
            f"{metric} now − before: mean {diff.mean():+.5f}, SE {diff.std(ddof=1) / np.sqrt(len(diff)):.5f}"
        )


if __name__ == "__main__":
    main()
