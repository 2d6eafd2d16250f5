"""Read and validate case and collector lists (CSV or Excel .xlsx).

Every problem of a file is collected and raised at once as `InputError`; each names the file,
spreadsheet row (header = row 1), record id, field, value and the fix. Columns are documented in the
README ("Input files"). Unknown columns are reported as warnings, never silently dropped.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TypeVar, overload

from optimizer.bundled import data_path
from optimizer.errors import InputError, Issue
from optimizer.io.files import Table, number_readings, read_table
from optimizer.model import Case, Collector, Place, TimeWindow, WeeklyWindow

T = TypeVar("T")

log = logging.getLogger(__name__)

DEMO_CASES = data_path("demo", "cases.csv")
DEMO_COLLECTORS = data_path("demo", "collectors.csv")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    **{d: i for i, d in enumerate(DAYS)},
    **{d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                   "saturday", "sunday"))},
    **{d: i for i, d in enumerate(("周一", "周二", "周三", "周四", "周五", "周六", "周日"))},
    **{d: i for i, d in enumerate(("星期一", "星期二", "星期三", "星期四", "星期五", "星期六",
                                   "星期日"))},
    "周天": 6,
    "星期天": 6,
}
#: Words for several days at once.
_DAY_GROUPS = {
    **dict.fromkeys(("weekdays", "工作日"), frozenset(range(5))),
    **dict.fromkeys(("weekends", "weekend", "周末"), frozenset((5, 6))),
    **dict.fromkeys(("daily", "every day", "每天", "每日"), frozenset(range(7))),
}

CASE_COLUMNS = {
    "case_id": "required; unique text id",
    "address": "address text to geocode (required unless lat and lon are given)",
    "lat": "WGS-84 latitude in degrees (with lon; optional if address is given)",
    "lon": "WGS-84 longitude in degrees",
    "amount_overdue": "required; overdue amount, a number >= 0",
    "days_past_due": "required; whole days past due, >= 0",
    "windows": "when the customer can be found, e.g. 'Mon-Fri 18:00-21:00; Sat 09:00-12:00'",
    "service_minutes": "minutes on site, default 20",
    "customer_name": "customer name (masked on collector pages)",
    "phone": "customer phone (masked on collector pages)",
    "district": "district name, for territories",
    "city": "city of a multi-city day (plan --city CITY=FILE): whose roads the case is on",
    "notes": "free text for the collector",
    "skill": "skill a visitor must have (e.g. a dialect, 'legal')",
    "preferred_collector": "collector_id preferred for continuity (soft)",
    "fixed_collector": "collector_id that must make the visit (hard)",
    "last_visit_date": "YYYY-MM-DD of the last field visit, for the cooldown rule",
    "promise_date": "YYYY-MM-DD of an open promise to pay",
    "promise_broken": "yes/no: the promise to pay was broken",
    "consent": "yes/no: customer consented to visits outside legal contact hours",
}

COLLECTOR_COLUMNS = {
    "collector_id": "required; unique text id",
    "name": "collector name",
    "start_address": "start place address (required unless start_lat and start_lon)",
    "start_lat": "start latitude",
    "start_lon": "start longitude",
    "end_address": "end place address; blank = same as start",
    "end_lat": "end latitude",
    "end_lon": "end longitude",
    "shift": "required; working hours 'HH:MM-HH:MM'",
    "max_visits": "maximum visits in the day; blank = no limit",
    "team": "team name: collectors with the same team visit together",
    "skills": "skills, separated by ';'",
    "districts": "districts this collector may visit, separated by ';'; blank = any",
    "workdays": "days the collector works, e.g. 'Mon-Fri'; blank = every day",
    "max_work_hours": "longest working day in hours; blank = the policy's limit",
    "city": "city of a multi-city day (plan --city CITY=FILE): where the collector works",
}

#: Other names the columns go by in case-management exports (Chinese and English). Headers
#: are matched case-insensitively, spaces as "_", a trailing unit in brackets ignored
#: ("逾期金额（元）"). Only names that cannot mean something else: not "id", "amount", "balance"
#: (a loan's balance is not its overdue amount).
CASE_ALIASES = {
    **dict.fromkeys(("案件编号", "案件号", "案件id", "case_no", "case_number"), "case_id"),
    **dict.fromkeys(("地址", "客户地址", "住址", "家庭地址", "居住地址", "上门地址"), "address"),
    **dict.fromkeys(("纬度", "latitude"), "lat"),
    **dict.fromkeys(("经度", "longitude", "lng"), "lon"),
    **dict.fromkeys(("逾期金额", "逾期总额", "overdue_amount"), "amount_overdue"),
    **dict.fromkeys(("逾期天数", "dpd", "overdue_days"), "days_past_due"),
    **dict.fromkeys(("可上门时间", "上门时间", "时间窗", "time_windows", "availability"),
                    "windows"),
    **dict.fromkeys(("上门时长", "服务时长", "visit_minutes"), "service_minutes"),
    **dict.fromkeys(("客户姓名", "姓名", "客户名称", "name", "customer"), "customer_name"),
    **dict.fromkeys(("联系电话", "电话", "手机", "手机号", "mobile"), "phone"),
    **dict.fromkeys(("区县", "区域", "所属区域"), "district"),
    **dict.fromkeys(("城市", "所在城市"), "city"),
    **dict.fromkeys(("备注", "note", "remarks"), "notes"),
    **dict.fromkeys(("技能要求", "所需技能"), "skill"),
    **dict.fromkeys(("偏好催收员", "原催收员"), "preferred_collector"),
    **dict.fromkeys(("指定催收员", "固定催收员"), "fixed_collector"),
    **dict.fromkeys(("上次上门日期", "上次外访日期", "last_visit"), "last_visit_date"),
    **dict.fromkeys(("承诺还款日期", "承诺日期", "ptp_date"), "promise_date"),
    **dict.fromkeys(("承诺违约", "是否违约", "ptp_broken"), "promise_broken"),
    **dict.fromkeys(("客户同意", "同意非工作时间上门"), "consent"),
}
COLLECTOR_ALIASES = {
    **dict.fromkeys(("催收员编号", "工号", "员工编号", "staff_id"), "collector_id"),
    **dict.fromkeys(("姓名", "催收员"), "name"),
    **dict.fromkeys(("出发地址", "出发地", "起点"), "start_address"),
    **dict.fromkeys(("出发纬度",), "start_lat"),
    **dict.fromkeys(("出发经度",), "start_lon"),
    **dict.fromkeys(("返回地址", "终点"), "end_address"),
    **dict.fromkeys(("返回纬度",), "end_lat"),
    **dict.fromkeys(("返回经度",), "end_lon"),
    **dict.fromkeys(("班次", "工作时间"), "shift"),
    **dict.fromkeys(("最大上门数", "每日上限", "max_cases"), "max_visits"),
    **dict.fromkeys(("小组", "团队"), "team"),
    **dict.fromkeys(("技能",), "skills"),
    **dict.fromkeys(("负责区域", "territory"), "districts"),
    **dict.fromkeys(("工作日",), "workdays"),
    **dict.fromkeys(("最长工时",), "max_work_hours"),
    **dict.fromkeys(("城市", "所在城市"), "city"),
}

_TIME_RE = re.compile(r"^(\d{1,2})[:：](\d{2})$")
#: what separates the two ends of a range: '-', en/em dash, minus sign, '~', the wave dash
#: (〜) and 至/到 ("9:00至12:00"); full-width forms are folded first (`_fold`)
_RANGE = "[-–—−~〜至到]"


def _fold(text: str) -> str:
    """Full-width digits and signs as typed in a Chinese input method (０９：００－１２：００,
    ～, ；) as their ASCII forms (NFKC); other text is left as it is."""
    return unicodedata.normalize("NFKC", text)
_YES = {"yes", "y", "true", "1", "是", "x"}
_NO = {"no", "n", "false", "0", "否", ""}


# --------------------------------------------------------------------------- parsing helpers

# The parsers raise ValueError saying what is wrong with the text; their callers (`_Row.parse`
# and `options.time_range`) turn it into a problem naming file, row, field and fix, so a user
# never sees the bare ValueError.


def parse_time_s(text: str) -> int:
    """Parse ``HH:MM`` (24 h; ``24:00`` allowed) into seconds since midnight."""
    m = _TIME_RE.match(_fold(text).strip())
    if not m:
        raise ValueError(f"'{text}' is not a time HH:MM")
    h, mi = int(m.group(1)), int(m.group(2))
    if mi > 59 or h > 24 or (h == 24 and mi):
        raise ValueError(f"'{text}' is not a time of day (00:00 to 24:00)")
    return h * 3600 + mi * 60


def parse_time_window(text: str) -> TimeWindow:
    """Parse ``HH:MM-HH:MM``."""
    parts = re.split(rf"\s*{_RANGE}\s*", _fold(text).strip())
    if len(parts) != 2:
        raise ValueError(f"'{text}' is not a time range HH:MM-HH:MM")
    start_s, end_s = parse_time_s(parts[0]), parse_time_s(parts[1])
    if end_s < start_s:
        raise ValueError(
            f"end {parts[1]} is before start {parts[0]} (windows over midnight are not supported: "
            "split it into two windows, e.g. '22:00-24:00; 00:00-02:00')"
        )
    return TimeWindow(start_s, end_s)


def parse_days(text: str) -> frozenset[int]:
    """Parse a day spec: ``Mon-Fri``, ``Sat,Sun``, ``周一至周五``, ``工作日``, ``weekends``."""
    days: set[int] = set()
    for part in re.split(r"\s*[,/、]\s*", _fold(text).strip()):
        if not part:
            continue
        if part.strip().lower() in _DAY_GROUPS:
            days |= _DAY_GROUPS[part.strip().lower()]
            continue
        rng = re.split(rf"\s*{_RANGE}\s*", part)
        try:
            ids = [_DAY_ALIASES[r.strip().lower()] for r in rng]
        except KeyError as exc:
            raise ValueError(f"unknown day {exc.args[0]!r} (use Mon..Sun)") from None
        if len(ids) == 1:
            days.add(ids[0])
        elif len(ids) == 2:
            a, b = ids
            i = a
            while True:
                days.add(i)
                if i == b:
                    break
                i = (i + 1) % 7
        else:
            raise ValueError(f"'{part}' is not a day or day range")
    if not days:
        raise ValueError(f"'{text}' names no day")
    return frozenset(days)


def parse_windows(text: str) -> tuple[WeeklyWindow, ...]:
    """Parse windows: ``'Mon-Fri 18:00-21:00; Sat 09:00-12:00'`` or ``'09:00-12:00; 14:00-18:00'``.

    Windows are separated by ``;`` (or ``|`` or a newline); each is an optional day spec followed by
    ``HH:MM-HH:MM``. Without a day spec the window applies every day. Blank = any time.
    """
    if not text.strip():
        return ()
    out: list[WeeklyWindow] = []
    # "09:00-12:00, 14:00-18:00": a comma (or 、) after a time also separates windows
    text = re.sub(r"(\d{1,2}[:：]\d{2})\s*[,，、]\s*", r"\1; ", _fold(text).strip())
    window = rf"\d{{1,2}}[:：]\d{{2}}\s*{_RANGE}\s*\d{{1,2}}[:：]\d{{2}}"
    for chunk in re.split(r"\s*[;；|\n]\s*", text):
        if not chunk:
            continue
        m = re.match(rf"^(.*?)\s*({window})$", chunk)
        if not m:
            raise ValueError(f"'{chunk}' is not '[days] HH:MM-HH:MM'")
        days = parse_days(m.group(1)) if m.group(1).strip() else frozenset(range(7))
        out.append(WeeklyWindow(days, parse_time_window(m.group(2))))
    if not out:  # only separators: not "any time" (a blank cell is)
        raise ValueError(f"'{text}' names no window")
    return tuple(out)


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _YES:
        return True
    if t in _NO:
        return False
    raise ValueError(f"'{text}' is not yes/no")


_DATE_RE = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def parse_date(text: str) -> date:
    """Parse ``YYYY-MM-DD`` (or ``YYYY/MM/DD``), optionally followed by a time of day as exports
    write it (``2026-12-01 00:00:00``); any other text after the date is an error."""
    m = _DATE_RE.fullmatch(text.strip())
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError(f"'{text}' is not a date of the calendar") from None
    raise ValueError(f"'{text}' is not a date YYYY-MM-DD")


def _split_list(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in re.split(r"[;,，；]", text) if p.strip())


# --------------------------------------------------------------------------- table reading


def _header_key(text: str) -> str:
    text = re.sub(r"\s*[（(][^）)]*[）)]\s*$", "", text.strip())
    return text.lower().replace(" ", "_")


def _canonical(table: Table, known: dict[str, str], aliases: dict[str, str],
               problems: list[Issue]) -> Table:
    """Rename columns known by another name to ours; two columns for one field is a problem."""
    rename: dict[str, str] = {}
    for c in table.columns:
        key = _header_key(c)
        target = key if key in known else aliases.get(key)
        if target and target != c:
            rename[c] = target
    targets: dict[str, list[str]] = {}
    for c in table.columns:
        targets.setdefault(rename.get(c, c), []).append(c)
    for target, sources in targets.items():
        if len(sources) > 1 and target in known:
            problems.append(Issue(
                table.name, 1, "", target, ", ".join(sources),
                f"{len(sources)} columns mean {target}",
                f"keep one of the columns {', '.join(repr(x) for x in sources)}"))
    if not rename:
        return table
    rows = tuple((i, {rename.get(k, k): v for k, v in rec.items()}) for i, rec in table.rows)
    return replace(table, columns=tuple(rename.get(c, c) for c in table.columns), rows=rows,
                   headers={t: c for c, t in rename.items() if _header_key(c) != t},
                   marks={rename.get(c, c): m for c, m in table.marks.items()})


class _Row:
    """Field access for one record that records problems instead of raising."""

    def __init__(self, table: Table, row: int, rec: dict[str, str], id_field: str,
                 problems: list[Issue]) -> None:
        self.t, self.row, self.rec, self.problems = table, row, rec, problems
        self.id_field = id_field
        self.id = rec.get(id_field, "").strip()
        self.id_label = f"{id_field}={self.id}" if self.id else ""

    def check_unique_id(self, kind: str, seen: dict[str, int]) -> None:
        """The record id is present and not used by an earlier row (recorded in `seen`)."""
        f = self.id_field
        if not self.id:
            self.problem(f, "", "required value is missing", f"give every {kind} a unique {f}")
        elif self.id in seen:
            self.problem(f, self.id, f"duplicate of row {seen[self.id]}",
                         f"give every {kind} a unique {f} (merge or renumber the duplicates)")
        else:
            seen[self.id] = self.row

    def text(self, f: str) -> str:
        return self.rec.get(f, "").strip()

    def problem(self, f: str, value: str, message: str, fix: str) -> None:
        self.problems.append(
            Issue(self.t.name, self.row, self.id_label, self.t.label(f), value, message, fix))

    @overload
    def parse(self, f: str, fn: Callable[[str], T], fix: str, *,
              required: bool = False) -> T | None: ...

    @overload
    def parse(self, f: str, fn: Callable[[str], T], fix: str, *, required: bool = False,
              default: T) -> T: ...

    def parse(self, f: str, fn: Callable[[str], T], fix: str, *, required: bool = False,
              default: T | None = None) -> T | None:
        """``fn`` of the field's text; `default` (and a problem recorded) when it is blank or
        `fn` raises ValueError."""
        v = self.text(f)
        if v == "":
            if required:
                self.problem(f, "", "required value is missing", fix)
            return default
        try:
            return fn(v)
        except _Ambiguous as exc:
            self.problem(f, v, str(exc), exc.fix)
            return default
        except ValueError as exc:
            self.problem(f, v, str(exc), fix)
            return default

    def number(self, f: str, *, lo: float, hi: float, fix: str, required: bool = False,
               default: float | None = None, integer: bool = False) -> float | None:
        """A number in lo..hi; decimal commas and thousands separators as `number_readings`
        reads them. A number that reads two ways takes the only reading that is valid here
        (in range, whole if `integer`), else the one its column or file settles
        (`Table.decimal_mark`), else it is a problem."""

        def valid(x: float) -> bool:
            return math.isfinite(x) and lo <= x <= hi and (not integer or x.is_integer())

        def conv(v: str) -> float:
            readings = number_readings(v)
            if not readings:
                raise ValueError(f"'{v}' is not a number")
            if len(readings) == 2:
                ok = [r for r in readings if valid(r[0])]
                if len(ok) == 1:
                    return ok[0][0]
                mark = self.t.decimal_mark(f)
                settled = [r for r in readings if r[1] == mark]
                if ok and settled:
                    return settled[0][0]
                if ok:
                    (a, sep), (b, _) = readings
                    raise _Ambiguous(
                        f"'{v}' reads two ways: {a:g} (with '{sep}' as the decimal separator) "
                        f"or {b:.0f} (with '{sep}' separating thousands), and the column's "
                        "other numbers do not tell which",
                        f"write it without a thousands separator ({b:.0f}), or with a fourth "
                        f"decimal ({v}0) if {a:g} is meant")
            x = readings[0][0]
            if not math.isfinite(x) or not lo <= x <= hi:
                raise ValueError(f"{v} is outside {lo:g}..{hi:g}")
            if integer and not float(x).is_integer():
                raise ValueError(f"{v} is not a whole number")
            return x

        return self.parse(f, conv, fix, required=required, default=default)


class _Ambiguous(ValueError):
    """A value that reads two ways; carries its own fix."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _raise(table: Table, problems: list[Issue]) -> None:
    """Raise every problem of the file, the table's own (rows that would lose a field) with the
    records', in row order; nothing if there is none."""
    if problems:
        raise InputError(sorted([*table.problems, *problems], key=lambda p: p.row))
    if table.problems:
        raise InputError(table.problems)


