"""Golden files of the demo plan: what a deterministic plan of the bundled demo writes.

`snapshot(folder)` reduces a plan folder to comparable text: the data files as written, the
summary without its timings, the cell values of every sheet of ``routes.xlsx`` (the file itself
carries a creation time), and a SHA-256 per page after folium's random element ids are numbered
in order of appearance. Record again (only after a deliberate change of behaviour) with
``python tests/golden.py PLAN_DIR``, e.g. after ``collector-routes plan`` with `demoplan.ARGS`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "data" / "golden" / "demo"
DATA_FILES = ("routes.csv", "unassigned.csv", "routes.json")
_VOLATILE_SUMMARY = ("timings_s", "wall_s")
_FOLIUM_ID = re.compile(r"[0-9a-f]{32}")


def normalised_page(text: str) -> str:
    """The page with each random 32-hex element id replaced by its order of appearance."""
    seen: dict[str, str] = {}
    return _FOLIUM_ID.sub(lambda m: seen.setdefault(m.group(0), f"id{len(seen)}"), text)


def summary(folder: Path) -> str:
    data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    for key in _VOLATILE_SUMMARY:
        data.pop(key, None)
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def workbook(folder: Path) -> str:
    from openpyxl import load_workbook

    book = load_workbook(folder / "routes.xlsx", read_only=True)
    sheets = {ws.title: [[c for c in row] for row in ws.iter_rows(values_only=True)]
              for ws in book.worksheets}
    return json.dumps(sheets, ensure_ascii=False, indent=0, default=str) + "\n"


def pages(folder: Path) -> str:
    digests = {p.name: hashlib.sha256(normalised_page(p.read_text(encoding="utf-8"))
                                      .encode("utf-8")).hexdigest()
               for p in sorted(folder.glob("*.html"))}
    return json.dumps(digests, indent=1) + "\n"


def snapshot(folder: Path) -> dict[str, bytes]:
    """File name -> content of the golden snapshot of a plan folder."""
    out = {name: (folder / name).read_bytes() for name in DATA_FILES}
    out["summary.json"] = summary(folder).encode("utf-8")
    out["routes.xlsx.json"] = workbook(folder).encode("utf-8")
    out["pages.sha256.json"] = pages(folder).encode("utf-8")
    return out


if __name__ == "__main__":  # record: python tests/golden.py PLAN_DIR
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, data in snapshot(Path(sys.argv[1])).items():
        (GOLDEN / name).write_bytes(data)
    print(f"recorded {GOLDEN}")
