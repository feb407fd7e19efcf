"""The compiled scanner behind :mod:`berth.api.columnar`: JSON bytes of a scoring request → columns.

One pass over the bytes writes every value straight into preallocated arrays. It recognises only
the plain, valid form of the contract (:class:`berth.api.wire.ScoreRequest`): strings without
escapes, numbers it can convert exactly (at most 15 significant digits, a power of ten within
10^±22), dates ``YYYY-MM-DD``, date-times ``YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z|±HH:MM]``, every field
at most once. Anything else — invalid, out of range, or valid but spelled otherwise — stops the scan
with a negative status and the caller decodes the body the ordinary way, which serves it or words
the error. So this scanner must never accept what the contract refuses, and what it accepts must
come out exactly as msgspec decodes it (``tests/api/test_columnar.py`` checks both).

Numbers: a decimal with at most 15 significant digits is an integer below 2**53 times a power of
ten; for powers up to 10^22 (exact doubles) one IEEE multiplication or division is correctly
rounded, so the value is the nearest double, as msgspec's and Python's parsers give (Clinger's
fast path).
"""

from __future__ import annotations

import numpy as np

from berth._compile import jit

# Keys and words, each table one bytes string with offsets (numba reads them as constant arrays).


def word_table(words: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The words' UTF-8 bytes in one array and their offsets: word w is ``data[at[w]:at[w + 1]]``."""
    data = "".join(words).encode()
    offsets = np.cumsum([0, *(len(w.encode()) for w in words)]).astype(np.int64)
    return np.frombuffer(data, dtype=np.uint8).copy(), offsets


TOP_KEYS = ("as_of", "customers")
CUSTOMER_KEYS = ("customer_id", "shipments", "interactions", "profile")
# order = the columns of the float and span arrays below
SHIPMENT_KEYS = (
    "shipment_date",
    "volume",
    "revenue",
    "cost",
    "delay_hours",
    "damaged",
    "shipment_id",
    "cargo_type",
    "lane",
    "channel",
)
SHIPMENT_FLOATS = ("volume", "revenue", "cost", "delay_hours", "damaged")
SHIPMENT_TEXTS = ("shipment_id", "cargo_type", "lane", "channel")
INTERACTION_KEYS = ("timestamp", "resolved_at", "score", "sentiment", "type", "channel")
PROFILE_KEYS = (
    "since",
    "contract",
    "loyalty_member",
    "segment",
    "region",
    "credit_rating",
    "account_manager",
)
PROFILE_TEXTS = ("segment", "region", "credit_rating", "account_manager")
SENTIMENT_WORDS = ("positive", "neutral", "negative")
SENTIMENT_VALUES = np.array([1.0, 0.0, -1.0])

_TOP, _TOP_AT = word_table(TOP_KEYS)
_CUST, _CUST_AT = word_table(CUSTOMER_KEYS)
_SHIP, _SHIP_AT = word_table(SHIPMENT_KEYS)
_INTER, _INTER_AT = word_table(INTERACTION_KEYS)
_PROF, _PROF_AT = word_table(PROFILE_KEYS)
_SENT, _SENT_AT = word_table(SENTIMENT_WORDS)

_POW10 = np.array([10.0**k for k in range(23)])
# Days from 1970-01-01 to January 1st of each year 0..9999 (proleptic Gregorian), and from January
# 1st to the first of each month (row 1: leap years): a date is two look-ups, no division.
_YEAR_DAYS = np.concatenate(  # index 0 unused: year 0 is refused before the look-up
    [[0], np.arange(1, 10_000).astype("U4").astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)]
)
_MONTH_DAYS = np.array(
    [
        [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334],
        [0, 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335],
    ],
    dtype=np.int64,
)
_MAX_DIGITS = 15
_MAX_LABEL = 128
_NAT = np.iinfo(np.int64).min
_BAD_DAY = -(1 << 40)  # a day no date can be
_US_PER_DAY = 86_400_000_000

# The scanner's output arrays, one tuple (rows: customers, customers + 1 bounds, shipments,
# interactions; see columnar._scan_stretch for their shapes). The caller writes the last bound
# (the shipments and interactions scanned), which a paused scan cannot know to be the last.
OUTPUTS = (
    "customer_spans",
    "customer_flags",
    "customer_since",
    "shipment_starts",
    "interaction_starts",
    "shipment_dates",
    "shipment_floats",
    "shipment_spans",
    "interaction_times",
    "interaction_floats",
    "interaction_types",
    "interaction_spans",
)
Arrays = tuple[np.ndarray, ...]

