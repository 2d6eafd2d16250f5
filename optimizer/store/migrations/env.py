"""Alembic's environment for the store: runs on the connection `optimizer.store.migrate` opened
(inside its transaction and lock); there is no alembic.ini and no offline (SQL script) mode."""

from __future__ import annotations

from alembic import context

from optimizer.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's migrations run through optimizer.store.migrate "
                       "(upgrade, downgrade), which passes the connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
