"""The only module that knows MLflow: tracking runs, registered versions, aliases, bundle export.

Tracking URI: ``MLFLOW_TRACKING_URI`` or an embedded SQLite store ``mlflow.db`` in the working
folder. Each training is one run; its bundle is logged as a pyfunc "model from code" (no pickle)
and registered as a new version of ``model_name``. The ``champion`` alias moves to the new version
when it is the first one, or when it beats the current champion's churn ROC AUC on the same
validation rows and its tier model is not worse than the champion's (ranked probability score on
those rows, beyond two paired standard errors) where both bundles use the same tier rule.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from berth._logging import get_logger
from berth.bundle import BundleScorer, ModelBundle
from berth.config import TrainConfig
from berth.errors import BundleIntegrityError, ModelNotReadyError
from berth.evaluation import churn_metrics
from berth.features import HistoryArrays, day_to_date
from berth.modeling.tiers import ranked_probability_scores
from berth.signing import load_public_keys, verify_signature
from berth.tables import SHIPMENT_DATE, PortData
from berth.tier_training import snapshot_tiers
from berth.training import TrainedModel

log = get_logger(__name__)

CHAMPION = "champion"
EXPERIMENT = "berth-churn"
# MLflow 3's UI opens an experiment on the page of its kind: GenAI traces unless told otherwise
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
_PYFUNC_CODE = Path(__file__).with_name("mlflow_model.py")


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` or SQLite in the working folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def _mlflow() -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    return mlflow


def _use_experiment(mlflow: Any) -> str:
    """Make Berth's experiment the active one, of the kind whose UI opens on training runs."""
    experiment = mlflow.set_experiment(EXPERIMENT)
    if (experiment.tags or {}).get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        mlflow.MlflowClient().set_experiment_tag(
            experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
        )
    return str(experiment.experiment_id)


@contextlib.contextmanager
def training_run() -> Iterator[str]:
    """An MLflow run around a whole training, so its duration is the training's; yields its id.

    :func:`log_and_register` called inside logs into it. A training that raises leaves the run
    marked FAILED.
    """
    mlflow = _mlflow()
    _use_experiment(mlflow)
    with mlflow.start_run() as run:
        yield str(run.info.run_id)


def data_fingerprint(data: PortData) -> str:
    """SHA-256 over the row hashes of every table (order-sensitive, cheap)."""
    digest = hashlib.sha256()
    for frame in (data.shipments, data.interactions, data.customers):
        if frame is not None:
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class RegisteredRun:
    """Where a training run went."""

    run_id: str
    experiment_id: str
    model_name: str
    version: str
    promoted: bool
    reason: str
    champion_version: str | None


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value
    return out


@dataclass(frozen=True)
class ValidationScores:
    """One bundle scored on a run's validation rows, as it would serve."""

    roc_auc: float
    tier_rps: np.ndarray | None  # per-row ranked probability score; None without a tier model
    rows: int = 0  # validation rows scored


def champion_comparison(
    trained: TrainedModel, history: HistoryArrays, champion: BundleScorer
) -> ValidationScores | None:
    """``champion`` scored on the new run's validation rows (None when not computable).

    Tier rows are scored against the new run's tier rule, and only when the champion's bundle
    uses the same rule (labels and edges): other edges would be another question.
    """
    validation = trained.validation
    if validation is None or not len(validation):
        return None
    rule = trained.bundle.tier_rule
    same_rule = rule is not None and champion.bundle.tier_rule == rule
    probability = np.full(len(validation), np.nan)
    tiers: np.ndarray | None = None
    if same_rule and rule is not None:
        tiers = np.full((len(validation), len(rule.labels)), np.nan)
    for cutoff in np.unique(validation.cutoff_day):
        rows = np.flatnonzero(validation.cutoff_day == cutoff)
        scored = champion.score_history(history, day_to_date(int(cutoff)), with_drivers=False)
        ids = history.customer_ids[validation.codes[rows]]
        position = pd.Index(scored.customer_ids).get_indexer(ids)
        found = position >= 0
        probability[rows[found]] = scored.churn_probability[position[found]]
        if tiers is not None:
            if scored.tier_probabilities is None:
                tiers = None
            else:
                tiers[rows[found]] = scored.tier_probabilities[position[found]]
    if not np.isfinite(probability).all():
        return None
    tier_rps = None
    if tiers is not None and rule is not None and np.isfinite(tiers).all():
        _, label = snapshot_tiers(history, validation, rule)
        tier_rps = ranked_probability_scores(label.astype(np.int64), tiers)
    return ValidationScores(
        churn_metrics(validation.churned, probability)["roc_auc"], tier_rps, len(validation)
    )


