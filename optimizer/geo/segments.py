"""Edges as lines of straight segments: the nearest point of a road, and parts of a road's line.

Every edge of a `optimizer.geo.network.RoadNetwork` runs from its from-node through its interior
geometry points to its to-node. `EdgeLines` holds those points for all edges, in the network's
local projection (metres), with the length along each edge. A position on an edge is the
fraction ``f`` of its projected length from the from-node (0) to the to-node (1).

`SegmentIndex` finds the nearest point of the nearest segment for many points at once: a
KD-tree over the midpoints of pieces of at most `PIECE_M` metres cut from every segment, then an
exact point-to-segment distance for the candidates. The nearest piece midpoint is at most
``PIECE_M / 2`` farther than the nearest segment, so every segment whose pieces' midpoints lie
within ``best + PIECE_M / 2`` is checked: the answer is exact, not a sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

#: longest piece of a segment in the KD-tree, metres (smaller: more points, fewer re-checks)
PIECE_M = 20.0
_K = 8  # candidates per point from the KD-tree before the exactness check


@dataclass(frozen=True, eq=False)
class EdgeLines:
    """The line of every edge, as points.

    Attributes
    ----------
    ptr : np.ndarray
        The points of edge ``k`` are ``ptr[k]:ptr[k + 1]`` (at least two: its end nodes).
    lat, lon : np.ndarray
        Point coordinates, WGS-84 degrees.
    xy : np.ndarray
        Shape (points, 2): the same points in the network's local projection, metres.
    along_m : np.ndarray
        Projected length from the edge's from-node to each point, metres.
    """

    ptr: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    xy: np.ndarray
    along_m: np.ndarray

    @property
    def length_m(self) -> np.ndarray:
        """Projected length of every edge, metres."""
        return self.along_m[self.ptr[1:] - 1]

    def interior(self, edge: int, f_from: float, f_to: float) -> list[tuple[float, float]]:
        """The points of `edge` strictly between positions ``f_from < f_to``, as (lat, lon)."""
        a, b = int(self.ptr[edge]), int(self.ptr[edge + 1])
        total = float(self.along_m[b - 1])
        if total <= 0:
            return []
        f = self.along_m[a:b] / total
        inside = np.flatnonzero((f > f_from) & (f < f_to)) + a
        return list(zip(self.lat[inside].tolist(), self.lon[inside].tolist(), strict=True))


def edge_lines(node_lat: np.ndarray, node_lon: np.ndarray, tail: np.ndarray, head: np.ndarray,
               geom_ptr: np.ndarray, geom_lat: np.ndarray, geom_lon: np.ndarray,
               xy_of: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> EdgeLines:
    """`EdgeLines` of the edges ``tail[k] -> head[k]`` with interior points
    ``geom_*[geom_ptr[k]:geom_ptr[k + 1]]``; `xy_of(lat, lon)` projects to metres."""
    n_inner = np.diff(geom_ptr)
    ptr = np.concatenate([[0], np.cumsum(n_inner + 2)]).astype(np.int64)
    total = int(ptr[-1])
    lat = np.empty(total)
    lon = np.empty(total)
    first, last = ptr[:-1], ptr[1:] - 1
    lat[first], lon[first] = node_lat[tail], node_lon[tail]
    lat[last], lon[last] = node_lat[head], node_lon[head]
    inner = np.ones(total, dtype=bool)
    inner[first] = inner[last] = False
    lat[inner], lon[inner] = geom_lat, geom_lon
    xy = xy_of(lat, lon)
    step = np.zeros(total)
    step[1:] = np.hypot(*(xy[1:] - xy[:-1]).T)
    step[first] = 0.0  # no step from the previous edge's end
    along = np.cumsum(step)
    along -= np.repeat(along[first], n_inner + 2)
    return EdgeLines(ptr, lat, lon, xy, along)


@dataclass(frozen=True, eq=False)
class Nearest:
    """The nearest point of the indexed edges for each query point.

    Attributes
    ----------
    edge : np.ndarray
        Edge of that point (int64).
    frac : np.ndarray
        Its position along the edge, 0 (from-node) .. 1 (to-node).
    lat, lon : np.ndarray
        Its coordinates, WGS-84 degrees.
    """

    edge: np.ndarray
    frac: np.ndarray
    lat: np.ndarray
    lon: np.ndarray


@dataclass(frozen=True, eq=False)
class SegmentIndex:
    """A KD-tree over pieces of the segments of some edges (`segment_index`)."""

    tree: cKDTree
    piece_seg: np.ndarray  # first point (in EdgeLines) of the segment of each piece
    seg_edge: np.ndarray  # edge of the segment starting at each point (-1 at an edge's end)

    def nearest(self, lines: EdgeLines, xy: np.ndarray) -> Nearest:
        """The nearest point of the indexed segments to each point of `xy` (metres)."""
        n = xy.shape[0]
        if n == 0:
            empty = np.zeros(0)
            return Nearest(np.zeros(0, dtype=np.int64), empty, empty, empty)
        k = min(_K, self.piece_seg.shape[0])
        found = self.tree.query(xy, k=k)
        dist = np.asarray(found[0], dtype=float).reshape(n, k)
        pos = np.asarray(found[1], dtype=np.int64).reshape(n, k)
        seg = self.piece_seg[pos]
        d, t = _to_segments(lines, xy[:, None, :], seg)
        best = np.argmin(d, axis=1)
        rows = np.arange(n)
        best_seg, best_t, best_d = seg[rows, best], t[rows, best], d[rows, best]
        # exact unless a piece farther than the k-th might still hold a nearer segment
        unsure = np.flatnonzero((k < self.piece_seg.shape[0])
                                & (dist[:, -1] <= best_d + PIECE_M / 2))
        for i in unsure.tolist():
            cand = self.piece_seg[self.tree.query_ball_point(xy[i], best_d[i] + PIECE_M / 2)]
            cand = np.unique(cand)
            di, ti = _to_segments(lines, xy[i][None, None, :], cand[None, :])
            j = int(np.argmin(di[0]))
            best_seg[i], best_t[i], best_d[i] = cand[j], ti[0, j], di[0, j]
        edge = self.seg_edge[best_seg]
        a, b = best_seg, best_seg + 1
        lat = lines.lat[a] + best_t * (lines.lat[b] - lines.lat[a])
        lon = lines.lon[a] + best_t * (lines.lon[b] - lines.lon[a])
        along = lines.along_m[a] + best_t * (lines.along_m[b] - lines.along_m[a])
        total = lines.length_m[edge]
        frac = np.where(total > 0, along / np.where(total > 0, total, 1.0), 0.0)
        return Nearest(edge.astype(np.int64), np.clip(frac, 0.0, 1.0), lat, lon)


def segment_index(lines: EdgeLines, edges: np.ndarray) -> SegmentIndex | None:
    """The `SegmentIndex` of the segments of `edges` (edge ids); None if there are none."""
    n_points = lines.xy.shape[0]
    seg_edge = np.full(n_points, -1, dtype=np.int64)
    counts = np.diff(lines.ptr)
    owner = np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)
    starts = np.ones(n_points, dtype=bool)
    starts[lines.ptr[1:] - 1] = False  # an edge's last point starts no segment
    seg_edge[starts] = owner[starts]
    keep = np.zeros(counts.shape[0], dtype=bool)
    keep[edges] = True
    segs = np.flatnonzero(starts & keep[owner])
    if segs.size == 0:
        return None
    a, b = lines.xy[segs], lines.xy[segs + 1]
    length = np.hypot(*(b - a).T)
    pieces = np.maximum(1, np.ceil(length / PIECE_M)).astype(np.int64)
    piece_seg = np.repeat(segs, pieces)
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    share = (np.arange(piece_seg.shape[0]) - first + 0.5) / np.repeat(pieces, pieces)
    mid = np.repeat(a, pieces, axis=0) + share[:, None] * np.repeat(b - a, pieces, axis=0)
    return SegmentIndex(cKDTree(mid), piece_seg, seg_edge)


def _to_segments(lines: EdgeLines, xy: np.ndarray, seg: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Distance (metres) from points ``xy`` (n, 1, 2) to segments ``seg`` (n, k), and the
    position 0..1 of the nearest point along each segment."""
    a, b = lines.xy[seg], lines.xy[seg + 1]
    ab = b - a
    den = np.einsum("...i,...i->...", ab, ab)
    t = np.einsum("...i,...i->...", xy - a, ab) / np.where(den > 0, den, 1.0)
    t = np.clip(np.where(den > 0, t, 0.0), 0.0, 1.0)
    near = a + t[..., None] * ab
    return np.hypot(*(xy - near).transpose(2, 0, 1)), t
