"""Travel-time and distance matrices on the road network, and road geometry of routes.

`travel_matrices` runs Dijkstra (compiled, `scipy.sparse.csgraph.dijkstra`) on travel times from
each distinct source node and reads off the duration of the fastest path and its length: the
distance matrix is the length *of the fastest path*, not the shortest distance. Each location also
gets an access leg, from the point to its snapped node at ``access_speed_kmh`` (by default
`ACCESS_SPEED_KMH` of the mode: parking and walking in from the car, 15 km/h), at both ends
of every trip, so a case 300 m away from the road is not free.

Pairs that cannot reach each other get ``np.inf`` and are listed in
`TravelMatrices.unreachable_pairs`; `TravelMatrices.unreachable_locations` names a small set of
locations whose removal leaves all others mutually reachable (the planner marks those cases
unassigned with reason "unreachable"). With the default `optimizer.geo.network.snap` (largest
strongly connected component only) there are none.

`route_path` / `route_paths` return the road geometry through a sequence of nodes for maps.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy.sparse.csgraph import dijkstra, reconstruct_path

from optimizer.geo.network import NetworkError, RoadNetwork, SnapResult
from optimizer.progress import Progress, ensure

logger = logging.getLogger(__name__)

#: Default speed of the access leg between a point and its snapped node, per travel mode, km/h:
#: parking and walking in for cars, riding slowly into a compound for (e-)bikes, walking.
ACCESS_SPEED_KMH: Mapping[str, float] = MappingProxyType({"drive": 15.0, "bike": 10.0, "walk": 4.5})

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
        Travel time in seconds (float64), access legs included; ``np.inf`` if unreachable;
        0 on the diagonal.
    distance_m : np.ndarray
        Length in metres of the same fastest path, access legs included; ``np.inf`` if
        unreachable; 0 on the diagonal.
    unreachable_pairs : np.ndarray
        Shape (k, 2), int64: ``(i, j)`` rows for which location ``j`` cannot be reached from ``i``.
    node : np.ndarray
        Network node of each location.
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
    progress: Progress | None = None,
) -> TravelMatrices:
    """Travel times and distances between all pairs of locations on the road network.

    Parameters
    ----------
    network : RoadNetwork
    locations : SnapResult or array_like of int
        A `SnapResult` (its ``node`` and ``distance_m`` are used: access legs included), or
        network node indices (no access legs unless ``access_m`` is given). Several locations
        may share a node.
    access_m : array_like of float, optional
        Access distance of each location in metres; overrides the SnapResult's ``distance_m``.
    access_speed_kmh : float, optional
        Speed of the access legs; default ``ACCESS_SPEED_KMH[network.mode]`` (drive 15,
        bike 10, walk 4.5).
    progress : Progress, optional
        Reports one step per source node.

    Returns
    -------
    TravelMatrices

    Raises
    ------
    NetworkError
        Node indices out of range or access distances invalid.
    """
    if isinstance(locations, SnapResult):
        node = locations.node
        if access_m is None:
            access_m = locations.distance_m
    else:
        node = np.atleast_1d(np.asarray(locations))
    node = _check_nodes(network, node)
    n = node.shape[0]
    acc_m = np.zeros(n) if access_m is None else np.asarray(access_m, dtype=float).reshape(-1)
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

    sources, inverse = np.unique(node, return_inverse=True)
    dur_u = np.empty((sources.size, sources.size))
    dist_u = np.empty((sources.size, sources.size))
    with ensure(progress).step("Travel matrix", total=int(sources.size)) as advance:
        for start in range(0, sources.size, _CHUNK):
            chunk = sources[start : start + _CHUNK]
            time_all, pred = dijkstra(
                network.travel_time_s, directed=True, indices=chunk, return_predecessors=True
            )
            length_all = _path_lengths(network, pred, chunk)
            dur_u[start : start + chunk.size] = time_all[:, sources]
            dist_u[start : start + chunk.size] = length_all[:, sources]
            advance(int(chunk.size))

    duration = dur_u[np.ix_(inverse, inverse)]
    distance = dist_u[np.ix_(inverse, inverse)]
    duration += acc_s[:, None] + acc_s[None, :]
    distance += acc_m[:, None] + acc_m[None, :]
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
        node=node,
        access_s=acc_s,
        access_m=acc_m,
    )


def route_path(network: RoadNetwork, nodes: Any) -> list[tuple[float, float]]:
    """Road geometry of the fastest path through consecutive nodes, as ``(lat, lon)`` points.

    Parameters
    ----------
    network : RoadNetwork
    nodes : sequence of int
        Node indices in visiting order (e.g. start, visits..., end). Repeated consecutive nodes
        are fine.

    Returns
    -------
    list of (lat, lon)
        Starts at the first node, ends at the last, follows every edge's geometry.

    Raises
    ------
    UnreachableError
        A leg has no path in its direction.
    """
    return route_paths(network, [nodes])[0]


def route_paths(network: RoadNetwork, sequences: Any) -> list[list[tuple[float, float]]]:
    """`route_path` for several node sequences, sharing one Dijkstra run per distinct source."""
    seqs = [_check_nodes(network, np.atleast_1d(np.asarray(s))) for s in sequences]
    legs = [(int(a), int(b)) for s in seqs for a, b in itertools.pairwise(s) if a != b]
    sources = np.unique(np.array([a for a, _ in legs], dtype=np.int64))
    row_of = {int(s): i for i, s in enumerate(sources.tolist())}
    pred = np.empty((sources.size, network.n_nodes), dtype=np.int32)
    for start in range(0, sources.size, _CHUNK):
        chunk = sources[start : start + _CHUNK]
        _, p = dijkstra(
            network.travel_time_s, directed=True, indices=chunk, return_predecessors=True
        )
        pred[start : start + chunk.size] = p

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
                        f"(OSM {network.node_osmid[a]} -> {network.node_osmid[b]}); "
                        "snap with main_component_only=True or drop the unreachable stop"
                    )
                back.append(prev)
            path_nodes.extend(reversed(back[:-1]))
        out.append(_geometry(network, np.array(path_nodes, dtype=np.int64)))
    return out


# --------------------------------------------------------------------------- helpers


def _check_nodes(network: RoadNetwork, node: np.ndarray) -> np.ndarray:
    if node.ndim != 1 or (node.size and not np.issubdtype(node.dtype, np.integer)):
        raise NetworkError(
            f"node indices must be a 1-d integer array, got {node.dtype} {node.shape}"
        )
    node = node.astype(np.int64)
    bad = np.flatnonzero((node < 0) | (node >= network.n_nodes))
    if bad.size:
        raise NetworkError(
            f"node indices out of range 0..{network.n_nodes - 1} at positions "
            f"{', '.join(map(str, bad[:20].tolist()))}; snap points with optimizer.geo.network.snap"
        )
    return node


def _path_lengths(network: RoadNetwork, pred: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Length of each fastest path, from Dijkstra's predecessors (one row per source).

    The predecessors of one source form its shortest-path tree; rebuilt with edge lengths as
    weights (`reconstruct_path`), the tree has one path to each node, so a Dijkstra run on it
    returns the length of exactly the fastest path. Unreached nodes get ``np.inf``.
    """
    out = np.empty(pred.shape)
    for row, source in enumerate(sources.tolist()):
        tree = reconstruct_path(network.length_m, pred[row], directed=True)
        out[row] = dijkstra(tree, directed=True, indices=source)
    return out


def _geometry(network: RoadNetwork, path_nodes: np.ndarray) -> list[tuple[float, float]]:
    lat: list[float] = [float(network.node_lat[path_nodes[0]])]
    lon: list[float] = [float(network.node_lon[path_nodes[0]])]
    if path_nodes.size > 1:
        edges = network.edge_index(path_nodes[:-1], path_nodes[1:])
        ptr = network.geom_ptr
        for k, v in zip(edges.tolist(), path_nodes[1:].tolist(), strict=True):
            lat.extend(network.geom_lat[ptr[k] : ptr[k + 1]].tolist())
            lon.extend(network.geom_lon[ptr[k] : ptr[k + 1]].tolist())
            lat.append(float(network.node_lat[v]))
            lon.append(float(network.node_lon[v]))
    return list(zip(lat, lon, strict=True))
