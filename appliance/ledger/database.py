"""The ledger's database: engine with SQLite pragmas, Alembic run from code, backup before upgrade."""
from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

import migrations

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this build's revision; the message says why."""


def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`; SQLite files get WAL, foreign keys and a busy timeout."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: durable across a process kill
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", *, backup: bool = True) -> Path | None:
    """Upgrade the schema to `revision`. A SQLite file that holds tables and is behind is first
    copied aside; the copy's path is returned (None when no copy was needed)."""
    current = current_revision(engine)
    if current is not None and not _known(current):
        raise SchemaError(f"the ledger database is at migration {current!r}, which this build does not know "
                          f"(its newest is {head_revision()!r}): it was written by a newer Airlock")
    copy = None
    if backup and current != _resolve(revision) and _holds_tables(engine):
        copy = backup_sqlite(engine)
    _run(engine, command.upgrade, revision)
    return copy


def downgrade(engine: Engine, revision: str = "-1") -> None:
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, action, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def _resolve(revision: str) -> str | None:
    """The revision id `revision` names; a relative one ("+1") resolves to "?" (not current)."""
    if revision == "base":
        return None
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision).revision
    except Exception:  # relative or unknown: alembic's own upgrade call reports what is wrong
        return "?"


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown id
        return False


def _holds_tables(engine: Engine) -> bool:
    return any(t != "alembic_version" for t in inspect(engine).get_table_names())


def backup_sqlite(engine: Engine) -> Path | None:
    """Copy a SQLite database file aside with SQLite's online backup (safe under WAL)."""
    path = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    revision = current_revision(engine) or "base"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = Path(f"{path}.{revision}.{stamp}.bak")
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    log.info("copied the ledger database aside to %s before upgrading", target)
    return target

