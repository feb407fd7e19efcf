"""Which actions fit which customer, and what each is expected to be worth.

Expected net value of giving ``action`` to a customer::

    churn_probability × value_at_risk × uplift − cost

``value_at_risk`` is the customer's value (the playbook's ``value_basis``: discounted CLV, or
expected revenue over the value horizon) and ``uplift`` the relative churn reduction the
playbook assumes (by the customer's leading churn driver where the playbook says so; measured
uplift replaces the prior once campaigns with control groups have run). A pair is a candidate
only when the action's trigger holds; per customer the best candidates are listed, and when
none pays the reason says why.

One array core (:func:`candidate_arrays`, :func:`best_actions`) serves both callers: ``berth plan``
through frames (:func:`candidate_actions`, :func:`recommend`) and the API per request
(:func:`recommend_customers`), so a recommendation reads the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from berth.recommend.playbook import Action, Playbook

CUSTOMER_COLUMNS = (
    "customer_id",
    "churn_probability",
    "value_at_risk",
    "drivers",  # tuple of driver groups that raise the risk, strongest first
    "activity_state",
    "abc_class",
    "relationship_level",
    "loyalty_form",
    "tier_current",
    "segment",
)


Columns = pd.DataFrame | Mapping[str, Any]  # a frame, or a mapping of equal-length sequences / arrays


def _strings(values: Any) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]


def triggered(action: Action, customers: Columns) -> np.ndarray:
    """Per customer, whether every condition of the action's trigger holds."""
    trigger = action.trigger
    probability = np.asarray(customers["churn_probability"], dtype=np.float64)
    ok = (probability >= trigger.min_churn_probability) & (probability <= trigger.max_churn_probability)
    value = np.asarray(customers["value_at_risk"], dtype=np.float64)
    ok &= np.isfinite(value) & (value >= trigger.min_value)
    for column, allowed in (
        ("activity_state", trigger.activity_states),
        ("abc_class", trigger.abc_classes),
        ("relationship_level", trigger.relationship_levels),
        ("loyalty_form", trigger.loyalty_forms),
        ("tier_current", trigger.tiers),
        ("segment", trigger.segments),
    ):
        if allowed:
            wanted = set(allowed)
            ok &= np.fromiter(
                (v in wanted for v in _strings(customers[column])), dtype=bool, count=ok.shape[0]
            )
    if trigger.drivers:
        wanted = set(trigger.drivers)
        ok &= np.fromiter(
            (bool(wanted & set(d)) for d in customers["drivers"]), dtype=bool, count=ok.shape[0]
        )
    return np.asarray(ok, dtype=bool)


@dataclass(frozen=True)
class Candidates:
    """Every triggered (customer, action) pair as parallel arrays; ``row`` indexes the customers."""

    row: np.ndarray
    action: np.ndarray  # object: action names
    churn_probability: np.ndarray
    value_at_risk: np.ndarray
    uplift: np.ndarray
    cost: np.ndarray
    expected_saved_value: np.ndarray
    expected_net_value: np.ndarray

    def __len__(self) -> int:
        return int(self.row.shape[0])


def candidate_arrays(
    customers: Columns, playbook: Playbook, *, uplift_override: Mapping[str, float] | None = None
) -> Candidates:
    """Every (customer, action) whose trigger holds, with uplift, cost and expected net value.

    ``uplift_override``: measured uplift by action, replacing the playbook's prior.
    """
    lead = [d[0] if len(d) else None for d in customers["drivers"]]
    probability = np.asarray(customers["churn_probability"], dtype=np.float64)
    value = np.asarray(customers["value_at_risk"], dtype=np.float64)
    rows, names, uplifts, costs = [], [], [], []
    for name, action in playbook.actions.items():
        at = np.flatnonzero(triggered(action, customers))
        if not at.shape[0]:
            continue
        if uplift_override and name in uplift_override:
            uplift = np.full(at.shape[0], float(uplift_override[name]))
        else:
            uplift = np.array([playbook.uplift(name, lead[i]) for i in at], dtype=np.float64)
        rows.append(at)
        names.append(np.full(at.shape[0], name, dtype=object))
        uplifts.append(uplift)
        costs.append(np.full(at.shape[0], float(action.cost)))
    if not rows:
        empty = np.zeros(0)
        return Candidates(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object), *([empty] * 6))
    row = np.concatenate(rows)
    uplift, cost = np.concatenate(uplifts), np.concatenate(costs)
    saved = probability[row] * value[row] * uplift
    return Candidates(
        row, np.concatenate(names), probability[row], value[row], uplift, cost, saved, saved - cost
    )


