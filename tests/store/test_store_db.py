"""Opening a store: URL resolution, migrations on both back-ends, SQLite settings, sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from storehelp import at, case

from optimizer.store import migrate
from optimizer.store.cases import merge_cases
from optimizer.store.db import ENV_VAR, Store, default_path, make_engine, resolve_url
from optimizer.store.errors import StoreConfigError, StoreUnavailable
from optimizer.store.tables import Base, StoredCase

TABLES = {"imports", "cases", "case_versions", "address_corrections", "plans", "plan_routes",
          "plan_route_members", "plan_stops", "plan_unassigned", "outcomes",
          "outcome_collectors", "promises", "payments", "audit_log", "api_keys"}


def test_the_url_is_explicit_then_the_environment_then_the_data_folder(tmp_path):
    env = {"HOME": str(tmp_path / "home")}
    assert resolve_url(environ=env) == \
        f"sqlite:///{tmp_path}/home/.local/share/collector-routes/store.sqlite"
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    assert default_path(env) == tmp_path / "xdg" / "collector-routes" / "store.sqlite"
    env[ENV_VAR] = "postgresql+psycopg://u:p@db/x"
    assert resolve_url(environ=env) == "postgresql+psycopg://u:p@db/x"
    assert resolve_url("sqlite:////tmp/a.sqlite", environ=env) == "sqlite:////tmp/a.sqlite"
    # a bare path is a SQLite file
    assert resolve_url(str(tmp_path / "s.sqlite"), environ=env) == \
        f"sqlite:///{tmp_path}/s.sqlite"


def test_a_bad_url_or_an_unreachable_server_is_a_store_error_with_the_fix(tmp_path):
    with pytest.raises(StoreConfigError, match="not a database URL"):
        make_engine("not a url")
    for url in ("nonsense://", "oracle+nodriver://u@h/x"):
        with pytest.raises(StoreConfigError, match="no database driver"):
            make_engine(url)
    # nothing listens on port 1: the error names the store (password hidden) and the fix
    with pytest.raises(StoreUnavailable, match=r"postgresql\+psycopg://cr:\*\*\*@127.0.0.1:1/x"
                       r".*check the URL"):
        Store.open("postgresql://cr:secret@127.0.0.1:1/x?connect_timeout=2")


def test_migrations_upgrade_an_empty_database_to_head(store_url):
    engine = make_engine(store_url)
    try:
        assert migrate.current(engine) is None
        assert TABLES.isdisjoint(inspect(engine).get_table_names())
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head() == "0004"
        assert TABLES <= set(inspect(engine).get_table_names())
        # the models and the migrated schema agree: columns, types, keys, indexes
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def test_migrations_downgrade_to_empty_and_upgrade_again(store_url):
    with Store.open(store_url) as store:
        with store.session() as s:
            merge_cases(s, [case("A1")], file_name="a.csv", sha256="a" * 64,
                        imported_at=at("2026-12-01 08:00"))
        migrate.downgrade(store.engine, "0001")  # the triggers go
        assert migrate.current(store.engine) == "0001"
        with store.session() as s:  # the data stays
            assert s.scalars(select(StoredCase.case_id)).all() == ["A1"]
        migrate.downgrade(store.engine, "base")
        assert migrate.current(store.engine) is None
        assert TABLES.isdisjoint(inspect(store.engine).get_table_names())
        migrate.upgrade(store.engine)
        assert migrate.current(store.engine) == "0004"
        with store.session() as s:
            assert s.scalars(select(StoredCase)).all() == []


def test_opening_a_store_twice_migrates_once(store_url):
    with Store.open(store_url), Store.open(store_url) as again:
        assert migrate.current(again.engine) == "0004"


def test_a_session_commits_at_the_end_and_rolls_back_on_an_error(store):
    with pytest.raises(RuntimeError), store.session() as s:
        merge_cases(s, [case("A1")], file_name="a.csv", sha256="a" * 64)
        raise RuntimeError("half-way")
    with store.reading() as s:
        assert s.scalars(select(StoredCase)).all() == []
    with store.session() as s:
        merge_cases(s, [case("A1")], file_name="a.csv", sha256="a" * 64)
    with store.reading() as s:
        assert [c.case_id for c in s.scalars(select(StoredCase))] == ["A1"]


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path):
    with Store.open(str(tmp_path / "s.sqlite")) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        with pytest.raises(Exception, match="FOREIGN KEY"), store.session() as s:
            s.execute(text("INSERT INTO plan_stops (plan_id, route_pk, stop, case_id, lat, lon, "
                           "arrive_s, start_s, depart_s, window_start_s, window_end_s, value) "
                           "VALUES (99, 99, 1, 'nope', 0, 0, 0, 0, 0, 0, 0, 0)"))
    assert Path(tmp_path / "s.sqlite-wal").exists() or Path(tmp_path / "s.sqlite").exists()


def test_a_store_in_a_new_folder_creates_the_folder(tmp_path):
    path = tmp_path / "data" / "collector-routes" / "store.sqlite"
    with Store.open(str(path)) as store:
        assert store.dialect == "sqlite"
    assert path.exists()
