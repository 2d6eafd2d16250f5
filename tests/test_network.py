"""Road network loading, caching and snapping, on the bundled Chengdu extract and a tiny fixture.

tests/data/tiny_network.osm (hand-made; drawing in the file):
n1 = n2 = n3 two-way residential (15 km/h), n3 -> n5 one-way dead end, n2 = n4 = n8 residential
with maxspeed 10, n1 - n4 a footway, way 15 references a missing node (split there), n6 = n7 a
separate fragment, n11-n13 a building.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.geo import network as network_mod
from optimizer.geo.network import (
    DEFAULT_SPEEDS_KPH,
    NetworkError,
    SnapResult,
    default_osm_path,
    haversine_m,
    load_network,
    snap,
    snap_to_node,
)

TINY_OSM = Path(__file__).parent / "data" / "tiny_network.osm"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("network-cache")


@pytest.fixture(scope="module")
def chengdu(cache_dir):
    """The bundled Chengdu drive network (first load: parses and writes the cache)."""
    return load_network(None, mode="drive", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture(scope="module")
def tiny_drive(tiny_cache):
    return load_network(TINY_OSM, mode="drive", cache_dir=tiny_cache)


def _node(net, osmid: int) -> int:
    hits = np.flatnonzero(net.node_osmid == osmid)
    assert hits.size == 1, f"OSM node {osmid} not in the network"
    return int(hits[0])


def _edge_time_s(net, a: int, b: int) -> float:
    return float(net.travel_time_s[_node(net, a), _node(net, b)])


# --------------------------------------------------------------------------- bundled Chengdu


def test_default_path_is_bundled_file():
    path = default_osm_path()
    assert path.is_file()
    assert path.name == "chengdu_ring2.osm.bz2"
    assert (path.parent / "ATTRIBUTION.md").is_file()


def test_chengdu_drive_network_shape(chengdu):
    # the reference README gives ~2,500 nodes for osmnx's simplified 'drive' network
    assert 2000 < chengdu.n_nodes < 3000
    assert chengdu.travel_time_s.shape == chengdu.length_m.shape == (chengdu.n_nodes,) * 2
    assert np.array_equal(chengdu.travel_time_s.indices, chengdu.length_m.indices)
    assert np.all(chengdu.travel_time_s.data > 0) and np.all(chengdu.length_m.data > 0)
    assert chengdu.main_component.sum() > 0.85 * chengdu.n_nodes
    # complete ways are kept, so a few nodes lie outside the extract's declared bounds
    assert chengdu.bounds.contains(chengdu.node_lat, chengdu.node_lon).mean() > 0.9
    assert chengdu.geom_ptr.shape == (chengdu.n_edges + 1,)
    assert chengdu.mode == "drive"


def test_chengdu_speeds_within_table(chengdu):
    speed_kph = chengdu.length_m.data / chengdu.travel_time_s.data * 3.6
    assert speed_kph.max() <= max(DEFAULT_SPEEDS_KPH["drive"].values()) + 1e-9
    assert speed_kph.min() > 0


def test_chengdu_edges_know_their_road_class(chengdu):
    names = chengdu.highway_names
    assert list(names) == sorted(names) and {"primary", "residential"} <= set(names)
    assert chengdu.edge_highway.shape == (chengdu.n_edges,)
    assert chengdu.edge_highway.min() >= 0 and chengdu.edge_highway.max() < len(names)
    # the speed of an edge is its class's speed (a maxspeed tag can only lower it), but for the
    # few edges simplification merged from roads of several classes (17 of 5,930 here)
    speed_kph = chengdu.length_m.data / chengdu.travel_time_s.data * 3.6
    table = DEFAULT_SPEEDS_KPH["drive"]
    limit = np.array([table.get(names[c], table["*"]) for c in chengdu.edge_highway])
    assert np.mean(speed_kph <= limit + 1e-6) > 0.99
    assert np.mean(np.isclose(speed_kph, limit)) > 0.95


def test_cache_round_trip(chengdu, cache_dir, monkeypatch):
    assert chengdu.cache_path is not None and chengdu.cache_path.is_file()
    assert chengdu.cache_path.parent == cache_dir

    def no_parsing(*args, **kwargs):
        raise AssertionError("the OSM file was parsed although a cache exists")

    monkeypatch.setattr(network_mod, "_read_osm", no_parsing)
    again = load_network(None, mode="drive", cache_dir=cache_dir)
    assert again.cache_path == chengdu.cache_path
    for name in ("node_osmid", "node_lat", "node_lon", "geom_ptr", "geom_lat", "geom_lon",
                 "edge_highway"):
        assert np.array_equal(getattr(again, name), getattr(chengdu, name)), name
    for name in ("travel_time_s", "length_m"):
        a, b = getattr(again, name), getattr(chengdu, name)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.data, b.data), name
    assert again.bounds == chengdu.bounds
    assert again.highway_names == chengdu.highway_names
    assert np.array_equal(again.main_component, chengdu.main_component)


def test_speed_factor_applies_after_cache(chengdu, cache_dir):
    slow = load_network(None, mode="drive", speed_factor=0.8, cache_dir=cache_dir)
    assert slow.cache_path == chengdu.cache_path
    assert np.allclose(slow.travel_time_s.data, chengdu.travel_time_s.data / 0.8)
    assert np.array_equal(slow.length_m.data, chengdu.length_m.data)
    assert slow.speed_factor == 0.8


def test_modes_differ(chengdu, cache_dir):
    walk = load_network(None, mode="walk", cache_dir=cache_dir)
    assert walk.cache_path != chengdu.cache_path
    # walking uses footways and ignores one-way streets: more nodes, all at walking speed
    assert walk.n_nodes > chengdu.n_nodes
    speed_kph = walk.length_m.data / walk.travel_time_s.data * 3.6
    assert np.allclose(speed_kph, DEFAULT_SPEEDS_KPH["walk"]["*"])


def test_snap_node_to_itself_and_offset(chengdu):
    inside = chengdu.bounds.contains(chengdu.node_lat, chengdu.node_lon)
    idx = np.flatnonzero(chengdu.main_component & inside & chengdu.node_street)[:50]
    res = snap(chengdu, chengdu.node_lat[idx], chengdu.node_lon[idx])
    assert np.array_equal(res.node, idx)
    assert np.allclose(res.distance_m, 0.0)
    assert res.ok.all()
    # 50 m north of a node: the snapped node is at most 50 m away (the node itself is a candidate)
    res = snap(chengdu, chengdu.node_lat[idx] + 50 / 111_195, chengdu.node_lon[idx])
    assert np.all(res.distance_m <= 50.01)
    assert np.allclose(
        res.distance_m,
        haversine_m(chengdu.node_lat[idx] + 50 / 111_195, chengdu.node_lon[idx], res.lat, res.lon),
    )


def test_snap_flags_far_and_outside(chengdu):
    # Tianfu Square (inside) and Beijing (far outside)
    res = snap(chengdu, [30.6574, 39.9042], [104.0658, 116.4074])
    assert res.ok.tolist() == [True, False]
    assert res.too_far.tolist() == [False, True] and res.outside.tolist() == [False, True]
    assert res.distance_m[0] < 300
    assert res.distance_m[1] > 1_000_000
    assert chengdu.main_component[res.node].all()


def test_snap_rejects_missing_coordinates(chengdu):
    with pytest.raises(
        NetworkError, match=r"2 point\(s\) without finite lat/lon at positions 1, 2"
    ):
        snap(chengdu, [30.66, np.nan, 30.67], [104.06, 104.07, np.inf])


# --------------------------------------------------------------------------- tiny fixture


def test_tiny_drive_filter_and_split(tiny_drive, caplog):
    ids = set(tiny_drive.node_osmid.tolist())
    # footway n1-n4 excluded, so n4 is a plain bend of n2 = n8 and simplified away;
    # building nodes never enter; way 15 split at the missing node 99 into n4-n8 and n9-n10
    assert ids == {1, 2, 3, 5, 6, 7, 8, 9, 10}
    assert tiny_drive.travel_time_s[_node(tiny_drive, 8), _node(tiny_drive, 9)] == 0
    assert tiny_drive.travel_time_s[_node(tiny_drive, 9), _node(tiny_drive, 10)] > 0


def test_tiny_missing_node_is_logged(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="optimizer.geo.network"):
        load_network(TINY_OSM, mode="drive", use_cache=False)
    assert "1 way(s) reference nodes missing" in caplog.text


def test_tiny_speeds_and_maxspeed(tiny_drive):
    # n1 -> n2: 95.6 m of residential at 15 km/h
    length = float(haversine_m(30.7, 104.050, 30.7, 104.051))
    assert _edge_time_s(tiny_drive, 1, 2) == pytest.approx(length / (15 / 3.6))
    # n2 -> n8 through n4 (simplified): 222.4 m with maxspeed 10 (< 15) -> 10 km/h
    length = float(haversine_m(30.7, 104.051, 30.701, 104.051)) * 2
    assert _edge_time_s(tiny_drive, 2, 8) == pytest.approx(length / (10 / 3.6))
    # geometry of that edge keeps the bend n4
    k = int(tiny_drive.edge_index(_node(tiny_drive, 2), _node(tiny_drive, 8)))
    ptr = tiny_drive.geom_ptr
    assert tiny_drive.geom_lat[ptr[k] : ptr[k + 1]].tolist() == [30.701]


def test_tiny_oneway_and_components(tiny_drive):
    n3, n5 = _node(tiny_drive, 3), _node(tiny_drive, 5)
    assert tiny_drive.travel_time_s[n3, n5] > 0
    assert tiny_drive.travel_time_s[n5, n3] == 0  # no edge back
    main = set(tiny_drive.node_osmid[tiny_drive.main_component].tolist())
    assert main == {1, 2, 3, 8}


def test_tiny_snap_prefers_main_component(tiny_drive):
    lat, lon = [30.7000, 30.7100], [104.0529, 104.0601]  # next to n5 and next to n6
    main = snap(tiny_drive, lat, lon)
    assert tiny_drive.node_osmid[main.node].tolist() == [3, 8]
    assert main.distance_m[1] > 900  # the fragment n6 = n7 is not a candidate
    anywhere = snap(tiny_drive, lat, lon, main_component_only=False)
    assert tiny_drive.node_osmid[anywhere.node].tolist() == [5, 6]
    assert snap(tiny_drive, lat, lon, max_snap_m=500).too_far.tolist() == [False, True]


def test_tiny_walk_ignores_oneway_and_uses_footway(tiny_cache):
    walk = load_network(TINY_OSM, mode="walk", cache_dir=tiny_cache)
    assert 4 in walk.node_osmid.tolist()  # junction of the footway
    n2, n5 = _node(walk, 2), _node(walk, 5)
    assert walk.travel_time_s[n5, n2] > 0  # n5 -> n3 -> n2 walked against the one-way
    assert walk.main_component[n5]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mode": "boat"}, NetworkError, "unknown travel mode 'boat'"),
        ({"speed_factor": 0}, NetworkError, "speed_factor 0 must be a positive number"),
        ({"source": "nowhere.osm.bz2"}, FileNotFoundError, "nowhere.osm.bz2 not found"),
        ({"speeds_kph": {"primary": 30}}, NetworkError, "missing"),
        ({"speeds_kph": {"*": -1}}, NetworkError, r"\*=-1"),
        ({"place": "Chengdu", "bbox": (0, 0, 1, 1)}, NetworkError, "only one of"),
        ({"bbox": (31, 104, 30, 105)}, NetworkError, "min < max"),
    ],
)
def test_load_errors(kwargs, error, message, tmp_path):
    with pytest.raises(error, match=message):
        load_network(**{"cache_dir": tmp_path, **kwargs})


def test_load_error_names_bad_file(tmp_path):
    bad = tmp_path / "broken.osm"
    bad.write_text("<osm><node id='1' lat='x'")
    with pytest.raises(NetworkError, match="broken.osm: not a readable OSM XML file"):
        load_network(bad, use_cache=False)
    empty = tmp_path / "empty.osm"
    empty.write_text("<osm><node id='1' lat='30' lon='104'/></osm>")
    with pytest.raises(NetworkError, match="no drive roads"):
        load_network(empty, use_cache=False)


@pytest.mark.parametrize("damage", ["garbage", "missing_array"])
def test_corrupt_cache_is_rebuilt(tmp_path, caplog, damage):
    first = load_network(TINY_OSM, mode="drive", cache_dir=tmp_path)
    if damage == "garbage":
        first.cache_path.write_bytes(b"not a zip file")
    else:
        with np.load(first.cache_path) as data:
            kept = {k: data[k] for k in data.files if k != "node_street"}
        with open(first.cache_path, "wb") as fh:
            np.savez(fh, **kept)
    with caplog.at_level("WARNING", logger="optimizer.geo.network"):
        again = load_network(TINY_OSM, mode="drive", cache_dir=tmp_path)
    assert "ignoring unreadable network cache" in caplog.text
    assert np.array_equal(again.travel_time_s.data, first.travel_time_s.data)
    assert again.cache_path.stat().st_size > 100  # rewritten


def test_place_download_goes_through_the_same_pipeline(tmp_path, monkeypatch):
    """Stand-in for the Overpass download: osmnx's own graph of the bundled file, drive ways."""
    import osmnx as ox

    calls = []

    def fake_graph_from_place(place, **kwargs):
        calls.append((place, kwargs))
        graph = ox.graph_from_xml(default_osm_path(), simplify=False, retain_all=True)
        drop = [
            (u, v, k)
            for u, v, k, d in graph.edges(keys=True, data=True)
            if not network_mod._way_allowed({t: str(d[t]) for t in d if t != "osmid"}, "drive")
        ]
        graph.remove_edges_from(drop)
        graph.remove_nodes_from([n for n in list(graph) if graph.degree(n) == 0])
        return graph

    monkeypatch.setattr(ox, "graph_from_place", fake_graph_from_place)
    net = load_network(place="Chengdu, China", mode="drive", cache_dir=tmp_path)
    assert calls == [
        ("Chengdu, China", {"network_type": "drive", "simplify": False, "retain_all": True})
    ]
    assert net.source == "place:Chengdu, China"
    file_net = load_network(None, mode="drive", use_cache=False)
    # osmnx keeps fewer tags (no motor_vehicle/motorcar), so allow a small difference
    assert abs(net.n_nodes - file_net.n_nodes) <= 0.03 * file_net.n_nodes
    # a second call is served from the cache, without downloading
    again = load_network(place="Chengdu, China", mode="drive", cache_dir=tmp_path)
    assert len(calls) == 1 and again.cache_path == net.cache_path


