"""Customizable contraction hierarchies (CCH): the fast engine of the travel matrices.

A CCH answers shortest-path queries on a road graph in three phases (Dibbelt, Strasser and
Wagner, "Customizable Contraction Hierarchies", 2016): a **node order** that depends only on the
graph's shape (computed once per network and cached with it, `node_order`), a **customisation**
that puts one set of edge weights on the hierarchy (milliseconds: a time band, a speed factor, the
day's travel times), and the **queries**. One row of a matrix is one query from a source to all
pinned targets. The implementation is RoutingKit's, through the ``routingkit-cch`` wheel
(`routingkit_cch`), which this module alone imports.

Why RoutingKit's CCH (candidates that install from the package index here, on greater Porto,
50,842 junctions): ``routingkit-cch`` has one-to-many queries with pinned targets and cheap
re-customisation (1.3 s node order, 14 ms customisation, 0.5 ms a row of 2,000 targets: single
earlier measurements, README "Measured" has medians); ``ch-router`` (RoutingKit's plain CH)
and ``pandana`` (a CH) answer one pair per query and re-contract the whole graph for new
weights; ``osrm-bindings`` ships only as source that needs
OSRM's C++ toolchain, and OSRM and Valhalla (``pyvalhalla``) bring their own road model instead
of answering on ours; ``fast-paths`` does not build here. Scipy's compiled Dijkstra
(`optimizer.geo.matrix`) stays the fallback when the wheel is missing, and the reference in the
tests.

Weights are unsigned 32-bit integers below ``2**31 - 1`` (RoutingKit's ``inf_weight``; a path as
long reads as unreachable). `matrices` uses two metrics on the same order:

- **time** in whole milliseconds per arc: the time of the fastest path, exact to the rounding of
  its arcs (half a millisecond each);
- **time and length packed**, ``K * time_ms + length_dm``: its shortest path is the fastest path
  with ties broken by length, so ``packed - K * time`` is the length of a fastest path in
  decimetres. ``K`` is chosen per call so that no path of the day's locations overflows (from an
  upper bound of their travel times through one of them): 125 on greater Porto, 267 on the
  bundled Chengdu extract, so a path slower by a millisecond wins only if it is 12-27 m shorter.
  Where such a path exists (a motorway detour against a city route of nearly the same time) the
  length reported lies between the two paths' lengths: on greater Porto 0.09 % of 2,000 x 2,000
  pairs differ from Dijkstra's by more than 10 m (``scripts/bench_matrix.py --compare``). Pairs
  that overflow anyway come back as unreachable from that metric and get their lengths from
  Dijkstra.

Cost: a row is one sweep per metric over the part of the hierarchy the pinned targets hang
from, so it grows with the number of targets (on greater Porto 1-3 ms a row to 2,000
targets and 5 ms to 10,000 on this busy machine, against 0.3 ms to 100), and the wheel hands
every row over as a Python list that numpy converts. Two metrics are two sweeps. With an
`Executor`, a second process takes half of the rows (`matrices`, ``executor=``).

A second metric of lengths alone would give the *shortest* path, a different path from the
fastest; one integer cannot hold both a time in milliseconds and a length in 31 bits; and
unpacking every one of n² paths is far slower than one more sweep. The measured difference to
Dijkstra's lengths is in the README ("Measured").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.executor import Executor

logger = logging.getLogger(__name__)

#: RoutingKit's ``inf_weight``: a weight or a path this long (or longer) is unreachable
INF_WEIGHT = 2**31 - 1
#: length unit of the packed metric, metres
LENGTH_UNIT_M = 0.1
#: time unit of both metrics, seconds
TIME_UNIT_S = 1e-3
#: the longest arc time the hierarchy can hold, seconds (about 24.8 days); longer reads as closed
MAX_ARC_S = (INF_WEIGHT - 1) * TIME_UNIT_S


def _routingkit() -> Any:
    # optional at run time: without the wheel the matrices come from scipy's Dijkstra
    import routingkit_cch

    return routingkit_cch


def available() -> bool:
    """True if the ``routingkit-cch`` wheel can be imported."""
    try:
        _routingkit()
    except ImportError:
        return False
    return True


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
        Shape (rows, targets), float64; ``np.inf`` where unreachable. ``distance_m`` is NaN
        where the packed metric overflowed (the caller measures those pairs another way).
    """

    start: int
    duration_s: np.ndarray
    distance_m: np.ndarray


