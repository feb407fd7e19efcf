"""Snapshots → fit → evaluate against baselines → a model bundle (MLflow logging is in registry.py).

Time is the only split: the latest labelled cutoff(s) validate, the cutoffs before them calibrate
and early-stop, the earlier ones fit the trees. With the embargo on, a cutoff joins a slice only
when its label window ends on or before the next slice's first cutoff, so no label used for
fitting looks past a cutoff used for evaluating.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from berth._logging import get_logger
from berth._memory import release_freed_memory
from berth.bundle import ModelBundle, library_versions
from berth.churn_selection import Selection, choose, metrics_by_cutoff, spread
from berth.config import TrainConfig
from berth.customer_value import (
    ValueHoldout,
    ValueModel,
    fit_direct_models,
    fit_value_model,
    plot_tracking,
    value_holdout,
)
from berth.cutoff_plan import CutoffPlan, plan_cutoffs
from berth.errors import InsufficientHistoryError
from berth.evaluation import (
    churn_metrics,
    plot_calibration,
    plot_gains,
    plot_importance,
    plot_roc,
    plot_time_split,
)
from berth.features import (
    FeatureSpec,
    HistoryArrays,
    compute_features,
    date_to_day,
    day_to_date,
    plan_features,
)
from berth.labels import Snapshots, build_snapshots
from berth.modeling import baselines
from berth.modeling.blend import fit_blend
from berth.modeling.churn import ChurnClassifier, fit_churn_classifier, refit_trees
from berth.provenance import data_source
from berth.tables import CUSTOMER_ID, SHIPMENT_DATE, PortData
from berth.taxonomy import fit_taxonomy_reference
from berth.tier_training import TierRun, plot_tier_matrices, train_tiers

log = get_logger(__name__)
_IMPORTANCE_SAMPLE = 2_000
_BASELINE_ROWS = 200_000


@dataclass(frozen=True)
class TimeSplit:
    """Cutoff days of each slice, oldest first."""

    train: list[int]
    calibration: list[int]
    validation: list[int]
    dropped: list[int]


@dataclass
class TrainedModel:
    """What a training run produced, before it is logged and registered."""

    bundle: ModelBundle
    metrics: dict[str, dict[str, float]]  # model or baseline → metric → value
    split: TimeSplit
    row_counts: dict[str, int]
    notes: list[str]
    training_cutoff: date
    data_start: date
    plots: dict[str, Path] = field(default_factory=dict)
    validation: Snapshots | None = None
    validation_probability: np.ndarray | None = None
    feature_importance: dict[str, float] = field(default_factory=dict)
    # The arrays the run was trained on (data up to the training cutoff), kept for the champion
    # comparison and for mapping validation rows to customer ids; never serialised.
    history: HistoryArrays | None = field(default=None, repr=False)
    tiers: TierRun | None = None
    value_holdout: ValueHoldout | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of the run's parts
    # every predictor's figures at each validation cutoff (berth.churn_selection)
    metrics_by_cutoff: pd.DataFrame | None = field(default=None, repr=False)
    served_predictor: str = "trees"
    # every candidate's and baseline's validation probabilities, by name (the ROC plot draws them)
    validation_predictions: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # the partial-churn model's validation probabilities (what partial_churn_model.* measures)
    validation_partial_probability: np.ndarray | None = field(default=None, repr=False)

    def validation_frame(self) -> pd.DataFrame:
        """Validation rows: ``customer_id, cutoff, label`` and the model's ``churn_probability``."""
        validation, history = self.validation, self.history
        if validation is None or self.validation_probability is None or history is None:
            raise ValueError("this run has no validation rows")
        return pd.DataFrame(
            {
                CUSTOMER_ID: history.customer_ids[validation.codes].astype(str),
                "cutoff": pd.to_datetime(validation.cutoff_day.astype("datetime64[D]")),
                "label": validation.churned,
                "churn_probability": self.validation_probability,
            }
        )


