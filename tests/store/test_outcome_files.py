"""Reading outcomes from a filled routes.xlsx (as plan writes it) and from an outcome CSV."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from storehelp import case, tiny_plan

from optimizer.errors import InputError
from optimizer.io.outcomes import read_outcome_file, split_outcome
from optimizer.outputs.sheets import write_route_workbook

DAY = date(2026, 12, 1)
CST = timezone(timedelta(hours=8))


def workbook(tmp_path, fills: dict[str, tuple[object, object, object]]):
    """routes.xlsx as plan writes it, with the Outcome / Promise date / Amount paid cells of
    the given cases filled in (as a collector types them)."""
    plan = tiny_plan(DAY, {"C01+C02": (("C01", "C02"), [case("A1"), case("A2"), case("A3")]),
                           "C03+C04": (("C03", "C04"), [case("B1"), case("B2"), case("B3")])},
                     unassigned=((case("X1"), "lower_value", "worth less"),))
    path = write_route_workbook(plan, tmp_path / "routes.xlsx")
    wb = load_workbook(path)
    for ws in wb.worksheets:
        header = next((r for r in range(1, 10) if ws.cell(r, 1).value == "Stop"), None)
        if header is None:
            continue
        cols = {ws.cell(header, j).value: j for j in range(1, ws.max_column + 1)}
        for r in range(header + 1, ws.max_row + 1):
            cid = ws.cell(r, cols["Case"]).value
            if cid in fills:
                for name, v in zip(("Outcome", "Promise date", "Amount paid"), fills[cid],
                                   strict=True):
                    ws.cell(r, cols[name], v)
    wb.save(path)
    return path


def test_a_filled_route_workbook_reads_every_outcome(tmp_path):
    path = workbook(tmp_path, {
        "A1": ("承诺还款", datetime(2026, 12, 5), 2000),
        "A2": ("paid", None, "5,000"),
        "B1": ("分期 6期", "2026-12-10", 500),
        "B2": ("已搬走 金牛区一环路北5号", None, None),
        "B3": ("困难 失业三个月", None, None),
    })
    got = read_outcome_file(path)
    assert got.kind == "route_sheets"
    assert got.blank == (("C01+C02", 7, "A3"),)  # a stop nobody reported on
    by = {r.case_id: r for r in got.rows}
    assert sorted(by) == ["A1", "A2", "B1", "B2", "B3"]
    a1 = by["A1"]
    assert (a1.sheet, a1.row, a1.route_id, a1.visit_date, a1.planned_start_s) == (
        "C01+C02", 5, "C01+C02", DAY, 9 * 3600)
    assert (a1.result.code, a1.result.promise_date, a1.result.amount) == (
        "promise_to_pay", date(2026, 12, 5), 2000.0)
    assert a1.key == "sheet:2026-12-01:C01+C02:A1"
    assert (by["A2"].result.code, by["A2"].result.amount) == ("paid", 5000.0)
    b1 = by["B1"].result
    assert (b1.code, b1.instalment_count, b1.instalment_first_date, b1.instalment_amount) == (
        "instalment_agreed", 6, date(2026, 12, 10), 500.0)
    assert (by["B2"].result.code, by["B2"].result.new_address) == ("moved", "金牛区一环路北5号")
    assert (by["B3"].result.code, by["B3"].result.note) == ("hardship", "失业三个月")
    # what the store records: the planned start on the day, the route's members
    o = a1.to_input(collectors=("C01", "C02"), tz=CST)
    assert o.event_time == datetime(2026, 12, 1, 9, 0, tzinfo=CST) and o.source == "sheet"
    assert (o.key, o.result, o.collectors) == (a1.key, a1.result, ("C01", "C02"))


def test_every_problem_of_a_route_workbook_is_reported_at_once(tmp_path):
    path = workbook(tmp_path, {
        "A1": ("承诺还款", None, 2000),                       # no promise date
        "A2": ("maybe", None, None),                          # not a code
        "A3": (None, "2026-12-05", 100),                      # an amount without an outcome
        "B1": ("promise_to_pay", "2026-11-20", 100),          # promised before the visit
        "B2": ("困难", None, None),                            # hardship without its note
        "B3": ("not_home", None, 300),                        # an amount not_home does not take
    })
    with pytest.raises(InputError) as exc:
        read_outcome_file(path)
    got = [(p.file, p.row, p.record_id, p.field, p.value, p.message) for p in exc.value.problems]
    a, b = "routes.xlsx sheet 'C01+C02'", "routes.xlsx sheet 'C03+C04'"
    assert got == [
        (a, 5, "case_id=A1", "Promise date", "", "required value is missing"),
        (a, 6, "case_id=A2", "Outcome", "maybe", "is not an outcome code"),
        (a, 7, "case_id=A3", "Outcome", "", "a promise date or an amount without an outcome"),
        (b, 5, "case_id=B1", "Promise date", "2026-11-20", "is before the visit (2026-12-01)"),
        (b, 6, "case_id=B2", "Outcome", "", "required value is missing"),
        (b, 7, "case_id=B3", "Amount paid", "300", "is not used by the outcome not_home (不在家)"),
    ]
    assert all(p.fix for p in exc.value.problems)


def test_an_outcome_csv_with_chinese_labels_and_its_problems(tmp_path):
    f = tmp_path / "outcomes.csv"
    f.write_text("case_id,outcome,promise_date,amount_paid,note\n"
                 "A1,承诺还款,2026-12-05,\"2,000\",will pay on Friday\n"
                 "A2,partial_payment,,800.50,\n"
                 "A3,,,,\n"
                 "A4,moved,,,\n", encoding="utf-8")
    got = read_outcome_file(f, visit_date=DAY)
    assert got.kind == "table" and got.blank == (("", 4, "A3"),)
    assert [(r.case_id, r.row, r.result.code, r.result.amount, r.result.note, r.key)
            for r in got.rows] == [
        ("A1", 2, "promise_to_pay", 2000.0, "will pay on Friday", "csv:2026-12-01:A1"),
        ("A2", 3, "partial_payment", 800.5, "", "csv:2026-12-01:A2"),
        ("A4", 5, "moved", None, "", "csv:2026-12-01:A4")]
    # without a day for the visits the file cannot be read
    with pytest.raises(InputError, match="add a column visit_date"):
        read_outcome_file(f)
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,outcome,promise_date,amount_paid,note,visit_date\n"
                   "A1,paid,,,,2026-12-01\n"
                   "A1,not_home,,,,2026-12-01\n"
                   ",refused,,,,2026-12-01\n"
                   "A3,refused,,,,01.12.2026\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_outcome_file(bad)
    assert [(p.row, p.field, p.message[:40]) for p in exc.value.problems] == [
        (2, "amount_paid", "required value is missing"),
        (3, "case_id", "the case is reported twice for 2026-12-0"),
        (4, "case_id", "required value is missing"),
        (5, "visit_date", "'01.12.2026' is not a date YYYY-MM-DD")]


def test_a_file_that_is_neither_is_refused_with_the_columns_to_give(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("id,result\n1,paid\n", encoding="utf-8")
    with pytest.raises(InputError, match="required column is missing") as exc:
        read_outcome_file(f, visit_date=DAY)
    assert "case_id, outcome, promise_date, amount_paid, note" in exc.value.problems[0].fix


def test_the_outcome_cell_splits_into_code_and_detail():
    assert split_outcome("分期6期") == ("分期", "6期")
    assert split_outcome("instalment_agreed x6") == ("instalment_agreed", "x6")
    assert split_outcome("Not at home") == ("Not at home", "")
    assert split_outcome("已搬走：金牛区") == ("已搬走", "金牛区")
