"""The data contract: table schemas, column mapping, validation and quarantine.

Raw tables (all-string frames from CSV, typed frames from Parquet or the HTTP API) go through two
vectorised stages, and every row that fails either one is quarantined with all of its reasons:

1. *Parse*: each canonical column is turned into its canonical dtype with masks for the values
   that cannot be (empty cells become missing; ``"abc"`` in a number column, ``"inf"``/``"nan"``,
   unparseable dates, missing ids or required dates are problems). This has to happen before any
   schema library sees the data: once ``"abc"`` and an empty cell are both NaN, they can no longer
   be told apart, and the first is bad while the second is allowed.
2. *Check*: a pandera schema built from :data:`CONTRACT` checks the parsed frame's columns and
   dtypes, and vectorised rules catch ranges (negative volume, NPS outside 0-10), future dates,
   duplicates, orphans and ``resolved_at`` before ``timestamp`` (see :data:`DEFAULT_ENGINE` for
   why the rules run as boolean masks rather than as pandera checks).

Nothing here reads or writes files except :meth:`ValidationResult.write_quarantine`, which goes
through :mod:`berth.io`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandas.tseries.api import guess_datetime_format
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from berth import tables as t
from berth.config import DataConfig
from berth.errors import ConfigError, DataContractError
from berth.tables import PortData

__all__ = [
    "CONTRACT",
    "QUARANTINE_COLUMNS",
    "ColumnSpec",
    "Kind",
    "TableReport",
    "TableSpec",
    "TooManyBadRowsError",
    "ValidationReport",
    "ValidationResult",
    "resolve_reference_date",
    "validate_tables",
]


class Kind(StrEnum):
    """How a column is parsed and which canonical dtype it gets."""

    ID = "id"  # identifier: str, stripped
    TEXT = "text"  # free text or category: str, stripped
    LABEL = "label"  # category compared by value: str, stripped and lowercased
    DATE = "date"  # datetime64[us], tz-naive (tz-aware values converted to UTC first)
    NUMBER = "number"  # float64, finite
    FLAG = "flag"  # float64 0/1 from 0, 1, true, false
    BOOL = "bool"  # nullable boolean from true/false, yes/no, y/n, t/f, 1/0
    SENTIMENT = "sentiment"  # float64 from a number or positive / neutral / negative


CANONICAL_DTYPES: Final[Mapping[Kind, str]] = MappingProxyType(
    {
        Kind.ID: "str",
        Kind.TEXT: "str",
        Kind.LABEL: "str",
        Kind.DATE: "datetime64[us]",
        Kind.NUMBER: "float64",
        Kind.FLAG: "float64",
        Kind.BOOL: "boolean",
        Kind.SENTIMENT: "float64",
    }
)


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column: how to parse it, its allowed range and what is lost without it."""

    name: str
    kind: Kind
    required: bool = False
    min_value: float | None = None
    max_value: float | None = None
    range_problem: str = ""
    left_out: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract."""

    name: str
    columns: tuple[ColumnSpec, ...]
    required: bool
    unique: str | None
    left_out: str

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical column names in contract order."""
        return tuple(col.name for col in self.columns)

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``."""
        return next(col for col in self.columns if col.name == name)


def _nonneg(name: str, left_out: str) -> ColumnSpec:
    return ColumnSpec(name, Kind.NUMBER, min_value=0.0, range_problem="negative", left_out=left_out)


CONTRACT: Final[Mapping[str, TableSpec]] = MappingProxyType(
    {
        t.SHIPMENTS: TableSpec(
            name=t.SHIPMENTS,
            required=True,
            unique="shipment_id",
            left_out="nothing can be modelled",
            columns=(
                ColumnSpec(t.CUSTOMER_ID, Kind.ID, required=True),
                ColumnSpec(t.SHIPMENT_DATE, Kind.DATE, required=True),
                ColumnSpec("shipment_id", Kind.ID, left_out="duplicate shipments cannot be detected"),
                _nonneg("volume", "volume features are left out"),
                _nonneg("revenue", "revenue and margin features are left out"),
                _nonneg("cost", "cost and margin features are left out"),
                _nonneg("delay_hours", "delay (on-time) features are left out"),
                ColumnSpec("damaged", Kind.FLAG, left_out="damage features are left out"),
                ColumnSpec("cargo_type", Kind.TEXT, left_out="cargo-type features are left out"),
                ColumnSpec("lane", Kind.TEXT, left_out="lane features are left out"),
                ColumnSpec("channel", Kind.TEXT, left_out="shipment channel features are left out"),
            ),
        ),
        t.INTERACTIONS: TableSpec(
            name=t.INTERACTIONS,
            required=False,
            unique=None,
            left_out="interaction features (complaints, claims, surveys, NPS, contacts) are left out",
            columns=(
                ColumnSpec(t.CUSTOMER_ID, Kind.ID, required=True),
                ColumnSpec(t.TIMESTAMP, Kind.DATE, required=True),
                ColumnSpec(t.INTERACTION_TYPE, Kind.LABEL, required=True),
                ColumnSpec(
                    "score",
                    Kind.NUMBER,
                    min_value=0.0,
                    max_value=10.0,
                    range_problem="outside 0-10",
                    left_out="survey score and NPS features are left out",
                ),
                ColumnSpec("resolved_at", Kind.DATE, left_out="resolution-time features are left out"),
                ColumnSpec("sentiment", Kind.SENTIMENT, left_out="sentiment features are left out"),
                ColumnSpec("channel", Kind.TEXT, left_out="interaction channel features are left out"),
            ),
        ),
        t.CUSTOMERS: TableSpec(
            name=t.CUSTOMERS,
            required=False,
            unique=t.CUSTOMER_ID,
            left_out="customer profile features (segment, region, tenure, contract, loyalty) are left out "
            "and orphan customer ids are not checked",
            columns=(
                ColumnSpec(t.CUSTOMER_ID, Kind.ID, required=True),
                ColumnSpec("segment", Kind.TEXT, left_out="segment features are left out"),
                ColumnSpec("region", Kind.TEXT, left_out="region features are left out"),
                ColumnSpec("since", Kind.DATE, left_out="tenure features are left out"),
                ColumnSpec("credit_rating", Kind.TEXT, left_out="credit-rating features are left out"),
                ColumnSpec("contract", Kind.BOOL, left_out="contract features are left out"),
                ColumnSpec("loyalty_member", Kind.BOOL, left_out="loyalty-membership features are left out"),
                ColumnSpec("account_manager", Kind.TEXT, left_out="account-manager features are left out"),
            ),
        ),
    }
)

# Problems (a quarantine reason is "<column>: <problem>", or one of the row-level reasons below).
MISSING: Final = "missing"
NOT_A_DATE: Final = "not a date"
NOT_A_NUMBER: Final = "not a number"
NOT_FINITE: Final = "not finite (nan/inf)"
IN_FUTURE: Final = "in the future"
NOT_FLAG: Final = "not 0/1/true/false"
NOT_BOOL: Final = "not true/false"
ORPHAN: Final = "orphan customer_id"
RESOLVED_BEFORE_OPENED: Final = "resolved_at: before timestamp"

QUARANTINE_COLUMNS: Final = ("table", "row_number", "reason")

_NUMBER_RE: Final = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_NONFINITE_RE: Final = r"^[+-]?(?:inf|infinity|nan)$"
_TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "0", "0.0"})
_SENTIMENT_WORDS: Final = MappingProxyType({"positive": "1", "neutral": "0", "negative": "-1"})
_DATE_FORMAT_SAMPLE: Final = 10_000
_TOP_REASONS: Final = 3

Engine = Literal["pandera", "masks"]
# Two ways to run the value rules, measured on 7.5M shipment rows on 2 cores (check stage only,
# benchmarks/bench_validation.py for the whole pipeline): with 1% bad rows, the rules as pandera
# checks take 2-3 s against 0.9-1.5 s as boolean masks; with 15% bad rows 7-7.5 s against
# 1.6-1.9 s. pandera's cost is in collecting failure cases (work per failing value), so it grows
# with the number of bad rows, just when a quick report matters most. By default, then, pandera
# validates the schema of the parsed frame (columns, canonical dtypes) and the rules run as masks;
# the "pandera" engine runs the same rules as pandera checks, for the benchmark and as a
# cross-check in the tests (both must give identical results).
DEFAULT_ENGINE: Final[Engine] = "masks"


def _reason(column: str, problem: str) -> str:
    return f"{column}: {problem}"


def _duplicate(column: str) -> str:
    return f"duplicate {column}"


def _relabel(reason: str, labels: Mapping[str, str]) -> str:
    """``reason`` with each canonical column the user named otherwise shown by both names, e.g.
    ``volume: negative`` -> ``qty (volume): negative`` when ``qty`` was mapped to ``volume``."""
    if not labels:
        return reason

    def label(column: str) -> str:
        return labels.get(column, column)

    if reason == ORPHAN:
        return f"orphan {label(t.CUSTOMER_ID)}"
    if reason == RESOLVED_BEFORE_OPENED:
        return f"{label('resolved_at')}: before {label(t.TIMESTAMP)}"
    if reason.startswith("duplicate "):
        return _duplicate(label(reason.removeprefix("duplicate ")))
    head, sep, problem = reason.partition(": ")
    return f"{label(head)}: {problem}" if sep else reason


def _column_labels(mapping: Mapping[str, str], present: Sequence[str]) -> dict[str, str]:
    """Canonical name -> ``theirs (canonical)`` for each mapped column present under another name."""
    return {
        ours: f"{theirs} ({ours})" for theirs, ours in mapping.items() if theirs in present and theirs != ours
    }


# --------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TableReport:
    """Counts for one table: rows read, valid and quarantined, reasons and column coverage."""

    table: str
    source: str | None
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    reasons: Mapping[str, int]
    columns: tuple[str, ...]
    absent_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]

    @property
    def quarantined_share(self) -> float:
        """Share of the rows read that were quarantined (0 for an empty table)."""
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def top_reasons(self, n: int = _TOP_REASONS) -> str:
        """The ``n`` most frequent reasons as ``reason (count)``, comma separated."""
        return ", ".join(f"{reason} ({count:,})" for reason, count in list(self.reasons.items())[:n])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_share": self.quarantined_share,
            "reasons": dict(self.reasons),
            "columns": list(self.columns),
            "absent_columns": list(self.absent_columns),
            "extra_columns": list(self.extra_columns),
        }


@dataclass(frozen=True)
class ValidationReport:
    """What validation found: per-table counts and reasons, and notes on what degrades."""

    tables: Mapping[str, TableReport]
    notes: tuple[str, ...]
    reference_date: date
    max_bad_share: float

    @property
    def rows_quarantined(self) -> int:
        """Quarantined rows over all tables."""
        return sum(report.rows_quarantined for report in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "reference_date": self.reference_date.isoformat(),
            "max_bad_share": self.max_bad_share,
            "tables": {name: report.to_dict() for name, report in self.tables.items()},
            "notes": list(self.notes),
        }

    def render(self) -> RenderableType:
        """A rich renderable: counts per table, the reasons and the notes."""
        counts = Table(title="Data validation", title_justify="left")
        for header in ("table", "source", "read", "valid", "quarantined", "share"):
            left = header in {"table", "source"}
            counts.add_column(header, justify="left" if left else "right", overflow="fold")
        for report in self.tables.values():
            share = report.quarantined_share
            counts.add_row(
                report.table,
                report.source or "-",
                f"{report.rows_read:,}",
                f"{report.rows_valid:,}",
                f"{report.rows_quarantined:,}",
                Text(f"{share:.1%}", style="red" if share > self.max_bad_share else ""),
            )
        parts: list[RenderableType] = [counts]
        if any(report.reasons for report in self.tables.values()):
            reasons = Table(title="Quarantine reasons", title_justify="left")
            reasons.add_column("table")
            reasons.add_column("reason")
            reasons.add_column("rows", justify="right")
            for report in self.tables.values():
                for reason, count in report.reasons.items():
                    reasons.add_row(report.table, reason, f"{count:,}")
            parts.append(reasons)
        if self.notes:
            parts.append(Text("Notes:", style="bold"))
            parts.extend(Text(f"  - {note}") for note in self.notes)
        return Group(*parts)


@dataclass(frozen=True)
class ValidationResult:
    """Validated data in canonical form, the report and the quarantined rows."""

    data: PortData
    report: ValidationReport
    quarantine: pd.DataFrame = field(repr=False)

    def write_quarantine(self, path: Path) -> Path | None:
        """Write the quarantined rows as CSV; None, and no file, when nothing was quarantined."""
        if self.quarantine.empty:
            return None
        from berth.io import write_table

        return write_table(self.quarantine, path)


class TooManyBadRowsError(DataContractError):
    """Too many rows were quarantined; ``result`` still holds the report and the quarantine."""

    def __init__(
        self, message: str, *, result: ValidationResult, file: str | None = None, column: str | None = None
    ) -> None:
        super().__init__(message, file=file, column=column)
        self.result = result


# --------------------------------------------------------------------------------------- parsing


@dataclass
class _Parsed:
    """One table after the parse stage."""

    frame: pd.DataFrame  # canonical columns, canonical dtypes; bad values are missing
    problems: dict[str, np.ndarray]  # reason -> bool mask over rows
    notes: list[str]


def _bool_mask(values: Any) -> np.ndarray:
    """A pyarrow boolean array or chunked array as a numpy bool array (null counts as False)."""
    return np.asarray(pc.fill_null(values, False), dtype=bool)


def _as_text(values: pd.Series) -> pd.Series:
    """Values as stripped strings (``str`` dtype); empty and whitespace-only cells become missing."""
    if values.dtype.kind == "f":
        arr = values.to_numpy(dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        # Integral floats (ids read from Parquet with gaps) print as 123, not 123.0.
        if not np.isinf(arr).any() and (finite == np.round(finite)).all() and (np.abs(finite) < 2**53).all():
            values = values.astype("Int64")
    text = values.astype("str").str.strip()
    return text.where(text != "")


def _is_number_dtype(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _number_from_text(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse stripped strings: (float64 values, not-a-number mask, not-finite mask).

    pyarrow's cast runs in C++ about twenty times faster than ``pd.to_numeric`` on pyarrow-backed
    strings. It fails as a whole on one bad string, so columns with bad strings go through a regex
    that tells "abc" apart from the literals "inf" and "nan" first.
    """
    arr = pyarrow.array(text, from_pandas=True)  # zero-copy for pyarrow-backed strings
    present = text.notna().to_numpy()
    try:
        numbers = pc.cast(arr, pyarrow.float64())
    except pyarrow.ArrowInvalid:
        is_number = pc.match_substring_regex(arr, pattern=_NUMBER_RE)
        literal = _bool_mask(pc.match_substring_regex(arr, pattern=_NONFINITE_RE, ignore_case=True))
        numbers = pc.cast(pc.if_else(is_number, arr, pyarrow.scalar(None, arr.type)), pyarrow.float64())
        not_number = present & ~_bool_mask(is_number) & ~literal
    else:
        not_number = np.zeros(len(text), dtype=bool)
    values = np.asarray(pc.fill_null(numbers, np.nan), dtype=np.float64)
    not_finite = present & ~not_number & ~np.isfinite(values)  # "inf", "nan", 1e999
    if not_finite.any():
        values = np.where(not_finite, np.nan, values)
    return values, not_number, not_finite


