"""Value-model quality: the training run's holdout check on a simulated book long enough for the
direct and corrected revenue models to be evaluated (three years by default).

    uv run python benchmarks/bench_value_holdout.py                       # 3,000 customers, seed 11
    uv run python benchmarks/bench_value_holdout.py --customers 5000 --seed 12 --days 1095

Prints, per value model of the run (BG/NBD, Pareto/NBD, direct trees, BTYD corrected by trees),
the per-customer MAE and correlation and the aggregate error of holdout revenue, and which model
the run served and why.
"""

from __future__ import annotations

import argparse
import time
from datetime import date


def main() -> None:
    """Simulate, train (all models), print the value holdout table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=1_095)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from berth.config import ModelConfig, TrainConfig
    from berth.simulate import SimulationConfig, simulate_port
    from berth.tables import PortData
    from berth.training import train_churn_model

    port = simulate_port(
        SimulationConfig(n_customers=args.customers, days=args.days, seed=args.seed, start=date(2023, 1, 1))
    )
    data = PortData(shipments=port.shipments, interactions=port.interactions, customers=port.customers)
    started = time.perf_counter()
    trained = train_churn_model(data, TrainConfig(model=ModelConfig(params={"nthread": args.threads})))
    seconds = time.perf_counter() - started
    print(
        f"\n{args.customers:,} customers over {args.days} days (seed {args.seed}); training {seconds:.1f} s "
        f"({', '.join(f'{k} {v}' for k, v in trained.seconds.items())})"
    )
    print(f"{'value model':18}{'revenue MAE':>14}{'correlation':>13}{'aggregate':>11}")
    for name, values in trained.metrics.items():
        if name.startswith("value_"):
            print(
                f"{name.removeprefix('value_'):18}{values['revenue_mae']:>14,.0f}"
                f"{values['revenue_correlation']:>13.3f}{values['revenue_aggregate_error']:>+11.1%}"
            )
    for note in trained.notes:
        if note.startswith(("value", "direct")):
            print(note)


if __name__ == "__main__":
    main()