OK = 0
DECLINED = -1  # not the plain valid form: decode the ordinary way
PAUSED = 1  # stopped, as asked, at a customer's start (scan's ``stop``)
MISSED = 2  # no customer starts at ``stop``: scan the body in one piece
NO_DAY = -(1 << 41)  # as_of not seen (yet)


@jit(nogil=True, _nrt=False)
def _ws(b: np.ndarray, i: int) -> int:
    n = b.shape[0]
    while i < n:
        c = b[i]
        if c == 32 or c == 10 or c == 13 or c == 9:
            i += 1
        else:
            break
    return i


@jit(nogil=True, _nrt=False)
def _string(b: np.ndarray, i: int) -> tuple[int, int, int, bool]:
    """(end, next, code points, holds DEL) of the string opening at ``b[i]``; end -1: declined.

    Valid UTF-8 only (no overlong forms, no surrogates, nothing above U+10FFFF); no escapes.
    """
    n = b.shape[0]
    if i >= n or b[i] != 34:
        return -1, i, 0, False
    j = i + 1
    points = 0
    has_del = False
    while j < n:
        c = b[j]
        if c == 34:
            return j, j + 1, points, has_del
        if c == 92 or c < 32:
            return -1, j, 0, False
        if c < 0x80:
            if c == 0x7F:
                has_del = True
            j += 1
        else:
            if 0xC2 <= c <= 0xDF:
                extra, low, high = 1, 0x80, 0xBF
            elif 0xE0 <= c <= 0xEF:
                extra = 2
                low = 0xA0 if c == 0xE0 else 0x80
                high = 0x9F if c == 0xED else 0xBF
            elif 0xF0 <= c <= 0xF4:
                extra = 3
                low = 0x90 if c == 0xF0 else 0x80
                high = 0x8F if c == 0xF4 else 0xBF
            else:
                return -1, j, 0, False
            if j + extra >= n:
                return -1, j, 0, False
            second = b[j + 1]
            if second < low or second > high:
                return -1, j, 0, False
            for k in range(2, extra + 1):
                if b[j + k] < 0x80 or b[j + k] > 0xBF:
                    return -1, j, 0, False
            j += extra + 1
        points += 1
    return -1, j, 0, False


@jit(nogil=True, _nrt=False)
def _word(b: np.ndarray, start: int, end: int, table: np.ndarray, at: np.ndarray) -> int:
    """Index of ``b[start:end]`` among the table's words, -1 if none."""
    size = end - start
    for w in range(at.shape[0] - 1):
        if at[w + 1] - at[w] != size:
            continue
        same = True
        for k in range(size):
            if b[start + k] != table[at[w] + k]:
                same = False
                break
        if same:
            return w
    return -1


@jit(nogil=True, _nrt=False)
def _null(b: np.ndarray, i: int) -> bool:
    return i + 4 <= b.shape[0] and b[i] == 110 and b[i + 1] == 117 and b[i + 2] == 108 and b[i + 3] == 108


@jit(nogil=True, _nrt=False)
def _bool(b: np.ndarray, i: int) -> tuple[float, int]:
    """(1.0 / 0.0, next) for true / false; next -1 otherwise."""
    n = b.shape[0]
    if i + 4 <= n and b[i] == 116 and b[i + 1] == 114 and b[i + 2] == 117 and b[i + 3] == 101:
        return 1.0, i + 4
    if (
        i + 5 <= n
        and b[i] == 102
        and b[i + 1] == 97
        and b[i + 2] == 108
        and b[i + 3] == 115
        and b[i + 4] == 101
    ):
        return 0.0, i + 5
    return 0.0, -1


