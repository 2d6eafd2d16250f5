"""Keys of the lender's HTTP API: made once, shown once, kept as a SHA-256 only.

A key reads ``crk_<key id>_<secret>``: the key id (12 hex digits) is its public part, which
names the key in the audit log and finds its row; the secret is 256 random bits
(`secrets.token_urlsafe`). The store keeps the SHA-256 of the whole key, so a copy of the
database does not hold a usable key. A slow password hash (argon2, bcrypt) is not needed: it
protects guessable passwords, and a 256-bit random secret cannot be guessed whatever the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.errors import InputError, Issue
from optimizer.store.audit import log_action, utcnow
from optimizer.store.tables import ApiKey

PREFIX = "crk_"
_KEY_RE = re.compile(r"crk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class ApiClient:
    """A key's holder as the API sees it (never the key itself)."""

    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def actor(self) -> str:
        """Who the audit log names for this client's requests."""
        return f"api:{self.name}"


def _client(row: ApiKey) -> ApiClient:
    return ApiClient(row.key_id, row.name, row.created_at, row.revoked_at)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _problem(name: str, message: str, fix: str) -> InputError:
    return InputError([Issue("apikey", 0, f"name={name}", "name", name, message, fix)])


def add_key(session: Session, name: str, *, actor: str, at: datetime | None = None
            ) -> tuple[ApiClient, str]:
    """Make a key for `name` (a system of the lender, e.g. ``loan-system``).

    Returns
    -------
    (ApiClient, str)
        The client and the key: show the key once, the store cannot tell it again.

    Raises
    ------
    InputError
        The name is not 1-100 letters, digits, ``.``, ``_`` or ``-`` (starting with a letter or
        digit), or a key of that name exists.
    """
    if not _NAME_RE.fullmatch(name):
        raise _problem(name, "is not a key name", "use 1-100 letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit, e.g. loan-system")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise _problem(name, "a key of this name exists", "choose another name (or revoke the "
                       "old key first)")
    key_id = secrets.token_hex(6)
    while session.scalar(select(ApiKey.id).where(ApiKey.key_id == key_id)) is not None:
        key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    now = at or utcnow()
    row = ApiKey(name=name, key_id=key_id, sha256=_digest(key), created_at=now, actor=actor,
                 revoked_at=None)
    session.add(row)
    session.flush()
    log_action(session, actor=actor, action="apikey.created", at=now,
               details={"name": name, "key_id": key_id})
    return _client(row), key


def verify_key(session: Session, key: str) -> ApiClient | None:
    """The client of a valid, unrevoked key; None for anything else (malformed, unknown,
    revoked, wrong secret), without telling which."""
    m = _KEY_RE.fullmatch(key or "")
    if m is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_id == m.group(1)))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.sha256, _digest(key)):
        return None
    return _client(row)


def revoke_key(session: Session, name: str, *, actor: str, at: datetime | None = None
               ) -> ApiClient:
    """End the key of `name`; `InputError` if there is no such key in use."""
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None or row.revoked_at is not None:
        raise _problem(name, "no key of this name in use", "check the name (apikey list)")
    now = at or utcnow()
    row.revoked_at = now
    log_action(session, actor=actor, action="apikey.revoked", at=now,
               details={"name": name, "key_id": row.key_id})
    return _client(row)


def list_keys(session: Session) -> list[ApiClient]:
    """Every key made, oldest first, revoked ones included."""
    return [_client(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]
