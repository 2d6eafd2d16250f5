"""Store fixtures: every store test runs on SQLite and on a real PostgreSQL server.

PostgreSQL comes from ``$COLLECTOR_ROUTES_TEST_POSTGRES`` (a SQLAlchemy URL; CI's ``.ci/run``
starts a server and exports ``postgresql+psycopg://cr:cr@127.0.0.1:5432/cr_test``). The test
session creates a database of its own (a unique name, dropped at the end) and every test a
fresh schema in it, so tests never see each other's rows, nor other sessions' on the same
server. Without the variable the PostgreSQL half is skipped, with the reason; in CI (``$CI``
set) its absence is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from optimizer.store.db import Store, sqlite_url

PG_ENV = "COLLECTOR_ROUTES_TEST_POSTGRES"

@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    """A database of this test session on the PostgreSQL server, dropped at the end."""
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but ${PG_ENV} is not: the store tests must run against "
                        "PostgreSQL in CI (.ci/run starts the server and exports the URL)")
        pytest.skip(f"${PG_ENV} is not set: no PostgreSQL server for the store tests (set it "
                    "to a SQLAlchemy URL, e.g. postgresql+psycopg://cr:cr@127.0.0.1:5432/"
                    "cr_test; .ci/run starts one)")
    url = make_url(base)
    name = f"cr_store_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """The URL of a fresh, empty store: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "store.sqlite")  # type: ignore[operator]
        return
    db: URL = request.getfixturevalue("pg_database")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(db, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield db.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open store at the newest schema."""
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()