def _parse_number(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, not-a-number mask, not-finite mask); a typed NaN counts as missing."""
    if _is_number_dtype(values):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        inf = np.isinf(arr)
        return np.where(inf, np.nan, arr) if inf.any() else arr, np.zeros(len(arr), dtype=bool), inf
    return _number_from_text(_as_text(values))


def _guess_formats(values: pd.Series) -> list[str]:
    """Candidate strptime layouts guessed from a few distinct values (month first when ambiguous)."""
    formats: list[str] = []
    for value in values.drop_duplicates().head(20):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # guess_datetime_format warns about day-first layouts
            guessed = guess_datetime_format(str(value))
        if guessed and guessed not in formats:
            formats.append(guessed)
    return formats


def _to_utc(text: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(text, format=fmt, utc=True, errors="coerce")


def _plain_iso(text: pd.Series) -> pd.Series | None:
    """Dates read by pyarrow when every value is plain ISO without a zone (~10x faster), else None."""
    try:
        stamps = pc.cast(pyarrow.array(text, from_pandas=True), pyarrow.timestamp("us"))
    except pyarrow.ArrowInvalid:
        return None
    return pd.Series(np.asarray(stamps, dtype="datetime64[us]"), index=text.index)


def _parse_date(values: pd.Series, column: str, notes: list[str]) -> tuple[pd.Series, np.ndarray]:
    """(datetime64[us] tz-naive values, not-a-date mask).

    Plain ISO first (pyarrow), then ISO 8601 by pandas (handles offsets: tz-aware values are
    converted to UTC, then the zone is dropped). What still fails is tried with the one non-ISO
    layout that parses most of a sample of it (e.g. 03/15/2024), so a column is never read half
    day-first and half month-first.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.astype("datetime64[us]"), np.zeros(len(values), dtype=bool)
    text = _as_text(values)
    plain = _plain_iso(text)
    if plain is not None:
        return plain, np.zeros(len(text), dtype=bool)
    parsed = _to_utc(text, "ISO8601")
    failed = text.notna() & parsed.isna()
    if failed.any():
        rest = text[failed]
        sample = rest.head(_DATE_FORMAT_SAMPLE)
        scored = [(int(_to_utc(sample, fmt).notna().sum()), fmt) for fmt in _guess_formats(rest)]
        best = max(scored, key=lambda item: item[0], default=(0, ""))
        if best[0] > 0:
            again = _to_utc(rest, best[1])
            parsed = parsed.where(~failed, again.reindex(parsed.index))
            notes.append(
                f"{column}: {int(again.notna().sum()):,} value(s) read with the non-ISO layout {best[1]}; "
                "check the day/month order"
            )
    parsed = parsed.dt.tz_localize(None).astype("datetime64[us]")
    return parsed, (text.notna() & parsed.isna()).to_numpy()


