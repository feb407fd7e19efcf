"""Which labelled cutoffs a training run uses: derived from the history and the horizon.

A cutoff ``c`` is labelled when ``c + H`` is on or before the training cutoff. The run needs
validation cutoffs, calibration cutoffs a horizon before them and training cutoffs a horizon
before those (the embargo, :func:`berth.training.split_cutoffs`): two horizons of labelled span
go to the embargo alone. Fixed monthly steps after 180 days of history leave a young book with no
training cutoff at all, so by default both are derived from the data:

- ``min_history_days: auto``: the longest history before the first cutoff, from 26 weeks down to
  4 in whole weeks, and
- ``cutoff_step_days: auto``: the longest step of 28, 14 and 7 days,

that still give ``max_cutoffs`` training cutoffs after the split (a longer history first: rows
then look like the scoring date's; then a longer step: rows less alike one another). When no
plan does, the one with the most training cutoffs; when none trains at all, the one with the most
labelled cutoffs, so the fallback is still evaluated. Steps are whole weeks: every cutoff falls
on the same weekday, and weekly shipping rhythms look alike at every cutoff.

Either can be fixed in the config; the run's notes say what was used and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

AUTO_STEPS = (28, 14, 7)
MIN_HISTORY_BOUNDS = (28, 182)


@dataclass(frozen=True)
class CutoffPlan:
    """Labelled cutoffs (oldest first) and the step and minimum history that produced them."""

    cutoffs: list[int]
    step_days: int
    min_history_days: int
    notes: list[str] = field(default_factory=list)


def snapshot_cutoffs(
    first_day: int,
    last_day: int,
    horizon_days: int,
    step_days: int,
    min_history_days: int,
) -> list[int]:
    """Labelled cutoffs, oldest first: the latest is ``last_day − horizon``, then every ``step`` back."""
    latest = last_day - horizon_days
    earliest = first_day + min_history_days
    return sorted(range(latest, earliest - 1, -step_days))


def plan_cutoffs(
    first_day: int,
    last_day: int,
    horizon_days: int,
    *,
    step_days: int | str,
    min_history_days: int | str,
    max_cutoffs: int,
    training_cutoffs: Callable[[list[int]], int],
    held_out_cutoffs: int,
    embargo: bool,
) -> CutoffPlan:
    """The labelled cutoffs of a run; ``training_cutoffs`` counts how many of a candidate list the
    time split would train on (so a plan is judged after validation, calibration and embargo);
    ``held_out_cutoffs`` (validation + calibration) and ``embargo`` only word the notes."""
    notes: list[str] = []
    steps = AUTO_STEPS if step_days == "auto" else (int(step_days),)
    low, high = MIN_HISTORY_BOUNDS
    histories = range(high, low - 1, -7) if min_history_days == "auto" else (int(min_history_days),)
    best: tuple[tuple[int, int, int], int, int, list[int]] | None = None
    for history in histories:
        for step in steps:
            cutoffs = snapshot_cutoffs(first_day, last_day, horizon_days, step, history)
            trained = min(training_cutoffs(cutoffs), max_cutoffs)
            # most training cutoffs; then the longer history and step (rows like the scoring date's,
            # less alike one another); with none at all, the most labelled cutoffs to evaluate
            sign = 1 if trained else -1
            key = (trained, sign * history, sign * step)
            if best is None or key > best[0]:
                best = (key, history, step, cutoffs)
    assert best is not None
    _, history, step, cutoffs = best
    trained = training_cutoffs(cutoffs)
    step_source = "auto" if step_days == "auto" else "config"
    history_source = "auto" if min_history_days == "auto" else "config"
    span = last_day - first_day + 1
    notes.append(
        f"cutoffs: {len(cutoffs)} labelled, every {step} days ({step_source}), first after {history} days "
        f"of history ({history_source}); {trained} of them train the model"
    )
    needed = horizon_days + history
    if not cutoffs:
        notes.append(
            f"history too short to label any cutoff: {span} days of shipments, and a {horizon_days}-day "
            f"horizon after {history} days of history needs more than {needed}"
        )
    elif trained == 0:
        # the first training cutoff sits the held-out slices' steps (and, with the embargo, two
        # horizons) before the latest labelled one, which sits a horizon before the data's end
        gaps = 2 * horizon_days if embargo else 0
        at_least = history + horizon_days + gaps + (held_out_cutoffs - 2) * step + 1
        notes.append(
            f"no training cutoff fits: {span} days of shipments; a {horizon_days}-day horizon needs at least "
            f"{at_least} days to label training, calibration and validation cutoffs"
            + (" a horizon apart (the embargo)" if embargo else "")
        )
    return CutoffPlan(cutoffs=cutoffs, step_days=step, min_history_days=history, notes=notes)
