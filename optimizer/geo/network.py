"""Road network: load OpenStreetMap roads for a travel mode, cache them, snap points to them.

The network is a directed graph of road junctions (nodes) and road segments (edges) stored as
compact arrays: node ``lat``/``lon``, and two `scipy.sparse.csr_matrix` of the same sparsity
structure holding each edge's travel time (seconds) and length (metres). Edge geometry (the
bends of a road between two junctions) is kept so that routes can be drawn on real roads.

Loading
    `load_network` reads a local OSM file (XML ``.osm``, ``.osm.bz2``, ``.osm.gz``, or PBF
    ``.osm.pbf`` as Geofabrik publishes them; see `optimizer.geo.osmfile`) or, only
    when asked explicitly, downloads roads for a place name or bounding box through OSMnx.
    Ways are filtered to the mode's network with the same tag rules as OSMnx's ``network_type``
    (``drive``, ``bike``, ``walk``); ways whose nodes are missing from a clipped extract are
    split at the gap. Speeds are typical daytime urban speeds (`DEFAULT_SPEEDS_KPH`); an OSM
    ``maxspeed`` tag can only lower them. The processed arrays are cached (``.npz``) keyed by
    the file's content hash, the mode and the format version, so a second run does not parse
    the OSM file. ``speed_factor`` is applied after the cache, so what-if runs reuse it. The
    cache also holds the node order of the contraction hierarchy the travel matrices use
    (`optimizer.geo.cch`, 1.3 s on 50,000 junctions, once per network); a cache whose order or
    arrays do not fit its network is set aside and rebuilt like any damaged cache.

Snapping
    `snap` places points on the nearest point of the nearest road segment (edge geometry
    included, `optimizer.geo.segments`): the edge, the position along it, and the distance
    from the point. By default only edges of the largest strongly connected component are
    candidates, so every placed point can reach every other, and expressways only when no
    street is in reach. Points farther than ``max_snap_m`` from a road or outside the network
    bounds are flagged. `snap_to_node` is the former rule (nearest junction), for comparisons;
    `at_nodes` places locations at given nodes.

The bundled default network is ``data/osm/chengdu_ring2.osm.bz2`` (central Chengdu inside the
2nd ring road), © OpenStreetMap contributors, ODbL 1.0; see `default_osm_path`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from optimizer import bundled
from optimizer.cache import default_cache_dir, file_sha256, set_aside
from optimizer.errors import ConfigError, MissingFileError
from optimizer.geo import cch, segments
from optimizer.geo.osmfile import FORMATS, OsmFileError, iter_osm
from optimizer.progress import Progress, ensure

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("drive", "bike", "walk")

#: Version of the cache layout and of the processing; bump when either changes.
#: 3: the road class of each edge (``edge_highway``, ``highway_names``) for traffic profiles;
#: 4: the node order of the contraction hierarchy and the expressway flags as well.
FORMAT_VERSION = 4

EARTH_RADIUS_M = 6_371_009.0  # mean Earth radius, as used by OSMnx

# Typical daytime travel speeds on urban Chinese roads by OSM highway class, km/h. These are
# average speeds in traffic (junctions, lights), not limits: a ``maxspeed`` tag only lowers them.
_DRIVE_SPEEDS_KPH = {
    "motorway": 60.0,
    "motorway_link": 40.0,
    "trunk": 45.0,
    "trunk_link": 30.0,
    "primary": 30.0,
    "primary_link": 25.0,
    "secondary": 25.0,
    "secondary_link": 20.0,
    "tertiary": 22.0,
    "tertiary_link": 20.0,
    "unclassified": 18.0,
    "residential": 15.0,
    "living_street": 10.0,
    "road": 15.0,
    "busway": 15.0,
    "service": 10.0,
}
# E-bikes (legal top speed 25 km/h in China) ride on most roads at about the same speed.
_BIKE_SPEEDS_KPH = {"pedestrian": 8.0, "path": 12.0, "track": 12.0, "living_street": 12.0}
_WALK_SPEED_KPH = 4.5

#: Default speed table per mode: highway class -> km/h, with ``"*"`` for any other class.
DEFAULT_SPEEDS_KPH: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "drive": MappingProxyType({**_DRIVE_SPEEDS_KPH, "*": 15.0}),
        "bike": MappingProxyType({**_BIKE_SPEEDS_KPH, "*": 18.0}),
        "walk": MappingProxyType({"*": _WALK_SPEED_KPH}),
    }
)

# Way filters for each mode, copied from OSMnx 2.1 ``_overpass._get_network_filter`` (Overpass
# ``[key!~"regex"]`` = the tag is absent or its value does not match the unanchored regex).
_EXCLUDE: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "drive": (
            ("area", "yes"),
            ("access", "private"),
            (
                "highway",
                (
                    "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|"
                    "escalator|footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|"
                    "rest_area|service|services|steps|track"
                ),
            ),
            ("motor_vehicle", "no"),
            ("motorcar", "no"),
            ("service", "alley|driveway|emergency_access|parking|parking_aisle|private"),
        ),
        "bike": (
            ("area", "yes"),
            ("access", "private"),
            (
                "highway",
                (
                    "abandoned|bus_guideway|construction|corridor|elevator|escalator|footway|motor|"
                    "no|planned|platform|proposed|raceway|razed|rest_area|services|steps"
                ),
            ),
            ("bicycle", "no"),
            ("service", "private"),
        ),
        "walk": (
            ("area", "yes"),
            ("access", "private"),
            (
                "highway",
                (
                    "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|"
                    "proposed|raceway|razed|rest_area|services"
                ),
            ),
            ("foot", "no"),
            ("service", "private"),
            ("sidewalk", "separate"),
            ("sidewalk:both", "separate"),
            ("sidewalk:left", "separate"),
            ("sidewalk:right", "separate"),
        ),
    }
)
_ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})  # as OSMnx
_REVERSED_VALUES = frozenset({"-1", "reverse", "T"})
# Tags kept on raw edges (enough for speeds and for debugging).
_EDGE_TAGS = ("highway", "maxspeed", "name")

# Expressway classes: points are not snapped onto them when an ordinary street is in reach
# (a case beside Chengdu's elevated 2nd ring road is reached from the road below).
FAST_HIGHWAYS = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})

# Shortest edges get a floor so that csgraph never sees a zero weight (it would be dropped).
_MIN_TIME_S = 1e-3
_MIN_LENGTH_M = 1e-2


class NetworkError(ConfigError):
    """The road network cannot be loaded or used as asked; the message says how to fix it."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Bounds:
    """A WGS-84 bounding box in degrees."""

    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Boolean mask of the points inside the box (edges included)."""
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        return (
            (lat >= self.min_lat)
            & (lat <= self.max_lat)
            & (lon >= self.min_lon)
            & (lon <= self.max_lon)
        )


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A directed road network as compact arrays.

    Node ``i`` is at (``node_lat[i]``, ``node_lon[i]``). Edge ``k`` of the CSR structure runs
    from the row ``u`` with ``indptr[u] <= k < indptr[u + 1]`` to ``indices[k]``; the same
    ``k`` indexes ``travel_time_s.data``, ``length_m.data`` and the geometry arrays. Parallel
    OSM edges between the same two nodes are reduced to the fastest one.

    Attributes
    ----------
    node_osmid : np.ndarray
        OSM node id of each node (int64), sorted ascending.
    node_lat, node_lon : np.ndarray
        Node coordinates, WGS-84 degrees.
    travel_time_s : scipy.sparse.csr_matrix
        Edge travel times in seconds, ``speed_factor`` applied. Row = from-node, column = to-node.
    length_m : scipy.sparse.csr_matrix
        Edge lengths in metres, same sparsity structure as ``travel_time_s``.
    geom_ptr : np.ndarray
        ``geom_lat[geom_ptr[k]:geom_ptr[k + 1]]`` (and ``geom_lon``) are the interior points of
        edge ``k`` in travel order, endpoints excluded.
    geom_lat, geom_lon : np.ndarray
        Interior edge points, WGS-84 degrees.
    main_component : np.ndarray
        True for nodes of the largest strongly connected component.
    node_street : np.ndarray
        True for nodes on at least one road that is not an expressway (`FAST_HIGHWAYS`).
    edge_highway : np.ndarray
        Road class of each edge (CSR order), int16 index into ``highway_names``. An edge that
        OSMnx's simplification merged from roads of several classes has the first of them.
    highway_names : tuple of str
        The OSM ``highway`` values of the network, sorted.
    edge_fast : np.ndarray
        True for edges on expressway classes only (`FAST_HIGHWAYS`), CSR order.
    cch_order : np.ndarray
        Node order of the contraction hierarchy (`optimizer.geo.cch.node_order`), int32, least
        important first; empty when ``routingkit-cch`` was missing as the network was built.
    bounds : Bounds
        Area the data covers completely: the extract's ``<bounds>`` if given (ways crossing it
        are kept whole, so some nodes lie outside), else the node extent.
    source : str
        Where the data came from (file path or query), for messages and map attribution.
    mode : str
        Travel mode: ``"drive"``, ``"bike"`` or ``"walk"``.
    speed_factor : float
        Factor applied to all speeds (0.8 = traffic 20 % slower); travel times are divided by it.
    cache_path : Path or None
        Cache file the network was read from or written to, if any.
    """

    node_osmid: np.ndarray
    node_lat: np.ndarray
    node_lon: np.ndarray
    travel_time_s: sp.csr_matrix
    length_m: sp.csr_matrix
    geom_ptr: np.ndarray
    geom_lat: np.ndarray
    geom_lon: np.ndarray
    main_component: np.ndarray
    node_street: np.ndarray
    edge_highway: np.ndarray
    highway_names: tuple[str, ...]
    edge_fast: np.ndarray
    cch_order: np.ndarray
    bounds: Bounds
    source: str
    mode: str = "drive"
    speed_factor: float = 1.0
    cache_path: Path | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return (
            f"RoadNetwork({self.mode}, {self.n_nodes:,} nodes, {self.n_edges:,} edges, "
            f"speed_factor={self.speed_factor:g}, source={self.source!r})"
        )

    @property
    def n_nodes(self) -> int:
        return int(self.node_lat.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.travel_time_s.nnz)

    @property
    def attribution(self) -> str:
        return "© OpenStreetMap contributors (ODbL 1.0)"

    @cached_property
    def edge_source(self) -> np.ndarray:
        """From-node of each edge (CSR order), int64."""
        indptr = self.travel_time_s.indptr
        return np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(indptr))

    @cached_property
    def edge_keys(self) -> np.ndarray:
        """Sorted ``u * n_nodes + v`` of each edge, for vectorised edge look-up."""
        return self.edge_source * self.n_nodes + self.travel_time_s.indices.astype(np.int64)

    def edge_index(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Edge positions (CSR order) of the edges ``u[i] -> v[i]``; -1 where there is none."""
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        keys = u * self.n_nodes + v
        pos = np.searchsorted(self.edge_keys, keys)
        pos = np.minimum(pos, max(self.n_edges - 1, 0))
        found = self.n_edges > 0
        ok = (self.edge_keys[pos] == keys) if found else np.zeros(keys.shape, dtype=bool)
        return np.where(ok, pos, -1)

    @cached_property
    def _projection(self) -> tuple[float, float, float]:
        lat0 = 0.5 * (self.bounds.min_lat + self.bounds.max_lat)
        lon0 = 0.5 * (self.bounds.min_lon + self.bounds.max_lon)
        return lat0, lon0, float(np.cos(np.radians(lat0)))

    def project(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Local equirectangular x/y in metres (good to ~0.1 % over a city), shape (n, 2)."""
        lat0, lon0, coslat = self._projection
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        x = np.radians(lon - lon0) * EARTH_RADIUS_M * coslat
        y = np.radians(lat - lat0) * EARTH_RADIUS_M
        return np.column_stack([x, y])

    @cached_property
    def edge_twin(self) -> np.ndarray:
        """The edge ``v -> u`` on the same road as each edge ``u -> v`` (two-way), else -1.

        Same road: the reverse edge exists, has as many geometry points and the same length
        (parallel edges are reduced to the fastest per direction, which may be another way).
        """
        u, v = self.edge_source, self.travel_time_s.indices.astype(np.int64)
        rev = self.edge_index(v, u)
        inner = np.diff(self.geom_ptr)
        length = self.length_m.data
        r = np.where(rev >= 0, rev, 0)
        same = ((rev >= 0) & (inner[r] == inner)
                & (np.abs(length[r] - length) <= 1e-6 * length + 1e-6))
        return np.where(same, rev, -1).astype(np.int64)

    @cached_property
    def edge_lines(self) -> segments.EdgeLines:
        """The line of every edge (`optimizer.geo.segments.EdgeLines`), projected."""
        return segments.edge_lines(
            self.node_lat, self.node_lon, self.edge_source,
            self.travel_time_s.indices.astype(np.int64), self.geom_ptr, self.geom_lat,
            self.geom_lon, self.project)

    @cached_property
    def node_order(self) -> np.ndarray:
        """`cch_order`, or computed now (and kept in memory) for a network built without it."""
        if self.cch_order.size == self.n_nodes or not cch.available():
            return self.cch_order
        logger.info("no contraction-hierarchy order in the cache of %s: computing it", self)
        return cch.node_order(self.n_nodes, self.edge_source, self.travel_time_s.indices,
                              self.node_lat, self.node_lon)

    @cached_property
    def _trees(self) -> dict[tuple[str, bool, bool], Any]:
        return {}

    def _tree(self, *, main_only: bool, street_only: bool) -> tuple[cKDTree, np.ndarray] | None:
        """KD-tree over the candidate nodes and their indices; None if there are none."""
        key = ("node", main_only, street_only)
        if key not in self._trees:
            mask = np.ones(self.n_nodes, dtype=bool)
            if main_only:
                mask &= self.main_component
            if street_only:
                mask &= self.node_street
            idx = np.flatnonzero(mask)
            tree = cKDTree(self.project(self.node_lat[idx], self.node_lon[idx]))
            self._trees[key] = (tree, idx) if idx.size else None
        result: tuple[cKDTree, np.ndarray] | None = self._trees[key]
        return result

    def _segments(self, *, main_only: bool, street_only: bool) -> segments.SegmentIndex | None:
        """Index of the segments of the candidate edges, each road once (one of two twins)."""
        key = ("edge", main_only, street_only)
        if key not in self._trees:
            mask = np.ones(self.n_edges, dtype=bool)
            if main_only:
                mask &= self.main_component[self.edge_source]
                mask &= self.main_component[self.travel_time_s.indices]
            if street_only:
                mask &= ~self.edge_fast
            twin = self.edge_twin
            mask &= (twin < 0) | (np.arange(self.n_edges) < twin) | ~mask[np.maximum(twin, 0)]
            self._trees[key] = segments.segment_index(self.edge_lines, np.flatnonzero(mask))
        index: segments.SegmentIndex | None = self._trees[key]
        return index


@dataclass(frozen=True, eq=False)
class SnapResult:
    """Points placed on the road network (one entry per input point).

    A point lies on edge ``edge`` (``u -> v``) at the fraction ``frac`` of its length from
    ``u``; on a two-way road the twin edge ``v -> u`` (`RoadNetwork.edge_twin`) passes the same
    point at ``1 - frac``. ``edge == -1``: the point is at the node ``node``.

    Attributes
    ----------
    edge : np.ndarray
        Edge of the point (CSR order, int64), -1 for a point at a node.
    frac : np.ndarray
        Position along that edge, 0 (its from-node) .. 1 (its to-node); 0 at a node.
    node : np.ndarray
        The nearer end of the edge (int64), or the node itself.
    distance_m : np.ndarray
        Great-circle distance from the input point to its place on the road, metres.
    lat, lon : np.ndarray
        Coordinates of the place on the road (the projected point, or the node).
    too_far : np.ndarray
        True where ``distance_m`` exceeds the ``max_snap_m`` of the call.
    outside : np.ndarray
        True where the point lies outside the network's bounds.
    """

    edge: np.ndarray
    frac: np.ndarray
    node: np.ndarray
    distance_m: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    too_far: np.ndarray
    outside: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """True where the point is inside the bounds and close enough to the network."""
        return ~(self.too_far | self.outside)

    def __len__(self) -> int:
        return int(self.node.shape[0])

    def take(self, index: Any) -> SnapResult:
        """The entries at `index` (positions), in that order."""
        i = np.asarray(index, dtype=np.int64).reshape(-1)
        return SnapResult(self.edge[i], self.frac[i], self.node[i], self.distance_m[i],
                          self.lat[i], self.lon[i], self.too_far[i], self.outside[i])

    @staticmethod
    def concat(parts: Sequence[SnapResult]) -> SnapResult:
        """The entries of all `parts`, one after the other."""
        def cat(name: str, dtype: Any) -> np.ndarray:
            if not parts:
                return np.zeros(0, dtype=dtype)
            return np.concatenate([getattr(p, name) for p in parts]).astype(dtype)

        return SnapResult(cat("edge", np.int64), cat("frac", float), cat("node", np.int64),
                          cat("distance_m", float), cat("lat", float), cat("lon", float),
                          cat("too_far", bool), cat("outside", bool))


# --------------------------------------------------------------------------- public API


def default_osm_path() -> Path:
    """Path of the bundled default network, ``data/osm/chengdu_ring2.osm.bz2``
    (`optimizer.bundled`: from a checkout, an editable or an installed package)."""
    return bundled.default_osm_path()


def load_network(
    source: str | os.PathLike[str] | None = None,
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    mode: str = "drive",
    speed_factor: float = 1.0,
    speeds_kph: Mapping[str, float] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> RoadNetwork:
    """Load the road network for a travel mode.

    Parameters
    ----------
    source : path, optional
        Local OSM file: XML (``.osm``, ``.osm.bz2``, ``.osm.gz``) or PBF (``.osm.pbf``).
        ``None`` with neither
        ``place`` nor ``bbox``: the bundled Chengdu extract (`default_osm_path`).
    place : str, optional
        Place name to download roads for through OSMnx/Overpass (needs internet). Only used when
        given; exclusive with ``source`` and ``bbox``.
    bbox : (min_lat, min_lon, max_lat, max_lon), optional
        Box to download roads for, WGS-84 degrees (needs internet).
    mode : {"drive", "bike", "walk"}
        Network and speeds: ``drive`` = cars (OSMnx's 'drive' roads, no service roads);
        ``bike`` = (e-)bikes: cycleways and paths too, no motorways, one-way streets respected
        unless ``oneway:bicycle=no``; ``walk`` = on foot, footways too, one-way ignored.
    speed_factor : float, default 1.0
        Multiplies every speed (0.8 = 20 % slower traffic); travel times are divided by it.
        Applied after the cache.
    speeds_kph : mapping, optional
        Speed per OSM highway class in km/h, ``"*"`` for the others; replaces the mode's
        `DEFAULT_SPEEDS_KPH`. Part of the cache key.
    cache_dir : path, optional
        Where processed networks are cached; default `default_cache_dir`.
    use_cache : bool, default True
        False: neither read nor write the cache.
    progress : Progress, optional
        Progress reporter.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    MissingFileError
        ``source`` does not exist (a `FileNotFoundError` too).
    NetworkError
        Bad arguments, unreadable file, or no road of the mode in the data.
    """
    if mode not in MODES:
        raise NetworkError(f"unknown travel mode {mode!r}; use one of {', '.join(MODES)}")
    if not (np.isfinite(speed_factor) and speed_factor > 0):
        raise NetworkError(
            f"speed_factor {speed_factor!r} must be a positive number "
            "(1.0 = normal traffic, 0.8 = 20 % slower)"
        )
    given = [name for name, v in (("source", source), ("place", place), ("bbox", bbox)) if v]
    if len(given) > 1:
        raise NetworkError(f"give only one of source, place or bbox (got {', '.join(given)})")
    speeds = dict(speeds_kph) if speeds_kph is not None else dict(DEFAULT_SPEEDS_KPH[mode])
    _check_speeds(speeds)

    if place is None and bbox is None:
        path = Path(source) if source is not None else default_osm_path()
        if not path.is_file():
            raise MissingFileError(
                f"OSM file {path} not found; give an existing {FORMATS} file "
                "(default: the bundled data/osm/chengdu_ring2.osm.bz2)"
            )
        origin = f"file:{file_sha256(path)}"
        description = str(path)
    else:
        if bbox is not None:
            bbox = _check_bbox(bbox)
            origin = description = "bbox:" + ",".join(f"{v:.6f}" for v in bbox)
        else:
            origin = description = f"place:{place}"
        path = None

    key = _cache_key(origin, mode, speeds)
    cache_file = None
    if use_cache:
        cache_file = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        cache_file = cache_file / f"network-{mode}-{key}.npz"
        if cache_file.is_file():
            try:
                cached = _network_from_arrays(
                    _read_cache(cache_file), speed_factor=speed_factor, cache=cache_file
                )
            except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
                    zipfile.BadZipFile) as exc:
                # truncated by a crash, or written by something else: rebuilt below
                moved = set_aside(cache_file)
                logger.warning("ignoring unreadable network cache %s (%s: %s); %s, rebuilding "
                               "it", cache_file, type(exc).__name__, exc,
                               f"set aside as {moved.name}" if moved else "removed")
            else:
                logger.info("road network from cache %s", cache_file)
                return cached

    with ensure(progress).step(f"Building {mode} road network", total=None) as advance:
        if path is not None:
            raw = _read_osm(path, mode)
            advance()
            arrays = _build_arrays(raw, mode=mode, speeds=speeds)
        else:
            graph = _download_graph(place=place, bbox=bbox, mode=mode)
            advance()
            arrays = _arrays_from_graph(graph, speeds=speeds, bounds=None)
        advance()
        arrays["cch_order"] = _node_order(arrays)
        advance()
    arrays["source"] = np.array(description)
    arrays["mode"] = np.array(mode)
    if cache_file is not None:
        _write_cache(cache_file, arrays)
    return _network_from_arrays(
        arrays, speed_factor=speed_factor, cache=cache_file if use_cache else None
    )


def snap(
    network: RoadNetwork,
    lat: Any,
    lon: Any,
    *,
    max_snap_m: float = 1000.0,
    main_component_only: bool = True,
    prefer_streets: bool = True,
) -> SnapResult:
    """Place points on the nearest point of the nearest road segment.

    Each point goes to the nearest point of the line of an edge (its geometry, not only its end
    nodes): a case in the middle of a long block is placed beside its door, not at a junction
    hundreds of metres away. On a two-way road the place lies on both directions' edges (one is
    returned, the other is its `RoadNetwork.edge_twin`); on a one-way street it can be left only
    towards the edge's to-node and reached only from its from-node (`optimizer.geo.matrix`).

    Parameters
    ----------
    network : RoadNetwork
    lat, lon : array_like
        Point coordinates, WGS-84 degrees, same length.
    max_snap_m : float, default 1000
        Points farther than this from the road are flagged in ``too_far``; they are still
        placed, so that the caller decides.
    main_component_only : bool, default True
        Only edges between nodes of the largest strongly connected component, so that every
        placed point can reach every other (points are never put on an isolated fragment).
    prefer_streets : bool, default True
        Skip expressway edges (`FAST_HIGHWAYS`, e.g. the ramps of an elevated ring road) unless
        no other road is within ``max_snap_m``.

    Returns
    -------
    SnapResult

    Raises
    ------
    NetworkError
        Coordinates missing or not finite (all offending positions are named).
    """
    lat, lon = _check_points(lat, lon, max_snap_m)
    xy = network.project(lat, lon)
    anywhere = network._segments(main_only=main_component_only, street_only=False)
    streets = (network._segments(main_only=main_component_only, street_only=True)
               if prefer_streets else None)
    first = anywhere if streets is None else streets
    if first is None:
        raise NetworkError("the road network has no road to snap to")
    near = first.nearest(network.edge_lines, xy)
    edge, frac, plat, plon = near.edge, near.frac, near.lat, near.lon
    dist = haversine_m(lat, lon, plat, plon)
    if streets is not None and anywhere is not None:
        # no street in reach: an expressway within reach is better than none
        far = np.flatnonzero(dist > max_snap_m)
        if far.size:
            alt = anywhere.nearest(network.edge_lines, xy[far])
            alt_dist = haversine_m(lat[far], lon[far], alt.lat, alt.lon)
            use = alt_dist <= max_snap_m
            sel = far[use]
            edge[sel], frac[sel] = alt.edge[use], alt.frac[use]
            plat[sel], plon[sel], dist[sel] = alt.lat[use], alt.lon[use], alt_dist[use]
    u, v = network.edge_source[edge], network.travel_time_s.indices[edge].astype(np.int64)
    node = np.where(frac <= 0.5, u, v)
    at_end = (frac <= 0.0) | (frac >= 1.0)  # the projection is an end node: a place at a node
    edge = np.where(at_end, -1, edge)
    frac = np.where(at_end, 0.0, frac)
    plat = np.where(at_end, network.node_lat[node], plat)
    plon = np.where(at_end, network.node_lon[node], plon)
    return SnapResult(edge=edge, frac=frac, node=node, distance_m=dist, lat=plat, lon=plon,
                      too_far=dist > max_snap_m, outside=~network.bounds.contains(lat, lon))


def snap_to_node(
    network: RoadNetwork,
    lat: Any,
    lon: Any,
    *,
    max_snap_m: float = 1000.0,
    main_component_only: bool = True,
    prefer_streets: bool = True,
) -> SnapResult:
    """Place points at their nearest network *node* (junction or dead end), as `snap` did
    before it placed them on segments; for comparisons (``scripts/bench_matrix.py``).

    Parameters and result as for `snap`; every ``edge`` is -1.
    """
    lat, lon = _check_points(lat, lon, max_snap_m)
    xy = network.project(lat, lon)
    anywhere = network._tree(main_only=main_component_only, street_only=False)
    streets = (
        network._tree(main_only=main_component_only, street_only=True) if prefer_streets else None
    )
    node = _nearest(anywhere if streets is None else streets, xy)
    dist = haversine_m(lat, lon, network.node_lat[node], network.node_lon[node])
    if streets is not None and anywhere is not None:
        # no street in reach: an expressway node within reach is better than none
        far = np.flatnonzero(dist > max_snap_m)
        if far.size:
            alt = _nearest(anywhere, xy[far])
            alt_dist = haversine_m(lat[far], lon[far], network.node_lat[alt], network.node_lon[alt])
            use = alt_dist <= max_snap_m
            node[far[use]] = alt[use]
            dist[far[use]] = alt_dist[use]
    return SnapResult(
        edge=np.full(node.shape, -1, dtype=np.int64),
        frac=np.zeros(node.shape),
        node=node,
        distance_m=dist,
        lat=network.node_lat[node],
        lon=network.node_lon[node],
        too_far=dist > max_snap_m,
        outside=~network.bounds.contains(lat, lon),
    )


def at_nodes(network: RoadNetwork, node: Any) -> SnapResult:
    """Places at the given network nodes (no distance to walk), e.g. for hand-picked nodes."""
    node = np.atleast_1d(np.asarray(node))
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
    lat, lon = network.node_lat[node], network.node_lon[node]
    zeros = np.zeros(node.shape)
    return SnapResult(np.full(node.shape, -1, dtype=np.int64), zeros, node, zeros.copy(), lat,
                      lon, np.zeros(node.shape, dtype=bool), ~network.bounds.contains(lat, lon))


def _check_points(lat: Any, lon: Any, max_snap_m: float) -> tuple[np.ndarray, np.ndarray]:
    if not max_snap_m > 0:
        raise NetworkError(f"max_snap_m {max_snap_m!r} must be a positive distance in metres")
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    if lat.shape != lon.shape or lat.ndim != 1:
        raise NetworkError(
            f"lat and lon must be 1-d and equally long (got {lat.shape}, {lon.shape})"
        )
    bad = np.flatnonzero(~(np.isfinite(lat) & np.isfinite(lon)))
    if bad.size:
        shown = ", ".join(str(i) for i in bad[:20]) + (" ..." if bad.size > 20 else "")
        raise NetworkError(
            f"{bad.size} point(s) without finite lat/lon at positions {shown}; geocode them "
            "or drop them before snapping"
        )
    return lat, lon


def _nearest(tree: tuple[cKDTree, np.ndarray] | None, xy: np.ndarray) -> np.ndarray:
    if tree is None:
        raise NetworkError("the road network has no node to snap to")
    if xy.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    _, pos = tree[0].query(xy)
    return tree[1][pos].astype(np.int64)


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in metres between WGS-84 points (vectorised)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def network_to_networkx(network: RoadNetwork) -> Any:
    """The network as a `networkx.DiGraph` with ``travel_time``/``length`` edge attributes.

    For checks and plotting; the optimizer itself never needs it.
    """
    import networkx as nx  # networkx and osmnx only when a network is built, not read from cache

    graph: nx.DiGraph[int] = nx.DiGraph()
    for i in range(network.n_nodes):
        graph.add_node(i, y=float(network.node_lat[i]), x=float(network.node_lon[i]))
    u = network.edge_source
    v = network.travel_time_s.indices
    for k, (a, b) in enumerate(zip(u.tolist(), v.tolist(), strict=True)):
        graph.add_edge(
            a, b, travel_time=network.travel_time_s.data[k], length=network.length_m.data[k]
        )
    return graph


# --------------------------------------------------------------------------- OSM parsing


@dataclass
class _RawOsm:
    node_lat: dict[int, float]
    node_lon: dict[int, float]
    ways: list[tuple[int, list[int], dict[str, str]]]  # (way id, node refs, tags)
    bounds: Bounds | None


def _way_allowed(tags: Mapping[str, str], mode: str) -> bool:
    if "highway" not in tags:
        return False
    for key, pattern in _EXCLUDE[mode]:
        value = tags.get(key)
        if value is not None and re.search(pattern, value):
            return False
    return True


def _read_osm(path: Path, mode: str) -> _RawOsm:
    """Read nodes and the mode's ways from an OSM XML or PBF file (`optimizer.geo.osmfile`)."""
    node_lat: dict[int, float] = {}
    node_lon: dict[int, float] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    bounds = None
    try:
        for el in iter_osm(path):
            if el.kind == "node":
                node_lat[el.id] = el.lat
                node_lon[el.id] = el.lon
            elif el.kind == "way":
                if _way_allowed(el.tags, mode):
                    ways.append((el.id, el.refs, el.tags))
            elif el.kind == "bounds" and el.box is not None:
                bounds = Bounds(*el.box)
    except OsmFileError as exc:
        raise NetworkError(str(exc)) from exc
    return _RawOsm(node_lat, node_lon, ways, bounds)


def _split_at_missing(refs: list[int], known: Mapping[int, float]) -> Iterator[list[int]]:
    """Runs of consecutive refs whose nodes exist (clipped extracts drop some nodes)."""
    run: list[int] = []
    for r in refs:
        if r in known:
            run.append(r)
        else:
            if len(run) >= 2:
                yield run
            run = []
    if len(run) >= 2:
        yield run


def _is_oneway(tags: Mapping[str, str], mode: str) -> tuple[bool, bool]:
    """(one-way, reversed) as OSMnx decides it; walkers ignore one-way, cyclists' exceptions."""
    if mode == "walk":
        return False, False
    if mode == "bike" and tags.get("oneway:bicycle") == "no":
        return False, False
    oneway = tags.get("oneway")
    if oneway in _ONEWAY_VALUES:
        return True, oneway in _REVERSED_VALUES
    if tags.get("junction") == "roundabout":
        return True, False
    return False, False


def _build_arrays(raw: _RawOsm, *, mode: str, speeds: Mapping[str, float]) -> dict[str, Any]:
    import networkx as nx

    graph: nx.MultiDiGraph[int] = nx.MultiDiGraph(crs="epsg:4326")
    n_split = 0
    used: set[int] = set()
    edges_u: list[int] = []
    edges_v: list[int] = []
    edges_attr: list[dict[str, Any]] = []
    for way_id, refs, tags in raw.ways:
        runs = list(_split_at_missing(refs, raw.node_lat))
        if len(runs) != 1 or len(runs[0]) != len(refs):
            n_split += 1
        oneway, rev = _is_oneway(tags, mode)
        attrs: dict[str, Any] = {k: tags[k] for k in _EDGE_TAGS if k in tags}
        attrs["osmid"] = way_id
        attrs["oneway"] = oneway
        for run in runs:
            if rev:
                run = run[::-1]
            used.update(run)
            for a, b in itertools.pairwise(run):
                if a == b:
                    continue
                edges_u.append(a)
                edges_v.append(b)
                edges_attr.append({**attrs, "reversed": False})
                if not oneway:
                    edges_u.append(b)
                    edges_v.append(a)
                    edges_attr.append({**attrs, "reversed": True})
    if n_split:
        logger.warning(
            "%d way(s) reference nodes missing from the extract; split at the gaps", n_split
        )
    if not edges_u:
        raise NetworkError(
            f"no {mode} roads in the OSM data; fix: give an extract that covers the area and has "
            "highway ways (--osm), or choose another --mode"
        )
    graph.add_nodes_from((n, {"y": raw.node_lat[n], "x": raw.node_lon[n]}) for n in used)
    lat_u = np.array([raw.node_lat[n] for n in edges_u])
    lon_u = np.array([raw.node_lon[n] for n in edges_u])
    lat_v = np.array([raw.node_lat[n] for n in edges_v])
    lon_v = np.array([raw.node_lon[n] for n in edges_v])
    lengths = haversine_m(lat_u, lon_u, lat_v, lon_v)
    for a, b, attrs, length in zip(edges_u, edges_v, edges_attr, lengths.tolist(), strict=True):
        attrs["length"] = length
        graph.add_edge(a, b, **attrs)
    return _arrays_from_graph(graph, speeds=speeds, bounds=raw.bounds)


def _download_graph(
    *, place: str | None, bbox: tuple[float, float, float, float] | None, mode: str
) -> Any:
    import osmnx as ox

    try:
        if bbox is not None:
            min_lat, min_lon, max_lat, max_lon = bbox
            return ox.graph_from_bbox(
                (min_lon, min_lat, max_lon, max_lat),
                network_type=mode,
                simplify=False,
                retain_all=True,
            )
        assert place is not None  # load_network passes a place when it passes no bbox
        return ox.graph_from_place(place, network_type=mode, simplify=False, retain_all=True)
    except Exception as exc:  # network errors, unknown place, empty result
        what = f"bbox {bbox}" if bbox is not None else f"place {place!r}"
        raise NetworkError(
            f"--place: could not download {mode} roads for {what} from OpenStreetMap ({exc}); "
            "fix: check the internet connection and the place name, or give a local extract "
            "with --osm"
        ) from exc


def _speed_for(highway: Any, maxspeed: Any, speeds: Mapping[str, float]) -> float:
    if isinstance(highway, list):
        highway = highway[0]
    speed = float(speeds.get(str(highway), speeds["*"]))
    limit = _parse_maxspeed(maxspeed)
    return min(speed, limit) if limit is not None else speed


def _first_class(highway: Any) -> str:
    """The road class of an edge: its ``highway`` value, the first one if simplification merged
    several (as `_speed_for` reads it)."""
    if isinstance(highway, list):
        highway = highway[0] if highway else None
    return str(highway) if highway is not None else ""


def _parse_maxspeed(value: Any) -> float | None:
    """Lowest numeric limit in km/h from an OSM ``maxspeed`` value, if any ("30 mph" works)."""
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    found: list[float] = []
    for item in values:
        for part in str(item).split(";"):
            m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", part)
            if m:
                kph = float(m.group(1)) * (1.609344 if m.group(2) == "mph" else 1.0)
                if kph > 0:
                    found.append(kph)
    return min(found) if found else None


def _is_fast(highway: Any) -> bool:
    """True for an edge whose every highway class is an expressway class (`FAST_HIGHWAYS`)."""
    classes = highway if isinstance(highway, list) else [highway]
    return all(c in FAST_HIGHWAYS for c in classes)


def _arrays_from_graph(
    graph: Any, *, speeds: Mapping[str, float], bounds: Bounds | None
) -> dict[str, Any]:
    """Speeds and travel times on raw edges, simplify, then pack into arrays."""
    import osmnx as ox

    for _, _, data in graph.edges(data=True):
        speed_kph = _speed_for(data.get("highway"), data.get("maxspeed"), speeds)
        data["speed_kph"] = speed_kph
        data["travel_time"] = data["length"] / (speed_kph / 3.6)
    graph = ox.simplify_graph(graph, edge_attr_aggs={"length": sum, "travel_time": sum})

    osmids = np.array(sorted(graph.nodes), dtype=np.int64)
    index = {int(n): i for i, n in enumerate(osmids.tolist())}
    node_street = np.zeros(len(osmids), dtype=bool)
    for u, v, data in graph.edges(data=True):
        if not _is_fast(data.get("highway")):
            node_street[index[u]] = node_street[index[v]] = True
    node_lat = np.array([graph.nodes[n]["y"] for n in osmids.tolist()], dtype=float)
    node_lon = np.array([graph.nodes[n]["x"] for n in osmids.tolist()], dtype=float)

    # the fastest of parallel edges wins; keep its geometry, road class and expressway flag
    best: dict[tuple[int, int], tuple[float, float, Any, str, bool]] = {}
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        key = (index[u], index[v])
        tt = float(data["travel_time"])
        if key not in best or tt < best[key][0]:
            best[key] = (tt, float(data["length"]), data.get("geometry"),
                         _first_class(data.get("highway")), _is_fast(data.get("highway")))
    keys = sorted(best)
    n = len(osmids)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, np.array([k[0] for k in keys], dtype=np.int64) + 1, 1)
    indptr = np.cumsum(indptr)
    indices = np.array([k[1] for k in keys], dtype=np.int32)
    time_s = np.maximum(np.array([best[k][0] for k in keys]), _MIN_TIME_S)
    length_m = np.maximum(np.array([best[k][1] for k in keys]), _MIN_LENGTH_M)
    geom_ptr = np.zeros(len(keys) + 1, dtype=np.int64)
    glat: list[float] = []
    glon: list[float] = []
    for k, key in enumerate(keys):
        geom = best[key][2]
        if geom is not None:
            coords = list(geom.coords)[1:-1]  # (x=lon, y=lat)
            glon.extend(c[0] for c in coords)
            glat.extend(c[1] for c in coords)
        geom_ptr[k + 1] = len(glat)
    names = sorted({best[k][3] for k in keys})
    code = {name: i for i, name in enumerate(names)}
    edge_highway = np.array([code[best[k][3]] for k in keys], dtype=np.int16)
    if bounds is None:
        bounds = Bounds(
            float(node_lat.min()),
            float(node_lon.min()),
            float(node_lat.max()),
            float(node_lon.max()),
        )
    logger.info("road network: %d nodes, %d edges", n, len(keys))
    return {
        "node_osmid": osmids,
        "node_lat": node_lat,
        "node_lon": node_lon,
        "node_street": node_street,
        "edge_fast": np.array([best[k][4] for k in keys], dtype=bool),
        "indptr": indptr,
        "indices": indices,
        "time_s": time_s,
        "length_m": length_m,
        "geom_ptr": geom_ptr,
        "geom_lat": np.array(glat, dtype=float),
        "geom_lon": np.array(glon, dtype=float),
        "edge_highway": edge_highway,
        "highway_names": np.array(names, dtype=str),
        "bounds": np.array([bounds.min_lat, bounds.min_lon, bounds.max_lat, bounds.max_lon]),
    }


