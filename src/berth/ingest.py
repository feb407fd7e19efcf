"""``berth ingest``: a validated data folder into the service database's customer history.

The folder goes through the data contract (:func:`berth.io.load_port_data`: mapping, validation,
quarantine) and its valid rows are stored idempotently (:class:`berth.history.HistoryStore`), so a
folder ingested twice stores nothing new. Afterwards the history is pruned to what the serving
bundle's features read (:func:`retention_days`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from berth import tables
from berth.config import DataConfig
from berth.contract import ValidationResult
from berth.errors import ConfigError
from berth.history import HistoryStore, StoreCounts, too_long_ids
from berth.io import load_port_data

__all__ = ["IngestReport", "ingest_folder", "retention_days"]

TOO_LONG = "customer_id, shipment_id or type: longer than 128 characters"


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: rows read, stored, already stored, quarantined (by reason), pruned."""

    validation: ValidationResult
    counts: StoreCounts
    quarantined: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> reason -> rows
    pruned_shipments: int = 0
    pruned_interactions: int = 0
    kept_from: date | None = None
    too_old: int = 0  # shipments and interactions read but older than the kept window: not stored
    seconds: float = 0.0

    @property
    def events_read(self) -> int:
        """Shipment and interaction rows read from the folder."""
        reports = self.validation.report.tables
        return sum(reports[t].rows_read for t in (tables.SHIPMENTS, tables.INTERACTIONS) if t in reports)

    def lines(self) -> list[str]:
        """The report as printed by ``berth ingest``."""
        c = self.counts
        out = [
            f"shipments: {c.shipments.new:,} new, {c.shipments.already_stored:,} already stored",
            f"interactions: {c.interactions.new:,} new, {c.interactions.already_stored:,} already stored",
            f"profiles: {c.profiles.new:,} new, {c.profiles.already_stored:,} updated",
        ]
        for table, reasons in self.quarantined.items():
            total = sum(reasons.values())
            if total:
                out.append(f"{table}: quarantined by reason:")
                out.extend(f"  {count:,} × {reason}" for reason, count in reasons.items())
        if self.kept_from is not None:
            out.append(
                f"kept from {self.kept_from} (the feature lookback): {self.too_old:,} older events read "
                f"and not stored; pruned {self.pruned_shipments:,} shipments and "
                f"{self.pruned_interactions:,} interactions stored earlier"
            )
        rate = self.events_read / self.seconds if self.seconds > 0 else 0.0
        out.append(f"{self.events_read:,} events in {self.seconds:.2f} s ({rate:,.0f} events/s)")
        return out


def retention_days(bundle: Path | None, configured: int | None) -> int | None:
    """Days of history to keep: None (keep everything) unless ``configured`` is given, then at least
    the bundle's feature lookback (``feature_spec.json``). Pruning is opt-in because features over
    the whole history (first-shipment age, gap mean, the BG/NBD inputs) differ once it is cut."""
    lookback: int | None = None
    if bundle is not None:
        spec = bundle / "feature_spec.json"
        if not spec.is_file():
            raise ConfigError(f"{bundle} is not a model bundle folder: no feature_spec.json")
        lookback = int(json.loads(spec.read_text(encoding="utf-8"))["lookback_days"])
    if configured is None:
        return None
    return max(lookback, configured) if lookback is not None else configured


def ingest_folder(
    folder: Path,
    config: DataConfig,
    history: HistoryStore,
    *,
    keep_days: int | None = None,
    reference_date: date | None = None,
) -> IngestReport:
    """Validate ``folder``, store its valid rows, prune to ``keep_days`` (None: keep everything).

    Raises :class:`berth.contract.TooManyBadRowsError` (nothing stored) when the contract refuses
    the folder as a whole.
    """
    started = time.perf_counter()
    result = load_port_data(folder, config, reference_date=reference_date)
    quarantined: dict[str, dict[str, int]] = {
        name: dict(report.reasons) for name, report in result.report.tables.items()
    }
    skip = too_long_ids(result.data)
    for table, mask in skip.items():
        if mask.any():
            reasons = Counter(quarantined.get(table, {}))
            reasons[TOO_LONG] += int(mask.sum())
            quarantined[table] = dict(reasons)
    too_old = 0
    reference = None
    if keep_days is not None:
        # rows the pruning would delete are not stored at all, so a second run stores nothing new
        latest = history.latest_shipment_date()
        in_data = pd.Timestamp(result.data.shipments[tables.SHIPMENT_DATE].max()).date()
        reference = in_data if latest is None else max(latest, in_data)
        first_kept = pd.Timestamp(reference - timedelta(days=keep_days - 1))
        for table, column in (
            (tables.SHIPMENTS, tables.SHIPMENT_DATE),
            (tables.INTERACTIONS, tables.TIMESTAMP),
        ):
            frame = getattr(result.data, table)
            if frame is not None:
                old = (frame[column] < first_kept).to_numpy()
                skip[table] = skip[table] | old if table in skip else old
                too_old += int(old.sum())
    counts = history.store_port_data(result.data, skip=skip)
    pruned: tuple[int, int, date | None] = (0, 0, None)
    if keep_days is not None:
        pruned = history.prune(keep_days, reference=reference)
    return IngestReport(
        validation=result,
        counts=counts,
        quarantined=quarantined,
        pruned_shipments=pruned[0],
        pruned_interactions=pruned[1],
        kept_from=pruned[2],
        too_old=too_old,
        seconds=time.perf_counter() - started,
    )