def matrices(n_nodes: int, tail: np.ndarray, head: np.ndarray, time_s: np.ndarray,
             length_m: np.ndarray, order: np.ndarray, nodes: np.ndarray, *,
             chunk: int = 64, executor: Executor | None = None) -> Iterator[Rows]:
    """Times and lengths of the fastest paths between all pairs of `nodes`, row chunk by chunk.

    Parameters
    ----------
    n_nodes : int
        Nodes of the graph.
    tail, head : np.ndarray
        From- and to-node of every arc (parallel arcs are fine: the cheaper counts).
    time_s, length_m : np.ndarray
        Travel time (seconds) and length (metres) of every arc, finite and >= 0.
    order : np.ndarray
        Node order of this graph (`node_order`, or one extended with nodes ranked first).
    nodes : np.ndarray
        The sources, also the targets, in this order.
    chunk : int, default 64
        Rows per yielded `Rows`.
    executor : Executor, optional
        With one, the second half of the rows is computed by a worker of `executor` (its own
        hierarchy, the same weights) while this process computes the first half; its rows are
        yielded after them, still in the order of `nodes`. Without, all rows here.

    Yields
    ------
    Rows
        Consecutive chunks of rows, in the order of `nodes`.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    # an arc of 24.8 days or more reads as closed (callers check edge times: `MAX_ARC_S`)
    time_w = np.minimum(np.rint(np.asarray(time_s, dtype=float) / TIME_UNIT_S), INF_WEIGHT
                        ).astype(np.int64)
    length_w = np.rint(np.asarray(length_m, dtype=float) / LENGTH_UNIT_M).astype(np.int64)
    here = _Queries(np.asarray(order, dtype=np.int64), np.asarray(tail, dtype=np.int64),
                    np.asarray(head, dtype=np.int64), time_w, nodes)
    k = _packing_factor(here, nodes, time_w, length_w)
    # K fits the paths between `nodes`; an arc it takes past INF_WEIGHT lies on none of them
    # (close places give a large K, and a long arc elsewhere would overflow the 32 bits)
    packed_w = np.minimum(k * time_w + length_w, INF_WEIGHT) if k else None
    split = nodes.shape[0]
    pending = None
    if executor is not None and nodes.shape[0] >= 2:
        split = (nodes.shape[0] + 1) // 2
        job = _Job(here.order, here.tail, here.head, time_w, packed_w, nodes, split,
                   nodes.shape[0])
        pending = executor.map(raw_rows, [job])  # starts now; collected after our half
    if packed_w is not None:
        here.pack(packed_w)
    for start in range(0, split, chunk):
        t_ms, w = here.rows(nodes[start : min(start + chunk, split)])
        yield _decode(start, t_ms, w, k)
    if pending is not None:
        got = next(pending)
        if isinstance(got, Exception):  # the worker failed or died: its rows here after all
            logger.warning("the second matrix process failed (%s); its rows computed here", got)
            for start in range(split, nodes.shape[0], chunk):
                t_ms, w = here.rows(nodes[start : min(start + chunk, nodes.shape[0])])
                yield _decode(start, t_ms, w, k)
            return
        t_raw, w_raw = got
        for start in range(split, nodes.shape[0], chunk):
            sl = slice(start - split, min(start + chunk, nodes.shape[0]) - split)
            t_ms = _from_raw(t_raw[sl])
            w = _from_raw(w_raw[sl]) if w_raw is not None else None
            yield _decode(start, t_ms, w, k)


class _Queries:
    """One process's hierarchy on a graph: the time metric, optionally the packed one, and
    their one-to-many queries to all pinned targets."""

    def __init__(self, order: np.ndarray, tail: np.ndarray, head: np.ndarray,
                 time_w: np.ndarray, targets: np.ndarray) -> None:
        self.rk = _routingkit()
        self.order, self.tail, self.head = order, tail, head
        self.targets = targets
        self.cch = self.rk.CCH(order, tail, head, False)
        self.time_metric = self.rk.CCHMetric(self.cch, time_w)
        self.times = self.rk.CCHOneToMany(self.time_metric, targets)
        self.packed: Any = None
        self._keep: Any = None

    def pack(self, packed_w: np.ndarray) -> None:
        self._keep = self.rk.CCHMetric(self.cch, packed_w)
        self.packed = self.rk.CCHOneToMany(self._keep, self.targets)

    def rows(self, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Time (ms) and packed weight of the rows of `sources`, float64, NaN = unreachable."""
        src = sources.tolist()
        shape = (len(src), self.targets.shape[0])
        t_ms = _as_array([self.times.distances_from(s) for s in src], shape)
        if self.packed is None:
            return t_ms, None
        return t_ms, _as_array([self.packed.distances_from(s) for s in src], shape)


