"""Behaviour of the customer-value models: Pareto/NBD, Gamma-Gamma and discounted CLV."""

from __future__ import annotations

import json
import math
from typing import Literal

import numpy as np
import pytest
from scipy import integrate

from berth.modeling.btyd import BGNBDParams, expected_transactions, sample_bgnbd
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

TRUE = ParetoNBDParams(r=0.6, alpha=20.0, s=0.8, beta=400.0)
TRUE_GG = GammaGammaParams(p=2.5, q=4.0, v=12.0)

Data = tuple[np.ndarray, np.ndarray, np.ndarray]


def _simulate_future(
    params: ParetoNBDParams, n: int, T: float, horizon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """History (x, t_x) at T, alive at T, and the occasions in (T, T + horizon], from the raw process.

    Independent of `sample_pareto_nbd`: draws every Poisson arrival in (0, T + horizon] explicitly and keeps
    those before the customer's exponential death time.
    """
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    mu = rng.gamma(params.s, 1.0 / params.beta, n)
    death = rng.exponential(1.0 / mu)
    arrivals = rng.poisson(lam * (T + horizon))
    owner = np.repeat(np.arange(n), arrivals)
    times = rng.uniform(0.0, T + horizon, owner.size)
    made = times < death[owner]
    past = made & (times <= T)
    x = np.bincount(owner[past], minlength=n).astype(float)
    t_x = np.zeros(n)
    np.maximum.at(t_x, owner[past], times[past])
    future = np.bincount(owner[made & (times > T)], minlength=n).astype(float)
    return x, t_x, (death > T).astype(float), future


def _reference_alive(params: ParetoNBDParams, x: float, t_x: float, T: float) -> float:
    """P(alive) = G(T) / (G(T) + s int_tx^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du) by quadrature."""
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta

    def ratio(u: float) -> float:
        log_ratio = (r + x) * math.log((alpha + T) / (alpha + u)) + s * math.log((beta + T) / (beta + u))
        return math.exp(log_ratio) / (beta + u)

    died, _ = integrate.quad(ratio, t_x, T, epsabs=0.0, epsrel=1e-12, limit=200)
    return 1.0 / (1.0 + s * died)


# --- parameters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [TRUE, TRUE_GG])
def test_params_round_trip_through_json(params: ParetoNBDParams | GammaGammaParams) -> None:
    restored = type(params).from_dict(json.loads(json.dumps(params.to_dict())))
    assert restored == params
    assert all(type(v) is float for v in params.to_dict().values())


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (ParetoNBDParams, {"r": 1.0, "alpha": 1.0, "s": 1.0}),
        (ParetoNBDParams, {"r": 1.0, "alpha": 1.0, "s": 1.0, "beta": 1.0, "a": 1.0}),
        (ParetoNBDParams, {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}),
        (GammaGammaParams, {"p": 1.0, "q": 1.0}),
        (GammaGammaParams, {"p": 1.0, "q": 1.0, "v": 1.0, "gamma": 1.0}),
    ],
)
def test_params_from_dict_refuses_wrong_keys(
    cls: type[ParetoNBDParams] | type[GammaGammaParams], bad: dict[str, float]
) -> None:
    with pytest.raises(ValueError, match="keys"):
        cls.from_dict(bad)


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_params_refuse_non_positive_or_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite positive"):
        ParetoNBDParams(r=1.0, alpha=1.0, s=1.0, beta=value)
    with pytest.raises(ValueError, match="finite positive"):
        GammaGammaParams(p=1.0, q=value, v=1.0)


# --- Pareto/NBD fit -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> Data:
    """20k customers from the Pareto/NBD process, first seen 200-1500 days before the cutoff."""
    rng = np.random.default_rng(19870101)
    T = rng.uniform(200, 1500, 20_000).round()
    return sample_pareto_nbd(TRUE, 20_000, T, rng)


def test_fit_recovers_parameters(simulated: Data) -> None:
    fitted = fit_pareto_nbd(*simulated)
    # Across 12 seeds at this size the relative errors had SD 1.5% (r), 1.3% (alpha), 4.1% (s), 5.3%
    # (beta): the tolerances are 4-5 SD.
    assert fitted.r == pytest.approx(TRUE.r, rel=0.07)
    assert fitted.alpha == pytest.approx(TRUE.alpha, rel=0.07)
    assert fitted.s == pytest.approx(TRUE.s, rel=0.2)
    assert fitted.beta == pytest.approx(TRUE.beta, rel=0.25)

    x, t_x, T = simulated
    got = pareto_nbd_expected_transactions(fitted, 180.0, x, t_x, T)
    want = pareto_nbd_expected_transactions(TRUE, 180.0, x, t_x, T)
    assert np.abs(got - want).mean() < 0.03 * want.mean()
    assert (
        np.abs(pareto_nbd_prob_alive(fitted, x, t_x, T) - pareto_nbd_prob_alive(TRUE, x, t_x, T)).max() < 0.03
    )


