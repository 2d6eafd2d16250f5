"""Security of every response: headers, the Content-Security-Policy of pages, body limits.

Two ASGI middlewares wrap the whole application, so they cover every answer, the empty 404s,
errors and the API included:

- `SecurityHeaders` adds ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
  no-referrer`` (a token in a URL never leaks to a tile server), ``X-Frame-Options: DENY``,
  ``Cache-Control: no-store`` unless the route set one, and a ``Content-Security-Policy``:
  the route's own (a page's, `page_csp`) or `API_CSP`, which allows nothing at all;
- `BodyLimit` refuses a request body larger than the limit with ``413``, by its
  ``Content-Length`` before reading a byte, or while a body without one streams in.

`page_csp` allows the page's own inline scripts by their SHA-256 (`inline_script_hashes`),
never ``'unsafe-inline'``: the pages ``plan`` writes carry a few inline scripts of their own
(folium's map script, the overview's fold-on-a-phone line, the bundled scripts of a
``--self-contained`` page), and input text only ever enters them as escaped data, so a script
that was not written by ``plan`` has no hash here and does not run. Styles keep
``'unsafe-inline'`` (folium positions the map with inline styles; styles run no code).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from optimizer.outputs import maps

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: what everything but a page may load or run: nothing
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

_INLINE_SCRIPT = re.compile(r"<script(\s[^>]*)?>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_EXTERNAL_OR_DATA = re.compile(r"\ssrc\s*=|\stype\s*=\s*[\"']?application/json", re.IGNORECASE)


def tile_hosts() -> tuple[str, ...]:
    """The tile servers pages may load images from (`optimizer.outputs.maps.TILES`)."""
    hosts = {"https://" + t.url.split("/")[2].replace("{s}", "*") for t in maps.TILES.values()}
    return tuple(sorted(h.replace("https://webrd0*.is.autonavi.com", "https://*.is.autonavi.com")
                        for h in hosts))


def inline_script_hashes(page: str) -> tuple[str, ...]:
    """CSP sources (``'sha256-...'``) of the page's inline scripts that run (not ``src=``,
    not JSON data blocks), in order, each once."""
    out: dict[str, None] = {}
    for m in _INLINE_SCRIPT.finditer(page):
        if m.group(1) and _EXTERNAL_OR_DATA.search(m.group(1)):
            continue
        digest = hashlib.sha256(m.group(2).encode("utf-8")).digest()
        out[f"'sha256-{base64.b64encode(digest).decode('ascii')}'"] = None
    return tuple(out)


def page_csp(page: str, *, connect: bool) -> str:
    """The policy of one page: its own scripts and styles, bundled assets, tiles; the
    outcome API of its own server when `connect`."""
    scripts = " ".join(("'self'", *inline_script_hashes(page)))
    connect_src = "'self'" if connect else "'none'"
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: {' '.join(tile_hosts())}; "
        f"connect-src {connect_src}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
    )


class SecurityHeaders:
    """Adds the security headers to every response (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"server"]
                present = {k.lower() for k, _ in headers}
                for name, value in HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", API_CSP.encode()))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def too_large(limit: int) -> dict[str, str]:
    """The body of a 413 answer."""
    return {"error": "too_large",
            "message": f"the request body is larger than {limit:,} bytes; send one outcome (or "
                       "a smaller batch) per request"}


class BodyLimit:
    """Refuses a request whose ``Content-Length`` is above its path's limit with 413, before
    the application reads a byte. (A body sent without a length is counted as it is read:
    `optimizer.web.deps.json_body`.)

    ``limits`` maps a path prefix to its own limit (the case import takes more than an
    outcome); the longest matching prefix wins, `limit_bytes` elsewhere.
    """

    def __init__(self, app: ASGIApp, *, limit_bytes: int,
                 limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit_bytes
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = self.limit_for(scope.get("path", ""))
            declared = dict(scope.get("headers", [])).get(b"content-length")
            if declared is not None:
                try:
                    refuse = int(declared) > limit
                except ValueError:
                    refuse = True  # not a length: refused like a body that does not fit
                if refuse:
                    body = json.dumps(too_large(limit)).encode("utf-8")
                    await send({"type": "http.response.start", "status": 413, "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)