def split_cutoffs(cutoffs: list[int], horizon_days: int, config: TrainConfig) -> TimeSplit:
    """Validation = latest cutoffs; calibration before them; training before that (embargo applied)."""
    remaining = sorted(cutoffs)
    n_val = config.split.validation_cutoffs
    validation = remaining[-n_val:] if len(remaining) >= n_val else []
    remaining = remaining[: len(remaining) - len(validation)]
    gap = horizon_days if config.split.embargo else 0

    def take(pool: list[int], boundary: int | None, count: int | None) -> tuple[list[int], list[int]]:
        allowed = [c for c in pool if boundary is None or c + gap <= boundary]
        chosen = allowed[-count:] if count is not None else allowed
        return chosen, [c for c in pool if c not in chosen]

    calibration, rest = take(
        remaining, validation[0] if validation else None, config.split.calibration_cutoffs
    )
    boundary = calibration[0] if calibration else (validation[0] if validation else None)
    train, _rest2 = take(
        [c for c in rest if not calibration or c < calibration[0]], boundary, config.max_cutoffs
    )
    dropped = sorted(set(cutoffs) - set(train) - set(calibration) - set(validation))
    return TimeSplit(train=train, calibration=calibration, validation=validation, dropped=dropped)


def plan_training_cutoffs(first_day: int, end_day: int, horizon_days: int, config: TrainConfig) -> CutoffPlan:
    """The run's labelled cutoffs: step and first cutoff from the config or derived from the data."""
    return plan_cutoffs(
        first_day,
        end_day,
        horizon_days,
        step_days=config.cutoff_step_days,
        min_history_days=config.min_history_days,
        max_cutoffs=config.max_cutoffs,
        training_cutoffs=lambda cutoffs: len(split_cutoffs(cutoffs, horizon_days, config).train),
        held_out_cutoffs=config.split.validation_cutoffs + config.split.calibration_cutoffs,
        embargo=config.split.embargo,
    )


