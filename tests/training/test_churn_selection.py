"""Selection over several validation cutoffs, the stack, and the stack's out-of-time fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from berth.churn_selection import choose, hanley_mcneil_se, metrics_by_cutoff, spread
from berth.modeling.blend import Blend, fit_blend
from berth.tables import PortData
from berth.training import train_churn_model

from .conftest import port_data


def _table(aucs: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"predictor": name, "cutoff_day": 100 + 7 * k, "rows": 2_000, "positives": 200, "roc_auc": auc}
            for name, values in aucs.items()
            for k, auc in enumerate(values)
        ]
    ).assign(brier=0.1, log_loss=0.3)


def test_the_stack_serves_unless_beaten_beyond_the_noise() -> None:
    close = choose(
        _table({"stack": [0.80, 0.82, 0.81], "trees": [0.81, 0.81, 0.815], "btyd": [0.78] * 3}),
        ["stack", "trees", "btyd"],
    )
    assert close.served == "stack"
    assert "no candidate beats it" in close.reason
    clear = choose(
        _table({"stack": [0.80, 0.82, 0.81], "trees": [0.83, 0.85, 0.84], "btyd": [0.78] * 3}),
        ["stack", "trees", "btyd"],
    )
    assert clear.served == "trees"
    assert "beats stack by 0.0300" in clear.reason
    # a lead at one cutoff only, reversed at the others, is not a lead
    noisy = choose(_table({"stack": [0.80, 0.80, 0.80], "btyd": [0.86, 0.79, 0.78]}), ["stack", "btyd"])
    assert noisy.served == "stack"
    assert choose(_table({"btyd": [0.7]}), ["btyd"]).served == "btyd"


def test_one_validation_cutoff_uses_the_hanley_mcneil_noise() -> None:
    se = hanley_mcneil_se(0.8, 200, 1_800)
    assert 0.01 < se < 0.03
    small_gap = choose(_table({"stack": [0.80], "trees": [0.80 + se]}), ["stack", "trees"])
    assert small_gap.served == "stack"
    big_gap = choose(_table({"stack": [0.80], "trees": [0.80 + 4 * se]}), ["stack", "trees"])
    assert big_gap.served == "trees"


def test_metrics_by_cutoff_and_their_spread() -> None:
    rng = np.random.default_rng(0)
    cutoff = np.repeat([10, 20, 30], 500)
    y = (rng.random(cutoff.shape[0]) < 0.2).astype(np.int8)
    good = np.clip(0.2 + 0.3 * (y - 0.2) + rng.normal(0, 0.1, y.shape[0]), 0.01, 0.99)
    table = metrics_by_cutoff(y, cutoff, {"good": good, "coin": rng.random(y.shape[0])})
    assert len(table) == 6
    assert set(table["cutoff_day"]) == {10, 20, 30}
    assert (table.groupby("predictor")["rows"].sum() == 1_500).all()
    summary = spread(table)
    assert summary["good"]["roc_auc_cutoff_mean"] > summary["coin"]["roc_auc_cutoff_mean"]
    assert summary["good"]["roc_auc_cutoff_min"] <= summary["good"]["roc_auc_cutoff_mean"]
    assert summary["good"]["validation_cutoffs"] == 3


def test_blend_leans_on_the_informative_input_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    n = 5_000
    truth = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-truth))).astype(np.int8)
    names = ("recency_days", "btyd_p_no_shipment_h", "other")
    values = np.column_stack([rng.exponential(30, n), 1 / (1 + np.exp(-truth)), rng.normal(size=n)])
    margin = rng.normal(0, 1, n)  # trees that learnt nothing that travels
    blend = fit_blend(margin, values, y, names)
    assert blend is not None
    assert abs(blend.weights[1]) > 5 * abs(blend.weights[0])
    assert Blend.from_dict(blend.to_dict()) == blend
    # missing inputs take the mean of the rows that have them, when fitted and when served
    holes = values.copy()
    holes[::2, 1] = np.nan
    patchy = fit_blend(margin, holes, y, names)
    assert patchy is not None
    expected = np.log(values[1::2, 1] / (1 - values[1::2, 1]))
    assert patchy.means[1] == pytest.approx(float(expected.mean()), rel=1e-6)
    values[0, 1] = np.nan  # a customer without a BG/NBD figure takes the mean: no effect, no NaN
    design = blend.inputs(margin, values, names)
    assert np.isfinite(blend.log_odds(design)).all()
    assert fit_blend(margin, values, np.zeros(n, dtype=np.int8), names) is None


@pytest.mark.slow
def test_the_stack_is_fitted_out_of_time(small_port, fast_config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The stack is fitted once, on the calibration rows only: cutoffs a horizon after the last
    training cutoff (labels the trees never saw) and a horizon before the first validation one."""
    import berth.training as training

    seen: list[tuple[int, Blend | None]] = []

    def spy(
        margin: np.ndarray, values: np.ndarray, outcome: np.ndarray, names: tuple[str, ...]
    ) -> Blend | None:
        fitted = fit_blend(margin, values, outcome, names)
        seen.append((outcome.shape[0], fitted))
        return fitted

    monkeypatch.setattr(training, "fit_blend", spy)
    data: PortData = port_data(small_port)
    trained = train_churn_model(data, fast_config)
    split, horizon = trained.split, trained.bundle.spec.horizon_days
    assert len(seen) == 1
    assert seen[0][0] == trained.row_counts["rows_calibration"]
    assert max(split.train) + horizon <= min(split.calibration), "the trees never saw those labels"
    assert max(split.calibration) + horizon <= min(split.validation), "nor did the stack see validation's"
    assert trained.served_predictor in ("stack", "trees", "btyd")
    assert any(note.startswith("served churn predictor") for note in trained.notes)
    by_cutoff = trained.metrics_by_cutoff
    assert by_cutoff is not None
    assert set(by_cutoff["cutoff_day"]) == set(split.validation)
    assert len(split.validation) == 3
