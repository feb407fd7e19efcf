"""Point-in-time features: pure builders of (history, cutoff) → one row per eligible customer."""

from __future__ import annotations

from datetime import date

import pandas as pd

from berth.features._build import (
    FeatureMatrix,
    compute_features,
    compute_raw_features,
    eligible_codes,
    plan_features,
    shipment_window_sums,
)
from berth.features._history import INPUT_COLUMNS, EventTable, HistoryArrays, date_to_day, day_to_date
from berth.features._kernels import warm_up as warm_up_kernels
from berth.features._spec import GROUP_LABELS, FeatureSpec, feature_group
from berth.modeling.btyd import BGNBDParams
from berth.tables import CUSTOMER_ID, PortData

__all__ = [
    "GROUP_LABELS",
    "INPUT_COLUMNS",
    "EventTable",
    "FeatureMatrix",
    "FeatureSpec",
    "HistoryArrays",
    "build_features",
    "compute_features",
    "compute_raw_features",
    "date_to_day",
    "day_to_date",
    "eligible_codes",
    "feature_group",
    "plan_features",
    "shipment_window_sums",
    "to_frame",
    "warm_up_kernels",
]


def to_frame(history: HistoryArrays, matrix: FeatureMatrix) -> pd.DataFrame:
    """A feature matrix as a DataFrame with ``customer_id`` first."""
    frame = pd.DataFrame(matrix.values, columns=list(matrix.feature_names))
    frame.insert(0, CUSTOMER_ID, history.customer_ids[matrix.codes].astype(str))
    return frame


def build_features(
    data: PortData,
    cutoff: date,
    spec: FeatureSpec,
    *,
    btyd_params: BGNBDParams | None = None,
) -> pd.DataFrame:
    """Features of every eligible customer as of ``cutoff`` (data after the cutoff is ignored).

    ``spec`` without a feature list (a fresh ``FeatureSpec(horizon_days=...)``) is planned from
    ``data`` first, so every feature the inputs allow is returned.
    """
    history = HistoryArrays.from_port_data(data)
    cutoff_day = date_to_day(cutoff)
    if not spec.feature_names:
        spec = plan_features(history, cutoff_day, spec)
    return to_frame(history, compute_features(history, cutoff_day, spec, btyd_params=btyd_params))