@jit(nogil=True, _nrt=False)
def _number(b: np.ndarray, i: int, pow10: np.ndarray) -> tuple[float, int]:
    """(value, next) of the JSON number at ``b[i]``; next -1 when declined."""
    n = b.shape[0]
    negative = False
    if i < n and b[i] == 45:
        negative = True
        i += 1
    if i >= n:
        return 0.0, -1
    mantissa = 0
    digits = 0
    scale = 0
    c = b[i]
    if c == 48:
        i += 1
    elif 49 <= c <= 57:
        while i < n and 48 <= b[i] <= 57:
            mantissa = mantissa * 10 + (b[i] - 48)
            digits += 1
            i += 1
    else:
        return 0.0, -1
    fraction_or_exponent = False
    if i < n and b[i] == 46:
        fraction_or_exponent = True
        i += 1
        if i >= n or not 48 <= b[i] <= 57:
            return 0.0, -1
        while i < n and 48 <= b[i] <= 57:
            d = b[i] - 48
            if digits or d:
                digits += 1
            mantissa = mantissa * 10 + d
            scale -= 1
            i += 1
            if digits > 15 or scale < -40:
                return 0.0, -1
    if i < n and (b[i] == 101 or b[i] == 69):
        fraction_or_exponent = True
        i += 1
        sign = 1
        if i < n and (b[i] == 43 or b[i] == 45):
            sign = -1 if b[i] == 45 else 1
            i += 1
        if i >= n or not 48 <= b[i] <= 57:
            return 0.0, -1
        exponent = 0
        while i < n and 48 <= b[i] <= 57:
            exponent = exponent * 10 + (b[i] - 48)
            if exponent > 400:
                return 0.0, -1
            i += 1
        scale += sign * exponent
    if digits > 15:
        return 0.0, -1
    if mantissa == 0:
        if not fraction_or_exponent:
            return 0.0, i  # the integer -0 is 0, as msgspec reads it (-0.0 and -0e0 keep the sign)
        value = 0.0
    elif 0 <= scale <= 22:
        value = float(mantissa) * pow10[scale]
    elif -22 <= scale < 0:
        value = float(mantissa) / pow10[-scale]
    else:
        return 0.0, -1
    return (-value if negative else value), i


@jit(nogil=True, _nrt=False)
def _digits(b: np.ndarray, i: int, count: int) -> int:
    """The number written by ``count`` ASCII digits at ``b[i]``, -1 if any is not a digit."""
    value = 0
    for k in range(count):
        c = b[i + k]
        if c < 48 or c > 57:
            return -1
        value = value * 10 + (c - 48)
    return value


@jit(nogil=True, _nrt=False)
def _date_at(b: np.ndarray, i: int) -> int:
    """Days since the epoch of ``YYYY-MM-DD`` at ``b[i]`` (10 bytes, caller checked), -1 << 40 if not."""
    bad = _BAD_DAY
    if b[i + 4] != 45 or b[i + 7] != 45:
        return bad
    year, month, day = _digits(b, i, 4), _digits(b, i + 5, 2), _digits(b, i + 8, 2)
    if year < 1 or month < 1 or month > 12 or day < 1:
        return bad
    leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
    last = 31
    if month == 2:
        last = 29 if leap else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        last = 30
    if day > last:
        return bad
    return _YEAR_DAYS[year] + _MONTH_DAYS[1 if leap else 0, month] + day - 1


@jit(nogil=True, _nrt=False)
def _date(b: np.ndarray, start: int, end: int, low: int, high: int) -> int:
    """Days of a date string ``b[start:end]`` within [low, high]; ``_BAD_DAY`` when declined."""
    if end - start != 10:
        return _BAD_DAY
    day = _date_at(b, start)
    if day < low or day > high:
        return _BAD_DAY
    return day


@jit(nogil=True, _nrt=False)
def _datetime(b: np.ndarray, start: int, end: int, low: int, high: int) -> int:
    """Naive-UTC microseconds since the epoch of a date-time string, within [low, high]; NaT if declined."""
    nat = _NAT
    if end - start < 19 or b[start + 10] != 84 or b[start + 13] != 58 or b[start + 16] != 58:
        return nat
    day = _date_at(b, start)
    if day == _BAD_DAY:
        return nat
    hour, minute, second = _digits(b, start + 11, 2), _digits(b, start + 14, 2), _digits(b, start + 17, 2)
    if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59:
        return nat
    i = start + 19
    micro = 0
    if i < end and b[i] == 46:
        i += 1
        count = 0
        while i < end and 48 <= b[i] <= 57:
            if count == 6:
                return nat
            micro = micro * 10 + (b[i] - 48)
            count += 1
            i += 1
        if count == 0:
            return nat
        for _ in range(6 - count):
            micro *= 10
    offset = 0
    if i < end:
        c = b[i]
        if c == 90 and i + 1 == end:  # Z
            i += 1
        elif (c == 43 or c == 45) and end - i == 6 and b[i + 3] == 58:
            oh, om = _digits(b, i + 1, 2), _digits(b, i + 4, 2)
            if oh < 0 or oh > 23 or om < 0 or om > 59:
                return nat
            offset = (oh * 60 + om) * 60_000_000
            if c == 45:
                offset = -offset
            i = end
        else:
            return nat
    value = day * 86_400_000_000 + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micro - offset
    if value < low or value > high:
        return nat
    return value


