"""Split a large day into parts a solver handles well: territories of collectors, and the cases
nearest to them.

A part is a set of collectors and the cases given to them; parts are planned independently
(`optimizer.partitioned`), each with its own travel matrices, and stitched. The split:

1. **Territories.** Collectors are grouped by the districts they cover (a branch's territory)
   when every collector has some and there are at least two different sets; otherwise all are
   one territory. A territory expected to get more than `max_cases` cases (its share of the
   collectors times the cases) is split by start places (seeded k-means into
   ``ceil(expected / max_cases)`` groups). A team (collectors of one ``team``, who visit
   together) always stays in one part.
2. **Cases.** A case of a district that only one part covers goes to that part (the district
   rule would keep it out of the others). Every other located case goes to a part near it,
   balanced: a part takes at most its
   share of the cases (by its number of collectors) plus `SLACK`; cases are placed in order of
   regret (how much farther the second-nearest part is), each in the nearest part with room.
   Distances are straight lines from the case to the mean start place of the part's collectors.
   Cases without coordinates go to the first part (they are reported there as not located).

Nothing here reads a file or a road: plain coordinates in, case and collector ids out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optimizer.model import Collector

#: a part may take this share more than its collectors' share of the cases
SLACK = 0.05
#: iterations of k-means on the start places
_KMEANS_ROUNDS = 30


@dataclass(frozen=True)
class Part:
    """One part of the day: its name (territory), collectors and cases, by id."""

    name: str
    collector_ids: tuple[str, ...]
    case_ids: tuple[str, ...]


def _xy(latlon: npt.NDArray[np.float64], lat0: float) -> npt.NDArray[np.float64]:
    """Local plane coordinates (degrees of latitude), for distances between nearby places."""
    return np.column_stack([latlon[:, 1] * math.cos(math.radians(lat0)), latlon[:, 0]])


def _kmeans(xy: npt.NDArray[np.float64], k: int, *, seed: int = 0) -> npt.NDArray[np.int64]:
    """Group labels of `xy` into `k` groups (seeded k-means++, then Lloyd rounds)."""
    n = len(xy)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [xy[int(rng.integers(n))]]
    for _ in range(k - 1):
        d2 = np.min([np.sum((xy - c) ** 2, axis=1) for c in centres], axis=0)
        centres.append(xy[int(np.argmax(d2))] if d2.sum() == 0 else
                       xy[int(rng.choice(n, p=d2 / d2.sum()))])
    c = np.array(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(_KMEANS_ROUNDS):
        labels = np.argmin(((xy[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)
        new = np.array([xy[labels == j].mean(axis=0) if np.any(labels == j) else c[j]
                        for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return labels


def _units(collectors: Sequence[Collector]) -> list[list[Collector]]:
    """Collectors that must stay in one part: a team (same ``team``, who visit together), or
    one collector."""
    units: dict[str, list[Collector]] = {}
    for c in collectors:
        units.setdefault(f"team:{c.team}" if c.team else f"id:{c.collector_id}", []).append(c)
    return list(units.values())


def _key(districts: frozenset[str]) -> str:
    return "+".join(sorted(districts))


def territories(collectors: Sequence[Collector], start_latlon: Mapping[str, tuple[float, float]],
                *, n_cases: int, max_cases: int) -> list[tuple[str, list[Collector]]]:
    """The collectors' territories (see the module notes), named, in a stable order."""
    units = _units(collectors)
    keys = {_key(c.districts) for c in collectors}
    if all(c.districts for c in collectors) and len(keys) >= 2:
        groups = {k: [u for u in units if _key(u[0].districts) == k] for k in sorted(keys)}
    else:
        groups = {"all": units}
    out: list[tuple[str, list[Collector]]] = []
    lat0 = float(np.mean([ll[0] for ll in start_latlon.values()])) if start_latlon else 0.0
    for name, group in groups.items():
        members = [c for u in group for c in u]
        expected = n_cases * len(members) / max(1, len(collectors))
        k = min(math.ceil(expected / max_cases), len(group))
        if k <= 1:
            out.append((name, members))
            continue
        xy = _xy(np.array([np.mean([start_latlon[c.collector_id] for c in u], axis=0)
                           for u in group]), lat0)
        labels = _kmeans(xy, k)
        for j in range(k):
            sub = [c for u, lab in zip(group, labels, strict=True) if lab == j for c in u]
            if sub:
                out.append((f"{name}-{j + 1}" if name != "all" else f"area-{j + 1}", sub))
    return out


