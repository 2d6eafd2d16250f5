"""Re-planning during the day (`collector-routes replan`): the demo day, published by `plan`,
re-planned at 13:00 with one absent collector and two urgent cases.

Every re-planned day is re-checked by `plancheck` (the demo cases and the urgent ones, each
exactly once); the done part is compared with the published plan; no new visit starts before
13:00; the absent collector's crew makes no later visit; both urgent cases are visited or
explained; with a case store, the visits done are those with an outcome recorded.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
from demoplan import PLAN_DATE
from plancheck import check_plan_outputs

from optimizer.cli import main
from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_cases, read_collectors
from optimizer.planning.rules import PRESETS

AT = "13:00"
ABSENT = "K03"
URGENT = """\
case_id,customer_name,address,lat,lon,amount_overdue,days_past_due,windows,service_minutes
U-1,急一,,30.6612,104.0706,30000,40,14:00-18:00,20
U-2,急二,,30.6745,104.0512,22000,75,15:00-19:00,20
"""


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _secs(clock: str) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    return h * 3600 + m * 60 + s


def _routes(folder: Path) -> dict[str, dict]:
    data = json.loads((folder / "routes.json").read_text(encoding="utf-8"))
    return {r["collector_id"]: r for r in data["routes"]}


@pytest.fixture(scope="module")
def urgent_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("urgent") / "urgent.csv"
    p.write_text(URGENT, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def replanned(demo_plan, urgent_file, tmp_path_factory, cache_dir) -> Path:
    out = tmp_path_factory.mktemp("replan") / "new"
    assert main(["replan", "--plan", str(demo_plan), "--at", AT, "--absent", ABSENT,
                 "--urgent", str(urgent_file), "--out", str(out), "--time-limit", "300",
                 "--max-solutions", "30",
                 "--no-maps", "-q", "--cache-dir", str(cache_dir)]) == 0
    return out


@pytest.mark.slow
def test_the_replanned_day_passes_the_re_simulation(replanned, urgent_file, cache_dir):
    from optimizer.geo.network import load_network

    cases = read_cases(DEMO_CASES) + read_cases(urgent_file)
    assert check_plan_outputs(replanned, cases, read_collectors(DEMO_COLLECTORS), PLAN_DATE,
                              PRESETS["china"], network=load_network(cache_dir=cache_dir)) == []


@pytest.mark.slow
def test_done_stops_are_kept_and_nothing_new_starts_before_the_time(demo_plan, replanned):
    at = _secs(AT + ":00")
    old, new = _routes(demo_plan), _routes(replanned)
    assert set(old) == set(new)  # the same crews, the same route ids (pages and links)
    kept: list[str] = []
    for rid, route in old.items():
        done = [s for s in route["stops"] if _secs(s["start"]) < at]
        now = new[rid]["stops"]
        assert [s["case_id"] for s in now[:len(done)]] == [s["case_id"] for s in done]
        for a, b in zip(done, now, strict=False):  # re-timed to the second at most
            assert abs(_secs(a["start"]) - _secs(b["start"])) <= 1, (rid, a, b)
        for s in now[len(done):]:
            assert _secs(s["start"]) >= at, (rid, s)
        if done:
            assert new[rid]["leave"] == route["leave"]
        kept += [s["case_id"] for s in done]
    changes = json.loads((replanned / "changes.json").read_text(encoding="utf-8"))
    assert kept
    assert sorted(changes["done"]) == sorted(kept)
    assert changes["at"] == AT


@pytest.mark.slow
def test_the_absent_collector_makes_no_later_visit(demo_plan, replanned):
    at = _secs(AT + ":00")
    old, new = _routes(demo_plan), _routes(replanned)
    (rid,) = [r for r, route in new.items() if ABSENT in route["members"]]
    assert all(_secs(s["start"]) < at for s in new[rid]["stops"])
    later = {s["case_id"] for s in old[rid]["stops"] if _secs(s["start"]) >= at}
    assert later  # K03's crew had visits planned after 13:00
    moves = {r["case_id"]: r for r in _rows(replanned / "changes.csv")}
    unassigned = {u["case_id"]: u for u in _rows(replanned / "unassigned.csv")}
    elsewhere = {s["case_id"]: r for r, route in new.items() for s in route["stops"]}
    for cid in later:  # each moved to another crew, or explained
        assert moves[cid]["before"] == rid
        assert moves[cid]["after"] == elsewhere.get(cid, "")
        assert cid in elsewhere or unassigned[cid]["reason"]
    changes = json.loads((replanned / "changes.json").read_text(encoding="utf-8"))
    assert changes["absent"] == [ABSENT] and changes["stopped"] == [rid]


@pytest.mark.slow
def test_both_urgent_cases_are_visited_or_explained(replanned):
    routed = {r["case_id"]: r for r in _rows(replanned / "routes.csv")}
    unassigned = {u["case_id"]: u for u in _rows(replanned / "unassigned.csv")}
    moves = {r["case_id"]: r for r in _rows(replanned / "changes.csv")}
    for cid in ("U-1", "U-2"):
        assert (cid in routed) != (cid in unassigned)
        assert moves[cid]["before"] == ""
        if cid in routed:
            assert moves[cid]["after"] == routed[cid]["collector_id"]
            assert moves[cid]["reason"] == "urgent"
    # they are worth more to the solver than any other case: both fit the afternoon
    assert {"U-1", "U-2"} <= set(routed)


@pytest.mark.slow
def test_with_a_store_the_done_visits_are_those_with_an_outcome(demo_plan, tmp_path, cache_dir):
    from datetime import datetime, timedelta, timezone

    from optimizer.store.cases import merge_cases
    from optimizer.store.db import Store
    from optimizer.store.events import record_outcome
    from optimizer.store.outcomes import parse_outcome

    old = _routes(demo_plan)
    # the first stop of two routes reported (one paid, one not at home); a no_attempt on a
    # third route's first stop is no visit; everything else planned before 13:00 is not done
    firsts = [r["stops"][0] for r in old.values() if r["stops"]]
    reported = {firsts[0]["case_id"]: "paid", firsts[1]["case_id"]: "not_home",
                firsts[2]["case_id"]: "no_attempt"}
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    cst = timezone(timedelta(hours=8))
    with Store.open(url) as store:
        with store.session() as s:
            merge_cases(s, read_cases(DEMO_CASES), file_name="cases.csv", sha256="d" * 64)
        with store.session() as s:
            for k, (cid, code) in enumerate(reported.items()):
                body = {"key": f"k{k}", "case_id": cid, "outcome": code, "collectors": "K01",
                        "event_time": datetime(2026, 11, 30, 10, 0, tzinfo=cst).isoformat(),
                        "source": "api", **({"amount": 100.0} if code == "paid" else {})}
                record_outcome(s, parse_outcome(body), actor="test")
    out = tmp_path / "new"
    assert main(["replan", "--plan", str(demo_plan), "--at", AT, "--store", url, "--out",
                 str(out), "--time-limit", "300", "--max-solutions", "20", "--no-maps", "-q",
                 "--cache-dir",
                 str(cache_dir)]) == 0
    changes = json.loads((out / "changes.json").read_text(encoding="utf-8"))
    assert sorted(changes["done"]) == sorted(c for c, code in reported.items()
                                             if code != "no_attempt")
    at = _secs(AT + ":00")
    done = set(changes["done"])
    for route in _routes(out).values():
        for s in route["stops"]:
            assert s["case_id"] in done or _secs(s["start"]) >= at


def test_bad_options_are_reported_at_once(demo_plan, tmp_path, capsys):
    code = main(["replan", "--plan", str(demo_plan), "--at", "25:10", "--absent", "K99",
                 "--absent", "K01", "--urgent", str(tmp_path / "none.csv"), "--out",
                 str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert "--at value '25:10'" in err and "--absent value 'K99':" in err  # K01 is known
    assert "--urgent value" in err and "no such file" in err and "Traceback" not in err
    code = main(["replan", "--plan", str(tmp_path), "--at", "13:00", "--out",
                 str(tmp_path / "y")])
    err = capsys.readouterr().err
    assert code == 2 and "holds no complete plan" in err


IMPOSSIBLE = """\
case_id,customer_name,address,lat,lon,amount_overdue,days_past_due,windows,service_minutes
U-9,急九,,30.6612,104.0706,50000,40,09:00-10:00,20
"""


def _moves_between_continuing(folder: Path) -> list[dict]:
    """The moves of a crew's remaining stop to another crew, both crews still visiting."""
    changes = json.loads((folder / "changes.json").read_text(encoding="utf-8"))
    stopped = set(changes["stopped"])
    return [m for m in changes["moves"] if m["before"] and m["after"]
            and m["before"] != m["after"] and m["before"] not in stopped]