def test_fit_weights_equal_repeated_rows(simulated: Data) -> None:
    x, t_x, T = (a[:2000] for a in simulated)
    counts = np.arange(2000) % 3 + 1
    weighted = fit_pareto_nbd(x, t_x, T, weights=counts)
    repeated = fit_pareto_nbd(np.repeat(x, counts), np.repeat(t_x, counts), np.repeat(T, counts))
    for name, value in weighted.to_dict().items():
        assert value == pytest.approx(repeated.to_dict()[name], rel=1e-4)


def test_fit_penalizer_shrinks_towards_one(simulated: Data) -> None:
    x, t_x, T = (a[:500] for a in simulated)
    free, penalized = fit_pareto_nbd(x, t_x, T), fit_pareto_nbd(x, t_x, T, penalizer=0.1)
    assert abs(math.log(penalized.beta)) < abs(math.log(free.beta))


def test_fit_degenerate_samples_stay_finite() -> None:
    for x, t_x, T in [
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [10.0, 50.0, 400.0]),  # no repeat purchase at all
        ([1.0], [5.0], [10.0]),  # a single customer
        ([0.0, 2.0, 40.0, 1.0], [0.0, 1e5, 2e5, 1.0], [3e5, 3e5, 3e5, 3e5]),  # huge T
    ]:
        params = fit_pareto_nbd(x, t_x, T)
        assert all(math.isfinite(v) and v > 0 for v in params.to_dict().values())


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([], [], [], "empty"),
        ([1.0, np.nan], [1.0, 1.0], [2.0, 2.0], "finite"),
        ([1.0], [3.0], [2.0], "recency <= T"),
        ([-1.0], [0.0], [2.0], "frequency >= 0"),
    ],
)
def test_fit_refuses_invalid_input(x: list[float], t_x: list[float], T: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_pareto_nbd(x, t_x, T)


# --- Pareto/NBD predictions ---------------------------------------------------------------------------


def test_prob_alive_special_cases() -> None:
    # No repeat purchase and seen yesterday: almost surely alive; a long silence makes death likely.
    assert pareto_nbd_prob_alive(TRUE, 0.0, 0.0, 1.0) > 0.99
    assert pareto_nbd_prob_alive(TRUE, 0.0, 0.0, 0.0) == pytest.approx(1.0, abs=1e-12)
    assert pareto_nbd_prob_alive(TRUE, 10.0, 100.0, 1500.0) < 0.01
    # Bought on the last day: alive.
    assert pareto_nbd_prob_alive(TRUE, 5.0, 300.0, 300.0) == pytest.approx(1.0, abs=1e-12)
    # Unlike BG/NBD, a customer without repeat purchases can be dead, more likely the older it is.
    silence = pareto_nbd_prob_alive(TRUE, 0.0, 0.0, np.array([10.0, 100.0, 1000.0]))
    assert np.all(np.diff(silence) < 0)
    assert silence[-1] < 0.7
    # More purchases in the same time before the same silence: a faster buyer, more overdue.
    busy = pareto_nbd_prob_alive(TRUE, np.array([1.0, 5.0, 20.0]), 200.0, 400.0)
    assert np.all(np.diff(busy) < 0)


@pytest.mark.parametrize(
    "params",
    [
        TRUE,
        ParetoNBDParams(r=1.0, alpha=5.0, s=1.0, beta=5000.0),  # integer r and s: poles of the w-series
        ParetoNBDParams(r=2.0 + 4e-4, alpha=0.5, s=0.3, beta=3000.0),  # next to a pole, alpha << beta
        ParetoNBDParams(r=0.8, alpha=300.0, s=2.5, beta=2.0),  # alpha > beta
        ParetoNBDParams(r=3.0, alpha=50.0, s=0.5, beta=50.0),  # alpha = beta
    ],
)
@pytest.mark.parametrize(
    ("x", "t_x", "T"), [(0.0, 0.0, 30.0), (1.0, 5.0, 400.0), (4.0, 200.0, 210.0), (60.0, 900.0, 1000.0)]
)
def test_prob_alive_matches_quadrature(params: ParetoNBDParams, x: float, t_x: float, T: float) -> None:
    got = float(pareto_nbd_prob_alive(params, x, t_x, T))
    assert got == pytest.approx(_reference_alive(params, x, t_x, T), rel=1e-8, abs=1e-300)


def test_predictions_match_simulation_of_the_raw_process() -> None:
    """Averages over customers selected by their history equal the model's conditional predictions."""
    params, T, horizon = ParetoNBDParams(r=0.8, alpha=40.0, s=0.7, beta=300.0), 200.0, 90.0
    x, t_x, alive, future = _simulate_future(params, 100_000, T, horizon, np.random.default_rng(7))
    expected = pareto_nbd_expected_transactions(params, horizon, x, t_x, np.full_like(x, T))
    p_alive = pareto_nbd_prob_alive(params, x, t_x, np.full_like(x, T))
    groups = {
        "no repeat": x == 0,
        "few, recent": (x > 0) & (x <= 3) & (t_x > T - 30),
        "few, lapsed": (x > 0) & (x <= 3) & (t_x <= T - 30),
        "many": x > 3,
    }
    for name, group in groups.items():
        n = group.sum()
        assert n > 2000, name
        for observed, predicted in ((future, expected), (alive, p_alive)):
            diff = observed[group] - predicted[group]
            assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(n), name


def test_sample_pareto_nbd_mean_matches_new_customer_expectation() -> None:
    # A customer seen at T = 0 has no history: the conditional expectation is the unconditional one.
    x, _, _ = sample_pareto_nbd(TRUE, 200_000, 365.0, np.random.default_rng(3))
    expected = float(pareto_nbd_expected_transactions(TRUE, 365.0, 0.0, 0.0, 0.0))
    r, alpha, s, beta = TRUE.r, TRUE.alpha, TRUE.s, TRUE.beta
    assert expected == pytest.approx(
        r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + 365.0)) ** (s - 1.0))
    )
    assert abs(x.mean() - expected) < 4 * x.std() / math.sqrt(x.size)


