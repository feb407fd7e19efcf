"""Which data a model was trained on, so models of different sources are never mixed.

A model's data source is its project name (``project`` in the config; ``berth train`` defaults it to
the data folder's name) and the columns of each table, with a signature of both. The registry
never compares a new version with a champion of another signature, and scoring warns when the
data it scores is not shaped like the model's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from berth.tables import PortData

TABLES = ("shipments", "interactions", "customers")


def table_columns(data: PortData) -> dict[str, list[str]]:
    """Each present table's columns, sorted."""
    return {
        name: sorted(str(c) for c in frame.columns)
        for name in TABLES
        if (frame := getattr(data, name)) is not None and len(frame.columns)
    }


def data_source(data: PortData, project: str | None) -> dict[str, Any]:
    """``project``, ``tables`` (columns by table) and ``signature`` (a hash of both)."""
    described = {"project": project or "default", "tables": table_columns(data)}
    signature = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]
    return {**described, "signature": signature}


def source_differences(trained_on: Mapping[str, Any], data: PortData) -> list[str]:
    """How ``data`` differs from the data a model was trained on (empty when alike)."""
    if not trained_on:
        return []
    theirs: Mapping[str, list[str]] = trained_on.get("tables", {})
    ours = table_columns(data)
    out = []
    for table in TABLES:
        if table in theirs and table not in ours:
            out.append(f"no {table} table (the model was trained with one)")
            continue
        missing = sorted(set(theirs.get(table, ())) - set(ours.get(table, ())))
        if table in ours and missing:
            out.append(
                f"{table} lacks {', '.join(missing)} (the model was trained with them; "
                "their features are empty)"
            )
    return out
