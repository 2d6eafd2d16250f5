"""The store's commands, one at a time, on SQLite and PostgreSQL, without planning: exit codes,
what they print, what they leave in the store (the three-day loop is test_loop_cli.py)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from storehelp import case, tiny_plan

from optimizer.cli import main
from optimizer.loop import prepare, store_counts
from optimizer.store.cases import merge_cases
from optimizer.store.db import Store
from optimizer.store.plans import record_plan

# a day ahead: the store counts what happened after a case entered it (the import is now)
DAY = date.today() + timedelta(days=7)
LATER, NO_PLAN = DAY + timedelta(days=1), DAY + timedelta(days=4)
A, B, C = case("A-1"), case("B-2", amount=8000.0), case("C-3")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _published(store_url: str, day: date = DAY, imported_at: datetime | None = None) -> None:
    """A, B, C in the store; A and B stops of route R1 (C01+C02) in the plan published for
    `day`."""
    with Store.open(store_url) as store, store.session() as s:
        merge_cases(s, [A, B, C], file_name="export.csv", sha256="e" * 64,
                    imported_at=imported_at)
        record_plan(s, tiny_plan(day, {"R1": (("C01", "C02"), [A, B])},
                                 ((C, "lower_value", "kept visits worth more"),)), actor="t")


def test_import_merges_a_case_list_once(store_url, tmp_path, capsys):
    cases = _write_csv(tmp_path / "cases.csv", [
        ["case_id", "amount_overdue", "days_past_due", "address", "lat", "lon"],
        ["K-1", "5000", "30", "成华区建设路1号", "30.66", "104.10"],
        ["K-2", "3000", "90", "成华区建设路2号", "30.67", "104.11"]])
    rc, out, err = _cli(capsys, "import", str(cases), "--store", store_url, "-q")
    assert (rc, err) == (0, "")
    assert "cases.csv merged into the store (import #1)" in out
    rc, out, _ = _cli(capsys, "import", str(cases), "--store", store_url, "-q")
    assert rc == 0
    assert "imported before (import #1, same SHA-256); nothing changed (2 cases)" in out
    smaller = _write_csv(tmp_path / "smaller.csv", [
        ["case_id", "amount_overdue", "days_past_due", "address", "lat", "lon"],
        ["K-1", "4000", "31", "成华区建设路1号", "30.66", "104.10"]])
    rc, out, _ = _cli(capsys, "import", str(smaller), "--store", store_url, "-q")
    assert rc == 0 and "Closed (not in this export; kept in the store): K-2" in out
    with Store.open(store_url) as store:
        c = store_counts(store)
    assert (c["open"], c["closed"], c["imports"]) == (1, 1, 2)


def test_import_of_a_bad_case_list_names_every_problem_and_merges_nothing(store_url, tmp_path,
                                                                         capsys):
    bad = _write_csv(tmp_path / "bad.csv", [
        ["case_id", "amount_overdue", "days_past_due", "address"],
        ["K-1", "lots", "30", "成华区建设路1号"], ["K-2", "3000", "-4", "成华区建设路2号"]])
    rc, _, err = _cli(capsys, "import", str(bad), "--store", store_url, "-q")
    assert rc == 2 and "Traceback" not in err
    assert "bad.csv row 2 (case_id=K-1)" in err and "bad.csv row 3 (case_id=K-2)" in err
    with Store.open(store_url) as store:
        assert store_counts(store)["imports"] == 0


def test_outcomes_of_a_csv_are_recorded_once_and_a_changed_row_corrects(store_url, tmp_path,
                                                                         capsys):
    _published(store_url)
    head = ["case_id", "outcome", "promise_date", "amount_paid", "note"]
    first = _write_csv(tmp_path / "day.csv", [
        head, ["A-1", "承诺还款", LATER.isoformat(), "2000", ""],
        ["B-2", "not_home", "", "", "gate locked"]])
    args = ["outcomes", "import", str(first), "--store", store_url, "--date", DAY.isoformat(),
            "--timezone", "+08:00", "-q"]
    rc, out, err = _cli(capsys, *args)
    assert (rc, err) == (0, "")
    assert "2 outcome(s) recorded (not_home 1, promise_to_pay 1)" in out
    rc, out, _ = _cli(capsys, *args)
    assert rc == 0 and "0 outcome(s) recorded" in out and "2 already recorded" in out
    _write_csv(first, [head, ["A-1", "paid", "", "5000", ""],
                       ["B-2", "not_home", "", "", "gate locked"]])
    rc, out, _ = _cli(capsys, *args)
    assert rc == 0 and "1 correction(s)" in out and "1 already recorded" in out
    with Store.open(store_url) as store:
        learned = prepare(store, [A, B], LATER).learned
    # the correction replaced the promise: A is closed as paid, not waiting for a promise
    assert learned["A-1"].exclusion is not None
    assert learned["A-1"].exclusion.reason_code == "closed_paid"
    part = "weekend" if DAY.weekday() >= 5 else "weekday_daytime"  # noon: the CSV's time
    assert learned["B-2"].planned and learned["B-2"].misses == {part: 1}
    rc, out, err = _cli(capsys, "outcomes", "export", "--store", store_url, "--out",
                        str(tmp_path / "c.csv"))
    assert (rc, err) == (0, "")
    with (tmp_path / "c.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [(r["case_id"], r["outcome"], r["collectors"]) for r in rows] == [
        ("A-1", "promise_to_pay", "C01+C02"), ("B-2", "not_home", "C01+C02"),
        ("A-1", "paid", "C01+C02")]
    assert rows[0]["superseded_by"] == rows[2]["outcome_id"]


def test_outcomes_the_store_cannot_place_are_all_refused_and_nothing_is_recorded(
        store_url, tmp_path, capsys):
    _published(store_url)
    bad = _write_csv(tmp_path / "bad.csv", [
        ["case_id", "outcome", "promise_date", "amount_paid", "note", "visit_date"],
        ["A-1", "not_home", "", "", "", DAY.isoformat()],  # fine on its own
        ["C-3", "refused", "", "", "", DAY.isoformat()],  # not a stop of the plan
        ["Z-9", "refused", "", "", "", DAY.isoformat()],  # not in the store
        ["B-2", "refused", "", "", "", NO_PLAN.isoformat()],  # no plan published that day
        ["B-2", "promise_to_pay", "", "", "", DAY.isoformat()]])  # no date, no amount
    rc, _, err = _cli(capsys, "outcomes", "import", str(bad), "--store", store_url, "-q")
    assert rc == 2 and "Traceback" not in err
    assert "5 input problems" in err
    assert "bad.csv row 3 (case_id=C-3): field 'case_id' value 'C-3': the case is not a stop" in err
    assert "bad.csv row 4 (case_id=Z-9)" in err and "no case with this id in the store" in err
    assert (f"bad.csv row 5 (case_id=B-2): field 'visit_date' value '{NO_PLAN.isoformat()}': "
            f"the store has no published plan for {NO_PLAN.isoformat()}") in err
    assert "bad.csv row 6 (case_id=B-2): field 'promise_date'" in err
    with Store.open(store_url) as store:
        assert store_counts(store)["outcomes"] == 0


def test_correct_address_lets_a_moved_case_be_planned_again(store_url, tmp_path, capsys):
    # the report lies between the import (ten days ago) and the correction (now)
    past = date.today() - timedelta(days=2)
    _published(store_url, past, imported_at=datetime.now(UTC) - timedelta(days=10))
    moved = _write_csv(tmp_path / "m.csv", [
        ["case_id", "outcome", "promise_date", "amount_paid", "note", "visit_date"],
        ["A-1", "已搬走 金牛区一环路北5号", "", "", "", past.isoformat()]])
    assert _cli(capsys, "outcomes", "import", str(moved), "--store", store_url, "-q")[0] == 0
    with Store.open(store_url) as store:
        before = prepare(store, [A], date.today()).learned["A-1"]
    assert before.exclusion is not None and before.exclusion.reason_code == "address_unverified"
    assert "金牛区一环路北5号" in before.exclusion.reason
    rc, _, err = _cli(capsys, "correct-address", "A-1", "金牛区一环路北5号", "--lat", "30.69",
                      "--store", store_url)
    assert rc == 2 and "--lat" in err and "both --lat and --lon" in err
    rc, out, err = _cli(capsys, "correct-address", "A-1", "金牛区一环路北5号", "--lat", "30.69",
                        "--lon", "104.07", "--store", store_url)
    assert (rc, err) == (0, "")
    with Store.open(store_url) as store:
        after = prepare(store, [A], date.today()).learned["A-1"]
    assert after.planned and after.case.address == "金牛区一环路北5号"
    assert (after.case.lat, after.case.lon) == (30.69, 104.07)


def test_store_migrate_and_status(store_url, capsys):
    rc, out, _ = _cli(capsys, "store", "status", "--store", store_url)
    assert rc == 0 and "schema empty" in out
    from optimizer.store.migrate import head

    rc, out, _ = _cli(capsys, "store", "migrate", "--store", store_url)
    assert rc == 0 and f"schema empty -> {head()}" in out
    rc, out, _ = _cli(capsys, "store", "migrate", "--store", store_url)
    assert rc == 0 and "(already the newest)" in out
    rc, out, _ = _cli(capsys, "store", "status", "--store", store_url)
    assert rc == 0 and "Cases: 0 open, 0 closed; case imports 0; plans 0; outcomes 0." in out


def test_bad_store_urls_and_options_exit_without_a_traceback(tmp_path, capsys):
    rc, _, err = _cli(capsys, "store", "status", "--store", "nosuchdb://x")
    assert rc == 2 and ("no database driver" in err or "is not a database URL" in err)
    rc, _, err = _cli(capsys, "store", "status", "--store",
                      "postgresql+psycopg://cr:wrong@127.0.0.1:1/none")
    assert rc == 1 and "cannot be opened" in err and "Traceback" not in err
    rc, _, err = _cli(capsys, "outcomes", "export", "--store", str(tmp_path / "s.sqlite"),
                      "--out", str(tmp_path / "c.txt"))
    assert rc == 2 and "--out value" in err and ".csv or .xlsx" in err
    rc, _, err = _cli(capsys, "outcomes", "import", str(tmp_path / "none.xlsx"),
                      "--timezone", "Mars/Olympus", "--store", str(tmp_path / "s.sqlite"))
    assert rc == 2 and "2 option problems" in err and "no such file" in err
    assert "--timezone value 'Mars/Olympus': is not a time zone" in err


def test_the_outcome_policy_options_of_plan(tmp_path, capsys):
    from optimizer.cli import build_parser, check_plan_options
    from optimizer.store.history import OutcomePolicy

    a = build_parser().parse_args(["plan", "--store", str(tmp_path / "s.sqlite"),
                                   "--refused-cooldown-days", "0", "--dispute-skill", "none",
                                   "--promise-grace-days", "5", "--out", str(tmp_path / "o")])
    check_plan_options(a)
    assert a.outcome_policy == OutcomePolicy(refused_cooldown_days=0, dispute_skill="",
                                             promise_grace_days=5)
    rc, _, err = _cli(capsys, "plan", "--not-home-limit", "2", "--out", str(tmp_path / "o"))
    assert rc == 2 and "--not-home-limit value '2': is used only with a case store" in err