def test_expected_transactions_at_s_equal_one_is_the_limit() -> None:
    at_one = ParetoNBDParams(r=0.6, alpha=20.0, s=1.0, beta=400.0)
    near = ParetoNBDParams(r=0.6, alpha=20.0, s=1.0 + 1e-7, beta=400.0)
    args = (np.array([30.0, 365.0]), np.array([0.0, 3.0]), np.array([0.0, 100.0]), np.array([50.0, 300.0]))
    np.testing.assert_allclose(
        pareto_nbd_expected_transactions(at_one, *args),
        pareto_nbd_expected_transactions(near, *args),
        rtol=1e-6,
    )


# --- Gamma-Gamma --------------------------------------------------------------------------------------


def test_gamma_gamma_recovers_parameters() -> None:
    rng = np.random.default_rng(2005)
    frequency = rng.integers(0, 20, 22_000).astype(float)
    mean_value = sample_gamma_gamma(TRUE_GG, frequency, rng)
    assert np.isnan(mean_value[frequency == 0]).all()
    fitted = fit_gamma_gamma(frequency, mean_value)  # frequency-0 rows (NaN value) are skipped
    # Across 20 seeds with 20k repeat customers the relative errors had SD 4.1% (p), 1.4% (q), 5.1% (v).
    assert fitted.p == pytest.approx(TRUE_GG.p, rel=0.2)
    assert fitted.q == pytest.approx(TRUE_GG.q, rel=0.07)
    assert fitted.v == pytest.approx(TRUE_GG.v, rel=0.25)
    assert fitted.population_mean == pytest.approx(TRUE_GG.population_mean, rel=0.03)


def test_gamma_gamma_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="no customer"):
        fit_gamma_gamma([0.0, 0.0], [np.nan, np.nan])
    with pytest.raises(ValueError, match="> 0"):
        fit_gamma_gamma([1.0, 2.0], [5.0, 0.0])


def test_conditional_expected_value_shrinks_towards_population_mean() -> None:
    population = TRUE_GG.population_mean
    assert population == pytest.approx(TRUE_GG.p * TRUE_GG.v / (TRUE_GG.q - 1.0))
    # No repeat occasion: the population mean, whatever the (missing) value says.
    np.testing.assert_allclose(conditional_expected_value(TRUE_GG, [0.0, 0.0], [np.nan, 1e6]), population)
    # A high observed mean is pulled towards the population mean, less so with more occasions.
    frequency = np.array([1.0, 3.0, 10.0, 100.0, 10_000.0])
    high = conditional_expected_value(TRUE_GG, frequency, np.full(5, 4.0 * population))
    assert np.all((high > population) & (high < 4.0 * population))
    assert np.all(np.diff(high) > 0)
    assert high[-1] == pytest.approx(4.0 * population, rel=1e-3)
    low = conditional_expected_value(TRUE_GG, frequency, np.full(5, 0.25 * population))
    assert np.all((low < population) & (low > 0.25 * population))
    assert np.all(np.diff(low) < 0)
    # It is the posterior mean: averaged over customers it equals the true mean value per occasion.
    rng = np.random.default_rng(11)
    nu = rng.gamma(TRUE_GG.q, 1.0 / TRUE_GG.v, 200_000)
    x = np.full(nu.size, 2.0)
    observed = rng.gamma(TRUE_GG.p * x, 1.0 / (nu * x))
    diff = conditional_expected_value(TRUE_GG, x, observed) - TRUE_GG.p / nu
    assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(diff.size)


