"""Read vehicle-routing benchmark instances into `model.Problem`.

The benchmark harness (``scripts/bench_vrptw.py``) and the tests use these readers so that the
benchmarks run through the same model and the same `optimizer.routing.solve.solve` as the product.

Conventions (as in the reference data's README):

- **Solomon / Gehring & Homberger VRPTW**: every customer is required; minimise total distance
  with full-precision Euclidean arcs (travel time = distance); the fleet is the file's vehicle
  count and capacity; windows constrain the start of service; the depot's due date closes every
  route.
- **TOPTW** (Solomon-based, Righini & Salani / Montemanni & Gambardella files): every customer is
  optional with its score as value; travel = Euclidean distance truncated to one decimal; ``m``
  identical vehicles leave the depot at 0 and return by the depot's closing time; maximise the
  score. A small distance cost breaks ties without ever trading score for distance.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer import model
from optimizer.routing.params import SolveSettings


class InstanceError(ValueError):
    """An instance file cannot be read; the message names the file, line and field."""


@dataclass(frozen=True)
class Instance:
    """A benchmark instance as a `model.Problem`, with how to score and solve it."""

    name: str  # as in the best-known tables, e.g. "C101", "c101"
    suite: str  # "solomon", "homberger" or "toptw"
    objective: str  # "distance" (minimise) or "score" (maximise)
    problem: model.Problem
    xy: np.ndarray  # coordinates, row = location
    #: integer units inside the solvers: ticks per time unit and money scale
    time_ticks_per_s: int
    value_scale: float

    def settings(self, **kw) -> SolveSettings:
        """`SolveSettings` with the resolution this instance needs, plus `kw`."""
        kw.setdefault("time_ticks_per_s", self.time_ticks_per_s)
        kw.setdefault("value_scale", self.value_scale)
        return SolveSettings(**kw)

    def value(self, solution: model.Solution) -> float:
        """Total distance (``"distance"``) or collected score (``"score"``) of `solution`."""
        if self.objective == "distance":
            return float(sum(r.travel_m for r in solution.routes if r.stops))
        values = {v.visit_id: v.value for v in self.problem.visits}
        return float(sum(values[s.visit_id] for r in solution.routes for s in r.stops))


def _euclid(xy: np.ndarray) -> np.ndarray:
    diff = xy[:, None, :] - xy[None, :, :]
    return np.sqrt((diff**2).sum(-1))


def read_solomon(path: str | Path, *, suite: str = "solomon") -> Instance:
    """Read a Solomon-format VRPTW file (Solomon 100 or Gehring & Homberger).

    Parameters
    ----------
    path
        The instance file.
    suite
        Label stored in the instance (``"solomon"`` or ``"homberger"``).
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    name = lines[0].strip() if lines and lines[0].strip() else path.stem
    n_veh = cap = None
    rows: list[list[float]] = []
    mode = ""
    for ln, raw in enumerate(lines, start=1):
        tok = raw.split()
        if not tok:
            continue
        head = tok[0].upper()
        if head == "VEHICLE":
            mode = "vehicle"
            continue
        if head == "CUSTOMER":
            mode = "customer"
            continue
        if head in ("NUMBER", "CUST"):
            continue
        try:
            nums = [float(t) for t in tok]
        except ValueError:
            if mode:
                raise InstanceError(
                    f"{path} line {ln}: cannot read numbers from {raw.strip()!r}"
                ) from None
            continue
        if mode == "vehicle" and len(nums) >= 2 and n_veh is None:
            n_veh, cap = int(nums[0]), int(nums[1])
        elif mode == "customer":
            if len(nums) < 7:
                raise InstanceError(
                    f"{path} line {ln}: expected 7 fields (no, x, y, demand, ready, due, "
                    f"service), got {len(nums)}"
                )
            rows.append(nums[:7])
    if n_veh is None or not rows:
        raise InstanceError(f"{path}: no VEHICLE or CUSTOMER section; is this a Solomon file?")
    data = np.asarray(rows, dtype=float)
    xy = data[:, 1:3]
    d = _euclid(xy)
    depot = data[0]
    visits = tuple(
        model.Visit(
            visit_id=str(int(r[0])),
            location=i,
            value=0.0,
            service_s=float(r[6]),
            windows=(model.TimeWindow(int(r[4]), int(r[5])),),
            required=True,
            demand=int(r[3]),
        )
        for i, r in enumerate(data[1:], start=1)
    )
    vehicles = tuple(
        model.Vehicle(
            vehicle_id=f"v{k + 1}",
            start=0,
            end=0,
            shift=model.TimeWindow(int(depot[4]), int(depot[5])),
            capacity=cap,
        )
        for k in range(n_veh)
    )
    problem = model.Problem(visits, vehicles, d, d.copy(), cost_per_m=1.0)
    return Instance(name.upper(), suite, "distance", problem, xy, 1000, 1000.0)


