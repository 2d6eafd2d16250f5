"""Bad and awkward inputs through the real command line: a clear message, the right exit code,
never a traceback. Then the other side: what such files hold is read right.

How to add a case: one ``pytest.param(ARGS, EXIT, EXPECTED, id=...)`` in `BAD`.

ARGS
    The command line after ``collector-routes``, one string split like a shell would. Paths may
    use ``{bad}`` (tests/data/bad, committed files), ``{made}`` (files written from bytes by the
    `made` fixture below, for those too big to commit), ``{tmp}`` (the test's own empty folder,
    e.g. for ``--out``) and ``{cache}`` (the session's cache folder, for ``plan``).
EXIT
    The exit code expected (0: accepted, maybe with warnings; 2: input problems).
EXPECTED
    Substrings that must all appear in stdout + stderr: the file, the row, the field, the value,
    the fix.

Every run is ``python -m optimizer`` in a fresh process (``PYTHONPATH`` = this repository) and
must print no ``Traceback``.
"""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from optimizer.io.files import number_readings
from optimizer.io.inputs import read_cases

ROOT = Path(__file__).resolve().parents[1]
BAD_DIR = Path(__file__).parent / "data" / "bad"
OK_TEAM = "--collectors {bad}/ok_collectors.csv"
PLAN = "plan --date 2026-11-30 --time-limit 5 --max-solutions 50 --no-maps -q --cache-dir {cache}"
SAVE_UTF8 = "save the file as CSV UTF-8"

