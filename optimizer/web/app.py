"""The web application: the collectors' pages and outcome form, and the lender's HTTP API.

`create_app` builds one FastAPI application over a plan folder (`optimizer.web.site`) and,
optionally, the case store:

- ``optimizer.web.collector``: ``/<token>/`` pages, assets, ``/<token>/api/outcomes``;
- ``optimizer.web.api``: ``/api/v1/...`` for the lender's systems (API keys), its OpenAPI
  schema at ``/api/v1/openapi.json`` (no interactive docs: they load scripts from a CDN).

Every error has one JSON shape (`optimizer.web.errors`), except a 404, which is empty for
anything unknown (a path, a token, a method), so no answer tells whether a token exists.
`optimizer.web.security` wraps every answer in its headers and body limit. `optimizer.web.run`
serves the application on uvicorn.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from optimizer.errors import InputError, Issue
from optimizer.store.db import Store
from optimizer.store.errors import OutcomeConflict, StoreUnavailable
from optimizer.web import api, collector
from optimizer.web.errors import ApiError, NotFound, invalid
from optimizer.web.schemas import CasesIn, ErrorBody, OutcomeIn, PhoneOutcomeIn, ReplanIn
from optimizer.web.security import BodyLimit, SecurityHeaders
from optimizer.web.settings import WebSettings
from optimizer.web.site import Site

logger = logging.getLogger(__name__)

#: request bodies documented in the OpenAPI schema (validated by the store's own validator)
DOCUMENTED = (OutcomeIn, PhoneOutcomeIn, CasesIn, ReplanIn, ErrorBody)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _empty_404() -> Response:
    return Response(b"", status_code=404, media_type="text/plain")


def _field_of(loc: tuple[Any, ...]) -> str:
    """``("query", "after_id")`` -> ``after_id``; ``("body", "cases", 3, "x")`` -> ``cases.3.x``."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "(body)"


def _validation(exc: RequestValidationError) -> ApiError:
    issues = []
    for e in exc.errors():
        value = e.get("input")
        issues.append(Issue("request", 0, "", _field_of(tuple(e.get("loc", ()))),
                            "" if value is None else str(value)[:80], e.get("msg", "invalid"),
                            "see the API's schema (docs/api.md, /api/v1/openapi.json)"))
    return invalid(issues, "the request")


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_r: Request, _e: NotFound) -> Response:
        return _empty_404()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, e: StarletteHTTPException) -> Response:
        if e.status_code in (404, 405):  # another method is no hint either
            return _empty_404()
        return _json(e.status_code, {"error": "http", "message": str(e.detail), "problems": []})

    @app.exception_handler(ApiError)
    async def api_error(_r: Request, e: ApiError) -> Response:
        return _json(e.status, e.body(), e.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_r: Request, e: RequestValidationError) -> Response:
        err = _validation(e)
        return _json(err.status, err.body())

    @app.exception_handler(InputError)
    async def bad_input(_r: Request, e: InputError) -> Response:
        err = invalid(e.problems)
        return _json(err.status, err.body())

    @app.exception_handler(OutcomeConflict)
    async def conflict(_r: Request, e: OutcomeConflict) -> Response:
        problems = [{"field": f, "value": "", "message": "differs from the outcome recorded "
                     f"under this key (#{e.outcome_id})",
                     "fix": "send a new key for a new outcome; to correct the recorded one, "
                     f"send a new key with supersedes={e.outcome_id}"} for f in e.differences]
        return _json(409, {"error": "conflict", "message": str(e), "problems": problems})

    async def unavailable(_r: Request, e: Exception) -> Response:
        logger.warning("store unavailable: %s", e)
        return _json(503, {"error": "unavailable", "message": "the case store cannot be reached "
                           "right now; nothing was recorded; send again in a moment",
                           "problems": []}, {"Retry-After": "5"})

    app.add_exception_handler(StoreUnavailable, unavailable)
    app.add_exception_handler(OperationalError, unavailable)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the request bodies the routes validate themselves."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description=app.description)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in DOCUMENTED:
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: WebSettings, *, store: Store | None = None,
               site: Site | None = None, routers: Sequence[APIRouter] = (),
               limits: Mapping[str, int] | None = None) -> FastAPI:
    """The application, wrapped in the security middlewares.

    Parameters
    ----------
    settings
        What to serve (`WebSettings`).
    store
        The open case store; without it the pages have no outcome form and every ``/api/``
        path is an empty 404.
    site
        The plan folder's `Site` (default: made from `settings`).
    routers
        More routes, matched before the collectors' ``/<token>/`` paths (the dispatcher
        console, `optimizer.console`).
    limits
        More body limits by path prefix (bytes), beside the case import's.
    """
    app = FastAPI(title="collector-routes", version="1",
                  description="Visit outcomes from the field and the lender's API "
                              "(docs/api.md).",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.site = site or Site(settings.plan_dir, token_file=settings.token_file,
                                  base_url=settings.base_url)
    app.state.form_assets = collector.form_assets()
    app.state.replan_lock = threading.Lock()  # one re-plan of the served day at a time
    app.state.write_lock = (threading.Lock() if store is not None and store.dialect == "sqlite"
                            else None)
    _handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(api.router)
    app.include_router(collector.router)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        if app.state.store is None:
            raise NotFound
        return _openapi(app)

    # the last added runs first: the headers also cover the 413 of the body limit
    app.add_middleware(BodyLimit, limit_bytes=settings.max_body_bytes,
                       limits={"/api/v1/cases": settings.max_import_bytes, **(limits or {})})
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(Exception)
    async def internal(_r: Request, e: Exception) -> Response:
        logger.exception("internal error")
        return _json(500, {"error": "internal", "message": "the server failed on this request; "
                           "nothing was recorded; it is logged", "problems": []})

    return app