def test_unwritable_cache_dir_still_loads(tmp_path, caplog):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    with caplog.at_level("WARNING", logger="optimizer.geo.network"):
        net = load_network(TINY_OSM, mode="drive", cache_dir=blocked)
    assert "could not write network cache" in caplog.text
    assert net.n_nodes == 9


def test_repr_is_short(tiny_drive):
    text = repr(tiny_drive)
    assert text.startswith("RoadNetwork(drive, 9 nodes, 11 edges, speed_factor=1")
    assert len(text) < 200


def _osm(tmp_path, ways: list[dict[str, str]]):
    """An .osm file with one 100 m way n1 -> n2 per tag set (separate nodes per way)."""
    nodes, parts = [], []
    for k, tags in enumerate(ways):
        a, b = 2 * k + 1, 2 * k + 2
        lat = 30.70 + 0.01 * k
        nodes.append(f'<node id="{a}" lat="{lat}" lon="104.05"/>')
        nodes.append(f'<node id="{b}" lat="{lat}" lon="104.051"/>')
        tag_xml = "".join(f'<tag k="{key}" v="{val}"/>' for key, val in tags.items())
        parts.append(f'<way id="{100 + k}"><nd ref="{a}"/><nd ref="{b}"/>{tag_xml}</way>')
    path = tmp_path / "ways.osm"
    path.write_text(f"<osm>{''.join(nodes)}{''.join(parts)}</osm>")
    return path


