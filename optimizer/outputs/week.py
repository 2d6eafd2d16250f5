"""The week overview of a multi-day plan: its ``summary.json``, ``week.csv`` (collector x day)
and ``index.html`` (a map with a layer per day; the totals and the collector x day table
linking every day's pages).

Input text (collector ids) is HTML-escaped on the page and formula-safe in the CSV
(`optimizer.outputs.tables.write_csv`).
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

from optimizer.horizon import HorizonPlan, HorizonSummary
from optimizer.outputs import maps as mp
from optimizer.outputs.tables import write_csv


def _status(day: date, published: date | None) -> str:
    """A day's status in a plan: ``published`` (recorded in the store for the collectors),
    ``provisional`` (a later day of a rolling horizon), or ``planned`` (no store)."""
    if published is None:
        return "planned"
    return "published" if day == published else "provisional"


def horizon_summary_json(s: HorizonSummary, *, published: date | None = None) -> dict:
    """The horizon's ``summary.json``: its totals and one entry per day (with its `_status`;
    `published`: the day published through the store, None without one)."""
    return {
        "first_date": s.first_date.isoformat(), "last_date": s.last_date.isoformat(),
        "days": s.days, "policy": s.policy, "cases_total": s.cases_total,
        "cases_visited": s.cases_visited, "visits": s.visits, "value_total": s.value_total,
        "value_visited": s.value_visited, "value_share": s.value_share,
        "travel_s_total": s.travel_s_total, "travel_m_total": s.travel_m_total,
        "never_visited_by_reason": dict(s.never_visited_by_reason),
        "urgency_weight": s.urgency_weight, "revisit_gap_days": s.revisit_gap_days,
        "published_date": None if published is None else published.isoformat(),
        "per_day": [{
            "plan_date": d.plan_date.isoformat(), "folder": d.plan_date.isoformat(),
            "status": _status(d.plan_date, published),
            "cases_visited": d.cases_visited, "value_visited": d.value_visited,
            "travel_s": d.travel_s, "travel_m": d.travel_m, "routes_used": d.routes_used,
            "collectors_working": d.collectors_working,
            "visits_by_collector": dict(d.visits_by_collector)} for d in s.per_day],
        **({} if s.wall_s is None else {"wall_s": s.wall_s}),
    }


def _collectors(plan: HorizonPlan) -> list[str]:
    ids: set[str] = set()
    for d in plan.days:
        for r in d.plan.routes:
            ids.update(r.members or (r.collector.collector_id,))
    return sorted(ids)


def week_rows(plan: HorizonPlan) -> tuple[tuple[str, ...], list[dict]]:
    """The collector x day table: (fields, rows); a cell is the visits that day, blank when
    the collector does not work (has no route) that day."""
    days = [d.plan.plan_date.isoformat() for d in plan.days]
    working = [{m for r in d.plan.routes for m in (r.members or (r.collector.collector_id,))}
               for d in plan.days]
    rows = []
    for cid in _collectors(plan):
        row: dict = {"collector_id": cid}
        total = 0
        for day, t, on in zip(days, plan.summary.per_day, working, strict=True):
            n = t.visits_by_collector.get(cid, 0)
            row[day] = n if cid in on else ""
            total += n
        row["total"] = total
        rows.append(row)
    return ("collector_id", *days, "total"), rows


def write_week_csv(plan: HorizonPlan, path: Path) -> None:
    fields, rows = week_rows(plan)
    write_csv(path, fields, rows)


def week_panel_html(plan: HorizonPlan, *, maps: bool = True,
                    published: date | None = None) -> str:
    """The totals and the collector x day table as escaped HTML, each day and cell linked to
    the day's overview and the collector's page (when the days have maps); with a store, the
    days after the `published` one are marked provisional."""
    s = plan.summary
    e = html.escape
    days = [d.plan.plan_date for d in plan.days]
    labels = [f"{d:%a} {d.isoformat()}"
              + (" (provisional)" if _status(d, published) == "provisional" else "")
              for d in days]
    head = "".join(f'<th><a href="{d.isoformat()}/index.html">{label}</a></th>' if maps
                   else f"<th>{label}</th>" for d, label in zip(days, labels, strict=True))
    totals = "".join(f'<td class="cr-num">{t.cases_visited}<br>{t.value_visited:,.0f}</td>'
                     for t in s.per_day)
    _, rows = week_rows(plan)
    body = []
    for row in rows:
        cid = row["collector_id"]
        cells = []
        for d in days:
            n = row[d.isoformat()]
            if n == "":
                cells.append('<td class="cr-off">off</td>')
            elif maps:
                page = f"{d.isoformat()}/{mp.collector_page_filename(cid)}"
                cells.append(f'<td class="cr-num"><a href="{e(page)}">{n}</a></td>')
            else:
                cells.append(f'<td class="cr-num">{n}</td>')
        body.append(f"<tr><th>{e(cid)}</th>{''.join(cells)}"
                    f'<td class="cr-num">{row["total"]}</td></tr>')
    return (
        f"<p>{s.days} days, policy {e(s.policy)}: {s.cases_visited} of {s.cases_total} cases "
        f"visited ({s.visits} visits), value {s.value_visited:,.0f} of {s.value_total:,.0f} "
        f"({s.value_share:.1%}); travel {s.travel_s_total / 3600:.1f} h, "
        f"{s.travel_m_total / 1000:.1f} km.</p>"
        f'<table class="cr-week"><thead><tr><th>collector</th>{head}<th>total</th></tr>'
        f'</thead><tbody><tr><th>visits, value</th>{totals}'
        f'<td class="cr-num">{s.value_visited:,.0f}</td></tr>{"".join(body)}</tbody></table>'
    )


def write_week_overview(plan: HorizonPlan, path: Path, *, maps: bool = True,
                        tiles: str = "osm", self_contained: bool = False,
                        published: date | None = None) -> None:
    """``index.html``: with maps, a map with a layer per day (`maps.write_week_map`) and the
    totals and collector x day table in its panel; without, the panel alone as a page."""
    panel = week_panel_html(plan, maps=maps, published=published)
    if maps:
        mp.write_week_map([d.plan for d in plan.days], path, panel_html=panel, tiles=tiles,
                          self_contained=self_contained)
        return
    s = plan.summary
    title = f"Plan {s.first_date.isoformat()} to {s.last_date.isoformat()}"
    path.write_text(
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>body{{font-family:sans-serif;margin:1em}}"
        f"table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;"
        f"text-align:right}}td.cr-off{{color:#999}}</style>\n</head><body>\n"
        f"<h1>{title}</h1>\n{panel}\n</body></html>\n", encoding="utf-8")
