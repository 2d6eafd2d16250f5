"""Input reading: valid files parse; every problem of a broken file is reported at once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from optimizer.errors import InputError
from optimizer.io.inputs import (
    check_references,
    parse_days,
    parse_time_window,
    parse_windows,
    read_cases,
    read_collectors,
)
from optimizer.model import TimeWindow

BAD = Path(__file__).parent / "data" / "bad"


def test_parse_windows_days_and_several_windows():
    ws = parse_windows("Mon-Fri 18:00-21:00; Sat 09:00-12:00")
    assert len(ws) == 2
    assert ws[0].weekdays == frozenset(range(5))
    assert ws[0].window == TimeWindow(18 * 3600, 21 * 3600)
    assert ws[1].weekdays == frozenset({5})
    # no day spec: every day; several windows in a day
    ws = parse_windows("09:00-12:00; 14:00-18:00")
    assert [w.weekdays for w in ws] == [frozenset(range(7))] * 2
    assert parse_windows("") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("工作日 18:00-21:00", [(range(5), 18, 21)]),
        ("周末 09:00-18:00", [((5, 6), 9, 18)]),
        ("每天 09:00-18:00", [(range(7), 9, 18)]),
        ("星期一至星期五 18:00-21:00", [(range(5), 18, 21)]),
        ("9:00-12:00,14:00-18:00", [(range(7), 9, 12), (range(7), 14, 18)]),
        ("9:00-12:00， 14:00-18:00", [(range(7), 9, 12), (range(7), 14, 18)]),
        ("Weekdays 18:00-21:00, Sat 09:00-12:00", [(range(5), 18, 21), ((5,), 9, 12)]),
    ],
)
def test_windows_as_case_systems_write_them(text, expected):
    got = [(w.weekdays, w.window.start_s // 3600, w.window.end_s // 3600)
           for w in parse_windows(text)]  # fmt: skip
    assert got == [(frozenset(d), a, b) for d, a, b in expected]


def test_parse_days_wraps_and_lists():
    assert parse_days("Fri-Mon") == frozenset({4, 5, 6, 0})
    assert parse_days("Mon,Wed,Fri") == frozenset({0, 2, 4})
    assert parse_days("周一-周五") == frozenset(range(5))
    with pytest.raises(ValueError, match="unknown day"):
        parse_days("Someday")


def test_time_window_rejects_reverse_and_allows_24():
    assert parse_time_window("20:00-24:00") == TimeWindow(72000, 86400)
    with pytest.raises(ValueError, match="before start"):
        parse_time_window("10:30-09:00")
    with pytest.raises(ValueError, match="not a time"):
        parse_time_window("25:00-26:00")


def test_windows_resolved_for_plan_date(tmp_path):
    f = tmp_path / "cases.csv"
    f.write_text("case_id,lat,lon,amount_overdue,days_past_due,windows\n"
                 "A,30.6,104.0,100,3,Mon-Fri 18:00-21:00; Sat 09:00-12:00\n", encoding="utf-8")
    (case,) = read_cases(f)
    monday, saturday, sunday = date(2026, 11, 30), date(2026, 12, 5), date(2026, 12, 6)
    assert case.windows_on(monday) == (TimeWindow(18 * 3600, 21 * 3600),)
    assert case.windows_on(saturday) == (TimeWindow(9 * 3600, 12 * 3600),)
    assert case.windows_on(sunday) == ()


def test_bad_case_file_reports_every_problem_at_once():
    with pytest.raises(InputError) as ei:
        read_cases(BAD / "cases_bad_values.csv")
    msgs = [str(p) for p in ei.value.problems]
    text = "\n".join(msgs)
    # one problem per broken row, each naming file, row, id, field, value and fix
    expected = [
        ("row 3", "case_id=C-2", "'lon'", "must be given together"),
        ("row 4", "case_id=C-3", "'amount_overdue'", "'abc' is not a number"),
        ("row 5", "case_id=C-4", "'days_past_due'", "outside"),
        ("row 6", "case_id=C-5", "'windows'", "before start"),
        ("row 7", "case_id=C-1", "'case_id'", "duplicate of row 2"),
        ("row 8", "case_id=C-7", "'address'", "no address and no coordinates"),
        ("row 9", "case_id=C-8", "'windows'", "unknown day"),
        ("row 10", "case_id=C-9", "'lat'", "outside"),
        ("row 11", "case_id=C-10", "'service_minutes'", "outside"),
    ]
    for parts in expected:
        assert any(all(p in m for p in parts) for m in msgs), (parts, text)
    assert all(m.startswith("cases_bad_values.csv row ") for m in msgs)
    assert all("fix: " in m for m in msgs)
    assert len(msgs) == len(expected)


def test_missing_columns_named_with_fix():
    with pytest.raises(InputError) as ei:
        read_cases(BAD / "cases_missing_columns.csv")
    fields = {p.field for p in ei.value.problems}
    assert {"case_id", "amount_overdue", "days_past_due"} <= fields
    assert all("add a column" in p.fix for p in ei.value.problems)


def test_bad_collector_file():
    with pytest.raises(InputError) as ei:
        read_collectors(BAD / "collectors_bad.csv")
    msgs = "\n".join(str(p) for p in ei.value.problems)
    assert "row 3 (collector_id=K2): field 'shift'" in msgs and "before start" in msgs
    assert "row 4 (collector_id=K1): field 'collector_id'" in msgs
    assert "row 4 (collector_id=K1): field 'max_visits' value '0'" in msgs
    assert "row 5 (collector_id=K4): field 'start_address'" in msgs
    assert "row 6 (collector_id=K5): field 'shift': required value is missing" in msgs


def test_excel_input_matches_csv(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["case_id", "address", "lat", "lon", "amount_overdue", "days_past_due", "windows",
               "last_visit_date"])
    ws.append(["X1", "春熙路", 30.65, 104.08, 1234.5, 40, "Mon-Fri 09:00-12:00",
               date(2026, 11, 20)])
    ws.append(["X2", "", None, None, 10, 1, None, None])
    f = tmp_path / "cases.xlsx"
    wb.save(f)
    with pytest.raises(InputError) as ei:
        read_cases(f)
    (p,) = ei.value.problems
    assert (p.row, p.record_id, p.field) == (3, "case_id=X2", "address")
    ws.delete_rows(3)
    wb.save(f)
    (c,) = read_cases(f)
    assert c.amount_overdue == 1234.5 and c.days_past_due == 40
    assert c.last_visit_date == date(2026, 11, 20)


def test_references_to_unknown_collectors(tmp_path):
    cf = tmp_path / "cases.csv"
    cf.write_text("case_id,lat,lon,amount_overdue,days_past_due,preferred_collector\n"
                  "A,30.6,104.0,100,3,NOPE\n", encoding="utf-8")
    kf = tmp_path / "collectors.csv"
    kf.write_text("collector_id,start_lat,start_lon,shift\nK1,30.6,104.0,08:00-17:00\n",
                  encoding="utf-8")
    with pytest.raises(InputError, match="preferred_collector.*NOPE.*no collector with this id"):
        check_references(read_cases(cf), read_collectors(kf))


def test_cli_validate_exit_code_2(capsys):
    from optimizer.cli import main

    code = main(["validate", "--cases", str(BAD / "cases_bad_values.csv"),
                 "--collectors", str(BAD / "collectors_bad.csv")])
    err = capsys.readouterr().err
    assert code == 2
    # problems of both files in one report
    assert "cases_bad_values.csv row 4" in err and "collectors_bad.csv row 3" in err


# --------------------------------------------------------------------------- column names


def test_chinese_headers_read_like_ours(tmp_path):
    ours = tmp_path / "cases.csv"
    ours.write_text(
        "case_id,customer_name,phone,address,amount_overdue,days_past_due,windows,notes\n"
        "C1,张三,13800000000,成都市锦江区春熙路12号,1500.5,45,Mon-Fri 18:00-21:00,带合同\n",
        encoding="utf-8",
    )
    theirs = tmp_path / "导出.csv"
    theirs.write_text(
        "案件编号,客户姓名,联系电话,地址,逾期金额（元）,逾期天数,可上门时间,备注\n"
        "C1,张三,13800000000,成都市锦江区春熙路12号,1500.5,45,Mon-Fri 18:00-21:00,带合同\n",
        encoding="utf-8",
    )
    a, b = read_cases(ours)[0], read_cases(theirs)[0]
    assert a == b and b.amount_overdue == 1500.5 and b.windows_on(date(2026, 11, 30))
    team = tmp_path / "团队.csv"
    team.write_text("工号,姓名,出发地址,班次,最大上门数\nK1,李四,天府广场,08:30-17:30,12\n",
                    encoding="utf-8")  # fmt: skip
    (k,) = read_collectors(team)
    assert (k.collector_id, k.name, k.start.address, k.max_visits) == ("K1", "李四", "天府广场", 12)


def test_problems_name_the_files_own_header(tmp_path):
    bad = tmp_path / "导出.csv"
    bad.write_text(
        "案件编号,地址,逾期金额,逾期天数\nC1,春熙路12号,很多,45\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as err:
        read_cases(bad)
    (p,) = err.value.problems
    assert p.field == "逾期金额 (amount_overdue)" and p.value == "很多" and p.row == 2


def test_two_columns_for_one_field_is_a_problem(tmp_path):
    bad = tmp_path / "cases.csv"
    bad.write_text(
        "case_id,amount_overdue,逾期金额,days_past_due,address\nC1,1,2,3,x\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match="2 columns mean amount_overdue") as err:
        read_cases(bad)
    assert "keep one of the columns 'amount_overdue', '逾期金额'" in str(err.value)
