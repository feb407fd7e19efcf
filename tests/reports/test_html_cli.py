"""The HTML page and ``berth report portfolio``: files written, self-contained, English and Chinese."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from berth.cli import app
from berth.i18n import label, translate
from berth.reports.html import PORTFOLIO_MESSAGES, render_portfolio_html
from berth.reports.portfolio import TABLE_NAMES, portfolio_report
from berth.simulate import SimulationConfig, simulate_port, write_simulation
from berth.tables import PortData

from .conftest import AS_OF, SHIPMENTS, shipments_frame

SIM_AS_OF = "2025-05-14"  # the simulation's last day


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated book on disk (customers, shipments with revenue, surveys)."""
    port = simulate_port(SimulationConfig(n_customers=150, days=500, seed=3, start=date(2024, 1, 1)))
    folder = tmp_path_factory.mktemp("sim")
    write_simulation(port, folder)
    return folder


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["report", "portfolio", *args])
    return result.exit_code, result.output


def _assert_self_contained(page: str) -> None:
    assert "<script" not in page
    assert "<link" not in page
    assert "<img" not in page
    assert "@import" not in page
    assert "url(" not in page
    assert " src=" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched


def test_cli_writes_a_csv_per_table_and_the_page(sim_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, output = _run(
        "--data", str(sim_folder), "--as-of", SIM_AS_OF, "--out", str(out), "--period-days", "180"
    )
    assert code == 0, output
    assert {p.name for p in out.iterdir()} == {f"{name}.csv" for name in TABLE_NAMES} | {"portfolio.html"}
    summary = pd.read_csv(out / "summary.csv")
    assert summary["segment"].iloc[0] == "all"
    assert len(summary) > 1  # and one row per segment
    assert 0 <= summary["churn_rate"].iloc[0] <= 1
    clv = pd.read_csv(out / "clv.csv")
    assert not clv.empty
    assert clv["total"].iloc[0] > 0
    page = (out / "portfolio.html").read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert '<html lang="en">' in page
    assert translate("report.portfolio_title", "en") in page
    assert page.count("<svg") >= 6  # Lorenz, top shares, NPS, states, loyalty, tiers, CLV
    # headline numbers come before the charts, the charts before the tables
    assert page.index('class="cards"') < page.index("<svg") < page.index("<table")


def test_cli_in_chinese(sim_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "zh"
    code, output = _run("--data", str(sim_folder), "--as-of", SIM_AS_OF, "--out", str(out), "--lang", "zh-CN")
    assert code == 0, output
    page = (out / "portfolio.html").read_text(encoding="utf-8")
    assert '<html lang="zh-Hans">' in page
    assert '<meta charset="utf-8">' in page
    for heading in ("客户组合报告", "核心指标", "客户集中度", "客户流失率", "净推荐值", "客户终身价值"):
        assert heading in page
    assert label("activity_state", "dormant", "zh") in page
    assert translate("report.portfolio_title", "en") not in page


def test_cli_refuses_an_unknown_language_and_a_bad_date(sim_folder: Path, tmp_path: Path) -> None:
    code, output = _run(
        "--data", str(sim_folder), "--as-of", SIM_AS_OF, "--out", str(tmp_path), "--lang", "fr"
    )
    assert code == 2
    assert "supported are en, zh" in output
    code, _ = _run("--data", str(sim_folder), "--as-of", "14/05/2025", "--out", str(tmp_path))
    assert code == 2


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sections_without_data_say_so(lang: str) -> None:
    ships = shipments_frame(SHIPMENTS)[["customer_id", "shipment_date"]]
    page = render_portfolio_html(portfolio_report(PortData(shipments=ships), AS_OF), lang)
    _assert_self_contained(page)
    assert translate("report.reason_no_surveys", lang) in page
    assert translate("report.reason_no_revenue", lang) in page
    assert translate("report.basis_shipments", lang) in page  # concentration of shipment counts


def test_tiny_book_page_renders_in_both_languages(tiny_book: PortData) -> None:
    report = portfolio_report(tiny_book, AS_OF)
    for lang in ("en", "zh"):
        page = render_portfolio_html(report, lang)
        assert translate("report.unknown_segment", lang) in page  # E has no segment
        assert "+25.0" in page  # NPS


def test_every_page_message_has_text_in_both_languages() -> None:
    for msgid in PORTFOLIO_MESSAGES:
        english, chinese = translate(msgid, "en"), translate(msgid, "zh")
        assert english.strip()
        assert chinese != english
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese), msgid
