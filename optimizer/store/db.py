"""Open a case store: the URL, the engine, one transaction per session.

Which store (`resolve_url`): an explicit URL (``--store``) wins, then the environment variable
``COLLECTOR_ROUTES_STORE``, then a SQLite file in the user's data folder
(``$XDG_DATA_HOME/collector-routes/store.sqlite``, else
``~/.local/share/collector-routes/store.sqlite``). Any SQLAlchemy URL works in principle; the
store is tested on SQLite and on PostgreSQL through psycopg 3
(``postgresql+psycopg://user:password@host:5432/dbname``).

Concurrent writers (the web server and a ``plan`` run) take turns rather than fail or lose a
write. SQLite: write-ahead log (readers never wait), foreign keys on, a 30 s busy timeout, and
write transactions that start with ``BEGIN IMMEDIATE`` (they take the write lock first, so
two writers queue instead of one failing with "database is locked" half-way). PostgreSQL:
row locks and unique constraints, with a savepoint where a race is expected (the idempotency
key, `optimizer.store.events`).

A `Store` opens its engine, brings the schema to the newest migration (`migrate.upgrade`), and
hands out sessions: ``with store.session() as s:`` is one transaction that commits when the
block ends and rolls back when it raises.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from optimizer.store import migrate as migrations
from optimizer.store.errors import AppendOnlyError, StoreConfigError, StoreUnavailable
from optimizer.store.tables import APPEND_ONLY

log = logging.getLogger(__name__)

ENV_VAR = "COLLECTOR_ROUTES_STORE"
BUSY_TIMEOUT_MS = 30_000
_WRITE = "collector_routes_write"  # execution option: this transaction writes


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """The SQLite file in the user's data folder (XDG base directory specification)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" /
                                           "share")
    return Path(base) / "collector-routes" / "store.sqlite"


def resolve_url(url: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """The store's URL: `url`, else ``$COLLECTOR_ROUTES_STORE``, else the default SQLite file.

    A bare path (no ``://``) is a SQLite file.
    """
    env = os.environ if environ is None else environ
    chosen = url or env.get(ENV_VAR) or ""
    if not chosen:
        return f"sqlite:///{default_path(env)}"
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).expanduser().resolve()}"
    return chosen


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite store file."""
    return f"sqlite:///{Path(path).resolve()}"


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreConfigError(
            f"store URL {url!r} is not a database URL; give a SQLite file "
            "(sqlite:////path/store.sqlite) or PostgreSQL "
            "(postgresql+psycopg://user:password@host:5432/dbname)") from None


def make_engine(url: str) -> Engine:
    """An engine for `url`, set up for concurrent writers (see the module docstring)."""
    u = _parse(url)
    backend = u.get_backend_name()
    if backend == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")  # psycopg 3, not the default psycopg2
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(u, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreConfigError(
            f"store URL {u.render_as_string(hide_password=True)!r}: no database driver "
            f"({exc}); use sqlite:/// or postgresql+psycopg://") from None
    if backend == "sqlite":
        _sqlite_setup(engine)
    return engine


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): pysqlite's own transaction handling is off
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # a writer takes the write lock when it starts, and waits for it (busy_timeout)
        # instead of failing when a reader's transaction turns into a write
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _refuse_event_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    changed = [o for o in session.dirty if isinstance(o, APPEND_ONLY) and session.is_modified(o)]
    gone = [o for o in session.deleted if isinstance(o, APPEND_ONLY)]
    if changed or gone:
        names = sorted({type(o).__tablename__ for o in changed + gone})
        raise AppendOnlyError(
            f"{', '.join(names)} rows are append-only and cannot be changed or deleted; record "
            "a new event that points at the old one (a correction supersedes an outcome)")


class Store:
    """An open case store. ``with Store.open(url) as store:`` closes it at the end.

    Sessions (`session`) are the unit of work: one per command or request.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write = sessionmaker(bind=engine.execution_options(**{_WRITE: True}),
                                   expire_on_commit=False)
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        for maker in (self._write, self._read):
            event.listen(maker, "before_flush", _refuse_event_changes)

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True,
             environ: Mapping[str, str] | None = None) -> Store:
        """Open the store `url` resolves to (`resolve_url`) and upgrade its schema to the
        newest migration (unless ``migrate=False``).

        Raises
        ------
        StoreConfigError
            The URL is not usable.
        StoreUnavailable
            The database cannot be reached or opened.
        """
        resolved = resolve_url(url, environ=environ)
        engine = make_engine(resolved)
        store = cls(engine)
        try:
            with engine.connect():
                pass
            if migrate:
                migrations.upgrade(engine)
        except OperationalError as exc:
            engine.dispose()
            why = " ".join(str(exc.orig).split())  # the driver's message on one line
            raise StoreUnavailable(
                f"the store {store.url} cannot be opened: {why}; check the URL "
                f"(--store or ${ENV_VAR}), that the server runs and the user may log in, or "
                "that the file's folder is writable") from None
        except Exception:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """The URL, password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: commits at the end of the block, rolls back if it raises."""
        with self._write() as s, s.begin():
            yield s

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction (rolled back at the end; on SQLite it takes no lock)."""
        with self._read() as s:
            try:
                yield s
            finally:
                s.rollback()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