def _parse_flag(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 0/1 values, bad mask) from 0, 1, true, false (any case; 1.0 and 0.0 too)."""
    if _is_number_dtype(values) or pd.api.types.is_bool_dtype(values):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(arr)
    else:
        text = _as_text(values).str.lower()
        true, false = (text == "true").to_numpy(), (text == "false").to_numpy()
        words = true | false
        numbers, _, _ = _number_from_text(text.where(~words))
        arr = np.where(words, true, numbers)
        present = text.notna().to_numpy()
    bad = present & ~np.isin(arr, (0.0, 1.0))
    return np.where(bad, np.nan, arr), bad


def _parse_bool(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(nullable boolean values, bad mask) from true/false, yes/no, y/n, t/f, 1/0."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean"), np.zeros(len(values), dtype=bool)
    text = _as_text(values).str.lower()
    true = text.isin(_TRUE_WORDS).to_numpy()
    false = text.isin(_FALSE_WORDS).to_numpy()
    bad = text.notna().to_numpy() & ~true & ~false
    out = pd.Series(pd.arrays.BooleanArray(true, ~(true | false)), index=values.index)
    return out, bad


def _parse_sentiment(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`_parse_number`, also accepting positive / neutral / negative (1, 0, -1)."""
    if _is_number_dtype(values):
        return _parse_number(values)
    text = _as_text(values)
    lowered = text.str.lower()
    words = lowered.isin(_SENTIMENT_WORDS)
    return _number_from_text(text.where(~words, lowered.map(dict(_SENTIMENT_WORDS))))


