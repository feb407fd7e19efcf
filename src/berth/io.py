"""The only place that reads and writes raw tables (CSV or Parquet, chosen by file suffix).

CSVs are read with every column as a string and only empty cells as missing, so parsing and
validation happen in one place (:mod:`berth.contract`) and every bad cell is reported rather than
silently coerced by the reader. Exports from other systems are read as they come: the delimiter
(``,`` ``;`` tab ``|``) and the encoding (UTF-8 with or without a byte order mark, UTF-16, else
cp1252 or latin-1) are sniffed from the file's first bytes, and anything other than a plain
comma-separated UTF-8 file is said in a note. Which file holds which table is configurable
(``data.tables``: a name or a glob; several matching files are read as one table).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow
import pyarrow.csv as pa_csv

from berth import tables as t
from berth.config import DataConfig, TableFiles
from berth.contract import ValidationResult, validate_tables
from berth.errors import DataContractError

__all__ = [
    "SUFFIXES",
    "CsvDialect",
    "RawTables",
    "find_table_file",
    "load_port_data",
    "read_data_folder",
    "read_raw_table",
    "read_raw_tables",
    "sniff_csv",
    "table_files",
    "write_table",
]

SUFFIXES: Final = (".csv", ".parquet")
DELIMITERS: Final = (",", ";", "\t", "|")
_CSV_BLOCK_BYTES: Final = 64 * 2**20
_SNIFF_BYTES: Final = 64 * 2**10
_SNIFF_LINES: Final = 50
_FALLBACK_ENCODINGS: Final = ("cp1252", "latin-1")  # latin-1 decodes any byte: the last resort
_ENCODING_NAMES: Final = {
    "cp1252": "cp1252 (Windows Western European)",
    "latin-1": "latin-1 (ISO-8859-1)",
    "utf-16": "UTF-16",
}
_LISTED_FILES: Final = 20


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written: its delimiter and encoding (a Python codec name)."""

    delimiter: str = ","
    encoding: str = "utf-8"

    def notes(self, name: str) -> list[str]:
        """What differs from a comma-separated UTF-8 file, in words (nothing when nothing does)."""
        notes = []
        if self.delimiter != ",":
            notes.append(f"{name}: read as {_delimiter_name(self.delimiter)}-separated")
        if self.encoding in _ENCODING_NAMES:
            wording = _ENCODING_NAMES[self.encoding]
            notes.append(
                f"{name}: read as {wording}"
                + ("" if self.encoding == "utf-16" else "; if accented letters look wrong, save it as UTF-8")
            )
        return notes


@dataclass(frozen=True)
class RawTables:
    """A data folder as read: raw frames by table (None when absent), their sources and notes."""

    frames: dict[str, pd.DataFrame | None]
    sources: dict[str, str]
    notes: tuple[str, ...] = ()


