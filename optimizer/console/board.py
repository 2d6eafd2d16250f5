"""The live board of a published day, read from the store (no HTTP).

For each crew of the published plan: its stops, how many have an outcome (done) and how
many are left, its last outcome (time on the device's clock and where the phone was), and
how far behind (+) or ahead (-) of the plan it is: the device time of its last outcome minus
the planned start of that stop, in minutes. The outcomes as they arrive (newest first), the
promises taken today and the amounts collected. A corrected outcome counts once, as its
correction (`OutcomeRecord.supersedes_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from optimizer.model import hhmm
from optimizer.store.db import Store
from optimizer.store.events import local_time
from optimizer.store.outcomes import CODES, label
from optimizer.store.plans import plan_routes
from optimizer.store.tables import OutcomeRecord

#: outcomes listed on the board
ARRIVALS = 50


@dataclass(frozen=True)
class CrewProgress:
    route_id: str
    members: tuple[str, ...]
    stops: int
    done: int
    last_case: str = ""
    last_time: str = ""  # HH:MM on the device's clock
    last_lat: float | None = None
    last_lon: float | None = None
    behind_min: float | None = None  # + behind the plan, - ahead

    @property
    def left(self) -> int:
        return self.stops - self.done


@dataclass(frozen=True)
class Arrival:
    outcome_id: int
    time: str  # YYYY-MM-DD HH:MM on the device's clock
    route_id: str
    case_id: str
    code: str
    label: str
    amount: float | None
    promise_date: date | None


@dataclass(frozen=True)
class Board:
    plan_id: int
    plan_date: date
    version: int
    crews: tuple[CrewProgress, ...]
    arrivals: tuple[Arrival, ...]
    promises: int
    collected: float


@dataclass(frozen=True)
class _Row:
    """An outcome as read (the session closes before the board is made)."""

    id: int
    supersedes_id: int | None
    plan_stop_id: int | None
    case_id: str
    code: str
    time: datetime  # on the device's clock
    amount: float | None
    promise_date: date | None
    device_lat: float | None
    device_lon: float | None


def board(store: Store, plan_id: int) -> Board:
    """The board of the store's plan `plan_id` (see the module docstring)."""
    with store.reading() as s:
        routes = plan_routes(s, plan_id)
        rows = [_Row(r.id, r.supersedes_id, r.plan_stop_id, r.case_id, r.code, local_time(r),
                     r.amount, r.promise_date, r.device_lat, r.device_lon)
                for r in s.scalars(select(OutcomeRecord).where(OutcomeRecord.plan_id == plan_id)
                                   .order_by(OutcomeRecord.id))]
    replaced = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    live = [r for r in rows if r.id not in replaced]
    stop_of = {st.stop_id: (rt, st) for rt in routes for st in rt.stops}
    by_route: dict[str, list[_Row]] = {}
    arrivals = []
    for r in live:
        found = stop_of.get(r.plan_stop_id) if r.plan_stop_id is not None else None
        route_id = found[0].route_id if found else ""
        by_route.setdefault(route_id, []).append(r)
        arrivals.append(Arrival(r.id, f"{r.time:%Y-%m-%d %H:%M}", route_id, r.case_id,
                                r.code, label(r.code), r.amount, r.promise_date))
    crews = []
    plan_date = routes[0].plan_date if routes else date.today()
    version = routes[0].version if routes else 0
    for rt in routes:
        mine = [r for r in by_route.get(rt.route_id, []) if CODES[r.code].is_visit]
        done_cases = {r.case_id for r in mine}
        if not mine:
            crews.append(CrewProgress(rt.route_id, rt.members, len(rt.stops), 0))
            continue
        last = max(mine, key=lambda r: r.time)
        t = last.time
        stop = rt.stop_for(last.case_id)
        behind = None
        if stop is not None and t.date() == rt.plan_date:
            behind = round((t.hour * 3600 + t.minute * 60 + t.second - stop.start_s) / 60, 1)
        crews.append(CrewProgress(
            rt.route_id, rt.members, len(rt.stops),
            sum(1 for st in rt.stops if st.case_id in done_cases), last.case_id,
            hhmm(t.hour * 3600 + t.minute * 60), last.device_lat if last.device_lat is not None
            else (stop.lat if stop else None),
            last.device_lon if last.device_lon is not None else (stop.lon if stop else None),
            behind))
    today = [r for r in live if r.time.date() == plan_date]
    return Board(plan_id, plan_date, version, tuple(crews),
                 tuple(reversed(arrivals[-ARRIVALS:])),
                 sum(1 for r in today if CODES[r.code].kind == "promise"),
                 round(sum(r.amount or 0.0 for r in today if CODES[r.code].kind == "payment"), 2))
