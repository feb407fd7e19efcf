"""Cutoff planning: step and first cutoff derived from the history and the horizon."""

from __future__ import annotations

import pytest

from berth.config import SplitConfig, TrainConfig
from berth.training import plan_training_cutoffs, split_cutoffs


def _check_labelled(cutoffs: list[int], first: int, last: int, horizon: int, history: int) -> None:
    assert cutoffs == sorted(set(cutoffs))
    assert all(c + horizon <= last for c in cutoffs), "every cutoff's label window is inside the data"
    assert all(c >= first + history for c in cutoffs)


def test_long_history_keeps_monthly_steps_and_a_full_training_slice() -> None:
    config = TrainConfig()
    plan = plan_training_cutoffs(0, 729, 90, config)
    assert plan.step_days == 14
    assert plan.min_history_days == 182, "the longest history that still fills the training slice"
    _check_labelled(plan.cutoffs, 0, 729, 90, plan.min_history_days)
    split = split_cutoffs(plan.cutoffs, 90, config)
    assert len(split.train) == config.max_cutoffs
    assert plan.cutoffs[-1] == 729 - 90, "the latest labelled cutoff is a horizon before the end"


@pytest.mark.parametrize(("days", "horizon"), [(330, 90), (420, 90), (400, 60), (300, 30)])
def test_short_history_steps_weekly_and_still_trains(days: int, horizon: int) -> None:
    config = TrainConfig()
    plan = plan_training_cutoffs(0, days - 1, horizon, config)
    _check_labelled(plan.cutoffs, 0, days - 1, horizon, plan.min_history_days)
    split = split_cutoffs(plan.cutoffs, horizon, config)
    assert plan.step_days in (7, 14)
    assert 28 <= plan.min_history_days <= 182
    assert split.train, plan.notes
    assert max(split.train) + horizon <= min(split.calibration), "the embargo is kept"
    assert max(split.calibration) + horizon <= min(split.validation)
    # a fixed 30-day step after 180 days of history (the old defaults) trains on fewer cutoffs
    fixed = TrainConfig(cutoff_step_days=30, min_history_days=180)
    old = split_cutoffs(plan_training_cutoffs(0, days - 1, horizon, fixed).cutoffs, horizon, fixed)
    assert len(split.train) > len(old.train)


def test_too_short_for_trees_says_how_much_history_the_horizon_needs() -> None:
    plan = plan_training_cutoffs(0, 199, 90, TrainConfig())
    assert plan.cutoffs, "validation cutoffs still fit: the fallback gets metrics"
    assert plan.step_days == 7
    note = " ".join(plan.notes)
    assert "no training cutoff fits" in note
    assert "200 days of shipments" in note
    assert "embargo" in note


def test_nothing_labelled_says_so() -> None:
    plan = plan_training_cutoffs(0, 99, 90, TrainConfig())
    assert plan.cutoffs == []
    assert "too short to label any cutoff: 100 days" in " ".join(plan.notes)


def test_configured_step_and_history_are_used_as_given() -> None:
    config = TrainConfig(cutoff_step_days=30, min_history_days=180, split=SplitConfig(embargo=False))
    plan = plan_training_cutoffs(0, 729, 90, config)
    assert plan.step_days == 30
    assert plan.min_history_days == 180
    assert plan.cutoffs == list(range(639, 179, -30))[::-1]
    assert "(config)" in plan.notes[0]


def test_a_long_book_keeps_monthly_steps() -> None:
    plan = plan_training_cutoffs(0, 1_459, 90, TrainConfig())
    assert plan.step_days == 28
    assert plan.min_history_days == 182
    assert len(split_cutoffs(plan.cutoffs, 90, TrainConfig()).train) == 12
