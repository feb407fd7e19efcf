"""Scores carry tiers, value and the customer taxonomy.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FLOATS = ("p_downgrade", "p_upgrade", "p_alive", "expected_shipments", "expected_revenue", "clv")
_LABELS = (
    "tier_current",
    "tier_expected",
    "activity_state",
    "loyalty_form",
    "abc_class",
    "relationship_level",
    "upgrade_stage",
)


def upgrade() -> None:
    """Add nullable columns (rows stored before this revision have none of them)."""
    with op.batch_alter_table("scores") as batch:
        for name in _LABELS:
            batch.add_column(sa.Column(name, sa.String(32), nullable=True))
        for name in _FLOATS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch.add_column(sa.Column("tier_probabilities", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the columns again."""
    with op.batch_alter_table("scores") as batch:
        for name in (*_LABELS, *_FLOATS, "tier_probabilities"):
            batch.drop_column(name)