@pytest.mark.slow
def test_the_change_cost_keeps_stops_with_their_crew_and_a_required_visit_is_never_silent(
        demo_plan, tmp_path, cache_dir, capsys):
    # U-9 wants a visit between 09:00 and 10:00, and the day is re-planned at 13:00: no crew
    # can make it. It is a required visit: the rest of the day is planned, U-9 is listed with
    # its reason and a warning (on stderr, with -q too), never silently dropped.
    urgent = tmp_path / "urgent.csv"
    urgent.write_text(IMPOSSIBLE, encoding="utf-8")
    runs = {}
    for cost in ("1000000000", "0"):
        out = tmp_path / f"cost-{cost}"
        maps = ["--no-maps"] if cost != "0" else []  # the pages of one run
        assert main(["replan", "--plan", str(demo_plan), "--at", AT, "--absent", ABSENT,
                     "--urgent", str(urgent), "--change-cost", cost, "--out", str(out),
                     "--time-limit", "300", "--max-solutions", "30", *maps, "-q",
                     "--cache-dir", str(cache_dir)]) == 0
        err = capsys.readouterr().err
        assert "warning: urgent case U-9 cannot be visited: urgent visit required but " \
               "impossible" in err
        left = {u["case_id"]: u for u in _rows(out / "unassigned.csv")}
        assert left["U-9"]["reason"].startswith("urgent visit required but impossible: ")
        assert "U-9" not in {r["case_id"] for r in _rows(out / "routes.csv")}
        runs[cost] = _moves_between_continuing(out)
    # a change cost above any case's value: every crew keeps its remaining stops (in order);
    # none: the solver moves some of them to other crews
    assert runs["1000000000"] == []
    assert len(runs["0"]) > 0
    # the pages of the re-planned day: "Updated at", and K03's crew told it stops
    k03 = (tmp_path / "cost-0" / f"{ABSENT}.html").read_text(encoding="utf-8")
    changes = json.loads((tmp_path / "cost-0" / "changes.json").read_text(encoding="utf-8"))
    assert f"Updated at {changes['updated_at']}" in k03 and "(re-planned from 13:00)" in k03
    assert "No further visits today" in k03


