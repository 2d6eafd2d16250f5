"""Speed profiles: how much longer the roads take by time of day, per road class.

A profile is a CSV file (UTF-8; ``#`` starts a comment line; blank lines are skipped), one band
of one kind of day per row::

    road_class,day_type,start,end,factor
    *,weekday,07:00,09:00,1.18
    primary;secondary,weekday,07:00,09:00,1.43

``road_class``
    OSM ``highway`` values of the network (`KNOWN_CLASSES`), several separated by ``;``, or
    ``*`` for every class without a row of its own.
``day_type``
    ``weekday`` (Monday to Friday), ``weekend`` (Saturday, Sunday) or ``*`` (both); public
    holidays and the working weekends that make up for them are not told apart.
``start``, ``end``
    The band, ``HH:MM`` from ``00:00`` to ``24:00``, start before end (a band over midnight is
    two rows).
``factor``
    Travel-time multiplier on the network's own edge times (its speed table, the times
    without a profile), from 1 to 10: 1.43 = edges of that class take 43 % longer.

For an edge of class ``c`` at time ``t`` on a day of type ``d``, the most specific row covering
``t`` applies: a row naming ``c`` before a ``*`` row, a row of day type ``d`` before a ``*`` day
type; no row: factor 1. Two rows that could apply to the same edge at the same time with the same
specificity are an error, as is every other bad row; all are reported at once (`InputError`,
each naming file, row, field, value and fix).

`TrafficProfile.bands` cuts the day into the bands where every class keeps its factor,
`edge_times` gives a band's time of every edge of a network, and the pipeline
(`optimizer.plan.locate`) computes one travel matrix per band from them
(`optimizer.geo.matrix.travel_matrices` with ``edge_duration_s``), carried in the routing
problem as `optimizer.model.TimeBands`.

The bundled default profile for Chinese cities (`default_profile`, ``data/traffic/
china_cities.csv``) says in its comments what it is derived from and what is assumed.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optimizer import bundled
from optimizer.errors import InputError, Issue

if TYPE_CHECKING:  # annotations only: reading a profile does not load the road network's code
    from optimizer.geo.network import RoadNetwork

COLUMNS = ("road_class", "day_type", "start", "end", "factor")
DAY_TYPES = ("weekday", "weekend", "*")
#: OSM ``highway`` values a road network of any mode can hold (OSM wiki, "Key:highway")
KNOWN_CLASSES = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential",
    "living_street", "service", "road", "busway", "track", "path", "cycleway", "footway",
    "pedestrian", "bridleway", "steps", "corridor", "elevator", "escalator", "platform",
    "services", "rest_area", "bus_guideway", "raceway", "construction", "proposed",
})
#: the largest factor taken: above it, a value is a typo (10 = a tenth of the speed)
MAX_FACTOR = 10.0
DAY_S = 24 * 3600
_FIX_CLASS = ("give OSM highway classes (e.g. primary;secondary;residential) separated by ';', "
              "or * for every other class")


@dataclass(frozen=True)
class ProfileRow:
    """One row of a profile: the road classes (``("*",)``: the others), the kind of day, the
    band in seconds since midnight and the factor on travel times."""

    row: int  # line of the file
    road_classes: tuple[str, ...]
    day_type: str
    start_s: int
    end_s: int
    factor: float


@dataclass(frozen=True)
class Band:
    """A stretch of the day in which every road class keeps its factor: ``factors`` for the
    classes named in the profile, ``other`` for the rest."""

    start_s: float
    factors: tuple[tuple[str, float], ...]
    other: float

    def factor(self, road_class: str) -> float:
        return dict(self.factors).get(road_class, self.other)

    @property
    def free(self) -> bool:
        """Every factor is 1: the network's own times."""
        return self.other == 1.0 and all(f == 1.0 for _, f in self.factors)


