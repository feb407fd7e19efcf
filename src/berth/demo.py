"""The quickstart's demo customer: the riskiest one a manager can still save.

The highest churn probability of a book belongs to customers silent for most of a year: true, and
useless for a demo (nobody calls a customer gone eleven months, and its score says nothing new).
The demo shows instead the highest-risk customer who still ships at or near its own rhythm
(activity state ``active`` or ``dozing``: the gap since its last shipment is under three times its
usual gap, docs/taxonomy.md), falling back to the riskiest customer when no one qualifies.

    uv run python -m berth.demo data/demo/scores.csv      # prints the customer id
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from berth.tables import CUSTOMER_ID

STILL_SHIPPING = ("active", "dozing")


def demo_customer(scores: pd.DataFrame) -> str:
    """Id of the highest-risk customer still shipping (``berth score`` output), else the riskiest."""
    if scores.empty:
        raise ValueError("no scored customer to show")
    ranked = scores.sort_values("churn_probability", ascending=False, kind="stable")
    if "activity_state" in ranked.columns:
        shipping = ranked[ranked["activity_state"].isin(STILL_SHIPPING)]
        if not shipping.empty:
            return str(shipping[CUSTOMER_ID].iloc[0])
    return str(ranked[CUSTOMER_ID].iloc[0])


def main(argv: list[str]) -> int:
    """``python -m berth.demo SCORES``: print the demo customer's id."""
    if len(argv) != 1:
        print("usage: python -m berth.demo SCORES.csv|.parquet", file=sys.stderr)
        return 2
    path = Path(argv[0])
    frame = (
        pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={CUSTOMER_ID: str})
    )
    print(demo_customer(frame))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
