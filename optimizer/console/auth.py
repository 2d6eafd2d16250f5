"""Who a console request is: the session cookie, the CSRF token of forms, the sign-in limit.

- The session cookie (`COOKIE`) holds a random secret; the store keeps its SHA-256
  (`optimizer.store.users`). ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other
  site's page sends it), ``Path=/``, ``Secure`` when the console is served over HTTPS
  (`ConsoleSettings.secure_cookies`).
- Every form carries the session's CSRF token in a hidden field ``csrf``; a POST without the
  right one is refused (403). The sign-in form, before any session, uses a double-submit
  token: a cookie (`LOGIN_COOKIE`) and the same value in the form.
- `LoginLimiter`: failed sign-ins per account name and per client address in a sliding window;
  over the limit, 429 with ``Retry-After`` (the password is not even checked).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request

from optimizer.store.db import Store
from optimizer.store.users import SignedIn, session_user

COOKIE = "cr_console"
LOGIN_COOKIE = "cr_login"


class Refused(Exception):
    """A console request refused: 401 (not signed in), 403 (role, CSRF) or 429 (limit)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class LoginLimiter:
    """Failed sign-ins allowed per key (account name, client address) in a window."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failed: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failed.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def wait_s(self, keys: tuple[str, ...], now: float | None = None) -> int:
        """Seconds until a key over the limit may try again (0: may try now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = [self._recent(k, now)[0] + self.window_s - now for k in keys
                     if len(self._recent(k, now)) >= self.attempts]
        return int(max(waits)) + 1 if waits else 0

    def failed(self, keys: tuple[str, ...], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            for k in keys:
                if k.startswith("name:"):
                    self._failed.pop(k, None)


@dataclass(frozen=True)
class Cookie:
    name: str
    value: str
    max_age: int | None


def signed_in(request: Request) -> SignedIn | None:
    """The request's live session (None: no cookie, or an ended one)."""
    secret = request.cookies.get(COOKIE, "")
    if not secret:
        return None
    store: Store = request.app.state.store
    with store.session() as s:
        return session_user(s, secret)


def check_csrf(form: Mapping[str, object], expected: str) -> None:
    """403 unless the form's ``csrf`` field is `expected`."""
    given = form.get("csrf")
    if not isinstance(given, str) or not expected or not secrets.compare_digest(
            given.encode(), expected.encode()):
        raise Refused(403, "the form's security token is missing or out of date; reload the "
                      "page and send the form again")


def require(request: Request, action: str) -> SignedIn:
    """The session of a signed-in account that may do `action` (401 / 403 otherwise)."""
    who = signed_in(request)
    if who is None:
        raise Refused(401, "sign in first")
    if not who.user.may(action):
        raise Refused(403, f"the role {who.user.role} may not do this ({action})")
    return who
