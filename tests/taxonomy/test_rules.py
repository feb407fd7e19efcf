"""The taxonomy rules at their boundaries: just below, at and just above every threshold."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from berth.taxonomy import (
    TaxonomyConfig,
    abc_class,
    activity_state,
    attitude_score,
    fit_abc_cuts,
    loyalty_form,
    margin_band,
    relationship_level,
    scale_band,
    upgrade_stage,
    usual_gap_days,
)

NAN = np.nan


def test_activity_state_boundaries_against_the_usual_gap() -> None:
    # usual gap 10 days: dozing > 15, half-asleep > 30, dormant > 60 (defaults 1.5x, 3x, 6x)
    days = [0, 15, 16, 30, 31, 60, 61]
    got = activity_state(days, np.full(len(days), 10.0))
    assert list(got) == ["active", "active", "dozing", "dozing", "half_asleep", "half_asleep", "dormant"]


def test_activity_state_dormant_after_an_absolute_number_of_days() -> None:
    # usual gap 100: half-asleep > 300; dormant at > 365 days even though 6x would be 600
    assert list(activity_state([365, 366], [100.0, 100.0])) == ["half_asleep", "dormant"]


def test_activity_state_floors_the_usual_gap_and_marks_customers_without_shipments() -> None:
    # a daily shipper (gap 1) is judged against the 2-day floor: dozing only after 3 days
    assert list(activity_state([3, 4, NAN], [1.0, 1.0, 1.0])) == ["active", "dozing", "no_shipments"]


def test_activity_state_multipliers_come_from_the_config() -> None:
    config = TaxonomyConfig(dozing_multiple=1.0, half_asleep_multiple=2.0, dormant_multiple=4.0)
    assert list(activity_state([10, 11, 21, 41], [10.0] * 4, config)) == [
        "active",
        "dozing",
        "half_asleep",
        "dormant",
    ]


def test_usual_gap_falls_back_to_the_segment_then_the_global_gap() -> None:
    # min_gaps = 3: two own gaps are not enough
    got = usual_gap_days(
        own_gap=[5.0, 5.0, 5.0, NAN],
        n_gaps=[3, 2, 2, 0],
        segment_gap=[20.0, 20.0, NAN, NAN],
        global_gap=40.0,
    )
    np.testing.assert_array_equal(got, [5.0, 20.0, 40.0, 40.0])


def test_attitude_is_the_weighted_mean_of_the_measures_a_customer_has() -> None:
    got = attitude_score(
        survey_mean=[8.0, NAN, NAN, 10.0],
        nps=[NAN, 0.0, NAN, 1.0],
        sentiment_mean=[NAN, NAN, -1.0, 1.0],
        complaints=[0, 0, 0, 0],
        unresolved_share=[0, 0, 0, 0],
    )
    np.testing.assert_allclose(got, [0.8, 0.5, 0.0, 1.0])


def test_attitude_is_unknown_without_surveys_or_sentiment_even_with_complaints() -> None:
    got = attitude_score([NAN], [NAN], [NAN], [3], [1.0])
    assert np.isnan(got[0])


def test_complaints_and_open_complaints_lower_attitude_with_a_cap() -> None:
    got = attitude_score(
        survey_mean=[8.0] * 4,
        nps=[NAN] * 4,
        sentiment_mean=[NAN] * 4,
        complaints=[2, 6, 10, 0],
        unresolved_share=[0.0, 0.0, 0.0, 0.5],
    )
    # 0.05 per complaint, capped at 0.3; 0.2 x the open share
    np.testing.assert_allclose(got, [0.7, 0.5, 0.5, 0.7])


def test_loyalty_form_quadrants_at_their_thresholds() -> None:
    # high attitude >= 0.6, high repeat >= 0.75
    got = loyalty_form([0.6, 0.6, 0.59, 0.59, NAN], [0.75, 0.74, 0.75, 0.74, 1.0])
    assert list(got) == ["true", "latent", "spurious", "none", "unknown_attitude"]


def test_abc_cut_points_follow_the_cumulative_revenue_share() -> None:
    revenue = [50.0, 30.0, 10.0, 5.0, 3.0, 2.0]  # total 100: A until 80%, B until 95%
    cuts = fit_abc_cuts(revenue, 0.8, 0.95)
    assert cuts == (30.0, 5.0)
    assert list(abc_class(revenue, cuts)) == ["A", "A", "B", "B", "C", "C"]
    assert list(abc_class([30.0, 29.99, 5.0, 4.99, 0.0, NAN], cuts)) == ["A", "B", "B", "C", "C", "unknown"]


def test_abc_customer_that_crosses_the_share_is_in_the_upper_class() -> None:
    # the top customer alone holds 90% > 80%: it is A (and nobody else is)
    cuts = fit_abc_cuts([90.0, 6.0, 4.0], 0.8, 0.95)
    assert list(abc_class([90.0, 6.0, 4.0], cuts)) == ["A", "B", "C"]


def test_abc_without_any_revenue_puts_everyone_in_c() -> None:
    cuts = fit_abc_cuts([0.0, 0.0, NAN])
    assert cuts == (float("inf"), float("inf"))
    assert list(abc_class([0.0, 0.0], cuts)) == ["C", "C"]


def test_scale_and_margin_bands_at_their_cut_points() -> None:
    assert list(scale_band([99.9, 100.0, 999.9, 1000.0, NAN], (100.0, 1000.0))) == [
        "small",
        "medium",
        "medium",
        "large",
        "small",
    ]
    assert list(margin_band([-0.01, 0.0, 0.0999, 0.1, 0.2999, 0.3, NAN], (0.1, 0.3))) == [
        "negative",
        "low",
        "low",
        "medium",
        "medium",
        "high",
        None,
    ]


# Kotler (scale small/medium/large = customers many/moderate/few) plus the rail matrix's negative margin.
@pytest.mark.parametrize(
    ("margin", "scale", "expected"),
    [
        (0.3, 1000.0, "partnership"),
        (0.2999, 1000.0, "partnership"),
        (0.0999, 1000.0, "accountable"),
        (-0.01, 1000.0, "reactive"),
        (0.3, 999.0, "proactive"),
        (0.2, 999.0, "accountable"),
        (0.05, 999.0, "reactive"),
        (-0.5, 999.0, "basic"),
        (0.3, 99.0, "accountable"),
        (0.2, 99.0, "reactive"),
        (0.0, 99.0, "basic"),
        (-0.5, 99.0, "basic"),
        (NAN, 1000.0, "unknown"),
    ],
)
def test_relationship_level_matrix(margin: float, scale: float, expected: str) -> None:
    got = relationship_level([margin], [scale], margin_cuts=(0.1, 0.3), scale_cuts=(100.0, 1000.0))
    assert got[0] == expected


def test_relationship_matrix_can_be_changed_in_the_config() -> None:
    matrix = TaxonomyConfig().relationship_matrix
    changed = {**matrix, "small": {**matrix["small"], "negative": "reactive"}}
    config = TaxonomyConfig(relationship_matrix=changed)
    got = relationship_level([-0.1], [1.0], margin_cuts=(0.1, 0.3), scale_cuts=(100.0, 1000.0), config=config)
    assert got[0] == "reactive"


def test_upgrade_stage_boundaries() -> None:
    got = upgrade_stage(
        tenure_days=[NAN, 400, 179, 180, 730, 729, 730, 730, 730],
        occasions=[0, 1, 2, 2, 2, 2, 2, 2, 2],
        repeat_behaviour=[0, 1, 1, 0.5, 0.75, 1, 0.74, 1, 1],
        attitude=[NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0.39, 0.4],
    )
    assert list(got) == ["potential", "new", "new", "repeat", "loyal", "repeat", "repeat", "repeat", "loyal"]


def test_config_rejects_unordered_thresholds_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="dozing_multiple"):
        TaxonomyConfig(dozing_multiple=3.0, half_asleep_multiple=3.0)
    with pytest.raises(ValidationError, match="abc_a_share"):
        TaxonomyConfig(abc_a_share=0.9, abc_b_share=0.85)
    with pytest.raises(ValidationError):
        TaxonomyConfig(dozing_multipl=1.2)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="lacks"):
        TaxonomyConfig(relationship_matrix={"small": {"high": "basic"}})
