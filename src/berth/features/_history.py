"""Columnar, sorted event arrays: the one input shape every feature and label builder reads.

Events are sorted by (customer code, day) and indexed by a composite int64 key, so the events of
customer ``k`` up to day ``d`` are the slice ``[start[k], searchsorted(key, k<<32 | d, 'right'))``:
two binary searches per customer and window after one sort, whether the history holds one customer
or ten million shipments (the compiled loops of :mod:`berth.features._kernels` walk those slices).
Days are integers since 1970-01-01.

Two constructors share everything below them: :meth:`HistoryArrays.from_port_data` (pandas, used
by training and batch scoring) and :meth:`HistoryArrays.from_columns` (plain Python columns, used
by the HTTP API to avoid building DataFrames per request).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute

from berth import tables as t
from berth.tables import PortData

_DAY_OFFSET = 1 << 31  # keeps day + offset positive inside the low 32 bits of the key
_SECONDS_PER_DAY = 86_400.0
_NAT_DAY = np.iinfo(np.int64).min  # what _days gives a missing date
_LOW_32 = np.int64((1 << 32) - 1)
_PARALLEL_MIN_EVENTS = 1_000_000
_LEXSORT_MAX_EVENTS = 512  # below this, lexsort beats packing (fixed cost ~20 µs)
_GATHER_THREADS = min(4, max(2, os.cpu_count() or 2))
# A plain column (HistoryArrays.from_columns): Python values, or an array of numbers or dates.
PlainColumn = Sequence[Any] | np.ndarray

# The columns features read; everything else in the tables (ids, channels, ...) is ignored.
INPUT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    t.SHIPMENTS: (
        t.CUSTOMER_ID,
        t.SHIPMENT_DATE,
        "volume",
        "revenue",
        "cost",
        "delay_hours",
        "damaged",
        "cargo_type",
        "lane",
    ),
    t.INTERACTIONS: (t.CUSTOMER_ID, t.TIMESTAMP, t.INTERACTION_TYPE, "score", "resolved_at", "sentiment"),
}

CONTACT_TYPES = ("call", "email", "inquiry")
_SENTIMENT_WORDS: Mapping[str, float] = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}
_FLAG_WORDS: Mapping[str, float] = {
    **dict.fromkeys(("true", "1", "1.0", "yes", "y"), 1.0),
    **dict.fromkeys(("false", "0", "0.0", "no", "n"), 0.0),
}
MEETING_TYPES = ("meeting",)
# Interaction kinds features count; contact types share a code (they are counted together).
_KIND_CODES: Mapping[str, int] = {
    "complaint": 0,
    "claim": 1,
    "survey": 2,
    **dict.fromkeys(CONTACT_TYPES, 3),
    **dict.fromkeys(MEETING_TYPES, 4),
    "loyalty_redemption": 5,
}


def date_to_day(value: date | datetime | np.datetime64 | str) -> int:
    """Integer day number (days since 1970-01-01) of a date-like value."""
    return int(np.datetime64(value, "D").astype(np.int64))  # type: ignore[call-overload]


def day_to_date(day: int) -> date:
    """Inverse of :func:`date_to_day`."""
    return date.fromisoformat(str(np.datetime64(int(day), "D")))


def _days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Floor datetimes to integer days; NaT becomes the int64 minimum (callers mask it)."""
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(pd.Series(values), format="ISO8601").to_numpy()
    return arr.astype("datetime64[D]").astype(np.int64)


