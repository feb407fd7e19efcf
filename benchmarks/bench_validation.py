"""Speed of reading and validating raw tables at the size of a port's whole customer base.

Builds synthetic shipments (~75 per customer), interactions (~5 per customer) and customers, with
a share of bad rows of several kinds, writes them as CSV and as Parquet, and prints seconds and
rows/s for reading each table, validating each table (pandera and plain-mask engines) and the
end-to-end ``load_port_data``. Figures only, no asserts.

    uv run python benchmarks/bench_validation.py [--customers 10000 100000] [--bad-share 0.01]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from berth import tables as t
from berth.config import DataConfig, ValidationConfig
from berth.contract import CONTRACT, TooManyBadRowsError, _validate_table
from berth.io import load_port_data, read_raw_table

REFERENCE = date(2025, 1, 1)
START = np.datetime64("2022-01-01")
DAYS = 1000
SHIPMENTS_PER_CUSTOMER = 75
INTERACTIONS_PER_CUSTOMER = 5
DATE_COLUMNS = ("shipment_date", "timestamp", "resolved_at", "since")
T = TypeVar("T")


def _pick(values: Sequence[str], index: np.ndarray) -> pd.Series:
    """``values[index]`` as a str Series, built in pyarrow (numpy string ops are slow at 10M rows)."""
    return pd.Series(pd.array(pa.array(values).take(pa.array(index)), dtype="str"))


def _labels(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _days(first: np.datetime64, n: int) -> list[str]:
    return [str(first + i) for i in range(n)]


def synthetic_tables(n_customers: int, bad_share: float, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Raw tables with ``bad_share`` of shipment and interaction rows broken in some way."""
    rng = np.random.default_rng(seed)
    ids = _labels("C", n_customers)
    days = _days(START, DAYS)
    n = n_customers * SHIPMENTS_PER_CUSTOMER
    shipments = pd.DataFrame(
        {
            "customer_id": _pick(ids, rng.integers(0, n_customers, n)),
            "shipment_date": _pick(days, rng.integers(0, DAYS, n)),
            "shipment_id": pd.Series(
                pd.array(pc.binary_join_element_wise("S", pc.cast(pa.array(np.arange(n)), pa.string()), ""))
            ).astype("str"),
            "volume": rng.gamma(2.0, 10.0, n).round(1),
            "revenue": rng.gamma(2.0, 800.0, n).round(2),
            "cost": rng.gamma(2.0, 600.0, n).round(2),
            "delay_hours": rng.exponential(6.0, n).round(1),
            "damaged": (rng.random(n) < 0.01).astype(np.int64),
            "cargo_type": _pick(["container", "bulk", "reefer", "ro-ro"], rng.integers(0, 4, n)),
            "lane": _pick(_labels("L", 40), rng.integers(0, 40, n)),
            "channel": _pick(["edi", "web", "agent"], rng.integers(0, 3, n)),
        }
    )
    _break(shipments, rng, bad_share)

    m = n_customers * INTERACTIONS_PER_CUSTOMER
    kinds = ["complaint", "inquiry", "survey", "call", "email", "claim", "meeting"]
    kind = rng.integers(0, len(kinds), m)
    opened = rng.integers(0, DAYS - 30, m)
    resolved = _pick(days, opened + rng.integers(0, 20, m))
    interactions = pd.DataFrame(
        {
            "customer_id": _pick(ids, rng.integers(0, n_customers, m)),
            "timestamp": _pick(days, opened),
            "type": _pick(kinds, kind),
            "score": np.where(kind == kinds.index("survey"), rng.integers(0, 11, m).astype(float), np.nan),
            "resolved_at": resolved.where(kind == kinds.index("complaint")),
            "sentiment": rng.uniform(-1, 1, m).round(2),
            "channel": _pick(["phone", "email", "visit"], rng.integers(0, 3, m)),
        }
    )
    interactions.loc[rng.random(m) < bad_share, "score"] = 11.0
    customers = pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "segment": _pick(["shipping_line", "forwarder", "shipper"], rng.integers(0, 3, n_customers)),
            "region": _pick(["north", "east", "south", "west"], rng.integers(0, 4, n_customers)),
            "since": _pick(_days(START - 3000, 3000), rng.integers(0, 3000, n_customers)),
            "contract": _pick(["yes", "no"], rng.integers(0, 2, n_customers)),
            "loyalty_member": _pick(["true", "false"], rng.integers(0, 2, n_customers)),
        }
    )
    return {t.SHIPMENTS: shipments, t.INTERACTIONS: interactions, t.CUSTOMERS: customers}


