"""The what-if comparison as one offline HTML page: a KPI table and charts drawn as inline SVG.

No scripts, no external style sheets, fonts or images: the page opens from a file, offline. Every
number of the KPI table carries ``data-variant``, ``data-kpi`` and ``data-value`` attributes (the
unrounded figure of ``kpis.json``), so tests and tools can read the page back. """

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from optimizer.whatif.kpis import BUCKET_LABELS, PlanKpis, Solved, VariantRow, WhatIfResult
from optimizer.whatif.scenario import BASE

PALETTE = ("#2b6cb0", "#38a169", "#d69e2e", "#c53030", "#805ad5", "#319795", "#dd6b20",
           "#718096", "#b83280", "#2c7a7b")
BUCKET_COLORS = ("#9ae6b4", "#f6e05e", "#f6ad55", "#e53e3e")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
margin:24px;color:#1a202c;max-width:1200px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin-top:32px}
.meta{color:#4a5568;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin-top:8px}
th,td{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f7fafc;position:sticky;top:0}
td.l,th.l{text-align:left}.wide{overflow-x:auto}
dl{font-size:.9em}dt{font-weight:600;margin-top:6px}dd{margin-left:16px;color:#4a5568}
tr.failed td{color:#c53030}
.chart{margin:8px 0 16px 0}.legend span{display:inline-block;margin-right:14px;font-size:.85em}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
pre{background:#fff5f5;border:1px solid #feb2b2;padding:8px;white-space:pre-wrap;font-size:.85em}
.note{font-size:.85em;color:#4a5568}
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _money(v: float) -> str:
    return f"{v:,.0f}"


def _pct(v: float) -> str:
    return f"{v:.1%}"


def hbars(rows: Sequence[tuple[str, Sequence[tuple[float, str, str]]]], *,
          fmt: Callable[[float], str], width: int = 760,
          label_w: int = 150, bar_h: int = 20, totals: Sequence[str] | None = None,
          backgrounds: Sequence[float] | None = None) -> str:
    """Horizontal (stacked) bars as SVG: one row per label, segments ``(value, colour, tip)``.

    Negative values are drawn left of a zero line. ``backgrounds`` draws a light bar per row (e.g.
    the value available behind the value visited).
    """
    vals = [sum(v for v, _, _ in segs) for _, segs in rows]
    hi = max([0.0, *vals, *(backgrounds or [])])
    lo = min([0.0, *vals])
    span = (hi - lo) or 1.0
    plot_w = width - label_w - 110
    zero_x = label_w + plot_w * (-lo / span)
    gap = 8
    height = len(rows) * (bar_h + gap) + gap
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" font-size="12" font-family="sans-serif">']
    for i, (label, segs) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">'
                   f"{_e(label)}</text>")
        if backgrounds is not None:
            w = plot_w * backgrounds[i] / span
            out.append(f'<rect x="{zero_x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                       f'fill="#edf2f7"><title>{_e(label)}: available '
                       f"{_e(fmt(backgrounds[i]))}</title></rect>")
        x = zero_x
        for v, color, tip in segs:
            w = plot_w * abs(v) / span
            x0 = x if v >= 0 else x - w
            out.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                       f'fill="{color}"><title>{_e(tip)}</title></rect>')
            x = x0 + w if v >= 0 else x0
        text = totals[i] if totals else fmt(vals[i])
        tx = max(x, zero_x) + 4 if vals[i] >= 0 else zero_x + 4
        if backgrounds is not None:
            tx = max(tx, zero_x + plot_w * backgrounds[i] / span + 4)
        out.append(f'<text x="{tx:.1f}" y="{y + bar_h * 0.7:.1f}">{_e(text)}</text>')
    out.append(f'<line x1="{zero_x:.1f}" y1="0" x2="{zero_x:.1f}" y2="{height}" '
               'stroke="#a0aec0"/>')
    out.append("</svg>")
    return "".join(out)


def strip(rows: Sequence[tuple[str, Mapping[str, float]]], *, width: int = 760, label_w: int = 150,
          row_h: int = 26) -> str:
    """Utilisation of every route per variant: dots, the min-max range and the mean (a tick)."""
    hi = max([1.0, *(u for _, d in rows for u in d.values())])
    plot_w = width - label_w - 60
    height = len(rows) * row_h + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" font-size="12" font-family="sans-serif">']
    for k in range(0, int(hi * 100) + 1, 25):
        x = label_w + plot_w * (k / 100) / hi
        out.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 22}" stroke="#edf2f7"/>'
                   f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" fill="#4a5568">'
                   f"{k}%</text>")
    for i, (label, util) in enumerate(rows):
        y = 8 + i * row_h + row_h / 2
        out.append(f'<text x="{label_w - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(label)}</text>')
        if not util:
            continue
        us = list(util.values())
        x0 = label_w + plot_w * min(us) / hi
        x1 = label_w + plot_w * max(us) / hi
        out.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" '
                   'stroke="#a0aec0" stroke-width="2"/>')
        for rid, u in util.items():
            x = label_w + plot_w * u / hi
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#2b6cb0" '
                       f'fill-opacity="0.6"><title>{_e(rid)}: {u:.0%}</title></circle>')
        mean = sum(us) / len(us)
        xm = label_w + plot_w * mean / hi
        out.append(f'<line x1="{xm:.1f}" y1="{y - 9:.1f}" x2="{xm:.1f}" y2="{y + 9:.1f}" '
                   f'stroke="#c53030" stroke-width="2"><title>mean {mean:.0%}</title></line>')
    out.append("</svg>")
    return "".join(out)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{_e(n)}</span>' for n, c in items) + "</div>"


