"""Models of different data sources are never compared; scoring says when data differs."""

from __future__ import annotations

import pandas as pd

from berth.provenance import data_source, source_differences
from berth.registry import _other_source
from berth.tables import PortData

PORT = PortData(
    shipments=pd.DataFrame(
        {"customer_id": ["a"], "shipment_date": [pd.Timestamp("2025-01-01")], "revenue": [1.0]}
    ),
    customers=pd.DataFrame({"customer_id": ["a"], "segment": ["shipper"]}),
)
RETAIL = PortData(
    shipments=pd.DataFrame({"customer_id": ["x"], "shipment_date": [pd.Timestamp("2025-01-01")]})
)


def test_signature_depends_on_project_and_schema() -> None:
    port = data_source(PORT, "demo")
    assert port["tables"] == {
        "shipments": ["customer_id", "revenue", "shipment_date"],
        "customers": ["customer_id", "segment"],
    }
    assert data_source(PORT, "demo")["signature"] == port["signature"]
    assert data_source(PORT, "other")["signature"] != port["signature"]
    assert data_source(RETAIL, "demo")["signature"] != port["signature"]


def test_a_champion_of_another_source_is_not_compared() -> None:
    port = data_source(PORT, "demo")
    retail = data_source(RETAIL, "retail")
    tags = {"project": "demo", "data_source": port["signature"]}
    assert _other_source(tags, port) is None
    reason = _other_source(tags, retail)
    assert reason is not None
    assert "another data source" in reason
    assert "berth-churn-retail" in reason
    assert _other_source({}, retail) is None, "a champion registered before sources were recorded"


def test_scoring_other_data_names_the_differences() -> None:
    trained_on = data_source(PORT, "demo")
    assert source_differences(trained_on, PORT) == []
    problems = source_differences(trained_on, RETAIL)
    assert "no customers table (the model was trained with one)" in problems
    assert any(p.startswith("shipments lacks revenue") for p in problems)
