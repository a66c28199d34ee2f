"""KeyBudgets: each key's token budget, held and spent in the database that every node shares.

Invariants:
- `hold` is one conditional UPDATE of the key's row: it raises `budget_held` only where
  `budget_spent + budget_held + tokens <= token_budget` (or the key has no budget). The
  database checks and writes in one statement under the row's lock (PostgreSQL) or the
  file's write lock (SQLite), so appliances sharing the database can never together hold
  more than a key's budget: settled usage + held worst cases <= budget, fleet-wide.
- Every hold is also counted under this node in `budget_holds`, in the same transaction, and
  `settle` takes it off both; so `budget_held` = the sum of the nodes' holds.
- A node that dies leaves its holds behind; `release_node()` (at start) gives them back.
  Node names must therefore be unique among the appliances on one database.
- Both statements of a transaction lock the key's row first, then the node's: no deadlock.
"""
from __future__ import annotations

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from appliance.auth.key_table import ApiKeyRow, BudgetHoldRow

K, H = ApiKeyRow, BudgetHoldRow
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class KeyBudgets:
    def __init__(self, db: Engine, node: str) -> None:
        if db.dialect.name not in _INSERTS:
            raise ValueError(f"token budgets need SQLite or PostgreSQL, not {db.dialect.name}")
        self.db, self.node = db, node
        self._insert = _INSERTS[db.dialect.name]

    def hold(self, key_id: str, tokens: int) -> bool:
        """Hold `tokens` of the key's budget; False if they do not fit (nothing is held then)."""
        fits = or_(K.token_budget == 0, K.budget_spent + K.budget_held + tokens <= K.token_budget)
        with self.db.begin() as conn:
            raised = conn.execute(update(K).where(K.id == key_id, fits)
                                  .values(budget_held=K.budget_held + tokens)).rowcount
            if raised:
                add = self._insert(H).values(key_id=key_id, node=self.node, held=tokens)
                conn.execute(add.on_conflict_do_update(index_elements=[H.key_id, H.node],
                                                       set_={"held": H.held + tokens}))
        return bool(raised)

    def settle(self, key_id: str, released: int, actual: int) -> None:
        """Give back `released` held tokens and bill `actual` (a request, or a part of one, ended)."""
        with self.db.begin() as conn:
            conn.execute(update(K).where(K.id == key_id).values(budget_held=K.budget_held - released,
                                                               budget_spent=K.budget_spent + actual))
            conn.execute(update(H).where(H.key_id == key_id, H.node == self.node)
                         .values(held=H.held - released))

    def state(self, key_id: str) -> tuple[int, int]:
        """(tokens spent ever, tokens held now) by the key, on every node."""
        with self.db.connect() as conn:
            row = conn.execute(select(K.budget_spent, K.budget_held).where(K.id == key_id)).first()
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)

    def release_node(self) -> int:
        """Give back every hold this node left (its requests died with it); the tokens released."""
        mine = and_(H.key_id == K.id, H.node == self.node)
        held = select(H.held).where(mine).scalar_subquery()
        with self.db.begin() as conn:
            conn.execute(update(K).where(select(H.key_id).where(mine, H.held != 0).exists())
                         .values(budget_held=K.budget_held - held))   # a write first: SQLite locks now
            total = conn.execute(select(H.held).where(H.node == self.node)).scalars().all()
            conn.execute(update(H).where(H.node == self.node).values(held=0))
        return int(sum(total))
