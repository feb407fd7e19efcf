"""Speed of the point-in-time feature engine against the plain pandas reference.

For each book size, simulates customers × days with :func:`berth.simulate.simulate_port`, then at
one cutoff (``--horizon`` days before the end) prints:

- events (shipments + interactions) and customers eligible at the cutoff;
- the fast engine: history build (``HistoryArrays.from_port_data``) and feature computation
  (``compute_features`` with a planned spec, BG/NBD fit included), each on a fresh history,
  median of ``--repeat`` runs; events/s = events / (build + compute); and the computation at a
  second cutoff on the same history (what each further training snapshot pays);
- the pandas reference (:func:`berth.features.reference.reference_features`) for the same
  features, the speed-up, and how closely the two agree;
- peak memory (tracemalloc) of each path, measured in separate untimed runs;
- single-customer latency of the API path: ``HistoryArrays.from_columns`` + ``compute_features``
  for one customer with about 50 shipments and 10 interactions (median over ``--calls`` calls).

Figures only, no asserts; the target is >= 2 million events/s at one cutoff.

    uv run python benchmarks/bench_features.py [--customers 10000 100000] [--days 730]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from berth import tables as t
from berth.features import (
    FeatureSpec,
    HistoryArrays,
    compute_features,
    date_to_day,
    plan_features,
    to_frame,
)
from berth.features.reference import reference_features
from berth.modeling.btyd import BGNBDParams
from berth.simulate import SimulationConfig, simulate_port
from berth.tables import PortData

START = date(2023, 1, 1)
TARGET_EVENTS_PER_S = 2_000_000
T = TypeVar("T")


@dataclass(frozen=True)
class Took:
    """Wall-clock and process CPU seconds of one call (CPU time barely moves when others share the CPU)."""

    wall: float
    cpu: float

    def __add__(self, other: Took) -> Took:
        return Took(self.wall + other.wall, self.cpu + other.cpu)

    def row(self, label: str, note: str = "") -> str:
        return f"{label:<40}{self.wall:>10.3f}{self.cpu:>10.3f}   {note}".rstrip()


def timed(fn: Callable[[], T]) -> tuple[T, Took]:
    """Result, wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, Took(time.perf_counter() - wall, time.process_time() - cpu)


def median(runs: list[Took]) -> Took:
    return Took(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs))