def _break(shipments: pd.DataFrame, rng: np.random.Generator, share: float) -> None:
    """Spread five kinds of bad value over ``share`` of the rows (in place)."""
    rows = np.flatnonzero(rng.random(len(shipments)) < share)
    kind = rng.integers(0, 5, len(rows))
    shipments.loc[rows[kind == 0], "volume"] = -1.0
    shipments.loc[rows[kind == 1], "revenue"] = np.inf
    shipments.loc[rows[kind == 2], "shipment_date"] = "2031-01-01"
    shipments.loc[rows[kind == 3], "customer_id"] = pd.NA
    shipments.loc[rows[kind == 4], "shipment_id"] = "S0"


def write(tables: dict[str, pd.DataFrame], folder: Path, suffix: str) -> None:
    """Write the tables as CSV (through pyarrow, faster than pandas) or Parquet (typed dates)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if suffix == ".csv":
            pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{name}.csv")
        else:
            dates = {
                col: pd.to_datetime(frame[col], format="ISO8601") for col in DATE_COLUMNS if col in frame
            }
            frame.assign(**dates).to_parquet(folder / f"{name}.parquet", index=False)


def timed(func: Callable[[], T]) -> tuple[T, float]:
    """(result, seconds)."""
    start = time.perf_counter()
    out = func()
    return out, time.perf_counter() - start


def rate(rows: int, seconds: float) -> str:
    return f"{seconds:7.2f} s  {rows / seconds / 1e6:6.2f} M rows/s"


def bench_folder(folder: Path, suffix: str, config: DataConfig) -> None:
    """Print read and validate figures per table, then the end-to-end load."""
    raw: dict[str, Any] = {}
    print(f"  {suffix[1:]}:")
    for name in (t.CUSTOMERS, t.SHIPMENTS, t.INTERACTIONS):
        path = folder / f"{name}{suffix}"
        raw[name], seconds = timed(partial(read_raw_table, path))
        size = f"{path.stat().st_size / 2**20:.0f} MiB"
        print(
            f"    read      {name:<12} {len(raw[name]):>10,} rows {size:>17} {rate(len(raw[name]), seconds)}"
        )
    limit = pd.Timestamp(REFERENCE) + pd.Timedelta(days=2)
    for engine in ("pandera", "masks"):
        customer_ids = None
        for name in (t.CUSTOMERS, t.SHIPMENTS, t.INTERACTIONS):
            validate = partial(
                _validate_table, source=None, limit=limit, customer_ids=customer_ids, engine=engine
            )
            outcome, seconds = timed(partial(validate, raw[name], CONTRACT[name], config))
            if name == t.CUSTOMERS:
                customer_ids = pd.Index(outcome.customer_ids.dropna().unique())
            report = outcome.report
            label = f"({engine}, {report.rows_quarantined:,} bad)"
            figures = rate(report.rows_read, seconds)
            print(f"    validate  {name:<12} {report.rows_read:>10,} rows {label:>17} {figures}")
    total = sum(len(frame) for frame in raw.values())
    try:
        _, seconds = timed(partial(load_port_data, folder, config, reference_date=REFERENCE))
    except TooManyBadRowsError as exc:  # a large --bad-share; the timing still stands
        print(f"    (load failed the contract: {exc})")
        return
    print(f"    load_port_data: read + validate all tables {total:>10,} rows {rate(total, seconds)}")


def main() -> None:
    """Parse arguments and run the benchmark for each size."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--bad-share", type=float, default=0.01, help="Share of broken shipment rows.")
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    args = parser.parse_args()
    config = DataConfig(validation=ValidationConfig(reference_date=REFERENCE.isoformat()))
    print(
        f"cpus available: {len(os.sched_getaffinity(0))}, pandas {pd.__version__}, pyarrow {pa.__version__}"
    )
    for n_customers in args.customers:
        tables, seconds = timed(partial(synthetic_tables, n_customers, args.bad_share))
        rows = {name: len(frame) for name, frame in tables.items()}
        print(f"\n{n_customers:,} customers: {rows} (built in {seconds:.1f} s)")
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in args.formats:
                folder = Path(tmp) / fmt
                write(tables, folder, f".{fmt}")
                bench_folder(folder, f".{fmt}", config)


if __name__ == "__main__":
    main()
