# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
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
