"""Driver sentences cite the customer's own figures, in English and Chinese."""

from __future__ import annotations

import math

from berth.recommend.explain import explain_driver


def test_service_sentence_cites_both_on_time_shares() -> None:
    figures = {"on_time_share_365": 0.96, "on_time_share_90": 0.81, "delay_mean_hours_90": 14.2}
    en = explain_driver("service", figures, "en")
    assert en == "on-time share 96% over the last year and 81% over the last 90 days (average delay 14 h)"
    zh = explain_driver("service", figures, "zh")
    assert "96%" in zh
    assert "81%" in zh
    assert "准时率" in zh


def test_volume_sentence_recovers_the_previous_window_from_the_trend() -> None:
    recent, previous = 1_200.0, 2_000.0
    trend = math.log((recent + 1) / (previous + 1))
    en = explain_driver("volume", {"volume_90": recent, "volume_trend_90": trend}, "en")
    assert "1,200 against 2,000" in en
    assert "(-40%)" in en


def test_complaints_rhythm_and_btyd_sentences() -> None:
    assert explain_driver(
        "complaints", {"complaints_90": 3, "complaints_365": 5, "unresolved_complaints": 2}, "en"
    ).startswith("3 complaints in the last 90 days (5 in the last year), 2 still unresolved")
    assert "no shipment for 74 days" in explain_driver(
        "rhythm", {"recency_days": 74, "gap_mean_days_365": 12.4}, "en"
    )
    assert "37%" in explain_driver("btyd", {"btyd_p_no_shipment_h": 0.37}, "zh", horizon_days=90)


def test_missing_figures_say_so_instead_of_inventing_them() -> None:
    assert explain_driver("attitude", {"survey_score_last": float("nan")}, "en") == (
        "no survey or NPS answer from this customer"
    )
    assert explain_driver("service", {}, "zh") == "该客户的发货没有延误数据"