def train_churn_model(
    data: PortData,
    config: TrainConfig,
    *,
    cutoff: date | None = None,
    horizon_days: int | None = None,
    artifacts_dir: Path | None = None,
    progress: bool = False,
) -> TrainedModel:
    """Train on data up to ``cutoff`` (default: the last shipment date) for ``horizon_days``."""
    horizon = horizon_days or config.horizon_days
    last_date = pd.Timestamp(data.shipments[SHIPMENT_DATE].max()).date()
    cutoff = cutoff or last_date
    started = time.perf_counter()
    release_freed_memory()  # what reading the tables left in Arrow's pool
    # Only what was known on the cutoff, masked inside the history build rather than by filtered
    # copies of the tables (which cost as much memory as the history itself at 100k customers).
    history = HistoryArrays.from_port_data(data, known_until=cutoff)
    release_freed_memory()  # the build's temporaries, before the caches and snapshots need memory
    if len(history.shipments) == 0:
        raise InsufficientHistoryError(f"no shipment on or before the training cutoff {cutoff}")
    notes = list(data.notes)
    first_day = int(history.shipments.day.min())
    end_day = date_to_day(cutoff)
    spec = plan_features(
        history,
        end_day,
        FeatureSpec(
            horizon_days=horizon,
            lookback_days=config.lookback_days,
            on_time_threshold_hours=config.on_time_threshold_hours,
        ),
    )
    plan = plan_training_cutoffs(first_day, end_day, horizon, config)
    notes.extend(plan.notes)
    split = split_cutoffs(plan.cutoffs, horizon, config)
    log.info(
        "time_split",
        train=len(split.train),
        calibration=len(split.calibration),
        validation=len(split.validation),
        dropped=len(split.dropped),
    )
    used = split.train + split.calibration + split.validation
    # BG/NBD parameters at the training cutoff; only they and the customer count are kept (the
    # matrix would sit beside the snapshots at the run's peak memory).
    final = compute_features(history, end_day, spec)
    final_btyd, customers_at_cutoff = final.btyd_params, int(final.codes.shape[0])
    del final
    release_freed_memory()  # the planning and final passes' temporaries, before the snapshots
    snapshots = (
        build_snapshots(history, used, spec, config.partial_churn_share, progress=progress) if used else None
    )
    release_freed_memory()  # the snapshot passes' temporaries, before the fit
    masks = {
        name: np.isin(snapshots.cutoff_day, days) if snapshots is not None else np.zeros(0, dtype=bool)
        for name, days in (
            ("train", split.train),
            ("calibration", split.calibration),
            ("validation", split.validation),
        )
    }
    # The slices are views of one matrix, except the validation rows: they outlive training
    # (reports, champion comparison) and get their own copy rather than keep the whole matrix alive.
    parts = (
        {name: snapshots.select(mask, copy=name == "validation") for name, mask in masks.items()}
        if snapshots is not None
        else {}
    )
    if snapshots is not None:
        # train and calibration cutoffs are adjacent in the matrix: one view, no copy
        parts["train_and_calibration"] = snapshots.select(masks["train"] | masks["calibration"])
    del snapshots
    row_counts = {
        f"rows_{name}": len(parts[name]) for name in ("train", "calibration", "validation") if name in parts
    }
    row_counts["customers_at_cutoff"] = customers_at_cutoff
    row_counts["shipments"] = len(history.shipments)
    row_counts["events"] = history.n_events

    churn_model: ChurnClassifier | None = None
    partial_model: ChurnClassifier | None = None
    stack_model: ChurnClassifier | None = None
    reason = _too_short(parts, config)
    if reason is None:
        train, cal = parts["train"], parts["calibration"]
        fit_args = dict(
            num_boost_round=config.model.num_boost_round,
            early_stopping_rounds=config.model.early_stopping_rounds,
            calibration_method=config.model.calibration,
            params=config.model.params,
            seed=config.seed,
        )
        churn_model = fit_churn_classifier(
            train.values,
            train.churned,
            cal.values,
            cal.churned,
            spec.feature_names,
            **fit_args,  # type: ignore[arg-type]
        )
        # out of time for the trees: the calibration cutoffs lie a horizon after the last training one
        blend = fit_blend(churn_model.margin(cal.values), cal.values, cal.churned, spec.feature_names)
        if blend is not None:
            # The stack's trees are the same recipe refitted on train + calibration (same rounds):
            # they reach a horizon closer to the scoring date, and validation still lies after both.
            refitted = refit_trees(
                parts["train_and_calibration"].values,
                parts["train_and_calibration"].churned,
                spec.feature_names,
                num_boost_round=churn_model.booster.num_boosted_rounds(),
                params=config.model.params,
                seed=config.seed,
            )
            stack_model = replace(churn_model, booster=refitted, trees=None, blend=blend)
        if np.unique(train.partial_churned).shape[0] == 2 and np.unique(cal.partial_churned).shape[0] == 2:
            partial_model = fit_churn_classifier(
                train.values,
                train.partial_churned,
                cal.values,
                cal.partial_churned,
                spec.feature_names,
                **fit_args,  # type: ignore[arg-type]
            )
        del train, cal  # views of the snapshot matrix: parts holds them while the tiers need them
        model_kind = "xgboost"
    else:
        notes.append(f"fell back to BG/NBD: {reason}")
        log.warning("btyd_fallback", reason=reason)
        model_kind = "btyd"

    seconds = {"features_and_churn": time.perf_counter() - started}
    started = time.perf_counter()
    held_out = split.calibration or split.validation
    tiers = train_tiers(
        history,
        parts,
        held_out[0] if held_out else end_day,
        horizon,
        config.tiers,
        fit_model=reason is None,
        params=config.model.params,
        num_boost_round=config.model.num_boost_round,
        early_stopping_rounds=config.model.early_stopping_rounds,
        seed=config.seed,
    )
    notes.extend(tiers.notes)

    metrics: dict[str, dict[str, float]] = {}
    validation = parts.get("validation")
    validation_probability = None
    importance: dict[str, float] = {}
    by_cutoff: pd.DataFrame | None = None
    predictions: dict[str, np.ndarray] = {}
    partial_probability: np.ndarray | None = None
    served = "btyd" if churn_model is None else ("stack" if stack_model is not None else "trees")
    if validation is not None and len(validation):
        metrics, validation_probability, by_cutoff, selection, predictions = _evaluate(
            parts, churn_model, stack_model, spec.feature_names, config
        )
        if selection is not None:
            served = selection.served
            notes.append(f"served churn predictor: {selection.reason}")
            log.info("churn_predictor", served=served, reason=selection.reason)
        if partial_model is not None:
            partial_probability = partial_model.predict_proba(validation.values)
            metrics["partial_churn_model"] = churn_metrics(validation.partial_churned, partial_probability)
    else:
        notes.append("no labelled validation cutoff: metrics unavailable")
        if churn_model is not None:
            notes.append(f"served churn predictor: {served} (the default; nothing to compare on)")
    if churn_model is not None:
        if served == "stack":
            churn_model = stack_model
        elif served == "btyd":
            churn_model, model_kind = None, "btyd"
    if churn_model is not None and validation is not None and len(validation):
        # the served trees (the stack's refitted ones when it serves); TreeSHAP costs
        # O(trees · leaves · depth²) per row: a fixed-seed sample ranks features as well.
        rows = np.random.default_rng(config.seed).permutation(len(validation))[:_IMPORTANCE_SAMPLE]
        shap = churn_model.shap_values(validation.values[np.sort(rows)])[:, :-1]
        importance = dict(zip(spec.feature_names, np.abs(shap).mean(axis=0).round(6).tolist(), strict=True))
    metrics.update(tiers.metrics)
    seconds["tiers"] = time.perf_counter() - started
    # Every model that reads the training rows is fitted: the snapshot matrix (their views) goes
    # before the value holdout's passes over the history, the run's peak memory at 100k customers.
    for name in ("train", "calibration", "train_and_calibration"):
        parts.pop(name, None)
    release_freed_memory()
    started = time.perf_counter()
    value_model, holdout, value_notes = _train_value(history, spec, end_day, config)
    if holdout is not None:
        metrics.update(holdout.metrics)
    notes.extend(value_notes)
    occasion_model, choice = value_model.occasion_model, value_model.choice

    headline = metrics.get("model", {})
    seconds["value"] = time.perf_counter() - started
    started = time.perf_counter()
    taxonomy = (config.taxonomy, fit_taxonomy_reference(history, end_day, config.taxonomy))
    seconds["taxonomy"] = time.perf_counter() - started
    bundle = ModelBundle(
        metadata={
            "model_name": config.model_name,
            "model_kind": model_kind,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training_cutoff": cutoff.isoformat(),
            "data_start": day_to_date(first_day).isoformat(),
            "horizon_days": horizon,
            "partial_churn_share": config.partial_churn_share,
            "validation_metrics": {k: v for k, v in headline.items() if np.isfinite(v)},
            "validation_cutoffs": [day_to_date(c).isoformat() for c in split.validation],
            "served_predictor": served,
            "model_metrics": {
                name: {k: v for k, v in metrics.get(source, {}).items() if np.isfinite(v)}
                for name, source in (
                    ("churn", "model"),
                    ("partial_churn", "partial_churn_model"),
                    ("tier", "tier_model"),
                    ("value", f"value_{occasion_model}"),
                    ("value_revenue", f"value_{value_model.revenue_model}"),
                )
                if source in metrics
            },
            "value_model": {
                "occasion_model": occasion_model,
                "revenue_model": value_model.revenue_model,
                "choice": choice,
            },
            "notes": notes,
            "libraries": library_versions(),
            "data_source": data_source(data, config.project),
        },
        spec=spec,
        btyd_params=final_btyd,
        churn=churn_model,
        partial_churn=partial_model,
        risk_bands=config.risk_bands,
        tier_rule=tiers.rule,
        tier_model=tiers.model,
        value_model=value_model,
        taxonomy=taxonomy,
    )
    result = TrainedModel(
        bundle=bundle,
        metrics=metrics,
        split=split,
        row_counts=row_counts,
        notes=notes,
        training_cutoff=cutoff,
        data_start=day_to_date(first_day),
        validation=validation,
        validation_probability=validation_probability,
        feature_importance=importance,
        history=history,
        tiers=tiers,
        value_holdout=holdout,
        seconds={k: round(v, 2) for k, v in seconds.items()},
        metrics_by_cutoff=by_cutoff,
        served_predictor=served,
        validation_predictions=predictions,
        validation_partial_probability=partial_probability,
    )
    if artifacts_dir is not None:
        # the split first: with too short a history it is the one plot there is, and the one that says why
        result.plots["time_split"] = plot_time_split(
            {
                k: [day_to_date(c) for c in getattr(split, k)]
                for k in ("train", "calibration", "validation", "dropped")
            },
            horizon,
            day_to_date(first_day),
            cutoff,
            artifacts_dir / "time_split.png",
        )
        if validation is not None and validation_probability is not None:
            result.plots.update(_plots(result, artifacts_dir, parts, config))
    return result