@pytest.mark.slow
def test_a_crew_continues_from_the_device_position_of_its_last_outcome(demo_plan, tmp_path,
                                                                       cache_dir):
    # Route R's first stop was reported done from a phone standing at the pin of another
    # route's stop (a place on the roads ~km away); route S's first stop was reported without
    # a position. Re-planned at 13:00 with the store: R's done visit is placed where the phone
    # was and R's next leg starts there (its travel time is the road time from that point,
    # computed here independently); S continues from its stop's pin, as published.
    from datetime import datetime, timedelta, timezone

    import numpy as np

    from optimizer.geo import matrix as mx
    from optimizer.geo import network as nw
    from optimizer.store.cases import merge_cases
    from optimizer.store.db import Store
    from optimizer.store.events import record_outcome
    from optimizer.store.outcomes import parse_outcome

    old = _routes(demo_plan)
    r_id, s_id = [rid for rid, r in old.items() if len(r["stops"]) > 3][:2]
    far = old[s_id]["stops"][-1]  # where R's phone was
    device = (far["lat"], far["lon"])
    reported = {old[r_id]["stops"][0]["case_id"]: device, old[s_id]["stops"][0]["case_id"]: None}
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    cst = timezone(timedelta(hours=8))
    with Store.open(url) as store:
        with store.session() as s:
            merge_cases(s, read_cases(DEMO_CASES), file_name="cases.csv", sha256="d" * 64)
        with store.session() as s:
            for k, (cid, pos) in enumerate(reported.items()):
                body = {"key": f"p{k}", "case_id": cid, "outcome": "not_home",
                        "collectors": "K01", "source": "api",
                        "event_time": datetime(2026, 11, 30, 10, 0, tzinfo=cst).isoformat(),
                        **({"device_lat": pos[0], "device_lon": pos[1]} if pos else {})}
                record_outcome(s, parse_outcome(body), actor="test")
    out = tmp_path / "new"
    assert main(["replan", "--plan", str(demo_plan), "--at", AT, "--store", url, "--out",
                 str(out), "--time-limit", "300", "--max-solutions", "20", "--no-maps", "-q",
                 "--cache-dir", str(cache_dir)]) == 0
    new = _routes(out)
    r_done, r_next = new[r_id]["stops"][0], new[r_id]["stops"][1]
    assert (r_done["lat"], r_done["lon"]) == pytest.approx(device, abs=1e-6)
    s_done = new[s_id]["stops"][0]
    assert (s_done["lat"], s_done["lon"]) == (old[s_id]["stops"][0]["lat"],
                                              old[s_id]["stops"][0]["lon"])
    network = nw.load_network(cache_dir=cache_dir)
    pts = np.array([device, (r_next["lat"], r_next["lon"])])
    snapped = nw.snap(network, pts[:, 0], pts[:, 1])
    leg_s = float(mx.travel_matrices(network, snapped).duration_s[0, 1])
    assert r_next["travel_s"] == pytest.approx(leg_s, abs=2.0)
    cases = tuple(replace(c, lat=device[0], lon=device[1]) if c.case_id in reported
                  and reported[c.case_id] else c for c in read_cases(DEMO_CASES))
    assert check_plan_outputs(out, cases, read_collectors(DEMO_COLLECTORS), PLAN_DATE,
                              PRESETS["china"], network=network) == []
