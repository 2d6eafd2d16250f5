"""Errors of the case store, each with the fix a dispatcher (or the web app) can act on.

Input problems (a bad outcome body, an unknown case) are `optimizer.errors.InputError`, shared
with the file readers; these are the store's own conditions.
"""

from __future__ import annotations

from optimizer.errors import CollectorRoutesError, ConfigError


class StoreError(CollectorRoutesError):
    """Root of the case store's errors."""


class StoreConfigError(StoreError, ConfigError):
    """The store URL is not usable (unknown scheme, missing driver)."""


class StoreUnavailable(StoreError, ConnectionError):
    """The database cannot be reached or opened (server down, wrong password, bad file)."""

    exit_code = 1


class OutcomeConflict(StoreError):
    """An idempotency key was used before with a different outcome (HTTP 409)."""

    exit_code = 2

    def __init__(self, key: str, outcome_id: int, differences: tuple[str, ...]) -> None:
        self.key = key
        self.outcome_id = outcome_id
        self.differences = differences
        super().__init__(
            f"idempotency key {key!r} was already used for outcome #{outcome_id} with a "
            f"different body ({', '.join(differences)} differ); send a retry with exactly the "
            "same body, or a new outcome with a new key (a correction names the old outcome "
            "in 'supersedes')")


class NotOnRoute(StoreError, PermissionError):
    """A collector asked about a case that is not a stop of their published route (HTTP 403)."""

    exit_code = 2


class AppendOnlyError(StoreError):
    """An event row (outcome, promise, payment, audit entry) was changed or deleted; events are
    corrected by a new event that points at the old one."""
