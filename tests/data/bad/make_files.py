"""Write the input files of tests/data/bad/ that are hard to write by hand: other encodings,
Excel workbooks, damaged and misnamed files. Deterministic: run it again and the bytes are the
same (fixed workbook dates, fixed zip entry times).

    python tests/data/bad/make_files.py

The files are committed (they are what users send); tests/test_bad_inputs.py reads them.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = "case_id,customer_name,address,lat,lon,amount_overdue,days_past_due,windows,notes"
ROWS = (
    "C-1,张三,成都市锦江区春熙路12号,30.6570,104.0800,15800.50,45,Mon-Fri 18:00-21:00,带合同",
    "C-2,李四,成都市青羊区人民中路一段,30.6640,104.0620,8200,90,09:00-12:00,客户要求上午上门",
    "C-3,王五,成都市武侯区科华北路,30.6300,104.0780,3000,20,,",
)
# A Western European Excel: Windows-1252, ';' between fields, decimal commas
LATIN = (
    "case_id;customer_name;address;lat;lon;amount_overdue;days_past_due;notes\r\n"
    "L-1;Jürgen Müller;Rua São João 12;30,6570;104,0800;1.580,50;45;Café, 2º andar\r\n"
    "L-2;Begoña Ibáñez;Calle Mayor 3;30,6640;104,0620;820,75;90;llamar antes – €\r\n"
)
# Traditional Chinese in Big5: neither GBK nor Latin text, so its encoding cannot be told
BIG5 = HEADER + "\r\nT-1,陳大文,臺北市中山區南京東路,30.6570,104.0800,1000,45,,請先電話聯絡\r\n"
# Korean in EUC-KR: its Hangul bytes are those of common GB2312 hanzi, so it decodes as
# Chinese-looking text (it was read so, silently); only hanzi of the first 2,350 show up
EUC_KR = HEADER + ("\r\nK-1,김철수,서울특별시 중구 세종대로 110,30.6570,104.0800,1000,45,,"
                   "전화 먼저 부탁합니다\r\nK-2,이영희,부산광역시 해운대구 우동,30.6640,104.0620,"
                   "2000,30,,오후에 방문\r\n")


def _rewrite_zip(data: bytes, edit) -> bytes:
    """The same zip with ``edit(name, body)`` applied to every entry, each dated 1980-01-01
    (openpyxl stamps the current time on the entries and on the "modified" property)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = edit(info.filename, src.read(info.filename))
            dst.writestr(zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0)), body,
                         zipfile.ZIP_DEFLATED)
    return out.getvalue()


def big_ids_workbook() -> bytes:
    """Ids stored as numbers: an 18-digit integer (exact in the file, as exporters that write
    integers store it), an id with leading zeros shown by the format 000000, a whole number
    stored as a float (4567.0), and an 18-digit id as Excel stores it: a double that keeps 17
    digits."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["case_id", "lat", "lon", "amount_overdue", "days_past_due"])
    ws.append([777, 30.657, 104.08, 1500.5, 45])  # 777 becomes the 18-digit id below
    ws.append([123, 30.664, 104.062, 2000, 30])
    ws["A3"].number_format = "000000"
    ws.append([4567.0, 30.63, 104.078, 3000, 20])
    ws.append([888, 30.65, 104.07, 900, 10])  # 888 becomes the double Excel stores below
    buf = io.BytesIO()
    wb.save(buf)

    def edit(name: str, body: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            # openpyxl writes numbers with 16 significant digits; an integer-writing exporter
            # keeps all of them; Excel itself stores the double (17 digits, 15 exact)
            return body.replace(b"<v>777</v>", b"<v>123456789012345678</v>").replace(
                b"<v>888</v>", b"<v>1.2345678901234568E+17</v>")
        if name == "docProps/core.xml":
            return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-01-01T00:00:00Z", body)
        return body

    return _rewrite_zip(buf.getvalue(), edit)


def main() -> None:
    text = HEADER + "\r\n" + "\r\n".join(ROWS) + "\r\n"
    # Chinese Excel / WPS "CSV": GBK (a subset of GB18030), no byte-order mark
    (HERE / "cases_gbk.csv").write_bytes(text.encode("gbk"))
    # Excel "Unicode Text": UTF-16 LE with a byte-order mark, tab-separated
    (HERE / "cases_utf16.csv").write_bytes(
        b"\xff\xfe" + text.replace(",", "\t").encode("utf-16-le"))
    (HERE / "cases_latin1.csv").write_bytes(LATIN.encode("cp1252"))
    (HERE / "cases_big5.csv").write_bytes(BIG5.encode("big5"))
    (HERE / "cases_euc_kr.csv").write_bytes(EUC_KR.encode("euc-kr"))
    book = big_ids_workbook()
    (HERE / "cases_big_ids.xlsx").write_bytes(book)
    (HERE / "cases_truncated.xlsx").write_bytes(book[: len(book) // 2])
    (HERE / "cases_csv_renamed.xlsx").write_bytes(text.encode("utf-8"))
    (HERE / "cases_empty.xlsx").write_bytes(b"")
    # an Excel 97-2003 workbook (or an encrypted .xlsx) saved under the .xlsx name: the OLE2
    # compound-file header, as such a file starts
    ole = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(16) + bytes.fromhex("3e000300feff0900")
    (HERE / "cases_xls_renamed.xlsx").write_bytes(ole + bytes(512 - len(ole)))


if __name__ == "__main__":
    main()
