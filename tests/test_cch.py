"""The CCH kernels (`optimizer.geo.cch.matrices`) against independent shortest paths.

Small random directed graphs under random node orders (any permutation is a valid order; a bad
one makes a dense hierarchy, which exercises the triangles the customisation walks), held to a
plain heap Dijkstra written here that orders paths by (time, length), as the engine does: with
integer times and lengths every sum is exact, so ties are real and the shorter of two equally
fast paths must be the one reported. Float weights are held to scipy's Dijkstra. The road
network tests (bundled extract, random pairs, places on segments, one-way streets) are in
tests/test_matrix.py and tests/test_places.py.
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from optimizer.geo import cch

pytestmark = pytest.mark.skipif(not cch.available(), reason="routingkit-cch or numba missing")


def _lexicographic(n, tail, head, time_s, length_m, source):
    """(time, length) of the best path from `source` to every node; (inf, inf) unreached."""
    best = [(np.inf, np.inf)] * n
    best[source] = (0.0, 0.0)
    out = [[] for _ in range(n)]
    for a, b, t, le in zip(tail.tolist(), head.tolist(), time_s.tolist(), length_m.tolist(),
                           strict=True):
        out[a].append((b, t, le))
    heap = [(0.0, 0.0, source)]
    while heap:
        t, le, v = heapq.heappop(heap)
        if (t, le) > best[v]:
            continue
        for w, dt, dl in out[v]:
            cand = (t + dt, le + dl)
            if cand < best[w]:
                best[w] = cand
                heapq.heappush(heap, (*cand, w))
    return np.array(best)


def _random_graph(rng, n, m, *, integer):
    tail = rng.integers(0, n, m)
    head = rng.integers(0, n, m)
    if integer:  # few distinct values: many equally fast paths
        return tail, head, rng.integers(1, 4, m).astype(float), rng.integers(1, 50, m) * 1.0
    return tail, head, rng.uniform(0.5, 60.0, m), rng.uniform(1.0, 800.0, m)


def _table(n, tail, head, time_s, length_m, order, nodes, *, dtype=float, **kw):
    """The table between `nodes` (no access legs); `advance` hears of every distinct node."""
    dur = np.full((len(nodes),) * 2, np.nan, dtype=dtype)
    dist = np.full_like(dur, np.nan)
    done: list[int] = []
    cch.fill_matrices(n, tail, head, time_s, length_m, order, nodes, access_s=np.zeros(len(nodes)),
                      access_m=np.zeros(len(nodes)), duration=dur, distance=dist,
                      advance=done.append, **kw)
    assert sum(done) == len(set(np.asarray(nodes).tolist()))
    return dur, dist


@pytest.mark.parametrize("seed", range(6))
def test_ties_give_the_shortest_of_the_fastest_paths(seed):
    rng = np.random.default_rng(seed)
    n = 60
    tail, head, time_s, length_m = _random_graph(rng, n, 150, integer=True)
    nodes = rng.choice(n, size=25, replace=False)
    dur, dist = _table(n, tail, head, time_s, length_m, rng.permutation(n), nodes, chunk=7)
    for i, s in enumerate(nodes.tolist()):
        want = _lexicographic(n, tail, head, time_s, length_m, s)[nodes]
        assert np.array_equal(dur[i], want[:, 0]), f"times from node {s}"
        assert np.array_equal(dist[i], want[:, 1]), f"lengths from node {s}"


@pytest.mark.parametrize("seed", range(4))
def test_float_times_equal_scipy_dijkstra(seed):
    rng = np.random.default_rng(100 + seed)
    n = 300
    tail, head, time_s, length_m = _random_graph(rng, n, 900, integer=False)
    nodes = rng.choice(n, size=120, replace=False)
    dur, dist = _table(n, tail, head, time_s, length_m, rng.permutation(n), nodes)
    # scipy sums parallel arcs of a COO matrix: the reference gets the faster of each pair
    fastest: dict[tuple[int, int], tuple[float, float]] = {}
    for a, b, t, le in zip(tail.tolist(), head.tolist(), time_s.tolist(), length_m.tolist(),
                           strict=True):
        if a != b and (t, le) < fastest.get((a, b), (np.inf, np.inf)):
            fastest[(a, b)] = (t, le)
    pairs = np.array(list(fastest), dtype=np.int64)
    t = [fastest[k][0] for k in fastest]
    graph = sp.csr_matrix((t, (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    ref = dijkstra(graph, directed=True, indices=nodes)
    assert np.array_equal(np.isinf(dur), np.isinf(ref[:, nodes]))
    ok = np.isfinite(dur)
    assert np.abs(dur[ok] - ref[:, nodes][ok]).max() < 1e-9
    assert np.array_equal(np.isinf(dist), np.isinf(dur))  # a length exactly where a time
    for i, s in enumerate(nodes[:10].tolist()):  # and it is the length of that fastest path
        want = _lexicographic(n, tail, head, time_s, length_m, s)[nodes]
        assert np.allclose(dist[i], want[:, 1], rtol=1e-12, equal_nan=True)


def test_one_way_street_and_a_dead_end():
    # 0 <-> 1 <-> 2 two-way (10 s, 100 m each way), 2 -> 3 one-way (5 s, 40 m), 3 a dead end;
    # the one-way 0 -> 2 (30 s, 50 m) is slower than the way through 1 and not taken
    tail = np.array([0, 1, 1, 2, 2, 0])
    head = np.array([1, 0, 2, 1, 3, 2])
    time_s = np.array([10.0, 10.0, 10.0, 10.0, 5.0, 30.0])
    length_m = np.array([100.0, 100.0, 100.0, 100.0, 40.0, 50.0])
    nodes = np.array([3, 0, 2])
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]):
        dur, dist = _table(4, tail, head, time_s, length_m, np.array(order), nodes, threads=2)
        inf = np.inf
        assert dur.tolist() == [[0, inf, inf], [25, 0, 20], [5, 20, 0]], order
        assert dist.tolist() == [[0, inf, inf], [240, 0, 200], [40, 200, 0]], order


def test_two_threads_and_any_chunk_give_the_same_table():
    rng = np.random.default_rng(7)
    n = 400
    tail, head, time_s, length_m = _random_graph(rng, n, 1400, integer=False)
    nodes = rng.choice(n, size=200, replace=False)
    order = rng.permutation(n)
    one = _table(n, tail, head, time_s, length_m, order, nodes, chunk=256, threads=1)
    # more sources than one batch, a chunk that splits batches
    two = _table(n, tail, head, time_s, length_m, order, nodes, chunk=cch.BATCH + 3, threads=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_locations_sharing_nodes_get_their_own_access_legs(dtype):
    rng = np.random.default_rng(3)
    n = 120
    tail, head, time_s, length_m = _random_graph(rng, n, 400, integer=False)
    order = rng.permutation(n)
    nodes = rng.choice(n, size=30, replace=False)
    base_t, base_l = _table(n, tail, head, time_s, length_m, order, nodes)
    pick = rng.integers(0, nodes.size, 70)  # most nodes twice or more, in no order
    acc_s, acc_m = rng.uniform(0, 90, pick.size), rng.uniform(0, 100, pick.size)
    dur = np.empty((pick.size,) * 2, dtype=dtype)
    dist = np.empty_like(dur)
    cch.fill_matrices(n, tail, head, time_s, length_m, order, nodes[pick], access_s=acc_s,
                      access_m=acc_m, duration=dur, distance=dist, chunk=4, threads=2)
    want_t = base_t[np.ix_(pick, pick)] + acc_s[:, None] + acc_s[None, :]
    want_l = base_l[np.ix_(pick, pick)] + acc_m[:, None] + acc_m[None, :]
    assert np.array_equal(dur, want_t.astype(dtype))
    assert np.array_equal(dist, want_l.astype(dtype))