def _cell(variant: str, kpi: str, value: object, text: str) -> str:
    dv = "" if value is None else f' data-value="{_e(value)}"'
    return f'<td data-variant="{_e(variant)}" data-kpi="{_e(kpi)}"{dv}>{_e(text)}</td>'


#: a planned variant: its row, figures and how it was solved
_Ok = tuple[VariantRow, PlanKpis, Solved]


def _label(row: VariantRow, base: VariantRow | None) -> str:
    """Variant name, with its weighting when it is not the base's (values in other units)."""
    w = row.weighting
    return row.variant + (f" ({w})" if w and w != (base.weighting if base else None) else "")


def _variants_list(result: WhatIfResult) -> str:
    by_name = {r.variant: r for r in result.rows}
    items = []
    for v in result.scenario.variants:
        r = by_name.get(v.name)
        changed = [k for k in v.overrides if k != "description"]
        what = ("the base" if not v.overrides and v.name == BASE else
                "changes: " + (", ".join(changed) or "nothing"))
        if r is not None and r.ok and r.solved is not None and v.name != BASE:
            why = r.solved.not_capacity_only
            what += (" · only adds capacity: solved on its own and from the base plan, the "
                     "better kept" if r.solved.capacity_only else " · solved on its own" + (
                         f" ({why})" if why and not why.startswith("changes") else ""))
        items.append(f"<dt>{_e(v.name)}</dt><dd>{_e(v.description)}"
                     f"{'<br>' if v.description else ''}{_e(what)}</dd>")
    return "<h2>Variants</h2><dl>" + "".join(items) + "</dl>"


