"""WGS-84 -> GCJ-02 / BD-09 against published reference values.

References (third-party implementations of the same published transform):
- googollee/eviltransform test table (Shanghai, Shenzhen, Beijing; WGS-84 -> GCJ-02);
- coordtransform-rs tests (Beijing 39.915, 116.404: WGS-84 -> GCJ-02, GCJ-02 <-> BD-09).
"""

from __future__ import annotations

import math

import pytest

from optimizer.geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

TOL_DEG = 1e-9

WGS_TO_GCJ = [
    # wgs lat, wgs lon, gcj lat, gcj lon
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
    (39.915, 116.404, 39.91640428150164, 116.41024449916938),  # Beijing (coordtransform-rs)
]


@pytest.mark.parametrize(("lat", "lon", "g_lat", "g_lon"), WGS_TO_GCJ)
def test_wgs84_to_gcj02_matches_reference(lat, lon, g_lat, g_lon):
    got = wgs84_to_gcj02(lat, lon)
    assert got == pytest.approx((g_lat, g_lon), abs=TOL_DEG)


def test_gcj02_bd09_match_reference():
    assert gcj02_to_bd09(39.915, 116.404) == pytest.approx(
        (39.92133699351021, 116.41036949371029), abs=TOL_DEG
    )
    assert bd09_to_gcj02(39.915, 116.404) == pytest.approx(
        (39.90865673957631, 116.39762729119315), abs=TOL_DEG
    )


def test_wgs84_to_bd09_composes():
    lat, lon = 30.6598, 104.0633  # Tianfu Square, Chengdu
    assert wgs84_to_bd09(lat, lon) == gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    d_lat = (a[0] - b[0]) * 111_320.0
    d_lon = (a[1] - b[1]) * 111_320.0 * math.cos(math.radians(a[0]))
    return math.hypot(d_lat, d_lon)


def test_shift_in_chengdu_is_a_few_hundred_metres():
    # GCJ-02 moves points in Chengdu by roughly 300-600 m; BD-09 adds about another 1 km.
    p = (30.6598, 104.0633)
    gcj = wgs84_to_gcj02(*p)
    assert 200 < _metres(p, gcj) < 800
    assert gcj[0] < p[0] and gcj[1] > p[1]  # south-east shift here
    assert 500 < _metres(gcj, gcj02_to_bd09(*gcj)) < 1500


@pytest.mark.parametrize(
    ("lat", "lon"), [(30.66, 104.05), (30.72, 104.12), (39.9, 116.4), (23.1, 113.3)]
)
def test_inverses_round_trip(lat, lon):
    assert _metres(gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon)), (lat, lon)) < 0.01
    assert _metres(bd09_to_wgs84(*wgs84_to_bd09(lat, lon)), (lat, lon)) < 0.5


def test_identity_outside_china():
    for lat, lon in [(48.8566, 2.3522), (0.0, 0.0), (-33.86, 151.2)]:
        assert out_of_china(lat, lon)
        assert wgs84_to_gcj02(lat, lon) == (lat, lon)
        assert gcj02_to_wgs84(lat, lon) == (lat, lon)
    assert not out_of_china(30.66, 104.06)
