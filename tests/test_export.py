"""routes.csv / unassigned.csv are written for Excel: input text never starts a formula."""

from __future__ import annotations

import csv
import dataclasses
import json

from maps_plan import make_plan

from optimizer.outputs.write import write_tables

PAYLOADS = ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx")


def test_text_that_would_start_a_formula_is_neutralised_numbers_are_not(tmp_path):
    plan = make_plan()
    r0 = plan.routes[0]
    # customers named like formulas; the first stop in the western hemisphere (lon < 0)
    stops = [dataclasses.replace(s, case=dataclasses.replace(
        s.case, customer_name=PAYLOADS[k % len(PAYLOADS)], address="-" + s.case.address))
        for k, s in enumerate(r0.stops)]
    stops[0] = dataclasses.replace(stops[0], lon=-8.611)
    u0 = plan.unassigned[0]
    u0 = dataclasses.replace(u0, case=dataclasses.replace(u0.case, address="=cmd|'/C calc'!A0"))
    plan = dataclasses.replace(plan, routes=(dataclasses.replace(r0, stops=tuple(stops)),
                                             *plan.routes[1:]),
                               unassigned=(u0, *plan.unassigned[1:]))
    write_tables(plan, tmp_path)
    with (tmp_path / "routes.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["collector_id"] == r0.collector.collector_id]
    assert [r["customer_name"] for r in rows] == [
        "'" + PAYLOADS[k % len(PAYLOADS)] for k in range(len(stops))]
    assert all(r["address"].startswith("'-") for r in rows)
    assert rows[0]["lon"] == "-8.611"  # a number, not text: no quote
    with (tmp_path / "unassigned.csv").open(encoding="utf-8-sig", newline="") as f:
        first = next(csv.DictReader(f))
    assert first["address"] == "'=cmd|'/C calc'!A0"
    # routes.json is data: the exact text
    data = json.loads((tmp_path / "routes.json").read_text(encoding="utf-8"))
    got = [s["customer_name"] for s in data["routes"][0]["stops"]]
    assert got == [PAYLOADS[k % len(PAYLOADS)] for k in range(len(stops))]
    assert data["routes"][0]["stops"][0]["lon"] == -8.611
