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
from berth.features import FeatureSpec, HistoryArrays, compute_features
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
        cs = ships.cumulative("volume", lambda tb: np.nan_to_num(tb.values["volume"], nan=0.0))
        amount_after = cs[after] - cs[at_cutoff]
        amount_before = cs[at_cutoff] - cs[before]
    else:
        amount_after = (after - at_cutoff).astype(np.float64)
        amount_before = (at_cutoff - before).astype(np.float64)
    partial = churned | ((amount_before > 0) & (amount_after < partial_churn_share * amount_before))
    return Labels(churned=churned.astype(np.int8), partial_churned=partial.astype(np.int8))


def snapshot_cutoffs(
    first_day: int,
    last_day: int,
    horizon_days: int,
    step_days: int,
    min_history_days: int,
    max_cutoffs: int | None = None,
) -> list[int]:
    """Labelled cutoffs, oldest first: the latest is ``last_day − horizon``, then every ``step`` back."""
    latest = last_day - horizon_days
    earliest = first_day + min_history_days
    cutoffs = list(range(latest, earliest - 1, -step_days))
    if max_cutoffs is not None:
        cutoffs = cutoffs[:max_cutoffs]
    return sorted(cutoffs)


@dataclass(frozen=True)
class Snapshots:
    """Stacked (customer, cutoff) rows with features and labels for training and evaluation."""

    values: np.ndarray
    churned: np.ndarray
    partial_churned: np.ndarray
    cutoff_day: np.ndarray
    codes: np.ndarray
    feature_names: tuple[str, ...]
    btyd_params: dict[int, BGNBDParams | None]

    def __len__(self) -> int:
        return int(self.churned.shape[0])

    def select(self, mask: np.ndarray) -> Snapshots:
        """Rows where ``mask`` holds."""
        return Snapshots(
            values=self.values[mask],
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
    parts = []
    params: dict[int, BGNBDParams | None] = {}
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("Building snapshots", total=len(cutoffs))
        for cutoff in cutoffs:
            matrix = compute_features(history, cutoff, spec)
            labels = label_customers(history, matrix.codes, cutoff, spec.horizon_days, partial_churn_share)
            params[cutoff] = matrix.btyd_params
            parts.append((matrix, labels))
            bar.advance(task)
    return Snapshots(
        values=np.vstack([m.values for m, _ in parts]),
        churned=np.concatenate([lab.churned for _, lab in parts]),
        partial_churned=np.concatenate([lab.partial_churned for _, lab in parts]),
        cutoff_day=np.concatenate([np.full(m.codes.shape[0], m.cutoff_day) for m, _ in parts]),
        codes=np.concatenate([m.codes for m, _ in parts]),
        feature_names=spec.feature_names,
        btyd_params=params,
    )