BAD = [
    # ---- encodings: read with a warning naming the encoding, or a clear stop
    pytest.param(f"validate --cases {{bad}}/cases_gbk.csv {OK_TEAM}", 0,
                 ["cases_gbk.csv: read as GB18030 (GBK)", SAVE_UTF8, "OK: 3 cases"], id="gbk"),
    pytest.param(f"validate --cases {{bad}}/cases_utf16.csv {OK_TEAM}", 0,
                 ["cases_utf16.csv: read as UTF-16 LE", "OK: 3 cases"], id="utf16"),
    pytest.param(f"validate --cases {{bad}}/cases_latin1.csv {OK_TEAM}", 0,
                 ["cases_latin1.csv: read as Windows-1252", "OK: 2 cases"], id="latin1"),
    pytest.param(f"validate --cases {{bad}}/cases_big5.csv {OK_TEAM}", 2,
                 ["cases_big5.csv: the file is not UTF-8", "cannot be told", SAVE_UTF8],
                 id="undecidable-encoding"),
    # ---- decimal commas: read, or ambiguous named with the fix; never rescaled
    pytest.param(f"validate --cases {{bad}}/cases_decimal_comma.csv {OK_TEAM}", 0,
                 ["OK: 3 cases"], id="decimal-comma"),
    pytest.param(f"validate --cases {{bad}}/cases_decimal_ambiguous.csv {OK_TEAM}", 2,
                 ["cases_decimal_ambiguous.csv row 2 (case_id=C-1): field 'amount_overdue' "
                  "value '1,234': '1,234' reads two ways: 1.234",
                  "or 1234", "fix: write it without a thousands separator (1234)",
                  "row 3 (case_id=C-2): field 'amount_overdue' value '2.500'"],
                 id="decimal-ambiguous"),
    pytest.param(f"validate --cases {{bad}}/cases_latlon_comma.csv {OK_TEAM}", 2,
                 ["cases_latlon_comma.csv row 3 (case_id=C-2)", "7 cells but the header has 5",
                  "'30' and '657', look like one number written with a decimal comma",
                  "write 30.657"], id="latlon-decimal-comma"),
    # ---- rows: cells lost, missing, records over several lines
    pytest.param(f"validate --cases {{bad}}/cases_extra_cells.csv {OK_TEAM}", 2,
                 ["cases_extra_cells.csv row 3 (case_id=C-2): field 'column 8' value "
                  "'then visit'", "a field would be lost", "in double quotes"],
                 id="more-cells-than-header"),
    pytest.param(f"validate --cases {{bad}}/cases_short_row.csv {OK_TEAM}", 0,
                 ["cases_short_row.csv row 3: 6 cells but the header has 7",
                  "(notes) are read as blank", "OK: 2 cases"], id="fewer-cells-than-header"),
    pytest.param(f"validate --cases {{bad}}/cases_multiline.csv {OK_TEAM}", 2,
                 ["cases_multiline.csv row 4 (case_id=C-3): field 'amount_overdue' value 'abc'",
                  "1 input problem"], id="line-breaks-in-fields-keep-rows"),
    pytest.param(f"validate --cases {{bad}}/cases_unclosed_quote.csv {OK_TEAM}", 2,
                 ["cases_unclosed_quote.csv row 2", "is never closed",
                  "the record starts on line 2", "close the quote"], id="unclosed-quote"),
    pytest.param(f"validate --cases {{made}}/cases_1mb_field.csv {OK_TEAM}", 2,
                 ["cases_1mb_field.csv row 3", "longer than 131,072 characters",
                  "shorten the text"], id="1mb-field"),
    pytest.param(f"validate --cases {{made}}/cases_long_quoted_field.csv {OK_TEAM}", 2,
                 ["cases_long_quoted_field.csv row 2 (case_id=C-1): field 'notes'",
                  "the field has 40,000 characters", "(32,767)"], id="long-field"),
    # ---- values
    pytest.param(f"validate --cases {{bad}}/cases_dates_trailing.csv {OK_TEAM}", 2,
                 ["cases_dates_trailing.csv row 2 (case_id=C-1): field 'last_visit_date' value "
                  "'2026-12-01abc'", "row 3 (case_id=C-2): field 'promise_date' value "
                  "'2026-12-01 extra'", "fix: write the date as YYYY-MM-DD", "2 input problems"],
                 id="date-with-trailing-text"),
    # ---- Excel files: exact ids; damaged, misnamed, empty
    pytest.param(f"validate --cases {{bad}}/cases_big_ids.xlsx {OK_TEAM}", 0,
                 ["cases_big_ids.xlsx row 5 column 1: the number 123456789012345680 has more "
                  "digits than a spreadsheet number keeps exactly", "format the column as Text",
                  "OK: 4 cases"], id="xlsx-big-ids"),
    pytest.param(f"validate --cases {{bad}}/cases_truncated.xlsx {OK_TEAM}", 2,
                 ["cases_truncated.xlsx: the workbook is damaged or truncated",
                  "save it again as .xlsx"], id="xlsx-truncated"),
    pytest.param(f"validate --cases {{bad}}/cases_csv_renamed.xlsx {OK_TEAM}", 2,
                 ["cases_csv_renamed.xlsx: the file is a text file (a CSV named .xlsx?)",
                  "rename it to cases_csv_renamed.csv"], id="xlsx-is-a-csv"),
    pytest.param(f"validate --cases {{bad}}/cases_empty.xlsx {OK_TEAM}", 2,
                 ["cases_empty.xlsx: the file is empty (0 bytes)"], id="xlsx-empty"),
    pytest.param(f"validate --cases {{bad}}/cases_xls_renamed.xlsx {OK_TEAM}", 2,
                 ["cases_xls_renamed.xlsx: this is an Excel 97-2003 workbook (.xls)",
                  "save it in Excel as .xlsx"], id="xlsx-is-an-xls"),
    # ---- shifts against the policy's lunch window: a warning, and the plan is made
    pytest.param("validate --cases {bad}/cases_evening.csv --collectors "
                 "{bad}/collectors_evening.csv", 0,
                 ["collectors_evening.csv row 5 (collector_id=K04): shift 14:00-22:00 does not "
                  "meet the lunch window 11:30-13:30 of policy 'china'",
                  "no lunch break is planned for this collector", "row 4 (collector_id=K03)",
                  "(2 warnings above)"], id="evening-shift-validate"),
    pytest.param(f"{PLAN} --cases {{bad}}/cases_evening.csv --collectors "
                 "{bad}/collectors_evening.csv --out {tmp}/plan", 0, [],
                 id="evening-shift-plan"),
    # ---- found by scripts/hostile_inputs.py (each failed as the comment says before its fix)
    # a windows cell of separators only: the case vanished from the plan (exit 0)
    pytest.param(f"validate --cases {{bad}}/cases_windows_separators.csv {OK_TEAM}", 2,
                 ["cases_windows_separators.csv row 3 (case_id=W-2): field 'windows' value ';'",
                  "names no window", "fix: write windows as"], id="windows-separators-only"),
    # full-width digits, colon, dash and tilde as a Chinese input method types them: read as
    # the windows they are (see test_fullwidth_windows_are_read)
    pytest.param(f"validate --cases {{bad}}/cases_fullwidth_windows.csv {OK_TEAM}", 0,
                 ["OK: 4 cases"], id="fullwidth-windows"),
    # Korean EUC-KR was read as GBK: every name and address silently became other hanzi
    pytest.param(f"validate --cases {{bad}}/cases_euc_kr.csv {OK_TEAM}", 2,
                 ["cases_euc_kr.csv: the file is not UTF-8", "cannot be told", SAVE_UTF8],
                 id="euc-kr"),
    # nobody works on the day planned: a ValueError traceback ("the problem has no vehicles")
    pytest.param(f"{PLAN} --cases {{bad}}/cases_evening.csv --collectors "
                 "{bad}/collectors_weekend.csv --out {tmp}/plan", 2,
                 ["collectors_weekend.csv: field 'workdays': no collector works on Monday "
                  "2026-11-30", "fix: plan a day they work (--date)"], id="nobody-works-today"),
    # one collector under the two-person rule: the same traceback
    pytest.param(f"{PLAN} --cases {{bad}}/cases_evening.csv --collectors "
                 "{bad}/collectors_one.csv --out {tmp}/plan", 2,
                 ["collectors_one.csv row 2 (collector_id=K01): field 'team': no colleague to "
                  "visit with: policy 'china' needs 2 collectors per visit",
                  "or set --team-size"], id="team-of-one"),
    # teams of one named in the team column: a message without file, rows or "fix:"
    pytest.param(f"{PLAN} --cases {{bad}}/cases_evening.csv --collectors "
                 "{bad}/collectors_teams_of_one.csv --out {tmp}/plan", 2,
                 ["collectors_teams_of_one.csv row 2 (collector_id=K01): field 'team' value 'A':"
                  " team A has 1 collector(s) working that day, fewer than the 2 per visit",
                  "row 3 (collector_id=K02): field 'team' value 'B'", "fix: add collectors"],
                 id="teams-of-one"),
    # rich markup in a collector id: MarkupError traceback in the summary after the plan was
    # written; an escape sequence in one reached the terminal (see test_console_...)
    pytest.param("plan --date 2026-11-30 --time-limit 5 --max-solutions 50 --no-maps "
                 "--cache-dir {cache} --policy none --cases {bad}/cases_evening.csv "
                 "--collectors {bad}/collectors_markup.csv --out {tmp}/plan", 0,
                 ["│ [/] ", "│ [bold]x", "K\\x1b[3"], id="console-markup-and-escapes"),
    # a large day and a short time limit: InfeasibleError traceback ("status 4"); with the
    # default limit the plan of 3,000 cases came out empty, every case "kept visits worth more"
    pytest.param(f"{PLAN} --cases {{made}}/cases_3000.csv {OK_TEAM} --out {{tmp}}/plan "
                 "--time-limit 0.01 --solver-option warm_start=none", 2,
                 ["the solver found no plan within the time limit of 0.01 s (",
                  "fix: give it more time (--time-limit 60"], id="large-day-short-limit"),
    # ---- geocoding set up wrong: an extract without data, a service that needs a key
    pytest.param(f"{PLAN} --osm {{made}}/empty.osm --out {{tmp}}/plan", 2,
                 ["empty.osm: the file holds no nodes", "give an OSM extract of the area"],
                 id="osm-without-nodes"),
    pytest.param(f"{PLAN} --geocoder googlev3 --out {{tmp}}/plan", 2,
                 ["geocoding service 'googlev3' cannot be used as configured", "api_key"],
                 id="geocoder-needs-a-key"),
]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """Files too big to commit, written from bytes."""
    d = tmp_path_factory.mktemp("made")
    head = "case_id,lat,lon,amount_overdue,days_past_due,notes\n"
    (d / "cases_1mb_field.csv").write_bytes(
        (head + "C-1,30.657,104.080,1500,45,ok\nC-2,30.664,104.062,2000,30," + "x" * 1_000_000
         + "\n").encode())
    (d / "cases_long_quoted_field.csv").write_bytes(
        (head + 'C-1,30.657,104.080,1500,45,"' + "备" * 40_000 + '"\n').encode())
    # 3,000 cases on a grid over central Chengdu (about 60 m apart)
    (d / "cases_3000.csv").write_text(head + "".join(
        f"X{k:04d},{30.64 + (k // 60) * 6e-4:.4f},{104.04 + (k % 60) * 7e-4:.4f},"
        f"{1000 + k},30,\n" for k in range(3000)), encoding="utf-8")
    (d / "empty.osm").write_text("<?xml version='1.0'?><osm version='0.6'></osm>")
    return d


