"""The what-if comparison's figures: one typed row per variant, and ``kpis.json``/``kpis.csv``.

A variant's figures (`PlanKpis`) are those of its plan's summary (`optimizer.model.PlanSummary`,
the numbers of its ``summary.json``) plus the visits and value by days past due; a `VariantRow`
adds how the variant was solved (`Solved`) and, once every variant is in, its comparison with
the base (`compare_to_base`). Rows are frozen: a comparison is a copy.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from optimizer import atomic
from optimizer.model import Plan
from optimizer.whatif.scenario import BASE, Scenario

#: days-past-due buckets: (label, lowest dpd, highest dpd or None); dpd 0 counts as 1-30
DPD_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91+", 91, None),
)
BUCKET_LABELS = tuple(label for label, _, _ in DPD_BUCKETS)


def dpd_bucket(dpd: int) -> str:
    """The label of the bucket of `dpd` days past due."""
    for label, lo, hi in DPD_BUCKETS:
        if dpd >= lo and (hi is None or dpd <= hi):
            return label
    return DPD_BUCKETS[0][0]  # negative dpd (not overdue yet) counts with the youngest


@dataclass(frozen=True)
class PlanKpis:
    """The comparison figures of one plan (rounded as its summary: values 2 decimals, shares
    and utilisations 4).

    ``value_total`` is the value of every input case, visited or not; ``utilisation`` of a
    route its working time (leave to return) over its shift, 0 for an idle crew; ``_min``,
    ``_max``, ``_mean`` and ``_spread`` are over the routes.
    """

    collectors: int
    routes: int
    routes_used: int
    cases_total: int
    cases_visited: int
    visited_by_dpd: Mapping[str, int]
    value_by_dpd: Mapping[str, float]
    value_total: float
    value_visited: float
    value_share: float
    travel_s_total: float
    travel_m_total: float
    travel_h: float
    travel_km: float
    utilisation: Mapping[str, float]
    utilisation_mean: float
    utilisation_min: float
    utilisation_max: float
    utilisation_spread: float
    unassigned_by_reason: Mapping[str, int]


def plan_kpis(plan: Plan) -> PlanKpis:
    """The figures of a plan: its summary's, and the visits and value by days past due.

    ``travel_h`` and ``travel_km`` are the routes' travel converted and rounded once (not the
    summary's seconds and metres, which are rounded already).
    """
    s = plan.summary
    if s is None:  # a library caller's Plan built by hand: every plan of the pipeline has one
        raise ValueError("a plan without its summary: plan it with optimizer.plan")
    visits = {label: 0 for label in BUCKET_LABELS}
    value = {label: 0.0 for label in BUCKET_LABELS}
    for r in plan.routes:
        for stop in r.stops:
            b = dpd_bucket(stop.case.days_past_due)
            visits[b] += 1
            value[b] += stop.value
    util = {p.collector_id: p.utilisation for p in s.per_collector}
    u = list(util.values())
    return PlanKpis(
        collectors=s.collectors, routes=s.routes,
        routes_used=sum(1 for p in s.per_collector if p.cases_visited),
        cases_total=s.cases_total, cases_visited=s.cases_visited, visited_by_dpd=visits,
        value_by_dpd={k: round(v, 2) for k, v in value.items()}, value_total=s.value_total,
        value_visited=s.value_visited, value_share=s.value_share,
        travel_s_total=s.travel_s_total, travel_m_total=s.travel_m_total,
        travel_h=round(sum(r.travel_s for r in plan.routes) / 3600, 2),
        travel_km=round(sum(r.travel_m for r in plan.routes) / 1000, 1), utilisation=util,
        utilisation_mean=s.utilisation_mean, utilisation_min=min(u) if u else 0.0,
        utilisation_max=max(u) if u else 0.0, utilisation_spread=s.utilisation_spread,
        unassigned_by_reason=dict(s.unassigned_by_reason))


@dataclass(frozen=True)
class Solved:
    """How a variant was planned (see ``docs/whatif.md``, *Sound comparisons*)."""

    capacity_only: bool
    not_capacity_only: str  # why not ("" if it is)
    searches: int
    started_from: str  # "scratch" or "base plan"
    routes_from: str  # "solver" or "base plan (guard)"
    guard: str  # what the guard found, if it was triggered
    solver: str  # the search of the kept plan
    search_stop: str  # "solution limit", "stalled" or "time limit"
    objective: float | None  # of the search's plan (None when the guard kept the base's)
    wall_s: float | None
    plan_dir: str


@dataclass(frozen=True)
class VariantRow:
    """One variant's row of the comparison: ``status`` ``ok`` (with its plan's figures and how
    it was solved) or ``failed`` (with the error)."""

    variant: str
    status: str
    error: str = ""
    description: str = ""
    plan_date: str = ""
    policy: str = ""
    weighting: str = ""
    kpis: PlanKpis | None = None
    solved: Solved | None = None
    value_vs_base: float | None = None
    marginal_value_per_collector: float | None = None

    @staticmethod
    def failed(variant: str, error: str, description: str = "") -> VariantRow:
        return VariantRow(variant, "failed", error, description)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.kpis is not None

    def as_dict(self) -> dict[str, object]:
        """The row of ``kpis.json``: the variant, its figures, how it was solved, the
        comparison with the base, its description."""
        head: dict[str, object] = {"variant": self.variant, "status": self.status,
                                   "error": self.error}
        if self.kpis is not None and self.solved is not None:
            head |= {"plan_date": self.plan_date, "policy": self.policy,
                     "weighting": self.weighting, **asdict(self.kpis), **asdict(self.solved)}
        return {**head, "value_vs_base": self.value_vs_base,
                "marginal_value_per_collector": self.marginal_value_per_collector,
                "description": self.description}


def compare_to_base(rows: Sequence[VariantRow]) -> tuple[VariantRow, ...]:
    """The rows with ``value_vs_base`` and, for headcount variants,
    ``marginal_value_per_collector``.

    The marginal value of a collector is ``(value_variant - value_base) / (collectors_variant -
    collectors_base)``; only computed when the variant values the same cases the same way as the
    base (same ``value_total``), else the values are not comparable.
    """
    base = next((r.kpis for r in rows if r.variant == BASE and r.ok), None)
    out = []
    for r in rows:
        k = r.kpis
        if base is None or not r.ok or k is None or abs(k.value_total - base.value_total) > 0.01:
            out.append(replace(r, value_vs_base=None, marginal_value_per_collector=None))
            continue
        gain = k.value_visited - base.value_visited
        dn = k.collectors - base.collectors
        out.append(replace(r, value_vs_base=round(gain, 2),
                           marginal_value_per_collector=round(gain / dn, 2) if dn else None))
    return tuple(out)


@dataclass(frozen=True)
class WhatIfResult:
    """The comparison: one row per variant (base first), and where it was written."""

    scenario: Scenario
    out_dir: Path
    rows: tuple[VariantRow, ...]
    wall_s: float

    @property
    def failed(self) -> tuple[VariantRow, ...]:
        return tuple(r for r in self.rows if not r.ok)


CSV_FIELDS = (
    "variant", "status", "description", "collectors", "routes", "routes_used", "cases_total",
    "cases_visited", *(f"visited_dpd_{b}" for b in BUCKET_LABELS), "value_total",
    "value_visited", "value_share", "value_vs_base", "marginal_value_per_collector",
    "travel_h", "travel_km", "utilisation_mean", "utilisation_min", "utilisation_max",
    "utilisation_spread",
)
CSV_TAIL = ("capacity_only", "searches", "started_from", "routes_from", "solver", "search_stop",
            "objective", "wall_s", "plan_dir", "error")


def write_kpis(result: WhatIfResult) -> tuple[Path, Path]:
    """Write ``kpis.json`` (everything) and ``kpis.csv`` (one flat row per variant)."""
    rows = [r.as_dict() for r in result.rows]
    data = {
        "scenario": result.scenario.name,
        "file": str(result.scenario.path),
        "description": result.scenario.description,
        "base": BASE,
        "dpd_buckets": list(BUCKET_LABELS),
        "wall_s": result.wall_s,
        "variants": rows,
    }
    jpath = result.out_dir / "kpis.json"
    atomic.write_file(jpath, json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
    reasons = sorted({k for r in result.rows if r.kpis for k in r.kpis.unassigned_by_reason})
    fields = (*CSV_FIELDS, *(f"unassigned_{k}" for k in reasons), *CSV_TAIL)
    cpath = result.out_dir / "kpis.csv"
    with atomic.replaced_file(cpath) as tmp, tmp.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for row, flat in zip(result.rows, rows, strict=True):
            k = row.kpis
            for b in BUCKET_LABELS:
                flat[f"visited_dpd_{b}"] = k.visited_by_dpd[b] if k else ""
            for reason in reasons:
                flat[f"unassigned_{reason}"] = k.unassigned_by_reason.get(reason, 0) if k else ""
            w.writerow({f: ("" if flat.get(f) is None else flat.get(f, "")) for f in fields})
    return jpath, cpath
