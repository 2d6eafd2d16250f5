"""Travel matrices and route paths on the bundled Chengdu network and the tiny fixture.

The CCH engine is held to scipy's Dijkstra on every pair: both add up the arcs' float64 times
and lengths, so they differ by float rounding only (`TIME_TOL_S`, `LENGTH_TOL_M`: a microsecond
and a millimetre). Places on road segments and one-way streets on a hand-built block:
tests/test_places.py; the kernels on random graphs and ties: tests/test_cch.py.

The tiny fixture (tests/data/tiny_network.osm) has n1 = n2 = n3 two-way and n3 -> n5 one-way
(n5 a dead end), so from n5 nothing can be reached.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.geo import cch
from optimizer.geo.matrix import (
    ACCESS_SPEED_KMH,
    WALK_SPEED_KMH,
    UnreachableError,
    route_path,
    route_paths,
    travel_matrices,
)
from optimizer.geo.network import (
    NetworkError,
    at_nodes,
    haversine_m,
    load_network,
    network_to_networkx,
    snap,
    snap_to_node,
)
from optimizer.geo.splice import splice

ENGINES = ["cch", "dijkstra"]
TIME_TOL_S = 1e-6  # float rounding of sums taken in another order
LENGTH_TOL_M = 1e-3

TINY_OSM = Path(__file__).parent / "data" / "tiny_network.osm"


@pytest.fixture(scope="module")
def chengdu(tmp_path_factory):
    return load_network(None, mode="drive", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_network(TINY_OSM, mode="drive", cache_dir=tmp_path_factory.mktemp("tiny"))


def _random_points(net, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = net.bounds
    return rng.uniform(b.min_lat, b.max_lat, n), rng.uniform(b.min_lon, b.max_lon, n)


@pytest.fixture(scope="module")
def points(chengdu):
    """40 random points inside the Chengdu extract, snapped to their nearest node (fixed seed)."""
    return snap_to_node(chengdu, *_random_points(chengdu, 40, 7))


@pytest.fixture(scope="module", params=ENGINES)
def matrices(chengdu, points, request):
    return travel_matrices(chengdu, points, engine=request.param)


@pytest.fixture(scope="module")
def places(chengdu):
    """300 random points inside the Chengdu extract on their nearest road segment."""
    return snap(chengdu, *_random_points(chengdu, 300, 11))


@pytest.fixture(scope="module")
def reference(chengdu, places):
    return travel_matrices(chengdu, places, engine="dijkstra")


def _agree(tm, ref) -> None:
    """`tm` equals the Dijkstra reference `ref` on every pair, to float rounding."""
    assert np.array_equal(np.isfinite(tm.duration_s), np.isfinite(ref.duration_s))
    assert np.array_equal(np.isfinite(tm.distance_m), np.isfinite(ref.duration_s))
    ok = np.isfinite(ref.duration_s)
    assert np.abs(tm.duration_s[ok] - ref.duration_s[ok]).max() <= TIME_TOL_S
    apart = np.abs(tm.distance_m[ok] - ref.distance_m[ok]) > LENGTH_TOL_M
    assert not apart.any(), f"{apart.sum()} pairs of {apart.size} differ in length"


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
        assert matrices.duration_s[i, j] == pytest.approx(
            time_s + matrices.access_s[[*ends]].sum(), abs=TIME_TOL_S)
        # distance is the length of the fastest path (+ access legs)
        assert matrices.distance_m[i, j] == pytest.approx(
            length_m + matrices.access_m[[*ends]].sum(), abs=LENGTH_TOL_M
        )


def test_triangle_inequality_and_crow_flies(matrices, points):
    d = matrices.duration_s
    # fastest times obey the triangle inequality, access legs included
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-6)
    crow = haversine_m(points.lat[:, None], points.lon[:, None], points.lat, points.lon)
    net_m = matrices.distance_m - matrices.access_m[:, None] - matrices.access_m[None, :]
    off = ~np.eye(len(points), dtype=bool)
    assert np.all(net_m[off] >= crow[off] - LENGTH_TOL_M)


def test_access_legs(chengdu, points, matrices):
    bare = travel_matrices(chengdu, points.node)
    assert np.all(bare.access_s == 0)
    speed_mps = ACCESS_SPEED_KMH["drive"] / 3.6
    assert ACCESS_SPEED_KMH["drive"] == WALK_SPEED_KMH == 4.5  # the last metres are walked
    expected = bare.duration_s + (points.distance_m[:, None] + points.distance_m) / speed_mps
    np.fill_diagonal(expected, 0)
    assert np.allclose(matrices.duration_s, expected, atol=TIME_TOL_S)
    # explicit access distances override those of the SnapResult
    walked = travel_matrices(chengdu, points, access_m=np.zeros(len(points)))
    assert np.allclose(walked.duration_s, bare.duration_s)


def test_locations_sharing_a_node(chengdu):
    node = int(np.flatnonzero(chengdu.main_component)[0])
    # two doors 30 m and 60 m from the same junction, plus the junction itself
    tm = travel_matrices(chengdu, at_nodes(chengdu, [node] * 3), access_m=[30.0, 60.0, 0.0])
    assert tm.duration_s[0, 1] == pytest.approx((30 + 60) / (WALK_SPEED_KMH / 3.6), rel=1e-9)
    assert tm.distance_m[0, 2] == pytest.approx(30, rel=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_segment_places_match_networkx_with_the_places_inserted(chengdu, engine):
    """Each place becomes a node of a networkx copy of the network, joined to its edge's ends
    as the road allows (an independent build of what optimizer.geo.splice does)."""
    res = snap(chengdu, *_random_points(chengdu, 12, 3))
    on = res.edge >= 0
    roads = set()
    graph = network_to_networkx(chengdu)
    for i in np.flatnonzero(on).tolist():
        k, f = int(res.edge[i]), float(res.frac[i])
        u, v = int(chengdu.edge_source[k]), int(chengdu.travel_time_s.indices[k])
        roads.add(frozenset((u, v)))
        t, m = graph[u][v]["travel_time"], graph[u][v]["length"]
        graph.add_edge(u, ("x", i), travel_time=f * t, length=f * m)
        graph.add_edge(("x", i), v, travel_time=(1 - f) * t, length=(1 - f) * m)
        r = int(chengdu.edge_twin[k])
        if r >= 0:  # the same road the other way: the place is at 1 - f along it
            t, m = graph[v][u]["travel_time"], graph[v][u]["length"]
            graph.add_edge(v, ("x", i), travel_time=(1 - f) * t, length=(1 - f) * m)
            graph.add_edge(("x", i), u, travel_time=f * t, length=f * m)
    assert len(roads) == on.sum(), "two places share a road: pick another seed"
    tm = travel_matrices(chengdu, res, engine=engine)
    key = [("x", i) if on[i] else int(res.node[i]) for i in range(len(res))]
    for i in range(len(res)):
        times, paths = nx.single_source_dijkstra(graph, key[i], weight="travel_time")
        for j in range(len(res)):
            if i == j:
                continue
            length = sum(graph[a][b]["length"] for a, b in zip(paths[key[j]], paths[key[j]][1:],
                                                                strict=False))
            walk = tm.access_s[i] + tm.access_s[j]
            assert tm.duration_s[i, j] == pytest.approx(times[key[j]] + walk, abs=TIME_TOL_S)
            assert tm.distance_m[i, j] == pytest.approx(
                length + tm.access_m[i] + tm.access_m[j], abs=LENGTH_TOL_M)


def test_cch_equals_dijkstra_on_all_pairs(chengdu, places, reference):
    assert reference.n == 300 and reference.all_reachable
    _agree(travel_matrices(chengdu, places, engine="cch"), reference)
    assert travel_matrices(chengdu, places).distance_m.dtype == np.float64  # auto: CCH


def test_cch_equals_dijkstra_on_random_node_pairs(chengdu):
    rng = np.random.default_rng(5)
    nodes = rng.choice(np.flatnonzero(chengdu.main_component), size=80, replace=False)
    _agree(travel_matrices(chengdu, nodes, engine="cch"),
           travel_matrices(chengdu, nodes, engine="dijkstra"))


def test_a_second_thread_gives_the_same_matrices(chengdu, places, reference):
    """workers=2: two threads share the batches of sources; every row in its place."""
    one = travel_matrices(chengdu, places, engine="cch", workers=1)
    two = travel_matrices(chengdu, places, engine="cch", workers=2)
    assert np.array_equal(one.duration_s, two.duration_s)
    assert np.array_equal(one.distance_m, two.distance_m)
    _agree(two, reference)


def test_rows_in_chunks_equal_dijkstra(chengdu, places, reference):
    """`cch.fill_matrices` in chunks of 100 places (each reported) gives Dijkstra's matrices."""
    graph = splice(chengdu, places, chengdu.travel_time_s.data)
    order = np.concatenate([np.arange(graph.n_real, graph.n_nodes), chengdu.node_order])
    dur, dist = np.full((2, reference.n, reference.n), np.nan)
    done: list[int] = []
    cch.fill_matrices(graph.n_nodes, graph.tail, graph.head, graph.time_s, graph.length_m,
                      order, graph.loc_node, access_s=reference.access_s,
                      access_m=reference.access_m, duration=dur, distance=dist, chunk=100,
                      advance=done.append)
    n_nodes = np.unique(graph.loc_node).size
    assert done == [100] * (n_nodes // 100) + [n_nodes % 100] * bool(n_nodes % 100)
    np.fill_diagonal(dur, 0.0)
    np.fill_diagonal(dist, 0.0)
    _agree(replace(reference, duration_s=dur, distance_m=dist), reference)


def test_workers_out_of_range_are_named(chengdu, points):
    with pytest.raises(NetworkError, match=r"workers=3: the CCH matrix uses 1 or 2 threads"):
        travel_matrices(chengdu, points, workers=3)


def test_edge_duration_s_reweights_both_engines(chengdu, places):
    """One call with other edge times equals both engines on a network carrying those times."""
    rng = np.random.default_rng(9)
    times = chengdu.travel_time_s.data * rng.uniform(0.5, 2.5, chengdu.n_edges)
    t = chengdu.travel_time_s
    reweighted = replace(chengdu, travel_time_s=sp.csr_matrix((times, t.indices, t.indptr),
                                                              shape=t.shape))
    ref = travel_matrices(reweighted, places, engine="dijkstra")
    same = travel_matrices(chengdu, places, engine="dijkstra", edge_duration_s=times)
    assert np.array_equal(same.duration_s, ref.duration_s)
    assert np.array_equal(same.distance_m, ref.distance_m)
    _agree(travel_matrices(chengdu, places, engine="cch", edge_duration_s=times), ref)
    # and they differ from the network's own times
    base = travel_matrices(chengdu, places, engine="cch")
    assert np.abs(base.duration_s - ref.duration_s).max() > 60


@pytest.mark.parametrize(("times", "message"), [
    (np.ones(3), r"one time per edge of the network \(5930\), got shape \(3,\)"),
    ("zeros", r"finite seconds > 0: 5930 edge\(s\) are not, e.g. edge 0 = np.float64\(0.0\)"),
    ("inf", r"finite seconds > 0: 1 edge\(s\) are not, e.g. edge 0 = np.float64\(inf\)"),
])
def test_edge_duration_s_is_checked(chengdu, places, times, message):
    if isinstance(times, str) and times == "zeros":
        times = np.zeros(chengdu.n_edges)
    elif isinstance(times, str):  # a closed road is left out of the network, not timed inf
        times = chengdu.travel_time_s.data.copy()
        times[0] = np.inf
    with pytest.raises(NetworkError, match=message):
        travel_matrices(chengdu, places, edge_duration_s=times)


def test_unknown_engine_is_named(chengdu, points):
    with pytest.raises(NetworkError, match="unknown matrix engine 'osrm'"):
        travel_matrices(chengdu, points, engine="osrm")


def test_speed_factor_scales_durations(chengdu, points, matrices, tmp_path):
    slow_net = load_network(None, mode="drive", speed_factor=0.5, cache_dir=tmp_path)
    slow = travel_matrices(slow_net, points, engine="dijkstra")
    bare = matrices.duration_s - matrices.access_s[:, None] - matrices.access_s[None, :]
    slow_bare = slow.duration_s - slow.access_s[:, None] - slow.access_s[None, :]
    off = ~np.eye(len(points), dtype=bool)
    assert np.allclose(slow_bare[off], 2 * bare[off], atol=2 * TIME_TOL_S)
    assert np.allclose(slow.distance_m, matrices.distance_m, atol=LENGTH_TOL_M)


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
    assert tm.distance_m[0, 1] == pytest.approx(3 * leg_m, abs=LENGTH_TOL_M)
    assert tm.duration_s[0, 1] == pytest.approx(3 * leg_m / (15 / 3.6), abs=TIME_TOL_S)


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
    assert drawn_m == pytest.approx(legs_m, abs=11 * LENGTH_TOL_M)
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


def test_access_speed_is_walking(tmp_path):
    walk = load_network(TINY_OSM, mode="walk", cache_dir=tmp_path)
    res = snap_to_node(walk, [30.7003, 30.7000], [104.0510, 104.0530])  # 33.4 m north of n2; n5
    tm = travel_matrices(walk, res)
    leg_m = float(haversine_m(30.7, 104.051, 30.7, 104.053))  # n2 -> n3 -> n5 on foot
    expected_s = (leg_m + res.distance_m[0]) / (ACCESS_SPEED_KMH["walk"] / 3.6)
    assert res.distance_m[0] == pytest.approx(33.4, abs=0.1)
    assert tm.duration_s[0, 1] == pytest.approx(expected_s)
    faster = travel_matrices(walk, res, access_speed_kmh=9.0)
    assert faster.duration_s[0, 1] == pytest.approx(expected_s - res.distance_m[0] / 2.5)


@pytest.mark.parametrize("engine", ENGINES)
def test_edge_times_of_a_call_replace_the_networks(chengdu, points, engine):
    """Twice the edge times: twice the road part of every trip, the same paths and access legs
    (to the CCH's resolution: it adds up edge times in whole milliseconds)."""
    base = travel_matrices(chengdu, points, engine=engine)
    slow = travel_matrices(chengdu, points, edge_duration_s=2 * chengdu.travel_time_s.data,
                           engine=engine)
    access = base.access_s[:, None] + base.access_s[None, :]
    off = ~np.eye(base.n, dtype=bool)
    road, slow_road = base.duration_s[off] - access[off], slow.duration_s[off] - access[off]
    assert np.abs(slow_road - 2 * road).max() < 0.2
    assert np.allclose(slow.distance_m, base.distance_m)
    # the network itself is unchanged
    assert np.array_equal(travel_matrices(chengdu, points, engine=engine).duration_s,
                          base.duration_s)


@pytest.mark.parametrize("bad", [np.ones(3), "zeros", "nan"])
def test_edge_times_must_fit_the_network(chengdu, points, bad):
    if isinstance(bad, str):
        bad = np.full(chengdu.n_edges, 0.0 if bad == "zeros" else np.nan)
    with pytest.raises(NetworkError, match="edge_duration_s must"):
        travel_matrices(chengdu, points, edge_duration_s=bad)
