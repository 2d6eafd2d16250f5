"""Alembic migrations of the case store, run by `optimizer.store.migrate` when a store opens."""
