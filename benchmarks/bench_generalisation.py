"""Generalisation test bed: Berth against standard peers and the oracle on regimes it was never tuned on.

    uv run python benchmarks/bench_generalisation.py            # 6 regimes × 3,000 customers
    uv run python benchmarks/bench_generalisation.py --quick    # 1,000 customers, for trying
    uv run python benchmarks/bench_generalisation.py --regimes reference market_shock

Each regime (``berth.testbed.regimes``, 3,000 customers by default: fresh seeds, drawn
parameters, a single acquisition cohort, shipments only, rich interactions, a market shock) is
simulated; Berth is trained with the default config on the data known at the scoring cutoff and
scored there; BG/NBD (pymc-marketing), recency and XGBoost on RFM snapshots are fitted in the same
run. All are scored on the same rows (customers with a shipment in the 365 days up to the cutoff)
against the realised 90-day churn, next to the oracle's true probabilities. ``docs/modeling.md``
(Generalisation test bed) explains the peers and holds the latest table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from threadpoolctl import threadpool_limits

from berth.testbed import METHODS, PEERS, RegimeResult, regimes, results_table, run_regime

LABELS = {
    "berth": "Berth",
    "bgnbd": "BG/NBD",
    "recency": "recency",
    "rfm_xgboost": "RFM XGBoost",
    "oracle": "oracle",
}


def markdown(results: list[RegimeResult]) -> str:
    """The table: regime × method → ROC AUC / Brier, the best peer and Berth's gaps."""
    methods = [m for m in (*METHODS, "oracle") if any(m in r.metrics for r in results)]
    head = ["regime", "rows", "churn", *(f"{LABELS[m]} AUC / Brier" for m in methods)]
    head += ["best peer (AUC)", "Berth − best peer (AUC ± bootstrap SE)", "Berth − oracle (AUC)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table = results_table(results)
    for r, row in zip(results, table.to_dict("records"), strict=True):
        cells = [
            r.regime + (f" ({'; '.join(r.notes)})" if r.notes else ""),
            f"{r.rows:,}",
            f"{r.churn_rate:.3f}",
        ]
        cells += [
            f"{r.metrics[m]['roc_auc']:.4f} / {r.metrics[m]['brier']:.4f}" if m in r.metrics else "–"
            for m in methods
        ]
        best = row.get("best_peer")
        cells.append(LABELS[str(best)] if isinstance(best, str) else "–")
        gap, se, oracle_gap = (
            row.get(k)
            for k in ("berth_minus_best_peer_auc", "berth_minus_best_peer_se", "berth_minus_oracle_auc")
        )
        cells.append(f"{gap:+.4f} ± {se:.4f}" if isinstance(gap, float) and isinstance(se, float) else "–")
        cells.append(f"{oracle_gap:+.4f}" if isinstance(oracle_gap, float) else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the regimes one after the other and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--quick", action="store_true", help="1,000 customers per regime")
    parser.add_argument("--regimes", nargs="*", help="only these regimes (names as printed)")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    n = 1_000 if args.quick else args.customers
    chosen = [r for r in regimes(n_customers=n) if not args.regimes or r.name in args.regimes]
    if not chosen:
        sys.exit(f"no regime named {args.regimes}")
    print(f"{dt.date.today().isoformat()}: {len(chosen)} regimes × {n:,} customers, horizon 90 d", flush=True)
    for regime in chosen:
        print(f"  {regime.name}: {regime.description} (seed {regime.config.seed}, cutoff {regime.cutoff})")
    t0 = time.perf_counter()
    results = []

    def say(message: str) -> None:
        print(message, flush=True)

    # One BLAS thread: on the shared 2-core machine, BLAS threads spinning beside XGBoost's made
    # the logistic fits (Berth's baselines and tier baseline, the recency peer) many times slower.
    with threadpool_limits(limits=1, user_api="blas"):
        for i, regime in enumerate(chosen, start=1):
            say(f"\n[{i}/{len(chosen)}] {regime.name}")
            start = time.perf_counter()
            results.append(run_regime(regime, args.methods, log=say, threads=args.threads))
            say(f"  done in {time.perf_counter() - start:.1f} s")
    print(f"\nROC AUC / Brier on each regime's scoring rows ({time.perf_counter() - t0:.0f} s in all)\n")
    print(markdown(results))
    peers = ", ".join(LABELS[p] for p in PEERS)
    print(f"\nPeers: {peers}; gaps are Berth's ROC AUC minus the best peer's and minus the oracle's.")


if __name__ == "__main__":
    main()
