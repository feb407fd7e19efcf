"""Speed and memory of the customer-value models: BG/NBD, Pareto/NBD and Gamma-Gamma fits, predictions, CLV.

Data come from each model's own process (`sample_bgnbd`, `sample_pareto_nbd`, `sample_gamma_gamma`),
customers first seen 30-1500 days before the cutoff, recency floored to whole days. Figures only, no
asserts. Peak memory is tracemalloc's peak of Python and numpy allocations during one warm fit.

    uv run python benchmarks/bench_value.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import time
import timeit
import tracemalloc
from collections.abc import Callable
from functools import partial

import numpy as np

from berth.modeling.btyd import BGNBDParams, fit_bgnbd, sample_bgnbd
from berth.modeling.value import (
    GammaGammaParams,
    ParetoNBDParams,
    conditional_expected_value,
    discounted_clv,
    expected_cumulative_transactions,
    fit_gamma_gamma,
    fit_pareto_nbd,
    pareto_nbd_expected_transactions,
    pareto_nbd_prob_alive,
    sample_gamma_gamma,
    sample_pareto_nbd,
)

TRUE_BG = BGNBDParams(r=0.8, alpha=40.0, a=0.7, b=2.5)
TRUE_PNBD = ParetoNBDParams(r=0.8, alpha=40.0, s=0.7, beta=600.0)
TRUE_GG = GammaGammaParams(p=2.5, q=4.0, v=12.0)
Data = tuple[np.ndarray, np.ndarray, np.ndarray]


def simulate(model: str, n_customers: int, seed: int = 0) -> Data:
    """Histories on a whole-day grid from the named model's process."""
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 1500, n_customers).astype(float)
    if model == "bgnbd":
        x, t_x, T = sample_bgnbd(TRUE_BG, n_customers, T, rng)
    else:
        x, t_x, T = sample_pareto_nbd(TRUE_PNBD, n_customers, T, rng)
    return x, np.floor(t_x), T


def seconds(fn: Callable[[], object]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_mb(fn: Callable[[], object]) -> float:
    """tracemalloc's peak (MB) during one call."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def show(params: BGNBDParams | ParetoNBDParams | GammaGammaParams) -> str:
    """Parameters, 4 significant digits."""
    return " ".join(f"{k}={v:.4g}" for k, v in params.to_dict().items())


def bench_fits(sizes: list[int]) -> None:
    """First and best-of-3 fit time and peak memory per model and size."""
    print("\n## fits (L-BFGS-B, analytic gradients)")
    tiny = simulate("pareto_nbd", 50)
    load = seconds(partial(fit_pareto_nbd, *tiny))
    print(
        f"loading the compiled Pareto/NBD kernels (numba cache), first tiny fit of the process: {load:.2f} s"
    )
    for n in sizes:
        bg = simulate("bgnbd", n)
        pnbd = simulate("pareto_nbd", n)
        x, _, _ = pnbd
        values = sample_gamma_gamma(TRUE_GG, x, np.random.default_rng(1))
        fits: list[tuple[str, Callable[[], BGNBDParams | ParetoNBDParams | GammaGammaParams]]] = [
            ("BG/NBD     ", partial(fit_bgnbd, *bg)),
            ("Pareto/NBD ", partial(fit_pareto_nbd, *pnbd)),
            ("Gamma-Gamma", partial(fit_gamma_gamma, x, values)),
        ]
        for name, fit in fits:
            first = seconds(fit)
            best = min(seconds(fit) for _ in range(3))
            memory = peak_mb(fit)
            print(
                f"{name} n={n:>7,}: first {first:6.3f} s, best of 3 {best:6.3f} s, peak {memory:6.1f} MB"
                f"   {show(fit())}"
            )
    print(f"true: BG/NBD {show(TRUE_BG)}; Pareto/NBD {show(TRUE_PNBD)}; Gamma-Gamma {show(TRUE_GG)}")
    print("(Gamma-Gamma fits the customers with frequency > 0 among the n Pareto/NBD customers)")


def bench_predict(n_customers: int = 100_000) -> None:
    """Per-call latency for one customer and batch times for n customers, CLV included."""
    print("\n## predictions")
    x, t_x, T = 5.0, 300.0, 400.0

    def one_customer() -> None:
        pareto_nbd_expected_transactions(TRUE_PNBD, 90.0, x, t_x, T)
        pareto_nbd_prob_alive(TRUE_PNBD, x, t_x, T)

    calls = 20_000
    for label, fn in [
        ("pareto_nbd_expected_transactions + prob_alive, 90 d", one_customer),
        ("conditional_expected_value", lambda: conditional_expected_value(TRUE_GG, x, 12.0)),
    ]:
        best = min(timeit.repeat(fn, number=calls, repeat=5)) / calls
        print(f"one customer, {label}: {best * 1e6:.1f} us")

    xs, txs, Ts = simulate("pareto_nbd", n_customers)
    values = sample_gamma_gamma(TRUE_GG, xs, np.random.default_rng(1))
    n = f"{n_customers:,} customers"
    batch: list[tuple[str, Callable[[], object]]] = [
        ("pareto_nbd_prob_alive", partial(pareto_nbd_prob_alive, TRUE_PNBD, xs, txs, Ts)),
        (
            "pareto_nbd_expected_transactions 90 d",
            partial(pareto_nbd_expected_transactions, TRUE_PNBD, 90.0, xs, txs, Ts),
        ),
        ("conditional_expected_value", partial(conditional_expected_value, TRUE_GG, xs, values)),
    ]
    for model, params in (("pareto_nbd", TRUE_PNBD), ("bgnbd", TRUE_BG)):
        label = f"expected_cumulative_transactions {model}, 2 years in 24 steps"
        batch.append((label, partial(expected_cumulative_transactions, model, params, xs, txs, Ts, 720, 30)))
    cumulative = expected_cumulative_transactions("pareto_nbd", TRUE_PNBD, xs, txs, Ts, 720, 30)
    per_occasion = conditional_expected_value(TRUE_GG, xs, values)
    batch.append(
        ("discounted_clv, 24 steps", partial(discounted_clv, cumulative, per_occasion, 0.3, 0.08, 30))
    )
    for label, fn in batch:
        best = min(seconds(fn) for _ in range(3))
        print(f"{n}, {label}: {best * 1e3:.1f} ms")


def main() -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"# customer-value benchmark ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    bench_fits(args.sizes)
    bench_predict()


if __name__ == "__main__":
    main()
