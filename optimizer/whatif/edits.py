"""Team edits of a what-if variant: remove and add collectors, change shifts and maximum visits.

The scenario keys (``remove_collectors``, ``add_collectors``, ``shift_hours``,
``extend_shift_hours``, ``max_visits``; see ``docs/whatif.md``) are checked by the parsers of
`TEAM_KEYS` into typed edits (`TeamEdits`), applied to a collector list by `edit_collectors`.
`capacity_check` tells whether a variant only adds capacity to the base (then it starts from the
base plan and keeps the base's teams: `keep_base_crews`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from optimizer import options as opt
from optimizer.errors import InputError, Issue
from optimizer.model import Collector, Place, TimeWindow
from optimizer.planning import rules
from optimizer.settings import PlanSettings

#: names of variants, scenarios and added collectors' ids: usable as folder and file names
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: most collectors a variant adds or removes at once (a larger number is a typo: 100,000 new
#: collectors would plan for hours)
MAX_COLLECTORS = 1000
_DAY_S = 24 * 3600


@dataclass(frozen=True)
class RemoveCollectors:
    """Collectors to remove: these ids, or the last `count` of the list (file order)."""

    ids: tuple[str, ...] = ()
    count: int | None = None


@dataclass(frozen=True)
class VisitLimit:
    """A maximum number of visits; None = no limit."""

    max_visits: int | None


@dataclass(frozen=True)
class AddCollectors:
    """`count` collectors to add, copied from the collector `like` (its places, shift, maximum
    visits, skills, districts and workdays; not its name or team) or given a start and a shift;
    any field given replaces the copied one."""

    count: int = 1
    like: str | None = None
    start: Place | None = None
    end: Place | None = None
    shift: TimeWindow | None = None
    max_visits: VisitLimit | None = None
    skills: frozenset[str] | None = None
    districts: frozenset[str] | None = None
    id_prefix: str = "NEW"
    name: str = ""


@dataclass(frozen=True)
class TeamEdits:
    """A variant's team edits, applied in this order: remove, add, then shift lengths and
    maximum visits (for every collector, the added ones included)."""

    remove: RemoveCollectors | None = None
    add: tuple[AddCollectors, ...] = ()
    shift_hours: float | None = None  # every shift lasts this long from its start
    extend_shift_hours: float | None = None  # every shift ends this much later
    max_visits: VisitLimit | None = None

    @staticmethod
    def of(values: Mapping[str, Any]) -> TeamEdits:
        """The edits among a variant's checked values (keys of `TEAM_KEYS`)."""
        mv = values.get("max_visits", ...)
        return TeamEdits(
            remove=values.get("remove_collectors"), add=values.get("add_collectors", ()),
            shift_hours=values.get("shift_hours"),
            extend_shift_hours=values.get("extend_shift_hours"),
            max_visits=None if mv is ... else VisitLimit(mv))


# --------------------------------------------------------------------------- the keys


def _shift_hours(v: object) -> float:
    return float(opt.number(0.0, strict=True, hi=24.0)(v))


def _extend_hours(v: object) -> float:
    return float(opt.number(-24.0, hi=24.0)(v))


def _remove(v: object) -> RemoveCollectors:
    """``[ids]``, ``{ids: [...]}`` or ``{count: n}`` (the last n of the list, file order)."""
    if isinstance(v, str):
        v = [v]
    if isinstance(v, list):
        if not all(isinstance(x, str | int) for x in v):
            raise opt.Bad("is not a list of collector ids", "give ids, e.g. [K14, K15]")
        return RemoveCollectors(ids=tuple(str(x) for x in v))
    if isinstance(v, Mapping):
        unknown = sorted(set(v) - {"ids", "count"})
        if unknown or len(v) != 1:
            raise opt.Bad(f"has keys {sorted(v)}", "give either {ids: [K14, K15]} or {count: 5}")
        if "count" in v:
            return RemoveCollectors(count=opt.whole(1, hi=MAX_COLLECTORS)(v["count"]))
        return _remove(v["ids"])
    raise opt.Bad("is not a list of ids or {count: n}", "give [K14, K15] or {count: 5}")


_ADD_KEYS = ("count", "like", "start", "end", "shift", "max_visits", "skills", "districts",
             "id_prefix", "name")


def _place(v: object) -> Place:
    if isinstance(v, str) and v.strip():
        return Place(address=v.strip())
    if isinstance(v, Mapping):
        if set(v) <= {"lat", "lon"} and {"lat", "lon"} <= set(v):
            lat = opt.number(-90.0, hi=90.0)(v["lat"])
            lon = opt.number(-180.0, hi=180.0)(v["lon"])
            return Place(lat=lat, lon=lon)
        if set(v) == {"address"} and isinstance(v["address"], str):
            return Place(address=v["address"])
    raise opt.Bad("is not a place", "give {lat: 30.72, lon: 104.07}, {address: ...} or an address")


