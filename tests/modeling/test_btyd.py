"""Behaviour of the BG/NBD model: RFM summaries, parameter recovery, closed forms against simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special
from structlog.testing import capture_logs

from berth.modeling.btyd import (
    BGNBDParams,
    expected_transactions,
    fit_bgnbd,
    horizon_predictions,
    prob_alive,
    prob_no_transactions,
    rfm_from_events,
    sample_bgnbd,
)

TRUE = BGNBDParams(r=0.6, alpha=25.0, a=0.8, b=2.5)


def _simulate_future(
    params: BGNBDParams, n: int, T: float, horizon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """History (x, t_x) at T and the number of transactions in (T, T + horizon], from the raw process.

    Independent of `sample_bgnbd`: draws every Poisson arrival in (0, T + horizon] explicitly, orders
    them per customer, and keeps the first J ~ Geometric(p) of them (dropout after the J-th purchase).
    """
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    purchases = rng.geometric(p)
    arrivals = rng.poisson(lam * (T + horizon))
    owner = np.repeat(np.arange(n), arrivals)
    times = rng.uniform(0.0, T + horizon, owner.size)
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(arrivals) - arrivals, arrivals)
    made = rank < purchases[owner]
    past = made & (times <= T)
    x = np.bincount(owner[past], minlength=n).astype(float)
    t_x = np.zeros(n)
    np.maximum.at(t_x, owner[past], times[past])
    future = np.bincount(owner[made & (times > T)], minlength=n).astype(float)
    return x, t_x, future


def _reference_if_alive(params: BGNBDParams, horizon: float, x: float, T: float) -> float:
    """E[purchases in the horizon | alive] = E_p[(1 - (1+pu)^-(r+x)) / p], p ~ Beta(a, b+x), by quadrature."""
    m, u, b_x = params.r + x, horizon / (params.alpha + T), params.b + x

    def integrand(p: float) -> float:
        return -math.expm1(-m * math.log1p(p * u)) / p if p > 0 else m * u

    value, _ = integrate.quad(
        integrand,
        0.0,
        1.0,
        weight="alg",
        wvar=(params.a - 1.0, b_x - 1.0),
        epsabs=0.0,
        epsrel=1e-11,
        limit=200,
    )
    return float(value / special.beta(params.a, b_x))


# --- parameters ---------------------------------------------------------------------------------------


def test_params_round_trip_through_json() -> None:
    restored = BGNBDParams.from_dict(json.loads(json.dumps(TRUE.to_dict())))
    assert restored == TRUE
    assert all(type(v) is float for v in TRUE.to_dict().values())


@pytest.mark.parametrize(
    "bad", [{"r": 1.0, "alpha": 1.0, "a": 1.0}, {"r": 1, "alpha": 1, "a": 1, "b": 1, "c": 1}]
)
def test_params_from_dict_refuses_wrong_keys(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="keys"):
        BGNBDParams.from_dict(bad)


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_params_refuse_non_positive_or_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite positive"):
        BGNBDParams(r=value, alpha=1.0, a=1.0, b=1.0)


# --- RFM summary ------------------------------------------------------------------------------------


def test_rfm_from_events_by_hand() -> None:
    codes = np.array([0, 0, 0, 0, 2, 3, 3])
    days = np.array([3, 3, 5, 10, 7, 12, 1])
    rfm = rfm_from_events(codes, days, n_customers=5, cutoff_day=12)
    np.testing.assert_array_equal(rfm.frequency, [2, np.nan, 0, 1, np.nan])
    np.testing.assert_array_equal(rfm.recency, [7, np.nan, 0, 11, np.nan])
    np.testing.assert_array_equal(rfm.T, [9, np.nan, 5, 11, np.nan])


@settings(max_examples=60, deadline=None)
@given(
    n_customers=st.integers(1, 30),
    events=st.lists(st.tuples(st.integers(0, 29), st.integers(-50, 400)), min_size=0, max_size=300),
    extra_days=st.integers(0, 30),
)
def test_rfm_from_events_matches_pandas(
    n_customers: int, events: list[tuple[int, int]], extra_days: int
) -> None:
    codes = np.array([c % n_customers for c, _ in events], dtype=np.int64)
    days = np.array([d for _, d in events], dtype=np.int64)
    cutoff = int(days.max()) + extra_days if days.size else 0
    rfm = rfm_from_events(codes, days, n_customers, cutoff)

    grouped = pd.DataFrame({"c": codes, "d": days}).groupby("c")["d"].agg(["min", "max", "nunique"])
    expected = grouped.reindex(range(n_customers))
    np.testing.assert_array_equal(rfm.frequency, expected["nunique"] - 1)
    np.testing.assert_array_equal(rfm.recency, expected["max"] - expected["min"])
    np.testing.assert_array_equal(rfm.T, cutoff - expected["min"])


def test_rfm_from_events_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="after the cutoff"):
        rfm_from_events(np.array([0]), np.array([11]), 1, cutoff_day=10)
    with pytest.raises(ValueError, match="customer codes"):
        rfm_from_events(np.array([1]), np.array([1]), 1, cutoff_day=10)
    with pytest.raises(ValueError, match="integers"):
        rfm_from_events(np.array([0]), np.array([1.5]), 1, cutoff_day=10)


def test_rfm_from_events_single_customer_uses_int64_keys_when_needed() -> None:
    rfm = rfm_from_events(np.array([0, 0, 0]), np.array([0, 5, 2_000_000]), 3_000, cutoff_day=2_000_001)
    np.testing.assert_array_equal(rfm.frequency[:1], [2])
    np.testing.assert_array_equal(rfm.recency[:1], [2_000_000])
    np.testing.assert_array_equal(rfm.T[:1], [2_000_001])


# --- fit --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """20k customers from the BG/NBD process, first seen 200-1500 days before the cutoff."""
    rng = np.random.default_rng(20050101)
    T = rng.uniform(200, 1500, 20_000).round()
    return sample_bgnbd(TRUE, 20_000, T, rng)


def test_fit_recovers_parameters(simulated: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    fitted = fit_bgnbd(*simulated)
    # Across 20 seeds at this size the relative errors had SD 0.9% (r), 1.0% (alpha), 2.6% (a), 3.8% (b):
    # the tolerances are 4-6 SD, so the test is not flaky yet still catches a wrong likelihood.
    assert fitted.r == pytest.approx(TRUE.r, rel=0.06)
    assert fitted.alpha == pytest.approx(TRUE.alpha, rel=0.06)
    assert fitted.a == pytest.approx(TRUE.a, rel=0.12)
    assert fitted.b == pytest.approx(TRUE.b, rel=0.15)

    x, t_x, T = simulated
    for horizon in (30.0, 180.0):
        got = expected_transactions(fitted, horizon, x, t_x, T)
        want = expected_transactions(TRUE, horizon, x, t_x, T)
        assert np.abs(got - want).mean() < 0.03 * want.mean()
    assert np.abs(prob_alive(fitted, x, t_x, T) - prob_alive(TRUE, x, t_x, T)).max() < 0.03


def test_fit_weights_equal_repeated_rows(simulated: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    x, t_x, T = (a[:2000] for a in simulated)
    counts = np.arange(2000) % 3 + 1
    weighted = fit_bgnbd(x, t_x, T, weights=counts)
    repeated = fit_bgnbd(np.repeat(x, counts), np.repeat(t_x, counts), np.repeat(T, counts))
    for name, value in weighted.to_dict().items():
        assert value == pytest.approx(repeated.to_dict()[name], rel=1e-4)


def test_fit_penalizer_shrinks_towards_one(simulated: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    x, t_x, T = (a[:500] for a in simulated)
    free, penalized = fit_bgnbd(x, t_x, T), fit_bgnbd(x, t_x, T, penalizer=0.1)
    assert abs(math.log(penalized.alpha)) < abs(math.log(free.alpha))


def test_fit_only_zero_repeat_customers_stays_finite() -> None:
    T = np.array([10.0, 50.0, 50.0, 400.0])
    params = fit_bgnbd(np.zeros(4), np.zeros(4), T)
    assert expected_transactions(params, 365.0, 0.0, 0.0, 400.0) < 1e-3
    assert prob_alive(params, 0.0, 0.0, 400.0) == 1.0


@pytest.mark.parametrize(
    ("x", "t_x", "T"),
    [
        ([1.0], [5.0], [10.0]),  # a single customer
        ([0.0, 3.0], [0.0, 2.0], [3.0, 3.0]),  # tiny
        ([0.0, 2.0, 40.0, 1.0], [0.0, 1e6, 2e6, 1.0], [3e6, 3e6, 3e6, 3e6]),  # huge T
    ],
)
def test_fit_degenerate_samples_stay_finite(x: list[float], t_x: list[float], T: list[float]) -> None:
    params = fit_bgnbd(x, t_x, T)
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
        fit_bgnbd(x, t_x, T)


# --- predictions ------------------------------------------------------------------------------------


def test_prob_alive_special_cases() -> None:
    # No repeat purchase: dropout only happens after a purchase, so the customer is surely alive.
    np.testing.assert_array_equal(prob_alive(TRUE, [0.0, 0.0], [0.0, 0.0], [1.0, 5000.0]), [1.0, 1.0])
    # Last purchase at T: odds of having dropped after it are a / (b + x - 1).
    x = 4.0
    assert prob_alive(TRUE, x, 100.0, 100.0) == pytest.approx(1.0 / (1.0 + TRUE.a / (TRUE.b + x - 1.0)))
    # Longer silence since the last purchase lowers P(alive).
    silence = prob_alive(TRUE, 4.0, 100.0, np.array([100.0, 200.0, 400.0, 800.0]))
    assert np.all(np.diff(silence) < 0)
    # The closed form of Fader, Hardie & Lee (2008).
    r, alpha, a, b = TRUE.r, TRUE.alpha, TRUE.a, TRUE.b
    direct = 1.0 / (1.0 + a / (b + x - 1.0) * ((alpha + 300.0) / (alpha + 120.0)) ** (r + x))
    assert prob_alive(TRUE, x, 120.0, 300.0) == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("params", [TRUE, BGNBDParams(r=2.0, alpha=10.0, a=3.0, b=0.7)])
def test_expected_transactions_matches_textbook_formula(params: BGNBDParams) -> None:
    x = np.array([0.0, 1.0, 3.0, 10.0, 25.0])
    t_x = np.array([0.0, 30.0, 100.0, 280.0, 290.0])
    T = np.full(5, 300.0)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    for horizon in (7.0, 90.0, 365.0, 3650.0):
        z = horizon / (alpha + T + horizon)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        numerator = (
            (a + b + x - 1.0) / (a - 1.0) * (1.0 - ((alpha + T) / (alpha + T + horizon)) ** (r + x) * hyp)
        )
        odds = np.where(
            x > 0, a / np.maximum(b + x - 1.0, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0
        )
        np.testing.assert_allclose(
            expected_transactions(params, horizon, x, t_x, T), numerator / (1.0 + odds), rtol=1e-9
        )


@pytest.mark.parametrize(
    "params",
    [
        BGNBDParams(r=0.6, alpha=25.0, a=1.0, b=2.5),  # a = 1: a removable 0/0 in the textbook formula
        BGNBDParams(r=0.6, alpha=25.0, a=1.0 + 3e-6, b=2.5),
        BGNBDParams(r=0.3, alpha=5.0, a=0.4, b=0.6),  # a + b = 1: 2F1's c = 0 for x = 0
        BGNBDParams(r=0.05, alpha=0.5, a=0.05, b=2.5),  # c - a - b integer: scipy's hyp2f1 gives NaN
    ],
)
@pytest.mark.parametrize(("x", "T"), [(0.0, 10.0), (0.0, 3000.0), (3.0, 400.0), (300.0, 3650.0)])
@pytest.mark.parametrize("horizon", [1.0, 90.0, 1e6])
def test_expected_transactions_edge_cases_match_quadrature(
    params: BGNBDParams, x: float, T: float, horizon: float
) -> None:
    got = expected_transactions(params, horizon, x, T, T)  # t_x = T: P(alive) is easy to divide out
    alive = prob_alive(params, x, T, T)
    assert got / alive == pytest.approx(_reference_if_alive(params, horizon, x, T), rel=1e-6)


def test_expected_transactions_and_no_purchase_match_simulation() -> None:
    """Averages over customers selected by their history equal the model's conditional predictions."""
    params, T, horizon = BGNBDParams(r=0.8, alpha=40.0, a=0.7, b=2.5), 200.0, 90.0
    x, t_x, future = _simulate_future(params, 100_000, T, horizon, np.random.default_rng(7))
    expected = expected_transactions(params, horizon, x, t_x, np.full_like(x, T))
    p_none = prob_no_transactions(params, horizon, x, t_x, np.full_like(x, T))
    groups = {
        "no repeat": x == 0,
        "few, recent": (x > 0) & (x <= 3) & (t_x > T - 30),
        "few, lapsed": (x > 0) & (x <= 3) & (t_x <= T - 30),
        "many": x > 3,
    }
    for name, group in groups.items():
        n = group.sum()
        assert n > 2000, name
        diff = future[group] - expected[group]
        assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(n), name
        miss = (future[group] == 0) - p_none[group]
        assert abs(miss.mean()) < 4 * miss.std() / math.sqrt(n), name


