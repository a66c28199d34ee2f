"""Speculative decoding figures on each usage row: draft tokens verified and accepted.

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ("spec_draft_tokens", "spec_accepted_tokens")


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