def _check_columns(table: Table, known: dict[str, str], required_any: list[tuple[str, ...]],
                   problems: list[Issue]) -> None:
    cols = set(table.columns)
    for alts in required_any:
        if not any(all(c in cols for c in a.split("+")) for a in alts):
            problems.append(Issue(
                table.name, 1, "", " or ".join(alts), "", "required column is missing",
                f"add a column {' or '.join(repr(a) for a in alts)} to the header row "
                f"(columns: {', '.join(known)})"))
    for c in table.columns:
        if c not in known:
            log.warning("%s: column %r is not used (known columns: %s)", table.name, c,
                        ", ".join(known))


def _lat_lon(r: _Row, lat_f: str, lon_f: str) -> tuple[float | None, float | None]:
    """Coordinates of a record, or (None, None) when absent or invalid (problem recorded)."""
    if bool(r.text(lat_f)) != bool(r.text(lon_f)):
        missing = lon_f if r.text(lat_f) else lat_f
        r.problem(missing, "", f"{lat_f} and {lon_f} must be given together",
                  f"fill both {lat_f} and {lon_f}, or leave both blank to geocode the address")
        return None, None
    lat = r.number(lat_f, lo=-90, hi=90, fix="give latitude in decimal degrees (WGS-84)")
    lon = r.number(lon_f, lo=-180, hi=180, fix="give longitude in decimal degrees (WGS-84)")
    if lat is None or lon is None:
        return None, None
    if abs(lat) < 1e-9 and abs(lon) < 1e-9:
        r.problem(lat_f, "0", "coordinates 0,0 are a placeholder, not a place",
                  "leave lat/lon blank to geocode the address, or give the real coordinates")
        return None, None
    return lat, lon