def _parse_table(frame: pd.DataFrame, spec: TableSpec, labels: Mapping[str, str] | None = None) -> _Parsed:
    """Parse the canonical columns present in ``frame`` into canonical dtypes with problem masks
    (``labels``: how notes name a column the user calls otherwise)."""
    labels = labels or {}
    n = len(frame)
    out: dict[str, Any] = {}
    problems: dict[str, np.ndarray] = {}
    notes: list[str] = []

    def add(column: str, problem: str, mask: np.ndarray) -> None:
        problems[_reason(column, problem)] = np.asarray(mask, dtype=bool)

    for col in spec.columns:
        if col.name not in frame.columns:
            continue
        values = frame[col.name]
        if col.kind in {Kind.ID, Kind.TEXT, Kind.LABEL}:
            text = _as_text(values)
            out[col.name] = text.str.lower() if col.kind is Kind.LABEL else text
            missing = text.isna().to_numpy()
        elif col.kind is Kind.DATE:
            parsed, bad = _parse_date(values, f"{spec.name}.{labels.get(col.name, col.name)}", notes)
            out[col.name] = parsed
            add(col.name, NOT_A_DATE, bad)
            missing = parsed.isna().to_numpy() & ~bad
        elif col.kind in {Kind.NUMBER, Kind.SENTIMENT}:
            parse = _parse_sentiment if col.kind is Kind.SENTIMENT else _parse_number
            number, not_number, not_finite = parse(values)
            out[col.name] = number
            add(col.name, NOT_A_NUMBER, not_number)
            add(col.name, NOT_FINITE, not_finite)
            missing = np.isnan(number) & ~not_number & ~not_finite
        elif col.kind is Kind.FLAG:
            flag, bad = _parse_flag(values)
            out[col.name] = flag
            add(col.name, NOT_FLAG, bad)
            missing = np.isnan(flag) & ~bad
        else:
            boolean, bad = _parse_bool(values)
            out[col.name] = boolean
            add(col.name, NOT_BOOL, bad)
            missing = boolean.isna().to_numpy() & ~bad
        if col.required:
            add(col.name, MISSING, missing)
    # copy=False: one block per column, no copy into a consolidated 2-D block (~1 s at 10M rows)
    frame_out = pd.DataFrame(
        {name: _values(v) for name, v in out.items()}, index=pd.RangeIndex(n), copy=False
    )
    return _Parsed(frame=frame_out, problems=problems, notes=notes)


