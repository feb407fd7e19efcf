"""Customer-value models: Pareto/NBD purchase occasions, Gamma-Gamma value per occasion, discounted CLV.

Pareto/NBD (Schmittlein, Morrison & Colombo 1987): while alive a customer makes purchase occasions at
Poisson rate lambda ~ Gamma(r, alpha) per day and dies after an exponential lifetime of rate
mu ~ Gamma(s, beta) per day, at any time (BG/NBD, in `btyd.py`, lets customers drop out only right
after a purchase). Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-value Curves"):
values per occasion ~ Gamma(p, nu), nu ~ Gamma(q, v) across customers, independent of the occasions.

Units are days. A purchase occasion is a day with at least one shipment (`btyd.rfm_from_events`).
Fits are vectorised maximum likelihood (L-BFGS-B on log-parameters, analytic gradients); the
Pareto/NBD likelihood's integrals run in a compiled loop, see `_log_tail`. Figures and the choice
against pymc-marketing: docs/value.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from berth._compile import jit
from berth._logging import get_logger
from berth.modeling.btyd import BGNBDParams, expected_transactions, warn_unless_flat

__all__ = [
    "GammaGammaParams",
    "ParetoNBDParams",
    "conditional_expected_value",
    "discounted_clv",
    "expected_cumulative_transactions",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "pareto_nbd_expected_transactions",
    "pareto_nbd_prob_alive",
    "sample_gamma_gamma",
    "sample_pareto_nbd",
    "warm_up",
]

FloatArray = npt.NDArray[np.float64]

_log = get_logger(__name__)

# Parameter bounds during the fits (as in btyd): wide for day units, finite on flat likelihoods.
_PARAM_MIN, _PARAM_MAX = 1e-8, 1e8
# `_log_tail`: the series in z = |alpha-beta|/(max+t) where z <= _Z_SWITCH (terms shrink >= 1/0.6x each);
# beyond, the series in w = (min+t)/|alpha-beta| < 2/3 with its Gamma-function constant, unless that
# form cancels by more than _MAX_CANCELLATION (near its poles), when the z-series runs to the end.
_Z_SWITCH = 0.6
_MAX_CANCELLATION = 1e5
# Within 2 _POLE_GAP of a pole (integer k_small) the w-form is interpolated from points off it.
_POLE_GAP = 1e-3
_MAX_TERMS = 200_000
_TOL = 1e-16

_jit = jit(nogil=True, error_model="numpy", boundscheck=False)


def _check_positive(model: str, values: Mapping[str, float]) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{model} parameter {name} must be a finite positive number, got {value!r}")


def _check_keys(model: str, data: Mapping[str, float], expected: set[str]) -> None:
    if set(data) != expected:
        raise ValueError(f"{model} parameters need exactly the keys {sorted(expected)}, got {sorted(data)}")


@dataclass(frozen=True)
class ParetoNBDParams:
    """Pareto/NBD parameters: purchase rate lambda ~ Gamma(r, alpha), death mu ~ Gamma(s, beta) per day."""

    r: float
    alpha: float
    s: float
    beta: float

    def __post_init__(self) -> None:
        """Refuse non-finite or non-positive parameters."""
        _check_positive("Pareto/NBD", self.to_dict())

    def to_dict(self) -> dict[str, float]:
        """Plain-float mapping for the JSON model bundle."""
        return {"r": float(self.r), "alpha": float(self.alpha), "s": float(self.s), "beta": float(self.beta)}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> ParetoNBDParams:
        """Rebuild from `to_dict` output; refuse missing or extra keys."""
        _check_keys("Pareto/NBD", data, {"r", "alpha", "s", "beta"})
        return cls(
            r=float(data["r"]), alpha=float(data["alpha"]), s=float(data["s"]), beta=float(data["beta"])
        )


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: value per occasion ~ Gamma(p, rate nu), nu ~ Gamma(q, rate v)."""

    p: float
    q: float
    v: float

    def __post_init__(self) -> None:
        """Refuse non-finite or non-positive parameters."""
        _check_positive("Gamma-Gamma", self.to_dict())

    def to_dict(self) -> dict[str, float]:
        """Plain-float mapping for the JSON model bundle."""
        return {"p": float(self.p), "q": float(self.q), "v": float(self.v)}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> GammaGammaParams:
        """Rebuild from `to_dict` output; refuse missing or extra keys."""
        _check_keys("Gamma-Gamma", data, {"p", "q", "v"})
        return cls(p=float(data["p"]), q=float(data["q"]), v=float(data["v"]))

    @property
    def population_mean(self) -> float:
        """Mean value per occasion across customers, p v / (q - 1); infinite when q <= 1."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else math.inf


# ---------------------------------------------------------------------------------------------------
# Pareto/NBD: the tail integral Phi and its partial derivatives (compiled)
# ---------------------------------------------------------------------------------------------------
#
# Given lambda and mu, a history (x, t_x, T) has likelihood
#     lambda^x [lambda/(lambda+mu) e^-(lambda+mu)T + mu/(lambda+mu) e^-(lambda+mu)t_x]
# (alive at T, or died in (t_x, T]); with 1/(lambda+mu) e^-(lambda+mu)t = int_t^inf e^-(lambda+mu)tau dtau,
# mixing over the two Gamma laws gives (Fader & Hardie 2005, "A Note on Deriving the Pareto/NBD Model")
#     L = G(r+x)/G(r) alpha^r beta^s [(r+x) Phi(r+x+1, s; T) + s Phi(r+x, s+1; t_x)],
#     Phi(m, n; t) = int_t^inf (alpha+tau)^-m (beta+tau)^-n dtau,
# a sum of two positive terms, kept in log space. Phi is Fader & Hardie's 2F1 expression; it is summed
# here as one of two convergent series (see `_log_tail`), with the partial derivatives alongside.


@_jit
def _digamma(x: float) -> float:
    """psi(x) for x > 0: recurrence up to 10, then the asymptotic series (error < 1e-13)."""
    result = 0.0
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    tail = f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))))
    return result + math.log(x) - 0.5 / x - tail


@_jit
def _z_series(
    big: float, small: float, k_big: float, k_small: float, t: float
) -> tuple[float, float, float, float, float]:
    """log Phi = -k_big log(big+t) - (k_small-1) log(small+t) - log p + log 2F1(1, k_big; p+1; z) and its
    partials (big, small, k_big, k_small); z = (big-small)/(big+t), p = k_big + k_small - 1.

    All terms are positive; they shrink at least by z each once past the start.
    """
    p = k_big + k_small - 1.0
    c = p + 1.0
    z = (big - small) / (big + t)
    total, d_b, d_c, d_z = 1.0, 0.0, 0.0, 0.0
    term, h_b, h_c = 1.0, 0.0, 0.0  # t_j, sum_{i<j} 1/(k_big+i), sum_{i<j} 1/(c+i)
    tail = z / (1.0 - z) if z < 1.0 else math.inf
    for j in range(_MAX_TERMS):
        a_next = term * (k_big + j) / (c + j)  # t_{j+1} / z
        h_b += 1.0 / (k_big + j)
        h_c += 1.0 / (c + j)
        term = a_next * z
        total += term
        d_b += term * h_b
        d_c -= term * h_c
        d_z += (j + 1.0) * a_next
        if term * (j + 2.0) * (1.0 + tail) < _TOL * total:
            break
    log_s = math.log(total)
    dz_big = (small + t) / ((big + t) * (big + t))
    dz_small = -1.0 / (big + t)
    value = -k_big * math.log(big + t) - (k_small - 1.0) * math.log(small + t) - math.log(p) + log_s
    g_big = -k_big / (big + t) + d_z / total * dz_big
    g_small = -(k_small - 1.0) / (small + t) + d_z / total * dz_small
    g_kbig = -math.log(big + t) - 1.0 / p + (d_b + d_c) / total
    g_ksmall = -math.log(small + t) - 1.0 / p + d_c / total
    return value, g_big, g_small, g_kbig, g_ksmall


@_jit
def _w_series(
    big: float, small: float, k_big: float, k_small: float, t: float
) -> tuple[bool, float, float, float, float, float]:
    """log Phi by the expansion about w = (small+t)/(big-small) -> 0, with the same partials.

    With D = big - small: Phi = D^-p [C0 - w^(1-k_small) U], U = sum_j (-1)^j (k_big)_j/j! w^j/(j+1-k_small),
    C0 = G(1-k_small) G(p) / G(k_big) (the incomplete beta's continuation past its poles at integer
    k_small). The first element is False where the two parts cancel too much (near a pole).
    """
    diff = big - small
    p = k_big + k_small - 1.0
    w = (small + t) / diff
    sine = math.sin(math.pi * k_small)
    if sine == 0.0:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    log_c0 = (
        math.log(math.pi) - math.log(abs(sine)) - math.lgamma(k_small) + math.lgamma(p) - math.lgamma(k_big)
    )
    sign_c0 = 1.0 if sine > 0.0 else -1.0
    psi_p = _digamma(p)
    dc0_ksmall = -math.pi * math.cos(math.pi * k_small) / sine - _digamma(k_small) + psi_p
    dc0_kbig = psi_p - _digamma(k_big)

    u, u_abs, u_ks, u_kb = 0.0, 0.0, 0.0, 0.0
    coef, harmonic = 1.0, 0.0  # (-1)^j (k_big)_j / j! w^j and sum_{i<j} 1/(k_big+i)
    converged = False
    for j in range(2000):
        denom = j + 1.0 - k_small
        if abs(denom) < 1e-12:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0
        term = coef / denom
        u += term
        u_abs += abs(term)
        u_ks += term / denom
        u_kb += term * harmonic
        ratio = (k_big + j) / (j + 1.0) * w
        if abs(term) < _TOL * u_abs and ratio < 0.75:
            converged = True
            break
        harmonic += 1.0 / (k_big + j)
        coef *= -ratio
    if not converged:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0

    log_w = math.log(w)
    e1 = log_c0
    e2 = (1.0 - k_small) * log_w
    top = max(e1, e2)
    c0 = sign_c0 * math.exp(e1 - top)
    scaled = math.exp(e2 - top)
    rest = c0 - scaled * u
    if not rest > 0.0 or (abs(c0) + scaled * u_abs) > _MAX_CANCELLATION * rest:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    log_d = math.log(diff)
    value = -p * log_d + top + math.log(rest)
    # d/dw of [C0 - w^(1-k) U] is minus the integrand, w^-k_small (1+w)^-k_big.
    d_w = -math.exp(-k_small * log_w - k_big * math.log1p(w) - top) / rest
    g_ksmall = -log_d + (c0 * dc0_ksmall - scaled * (-log_w * u + u_ks)) / rest
    g_kbig = -log_d + (c0 * dc0_kbig - scaled * u_kb) / rest
    g_big = -p / diff - d_w * w / diff
    g_small = p / diff + d_w * (1.0 + w) / diff
    return True, value, g_big, g_small, g_kbig, g_ksmall


@_jit
def _w_series_across_pole(
    big: float, small: float, k_big: float, k_small: float, t: float, pole: float
) -> tuple[bool, float, float, float, float, float]:
    """`_w_series` within 2 _POLE_GAP of an integer k_small (where its two parts cancel): cubic Lagrange
    interpolation of its values at pole -/+ _POLE_GAP, -/+ 2 _POLE_GAP (error ~ _POLE_GAP**4)."""
    u = (k_small - pole) / _POLE_GAP
    weights = (
        (u + 1.0) * (u - 1.0) * (u - 2.0) / -12.0,
        (u + 2.0) * (u - 1.0) * (u - 2.0) / 6.0,
        (u + 2.0) * (u + 1.0) * (u - 2.0) / -6.0,
        (u + 2.0) * (u + 1.0) * (u - 1.0) / 12.0,
    )
    offsets = (-2.0, -1.0, 1.0, 2.0)
    value, g_big, g_small, g_kbig, g_ksmall = 0.0, 0.0, 0.0, 0.0, 0.0
    for i in range(4):
        ok, v, gb, gs, gkb, gks = _w_series(big, small, k_big, pole + offsets[i] * _POLE_GAP, t)
        if not ok:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0
        value += weights[i] * v
        g_big += weights[i] * gb
        g_small += weights[i] * gs
        g_kbig += weights[i] * gkb
        g_ksmall += weights[i] * gks
    return True, value, g_big, g_small, g_kbig, g_ksmall


@_jit
def _log_tail(
    alpha: float, beta: float, k_alpha: float, k_beta: float, t: float
) -> tuple[float, float, float, float, float]:
    """log Phi(k_alpha, k_beta; t) and its partials in (alpha, beta, k_alpha, k_beta).

    Phi = int_t^inf (alpha+tau)^-k_alpha (beta+tau)^-k_beta dtau. With big/small the larger/smaller of
    alpha and beta and z = (big-small)/(big+t) in [0, 1): Euler's transformation of Fader & Hardie's 2F1
    gives a series of positive terms in z, used for z <= 0.6. Closer to 1 (typical: alpha << beta) it
    converges slowly, so the expansion in w = (1-z)/z < 2/3 is used instead, with the z-series as the
    fallback where that cancels near its poles (k_small an integer).
    """
    swapped = alpha < beta
    if swapped:
        big, small, k_big, k_small = beta, alpha, k_beta, k_alpha
    else:
        big, small, k_big, k_small = alpha, beta, k_alpha, k_beta
    z = (big - small) / (big + t)
    ok = False
    value, g_big, g_small, g_kbig, g_ksmall = 0.0, 0.0, 0.0, 0.0, 0.0
    if z > _Z_SWITCH:
        pole = round(k_small)
        if pole >= 1.0 and abs(k_small - pole) < 2.0 * _POLE_GAP:
            ok, value, g_big, g_small, g_kbig, g_ksmall = _w_series_across_pole(
                big, small, k_big, k_small, t, pole
            )
        else:
            ok, value, g_big, g_small, g_kbig, g_ksmall = _w_series(big, small, k_big, k_small, t)
    if not ok:
        value, g_big, g_small, g_kbig, g_ksmall = _z_series(big, small, k_big, k_small, t)
    if swapped:
        return value, g_small, g_big, g_ksmall, g_kbig
    return value, g_big, g_small, g_kbig, g_ksmall


@_jit
def _tails_kernel(alpha: float, beta: float, k_alpha: np.ndarray, k_beta: float, t: np.ndarray) -> np.ndarray:
    """`_log_tail` for each (k_alpha[i], t[i]): rows (log Phi, d/dalpha, d/dbeta, d/dk_alpha, d/dk_beta)."""
    out = np.empty((t.shape[0], 5))
    for i in range(t.shape[0]):
        value, g_alpha, g_beta, g_ka, g_kb = _log_tail(alpha, beta, k_alpha[i], k_beta, t[i])
        out[i, 0] = value
        out[i, 1] = g_alpha
        out[i, 2] = g_beta
        out[i, 3] = g_ka
        out[i, 4] = g_kb
    return out


@_jit
def _mixture_kernel(
    r: float,
    s: float,
    x: np.ndarray,
    alive: np.ndarray,
    alive_index: np.ndarray,
    dead: np.ndarray,
    dead_index: np.ndarray,
    w: np.ndarray,
) -> tuple[float, float, float, float, float]:
    """Sum over rows of w log[(r+x) Phi(r+x+1, s; T) + s Phi(r+x, s+1; t_x)] and its gradient (r, alpha,
    s, beta), from the two tails' values and partials (`_tails_kernel`) at each row's distinct pair."""
    total, g_r, g_alpha, g_s, g_beta = 0.0, 0.0, 0.0, 0.0, 0.0
    log_s = math.log(s)
    for i in range(x.shape[0]):
        m = r + x[i]
        ia = alive_index[i]
        idd = dead_index[i]
        la = math.log(m) + alive[ia, 0]
        ld = log_s + dead[idd, 0]
        top = max(la, ld)
        ea = math.exp(la - top)
        ed = math.exp(ld - top)
        norm = ea + ed
        pa = ea / norm
        pd = ed / norm
        wi = w[i]
        total += wi * (top + math.log(norm))
        g_r += wi * (pa * (1.0 / m + alive[ia, 3]) + pd * dead[idd, 3])
        g_alpha += wi * (pa * alive[ia, 1] + pd * dead[idd, 1])
        g_s += wi * (pa * alive[ia, 4] + pd * (1.0 / s + dead[idd, 4]))
        g_beta += wi * (pa * alive[ia, 2] + pd * dead[idd, 2])
    return total, g_r, g_alpha, g_s, g_beta


@_jit
def _alive_kernel(
    r: float, alpha: float, s: float, beta: float, x: np.ndarray, tx: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """P(alive at T) = G(T) / [(r+x) Phi(r+x+1, s; T) + s Phi(r+x, s+1; t_x)], G(T) = (alpha+T)^-(r+x)
    (beta+T)^-s."""
    out = np.empty(x.shape[0])
    log_s = math.log(s)
    for i in range(x.shape[0]):
        m = r + x[i]
        la = math.log(m) + _log_tail(alpha, beta, m + 1.0, s, age[i])[0]
        ld = log_s + _log_tail(alpha, beta, m, s + 1.0, tx[i])[0]
        top = max(la, ld)
        log_l = top + math.log(math.exp(la - top) + math.exp(ld - top))
        log_g = -m * math.log(alpha + age[i]) - s * math.log(beta + age[i])
        out[i] = min(1.0, math.exp(log_g - log_l))
    return out


# ---------------------------------------------------------------------------------------------------
# Pareto/NBD: fit, predictions, simulation
# ---------------------------------------------------------------------------------------------------


def _validated_history(
    model: str, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """frequency, recency and T as 1-D float arrays after checking 0 <= recency <= T, frequency >= 0."""
    x = np.asarray(frequency, dtype=np.float64)
    tx = np.asarray(recency, dtype=np.float64)
    age = np.asarray(T, dtype=np.float64)
    if x.ndim != 1 or x.shape != tx.shape or x.shape != age.shape:
        raise ValueError(
            f"frequency, recency and T must be 1-D of equal length, got {x.shape}, {tx.shape}, {age.shape}"
        )
    if x.size == 0:
        raise ValueError(f"cannot fit the {model} model on empty input: no customers")
    if not (np.isfinite(x).all() and np.isfinite(tx).all() and np.isfinite(age).all()):
        raise ValueError("frequency, recency and T must be finite; drop customers without events (NaN) first")
    if (x < 0).any() or (tx < 0).any() or (tx > age).any():
        raise ValueError(f"{model} data need frequency >= 0 and 0 <= recency <= T")
    return x, tx, age


def _validated_weights(weights: npt.ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            "weights must be finite, non-negative, of the same length as frequency, and not all 0"
        )
    return w


def _validated_penalizer(penalizer: float) -> None:
    if not (math.isfinite(penalizer) and penalizer >= 0.0):
        raise ValueError(f"penalizer must be a finite number >= 0, got {penalizer!r}")


@dataclass(frozen=True)
class _ParetoData:
    """Likelihood rows (zero-repeat customers merged by T), the distinct (x, T) and (x, t_x) pairs where
    the two tails are evaluated (with each row's index into them), and the weight per distinct x."""

    x: FloatArray
    w: FloatArray
    alive_x: FloatArray  # distinct (x, T)
    alive_t: FloatArray
    alive_index: npt.NDArray[np.intp]
    dead_x: FloatArray  # distinct (x, t_x)
    dead_t: FloatArray
    dead_index: npt.NDArray[np.intp]
    x_values: FloatArray
    x_weight: FloatArray
    total_weight: float


def _distinct_pairs(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
    """Distinct (a, b) pairs and each row's index into them (one sort of a complex key)."""
    pairs, index = np.unique(a + 1j * b, return_inverse=True)
    return np.ascontiguousarray(pairs.real), np.ascontiguousarray(pairs.imag), index.astype(np.intp)


def _pareto_data(x: FloatArray, tx: FloatArray, T: FloatArray, w: FloatArray) -> _ParetoData:
    """Merge zero-repeat customers with equal T (their likelihood depends on T only); index the pairs.

    Histories on a day grid share many (x, T) and (x, t_x) pairs: evaluating each tail once per pair
    halves the work on simulated data.
    """
    repeat = x > 0
    T0, index0 = np.unique(T[~repeat], return_inverse=True)
    w0 = np.bincount(index0, weights=w[~repeat], minlength=T0.size).astype(np.float64)
    rows_x = np.concatenate([np.zeros(T0.size), x[repeat]])
    rows_tx = np.concatenate([np.zeros(T0.size), tx[repeat]])
    rows_T = np.concatenate([T0, T[repeat]])
    rows_w = np.concatenate([w0, w[repeat]])
    keep = rows_w > 0
    rows_x, rows_tx, rows_T, rows_w = rows_x[keep], rows_tx[keep], rows_T[keep], rows_w[keep]
    x_values, x_index = np.unique(rows_x, return_inverse=True)
    x_weight = np.bincount(x_index, weights=rows_w, minlength=x_values.size).astype(np.float64)
    alive_x, alive_t, alive_index = _distinct_pairs(rows_x, rows_T)
    dead_x, dead_t, dead_index = _distinct_pairs(rows_x, rows_tx)
    return _ParetoData(
        rows_x,
        rows_w,
        alive_x,
        alive_t,
        alive_index,
        dead_x,
        dead_t,
        dead_index,
        x_values,
        x_weight,
        float(w.sum()),
    )


def _pareto_neg_loglik(
    log_params: FloatArray, data: _ParetoData, penalizer: float
) -> tuple[float, FloatArray]:
    """Mean negative Pareto/NBD log-likelihood (plus L2 penalty on log-parameters) and its gradient."""
    r, alpha, s, beta = (float(v) for v in np.exp(log_params))
    ux, wx, total_w = data.x_values, data.x_weight, data.total_weight
    # lnG(r+x) - lnG(r) + r ln alpha + s ln beta, once per distinct x.
    ll = float(np.multiply(wx, special.gammaln(r + ux)).sum()) + total_w * (
        -special.gammaln(r) + r * math.log(alpha) + s * math.log(beta)
    )
    g_r = float(np.multiply(wx, special.digamma(r + ux)).sum()) + total_w * (
        math.log(alpha) - special.digamma(r)
    )
    g_alpha = total_w * r / alpha
    g_s = total_w * math.log(beta)
    g_beta = total_w * s / beta
    alive = _tails_kernel(alpha, beta, r + data.alive_x + 1.0, s, data.alive_t)
    dead = _tails_kernel(alpha, beta, r + data.dead_x, s + 1.0, data.dead_t)
    mix, m_r, m_alpha, m_s, m_beta = _mixture_kernel(
        r, s, data.x, alive, data.alive_index, dead, data.dead_index, data.w
    )
    ll += mix
    scale = -1.0 / total_w
    grad = (
        scale
        * np.array([g_r + m_r, g_alpha + m_alpha, g_s + m_s, g_beta + m_beta])
        * np.array([r, alpha, s, beta])
    )
    value = scale * ll
    if penalizer:
        value += penalizer * float(np.multiply(log_params, log_params).sum())
        grad += 2.0 * penalizer * log_params
    return value, grad


def _minimize(
    objective: object, start: FloatArray, args: tuple[object, ...], model: str
) -> optimize.OptimizeResult:
    """L-BFGS-B within the parameter bounds, one BLAS thread (see `btyd.fit_bgnbd` for why)."""
    bounds = [(math.log(_PARAM_MIN), math.log(_PARAM_MAX))] * start.size
    with threadpool_limits(limits=1, user_api="blas"):
        result = optimize.minimize(
            objective,
            start,
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9},
        )
    if not np.isfinite(result.x).all() or not np.isfinite(result.fun):
        raise ValueError(f"{model} fit did not converge: {result.message}")
    # A line search that stalls at the optimum (rounding in a sum over many customers) is not worth a
    # warning; one that stalls with a gradient left is.
    if not result.success:
        warn_unless_flat(
            result, model, f"the value figures that rest on {model} (expected shipments, revenue, CLV)"
        )
    return result


def fit_pareto_nbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    penalizer: float = 0.0,
) -> ParetoNBDParams:
    """Maximum-likelihood Pareto/NBD fit (L-BFGS-B on log-parameters, analytic gradient).

    `weights` count each row that many times; `penalizer` adds penalizer * sum(log(param)**2) to the mean
    negative log-likelihood, as in `btyd.fit_bgnbd`.
    """
    x, tx, age = _validated_history("Pareto/NBD", frequency, recency, T)
    w = _validated_weights(weights, x.size)
    _validated_penalizer(penalizer)
    data = _pareto_data(x, tx, age, w)
    # Start: r = s = 1, alpha matching the mean repeat rate, beta the mean customer age.
    rate = (float(np.multiply(w, x).sum()) + 1.0) / (float(np.multiply(w, age).sum()) + 1.0)
    mean_age = float(np.multiply(w, age).sum() / w.sum())
    start = np.log(np.array([1.0, min(max(1.0 / rate, 1e-3), 1e6), 1.0, min(max(mean_age, 1.0), 1e6)]))
    result = _minimize(_pareto_neg_loglik, start, (data, penalizer), "Pareto/NBD")
    r, alpha, s, beta = (float(v) for v in np.exp(result.x))
    return ParetoNBDParams(r=r, alpha=alpha, s=s, beta=beta)