def log_and_register(
    trained: TrainedModel,
    config: TrainConfig,
    data: PortData,
    history: HistoryArrays | None = None,
    *,
    extra_tags: Mapping[str, str] | None = None,
) -> RegisteredRun:
    """Log the run (params, metrics, plots, bundle), register a version, decide the champion.

    ``history`` defaults to the arrays the run was trained on (``trained.history``). Inside
    :func:`training_run` it logs into that run; otherwise it starts (and ends) one of its own.
    """
    history = history if history is not None else trained.history
    if history is None:
        raise ValueError("log_and_register needs the training history (trained.history is empty)")
    mlflow = _mlflow()
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    active = mlflow.active_run()
    if active is None:
        _use_experiment(mlflow)
    name = config.model_name
    params = _flatten("", config.model_dump(mode="json"), {})
    params["horizon_days"] = trained.bundle.spec.horizon_days
    shipments = data.shipments[SHIPMENT_DATE]
    run_context = contextlib.nullcontext(active) if active is not None else mlflow.start_run()
    with tempfile.TemporaryDirectory() as tmp, run_context as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.set_tags(
            {
                "model_kind": trained.bundle.model_kind,
                "data_fingerprint": data_fingerprint(data),
                "data_start": str(pd.Timestamp(shipments.min()).date()),
                "data_end": str(pd.Timestamp(shipments.max()).date()),
                "training_cutoff": trained.training_cutoff.isoformat(),
                "served_predictor": trained.served_predictor,
                "project": str(_source(trained).get("project", "")),
                "data_source": str(_source(trained).get("signature", "")),
                "notes": " | ".join(trained.notes)[:5000] or "none",
                **(extra_tags or {}),
            }
        )
        for model, values in trained.metrics.items():
            mlflow.log_metrics({f"{model}.{k}": v for k, v in values.items() if np.isfinite(v)})
        mlflow.log_metrics({k: float(v) for k, v in trained.row_counts.items()})
        split = {
            k: [day_to_date(c).isoformat() for c in getattr(trained.split, k)]
            for k in ("train", "calibration", "validation", "dropped")
        }
        mlflow.log_dict(split, "time_split.json")
        if trained.metrics_by_cutoff is not None and len(trained.metrics_by_cutoff):
            by_cutoff = trained.metrics_by_cutoff.assign(
                cutoff=[day_to_date(int(d)).isoformat() for d in trained.metrics_by_cutoff["cutoff_day"]]
            ).drop(columns="cutoff_day")
            mlflow.log_text(by_cutoff.to_csv(index=False), "validation_by_cutoff.csv")
        mlflow.log_dict({"features": list(trained.bundle.spec.feature_names)}, "features.json")
        if trained.feature_importance:
            mlflow.log_dict(trained.feature_importance, "feature_importance.json")
        for path in trained.plots.values():
            mlflow.log_artifact(str(path), "plots")
        bundle_dir = Path(tmp) / "bundle"
        content_hash = trained.bundle.save(bundle_dir)
        mlflow.log_artifacts(str(bundle_dir), "bundle")
        names = list(trained.bundle.spec.feature_names)
        example = pd.DataFrame(np.zeros((1, len(names))), columns=names)
        signature = infer_signature(example, pd.DataFrame({"churn_probability": [0.5]}))
        with warnings.catch_warnings():
            # We log an explicit signature; MLflow's input-example path trips pandas 3 deprecations.
            warnings.filterwarnings(
                "ignore", message=".*input example was not provided.*", category=UserWarning
            )
            info = _log_pyfunc(mlflow, bundle_dir, signature, trained, name)
        run_id, experiment_id = run.info.run_id, run.info.experiment_id
        version = str(info.registered_model_version)
        # what a registry load checks the downloaded bundle against (the manifest alone proves no origin)
        client.set_model_version_tag(name, version, CONTENT_HASH_TAG, content_hash)

        source = _source(trained)
        if source:
            client.set_model_version_tag(name, version, "project", str(source.get("project", "")))
            client.set_model_version_tag(name, version, "data_source", str(source.get("signature", "")))
        promoted, reason, champion_version = _decide_champion(client, name, version, trained, history)
        mlflow.set_tag("champion_decision", reason)
        if promoted:
            client.set_registered_model_alias(name, CHAMPION, version)
    log.info("registered", model=name, version=version, promoted=promoted, reason=reason)
    return RegisteredRun(run_id, experiment_id, name, version, promoted, reason, champion_version)