def _values(values: Any) -> Any:
    """Column values without their index, so the parsed frame is built positionally."""
    return values.array if isinstance(values, pd.Series) else values


# ---------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Rule:
    """A vectorised check: ``passes`` returns True where a value (or row) is fine or missing.

    Column rules get their whole column, row rules (``column`` None) the whole frame. Missing
    values are handled by the rules rather than by pandera's ``ignore_na``, which would copy every
    checked column to drop them (seconds for millions of strings).
    """

    reason: str
    column: str | None
    passes: Callable[[Any], Any]


def _rules(
    spec: TableSpec, frame: pd.DataFrame, limit: pd.Timestamp, customer_ids: pd.Index | None
) -> list[_Rule]:
    """The checks that apply to the columns present in ``frame``."""
    rules: list[_Rule] = []
    for col in spec.columns:
        if col.name not in frame.columns:
            continue
        if col.min_value is not None or col.max_value is not None:
            lo = -np.inf if col.min_value is None else col.min_value
            hi = np.inf if col.max_value is None else col.max_value
            rules.append(_Rule(_reason(col.name, col.range_problem), col.name, _between(lo, hi)))
        if col.kind is Kind.DATE:
            rules.append(_Rule(_reason(col.name, IN_FUTURE), col.name, _before(limit)))
    if spec.unique is not None and spec.unique in frame.columns:
        rules.append(_Rule(_duplicate(spec.unique), spec.unique, _first_occurrence))
    if customer_ids is not None:
        rules.append(_Rule(ORPHAN, t.CUSTOMER_ID, _member_of(customer_ids)))
    if {"resolved_at", t.TIMESTAMP} <= set(frame.columns):
        rules.append(_Rule(RESOLVED_BEFORE_OPENED, None, _resolved_after_opened))
    return rules


def _between(lo: float, hi: float) -> Callable[[pd.Series], pd.Series]:
    return lambda s: ((s >= lo) & (s <= hi)) | s.isna()


def _before(limit: pd.Timestamp) -> Callable[[pd.Series], pd.Series]:
    return lambda s: (s < limit) | s.isna()


def _member_of(ids: pd.Index) -> Callable[[pd.Series], pd.Series]:
    value_set = pyarrow.array(ids.to_numpy(dtype=object), type=pyarrow.large_string())

    def passes(s: pd.Series) -> pd.Series:
        # pyarrow's is_in is 2-4x faster than Series.isin on pyarrow-backed strings
        values = pyarrow.array(s, from_pandas=True).cast(pyarrow.large_string())
        return pd.Series(_bool_mask(pc.is_in(values, value_set=value_set)), index=s.index) | s.isna()

    return passes


def _first_occurrence(s: pd.Series) -> pd.Series:
    """True on the first occurrence of each value, and on missing values.

    A stable pyarrow sort and a comparison of neighbours is about three times faster than hashing
    millions of distinct id strings (``Series.duplicated``): 0.7 s against 2 s for 7.5M ids.
    """
    arr = pyarrow.array(s, from_pandas=True)
    if isinstance(arr, pyarrow.ChunkedArray):
        arr = arr.combine_chunks()  # a take across hundreds of CSV blocks is several times slower
    order = pc.sort_indices(arr)  # stable: equal values keep their row order
    ranked = arr.take(order)
    repeat = np.zeros(len(s), dtype=bool)
    if len(s) > 1:
        repeat[1:] = _bool_mask(pc.equal(ranked[1:], ranked[:-1]))
    duplicated = np.empty(len(s), dtype=bool)
    duplicated[np.asarray(order)] = repeat
    return pd.Series(~duplicated, index=s.index)


def _resolved_after_opened(frame: pd.DataFrame) -> pd.Series:
    resolved, opened = frame["resolved_at"], frame[t.TIMESTAMP]
    return (resolved >= opened) | resolved.isna() | opened.isna()


def _schema(spec: TableSpec, frame: pd.DataFrame, rules: Sequence[_Rule]) -> pa.DataFrameSchema:
    """The pandera schema of the parsed frame: canonical dtypes plus ``rules``."""
    columns = {
        col.name: pa.Column(
            CANONICAL_DTYPES[col.kind],
            nullable=True,
            checks=[
                pa.Check(rule.passes, name=rule.reason, ignore_na=False)
                for rule in rules
                if rule.column == col.name
            ],
        )
        for col in spec.columns
        if col.name in frame.columns
    }
    checks = [
        pa.Check(rule.passes, name=rule.reason, ignore_na=False) for rule in rules if rule.column is None
    ]
    return pa.DataFrameSchema(columns, checks=checks, name=spec.name, strict=False, coerce=False)


