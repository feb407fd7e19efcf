"""Training benchmark: wall time, peak memory and model vs oracle vs baselines.

    uv run python benchmarks/bench_training.py                 # 10k and 100k customers
    uv run python benchmarks/bench_training.py --customers 10000

Each size is simulated once into a Parquet cache (``--cache``), then trained in a fresh process
that reads it, so peak memory (max RSS, read when training returns) is the training's (tables
loaded + features + fit), neither the simulator's nor the truth table's (read afterwards for the
oracle). The validation cutoff is placed on the simulator's truth grid, so the oracle ROC AUC
(true churn probabilities) is computed on exactly the model's validation rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

START = date(2024, 1, 1)
DAYS = 730
HORIZON = 90


def simulate_to(folder: Path, n_customers: int) -> float:
    """Simulate one size into ``folder`` (Parquet tables + truth.csv); return the seconds taken."""
    from berth.simulate import SimulationConfig, simulate_port, write_simulation

    t0 = time.perf_counter()
    port = simulate_port(SimulationConfig(n_customers=n_customers, days=DAYS, seed=2024, start=START))
    seconds = time.perf_counter() - t0
    write_simulation(port, folder, file_format="parquet")
    return seconds


def run_one(folder: Path, threads: int) -> dict[str, object]:
    """Load a simulated port, train and evaluate; return the figures."""
    import pandas as pd
    from sklearn.metrics import brier_score_loss, roc_auc_score

    from berth.config import ModelConfig, TrainConfig
    from berth.tables import PortData
    from berth.training import train_churn_model

    data = PortData(
        shipments=pd.read_parquet(folder / "shipments.parquet"),
        interactions=pd.read_parquet(folder / "interactions.parquet"),
        customers=pd.read_parquet(folder / "customers.parquet"),
    )
    n_customers = len(data.customers) if data.customers is not None else 0
    last_day = (data.shipments["shipment_date"].max() - pd.Timestamp(START)).days
    cutoff = START + timedelta(days=((last_day - HORIZON) // 30) * 30 + HORIZON)
    config = TrainConfig(horizon_days=HORIZON, max_cutoffs=12, model=ModelConfig(params={"nthread": threads}))
    t0 = time.perf_counter()
    trained = train_churn_model(data, config, cutoff=cutoff)
    train_s = time.perf_counter() - t0
    # Peak so far: loading the tables and training. The truth table is read only now, for the oracle.
    peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB

    truth_all = pd.read_csv(folder / "truth.csv", parse_dates=["cutoff"], dtype={"customer_id": "str"})

    frame = trained.validation_frame()
    truth = truth_all[truth_all["horizon_days"] == HORIZON]
    # the latest validation cutoff sits on the truth grid (the others need not): oracle and the
    # served model are compared on exactly those rows
    merged = frame.merge(truth, on=["customer_id", "cutoff"], how="inner")
    oracle = {
        "roc_auc": float(roc_auc_score(merged["churned"], merged["true_churn_probability"])),
        "brier": float(brier_score_loss(merged["churned"], merged["true_churn_probability"])),
    }
    served_on_grid = {
        "roc_auc": float(roc_auc_score(merged["churned"], merged["churn_probability"])),
        "brier": float(brier_score_loss(merged["churned"], merged["churn_probability"])),
    }
    return {
        "customers": n_customers,
        "shipments": len(data.shipments),
        "interactions": len(data.interactions) if data.interactions is not None else 0,
        "training_rows": trained.row_counts.get("rows_train", 0),
        "training_cutoffs": len(trained.split.train),
        "all_cutoffs": len(trained.split.train)
        + len(trained.split.calibration)
        + len(trained.split.validation),
        "train_s": round(train_s, 1),
        "peak_rss_bytes": peak_bytes,
        "oracle": oracle,
        "served_on_grid": served_on_grid,
        "served_predictor": trained.served_predictor,
        "metrics": {k: {m: round(v, 4) for m, v in vals.items()} for k, vals in trained.metrics.items()},
        "oracle_rows_matched": f"{len(merged)}/{len(frame)}",
        "seconds": trained.seconds,
        "value_choice": str(trained.bundle.metadata.get("value_model", {}).get("choice", "")),
        "tier_notes": [n for n in trained.notes if n.startswith("tier")],
    }


def main() -> None:
    """Run each size in a fresh process and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "berth-bench-training")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.threads)))
        return
    for n in args.customers:
        folder = args.cache / f"{n}"
        simulate_s: object = "cached"
        if not (folder / "truth.csv").exists():
            simulate_s = round(simulate_to(folder, n), 1)
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(folder), "--threads", str(args.threads)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["simulate_s"] = simulate_s
        print(f"\n=== {n:,} customers, {DAYS} days, horizon {HORIZON} d ===")
        print(
            f"shipments {result['shipments']:,}  interactions {result['interactions']:,}  "
            f"training rows {result['training_rows']:,} over {result['training_cutoffs']} training cutoffs "
            f"({result['all_cutoffs']} incl. calibration and validation)"
        )
        print(
            f"simulate {result['simulate_s']} s   train (features + labels + fit + baselines) "
            f"{result['train_s']} s   peak RSS {result['peak_rss_bytes'] / 1e9:.2f} GB "
            f"({result['peak_rss_bytes'] / 2**30:.2f} GiB)"
        )
        print(f"{'':22}{'ROC AUC':>9}{'Brier':>9}")
        print(f"on the latest validation cutoff ({result['oracle_rows_matched']} validation rows):")
        print(f"{'oracle':22}{result['oracle']['roc_auc']:>9.4f}{result['oracle']['brier']:>9.4f}")
        served = result["served_on_grid"]
        label = f"served ({result['served_predictor']})"
        print(f"{label:22}{served['roc_auc']:>9.4f}{served['brier']:>9.4f}")
        print("on every validation cutoff:")
        for name, values in result["metrics"].items():
            if "roc_auc" in values:
                print(f"{name:22}{values['roc_auc']:>9.4f}{values['brier']:>9.4f}")
        print("seconds by part: " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
        print("; ".join(result["tier_notes"]))
        print(f"{'tiers (validation)':26}{'macro F1':>9}{'acc':>8}{'within 1':>9}{'log loss':>9}{'RPS':>8}")
        for name, values in result["metrics"].items():
            if name.startswith("tier_"):
                print(
                    f"{name:26}{values['macro_f1']:>9.4f}{values['accuracy']:>8.4f}"
                    f"{values['within_one_accuracy']:>9.4f}{values['log_loss']:>9.4f}{values['rps']:>8.4f}"
                )
        print(f"value: {result['value_choice']}")
        print(
            f"{'value (holdout)':20}{'ship MAE':>10}{'ship corr':>10}{'ship agg':>9}"
            f"{'rev MAE':>12}{'rev corr':>9}{'rev agg':>9}"
        )
        for name, v in result["metrics"].items():
            if name.startswith("value_"):
                print(
                    f"{name:20}{v['shipments_mae']:>10.3f}{v['shipments_correlation']:>10.3f}"
                    f"{v['shipments_aggregate_error']:>+9.1%}{v['revenue_mae']:>12.4g}"
                    f"{v['revenue_correlation']:>9.3f}{v['revenue_aggregate_error']:>+9.1%}"
                )


if __name__ == "__main__":
    main()
