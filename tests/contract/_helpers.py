"""Helpers shared by the data-contract tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from berth.config import DataConfig
from berth.contract import TooManyBadRowsError, ValidationResult, validate_tables

REFERENCE = date(2024, 6, 1)


def lenient(**validation: Any) -> DataConfig:
    """A config that never fails on the bad share, so every test sees the full result."""
    return DataConfig.model_validate({"validation": {"max_bad_share": 1.0, **validation}})


def run(
    raw: Mapping[str, pd.DataFrame | None], config: DataConfig | None = None, **kwargs: Any
) -> ValidationResult:
    """Validate at the fixed reference date; a contract failure still returns its result."""
    try:
        return validate_tables(raw, config or lenient(), reference_date=REFERENCE, **kwargs)
    except TooManyBadRowsError as exc:
        return exc.result


def strings(**columns: list[str]) -> pd.DataFrame:
    """An all-string raw frame, as read from a CSV ('' is an empty cell)."""
    frame = pd.DataFrame({name: pd.Series(values, dtype="str") for name, values in columns.items()})
    return frame.replace("", pd.NA) if len(frame) else frame


def assert_counted(result: ValidationResult) -> None:
    """No row disappears uncounted, and every quarantined row says why."""
    for name, report in result.report.tables.items():
        assert report.rows_read == report.rows_valid + report.rows_quarantined, name
        frame = getattr(result.data, name)
        assert (0 if frame is None else len(frame)) == report.rows_valid
        assert (result.quarantine["table"] == name).sum() == report.rows_quarantined
    assert (result.quarantine["reason"].str.len() > 0).all()