@pytest.mark.parametrize(
    ("mode", "tags", "forward", "backward"),
    [
        # (mode, way tags, edge n1 -> n2 exists, edge n2 -> n1 exists)
        ("drive", {"highway": "primary"}, True, True),
        ("drive", {"highway": "primary", "oneway": "yes"}, True, False),
        ("drive", {"highway": "primary", "oneway": "-1"}, False, True),
        ("drive", {"highway": "primary", "junction": "roundabout"}, True, False),
        ("drive", {"highway": "primary", "oneway": "no"}, True, True),
        ("drive", {"highway": "service"}, False, False),
        ("drive", {"highway": "residential", "access": "private"}, False, False),
        ("drive", {"highway": "residential", "motor_vehicle": "no"}, False, False),
        ("drive", {"highway": "footway"}, False, False),
        ("drive", {"highway": "pedestrian", "area": "yes"}, False, False),
        ("drive", {"building": "yes"}, False, False),
        ("bike", {"highway": "primary", "oneway": "yes"}, True, False),
        ("bike", {"highway": "primary", "oneway": "yes", "oneway:bicycle": "no"}, True, True),
        ("bike", {"highway": "cycleway"}, True, True),
        ("bike", {"highway": "motorway"}, False, False),
        ("bike", {"highway": "residential", "bicycle": "no"}, False, False),
        ("walk", {"highway": "primary", "oneway": "yes"}, True, True),
        ("walk", {"highway": "footway"}, True, True),
        ("walk", {"highway": "cycleway"}, False, False),
        ("walk", {"highway": "residential", "foot": "no"}, False, False),
    ],
)
def test_way_rules(tmp_path, mode, tags, forward, backward):
    # a reference way keeps the network non-empty; the tested way is n1 -> n2
    path = _osm(tmp_path, [tags, {"highway": "residential"}])
    net = load_network(path, mode=mode, use_cache=False)
    ids = net.node_osmid.tolist()

    def has(a, b):
        return a in ids and b in ids and net.travel_time_s[ids.index(a), ids.index(b)] > 0

    assert (has(1, 2), has(2, 1)) == (forward, backward)