def _check_with_pandera(
    spec: TableSpec, frame: pd.DataFrame, rules: Sequence[_Rule]
) -> dict[str, np.ndarray]:
    """Run ``rules`` through a lazy pandera validation and turn its failure cases into masks."""
    masks = {rule.reason: np.zeros(len(frame), dtype=bool) for rule in rules}
    try:
        _schema(spec, frame, rules).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        unexpected = cases[~cases["check"].isin(list(masks))]
        if not unexpected.empty:  # a dtype mismatch is a bug in the parse stage, not bad data
            raise RuntimeError(f"{spec.name}: parsed frame breaks its schema:\n{unexpected}") from exc
        for reason, rows in cases.groupby("check")["index"]:
            masks[str(reason)][rows.to_numpy(dtype=np.int64)] = True
    return masks


def _check_with_masks(frame: pd.DataFrame, rules: Sequence[_Rule]) -> dict[str, np.ndarray]:
    """Run ``rules`` as plain boolean masks (same semantics as the pandera engine)."""
    return {
        rule.reason: ~np.asarray(
            rule.passes(frame if rule.column is None else frame[rule.column]), dtype=bool
        )
        for rule in rules
    }


# ----------------------------------------------------------------------------------- per table


@dataclass
class _TableOutcome:
    data: pd.DataFrame  # valid rows, canonical
    report: TableReport
    quarantine: pd.DataFrame
    notes: list[str]
    customer_ids: pd.Series  # parsed customer_id of every row read, valid or not


def _normalise_headers(raw: pd.DataFrame, table: str, source: str | None) -> pd.DataFrame:
    """Column names as stripped strings; duplicated names are a contract error."""
    names = [str(name).strip().lstrip("\ufeff").strip() for name in raw.columns]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataContractError(
            f"{table}: duplicated column names: {', '.join(duplicated)}", file=source, column=duplicated[0]
        )
    return raw.set_axis(names, axis=1).reset_index(drop=True)


def _map_columns(
    raw: pd.DataFrame, spec: TableSpec, mapping: Mapping[str, str], source: str | None
) -> tuple[pd.DataFrame, tuple[str, ...], list[str]]:
    """Rename the user's columns to canonical names: (canonical frame, extra columns, notes)."""
    unknown = sorted(target for target in mapping.values() if target not in spec.names)
    if unknown:
        raise ConfigError(
            f"data.columns.{spec.name}: {', '.join(repr(u) for u in unknown)} is not a {spec.name} column "
            f"(known: {', '.join(spec.names)})"
        )
    notes = [
        f"{spec.name}: mapped column '{theirs}' not found in the table"
        for theirs in mapping
        if theirs not in raw.columns
    ]
    renamed = [mapping.get(name, name) for name in raw.columns]
    for target in spec.names:
        sources = [name for name, new in zip(raw.columns, renamed, strict=True) if new == target]
        if len(sources) > 1:
            raise DataContractError(
                f"{spec.name}: several columns map to {target}: {', '.join(sources)}",
                file=source,
                column=target,
            )
    extra = tuple(name for name, new in zip(raw.columns, renamed, strict=True) if new not in spec.names)
    canonical = raw.set_axis(renamed, axis=1)
    return canonical[[name for name in spec.names if name in canonical.columns]], extra, notes


def _require_columns(
    canonical: pd.DataFrame,
    raw: pd.DataFrame,
    spec: TableSpec,
    mapping: Mapping[str, str],
    source: str | None,
) -> None:
    """Raise when a required column is missing after mapping."""
    for col in spec.columns:
        if col.required and col.name not in canonical.columns:
            hint = (
                f" (mapping: {dict(mapping)})" if mapping else f"; map yours under data.columns.{spec.name}"
            )
            raise DataContractError(
                f"{_delimiter_hint(raw, source)}{spec.name}: required column {col.name} is missing; "
                f"columns found: {', '.join(raw.columns) or 'none'}{hint}",
                file=source,
                column=col.name,
            )


def _delimiter_hint(raw: pd.DataFrame, source: str | None) -> str:
    """When the header is one column holding a delimiter: the file is split by another one."""
    if len(raw.columns) != 1:
        return ""
    header = str(raw.columns[0])
    found = [d for d in (";", "\t", "|", ",") if d in header]
    if not found:
        return ""
    name = Path(source).name if source else "the file"
    shown = "tab" if found[0] == "\t" else repr(found[0])
    return (
        f"{name} looks {shown}-separated but was read as one column ({header!r}); save it "
        f"comma-separated, or check its quoting. "
    )


