"""The road graph with the day's places spliced in: one node for each place on a road.

A place on edge ``u -> v`` at the fraction ``f`` of its length (`optimizer.geo.network.snap`)
becomes a node ``x`` of the graph with the arcs the road allows:

- ``u -> x`` (the share ``f`` of the edge's time and length) and ``x -> v`` (the rest): on a
  one-way street a place is reached from ``u`` and left towards ``v`` only;
- on a two-way road also ``v -> x`` and ``x -> u``, along the twin edge ``v -> u``
  (`RoadNetwork.edge_twin`), with its own time.

Several places on one road are chained along it in order (``u -> x1 -> x2 -> v``, and back on a
two-way road), so the leg between two of them follows the road directly, without a detour
through a junction; identical places share one node; a place at a node is that node. The
network's own edges stay, so a path through the road is as before. Times along an edge are
shared out by length (an edge's speed is the same along it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.geo.network import RoadNetwork, SnapResult


@dataclass(frozen=True, eq=False)
class Spliced:
    """A road graph with places spliced in (`splice`).

    Arcs ``0 .. network.n_edges - 1`` are the network's edges in CSR order; the others are the
    splice arcs, each running along one edge of the network between two positions.

    Attributes
    ----------
    n_nodes : int
        Nodes: the network's, then one per distinct place on a road.
    n_real : int
        The network's nodes (``0 .. n_real - 1``).
    tail, head : np.ndarray
        From- and to-node of every arc (int64).
    time_s, length_m : np.ndarray
        Travel time (seconds) and length (metres) of every arc.
    loc_node : np.ndarray
        The node of each place (int64), in the order of the `SnapResult`.
    arc_edge : np.ndarray
        For each splice arc: the network edge it runs along.
    arc_from, arc_to : np.ndarray
        For each splice arc: its start and end position along that edge (0..1, increasing).
    node_lat, node_lon : np.ndarray
        Coordinates of every node (the placed points for the spliced ones).
    """

    n_nodes: int
    n_real: int
    tail: np.ndarray
    head: np.ndarray
    time_s: np.ndarray
    length_m: np.ndarray
    loc_node: np.ndarray
    arc_edge: np.ndarray
    arc_from: np.ndarray
    arc_to: np.ndarray
    node_lat: np.ndarray
    node_lon: np.ndarray

    @property
    def n_spliced(self) -> int:
        return self.n_nodes - self.n_real


def splice(network: RoadNetwork, places: SnapResult, edge_time_s: np.ndarray) -> Spliced:
    """The network with `places` spliced in, the network's edges taking `edge_time_s`.

    Parameters
    ----------
    network : RoadNetwork
    places : SnapResult
        Where each location lies (on an edge or at a node).
    edge_time_s : np.ndarray
        Travel time of every network edge, seconds (CSR order).

    Returns
    -------
    Spliced
    """
    n_real = network.n_nodes
    tail0 = network.edge_source
    head0 = network.travel_time_s.indices.astype(np.int64)
    length0 = network.length_m.data
    on = np.flatnonzero(places.edge >= 0)
    edge, frac = places.edge[on], places.frac[on]
    twin_of = network.edge_twin
    twin = twin_of[edge]
    # one road, one key: the lower of two twins, and the position along it
    road = np.where((twin >= 0) & (twin < edge), twin, edge)
    pos = np.where(road == edge, frac, 1.0 - frac)
    order = np.lexsort((pos, road))
    road_s, pos_s = road[order], pos[order]
    new = np.ones(order.shape[0], dtype=bool)
    new[1:] = (road_s[1:] != road_s[:-1]) | (pos_s[1:] != pos_s[:-1])
    point = np.cumsum(new) - 1  # distinct place of each sorted entry
    loc_node = places.node.astype(np.int64).copy()
    loc_node[on[order]] = n_real + point
    p_road, p_pos = road_s[new], pos_s[new]
    p_lat = places.lat[on[order]][new]
    p_lon = places.lon[on[order]][new]
    m = p_road.shape[0]
    x = n_real + np.arange(m, dtype=np.int64)
    first = np.ones(m, dtype=bool)
    first[1:] = p_road[1:] != p_road[:-1]
    last = np.ones(m, dtype=bool)
    last[:-1] = first[1:]
    u, v = tail0[p_road], head0[p_road]

    tails, heads, edges, f_from, f_to = [], [], [], [], []

    def arcs(t: np.ndarray, h: np.ndarray, e: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        tails.append(t)
        heads.append(h)
        edges.append(e)
        f_from.append(a)
        f_to.append(b)

    # along the road: from the previous place (or u) to each place, and from the last one to v
    prev = np.where(first, u, np.roll(x, 1))
    prev_pos = np.where(first, 0.0, np.roll(p_pos, 1))
    arcs(prev, x, p_road, prev_pos, p_pos)
    arcs(x[last], v[last], p_road[last], p_pos[last], np.ones(int(last.sum())))
    # back along the twin (two-way roads): positions along it are 1 - pos
    r = twin_of[p_road]
    two = r >= 0
    nxt = np.where(last, v, np.roll(x, -1))
    nxt_pos = np.where(last, 1.0, np.roll(p_pos, -1))
    arcs(nxt[two], x[two], r[two], 1.0 - nxt_pos[two], 1.0 - p_pos[two])
    back = two & first
    arcs(x[back], u[back], r[back], 1.0 - p_pos[back], np.ones(int(back.sum())))

    s_tail, s_head = np.concatenate(tails), np.concatenate(heads)
    s_edge = np.concatenate(edges)
    s_from, s_to = np.concatenate(f_from), np.concatenate(f_to)
    share = s_to - s_from
    return Spliced(
        n_nodes=n_real + m,
        n_real=n_real,
        tail=np.concatenate([tail0, s_tail]),
        head=np.concatenate([head0, s_head]),
        time_s=np.concatenate([edge_time_s, share * edge_time_s[s_edge]]),
        length_m=np.concatenate([length0, share * length0[s_edge]]),
        loc_node=loc_node,
        arc_edge=s_edge,
        arc_from=s_from,
        arc_to=s_to,
        node_lat=np.concatenate([network.node_lat, p_lat]),
        node_lon=np.concatenate([network.node_lon, p_lon]),
    )