def test_snap_rejects_bad_max_snap(tiny_drive):
    with pytest.raises(NetworkError, match="max_snap_m 0 must be a positive"):
        snap(tiny_drive, [30.7], [104.05], max_snap_m=0)


def test_snap_prefers_streets_to_expressways(chengdu):
    fast_only = np.flatnonzero(chengdu.main_component & ~chengdu.node_street)
    assert fast_only.size > 10  # ramps and junctions of the elevated ring roads
    lat, lon = chengdu.node_lat[fast_only], chengdu.node_lon[fast_only]
    res = snap(chengdu, lat, lon)
    assert chengdu.node_street[res.node].all()
    assert np.all(res.distance_m > 0) and res.ok.all()
    plain = snap(chengdu, lat, lon, prefer_streets=False)
    assert np.array_equal(plain.node, fast_only)


def test_snap_falls_back_to_expressway_out_of_street_reach(tmp_path):
    # a trunk road n1 = n2, 1.1 km north a residential street n3 = n4 with a junction at n4
    # (a street to n6), and a link n2 = n4: n1 and n2 lie on expressway classes only
    path = _osm(tmp_path, [{"highway": "trunk"}, {"highway": "residential"}] * 2)
    extra = (
        '<way id="200"><nd ref="2"/><nd ref="4"/><tag k="highway" v="trunk_link"/></way>'
        '<way id="201"><nd ref="4"/><nd ref="6"/><tag k="highway" v="residential"/></way>'
    )
    path.write_text(path.read_text().replace("</osm>", extra + "</osm>"))
    net = load_network(path, mode="drive", use_cache=False)
    n1 = int(np.flatnonzero(net.node_osmid == 1)[0])
    assert not net.node_street[n1]
    near = snap(net, [30.7001], [104.05], max_snap_m=500)  # 11 m from n1, 1.1 km from n3
    assert near.node.tolist() == [n1] and near.ok.all()
    wide = snap(net, [30.7001], [104.05], max_snap_m=2000)  # a street within reach wins
    assert net.node_osmid[wide.node].tolist() == [3]


