"""The `api_keys` and `budget_holds` tables. The secret is never stored: only its sha256 and a
short display prefix. The budget columns are written only by appliance/auth/budgets.py."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class KeyBase(DeclarativeBase):
    pass


class ApiKeyRow(KeyBase):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(200), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    allowed_models: Mapped[str] = mapped_column(Text, default="")   # comma-separated; empty: all
    requests_per_minute: Mapped[int] = mapped_column(Integer, default=0)  # 0: no limit
    tokens_per_minute: Mapped[int] = mapped_column(Integer, default=0)
    token_budget: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    budget_spent: Mapped[int] = mapped_column(BigInteger, server_default="0")   # tokens billed, ever, every node
    budget_held: Mapped[int] = mapped_column(BigInteger, server_default="0")    # worst cases in flight, every node


class BudgetHoldRow(KeyBase):
    """The part of a key's `budget_held` that one node holds (given back when that node restarts)."""
    __tablename__ = "budget_holds"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    held: Mapped[int] = mapped_column(BigInteger, server_default="0")
