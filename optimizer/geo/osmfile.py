"""Read OpenStreetMap files as one stream of elements, whatever their format.

Two formats are read:

- OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``), what openstreetmap.org exports and Overpass
  returns, parsed with the standard library's streaming ``iterparse``;
- PBF (``.osm.pbf``), what Geofabrik and BBBike publish, read with pyosmium (libosmium).

Both give the same `OsmElement` objects in file order (nodes, then ways, then relations in any
sorted extract), so the road network (`optimizer.geo.network`) and the offline gazetteer
(`optimizer.geo.geocode`) are built by the same code from either format.
"""

from __future__ import annotations

import bz2
import gzip
import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from optimizer.errors import ConfigError

if TYPE_CHECKING:  # pyosmium loads for .osm.pbf files only
    import osmium

#: File name endings read, for messages.
FORMATS = ".osm, .osm.bz2, .osm.gz or .osm.pbf"


class OsmFileError(ConfigError):
    """The file is not a readable OpenStreetMap file; the message names it and the fix."""


@dataclass(slots=True)
class OsmElement:
    """One node, way or relation; ``kind == "bounds"`` carries the file's declared box.

    ``lat``/``lon`` are set for nodes, ``refs`` (node ids) for ways, ``members``
    (``("node" | "way" | "relation", id)``) for relations, ``box`` = (min_lat, min_lon,
    max_lat, max_lon) for bounds.
    """

    kind: str
    id: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    lat: float = math.nan
    lon: float = math.nan
    refs: list[int] = field(default_factory=list)
    members: list[tuple[str, int]] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None


def is_pbf(path: str | Path) -> bool:
    """Whether the file name says PBF (``.pbf``, ``.osm.pbf``)."""
    return Path(path).suffix.lower() == ".pbf"


def iter_osm(path: str | Path) -> Iterator[OsmElement]:
    """Yield the elements of an OSM XML or PBF file, a ``bounds`` element first when known.

    Raises
    ------
    OsmFileError
        The file cannot be read as the format its name says (the message names file and fix).
    """
    path = Path(path)
    if is_pbf(path):
        yield from _iter_pbf(path)
    else:
        yield from _iter_xml(path)


# --------------------------------------------------------------------------- XML


def _open_xml(path: Path) -> io.BufferedIOBase:
    suffix = path.suffix.lower()
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


_MEMBER_TYPES = {"node": "node", "way": "way", "relation": "relation"}


def _iter_xml(path: Path) -> Iterator[OsmElement]:
    try:
        with _open_xml(path) as fh:
            context = ET.iterparse(fh, events=("start", "end"))
            _, root = next(context)
            for event, el in context:
                if event != "end":
                    continue
                tag = el.tag
                if tag == "node":
                    yield OsmElement(
                        "node",
                        int(_attr(el, "id")),
                        _xml_tags(el),
                        lat=float(_attr(el, "lat")),
                        lon=float(_attr(el, "lon")),
                    )
                elif tag == "way":
                    yield OsmElement(
                        "way",
                        int(_attr(el, "id")),
                        _xml_tags(el),
                        refs=[int(_attr(c, "ref")) for c in el if c.tag == "nd"],
                    )
                elif tag == "relation":
                    yield OsmElement(
                        "relation",
                        int(_attr(el, "id")),
                        _xml_tags(el),
                        members=[
                            (kind, int(_attr(c, "ref")))
                            for c in el
                            if c.tag == "member" and (kind := c.get("type", "")) in _MEMBER_TYPES
                        ],
                    )
                elif tag == "bounds":
                    yield OsmElement(
                        "bounds",
                        box=(
                            float(_attr(el, "minlat")),
                            float(_attr(el, "minlon")),
                            float(_attr(el, "maxlat")),
                            float(_attr(el, "maxlon")),
                        ),
                    )
                else:
                    continue
                root.clear()
    except (ET.ParseError, OSError, EOFError, TypeError, ValueError, StopIteration) as exc:
        raise OsmFileError(
            f"{path}: not a readable OSM XML file ({exc or type(exc).__name__}); fix: give an "
            f"{FORMATS} file, e.g. exported from openstreetmap.org or downloaded from Geofabrik"
        ) from exc


def _attr(el: ET.Element, name: str) -> str:
    """The attribute `name` of `el`; a ValueError (reported as an unreadable file) if missing."""
    value = el.get(name)
    if value is None:
        raise ValueError(f"<{el.tag}> without its '{name}' attribute")
    return value


def _xml_tags(el: ET.Element) -> dict[str, str]:
    # a <tag> without k or v says nothing: skipped
    return {k: v for c in el if c.tag == "tag"
            if (k := c.get("k")) is not None and (v := c.get("v")) is not None}


# --------------------------------------------------------------------------- PBF


_PBF_MEMBER_TYPES = {"n": "node", "w": "way", "r": "relation"}


def _iter_pbf(path: Path) -> Iterator[OsmElement]:
    import osmium  # .osm.pbf files only

    try:
        processor = osmium.FileProcessor(str(path))
        box = _pbf_box(processor.header)
        if box is not None:
            yield OsmElement("bounds", box=box)
        for obj in processor:
            tags = {t.k: t.v for t in obj.tags}
            if isinstance(obj, osmium.osm.Node):
                loc = obj.location
                if not loc.valid():
                    continue
                yield OsmElement("node", obj.id, tags, lat=loc.lat, lon=loc.lon)
            elif isinstance(obj, osmium.osm.Way):
                yield OsmElement("way", obj.id, tags, refs=[n.ref for n in obj.nodes])
            elif isinstance(obj, osmium.osm.Relation):
                yield OsmElement(
                    "relation",
                    obj.id,
                    tags,
                    members=[
                        (_PBF_MEMBER_TYPES[m.type], m.ref)
                        for m in obj.members
                        if m.type in _PBF_MEMBER_TYPES
                    ],
                )
    except RuntimeError as exc:  # libosmium reports format errors as RuntimeError
        raise OsmFileError(
            f"{path}: not a readable OSM PBF file ({exc}); fix: give an {FORMATS} file, e.g. "
            "downloaded from download.geofabrik.de"
        ) from exc


def _pbf_box(header: osmium.io.Header) -> tuple[float, float, float, float] | None:
    """The header's box, unless missing or a placeholder that covers the world or a quadrant.

    Some tools write the box (0, 0)-(180, 90) or the whole world; such a box says nothing
    about the extract, so the caller falls back to the extent of the nodes.
    """
    box = header.box()
    if not box.valid():
        return None
    bl, tr = box.bottom_left, box.top_right
    if tr.lon - bl.lon >= 180 or tr.lat - bl.lat >= 90:
        return None
    return (bl.lat, bl.lon, tr.lat, tr.lon)