def _names(v: object) -> frozenset[str]:
    items = v if isinstance(v, list) else str(v).split(",")
    return frozenset(str(x).strip() for x in items if str(x).strip())


def _add_one(v: object) -> AddCollectors:
    if not isinstance(v, Mapping):
        raise opt.Bad("is not a mapping", "give e.g. {count: 5, like: K01} or {count: 2, start: "
                      "{lat: 30.72, lon: 104.07}, shift: \"08:30-17:30\"}")
    unknown = sorted(map(str, set(v) - set(_ADD_KEYS)))
    if unknown:
        raise opt.Bad(f"has unknown key(s) {', '.join(unknown)}",
                      f"use only: {', '.join(_ADD_KEYS)}")
    count = opt.whole(1, hi=MAX_COLLECTORS)(v.get("count", 1))
    like = opt.text(v["like"]) if "like" in v else None
    if like is None and ("start" not in v or "shift" not in v):
        raise opt.Bad("needs `like` (a collector to copy) or both `start` and `shift`",
                      "add like: K01, or start: {lat: .., lon: ..} and shift: \"08:30-17:30\"")
    start = _place(v["start"]) if "start" in v else None
    end = _place(v["end"]) if "end" in v else None
    shift = opt.time_range()(v["shift"]) if "shift" in v else None
    max_visits = (VisitLimit(opt.whole(1, allow_none=True)(v["max_visits"]))
                  if "max_visits" in v else None)
    skills = _names(v["skills"]) if "skills" in v else None
    districts = _names(v["districts"]) if "districts" in v else None
    prefix = "NEW"
    if "id_prefix" in v:
        prefix = opt.text(v["id_prefix"])
        if not NAME_RE.match(prefix + "1"):
            raise opt.Bad("id_prefix has characters not allowed in an id",
                          "use letters, digits, '-', '_' or '.'")
    return AddCollectors(count=count, like=like, start=start, end=end, shift=shift,
                         max_visits=max_visits, skills=skills, districts=districts,
                         id_prefix=prefix, name=opt.text(v["name"]) if "name" in v else "")


def _add(v: object) -> tuple[AddCollectors, ...]:
    items = v if isinstance(v, list) else [v]
    return tuple(_add_one(x) for x in items)


#: the team-edit keys of a variant and their checks (values as `TeamEdits.of` takes them)
TEAM_KEYS: Mapping[str, opt.Parser] = {
    "add_collectors": _add,
    "remove_collectors": _remove,
    "shift_hours": _shift_hours,
    "extend_shift_hours": _extend_hours,
    "max_visits": opt.whole(1, allow_none=True),
}
#: keys that can only add capacity (checked again on the data: see `capacity_check`)
CAPACITY_KEYS = frozenset({"add_collectors", "shift_hours", "extend_shift_hours", "max_visits",
                           "max_work_hours", "time_limit", "seed", "max_solutions",
                           "max_warm_iterations", "solver", "maps", "tiles", "self_contained",
                           "description", "start_from_base"})


# --------------------------------------------------------------------------- applying them


def edit_collectors(collectors: Sequence[Collector], edits: TeamEdits, *, file: str = "",
                    where: str = "") -> tuple[Collector, ...]:
    """Apply a variant's team edits: remove, then add, then shifts and maximum visits.

    Raises `InputError` naming the key and value when an edit cannot be applied (an unknown id,
    more removals than collectors, a shift past midnight...); `file` and `where` (``variant
    x``) say where the edit was written.
    """
    issues: list[Issue] = []
    out = _removed(list(collectors), edits.remove, issues, file, where)
    taken = {c.collector_id for c in collectors}
    for spec in edits.add:
        out += _added(spec, collectors, taken, issues, file, where)
    if edits.shift_hours is not None or edits.extend_shift_hours is not None:
        out = [_reshifted(c, edits, issues, file, where) for c in out]
    if edits.max_visits is not None:
        out = [replace(c, max_visits=edits.max_visits.max_visits) for c in out]
    if issues:
        raise InputError(issues)
    return tuple(out)


def _removed(out: list[Collector], rem: RemoveCollectors | None, issues: list[Issue],
             file: str, where: str) -> list[Collector]:
    if rem is None:
        return out
    if rem.count is None:
        ids = set(rem.ids)
        missing = sorted(ids - {c.collector_id for c in out})
        if missing:
            issues.append(Issue(file, 0, where, "remove_collectors", ", ".join(missing),
                                "no such collector", "name collectors of the list"))
        return [c for c in out if c.collector_id not in ids]
    if rem.count >= len(out):
        issues.append(Issue(file, 0, where, "remove_collectors", f"count {rem.count}",
                            f"would remove all {len(out)} collectors",
                            f"remove fewer than {len(out)}"))
        return out
    return out[:len(out) - rem.count]