def _reason_labels(problems: Mapping[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(bad-row mask, reason string per bad row): all reasons of a row joined by '; '.

    Each row's reasons are packed into a bit code, so strings are built once per distinct
    combination rather than once per row.
    """
    reasons = [reason for reason, mask in problems.items() if mask.any()]
    codes = np.zeros(n, dtype=np.int64)
    for bit, reason in enumerate(reasons):
        codes |= problems[reason].astype(np.int64) << bit
    bad = codes != 0
    combos, inverse = np.unique(codes[bad], return_inverse=True)
    labels = np.array(
        ["; ".join(r for bit, r in enumerate(reasons) if int(combo) >> bit & 1) for combo in combos],
        dtype=object,
    )
    return bad, labels[inverse]


def _quarantine_rows(raw: pd.DataFrame, table: str, bad: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """The bad rows: table, 1-based row number, reason, then the raw values as strings."""
    positions = np.flatnonzero(bad)
    values = raw.iloc[positions].astype("str").reset_index(drop=True)
    values.columns = [f"{name}_raw" if name in QUARANTINE_COLUMNS else name for name in values.columns]
    head = pd.DataFrame(
        {
            "table": pd.Series([table] * len(positions), dtype="str"),
            "row_number": positions + 1,
            "reason": pd.Series(labels, dtype="str"),
        }
    )
    return pd.concat([head, values], axis=1)


def _table_notes(
    spec: TableSpec,
    parsed: pd.DataFrame,
    valid: pd.DataFrame,
    orphans_kept: int,
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """Notes on what degrades: an empty table, optional columns absent or without usable values."""
    labels = labels or {}
    if len(parsed) == 0:
        return [f"{spec.name} table is empty: {spec.left_out}"]
    if len(valid) == 0:
        return [f"{spec.name}: no valid rows: {spec.left_out}"]
    notes = []
    for col in spec.columns:
        if col.required:
            continue
        if col.name not in parsed.columns:
            notes.append(f"{spec.name}.{col.name} absent: {col.left_out}")
        elif not valid[col.name].notna().any():
            notes.append(f"{spec.name}.{labels.get(col.name, col.name)} has no usable values: {col.left_out}")
    if spec.name == t.INTERACTIONS:
        notes.extend(_type_notes(valid))
    if orphans_kept:
        notes.append(
            f"{spec.name}: {orphans_kept:,} rows with a customer_id absent from the customers table kept "
            "(orphan_policy: keep)"
        )
    return notes


def _type_notes(valid: pd.DataFrame) -> list[str]:
    """Note interaction types outside the known vocabulary (kept, but no feature reads them)."""
    counts = valid[t.INTERACTION_TYPE].value_counts()
    other = counts[~counts.index.isin(t.INTERACTION_TYPES)]
    if other.empty:
        return []
    listed = ", ".join(f"{kind} ({count:,})" for kind, count in other.head(5).items())
    more = f" and {len(other) - 5} more" if len(other) > 5 else ""
    return [f"interactions.type: unrecognised types kept: {listed}{more}"]


def _validate_table(
    raw: pd.DataFrame,
    spec: TableSpec,
    config: DataConfig,
    *,
    source: str | None,
    limit: pd.Timestamp,
    customer_ids: pd.Index | None,
    engine: Engine,
) -> _TableOutcome:
    """Map, parse, check and split one table into valid rows and quarantined rows."""
    raw = _normalise_headers(raw, spec.name, source)
    mapping = config.columns.for_table(spec.name)
    canonical, extra, notes = _map_columns(raw, spec, mapping, source)
    _require_columns(canonical, raw, spec, mapping, source)
    if extra:
        notes.append(f"{spec.name}: extra columns ignored: {', '.join(extra)}")

    named = _column_labels(mapping, list(raw.columns))
    parsed = _parse_table(canonical, spec, named)
    notes.extend(parsed.notes)
    quarantine_orphans = config.validation.orphan_policy == "quarantine"
    rules = _rules(spec, parsed.frame, limit, customer_ids if quarantine_orphans else None)
    if engine == "pandera":
        checked = _check_with_pandera(spec, parsed.frame, rules)
    else:
        _check_with_pandera(spec, parsed.frame, ())  # columns and canonical dtypes only
        checked = _check_with_masks(parsed.frame, rules)
    problems = {_relabel(reason, named): mask for reason, mask in {**parsed.problems, **checked}.items()}

    n = len(raw)
    bad, labels = _reason_labels(problems, n)
    valid = parsed.frame.loc[~bad].reset_index(drop=True) if bad.any() else parsed.frame
    orphans_kept = 0
    if customer_ids is not None and not quarantine_orphans:
        ids = valid[t.CUSTOMER_ID]
        orphans_kept = int((ids.notna() & ~ids.isin(customer_ids)).sum())
    counts = {reason: int(mask.sum()) for reason, mask in problems.items() if mask.any()}
    report = TableReport(
        table=spec.name,
        source=source,
        rows_read=n,
        rows_valid=len(valid),
        rows_quarantined=int(bad.sum()),
        reasons=dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
        columns=tuple(parsed.frame.columns),
        absent_columns=tuple(name for name in spec.names if name not in parsed.frame.columns),
        extra_columns=extra,
    )
    notes.extend(_table_notes(spec, parsed.frame, valid, orphans_kept, named))
    return _TableOutcome(
        data=valid,
        report=report,
        quarantine=_quarantine_rows(raw, spec.name, bad, labels),
        notes=notes,
        customer_ids=parsed.frame[t.CUSTOMER_ID],
    )


# ------------------------------------------------------------------------------------ top level


def resolve_reference_date(config: DataConfig, reference_date: date | None = None) -> date:
    """The 'today' of the future-date check: the argument, else the config's, else today."""
    if reference_date is not None:
        return reference_date
    configured = config.validation.reference_date
    if configured is None:
        return date.today()
    try:
        return date.fromisoformat(configured)
    except ValueError:
        raise ConfigError(
            f"data.validation.reference_date: expected YYYY-MM-DD, got {configured!r}"
        ) from None


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(dtype="int64" if name == "row_number" else "str") for name in QUARANTINE_COLUMNS}
    )