def run_cli(args: str, *, cwd: Path, **paths: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(args.format(**{k: str(v) for k, v in paths.items()}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "optimizer", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("args", "exit_code", "expected"), BAD)
def test_bad_input_is_named_never_a_traceback(args, exit_code, expected, made, tmp_path,
                                              cache_dir):
    res = run_cli(args, cwd=tmp_path, bad=BAD_DIR, made=made, tmp=tmp_path, cache=cache_dir)
    out = res.stdout + res.stderr
    assert "Traceback" not in out, out
    assert res.returncode == exit_code, out
    for part in expected:
        assert part in out, (part, out)


# --------------------------------------------------------------------------- what is read

GBK_CASES = [("C-1", "张三", "成都市锦江区春熙路12号", 15800.5, "带合同"),
             ("C-2", "李四", "成都市青羊区人民中路一段", 8200.0, "客户要求上午上门"),
             ("C-3", "王五", "成都市武侯区科华北路", 3000.0, "")]


@pytest.mark.parametrize("name", ["cases_gbk.csv", "cases_utf16.csv"])
def test_gbk_and_utf16_files_read_the_same_text(name):
    got = [(c.case_id, c.customer_name, c.address, c.amount_overdue, c.notes)
           for c in read_cases(BAD_DIR / name)]
    assert got == GBK_CASES
    assert read_cases(BAD_DIR / name)[0].windows_on(date(2026, 11, 30))


def test_fullwidth_windows_are_read():
    # what a Chinese input method types in full-width mode is the window it shows
    cases = {c.case_id: c for c in read_cases(BAD_DIR / "cases_fullwidth_windows.csv")}
    monday, sunday = date(2026, 11, 30), date(2026, 11, 29)
    assert [w.label() for w in cases["F-1"].windows_on(monday)] == ["09:00-12:00"]
    assert [w.label() for w in cases["F-2"].windows_on(monday)] == ["14:00-17:30"]
    assert cases["F-2"].windows_on(sunday) == ()
    assert [w.label() for w in cases["F-3"].windows_on(monday)] == ["10:00-11:00",
                                                                   "15:00-16:00"]
    assert [w.label() for w in cases["F-4"].windows_on(sunday)] == ["09:00-11:00"]


def test_console_shows_input_text_as_written(made, tmp_path, cache_dir):
    # markup stays text, an escape sequence is shown escaped and never reaches the terminal
    res = run_cli("plan --date 2026-11-30 --time-limit 5 --max-solutions 50 --no-maps "
                  "--cache-dir {cache} --policy none --cases {bad}/cases_evening.csv "
                  "--collectors {bad}/collectors_markup.csv --out {tmp}/plan", cwd=tmp_path,
                  bad=BAD_DIR, tmp=tmp_path, cache=cache_dir)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout + res.stderr
    assert "│ [/] " in res.stdout and "│ [bold]x" in res.stdout  # (a narrow table wraps)


def test_latin1_file_with_decimal_commas():
    a, b = read_cases(BAD_DIR / "cases_latin1.csv")
    assert (a.customer_name, a.address, a.notes) == ("Jürgen Müller", "Rua São João 12",
                                                     "Café, 2º andar")
    assert (a.lat, a.lon, a.amount_overdue) == (30.657, 104.08, 1580.5)
    assert (b.customer_name, b.amount_overdue, b.notes) == ("Begoña Ibáñez", 820.75,
                                                            "llamar antes – €")


def test_decimal_commas_are_decimals_never_rescaled():
    # 1.234,56 and 1234,56 are 1234.56 (not 1.23456 or 123456 as before); 15.800 in a column
    # that writes decimal commas is 15800; a latitude 30,657 can only be 30.657
    c1, c2, c3 = read_cases(BAD_DIR / "cases_decimal_comma.csv")
    assert (c1.lat, c1.lon, c1.amount_overdue) == (30.657, 104.08, 1234.56)
    assert (c2.lat, c2.lon, c2.amount_overdue, c2.service_s) == (30.664, 104.062, 1234.56, 1350)
    assert (c3.lat, c3.lon, c3.amount_overdue) == (30.63, 104.078, 15800.0)


@pytest.mark.parametrize(
    ("text", "readings"),
    [
        ("1234.56", [1234.56]), ("1,234.56", [1234.56]), ("1.234,56", [1234.56]),
        ("1234,56", [1234.56]), ("1 234,56", [1234.56]), ("12,345,678", [12345678.0]),
        ("1.234.567", [1234567.0]), ("0,123", [0.123]), ("-12,5", [-12.5]), ("¥1,500.50", [1500.5]),
        ("1,234", [1.234, 1234.0]), ("1.234", [1.234, 1234.0]), ("30,657", [30.657, 30657.0]),
        ("1,23,4", []), ("1.234,5.6", []), ("abc", []), ("", []),
    ],
)
def test_number_readings(text, readings):
    assert [v for v, _ in number_readings(text)] == readings


def test_ambiguous_number_in_a_comma_file_keeps_the_dot_convention(tmp_path):
    # in a ','-separated file "1,234" (quoted) groups thousands and 1.234 has a decimal point,
    # as always; a quoted decimal-comma latitude is read as one
    f = tmp_path / "cases.csv"
    f.write_text('case_id,lat,lon,amount_overdue,days_past_due\n'
                 'A,"30,657","104,080","1,234",45\nB,30.6,104.0,1.234,45\n', encoding="utf-8")
    a, b = read_cases(f)
    assert (a.lat, a.lon, a.amount_overdue, b.amount_overdue) == (30.657, 104.08, 1234.0, 1.234)


def test_line_break_and_u2028_inside_quoted_fields_stay_in_the_field(tmp_path):
    f = tmp_path / "cases.csv"
    f.write_bytes((BAD_DIR / "cases_multiline.csv").read_bytes().replace(b"abc", b"3000"))
    c1, c2, c3 = read_cases(f)
    assert c1.notes == "第一行\r\n第二行" and c2.notes == "before\u2028after"
    # rows as Excel shows them: one per record, whatever a text editor's line numbers say
    assert [c.row for c in (c1, c2, c3)] == [2, 3, 4]


def test_large_ids_in_excel_stay_exact():
    a, b, c, d = read_cases(BAD_DIR / "cases_big_ids.xlsx")
    assert a.case_id == "123456789012345678"  # stored as an integer: exact
    assert b.case_id == "000123"  # the format 000000 shows the leading zeros
    assert c.case_id == "4567"  # a whole number stored as 4567.0 gains no ".0"
    # stored as Excel stores it (a double): its digits, never 1.2345678901234568e+17
    # (the CLI warns that such a number cannot be exact, see BAD)
    assert d.case_id == "123456789012345680"


def test_a_date_with_a_time_of_day_is_a_date(tmp_path):
    # what exports write for a date: "2026-11-20 00:00:00" (row C-3 of the fixture)
    lines = (BAD_DIR / "cases_dates_trailing.csv").read_text(encoding="utf-8").splitlines()
    f = tmp_path / "dates.csv"
    f.write_text(f"{lines[0]}\n{lines[3]}\n", encoding="utf-8")
    (c,) = read_cases(f)
    assert c.last_visit_date == date(2026, 11, 20)


# --------------------------------------------------------------------------- formulas


def test_formula_text_is_neutralised_in_csv_and_text_in_xlsx(tmp_path, cache_dir):
    out = tmp_path / "plan"
    res = run_cli(f"{PLAN} --policy none --cases {{bad}}/cases_formulas.csv {OK_TEAM} "
                  f"--out {out}", cwd=tmp_path, bad=BAD_DIR, cache=cache_dir)
    assert res.returncode == 0 and "Traceback" not in res.stdout + res.stderr, res.stderr
    cases = {c.case_id: c for c in read_cases(BAD_DIR / "cases_formulas.csv")}
    rows = []
    for name in ("routes.csv", "unassigned.csv"):
        with (out / name).open(encoding="utf-8-sig", newline="") as f:
            rows += list(csv.DictReader(f))
    assert sorted(r["case_id"] for r in rows) == sorted(cases)
    def guarded(text: str) -> str:
        return "'" + text if text[:1] in ("=", "+", "-", "@") else text

    for r in rows:
        c = cases[r["case_id"]]
        if "customer_name" in r:  # routes.csv
            assert r["customer_name"] == "'" + c.customer_name
        assert r["address"] == guarded(c.address)
        float(r["lat"])  # numbers stay numbers
    assert {guarded(c.address) for c in cases.values()} == {r["address"] for r in rows}
    assert sum(r["address"].startswith("'") for r in rows) == 2
    from openpyxl import load_workbook

    wb = load_workbook(out / "routes.xlsx")
    texts = [cell for ws in wb.worksheets for row in ws.iter_rows() for cell in row
             if isinstance(cell.value, str)]
    assert all(cell.data_type == "s" for cell in texts)  # never a formula
    visited = {r["case_id"] for r in rows if "customer_name" in r}
    assert visited  # the formulas reached the route sheets
    shown = {cell.value for cell in texts}
    assert {cases[cid].customer_name for cid in visited} <= shown