def _as_array(rows: list[list[int | None]], shape: tuple[int, int]) -> np.ndarray:
    """The wheel's rows (a Python list each, None where unreachable) as float64, NaN for None."""
    try:
        # Python ints convert to int64 about 40 % faster than to float; None refuses
        return np.array(rows, dtype=np.int64).reshape(shape).astype(float)
    except TypeError:
        return np.array(rows, dtype=float).reshape(shape)


@dataclass(frozen=True, eq=False)
class _Job:
    """Plain data for a worker of `matrices`: the graph, both metrics' weights, its rows."""

    order: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    time_w: np.ndarray
    packed_w: np.ndarray | None
    nodes: np.ndarray
    start: int
    stop: int


def raw_rows(job: _Job) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows ``job.start .. job.stop - 1`` of `matrices`, undecoded (a worker's part).

    Returns
    -------
    tuple of np.ndarray
        Time in ms and packed weight (None without a packed metric), int32, `INF_WEIGHT`
        where unreachable: half the bytes of float64 on their way back.
    """
    q = _Queries(job.order, job.tail, job.head, job.time_w, job.nodes)
    if job.packed_w is not None:
        q.pack(job.packed_w)
    n = job.stop - job.start
    t_raw = np.empty((n, job.nodes.shape[0]), dtype=np.int32)
    w_raw = np.empty_like(t_raw) if job.packed_w is not None else None
    for start in range(job.start, job.stop, 64):
        stop = min(start + 64, job.stop)
        t_ms, w = q.rows(job.nodes[start:stop])
        t_raw[start - job.start : stop - job.start] = _to_raw(t_ms)
        if w_raw is not None and w is not None:
            w_raw[start - job.start : stop - job.start] = _to_raw(w)
    return t_raw, w_raw


def _to_raw(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), INF_WEIGHT, x).astype(np.int32)


def _from_raw(x: np.ndarray) -> np.ndarray:
    out = x.astype(float)
    out[x == INF_WEIGHT] = np.nan
    return out


def _decode(start: int, t_ms: np.ndarray, w: np.ndarray | None, k: int) -> Rows:
    # NaN where unreachable, or (lengths) where the packed metric overflowed
    length_dm = w - k * t_ms if w is not None else np.full(t_ms.shape, np.nan)
    reached = np.isfinite(t_ms)
    duration = np.where(reached, t_ms * TIME_UNIT_S, np.inf)
    distance = np.where(reached, length_dm * LENGTH_UNIT_M, np.inf)
    return Rows(start, duration, distance)


def _packing_factor(q: _Queries, nodes: np.ndarray, time_w: np.ndarray,
                    length_w: np.ndarray) -> int:
    """The largest K for which ``K * time + length`` of the fastest path between any two of
    `nodes` stays below ``INF_WEIGHT`` (halved for safety); 0 if even K = 1 overflows.

    Upper bound of any time between them: through the first node, ``max time to it + max time
    from it``. Lengths are bounded by the fastest arc speed (the largest length per unit of
    time) times that bound, plus every zero-time arc's length once.
    """
    if nodes.size == 0:
        return 1
    hub = int(nodes[0])
    out = np.array(q.times.distances_from(hub), dtype=float)
    back = np.array(q.rk.CCHManyToOne(q.time_metric, nodes).distances_to(hub), dtype=float)
    bound_ms = float(np.nanmax(out, initial=0.0) + np.nanmax(back, initial=0.0))
    moving = time_w > 0
    speed = float((length_w[moving] / time_w[moving]).max()) if moving.any() else 0.0
    standing = float(length_w[~moving].sum())
    per_k = bound_ms  # K * bound_ms + speed * bound_ms + standing < INF_WEIGHT / 2
    if per_k <= 0:
        return 1
    k = int((INF_WEIGHT / 2 - speed * bound_ms - standing) // per_k)
    if k < 1:
        logger.warning("travel times too long to pack with lengths; lengths by Dijkstra")
        return 0
    return k
