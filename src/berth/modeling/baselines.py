"""Simple baselines every training run is compared against, on the same validation rows."""

from __future__ import annotations

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def _finite(values: np.ndarray) -> np.ndarray:
    """Columns that are all NaN become 0 so the imputer keeps every column."""
    out = np.where(np.isfinite(values), values, np.nan)
    all_missing = np.all(np.isnan(out), axis=0)
    out[:, all_missing] = 0.0
    return out


def fit_logistic(values: np.ndarray, outcome: np.ndarray, *, seed: int = 0) -> Pipeline:
    """Median-imputed, standardised logistic regression."""
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=500, C=1.0, random_state=seed),
    )
    return model.fit(_finite(values), outcome)


def predict_logistic(model: Pipeline, values: np.ndarray) -> np.ndarray:
    """Probability of the positive class."""
    return np.asarray(model.predict_proba(_finite(values))[:, 1], dtype=np.float64)


def recency_values(values: np.ndarray, feature_names: tuple[str, ...]) -> np.ndarray:
    """The recency-only design: log(1 + days since the last shipment)."""
    column = values[:, feature_names.index("recency_days")]
    return np.log1p(np.maximum(column, 0.0)).reshape(-1, 1)


def btyd_probability(values: np.ndarray, feature_names: tuple[str, ...]) -> np.ndarray:
    """BG/NBD alone: P(no shipment in the horizon) from the model fitted at each cutoff."""
    if "btyd_p_no_shipment_h" not in feature_names:
        return np.full(values.shape[0], np.nan)
    return np.asarray(values[:, feature_names.index("btyd_p_no_shipment_h")], dtype=np.float64)