@jit(nogil=True, _nrt=False)
def _text(b: np.ndarray, i: int, spans: np.ndarray, row: int, col: int) -> int:
    """A label (1–128 code points) or null at ``b[i]`` into ``spans[row, 2col:2col+2]``; -1 if declined."""
    if _null(b, i):
        spans[row, 2 * col] = -1
        spans[row, 2 * col + 1] = -1
        return i + 4
    end, after, points, _ = _string(b, i)
    if end < 0 or points < 1 or points > 128:
        return -1
    spans[row, 2 * col] = i + 1
    spans[row, 2 * col + 1] = end
    return after


@jit(nogil=True, _nrt=False)
def _float_or_null(b: np.ndarray, i: int, pow10: np.ndarray, low: float, high: float) -> tuple[float, int]:
    """A number within [low, high] or null (NaN) at ``b[i]``; next -1 if declined."""
    if _null(b, i):
        return np.nan, i + 4
    value, after = _number(b, i, pow10)
    if after < 0 or not low <= value <= high:
        return 0.0, -1
    return value, after


@jit(nogil=True, _nrt=False)
def _bool_or_null(b: np.ndarray, i: int) -> tuple[float, int]:
    if _null(b, i):
        return np.nan, i + 4
    return _bool(b, i)


@jit(nogil=True, _nrt=False)
def _key(b: np.ndarray, i: int, table: np.ndarray, at: np.ndarray, expected: int) -> tuple[int, int]:
    """(key index, position after the colon) of an object key at ``b[i]``; index -1 if unknown.

    Writers emit the keys of every record in one order, so the key after ``expected - 1`` is tried
    first, byte for byte; only then is the table searched.
    """
    n = b.shape[0]
    if i >= n or b[i] != 34:
        return -1, i
    found = -1
    end = -1
    if expected < at.shape[0] - 1:
        start, size = at[expected], at[expected + 1] - at[expected]
        end = i + 1 + size
        if end < n and b[end] == 34:
            for k in range(size):
                if b[i + 1 + k] != table[start + k]:
                    end = -1
                    break
            if end >= 0:
                found = expected
        else:
            end = -1
    if found < 0:
        end, _, _, _ = _string(b, i)
        if end < 0:
            return -1, i
        found = _word(b, i + 1, end, table, at)
    after = _ws(b, end + 1)
    if after >= n or b[after] != 58:
        return -1, i
    return found, _ws(b, after + 1)


_CUSTOMER_ROW, _SHIPMENT_ROW, _INTERACTION_ROW, _PROFILE_ROW = 0, 1, 2, 3
FOLLOW_SHAPE = (4, 12)  # record kinds × (keys + 1)


_FOLLOW = np.tile(np.arange(FOLLOW_SHAPE[1], dtype=np.int64), (FOLLOW_SHAPE[0], 1))


def new_follow() -> np.ndarray:
    """Scratch for :func:`_next_key`: at first, every key is expected after the one declared before it."""
    return _FOLLOW.copy()


@jit(nogil=True, _nrt=False)
def _next_key(
    b: np.ndarray, i: int, table: np.ndarray, at: np.ndarray, follow: np.ndarray, kind: int, previous: int
) -> tuple[int, int]:
    """:func:`_key` expecting the key that followed ``previous`` last time in a record of this kind.

    A client writes the keys of its records in one order, whatever order that is: after the first
    record, every key is found at the first comparison.
    """
    expected = follow[kind, previous + 1]
    found, i = _key(b, i, table, at, expected)
    if found >= 0 and found != expected:
        follow[kind, previous + 1] = found
    return found, i


