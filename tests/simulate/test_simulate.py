"""The port simulator: contract-shaped tables, realistic mechanisms and an exact churn oracle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from berth import tables
from berth.cli import app
from berth.errors import ConfigError
from berth.simulate import SimulatedPort, SimulationConfig, simulate_port, write_simulation
from berth.simulation import process
from berth.simulation.population import build_population, lunar_new_year
from berth.simulation.process import DayKernel, _Oracle

from .conftest import START, small_config

Z_BOUND = 4.0  # the checks below are exact z-tests; 4 sigma keeps false alarms below 1e-4 each


def _end(port: SimulatedPort) -> pd.Timestamp:
    return pd.Timestamp(START) + pd.Timedelta(days=port.config.days - 1)


def _non_overlapping(truth: pd.DataFrame, horizon: int, step: int) -> pd.DataFrame:
    """Rows of one horizon at cutoffs at least ``horizon`` days apart.

    Given the latent state at each cutoff, outcomes of disjoint windows are independent (Markov), so
    the residuals ``churned − p`` of these rows are uncorrelated and Σ p(1 − p) is their variance.
    """
    rows = truth[truth["horizon_days"] == horizon]
    cutoffs = np.sort(rows["cutoff"].unique())
    keep = cutoffs[:: max(1, -(-horizon // step))]
    return rows[rows["cutoff"].isin(keep)]


def _z(rows: pd.DataFrame) -> float:
    p = rows["true_churn_probability"].to_numpy()
    residual = (rows["churned"].to_numpy() - p).sum()
    variance = (p * (1 - p)).sum()
    if variance == 0:  # only certain outcomes (customers already lost): they must all have happened
        assert residual == 0
        return 0.0
    return float(residual / np.sqrt(variance))


# --- configuration and reproducibility -------------------------------------------------------


def test_config_rejects_unknown_keys_and_bad_segments() -> None:
    with pytest.raises(ValidationError):
        SimulationConfig(n_customers=10, days=30, seed=0, start=START, n_customer=5)  # type: ignore[call-arg]
    config = small_config()
    with pytest.raises(ValidationError):
        SimulationConfig.model_validate(
            {**config.model_dump(), "segments": {"shipper": config.segments["shipper"]}}
        )


def test_same_seed_same_frames_and_different_seed_different_frames() -> None:
    first = simulate_port(small_config(n_customers=300, days=200, seed=3), progress=True)
    again = simulate_port(small_config(n_customers=300, days=200, seed=3))
    other = simulate_port(small_config(n_customers=300, days=200, seed=4))
    for name in ("shipments", "interactions", "customers", "truth", "latent"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert not first.shipments["volume"].equals(other.shipments["volume"])
    assert not first.customers["segment"].equals(other.customers["segment"])


def test_result_does_not_depend_on_the_number_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    config = small_config(n_customers=1_200, days=150)
    pop = build_population(config, np.random.default_rng(0))
    from berth.simulation.population import build_calendar

    calendar = build_calendar(config, np.random.default_rng(1))
    monkeypatch.setattr(process, "CHUNK_SIZE", 500)
    one = process.run_process(pop, calendar, config, np.random.SeedSequence(2), workers=1)
    three = process.run_process(pop, calendar, config, np.random.SeedSequence(2), workers=3)
    for field in ("state", "cell_customer", "cell_day", "cell_count", "oracle", "quiet_days"):
        np.testing.assert_array_equal(getattr(one, field), getattr(three, field))


# --- tables follow the contract ----------------------------------------------------------------


def test_tables_have_the_canonical_columns_and_types(port: SimulatedPort) -> None:
    expected = {
        "shipments": {*tables.SHIPMENT_REQUIRED, *tables.SHIPMENT_OPTIONAL},
        "interactions": {*tables.INTERACTION_REQUIRED, *tables.INTERACTION_OPTIONAL},
        "customers": {*tables.CUSTOMER_REQUIRED, *tables.CUSTOMER_OPTIONAL},
    }
    for name, columns in expected.items():
        frame = getattr(port, name)
        assert set(frame.columns) == columns, name
        assert frame["customer_id"].str.fullmatch(r"C\d{6}").all()
        assert frame["customer_id"].dtype == "str"
    sh, it, cu = port.shipments, port.interactions, port.customers
    for frame, column in ((sh, "shipment_date"), (it, "timestamp"), (it, "resolved_at"), (cu, "since")):
        assert pd.api.types.is_datetime64_dtype(frame[column]), column
    for column in ("volume", "revenue", "cost", "delay_hours", "damaged"):
        assert sh[column].dtype == np.float64, column
    assert sh["shipment_id"].is_unique
    assert cu["customer_id"].is_unique
    assert set(it["type"]) == set(tables.INTERACTION_TYPES)


def test_values_are_in_sane_ranges(port: SimulatedPort) -> None:
    sh, it = port.shipments, port.interactions
    start, end = pd.Timestamp(START), _end(port)
    assert (sh["volume"] > 0).all()
    assert (sh["revenue"] > 0).all()
    assert (sh["delay_hours"] >= 0).all()
    assert set(sh["damaged"].unique()) <= {0.0, 1.0}
    assert sh["shipment_date"].between(start, end).all()
    assert (sh["shipment_date"] == sh["shipment_date"].dt.normalize()).all()
    assert it["timestamp"].between(start, end + pd.Timedelta(days=1), inclusive="left").all()
    surveys = it["type"] == "survey"
    assert it.loc[surveys, "score"].between(0, 10).all()
    assert (it.loc[surveys, "score"] % 1 == 0).all()
    assert it.loc[~surveys, "score"].isna().all()
    assert it["sentiment"].dropna().between(-1, 1).all()
    resolved = it["resolved_at"].notna()
    assert (it.loc[resolved, "resolved_at"] >= it.loc[resolved, "timestamp"]).all()
    assert set(it.loc[resolved, "type"]) == {"complaint", "claim"}
    complaints = it[it["type"] == "complaint"]
    assert 0.02 < complaints["resolved_at"].isna().mean() < 0.3  # some stay unresolved


def test_customers_join_over_time_and_never_ship_before_joining_or_after_being_lost(
    port: SimulatedPort,
) -> None:
    cu, lat = port.customers, port.latent
    joined = cu["since"] > pd.Timestamp(START)
    assert 0.15 < joined.mean() < 0.35
    sh = port.shipments.merge(cu[["customer_id", "since"]], on="customer_id").merge(
        lat[["customer_id", "lost_date"]], on="customer_id"
    )
    assert (sh["shipment_date"] >= sh["since"]).all()
    lost = sh["lost_date"].notna()
    assert (sh.loc[lost, "shipment_date"] < sh.loc[lost, "lost_date"]).all()
    assert lat["lost_date"].notna().mean() > 0.1


def test_segments_differ_in_cadence_and_size(port: SimulatedPort) -> None:
    sh = port.shipments.merge(port.customers[["customer_id", "segment"]], on="customer_id")
    per_customer = sh.groupby(["segment", "customer_id"]).agg(n=("volume", "size"), teu=("volume", "median"))
    by_segment = per_customer.groupby(level="segment").median()
    assert by_segment.loc["shipping_line", "n"] > 2 * by_segment.loc["shipper", "n"]
    assert by_segment.loc["shipper", "n"] > by_segment.loc["forwarder", "n"]
    assert by_segment.loc["shipping_line", "teu"] > 10 * by_segment.loc["shipper", "teu"]
    assert by_segment.loc["shipper", "teu"] > by_segment.loc["forwarder", "teu"]
    observed = port.customers["segment"].value_counts(normalize=True)
    total = sum(p.share for p in port.config.segments.values())
    for name, profile in port.config.segments.items():
        expected = profile.share / total
        assert abs(observed[name] - expected) < Z_BOUND * np.sqrt(
            expected * (1 - expected) / len(port.customers)
        )


def test_lunar_new_year_slump_and_rush_show_in_daily_volume(port: SimulatedPort) -> None:
    daily = port.shipments.groupby("shipment_date").size()
    for year in (2024, 2025):
        festival = pd.Timestamp(lunar_new_year(year))
        rush = daily[(daily.index >= festival - pd.Timedelta(days=21)) & (daily.index < festival)]
        slump = daily[(daily.index >= festival) & (daily.index < festival + pd.Timedelta(days=10))]
        assert slump.mean() < 0.75 * rush.mean(), year


def test_revenue_is_volume_times_a_piecewise_constant_price(port: SimulatedPort) -> None:
    sh = port.shipments.sort_values(["customer_id", "shipment_date"])
    unit = sh["revenue"] / sh["volume"]
    jumps = (unit.groupby(sh["customer_id"]).pct_change().abs() > 0.005).groupby(sh["customer_id"]).sum()
    assert jumps.max() <= 2  # at most two yearly reviews inside two years
    first, last = unit.groupby(sh["customer_id"]).first(), unit.groupby(sh["customer_id"]).last()
    assert (last / first > 1.03).mean() > 0.3  # price increases are common
    assert (sh["cost"] < sh["revenue"]).mean() > 0.8
    margin = (sh["revenue"] - sh["cost"]).groupby(sh["customer_id"]).sum()
    assert 0.005 < (margin < 0).mean() < 0.15  # a few negative-margin customers


def test_interactions_follow_relationships(port: SimulatedPort) -> None:
    it, cu, lat = port.interactions, port.customers, port.latent
    redeemers = it.loc[it["type"] == "loyalty_redemption", "customer_id"].unique()
    members = set(cu.loc[cu["loyalty_member"], "customer_id"])
    assert set(redeemers) <= members
    contacts = it[it["type"].isin(["call", "meeting"])].groupby("customer_id").size()
    per_customer = lat.set_index("customer_id")["key_account"].to_frame().join(contacts.rename("n")).fillna(0)
    rate = per_customer.groupby("key_account")["n"].mean()
    assert rate[True] > 2 * rate[False]
    claims = it[it["type"] == "claim"]
    damaged_customers = set(port.shipments.loc[port.shipments["damaged"] > 0, "customer_id"])
    assert set(claims["customer_id"]) <= damaged_customers


# --- mechanisms -------------------------------------------------------------------------------


def test_service_failures_raise_complaints_and_lower_survey_scores(port: SimulatedPort) -> None:
    sh, it = port.shipments, port.interactions
    failed = (sh["delay_hours"] > 24) | (sh["damaged"] > 0)
    per = pd.DataFrame(
        {"shipments": sh.groupby("customer_id").size(), "failures": failed.groupby(sh["customer_id"]).sum()}
    )
    per["complaints"] = it[it["type"] == "complaint"].groupby("customer_id").size()
    per["nps"] = it[it["type"] == "survey"].groupby("customer_id")["score"].mean()
    per = per[per["shipments"] >= 20].fillna({"complaints": 0})
    per["failure_share"] = per["failures"] / per["shipments"]
    low, high = per["failure_share"].quantile([1 / 3, 2 / 3])
    worst, best = per[per["failure_share"] >= high], per[per["failure_share"] <= low]
    assert (worst["complaints"] / worst["shipments"]).mean() > 1.5 * (
        best["complaints"] / best["shipments"]
    ).mean()
    assert worst["nps"].mean() < best["nps"].mean() - 0.5


def test_key_accounts_churn_less(big_port: SimulatedPort) -> None:
    lat = big_port.latent
    for _segment, group in lat.groupby("segment"):
        key = group["key_account"]
        if key.sum() < 20:
            continue
        assert group.loc[key, "lost_date"].notna().mean() < 0.6 * group.loc[~key, "lost_date"].notna().mean()
    truth = big_port.truth.merge(lat[["customer_id", "key_account"]], on="customer_id")
    rate = truth[truth["horizon_days"] == 90].groupby("key_account")["churned"].mean()
    assert rate[True] < 0.5 * rate[False]


def test_drifting_customers_ship_less_than_before(big_port: SimulatedPort) -> None:
    window = pd.Timedelta(days=90)
    lat = big_port.latent.merge(big_port.customers[["customer_id", "since"]], on="customer_id")
    start, end = pd.Timestamp(START), _end(big_port)
    drift = lat[
        (lat["first_drifting"] >= start + window)
        & (lat["first_drifting"] <= end - window)
        & (lat["since"] <= lat["first_drifting"] - window)
    ]
    assert len(drift) > 100
    sh = big_port.shipments.merge(drift[["customer_id", "first_drifting"]], on="customer_id")
    offset = sh["shipment_date"] - sh["first_drifting"]
    before = sh.loc[(offset >= -window) & (offset < pd.Timedelta(0)), "volume"].sum()
    after = sh.loc[(offset >= pd.Timedelta(0)) & (offset < window), "volume"].sum()
    assert after < 0.6 * before


# --- the truth table and the oracle --------------------------------------------------------------


def test_truth_rows_cover_the_right_customers_cutoffs_and_horizons(port: SimulatedPort) -> None:
    truth, config = port.truth, port.config
    assert {"customer_id", "cutoff", "horizon_days", "true_churn_probability", "churned"} <= set(
        truth.columns
    )
    offsets = (truth["cutoff"] - pd.Timestamp(START)).dt.days
    assert (offsets % config.cutoff_step_days == 0).all()
    assert (offsets > 0).all()
    assert (truth["cutoff"] + pd.to_timedelta(truth["horizon_days"], unit="D") <= _end(port)).all()
    assert set(truth["horizon_days"]) == set(config.horizons_days)
    assert truth["true_churn_probability"].between(0, 1).all()
    lost = truth["latent_state"] == "lost"
    assert (truth.loc[lost, "true_churn_probability"] == 1.0).all()
    assert (truth.loc[lost, "churned"] == 1).all()
    first = port.shipments.groupby("customer_id")["shipment_date"].min()
    for cutoff, rows in truth[truth["horizon_days"] == 30].groupby("cutoff"):
        assert set(rows["customer_id"]) == set(first[first <= cutoff].index)


def test_churned_equals_no_shipment_in_the_window_recomputed_from_shipments(port: SimulatedPort) -> None:
    truth = port.truth.sort_values("cutoff")
    ships = port.shipments[["customer_id", "shipment_date"]].sort_values("shipment_date")
    nxt = pd.merge_asof(
        truth,
        ships,
        left_on="cutoff",
        right_on="shipment_date",
        by="customer_id",
        direction="forward",
        allow_exact_matches=False,
    )
    window_end = nxt["cutoff"] + pd.to_timedelta(nxt["horizon_days"], unit="D")
    recomputed = (nxt["shipment_date"].isna() | (nxt["shipment_date"] > window_end)).astype(int)
    np.testing.assert_array_equal(recomputed.to_numpy(), nxt["churned"].to_numpy())


def test_oracle_recursion_matches_dense_matrix_products() -> None:
    config = small_config(n_customers=40, days=200)
    pop = build_population(config, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    n, cutoff = pop.n, 5
    result = np.full((1, len(config.horizons_days), n), np.nan)
    oracle = _Oracle(config, np.array([cutoff]), result)
    state = rng.integers(0, 3, n).astype(np.uint8)
    quiet = rng.integers(0, 2, n)
    oracle.open(state, quiet)
    kernels = [
        DayKernel(
            engaged_to_drifting=rng.uniform(0, 0.05, n),
            engaged_to_lost=rng.uniform(0, 0.05, n),
            drifting_to_lost=rng.uniform(0, 0.05, n),
            drifting_to_engaged=rng.uniform(0, 0.05, n),
            busy_rate=rng.uniform(0, 0.4, n),
        )
        for _ in range(max(config.horizons_days))
    ]
    for day, kernel in enumerate(kernels, start=cutoff + 1):
        oracle.advance(kernel, pop)
        oracle.record(day)
    for i in range(n):
        v = np.zeros(5)
        v[4 if state[i] == 2 else 2 * state[i] + quiet[i]] = 1.0
        phase = np.array(
            [
                [1 - pop.p_busy_to_quiet[i], pop.p_busy_to_quiet[i]],
                [pop.p_quiet_to_busy[i], 1 - pop.p_quiet_to_busy[i]],
            ]
        )
        for step, k in enumerate(kernels, start=1):
            ed, el, dl, de = (
                x[i]
                for x in (k.engaged_to_drifting, k.engaged_to_lost, k.drifting_to_lost, k.drifting_to_engaged)
            )
            engagement = np.array([[1 - ed - el, ed, el], [de, 1 - dl - de, dl], [0, 0, 1]])
            P = np.zeros((5, 5))
            P[:4, :4] = np.kron(engagement[:2, :2], phase)
            P[:4, 4] = np.repeat(engagement[:2, 2], 2)
            P[4, 4] = 1.0
            multiplier = np.kron([1.0, pop.rho[i]], [1.0, pop.quiet_factor[i]])
            q = np.append(np.exp(-k.busy_rate[i] * multiplier), 1.0)
            v = (v @ P) * q
            if step in config.horizons_days:
                np.testing.assert_allclose(
                    result[0, config.horizons_days.index(step), i], v.sum(), rtol=1e-10
                )


def test_realised_churn_matches_the_oracle_per_segment_and_horizon(big_port: SimulatedPort) -> None:
    step = big_port.config.cutoff_step_days
    for horizon in big_port.config.horizons_days:
        rows = _non_overlapping(big_port.truth, horizon, step)
        for segment, group in rows.groupby("segment"):
            z = _z(group)
            assert abs(z) < Z_BOUND, (horizon, segment, z)
            gap = group["churned"].mean() - group["true_churn_probability"].mean()
            assert abs(gap) < 0.02, (horizon, segment, gap)


def test_oracle_is_calibrated_by_probability_decile(big_port: SimulatedPort) -> None:
    step = big_port.config.cutoff_step_days
    for horizon in big_port.config.horizons_days:
        rows = _non_overlapping(big_port.truth, horizon, step)
        p = rows["true_churn_probability"]
        deciles = pd.qcut(p.rank(method="first"), 10, labels=False)
        for decile, group in rows.groupby(deciles.to_numpy()):
            z = _z(group)
            assert abs(z) < Z_BOUND, (horizon, decile, z)


def test_oracle_separates_churners_far_from_random(port: SimulatedPort) -> None:
    from sklearn.metrics import roc_auc_score

    for horizon, rows in port.truth.groupby("horizon_days"):
        assert roc_auc_score(rows["churned"], rows["true_churn_probability"]) > 0.85, horizon


# --- writing and the command line ---------------------------------------------------------------


def test_write_simulation_csv_and_parquet(port: SimulatedPort, tmp_path: Path) -> None:
    small = simulate_port(small_config(n_customers=150, days=120, seed=5))
    written = write_simulation(small, tmp_path / "csv")
    assert [p.name for p in written] == ["shipments.csv", "interactions.csv", "customers.csv", "truth.csv"]
    shipments = pd.read_csv(tmp_path / "csv" / "shipments.csv")
    assert list(shipments.columns) == list(small.shipments.columns)
    assert shipments["shipment_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    truth = pd.read_csv(tmp_path / "csv" / "truth.csv", parse_dates=["cutoff"])
    assert len(truth) == len(small.truth)
    written = write_simulation(small, tmp_path / "pq", file_format="parquet")
    assert [p.suffix for p in written] == [".parquet", ".parquet", ".parquet", ".csv"]
    back = pd.read_parquet(tmp_path / "pq" / "interactions.parquet")
    pd.testing.assert_frame_equal(back, small.interactions, check_dtype=False)
    with pytest.raises(ConfigError):
        write_simulation(small, tmp_path / "x", file_format="xlsx")


def test_cli_simulate_writes_the_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--customers", "120", "--days", "90", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in tmp_path.iterdir()} == {
        "shipments.csv",
        "interactions.csv",
        "customers.csv",
        "truth.csv",
    }


def test_end_date_and_short_histories() -> None:
    config = small_config(n_customers=50, days=40)
    assert config.end == START + dt.timedelta(days=39)
    port = simulate_port(config)
    assert set(port.truth["horizon_days"]) <= {30}
    tiny = simulate_port(small_config(n_customers=5, days=20))
    assert tiny.truth.empty
    assert list(tiny.truth.columns) == list(port.truth.columns)
