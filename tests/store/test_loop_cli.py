"""Three days of the collection loop through the command line, on the bundled demo, on SQLite and
on PostgreSQL.

Day 1: ``plan --store`` (the demo case list merged, the plan recorded and published); the route
sheets are filled in as collectors do (openpyxl): on every route the first stops paid in full,
promised (a date and an amount, the Chinese label), nobody at home, no attempt (未拜访),
refused (拒绝), moved (已搬走 with the new address); ``outcomes import``, twice (the second
records nothing). Day 2 (``--cooldown-days 0``, so the visits of day 1 may be repeated):
paid cases closed, promised ones held until their date plus grace, refusals cooling down,
moved ones waiting for an address correction, a not-home case visited again only in another
part of the day or at half its value; route sheets of day 2 filled (a partial payment, nobody at
home) and imported, a broken copy refused with every problem and nothing recorded. Day 3 (the
China policy's 3-day cooldown): the cooldown counts the visits of days 1 and 2 from the store.
Every plan is re-checked by tests/plancheck.py, the expected case state worked out here from
the outcomes written, not read from the store. Then the compliance export: one row per outcome.

The days are the first Monday to Wednesday after today: the store knows only what happened
before it records it, so the played days lie ahead of the import.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from plancheck import check_plan_outputs
from storehelp import cli_run as _cli
from storehelp import clock_s as _secs
from storehelp import csv_rows as _rows
from storehelp import fill_route_sheets

from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_cases, read_collectors
from optimizer.planning.rules import PRESETS
from optimizer.store.db import Store

pytestmark = pytest.mark.slow

SOLVE = ["--time-limit", "60", "--max-solutions", "20", "--no-maps", "-q"]
EVENING_S = 17 * 3600  # OutcomePolicy.evening_from_s
#: what the collectors write on the first stops of every route of day 1, in stop order
DAY1 = ("paid", "承诺还款", "not_home", "未拜访", "拒绝", "已搬走 成华区建设路88号")
CODE = {"paid": "paid", "承诺还款": "promise_to_pay", "not_home": "not_home",
        "未拜访": "no_attempt", "拒绝": "refused", "已搬走 成华区建设路88号": "moved",
        "部分还款": "partial_payment", "不在家": "not_home"}


def _monday_after(day: date) -> date:
    d = day + timedelta(days=1)
    while d.weekday() != 0:
        d += timedelta(days=1)
    return d


def _check(out: Path, cases, collectors, day: date, cooldown: int, network) -> None:
    policy = replace(PRESETS["china"], cooldown_days=cooldown)
    assert check_plan_outputs(out, cases, collectors, day, policy, network=network) == []


@pytest.fixture(scope="module")
def network():
    from optimizer.geo import network as nw

    return nw.load_network()


def test_three_days_of_outcomes_steer_the_plans(store_url, tmp_path, capsys, network):
    d1 = _monday_after(date.today())
    d2, d3 = d1 + timedelta(days=1), d1 + timedelta(days=2)
    promised = d1 + timedelta(days=3)
    demo = read_cases(DEMO_CASES)
    collectors = read_collectors(DEMO_COLLECTORS)
    store = ["--store", store_url]

    # ---- day 1: the demo merged into the empty store, planned, recorded
    rc, out, err = _cli(capsys, "plan", *store, "--date", d1.isoformat(), "--out",
                        str(tmp_path / "d1"), *SOLVE)
    assert (rc, err) == (0, "")
    _check(tmp_path / "d1", demo, collectors, d1, 3, network)
    day1 = {r["case_id"]: r for r in _rows(tmp_path / "d1" / "routes.csv")}
    w1 = fill_route_sheets(tmp_path / "d1" / "routes.xlsx", DAY1, CODE, promised, each=7)
    assert len(w1) == 6 * 7  # the plan visits more than 42 cases
    rc, out, err = _cli(capsys, "outcomes", "import", str(tmp_path / "d1" / "routes.xlsx"),
                        *store, "--timezone", "Asia/Shanghai", "-q")
    assert (rc, err) == (0, "")
    assert "42 outcome(s) recorded" in out and "0 already recorded" in out
    rc, out, _ = _cli(capsys, "outcomes", "import", str(tmp_path / "d1" / "routes.xlsx"),
                      *store, "--timezone", "Asia/Shanghai", "-q")
    assert rc == 0 and "0 outcome(s) recorded" in out and "42 already recorded" in out

    # the case state the next plans must respect, worked out from what was written
    real_visit = {cid for cid, code in w1.items() if code != "no_attempt"}
    by_code: dict[str, set[str]] = {}
    for cid, code in w1.items():
        by_code.setdefault(code, set()).add(cid)
    assert {k: len(v) for k, v in by_code.items()} == {c: 7 for c in CODE.values()
                                                        if c != "partial_payment"}

    def expected(visits: dict[str, date]) -> tuple:
        return tuple(replace(c, last_visit_date=max(visits[c.case_id], c.last_visit_date or
                                                    visits[c.case_id]),
                             promise_date=promised if c.case_id in by_code["promise_to_pay"]
                             else c.promise_date)
                     if c.case_id in visits else c for c in demo)

    # ---- day 2, cooldown off: the history alone holds cases back
    rc, out, err = _cli(capsys, "plan", *store, "--date", d2.isoformat(), "--out",
                        str(tmp_path / "d2"), "--cooldown-days", "0", "--visit-pack", *SOLVE)
    assert (rc, err) == (0, "")
    _check(tmp_path / "d2", expected({c: d1 for c in real_visit}), collectors, d2, 0, network)
    routes2 = {r["case_id"]: r for r in _rows(tmp_path / "d2" / "routes.csv")}
    left2 = {r["case_id"]: r for r in _rows(tmp_path / "d2" / "unassigned.csv")}
    grace_end = promised + timedelta(days=3)  # the promised date, 2 days' grace, then due
    for cid in by_code["paid"]:
        assert left2[cid]["reason_code"] == "closed_paid", cid
    for cid in by_code["promise_to_pay"]:
        assert left2[cid]["reason_code"] == "promise_open", cid
        assert (f"promised 1,000 on {promised.isoformat()}; due for a visit from "
                f"{grace_end.isoformat()} if unpaid") in left2[cid]["reason"]
    for cid in by_code["refused"]:
        assert left2[cid]["reason_code"] == "refused_cooldown", cid
    for cid in by_code["moved"]:
        assert left2[cid]["reason_code"] == "address_unverified", cid
        assert "成华区建设路88号" in left2[cid]["reason"]
    history_codes = {"closed_paid", "promise_open", "refused_cooldown", "address_unverified",
                     "verify_contact", "hardship_pause", "dispute_open"}
    for cid in by_code["no_attempt"]:  # no visit happened: nothing learned
        assert cid in routes2 or left2[cid]["reason_code"] not in history_codes, cid
    steered = 0
    for cid in by_code["not_home"]:
        if cid not in routes2:
            assert left2[cid]["reason_code"] not in history_codes, cid
            continue
        before = _secs(day1[cid]["start"]) >= EVENING_S
        after = _secs(routes2[cid]["start"]) >= EVENING_S
        ratio = float(routes2[cid]["value"]) / float(day1[cid]["value"])
        # another part of the day at the full value, or the same part at half of it
        assert ratio == pytest.approx(1.0 if before != after else 0.5, abs=1e-3), cid
        steered += before != after
    assert steered <= len(by_code["not_home"])
    # the visit packs: a page per stop, in route order; a case seen on day 1 shows that visit
    pages = {}
    for f in (tmp_path / "d2").glob("pack-*.html"):
        for page in f.read_text(encoding="utf-8").split('<section class="visit">')[1:]:
            (cid,) = set(re.findall(r"C-\d{5}", page))  # its own case only
            pages[cid] = page
    assert set(pages) == set(routes2)
    for cid in set(routes2) & (by_code["not_home"] | by_code["no_attempt"]):
        label = "不在家" if cid in by_code["not_home"] else "未拜访"
        assert d1.isoformat() in pages[cid] and label in pages[cid], cid

    # ---- day 2's sheets: a partial payment and nobody at home on every route
    w2 = fill_route_sheets(tmp_path / "d2" / "routes.xlsx", ("部分还款", "不在家"), CODE,
                           promised, each=7)
    broken = tmp_path / "broken.xlsx"
    shutil.copy(tmp_path / "d2" / "routes.xlsx", broken)
    wb = load_workbook(broken)
    ws = wb.worksheets[1]
    ws.cell(5, 17).value = "maybe later"  # not an outcome
    ws.cell(6, 17).value = "承诺还款"  # a promise without its date
    ws.cell(6, 18).value = None
    ws.cell(7, 6).value = "C-99999"  # a case the store does not hold
    ws.cell(7, 17).value = "paid"
    ws.cell(7, 19).value = 100
    wb.save(broken)
    with Store.open(store_url) as s:
        from optimizer.loop import store_counts

        before_counts = store_counts(s)
    rc, out, err = _cli(capsys, "outcomes", "import", str(broken), *store,
                        "--timezone", "Asia/Shanghai", "-q")
    assert rc == 2 and "Traceback" not in err
    sheet = ws.title
    assert f"broken.xlsx sheet '{sheet}' row 5" in err and "maybe later" in err
    assert f"broken.xlsx sheet '{sheet}' row 6" in err and "Promise date" in err
    assert f"broken.xlsx sheet '{sheet}' row 7 (case_id=C-99999)" in err
    assert "no case with this id in the store" in err
    with Store.open(store_url) as s:
        assert store_counts(s) == before_counts  # nothing recorded
    rc, out, err = _cli(capsys, "outcomes", "import", str(tmp_path / "d2" / "routes.xlsx"),
                        *store, "--timezone", "Asia/Shanghai", "-q")
    assert (rc, err) == (0, "")
    assert f"{len(w2)} outcome(s) recorded" in out

    # ---- day 3, the China policy's cooldown: days 1 and 2 count, from the store
    rc, out, err = _cli(capsys, "plan", *store, "--date", d3.isoformat(), "--out",
                        str(tmp_path / "d3"), *SOLVE)
    assert (rc, err) == (0, "")
    visits = {c: d1 for c in real_visit} | {c: d2 for c in w2}
    _check(tmp_path / "d3", expected(visits), collectors, d3, 3, network)
    routes3 = {r["case_id"] for r in _rows(tmp_path / "d3" / "routes.csv")}
    left3 = {r["case_id"]: r for r in _rows(tmp_path / "d3" / "unassigned.csv")}
    assert not routes3 & set(visits)
    for cid in by_code["paid"]:
        assert left3[cid]["reason_code"] == "closed_paid", cid
    for cid in by_code["promise_to_pay"]:
        assert left3[cid]["reason_code"] == "promise_open", cid
    for cid in set(w2) - by_code["paid"]:
        assert left3[cid]["reason_code"] in ("cooldown", "promise_open", "refused_cooldown",
                                             "address_unverified"), cid

    # ---- the compliance file: one row per recorded outcome
    rc, out, err = _cli(capsys, "outcomes", "export", *store, "--out",
                        str(tmp_path / "outcomes.csv"))
    assert (rc, err) == (0, "")
    rows = _rows(tmp_path / "outcomes.csv")
    assert len(rows) == len(w1) + len(w2)
    assert {r["outcome"] for r in rows} == set(w1.values()) | set(w2.values())
    assert all(r["collectors"] and r["plan_date"] for r in rows)
    assert (tmp_path / "outcomes.audit.csv").is_file()
    revisited = len(by_code["not_home"] & set(routes2))
    reasons3: dict[str, int] = {}
    for r in left3.values():
        reasons3[r["reason_code"]] = reasons3.get(r["reason_code"], 0) + 1
    with capsys.disabled():  # the counts the closing note reports
        print(f"\nthree-day loop on {store_url.split(':')[0]}: day 3 closed_paid "
              f"{reasons3.get('closed_paid', 0)}, promise_open {reasons3.get('promise_open', 0)}, "
              f"cooldown {reasons3.get('cooldown', 0)}, address_unverified "
              f"{reasons3.get('address_unverified', 0)}, refused_cooldown "
              f"{reasons3.get('refused_cooldown', 0)}; not-home cases of day 1 visited on day 2: "
              f"{revisited} of {len(by_code['not_home'])}, {steered} of them in another part "
              "of the day")
