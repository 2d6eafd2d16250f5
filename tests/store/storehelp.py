"""Small builders the store tests share: Chengdu times, cases, outcomes."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from optimizer.cli import main
from optimizer.model import (
    Case,
    Collector,
    Place,
    Plan,
    PlannedRoute,
    PlannedStop,
    TimeWindow,
    Unassigned,
)
from optimizer.plan import summarize
from optimizer.store.outcomes import OutcomeInput, parse_outcome

CST = timezone(timedelta(hours=8))  # Chengdu's clock, the demo's city


def at(text: str) -> datetime:
    """A Chengdu time, '2026-12-01 10:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def case(case_id: str, amount: float = 5000.0, dpd: int = 45, **kw: object) -> Case:
    kw.setdefault("address", f"{case_id} 成华区建设路1号")
    kw.setdefault("lat", 30.66)
    kw.setdefault("lon", 104.10)
    return Case(case_id=case_id, amount_overdue=amount, days_past_due=dpd, **kw)  # type: ignore[arg-type]


def outcome(key: str, case_id: str, code: str, when: str, *, collectors: str = "C01+C02",
            source: str = "api", **fields: object) -> OutcomeInput:
    """A validated outcome through the shared validator."""
    body: dict[str, object] = {"key": key, "case_id": case_id, "outcome": code,
                               "collectors": collectors, "event_time": at(when).isoformat(),
                               "source": source, **fields}
    return parse_outcome(body)


def tiny_plan(plan_date: date, routes: dict[str, tuple[tuple[str, ...], list[Case]]],
              unassigned: tuple[tuple[Case, str, str], ...] = ()) -> Plan:
    """A `Plan` by hand: route id -> (members, cases in visiting order), stops an hour apart
    from 09:00; `unassigned` (case, reason code, sentence)."""
    out = []
    for route_id, (members, cases) in routes.items():
        crew = Collector(collector_id=route_id, start=Place(30.65, 104.06),
                         end=Place(30.65, 104.06), shift=TimeWindow(8 * 3600, 18 * 3600),
                         name=" & ".join(members))
        stops = tuple(PlannedStop(
            collector_id=route_id, stop=k, case=c, lat=c.lat or 30.66, lon=c.lon or 104.10,
            arrive_s=(8 + k) * 3600 - 300, start_s=(8 + k) * 3600, depart_s=(8 + k) * 3600 + 1200,
            travel_s=600, travel_m=3000, value=c.amount_overdue * 0.9,
            window=TimeWindow(8 * 3600, 21 * 3600)) for k, c in enumerate(cases, start=1))
        out.append(PlannedRoute(collector=crew, stops=stops, start_lat=30.65, start_lon=104.06,
                                end_lat=30.65, end_lon=104.06, leave_s=8.5 * 3600,
                                return_s=17 * 3600, travel_s=3600, travel_m=20000,
                                value=sum(s.value for s in stops), members=members))
    left = tuple(Unassigned(c, code, why) for c, code, why in unassigned)
    return Plan(plan_date=plan_date, routes=tuple(out), unassigned=left,
                summary=summarize(out, left, plan_date=plan_date, policy="china",
                                  weighting="expected_recovery"))


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file the product wrote (UTF-8 with its byte-order mark)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def clock_s(clock: str) -> int:
    """Seconds after midnight of an ``HH:MM:SS`` time of the outputs."""
    h, m, s = (int(x) for x in clock.split(":"))
    return h * 3600 + m * 60 + s


def cli_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in this process: exit code, stdout, stderr."""
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def fill_route_sheets(path: Path, texts: Sequence[str], codes: Mapping[str, str],
                      promise: date, *, each: int | None = None, promised: float = 1000,
                      partial: float = 500) -> dict[str, str]:
    """Fill the *Outcome* column of a plan's route sheets as a collector would: `texts` in
    turn on the stops, route by route (every stop, or until each text was written `each`
    times); a payment of the overdue amount for ``paid``, a promise of `promised` on
    `promise` for 承诺还款, `partial` paid for 部分还款. Returns case id -> the code written
    (`codes` of the text)."""
    wb = load_workbook(path)
    written: dict[str, str] = {}
    for ws in wb.worksheets[1:-1]:
        col = {c.value: k + 1 for k, c in enumerate(ws[4]) if c.value}
        for r in range(5, ws.max_row + 1):
            cid = ws.cell(r, col["Case"]).value
            if cid is None or (each is not None and len(written) >= each * len(texts)):
                break
            text = texts[len(written) % len(texts)]
            ws.cell(r, col["Outcome"]).value = text
            if text == "paid":
                ws.cell(r, col["Amount paid"]).value = ws.cell(r, col["Overdue"]).value
            elif text == "承诺还款":
                ws.cell(r, col["Promise date"]).value = promise.isoformat()
                ws.cell(r, col["Amount paid"]).value = promised
            elif text == "部分还款":
                ws.cell(r, col["Amount paid"]).value = partial
            written[str(cid)] = codes[text]
    wb.save(path)
    return written