# --- CLV ----------------------------------------------------------------------------------------------


def test_discounted_clv_at_rate_zero_is_margin_value_occasions() -> None:
    cumulative = np.array([[0.5, 1.0, 1.2], [0.0, 0.0, 0.0], [2.0, 2.5, 4.0]])
    value = np.array([100.0, 50.0, 10.0])
    margin = np.array([0.2, 0.3, 0.5])
    clv = discounted_clv(cumulative, value, margin, 0.0, step_days=30)
    np.testing.assert_allclose(clv, margin * value * cumulative[:, -1])
    # Discounting: lower for a positive rate, decreasing in it, by hand for one customer.
    rates = [0.0, 0.05, 0.1, 0.3]
    values = np.array([discounted_clv(cumulative, value, 0.25, rate, 30) for rate in rates])
    assert np.all(np.diff(values[:, [0, 2]], axis=0) < 0)
    by_hand = (
        0.25 * 100.0 * sum(step / 1.1 ** (k * 30 / 365) for k, step in enumerate([0.5, 0.5, 0.2], start=1))
    )
    assert values[2, 0] == pytest.approx(by_hand, rel=1e-12)


def test_discounted_clv_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="n_customers, n_steps"):
        discounted_clv(np.ones(3), np.ones(3), 1.0, 0.1, 30)
    with pytest.raises(ValueError, match="annual_discount_rate"):
        discounted_clv(np.ones((3, 2)), np.ones(3), 1.0, -1.0, 30)


@pytest.mark.parametrize(
    ("model", "params"),
    [("pareto_nbd", TRUE), ("bgnbd", BGNBDParams(r=0.6, alpha=25.0, a=0.8, b=2.5))],
)
def test_expected_cumulative_transactions_calls_each_horizon(
    model: Literal["bgnbd", "pareto_nbd"], params: ParetoNBDParams | BGNBDParams
) -> None:
    rng = np.random.default_rng(5)
    x, t_x, T = sample_bgnbd(
        BGNBDParams(r=0.6, alpha=25.0, a=0.8, b=2.5), 300, rng.uniform(30, 900, 300), rng
    )
    cumulative = expected_cumulative_transactions(model, params, x, t_x, T, horizon_days=360, step_days=30)
    assert cumulative.shape == (300, 12)
    assert np.all(np.diff(cumulative, axis=1) > 0)
    direct = (
        pareto_nbd_expected_transactions(params, 90.0, x, t_x, T)
        if isinstance(params, ParetoNBDParams)
        else expected_transactions(params, 90.0, x, t_x, T)
    )
    np.testing.assert_allclose(cumulative[:, 2], direct, rtol=1e-12)


def test_expected_cumulative_transactions_refuses_mismatch() -> None:
    with pytest.raises(ValueError, match="does not match"):
        expected_cumulative_transactions("bgnbd", TRUE, [0.0], [0.0], [10.0], 60, 30)
    with pytest.raises(ValueError, match="multiple"):
        expected_cumulative_transactions("pareto_nbd", TRUE, [0.0], [0.0], [10.0], 50, 30)


def test_clv_pipeline_end_to_end(simulated: Data) -> None:
    """Fit both models on one history; CLV is finite, non-negative and ranks buyers above the silent."""
    x, t_x, T = simulated
    params = fit_pareto_nbd(x, t_x, T)
    rng = np.random.default_rng(9)
    values = sample_gamma_gamma(TRUE_GG, x, rng)
    gg = fit_gamma_gamma(x, values)
    per_occasion = conditional_expected_value(gg, x, values)
    cumulative = expected_cumulative_transactions("pareto_nbd", params, x, t_x, T, 720, 30)
    clv = discounted_clv(cumulative, per_occasion, 0.3, 0.08, 30)
    assert np.isfinite(clv).all()
    assert (clv >= 0).all()
    assert clv[(x >= 5) & (t_x > T - 60)].mean() > 5 * clv[(x == 0) & (T > 1000)].mean()