def read_toptw(path: str | Path, *, vehicles: int = 1) -> Instance:
    """Read a Solomon-based TOPTW file (format in the data's ``TOPTW_format.txt``).

    The two header lines (``k v N t`` and ``D Q``) are not needed and may be split or joined
    differently (``c204.txt``); vertex lines are recognised by their field count.

    Parameters
    ----------
    path
        The instance file.
    vehicles
        Number of paths ``m``.
    """
    path = Path(path)
    rows = []
    for ln, raw in enumerate(path.read_text().splitlines(), start=1):
        tok = raw.split()
        if len(tok) < 9:
            continue  # header lines
        try:
            nums = [float(t) for t in tok]
            a = int(nums[6])
            o, c = nums[7 + a], nums[8 + a]
        except (ValueError, IndexError):
            raise InstanceError(
                f"{path} line {ln}: expected 'i x y d S f a list O C', got {raw.strip()!r}"
            ) from None
        rows.append((int(nums[0]), nums[1], nums[2], nums[3], nums[4], o, c))
    if not rows or rows[0][0] != 0:
        raise InstanceError(f"{path}: no vertex 0 (depot) line found; is this a TOPTW file?")
    xy = np.asarray([[r[1], r[2]] for r in rows], dtype=float)
    d = np.floor(_euclid(xy) * 10.0 + 1e-9) / 10.0
    tmax = rows[0][6]
    visits = tuple(
        model.Visit(
            visit_id=str(r[0]),
            location=i,
            value=float(r[4]),
            service_s=float(r[3]),
            windows=(model.TimeWindow(math.ceil(r[5]), math.floor(r[6])),),
        )
        for i, r in enumerate(rows[1:], start=1)
    )
    vehs = tuple(
        model.Vehicle(f"v{k + 1}", 0, 0, model.TimeWindow(int(rows[0][5]), int(tmax)))
        for k in range(vehicles)
    )
    # tie-break on distance: a route is at most ~4 * 3400 long, so 0.001 per unit never
    # outweighs one customer's score (>= 1) against the detour it needs (< 300 units)
    problem = model.Problem(visits, vehs, d, d.copy(), cost_per_m=0.001)
    return Instance(path.stem.lower(), "toptw", "score", problem, xy, 10, 1000.0)


def load_bks(
    path: str | Path,
    *,
    objective: str = "distance_only",
    convention: str = "full_precision_euclid",
) -> dict[str, float]:
    """Best-known values from ``solomon_bks.csv`` / ``homberger_200_bks.csv``.

    Returns
    -------
    dict
        Instance name (upper case) -> best-known total distance.
    """
    out: dict[str, float] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["objective"] == objective and row["distance_convention"] == convention:
                out[row["instance"].upper()] = float(row["value"])
    return out


def load_toptw_optima(path: str | Path) -> dict[tuple[str, int], float]:
    """Proven optimal scores from ``toptw_m1_optima.csv``: (instance, m) -> score."""
    out: dict[tuple[str, int], float] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["score"].strip():
                out[(row["instance"].lower(), int(row["vehicles_m"]))] = float(row["score"])
    return out
