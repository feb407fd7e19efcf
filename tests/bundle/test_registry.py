"""MLflow: one run per training, registered versions, champion alias, export without pickles."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.config import TrainConfig
from berth.registry import export_bundle, load_scorer_from_folder, load_scorer_from_registry, log_and_register
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