@jit(nogil=True, _nrt=False)
def _quoted(b: np.ndarray, i: int, longest: int) -> int:
    """End (the closing quote) of a short string at ``b[i]`` of at most ``longest`` bytes, -1 if none.

    Only for dates and date-times, whose parsers accept nothing but digits and separators: the
    content needs no further check here.
    """
    n = b.shape[0]
    if i >= n or b[i] != 34:
        return -1
    j = i + 1
    stop = min(n, i + 2 + longest)
    while j < stop:
        if b[j] == 34:
            return j
        j += 1
    return -1


@jit(nogil=True, _nrt=False)
def _after_member(b: np.ndarray, i: int, close: int) -> tuple[int, bool]:
    """After a member or element: (position of the next one, True) after a comma, (after ``close``,
    False) at the end, (-1, False) otherwise."""
    i = _ws(b, i)
    if i >= b.shape[0]:
        return -1, False
    if b[i] == 44:
        return _ws(b, i + 1), True
    if b[i] == close:
        return i + 1, False
    return -1, False


@jit(nogil=True, _nrt=False)
def _shipment(
    b: np.ndarray,
    i: int,
    r: int,
    dates: np.ndarray,
    floats: np.ndarray,
    spans: np.ndarray,
    low: int,
    high: int,
    follow: np.ndarray,
) -> int:
    """One shipment object at ``b[i]`` into row ``r``; the position after it, -1 if declined."""
    n = b.shape[0]
    if i >= n or b[i] != 123:
        return -1
    for k in range(floats.shape[1]):
        floats[r, k] = np.nan
    for k in range(spans.shape[1]):
        spans[r, k] = -1
    i = _ws(b, i + 1)
    fields = 0
    field = -1
    more = i < n and b[i] != 125  # {} lacks the date
    while more:
        field, i = _next_key(b, i, _SHIP, _SHIP_AT, follow, _SHIPMENT_ROW, field)
        if field < 0 or fields & (1 << field):
            return -1
        fields |= 1 << field
        if field == 0:
            end = _quoted(b, i, 10)
            day = _date(b, i + 1, end, low, high) if end >= 0 else _BAD_DAY
            if day == _BAD_DAY:
                return -1
            dates[r] = day
            i = end + 1
        elif field <= 4:  # amounts
            value, i = _float_or_null(b, i, _POW10, 0.0, np.inf)
            floats[r, field - 1] = value
        elif field == 5:  # damaged
            value, i = _bool_or_null(b, i)
            floats[r, 4] = value
        else:
            i = _text(b, i, spans, r, field - 6)
        if i < 0:
            return -1
        i, more = _after_member(b, i, 125)
        if i < 0:
            return -1
    return i if fields & 1 else -1


@jit(nogil=True, _nrt=False)
def _interaction(
    b: np.ndarray,
    i: int,
    r: int,
    times: np.ndarray,
    floats: np.ndarray,
    types: np.ndarray,
    spans: np.ndarray,
    kinds: np.ndarray,
    kinds_at: np.ndarray,
    low: int,
    high: int,
    follow: np.ndarray,
) -> int:
    """One interaction object at ``b[i]`` into row ``r``; the position after it, -1 if declined."""
    n = b.shape[0]
    if i >= n or b[i] != 123:
        return -1
    times[r, 1] = _NAT
    floats[r, 0] = np.nan
    floats[r, 1] = np.nan
    spans[r, 0] = -1
    spans[r, 1] = -1
    i = _ws(b, i + 1)
    fields = 0
    field = -1
    more = i < n and b[i] != 125  # {} lacks the timestamp and type
    while more:
        field, i = _next_key(b, i, _INTER, _INTER_AT, follow, _INTERACTION_ROW, field)
        if field < 0 or fields & (1 << field):
            return -1
        fields |= 1 << field
        if field <= 1:  # timestamp / resolved_at
            if field == 1 and _null(b, i):
                i += 4
            else:
                end = _quoted(b, i, 32)
                value_us = _datetime(b, i + 1, end, low, high) if end >= 0 else _NAT
                if value_us == _NAT:
                    return -1
                times[r, field] = value_us
                i = end + 1
        elif field == 2:  # score
            value, i = _float_or_null(b, i, _POW10, 0.0, 10.0)
            floats[r, 0] = value
        elif field == 3:  # sentiment: a number, a word or null
            if i < n and b[i] == 34:
                end, after, _, _ = _string(b, i)
                word = _word(b, i + 1, end, _SENT, _SENT_AT) if end >= 0 else -1
                if word < 0:
                    return -1
                floats[r, 1] = SENTIMENT_VALUES[word]
                i = after
            else:
                value, i = _float_or_null(b, i, _POW10, -1.0, 1.0)
                floats[r, 1] = value
        elif field == 4:  # type
            end, after, _, _ = _string(b, i)
            kind = _word(b, i + 1, end, kinds, kinds_at) if end >= 0 else -1
            if kind < 0:
                return -1
            types[r] = kind
            i = after
        else:
            i = _text(b, i, spans, r, 0)
        if i < 0:
            return -1
        i, more = _after_member(b, i, 125)
        if i < 0:
            return -1
    return i if fields & 0b10001 == 0b10001 else -1