# --------------------------------------------------------------------------- cases


def read_cases(path: str | Path) -> tuple[Case, ...]:
    """Read and validate a case list; raises `InputError` with every problem found."""
    return parse_cases(read_table(path))


def parse_cases(raw: Table) -> tuple[Case, ...]:
    """Validate the case records of a table (a file's, or `records_table` of JSON records);
    raises `InputError` with every problem found."""
    problems: list[Issue] = []
    table = _canonical(raw, CASE_COLUMNS, CASE_ALIASES, problems)
    _check_columns(table, CASE_COLUMNS,
                   [("case_id",), ("amount_overdue",), ("days_past_due",),
                    ("address", "lat+lon")], problems)
    if problems:  # without the columns the records cannot be read
        _raise(table, problems)
    seen: dict[str, int] = {}
    cases: list[Case] = []
    for row, rec in table.rows:
        r = _Row(table, row, rec, "case_id", problems)
        r.check_unique_id("case", seen)
        amount = r.number("amount_overdue", lo=0, hi=1e12, required=True,
                          fix="give the overdue amount as a number >= 0, e.g. 15800.50")
        dpd = r.number("days_past_due", lo=0, hi=36500, required=True, integer=True,
                       fix="give whole days past due, e.g. 45")
        lat, lon = _lat_lon(r, "lat", "lon")
        address = r.text("address")
        if lat is None and not address and not r.text("lat") and not r.text("lon"):
            r.problem("address", "", "no address and no coordinates",
                      "give an address, or lat and lon")
        windows: tuple[WeeklyWindow, ...] = r.parse(
            "windows", parse_windows, default=(),
            fix="write windows as '[days] HH:MM-HH:MM' separated by ';', "
                "e.g. 'Mon-Fri 18:00-21:00; Sat 09:00-12:00'")
        service_min = r.number("service_minutes", lo=1, hi=600, default=20.0,
                               fix="give minutes on site between 1 and 600, e.g. 20")
        sd = {f: r.parse(f, parse_date, fix="write the date as YYYY-MM-DD, e.g. 2026-11-20")
              for f in ("last_visit_date", "promise_date")}
        flags = {f: r.parse(f, parse_bool, default=False, fix="write yes or no")
                 for f in ("promise_broken", "consent")}
        if windows == () and r.text("windows"):
            continue  # problem recorded
        cases.append(Case(
            case_id=r.id,
            amount_overdue=float(amount or 0.0),
            days_past_due=int(dpd or 0),
            address=address,
            lat=lat,
            lon=lon,
            availability=windows,
            service_s=round(float(service_min or 20.0) * 60),
            customer_name=r.text("customer_name"),
            phone=r.text("phone"),
            district=r.text("district"),
            city=r.text("city"),
            notes=r.text("notes"),
            skill=r.text("skill"),
            preferred_collector=r.text("preferred_collector"),
            fixed_collector=r.text("fixed_collector"),
            last_visit_date=sd["last_visit_date"],
            promise_date=sd["promise_date"],
            promise_broken=bool(flags["promise_broken"]),
            consent_outside_hours=bool(flags["consent"]),
            row=row,
        ))
    if not table.rows and not table.problems:
        problems.append(Issue(table.name, 0, "", "", "", "the file has no case rows",
                                "add one row per overdue case below the header"))
    _raise(table, problems)
    return tuple(cases)


