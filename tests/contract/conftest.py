"""Fixtures for the data-contract tests: small clean raw tables built by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from ._helpers import strings


@pytest.fixture
def shipments() -> pd.DataFrame:
    """Three clean shipments with every column of the contract."""
    return strings(
        customer_id=["C1", "C2", "C1"],
        shipment_date=["2024-01-05", "2024-02-10", "2024-03-15"],
        shipment_id=["S1", "S2", "S3"],
        volume=["10", "2.5", ""],
        revenue=["1000", "250.5", "80"],
        cost=["700", "200", "60"],
        delay_hours=["0", "12", "3.5"],
        damaged=["0", "1", ""],
        cargo_type=["container", "bulk", "reefer"],
        lane=["SHA-RTM", "SHA-LAX", "SHA-RTM"],
        channel=["edi", "web", "edi"],
    )


@pytest.fixture
def interactions() -> pd.DataFrame:
    """Three clean interactions."""
    return strings(
        customer_id=["C1", "C2", "C2"],
        timestamp=["2024-01-06 09:30:00", "2024-02-11T10:00:00+08:00", "2024-03-01"],
        type=["Complaint", " survey ", "call"],
        score=["", "9", ""],
        resolved_at=["2024-01-08 12:00:00", "", ""],
        sentiment=["negative", "0.6", ""],
        channel=["phone", "email", "phone"],
    )


@pytest.fixture
def customers() -> pd.DataFrame:
    """Two clean customers."""
    return strings(
        customer_id=["C1", "C2"],
        segment=["shipping_line", "forwarder"],
        region=["east", "south"],
        since=["2019-04-01", "2021-07-15"],
        credit_rating=["A", "BB"],
        contract=["yes", "0"],
        loyalty_member=["True", "false"],
        account_manager=["Li Wei", ""],
    )