def _log_pyfunc(mlflow: Any, bundle_dir: Path, signature: Any, trained: TrainedModel, name: str) -> Any:
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(_PYFUNC_CODE),
        artifacts={"bundle": str(bundle_dir)},
        signature=signature,
        pip_requirements=[f"berth=={trained.bundle.metadata['libraries'].get('berth', '0')}"],
        registered_model_name=name,
    )


def _decide_champion(
    client: Any, name: str, version: str, trained: TrainedModel, history: HistoryArrays
) -> tuple[bool, str, str | None]:
    """Churn ROC AUC decides; the tier model is a guardrail (see the module docstring).

    The value models are not compared: each bundle's value holdout sits before its own training
    cutoff, so two bundles have no forecast rows in common; their holdout metrics are in the runs.
    """
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:
        return True, "first version: promoted to champion", None
    other = _other_source(dict(current.tags or {}), _source(trained))
    if other is not None:
        return False, f"champion v{current.version} {other}", current.version
    # Both models are scored exactly as they would serve (their own stored BG/NBD parameters),
    # on the new run's validation rows, so retraining on unchanged data ties rather than "wins".
    new = champion_comparison(trained, history, BundleScorer(trained.bundle))
    try:
        champion = load_scorer_from_registry(name, alias=CHAMPION)
        old = champion_comparison(trained, history, champion)
    except Exception as exc:
        return (
            True,
            f"current champion v{current.version} could not be scored ({exc}): promoted",
            current.version,
        )
    reported = trained.metrics.get("model", {}).get("roc_auc")
    return (*champion_decision(new, old, current.version, reported=reported), current.version)


def _source(trained: TrainedModel) -> dict[str, Any]:
    return dict(trained.bundle.metadata.get("data_source") or {})


def _other_source(champion_tags: Mapping[str, str], source: Mapping[str, Any]) -> str | None:
    """Why the champion cannot be compared with a model of ``source`` (None when it can)."""
    theirs = champion_tags.get("data_source")
    if not theirs or not source or theirs == source.get("signature"):
        return None
    return (
        f"was trained on another data source (project {champion_tags.get('project', '?')!r}; this run: "
        f"project {source.get('project')!r}, tables {', '.join(source.get('tables', {}))}): not compared, "
        "champion unchanged. Models of different sources are never compared or promoted over each "
        "other: give this source its own model name (model_name in the config, e.g. "
        f"berth-churn-{source.get('project')}), or set project in the config if it is the same source."
    )


CONTENT_HASH_TAG = "content_hash"


def champion_decision(
    new: ValidationScores | None,
    old: ValidationScores | None,
    champion_version: str,
    *,
    reported: float | None = None,
) -> tuple[bool, str]:
    """(promote, reason): the new bundle must beat the champion's churn ROC AUC on the same rows,
    and, where both have comparable tier models, not be worse on tier RPS beyond the noise (two
    standard errors of the paired per-row difference).

    ``reported`` is the new model's ROC AUC in the run's validation table. The gate scores both
    bundles as they serve, each with the BG/NBD parameters fitted at its own training cutoff,
    while the table scores the training snapshots, whose BG/NBD is refitted at each validation
    cutoff: the two figures can differ in the third decimal, and the reason then says so.
    """
    v = champion_version
    if old is None or new is None or not np.isfinite(new.roc_auc):
        return False, f"no comparable validation data; champion stays v{v}"
    rows = f"{new.rows:,} " if new.rows else ""
    churn = (
        f"churn ROC AUC {new.roc_auc:.4f} vs champion v{v} {old.roc_auc:.4f}, both bundles scored as they "
        f"serve on the same {rows}validation rows"
    )
    if reported is not None and np.isfinite(reported) and f"{reported:.4f}" != f"{new.roc_auc:.4f}":
        churn += (
            f" (the validation table's {reported:.4f} for this model refits BG/NBD at each validation "
            "cutoff; a served bundle uses the BG/NBD fitted at its training cutoff)"
        )
    if not new.roc_auc > old.roc_auc + 1e-9:
        return False, f"{churn}: does not beat it, champion unchanged"
    tier_note = "tier models not compared (different tier rules or no tier model)"
    if new.tier_rps is not None and old.tier_rps is not None:
        gap = new.tier_rps - old.tier_rps
        noise = 2.0 * float(np.std(gap, ddof=1) / np.sqrt(gap.shape[0])) if gap.shape[0] > 1 else 0.0
        tier_note = (
            f"tier RPS {float(np.mean(new.tier_rps)):.4f} vs {float(np.mean(old.tier_rps)):.4f} "
            f"(noise ±{noise:.4f})"
        )
        if float(np.mean(gap)) > noise:
            return False, f"{churn}: beats it, but {tier_note} is worse: champion unchanged"
    return True, f"{churn}: beats it; {tier_note}: promoted"