def _train_value(
    history: HistoryArrays, spec: FeatureSpec, end_day: int, config: TrainConfig
) -> tuple[ValueModel, ValueHoldout | None, list[str]]:
    """The holdout check, then the served value model: the occasion model and the revenue model
    (BTYD × Gamma-Gamma, direct or corrected) the holdout chose, or the configured ones."""
    settings = config.value
    holdout = value_holdout(history, end_day, settings, spec, seed=config.seed)
    notes = list(holdout.notes) if holdout is not None else []
    occasion_model: str = settings.occasion_model
    revenue_model: str = settings.revenue_model
    if holdout is not None:
        choice = holdout.reason
        if occasion_model == "auto":
            occasion_model = holdout.best_btyd
        if revenue_model == "auto":
            revenue_model = holdout.chosen if holdout.chosen in ("direct", "corrected") else "btyd"
    else:
        choice = "history too short for the value holdout"
    if occasion_model == "auto":
        occasion_model = "bgnbd"
    if revenue_model == "auto":
        revenue_model = "btyd"
    model = fit_value_model(history, end_day, settings, occasion_model=occasion_model, choice=choice)
    if revenue_model != "btyd":
        fitted = fit_direct_models(
            history,
            spec,
            end_day,
            settings.horizon_days,
            settings,
            occasion_model=occasion_model,
            variants=(revenue_model,),
            seed=config.seed,
        )
        if revenue_model in fitted:
            model = replace(model, direct=fitted[revenue_model], revenue_model=revenue_model)
        else:
            notes.append(f"value: {revenue_model} revenue model not trainable on this history; BTYD serves")
    notes.append(
        f"value: {occasion_model} + Gamma-Gamma, revenue from {model.revenue_model} ({choice}); "
        f"margin from {model.margin_source}"
    )
    return model, holdout, notes


