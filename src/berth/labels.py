"""Targets from the window after a cutoff, and the rolling training snapshots.

For a cutoff ``c`` and horizon ``H`` (days), among customers eligible at ``c`` (a shipment in the
lookback window before ``c``):

- ``churned`` = 1 when the customer ships nothing in (c, c + H];
- ``partial_churned`` = 1 when its volume in (c, c + H] is below ``partial_churn_share`` of its
  volume in (c − H, c] (shipment counts when the data has no volume), or when it churned outright.

Labels read only events after the cutoff; features (:mod:`berth.features`) only events on or
before it. A cutoff is labelled only when c + H is on or before the last day of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.progress import Progress

from berth.errors import InsufficientHistoryError
from berth.features import FeatureSpec, HistoryArrays, compute_features, eligible_codes, shipment_window_sums
from berth.modeling.btyd import BGNBDParams


@dataclass(frozen=True)
class Labels:
    """Targets of customers ``codes`` at one cutoff."""

    churned: np.ndarray  # int8
    partial_churned: np.ndarray  # int8


def label_customers(
    history: HistoryArrays,
    codes: np.ndarray,
    cutoff_day: int,
    horizon_days: int,
    partial_churn_share: float,
) -> Labels:
    """Churn and partial-churn labels from the events in (cutoff, cutoff + horizon]."""
    ships = history.shipments
    at_cutoff = ships.bounds(codes, cutoff_day)
    after = ships.bounds(codes, cutoff_day + horizon_days)
    before = ships.bounds(codes, cutoff_day - horizon_days)
    churned = after == at_cutoff
    if "volume" in ships.values:
        amount_after = shipment_window_sums(history, codes, cutoff_day, cutoff_day + horizon_days, "volume")
        amount_before = shipment_window_sums(history, codes, cutoff_day - horizon_days, cutoff_day, "volume")
    else:
        amount_after = (after - at_cutoff).astype(np.float64)
        amount_before = (at_cutoff - before).astype(np.float64)
    partial = churned | ((amount_before > 0) & (amount_after < partial_churn_share * amount_before))
    return Labels(churned=churned.astype(np.int8), partial_churned=partial.astype(np.int8))


@dataclass(frozen=True)
class Snapshots:
    """Stacked (customer, cutoff) rows with features and labels for training and evaluation."""

    values: np.ndarray  # float32 (XGBoost's own precision)
    churned: np.ndarray
    partial_churned: np.ndarray
    cutoff_day: np.ndarray
    codes: np.ndarray
    feature_names: tuple[str, ...]
    btyd_params: dict[int, BGNBDParams | None]

    def __len__(self) -> int:
        return int(self.churned.shape[0])

    def select(self, mask: np.ndarray, *, copy: bool = False) -> Snapshots:
        """Rows where ``mask`` holds: a view of the values when they are one block (as the cutoffs
        of a time slice are) unless ``copy``; read-only use is what training makes of them."""
        rows = np.flatnonzero(mask)
        block = not copy and rows.shape[0] > 0 and int(rows[-1]) - int(rows[0]) + 1 == rows.shape[0]
        values = self.values[int(rows[0]) : int(rows[-1]) + 1] if block else self.values[rows]
        return Snapshots(
            values=values,
            churned=self.churned[mask],
            partial_churned=self.partial_churned[mask],
            cutoff_day=self.cutoff_day[mask],
            codes=self.codes[mask],
            feature_names=self.feature_names,
            btyd_params=self.btyd_params,
        )


def build_snapshots(
    history: HistoryArrays,
    cutoffs: list[int],
    spec: FeatureSpec,
    partial_churn_share: float,
    *,
    progress: bool = False,
) -> Snapshots:
    """Features at each cutoff and labels from the horizon after it, stacked oldest first."""
    if not cutoffs:
        raise InsufficientHistoryError("no labelled cutoff fits in the history for this horizon")
    # Rows are known before any feature is computed (eligibility is a binary search), so the
    # float32 matrix is filled in place: no per-cutoff parts stacked into a second copy.
    eligible = [eligible_codes(history, cutoff, spec.lookback_days) for cutoff in cutoffs]
    ends = np.cumsum([codes.shape[0] for codes in eligible])
    # float32: what XGBoost reads anyway (it converts float64 input), at half the memory.
    values = np.empty((int(ends[-1]), len(spec.feature_names)), dtype=np.float32)
    churned = np.empty(values.shape[0], dtype=np.int8)
    partial_churned = np.empty(values.shape[0], dtype=np.int8)
    cutoff_day = np.empty(values.shape[0], dtype=np.int64)
    params: dict[int, BGNBDParams | None] = {}
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("Building snapshots", total=len(cutoffs))
        for cutoff, codes, end in zip(cutoffs, eligible, ends, strict=True):
            rows = slice(int(end) - codes.shape[0], int(end))
            matrix = compute_features(history, cutoff, spec, codes=codes, out=values[rows])
            labels = label_customers(history, codes, cutoff, spec.horizon_days, partial_churn_share)
            churned[rows], partial_churned[rows] = labels.churned, labels.partial_churned
            cutoff_day[rows] = cutoff
            params[cutoff] = matrix.btyd_params
            bar.advance(task)
    return Snapshots(
        values=values,
        churned=churned,
        partial_churned=partial_churned,
        cutoff_day=cutoff_day,
        codes=np.concatenate(eligible),
        feature_names=spec.feature_names,
        btyd_params=params,
    )