def test_sample_bgnbd_mean_matches_new_customer_expectation() -> None:
    # A customer seen at T = 0 with no history is a new customer: E[X(t)] of the unconditional model.
    x, _, _ = sample_bgnbd(TRUE, 200_000, 365.0, np.random.default_rng(3))
    expected = float(expected_transactions(TRUE, 365.0, 0.0, 0.0, 0.0))
    assert abs(x.mean() - expected) < 4 * x.std() / math.sqrt(x.size)


@settings(max_examples=150, deadline=None)
@given(
    r=st.floats(0.01, 20.0),
    alpha=st.floats(0.1, 5000.0),
    a=st.floats(0.02, 20.0),
    b=st.floats(0.02, 50.0),
    x=st.integers(0, 500),
    recency_share=st.floats(0.0, 1.0),
    T=st.floats(0.0, 5000.0),
)
def test_predictions_are_finite_and_monotone_in_horizon(
    r: float, alpha: float, a: float, b: float, x: int, recency_share: float, T: float
) -> None:
    params = BGNBDParams(r=r, alpha=alpha, a=a, b=b)
    t_x = recency_share * T if x else 0.0
    horizons = np.array([0.0, 1.0, 7.0, 30.0, 90.0, 365.0, 3650.0])
    expected = expected_transactions(params, horizons, x, t_x, T)
    p_none = prob_no_transactions(params, horizons, x, t_x, T)
    alive = float(prob_alive(params, x, t_x, T))
    assert np.isfinite(expected).all()
    assert expected[0] == 0.0
    assert np.all(np.diff(expected) >= -1e-9 * np.abs(expected[1:]))
    assert np.all((p_none >= 0.0) & (p_none <= 1.0))
    assert p_none[0] == 1.0
    assert np.all(np.diff(p_none) <= 1e-15)
    assert p_none[-1] >= 1.0 - alive - 1e-12  # can't fall below P(dropped)
    assert 0.0 <= alive <= 1.0


