"""Measure the offline gazetteer on the tagged addresses of an OSM extract.

Every OSM element with ``addr:street`` + ``addr:housenumber`` (+ ``addr:city`` / ``addr:postcode``
when tagged) is asked for in three spellings, the way case lists write addresses:

- ``full``:   "Bahnhofstraße 21, 69117 Heidelberg" (street, number, postcode, town; a Chinese
  street is written "横桥街10号")
- ``town``:   "Bahnhofstraße 21, Heidelberg"
- ``street``: "Bahnhofstraße 21" (no town: several towns may have that address)

and the answer is compared with the element's own position: *right* (within ``--within-m``,
default 150 m), *wrong* (farther: the worst outcome, a collector sent elsewhere), *uncertain*
(right or wrong, but flagged with a score below 1), *miss* (no answer, with a reason).

    python scripts/bench_geocode.py --osm ../shared/data/osm/heidelberg.osm.pbf
    python scripts/bench_geocode.py --osm data/osm/chengdu_ring2.osm.bz2 --out DIR

The figures depend only on the extract and the code, not on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.geo.geocode.gazetteer import Gazetteer  # noqa: E402
from optimizer.geo.geocode.index import dist_m  # noqa: E402
from optimizer.geo.osmfile import iter_osm  # noqa: E402

FORMATS = ("full", "town", "street")


def tagged_addresses(path: Path) -> list[dict]:
    """Addresses tagged on nodes and ways (ways: the mean of their nodes), in file order."""
    nodes: dict[int, tuple[float, float]] = {}
    out = []
    for el in iter_osm(path):
        if el.kind == "node":
            nodes[el.id] = (el.lat, el.lon)
            pos = (el.lat, el.lon)
        elif el.kind == "way":
            pts = [nodes[r] for r in el.refs if r in nodes]
            if not pts:
                continue
            pos = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
        else:
            continue
        street, number = el.tags.get("addr:street"), el.tags.get("addr:housenumber")
        if street and number:
            out.append({"street": street, "number": number, "city": el.tags.get("addr:city", ""),
                        "postcode": el.tags.get("addr:postcode", ""), "lat": pos[0],
                        "lon": pos[1]})  # fmt: skip
    return out


def query(a: dict, fmt: str) -> str | None:
    cjk = any("\u3400" <= ch <= "\u9fff" for ch in a["street"])
    head = f"{a['street']}{a['number']}号" if cjk else f"{a['street']} {a['number']}"
    if fmt == "street":
        return head
    if not a["city"]:
        return None
    if fmt == "town":
        return f"{head}, {a['city']}"
    return f"{head}, {(a['postcode'] + ' ') if a['postcode'] else ''}{a['city']}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--osm", type=Path, required=True, help="OSM extract (.osm, .bz2, .gz, .pbf)")
    ap.add_argument("--within-m", type=float, default=150.0, help="right if this close (m)")
    ap.add_argument("--out", type=Path, default=None, help="folder for answers.csv, summary.json")
    a = ap.parse_args(argv)

    gaz = Gazetteer.from_osm(a.osm, use_cache=False)
    addresses = tagged_addresses(a.osm)
    counts = {f: Counter() for f in FORMATS}
    rows = []
    for addr in addresses:
        for fmt in FORMATS:
            q = query(addr, fmt)
            if q is None:
                continue
            r = gaz.geocode(q)
            if r is None:
                outcome, dist = "miss", None
            else:
                dist = dist_m(r.lat, r.lon, addr["lat"], addr["lon"])
                outcome = "right" if dist <= a.within_m else "wrong"
            counts[fmt][outcome] += 1
            if r is not None and r.score < 1.0:
                counts[fmt]["uncertain"] += 1
                counts[fmt][f"uncertain_{outcome}"] += 1
            rows.append({"format": fmt, "query": q, "outcome": outcome,
                         "score": "" if r is None else r.score,
                         "distance_m": "" if dist is None else round(dist, 1),
                         "matched": "" if r is None else r.matched})  # fmt: skip

    print(f"{a.osm.name}: {len(addresses)} tagged addresses, right = within {a.within_m:.0f} m")
    print(f"{'format':<8} {'queries':>8} {'right':>7} {'wrong':>7} {'miss':>6} "
          f"{'flagged':>8} {'wrong, not flagged':>19}")  # fmt: skip
    summary = {}
    for fmt in FORMATS:
        c = counts[fmt]
        n = c["right"] + c["wrong"] + c["miss"]
        if not n:
            continue
        silent_wrong = c["wrong"] - c["uncertain_wrong"]
        print(f"{fmt:<8} {n:>8} {c['right'] / n:>7.1%} {c['wrong'] / n:>7.1%} "
              f"{c['miss'] / n:>6.1%} {c['uncertain'] / n:>8.1%} {silent_wrong / n:>19.1%}")
        summary[fmt] = {"queries": n, **dict(c), "wrong_not_flagged": silent_wrong}
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        with open(a.out / "answers.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["format"])
            w.writeheader()
            w.writerows(rows)
        (a.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