def _too_short(parts: Mapping[str, Snapshots], config: TrainConfig) -> str | None:
    """Why the history is too short to train trees, or None when it is long enough."""
    if not parts or not len(parts["train"]) or not len(parts["calibration"]):
        return "the history is too short to label training and calibration cutoffs for this horizon"
    train = parts["train"]
    if len(train) < config.min_training_rows:
        return f"only {len(train)} labelled training rows (minimum {config.min_training_rows})"
    positives = int(train.churned.sum())
    if positives < config.min_training_positives or positives == len(train):
        return f"only {positives} churned of {len(train)} training rows; cannot learn churn"
    if np.unique(parts["calibration"].churned).shape[0] < 2:
        return "the calibration slice has a single class"
    return None


def _evaluate(
    parts: Mapping[str, Snapshots],
    model: ChurnClassifier | None,
    stack: ChurnClassifier | None,
    names: tuple[str, ...],
    config: TrainConfig,
) -> tuple[dict[str, dict[str, float]], np.ndarray, pd.DataFrame, Selection | None, dict[str, np.ndarray]]:
    """Candidates and baselines on the same validation rows, cutoff by cutoff; the served one.

    Baselines are fitted on the same training rows as the trees (the calibration rows when the
    history is too short for trees). ``model`` in the metrics is the served predictor.
    """
    validation = parts["validation"]
    y, values = validation.churned, validation.values
    btyd = baselines.btyd_probability(values, names)
    predictions: dict[str, np.ndarray] = {}
    candidates: list[str] = []
    if model is not None:
        if stack is not None:
            predictions["stack"] = stack.predict_proba(values)
            candidates.append("stack")
        predictions["trees"] = model.trees_probability(values)
        candidates.append("trees")
    if np.isfinite(btyd).all():
        predictions["btyd"] = btyd
        candidates.append("btyd")
    train = parts.get("train")
    if train is None or not len(train):
        train = parts.get("calibration")  # too short for trees: the baselines still get fitted
    if train is not None and len(train) > _BASELINE_ROWS:
        # a linear baseline needs far fewer rows than the trees; its copies dominated peak memory
        keep = np.random.default_rng(config.seed).permutation(len(train))[:_BASELINE_ROWS]
        train = train.select(np.isin(np.arange(len(train)), keep))
    if train is not None and len(train) and np.unique(train.churned).shape[0] == 2:
        recency = baselines.fit_logistic(baselines.recency_values(train.values, names), train.churned)
        predictions["recency"] = baselines.predict_logistic(recency, baselines.recency_values(values, names))
        logistic = baselines.fit_logistic(train.values, train.churned, seed=config.seed)
        predictions["logistic"] = baselines.predict_logistic(logistic, values)
    table = metrics_by_cutoff(y, validation.cutoff_day, predictions) if predictions else pd.DataFrame()
    selection = choose(table, candidates) if candidates else None
    served = selection.served if selection is not None else "btyd"
    probability = predictions.get(served, btyd)
    summary = spread(table) if len(table) else {}
    metrics = {"model": {**churn_metrics(y, probability), **summary.get(served, {})}}
    for name, key in (
        ("stack", "candidate_stack"),
        ("trees", "candidate_trees"),
        ("btyd", "baseline_btyd"),
        ("recency", "baseline_recency"),
        ("logistic", "baseline_logistic"),
    ):
        if name in predictions:
            metrics[key] = {**churn_metrics(y, predictions[name]), **summary.get(name, {})}
    if "baseline_btyd" not in metrics:
        metrics["baseline_btyd"] = churn_metrics(y, btyd)
    return metrics, probability, table, selection, predictions


