"""Benchmark runs: one row per point of a sweep (`airlock bench sweep`), read by `airlock tune`
and the console's frontier view.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INTEGERS = ("concurrency", "max_num_seqs", "max_num_batched_tokens", "max_prefill_chunk", "requests",
            "output_tokens")
FIGURES = ("wall_seconds", "output_tokens_per_s", "kv_peak_usage", "kv_peak_mib")
OPTIONAL = ("ttft_p50_s", "ttft_p95_s", "itl_p50_s", "itl_p95_s", "cost_per_million_output")


def upgrade() -> None:
    op.create_table(
        "bench_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("quantization", sa.String(32), nullable=False),
        sa.Column("workload", sa.String(200), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in INTEGERS),
        *(sa.Column(name, sa.Float(), nullable=False) for name in FIGURES),
        *(sa.Column(name, sa.Float(), nullable=True) for name in OPTIONAL),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("pareto", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_bench_runs_run_id", "bench_runs", ["run_id"])
    op.create_index("ix_bench_runs_model_created", "bench_runs", ["model", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_bench_runs_model_created", table_name="bench_runs")
    op.drop_index("ix_bench_runs_run_id", table_name="bench_runs")
    op.drop_table("bench_runs")