# --------------------------------------------------------------------------- collectors


def read_collectors(path: str | Path) -> tuple[Collector, ...]:
    """Read and validate a collector list; raises `InputError` with every problem found."""
    problems: list[Issue] = []
    raw = read_table(path)
    table = _canonical(raw, COLLECTOR_COLUMNS, COLLECTOR_ALIASES, problems)
    _check_columns(table, COLLECTOR_COLUMNS,
                   [("collector_id",), ("shift",), ("start_address", "start_lat+start_lon")],
                   problems)
    if problems:  # without the columns the records cannot be read
        _raise(table, problems)
    seen: dict[str, int] = {}
    out: list[Collector] = []
    for row, rec in table.rows:
        r = _Row(table, row, rec, "collector_id", problems)
        r.check_unique_id("collector", seen)
        shift = r.parse("shift", parse_time_window, required=True,
                        fix="write the shift as HH:MM-HH:MM, e.g. 08:30-17:30")
        if isinstance(shift, TimeWindow) and shift.end_s - shift.start_s < 30 * 60:
            r.problem("shift", r.text("shift"), "shift is shorter than 30 minutes",
                      "give the collector's real working hours")
        slat, slon = _lat_lon(r, "start_lat", "start_lon")
        if slat is None and not r.text("start_address") and not r.text("start_lat"):
            r.problem("start_address", "", "no start place",
                      "give start_address, or start_lat and start_lon")
        elat, elon = _lat_lon(r, "end_lat", "end_lon")
        start = Place(slat, slon, r.text("start_address"))
        end = Place(elat, elon, r.text("end_address"))
        if not end.has_coords and not end.address:
            end = start
        mv = r.number("max_visits", lo=1, hi=500, integer=True,
                      fix="give the maximum visits as a whole number >= 1, or leave blank")
        workdays = r.parse("workdays", parse_days, default=frozenset(range(7)),
                           fix="write days as e.g. 'Mon-Fri' or 'Mon,Wed,Fri'")
        max_work_h = r.number("max_work_hours", lo=0.5, hi=24,
                              fix="give hours between 0.5 and 24, e.g. 8, or leave blank")
        if shift is None:
            continue
        out.append(Collector(
            collector_id=r.id,
            name=r.text("name"),
            start=start,
            end=end,
            shift=shift,
            max_visits=int(mv) if mv is not None else None,
            team=r.text("team"),
            skills=_split_list(r.text("skills")),
            districts=_split_list(r.text("districts")),
            workdays=workdays,
            max_work_s=round(max_work_h * 3600) if max_work_h is not None else None,
            city=r.text("city"),
            row=row,
        ))
    if not table.rows and not table.problems:
        problems.append(Issue(table.name, 0, "", "", "", "the file has no collector rows",
                                "add one row per collector below the header"))
    _raise(table, problems)
    return tuple(out)


