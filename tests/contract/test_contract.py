"""The data contract: every class of bad input is caught, counted and quarantined with its reason."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from berth.config import ColumnMapping, DataConfig
from berth.contract import TooManyBadRowsError, validate_tables
from berth.errors import ConfigError, DataContractError

from ._helpers import REFERENCE, assert_counted, lenient, run, strings

HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def reasons_of(result_quarantine: pd.DataFrame, table: str = "shipments") -> dict[int, set[str]]:
    """Quarantine reasons by 1-based row number."""
    rows = result_quarantine[result_quarantine["table"] == table]
    return {int(n): set(r.split("; ")) for n, r in zip(rows["row_number"], rows["reason"], strict=True)}


# ----------------------------------------------------------------------------- clean input


def test_clean_tables_load_in_canonical_form(
    shipments: pd.DataFrame, interactions: pd.DataFrame, customers: pd.DataFrame
) -> None:
    result = run({"shipments": shipments, "interactions": interactions, "customers": customers})

    assert result.quarantine.empty
    assert_counted(result)
    ships = result.data.shipments
    assert ships["customer_id"].tolist() == ["C1", "C2", "C1"]
    assert ships["customer_id"].dtype == "str"
    assert ships["shipment_date"].dtype == "datetime64[us]"
    for column in ("volume", "revenue", "cost", "delay_hours", "damaged"):
        assert ships[column].dtype == np.float64
    assert np.isnan(ships["volume"].iloc[2])  # an empty optional number is kept as missing
    assert ships["damaged"].tolist()[:2] == [0.0, 1.0]

    inter = result.data.interactions
    assert inter is not None
    assert inter["type"].tolist() == ["complaint", "survey", "call"]
    assert inter["timestamp"].tolist()[1] == pd.Timestamp("2024-02-11 02:00:00")  # +08:00 -> UTC, tz dropped
    assert inter["sentiment"].tolist()[:2] == [-1.0, 0.6]

    cust = result.data.customers
    assert cust is not None
    assert cust["contract"].tolist() == [True, False]
    assert cust["contract"].dtype == "boolean"
    assert cust["loyalty_member"].tolist() == [True, False]
    assert cust["since"].dtype == "datetime64[us]"
    assert cust["account_manager"].isna().tolist() == [False, True]
    assert not result.report.notes


def test_shipments_alone_with_only_the_required_columns_load_with_notes() -> None:
    raw = strings(customer_id=["a", "b"], shipment_date=["2024-01-01", "2024-01-02"])
    result = run({"shipments": raw})

    assert list(result.data.shipments.columns) == ["customer_id", "shipment_date"]
    assert result.data.interactions is None
    assert result.data.customers is None
    notes = "\n".join(result.report.notes)
    assert "interactions table absent: interaction features" in notes
    assert "customers table absent" in notes
    assert "shipments.volume absent: volume features are left out" in notes
    assert result.data.notes == result.report.notes


def test_optional_column_without_values_is_noted(shipments: pd.DataFrame) -> None:
    result = run({"shipments": shipments.assign(lane=pd.Series([pd.NA] * 3, dtype="str"))})
    assert any(note.startswith("shipments.lane has no usable values") for note in result.report.notes)


def test_inputs_are_not_modified(shipments: pd.DataFrame) -> None:
    raw = shipments.copy()
    raw.loc[1, "volume"] = "-5"
    before = raw.copy()
    run({"shipments": raw})
    pd.testing.assert_frame_equal(raw, before)


# -------------------------------------------------------------------------- bad input classes

SHIPMENT_CASES = [
    ("volume", "abc", "volume: not a number"),
    ("revenue", "1,000", "revenue: not a number"),
    ("volume", "inf", "volume: not finite (nan/inf)"),
    ("cost", "-inf", "cost: not finite (nan/inf)"),
    ("delay_hours", "NaN", "delay_hours: not finite (nan/inf)"),
    ("volume", "1e999", "volume: not finite (nan/inf)"),
    ("volume", "-1", "volume: negative"),
    ("revenue", "-0.01", "revenue: negative"),
    ("cost", "-3", "cost: negative"),
    ("delay_hours", "-2", "delay_hours: negative"),
    ("damaged", "2", "damaged: not 0/1/true/false"),
    ("damaged", "yes", "damaged: not 0/1/true/false"),
    ("shipment_date", "2024-02-30", "shipment_date: not a date"),
    ("shipment_date", "soon", "shipment_date: not a date"),
    ("shipment_date", "2024-06-03", "shipment_date: in the future"),
    ("shipment_date", "2031-01-01T00:00:00Z", "shipment_date: in the future"),
    ("shipment_date", "", "shipment_date: missing"),
    ("customer_id", "", "customer_id: missing"),
    ("customer_id", "   ", "customer_id: missing"),
]


@pytest.mark.parametrize(("column", "value", "reason"), SHIPMENT_CASES)
def test_bad_shipment_value_is_quarantined_with_its_reason(
    shipments: pd.DataFrame, column: str, value: str, reason: str
) -> None:
    raw = shipments.copy()
    raw.loc[1, column] = value if value else pd.NA
    result = run({"shipments": raw})

    assert reasons_of(result.quarantine) == {2: {reason}}
    report = result.report.tables["shipments"]
    assert (report.rows_read, report.rows_valid, report.rows_quarantined) == (3, 2, 1)
    assert report.reasons == {reason: 1}
    assert result.data.shipments["shipment_id"].tolist() == ["S1", "S3"]
    assert_counted(result)


def test_tolerance_allows_dates_up_to_the_reference_date_plus_days(shipments: pd.DataFrame) -> None:
    raw = shipments.copy()
    raw.loc[0, "shipment_date"] = "2024-06-02 23:59:59"  # reference 2024-06-01 + 1 day
    raw.loc[1, "shipment_date"] = "2024-06-03 00:00:00"
    assert reasons_of(run({"shipments": raw}).quarantine) == {2: {"shipment_date: in the future"}}
    assert reasons_of(run({"shipments": raw}, lenient(future_tolerance_days=2)).quarantine) == {}


def test_reference_date_comes_from_the_config_when_not_given(shipments: pd.DataFrame) -> None:
    config = lenient(reference_date="2024-03-01")
    result = validate_tables({"shipments": shipments}, config)
    assert result.report.reference_date == date(2024, 3, 1)
    assert set(reasons_of(result.quarantine)) == {3}  # 2024-03-15 is in that config's future


def test_bad_reference_date_in_config_is_a_config_error(shipments: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="reference_date"):
        validate_tables({"shipments": shipments}, lenient(reference_date="June"))


def test_typed_infinite_float_is_bad_but_typed_nan_is_missing() -> None:
    raw = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "shipment_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "volume": [np.inf, np.nan, 3.0],
        }
    )
    result = run({"shipments": raw})
    assert reasons_of(result.quarantine) == {1: {"volume: not finite (nan/inf)"}}
    assert result.data.shipments["volume"].isna().tolist() == [True, False]


def test_a_row_with_several_problems_lists_every_reason(shipments: pd.DataFrame) -> None:
    raw = shipments.copy()
    raw.loc[0, ["customer_id", "volume", "damaged", "shipment_date"]] = [pd.NA, "-4", "maybe", "2099-01-01"]
    result = run({"shipments": raw})
    row = result.quarantine.iloc[0]
    assert set(row["reason"].split("; ")) == {
        "customer_id: missing",
        "volume: negative",
        "damaged: not 0/1/true/false",
        "shipment_date: in the future",
    }
    assert result.report.tables["shipments"].rows_quarantined == 1


def test_duplicate_shipment_id_keeps_the_first(shipments: pd.DataFrame) -> None:
    raw = pd.concat([shipments, shipments.iloc[[0, 0]]], ignore_index=True)
    raw.loc[4, "shipment_id"] = "S9"  # a new id is fine
    result = run({"shipments": raw})
    assert reasons_of(result.quarantine) == {4: {"duplicate shipment_id"}}
    assert result.data.shipments["shipment_id"].tolist() == ["S1", "S2", "S3", "S9"]


def test_missing_shipment_ids_are_not_duplicates(shipments: pd.DataFrame) -> None:
    raw = shipments.assign(shipment_id=pd.Series([pd.NA, pd.NA, "S3"], dtype="str"))
    assert run({"shipments": raw}).quarantine.empty


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("score", "11", "score: outside 0-10"),
        ("score", "-1", "score: outside 0-10"),
        ("score", "ten", "score: not a number"),
        ("resolved_at", "2024-02-01", "resolved_at: before timestamp"),
        ("resolved_at", "2099-01-01", "resolved_at: in the future"),
        ("timestamp", "yesterday", "timestamp: not a date"),
        ("timestamp", "", "timestamp: missing"),
        ("type", " ", "type: missing"),
        ("sentiment", "great", "sentiment: not a number"),
        ("customer_id", "", "customer_id: missing"),
    ],
)
def test_bad_interaction_value_is_quarantined(
    shipments: pd.DataFrame, interactions: pd.DataFrame, column: str, value: str, reason: str
) -> None:
    raw = interactions.copy()
    raw.loc[1, "resolved_at"] = "2024-03-01"  # valid: after its timestamp, so only `value` is at fault
    raw.loc[1, column] = value if value else pd.NA
    result = run({"shipments": shipments, "interactions": raw})
    assert reasons_of(result.quarantine, "interactions") == {2: {reason}}
    assert_counted(result)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("customer_id", "C1", "duplicate customer_id"),
        ("customer_id", "", "customer_id: missing"),
        ("contract", "maybe", "contract: not true/false"),
        ("loyalty_member", "2", "loyalty_member: not true/false"),
        ("since", "2030-01-01", "since: in the future"),
        ("since", "long ago", "since: not a date"),
    ],
)
def test_bad_customer_value_is_quarantined(
    shipments: pd.DataFrame, customers: pd.DataFrame, column: str, value: str, reason: str
) -> None:
    raw = pd.concat([customers, strings(customer_id=["C3"])], ignore_index=True)
    raw.loc[2, column] = value if value else pd.NA
    result = run({"shipments": shipments, "customers": raw})
    assert reasons_of(result.quarantine, "customers") == {3: {reason}}
    assert_counted(result)


def test_orphans_are_quarantined_by_default(
    shipments: pd.DataFrame, interactions: pd.DataFrame, customers: pd.DataFrame
) -> None:
    ships = shipments.copy()
    ships.loc[2, "customer_id"] = "C404"
    inter = interactions.copy()
    inter.loc[0, "customer_id"] = "C404"
    result = run({"shipments": ships, "interactions": inter, "customers": customers})
    assert reasons_of(result.quarantine) == {3: {"orphan customer_id"}}
    assert reasons_of(result.quarantine, "interactions") == {1: {"orphan customer_id"}}


def test_orphans_are_kept_and_noted_with_orphan_policy_keep(
    shipments: pd.DataFrame, customers: pd.DataFrame
) -> None:
    ships = shipments.copy()
    ships.loc[2, "customer_id"] = "C404"
    result = run({"shipments": ships, "customers": customers}, lenient(orphan_policy="keep"))
    assert result.quarantine.empty
    assert any(
        "1 rows with a customer_id absent from the customers table kept" in n for n in result.report.notes
    )


def test_a_customer_quarantined_for_another_reason_does_not_orphan_its_shipments(
    shipments: pd.DataFrame, customers: pd.DataFrame
) -> None:
    cust = customers.copy()
    cust.loc[1, "contract"] = "perhaps"
    result = run({"shipments": shipments, "customers": cust})
    assert reasons_of(result.quarantine, "customers") == {2: {"contract: not true/false"}}
    assert reasons_of(result.quarantine, "shipments") == {}


def test_unrecognised_interaction_types_are_kept_and_noted(
    shipments: pd.DataFrame, interactions: pd.DataFrame
) -> None:
    inter = interactions.copy()
    inter.loc[2, "type"] = "Site Visit"
    result = run({"shipments": shipments, "interactions": inter})
    assert result.data.interactions is not None
    assert result.data.interactions["type"].tolist()[2] == "site visit"
    assert "interactions.type: unrecognised types kept: site visit (1)" in result.report.notes


def test_non_iso_dates_are_read_with_one_layout_and_noted() -> None:
    raw = strings(customer_id=["a", "b", "c"], shipment_date=["03/15/2024", "2024-01-02", "04/01/2024"])
    result = run({"shipments": raw})
    assert result.data.shipments["shipment_date"].tolist() == [
        pd.Timestamp("2024-03-15"),
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-04-01"),
    ]
    assert any("non-ISO layout %m/%d/%Y" in note for note in result.report.notes)


def test_plain_and_zoned_iso_dates_read_alike() -> None:
    plain = ["2024-01-05", "2024-01-05 08:30:00", "2024-01-05T08:30:00.250"]
    zoned = [*plain, "2024-01-05T08:30:00+01:00"]
    first = run({"shipments": strings(customer_id=["a"] * 3, shipment_date=plain)}).data.shipments
    second = run({"shipments": strings(customer_id=["a"] * 4, shipment_date=zoned)}).data.shipments
    assert first["shipment_date"].tolist() == second["shipment_date"].tolist()[:3]
    assert second["shipment_date"].tolist()[3] == pd.Timestamp("2024-01-05 07:30:00")


def test_nullable_boolean_damaged_is_read_as_float() -> None:
    raw = strings(customer_id=["a", "b", "c"], shipment_date=["2024-01-01"] * 3)
    raw["damaged"] = pd.array([True, None, False], dtype="boolean")
    ships = run({"shipments": raw}).data.shipments
    assert ships["damaged"].tolist()[::2] == [1.0, 0.0]
    assert np.isnan(ships["damaged"].tolist()[1])


def test_typed_frames_are_normalised() -> None:
    raw = pd.DataFrame(
        {
            "customer_id": [101, 102],
            "shipment_date": pd.to_datetime(["2024-01-01 08:00", "2024-01-02 08:00"]).tz_localize(
                "Asia/Shanghai"
            ),
            "shipment_id": [1.0, np.nan],
            "volume": [3, 4],
            "damaged": [True, False],
        }
    )
    result = run({"shipments": raw})
    ships = result.data.shipments
    assert ships["customer_id"].tolist() == ["101", "102"]
    assert ships["shipment_id"].tolist()[0] == "1"
    assert ships["shipment_date"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    assert ships["volume"].dtype == np.float64
    assert ships["damaged"].tolist() == [1.0, 0.0]


# ---------------------------------------------------------------------------- column mapping


def test_column_mapping_renames_the_users_columns(shipments: pd.DataFrame) -> None:
    raw = shipments.rename(columns={"customer_id": "Kunde", "shipment_date": "Datum", "volume": "TEU"})
    raw["internal_note"] = "x"
    config = DataConfig(
        columns=ColumnMapping(shipments={"Kunde": "customer_id", "Datum": "shipment_date", "TEU": "volume"}),
        validation=lenient().validation,
    )
    result = run({"shipments": raw}, config)
    ships = result.data.shipments
    assert {"customer_id", "shipment_date", "volume"} <= set(ships.columns)
    assert "internal_note" not in ships.columns
    assert result.report.tables["shipments"].extra_columns == ("internal_note",)
    assert "shipments: extra columns ignored: internal_note" in result.report.notes


def test_quarantine_keeps_the_users_column_names(shipments: pd.DataFrame) -> None:
    raw = shipments.rename(columns={"volume": "TEU"})
    raw.loc[0, "TEU"] = "-1"
    config = DataConfig(columns=ColumnMapping(shipments={"TEU": "volume"}), validation=lenient().validation)
    quarantine = run({"shipments": raw}, config).quarantine
    assert quarantine.loc[0, "TEU"] == "-1"
    assert quarantine.loc[0, "reason"] == "TEU (volume): negative"


def test_every_reason_and_note_names_the_users_column_beside_the_canonical_one(
    shipments: pd.DataFrame, customers: pd.DataFrame
) -> None:
    raw = shipments.rename(
        columns={
            "customer_id": "cust",
            "shipment_date": "order_date",
            "shipment_id": "order_no",
            "volume": "qty",
        }
    )
    raw.loc[0, "qty"] = "-1"
    raw.loc[1, "order_no"] = "S1"  # a duplicate of row 1's
    raw.loc[2, "cust"] = "C9"  # not in the customers table
    raw.loc[2, "order_date"] = "03/15/2024"  # non-ISO: a note on the layout
    config = DataConfig(
        columns=ColumnMapping(
            shipments={
                "cust": "customer_id",
                "order_date": "shipment_date",
                "order_no": "shipment_id",
                "qty": "volume",
            }
        ),
        validation=lenient().validation,
    )
    result = run({"shipments": raw, "customers": customers}, config)
    reasons = result.report.tables["shipments"].reasons
    assert set(reasons) == {
        "qty (volume): negative",
        "duplicate order_no (shipment_id)",
        "orphan cust (customer_id)",
    }
    assert set(result.quarantine["reason"]) == set(reasons)
    assert any(
        note.startswith("shipments.order_date (shipment_date): 1 value(s)") for note in result.report.notes
    )
    with pytest.raises(TooManyBadRowsError) as info:
        validate_tables({"shipments": raw}, config.model_copy(update={"validation": DataConfig().validation}))
    assert "qty (volume): negative (1)" in str(info.value)
    assert info.value.column == "order_no (shipment_id)"  # the top reason's column, as the user calls it


def test_mapping_to_an_unknown_column_is_a_config_error(shipments: pd.DataFrame) -> None:
    config = DataConfig(columns=ColumnMapping(shipments={"TEU": "teu"}))
    with pytest.raises(ConfigError, match="'teu' is not a shipments column"):
        validate_tables({"shipments": shipments}, config, reference_date=REFERENCE)


def test_two_columns_mapping_to_one_name_is_a_contract_error(shipments: pd.DataFrame) -> None:
    raw = shipments.assign(client=shipments["customer_id"])
    config = DataConfig(columns=ColumnMapping(shipments={"client": "customer_id"}))
    with pytest.raises(DataContractError, match="several columns map to customer_id") as info:
        validate_tables({"shipments": raw}, config, reference_date=REFERENCE)
    assert info.value.column == "customer_id"


# ------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("missing", ["customer_id", "shipment_date"])
def test_missing_required_column_names_file_and_column(shipments: pd.DataFrame, missing: str) -> None:
    with pytest.raises(DataContractError, match=f"required column {missing} is missing") as info:
        validate_tables(
            {"shipments": shipments.drop(columns=missing)},
            DataConfig(),
            reference_date=REFERENCE,
            sources={"shipments": "data/shipments.csv"},
        )
    assert info.value.file == "data/shipments.csv"
    assert info.value.column == missing
    assert str(info.value).startswith(f"file data/shipments.csv, column {missing}:")


def test_missing_required_column_of_an_optional_table_fails(
    shipments: pd.DataFrame, interactions: pd.DataFrame
) -> None:
    with pytest.raises(DataContractError) as info:
        validate_tables(
            {"shipments": shipments, "interactions": interactions.drop(columns="type")},
            DataConfig(),
            reference_date=REFERENCE,
        )
    assert info.value.column == "type"


def test_shipments_are_required() -> None:
    with pytest.raises(DataContractError, match="shipments table is required"):
        validate_tables({"shipments": None}, DataConfig(), reference_date=REFERENCE)
    with pytest.raises(DataContractError, match="no rows"):
        validate_tables({"shipments": strings(customer_id=[], shipment_date=[])}, DataConfig())


def test_too_many_bad_rows_fail_with_share_limit_and_reasons(shipments: pd.DataFrame) -> None:
    raw = shipments.copy()
    raw.loc[[0, 1], "volume"] = "-1"
    with pytest.raises(TooManyBadRowsError) as info:
        validate_tables(
            {"shipments": raw}, DataConfig(), reference_date=REFERENCE, sources={"shipments": "s.csv"}
        )
    message = str(info.value)
    assert "66.7% of rows quarantined (2 of 3)" in message
    assert "above max_bad_share 20.0%" in message
    assert "volume: negative (2)" in message
    assert (info.value.file, info.value.column) == ("s.csv", "volume")
    result = info.value.result
    assert len(result.quarantine) == 2
    assert_counted(result)


def test_share_at_the_limit_passes(shipments: pd.DataFrame) -> None:
    raw = pd.concat([shipments] * 2, ignore_index=True).assign(shipment_id=[f"S{i}" for i in range(6)])
    raw.loc[0, "volume"] = "-1"
    config = DataConfig.model_validate({"validation": {"max_bad_share": 1 / 6}})
    result = validate_tables({"shipments": raw}, config, reference_date=REFERENCE)
    assert result.report.tables["shipments"].rows_quarantined == 1


def test_no_valid_shipment_left_fails_even_with_a_lenient_share(shipments: pd.DataFrame) -> None:
    raw = shipments.assign(shipment_date="garbage")
    with pytest.raises(TooManyBadRowsError, match="shipment_date: not a date"):
        validate_tables({"shipments": raw}, lenient(), reference_date=REFERENCE)


def test_an_optional_table_with_no_valid_rows_is_dropped_with_a_note(
    shipments: pd.DataFrame, interactions: pd.DataFrame
) -> None:
    result = run({"shipments": shipments, "interactions": interactions.assign(timestamp="never")})
    assert result.data.interactions is None
    assert any(note.startswith("interactions: no valid rows") for note in result.report.notes)


def test_duplicated_column_names_are_a_contract_error(shipments: pd.DataFrame) -> None:
    raw = shipments.copy()
    raw.columns = ["customer_id", "customer_id", *raw.columns[2:]]
    with pytest.raises(DataContractError, match="duplicated column names"):
        validate_tables({"shipments": raw}, DataConfig(), reference_date=REFERENCE)


# ------------------------------------------------------------------- quarantine and report


def test_quarantine_frame_has_table_row_number_reason_and_raw_strings(shipments: pd.DataFrame) -> None:
    raw = shipments.assign(reason="free text")  # a user column named like ours does not clash
    raw.loc[2, "delay_hours"] = "-1"
    quarantine = run({"shipments": raw}).quarantine
    assert list(quarantine.columns[:3]) == ["table", "row_number", "reason"]
    assert quarantine["row_number"].tolist() == [3]
    row = quarantine.iloc[0]
    assert (row["table"], row["reason"], row["delay_hours"], row["reason_raw"]) == (
        "shipments",
        "delay_hours: negative",
        "-1",
        "free text",
    )
    assert pd.isna(row["volume"])  # an empty cell stays empty


def test_write_quarantine_writes_csv_or_nothing(tmp_path: Path, shipments: pd.DataFrame) -> None:
    assert run({"shipments": shipments}).write_quarantine(tmp_path / "q.csv") is None
    assert not (tmp_path / "q.csv").exists()

    raw = shipments.copy()
    raw.loc[0, "volume"] = "abc"
    written = run({"shipments": raw}).write_quarantine(tmp_path / "out" / "q.csv")
    assert written == tmp_path / "out" / "q.csv"
    back = pd.read_csv(written, dtype=str)
    assert back.loc[0, "reason"] == "volume: not a number"
    assert back.loc[0, "volume"] == "abc"
    assert back.loc[0, "row_number"] == "1"


def test_report_to_dict_is_json_and_render_is_printable(shipments: pd.DataFrame) -> None:
    raw = shipments.copy()
    raw.loc[0, "volume"] = "abc"
    report = run({"shipments": raw}).report
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["tables"]["shipments"]["rows_quarantined"] == 1
    assert payload["tables"]["shipments"]["reasons"] == {"volume: not a number": 1}
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(report.render())
    text = console.export_text()
    assert "shipments" in text
    assert "volume: not a number" in text


# ------------------------------------------------------------------------- property-based

GOOD_DATES = st.dates(min_value=date(2015, 1, 1), max_value=REFERENCE).map(date.isoformat)
GOOD_NUMBERS = st.one_of(
    st.just(""),
    st.floats(min_value=0, max_value=1e9, allow_nan=False).map(repr),
    st.integers(min_value=0, max_value=10**6).map(str),
)
# column -> (bad values, reason)
BAD = {
    "customer_id": (st.sampled_from(["", "  "]), "customer_id: missing"),
    "shipment_date": (st.sampled_from(["2024-13-45", "tomorrow", "x"]), "shipment_date: not a date"),
    "volume": (st.sampled_from(["abc", "1.2.3", "--1", "1e"]), "volume: not a number"),
    "revenue": (st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity"]), "revenue: not finite (nan/inf)"),
    "cost": (st.floats(max_value=-1e-6, allow_infinity=False).map(repr), "cost: negative"),
    "damaged": (st.sampled_from(["2", "yes", "-1", "0.5"]), "damaged: not 0/1/true/false"),
}
FUTURE = (st.sampled_from(["2030-01-01", "2024-06-03"]), "shipment_date: in the future")


@st.composite
def shipment_rows(draw: st.DrawFn) -> tuple[dict[str, str], set[str]]:
    """A row of shipment strings and the set of reasons it must be quarantined for."""
    row = {
        "customer_id": draw(st.sampled_from(["C1", "C2", " C3 "])),
        "shipment_date": draw(GOOD_DATES),
        "volume": draw(GOOD_NUMBERS),
        "revenue": draw(GOOD_NUMBERS),
        "cost": draw(GOOD_NUMBERS),
        "damaged": draw(st.sampled_from(["", "0", "1", "TRUE", "false", "1.0"])),
    }
    expected: set[str] = set()
    for column in draw(st.sets(st.sampled_from([*BAD, "future"]), max_size=3)):
        values, reason = FUTURE if column == "future" else BAD[column]
        target = "shipment_date" if column == "future" else column
        if target == "shipment_date" and any(r.startswith("shipment_date") for r in expected):
            continue
        row[target] = draw(values)
        expected.add(reason)
    return row, expected


@HYPOTHESIS
@given(st.lists(shipment_rows(), min_size=1, max_size=30))
def test_property_valid_rows_are_exactly_the_good_ones(rows: list[tuple[dict[str, str], set[str]]]) -> None:
    raw = strings(**{col: [row[col] for row, _ in rows] for col in rows[0][0]})
    result = run({"shipments": raw})

    assert_counted(result)
    expected = {i + 1: reasons for i, (_, reasons) in enumerate(rows) if reasons}
    assert reasons_of(result.quarantine) == expected
    good = [row["customer_id"].strip() for row, reasons in rows if not reasons]
    assert result.data.shipments["customer_id"].tolist() == good
    assert result.data.shipments["volume"].isna().sum() == sum(
        1 for row, reasons in rows if not reasons and row["volume"] == ""
    )


@st.composite
def raw_tables(draw: st.DrawFn) -> dict[str, pd.DataFrame | None]:
    """Random small tables mixing good and bad values in every checked column."""
    n = draw(st.integers(1, 25))
    ids = st.sampled_from(["C1", "C2", "C3", "C9", ""])
    dates = st.sampled_from(["2024-01-01", "2024-05-31T23:00:00+02:00", "2030-01-01", "bad", ""])
    numbers = st.sampled_from(["", "0", "3.5", "-1", "inf", "nan", "x", "11"])
    flags = st.sampled_from(["", "0", "1", "true", "2"])
    ships = strings(
        customer_id=draw(st.lists(ids, min_size=n, max_size=n)),
        shipment_date=draw(st.lists(dates, min_size=n, max_size=n)),
        shipment_id=draw(st.lists(st.sampled_from(["S1", "S2", "S3", ""]), min_size=n, max_size=n)),
        volume=draw(st.lists(numbers, min_size=n, max_size=n)),
        damaged=draw(st.lists(flags, min_size=n, max_size=n)),
    )
    m = draw(st.integers(0, 10))
    inter = strings(
        customer_id=draw(st.lists(ids, min_size=m, max_size=m)),
        timestamp=draw(st.lists(dates, min_size=m, max_size=m)),
        type=draw(st.lists(st.sampled_from(["call", "Survey", "", "visit"]), min_size=m, max_size=m)),
        score=draw(st.lists(numbers, min_size=m, max_size=m)),
        resolved_at=draw(st.lists(dates, min_size=m, max_size=m)),
    )
    k = draw(st.integers(0, 4))
    cust = strings(
        customer_id=draw(st.lists(ids, min_size=k, max_size=k)),
        contract=draw(st.lists(st.sampled_from(["yes", "no", "", "?"]), min_size=k, max_size=k)),
    )
    return {
        "shipments": ships,
        "interactions": inter if draw(st.booleans()) else None,
        "customers": cust if draw(st.booleans()) else None,
    }


@settings(HYPOTHESIS, max_examples=20)
@given(raw_tables(), st.sampled_from(["quarantine", "keep"]))
def test_property_pandera_and_mask_engines_agree(raw: dict[str, pd.DataFrame | None], policy: str) -> None:
    config = lenient(orphan_policy=policy)
    by_pandera = run(raw, config, engine="pandera")
    by_masks = run(raw, config, engine="masks")

    assert_counted(by_pandera)
    pd.testing.assert_frame_equal(by_pandera.quarantine, by_masks.quarantine)
    pd.testing.assert_frame_equal(by_pandera.data.shipments, by_masks.data.shipments)
    assert by_pandera.report == by_masks.report
    for name, report in by_pandera.report.tables.items():
        assert sum(report.reasons.values()) >= report.rows_quarantined, name