CANDIDATE_COLUMNS = (
    "customer_id",
    "action",
    "churn_probability",
    "value_at_risk",
    "uplift",
    "cost",
    "expected_saved_value",
    "expected_net_value",
)


def candidate_actions(
    customers: pd.DataFrame, playbook: Playbook, *, uplift_override: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """:func:`candidate_arrays` as a frame with ``customer_id`` (what the planner reads)."""
    found = candidate_arrays(customers, playbook, uplift_override=uplift_override)
    ids = np.asarray(customers["customer_id"], dtype=object)
    return pd.DataFrame(
        {
            "customer_id": ids[found.row],
            **{name: getattr(found, name) for name in CANDIDATE_COLUMNS[1:]},
        },
        columns=list(CANDIDATE_COLUMNS),
    )


def best_actions(found: Candidates, n_customers: int, top: int) -> tuple[list[np.ndarray], list[str]]:
    """Per customer, the indices into ``found`` of its ``top`` paying candidates (net value > 0),
    best first, and ``"pays"`` or the reason none is listed (nothing triggered, or nothing pays)."""
    order = np.lexsort((-found.expected_net_value, found.row))  # by customer, best first
    starts = np.searchsorted(found.row[order], np.arange(n_customers + 1))
    picks: list[np.ndarray] = []
    reasons: list[str] = []
    for i in range(n_customers):
        mine = order[starts[i] : starts[i + 1]]
        paying = mine[found.expected_net_value[mine] > 0][:top]
        picks.append(paying)
        if paying.shape[0]:
            reasons.append("pays")
        elif mine.shape[0]:
            best = mine[0]
            reasons.append(_no_pay(str(found.action[best]), found.expected_net_value[best]))
        else:
            reasons.append("no action's trigger holds")
    return picks, reasons


def recommend(candidates: pd.DataFrame, customer_ids: Sequence[str], top: int) -> pd.DataFrame:
    """Per customer, the ``top`` candidates that pay (net value > 0), best first; a customer with
    none gets one row with ``action`` empty and the reason (nothing triggered, or nothing pays)."""
    ids = list(customer_ids)
    position = pd.Index(ids).get_indexer(pd.Index(candidates["customer_id"]))
    found = Candidates(
        position.astype(np.int64),
        candidates["action"].to_numpy(dtype=object),
        *(candidates[name].to_numpy(dtype=np.float64) for name in CANDIDATE_COLUMNS[2:]),
    )
    picks, reasons = best_actions(found, len(ids), top)
    rows: list[dict[str, Any]] = []
    for i, (picked, reason) in enumerate(zip(picks, reasons, strict=True)):
        if not picked.shape[0]:
            rows.append({"customer_id": ids[i], "action": "", "rank": 0, "reason": reason})
        for rank, k in enumerate(picked.tolist(), start=1):
            rows.append({**candidates.iloc[k].to_dict(), "rank": rank, "reason": reason})
    return pd.DataFrame(rows, columns=[*CANDIDATE_COLUMNS, "rank", "reason"])


@dataclass(frozen=True)
class Recommendation:
    """One action worth taking for a customer."""

    action: str
    expected_net_value: float
    expected_saved_value: float
    uplift: float
    cost: float


def recommend_customers(
    customers: Columns, playbook: Playbook, top: int | None = None
) -> list[tuple[tuple[Recommendation, ...], str]]:
    """Per customer (rows of ``customers``, the columns of :data:`CUSTOMER_COLUMNS` but the id):
    its best paying actions and ``"pays"``, or none and the reason."""
    n = len(customers["churn_probability"])
    found = candidate_arrays(customers, playbook)
    picks, reasons = best_actions(found, n, top or playbook.max_actions_per_customer)
    return [
        (
            tuple(
                Recommendation(
                    action=str(found.action[k]),
                    expected_net_value=float(found.expected_net_value[k]),
                    expected_saved_value=float(found.expected_saved_value[k]),
                    uplift=float(found.uplift[k]),
                    cost=float(found.cost[k]),
                )
                for k in picked.tolist()
            ),
            reason,
        )
        for picked, reason in zip(picks, reasons, strict=True)
    ]


def _no_pay(action: str, net_value: object) -> str:
    return f"no action pays: best is {action} at {float(net_value):,.0f}"  # type: ignore[arg-type]
