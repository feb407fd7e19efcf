"""MLflow: one run per training, registered versions, champion alias, export without pickles."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from berth.bundle import BundleScorer
from berth.config import TrainConfig
from berth.registry import (
    ValidationScores,
    champion_comparison,
    champion_decision,
    export_bundle,
    load_scorer_from_folder,
    load_scorer_from_registry,
    log_and_register,
    training_run,
)
from berth.tables import PortData
from berth.training import TrainedModel


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.mark.slow
def test_register_promote_and_export(tracking: Path, trained: TrainedModel, sim_data: PortData) -> None:
    import mlflow

    config = TrainConfig(model_name="test-churn")
    history = trained.history
    assert history is not None
    first = log_and_register(trained, config, sim_data, history)
    assert first.version == "1"
    assert first.promoted
    second = log_and_register(trained, config, sim_data, history)
    assert second.version == "2"
    assert not second.promoted, "the same model on the same rows ties: the champion stays"
    assert "does not beat" in second.reason

    run = mlflow.get_run(first.run_id)
    assert run.data.metrics["model.roc_auc"] == pytest.approx(trained.metrics["model"]["roc_auc"])
    assert "baseline_btyd.roc_auc" in run.data.metrics
    assert run.data.tags["data_fingerprint"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first.run_id)}
    assert {"bundle", "features.json", "time_split.json"} <= artifacts

    champion = load_scorer_from_registry("test-churn")
    assert champion.info.version == "1"
    out = export_bundle("test-churn", tracking / "models" / "champion")
    exported = load_scorer_from_folder(out)
    assert exported.info.version == "1"
    # every model of the bundle is exported, not only churn
    assert exported.bundle.tier_rule == trained.bundle.tier_rule
    assert exported.bundle.tier_model is not None
    assert exported.bundle.value_model == trained.bundle.value_model
    assert exported.bundle.taxonomy is not None
    scored = exported.score_frame(sim_data, trained.training_cutoff)
    assert scored["tier_expected"].notna().all()
    assert scored["clv"].notna().all()
    assert scored["activity_state"].notna().all()
    assert "tier_model.rps" in run.data.metrics
    assert exported.info.extra["models"]["tier"]["rps"] == pytest.approx(trained.metrics["tier_model"]["rps"])
    assert not list(out.glob("*.pkl"))
    pinned = load_scorer_from_registry("test-churn", alias=None, version="2")
    assert pinned.info.version == "2"


def test_champion_decision_churn_decides_and_tiers_guard() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.0, 0.3, 2_000)
    old = ValidationScores(roc_auc=0.80, tier_rps=base)
    promote, reason = champion_decision(ValidationScores(0.81, base - 0.001), old, "3")
    assert promote
    assert "promoted" in reason
    assert "tier RPS" in reason
    promote, reason = champion_decision(ValidationScores(0.80, base - 0.05), old, "3")
    assert not promote, "a better tier model alone does not promote"
    assert "does not beat" in reason
    promote, reason = champion_decision(ValidationScores(0.81, base + 0.02), old, "3")
    assert not promote
    assert "tier RPS" in reason
    assert "worse" in reason
    # a tier difference inside the paired noise does not block a better churn model
    noisy = base + rng.normal(1e-4, 0.05, base.shape[0])
    promote, reason = champion_decision(ValidationScores(0.81, noisy), old, "3")
    assert promote, reason
    promote, reason = champion_decision(ValidationScores(0.81, None), old, "3")
    assert promote
    assert "not compared" in reason
    assert not champion_decision(None, old, "3")[0]


@pytest.mark.slow
def test_champion_comparison_scores_tiers_only_under_the_same_rule(
    trained: TrainedModel,
) -> None:
    history = trained.history
    assert history is not None
    assert trained.bundle.tier_rule is not None
    scorer = BundleScorer(trained.bundle)
    same = champion_comparison(trained, history, scorer)
    assert same is not None
    assert same.tier_rps is not None
    assert same.tier_rps.shape[0] == len(trained.validation)
    # served features use the bundle's BTYD parameters, the run's its per-cutoff fits: close, not equal
    assert float(np.mean(same.tier_rps)) == pytest.approx(trained.metrics["tier_model"]["rps"], rel=0.05)
    other_rule = replace(trained.bundle.tier_rule, edges=tuple(e * 2 for e in trained.bundle.tier_rule.edges))
    other = champion_comparison(trained, history, BundleScorer(replace(trained.bundle, tier_rule=other_rule)))
    assert other is not None
    assert other.tier_rps is None
    assert other.roc_auc == pytest.approx(same.roc_auc)


@pytest.mark.slow
def test_a_model_of_another_source_never_replaces_the_champion(
    tracking: Path, trained: TrainedModel, sim_data: PortData
) -> None:
    config = TrainConfig(model_name="two-sources")
    first = log_and_register(trained, config, sim_data)
    assert first.promoted
    retail_source = {
        "project": "retail",
        "tables": {"shipments": ["customer_id", "shipment_date"]},
        "signature": "f" * 16,
    }
    other = replace(
        trained,
        bundle=replace(trained.bundle, metadata={**trained.bundle.metadata, "data_source": retail_source}),
    )
    second = log_and_register(other, config, sim_data)
    assert not second.promoted
    assert "another data source" in second.reason
    assert load_scorer_from_registry("two-sources").info.version == first.version


@pytest.mark.slow
def test_the_run_spans_the_training_and_the_experiment_opens_on_training_runs(
    tracking: Path, trained: TrainedModel, sim_data: PortData
) -> None:
    import mlflow

    with training_run() as run_id:
        training_started = time.time() * 1000
        time.sleep(0.6)  # the training
        registered = log_and_register(trained, TrainConfig(model_name="span-churn"), sim_data)
    assert registered.run_id == run_id
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.start_time <= training_started  # not created after the training
    assert run.info.end_time >= training_started + 600
    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_training_that_fails_leaves_a_failed_run(tracking: Path) -> None:
    import mlflow

    with pytest.raises(RuntimeError, match="boom"), training_run() as run_id:
        raise RuntimeError("boom")
    assert mlflow.get_run(run_id).info.status == "FAILED"


@pytest.mark.slow
def test_registry_load_refuses_a_bundle_changed_after_registration(
    tracking: Path, trained: TrainedModel, sim_data: PortData
) -> None:
    """The manifest proves integrity, not origin: an edit with a recomputed manifest in the
    artifact store is caught by the content hash recorded on the model version."""
    import json

    import mlflow

    from berth.bundle import MANIFEST, _content_hash, _sha256
    from berth.errors import BundleIntegrityError

    history = trained.history
    assert history is not None
    registered = log_and_register(trained, TrainConfig(model_name="tamper-churn"), sim_data, history)
    client = mlflow.MlflowClient()
    recorded = client.get_model_version("tamper-churn", registered.version).tags["content_hash"]
    loaded = load_scorer_from_registry("tamper-churn")
    assert loaded.info.version == registered.version
    assert loaded.bundle.content_hash == recorded
    manifests = [p for p in tracking.rglob(MANIFEST) if "bundle" in p.parts]
    assert manifests, "the registered bundle's files are in the local artifact store"
    for path in manifests:
        folder = path.parent
        bands = json.loads((folder / "risk_bands.json").read_text())
        (folder / "risk_bands.json").write_text(json.dumps({k: v / 10 for k, v in bands.items()}))
        manifest = json.loads(path.read_text())
        manifest["files"] = {name: _sha256(folder / name) for name in manifest["files"]}
        manifest["content_hash"] = _content_hash(manifest["files"])
        path.write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="recorded when it was registered"):
        load_scorer_from_registry("tamper-churn")
