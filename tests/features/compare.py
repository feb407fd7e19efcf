"""Exact comparison of two histories (what the feature engine reads), for the feature tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from berth.features import EventTable, HistoryArrays


def _assert_same_table(left: EventTable | None, right: EventTable | None, name: str) -> None:
    assert (left is None) == (right is None), name
    if left is None or right is None:
        return
    for part in ("code", "day", "key"):
        np.testing.assert_array_equal(getattr(left, part), getattr(right, part), err_msg=f"{name}.{part}")
    assert set(left.values) == set(right.values), name
    for column, values in left.values.items():
        if column in ("cargo_type", "lane"):
            # Category codes are labels (features count and compare them): equal up to renaming.
            values, other = pd.factorize(values)[0], pd.factorize(right.values[column])[0]
        else:
            other = right.values[column]
        np.testing.assert_array_equal(values, other, err_msg=f"{name}.{column}")


def assert_same_history(left: HistoryArrays, right: HistoryArrays) -> None:
    np.testing.assert_array_equal(left.customer_ids, right.customer_ids)
    assert left.n_events == right.n_events
    _assert_same_table(left.shipments, right.shipments, "shipments")
    assert set(left.interactions) == set(right.interactions)
    for kind, table in left.interactions.items():
        _assert_same_table(table, right.interactions[kind], kind)
    _assert_same_table(left.resolutions, right.resolutions, "resolutions")
    assert set(left.profile) == set(right.profile)
    for column, values in left.profile.items():
        np.testing.assert_array_equal(values, right.profile[column], err_msg=column)
    for column, values in left.profile_categories.items():
        np.testing.assert_array_equal(values, right.profile_categories[column], err_msg=column)