# --------------------------------------------------------------------------- segments and order


def test_cch_node_order_is_cached_with_the_network(chengdu, cache_dir):
    from optimizer.geo import cch

    if not cch.available():
        pytest.skip("routingkit-cch not installed")
    assert cch.is_order(chengdu.cch_order, chengdu.n_nodes)
    with np.load(chengdu.cache_path) as data:
        assert np.array_equal(data["cch_order"], chengdu.cch_order)
    again = load_network(None, mode="drive", cache_dir=cache_dir)
    assert np.array_equal(again.node_order, chengdu.cch_order)


@pytest.mark.parametrize("damage", ["not_a_permutation", "too_short", "edge_fast_short"])
def test_stale_order_or_edge_flags_are_set_aside_and_rebuilt(tmp_path, caplog, damage):
    first = load_network(TINY_OSM, mode="drive", cache_dir=tmp_path)
    with np.load(first.cache_path) as data:
        kept = {k: data[k] for k in data.files}
    if damage == "not_a_permutation":
        kept["cch_order"] = np.zeros_like(kept["cch_order"])
    elif damage == "too_short":
        kept["cch_order"] = kept["cch_order"][:-1]
    else:
        kept["edge_fast"] = kept["edge_fast"][:-1]
    with open(first.cache_path, "wb") as fh:
        np.savez(fh, **kept)
    with caplog.at_level("WARNING", logger="optimizer.geo.network"):
        again = load_network(TINY_OSM, mode="drive", cache_dir=tmp_path)
    assert "ignoring unreadable network cache" in caplog.text
    assert list(tmp_path.glob("*.corrupt-*")), "the damaged file is kept aside"
    assert np.array_equal(again.cch_order, first.cch_order)
    assert np.array_equal(again.edge_fast, first.edge_fast)


