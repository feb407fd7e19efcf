"""Reading and writing raw tables, loading a data folder, and the ``berth validate`` command."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from berth import cli
from berth.config import DataConfig
from berth.contract import TooManyBadRowsError
from berth.errors import DataContractError
from berth.io import load_port_data, read_raw_table, write_table

from ._helpers import REFERENCE, assert_counted

MINIMAL_CSV = "customer_id,shipment_date\n007,2024-01-05\n008,2024-02-01\n007,2024-03-01\n"


@pytest.fixture
def wide_console() -> Iterator[None]:
    """Keep rich from wrapping long error lines (paths) inside the CLI output."""
    widths = cli.console.width, cli.err_console.width
    cli.console.width = cli.err_console.width = 400
    yield
    cli.console.width, cli.err_console.width = widths


# ------------------------------------------------------------------------------- read / write


def test_read_csv_keeps_strings_as_written_and_empty_cells_missing(tmp_path: Path) -> None:
    path = tmp_path / "shipments.csv"
    path.write_text('customer_id,volume,lane\n007,1.50,\n008, ,""\n', encoding="utf-8")
    raw = read_raw_table(path)
    assert raw["customer_id"].tolist() == ["007", "008"]
    assert raw["volume"].tolist()[0] == "1.50"
    assert raw["lane"].isna().all()
    assert all(dtype == "str" for dtype in raw.dtypes)


def test_read_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "shipments.csv"
    path.write_text(MINIMAL_CSV, encoding="utf-8-sig")
    assert list(read_raw_table(path).columns) == ["customer_id", "shipment_date"]


def test_write_table_round_trips_csv_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer_id": ["a", "b"], "volume": [1.5, np.nan]})
    for name in ("t.csv", "sub/t.parquet"):
        path = write_table(frame, tmp_path / name)
        back = read_raw_table(path)
        assert back["customer_id"].tolist() == ["a", "b"]
        assert back["volume"].isna().tolist() == [False, True]


def test_unsupported_suffixes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported file type"):
        write_table(pd.DataFrame(), tmp_path / "t.xlsx")
    with pytest.raises(DataContractError, match="unsupported file type"):
        read_raw_table(tmp_path / "t.json")


def test_malformed_csv_is_a_contract_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shipments.csv"
    path.write_text("customer_id,shipment_date\na,2024-01-01,extra\n", encoding="utf-8")
    with pytest.raises(DataContractError) as info:
        read_raw_table(path)
    assert info.value.file == str(path)


def test_empty_and_header_only_csvs(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataContractError, match="empty file"):
        load_port_data(tmp_path, DataConfig())
    (tmp_path / "shipments.csv").write_text("customer_id,shipment_date\n", encoding="utf-8")
    with pytest.raises(DataContractError, match="shipments table has no rows"):
        load_port_data(tmp_path, DataConfig())


def test_duplicated_csv_header_is_a_contract_error(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text("customer_id,customer_id,shipment_date\na,b,2024-01-01\n")
    with pytest.raises(DataContractError, match="duplicated column names: customer_id"):
        load_port_data(tmp_path, DataConfig())


# --------------------------------------------------------------------------------- folders


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_shipments_only_folder_with_required_columns_loads(tmp_path: Path, suffix: str) -> None:
    frame = pd.read_csv(io.StringIO(MINIMAL_CSV), dtype=str)
    write_table(frame, tmp_path / f"shipments{suffix}")
    result = load_port_data(tmp_path, DataConfig(), reference_date=REFERENCE)

    ships = result.data.shipments
    assert ships["customer_id"].tolist() == ["007", "008", "007"]
    assert ships["shipment_date"].dtype == "datetime64[us]"
    assert result.data.interactions is None
    assert result.data.customers is None
    assert any(
        note.startswith("interactions table absent: interaction features") for note in result.report.notes
    )
    assert result.report.tables["shipments"].source == str(tmp_path / f"shipments{suffix}")
    assert_counted(result)


def test_folder_with_all_tables_in_mixed_formats(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text(MINIMAL_CSV, encoding="utf-8")
    write_table(
        pd.DataFrame(
            {
                "customer_id": ["007", "008"],
                "timestamp": pd.to_datetime(["2024-01-02", "2024-01-03"]),
                "type": ["call", "survey"],
                "score": [np.nan, 8.0],
            }
        ),
        tmp_path / "interactions.parquet",
    )
    (tmp_path / "Customers.CSV").write_text(
        "customer_id,segment\n007,forwarder\n008,shipper\n", encoding="utf-8"
    )
    result = load_port_data(tmp_path, DataConfig(), reference_date=REFERENCE)
    assert result.data.interactions is not None
    assert result.data.interactions["score"].tolist()[1] == 8.0
    assert result.data.customers is not None
    assert result.quarantine.empty


def test_csv_and_parquet_of_one_table_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text(MINIMAL_CSV, encoding="utf-8")
    write_table(
        pd.DataFrame({"customer_id": ["a"], "shipment_date": ["2024-01-01"]}), tmp_path / "shipments.parquet"
    )
    with pytest.raises(DataContractError, match=r"shipments\.csv and shipments\.parquet both found"):
        load_port_data(tmp_path, DataConfig())


def test_missing_shipments_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("customer_id\na\n", encoding="utf-8")
    with pytest.raises(DataContractError, match="required table missing") as info:
        load_port_data(tmp_path, DataConfig())
    assert info.value.file == str(tmp_path / "shipments.csv")
    with pytest.raises(DataContractError, match="data folder not found"):
        load_port_data(tmp_path / "nope", DataConfig())


def test_too_many_bad_rows_from_a_folder_carry_the_result(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text(
        "customer_id,shipment_date,volume\na,2024-01-01,-1\nb,2024-01-01,5\n", encoding="utf-8"
    )
    with pytest.raises(TooManyBadRowsError) as info:
        load_port_data(tmp_path, DataConfig(), reference_date=REFERENCE)
    assert info.value.file == str(tmp_path / "shipments.csv")
    written = info.value.result.write_quarantine(tmp_path / "quarantine.csv")
    assert written is not None
    assert pd.read_csv(written)["reason"].tolist() == ["volume: negative"]


# ------------------------------------------------------------------------------------- CLI


def invoke(*args: str) -> tuple[int, str]:
    """Run ``berth validate ARGS``: (exit code, stdout and stderr)."""
    result = CliRunner().invoke(cli.app, ["validate", *args])
    return result.exit_code, result.output


@pytest.mark.usefixtures("wide_console")
def test_cli_validate_prints_the_summary_and_writes_the_quarantine(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text(
        MINIMAL_CSV + "009,not-a-date\n" + "".join(f"x{i},2024-01-0{i}\n" for i in range(1, 8)),
        encoding="utf-8",
    )
    code, output = invoke("--data", str(tmp_path))

    assert code == 0, output
    assert "shipments" in output
    assert "shipment_date: not a date" in output
    assert "interactions table absent" in output
    quarantine = pd.read_csv(tmp_path / "quarantine.csv", dtype=str)
    assert quarantine[["table", "row_number", "reason", "customer_id", "shipment_date"]].values.tolist() == [
        ["shipments", "4", "shipment_date: not a date", "009", "not-a-date"]
    ]
    assert f"Quarantined rows written to {tmp_path / 'quarantine.csv'}" in output


@pytest.mark.usefixtures("wide_console")
def test_cli_validate_clean_data_writes_no_quarantine(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text(MINIMAL_CSV, encoding="utf-8")
    code, output = invoke("--data", str(tmp_path), "--quarantine", str(tmp_path / "q.csv"))
    assert code == 0, output
    assert "No rows quarantined." in output
    assert not (tmp_path / "q.csv").exists()


@pytest.mark.usefixtures("wide_console")
def test_cli_validate_too_many_bad_rows_exits_2_and_still_writes_the_quarantine(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text(
        "customer_id,shipment_date,volume\na,2024-01-01,-1\nb,2024-01-01,oops\nc,2024-01-01,3\n",
        encoding="utf-8",
    )
    config = tmp_path / "train.yaml"
    config.write_text("data:\n  validation:\n    reference_date: '2024-06-01'\n", encoding="utf-8")
    code, output = invoke("--data", str(tmp_path), "--config", str(config))

    assert code == 2
    assert f"file {tmp_path / 'shipments.csv'}" in output
    assert "column volume" in output
    assert "66.7% of rows quarantined (2 of 3)" in output
    assert "volume: negative (1)" in output
    assert len(pd.read_csv(tmp_path / "quarantine.csv")) == 2
    assert "Traceback" not in output


@pytest.mark.usefixtures("wide_console")
def test_cli_validate_missing_column_exits_2_naming_file_and_column(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text("client,shipment_date\na,2024-01-01\n", encoding="utf-8")
    code, output = invoke("--data", str(tmp_path))
    assert code == 2
    assert f"file {tmp_path / 'shipments.csv'}, column customer_id" in output
    assert "required column customer_id is missing; columns found: client, shipment_date" in output


@pytest.mark.usefixtures("wide_console")
def test_cli_validate_uses_the_column_mapping_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text("client,day\na,2024-01-01\n", encoding="utf-8")
    config = tmp_path / "train.yaml"
    config.write_text(
        "data:\n  columns:\n    shipments: {client: customer_id, day: shipment_date}\n", encoding="utf-8"
    )
    code, output = invoke("--data", str(tmp_path), "--config", str(config))
    assert code == 0, output
    assert "No rows quarantined." in output


# ------------------------------------------------------------------ foreign exports (issue 22)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_sniffed_and_named_in_a_note(tmp_path: Path, delimiter: str) -> None:
    rows = ["cust", "order_date", "amount"], ["C1", "2024-01-05", "12,50"], ["C2", "2024-02-01", "3,00"]
    (tmp_path / "shipments.csv").write_text(
        "\n".join(delimiter.join(r) for r in rows) + "\n", encoding="utf-8"
    )
    config = DataConfig.model_validate(
        {"columns": {"shipments": {"cust": "customer_id", "order_date": "shipment_date"}}}
    )
    result = load_port_data(tmp_path, config, reference_date=REFERENCE)
    assert result.data.shipments["customer_id"].tolist() == ["C1", "C2"]
    named = "tab" if delimiter == "\t" else repr(delimiter)
    assert f"shipments.csv: read as {named}-separated" in result.report.notes


def test_a_comma_file_with_semicolons_in_text_stays_comma_separated(tmp_path: Path) -> None:
    (tmp_path / "shipments.csv").write_text(
        'customer_id,shipment_date,lane\nC1,2024-01-05,"a;b"\nC2,2024-02-01,c;d\n', encoding="utf-8"
    )
    result = load_port_data(tmp_path, DataConfig(), reference_date=REFERENCE)
    assert result.data.shipments["lane"].tolist() == ["a;b", "c;d"]
    assert not any("separated" in note for note in result.report.notes)


@pytest.mark.parametrize(
    ("encoding", "named"), [("cp1252", "cp1252 (Windows Western European)"), ("utf-16", "UTF-16")]
)
def test_non_utf8_files_are_read_with_a_note(tmp_path: Path, encoding: str, named: str) -> None:
    (tmp_path / "shipments.csv").write_bytes(
        "customer_id;shipment_date;lane\nC1;2024-01-05;Göteborg–Köln\n".encode(encoding)
    )
    result = load_port_data(tmp_path, DataConfig(), reference_date=REFERENCE)
    assert result.data.shipments["lane"].tolist() == ["Göteborg–Köln"]
    assert any(note.startswith(f"shipments.csv: read as {named}") for note in result.report.notes)


def test_a_file_that_stops_being_utf8_after_the_sniffed_bytes_falls_back(tmp_path: Path) -> None:
    good = "".join(f"C{i},2024-01-05,lane{i}\n" for i in range(8_000)).encode()  # > 64 KiB of ASCII
    (tmp_path / "shipments.csv").write_bytes(
        b"customer_id,shipment_date,lane\n" + good + "C9,2024-01-06,Malmö\n".encode("cp1252")
    )
    result = load_port_data(tmp_path, DataConfig(), reference_date=REFERENCE)
    assert result.data.shipments["lane"].iloc[-1] == "Malmö"
    assert any("read as cp1252" in note for note in result.report.notes)


def test_a_header_read_as_one_column_names_the_delimiter_it_holds(tmp_path: Path) -> None:
    # quoted as a whole, so no sniffing can split it: the message must still say why
    (tmp_path / "shipments.csv").write_text('"customer_id;shipment_date"\n"a;2024-01-01"\n', encoding="utf-8")
    with pytest.raises(
        DataContractError, match=r"shipments\.csv looks ';'-separated but was read as one column"
    ):
        load_port_data(tmp_path, DataConfig())


def _retail(folder: Path, name: str, rows: list[str]) -> None:
    (folder / name).write_text(
        "order_no,cust,order_date\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8"
    )


RETAIL_COLUMNS = {"cust": "customer_id", "order_date": "shipment_date", "order_no": "shipment_id"}


def test_tables_map_a_file_name_or_glob_and_several_files_are_one_table(tmp_path: Path) -> None:
    _retail(tmp_path, "transactions_2024.csv", ["O1,C1,2024-01-05", "O2,C2,2024-02-01"])
    _retail(tmp_path, "transactions_2025.csv", ["O3,C1,2024-03-05"])
    # what a feedback import or a validation wrote beside the data is never read as a table
    _retail(tmp_path, "transactions_2025.quarantine.csv", ["O9,C9,2024-03-05"])
    config = DataConfig.model_validate(
        {"tables": {"shipments": "transactions_*.csv"}, "columns": {"shipments": RETAIL_COLUMNS}}
    )
    result = load_port_data(tmp_path, config, reference_date=REFERENCE)
    assert result.data.shipments["shipment_id"].tolist() == ["O1", "O2", "O3"]
    assert result.report.tables["shipments"].source == f"{tmp_path / 'transactions_*.csv'} (2 files)"
    assert (
        "shipments: 2 files match 'transactions_*.csv', read as one table in this order: "
        "transactions_2024.csv (2 rows), transactions_2025.csv (1 rows); "
        "quarantine row numbers count on across them"
    ) in result.report.notes
    one = config.model_copy(
        update={"tables": config.tables.model_copy(update={"shipments": "transactions_2025.csv"})}
    )
    assert load_port_data(tmp_path, one, reference_date=REFERENCE).data.shipments["shipment_id"].tolist() == [
        "O3"
    ]


def test_a_pattern_that_matches_nothing_names_it_and_the_files_found(tmp_path: Path) -> None:
    _retail(tmp_path, "orders.csv", ["O1,C1,2024-01-05"])
    (tmp_path / "readme.txt").write_text("x", encoding="utf-8")
    config = DataConfig.model_validate({"tables": {"shipments": "transactions*.csv"}})
    with pytest.raises(DataContractError) as info:
        load_port_data(tmp_path, config)
    assert str(info.value) == (
        f"file {tmp_path}: no file matches 'transactions*.csv' (data.tables.shipments); "
        "files in the folder: orders.csv, readme.txt"
    )


def test_a_folder_without_shipments_says_which_files_it_holds_and_how_to_map_one(tmp_path: Path) -> None:
    _retail(tmp_path, "transactions.csv", ["O1,C1,2024-01-05"])
    with pytest.raises(DataContractError, match=r"files in the folder: transactions\.csv") as info:
        load_port_data(tmp_path, DataConfig())
    assert "data: {tables: {shipments: transactions.csv}}" in str(info.value)


def test_files_of_one_table_with_different_columns_are_refused(tmp_path: Path) -> None:
    _retail(tmp_path, "t1.csv", ["O1,C1,2024-01-05"])
    (tmp_path / "t2.csv").write_text("order_no,cust\nO2,C2\n", encoding="utf-8")
    config = DataConfig.model_validate({"tables": {"shipments": "t*.csv"}})
    with pytest.raises(
        DataContractError, match=r"t2\.csv does not have the columns of t1\.csv \(lacks order_date\)"
    ):
        load_port_data(tmp_path, config)


@pytest.mark.parametrize("pattern", ["/etc/passwd", "../other/*.csv", " "])
def test_table_patterns_stay_inside_the_data_folder(pattern: str) -> None:
    with pytest.raises(ValueError, match="inside the data folder"):
        DataConfig.model_validate({"tables": {"shipments": pattern}})


@pytest.mark.usefixtures("wide_console")
def test_cli_validate_reads_a_foreign_export_named_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "transactions.csv").write_text(
        "order_no;cust;order_date;qty\nO1;C1;2024-01-05;2\nO2;C2;2024-02-01;-3\n"
        + "".join(f"O{i};C{i};2024-02-0{i};1\n" for i in range(3, 9)),
        encoding="utf-8",
    )
    config = tmp_path / "train.yaml"
    config.write_text(
        "data:\n  tables: {shipments: transactions.csv}\n"
        "  columns:\n    shipments: {cust: customer_id, order_date: shipment_date, order_no: shipment_id,"
        " qty: volume}\n"
        "  validation: {reference_date: '2024-06-01'}\n",
        encoding="utf-8",
    )
    code, output = invoke("--data", str(tmp_path), "--config", str(config))
    assert code == 0, output
    assert "transactions.csv: read as ';'-separated" in output
    assert "qty (volume): negative" in output
    assert pd.read_csv(tmp_path / "quarantine.csv")["reason"].tolist() == ["qty (volume): negative"]