def test_single_customer_scalars_match_vectorised(
    simulated: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    x, t_x, T = (a[:50] for a in simulated)
    batch = expected_transactions(TRUE, 90.0, x, t_x, T)
    batch_alive = prob_alive(TRUE, x, t_x, T)
    for i in range(50):
        one = expected_transactions(TRUE, 90.0, float(x[i]), float(t_x[i]), float(T[i]))
        assert one.shape == ()
        assert float(one) == pytest.approx(batch[i], rel=1e-12)
        assert float(prob_alive(TRUE, x[i], t_x[i], T[i])) == pytest.approx(batch_alive[i], rel=1e-12)


@pytest.mark.parametrize("params", [BGNBDParams(0.8, 20.0, 0.9, 3.0), BGNBDParams(2.5, 5.0, 1.0, 0.5)])
def test_horizon_predictions_equal_the_three_functions(params: BGNBDParams) -> None:
    """The features' one-pass predictions are the public functions' values, bit for bit."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 60, 2_000).astype(float)
    age = rng.uniform(1.0, 730.0, 2_000)
    tx = np.where(x > 0, np.minimum(age, rng.uniform(0.0, 730.0, 2_000)), 0.0)
    for horizon in (30, 90, 365):
        alive, expected, none = horizon_predictions(params, horizon, x, tx, age)
        np.testing.assert_array_equal(alive, prob_alive(params, x, tx, age))
        np.testing.assert_array_equal(expected, expected_transactions(params, horizon, x, tx, age))
        np.testing.assert_array_equal(none, prob_no_transactions(params, horizon, x, tx, age))


def _stopped(jac: list[float]) -> optimize.OptimizeResult:
    """What L-BFGS-B returns when its line search gives up (scipy words it 'ABNORMAL: ')."""
    return optimize.OptimizeResult(
        x=np.log([1.0, 10.0, 1.0, 1.0]),
        fun=1.0,
        jac=np.array(jac),
        success=False,
        message="ABNORMAL: ",
        nit=23,
    )


def test_a_fit_that_stops_with_a_gradient_left_warns_in_words(
    simulated: tuple[np.ndarray, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optimize, "minimize", lambda *args, **kwargs: _stopped([0.0, 3e-3, 0.0, 0.0]))
    with capture_logs() as logs:
        fit_bgnbd(*simulated)
    (entry,) = [e for e in logs if e["log_level"] == "warning"]
    assert entry["event"] == (
        "BG/NBD fit stopped after 23 iterations before it converged (optimizer: ABNORMAL, largest gradient "
        "3.0e-03); the best parameters found are used, so P(alive), expected shipments and the BG/NBD churn "
        "baseline may be somewhat off. More history or more customers usually settles it."
    )


def test_a_fit_that_stalls_at_a_flat_optimum_does_not_warn(
    simulated: tuple[np.ndarray, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optimize, "minimize", lambda *args, **kwargs: _stopped([1e-9, 0.0, 0.0, 0.0]))
    with capture_logs() as logs:
        fit_bgnbd(*simulated)
    assert not [e for e in logs if e["log_level"] == "warning"]
