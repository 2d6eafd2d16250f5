"""Customizable contraction hierarchies (CCH): the fast engine of the travel matrices.

A CCH answers shortest-path queries on a road graph in three phases (Dibbelt, Strasser and
Wagner, "Customizable Contraction Hierarchies", 2016): a **node order** that depends only on the
graph's shape (computed once per network and cached with it, `node_order`: RoutingKit's
inertial-flow nested dissection, through the ``routingkit-cch`` wheel, which this module alone
imports), a **customisation** that puts one set of arc weights on the hierarchy, and the
**queries**. `fill_matrices` answers a whole table at once with its own compiled kernels
(`optimizer.geo._cch_kernels`, numba), in four steps on the day's graph:

1. **the hierarchy**: the chordal supergraph of the graph under the order (the elimination
   game: contracting a node joins all its upper neighbours), as each node's sorted upward
   neighbours, and the elimination tree (each node's lowest upper neighbour). 15 ms on greater
   Porto (52,000 nodes with the day's places, 250,000 hierarchy arcs), so it is built per call
   and not cached: the order is all the cache keeps;
2. **the customisation**: every hierarchy arc gets the time and length of the best path
   through lower nodes, in both directions, lowest node first over the lower triangles
   (20 ms there);
3. **the sweep graph**: the ancestors of the day's places in the elimination tree, highest
   first: a source's path to any place goes up its own ancestors and down through that
   place's, so the rows never look at the rest (on greater Porto 15,000 nodes for 2,000 places,
   38,000 for 10,000);
4. **the rows**: a batch of `BATCH` sources climbs its elimination-tree paths (the upward
   searches), then one pass over the sweep graph carries the whole batch down at once (a
   vector of sources per node: the inner loop is one compiled vector operation), and the
   batch's rows go straight into the caller's matrices, access legs added; batches run on one
   or two threads, each thread taking the next batch when it is free.

Weights are float64 seconds and metres, the arcs' own values, so a path's time is the sum of
its arcs' times as Dijkstra's is (the two differ by float rounding, 1e-11 s). The order of two
paths is by time, then by length: the length reported is that of a fastest path, of the
shortest one where two are exactly as fast. Scipy's compiled Dijkstra (`optimizer.geo.matrix`)
stays the fallback when the wheel or numba is missing, and the reference in the tests.

Why this and not RoutingKit's own queries (what this engine used before): its one-to-many query
sweeps the same part of the hierarchy for one source at a time and hands every row over as a
Python list (on greater Porto 0.6 ms a row to 2,000 places and 1.6 ms to 10,000, plus 0.06 and
0.5 ms to convert the row); its weights are 32-bit integers, so a time and a length took two
sweeps, one of them on times packed with lengths, which trades a millisecond for a dozen
metres and so reported lengths up to a kilometre off for 0.1 % of the pairs. The kernels here
sweep 64 sources at once for both and fill the matrices in place: about 0.3 s of CPU for
2,000 x 2,000 and 3.3 s for 10,000 x 10,000 on greater Porto (README, "Measured"). The
first call after an install compiles them (numba, ``cache=True``: once, then read from
``__pycache__``).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Sources per sweep (`fill_matrices`): the inner loop's vector length (32 to 128 cost about the
#: same on greater Porto; 16 a third more)
BATCH = 64


def _routingkit() -> Any:
    # optional at run time: without the wheel the matrices come from scipy's Dijkstra
    import routingkit_cch

    return routingkit_cch


def _wheel() -> bool:
    try:
        _routingkit()
    except ImportError:
        return False
    return True


def available() -> bool:
    """True if the CCH engine can run: the ``routingkit-cch`` wheel (the node order) imports
    and numba (the kernels of `fill_matrices`) is installed."""
    return _wheel() and importlib.util.find_spec("numba") is not None


def node_order(n_nodes: int, tail: np.ndarray, head: np.ndarray, lat: np.ndarray,
               lon: np.ndarray) -> np.ndarray:
    """The CCH node order of a graph (RoutingKit's inertial-flow nested dissection).

    Parameters
    ----------
    n_nodes : int
    tail, head : np.ndarray
        From- and to-node of every arc.
    lat, lon : np.ndarray
        Node coordinates, WGS-84 degrees (the separators are cut geometrically).

    Returns
    -------
    np.ndarray
        int32 permutation of the nodes, least important first; empty if ``routingkit-cch`` is
        not installed (then the matrices use Dijkstra).
    """
    if not _wheel():
        logger.info("routingkit-cch is not installed: no CCH node order, matrices by Dijkstra")
        return np.zeros(0, dtype=np.int32)
    if n_nodes == 0:
        return np.zeros(0, dtype=np.int32)
    rk = _routingkit()
    order = rk.compute_order_inertial(
        int(n_nodes), np.asarray(tail, dtype=np.int64), np.asarray(head, dtype=np.int64),
        np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
    return np.asarray(order, dtype=np.int32)


def is_order(order: np.ndarray, n_nodes: int) -> bool:
    """True if `order` is a permutation of ``0 .. n_nodes - 1``."""
    if order.ndim != 1 or order.shape[0] != n_nodes:
        return False
    if n_nodes == 0:
        return True
    if order.min() < 0 or order.max() >= n_nodes:
        return False
    return bool(np.all(np.bincount(order, minlength=n_nodes) == 1))




def fill_matrices(n_nodes: int, tail: np.ndarray, head: np.ndarray, time_s: np.ndarray,
                  length_m: np.ndarray, order: np.ndarray, loc_node: np.ndarray, *,
                  access_s: np.ndarray, access_m: np.ndarray, duration: np.ndarray,
                  distance: np.ndarray, threads: int = 1, chunk: int = 512,
                  advance: Callable[[int], object] | None = None) -> None:
    """Fill the travel matrices between locations with the fastest paths between their nodes.

    ``duration[i, j]`` becomes the time of the fastest path from ``loc_node[i]`` to
    ``loc_node[j]`` plus ``access_s[i] + access_s[j]``, ``distance[i, j]`` its length plus
    ``access_m[i] + access_m[j]``; both ``np.inf`` where there is no path (the diagonal too
    gets the access legs: the caller sets it).

    Parameters
    ----------
    n_nodes : int
        Nodes of the graph.
    tail, head : np.ndarray
        From- and to-node of every arc (parallel arcs are fine: the faster counts).
    time_s, length_m : np.ndarray
        Travel time (seconds) and length (metres) of every arc, finite and >= 0.
    order : np.ndarray
        Node order of this graph (`node_order`, or one extended with nodes ranked first).
    loc_node : np.ndarray
        The node of each location (several may share one).
    access_s, access_m : np.ndarray
        Added at both ends of every pair, seconds and metres, one per location.
    duration, distance : np.ndarray
        Shape (locations, locations), float64 or float32: filled in place.
    threads : int, default 1
        Threads sharing the batches of `BATCH` sources.
    chunk : int, default 512
        Distinct nodes per call of the kernel (and per `advance`).
    advance : callable, optional
        Called with the number of distinct nodes whose rows are done, after each chunk.
    """
    from optimizer.geo import _cch_kernels as kernels  # numba: 0.25 s to import

    nodes, inverse = np.unique(np.asarray(loc_node, dtype=np.int64), return_inverse=True)
    inverse = inverse.reshape(-1)
    rank = np.empty(n_nodes, dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(n_nodes, dtype=np.int64)
    tail_r = rank[np.asarray(tail, dtype=np.int64)]
    head_r = rank[np.asarray(head, dtype=np.int64)]
    up_first, up_head, parent = kernels.topology(n_nodes, tail_r, head_r)
    up_t, up_l, dn_t, dn_l = kernels.customise(
        up_first, up_head, tail_r, head_r, np.asarray(time_s, dtype=np.float64),
        np.asarray(length_m, dtype=np.float64))
    sources = rank[nodes]
    pos, first, upper, w_t, w_l = kernels.sweep_graph(up_first, up_head, parent, dn_t, dn_l,
                                                      sources)
    # the locations of each distinct node, as consecutive runs
    by_node = np.argsort(inverse, kind="stable").astype(np.int64)
    row_first = np.searchsorted(inverse[by_node], np.arange(nodes.size + 1)).astype(np.int64)
    col_pos = pos[sources][inverse]
    threads = max(1, int(threads))
    d_t = np.empty((threads, first.size - 1, BATCH))
    d_l = np.empty_like(d_t)
    stamp = np.full((threads, first.size - 1), -1, dtype=np.int64)
    add_s = np.asarray(access_s, dtype=np.float64)
    add_m = np.asarray(access_m, dtype=np.float64)
    for start in range(0, nodes.size, chunk):
        stop = min(start + chunk, nodes.size)
        kernels.fill_rows_threaded(
            up_first, up_head, parent, up_t, up_l, pos, first, upper, w_t, w_l,
            sources[start:stop], row_first[start : stop + 1] , by_node, col_pos, add_s, add_m,
            duration, distance, d_t, d_l, stamp, start, threads=threads)
        if advance is not None:
            advance(stop - start)
