"""Dependencies of the routes: the site, the store session, who a request is, its JSON body.

Who: a collector by the token in the path (`collector_access`: the token must open a
collector's page of the plan now served, else an empty 404), a lender's system by its API key
(`api_client`: ``Authorization: Bearer crk_...``, else 401). Every query of a route filters by
that identity.

The store session (`write_session`) is one transaction per request that commits when the
route function returns, before the answer is sent (``scope="function"``): an acknowledged
outcome is a committed one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from optimizer.store.apikeys import ApiClient, verify_key
from optimizer.store.db import Store
from optimizer.web.errors import ApiError, NotFound, body_problem
from optimizer.web.security import too_large
from optimizer.web.settings import WebSettings
from optimizer.web.site import Access, Site


def get_settings(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def get_site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def optional_store(request: Request) -> Store | None:
    store: Store | None = request.app.state.store
    return store


def get_store(store: Annotated[Store | None, Depends(optional_store)]) -> Store:
    """The store; without one the outcome routes do not exist (empty 404)."""
    if store is None:
        raise NotFound
    return store


def write_session(request: Request, store: Annotated[Store, Depends(get_store)]
                  ) -> Iterator[Session]:
    """A write transaction, committed when the route returns (before the answer).

    On SQLite this process's writers also queue on the application's lock: SQLite lets one
    writer in at a time and the others poll with growing sleeps, which under 20 concurrent
    phones starved a few requests for seconds; waiting on a lock wakes the next one at once.
    (Writers in other processes, a ``plan`` run, still take turns through the busy timeout.)
    """
    lock: threading.Lock | None = request.app.state.write_lock
    if lock is None:
        with store.session() as s:
            yield s
        return
    with lock, store.session() as s:
        yield s


def read_session(store: Annotated[Store, Depends(get_store)]) -> Iterator[Session]:
    with store.reading() as s:
        yield s


WriteSession = Annotated[Session, Depends(write_session, scope="function")]
ReadSession = Annotated[Session, Depends(read_session, scope="function")]


def collector_access(token: str, site: Annotated[Site, Depends(get_site)]) -> Access:
    """The collector whose token is in the path (404 for anything else, 503 without a plan)."""
    access = site.access(token)
    if access is None:
        if site.links() is None:
            raise ApiError(503, "unavailable", "no complete plan is being served right now; "
                           "try again in a moment", headers={"Retry-After": "5"})
        raise NotFound
    if access.collector_id is None:  # the overview's token records nothing
        raise NotFound
    return access


def recording_store(access: Annotated[Access, Depends(collector_access)],
                    store: Annotated[Store | None, Depends(optional_store)]) -> Store:
    """The store a collector's outcome goes into; without one (``serve DIR`` without
    ``--store``) a 403 that says so: the collector holds a valid link, so it hides nothing, and
    the phone keeps the outcome with the message instead of dropping it."""
    if store is None:
        raise ApiError(403, "recording_disabled", "this server shows the plan's pages only: it "
                       "was started without a case store, so it records no outcomes; write the "
                       "outcome on the route sheet, or ask the dispatcher to restart it with "
                       "`collector-routes serve DIR --store URL`")
    return store


def api_client(session: ReadSession,
               authorization: Annotated[str | None, Header()] = None) -> ApiClient:
    """The lender's system whose key is in ``Authorization: Bearer ...`` (else 401)."""
    scheme, _, key = (authorization or "").partition(" ")
    client = verify_key(session, key.strip()) if scheme.lower() == "bearer" else None
    if client is None:
        raise ApiError(401, "unauthorized", "no valid API key; send 'Authorization: Bearer "
                       "<key>' with a key made by `collector-routes apikey add NAME`",
                       headers={"WWW-Authenticate": "Bearer"})
    return client


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and
                                          kind.endswith("+json"))


async def json_body(request: Request) -> Any:
    """The request's JSON body: 415 if it is not JSON, 413 above the size limit (counted as
    it streams in, for a body without a length), 422 if it does not parse."""
    settings = get_settings(request)
    if not _is_json(request.headers.get("content-type", "")):
        raise ApiError(415, "unsupported_media_type", "the body must be JSON; send it with "
                       "'Content-Type: application/json'")
    limit = (settings.max_import_bytes if request.url.path.startswith("/api/v1/cases")
             else settings.max_body_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            body = too_large(limit)
            raise ApiError(413, body["error"], body["message"])
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise body_problem("(body)", raw[:80].decode("utf-8", "replace"), f"is not JSON ({exc})",
                           "send one JSON object, UTF-8 encoded") from None


def json_object(body: Any) -> dict[str, Any]:
    """`body` if it is a JSON object, else a 422."""
    if not isinstance(body, dict):
        raise body_problem("(body)", json.dumps(body)[:80], "is not a JSON object",
                           "send one JSON object of field: value")
    return body


JsonBody = Annotated[Any, Depends(json_body)]
