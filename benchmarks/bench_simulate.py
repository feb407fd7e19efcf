"""Speed, memory and ground-truth quality of ``berth simulate``.

Run: ``uv run python benchmarks/bench_simulate.py`` (10k and 100k customers × 730 days). Each size
runs in a fresh process so that peak memory (``ru_maxrss``) belongs to that size alone. Prints wall
and CPU time (CPU time is the honest figure on a shared machine: compare it with the load average),
peak memory, rows produced, rows per second, the oracle's ROC AUC per horizon (all truth rows, and
rows of customers that shipped in the 90 days before the cutoff) and churn rates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ACTIVE_DAYS = 90


def _measure(n_customers: int, days: int, seed: int, write: bool) -> dict[str, Any]:
    """Simulate one port in this process and return its figures."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from berth.simulate import SimulationConfig, simulate_port, write_simulation
    from berth.simulation.process import available_cpus

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    config = SimulationConfig(n_customers=n_customers, days=days, seed=seed, start=dt.date(2024, 1, 1))
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    port = simulate_port(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = {name: len(getattr(port, name)) for name in ("shipments", "interactions", "customers", "truth")}
    figures: dict[str, Any] = {
        "customers": n_customers,
        "days": days,
        "threads": available_cpus(),
        "load_average": round(load, 2),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(peak_mb),
        "rss_after_imports_mb": round(baseline_mb),
        "rows": rows,
        "rows_per_s": round(sum(rows.values()) / wall),
    }
    if write:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            write_simulation(port, Path(folder))
            figures["write_csv_s"] = round(time.perf_counter() - start, 2)

    truth = port.truth
    active = truth["days_since_last_shipment"] <= ACTIVE_DAYS
    quality = {}
    for horizon in port.config.horizons_days:
        rows_h = truth[truth["horizon_days"] == horizon]
        act = rows_h[active.loc[rows_h.index]]
        if rows_h["churned"].nunique() < 2 or act["churned"].nunique() < 2:
            continue  # too short a history for this horizon
        quality[horizon] = {
            "rows": len(rows_h),
            "auc_all": round(float(roc_auc_score(rows_h["churned"], rows_h["true_churn_probability"])), 4),
            "auc_active": round(float(roc_auc_score(act["churned"], act["true_churn_probability"])), 4),
            "churn_rate_all": round(float(rows_h["churned"].mean()), 4),
            "mean_probability_all": round(float(rows_h["true_churn_probability"].mean()), 4),
            "churn_rate_active": round(float(act["churned"].mean()), 4),
            "mean_probability_active": round(float(act["true_churn_probability"].mean()), 4),
        }
    figures["oracle"] = quality
    latent = port.latent
    existing = latent[~latent["joined_during_history"]]
    year_end = pd.Timestamp(config.start) + pd.Timedelta(days=365)
    figures["annual_churn_first_year"] = round(float((existing["lost_date"] < year_end).mean()), 4)
    figures["annual_churn_by_segment"] = {
        str(segment): round(float((group["lost_date"] < year_end).mean()), 4)
        for segment, group in existing.groupby("segment")
    }
    sh, it = port.shipments, port.interactions
    scores = it.loc[it["type"] == "survey", "score"]
    margin = (sh["revenue"] - sh["cost"]).groupby(sh["customer_id"]).sum()
    lost = latent["lost_date"].notna()
    figures["realism"] = {
        "delayed_share": round(float((sh["delay_hours"] > 0).mean()), 4),
        "delayed_over_24h_share": round(float((sh["delay_hours"] > 24).mean()), 4),
        "damaged_share": round(float(sh["damaged"].mean()), 4),
        "complaints_per_shipment": round(float((it["type"] == "complaint").sum() / len(sh)), 4),
        "nps": round(float(((scores >= 9).mean() - (scores <= 6).mean()) * 100), 1),
        "negative_margin_customers": round(float((margin < 0).mean()), 4),
        "lost_in_history_key_accounts": round(float(lost[latent["key_account"]].mean()), 4),
        "lost_in_history_others": round(float(lost[~latent["key_account"]].mean()), 4),
    }
    return figures


def _report(f: dict[str, Any]) -> None:
    rows = ", ".join(f"{name} {count:,}" for name, count in f["rows"].items())
    print(
        f"\n{f['customers']:,} customers × {f['days']} days "
        f"({f['threads']} threads, load average {f['load_average']})"
    )
    print(f"  wall {f['wall_s']} s, CPU {f['cpu_s']} s, peak RSS {f['peak_rss_mb']:,} MB")
    print(f"  rows: {rows}; {f['rows_per_s']:,} rows/s")
    if "write_csv_s" in f:
        print(f"  write_simulation (CSV): {f['write_csv_s']} s")
    churn = f["annual_churn_first_year"]
    print(f"  annual churn (customers on the books at the start, lost in year one): {churn:.1%}")
    print(f"  by segment: {f['annual_churn_by_segment']}")
    print(f"  realism: {f['realism']}")
    print("  horizon  rows        oracle AUC all / active   churn rate all (mean p)   active (mean p)")
    for horizon, q in f["oracle"].items():
        print(
            f"  {horizon:>5}d  {q['rows']:>10,}  {q['auc_all']:.4f} / {q['auc_active']:.4f}"
            f"          {q['churn_rate_all']:.3f} ({q['mean_probability_all']:.3f})"
            f"            {q['churn_rate_active']:.3f} ({q['mean_probability_active']:.3f})"
        )


def main() -> None:
    """Run each size in a child process and print its figures (``--json`` also dumps them)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also time write_simulation (CSV)")
    parser.add_argument("--json", type=Path, help="write all figures to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.sizes[0], args.days, args.seed, args.write)))
        return
    results = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", "--sizes", str(size), "--days", str(args.days)]
        command += ["--seed", str(args.seed)] + (["--write"] if args.write else [])
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        _report(figures)
        results.append(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