def _figures_row(r: VariantRow, k: PlanKpis, solved: Solved) -> str:
    """The variant's row of the key-figures table."""
    name = r.variant
    vb, mv = r.value_vs_base, r.marginal_value_per_collector
    src = solved.started_from + (" → base kept (guard)" if solved.routes_from != "solver"
                                 else "")
    not_visited = k.cases_total - k.cases_visited
    return (
        f'<tr><td class="l"><a href="{_e(name)}/index.html">{_e(name)}</a></td>'
        + _cell(name, "collectors", k.collectors, str(k.collectors))
        + _cell(name, "routes", k.routes, str(k.routes))
        + _cell(name, "cases_visited", k.cases_visited, str(k.cases_visited))
        + "".join(_cell(name, f"visited_dpd_{b}", k.visited_by_dpd[b], str(k.visited_by_dpd[b]))
                  for b in BUCKET_LABELS)
        + _cell(name, "value_visited", k.value_visited, _money(k.value_visited))
        + _cell(name, "value_total", k.value_total, _money(k.value_total))
        + _cell(name, "value_share", k.value_share, _pct(k.value_share))
        + _cell(name, "value_vs_base", vb, "" if vb is None else f"{vb:+,.0f}")
        + _cell(name, "marginal_value_per_collector", mv, "" if mv is None else _money(mv))
        + _cell(name, "travel_h", k.travel_h, f"{k.travel_h:.1f}")
        + _cell(name, "travel_km", k.travel_km, f"{k.travel_km:.1f}")
        + _cell(name, "utilisation_mean", k.utilisation_mean, f"{k.utilisation_mean:.0%}")
        + _cell(name, "utilisation_spread", k.utilisation_spread, f"{k.utilisation_spread:.0%}")
        + _cell(name, "cases_unassigned", not_visited, str(not_visited))
        + f'<td class="l">{_e(src)}</td></tr>')


def _charts(ok: Sequence[_Ok], first: VariantRow | None) -> list[str]:
    """The charts of the planned variants."""
    parts = ["<h2>Value visited (of the value available)</h2>"]
    parts.append('<div class="chart">' + hbars(
        [(_label(r, first), [(k.value_visited, PALETTE[i % len(PALETTE)],
                              f"{r.variant}: {_money(k.value_visited)}")])
         for i, (r, k, _) in enumerate(ok)],
        fmt=_money, backgrounds=[k.value_total for _, k, _ in ok],
        totals=[f"{_money(k.value_visited)} ({_pct(k.value_share)})" for _, k, _ in ok])
        + "</div>")
    parts.append("<h2>Cases visited by days past due</h2>")
    parts.append(_legend([(f"DPD {b}", BUCKET_COLORS[i]) for i, b in enumerate(BUCKET_LABELS)]))
    parts.append('<div class="chart">' + hbars(
        [(r.variant, [(k.visited_by_dpd[b], BUCKET_COLORS[i],
                       f"{r.variant}, DPD {b}: {k.visited_by_dpd[b]} visits")
                      for i, b in enumerate(BUCKET_LABELS)]) for r, k, _ in ok],
        fmt=lambda v: f"{v:.0f}") + "</div>")
    parts.append("<h2>Utilisation per route (working time ÷ shift)</h2>")
    parts.append('<p class="note">Dots: routes; grey line: spread (min to max); red tick: '
                 "mean.</p>")
    parts.append('<div class="chart">' + strip([(r.variant, k.utilisation) for r, k, _ in ok])
                 + "</div>")
    parts.append("<h2>Travel</h2>")
    parts.append('<div class="chart">' + hbars(
        [(r.variant, [(k.travel_h, "#718096",
                       f"{r.variant}: {k.travel_h:.1f} h, {k.travel_km:.1f} km")])
         for r, k, _ in ok], fmt=lambda v: f"{v:.1f} h",
        totals=[f"{k.travel_h:.1f} h · {k.travel_km:.0f} km" for _, k, _ in ok]) + "</div>")
    reasons = sorted({reason for _, k, _ in ok for reason in k.unassigned_by_reason})
    if reasons:
        parts.append("<h2>Cases not visited, by reason</h2>")
        colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(reasons)}
        parts.append(_legend([(c, colors[c]) for c in reasons]))
        parts.append('<div class="chart">' + hbars(
            [(r.variant, [(k.unassigned_by_reason.get(c, 0), colors[c],
                           f"{r.variant}, {c}: {k.unassigned_by_reason.get(c, 0)}")
                          for c in reasons]) for r, k, _ in ok],
            fmt=lambda v: f"{v:.0f}") + "</div>")
    heads = [(r, k, r.marginal_value_per_collector) for r, k, _ in ok
             if r.marginal_value_per_collector is not None]
    if heads and first is not None and first.kpis is not None:
        base_collectors = first.kpis.collectors
        parts.append("<h2>Value of one collector more (or less)</h2>")
        parts.append('<div class="chart">' + hbars(
            [(f"{r.variant} ({k.collectors - base_collectors:+d} collectors)",
              [(mv, "#2b6cb0", f"{r.variant}: {_money(mv)} per collector")])
             for r, k, mv in heads if mv is not None], fmt=_money) + "</div>")
    return parts


