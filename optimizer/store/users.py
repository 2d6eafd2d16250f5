"""Accounts and signed-in sessions of the dispatcher console.

An account has a name, a role and the argon2id hash of its password (`argon2-cffi`'s
defaults: a slow, memory-hard hash, so a copy of the database does not give the passwords).
Roles (`ROLES`): ``dispatcher`` loads the day, plans, adjusts and publishes; ``planner`` runs
what-if comparisons only; ``admin`` manages accounts (and may do everything).

A session is a random 256-bit secret in a cookie; the store keeps only its SHA-256, the
account, a CSRF token (sent back in every form) and when it ends (`SESSION_HOURS`).
Collector links stay token links without accounts (`optimizer.web.site`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete as sql_delete  # sessions are state, not events
from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.errors import InputError, Issue
from optimizer.store.audit import log_action, utcnow
from optimizer.store.tables import ConsoleSession, ConsoleUser

#: role -> what it may do (checked by the console's routes)
ROLES = {
    "dispatcher": frozenset({"plan", "publish", "whatif"}),
    "planner": frozenset({"whatif"}),
    "admin": frozenset({"plan", "publish", "whatif", "accounts"}),
}
SESSION_HOURS = 12
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
# one hasher (its parameters are in each hash, so older hashes still verify)
_HASHER = PasswordHasher()
# a hash verified when the name is unknown, so both answers take the same time
_DUMMY = _HASHER.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    """A console account as the routes see it (never its hash)."""

    user_id: int
    name: str
    role: str

    def may(self, action: str) -> bool:
        return action in ROLES.get(self.role, frozenset())

    @property
    def actor(self) -> str:
        """Who the audit log names for this account's actions."""
        return f"console:{self.name}"


@dataclass(frozen=True)
class SignedIn:
    """A session: the cookie's secret (sent once, never stored), its CSRF token, its user."""

    secret: str
    csrf: str
    user: User
    expires_at: datetime


def _problem(name: str, field: str, value: str, message: str, fix: str) -> InputError:
    return InputError([Issue("users", 0, f"name={name}", field, value, message, fix)])


def check_password(name: str, password: str) -> None:
    """`InputError` if `password` is too short or too long for an account."""
    if len(password) < MIN_PASSWORD:
        raise _problem(name, "password", "", f"is {len(password)} characters; at least "
                       f"{MIN_PASSWORD} are needed", "give a longer password (a few words)")
    if len(password) > MAX_PASSWORD:
        raise _problem(name, "password", "", f"is longer than {MAX_PASSWORD} characters",
                       "give a shorter password")


def add_user(session: Session, name: str, password: str, *, role: str, actor: str,
             at: datetime | None = None) -> User:
    """Make an account (`InputError` naming the field if the name, role or password is bad, or
    the name is taken)."""
    if not _NAME_RE.fullmatch(name):
        raise _problem(name, "name", name, "is not a valid account name", "use 1-100 letters, "
                       "digits, '.', '_', '@' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise _problem(name, "role", role, "is not a role", "give one of "
                       + ", ".join(ROLES))
    check_password(name, password)
    if session.scalar(select(ConsoleUser).where(ConsoleUser.name == name)) is not None:
        raise _problem(name, "name", name, "already has an account", "choose another name")
    now = at or utcnow()
    row = ConsoleUser(name=name, role=role, password_hash=_HASHER.hash(password),
                      created_at=now, actor=actor)
    session.add(row)
    session.flush()
    log_action(session, actor=actor, action="user.added", at=now,
               details={"name": name, "role": role})
    return User(row.id, row.name, row.role)


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The account if `password` is its password (None otherwise, in about the same time)."""
    row = session.scalar(select(ConsoleUser).where(ConsoleUser.name == name))
    if row is None or row.disabled_at is not None:
        try:
            _HASHER.verify(_DUMMY, password or " ")
        except VerificationError:
            pass
        return None
    try:
        _HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = _HASHER.hash(password)
    return User(row.id, row.name, row.role)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start_session(session: Session, user: User, *, at: datetime | None = None,
                  hours: float = SESSION_HOURS) -> SignedIn:
    """A new session of `user` (its secret goes into the cookie, only its hash is stored)."""
    now = at or utcnow()
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    session.add(ConsoleSession(sha256=_digest(secret), user_id=user.user_id, csrf=csrf,
                               created_at=now, expires_at=expires))
    log_action(session, actor=user.actor, action="user.signed_in", at=now, details={})
    return SignedIn(secret, csrf, user, expires)


def session_user(session: Session, secret: str, *, at: datetime | None = None
                 ) -> SignedIn | None:
    """The live session of a cookie's secret (None: unknown, ended or its account disabled)."""
    if not secret or len(secret) > 200:
        return None
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.sha256 == _digest(secret)))
    if row is None or row.expires_at <= (at or utcnow()):
        return None
    user = session.get(ConsoleUser, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return SignedIn(secret, row.csrf, User(user.id, user.name, user.role), row.expires_at)


def end_session(session: Session, secret: str) -> None:
    """Sign out: the session's row goes (its cookie opens nothing any more)."""
    session.execute(sql_delete(ConsoleSession).where(ConsoleSession.sha256 == _digest(secret)))


def list_users(session: Session) -> list[User]:
    return [User(r.id, r.name, r.role)
            for r in session.scalars(select(ConsoleUser).order_by(ConsoleUser.name))]