def _added(spec: AddCollectors, collectors: Sequence[Collector], taken: set[str],
           issues: list[Issue], file: str, where: str) -> list[Collector]:
    """The collectors `spec` adds, with ids not yet `taken` (added to it)."""
    like = None
    if spec.like is not None:
        like = next((c for c in collectors if c.collector_id == spec.like), None)
        if like is None:
            issues.append(Issue(file, 0, where, "add_collectors.like", spec.like,
                                "no such collector", "copy a collector of the list"))
            return []
    shift = spec.shift or (like.shift if like else None)
    if shift is None:  # `TEAM_KEYS` asks for one of them
        issues.append(Issue(file, 0, where, "add_collectors", "", "needs `like` or a `shift`",
                            "add like: K01, or shift: \"08:30-17:30\""))
        return []
    out = []
    for _ in range(spec.count):
        k = 1
        while f"{spec.id_prefix}{k:02d}" in taken:
            k += 1
        cid = f"{spec.id_prefix}{k:02d}"
        taken.add(cid)
        start = spec.start or (like.start if like else Place())
        out.append(Collector(
            collector_id=cid, start=start,
            end=spec.end or (like.end if like and spec.start is None else start),
            shift=shift,
            max_visits=(spec.max_visits.max_visits if spec.max_visits is not None
                        else like.max_visits if like else None),
            name=spec.name,
            skills=spec.skills if spec.skills is not None else (
                like.skills if like else frozenset()),
            districts=spec.districts if spec.districts is not None else (
                like.districts if like else frozenset()),
            workdays=like.workdays if like else frozenset(range(7)),
        ))
    return out


def _reshifted(c: Collector, edits: TeamEdits, issues: list[Issue], file: str,
               where: str) -> Collector:
    """`c` with the shift length or end the edits give, or as it is (and an issue) when that
    shift would end before it starts or after midnight."""
    if edits.shift_hours is not None:
        key, hours = "shift_hours", edits.shift_hours
        end = c.shift.start_s + round(hours * 3600)
    else:
        key, hours = "extend_shift_hours", edits.extend_shift_hours or 0.0
        end = c.shift.end_s + round(hours * 3600)
    if end > _DAY_S or end <= c.shift.start_s:
        issues.append(Issue(file, 0, where, key, repr(hours),
                            f"collector {c.collector_id}'s shift {c.shift.label()} would end at "
                            f"{end / 3600:.2f} h (before its start or after midnight)",
                            "choose hours that keep shifts within the day"))
        return c
    return replace(c, shift=TimeWindow(c.shift.start_s, end))


def capacity_check(base: Sequence[Collector], variant: Sequence[Collector],
                   base_settings: PlanSettings, settings: PlanSettings,
                   overrides: Sequence[str]) -> str:
    """Why the variant is not a pure capacity increase over the base ('' if it is)."""
    other = sorted(set(overrides) - CAPACITY_KEYS)
    if other:
        return "changes " + ", ".join(other)
    vs = {c.collector_id: c for c in variant}
    for c in base:
        v = vs.get(c.collector_id)
        if v is None:
            return f"removes {c.collector_id}"
        if (v.start, v.end, v.skills, v.districts, v.workdays, v.team) != (
                c.start, c.end, c.skills, c.districts, c.workdays, c.team):
            return f"changes {c.collector_id}'s place, skills or area"
        if v.shift.start_s > c.shift.start_s or v.shift.end_s < c.shift.end_s:
            return f"shortens {c.collector_id}'s shift ({c.shift.label()} -> {v.shift.label()})"
        if c.max_visits is not None and v.max_visits is not None and v.max_visits < c.max_visits:
            return f"lowers {c.collector_id}'s max visits"
        if c.max_visits is None and v.max_visits is not None:
            return f"limits {c.collector_id}'s visits"
    bw, vw = base_settings.policy.max_work_s, settings.policy.max_work_s
    if bw is None and vw is not None or (bw is not None and vw is not None and vw < bw):
        return "shortens the working day"
    return ""


def keep_base_crews(base: Sequence[Collector], variant: Sequence[Collector],
                    settings: PlanSettings) -> tuple[Collector, ...]:
    """The variant's collectors ordered and grouped so that the base's crews stay as they are.

    Adding collectors must not reshuffle the existing teams (the base routes are then routes of
    the same crews in the variant): every collector of a base team gets the team's id in its
    ``team`` field, listed in crew order; the added collectors follow and form their own teams.
    """
    crews = rules.form_crews(base, settings.policy, plan_date=settings.plan_date)
    vs = {c.collector_id: c for c in variant}
    out: list[Collector] = []
    placed: set[str] = set()
    for crew in crews:
        for m in crew.members:
            v = vs[m.collector_id]
            out.append(replace(v, team=crew.crew_id) if len(crew.members) > 1 or m.team else v)
            placed.add(m.collector_id)
    out += [c for c in variant if c.collector_id not in placed]
    return tuple(out)
