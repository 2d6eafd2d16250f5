"""Read a CSV or Excel sheet as users' machines write it, into rows of text.

This is the edge where bytes become text; `optimizer.io.inputs` validates the records. Every
structural problem names the file, the spreadsheet row (header = row 1) and the fix, and is
raised as `InputError`, never as a decoding or parsing traceback.

Encodings (CSV)
    A byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32). Without one: UTF-8 if the bytes are
    valid UTF-8; else GB18030 (the superset of GBK that Chinese Excel writes as "CSV") if the
    bytes decode as GB18030 and at least 90 % of the non-ASCII characters are common Chinese
    characters or punctuation (the GB2312 set: Latin-1 text read as GB18030 gives rare ideographs
    instead); else Windows-1252 (Latin-1) if it decodes and reads as Latin text (every non-ASCII
    character a letter or common sign, never more than three in a row, which CJK text decoded
    byte by byte always breaks); else an error saying to save the file as CSV UTF-8. Any
    encoding but UTF-8 is reported in a warning.
Separator (CSV)
    The one of ``,`` ``;`` tab that the header row uses most (``,`` on a tie).
Rows
    Spreadsheet rows as Excel shows them: the header is row 1, every record one row, also when
    a quoted field holds a line break (the row number is that of the record; a text editor's
    line numbers run ahead after such a record). A record with more cells than the header is an
    error (a field would be lost: an unquoted separator in a note, or a decimal comma in a
    ``,``-separated file); one with fewer cells is a warning (the missing fields are blank).
    A value under a blank header is an error. A field longer than a spreadsheet cell holds
    (32,767 characters) is an error, and so is a quote that is never closed.
Numbers
    `number_readings` reads ``1234.56``, ``1,234.56``, ``1.234,56``, ``1234,56`` and
    ``1 234,56`` alike, never rescaled. A number that reads two ways (``1,234``: 1.234 or 1234)
    takes the one reading valid for its field (a latitude ``30,657`` is 30.657, whole days
    ``1.234`` are 1234), else the one the other numbers of its column settle (a column with
    ``12,5`` reads ``1,234`` as 1.234), else the file's (``,``-separated: ``.`` is the decimal
    point); in a ``;``- or tab-separated file where none of these decides, `optimizer.io.inputs`
    reports it as ambiguous (see `Table.decimal_mark`).
Excel
    ``.xlsx``/``.xlsm``, the first sheet, cached values of formulas. Whole numbers are written
    as digits (``123456789012345678`` stays exact when stored as an integer; never
    ``1.2345678901234568e+17`` nor ``12.0``); a number with more digits than a spreadsheet keeps
    is reported. A damaged, truncated, empty or misnamed file (a CSV renamed ``.xlsx``, an
    ``.xls``) is an error naming the fix.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path

from optimizer.errors import InputError, Issue

log = logging.getLogger(__name__)

#: Excel's limit of characters in one cell; a longer field is not a value anyone typed.
MAX_FIELD_CHARS = 32_767
SAVE_AS_UTF8 = ("save the file as CSV UTF-8 (in Excel: File > Save As > 'CSV UTF-8 (Comma "
                "delimited)'; in WPS: 另存为 > CSV, 编码 UTF-8), or as .xlsx")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, or an encrypted .xlsx


@dataclass(frozen=True)
class Table:
    """Rows of a CSV or Excel sheet as text, with spreadsheet row numbers (header = 1).

    ``decimal`` is the decimal separator the file implies for numbers that read two ways:
    ``"."`` for ``,``-separated CSV and for Excel, ``""`` (undecided) for ``;``- or
    tab-separated CSV, which Excel writes where the decimal separator is a comma. ``marks``
    holds, per CSV column, the decimal separator its unambiguous numbers use (``"."``, ``","``,
    or ``""`` when they use none or both); an Excel sheet's numbers are numbers, so its columns
    settle nothing and ``"."`` decides.
    """

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]
    # our column name -> the header the file gives it, for columns known by another name
    headers: dict[str, str] = field(default_factory=dict)
    decimal: str = "."
    marks: dict[str, str] = field(default_factory=dict)
    encoding: str = "UTF-8"
    # problems of the file's structure (rows that would lose a field, overlong fields); those
    # rows are left out of `rows`, and the readers report these with their own problems
    problems: tuple[Issue, ...] = ()

    def label(self, column: str) -> str:
        """How to name a column in a message: ours, and the file's when they differ."""
        theirs = self.headers.get(column)
        return f"{theirs} ({column})" if theirs else column

    def decimal_mark(self, column: str) -> str:
        """The decimal separator that settles an ambiguous number of `column` ("" = none):
        the one the column's other numbers use, else the file's."""
        return self.marks.get(column) or self.decimal


