"""Travel-time and distance matrices on the road network, and road geometry of routes.

`travel_matrices` gives, for every ordered pair of locations, the duration of the fastest road
path and its length: the distance matrix is the length *of the fastest path*, not the shortest
distance. Two engines answer it on the same graph:

- ``"cch"``: customizable contraction hierarchies (`optimizer.geo.cch`: RoutingKit's node order
  through the ``routingkit-cch`` wheel, numba kernels): the order is computed once per network
  and cached with it
  (`optimizer.geo.network`), each call builds the hierarchy of the day's graph, customises it
  with that call's edge times and lengths (float64, as Dijkstra adds them) and sweeps batches
  of sources down it at once (`optimizer.geo.cch` says how). Times and lengths are those of a
  fastest path, equal to Dijkstra's to float rounding.
- ``"dijkstra"``: scipy's compiled Dijkstra (`scipy.sparse.csgraph.dijkstra`) from every
  distinct source, the length read off its shortest-path tree. The fallback when the wheel or
  numba is missing, and the reference the tests hold the CCH engine to.

``engine="auto"`` (the default) takes ``"cch"`` when it is available. Measured on greater Porto
(50,842 junctions): README, "Measured" (``scripts/bench_matrix.py``).

Locations are places on roads (`optimizer.geo.network.snap`: the nearest point of the nearest
segment), spliced into the graph as nodes of their own (`optimizer.geo.splice`): a place on a
one-way street is reached from its edge's from-node and left towards its to-node; two places on
one road are joined along it. Each location also gets an access leg, from the input point to its
place on the road, walked at ``access_speed_kmh`` (by default `ACCESS_SPEED_KMH`, walking
speed: the collector parks and walks the last metres), at both ends of every trip.

``edge_duration_s`` replaces the network's own edge times for one call (e.g. one time band of a
day: with CCH that is one re-customisation, the node order reused).

Pairs that cannot reach each other get ``np.inf`` and are listed in
`TravelMatrices.unreachable_pairs`; `TravelMatrices.unreachable_locations` names a small set of
locations whose removal leaves all others mutually reachable (the planner marks those cases
unassigned with reason "unreachable"). With the default `optimizer.geo.network.snap` (largest
strongly connected component only) there are none.

The matrices are numpy arrays filled row by row, never Python objects per pair: float64 up to
`FLOAT32_FROM` locations, float32 (1 ms at 2 h, 1 cm at 100 km) from there on, to halve the
memory of large days.

`route_path` / `route_paths` return the road geometry through a sequence of places (or nodes)
for maps: it starts and ends at the places on the road and follows the fastest path.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra, reconstruct_path

from optimizer.geo import cch
from optimizer.geo.network import NetworkError, RoadNetwork, SnapResult, at_nodes
from optimizer.geo.splice import Spliced, splice
from optimizer.progress import Progress, ensure

logger = logging.getLogger(__name__)

#: Walking speed, km/h: the access leg between a case's point and its place on the road.
WALK_SPEED_KMH = 4.5
#: Default speed of the access leg per travel mode, km/h: the last metres are walked in every
#: mode (the car or bike stays on the road).
ACCESS_SPEED_KMH: Mapping[str, float] = MappingProxyType(
    {"drive": WALK_SPEED_KMH, "bike": WALK_SPEED_KMH, "walk": WALK_SPEED_KMH})
#: Matrix engines of `travel_matrices`.
ENGINES = ("auto", "cch", "dijkstra")
#: From this many locations on, the matrices are float32.
FLOAT32_FROM = 4000
#: From this many distinct places on, two threads share the CCH rows (below, a matrix takes a
#: few milliseconds and a second thread saves nothing).
PARALLEL_FROM = 200

# Sources per Dijkstra call: bounds memory (chunk x n_nodes predecessors) and paces progress.
_CHUNK = 64


class UnreachableError(NetworkError):
    """A route asks for a leg between nodes that are not connected in that direction."""


@dataclass(frozen=True, eq=False)
class TravelMatrices:
    """Square travel matrices between locations (row = from, column = to).

    Attributes
    ----------
    duration_s : np.ndarray
        Travel time in seconds (float64; float32 from `FLOAT32_FROM` locations on), access legs
        included; ``np.inf`` if unreachable; 0 on the diagonal.
    distance_m : np.ndarray
        Length in metres of the same fastest path, access legs included; ``np.inf`` if
        unreachable; 0 on the diagonal.
    unreachable_pairs : np.ndarray
        Shape (k, 2), int64: ``(i, j)`` rows for which location ``j`` cannot be reached from ``i``.
    node : np.ndarray
        Network node of each location (the nearer end of its edge).
    access_s, access_m : np.ndarray
        Access leg of each location, seconds and metres (added once at each end of a trip).
    """

    duration_s: np.ndarray
    distance_m: np.ndarray
    unreachable_pairs: np.ndarray
    node: np.ndarray
    access_s: np.ndarray
    access_m: np.ndarray

    @property
    def n(self) -> int:
        return int(self.duration_s.shape[0])

    @property
    def all_reachable(self) -> bool:
        return self.unreachable_pairs.shape[0] == 0

    def unreachable_locations(self) -> tuple[int, ...]:
        """Locations to drop so that all remaining ones are mutually reachable.

        Greedy: repeatedly take the location in the most remaining unreachable pairs (ties: the
        higher index, so that with depots/collectors first, cases are dropped before them).

        Returns
        -------
        tuple of int
            Location indices, in the order picked.
        """
        pairs = self.unreachable_pairs
        picked: list[int] = []
        while pairs.shape[0]:
            counts = np.bincount(pairs.ravel(), minlength=self.n)
            worst = int(self.n - 1 - np.argmax(counts[::-1]))
            picked.append(worst)
            pairs = pairs[(pairs[:, 0] != worst) & (pairs[:, 1] != worst)]
        return tuple(picked)


def travel_matrices(
    network: RoadNetwork,
    locations: SnapResult | Any,
    *,
    access_m: Any = None,
    access_speed_kmh: float | None = None,
    edge_duration_s: Any = None,
    engine: str = "auto",
    workers: int | None = None,
    progress: Progress | None = None,
) -> TravelMatrices:
    """Travel times and distances between all pairs of locations on the road network.

    Parameters
    ----------
    network : RoadNetwork
    locations : SnapResult or array_like of int
        A `SnapResult` (its places on the roads, and its ``distance_m`` as access legs), or
        network node indices (no access legs unless ``access_m`` is given). Several locations
        may share a place.
    access_m : array_like of float, optional
        Access distance of each location in metres; overrides the SnapResult's ``distance_m``.
    access_speed_kmh : float, optional
        Speed of the access legs; default ``ACCESS_SPEED_KMH[network.mode]`` (walking, 4.5).
    edge_duration_s : array_like of float, optional
        Travel time of every edge of `network` (seconds, CSR order, finite and > 0), replacing
        the network's own ``travel_time_s`` for this call (e.g. one time band).
    engine : {"auto", "cch", "dijkstra"}, default "auto"
        ``"auto"``: CCH when ``routingkit-cch`` and numba are installed, else Dijkstra.
    workers : int, optional
        Threads answering CCH rows, 1 or 2 (the same matrices either way). Default: 2 from
        `PARALLEL_FROM` distinct places on when this process may use two or more cores, else
        1. Two threads cost no more CPU time than one (no second interpreter, no copy of the
        graph), so they run on a busy machine too: there each gets its share of a core (on
        greater Porto at a load of 10, 2,000 x 2,000 took 1.1 s on two threads against 2.1 s
        on one, 0.37 s of CPU either way).
    progress : Progress, optional
        Reports one step per distinct place.

    Returns
    -------
    TravelMatrices

    Raises
    ------
    NetworkError
        Node indices out of range, access distances, edge times or the engine invalid.
    """
    places = _places(network, locations)
    n = len(places)
    acc_m = places.distance_m if access_m is None and isinstance(locations, SnapResult) else (
        np.zeros(n) if access_m is None else np.asarray(access_m, dtype=float).reshape(-1))
    if acc_m.shape[0] != n or not np.all(np.isfinite(acc_m) & (acc_m >= 0)):
        raise NetworkError(
            f"access_m must hold {n} finite distances >= 0 (one per location), got "
            f"shape {acc_m.shape}"
        )
    if access_speed_kmh is None:
        access_speed_kmh = ACCESS_SPEED_KMH[network.mode]
    if not access_speed_kmh > 0:
        raise NetworkError(f"access_speed_kmh {access_speed_kmh!r} must be positive")
    acc_s = acc_m / (access_speed_kmh / 3.6)
    use = _engine(network, engine)
    graph = splice(network, places, _edge_times(network, edge_duration_s))

    nodes, inverse = np.unique(graph.loc_node, return_inverse=True)
    inverse = inverse.reshape(-1)
    dtype = np.float32 if n >= FLOAT32_FROM else np.float64
    duration = np.empty((n, n), dtype=dtype)
    distance = np.empty((n, n), dtype=dtype)
    threads = _workers(workers, int(nodes.size))
    with ensure(progress).step("Travel matrix", total=int(nodes.size)) as advance:
        if use == "cch":
            _cch_fill(network, graph, acc_s, acc_m, duration, distance, threads=threads,
                      advance=advance)
        else:
            by_source = np.argsort(inverse, kind="stable")
            first_row = np.searchsorted(inverse[by_source], np.arange(nodes.size + 1))
            for start, dur, dist in _dijkstra_rows(graph, nodes, nodes):
                rows = by_source[first_row[start] : first_row[start + dur.shape[0]]]
                local = (inverse[rows] - start)[:, None]
                # one gather per matrix, the access legs added in place
                for out, got, acc in ((duration, dur, acc_s), (distance, dist, acc_m)):
                    block = got[local, inverse]
                    block += acc[rows][:, None]
                    block += acc
                    out[rows] = block
                advance(int(dur.shape[0]))
    np.fill_diagonal(duration, 0.0)
    np.fill_diagonal(distance, 0.0)
    bad = np.argwhere(~np.isfinite(duration)).astype(np.int64)
    if bad.shape[0]:
        logger.warning(
            "%d location pair(s) cannot reach each other on the %s network",
            bad.shape[0],
            network.mode,
        )
    return TravelMatrices(
        duration_s=duration,
        distance_m=distance,
        unreachable_pairs=bad,
        node=places.node,
        access_s=acc_s,
        access_m=acc_m,
    )


def route_path(network: RoadNetwork, stops: SnapResult | Any, *,
               edge_duration_s: Any = None) -> list[tuple[float, float]]:
    """Road geometry of the fastest path through consecutive stops, as ``(lat, lon)`` points.

    Parameters
    ----------
    network : RoadNetwork
    stops : SnapResult or sequence of int
        Places on the roads in visiting order (e.g. start, visits..., end), or node indices.
        Repeated consecutive stops are fine.
    edge_duration_s : array_like of float, optional
        Edge times replacing the network's (as in `travel_matrices`).

    Returns
    -------
    list of (lat, lon)
        Starts at the first place on the road, ends at the last, follows every edge's geometry.

    Raises
    ------
    UnreachableError
        A leg has no path in its direction.
    """
    return route_paths(network, [stops], edge_duration_s=edge_duration_s)[0]


def route_paths(network: RoadNetwork, sequences: Sequence[SnapResult | Any], *,
                edge_duration_s: Any = None) -> list[list[tuple[float, float]]]:
    """`route_path` for several sequences, sharing one Dijkstra run per distinct source."""
    parts = [_places(network, s) for s in sequences]
    graph = splice(network, SnapResult.concat(parts), _edge_times(network, edge_duration_s))
    bounds = np.cumsum([0, *(len(p) for p in parts)])
    seqs = [graph.loc_node[a:b] for a, b in itertools.pairwise(bounds.tolist())]
    legs = [(int(a), int(b)) for s in seqs for a, b in itertools.pairwise(s) if a != b]
    sources = np.unique(np.array([a for a, _ in legs], dtype=np.int64))
    row_of = {int(s): i for i, s in enumerate(sources.tolist())}
    times = _csr(graph, graph.time_s)
    pred = np.empty((sources.size, graph.n_nodes), dtype=np.int32)
    for start in range(0, sources.size, _CHUNK):
        chunk = sources[start : start + _CHUNK]
        _, chunk_pred = dijkstra(times, directed=True, indices=chunk, return_predecessors=True)
        pred[start : start + chunk.size] = chunk_pred

    arc_of = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(
        graph.tail[network.n_edges :].tolist(), graph.head[network.n_edges :].tolist(),
        strict=True))}
    out: list[list[tuple[float, float]]] = []
    for seq in seqs:
        if seq.size == 0:
            out.append([])
            continue
        path_nodes = [int(seq[0])]
        for a, b in zip(seq[:-1].tolist(), seq[1:].tolist(), strict=True):
            if a == b:
                continue
            row = pred[row_of[a]]
            back = [b]
            while back[-1] != a:
                prev = int(row[back[-1]])
                if prev < 0:
                    raise UnreachableError(
                        f"no {network.mode} path from node {a} to node {b} "
                        f"({_describe(network, graph, a)} -> {_describe(network, graph, b)}); "
                        "snap with main_component_only=True or drop the unreachable stop"
                    )
                back.append(prev)
            path_nodes.extend(reversed(back[:-1]))
        out.append(_geometry(network, graph, arc_of, path_nodes))
    return out


# --------------------------------------------------------------------------- helpers


def _places(network: RoadNetwork, locations: SnapResult | Any) -> SnapResult:
    if isinstance(locations, SnapResult):
        return locations
    return at_nodes(network, locations)


def _edge_times(network: RoadNetwork, edge_duration_s: Any) -> np.ndarray:
    """The edge times of a call: the network's, or `edge_duration_s` checked."""
    if edge_duration_s is None:
        return np.asarray(network.travel_time_s.data, dtype=float)
    times = np.asarray(edge_duration_s, dtype=float)
    if times.shape != (network.n_edges,):
        raise NetworkError(
            f"edge_duration_s must hold one time per edge of the network ({network.n_edges}), "
            f"got shape {times.shape}; build it from network.travel_time_s.data (CSR order)"
        )
    bad = np.flatnonzero(~(np.isfinite(times) & (times > 0)))
    if bad.size:
        raise NetworkError(
            f"edge_duration_s must be finite seconds > 0: {bad.size} edge(s) are not, e.g. "
            f"edge {int(bad[0])} = {times[bad[0]]!r}"
        )
    return times


