"""Travel matrices and route paths on the bundled Chengdu network and the tiny fixture.

The tiny fixture (tests/data/tiny_network.osm) has n1 = n2 = n3 two-way and n3 -> n5 one-way
(n5 a dead end), so from n5 nothing can be reached.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from optimizer.geo.matrix import (
    ACCESS_SPEED_KMH,
    UnreachableError,
    route_path,
    route_paths,
    travel_matrices,
)
from optimizer.geo.network import (
    NetworkError,
    haversine_m,
    load_network,
    network_to_networkx,
    snap,
)

TINY_OSM = Path(__file__).parent / "data" / "tiny_network.osm"


@pytest.fixture(scope="module")
def chengdu(tmp_path_factory):
    return load_network(None, mode="drive", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_network(TINY_OSM, mode="drive", cache_dir=tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def points(chengdu):
    """40 random points inside the Chengdu extract, snapped (fixed seed)."""
    rng = np.random.default_rng(7)
    b = chengdu.bounds
    lat = rng.uniform(b.min_lat, b.max_lat, 40)
    lon = rng.uniform(b.min_lon, b.max_lon, 40)
    return snap(chengdu, lat, lon)


@pytest.fixture(scope="module")
def matrices(chengdu, points):
    return travel_matrices(chengdu, points)


def _node(net, osmid: int) -> int:
    return int(np.flatnonzero(net.node_osmid == osmid)[0])


def test_shape_diagonal_and_finite(matrices, points):
    n = len(points)
    assert matrices.duration_s.shape == matrices.distance_m.shape == (n, n)
    assert np.all(np.diag(matrices.duration_s) == 0) and np.all(np.diag(matrices.distance_m) == 0)
    assert matrices.all_reachable and matrices.unreachable_pairs.shape == (0, 2)
    off = ~np.eye(n, dtype=bool)
    assert np.all(np.isfinite(matrices.duration_s)) and np.all(matrices.duration_s[off] > 0)


def test_matches_networkx(chengdu, points, matrices):
    graph = network_to_networkx(chengdu)
    rng = np.random.default_rng(1)
    for i, j in rng.integers(0, len(points), size=(8, 2)):
        if i == j:
            continue
        a, b = int(points.node[i]), int(points.node[j])
        path = nx.shortest_path(graph, a, b, weight="travel_time")
        time_s = sum(graph[u][v]["travel_time"] for u, v in zip(path, path[1:], strict=False))
        length_m = sum(graph[u][v]["length"] for u, v in zip(path, path[1:], strict=False))
        ends = (i, j)
        assert matrices.duration_s[i, j] == pytest.approx(time_s + matrices.access_s[[*ends]].sum())
        # distance is the length of the fastest path (+ access legs)
        assert matrices.distance_m[i, j] == pytest.approx(
            length_m + matrices.access_m[[*ends]].sum()
        )


def test_triangle_inequality_and_crow_flies(matrices, points):
    d = matrices.duration_s
    # fastest times obey the triangle inequality, access legs included
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-6)
    crow = haversine_m(points.lat[:, None], points.lon[:, None], points.lat, points.lon)
    net_m = matrices.distance_m - matrices.access_m[:, None] - matrices.access_m[None, :]
    off = ~np.eye(len(points), dtype=bool)
    assert np.all(net_m[off] >= crow[off] - 1e-6)


def test_access_legs(chengdu, points, matrices):
    bare = travel_matrices(chengdu, points.node)
    assert np.all(bare.access_s == 0)
    speed_mps = ACCESS_SPEED_KMH["drive"] / 3.6
    expected = bare.duration_s + (points.distance_m[:, None] + points.distance_m) / speed_mps
    np.fill_diagonal(expected, 0)
    assert np.allclose(matrices.duration_s, expected)
    # explicit access distances override those of the SnapResult
    walked = travel_matrices(chengdu, points, access_m=np.zeros(len(points)))
    assert np.allclose(walked.duration_s, bare.duration_s)


def test_locations_sharing_a_node(chengdu):
    node = int(np.flatnonzero(chengdu.main_component)[0])
    lat, lon = chengdu.node_lat[node], chengdu.node_lon[node]
    # two doors 30 m and 60 m north of the same junction, plus the junction itself
    res = snap(chengdu, [lat + 30 / 111_195, lat + 60 / 111_195, lat], [lon, lon, lon])
    if len(set(res.node.tolist())) != 1:
        pytest.skip("another node lies within 60 m of this one")
    tm = travel_matrices(chengdu, res)
    assert tm.duration_s[0, 1] == pytest.approx(
        (30 + 60) / (ACCESS_SPEED_KMH["drive"] / 3.6), rel=1e-3
    )
    assert tm.distance_m[0, 2] == pytest.approx(30, rel=1e-3)


def test_speed_factor_scales_durations(chengdu, points, matrices, tmp_path):
    slow_net = load_network(None, mode="drive", speed_factor=0.5, cache_dir=tmp_path)
    slow = travel_matrices(slow_net, points)
    bare = matrices.duration_s - matrices.access_s[:, None] - matrices.access_s[None, :]
    slow_bare = slow.duration_s - slow.access_s[:, None] - slow.access_s[None, :]
    off = ~np.eye(len(points), dtype=bool)
    assert np.allclose(slow_bare[off], 2 * bare[off])
    assert np.allclose(slow.distance_m, matrices.distance_m)


def test_progress_reports_every_source(chengdu, points):
    steps = []

    class Recorder:
        from contextlib import contextmanager

        @contextmanager
        def step(self, description, total=None):
            done = []
            yield lambda n=1: done.append(n)
            steps.append((description, total, sum(done)))

    travel_matrices(chengdu, points, progress=Recorder())
    n_sources = len(set(points.node.tolist()))
    assert steps == [("Travel matrix", n_sources, n_sources)]


def test_unreachable_pairs_on_tiny_graph(tiny):
    n1, n3, n5 = _node(tiny, 1), _node(tiny, 3), _node(tiny, 5)
    tm = travel_matrices(tiny, [n1, n5, n3])
    # n5 is a one-way dead end: reachable from n1 and n3, but it reaches nothing
    assert np.isfinite(tm.duration_s[0, 1]) and np.isfinite(tm.duration_s[2, 1])
    assert np.isinf(tm.duration_s[1, 0]) and np.isinf(tm.duration_s[1, 2])
    assert np.isinf(tm.distance_m[1, 0])
    assert sorted(map(tuple, tm.unreachable_pairs.tolist())) == [(1, 0), (1, 2)]
    assert not tm.all_reachable
    assert tm.unreachable_locations() == (1,)
    # n1 -> n5: 3 x 95.6 m of residential street at 15 km/h
    leg_m = float(haversine_m(30.7, 104.050, 30.7, 104.051))
    assert tm.distance_m[0, 1] == pytest.approx(3 * leg_m)
    assert tm.duration_s[0, 1] == pytest.approx(3 * leg_m / (15 / 3.6))


def test_unreachable_locations_greedy_prefers_later_index(tiny):
    n1, n6 = _node(tiny, 1), _node(tiny, 6)
    tm = travel_matrices(tiny, [n1, n6])  # two fragments: each pair unreachable both ways
    assert tm.unreachable_locations() == (1,)


def test_route_path_follows_roads(chengdu, points, matrices):
    stops = points.node[:12]
    line = route_path(chengdu, stops)
    lat, lon = np.array(line).T
    assert (lat[0], lon[0]) == (chengdu.node_lat[stops[0]], chengdu.node_lon[stops[0]])
    assert (lat[-1], lon[-1]) == (chengdu.node_lat[stops[-1]], chengdu.node_lon[stops[-1]])
    # the line is continuous: its length equals the road distance of the legs
    drawn_m = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum()
    legs_m = sum(
        matrices.distance_m[i, i + 1] - matrices.access_m[i] - matrices.access_m[i + 1]
        for i in range(11)
    )
    assert drawn_m == pytest.approx(legs_m, rel=1e-9)
    # every stop is on the line
    on_line = set(zip(lat.tolist(), lon.tolist(), strict=True))
    assert all((chengdu.node_lat[s], chengdu.node_lon[s]) in on_line for s in stops)


def test_route_paths_batch_equals_single(chengdu, points):
    seqs = [points.node[:5], points.node[5:9], points.node[9:10], points.node[:0]]
    batch = route_paths(chengdu, seqs)
    assert batch[:3] == [route_path(chengdu, s) for s in seqs[:3]]
    assert len(batch[2]) == 1 and batch[3] == []


def test_route_path_unreachable_raises(tiny):
    n1, n5 = _node(tiny, 1), _node(tiny, 5)
    assert len(route_path(tiny, [n1, n5])) == 4  # n1, n2, n3, n5
    with pytest.raises(UnreachableError, match="no drive path from node"):
        route_path(tiny, [n1, n5, n1])


def test_bad_nodes_are_named(tiny):
    with pytest.raises(NetworkError, match="out of range 0..8 at positions 1, 2"):
        travel_matrices(tiny, [0, -1, 99])
    with pytest.raises(NetworkError, match="access_m must hold 2"):
        travel_matrices(tiny, [0, 1], access_m=[1.0])


def test_access_speed_follows_mode(tmp_path):
    walk = load_network(TINY_OSM, mode="walk", cache_dir=tmp_path)
    res = snap(walk, [30.7003, 30.7000], [104.0510, 104.0530])  # 33.4 m north of n2; at n5
    tm = travel_matrices(walk, res)
    leg_m = float(haversine_m(30.7, 104.051, 30.7, 104.053))  # n2 -> n3 -> n5 on foot
    expected_s = (leg_m + res.distance_m[0]) / (ACCESS_SPEED_KMH["walk"] / 3.6)
    assert res.distance_m[0] == pytest.approx(33.4, abs=0.1)
    assert tm.duration_s[0, 1] == pytest.approx(expected_s)
    faster = travel_matrices(walk, res, access_speed_kmh=9.0)
    assert faster.duration_s[0, 1] == pytest.approx(expected_s - res.distance_m[0] / 2.5)