# --------------------------------------------------------------------------- numbers

_GROUPED = {sep: re.compile(r"\d{1,3}(?:" + re.escape(sep) + r"\d{3})+") for sep in ".,"}
_SPACES = re.compile(r"[ \u00a0\u202f\u2009']")  # 1 234,56 / 1'234.56 group digits too


def number_readings(text: str) -> tuple[tuple[float, str], ...]:
    """The values a number written by a person can mean, each with the decimal separator that
    reading assumes (``""``: none).

    One reading: unambiguous. ``1234.56``, ``1,234.56`` and ``1.234,56``, ``1234,56``,
    ``12,345,678``, ``1.234.567`` read one way. Two readings: a single ``,`` or ``.`` with one
    to three digits (not a leading 0) before it and exactly three after (``1,234``: 1.234 with a
    decimal comma, 1234 with a thousands comma). None: not a number. Currency signs ``¥`` and
    spaces between digit groups are ignored; ``1e5``, ``inf`` and ``nan`` are left to `float`
    (callers reject non-finite values).
    """
    s = _SPACES.sub("", text.strip().replace("¥", "").replace("￥", ""))
    sign = ""
    if s[:1] in "+-":
        sign, s = s[:1], s[1:]
    if not s:
        return ()
    if not re.fullmatch(r"[\d.,]+", s) or not any(ch in s for ch in ".,"):
        try:  # 45, 1e5, 1.5e3, inf: left to float
            return ((float(sign + s), "." if "." in s else ""),)
        except ValueError:
            return ()

    def value(int_part: str, frac: str) -> float:
        return float(f"{sign}{int_part or '0'}.{frac or '0'}")

    if "." in s and "," in s:
        dec = "." if s.rfind(".") > s.rfind(",") else ","
        grp = "," if dec == "." else "."
        int_part, _, frac = s.rpartition(dec)
        if dec in int_part or grp in frac or not frac.isdigit():
            return ()
        if not _GROUPED[grp].fullmatch(int_part):
            return ()
        return ((value(int_part.replace(grp, ""), frac), dec),)
    sep = "," if "," in s else "."
    other = "." if sep == "," else ","
    if s.count(sep) > 1:
        # several separators of one kind only group digits: 12,345,678 / 1.234.567
        if not _GROUPED[sep].fullmatch(s):
            return ()
        return ((value(s.replace(sep, ""), ""), other),)
    int_part, _, frac = s.partition(sep)
    if not (int_part.isdigit() or int_part == "") or not frac.isdigit():
        return ()
    as_decimal = (value(int_part, frac), sep)
    if len(frac) == 3 and 1 <= len(int_part) <= 3 and int_part[0] != "0":
        return (as_decimal, (value(int_part + frac, ""), other))
    return (as_decimal,)