def _broadcast(*arrays: npt.ArrayLike) -> tuple[tuple[int, ...], list[FloatArray]]:
    """The broadcast shape and each input as a flat, contiguous float64 array of that shape."""
    values = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays))
    shape = values[0].shape
    return shape, [np.ascontiguousarray(v).reshape(-1) for v in values]


def pareto_nbd_prob_alive(
    params: ParetoNBDParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """P(alive at T | x, t_x, T): the alive-at-T share of the history's likelihood."""
    shape, (x, tx, age) = _broadcast(frequency, recency, T)
    alive = _alive_kernel(params.r, params.alpha, params.s, params.beta, x, tx, age)
    return np.asarray(alive).reshape(shape)


def pareto_nbd_expected_transactions(
    params: ParetoNBDParams,
    horizon_days: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> FloatArray:
    """E[occasions in (T, T + horizon] | x, t_x, T] (Schmittlein, Morrison & Colombo 1987).

    Given alive at T, lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T), and E[lambda (1-e^-mu t)/mu]
    = (r+x)/(alpha+T) * (beta+T) [1 - ((beta+T)/(beta+T+t))^(s-1)] / (s-1) (the log at s = 1).
    """
    shape, (x, tx, age) = _broadcast(frequency, recency, T)
    alive = _alive_kernel(params.r, params.alpha, params.s, params.beta, x, tx, age).reshape(shape)
    x, age = x.reshape(shape), age.reshape(shape)
    t = np.asarray(horizon_days, dtype=np.float64)
    eps = params.s - 1.0
    span = np.log1p(t / (params.beta + age))
    lifetime = span if eps == 0.0 else -np.expm1(-eps * span) / eps
    expected = alive * (params.r + x) / (params.alpha + age) * (params.beta + age) * lifetime
    return np.asarray(expected, dtype=np.float64)


def sample_pareto_nbd(
    params: ParetoNBDParams, n_customers: int, T_days: npt.ArrayLike, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Simulate (frequency, recency, T) from the Pareto/NBD process for customers first seen T_days ago.

    Each customer draws lambda ~ Gamma(r, rate alpha), mu ~ Gamma(s, rate beta) and a lifetime
    tau ~ Exp(mu); it buys at time 0, then at Poisson(lambda) times while alive. With N ~ Poisson(lambda
    min(tau, T)) repeat occasions, t_x is the largest of N uniforms on (0, min(tau, T)].
    """
    age = np.broadcast_to(np.asarray(T_days, dtype=np.float64), (n_customers,)).copy()
    if (age < 0).any():
        raise ValueError("T_days must be >= 0")
    lam = rng.gamma(params.r, 1.0 / params.alpha, n_customers)
    mu = rng.gamma(params.s, 1.0 / params.beta, n_customers)
    lifetime = rng.exponential(1.0 / np.maximum(mu, 1e-300))
    active = np.minimum(lifetime, age)
    x = rng.poisson(lam * active)
    tx = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return x.astype(np.float64), tx, age


# ---------------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------------


def _gg_neg_loglik(
    log_params: FloatArray, x: FloatArray, m: FloatArray, penalizer: float
) -> tuple[float, FloatArray]:
    """Mean negative Gamma-Gamma log-likelihood of the mean values m over x occasions, and its gradient.

    ll = lnG(px+q) - lnG(px) - lnG(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(v + x m)  (FHL 2005).
    """
    p, q, v = (float(c) for c in np.exp(log_params))
    px = p * x
    log_vxm = np.log(v + x * m)
    log_xm = np.log(x * m)
    n = x.size
    ll = float(
        (
            special.gammaln(px + q) - special.gammaln(px) + px * (log_xm - log_vxm) - q * log_vxm - np.log(m)
        ).sum()
    ) + n * (q * math.log(v) - special.gammaln(q))
    dig = special.digamma(px + q)
    g_p = float(np.multiply(x, dig - special.digamma(px) + log_xm - log_vxm).sum())
    g_q = float((dig - log_vxm).sum()) + n * (math.log(v) - special.digamma(q))
    g_v = n * q / v - float(((px + q) / (v + x * m)).sum())
    grad = -np.array([g_p * p, g_q * q, g_v * v]) / n
    value = -ll / n
    if penalizer:
        value += penalizer * float(np.multiply(log_params, log_params).sum())
        grad += 2.0 * penalizer * log_params
    return value, grad


def fit_gamma_gamma(
    frequency: npt.ArrayLike, monetary_value: npt.ArrayLike, *, penalizer: float = 0.0
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit on customers with frequency > 0 (others are ignored).

    `monetary_value` is each customer's mean value per repeat occasion (the occasions counted by
    `frequency`, i.e. excluding the first); it must be > 0 where frequency > 0.
    """
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    if x.ndim != 1 or x.shape != m.shape:
        raise ValueError(
            f"frequency and monetary_value must be 1-D of equal length, got {x.shape}, {m.shape}"
        )
    _validated_penalizer(penalizer)
    used = np.isfinite(x) & (x > 0)
    x, m = x[used], m[used]
    if x.size == 0:
        raise ValueError("cannot fit the Gamma-Gamma model: no customer with frequency > 0")
    if not (np.isfinite(m).all() and (m > 0).all()):
        raise ValueError("monetary_value must be finite and > 0 for customers with frequency > 0")
    # Start: method of moments on the customer means (p = 1, q from their spread, v from their mean).
    mean = float(m.mean())
    start = np.log(np.array([1.0, 3.0, 2.0 * mean]))
    result = _minimize(_gg_neg_loglik, start, (x, m, penalizer), "Gamma-Gamma")
    p, q, v = (float(c) for c in np.exp(result.x))
    return GammaGammaParams(p=p, q=q, v=v)


def conditional_expected_value(
    params: GammaGammaParams, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> FloatArray:
    """E[value per occasion | x, mean m] = (q-1)/(px+q-1) * p v/(q-1) + px/(px+q-1) * m; the population
    mean p v / (q-1) for x = 0 (m is then ignored, NaN allowed)."""
    shape, (x, m) = _broadcast(frequency, monetary_value)
    p, q, v = params.p, params.q, params.v
    has_history = x > 0
    numerator = p * (v + x * np.where(has_history, m, 0.0))
    denominator = p * x + q - 1.0
    out = np.full(x.shape, math.inf)
    np.divide(numerator, denominator, out=out, where=denominator > 0.0)
    return np.asarray(out).reshape(shape)


def sample_gamma_gamma(
    params: GammaGammaParams, frequency: npt.ArrayLike, rng: np.random.Generator
) -> FloatArray:
    """Simulate each customer's mean value over `frequency` occasions (NaN where frequency is 0).

    nu ~ Gamma(q, rate v) per customer; the sum of x values ~ Gamma(p x, rate nu), so the mean ~
    Gamma(p x, rate nu x).
    """
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(params.q, 1.0 / params.v, x.shape)
    has_history = x > 0
    shape = np.where(has_history, params.p * x, 1.0)
    mean = rng.gamma(shape, 1.0 / (nu * np.where(has_history, x, 1.0)))
    return np.where(has_history, mean, np.nan)


# ---------------------------------------------------------------------------------------------------
# Customer lifetime value
# ---------------------------------------------------------------------------------------------------


def expected_cumulative_transactions(
    model: Literal["bgnbd", "pareto_nbd"],
    params: BGNBDParams | ParetoNBDParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    horizon_days: int,
    step_days: int,
) -> FloatArray:
    """(n_customers, horizon/step) matrix of expected occasions in (T, T + k step], k = 1 .. horizon/step."""
    if step_days <= 0 or horizon_days <= 0 or horizon_days % step_days:
        raise ValueError(
            f"horizon_days must be a positive multiple of step_days > 0, got {horizon_days}, {step_days}"
        )
    times = np.arange(1, horizon_days // step_days + 1, dtype=np.float64) * step_days
    x = np.asarray(frequency, dtype=np.float64)[:, None]
    tx = np.asarray(recency, dtype=np.float64)[:, None]
    age = np.asarray(T, dtype=np.float64)[:, None]
    if model == "bgnbd" and isinstance(params, BGNBDParams):
        return expected_transactions(params, times[None, :], x, tx, age)
    if model == "pareto_nbd" and isinstance(params, ParetoNBDParams):
        return pareto_nbd_expected_transactions(params, times[None, :], x, tx, age)
    raise ValueError(f"model {model!r} does not match parameters of type {type(params).__name__}")


def discounted_clv(
    expected_cumulative: np.ndarray,
    value_per_occasion: np.ndarray,
    margin: np.ndarray | float,
    annual_discount_rate: float,
    step_days: int,
) -> np.ndarray:
    """Sum over steps of margin x value x expected occasions in the step / (1+rate)^(end of step days/365)."""
    cumulative = np.asarray(expected_cumulative, dtype=np.float64)
    if cumulative.ndim != 2:
        raise ValueError(f"expected_cumulative must be (n_customers, n_steps), got shape {cumulative.shape}")
    if not (math.isfinite(annual_discount_rate) and annual_discount_rate > -1.0):
        raise ValueError(f"annual_discount_rate must be finite and > -1, got {annual_discount_rate!r}")
    if step_days <= 0:
        raise ValueError(f"step_days must be > 0, got {step_days}")
    per_step = np.diff(cumulative, axis=1, prepend=0.0)
    ends = np.arange(1, cumulative.shape[1] + 1) * (step_days / 365.0)
    discount = np.power(1.0 + annual_discount_rate, -ends)
    # A row-wise sum, not a BLAS product: a customer's CLV must not depend on the batch it came in.
    occasions = np.ascontiguousarray(per_step * discount).sum(axis=1)
    return np.asarray(np.asarray(margin, dtype=np.float64) * np.asarray(value_per_occasion) * occasions)


def warm_up() -> None:
    """Compile the Pareto/NBD kernels, or load them from numba's on-disk cache, for the argument types
    scoring passes: a loaded model calls this so no request pays for it."""
    params = ParetoNBDParams(r=1.0, alpha=10.0, s=1.0, beta=100.0)
    ones = np.ones(2)
    pareto_nbd_prob_alive(params, ones, ones, ones * 10.0)
    pareto_nbd_expected_transactions(
        params, np.array([[28.0, 56.0]]), ones[:, None], ones[:, None], ones[:, None] * 10
    )