def split_day(case_ids: Sequence[str], case_latlon: Mapping[str, tuple[float, float]],
              collectors: Sequence[Collector], start_latlon: Mapping[str, tuple[float, float]],
              *, max_cases: int, case_district: Mapping[str, str] | None = None
              ) -> tuple[Part, ...]:
    """The parts of a day (see the module notes).

    Parameters
    ----------
    case_ids
        Every case of the day, in input order (each ends in exactly one part).
    case_latlon
        Known coordinates of cases (``lat``, ``lon``); the others go to the first part.
    collectors
        Every collector of the day.
    start_latlon
        Start place of every collector, by id.
    max_cases
        Target largest number of cases per part, >= 1.
    case_district
        The cases' districts (``Case.district``), by id: a case of a district that only one
        part's collectors cover goes to that part.
    """
    case_district = case_district or {}
    groups = territories(collectors, start_latlon, n_cases=len(case_ids), max_cases=max_cases)
    located = [cid for cid in case_ids if cid in case_latlon]
    lat0 = float(np.mean([ll[0] for ll in start_latlon.values()])) if start_latlon else 0.0
    centres = _xy(np.array([np.mean([start_latlon[c.collector_id] for c in members], axis=0)
                            for _, members in groups]), lat0)
    assigned: dict[str, int] = {}
    # a case of a district only one part's collectors cover goes there (the district rule)
    cover: dict[str, set[int]] = {}
    for p, (_, members) in enumerate(groups):
        for c in members:
            for dist in c.districts:
                cover.setdefault(dist, set()).add(p)
    for cid in case_ids:
        only = cover.get(case_district.get(cid, ""), set())
        if len(only) == 1:
            assigned[cid] = next(iter(only))
    located = [cid for cid in located if cid not in assigned]
    if located:
        xy = _xy(np.array([case_latlon[cid] for cid in located]), lat0)
        d = np.sqrt(((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
        share = np.array([len(m) for _, m in groups], dtype=float) / max(1, len(collectors))
        taken = np.bincount(list(assigned.values()), minlength=len(groups))
        n_all = len(located) + len(assigned)
        room = np.maximum(0, np.ceil(n_all * share * (1.0 + SLACK)).astype(np.int64) - taken)
        order_d = np.sort(d, axis=1)
        regret = (order_d[:, 1] - order_d[:, 0]) if d.shape[1] > 1 else np.zeros(len(located))
        for i in np.argsort(-regret, kind="stable"):
            for p in np.argsort(d[i], kind="stable"):
                if room[p] > 0:
                    room[p] -= 1
                    assigned[located[i]] = int(p)
                    break
            else:  # never: the rooms add up to more than the cases
                assigned[located[i]] = int(np.argmin(d[i]))
    parts = []
    for p, (name, members) in enumerate(groups):
        ids = tuple(cid for cid in case_ids if assigned.get(cid, 0) == p)
        parts.append(Part(name, tuple(c.collector_id for c in members), ids))
    return tuple(parts)


# --------------------------------------------------------------------------- across borders


@dataclass(frozen=True)
class PlacedRoute:
    """A planned route as the border search sees it: its part, crew, stops and where it is."""

    part: int
    collector_ids: tuple[str, ...]  # the crew (one collector, or a team)
    case_ids: tuple[str, ...]  # its stops
    latlon: tuple[float, float]  # the mean of its stops, or its start place when it has none


@dataclass(frozen=True)
class FreeCase:
    """A case a part left out for a reason another part's crews might not have."""

    part: int
    case_id: str
    latlon: tuple[float, float]
    value: float = 0.0  # what its visit is worth


#: a border group's free cases are the most valuable of this many times as many nearest ones
POOL = 3


def border_groups(names: Sequence[str], routes: Sequence[PlacedRoute],
                  free: Sequence[FreeCase], *, max_routes: int, max_cases: int
                  ) -> tuple[Part, ...]:
    """Groups of neighbouring routes across part borders, to be planned again together.

    Parts are paired by the distance between their centres (the mean place of their routes),
    nearest pairs first, each part in at most one pair, so the groups share no crew and no case
    and can be planned at once. A group takes, of each part of its pair, the `max_routes`
    routes nearest to the other part's centre, with their stops, and free cases of both parts
    near those routes, up to `max_cases` cases in all (the stops always in): of the `POOL`
    times as many free cases nearest to them, the most valuable.

    Parameters
    ----------
    names
        The parts' names, by part number.
    routes
        Every planned route (idle ones too: a crew with room is what a border needs).
    free
        The cases the parts left out for crew-dependent reasons (value, reach, territory).
    """
    if len(names) < 2 or not routes:
        return ()
    lat0 = float(np.mean([r.latlon[0] for r in routes]))
    xy = _xy(np.array([r.latlon for r in routes]), lat0)
    part_of = np.array([r.part for r in routes])
    present = sorted(set(part_of.tolist()))
    centre = {p: xy[part_of == p].mean(axis=0) for p in present}
    pairs = sorted(((float(np.linalg.norm(centre[a] - centre[b])), a, b)
                    for i, a in enumerate(present) for b in present[i + 1:]))
    used: set[int] = set()
    free_xy = _xy(np.array([f.latlon for f in free]), lat0) if free else np.zeros((0, 2))
    free_part = np.array([f.part for f in free], dtype=np.int64)
    groups = []
    for _, a, b in pairs:
        if a in used or b in used:
            continue
        used |= {a, b}
        chosen: list[int] = []
        for own, other in ((a, b), (b, a)):
            idx = np.flatnonzero(part_of == own)
            d = np.linalg.norm(xy[idx] - centre[other], axis=1)
            chosen += [int(i) for i in idx[np.argsort(d, kind="stable")][:max_routes]]
        stops = [cid for i in chosen for cid in routes[i].case_ids]
        room = max(0, max_cases - len(stops))
        near: list[str] = []
        cand = np.flatnonzero((free_part == a) | (free_part == b))
        if room and len(cand):
            d = np.min(np.linalg.norm(free_xy[cand][:, None, :] - xy[chosen][None, :, :],
                                      axis=2), axis=1)
            # the nearest POOL x room, of which the most valuable room, nearest first
            pool = np.argsort(d, kind="stable")[:room * POOL]
            value = np.array([free[int(cand[i])].value for i in pool])
            best = np.sort(pool[np.argsort(-value, kind="stable")[:room]])
            near = [free[int(cand[i])].case_id for i in best]
        crew = tuple(c for i in chosen for c in routes[i].collector_ids)
        groups.append(Part(f"border {names[a]}/{names[b]}", crew, tuple(stops + near)))
    return tuple(groups)
