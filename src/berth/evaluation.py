"""Metrics and plots for churn probabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    roc_curve,
)

METRIC_NAMES = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "ece")


def expected_calibration_error(outcome: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate − mean probability| over equal-count bins, weighted by bin size."""
    order = np.argsort(probability, kind="stable")
    chunks = np.array_split(order, bins)
    total = outcome.shape[0]
    return float(
        sum(len(c) / total * abs(outcome[c].mean() - probability[c].mean()) for c in chunks if len(c))
    )


def lift_at(outcome: np.ndarray, probability: np.ndarray, share: float = 0.1) -> float:
    """Churn rate in the top ``share`` by probability over the overall churn rate."""
    base = outcome.mean()
    if base == 0:
        return float("nan")
    top = max(round(share * outcome.shape[0]), 1)
    order = np.argsort(-probability, kind="stable")[:top]
    return float(outcome[order].mean() / base)


def churn_metrics(outcome: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, log loss, lift in the top decile and ECE."""
    y = np.asarray(outcome, dtype=np.int64)
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-6, 1 - 1e-6)
    if np.unique(y).shape[0] < 2 or not np.isfinite(p).all():
        return dict.fromkeys(METRIC_NAMES, float("nan"))
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "lift_top_decile": lift_at(y, p, 0.1),
        "ece": expected_calibration_error(y, p),
    }


def plot_roc(
    outcome: np.ndarray, curves: dict[str, np.ndarray], path: Path, *, title: str = "ROC (validation)"
) -> Path:
    """ROC curves of the model and baselines."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, probability in curves.items():
        if not np.isfinite(probability).all():
            continue
        fpr, tpr, _ = roc_curve(outcome, probability)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(outcome, probability):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_calibration(
    outcome: np.ndarray,
    probability: np.ndarray,
    path: Path,
    bins: int = 10,
    *,
    title: str = "Calibration (validation)",
    observed_label: str = "Observed churn rate",
) -> Path:
    """Reliability diagram: mean predicted vs observed churn rate per equal-count bin."""
    order = np.argsort(probability, kind="stable")
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    predicted = [probability[c].mean() for c in chunks]
    observed = [outcome[c].mean() for c in chunks]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.plot(predicted, observed, marker="o")
    ax.set(xlabel="Mean predicted probability", ylabel=observed_label, title=title)
    return _save(fig, path)


def plot_gains(outcome: np.ndarray, probability: np.ndarray, path: Path, *, what: str = "churners") -> Path:
    """Cumulative gains and lift by contacted share of customers."""
    order = np.argsort(-probability, kind="stable")
    captured = np.cumsum(outcome[order]) / max(outcome.sum(), 1)
    share = np.arange(1, outcome.shape[0] + 1) / outcome.shape[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(share, captured, label="model")
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    left.set(
        xlabel="Share of customers contacted", ylabel=f"Share of {what} reached", title="Cumulative gains"
    )
    left.legend(fontsize=8)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = captured / share
    right.plot(share, lift)
    right.axhline(1.0, color="grey", linestyle=":")
    right.set(xlabel="Share of customers contacted", ylabel="Lift", title="Lift")
    return _save(fig, path)


def plot_importance(names: list[str], importance: list[float], path: Path, top: int = 20) -> Path:
    """Horizontal bar chart of the largest importances."""
    order = np.argsort(importance)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(6, max(3, 0.3 * len(order))))
    ax.barh([names[i] for i in order], [importance[i] for i in order])
    ax.set(xlabel="Mean |SHAP| (log-odds)", title="Feature importance")
    return _save(fig, path)


_SLICE_COLOURS = {
    "train": "tab:blue",
    "calibration": "tab:orange",
    "validation": "tab:green",
    "dropped": "grey",
}


def plot_time_split(
    slices: Mapping[str, Sequence[date]],
    horizon_days: int,
    data_start: date,
    training_cutoff: date,
    path: Path,
) -> Path:
    """The time split on a time axis: each slice's cutoffs (dots) and label windows (bars of
    ``horizon_days`` after each cutoff), over the data's span up to the training cutoff."""
    names = [name for name in _SLICE_COLOURS if slices.get(name)]
    start, cutoff = np.datetime64(data_start, "D"), np.datetime64(training_cutoff, "D")
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.6 * max(len(names), 1)))
    ax.axvspan(start, cutoff, color="0.93", zorder=0)  # type: ignore[arg-type]
    for row, name in enumerate(reversed(names)):
        cutoffs = np.sort(np.array(slices[name], dtype="datetime64[D]"))
        rows = np.full(cutoffs.shape[0], row)
        colour = _SLICE_COLOURS[name]
        ax.hlines(rows, cutoffs, cutoffs + np.timedelta64(horizon_days, "D"), colors=colour, alpha=0.35, lw=5)
        ax.plot(cutoffs, rows, "o", color=colour, markersize=4)
    ax.axvline(cutoff, color="black", linestyle="--", lw=1)  # type: ignore[arg-type]
    ax.set_yticks(range(len(names)), [f"{n} ({len(slices[n])})" for n in reversed(names)])
    ax.set_ylim(-0.7, max(len(names), 1) - 0.3)
    ax.set(
        xlabel="dots: cutoffs; bars: their label windows; shaded: data used; dashed: training cutoff",
        title=f"Time split: cutoffs by slice, {horizon_days}-day label windows",
    )
    fig.autofmt_xdate()
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
