"""Simulator regimes: a single cohort, market shocks, shipments only, rich interactions, drawn parameters."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from berth.simulate import (
    CohortParams,
    ShockParams,
    SimulatedPort,
    SimulationConfig,
    draw_parameters,
    rich_interactions,
    simulate_port,
    write_simulation,
)

from .conftest import START, small_config
from .test_simulate import Z_BOUND, _z


def _digest(frame: pd.DataFrame) -> str:
    # Derived floats (the truth's probabilities) are rounded: numpy's SIMD exp/log differ in the last
    # bits between CPUs, and a draw that moved would change far more than the ninth decimal.
    floats = frame.select_dtypes("float").columns
    rounded = frame.assign(**{c: frame[c].round(9) for c in floats})
    return hashlib.sha256(pd.util.hash_pandas_object(rounded, index=False).to_numpy().tobytes()).hexdigest()[
        :16
    ]


def test_default_book_is_unchanged_by_the_regime_knobs() -> None:
    # Digests of the book before the regimes existed: the knobs' defaults must not move a draw.
    port = simulate_port(SimulationConfig(n_customers=300, days=400, seed=123, start=START))
    expected = {
        "shipments": (16049, "b4c09a3117ce96d0"),
        "interactions": (6755, "db143f7311dcd88c"),
        "customers": (300, "8719f1d329910d45"),
        "truth": (6795, "30b8d9d07c0e8d9f"),
        "latent": (300, "9b064d6d51e37e76"),
    }
    for name, (rows, digest) in expected.items():
        frame = getattr(port, name)
        assert (len(frame), _digest(frame)) == (rows, digest), name


def test_config_refuses_unknown_shock_regions_and_a_cohort_outside_the_history() -> None:
    with pytest.raises(ValidationError):
        small_config().model_copy(update={}).model_validate(
            {**small_config().model_dump(), "shocks": [{"start": START, "regions": ["atlantis"]}]}
        )
    with pytest.raises(ValidationError):
        SimulationConfig.model_validate(
            {**small_config().model_dump(), "cohort": {"first": START - dt.timedelta(days=1)}}
        )


# --- single acquisition cohort ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort_port() -> SimulatedPort:
    """1,500 customers all acquired in the first quarter of a 14-month history."""
    config = SimulationConfig(
        n_customers=1_500,
        days=420,
        seed=31,
        start=START,
        cohort=CohortParams(first=START + dt.timedelta(days=10), days=91),
    )
    return simulate_port(config)


def test_cohort_customers_all_join_in_the_window_and_ship_only_after(cohort_port: SimulatedPort) -> None:
    since = cohort_port.customers["since"]
    assert since.min() >= pd.Timestamp(START + dt.timedelta(days=10))
    assert since.max() < pd.Timestamp(START + dt.timedelta(days=101))
    first = cohort_port.shipments.groupby("customer_id")["shipment_date"].min()
    joined = cohort_port.customers.set_index("customer_id")["since"].reindex(first.index)
    assert (first >= joined).all()
    assert (cohort_port.latent["initial_state"] == "engaged").all()
    # every history before a cutoff is shorter than a year
    truth = cohort_port.truth
    assert (truth["cutoff"] - pd.Timestamp(START)).dt.days.max() < 365 + 10


def test_cohort_oracle_is_calibrated(cohort_port: SimulatedPort) -> None:
    rows = cohort_port.truth[cohort_port.truth["horizon_days"] == 90]
    rows = rows[rows["cutoff"].isin(np.sort(rows["cutoff"].unique())[::3])]
    assert abs(_z(rows)) < Z_BOUND


# --- market shock ------------------------------------------------------------------------------


SHOCK_START = START + dt.timedelta(days=300)


@pytest.fixture(scope="module")
def shock_ports() -> tuple[SimulatedPort, SimulatedPort]:
    """The same book with and without a competitor campaign in south China from day 300."""
    base = SimulationConfig(n_customers=4_000, days=600, seed=47, start=START, horizons_days=(30, 90))
    shock = ShockParams(
        start=SHOCK_START,
        days=180,
        regions=("south_china",),
        share=0.7,
        drifting_factor=10.0,
        rate_factor=0.7,
    )
    return simulate_port(base), simulate_port(base.model_copy(update={"shocks": (shock,)}))


def test_shock_hits_only_its_region_and_only_from_its_start(
    shock_ports: tuple[SimulatedPort, SimulatedPort],
) -> None:
    calm, shocked = shock_ports
    region = shocked.customers.set_index("customer_id")["region"]
    south = region[region == "south_china"].index

    def drifting_after(port: SimulatedPort, customers: pd.Index) -> float:
        lat = port.latent.set_index("customer_id").loc[customers]
        return float((lat["first_drifting"] >= pd.Timestamp(SHOCK_START)).mean())

    others = region[region != "south_china"].index
    assert drifting_after(shocked, south) > drifting_after(calm, south) + 0.2
    assert drifting_after(shocked, others) == pytest.approx(drifting_after(calm, others), abs=0.03)
    # The same latent paths and shipment days until the shock starts.
    keys = ["customer_id", "shipment_date"]
    before = [
        p.shipments.loc[p.shipments["shipment_date"] < pd.Timestamp(SHOCK_START), keys] for p in shock_ports
    ]
    pd.testing.assert_frame_equal(before[0].reset_index(drop=True), before[1].reset_index(drop=True))


def test_oracle_stays_calibrated_through_the_shock(shock_ports: tuple[SimulatedPort, SimulatedPort]) -> None:
    _, shocked = shock_ports
    region = shocked.customers.set_index("customer_id")["region"]
    truth = shocked.truth.assign(region=shocked.truth["customer_id"].map(region))
    for horizon in (30, 90):
        rows = truth[
            (truth["horizon_days"] == horizon)
            & (truth["cutoff"] >= pd.Timestamp(SHOCK_START) - pd.Timedelta(days=horizon))
        ]
        cutoffs = np.sort(rows["cutoff"].unique())[:: max(1, horizon // 30)]
        rows = rows[rows["cutoff"].isin(cutoffs)]
        for name, group in rows.groupby(rows["region"] == "south_china"):
            assert abs(_z(group)) < Z_BOUND, (horizon, name)
        hit = rows[rows["region"] == "south_china"]
        calm = rows[rows["region"] != "south_china"]
        assert hit["true_churn_probability"].mean() > calm["true_churn_probability"].mean()


# --- shipments only, rich interactions, drawn parameters --------------------------------------


def test_shipments_only_keeps_shipments_and_truth_and_writes_no_side_tables(tmp_path: Path) -> None:
    config = small_config(n_customers=200, days=200, seed=3)
    full = simulate_port(config)
    bare = simulate_port(config.model_copy(update={"shipments_only": True}))
    pd.testing.assert_frame_equal(full.shipments, bare.shipments)
    pd.testing.assert_frame_equal(full.truth, bare.truth)
    assert bare.interactions.empty
    assert bare.customers.empty
    assert list(bare.interactions.columns) == list(full.interactions.columns)
    data = bare.port_data()
    assert data.interactions is None
    assert data.customers is None
    written = write_simulation(bare, tmp_path, file_format="csv")
    assert sorted(p.name for p in written) == ["shipments.csv", "truth.csv"]


def test_rich_interactions_carry_more_signal_about_drift() -> None:
    config = small_config(n_customers=1_500, days=400, seed=17)
    plain = simulate_port(config)
    rich = simulate_port(config.model_copy(update={"interactions": rich_interactions()}))
    pd.testing.assert_frame_equal(plain.shipments, rich.shipments)  # the latent paths are the same

    def complaints_per_shipment(port: SimulatedPort, drifting: bool) -> float:
        lat = port.latent.set_index("customer_id")
        ever = lat.index[(lat["days_drifting"] > 0) == drifting]
        shipments = port.shipments["customer_id"].isin(ever).sum()
        it = port.interactions
        return float(((it["type"] == "complaint") & it["customer_id"].isin(ever)).sum() / shipments)

    assert complaints_per_shipment(rich, True) > 1.25 * complaints_per_shipment(plain, True)
    assert complaints_per_shipment(rich, False) == pytest.approx(
        complaints_per_shipment(plain, False), rel=0.2
    )
    surveys = {
        name: (p.interactions["type"] == "survey").sum() for name, p in (("plain", plain), ("rich", rich))
    }
    assert surveys["rich"] > 3 * surveys["plain"]


def test_drawn_parameters_are_reproducible_valid_and_differ_by_seed() -> None:
    base = small_config(n_customers=300, days=200, seed=1)
    one, again, other = draw_parameters(base, 5), draw_parameters(base, 5), draw_parameters(base, 6)
    assert one == again
    assert one != other
    assert one != base
    assert (one.n_customers, one.days, one.seed, one.start) == (
        base.n_customers,
        base.days,
        base.seed,
        base.start,
    )
    for name, profile in one.segments.items():
        ratio = profile.shipments_per_week / base.segments[name].shipments_per_week
        assert 0.6 <= ratio <= 1.6
        assert profile.teu_per_shipment == base.segments[name].teu_per_shipment
    port = simulate_port(one)
    assert len(port.shipments) > 0
    assert len(port.truth) > 0
