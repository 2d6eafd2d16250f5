"""Cut a bounding box out of an OSM XML extract (.osm or .osm.bz2), for small test networks.

Keeps the ways with at least one node inside the box (all their nodes, so no way is broken),
the nodes they use and the nodes inside the box that carry tags (addresses, places); relations
are dropped. The result is OSM XML, bzip2-compressed when the output name ends in ``.bz2``.

    python scripts/cut_osm.py ../shared/data/osm/heidelberg.osm.bz2 \\
        --bbox 49.4050,8.6850,49.4160,8.7150 --out tests/data/heidelberg_altstadt.osm.bz2

© OpenStreetMap contributors (ODbL 1.0): the cut carries the attribution of its source.
"""

from __future__ import annotations

import argparse
import bz2
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO


def _open(path: Path, mode: str) -> IO[bytes]:
    return bz2.open(path, mode) if path.suffix == ".bz2" else path.open(mode)  # type: ignore[return-value]


def cut(src: Path, bbox: tuple[float, float, float, float], out: Path) -> tuple[int, int]:
    """Write the cut of `src` to `out`; (nodes, ways) kept."""
    s, w, n, e = bbox
    inside: set[str] = set()
    nodes: dict[str, ET.Element] = {}
    ways: list[ET.Element] = []
    with _open(src, "rb") as f:
        for _, el in ET.iterparse(f, events=("end",)):
            if el.tag == "node":
                lat, lon = float(el.get("lat", "nan")), float(el.get("lon", "nan"))
                nid = el.get("id", "")
                if s <= lat <= n and w <= lon <= e:
                    inside.add(nid)
                nodes[nid] = el  # kept until the ways say which are needed
            elif el.tag == "way":
                refs = [nd.get("ref", "") for nd in el.findall("nd")]
                if any(r in inside for r in refs):
                    ways.append(el)
                else:
                    el.clear()
            elif el.tag == "relation":
                el.clear()
    used = {nd.get("ref", "") for way in ways for nd in way.findall("nd")}
    keep = [el for nid, el in nodes.items()
            if nid in used or (nid in inside and el.find("tag") is not None)]
    root = ET.Element("osm", version="0.6", generator="collector-routes scripts/cut_osm.py")
    ET.SubElement(root, "bounds", minlat=str(s), minlon=str(w), maxlat=str(n), maxlon=str(e))
    root.extend(keep)
    root.extend(ways)
    with _open(out, "wb") as f:
        ET.ElementTree(root).write(f, encoding="utf-8", xml_declaration=True)
    return len(keep), len(ways)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="OSM XML extract (.osm or .osm.bz2)")
    ap.add_argument("--bbox", required=True, help="south,west,north,east in degrees")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    try:
        s, w, n, e = (float(x) for x in a.bbox.split(","))
    except ValueError:
        ap.error(f"--bbox {a.bbox!r}: give south,west,north,east, e.g. 49.405,8.685,49.416,8.715")
    kept = cut(a.src, (s, w, n, e), a.out)
    print(f"{a.out}: {kept[0]} nodes, {kept[1]} ways", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