def _column_marks(columns: list[str], rows: list[tuple[int, dict[str, str]]]) -> dict[str, str]:
    """Per column, the decimal separator its unambiguous numbers use ('' = none or both)."""
    out: dict[str, str] = {}
    for c in columns:
        seen: set[str] = set()
        for _, rec in rows:
            readings = number_readings(rec.get(c, "")) if rec.get(c) else ()
            if len(readings) == 1 and readings[0][1]:
                seen.add(readings[0][1])
        out[c] = seen.pop() if len(seen) == 1 else ""
    return out


# --------------------------------------------------------------------------- encodings


def _is_common_chinese(ch: str) -> bool:
    """In GB2312 (the 6,763 common hanzi, full-width forms and CJK punctuation)."""
    try:
        return len(ch.encode("gb2312")) == 2
    except UnicodeEncodeError:
        return False


#: Korean EUC-KR puts its Hangul syllables on the byte pairs of GB2312's first 2,350 hanzi
#: (lead bytes 0xB0-0xC8), so Korean text decodes as common-looking Chinese. Chinese text of
#: some length always has hanzi after them too (lead 0xC9-0xF7: 市 省 是 在 中 张 ...).
_EUC_KR_HANGUL_LEADS = range(0xB0, 0xC9)
_MIN_HANZI_TO_TELL = 20


def _looks_chinese(text: str) -> bool:
    wide = [ch for ch in text if ord(ch) > 0x7F]
    if not wide or sum(map(_is_common_chinese, wide)) < 0.9 * len(wide):
        return False
    leads = [ch.encode("gb2312")[0] for ch in wide if _is_common_chinese(ch)]
    hanzi = [b for b in leads if b >= 0xB0]
    return len(hanzi) < _MIN_HANZI_TO_TELL or any(b not in _EUC_KR_HANGUL_LEADS for b in hanzi)


def _looks_latin(text: str) -> bool:
    run = 0
    for ch in text:
        if ord(ch) <= 0x7F:
            run = 0
            continue
        run += 1
        if run > 3 or unicodedata.category(ch)[0] not in "LPSN" and ch != "\u00a0":
            return False
    return True


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with (see the module docstring)."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec), label
            except UnicodeDecodeError as exc:
                raise InputError([Issue(
                    name, 0, "", "", "", f"the file starts with a {label} byte-order mark but "
                    f"is not valid {label} (byte {exc.start + len(bom)})", SAVE_AS_UTF8)]) from None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise InputError([Issue(
            name, 0, "", "", "", "the file holds NUL bytes: it is not a text (CSV) file, or it "
            "is UTF-16 without a byte-order mark", SAVE_AS_UTF8)])
    try:
        text = data.decode("gb18030")
        if _looks_chinese(text):
            return text, "GB18030 (GBK)"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
        if _looks_latin(text):
            return text, "Windows-1252 (Latin-1)"
    except UnicodeDecodeError:
        pass
    raise InputError([Issue(
        name, 0, "", "", "", "the file is not UTF-8, and its encoding cannot be told for sure "
        "(neither Chinese GBK/GB18030 nor Western Windows-1252 text)", SAVE_AS_UTF8)])


# --------------------------------------------------------------------------- CSV


def _separator(text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts.values())
    return next(sep for sep in (",", ";", "\t") if counts[sep] == best) if best else ","


_QUOTE_FIX = ("close the quote or remove it; a quote inside a quoted field is written twice "
              "(\"\")")
_CSV_ERRORS = (
    ("field larger than field limit",
     "a field is longer than {limit:,} characters, more than a spreadsheet cell holds "
     f"({MAX_FIELD_CHARS:,}); often a quote (\") that is never closed makes the rest of the file "
     "one field",
     f"shorten the text to at most {MAX_FIELD_CHARS:,} characters, or {_QUOTE_FIX}"),
    ("unexpected end of data",
     "a quote (\") opens a field in this record and is never closed: the rest of the file "
     "would be one field", _QUOTE_FIX),
    ("expected after",
     "text follows the closing quote of a field",
     "quote the whole field and write a quote inside it twice, e.g. \"a \"\"b\"\" c\""),
)