def _plots(
    result: TrainedModel, folder: Path, parts: Mapping[str, Snapshots], config: TrainConfig
) -> dict[str, Path]:
    validation = result.validation
    assert validation is not None
    assert result.validation_probability is not None
    y = validation.churned
    labels = {
        "stack": "stack",
        "trees": "calibrated trees",
        "btyd": "BG/NBD",
        "recency": "recency (logistic)",
        "logistic": "logistic, all features",
    }
    curves = {f"served: {result.served_predictor}": result.validation_probability}
    curves.update(
        {
            labels[name]: p
            for name, p in result.validation_predictions.items()
            if name != result.served_predictor
        }
    )
    plots = {
        "roc": plot_roc(y, curves, folder / "roc.png"),
        "calibration": plot_calibration(y, result.validation_probability, folder / "calibration.png"),
        "gains": plot_gains(y, result.validation_probability, folder / "gains.png"),
    }
    partial = result.validation_partial_probability
    if partial is not None and np.unique(validation.partial_churned).shape[0] == 2:
        # the partial-churn model beside BG/NBD's P(no shipment), its nearest reference
        y_partial = validation.partial_churned
        partial_curves = {"partial-churn model": partial}
        if "btyd" in result.validation_predictions:
            partial_curves["BG/NBD P(no shipment)"] = result.validation_predictions["btyd"]
        plots["partial_churn_roc"] = plot_roc(
            y_partial,
            partial_curves,
            folder / "partial_churn_roc.png",
            title="Partial churn: ROC (validation)",
        )
        plots["partial_churn_calibration"] = plot_calibration(
            y_partial,
            partial,
            folder / "partial_churn_calibration.png",
            title="Partial churn: calibration (validation)",
            observed_label="Observed partial-churn rate",
        )
        plots["partial_churn_gains"] = plot_gains(
            y_partial, partial, folder / "partial_churn_gains.png", what="partial churners"
        )
    if result.value_holdout is not None:
        plots["value_tracking"] = plot_tracking(result.value_holdout, folder / "value_tracking.png")
    if result.tiers is not None:
        plots.update(plot_tier_matrices(result.tiers, folder))
    if result.feature_importance:
        names = list(result.feature_importance)
        plots["importance"] = plot_importance(
            names, [result.feature_importance[n] for n in names], folder / "feature_importance.png"
        )
    return plots


def metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Models as rows, metrics as columns."""
    return pd.DataFrame(metrics).T.sort_index()
