"""A written plan folder read back: the routes as published to the collectors.

`read_published` reads ``routes.json`` (and ``summary.json`` for the policy) of a folder that
`collector-routes plan` wrote completely (``manifest.json`` present) into plain data, for
re-planning the rest of the day (`optimizer.replan`). Times are seconds since midnight of the
plan date, as written (whole seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from optimizer.errors import ConfigError


class PlanFolderError(ConfigError):
    """The folder holds no complete, readable plan; the message says what to do."""


@dataclass(frozen=True)
class PublishedStop:
    case_id: str
    lat: float
    lon: float
    arrive_s: int
    start_s: int
    depart_s: int


@dataclass(frozen=True)
class PublishedRoute:
    """One route of the published plan: its crew (route id and members), places, times."""

    route_id: str
    members: tuple[str, ...]
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    leave_s: int | None  # None: no visit planned
    return_s: int | None
    breaks: tuple[tuple[int, int], ...]
    stops: tuple[PublishedStop, ...]


@dataclass(frozen=True)
class PublishedDay:
    folder: Path
    plan_date: date
    policy: str  # the policy the plan was made with ("" if not recorded)
    routes: tuple[PublishedRoute, ...]

    @property
    def collectors(self) -> frozenset[str]:
        return frozenset(m for r in self.routes for m in r.members)


def _secs(clock: str) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    return h * 3600 + m * 60 + s


def _fail(folder: Path, what: str) -> PlanFolderError:
    return PlanFolderError(f"--plan {folder}: {what}; fix: give a folder `collector-routes plan "
                           "--out` wrote (with manifest.json and routes.json)")


def read_published(folder: str | Path) -> PublishedDay:
    """The plan written to `folder`; `PlanFolderError` if it holds no complete plan."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _fail(folder, "no such folder")
    if not (folder / "manifest.json").is_file():
        raise _fail(folder, "holds no complete plan (manifest.json missing)")
    try:
        data = json.loads((folder / "routes.json").read_text(encoding="utf-8"))
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        routes = tuple(PublishedRoute(
            route_id=r["collector_id"], members=tuple(r["members"] or [r["collector_id"]]),
            start_lat=float(r["start"]["lat"]), start_lon=float(r["start"]["lon"]),
            end_lat=float(r["end"]["lat"]), end_lon=float(r["end"]["lon"]),
            leave_s=_secs(r["leave"]) if r["leave"] else None,
            return_s=_secs(r["return"]) if r["return"] else None,
            breaks=tuple((_secs(b["start"]), _secs(b["end"])) for b in r["breaks"]),
            stops=tuple(PublishedStop(str(s["case_id"]), float(s["lat"]), float(s["lon"]),
                                      _secs(s["arrive"]), _secs(s["start"]), _secs(s["depart"]))
                        for s in r["stops"]))
            for r in data["routes"])
        plan_date = date.fromisoformat(data["plan_date"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _fail(folder, f"its routes cannot be read ({type(exc).__name__}: {exc})") from None
    return PublishedDay(folder, plan_date, str(summary.get("policy", "")), routes)
