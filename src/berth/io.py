"""The only place that reads and writes raw tables (CSV or Parquet, chosen by file suffix).

CSVs are read with every column as a string and only empty cells as missing, so parsing and
validation happen in one place (:mod:`berth.contract`) and every bad cell is reported rather than
silently coerced by the reader.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow
import pyarrow.csv as pa_csv

from berth import tables as t
from berth.config import DataConfig
from berth.contract import ValidationResult, validate_tables
from berth.errors import DataContractError

__all__ = [
    "SUFFIXES",
    "find_table_file",
    "load_port_data",
    "read_raw_table",
    "read_raw_tables",
    "write_table",
]

SUFFIXES: Final = (".csv", ".parquet")
_CSV_BLOCK_BYTES: Final = 64 * 2**20


def read_raw_table(path: Path) -> pd.DataFrame:
    """Read one table as-is: CSV as all-string columns (empty cells missing), Parquet typed."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataContractError(
            f"unsupported file type {path.suffix!r}; expected .csv or .parquet", file=str(path)
        )
    try:
        if suffix == ".csv":
            return _read_csv(path)
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise DataContractError("file not found", file=str(path)) from None
    except (pyarrow.ArrowException, ValueError, UnicodeDecodeError) as exc:
        hint = " (save it as UTF-8)" if "UTF8" in str(exc) or "utf-8" in str(exc).lower() else ""
        raise DataContractError(f"cannot read {suffix[1:]}: {exc}{hint}", file=str(path)) from None
    # A Parquet file written with a meaningful index keeps it as a column.
    return frame.reset_index(drop=isinstance(frame.index, pd.RangeIndex))


def _read_csv(path: Path) -> pd.DataFrame:
    """Every column as text, exactly as written ("007", "1.50"); only empty cells are missing.

    pyarrow reads multi-threaded, several times faster than pandas' C parser. Large blocks give a
    few big chunks per column instead of one per MiB, which makes every later filter, take and
    check over millions of rows two to ten times cheaper.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise DataContractError("empty file: expected a header row", file=str(path))
    table = pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pyarrow.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return table.to_pandas()


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV or Parquet by the suffix of ``path`` (parent folders created)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; expected .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def find_table_file(folder: Path, table: str) -> Path | None:
    """The file holding ``table`` in ``folder`` (``table.csv`` or ``table.parquet``, any case)."""
    candidates = sorted(
        entry
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.lower() in {table + s for s in SUFFIXES}
    )
    if len(candidates) > 1:
        names = " and ".join(entry.name for entry in candidates)
        raise DataContractError(
            f"{names} both found for the {table} table; keep exactly one", file=str(folder)
        )
    return candidates[0] if candidates else None


def read_raw_tables(folder: Path) -> tuple[dict[str, pd.DataFrame | None], dict[str, str]]:
    """Read the tables in ``folder``: (raw frames by table, None when absent; source paths)."""
    if not folder.is_dir():
        raise DataContractError("data folder not found", file=str(folder))
    raw: dict[str, pd.DataFrame | None] = {}
    sources: dict[str, str] = {}
    for table in t.TABLE_NAMES:
        path = find_table_file(folder, table)
        if path is None:
            if table == t.SHIPMENTS:
                raise DataContractError(
                    "required table missing: expected shipments.csv or shipments.parquet",
                    file=str(folder / "shipments.csv"),
                )
            raw[table] = None
            continue
        raw[table] = read_raw_table(path)
        sources[table] = str(path)
    return raw, sources


def load_port_data(
    folder: Path, config: DataConfig, *, reference_date: date | None = None
) -> ValidationResult:
    """Read and validate the tables in ``folder`` (see :func:`berth.contract.validate_tables`)."""
    raw, sources = read_raw_tables(folder)
    return validate_tables(raw, config, reference_date=reference_date, sources=sources)