def _download_bundle(
    name: str, alias: str | None, version: str | None, dest: Path
) -> tuple[Path, str, str | None]:
    mlflow = _mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        mv = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(name, str(version))
        )
    except Exception as exc:
        which = f"alias {alias!r}" if alias else f"version {version}"
        raise ModelNotReadyError(
            f"no registered model {name!r} with {which} at {tracking_uri()}: train one with `berth train`"
        ) from exc
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{mv.version}", dst_path=str(dest)
    )
    candidates = list(Path(local).rglob("manifest.json"))
    if not candidates:
        raise ModelNotReadyError(f"model {name} v{mv.version} holds no Berth bundle")
    return candidates[0].parent, str(mv.version), (mv.tags or {}).get(CONTENT_HASH_TAG)


def load_scorer_from_registry(
    name: str, *, alias: str | None = CHAMPION, version: str | None = None
) -> BundleScorer:
    """Download and verify a registered bundle; never unpickles."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle, resolved = _download_verified(name, alias if version is None else None, version, Path(tmp))
    return BundleScorer(bundle, version=resolved, name=name)


def _download_verified(
    name: str, alias: str | None, version: str | None, dest: Path
) -> tuple[ModelBundle, str]:
    """A registered bundle, loaded (manifest checked) and held to the content hash recorded on its
    model version at registration."""
    folder, resolved, recorded = _download_bundle(name, alias, version, dest)
    bundle = ModelBundle.load(folder)
    if recorded is None:
        log.warning(
            "registered version has no content hash tag (registered before it was recorded)",
            model=name,
            version=resolved,
        )
    elif bundle.content_hash != recorded:
        raise BundleIntegrityError(
            f"model {name} v{resolved}: the downloaded bundle's content hash {bundle.content_hash} is "
            f"not the {recorded} recorded when it was registered: its artifacts were changed; refusing it"
        )
    return bundle, resolved


def load_scorer_from_folder(
    folder: Path, *, public_keys: Sequence[Path] = (), allow_unsigned: bool = True
) -> BundleScorer:
    """Load an exported bundle folder (deployments without a tracking server).

    With ``allow_unsigned`` False the bundle must carry a signature by one of ``public_keys``
    (:mod:`berth.signing`); the service calls it so, the CLI (scoring one's own exports) does not.
    """
    signed_hash = None
    if not allow_unsigned or ((folder / "signature.json").exists() and public_keys):
        verify_signature(folder, load_public_keys(public_keys))
        signed_hash = json.loads((folder / "signature.json").read_text(encoding="utf-8"))["content_hash"]
    bundle = ModelBundle.load(folder)
    if signed_hash is not None and bundle.content_hash != signed_hash:  # swapped between check and load
        raise BundleIntegrityError(f"{folder}: the bundle changed while it was being loaded")
    version_file = folder / "metadata.json"
    version = json.loads(version_file.read_text(encoding="utf-8")).get("registered_version", "local")
    return BundleScorer(bundle, version=str(version))


def load_scorer(settings: Any) -> BundleScorer:
    """The API's loader: an exported bundle folder when configured, else the registry champion."""
    source = str(getattr(settings, "model_source", "registry") or "registry")
    name = str(getattr(settings, "model_name", "berth-churn") or "berth-churn")
    if source != "registry":
        keys = [
            Path(p.strip())
            for p in str(getattr(settings, "bundle_public_keys", "") or "").split(",")
            if p.strip()
        ]
        allow = bool(getattr(settings, "allow_unsigned_bundles", False))
        return load_scorer_from_folder(Path(source), public_keys=keys, allow_unsigned=allow)
    return load_scorer_from_registry(name, alias=CHAMPION)


def export_bundle(name: str, out: Path, *, alias: str | None = CHAMPION, version: str | None = None) -> Path:
    """Copy a registered bundle into ``out`` (replaced), recording the registered version."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle, resolved = _download_verified(name, alias if version is None else None, version, Path(tmp))
        if out.exists():
            shutil.rmtree(out)
        # Every model of the bundle travels: only the metadata gains the registered version.
        stamped = replace(
            bundle,
            metadata={**bundle.metadata, "registered_version": resolved, "registered_name": name},
            content_hash="",
        )
        stamped.save(out)
    return out
