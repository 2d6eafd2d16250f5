"""Places on road segments: snapping to the nearest point of a road, one-way streets, places
sharing a road, on the hand-built block tests/data/long_block.osm (drawing in the file):

    n4 < < < < < < < < < n3      one-way n3 -> n4 (westwards), 0.01 deg of longitude long
    ||                   ||      two-way sides n2 = n3 and n4 = n1, 0.001 deg of latitude
    n1 ====== b ======== n2      two-way, b a bend point of the way (no junction)

All streets are residential, 15 km/h; the last metres from a point to its place on the road are
walked at 4.5 km/h. Every expected value is worked out from the drawing in its comment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.geo.matrix import WALK_SPEED_KMH, route_path, travel_matrices
from optimizer.geo.network import haversine_m, load_network, snap, snap_to_node

BLOCK_OSM = Path(__file__).parent / "data" / "long_block.osm"
DRIVE_MPS = 15 / 3.6
WALK_MPS = WALK_SPEED_KMH / 3.6
M_PER_DEG_LAT = 111_195.0  # EARTH_RADIUS_M * pi / 180
ENGINES = ["cch", "dijkstra"]

#: along the long block n1 = n2 (metres), the one-way n3 -> n4, a side n2 = n3
LONG_M = float(haversine_m(30.7, 104.0, 30.7, 104.01))
TOP_M = float(haversine_m(30.701, 104.0, 30.701, 104.01))
SIDE_M = float(haversine_m(30.7, 104.01, 30.701, 104.01))

# A, D: 20 m south of the long block at 1/2 and 7/10 of it; B, C: 10 m north of the one-way,
# a quarter and three quarters of the way from n3 (east) to n4 (west)
LAT = np.array([30.7 - 20 / M_PER_DEG_LAT, 30.7 - 20 / M_PER_DEG_LAT,
                30.701 + 10 / M_PER_DEG_LAT, 30.701 + 10 / M_PER_DEG_LAT])
LON = np.array([104.005, 104.007, 104.0075, 104.0025])
A, D, B, C = range(4)


@pytest.fixture(scope="module")
def block(tmp_path_factory):
    return load_network(BLOCK_OSM, mode="drive", cache_dir=tmp_path_factory.mktemp("block"))


@pytest.fixture(scope="module")
def places(block):
    return snap(block, LAT, LON)


def _osmid(net, node) -> int:
    return int(net.node_osmid[node])


def test_a_case_on_a_long_block_snaps_to_the_segment_not_the_far_node(block, places):
    # A is 20 m from the road; the nearest junction, n1 or n2, is ~478 m away
    assert places.distance_m[A] == pytest.approx(20.0, abs=0.01)
    assert (places.lat[A], places.lon[A]) == pytest.approx((30.7, 104.005), abs=1e-9)
    assert places.edge[A] >= 0 and places.frac[A] == pytest.approx(0.5)
    at_node = snap_to_node(block, LAT, LON)
    assert at_node.distance_m[A] == pytest.approx(np.hypot(20, LONG_M / 2), rel=1e-3)
    assert places.ok.all()


def test_places_lie_on_their_edges(block, places):
    u = block.edge_source[places.edge]
    v = block.travel_time_s.indices[places.edge]
    ends = {(_osmid(block, a), _osmid(block, b)) for a, b in zip(u[:2], v[:2], strict=True)}
    assert ends <= {(1, 2), (2, 1)}  # the long block, either direction
    # the one-way has no twin: B and C lie on n3 -> n4, a quarter and three quarters along
    assert [(_osmid(block, a), _osmid(block, b)) for a, b in zip(u[2:], v[2:], strict=True)] \
        == [(3, 4), (3, 4)]
    assert block.edge_twin[places.edge[B]] == -1
    assert places.frac[[B, C]] == pytest.approx([0.25, 0.75])
    assert block.edge_twin[places.edge[A]] >= 0


@pytest.mark.parametrize("engine", ENGINES)
def test_one_way_street_cannot_be_left_backwards(places, block, engine):
    tm = travel_matrices(block, places, engine=engine)
    walk = 2 * 10 / WALK_MPS
    # B -> C: half of the one-way, with the traffic
    assert tm.duration_s[B, C] == pytest.approx(0.5 * TOP_M / DRIVE_MPS + walk, abs=2e-3)
    assert tm.distance_m[B, C] == pytest.approx(0.5 * TOP_M + 20, abs=0.1)
    # C -> B: on to n4, round the block n4 -> n1 -> n2 -> n3, then a quarter of the one-way
    around_m = 0.25 * TOP_M + SIDE_M + LONG_M + SIDE_M + 0.25 * TOP_M
    assert tm.duration_s[C, B] == pytest.approx(around_m / DRIVE_MPS + walk, abs=2e-3)
    assert tm.distance_m[C, B] == pytest.approx(around_m + 20, abs=0.1)


@pytest.mark.parametrize("engine", ENGINES)
def test_places_on_one_two_way_road_are_joined_along_it(places, block, engine):
    tm = travel_matrices(block, places, engine=engine)
    # A and D on the two-way block, 2/10 of it apart: straight along it, either way
    direct_m = 0.2 * LONG_M
    for i, j in ((A, D), (D, A)):
        assert tm.duration_s[i, j] == pytest.approx(direct_m / DRIVE_MPS + 40 / WALK_MPS,
                                                    abs=2e-3)
        assert tm.distance_m[i, j] == pytest.approx(direct_m + 40, abs=0.1)
    # A -> B: east along the block to n2 (half of it), up the side, a quarter of the one-way
    a_b = 0.5 * LONG_M + SIDE_M + 0.25 * TOP_M
    assert tm.duration_s[A, B] == pytest.approx(a_b / DRIVE_MPS + 30 / WALK_MPS, abs=2e-3)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_cases_at_one_place(block, engine):
    # two doors 10 m and 30 m south of the same point of the block share its place
    lat = np.array([30.7 - 10 / M_PER_DEG_LAT, 30.7 - 30 / M_PER_DEG_LAT])
    res = snap(block, lat, [104.006, 104.006])
    assert res.frac[0] == pytest.approx(res.frac[1]) and res.edge[0] == res.edge[1]
    assert res.distance_m == pytest.approx([10, 30], abs=1e-3)
    tm = travel_matrices(block, res, engine=engine)
    # no road between them: walked out to the road and in again
    assert tm.duration_s[0, 1] == pytest.approx(res.distance_m.sum() / WALK_MPS, abs=1e-9)
    assert tm.distance_m[0, 1] == pytest.approx(res.distance_m.sum(), abs=1e-9)


def test_places_a_metre_apart_far_from_the_long_arcs(block):
    # two doors 1 m apart along the block, far from its junctions: the leg between them runs
    # along the road, a fraction of a second between two arcs minutes long
    lat = np.full(2, 30.7 - 5 / M_PER_DEG_LAT)
    lon = np.array([104.005, 104.005 + 1 / (M_PER_DEG_LAT * np.cos(np.radians(30.7)))])
    res = snap(block, lat, lon)
    cch, ref = (travel_matrices(block, res, engine=e) for e in ENGINES)
    along_m = float(haversine_m(30.7, lon[0], 30.7, lon[1]))
    assert ref.duration_s[0, 1] == pytest.approx(along_m / DRIVE_MPS + 10 / WALK_MPS, abs=1e-4)
    assert cch.duration_s == pytest.approx(ref.duration_s, abs=1e-9)
    assert cch.distance_m == pytest.approx(ref.distance_m, abs=1e-9)


def test_route_line_starts_and_ends_at_the_places(block, places):
    line = route_path(block, places.take([C, B]))
    assert line[0] == pytest.approx((30.701, 104.0025), abs=1e-9)
    assert line[-1] == pytest.approx((30.701, 104.0075), abs=1e-9)
    # round the block: n4, n1, the bend b, n2, n3 in this order
    corners = [(30.701, 104.0), (30.7, 104.0), (30.7, 104.004), (30.7, 104.01), (30.701, 104.01)]
    assert line[1:-1] == pytest.approx(corners)
    lat, lon = np.array(line).T
    drawn_m = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum()
    tm = travel_matrices(block, places, engine="dijkstra")
    assert drawn_m == pytest.approx(tm.distance_m[C, B] - 20, rel=1e-6)
    # with the traffic, straight along the one-way
    assert route_path(block, places.take([B, C])) == pytest.approx(
        [(30.701, 104.0075), (30.701, 104.0025)])
