"""Customer value from shipment history: purchase-occasion models, revenue per occasion, CLV.

A purchase occasion is a day with at least one shipment: a customer's shipments on one day count
once (BTYD models describe when a customer comes back, not how many containers it books then).
BG/NBD or Pareto/NBD forecast occasions, Gamma-Gamma the revenue per occasion, and the discounted
CLV multiplies them with a margin: the customer's own (revenue − cost) / revenue when the data has
costs, else a configured share (the bundle says which).

Every training run holds out the last value horizon before its cutoff, fits both occasion models
on the history before it, compares forecasts with what happened, and serves the occasion model
with the lower per-customer error (``value.occasion_model: auto``). Functions here are pure:
(history, cutoff) in, arrays out; the same code scores in training, ``berth score`` and the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from berth.config import ValueConfig
from berth.features import FeatureSpec, HistoryArrays, compute_features, shipment_window_sums
from berth.modeling.btyd import BGNBDParams, expected_transactions, fit_bgnbd, prob_alive, rfm_from_events
from berth.modeling.direct_value import DirectValueModel, fit_direct_value
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
)

OCCASION_MODELS = ("bgnbd", "pareto_nbd")
_TRACKING_STEP_DAYS = 7


@dataclass(frozen=True)
class OccasionSummary:
    """Per customer (``codes``) at a cutoff: BTYD summary in days, revenue and margin."""

    frequency: np.ndarray  # repeat occasions (distinct shipment days − 1); NaN without shipments
    recency: np.ndarray
    T: np.ndarray
    repeat_value: np.ndarray  # mean revenue per repeat occasion; NaN without revenue or repeats
    margin_rate: np.ndarray  # (revenue − cost) / revenue over the history; NaN when unknown


def _gather(history: HistoryArrays, codes: np.ndarray, cutoff_day: int) -> tuple[np.ndarray, np.ndarray]:
    """(row in ``codes``, shipment index) of every shipment of ``codes`` on or before the cutoff."""
    ships = history.shipments
    start, end = ships.starts(codes), ships.bounds(codes, cutoff_day)
    lengths = np.maximum(end - start, 0)
    rows = np.repeat(np.arange(codes.shape[0]), lengths)
    offsets = np.arange(rows.shape[0]) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, np.repeat(start, lengths) + offsets


def occasion_summary(history: HistoryArrays, codes: np.ndarray, cutoff_day: int) -> OccasionSummary:
    """The BTYD summary of customers ``codes`` from their shipments on or before ``cutoff_day``."""
    ships = history.shipments
    n = codes.shape[0]
    rows, index = _gather(history, codes, cutoff_day)
    days = ships.day_at(index)
    rfm = rfm_from_events(rows, days, n, cutoff_day)
    repeat_value = np.full(n, np.nan)
    margin_rate = np.full(n, np.nan)
    revenue = ships.values.get("revenue")
    if revenue is not None and rows.shape[0]:
        # Per-customer sums over the gathered rows only: nothing after the cutoff enters a sum,
        # not even as rounding in a table-wide running total.
        raw_amount = np.asarray(revenue, dtype=np.float64)[index]
        known_revenue = np.isfinite(raw_amount)
        amount = np.where(known_revenue, raw_amount, 0.0)
        total = np.bincount(rows, weights=amount, minlength=n)
        # A customer none of whose shipments has a revenue figure has an unknown value, not zero.
        has_revenue = np.bincount(rows, weights=known_revenue, minlength=n) > 0
        first_of_row = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        first_day = np.zeros(n, dtype=days.dtype)
        first_day[rows[first_of_row]] = days[first_of_row]
        first = np.bincount(rows, weights=amount * (days == first_day[rows]), minlength=n)
        repeats = (rfm.frequency > 0) & has_revenue
        repeat_value[repeats] = (total[repeats] - first[repeats]) / rfm.frequency[repeats]
        cost = ships.values.get("cost")
        if cost is not None:
            # The margin over the shipments that have both figures (as the taxonomy's margin).
            cost_rows = np.asarray(cost, dtype=np.float64)[index]
            both = known_revenue & np.isfinite(cost_rows)
            earned = np.bincount(rows, weights=np.where(both, raw_amount, 0.0), minlength=n)
            spent = np.bincount(rows, weights=np.where(both, cost_rows, 0.0), minlength=n)
            known = earned > 0
            margin_rate[known] = np.clip((earned[known] - spent[known]) / earned[known], -1.0, 1.0)
    return OccasionSummary(rfm.frequency, rfm.recency, rfm.T, repeat_value, margin_rate)


@dataclass(frozen=True)
class ValueModel:
    """Fitted value models and the settings scoring needs: what the bundle stores (JSON)."""

    occasion_model: str  # bgnbd | pareto_nbd
    bgnbd: BGNBDParams | None
    pareto_nbd: ParetoNBDParams | None
    gamma_gamma: GammaGammaParams | None
    mean_occasion_value: float  # NaN without revenue
    margin_source: str  # "cost" or "configured share"
    margin_share: float  # the configured share, or the population margin when costs exist
    horizon_days: int
    annual_discount_rate: float
    clv_horizon_days: int
    clv_step_days: int
    choice: str = ""  # why this occasion model
    revenue_model: str = "btyd"  # btyd | direct | corrected
    direct: DirectValueModel | None = field(default=None, compare=False)  # saved by the bundle

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for the bundle."""
        return {
            "occasion_model": self.occasion_model,
            "bgnbd": self.bgnbd.to_dict() if self.bgnbd else None,
            "pareto_nbd": self.pareto_nbd.to_dict() if self.pareto_nbd else None,
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
            "mean_occasion_value": _json_float(self.mean_occasion_value),
            "margin_source": self.margin_source,
            "margin_share": float(self.margin_share),
            "horizon_days": self.horizon_days,
            "annual_discount_rate": self.annual_discount_rate,
            "clv_horizon_days": self.clv_horizon_days,
            "clv_step_days": self.clv_step_days,
            "choice": self.choice,
            "revenue_model": self.revenue_model,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ValueModel:
        """Inverse of :meth:`to_dict`."""
        mean = raw["mean_occasion_value"]
        return cls(
            occasion_model=str(raw["occasion_model"]),
            bgnbd=BGNBDParams.from_dict(raw["bgnbd"]) if raw["bgnbd"] else None,
            pareto_nbd=ParetoNBDParams.from_dict(raw["pareto_nbd"]) if raw["pareto_nbd"] else None,
            gamma_gamma=GammaGammaParams.from_dict(raw["gamma_gamma"]) if raw["gamma_gamma"] else None,
            mean_occasion_value=float("nan") if mean is None else float(mean),
            margin_source=str(raw["margin_source"]),
            margin_share=float(raw["margin_share"]),
            horizon_days=int(raw["horizon_days"]),
            annual_discount_rate=float(raw["annual_discount_rate"]),
            clv_horizon_days=int(raw["clv_horizon_days"]),
            clv_step_days=int(raw["clv_step_days"]),
            choice=str(raw.get("choice", "")),
            revenue_model=str(raw.get("revenue_model", "btyd")),
        )


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _fit_occasions(summary: OccasionSummary, model: str) -> BGNBDParams | ParetoNBDParams | None:
    usable = np.isfinite(summary.frequency) & (summary.T > 0)
    if usable.sum() < 2 or not (summary.frequency[usable] > 0).any():
        return None
    x, tx, age = summary.frequency[usable], summary.recency[usable], summary.T[usable]
    return fit_bgnbd(x, tx, age) if model == "bgnbd" else fit_pareto_nbd(x, tx, age)


def _fit_spend(summary: OccasionSummary) -> tuple[GammaGammaParams | None, float]:
    value = summary.repeat_value
    usable = np.isfinite(value) & (value > 0) & (summary.frequency > 0)
    if not usable.any():
        return None, float("nan")
    mean = float(np.average(value[usable], weights=summary.frequency[usable]))
    if usable.sum() < 20:
        return None, mean
    try:
        params = fit_gamma_gamma(summary.frequency[usable], value[usable])
    except ValueError:
        return None, mean
    # q ≤ 1: the spend distribution has no finite mean (heavy-tailed revenue); a one-occasion
    # customer's expectation would be infinite. The observed mean per occasion is used instead.
    return (params, mean) if params.q > 1.0 else (None, mean)


def fit_value_model(
    history: HistoryArrays, cutoff_day: int, config: ValueConfig, *, occasion_model: str, choice: str = ""
) -> ValueModel:
    """Fit the occasion model, Gamma-Gamma and the margin on the history up to ``cutoff_day``."""
    codes = np.arange(history.n_customers, dtype=np.int64)
    summary = occasion_summary(history, codes, cutoff_day)
    params = {
        name: _fit_occasions(summary, name) if name == occasion_model else None for name in OCCASION_MODELS
    }
    gamma_gamma, mean_value = _fit_spend(summary)
    known = np.isfinite(summary.margin_rate)
    if known.any():
        margin_source, margin_share = "cost", float(np.median(summary.margin_rate[known]))
    else:
        margin_source, margin_share = "configured share", config.margin_share
    return ValueModel(
        occasion_model=occasion_model,
        bgnbd=params["bgnbd"],  # type: ignore[arg-type]
        pareto_nbd=params["pareto_nbd"],  # type: ignore[arg-type]
        gamma_gamma=gamma_gamma,
        mean_occasion_value=mean_value,
        margin_source=margin_source,
        margin_share=margin_share,
        horizon_days=config.horizon_days,
        annual_discount_rate=config.annual_discount_rate,
        clv_horizon_days=config.clv_horizon_days,
        clv_step_days=config.clv_step_days,
        choice=choice,
    )


@dataclass(frozen=True)
class ValuePrediction:
    """Per customer: forecasts over the value horizon and the discounted CLV."""

    expected_shipments: np.ndarray  # expected purchase occasions (shipment days)
    expected_revenue: np.ndarray  # NaN without revenue
    p_alive: np.ndarray
    clv: np.ndarray  # NaN without revenue
    value_per_occasion: np.ndarray


def _occasion_params(model: ValueModel) -> BGNBDParams | ParetoNBDParams | None:
    return model.bgnbd if model.occasion_model == "bgnbd" else model.pareto_nbd


def _expected(model: ValueModel, horizon: Any, s: OccasionSummary) -> np.ndarray:
    params = _occasion_params(model)
    x, tx, age = s.frequency, s.recency, np.maximum(s.T, 1e-9)
    if isinstance(params, BGNBDParams):
        return np.asarray(expected_transactions(params, horizon, x, tx, age))
    assert isinstance(params, ParetoNBDParams)
    return np.asarray(pareto_nbd_expected_transactions(params, horizon, x, tx, age))


def predict_value(
    model: ValueModel,
    history: HistoryArrays,
    codes: np.ndarray,
    cutoff_day: int,
    *,
    horizon_days: int | None = None,
    features: np.ndarray | None = None,
    modelled: np.ndarray | None = None,
) -> ValuePrediction:
    """Value forecasts of customers ``codes`` as of ``cutoff_day`` (reads nothing after it).

    With a direct revenue model, ``features`` (the bundle's feature matrix of ``codes``) and
    ``modelled`` (rows the trees may score: the lookback-eligible customers) give its revenue;
    the CLV is the BTYD one scaled by the same correction.
    """
    s = occasion_summary(history, codes, cutoff_day)
    n = codes.shape[0]
    params = _occasion_params(model)
    if params is None or n == 0:
        nan = np.full(n, np.nan)
        return ValuePrediction(nan, nan.copy(), nan.copy(), nan.copy(), nan.copy())
    horizon = horizon_days or model.horizon_days
    x, tx, age = s.frequency, s.recency, np.maximum(s.T, 1e-9)
    shipments = _expected(model, float(horizon), s)
    if isinstance(params, BGNBDParams):
        alive = np.asarray(prob_alive(params, x, tx, age))
    else:
        alive = np.asarray(pareto_nbd_prob_alive(params, x, tx, age))
    if model.gamma_gamma is not None:
        per_occasion = conditional_expected_value(model.gamma_gamma, x, s.repeat_value)
    else:
        per_occasion = np.where(np.isfinite(s.repeat_value), s.repeat_value, model.mean_occasion_value)
    per_occasion = np.asarray(per_occasion, dtype=np.float64)
    margin = np.where(np.isfinite(s.margin_rate), s.margin_rate, model.margin_share)
    steps = model.clv_horizon_days // model.clv_step_days
    cumulative = expected_cumulative_transactions(
        model.occasion_model,  # type: ignore[arg-type]
        params,
        x,
        tx,
        age,
        steps * model.clv_step_days,
        model.clv_step_days,
    )
    clv = np.asarray(
        discounted_clv(cumulative, per_occasion, margin, model.annual_discount_rate, model.clv_step_days),
        dtype=np.float64,
    )
    revenue = shipments * per_occasion
    direct = model.direct
    if direct is not None and features is not None:
        rows = np.ones(n, dtype=bool) if modelled is None else np.asarray(modelled, dtype=bool)
        same = horizon == direct.horizon_days
        btyd_v = revenue if same else _expected(model, float(direct.horizon_days), s) * per_occasion
        corrected = direct.predict(features[rows], btyd_v[rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(btyd_v[rows] > 1e-9, corrected / btyd_v[rows], np.nan)
            # another horizon than the trees': their revenue scaled by the BTYD curve's shape
            share = np.ones(int(rows.sum())) if same else revenue[rows] / btyd_v[rows]
        corrected = corrected * np.where(np.isfinite(share), share, 1.0)
        revenue = revenue.copy()
        revenue[rows] = corrected
        clv[rows] = np.where(np.isfinite(factor), clv[rows] * factor, clv[rows])
    return ValuePrediction(
        expected_shipments=shipments,
        expected_revenue=revenue,
        p_alive=alive,
        clv=clv,
        value_per_occasion=per_occasion,
    )


# ---------------------------------------------------------------------------------------------------
# Holdout check
# ---------------------------------------------------------------------------------------------------


@dataclass
class ValueHoldout:
    """What the holdout check measured, per occasion model."""

    calibration_end_day: int
    holdout_days: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    tracking: dict[str, np.ndarray] = field(default_factory=dict)  # weekly cumulative, "actual" too
    chosen: str = "bgnbd"
    reason: str = ""
    best_btyd: str = "bgnbd"
    notes: list[str] = field(default_factory=list)


def _occasions_so_far(history: HistoryArrays) -> np.ndarray:
    """Running count of purchase occasions over the whole shipment table (a customer's first
    shipment of a day counts one): the occasions in any window are two lookups into it."""
    ships = history.shipments
    days, code = ships.day, ships.code
    first_of_day = np.ones(len(ships), dtype=bool)
    if len(ships) > 1:
        first_of_day[1:] = (days[1:] != days[:-1]) | (code[1:] != code[:-1])
    return np.concatenate([[0], np.cumsum(first_of_day)])


def _actual(
    history: HistoryArrays, codes: np.ndarray, after: int, until: int, occasions_so_far: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(occasions, revenue) of ``codes`` in (after, until]."""
    ships = history.shipments
    lo, hi = ships.bounds(codes, after), ships.bounds(codes, until)
    occasions = (occasions_so_far[hi] - occasions_so_far[lo]).astype(np.float64)
    if "revenue" not in ships.values:
        return occasions, np.full(codes.shape[0], np.nan)
    return occasions, shipment_window_sums(history, codes, after, until, "revenue")


def _errors(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(predicted) & np.isfinite(actual)
    if not ok.any():
        return {"mae": float("nan"), "correlation": float("nan"), "aggregate_error": float("nan")}
    p, a = predicted[ok], actual[ok]
    correlation = float(np.corrcoef(p, a)[0, 1]) if p.std() > 0 and a.std() > 0 else float("nan")
    return {
        "mae": float(np.mean(np.abs(p - a))),
        "correlation": correlation,
        "aggregate_error": float(p.sum() / a.sum() - 1.0) if a.sum() > 0 else float("nan"),
    }


def _direct_cutoffs(history: HistoryArrays, label_end: int, horizon: int, config: ValueConfig) -> list[int]:
    """Cutoffs whose next ``horizon`` days end by ``label_end``, latest first, with enough history."""
    first_day = int(history.shipments.day.min()) if len(history.shipments) else label_end
    latest = label_end - horizon
    candidates = [latest - k * config.direct_step_days for k in range(config.direct_cutoffs)]
    return sorted(c for c in candidates if c - first_day >= config.min_calibration_days)


def fit_direct_models(
    history: HistoryArrays,
    spec: FeatureSpec,
    label_end: int,
    horizon: int,
    config: ValueConfig,
    *,
    occasion_model: str,
    variants: tuple[str, ...] = ("direct", "corrected"),
    seed: int = 0,
) -> dict[str, DirectValueModel]:
    """Direct revenue models trained on cutoffs whose revenue horizon ends by ``label_end`` (the
    latest such cutoff early-stops); empty when the history holds fewer than two such cutoffs or
    no revenue."""
    cutoffs = _direct_cutoffs(history, label_end, horizon, config)
    if len(cutoffs) < 2 or "revenue" not in history.shipments.values:
        return {}
    blocks = []
    for cutoff in cutoffs:
        matrix = compute_features(history, cutoff, spec)
        btyd = fit_value_model(history, cutoff, config, occasion_model=occasion_model)
        forecast = predict_value(btyd, history, matrix.codes, cutoff, horizon_days=horizon).expected_revenue
        actual = shipment_window_sums(history, matrix.codes, cutoff, cutoff + horizon, "revenue")
        blocks.append((matrix.values, forecast, actual))
    return {
        variant: fit_direct_value(blocks[:-1], blocks[-1], variant=variant, horizon_days=horizon, seed=seed)
        for variant in variants
    }


def value_holdout(
    history: HistoryArrays,
    cutoff_day: int,
    config: ValueConfig,
    spec: FeatureSpec | None = None,
    *,
    seed: int = 0,
) -> ValueHoldout | None:
    """Fit each occasion model (and, given the feature ``spec`` and history enough, the direct and
    corrected revenue models) on the history before the last value horizon, forecast that horizon
    for the customers known then, and compare with what they did (None: history too short)."""
    first_day = int(history.shipments.day.min()) if len(history.shipments) else cutoff_day
    holdout = config.horizon_days
    if cutoff_day - holdout - first_day < config.min_calibration_days:
        return None
    holdout -= holdout % _TRACKING_STEP_DAYS
    end = cutoff_day - holdout
    known = history.shipments.starts(np.arange(history.n_customers)) < history.shipments.bounds(
        np.arange(history.n_customers), end
    )
    codes = np.flatnonzero(known).astype(np.int64)
    occasions_so_far = _occasions_so_far(history)
    actual_occasions, actual_revenue = _actual(history, codes, end, cutoff_day, occasions_so_far)
    result = ValueHoldout(calibration_end_day=end, holdout_days=holdout)
    weeks = np.arange(1, holdout // _TRACKING_STEP_DAYS + 1) * _TRACKING_STEP_DAYS
    start = occasions_so_far[history.shipments.bounds(codes, end)].sum()
    result.tracking["actual"] = np.array(
        [occasions_so_far[history.shipments.bounds(codes, end + int(w))].sum() - start for w in weeks],
        dtype=np.float64,
    )
    summary = occasion_summary(history, codes, end)
    fitted: dict[str, ValueModel] = {}
    for name in OCCASION_MODELS:
        model = fit_value_model(history, end, config, occasion_model=name)
        if _occasion_params(model) is None:
            continue
        fitted[name] = model
        predicted = predict_value(model, history, codes, end, horizon_days=holdout)
        shipments = _errors(predicted.expected_shipments, actual_occasions)
        revenue = _errors(predicted.expected_revenue, actual_revenue)
        result.metrics[f"value_{name}"] = {
            **{f"shipments_{k}": v for k, v in shipments.items()},
            **{f"revenue_{k}": v for k, v in revenue.items()},
        }
        params = _occasion_params(model)
        assert params is not None
        cumulative = expected_cumulative_transactions(
            name,  # type: ignore[arg-type]
            params,
            summary.frequency,
            summary.recency,
            np.maximum(summary.T, 1e-9),
            holdout,
            _TRACKING_STEP_DAYS,
        )
        result.tracking[name] = cumulative.sum(axis=0)
    if not result.metrics:
        return None
    key = "revenue_mae" if np.isfinite(actual_revenue).any() else "shipments_mae"
    best_btyd = min(result.metrics, key=lambda m: result.metrics[m][key]).removeprefix("value_")
    result.best_btyd = best_btyd
    if spec is not None and key == "revenue_mae" and config.revenue_model != "btyd":
        direct = fit_direct_models(history, spec, end, holdout, config, occasion_model=best_btyd, seed=seed)
        if not direct:
            result.notes.append(
                f"direct revenue models not evaluated: fewer than two cutoffs with {holdout} days of "
                f"labels and {config.min_calibration_days} days of history before the holdout"
            )
        btyd = fitted[best_btyd]
        # Features of the lookback-eligible customers, as the trees were trained on; the others
        # keep the BTYD forecast (as in serving).
        at_end = compute_features(history, end, spec)
        features = np.full((codes.shape[0], at_end.values.shape[1]), np.nan)
        positions = np.searchsorted(codes, at_end.codes)
        features[positions] = at_end.values
        eligible = np.zeros(codes.shape[0], dtype=bool)
        eligible[positions] = True
        for variant, trees in direct.items():
            served = replace(btyd, direct=trees, revenue_model=variant)
            predicted = predict_value(
                served, history, codes, end, horizon_days=holdout, features=features, modelled=eligible
            )
            revenue = _errors(predicted.expected_revenue, actual_revenue)
            result.metrics[f"value_{variant}"] = {
                **dict.fromkeys(
                    ("shipments_mae", "shipments_correlation", "shipments_aggregate_error"), np.nan
                ),
                **{f"revenue_{k}": v for k, v in revenue.items()},
            }
    result.chosen = min(result.metrics, key=lambda m: result.metrics[m][key]).removeprefix("value_")
    result.reason = (
        f"{result.chosen}: lowest holdout {key.replace('_', ' ')} over the last {holdout} days ("
        + ", ".join(f"{m.removeprefix('value_')} {v[key]:.4g}" for m, v in sorted(result.metrics.items()))
        + ")"
    )
    return result


def plot_tracking(holdout: ValueHoldout, path: Path) -> Path:
    """Cumulative actual vs predicted occasions, week by week over the holdout."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    weeks = np.arange(1, holdout.tracking["actual"].shape[0] + 1)
    for name, series in holdout.tracking.items():
        style = {"color": "black", "linewidth": 2.2} if name == "actual" else {"linestyle": "--"}
        ax.plot(weeks, series, label=name, **style)
    ax.set_xlabel("weeks after the calibration end")
    ax.set_ylabel("cumulative shipment days (customers known then)")
    ax.set_title("Value holdout: tracking plot")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