def _csv_records(text: str, name: str, sep: str, *, line_offset: int = 0
                 ) -> list[tuple[int, list[str]]]:
    """(row, cells) of every record; row = record number as Excel shows it (header = 1);
    `line_offset`: lines of the file before `text` (for the line numbers of messages)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    out: list[tuple[int, list[str]]] = []
    while True:
        start_line = reader.line_num + 1 + line_offset
        try:
            cells = next(reader)
        except StopIteration:
            return out
        except csv.Error as exc:
            msg, fix = f"the file cannot be read as CSV ({exc})", SAVE_AS_UTF8
            for key, m, f in _CSV_ERRORS:
                if key in str(exc):
                    msg, fix = m.format(limit=csv.field_size_limit()), f
            raise InputError([Issue(name, len(out) + 1, "", "", "",
                                      f"{msg} (the record starts on line {start_line})",
                                      fix)]) from None
        out.append((len(out) + 1, cells))


# --------------------------------------------------------------------------- Excel


def _cell_text(v: object, number_format: str = "General") -> tuple[str, bool]:
    """The text of an Excel cell, and whether it is a number too long to be exact."""
    if v is None:
        return "", False
    if isinstance(v, bool):
        return ("yes" if v else "no"), False
    if isinstance(v, int):
        text = str(v)
    elif isinstance(v, float):
        if math.isnan(v):
            return "", False
        if not math.isfinite(v):
            return repr(v), False
        # the shortest digits that give back the float, positional: 12.0 -> "12", 1e-05 ->
        # "0.00001", 1.234567890123457e+17 -> "123456789012345700" (no invented digits)
        text = format(Decimal(repr(v)).normalize(), "f")
        if abs(v) >= 2**53:
            return text, True
    elif hasattr(v, "isoformat") and not isinstance(v, str):
        # Excel dates and times
        if isinstance(v, datetime):
            return (v.date().isoformat() if v.time() == time(0) else v.isoformat()), False
        if isinstance(v, time):
            return v.strftime("%H:%M"), False
        return v.isoformat(), False
    else:
        return str(v).strip(), False
    # a whole number shown with leading zeros ("000123", format "000000") keeps them: ids
    if re.fullmatch(r"0+", number_format or "") and text.isdigit():
        text = text.zfill(len(number_format))
    return text, False


def _xlsx_records(p: Path, name: str) -> list[tuple[int, list[str]]]:
    with p.open("rb") as fh:
        head = fh.read(65536)
    fix = ("open the file in Excel or WPS and save it again as .xlsx (Excel Workbook), or save "
           "the sheet as CSV UTF-8")
    if not head:
        raise InputError([Issue(name, 0, "", "", "", "the file is empty (0 bytes)",
                                  "export the list again, as .xlsx or CSV UTF-8")])
    if head.startswith(_OLE2_MAGIC):
        raise InputError([Issue(
            name, 0, "", "", "", "this is an Excel 97-2003 workbook (.xls) or a "
            "password-protected workbook, not an .xlsx file",
            "save it in Excel as .xlsx (Excel Workbook) without a password, or as CSV UTF-8")])
    if not head.startswith(_ZIP_MAGIC):
        try:
            decode_text(head, name)
            what = "a text file (a CSV named .xlsx?)"
            fix = f"rename it to {p.stem}.csv, or open it in Excel and save it as .xlsx"
        except InputError:
            what = "not an Excel workbook (an .xlsx file is a zip archive)"
        raise InputError([Issue(name, 0, "", "", "", f"the file is {what}", fix)])
    from openpyxl import load_workbook  # .xlsx input only (0.2 s to import)

    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl/zipfile raise many types for bad files
        raise InputError([Issue(
            name, 0, "", "", "", f"the workbook is damaged or truncated and cannot be opened "
            f"({type(exc).__name__}: {exc})", fix)]) from None
    out: list[tuple[int, list[str]]] = []
    try:
        if not wb.worksheets:
            raise InputError([Issue(name, 0, "", "", "", "the workbook has no worksheet", fix)])
        for i, row in enumerate(wb.worksheets[0].iter_rows(), start=1):
            cells = []
            for j, c in enumerate(row, start=1):
                text, inexact = _cell_text(c.value, getattr(c, "number_format", "General"))
                if inexact:
                    log.warning("%s row %d column %d: the number %s has more digits than a "
                                "spreadsheet number keeps exactly (15 to 17); if it is an id, "
                                "format the column as Text and type the ids again", name, i, j,
                                text)
                cells.append(text)
            out.append((i, cells))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet inside a valid zip
        raise InputError([Issue(
            name, 0, "", "", "", f"the workbook is damaged and cannot be read "
            f"({type(exc).__name__}: {exc})", fix)]) from None
    finally:
        wb.close()
    return out


# --------------------------------------------------------------------------- the table


def _split_number(cells: list[str]) -> int | None:
    """Index of the first cell of two that look like one decimal-comma number (30 | 657)."""
    for k in range(len(cells) - 1):
        if re.fullmatch(r"-?\d{1,3}", cells[k]) and re.fullmatch(r"\d+", cells[k + 1]):
            return k
    return None


def records_table(name: str, records: Sequence[Mapping[str, object]]) -> Table:
    """JSON records (an HTTP body's list of objects) as a `Table` the readers validate.

    Record ``k`` (from 1) is row ``k``; numbers become their text, ``true``/``false`` yes/no,
    ``null`` a blank cell. A record that is not an object, or a value that is not text, a
    number, a boolean or null, is a problem of the table (`Table.problems`), its record left out.
    """
    columns: dict[str, None] = {}
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[Issue] = []
    for k, rec in enumerate(records, start=1):
        if not isinstance(rec, Mapping):
            problems.append(Issue(name, k, "", "", str(rec)[:40], "is not an object",
                                  "send each record as a JSON object of column: value"))
            continue
        cells: dict[str, str] = {}
        bad = False
        for key, v in rec.items():
            col = str(key).strip().lower().replace(" ", "_")
            columns.setdefault(col, None)
            if v is None:
                cells[col] = ""
            elif isinstance(v, bool):
                cells[col] = "yes" if v else "no"
            elif isinstance(v, int | float | str):
                cells[col] = str(v).strip()
            else:
                problems.append(Issue(name, k, "", col, str(v)[:40],
                                      "is not text, a number, true/false or null",
                                      "send the value as text or a number"))
                bad = True
        if not bad:
            rows.append((k, cells))
    return Table(name=name, columns=tuple(columns), rows=tuple(rows), problems=tuple(problems))


def read_table(path: str | Path) -> Table:
    """Read a CSV (',' ';' or tab separated, any common encoding) or .xlsx file.

    Raises `InputError` when the file cannot be read at all (missing, empty, undecodable, a
    broken quote, a damaged workbook). Rows that would lose a field are left out and listed in
    `Table.problems`; record-level checks are `optimizer.io.inputs`'.
    """
    p = Path(path)
    name = p.name
    if not p.exists():
        raise InputError([Issue(name, 0, "", "", str(p), "file not found",
                                  "check the path (cases and collectors are CSV or .xlsx files)")])
    if p.is_dir():
        raise InputError([Issue(name, 0, "", "", str(p), "this is a folder, not a file",
                                  "give the path of the .csv or .xlsx file")])
    suffix = p.suffix.lower()
    decimal, encoding, sep = ".", "UTF-8", ","
    if suffix in (".xlsx", ".xlsm"):
        raw = _xlsx_records(p, name)
    elif suffix in (".csv", ".txt", ".tsv"):
        text, encoding = decode_text(p.read_bytes(), name)
        if encoding != "UTF-8":
            log.warning("%s: read as %s (the file is not UTF-8); check the names and addresses, "
                        "or %s", name, encoding, SAVE_AS_UTF8)
        sep_line = re.match(r"sep=([,;\t])[ \t]*\r?\n", text)
        if sep_line:  # Excel's hint line "sep=;": it names the separator and is no row
            sep, text = sep_line.group(1), text[sep_line.end():]
        else:
            sep = _separator(text)
        decimal = "." if sep == "," else ""
        raw = _csv_records(text, name, sep, line_offset=1 if sep_line else 0)
    elif suffix == ".xls":
        raise InputError([Issue(name, 0, "", "", suffix, "Excel 97-2003 workbooks (.xls) are "
                                  "not read", "save it in Excel as .xlsx or as CSV UTF-8")])
    else:
        raise InputError([Issue(name, 0, "", "", suffix, "unsupported file type",
                                  "save the list as .csv (UTF-8) or .xlsx")])
    if not raw or not any(c.strip() for c in raw[0][1]):
        raise InputError([Issue(name, 0, "", "", "", "the file is empty" if not raw else
                                  "the first row (the header) is empty",
                                  "put the column names in row 1 and one row per record below")])
    header = [h.strip().lower().replace(" ", "_") for h in raw[0][1]]
    problems: list[Issue] = []
    rows: list[tuple[int, dict[str, str]]] = []
    for i, cells in raw[1:]:
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        # the first column names the record (an id, as a rule) in problems of the whole row
        rid = f"{header[0]}={cells[0]}" if header[0] and cells[0] else ""
        long = [k for k, c in enumerate(cells) if len(c) > MAX_FIELD_CHARS]
        for k in long:
            problems.append(Issue(
                name, i, rid, header[k] if k < len(header) else "", cells[k][:40] + "...",
                f"the field has {len(cells[k]):,} characters, more than a spreadsheet cell "
                f"holds ({MAX_FIELD_CHARS:,})", "shorten the text, or close a quote (\") "
                "left open in an earlier field"))
        if long:
            continue
        lost = [(k, c) for k, c in enumerate(cells) if c and (k >= len(header) or not header[k])]
        if lost:
            k, c = lost[0]
            if len(cells) > len(header) and suffix not in (".xlsx", ".xlsm"):
                what = (f"the row has {len(cells)} cells but the header has {len(header)}: "
                        f"a field would be lost")
                split = _split_number(cells) if sep == "," else None
                if split is not None:
                    what += (f" (cells {split + 1} and {split + 2}, '{cells[split]}' and "
                             f"'{cells[split + 1]}', look like one number written with a decimal "
                             f"comma: {cells[split]},{cells[split + 1]})")
                fix = ("put text that contains the separator in double quotes (\"...\"), or "
                       "remove the extra separator; in a ','-separated file a decimal comma "
                       "(30,657) splits a number too: write 30.657")
            else:
                what = f"column {k + 1} has a value but no header: it would be lost"
                fix = f"give column {k + 1} a header in row 1 (a known column), or delete it"
            problems.append(Issue(name, i, rid, f"column {k + 1}", c, what, fix))
            continue
        if len(cells) < len(header):
            missing = [h for h in header[len(cells):] if h]
            if missing:
                log.warning("%s row %d: %d cells but the header has %d; the missing fields (%s) "
                            "are read as blank", name, i, len(cells), len(header),
                            ", ".join(missing))
        rows.append((i, {h: (cells[k] if k < len(cells) else "")
                         for k, h in enumerate(header) if h}))
    columns = [h for h in header if h]
    # Excel's numbers are numbers (written here with '.'): only a CSV's columns can settle
    marks = _column_marks(columns, rows) if suffix not in (".xlsx", ".xlsm") else {}
    return Table(name, tuple(columns), tuple(rows), decimal=decimal, marks=marks,
                 encoding=encoding,
                 problems=tuple(problems))
