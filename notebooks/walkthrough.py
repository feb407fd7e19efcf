# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Berth walk-through: simulate → explore → train → read the MLflow run
#
# Everything here calls the `berth` package; the notebook holds no logic of its own.
# `N_CUSTOMERS` is small so the notebook runs in the test suite; raise it for a realistic port.

# %%
import os
import tempfile
from datetime import date
from pathlib import Path

import mlflow
import pandas as pd

from berth.config import DataConfig, ModelConfig, TrainConfig
from berth.features import build_features
from berth.io import load_port_data
from berth.registry import log_and_register, tracking_uri
from berth.simulate import SimulationConfig, simulate_port, write_simulation
from berth.training import metrics_table, train_churn_model

N_CUSTOMERS = int(os.environ.get("BERTH_NOTEBOOK_CUSTOMERS", "1200"))
workdir = Path(os.environ.get("BERTH_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="berth-walkthrough-"))
os.chdir(workdir)
print("working in", workdir)

# %% [markdown]
# ## 1. Simulate a port and load it through the data contract

# %%
port = simulate_port(SimulationConfig(n_customers=N_CUSTOMERS, days=730, seed=42, start=date(2024, 1, 1)))
write_simulation(port, workdir / "data")
loaded = load_port_data(workdir / "data", DataConfig())
data = loaded.data
loaded.report.to_dict()["tables"] if "tables" in loaded.report.to_dict() else loaded.report.to_dict()

# %% [markdown]
# ## 2. Explore: segments, monthly volume, and the features at one cutoff

# %%
shipments = data.shipments
monthly = shipments.set_index("shipment_date").resample("MS")["volume"].sum()
ax = monthly.plot(title="Monthly volume (TEU)", figsize=(7, 3))

# %%
if data.customers is not None:
    print(data.customers["segment"].value_counts())

# %%
from berth.features import FeatureSpec

features = build_features(data, date(2025, 6, 30), FeatureSpec(horizon_days=90))
features.describe().T.head(15)

# %% [markdown]
# ## 3. Train: time-based split, calibrated XGBoost, baselines, BG/NBD fallback if history is short

# %%
config = TrainConfig(model=ModelConfig(num_boost_round=150, params={"nthread": 1}))
trained = train_churn_model(data, config, artifacts_dir=workdir / "plots")
print("split (cutoffs):", {k: len(v) for k, v in vars(trained.split).items()})
metrics_table(trained.metrics).round(3)

# %% [markdown]
# ## 4. Log and register in MLflow, then read the run back

# %%
registered = log_and_register(trained, config, data)
print(registered.reason)
run = mlflow.get_run(registered.run_id)
pd.Series({k: v for k, v in run.data.metrics.items() if k.startswith("model.")}).round(4)

# %%
print("Open the UI with:  mlflow ui --backend-store-uri", tracking_uri())

# %% [markdown]
# ## 5. Beyond churn: tiers, customer value and the taxonomy
#
# The same run trained a next-period loyalty-tier model (against "tier stays the same"), checked
# BG/NBD and Pareto/NBD on a held-out year and fitted the taxonomy's reference. Every score carries
# their outputs (docs/loyalty.md explains each one, with the Chinese terms).

# %%
print("\n".join(n for n in trained.notes if n.startswith(("tier", "value"))))
metrics_table({k: v for k, v in trained.metrics.items() if k.startswith(("tier_", "value_"))}).round(3).T

# %%
from berth.bundle import BundleScorer

scores = BundleScorer(trained.bundle).score_frame(data, trained.training_cutoff)
columns = ["customer_id", "churn_probability", "tier_current", "tier_expected", "p_downgrade", "clv"]
columns += ["activity_state", "loyalty_form", "abc_class", "relationship_level", "upgrade_stage"]
scores[columns].head(10)

# %%
# Who to fight for first: valuable customers likely to lose their tier.
at_risk = scores[(scores["p_downgrade"] > 0.5) & (scores["abc_class"] == "A")]
print(f"{len(at_risk)} A-class customers are more likely than not to be downgraded next period")
pd.crosstab(scores["activity_state"], scores["tier_current"])

# %%
from berth.i18n import label

print([label("activity_state", state, "zh") for state in ("active", "dozing", "half_asleep", "dormant")])
