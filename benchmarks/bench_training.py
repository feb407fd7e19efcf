"""Training benchmark: wall time, peak memory and model vs oracle vs baselines.

    uv run python benchmarks/bench_training.py                 # 10k and 100k customers
    uv run python benchmarks/bench_training.py --customers 10000

Each size runs in its own process so peak memory (max RSS) is that size's alone. The validation
cutoff is placed on the simulator's truth grid, so the oracle ROC AUC (true churn probabilities)
is computed on exactly the model's validation rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta

START = date(2024, 1, 1)
DAYS = 730
HORIZON = 90


def run_one(n_customers: int, threads: int) -> dict[str, object]:
    """Simulate, train and evaluate one size; return the figures."""
    import pandas as pd
    from sklearn.metrics import brier_score_loss, roc_auc_score

    from berth.config import ModelConfig, TrainConfig
    from berth.features import HistoryArrays, day_to_date
    from berth.simulate import SimulationConfig, simulate_port
    from berth.tables import PortData
    from berth.training import restrict_to_cutoff, train_churn_model

    t0 = time.perf_counter()
    port = simulate_port(SimulationConfig(n_customers=n_customers, days=DAYS, seed=2024, start=START))
    simulate_s = time.perf_counter() - t0
    data = PortData(shipments=port.shipments, interactions=port.interactions, customers=port.customers)
    last_day = (port.shipments["shipment_date"].max() - pd.Timestamp(START)).days
    cutoff = START + timedelta(days=((last_day - HORIZON) // 30) * 30 + HORIZON)
    config = TrainConfig(horizon_days=HORIZON, max_cutoffs=12, model=ModelConfig(params={"nthread": threads}))
    t0 = time.perf_counter()
    trained = train_churn_model(data, config, cutoff=cutoff)
    train_s = time.perf_counter() - t0

    validation = trained.validation
    assert validation is not None
    assert trained.validation_probability is not None
    history = HistoryArrays.from_port_data(restrict_to_cutoff(data, cutoff))
    frame = pd.DataFrame(
        {
            "customer_id": history.customer_ids[validation.codes].astype(str),
            "cutoff": pd.to_datetime([day_to_date(int(d)) for d in validation.cutoff_day]),
            "model": trained.validation_probability,
        }
    )
    truth = port.truth[port.truth["horizon_days"] == HORIZON]
    merged = frame.merge(truth, on=["customer_id", "cutoff"], how="inner")
    oracle = {
        "roc_auc": float(roc_auc_score(merged["churned"], merged["true_churn_probability"])),
        "brier": float(brier_score_loss(merged["churned"], merged["true_churn_probability"])),
    }
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "customers": n_customers,
        "shipments": len(port.shipments),
        "interactions": len(port.interactions),
        "training_rows": trained.row_counts.get("rows_train", 0),
        "training_cutoffs": len(trained.split.train),
        "all_cutoffs": len(trained.split.train)
        + len(trained.split.calibration)
        + len(trained.split.validation),
        "simulate_s": round(simulate_s, 1),
        "train_s": round(train_s, 1),
        "peak_rss_mb": round(peak_mb),
        "oracle": oracle,
        "metrics": {k: {m: round(v, 4) for m, v in vals.items()} for k, vals in trained.metrics.items()},
        "oracle_rows_matched": f"{len(merged)}/{len(frame)}",
    }


def main() -> None:
    """Run each size in a fresh process and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.threads)))
        return
    for n in args.customers:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--threads", str(args.threads)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n=== {n:,} customers, {DAYS} days, horizon {HORIZON} d ===")
        print(
            f"shipments {result['shipments']:,}  interactions {result['interactions']:,}  "
            f"training rows {result['training_rows']:,} over {result['training_cutoffs']} training cutoffs "
            f"({result['all_cutoffs']} incl. calibration and validation)"
        )
        print(
            f"simulate {result['simulate_s']} s   train (features + labels + fit + baselines) "
            f"{result['train_s']} s   peak RSS {result['peak_rss_mb']:,} MB"
        )
        print(f"{'':22}{'ROC AUC':>9}{'Brier':>9}")
        print(f"{'oracle':22}{result['oracle']['roc_auc']:>9.4f}{result['oracle']['brier']:>9.4f}")
        for name, values in result["metrics"].items():
            print(f"{name:22}{values['roc_auc']:>9.4f}{values['brier']:>9.4f}")
        print(f"(oracle computed on {result['oracle_rows_matched']} validation rows)")


if __name__ == "__main__":
    main()
