"""The tier model inside a training run: labels on the churn snapshots, fit, evaluation, plots.

The tier rule is fixed at the first held-out cutoff (calibration, else validation): its quantile
edges come from the period before that cutoff, so nothing after it shapes a training row, and the
same rule labels the held-out rows and is stored in the bundle for serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from berth._logging import get_logger
from berth.features import HistoryArrays
from berth.labels import Snapshots
from berth.modeling import baselines
from berth.modeling.tiers import (
    TierClassifier,
    TierConfig,
    TierRule,
    fit_tier_classifier,
    fit_tier_rule,
    one_hot,
    resolve_measure,
    tier_current,
    tier_label,
    tier_metrics,
)

log = get_logger(__name__)
_BASELINE_ROWS = 30_000  # a linear baseline: more rows cost minutes (lbfgs, 5 classes), not accuracy


@dataclass
class TierRun:
    """What the tier part of a training run produced."""

    rule: TierRule
    model: TierClassifier | None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    method_scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    validation_current: np.ndarray | None = None
    validation_label: np.ndarray | None = None
    validation_probability: np.ndarray | None = None


def snapshot_tiers(history: HistoryArrays, rows: Snapshots, rule: TierRule) -> tuple[np.ndarray, np.ndarray]:
    """(tier_current, next-period tier) of every snapshot row, cutoff by cutoff."""
    current = np.empty(len(rows), dtype=np.int8)
    label = np.empty(len(rows), dtype=np.int8)
    for cutoff in np.unique(rows.cutoff_day):
        at = np.flatnonzero(rows.cutoff_day == cutoff)
        codes = rows.codes[at]
        current[at] = tier_current(history, codes, int(cutoff), rule)
        label[at] = tier_label(history, codes, int(cutoff), rule)
    return current, label


def train_tiers(
    history: HistoryArrays,
    parts: Mapping[str, Snapshots],
    rule_day: int,
    horizon_days: int,
    config: TierConfig,
    *,
    fit_model: bool,
    params: Mapping[str, float | int | str],
    num_boost_round: int,
    early_stopping_rounds: int,
    seed: int,
) -> TierRun:
    """Fix the rule at ``rule_day``, fit the tier model on the train slice, evaluate on validation."""
    measure = resolve_measure(config, history.available)
    rule = fit_tier_rule(history, rule_day, horizon_days, measure, config)
    run = TierRun(rule=rule, model=None)
    run.notes.append(
        f"tiers by {measure} over {horizon_days} days; edges {', '.join(f'{e:g}' for e in rule.edges)}"
    )
    if not fit_model or not parts or not len(parts.get("train", ())) or not len(parts.get("calibration", ())):
        run.notes.append("tier model not trained: too little labelled history")
        return run
    labels = rule.labels
    train, cal = parts["train"], parts["calibration"]
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(train))[: config.max_training_rows])
    _, train_y = snapshot_tiers(history, train, rule)
    _, cal_y = snapshot_tiers(history, cal, rule)
    train_x = train.values[keep] if keep.shape[0] < len(train) else train.values
    train_y = train_y[keep]
    model, scores = fit_tier_classifier(
        train_x,
        train_y,
        cal.values,
        cal_y,
        train.feature_names,
        labels,
        method=config.model,
        params=params,
        num_boost_round=num_boost_round,
        early_stopping_rounds=early_stopping_rounds,
        seed=seed,
    )
    run.model, run.method_scores = model, scores
    run.notes.append(
        f"tier model: {model.method} (calibration RPS "
        + ", ".join(f"{k} {v:.4f}" for k, v in sorted(scores.items()))
        + ")"
    )
    validation = parts.get("validation")
    if validation is None or not len(validation):
        return run
    current, label = snapshot_tiers(history, validation, rule)
    probability = model.predict_proba(validation.values)
    run.validation_current, run.validation_label, run.validation_probability = current, label, probability
    run.metrics["tier_model"] = tier_metrics(label, probability)
    run.metrics["tier_baseline_same"] = tier_metrics(label, one_hot(current.astype(np.int64), len(labels)))
    sample = np.sort(rng.permutation(train_y.shape[0])[:_BASELINE_ROWS])
    if np.unique(train_y[sample]).shape[0] >= 2:
        logistic = baselines.fit_logistic(train_x[sample], train_y[sample], seed=seed)
        run.metrics["tier_baseline_logistic"] = tier_metrics(
            label, _class_matrix(logistic, validation.values, len(labels))
        )
    log.info(
        "tier_model", method=model.method, **{k: round(v, 4) for k, v in run.metrics["tier_model"].items()}
    )
    return run


def _class_matrix(model: object, values: np.ndarray, n_classes: int) -> np.ndarray:
    """A fitted multinomial pipeline's probabilities as a (rows, n_classes) matrix."""
    raw = model.predict_proba(baselines._finite(values))  # type: ignore[attr-defined]
    out = np.zeros((values.shape[0], n_classes))
    out[:, model.classes_.astype(np.int64)] = raw  # type: ignore[attr-defined]
    return out


def plot_tier_matrices(run: TierRun, folder: Path) -> dict[str, Path]:
    """The confusion matrix (actual × predicted tier) and the migration matrix (current × next)."""
    if run.validation_label is None or run.validation_probability is None or run.validation_current is None:
        return {}
    labels = run.rule.labels
    predicted = run.validation_probability.argmax(axis=1)
    out = {}
    for name, rows, cols, xlabel, ylabel in (
        ("tier_confusion", run.validation_label, predicted, "predicted tier", "actual next tier"),
        ("tier_migration", run.validation_current, run.validation_label, "next-period tier", "current tier"),
    ):
        counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
        np.add.at(counts, (rows.astype(np.int64), cols.astype(np.int64)), 1)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(
                    j,
                    i,
                    f"{counts[i, j]}\n{share[i, j]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black",
                )
        ax.set_xticks(range(len(labels)), labels, rotation=30)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(name.replace("_", " ") + " (validation; row shares)")
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out[name] = path
    return out
