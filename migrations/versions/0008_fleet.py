"""A fleet on one database: the node on each usage row, and token budgets held in the database.

`api_keys.budget_spent` is every token a key has been billed, `budget_held` the worst cases of
its requests in flight on every node; `budget_holds` splits the held tokens by node, so a node
that restarts after a crash gives back what its lost requests held. Spent is seeded from the
usage rows already written. `fleet_nodes` holds each node's last report of itself.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEED_SPENT = ("UPDATE api_keys SET budget_spent = (SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) "
              "FROM usage_records WHERE usage_records.key_id = api_keys.id)")


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("node", sa.String(64), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("budget_spent", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("budget_held", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(SEED_SPENT)
    op.create_table(
        "budget_holds",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("held", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "fleet_nodes",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("models", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fleet_nodes")
    op.drop_table("budget_holds")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("budget_held")
        batch.drop_column("budget_spent")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("node")