@jit(nogil=True, _nrt=False)
def _profile(
    b: np.ndarray,
    i: int,
    c: int,
    spans: np.ndarray,
    flags: np.ndarray,
    since: np.ndarray,
    low: int,
    high: int,
    follow: np.ndarray,
) -> int:
    """The profile object at ``b[i]`` into customer row ``c``; the position after it, -1 if declined."""
    n = b.shape[0]
    if i >= n or b[i] != 123:
        return -1
    i = _ws(b, i + 1)
    if i < n and b[i] == 125:
        return i + 1
    fields = 0
    field = -1
    more = True
    while more:
        field, i = _next_key(b, i, _PROF, _PROF_AT, follow, _PROFILE_ROW, field)
        if field < 0 or fields & (1 << field):
            return -1
        fields |= 1 << field
        if field == 0:  # since
            if _null(b, i):
                i += 4
            else:
                end, after, _, _ = _string(b, i)
                day = _date(b, i + 1, end, low, high) if end >= 0 else _BAD_DAY
                if day == _BAD_DAY:
                    return -1
                since[c] = day
                i = after
        elif field <= 2:  # contract, loyalty_member
            value, i = _bool_or_null(b, i)
            flags[c, field - 1] = value
        else:
            i = _text(b, i, spans, c, field - 2)
        if i < 0:
            return -1
        i, more = _after_member(b, i, 125)
        if i < 0:
            return -1
    return i


