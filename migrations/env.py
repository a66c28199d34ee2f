"""Alembic environment for the ledger database. The Alembic config is built in code
(appliance.ledger.database.alembic_config); a live connection may be handed in through
`config.attributes["connection"]`, otherwise the URL in the config is used (or rendered as
SQL with `--sql`)."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from appliance.auth.key_table import KeyBase
from appliance.ledger.models import LedgerBase

target_metadata = [LedgerBase.metadata, KeyBase.metadata]


def run_offline() -> None:
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