# --------------------------------------------------------------------------- cache


def _node_order(arrays: Mapping[str, Any]) -> np.ndarray:
    """The contraction hierarchy's node order of the built arrays (1.3 s on 50,000 nodes)."""
    indptr = arrays["indptr"]
    n = int(arrays["node_lat"].shape[0])
    tail = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    return cch.node_order(n, tail, arrays["indices"], arrays["node_lat"], arrays["node_lon"])


def _cache_key(origin: str, mode: str, speeds: Mapping[str, float]) -> str:
    blob = json.dumps(
        {"v": FORMAT_VERSION, "origin": origin, "mode": mode, "speeds": sorted(speeds.items())}
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _write_cache(path: Path, arrays: Mapping[str, Any]) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # write then rename, so a concurrent reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())  # complete on disk before it takes the cache's name
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not write network cache %s: %s", path, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    else:
        logger.info("road network cached in %s", path)


def _read_cache(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _network_from_arrays(
    arrays: Mapping[str, Any], *, speed_factor: float, cache: Path | None
) -> RoadNetwork:
    n = int(arrays["node_lat"].shape[0])
    indptr, indices = arrays["indptr"], arrays["indices"]
    time_s = arrays["time_s"] / speed_factor
    travel = sp.csr_matrix((time_s, indices, indptr), shape=(n, n))
    length = sp.csr_matrix((arrays["length_m"].copy(), indices, indptr), shape=(n, n))
    _, labels = connected_components(travel, directed=True, connection="strong")
    counts = np.bincount(labels)
    main = labels == int(np.argmax(counts))
    b = arrays["bounds"]
    order = np.asarray(arrays["cch_order"], dtype=np.int32)
    if order.size and not cch.is_order(order, n):
        raise ValueError(f"cch_order is not a node order of the {n} nodes")
    edge_fast = np.asarray(arrays["edge_fast"], dtype=bool)
    if edge_fast.shape != (indices.shape[0],):
        raise ValueError(f"edge_fast has {edge_fast.shape[0]} entries for {indices.shape[0]} edges")
    return RoadNetwork(
        node_osmid=arrays["node_osmid"],
        node_lat=arrays["node_lat"],
        node_lon=arrays["node_lon"],
        travel_time_s=travel,
        length_m=length,
        geom_ptr=arrays["geom_ptr"],
        geom_lat=arrays["geom_lat"],
        geom_lon=arrays["geom_lon"],
        main_component=main,
        node_street=arrays["node_street"],
        edge_highway=arrays["edge_highway"],
        highway_names=tuple(str(n) for n in arrays["highway_names"]),
        edge_fast=edge_fast,
        cch_order=order,
        bounds=Bounds(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
        source=str(arrays["source"]),
        mode=str(arrays["mode"]),
        speed_factor=float(speed_factor),
        cache_path=cache,
    )


def _check_speeds(speeds: Mapping[str, float]) -> None:
    problems = [
        f"{k}={v!r}"
        for k, v in speeds.items()
        if not isinstance(v, int | float) or not np.isfinite(v) or v <= 0
    ]
    if "*" not in speeds:
        problems.append('missing "*" (speed for other highway classes)')
    if problems:
        raise NetworkError(
            "speeds_kph must map highway classes to positive km/h, with a '*' default: "
            + "; ".join(problems)
        )


def _check_bbox(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    try:
        min_lat, min_lon, max_lat, max_lon = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise NetworkError(
            f"bbox {bbox!r} must be four numbers (min_lat, min_lon, max_lat, max_lon)"
        ) from exc
    if not (-90 <= min_lat < max_lat <= 90 and -180 <= min_lon < max_lon <= 180):
        raise NetworkError(
            f"bbox {bbox!r} is not (min_lat, min_lon, max_lat, max_lon) with min < max in "
            "WGS-84 degrees"
        )
    return min_lat, min_lon, max_lat, max_lon
