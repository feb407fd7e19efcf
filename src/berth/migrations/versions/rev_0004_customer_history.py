"""Stored customer history: shipments, interactions and profiles (berth ingest, POST /v1/events).

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three history tables, keyed so that storing an event twice stores it once."""
    op.create_table(
        "history_shipments",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("shipment_key", sa.String(160), nullable=False),
        sa.Column("shipment_date", sa.Date(), nullable=False),
        sa.Column("shipment_id", sa.String(128), nullable=True),
        sa.Column("volume", sa.Float(), nullable=True),
        sa.Column("revenue", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("delay_hours", sa.Float(), nullable=True),
        sa.Column("damaged", sa.Float(), nullable=True),
        sa.Column("cargo_type", sa.Text(), nullable=True),
        sa.Column("lane", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", "shipment_key", name="pk_history_shipments"),
    )
    op.create_table(
        "history_interactions",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", "timestamp", "type", name="pk_history_interactions"),
    )
    op.create_table(
        "history_profiles",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("segment", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("credit_rating", sa.Text(), nullable=True),
        sa.Column("contract", sa.Boolean(), nullable=True),
        sa.Column("loyalty_member", sa.Boolean(), nullable=True),
        sa.Column("account_manager", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_history_profiles"),
    )


def downgrade() -> None:
    """Drop the history tables."""
    op.drop_table("history_profiles")
    op.drop_table("history_interactions")
    op.drop_table("history_shipments")
