"""Which churn predictor serves: judged over several validation cutoffs, not one.

Every candidate (the calibrated trees, the stacked blend, BG/NBD) and every baseline is scored at
each validation cutoff separately; the table of per-cutoff figures is what the run reports, with
each predictor's mean and spread. The stack serves by default: it contains the trees, BG/NBD and
recency, with weights learnt out of time. Another candidate serves only when its mean ROC AUC
over the cutoffs beats the stack's by more than the evaluation's noise: two standard errors of the
per-cutoff differences (with a single validation cutoff, of the difference of two independent
AUCs by Hanley & McNeil, which overstates the noise of a paired comparison and so keeps the default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from berth.evaluation import churn_metrics

DEFAULT = "stack"


@dataclass(frozen=True)
class Selection:
    """The served predictor and why."""

    served: str
    reason: str


def metrics_by_cutoff(
    outcome: np.ndarray, cutoff_day: np.ndarray, predictions: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """One row per (predictor, cutoff): rows, positives, ROC AUC, Brier and log loss."""
    records = []
    for name, probability in predictions.items():
        for cutoff in np.unique(cutoff_day):
            at = cutoff_day == cutoff
            y = outcome[at]
            metrics = churn_metrics(y, probability[at])
            records.append(
                {
                    "predictor": name,
                    "cutoff_day": int(cutoff),
                    "rows": int(at.sum()),
                    "positives": int(y.sum()),
                    "roc_auc": metrics["roc_auc"],
                    "brier": metrics["brier"],
                    "log_loss": metrics["log_loss"],
                }
            )
    return pd.DataFrame.from_records(records)


def spread(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per predictor: mean, standard deviation and minimum of the per-cutoff ROC AUC and Brier."""
    out: dict[str, dict[str, float]] = {}
    for name, rows in table.groupby("predictor", sort=False):
        auc, brier = rows["roc_auc"].to_numpy(), rows["brier"].to_numpy()
        out[str(name)] = {
            "roc_auc_cutoff_mean": float(np.mean(auc)),
            "roc_auc_cutoff_sd": float(np.std(auc, ddof=1)) if auc.shape[0] > 1 else float("nan"),
            "roc_auc_cutoff_min": float(np.min(auc)),
            "brier_cutoff_mean": float(np.mean(brier)),
            "validation_cutoffs": float(auc.shape[0]),
        }
    return out


def hanley_mcneil_se(auc: float, positives: int, negatives: int) -> float:
    """Standard error of one ROC AUC (Hanley & McNeil, 1982)."""
    if positives < 1 or negatives < 1 or not np.isfinite(auc):
        return float("inf")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    variance = (auc * (1.0 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return float(np.sqrt(max(variance, 0.0)))


def choose(table: pd.DataFrame, candidates: Sequence[str]) -> Selection:
    """The served predictor among ``candidates`` (the stack first when it is one of them)."""
    default = DEFAULT if DEFAULT in candidates else candidates[0]
    wide = table.pivot(index="cutoff_day", columns="predictor", values="roc_auc")
    means = {name: float(wide[name].mean()) for name in candidates}
    challengers = [name for name in candidates if name != default]
    # the mean of the per-cutoff figures, named so: the run's table pools the cutoffs instead
    figures = "mean ROC AUC per cutoff " + ", ".join(f"{name} {means[name]:.4f}" for name in candidates)
    if not challengers:
        return Selection(default, f"the only candidate (mean ROC AUC {means[default]:.4f})")
    best = max(challengers, key=lambda name: means[name])
    gap = wide[best] - wide[default]
    if gap.shape[0] > 1:
        noise = 2.0 * float(gap.std(ddof=1)) / np.sqrt(gap.shape[0])
    else:
        row = table[(table["predictor"] == default)].iloc[0]
        positives, negatives = int(row["positives"]), int(row["rows"] - row["positives"])
        noise = 2.0 * float(
            np.hypot(
                hanley_mcneil_se(means[best], positives, negatives),
                hanley_mcneil_se(means[default], positives, negatives),
            )
        )
    mean_gap = float(gap.mean())
    cutoffs = f"{gap.shape[0]} validation cutoff{'s' if gap.shape[0] > 1 else ''}"
    if np.isfinite(mean_gap) and mean_gap > noise:
        return Selection(
            best,
            f"{best} beats {default} by {mean_gap:.4f} ROC AUC (noise ±{noise:.4f}) over {cutoffs}: "
            + figures,
        )
    return Selection(
        default,
        f"{default}: no candidate beats it beyond the noise (±{noise:.4f}) over {cutoffs}: {figures}",
    )