@dataclass(frozen=True)
class TrafficProfile:
    """A checked speed profile (see the module notes); ``source``: ``default`` or the file."""

    source: str
    rows: tuple[ProfileRow, ...]

    def factor(self, road_class: str | None, day_type: str, t_s: float) -> float:
        """The factor on an edge of `road_class` (None: a class no row names) at time `t_s` of
        a `day_type` day."""
        best: tuple[int, float] | None = None
        for r in self.rows:
            if not (r.start_s <= t_s < r.end_s) or r.day_type not in (day_type, "*"):
                continue
            if road_class in r.road_classes:
                rank = 2
            elif r.road_classes == ("*",):
                rank = 0
            else:
                continue
            rank += r.day_type == day_type
            if best is None or rank > best[0]:
                best = (rank, r.factor)
        return 1.0 if best is None else best[1]

    def bands(self, day: date) -> tuple[Band, ...]:
        """The bands of `day`: from 0, cut wherever a row of its day type starts or ends, with
        neighbours of the same factors merged; the last lasts past midnight."""
        kind = day_type(day)
        rows = [r for r in self.rows if r.day_type in (kind, "*")]
        cuts = sorted({0, *(r.start_s for r in rows), *(r.end_s for r in rows)})
        named = sorted({c for r in rows for c in r.road_classes if c != "*"})
        out: list[Band] = []
        for t in cuts:
            band = Band(float(t), tuple((c, self.factor(c, kind, t)) for c in named),
                        self.factor(None, kind, t))
            if not out or (band.factors, band.other) != (out[-1].factors, out[-1].other):
                out.append(band)
        return tuple(out)


def day_type(day: date) -> str:
    """``weekday`` (Monday to Friday) or ``weekend``."""
    return "weekend" if day.weekday() >= 5 else "weekday"


def edge_times(network: RoadNetwork, band: Band) -> np.ndarray:
    """The travel time of every edge of `network` in `band`, seconds (CSR order): the
    network's own times times the factor of each edge's road class."""
    per_class = np.array([band.factor(name) for name in network.highway_names], dtype=float)
    factors = per_class[network.edge_highway] if per_class.size else np.ones(network.n_edges)
    return np.asarray(network.travel_time_s.data, dtype=float) * factors


def default_profile() -> TrafficProfile:
    """The bundled profile for Chinese cities (``data/traffic/china_cities.csv``)."""
    profile = load_profile(bundled.traffic_profile_path())
    return TrafficProfile("default", profile.rows)


# --------------------------------------------------------------------------- reading


def load_profile(path: str | Path) -> TrafficProfile:
    """Read and check a profile CSV (format in the module notes).

    Raises
    ------
    InputError
        Every problem of the file: not found, not UTF-8, columns missing or unknown, a bad
        value in a row (each naming row, field, value and fix), rows that overlap, no rows.
    """
    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError([Issue(name, 0, "", "", str(path), "no such file",
                                "give the path of a profile CSV, or --traffic default or none "
                                "(format: README, 'Traffic')")]) from None
    except UnicodeDecodeError:
        raise InputError([Issue(name, 0, "", "", "", "is not UTF-8 text",
                                "save it as CSV UTF-8")]) from None
    except OSError as exc:
        raise InputError([Issue(name, 0, "", "", str(path), f"cannot be read ({exc})",
                                "give a readable file")]) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    issues: list[Issue] = []
    if not lines:
        raise InputError([Issue(name, 0, "", "", "", "has no header and no rows",
                                f"write the header {','.join(COLUMNS)} and one row per band, "
                                "or use --traffic none")])
    head_row, head_line = lines[0]
    header = [h.strip().lower() for h in next(csv.reader([head_line]))]
    for col in COLUMNS:
        if col not in header:
            issues.append(Issue(name, head_row, "", col, "", "column missing",
                                f"the header must be {','.join(COLUMNS)}"))
    for col in header:
        if col not in COLUMNS:
            issues.append(Issue(name, head_row, "", col, "", "unknown column",
                                f"use only the columns {','.join(COLUMNS)}"))
    if issues:
        raise InputError(issues)
    rows = []
    for n, line in lines[1:]:
        cells = next(csv.reader([line]))
        if len(cells) != len(header):
            issues.append(Issue(name, n, "", "", line, f"has {len(cells)} cells, the header has "
                                f"{len(header)}", "give one value per column"))
            continue
        row = _row(name, n, {h: c.strip() for h, c in zip(header, cells, strict=True)}, issues)
        if row is not None:
            rows.append(row)
    if not rows and not issues:
        issues.append(Issue(name, 0, "", "", "", "has a header but no rows",
                            "add one row per band, or use --traffic none"))
    issues += _overlaps(name, rows)
    if issues:
        raise InputError(sorted(issues, key=lambda i: i.row))
    return TrafficProfile(str(path), tuple(rows))


