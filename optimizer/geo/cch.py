"""Customizable contraction hierarchies (CCH): the fast engine of the travel matrices.

A CCH answers shortest-path queries on a road graph in three phases (Dibbelt, Strasser and
Wagner, "Customizable Contraction Hierarchies", 2016): a **node order** that depends only on the
graph's shape (computed once per network and cached with it, `node_order`: RoutingKit's
inertial-flow nested dissection, through the ``routingkit-cch`` wheel, which this module alone
imports), a **customisation** that puts one set of arc weights on the hierarchy, and the
**queries**. `matrices` answers a whole table at once with its own compiled kernels
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
4. **the rows**: a batch of sources climbs its elimination-tree paths (the upward searches),
   then one pass over the sweep graph carries the whole batch down at once (a vector of
   `BATCH` sources per node, so the inner loop is one compiled vector operation); batches run
   on several threads.

Weights are float64 seconds and metres, the arcs' own values, so a path's time is the sum of
its arcs' times as Dijkstra's is (the two differ by float rounding, 1e-11 s). The order of two
paths is by time, then by length: the length reported is that of a fastest path, of the
shortest one where two are exactly as fast. Scipy's compiled Dijkstra (`optimizer.geo.matrix`)
stays the fallback when the wheel or numba is missing, and the reference in the tests.

Why this and not RoutingKit's own queries: its one-to-many query answers one source per sweep
over the same sweep graph, and hands every row over as a Python list (on greater Porto 0.6 ms a
row to 2,000 places, 1.6 ms to 10,000, plus 0.5 ms to convert a row); it holds 32-bit integer
weights, so a time and a length need two sweeps (or one packed weight, which trades a
millisecond for a dozen metres and so reports wrong lengths for 0.1 % of the pairs). The
kernels here do both in one sweep of 64 sources and write numpy rows: 0.1-0.3 s for 2,000 x
2,000 and 3 s for 10,000 x 10,000 on two threads (README, "Measured").
"""

from __future__ import annotations

import logging
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Sources per sweep (`matrices`): the inner loop's vector length
BATCH = 64


def _routingkit() -> Any:
    # optional at run time: without the wheel the matrices come from scipy's Dijkstra
    import routingkit_cch

    return routingkit_cch


def available() -> bool:
    """True if the CCH engine can run: the ``routingkit-cch`` wheel (the node order) imports
    and numba (the kernels of `matrices`) is installed."""
    try:
        _routingkit()
    except ImportError:
        return False
    return importlib.util.find_spec("numba") is not None


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
    if not available():
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




@dataclass(frozen=True, eq=False)
class Rows:
    """One chunk of matrix rows from `matrices`.

    Attributes
    ----------
    start : int
        Position of the first row among the sources.
    duration_s, distance_m : np.ndarray
        Shape (rows, targets), float64: the time (seconds) and length (metres) of a fastest
        path; ``np.inf`` in both where unreachable.
    """

    start: int
    duration_s: np.ndarray
    distance_m: np.ndarray


def matrices(n_nodes: int, tail: np.ndarray, head: np.ndarray, time_s: np.ndarray,
             length_m: np.ndarray, order: np.ndarray, nodes: np.ndarray, *,
             chunk: int = 256, threads: int = 1) -> Iterator[Rows]:
    """Times and lengths of the fastest paths between all pairs of `nodes`, row chunk by chunk.

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
    nodes : np.ndarray
        The sources, also the targets, in this order.
    chunk : int, default 256
        Rows per yielded `Rows`.
    threads : int, default 1
        Threads sharing each chunk's batches of `BATCH` sources.

    Yields
    ------
    Rows
        Consecutive chunks of rows, in the order of `nodes`.
    """
    from optimizer.geo import _cch_kernels as kernels  # numba: 0.25 s to import

    nodes = np.asarray(nodes, dtype=np.int64)
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
    target_pos = pos[sources]
    for start in range(0, sources.shape[0], chunk):
        part = sources[start : start + chunk]
        out_t = np.empty((part.shape[0], sources.shape[0]))
        out_l = np.empty_like(out_t)
        kernels.rows_threaded(up_first, up_head, parent, up_t, up_l, pos, first, upper, w_t,
                              w_l, part, target_pos, out_t, out_l, batch=BATCH,
                              threads=threads)
        yield Rows(start, out_t, out_l)