def _failure(reports: Mapping[str, TableReport], max_bad_share: float) -> tuple[str, TableReport] | None:
    """The failure message and the first offending table, or None when the data is usable."""
    over = [r for r in reports.values() if r.quarantined_share > max_bad_share]
    shipments = reports[t.SHIPMENTS]
    if not over and shipments.rows_valid > 0:
        return None
    parts = [
        f"{r.table}: {r.quarantined_share:.1%} of rows quarantined "
        f"({r.rows_quarantined:,} of {r.rows_read:,}), above max_bad_share {max_bad_share:.1%}; "
        f"top reasons: {r.top_reasons()}"
        for r in over
    ]
    if shipments.rows_valid == 0 and shipments not in over:
        parts.insert(
            0,
            f"no valid shipments left ({shipments.rows_read:,} read); top reasons: {shipments.top_reasons()}",
        )
    return "; ".join(parts), (over[0] if over else shipments)


def _reason_column(reason: str) -> str | None:
    """The column a reason is about (``volume: negative`` -> volume), if any."""
    if reason.startswith("duplicate "):
        return reason.removeprefix("duplicate ")
    if reason == ORPHAN:
        return t.CUSTOMER_ID
    if reason.startswith("orphan "):
        return reason.removeprefix("orphan ")
    head, sep, _ = reason.partition(":")
    return head if sep else None


def validate_tables(
    raw: Mapping[str, pd.DataFrame | None],
    config: DataConfig,
    *,
    reference_date: date | None = None,
    sources: Mapping[str, str] | None = None,
    engine: Engine = DEFAULT_ENGINE,
    read_notes: Sequence[str] = (),
) -> ValidationResult:
    """Validate raw tables against the contract: canonical data, a report and the quarantined rows.

    ``raw`` maps table names to frames (None or absent: the table is absent); ``sources`` maps
    them to file names for messages; ``read_notes`` (how the files were read) lead the notes.
    Raises :class:`~berth.errors.DataContractError` when a required table or column is missing,
    and :class:`TooManyBadRowsError` (carrying the result) when a table's quarantined share
    exceeds ``max_bad_share`` or no valid shipment is left.
    Inputs are never modified.
    """
    sources = dict(sources or {})
    unknown = sorted(set(raw) - set(t.TABLE_NAMES))
    if unknown:
        raise DataContractError(f"unknown tables: {', '.join(unknown)} (expected {', '.join(t.TABLE_NAMES)})")
    shipments_raw = raw.get(t.SHIPMENTS)
    if shipments_raw is None:
        raise DataContractError("the shipments table is required", file=sources.get(t.SHIPMENTS))
    if len(shipments_raw) == 0:
        raise DataContractError("the shipments table has no rows", file=sources.get(t.SHIPMENTS))

    today = resolve_reference_date(config, reference_date)
    limit = pd.Timestamp(today) + pd.Timedelta(days=config.validation.future_tolerance_days + 1)
    outcomes: dict[str, _TableOutcome] = {}
    customer_ids: pd.Index | None = None
    # customers first: their ids are what the orphan check of the other tables compares against
    for name in (t.CUSTOMERS, t.SHIPMENTS, t.INTERACTIONS):
        frame = raw.get(name)
        spec = CONTRACT[name]
        if frame is None:
            continue
        outcome = _validate_table(
            frame,
            spec,
            config,
            source=sources.get(name),
            limit=limit,
            customer_ids=customer_ids,
            engine=engine,
        )
        outcomes[name] = outcome
        if name == t.CUSTOMERS and outcome.report.rows_read > 0:
            # every id the customers table names counts, even on a row quarantined for another reason
            customer_ids = pd.Index(outcome.customer_ids.dropna().unique())

    reports: dict[str, TableReport] = {
        name: outcomes[name].report for name in t.TABLE_NAMES if name in outcomes
    }
    notes = tuple(read_notes) + tuple(
        note
        for name in t.TABLE_NAMES
        for note in (
            outcomes[name].notes if name in outcomes else [f"{name} table absent: {CONTRACT[name].left_out}"]
        )
    )
    report = ValidationReport(
        tables=reports, notes=notes, reference_date=today, max_bad_share=config.validation.max_bad_share
    )
    quarantines = [outcomes[name].quarantine for name in t.TABLE_NAMES if name in outcomes]
    non_empty = [q for q in quarantines if not q.empty]
    quarantine = pd.concat(non_empty, ignore_index=True) if non_empty else _empty_quarantine()

    def usable(name: str) -> pd.DataFrame | None:
        outcome = outcomes.get(name)
        return outcome.data if outcome is not None and outcome.report.rows_valid > 0 else None

    data = PortData(
        shipments=outcomes[t.SHIPMENTS].data,
        interactions=usable(t.INTERACTIONS),
        customers=usable(t.CUSTOMERS),
        notes=notes,
    )
    result = ValidationResult(data=data, report=report, quarantine=quarantine)
    failure = _failure(reports, config.validation.max_bad_share)
    if failure is not None:
        message, worst = failure
        top = next(iter(worst.reasons), "")
        raise TooManyBadRowsError(message, result=result, file=worst.source, column=_reason_column(top))
    return result
