"""Stored campaign plans, feedback linked to them, drivers on scores, and prediction-log provenance.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the planned_actions table and nullable columns (older rows have none of them)."""
    op.create_table(
        "planned_actions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("group", sa.String(16), nullable=False),
        sa.Column("churn_probability", sa.Float(), nullable=False),
        sa.Column("value_at_risk", sa.Float(), nullable=True),
        sa.Column("uplift", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("expected_saved_value", sa.Float(), nullable=False),
        sa.Column("expected_net_value", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_planned_actions"),
        sa.UniqueConstraint("campaign_id", "customer_id", name="uq_planned_actions_campaign_id_customer_id"),
    )
    op.create_index(
        "ix_planned_actions_customer_latest", "planned_actions", ["customer_id", "as_of", "created_at"]
    )
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("drivers", sa.Text(), nullable=True))
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("campaign_id", sa.String(64), nullable=True))
    with op.batch_alter_table("prediction_log") as batch:
        batch.add_column(sa.Column("bundle_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("client_request_id", sa.String(128), nullable=True))


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    with op.batch_alter_table("prediction_log") as batch:
        batch.drop_column("client_request_id")
        batch.drop_column("bundle_hash")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("campaign_id")
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("drivers")
    op.drop_index("ix_planned_actions_customer_latest", table_name="planned_actions")
    op.drop_table("planned_actions")
