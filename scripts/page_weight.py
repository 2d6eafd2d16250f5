"""Measure what a phone downloads to open a plan's pages: raw and gzip bytes.

Usage::

    python -m optimizer plan --time-limit 5 --out /tmp/demo
    python scripts/page_weight.py /tmp/demo

`collector-routes serve` sends text gzipped to browsers that accept it (all do), so the gzip
column is what travels; the assets are cached after the first page.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.outputs import maps  # noqa: E402


def _sizes(data: bytes, compressible: bool) -> tuple[int, int]:
    return len(data), len(gzip.compress(data, compresslevel=6)) if compressible else len(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("plan_dir", type=Path)
    a = p.parse_args(argv)
    pages = sorted(a.plan_dir.glob("*.html"))
    if not pages:
        print(f"{a.plan_dir}: no pages", file=sys.stderr)
        return 2
    assets = maps.asset_files()
    needed = ("leaflet/leaflet.js", "leaflet/leaflet.css", "collector-routes.js",
              "collector-routes.css")  # fmt: skip
    asset_raw = sum(len(assets[r]) for r in needed)
    asset_gz = sum(_sizes(assets[r], True)[1] for r in needed)
    collector = []
    print(f"{'file':<28}{'raw KB':>10}{'gzip KB':>10}")
    for page in pages:
        raw, gz = _sizes(page.read_bytes(), True)
        print(f"{page.name:<28}{raw / 1024:>10.1f}{gz / 1024:>10.1f}")
        if page.name != "index.html":
            collector.append((raw, gz))
    print(f"{'assets (JS+CSS, cached)':<28}{asset_raw / 1024:>10.1f}{asset_gz / 1024:>10.1f}")
    if collector:
        med_raw = statistics.median(r for r, _ in collector)
        med_gz = statistics.median(g for _, g in collector)
        print(
            f"collector page, first load (median page + assets): "
            f"{(med_raw + asset_raw) / 1024:.1f} KB raw, {(med_gz + asset_gz) / 1024:.1f} KB gzip"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
