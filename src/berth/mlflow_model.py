"""MLflow "model from code" for a Berth bundle: logged by file path, so nothing is pickled.

MLflow copies this file next to the bundle artifacts. ``mlflow models serve`` (or any pyfunc
consumer) can then score precomputed feature rows with the bundle's calibrated churn booster.
Berth's own API never loads it: it reads the bundle files directly (see berth.registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from berth.bundle import ModelBundle


class BerthChurnModel(PythonModel):
    """pyfunc wrapper: feature columns in, ``churn_probability`` out."""

    def load_context(self, context: PythonModelContext) -> None:
        """Verify and load the bundle shipped as an artifact."""
        self.bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Calibrated churn probability for each row of precomputed features."""
        names = list(self.bundle.spec.feature_names)
        values = model_input.reindex(columns=names).to_numpy(dtype=np.float64)
        churn = self.bundle.churn
        if churn is None:
            probability = values[:, names.index("btyd_p_no_shipment_h")]
        else:
            probability = churn.predict_proba(values)
        return pd.DataFrame({"churn_probability": probability})


mlflow.models.set_model(BerthChurnModel())