def check_references(cases: tuple[Case, ...], collectors: tuple[Collector, ...], *,
                     cases_file: str = "cases.csv") -> None:
    """Cross-file checks: collector ids named by cases must exist."""
    ids = {c.collector_id for c in collectors}
    problems = []
    for c in cases:
        for f in ("preferred_collector", "fixed_collector"):
            v = getattr(c, f)
            if v and v not in ids:
                problems.append(Issue(cases_file, c.row, f"case_id={c.case_id}", f, v,
                                        "no collector with this id",
                                        f"use one of the collector ids "
                                        f"({', '.join(sorted(ids)[:8])}"
                                        f"{', ...' if len(ids) > 8 else ''}) or leave blank"))
    if problems:
        raise InputError(problems)


def read_inputs(cases_path: str | Path | None = None, collectors_path: str | Path | None = None
                ) -> tuple[tuple[Case, ...], tuple[Collector, ...]]:
    """Read both lists (default: the bundled demo); problems of both files reported together."""
    cases_path = Path(cases_path) if cases_path else DEMO_CASES
    collectors_path = Path(collectors_path) if collectors_path else DEMO_COLLECTORS
    problems: list[Issue] = []
    cases: tuple[Case, ...] = ()
    collectors: tuple[Collector, ...] = ()
    try:
        cases = read_cases(cases_path)
    except InputError as exc:
        problems += exc.problems
    try:
        collectors = read_collectors(collectors_path)
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)
    check_references(cases, collectors, cases_file=cases_path.name)
    return cases, collectors
