"""OSM XML and PBF give the same road network and gazetteer.

The PBF files are written by pyosmium from the bundled XML extract (and from the hand-made tiny
network), so both formats hold the same data and everything built from them must be equal.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import osmium
import pytest

from optimizer.geo.geocode.gazetteer import Gazetteer
from optimizer.geo.network import NetworkError, default_osm_path, load_network
from optimizer.geo.osmfile import OsmFileError, iter_osm

TINY_OSM = Path(__file__).parent / "data" / "tiny_network.osm"
DEMO_CASES = Path(__file__).parents[1] / "data" / "demo" / "cases.csv"


def _to_pbf(src: Path, dst: Path, box: tuple[float, float, float, float] | None) -> Path:
    """Copy an OSM file to PBF; ``box`` = (min_lon, min_lat, max_lon, max_lat) for the header."""
    header = osmium.io.Header()
    if box is not None:
        header.add_box(osmium.osm.Box(osmium.osm.Location(box[0], box[1]),
                                      osmium.osm.Location(box[2], box[3])))  # fmt: skip
    with osmium.SimpleWriter(str(dst), header=header) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    return dst


@pytest.fixture(scope="module")
def chengdu_pbf(tmp_path_factory):
    box = osmium.FileProcessor(str(default_osm_path())).header.box()
    bl, tr = box.bottom_left, box.top_right
    out = tmp_path_factory.mktemp("pbf") / "chengdu_ring2.osm.pbf"
    return _to_pbf(default_osm_path(), out, (bl.lon, bl.lat, tr.lon, tr.lat))


def _arrays(net) -> dict[str, np.ndarray]:
    return {
        "osmid": net.node_osmid,
        "lat": net.node_lat,
        "lon": net.node_lon,
        "indptr": net.travel_time_s.indptr,
        "indices": net.travel_time_s.indices,
        "time": net.travel_time_s.data,
        "length": net.length_m.data,
        "geom_ptr": net.geom_ptr,
        "geom_lat": net.geom_lat,
        "geom_lon": net.geom_lon,
        "main": net.main_component,
        "street": net.node_street,
    }


@pytest.mark.parametrize("mode", ["drive", "walk"])
def test_pbf_network_equals_xml_network(chengdu_pbf, mode):
    xml = load_network(default_osm_path(), mode=mode, use_cache=False)
    pbf = load_network(chengdu_pbf, mode=mode, use_cache=False)
    assert xml.n_nodes > 2000
    a, b = _arrays(xml), _arrays(pbf)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert pbf.bounds == xml.bounds


def test_pbf_gazetteer_equals_xml_gazetteer(chengdu_pbf, tmp_path):
    xml = Gazetteer.from_osm(default_osm_path(), use_cache=False)
    pbf = Gazetteer.from_osm(chengdu_pbf, cache_dir=tmp_path)
    assert len(xml) > 500
    assert pbf.entries() == xml.entries()
    assert pbf.addresses() == xml.addresses()
    assert pbf.streets() == xml.streets()
    with open(DEMO_CASES, newline="", encoding="utf-8") as fh:
        queries = [row["address"] for row in csv.DictReader(fh)][:60]
    found = 0
    for query in queries:
        a, b = xml.geocode(query), pbf.geocode(query)
        assert a == b, query
        found += a is not None
    assert found > 40
    again = Gazetteer.from_osm(chengdu_pbf, cache_dir=tmp_path)  # from the index cache
    assert again.entries() == pbf.entries()


def test_placeholder_header_box_falls_back_to_node_extent(tmp_path):
    """Tools often write the world, or (0, 0)-(180, 90), as the PBF box: not the extract's area."""
    world = _to_pbf(TINY_OSM, tmp_path / "world.osm.pbf", (0, 0, 180, 90))
    assert [el.kind for el in iter_osm(world)][0] == "node"  # no bounds element
    net = load_network(world, use_cache=False)
    assert net.bounds.min_lat == pytest.approx(net.node_lat.min(), abs=1e-6)
    assert net.bounds.max_lon == pytest.approx(net.node_lon.max(), abs=1e-6)
    tiny_xml = load_network(TINY_OSM, use_cache=False)
    assert np.array_equal(net.travel_time_s.data, tiny_xml.travel_time_s.data)


def test_elements_carry_tags_refs_and_members(tmp_path):
    pbf = _to_pbf(TINY_OSM, tmp_path / "tiny.osm.pbf", None)
    for source in (TINY_OSM, pbf):
        els = list(iter_osm(source))
        ways = [el for el in els if el.kind == "way"]
        nodes = {el.id: el for el in els if el.kind == "node"}
        assert ways and nodes
        assert all(isinstance(r, int) for w in ways for r in w.refs)
        assert all("highway" in w.tags or "building" in w.tags for w in ways)
        assert all(-90 <= n.lat <= 90 and -180 <= n.lon <= 180 for n in nodes.values())
    xml_els = [(e.kind, e.id, e.tags, e.refs) for e in iter_osm(TINY_OSM) if e.kind != "bounds"]
    pbf_els = [(e.kind, e.id, e.tags, e.refs) for e in iter_osm(pbf) if e.kind != "bounds"]
    assert xml_els == pbf_els


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.osm.pbf", b"garbage", "broken.osm.pbf: not a readable OSM PBF file"),
        ("broken.osm", b"<osm><node id='1' lat='x'", "broken.osm: not a readable OSM XML file"),
        ("broken.osm.bz2", b"not bzip2", "broken.osm.bz2: not a readable OSM XML file"),
    ],
)
def test_unreadable_file_names_file_and_fix(tmp_path, name, content, message):
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(OsmFileError, match=message) as err:
        list(iter_osm(bad))
    assert ".osm.pbf" in str(err.value)  # the fix lists the formats read
    with pytest.raises(NetworkError, match=message):
        load_network(bad, use_cache=False)
    with pytest.raises(OsmFileError, match=message):
        Gazetteer.from_osm(bad, use_cache=False)


def test_cli_reports_unreadable_osm_without_traceback(tmp_path):
    bad = tmp_path / "city.osm.pbf"
    bad.write_bytes(b"garbage")
    run = subprocess.run(
        [sys.executable, "-m", "optimizer", "plan", "--osm", str(bad), "--out",
         str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "city.osm.pbf: not a readable OSM PBF file" in run.stderr