def _row(file: str, n: int, cells: Mapping[str, str], issues: list[Issue]) -> ProfileRow | None:
    """One row, or None after adding its problems to `issues`."""
    before = len(issues)
    rid = f"road_class={cells['road_class']}"

    def bad(field: str, message: str, fix: str) -> None:
        issues.append(Issue(file, n, rid, field, cells[field], message, fix))

    classes = tuple(c.strip().lower() for c in cells["road_class"].split(";"))
    unknown = [c for c in classes if c != "*" and c not in KNOWN_CLASSES]
    if not cells["road_class"] or "" in classes:
        bad("road_class", "is empty", _FIX_CLASS)
    elif unknown:
        bad("road_class", f"{', '.join(unknown)}: not an OSM highway class", _FIX_CLASS)
    elif "*" in classes and len(classes) > 1:
        bad("road_class", "* stands for every other class and cannot be listed with others",
            "give * alone in its own row")
    day = cells["day_type"].lower()
    if day not in DAY_TYPES:
        bad("day_type", "is not a kind of day", "write weekday, weekend or *")
    start, end = _clock(cells["start"]), _clock(cells["end"])
    for field, value in (("start", start), ("end", end)):
        if value is None:
            bad(field, "is not a time of day", "write HH:MM from 00:00 to 24:00, e.g. 17:00")
    if start is not None and end is not None and end <= start:
        bad("end", f"is not after the start {cells['start']}",
            "give a band that ends after it starts; split a band over midnight into two rows")
    factor = _number(cells["factor"])
    if factor is None:
        bad("factor", "is not a number", "write a number from 1 to 10, e.g. 1.35")
    elif not 1.0 <= factor <= MAX_FACTOR:
        bad("factor", f"must be from 1 to {MAX_FACTOR:g} (a multiplier on the network's own "
            "travel times; 1 = as without a profile)",
            "give the travel time of the band over the network's own, e.g. 1.35 = 35 % longer")
    if len(issues) > before or start is None or end is None or factor is None:
        return None
    return ProfileRow(n, classes, day, start, end, factor)


def _clock(text: str) -> int | None:
    """``HH:MM`` (``00:00``-``24:00``) as seconds since midnight, or None."""
    hh, sep, mm = text.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2):
        return None
    t = int(hh) * 3600 + int(mm) * 60
    return t if int(mm) < 60 and t <= DAY_S else None


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _overlaps(file: str, rows: Sequence[ProfileRow]) -> list[Issue]:
    """Rows that could apply to the same edge at the same time with the same specificity."""
    out = []
    for k, a in enumerate(rows):
        for b in rows[k + 1:]:
            shared = set(a.road_classes) & set(b.road_classes)
            if (shared and a.day_type == b.day_type and a.start_s < b.end_s
                    and b.start_s < a.end_s):
                out.append(Issue(
                    file, b.row, f"road_class={';'.join(sorted(shared))}", "start",
                    _hhmm(b.start_s), f"its band {_hhmm(b.start_s)}-{_hhmm(b.end_s)} overlaps "
                    f"row {a.row} ({_hhmm(a.start_s)}-{_hhmm(a.end_s)}) for the same classes "
                    f"and day type {a.day_type}",
                    "make the bands of a class and day type follow each other without overlap"))
    return out


def _hhmm(t_s: int) -> str:
    return f"{t_s // 3600:02d}:{t_s % 3600 // 60:02d}"
