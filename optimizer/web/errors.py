"""Errors the web application answers with, and their one JSON shape.

Every error body is ``{"error": code, "message": sentence, "problems": [...]}``; a 422 lists
each problem with the ``field``, the ``value`` sent, the ``message`` and the ``fix``
(`problems_of`, from the store's validator), and ``row`` for a record of a list. The only
exception is `NotFound`: an empty 404, the same for an unknown path, an unknown token and a
collector no longer in the plan, so an answer never tells whether a token exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from optimizer.errors import Issue


class NotFound(Exception):
    """Answer an empty 404."""


class ApiError(Exception):
    """Answer `status` with the error body (see the module docstring)."""

    def __init__(self, status: int, error: str, message: str, *,
                 problems: Iterable[Mapping[str, Any]] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.problems = [dict(p) for p in problems]
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "problems": self.problems}


def problem(issue: Issue) -> dict[str, Any]:
    """One problem of a 422 body."""
    out: dict[str, Any] = {"field": issue.field, "value": issue.value,
                           "message": issue.message, "fix": issue.fix}
    if issue.row:
        out["row"] = issue.row
    if issue.record_id:
        out["record"] = issue.record_id
    return out


def problems_of(issues: Iterable[Issue]) -> list[dict[str, Any]]:
    return [problem(i) for i in issues]


def invalid(issues: Iterable[Issue], what: str = "the request body") -> ApiError:
    """A 422 naming every problem."""
    found = problems_of(issues)
    n = len(found)
    return ApiError(422, "invalid", f"{what} has {n} problem{'s' if n != 1 else ''}: "
                    + "; ".join(f"{p['field']}: {p['message']} (fix: {p['fix']})"
                                for p in found), problems=found)


def body_problem(field: str, value: object, message: str, fix: str) -> ApiError:
    """A 422 about one field of the body."""
    shown = value if isinstance(value, str) else repr(value)
    return invalid([Issue("request body", 0, "", field, shown[:80], message, fix)])
