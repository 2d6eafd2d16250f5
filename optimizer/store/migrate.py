"""The store's schema migrations (Alembic), run from code: no alembic.ini, no command line.

`upgrade` brings a database to the newest revision (a store does it when it opens), `downgrade`
goes back, `current` and `head` name the revisions. The scripts live in ``migrations/``
(``env.py`` and one file per revision in ``versions/``), shipped inside the package.

Two processes opening a new store at once do not both create it: the migration runs in one
transaction that first takes a lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory
transaction lock), and reads the current revision after it has the lock.

A new revision: change `optimizer.store.tables`, then
``new_revision(engine, "what changes")`` writes a draft into ``migrations/versions/``
(Alembic's autogenerate against a database at head); read it, finish it by hand, add a test.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory lock key of a migration (any constant; "cr-store" in ASCII)
_PG_LOCK = 0x63722D73746F7265


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision of the scripts."""
    heads = ScriptDirectory.from_config(_config()).get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"
    return heads[0]


def current(engine: Engine) -> str | None:
    """The database's revision, None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _run(engine: Engine, action: str, revision: str) -> None:
    write = engine.execution_options(collector_routes_write=True)  # BEGIN IMMEDIATE on SQLite
    with write.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        cfg = _config(conn)
        if action == "upgrade":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest); nothing if it is there."""
    if revision == "head" and current(engine) == head():
        return
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database to `revision` (``"base"``: an empty database)."""
    _run(engine, "downgrade", revision)


def new_revision(engine: Engine, message: str) -> None:
    """Write a draft revision for the difference between `tables` and the database (at head).
    For developers; the draft is read and finished by hand."""
    with engine.connect() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)