def test_edge_twin_is_the_same_road_backwards(chengdu):
    twin = chengdu.edge_twin
    two = np.flatnonzero(twin >= 0)
    assert two.size > 0.5 * chengdu.n_edges
    assert np.array_equal(twin[twin[two]], two)  # a twin's twin is the edge itself
    u, v = chengdu.edge_source, chengdu.travel_time_s.indices
    assert np.array_equal(u[twin[two]], v[two]) and np.array_equal(v[twin[two]], u[two])
    assert np.allclose(chengdu.length_m.data[twin[two]], chengdu.length_m.data[two])


def test_snap_finds_the_nearest_segment_exactly(chengdu):
    """Against every segment of every street edge of the main component, by brute force."""
    rng = np.random.default_rng(4)
    b = chengdu.bounds
    lat = rng.uniform(b.min_lat, b.max_lat, 60)
    lon = rng.uniform(b.min_lon, b.max_lon, 60)
    res = snap(chengdu, lat, lon)
    lines = chengdu.edge_lines
    u, v = chengdu.edge_source, chengdu.travel_time_s.indices
    ok_edge = chengdu.main_component[u] & chengdu.main_component[v] & ~chengdu.edge_fast
    owner = np.repeat(np.arange(chengdu.n_edges), np.diff(lines.ptr))
    starts = np.flatnonzero(np.r_[owner[1:] == owner[:-1], False] & ok_edge[owner])
    a, c = lines.xy[starts], lines.xy[starts + 1]
    xy = chengdu.project(lat, lon)
    ab = c - a
    t = np.clip(np.einsum("pij,ij->pi", xy[:, None, :] - a, ab)
                / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0, 1)
    brute = np.hypot(*(xy[:, None, :] - (a + t[..., None] * ab)).transpose(2, 0, 1)).min(axis=1)
    placed = np.hypot(*(xy - chengdu.project(res.lat, res.lon)).T)
    assert placed == pytest.approx(brute, abs=1e-6)
    # a segment is never farther than a node (every node lies on a segment)
    assert np.all(res.distance_m <= snap_to_node(chengdu, lat, lon).distance_m + 1e-6)


def test_snap_result_take_and_concat(chengdu):
    res = snap(chengdu, [30.66, 30.67, 30.68], [104.06, 104.07, 104.08])
    part = res.take([2, 0])
    assert part.node.tolist() == res.node[[2, 0]].tolist() and len(part) == 2
    both = SnapResult.concat([part, res.take([1])])
    assert both.frac.tolist() == res.frac[[2, 0, 1]].tolist()
    assert len(SnapResult.concat([])) == 0