def render(result: WhatIfResult) -> str:
    """The report page of a what-if comparison."""
    rows = result.rows
    ok: list[_Ok] = [(r, r.kpis, r.solved) for r in rows
                     if r.ok and r.kpis is not None and r.solved is not None]
    first = next((r for r, _, _ in ok if r.variant == BASE), ok[0][0] if ok else None)
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>What-if: {_e(result.scenario.name)}</title>",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>What-if: {_e(result.scenario.name)}</h1>",
        f'<p class="meta">{_e(result.scenario.description)}</p>' if result.scenario.description
        else "",
        f'<p class="meta">Scenario file {_e(result.scenario.path.name)} · {len(rows)} variants '
        f"({len(ok)} planned, {len(rows) - len(ok)} failed) · plan date "
        f"{_e(first.plan_date if first else '')} · run time {result.wall_s:.0f} s</p>",
        _variants_list(result),
        "<h2>Key figures</h2>",
        '<div class="wide"><table><thead><tr>',
        '<th class="l">variant</th><th>collectors</th>'
        "<th>routes</th><th>cases visited</th>",
        *(f"<th>DPD {b}</th>" for b in BUCKET_LABELS),
        "<th>value visited</th><th>value available</th><th>share</th><th>vs base</th>"
        "<th>per extra collector</th><th>travel h</th><th>travel km</th><th>util. mean</th>"
        "<th>util. spread</th><th>not visited</th><th class=\"l\">routes from</th>",
        "</tr></thead><tbody>",
    ]
    for r in rows:
        if r.ok and r.kpis is not None and r.solved is not None:
            parts.append(_figures_row(r, r.kpis, r.solved))
        else:
            parts.append(f'<tr class="failed"><td class="l">{_e(r.variant)}</td>'
                         f'<td colspan="{13 + len(BUCKET_LABELS)}" class="l">failed: see below'
                         "</td></tr>")
    parts.append("</tbody></table></div>")
    parts.append(
        '<p class="note">Value: what the plan expects to gain from its visits under the variant\'s '
        "weighting (comparable between variants with the same weighting and cases). <b>Per extra "
        "collector</b> = (value visited − base) ÷ (collectors − base collectors). <b>Routes "
        "from</b>: the search whose plan was kept. A variant that only adds capacity is solved "
        "on its own and again from the base plan, and the better plan is kept; if even that is "
        "below the base, the base routes (re-checked in the variant) are kept (guard).</p>")
    if ok:
        parts += _charts(ok, first)
    bad = [r for r in rows if not r.ok]
    if bad:
        parts.append("<h2>Failed variants</h2>")
        for r in bad:
            parts.append(f"<h3>{_e(r.variant)}</h3><pre>{_e(r.error)}</pre>")
    parts.append('<p class="note">Files: kpis.csv, kpis.json; each variant\'s plan in its own '
                 "folder (index.html, routes.csv, unassigned.csv, summary.json).</p>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def write_report(result: WhatIfResult, path: str | Path) -> Path:
    """Write `render` of `result` to `path`."""
    p = Path(path)
    p.write_text(render(result), encoding="utf-8")
    return p