def peak_mb(fn: Callable[[], Any]) -> float:
    """Peak traced memory (MB) allocated while ``fn`` runs (numpy buffers included)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    gc.collect()
    return peak / 1e6


def agreement(fast: pd.DataFrame, reference: pd.DataFrame) -> str:
    """How many features agree within rtol 1e-9 and, for the others, the largest gaps.

    Both sum each customer's window directly, in different orders: they may differ in the last
    bits, which shows as a large relative gap only where a value is itself about zero (a trend).
    """
    fast = fast.sort_values(t.CUSTOMER_ID).reset_index(drop=True)
    if fast[t.CUSTOMER_ID].tolist() != reference[t.CUSTOMER_ID].tolist():
        return "DIFFERENT CUSTOMERS"
    names = [c for c in reference.columns[1:] if c in fast.columns]
    missing = sorted(set(fast.columns[1:]) - set(names) - {c for c in fast.columns if c.startswith("btyd_")})
    worst = []
    for name in names:
        a = fast[name].to_numpy(dtype=np.float64)
        b = reference[name].to_numpy(dtype=np.float64)
        off = ~np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True)
        if off.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                gap = np.abs(a - b)[off]
                rel = (gap / np.abs(b[off]))[b[off] != 0]
            worst.append(
                f"{name} ({int(off.sum())} rows, max |diff| {np.nanmax(gap):.1e}, "
                f"max rel {np.nanmax(rel) if rel.size else np.nan:.1e})"
            )
    text = f"{len(names) - len(worst)}/{len(names)} features equal within rtol 1e-9"
    if worst:
        text += "; off: " + ", ".join(worst)
    if missing:
        text += f"; not in reference: {missing}"
    return text


def one_customer_columns(data: PortData, cutoff: date, shipments: int = 50, interactions: int = 10) -> dict:
    """Columns (plain Python values) of the simulated customer closest to the wanted event counts."""
    stamp = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    ships = data.shipments[data.shipments[t.SHIPMENT_DATE] < stamp]
    inter = data.interactions
    assert inter is not None
    inter = inter[(inter[t.TIMESTAMP] < stamp) & ~(inter["resolved_at"] >= stamp)]
    n_ships = ships.groupby(t.CUSTOMER_ID).size()
    n_inter = inter.groupby(t.CUSTOMER_ID).size().reindex(n_ships.index, fill_value=0)
    customer = ((n_ships - shipments).abs() + (n_inter - interactions).abs()).idxmin()
    columns: dict[str, dict[str, list[Any]]] = {}
    for name, frame in ((t.SHIPMENTS, ships), (t.INTERACTIONS, inter), (t.CUSTOMERS, data.customers)):
        assert frame is not None
        mine = frame[frame[t.CUSTOMER_ID] == customer]
        columns[name] = {
            col: [
                None if pd.isna(v) else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
                for v in mine[col].astype(object)
            ]
            for col in mine.columns
        }
    columns[t.SHIPMENTS][t.SHIPMENT_DATE] = [v.date() for v in columns[t.SHIPMENTS][t.SHIPMENT_DATE]]
    return columns


def latency(
    columns: dict, cutoff_day: int, spec: FeatureSpec, params: BGNBDParams | None, calls: int
) -> None:
    """Median and p90 of from_columns + compute_features for one customer (wall and CPU)."""
    codes = np.array([0])
    wall: dict[str, list[float]] = {"from_columns": [], "compute_features": [], "total": []}
    cpu: dict[str, list[float]] = {"from_columns": [], "compute_features": [], "total": []}
    for i in range(calls + 20):
        w0, c0 = time.perf_counter_ns(), time.process_time_ns()
        history = HistoryArrays.from_columns(columns)
        w1, c1 = time.perf_counter_ns(), time.process_time_ns()
        matrix = compute_features(history, cutoff_day, spec, codes=codes, btyd_params=params)
        w2, c2 = time.perf_counter_ns(), time.process_time_ns()
        if i >= 20:  # warm-up calls left out
            for key, (a, b, x, y) in {
                "from_columns": (w0, w1, c0, c1),
                "compute_features": (w1, w2, c1, c2),
                "total": (w0, w2, c0, c2),
            }.items():
                wall[key].append((b - a) / 1e3)
                cpu[key].append((y - x) / 1e3)
    assert matrix.values.shape == (1, len(spec.feature_names))
    n_ships = len(columns[t.SHIPMENTS][t.CUSTOMER_ID])
    n_inter = len(columns[t.INTERACTIONS][t.CUSTOMER_ID])
    print(
        f"\nSingle customer ({n_ships} shipments, {n_inter} interactions, "
        f"{len(spec.feature_names)} features, BG/NBD with stored parameters), {calls} calls:"
    )
    print(f"{'':<20}{'wall µs':>12}{'CPU µs':>12}{'wall p90 µs':>14}")
    for key in wall:
        print(
            f"  {key:<18}{statistics.median(wall[key]):>12.1f}{statistics.median(cpu[key]):>12.1f}"
            f"{np.percentile(wall[key], 90):>14.1f}"
        )


def bench(n_customers: int, args: argparse.Namespace) -> tuple[dict, int, FeatureSpec, BGNBDParams | None]:
    """Every figure for one book size; returns what the latency measurement needs."""
    config = SimulationConfig(n_customers=n_customers, days=args.days, seed=args.seed, start=START)
    port, sim = timed(lambda: simulate_port(config))
    data = PortData(port.shipments, port.interactions, port.customers)
    del port
    gc.collect()
    cutoff = config.end - timedelta(days=args.horizon)
    cutoff_day = date_to_day(cutoff)
    events = len(data.shipments) + (len(data.interactions) if data.interactions is not None else 0)
    base = FeatureSpec(horizon_days=args.horizon)
    spec = plan_features(HistoryArrays.from_port_data(data), cutoff_day, base)

    builds, computes = [], []
    for _ in range(args.repeat):
        gc.collect()
        history, took = timed(lambda: HistoryArrays.from_port_data(data))
        builds.append(took)
        matrix, took = timed(partial(compute_features, history, cutoff_day, spec))
        computes.append(took)
    build, compute = median(builds), median(computes)
    fast = build + compute
    _, warm = timed(partial(compute_features, history, cutoff_day - 30, spec))
    fast_frame = to_frame(history, matrix)

    title = f"{n_customers:,} customers × {args.days} days (simulated in {sim.wall:.1f} s), cutoff {cutoff}"
    print(f"\n=== {title} ===")
    print(f"events (shipments + interactions)       {events:>20,}")
    print(f"eligible customers at the cutoff        {matrix.codes.shape[0]:>20,}")
    fitted = matrix.btyd_params is not None
    print(
        f"features                                {len(spec.feature_names):>20}   (BG/NBD fitted: {fitted})"
    )
    print(f"{'':<40}{'wall s':>10}{'CPU s':>10}")
    print(build.row("fast: history build", f"median of {args.repeat}"))
    print(compute.row("fast: compute (BG/NBD fit included)"))
    print(fast.row("fast: build + compute"))
    print(warm.row("fast: compute at a 2nd cutoff", "same history"))
    rate_wall, rate_cpu = events / fast.wall, events / fast.cpu
    print(
        f"{'fast: events/s':<40}{rate_wall:>10.3g}{rate_cpu:>10.3g}   "
        f"target {TARGET_EVENTS_PER_S:.0e}: {rate_wall / TARGET_EVENTS_PER_S:.2f}× wall, "
        f"{rate_cpu / TARGET_EVENTS_PER_S:.2f}× CPU"
    )
    if not args.skip_reference:
        reference, ref = timed(lambda: reference_features(data, cutoff, spec))
        print(ref.row("pandas reference"))
        print(f"{'speed-up (reference / fast)':<40}{ref.wall / fast.wall:>10.1f}{ref.cpu / fast.cpu:>10.1f}")
        print(f"agreement: {agreement(fast_frame, reference)}")
        del reference
    fast_mb = peak_mb(lambda: compute_features(HistoryArrays.from_port_data(data), cutoff_day, spec))
    print(f"{'peak traced memory, fast (build+compute)':<40}{fast_mb:>10.0f} MB")
    if not args.skip_reference:
        reference_mb = peak_mb(lambda: reference_features(data, cutoff, spec))
        print(f"{'peak traced memory, pandas reference':<40}{reference_mb:>10.0f} MB")
    frames = (data.shipments, data.interactions, data.customers)
    input_mb = sum(f.memory_usage(deep=True).sum() for f in frames if f is not None) / 1e6
    print(f"{'input tables in memory':<40}{input_mb:>10.0f} MB")
    return one_customer_columns(data, cutoff), cutoff_day, spec, matrix.btyd_params


def main() -> None:
    """Parse arguments, run each size, then the single-customer latency."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--horizon", type=int, default=90, help="days between the cutoff and the end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="fast-engine runs per size (median)")
    parser.add_argument("--calls", type=int, default=500, help="single-customer calls (median)")
    parser.add_argument("--skip-reference", action="store_true", help="leave out the pandas reference")
    args = parser.parse_args()

    load = os.getloadavg()
    print(
        f"CPUs: {os.cpu_count()}, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(other processes may share the CPU: wall figures are as measured; CPU time is this process's)"
    )
    single = None
    for n in args.customers:
        result = bench(n, args)
        if single is None:
            single = result
    if single is not None:
        latency(*single, calls=args.calls)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KiB on Linux
    print(f"\n{'peak resident set size of this process':<40}{rss_mb:>10.0f} MB")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