def _engine(network: RoadNetwork, engine: str) -> str:
    if engine not in ENGINES:
        raise NetworkError(f"unknown matrix engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "dijkstra":
        return engine
    if cch.available() and network.node_order.size == network.n_nodes:
        return "cch"
    if engine == "cch":
        raise NetworkError(
            "the CCH matrix engine needs the routingkit-cch and numba packages; install them "
            "(pip install routingkit-cch numba) or use engine='dijkstra'"
        )
    logger.info("routingkit-cch or numba not available: travel matrices by Dijkstra")
    return "dijkstra"


def _workers(workers: int | None, n_sources: int) -> int:
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        return 2 if cores >= 2 and n_sources >= PARALLEL_FROM else 1
    if workers not in (1, 2):
        raise NetworkError(f"workers={workers!r}: the CCH matrix uses 1 or 2 threads")
    return workers


def _cch_fill(network: RoadNetwork, graph: Spliced, acc_s: np.ndarray, acc_m: np.ndarray,
              duration: np.ndarray, distance: np.ndarray, *, threads: int,
              advance: Callable[[int], object]) -> None:
    # the spliced nodes are ranked lowest: contracted first, they add no shortcut the road's
    # own edge does not already give, so the network's cached order serves every day
    order = np.concatenate([np.arange(graph.n_real, graph.n_nodes, dtype=np.int64),
                            network.node_order.astype(np.int64)])
    cch.fill_matrices(graph.n_nodes, graph.tail, graph.head, graph.time_s, graph.length_m,
                      order, graph.loc_node, access_s=acc_s, access_m=acc_m,
                      duration=duration, distance=distance, threads=threads,
                      advance=advance)


def _dijkstra_rows(graph: Spliced, sources: np.ndarray, targets: np.ndarray
                   ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    times = _csr(graph, graph.time_s)
    lengths = _csr(graph, graph.length_m)
    for start in range(0, sources.size, _CHUNK):
        chunk = sources[start : start + _CHUNK]
        time_all, pred = dijkstra(times, directed=True, indices=chunk, return_predecessors=True)
        length_all = _path_lengths(lengths, pred, chunk)
        yield start, time_all[:, targets], length_all[:, targets]


def _csr(graph: Spliced, weight: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix((weight, (graph.tail, graph.head)), shape=(graph.n_nodes,) * 2)


def _path_lengths(lengths: sp.csr_matrix, pred: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Length of each fastest path, from Dijkstra's predecessors (one row per source).

    The predecessors of one source form its shortest-path tree; rebuilt with edge lengths as
    weights (`reconstruct_path`), the tree has one path to each node, so a Dijkstra run on it
    returns the length of exactly the fastest path. Unreached nodes get ``np.inf``.
    """
    out = np.empty(pred.shape)
    for row, source in enumerate(sources.tolist()):
        tree = reconstruct_path(lengths, pred[row], directed=True)
        out[row] = dijkstra(tree, directed=True, indices=source)
    return out


def _describe(network: RoadNetwork, graph: Spliced, node: int) -> str:
    if node < graph.n_real:
        return f"OSM {network.node_osmid[node]}"
    return f"the place at {graph.node_lat[node]:.6f},{graph.node_lon[node]:.6f}"


def _geometry(network: RoadNetwork, graph: Spliced, arc_of: Mapping[tuple[int, int], int],
              path_nodes: Sequence[int]) -> list[tuple[float, float]]:
    lat, lon = graph.node_lat, graph.node_lon
    points: list[tuple[float, float]] = [(float(lat[path_nodes[0]]), float(lon[path_nodes[0]]))]
    ptr = network.geom_ptr
    for a, b in itertools.pairwise(path_nodes):
        if a < graph.n_real and b < graph.n_real:
            k = int(network.edge_index(np.array([a]), np.array([b]))[0])
            points.extend(zip(network.geom_lat[ptr[k] : ptr[k + 1]].tolist(),
                              network.geom_lon[ptr[k] : ptr[k + 1]].tolist(), strict=True))
        else:
            i = arc_of[(a, b)]
            points.extend(network.edge_lines.interior(
                int(graph.arc_edge[i]), float(graph.arc_from[i]), float(graph.arc_to[i])))
        points.append((float(lat[b]), float(lon[b])))
    return points