def _seconds(values: pd.Series | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(pd.Series(values), format="ISO8601").to_numpy()
    out = arr.astype("datetime64[s]").astype(np.float64)
    out[np.isnat(arr)] = np.nan
    return out


def _float(frame: pd.DataFrame | None, column: str) -> np.ndarray | None:
    if frame is None or column not in frame.columns:
        return None
    # A present column counts even when empty: "present" must mean the same for a whole book
    # (pandas) and for one customer's request (plain columns), or training and serving diverge.
    column_values = frame[column]
    if column_values.dtype.kind != "f":  # a float column is already numbers (and costs no copy)
        column_values = pd.to_numeric(column_values, errors="coerce")
    return column_values.to_numpy(dtype=np.float64, na_value=np.nan)


def _flags(frame: pd.DataFrame | None, column: str) -> np.ndarray | None:
    """A 0/1 column as float32 (exact for 0, 1 and NaN; half the memory of float64)."""
    values = _bool_float(frame, column)
    return values.astype(np.float32) if values is not None else None


def _bool_float(frame: pd.DataFrame | None, column: str) -> np.ndarray | None:
    if frame is None or column not in frame.columns:
        return None
    col = frame[column]
    if col.dtype == bool or pd.api.types.is_numeric_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    mapped = col.astype("str").str.strip().str.lower().map(_FLAG_WORDS)
    return mapped.to_numpy(dtype=np.float64, na_value=np.nan)


def _sorted_events(code: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events sorted by (code, day), stable: the permutation and the sorted codes and days.

    When (code, day, position) packs into 64 bits, sorting the packed integers is about twice as
    fast as ``argsort`` (SIMD sort), and the sorted codes and days are read back from the packed
    values instead of gathered through the permutation; otherwise fall back to ``argsort``.
    """
    n = code.shape[0]
    if n <= _LEXSORT_MAX_EVENTS:
        order = np.lexsort((day, code))  # stable, like the packed sort; cheaper for a request's rows
        return order, code[order].astype(np.int64), day[order].astype(np.int64)
    day_min = int(day.min())
    bits_pos = max(int(n - 1).bit_length(), 1)
    bits_day = max(int(day.max()) - day_min, 1).bit_length()
    bits_code = max(int(code.max()), 1).bit_length()
    if bits_pos + bits_day + bits_code > 64:
        order = np.argsort((code.astype(np.int64) << 32) | (day + _DAY_OFFSET), kind="stable")
        return order, code[order].astype(np.int64), day[order].astype(np.int64)
    shift_code = np.uint64(bits_day + bits_pos)
    # Codes and day offsets are non-negative and every field stays below 2**63: views, not copies.
    packed = code.astype(np.int64, copy=False).view(np.uint64) << shift_code
    packed |= (day - day_min).view(np.uint64) << np.uint64(bits_pos)
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    order = (packed & np.uint64((1 << bits_pos) - 1)).view(np.int64)
    sorted_code = (packed >> shift_code).view(np.int64)
    sorted_day = ((packed >> np.uint64(bits_pos)) & np.uint64((1 << bits_day) - 1)).view(np.int64)
    sorted_day += day_min
    return order, sorted_code, sorted_day


def _not_known(days: np.ndarray, last_day: int | None) -> np.ndarray | None:
    """Mask of events after ``last_day`` or without a date; None when every event is known."""
    if last_day is None:
        return None
    unknown = (days > last_day) | (days == _NAT_DAY)
    return unknown if bool(unknown.any()) else None


def _ordered_key(code: np.ndarray, day: np.ndarray) -> np.ndarray | None:
    """The search keys of events already sorted by (code, day), None when they are not sorted; a
    short prefix rules most unsorted tables out cheaply (and is the whole check for a request's rows)."""
    n = code.shape[0]
    if n > 1_024:
        head = (code[:1_024] << 32) | (day[:1_024] + _DAY_OFFSET)
        if not bool((head[1:] >= head[:-1]).all()):
            return None
    key = (code << 32) | (day + _DAY_OFFSET)
    return key if bool((key[1:] >= key[:-1]).all()) else None


# A value column, or a function making it: made one at a time, so building a table of millions
# of events holds one column twice (source and sorted copy), not all of them.
ValueColumn = np.ndarray | Callable[[], np.ndarray | None] | None


@dataclass(frozen=True)
class EventTable:
    """Events of one kind, sorted by (customer code, day), with value columns aligned to them.

    Only the search key ``(code << 32) | (day + offset)`` is stored; ``code`` and ``day`` are read
    back from it (one int64 per event instead of three).
    """

    key: np.ndarray
    values: Mapping[str, np.ndarray]

    @property
    def code(self) -> np.ndarray:
        """Customer code of every event (computed from the key)."""
        return self.key >> 32

    @property
    def day(self) -> np.ndarray:
        """Day number of every event (computed from the key)."""
        return self.day_at(slice(None))

    def day_at(self, index: np.ndarray | slice) -> np.ndarray:
        """Day numbers of the events at ``index``."""
        return (self.key[index] & _LOW_32) - _DAY_OFFSET

    @classmethod
    def build(cls, code: np.ndarray, day: np.ndarray, values: Mapping[str, ValueColumn]) -> EventTable:
        """Sort events by (code, day) and build the search key (events with code −1 are dropped)."""
        coded = code >= 0
        keep = None if bool(coded.all()) else coded
        if keep is not None:
            code, day = code[keep], day[keep]
        code, day = code.astype(np.int64, copy=False), day.astype(np.int64, copy=False)
        order: np.ndarray | None = None
        # Already in order (one customer's request, a book exported by customer and date): a stable
        # sort would be the identity, so skip it and the gathers.
        in_order = _ordered_key(code, day)
        if in_order is not None:
            key = in_order
        else:
            order, sorted_code, sorted_day = _sorted_events(code, day)
            sorted_code <<= 32
            sorted_code |= sorted_day + _DAY_OFFSET
            key = sorted_code
            del sorted_day
        del code, day

        def aligned(column: ValueColumn) -> np.ndarray | None:
            made = column() if callable(column) else column
            if made is None:
                return None
            if keep is not None:
                made = made[keep]
            return np.take(made, order) if order is not None else made

        if key.shape[0] >= _PARALLEL_MIN_EVENTS and len(values) > 1:
            # Gathers through a random permutation are memory-latency bound and release the GIL:
            # two at a time take about half the time. (One request's few rows stay sequential.)
            with ThreadPoolExecutor(max_workers=_GATHER_THREADS) as pool:
                made_columns = dict(zip(values, pool.map(aligned, values.values()), strict=True))
        else:
            made_columns = {name: aligned(column) for name, column in values.items()}
        columns = {name: column for name, column in made_columns.items() if column is not None}
        return cls(key=key, values=columns)

    def __len__(self) -> int:
        return int(self.key.shape[0])

    def has(self, name: str) -> bool:
        """Whether the value column ``name`` is present."""
        return name in self.values

    def bounds(self, codes: np.ndarray, day: int | np.ndarray) -> np.ndarray:
        """Index one past the last event of each customer on or before ``day``."""
        probe = (codes.astype(np.int64) << 32) | (np.asarray(day, dtype=np.int64) + _DAY_OFFSET)
        return np.searchsorted(self.key, probe, side="right")

    def window_bounds(self, codes: np.ndarray, day: int, offsets: Sequence[int]) -> dict[int, np.ndarray]:
        """``bounds(codes, day - offset)`` for each offset, from one vectorised binary search."""
        unique = sorted(set(offsets))
        days = day - np.asarray(unique, dtype=np.int64)
        probe = (codes.astype(np.int64) << 32)[None, :] | (days + _DAY_OFFSET)[:, None]
        found = np.searchsorted(self.key, probe, side="right")
        return {offset: found[i] for i, offset in enumerate(unique)}

    def starts(self, codes: np.ndarray) -> np.ndarray:
        """Index of the first event of each customer."""
        return np.searchsorted(self.key, codes.astype(np.int64) << 32, side="left")


@dataclass(frozen=True)
class HistoryArrays:
    """All of the history needed for features and labels, as sorted numpy arrays."""

    customer_ids: np.ndarray  # object array of ids; position = customer code
    shipments: EventTable
    interactions: Mapping[str, EventTable]  # by kind: complaint, survey, claim, contact, ...
    resolutions: EventTable | None  # complaints by resolution day (for 'resolved by cutoff')
    profile: Mapping[str, np.ndarray]  # per customer code
    profile_categories: Mapping[str, np.ndarray]  # per customer code, object arrays (str or None)
    interaction_rows: int = 0

    @property
    def available(self) -> frozenset[str]:
        """The input columns (and tables) this history holds, whatever their values."""
        names = set(self.shipments.values) | set(self.profile) | set(self.profile_categories)
        if self.interactions:
            names.add("interactions")
            if self.interactions["survey"].has("score"):
                names.add("score")
            if "sentiment" in self.interactions:
                names.add("sentiment")
        if self.resolutions is not None:
            names.add("resolved_at")
        return frozenset(names)

    @property
    def n_customers(self) -> int:
        """Number of customers with at least one shipment."""
        return int(self.customer_ids.shape[0])

    @property
    def n_events(self) -> int:
        """Shipment and interaction rows the history was built from."""
        return len(self.shipments) + self.interaction_rows

    @classmethod
    def from_port_data(cls, data: PortData, *, known_until: date | None = None) -> HistoryArrays:
        """Build from validated canonical tables (training and batch scoring).

        With ``known_until``, only what was known at the end of that day: later shipments and
        interactions are left out and later complaint resolutions are unknown — the same history
        as from the tables filtered to that day, without copying them (training's peak memory).
        """
        ships = data.shipments
        inter = data.interactions
        n_ships = len(ships)
        ship_days = _days(ships[t.SHIPMENT_DATE])
        i_days = _days(inter[t.TIMESTAMP]) if inter is not None else np.empty(0, dtype=np.int64)
        last_day = date_to_day(known_until) if known_until is not None else None
        if inter is not None and len(inter):
            # One factorize over both tables: shipment ids come first, so shipping customers get
            # codes 0..k-1; cheaper than factorizing one table and looking the other up.
            all_codes, all_uniques = _factorize(ships[t.CUSTOMER_ID], inter[t.CUSTOMER_ID])
            codes = all_codes[:n_ships]
            inter_codes = all_codes[n_ships:]
        else:
            codes, all_uniques = _factorize(ships[t.CUSTOMER_ID])
            inter_codes = np.empty(0, dtype=np.int64)
        del_ship = _not_known(ship_days, last_day)
        if del_ship is not None:
            codes[del_ship] = -1
            # Codes again, in order of first appearance among the known shipments: exactly the
            # codes a factorize of the filtered tables would give (-1, a missing id, stays -1).
            known = codes >= 0
            known_codes, present = pd.factorize(codes[known])
            remap = np.full(len(all_uniques), -1, dtype=np.int64)
            remap[present] = np.arange(present.shape[0])
            codes[known] = known_codes
            inter_codes = np.where(inter_codes >= 0, remap[inter_codes], -1)
            uniques = all_uniques.take(present)
        else:
            uniques = all_uniques[: int(codes.max()) + 1 if n_ships else 0]
        inter_codes[inter_codes >= len(uniques)] = -1  # interactions of customers without shipments
        del_inter = _not_known(i_days, last_day)
        interaction_rows = 0 if inter is None else len(inter)
        if del_inter is not None:
            inter_codes[del_inter] = -1
            interaction_rows -= int(del_inter.sum())
        customer_ids = np.asarray(uniques, dtype=object)
        index = pd.Index(uniques)
        ship_values: dict[str, ValueColumn] = {
            name: partial(_float, ships, name) for name in ("volume", "revenue", "cost", "delay_hours")
        }
        ship_values["damaged"] = partial(_flags, ships, "damaged")
        for name in ("cargo_type", "lane"):
            if name in ships.columns:
                ship_values[name] = partial(_column_categories, ships[name])
        shipments = EventTable.build(codes, ship_days, ship_values)
        del codes, ship_days

        interactions: dict[str, EventTable] = {}
        resolutions: EventTable | None = None
        if inter is not None:
            i_codes = inter_codes
            kinds = _map_levels(inter[t.INTERACTION_TYPE], _kind_code, -1, np.int8)
            score = _float(inter, "score")
            sentiment = _sentiment(inter)
            opened = _seconds(inter[t.TIMESTAMP])
            resolved = _seconds(inter["resolved_at"]) if "resolved_at" in inter.columns else None
            if resolved is not None and last_day is not None:
                resolved[resolved >= (last_day + 1) * _SECONDS_PER_DAY] = np.nan  # not resolved yet
            interactions, resolutions = _split_interactions(
                i_codes, i_days, kinds, score, sentiment, opened, resolved
            )
        profile, profile_categories = _profile_from_frame(data.customers, index)
        return cls(
            customer_ids=customer_ids,
            shipments=shipments,
            interactions=interactions,
            resolutions=resolutions,
            profile=profile,
            profile_categories=profile_categories,
            interaction_rows=interaction_rows,
        )

    @classmethod
    def from_columns(cls, columns: Mapping[str, Mapping[str, PlainColumn]]) -> HistoryArrays:
        """Build from plain columns in canonical names (the HTTP API's already-validated input).

        A column is a list of Python values or a NumPy array (numbers as floats with NaN, dates
        as ``datetime64`` with NaT), which is taken as is. A row without a customer id is left
        out, as :meth:`from_port_data` leaves it out. No DataFrame is built: for one
        customer's few dozen rows, pandas construction alone would cost more than every feature.
        """
        ships = columns.get(t.SHIPMENTS) or {}
        codes, uniques = _levels(ships.get(t.CUSTOMER_ID, ()))
        customer_ids = np.array(uniques, dtype=object)
        days = _column_days(ships.get(t.SHIPMENT_DATE, ()))
        ship_values: dict[str, np.ndarray | None] = {
            name: _column_float(ships.get(name)) for name in ("volume", "revenue", "cost", "delay_hours")
        }
        damaged = _column_float(ships.get("damaged"))
        ship_values["damaged"] = damaged.astype(np.float32) if damaged is not None else None
        for name in ("cargo_type", "lane"):
            values = ships.get(name)
            if values is not None:
                ship_values[name] = _column_categories(values)
        shipments = EventTable.build(codes, days, ship_values)
        interactions: dict[str, EventTable] = {}
        resolutions: EventTable | None = None
        inter = columns.get(t.INTERACTIONS)
        if inter is not None:
            i_codes = _codes_among(uniques, inter.get(t.CUSTOMER_ID, ()))
            opened = _column_seconds(inter.get(t.TIMESTAMP, ()))
            kinds = _map_levels(list(inter.get(t.INTERACTION_TYPE, ())), _kind_code, -1, np.int8)
            score = _column_float(inter.get("score"))
            sentiment = _column_sentiment(inter.get("sentiment"))
            resolved = _column_seconds(inter["resolved_at"]) if "resolved_at" in inter else None
            interactions, resolutions = _split_interactions(
                i_codes,
                np.floor(opened / _SECONDS_PER_DAY).astype(np.int64),
                kinds,
                score,
                sentiment,
                opened,
                resolved,
            )
        profile_cols = columns.get(t.CUSTOMERS) or {}
        positions = _codes_among(uniques, profile_cols.get(t.CUSTOMER_ID, ()))
        profile, categories = _profile_from_arrays(
            {k: _object_array(v) for k, v in profile_cols.items()},
            positions,
            len(uniques),
        )
        return cls(
            customer_ids=customer_ids,
            shipments=shipments,
            interactions=interactions,
            resolutions=resolutions,
            profile=profile,
            profile_categories=categories,
            interaction_rows=len(inter.get(t.CUSTOMER_ID, ())) if inter is not None else 0,
        )


def _object_array(values: PlainColumn) -> np.ndarray:
    """A profile column as a NumPy array (an Arrow column's values as Python objects)."""
    if isinstance(values, np.ndarray):
        return values
    return np.asarray(values.to_pylist() if isinstance(values, pyarrow.Array) else list(values), dtype=object)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Below this many values a dict beats pandas' hash table (whose per-call cost is ~15 µs).
FACTORIZE_MIN_VALUES = 2_000


# numpy converts Python dates one by one through its datetime machinery (~2 µs each); ordinals and
# clock fields are 10-15x cheaper, which matters for 100k-row API batches.
def _naive_utc(value: Any) -> Any:
    """Zoned date-times in UTC without the zone (as numpy's conversion did); others unchanged."""
    zone = getattr(value, "tzinfo", None)
    return value if zone is None else value.astimezone(UTC).replace(tzinfo=None)


def _column_seconds(values: PlainColumn) -> np.ndarray:
    """Seconds since the epoch (whole seconds, as ``datetime64[s]``), NaN for None."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return _seconds(values)
    try:
        return np.array(
            [
                np.nan
                if v is None
                else (v.toordinal() - _EPOCH_ORDINAL) * _SECONDS_PER_DAY
                + v.hour * 3600
                + v.minute * 60
                + v.second
                for v in map(_naive_utc, values)
            ],
            dtype=np.float64,
        )
    except AttributeError:  # ISO strings or dates without a clock
        arr = np.array([None if v is None else v for v in values], dtype="datetime64[s]")
        out = arr.astype(np.float64)
        out[np.isnat(arr)] = np.nan
        return out


def _column_days(values: PlainColumn) -> np.ndarray:
    """Day numbers (dates and date-times floored to their day, zoned ones in UTC)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return _days(values)
    try:
        return np.array([v.toordinal() for v in map(_naive_utc, values)], dtype=np.int64) - _EPOCH_ORDINAL
    except AttributeError:  # ISO strings
        return np.array(list(values), dtype="datetime64[s]").astype("datetime64[D]").astype(np.int64)


def _column_float(values: PlainColumn | None) -> np.ndarray | None:
    if values is None:
        return None
    return np.asarray(values, dtype=np.float64)  # None becomes NaN, booleans 1.0 / 0.0


def _arrow_backed(values: pd.Series) -> bool:
    dtype = values.dtype
    return isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    )


def _factorize(*columns: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the columns end to end: int64 codes in order of first appearance
    (-1 for missing) and the distinct values as an object array.

    Arrow-backed columns (pandas' default strings) are encoded by Arrow directly, chunk by chunk:
    no concatenated copy, and about a quarter faster than going through pandas.
    """
    chunks: list[pyarrow.Array] = []
    if all(_arrow_backed(column) for column in columns):
        for column in columns:
            arrow = pyarrow.array(column)  # the column's own Arrow data, not a copy
            chunks.extend(arrow.chunks if isinstance(arrow, pyarrow.ChunkedArray) else [arrow])
    types = {chunk.type for chunk in chunks}
    plain_text = len(types) == 1 and any(
        check(chunks[0].type) for check in (pyarrow.types.is_string, pyarrow.types.is_large_string)
    )
    if not plain_text:  # object, categorical, mixed string types, dictionary chunks, no chunks
        joined = columns[0] if len(columns) == 1 else pd.concat(columns, ignore_index=True)
        codes, uniques = pd.factorize(joined)
        return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)
    encoded = pyarrow.chunked_array(chunks, type=chunks[0].type)
    encoded = encoded.dictionary_encode()
    codes = np.empty(len(encoded), dtype=np.int64)
    at = 0
    for chunk in encoded.chunks:
        codes[at : at + len(chunk)] = _arrow_codes(chunk.indices)
        at += len(chunk)
    if encoded.num_chunks == 0:  # Arrow drops empty chunks when encoding: nothing to name
        return codes, np.empty(0, dtype=object)
    return codes, encoded.chunk(0).dictionary.to_numpy(zero_copy_only=False).astype(object)


def _arrow_text(values: PlainColumn | Sequence[Any]) -> pyarrow.Array | None:
    """Plain values as an Arrow string array (None as null), or None unless every value is text or None.

    Arrow hashes the UTF-8 bytes; pandas hashes each Python string object, which msgspec creates
    anew for every JSON value, which is slower on API batches. An Arrow array (the API's columnar
    decoder hands text over so) is taken as it is.
    """
    if isinstance(values, pyarrow.Array):
        return values
    try:
        return pyarrow.array(values, type=pyarrow.string(), from_pandas=False)
    except (pyarrow.ArrowException, TypeError, ValueError, UnicodeError):  # numbers, NaN, lone surrogates
        return None


def _arrow_codes(indices: pyarrow.Array) -> np.ndarray:
    """int64 codes from Arrow indices, -1 for null."""
    if indices.null_count:
        indices = pyarrow.compute.fill_null(indices, -1)
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _levels(values: pd.Series | PlainColumn) -> tuple[np.ndarray, list[Any]]:
    """Codes of the distinct values in order of first appearance (-1 for None) and those values.

    ``pd.factorize`` for a pandas column or a long list; below :data:`FACTORIZE_MIN_VALUES`
    plain values, a dict, which costs less than pandas' call overhead.
    """
    if isinstance(values, pd.Series):
        codes, uniques = _factorize(values)
        return codes, list(uniques)
    if isinstance(values, pyarrow.Array) and len(values) < FACTORIZE_MIN_VALUES:
        return _levels(values.to_pylist())  # the dict path below, as for plain values
    if len(values) >= FACTORIZE_MIN_VALUES:
        text = _arrow_text(values)
        if text is not None:
            encoded = text.dictionary_encode()
            return _arrow_codes(encoded.indices), encoded.dictionary.to_pylist()
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        return codes, list(uniques)
    found: dict[Any, int] = {}
    codes = np.array([-1 if v is None else found.setdefault(v, len(found)) for v in values], dtype=np.int64)
    return codes, list(found)


def _codes_among(uniques: list[Any], values: PlainColumn) -> np.ndarray:
    """Position of each value in ``uniques`` (distinct values), -1 when absent."""
    if len(values) >= FACTORIZE_MIN_VALUES:
        text, known = _arrow_text(values), _arrow_text(uniques)
        if text is not None and known is not None:
            return _arrow_codes(pyarrow.compute.index_in(text, value_set=known))
        return pd.Index(uniques).get_indexer(np.asarray(values, dtype=object)).astype(np.int64, copy=False)
    if isinstance(values, pyarrow.Array):
        values = values.to_pylist()  # the dict below, as for plain values
    index = {value: i for i, value in enumerate(uniques)}
    return np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=len(values))


def _map_levels(
    values: pd.Series | Sequence[Any], convert: Callable[[Any], Any], missing: Any, dtype: Any
) -> np.ndarray:
    """``convert`` of every value, computed once per distinct value; ``missing`` for None."""
    codes, levels = _levels(values)
    return np.array([*(convert(level) for level in levels), missing], dtype=dtype)[codes]  # -1: missing


def _column_categories(values: pd.Series | PlainColumn) -> np.ndarray:
    """Integer codes of the distinct values in order of appearance, NaN for None (float32: exact
    below 2**24 levels, half the memory of float64)."""
    if isinstance(values, pyarrow.Array) and len(values) < FACTORIZE_MIN_VALUES:
        return _column_categories(values.to_pylist())
    if not isinstance(values, pd.Series) and len(values) < FACTORIZE_MIN_VALUES:
        found: dict[Any, int] = {}
        return np.array(
            [np.nan if v is None else found.setdefault(v, len(found)) for v in values], dtype=np.float32
        )
    codes = _levels(values)[0].astype(np.float32)
    codes[codes < 0] = np.nan
    return codes


def _kind_code(kind: Any) -> int:
    """An interaction kind (any case, padded) as its :data:`_KIND_CODES` code, -1 for the rest."""
    return _KIND_CODES.get(str(kind).strip().lower(), -1)


def _column_sentiment(values: PlainColumn | None) -> np.ndarray | None:
    if values is None:
        return None
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values.astype(np.float64, copy=False)
    out = np.array(
        [
            np.nan
            if v is None
            else (_SENTIMENT_WORDS.get(v.strip().lower(), np.nan) if isinstance(v, str) else float(v))
            for v in values
        ],
        dtype=np.float64,
    )
    return out


def _sentiment(inter: pd.DataFrame) -> np.ndarray | None:
    if "sentiment" not in inter.columns:
        return None
    col = inter["sentiment"]
    numeric = pd.to_numeric(col, errors="coerce")
    if numeric.notna().any():
        values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = (
            col.astype("str")
            .str.strip()
            .str.lower()
            .map(_SENTIMENT_WORDS)
            .to_numpy(dtype=np.float64, na_value=np.nan)
        )
    return values


def _split_interactions(
    codes: np.ndarray,
    days: np.ndarray,
    kind_code: np.ndarray,  # int8, from _kind_code
    score: np.ndarray | None,
    sentiment: np.ndarray | None,
    opened_s: np.ndarray,
    resolved_s: np.ndarray | None,
) -> tuple[dict[str, EventTable], EventTable | None]:
    # Timestamp order first: the (customer, day) sort keeps it within a day, so "the last survey
    # of the day" is the latest one, not the last row of the file. One sort of every interaction
    # then leaves each kind's rows already in order: their tables need no sort of their own.
    order = np.argsort(np.where(np.isnan(opened_s), -np.inf, opened_s), kind="stable")
    order = order[codes[order] >= 0]
    if order.shape[0]:
        by_customer, codes, days = _sorted_events(codes[order], days[order])
        order = order[by_customer]
    else:
        codes, days = codes[order], days[order]
    kind_code, opened_s = kind_code[order], opened_s[order]
    score = score[order] if score is not None else None
    sentiment = sentiment[order] if sentiment is not None else None
    resolved_s = resolved_s[order] if resolved_s is not None else None
    is_survey = kind_code == _KIND_CODES["survey"]
    groups = {
        "complaint": kind_code == _KIND_CODES["complaint"],
        "claim": kind_code == _KIND_CODES["claim"],
        "survey": is_survey if score is None else is_survey & np.isfinite(score),
        "contact": kind_code == _KIND_CODES["call"],  # every contact type shares one code
        "meeting": kind_code == _KIND_CODES["meeting"],
        "redemption": kind_code == _KIND_CODES["loyalty_redemption"],
    }
    # Every subset of events sorted by (code, day) is sorted too: each kind's table is the rows of
    # one key, masked (what EventTable.build would find, without its check and sort per kind).
    key = (codes << 32) | (days + _DAY_OFFSET)
    out: dict[str, EventTable] = {}
    for kind, mask in groups.items():
        values: dict[str, np.ndarray] = {}
        if kind == "survey" and score is not None:
            values["score"] = score[mask]
        out[kind] = EventTable(key=key[mask], values=values)
    if sentiment is not None:
        has = np.isfinite(sentiment)
        out["sentiment"] = EventTable(key=key[has], values={"sentiment": sentiment[has]})
    resolutions = None
    if resolved_s is not None:
        mask = groups["complaint"] & np.isfinite(resolved_s)
        resolution_days = (resolved_s[mask] - opened_s[mask]) / _SECONDS_PER_DAY
        resolved_day = np.floor(resolved_s[mask] / _SECONDS_PER_DAY).astype(np.int64)
        resolutions = EventTable.build(
            codes[mask], resolved_day, {"resolution_days": np.maximum(resolution_days, 0.0)}
        )
    return out, resolutions


def _profile_from_frame(
    customers: pd.DataFrame | None, index: pd.Index
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    if customers is None:
        return {}, {}
    positions = index.get_indexer(pd.Index(customers[t.CUSTOMER_ID]))
    arrays = {
        name: customers[name].astype(object).where(customers[name].notna(), None).to_numpy(dtype=object)
        for name in customers.columns
        if name != t.CUSTOMER_ID
    }
    if "since" in customers.columns:
        arrays["since"] = customers["since"].to_numpy()
    return _profile_from_arrays(arrays, positions, len(index))


# Profile yes/no columns also take t / f (shipment flags do not).
_TRUE = {word for word, flag in _FLAG_WORDS.items() if flag == 1.0} | {"t"}
_FALSE = {word for word, flag in _FLAG_WORDS.items() if flag == 0.0} | {"f"}


# Up to this many values, converting each one costs less than the NumPy calls that convert each
# distinct one once (a request's profile rows).
_CONVERT_EACH_MAX = 16


def _map_values(values: np.ndarray, convert: Callable[[Any], Any], missing: Any, dtype: Any) -> np.ndarray:
    """``convert`` of the text of every value (``missing`` for None / NaN), once per distinct text."""
    # By text: True, 1 and 1.0 stay distinct ("true", "1", "1.0"), as they would be one by one,
    # though Python (and so a dict or pd.factorize) holds them equal.
    text = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]
    if len(text) <= _CONVERT_EACH_MAX:
        return np.array([missing if v is None else convert(v) for v in text], dtype=dtype)
    return _map_levels(text, convert, missing, dtype)


def _bool_text(value: Any) -> float:
    text = str(value).strip().lower()
    return 1.0 if text in _TRUE else (0.0 if text in _FALSE else -1.0)


def _as_bool_float(values: np.ndarray) -> np.ndarray | None:
    """1/0 for boolean-like values, NaN for missing; None when the column is not boolean-like."""
    out = _map_values(values, _bool_text, np.nan, np.float64)
    return None if bool((out == -1.0).any()) else out


def _profile_from_arrays(
    columns: Mapping[str, np.ndarray], positions: np.ndarray, n_customers: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-customer profile arrays (numeric and categorical) scattered to customer codes."""
    numeric: dict[str, np.ndarray] = {}
    categories: dict[str, np.ndarray] = {}
    keep = positions >= 0
    # A request lists its profiles in customer order: every column is already where it belongs.
    in_place = positions.shape[0] == n_customers and bool((positions == np.arange(n_customers)).all())

    def scatter(values: np.ndarray, fill: Any) -> np.ndarray:
        if in_place:
            return values
        out = np.full(n_customers, fill, dtype=values.dtype)
        out[positions[keep]] = values[keep]
        return out

    since = columns.get("since")
    if since is not None:
        since_arr = np.array(since, dtype="datetime64[s]") if since.dtype.kind != "M" else since
        since_days = np.floor(since_arr.astype("datetime64[s]").astype(np.float64) / _SECONDS_PER_DAY)
        since_days[np.isnat(since_arr)] = np.nan
        numeric["since_day"] = scatter(since_days, np.nan)
    category_columns = ["segment", "credit_rating", "region"]
    for name in ("contract", "loyalty_member"):
        values = columns.get(name)
        if values is None:
            continue
        as_bool = _as_bool_float(values)
        if as_bool is not None:
            numeric[name] = scatter(as_bool, np.nan)
        # Also kept as text: whether a column is yes/no or categorical (contract = spot / annual)
        # is decided once, at training, from the whole book (see features._build.category_levels).
        category_columns.append(name)
    manager = columns.get("account_manager")
    if manager is not None:
        has = _map_values(manager, lambda v: float(str(v).strip() != ""), 0.0, np.float64)
        numeric["has_account_manager"] = scatter(has, np.nan)
    for name in category_columns:
        values = columns.get(name)
        if values is None:
            continue
        text = _map_values(values, lambda v: str(v).strip().lower(), None, object)
        categories[name] = scatter(text, None)
    return numeric, categories
