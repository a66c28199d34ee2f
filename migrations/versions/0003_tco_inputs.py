"""TCO inputs, editable at run time; every edit is kept as a new row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FIGURES = ("hardware_price", "amortization_years", "residual_value", "power_watts",
           "price_per_kwh", "pue", "operations_per_month", "utilisation")


def upgrade() -> None:
    op.create_table(
        "tco_inputs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in FIGURES),
        sa.Column("currency", sa.String(8), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tco_inputs")