@jit(nogil=True, _nrt=False)
def _customer_list(
    b: np.ndarray,
    i: int,
    stop: int,
    limits: np.ndarray,
    out: Arrays,
    kinds: np.ndarray,
    kinds_at: np.ndarray,
    follow: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """(status, position, customers, shipments, interactions) of the customer objects from ``i``
    (a customer's ``{``) to the list's ``]`` (position: after it). With ``stop`` > 0 the list must
    reach a customer that starts exactly at ``stop``: status :data:`PAUSED`, position ``stop``;
    :data:`MISSED` when a customer starts past it."""
    (
        customer_spans,
        customer_flags,
        customer_since,
        shipment_starts,
        interaction_starts,
        shipment_dates,
        shipment_floats,
        shipment_spans,
        interaction_times,
        interaction_floats,
        interaction_types,
        interaction_spans,
    ) = out
    n = b.shape[0]
    low_day, high_day, low_us, high_us = limits[0], limits[1], limits[2], limits[3]
    ships = 0
    inters = 0
    customers = 0
    in_list = True
    while in_list:
        c = customers
        if stop > 0 and i >= stop:
            return (PAUSED if i == stop and c > 0 else MISSED), i, customers, ships, inters
        if c >= customer_spans.shape[0] or i >= n or b[i] != 123:
            return DECLINED, i, 0, 0, 0
        for k in range(customer_spans.shape[1]):
            customer_spans[c, k] = -1
        customer_flags[c, 0] = np.nan
        customer_flags[c, 1] = np.nan
        customer_since[c] = _NAT
        shipment_starts[c] = ships
        interaction_starts[c] = inters
        seen = 0
        field = -1
        i = _ws(b, i + 1)
        members = i < n and b[i] != 125
        while members:
            field, i = _next_key(b, i, _CUST, _CUST_AT, follow, _CUSTOMER_ROW, field)
            if field < 0 or seen & (1 << field):
                return DECLINED, i, 0, 0, 0
            seen |= 1 << field
            if field == 0:  # customer_id: 1-128 code points, no control characters
                end, after, points, has_del = _string(b, i)
                if end < 0 or points < 1 or points > _MAX_LABEL or has_del:
                    return DECLINED, i, 0, 0, 0
                customer_spans[c, 0] = i + 1
                customer_spans[c, 1] = end
                i = after
            elif field == 3:  # profile
                i = _profile(
                    b, i, c, customer_spans, customer_flags, customer_since, low_day, high_day, follow
                )
            else:  # shipments (at least one) / interactions
                if i >= n or b[i] != 91:
                    return DECLINED, i, 0, 0, 0
                i = _ws(b, i + 1)
                elements = i < n and b[i] != 93
                if not elements:
                    if field == 1:
                        return DECLINED, i, 0, 0, 0
                    i += 1
                while elements:
                    if field == 1:
                        if ships >= shipment_dates.shape[0]:
                            return DECLINED, i, 0, 0, 0
                        i = _shipment(
                            b,
                            i,
                            ships,
                            shipment_dates,
                            shipment_floats,
                            shipment_spans,
                            low_day,
                            high_day,
                            follow,
                        )
                        ships += 1
                    else:
                        if inters >= interaction_types.shape[0]:
                            return DECLINED, i, 0, 0, 0
                        i = _interaction(
                            b,
                            i,
                            inters,
                            interaction_times,
                            interaction_floats,
                            interaction_types,
                            interaction_spans,
                            kinds,
                            kinds_at,
                            low_us,
                            high_us,
                            follow,
                        )
                        inters += 1
                    if i < 0:
                        return DECLINED, i, 0, 0, 0
                    i, elements = _after_member(b, i, 93)
                    if i < 0:
                        return DECLINED, i, 0, 0, 0
            if i < 0:
                return DECLINED, i, 0, 0, 0
            i, members = _after_member(b, i, 125)
            if i < 0:
                return DECLINED, i, 0, 0, 0
        if seen & 0b11 != 0b11:  # customer_id and shipments are required
            return DECLINED, i, 0, 0, 0
        customers += 1
        i, in_list = _after_member(b, i, 93)
        if i < 0:
            return DECLINED, i, 0, 0, 0
    return OK, i, customers, ships, inters


@jit(nogil=True, _nrt=False)
def scan(
    b: np.ndarray,
    start: int,
    stop: int,
    limits: np.ndarray,
    out: Arrays,
    kinds: np.ndarray,
    kinds_at: np.ndarray,
    follow: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """(status, as_of day, customers, shipments, interactions) of the request in ``b``.

    ``limits``: [min day, max day, min µs, max µs]; ``out``: the output arrays, in the order of
    :data:`OUTPUTS`; ``follow``: scratch for :func:`_next_key`, one
    row per record kind. Arrays are filled row by row; spans are
    (start, end) byte offsets of a string's content, -1 for null or absent; floats NaN for null or
    absent; ``customer_flags`` holds contract and loyalty_member. Status :data:`DECLINED` (-1): the
    body is not in the plain valid form (see the module doc).

    Two threads can share a large body (:func:`berth.api.columnar.decode_columns`): one scans from
    the start with ``stop``, the ``{`` of a customer, and pauses there (:data:`PAUSED`); the other
    scans with ``start`` = that position, continuing the customer list and the rest of the body.
    as_of is then found by one of them (day :data:`NO_DAY` from the other). Otherwise ``start`` and
    ``stop`` are 0.
    """
    declined = (DECLINED, 0, 0, 0, 0)
    n = b.shape[0]
    customers = ships = inters = 0
    as_of = NO_DAY
    if start == 0:
        i = _ws(b, 0)
        if i >= n or b[i] != 123:
            return declined
        i = _ws(b, i + 1)
    else:
        i = start  # inside the customer list already
    seen_customers = in_list = start > 0
    more = True
    while more:
        if in_list:
            status, i, customers, ships, inters = _customer_list(
                b,
                i,
                stop,
                limits,
                out,
                kinds,
                kinds_at,
                follow,
            )
            if status in (PAUSED, MISSED):
                return status, as_of, customers, ships, inters
            if status != OK or customers == 0:
                return declined
            in_list = False
        else:
            key, i = _key(b, i, _TOP, _TOP_AT, 0)
            if key == 0:  # as_of
                end, after, _, _ = _string(b, i)
                if as_of != NO_DAY or end < 0:
                    return declined
                as_of = _date(b, i + 1, end, limits[0], limits[1])
                if as_of == _BAD_DAY:
                    return declined
                i = after
            elif key == 1:  # customers
                if seen_customers or i >= n or b[i] != 91:
                    return declined
                seen_customers = in_list = True
                i = _ws(b, i + 1)
                continue
            else:
                return declined
        i, more = _after_member(b, i, 125)
        if i < 0:
            return declined
    if _ws(b, i) != n or not seen_customers or (start == 0 and as_of == NO_DAY):
        return declined
    return OK, as_of, customers, ships, inters


@jit(nogil=True, _nrt=False)
def _text_bytes(spans: np.ndarray, totals: np.ndarray, column: int) -> int:
    """Add the bytes of each text column of one table to ``totals`` from ``column`` on (a (start,
    end) pair per column in each row, start -1 for null); return the nulls."""
    nulls = 0
    for r in range(spans.shape[0]):
        for k in range(spans.shape[1] // 2):
            start = spans[r, 2 * k]
            if start < 0:
                nulls += 1
            else:
                totals[column + k] += spans[r, 2 * k + 1] - start
    return nulls


@jit(nogil=True, _nrt=False)
def _gather(
    b: np.ndarray,
    spans: np.ndarray,
    first: int,
    cursors: np.ndarray,
    column: int,
    offsets: np.ndarray,
    valid: np.ndarray,
    data: np.ndarray,
) -> None:
    """Copy one table's text spans into the buffers of an Arrow string array.

    Text column ``k`` of row ``r`` is array row ``first + k * rows + r``: its offset, validity and
    bytes go to ``offsets``, ``valid`` and ``data`` at ``cursors[column + k]``, which moves on by
    its size. Rows are walked in body order, so the bytes of one record are read together: column
    by column, every row would be a cache miss on a large body.
    """
    rows = spans.shape[0]
    for r in range(rows):
        for k in range(spans.shape[1] // 2):
            start = spans[r, 2 * k]
            row = first + k * rows + r
            at = cursors[column + k]
            offsets[row] = at
            valid[row] = start >= 0
            if start >= 0:
                size = spans[r, 2 * k + 1] - start
                for j in range(size):
                    data[at + j] = b[start + j]
                cursors[column + k] = at + size


@jit(nogil=True)
def text_array(
    b: np.ndarray, customer_spans: np.ndarray, shipment_spans: np.ndarray, interaction_spans: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(offsets, validity, bytes, nulls) of an Arrow string array of the three tables' text spans
    (a (start, end) pair per text column in each row, start -1 for null): column after column,
    the customers' first, then the shipments', then the interactions'."""
    c_width, s_width = customer_spans.shape[1] // 2, shipment_spans.shape[1] // 2
    width = c_width + s_width + interaction_spans.shape[1] // 2
    c_rows, s_rows = customer_spans.size // 2, shipment_spans.size // 2
    rows = c_rows + s_rows + interaction_spans.size // 2
    totals = np.zeros(width, dtype=np.int64)
    nulls = _text_bytes(customer_spans, totals, 0)
    nulls += _text_bytes(shipment_spans, totals, c_width)
    nulls += _text_bytes(interaction_spans, totals, c_width + s_width)
    cursors = np.empty(width, dtype=np.int64)
    size = 0
    for k in range(width):
        cursors[k] = size
        size += totals[k]
    offsets = np.empty(rows + 1, dtype=np.int32)  # bodies are far below 2 GiB
    offsets[rows] = size
    valid = np.empty(rows, dtype=np.bool_)
    data = np.empty(size, dtype=np.uint8)
    _gather(b, customer_spans, 0, cursors, 0, offsets, valid, data)
    _gather(b, shipment_spans, c_rows, cursors, c_width, offsets, valid, data)
    _gather(b, interaction_spans, c_rows + s_rows, cursors, c_width + s_width, offsets, valid, data)
    return offsets, valid, data, nulls
