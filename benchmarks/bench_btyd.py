"""Speed of the BG/NBD component: ML fit, RFM summary of raw events and one-customer predictions.

Data come from the BG/NBD process itself (`sample_bgnbd`, recency floored to whole days). Figures only,
no asserts. `--pymc` adds pymc-marketing's MAP fit on the same data (first call includes PyTensor's
compilation); pymc-marketing is not a Berth dependency, so run that through an ephemeral overlay:

    uv run python benchmarks/bench_btyd.py [--sizes 10000 100000] [--events 5000000]
    uv run --with pymc-marketing python benchmarks/bench_btyd.py --pymc
"""

from __future__ import annotations

import argparse
import os
import time
import timeit
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np

from berth.modeling.btyd import (
    BGNBDParams,
    expected_transactions,
    fit_bgnbd,
    prob_alive,
    prob_no_transactions,
    rfm_from_events,
    sample_bgnbd,
)

TRUE = BGNBDParams(r=0.8, alpha=40.0, a=0.7, b=2.5)
Data = tuple[np.ndarray, np.ndarray, np.ndarray]


def simulate(n_customers: int, seed: int = 0) -> Data:
    """Customers first seen 30-1500 days before the cutoff, histories on a whole-day grid."""
    rng = np.random.default_rng(seed)
    x, t_x, T = sample_bgnbd(TRUE, n_customers, rng.integers(30, 1500, n_customers).astype(float), rng)
    return x, np.floor(t_x), T


def seconds(fn: Callable[[], object]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def show(params: BGNBDParams) -> str:
    """Parameters, 4 significant digits."""
    return " ".join(f"{k}={v:.4g}" for k, v in params.to_dict().items())


def bench_fit(sizes: list[int]) -> None:
    """First and best-of-3 fit time per size."""
    print("\n## fit_bgnbd (scipy L-BFGS-B, analytic gradient)")
    for n in sizes:
        data = simulate(n)
        first = seconds(partial(fit_bgnbd, *data))
        best = min(seconds(partial(fit_bgnbd, *data)) for _ in range(3))
        print(f"n={n:>7,}: first {first:6.3f} s, best of 3 {best:6.3f} s   {show(fit_bgnbd(*data))}")
    print(f"true parameters:                               {show(TRUE)}")


def bench_pymc(sizes: list[int]) -> None:
    """pymc-marketing BetaGeoModel MAP fit (flat priors, so MAP = MLE) on the same data."""
    import pandas as pd

    try:
        from pymc_extras.prior import Prior
        from pymc_marketing.clv import BetaGeoModel
    except ImportError:
        print("\n(pymc-marketing is not installed: see this file's docstring for the --with overlay)")
        return
    print("\n## pymc-marketing BetaGeoModel.fit(method='map'), HalfFlat priors")
    flat = {name: Prior("HalfFlat") for name in ("r", "alpha", "a", "b")}
    for n in sizes:
        x, t_x, T = simulate(n)
        frame = pd.DataFrame({"customer_id": np.arange(n), "frequency": x, "recency": t_x, "T": T})
        times, fitted = [], None
        for _ in range(2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                model = BetaGeoModel(model_config=flat)
                model.fit(data=frame, method="map", progressbar=False)
                times.append(time.perf_counter() - start)
            post = model.idata.posterior
            fitted = BGNBDParams(**{k: float(post[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")})
        assert fitted is not None
        ours = fit_bgnbd(x, t_x, T).to_dict()
        gap = max(abs(v / ours[k] - 1.0) for k, v in fitted.to_dict().items())
        print(
            f"n={n:>7,}: first {times[0]:6.2f} s, second {times[1]:6.2f} s   {show(fitted)}"
            f"   max rel. gap to scipy {gap:.1e}"
        )


def bench_rfm(n_events: int, n_customers: int = 100_000) -> None:
    """Throughput of rfm_from_events on raw events and the cost for one customer's ~50 events."""
    print("\n## rfm_from_events")
    rng = np.random.default_rng(1)
    codes = rng.integers(0, n_customers, n_events)
    days = rng.integers(0, 1461, n_events)
    best = min(seconds(lambda: rfm_from_events(codes, days, n_customers, 1460)) for _ in range(3))
    rate = n_events / best / 1e6
    print(f"{n_events:,} events, {n_customers:,} customers: {best:.3f} s ({rate:.1f} M events/s)")
    one_codes, one_days = np.zeros(50, dtype=np.int64), np.sort(rng.integers(0, 1461, 50))
    per_call = min(
        timeit.repeat(lambda: rfm_from_events(one_codes, one_days, 1, 1460), number=2000, repeat=5)
    )
    print(f"one customer, 50 events: {per_call / 2000 * 1e6:.1f} us")


def bench_predict() -> None:
    """Per-call latency for one customer (Python floats in) and batch time for 100k customers."""
    print("\n## predictions")
    x, t_x, T = 5.0, 300.0, 400.0

    def one_customer() -> None:
        expected_transactions(TRUE, 90.0, x, t_x, T)
        prob_alive(TRUE, x, t_x, T)

    calls = 20_000
    for label, fn in [
        ("expected_transactions + prob_alive, 90 d", one_customer),
        (
            "expected_transactions, 3650 d (2F1 branch)",
            lambda: expected_transactions(TRUE, 3650.0, x, t_x, T),
        ),
        ("prob_no_transactions, 90 d", lambda: prob_no_transactions(TRUE, 90.0, x, t_x, T)),
    ]:
        best = min(timeit.repeat(fn, number=calls, repeat=5)) / calls
        print(f"one customer, {label}: {best * 1e6:.1f} us")
    xs, txs, Ts = simulate(100_000)
    for horizon in (90.0, 3650.0):
        best = min(seconds(partial(expected_transactions, TRUE, horizon, xs, txs, Ts)) for _ in range(3))
        print(f"100,000 customers, expected_transactions {horizon:.0f} d: {best * 1e3:.1f} ms")
    best = min(seconds(lambda: prob_alive(TRUE, xs, txs, Ts)) for _ in range(3))
    print(f"100,000 customers, prob_alive: {best * 1e3:.1f} ms")


def main() -> None:
    """Run the benchmarks named on the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--pymc", action="store_true", help="also time pymc-marketing's MAP fit")
    args = parser.parse_args()
    print(f"# BG/NBD benchmark ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    bench_fit(args.sizes)
    if args.pymc:
        bench_pymc(args.sizes)
    bench_rfm(args.events)
    bench_predict()


if __name__ == "__main__":
    main()