def _delimiter_name(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def sniff_encoding(sample: bytes) -> str:
    """The encoding of a file's first bytes: by byte order mark, else UTF-8 when they decode as it,
    else cp1252 (Excel's default export on Western Windows), else latin-1 (decodes anything)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", *_FALLBACK_ENCODINGS):
        try:
            # incremental: a character cut at the end of the sample is not an error
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"  # pragma: no cover - latin-1 decodes every byte


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV sample among ``, ; tab |`` (``,`` when undecided).

    :class:`csv.Sniffer` (stdlib) picks the character whose count per line is the most
    consistent, which also copes with decimal commas in a ``;``-separated file. A one-column
    file gives it nothing to go on (it raises), and a choice that leaves the header one column
    is no choice: both keep the comma.
    """
    lines = text.splitlines()[:_SNIFF_LINES]
    if not lines:
        return ","
    try:
        found = csv.Sniffer().sniff("\n".join(lines), delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","
    header = next(csv.reader([lines[0]], delimiter=found), [])
    return found if len(header) > 1 else ","


def sniff_csv(sample: bytes, *, complete: bool) -> CsvDialect:
    """The dialect of a CSV file from its first bytes (``complete``: the sample is the whole file)."""
    encoding = sniff_encoding(sample)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=complete)
    if not complete:
        text = text.rsplit("\n", 1)[0]  # the last line may be cut short
    return CsvDialect(delimiter=sniff_delimiter(text.lstrip("\ufeff")), encoding=encoding)


def read_raw_table(path: Path) -> pd.DataFrame:
    """Read one table as-is: CSV as all-string columns (empty cells missing), Parquet typed."""
    return _read_table(path)[0]


def _read_table(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """One table as-is, and notes on how it was read (a CSV's delimiter and encoding)."""
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
    return frame.reset_index(drop=isinstance(frame.index, pd.RangeIndex)), []


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Every column as text, exactly as written ("007", "1.50"); only empty cells are missing.

    pyarrow reads multi-threaded, several times faster than pandas' C parser. Large blocks give a
    few big chunks per column instead of one per MiB, which makes every later filter, take and
    check over millions of rows two to ten times cheaper. The dialect is sniffed from the first
    64 KiB; a file that is UTF-8 there but not further on is read again as cp1252 (or latin-1).
    """
    with path.open("rb") as handle:
        sample = handle.read(_SNIFF_BYTES + 1)
    dialect = sniff_csv(sample[:_SNIFF_BYTES], complete=len(sample) <= _SNIFF_BYTES)
    text = sample[:_SNIFF_BYTES].decode(dialect.encoding, errors="replace").lstrip("\ufeff")
    header = next(csv.reader(io.StringIO(text, newline=""), delimiter=dialect.delimiter), None)
    if not header:
        raise DataContractError("empty file: expected a header row", file=str(path))
    order = ("utf-8", *_FALLBACK_ENCODINGS)
    current = "utf-8" if dialect.encoding == "utf-8-sig" else dialect.encoding
    fallbacks = list(order[order.index(current) + 1 :]) if current in order else []
    while True:
        try:
            table = _arrow_csv(path, header, dialect)
        except pyarrow.ArrowInvalid as exc:
            if not fallbacks or "utf8" not in str(exc).lower().replace("-", ""):
                raise
            dialect = CsvDialect(dialect.delimiter, fallbacks.pop(0))
        except UnicodeDecodeError:
            if not fallbacks:
                raise
            dialect = CsvDialect(dialect.delimiter, fallbacks.pop(0))
        else:
            return table.to_pandas(), dialect.notes(path.name)


def _arrow_csv(path: Path, header: Sequence[str], dialect: CsvDialect) -> pyarrow.Table:
    """Read a CSV with pyarrow, every column of ``header`` as a string."""
    utf8 = dialect.encoding in {"utf-8", "utf-8-sig"}  # pyarrow's own fast path (it skips the BOM)
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(
            block_size=_CSV_BLOCK_BYTES, encoding="utf8" if utf8 else dialect.encoding
        ),
        parse_options=pa_csv.ParseOptions(delimiter=dialect.delimiter),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pyarrow.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


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


def _folder_listing(folder: Path) -> str:
    """The files in ``folder`` by name, for messages."""
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    if not names:
        return "none"
    more = f" and {len(names) - _LISTED_FILES} more" if len(names) > _LISTED_FILES else ""
    return ", ".join(names[:_LISTED_FILES]) + more


QUARANTINE_SUFFIX = "quarantine.csv"


def table_files(folder: Path, table: str, pattern: str | None) -> list[Path]:
    """The files holding ``table``: those matching ``pattern`` (a name or glob, in name order), or
    the default ``table.csv`` / ``table.parquet`` when ``pattern`` is None (empty when absent).

    A configured pattern that matches nothing is an error that names it and the folder's files.
    """
    if pattern is None:
        found = find_table_file(folder, table)
        return [] if found is None else [found]
    # Berth's own outputs beside the data (quarantine.csv, FILE.quarantine.csv) never match a table.
    paths = sorted(
        path
        for path in folder.glob(pattern)
        if path.is_file() and not path.name.lower().endswith(QUARANTINE_SUFFIX)
    )
    if not paths:
        raise DataContractError(
            f"no file matches {pattern!r} (data.tables.{table}); files in the folder: "
            f"{_folder_listing(folder)}",
            file=str(folder),
        )
    suffixes = sorted({path.suffix.lower() for path in paths})
    if len(suffixes) > 1:
        raise DataContractError(
            f"{pattern!r} (data.tables.{table}) matches {' and '.join(suffixes)} files; "
            "a table is read from files of one kind",
            file=str(folder),
        )
    return paths


def _concatenate(table: str, pattern: str, paths: Sequence[Path]) -> tuple[pd.DataFrame, list[str]]:
    """Several files of one table read as one, in name order; their headers must agree."""
    frames, notes = [], []
    first_columns: list[str] | None = None
    for path in paths:
        frame, read_notes = _read_table(path)
        notes.extend(read_notes)
        columns = [str(name).strip() for name in frame.columns]
        if first_columns is None:
            first_columns = columns
        elif columns != first_columns:
            missing = [c for c in first_columns if c not in columns]
            extra = [c for c in columns if c not in first_columns]
            detail = "; ".join(
                part
                for part in (
                    f"lacks {', '.join(missing)}" if missing else "",
                    f"adds {', '.join(extra)}" if extra else "",
                    "orders them differently" if not missing and not extra else "",
                )
                if part
            )
            raise DataContractError(
                f"{table}: {path.name} does not have the columns of {paths[0].name} ({detail}); "
                f"the files matching {pattern!r} are read as one table",
                file=str(path),
            )
        frames.append(frame.set_axis(columns, axis=1))
    sizes = ", ".join(f"{path.name} ({len(frame):,} rows)" for path, frame in zip(paths, frames, strict=True))
    notes.append(
        f"{table}: {len(paths)} files match {pattern!r}, read as one table in this order: {sizes}; "
        "quarantine row numbers count on across them"
    )
    return pd.concat(frames, ignore_index=True), notes


def read_data_folder(folder: Path, tables: TableFiles | None = None) -> RawTables:
    """Read the tables in ``folder``, from the files ``tables`` names (default: ``<table>.csv``)."""
    if not folder.is_dir():
        raise DataContractError("data folder not found", file=str(folder))
    tables = tables or TableFiles()
    raw: dict[str, pd.DataFrame | None] = {}
    sources: dict[str, str] = {}
    notes: list[str] = []
    for table in t.TABLE_NAMES:
        pattern = tables.for_table(table)
        paths = table_files(folder, table, pattern)
        if not paths:
            if table == t.SHIPMENTS:
                raise DataContractError(
                    "required table missing: expected shipments.csv or shipments.parquet; files in the "
                    f"folder: {_folder_listing(folder)}. Another name? Say which file holds the "
                    "shipments in the config, e.g. data: {tables: {shipments: transactions.csv}}",
                    file=str(folder / "shipments.csv"),
                )
            raw[table] = None
            continue
        if len(paths) == 1:
            raw[table], read_notes = _read_table(paths[0])
            sources[table] = str(paths[0])
        else:
            assert pattern is not None
            raw[table], read_notes = _concatenate(table, pattern, paths)
            sources[table] = f"{folder / pattern} ({len(paths)} files)"
        notes.extend(read_notes)
    return RawTables(frames=raw, sources=sources, notes=tuple(notes))


def read_raw_tables(
    folder: Path, tables: TableFiles | None = None
) -> tuple[dict[str, pd.DataFrame | None], dict[str, str]]:
    """Read the tables in ``folder``: (raw frames by table, None when absent; source paths)."""
    read = read_data_folder(folder, tables)
    return read.frames, read.sources


def load_port_data(
    folder: Path, config: DataConfig, *, reference_date: date | None = None
) -> ValidationResult:
    """Read and validate the tables in ``folder`` (see :func:`berth.contract.validate_tables`)."""
    read = read_data_folder(folder, config.tables)
    return validate_tables(
        read.frames, config, reference_date=reference_date, sources=read.sources, read_notes=read.notes
    )
