"""Speed profiles (`optimizer.geo.traffic`): reading and checking a profile CSV, the bands of a
day, which row applies to an edge, and the edge times of a band on a real network.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from optimizer.errors import InputError
from optimizer.geo import network as nw
from optimizer.geo import traffic as tr

DATA = Path(__file__).parent / "data"
TINY_OSM = DATA / "tiny_network.osm"
WEDNESDAY, SATURDAY = date(2026, 12, 2), date(2026, 12, 5)
H = 3600


def profile(tmp_path: Path, text: str) -> tr.TrafficProfile:
    path = tmp_path / "profile.csv"
    path.write_text(text, encoding="utf-8")
    return tr.load_profile(path)


def test_the_default_profile_has_the_peaks_of_the_published_figures():
    p = tr.default_profile()
    assert p.source == "default"
    # weekday: shoulders 06:30-07:00 and 09:00-09:30 around the morning peak 07:00-09:00, the
    # same around the evening peak 17:00-19:00, the network's own times in between
    bands = p.bands(WEDNESDAY)
    assert [b.start_s / H for b in bands] == [0, 6.5, 7, 9, 9.5, 16.5, 17, 19, 19.5]
    peak = bands[6]
    assert peak.factor("primary") == 1.43 and peak.factor("trunk_link") == 1.43
    assert peak.factor("tertiary") == 1.36 and peak.factor("motorway") == 1.36
    assert peak.factor("residential") == 1.18 and peak.factor("service") == 1.18
    assert bands[5].factor("primary") == 1.21  # the shoulder: half the extra delay
    assert bands[0].free and bands[4].free and bands[8].free
    assert not peak.free
    # weekend: one band of leisure traffic, 10:00-20:00
    assert [b.start_s / H for b in p.bands(SATURDAY)] == [0, 10, 20]
    assert p.factor("primary", "weekend", 12 * H) == 1.17
    # the figures it is derived from are named in the file
    text = Path(tr.__file__).parents[2].joinpath("data/traffic/china_cities.csv").read_text(
        encoding="utf-8")
    assert "Baidu" in text and "1.763" in text and "Amap" in text and "1.609" in text


def test_the_most_specific_row_applies(tmp_path):
    p = profile(tmp_path, "road_class,day_type,start,end,factor\n"
                          "*,*,07:00,09:00,1.1\n"
                          "*,weekday,08:00,09:00,1.2\n"
                          "primary,*,07:00,09:00,1.5\n"
                          "primary,weekend,07:00,09:00,1.3\n")
    assert p.factor("residential", "weekday", 7.5 * H) == 1.1  # only the * row
    assert p.factor("residential", "weekday", 8.5 * H) == 1.2  # its day type beats *
    assert p.factor("residential", "weekend", 8.5 * H) == 1.1
    assert p.factor("primary", "weekday", 8.5 * H) == 1.5  # a named class beats any * row
    assert p.factor("primary", "weekend", 8.5 * H) == 1.3
    assert p.factor("primary", "weekday", 9 * H) == 1.0  # a band ends before its end time
    assert p.factor(None, "weekday", 8.5 * H) == 1.2  # a class no row names: the * rows
    # Wednesday's bands: 07:00 (primary 1.5, others 1.1), 08:00 (others 1.2), 09:00 free
    bands = p.bands(WEDNESDAY)
    assert [(b.start_s / H, b.factors, b.other) for b in bands] == [
        (0, (("primary", 1.0),), 1.0), (7, (("primary", 1.5),), 1.1),
        (8, (("primary", 1.5),), 1.2), (9, (("primary", 1.0),), 1.0)]


def test_comments_blank_lines_a_bom_and_24_00(tmp_path):
    p = profile(tmp_path, "\ufeff# a comment\n\nroad_class,day_type,start,end,factor\n"
                          "# local streets\n*,weekday,22:00,24:00,2\n")
    assert p.factor("residential", "weekday", 23.9 * H) == 2.0
    assert p.rows[0].row == 5  # rows are counted as lines of the file


def test_a_band_multiplies_the_edge_times_of_its_classes():
    network = nw.load_network(TINY_OSM, use_cache=False)
    assert "residential" in network.highway_names
    band = tr.Band(0.0, (("residential", 2.0),), 1.0)
    own = np.asarray(network.travel_time_s.data, dtype=float)
    times = tr.edge_times(network, band)
    residential = network.highway_names.index("residential")
    is_res = np.asarray(network.edge_highway) == residential
    assert is_res.any()
    assert np.allclose(times[is_res], 2.0 * own[is_res])
    assert np.allclose(times[~is_res], own[~is_res])
    assert np.allclose(tr.edge_times(network, tr.Band(0.0, (), 1.0)), own)


def test_every_bad_row_is_reported_at_once():
    with pytest.raises(InputError) as exc:
        tr.load_profile(DATA / "traffic" / "bad_rows.csv")
    found = {(p.row, p.field): p for p in exc.value.problems}
    assert set(found) == {(4, "start"), (5, "road_class"), (6, "road_class"), (7, "day_type"),
                          (8, "start"), (9, "end"), (10, "factor"), (11, "factor"), (12, "")}
    overlap = found[(4, "start")]
    assert "overlaps row 3 (07:00-09:00)" in overlap.message and overlap.value == "08:30"
    assert "not an OSM highway class" in found[(5, "road_class")].message
    assert found[(5, "road_class")].value == "avenue"
    assert "weekday, weekend or *" in found[(7, "day_type")].fix
    assert "HH:MM" in found[(8, "start")].fix
    assert "split a band over midnight" in found[(9, "end")].fix
    assert "from 1 to 10" in found[(10, "factor")].message
    assert "is not a number" in found[(11, "factor")].message
    assert "has 3 cells, the header has 5" in found[(12, "")].message
    # the message names the file, the row, the field, the value and the fix
    assert ("bad_rows.csv row 10 (road_class=residential): field 'factor' value '0.8': must "
            "be from 1 to 10") in str(exc.value)
    assert [p.row for p in exc.value.problems] == sorted(p.row for p in exc.value.problems)


@pytest.mark.parametrize(("text", "message"), [
    ("road_class,day,start,end,factor\nprimary,weekday,07:00,09:00,1.4\n", "column missing"),
    ("", "has no header and no rows"),
    ("# only a comment\nroad_class,day_type,start,end,factor\n", "has a header but no rows"),
])
def test_a_file_without_a_usable_header_or_rows(tmp_path, text, message):
    with pytest.raises(InputError) as exc:
        profile(tmp_path, text)
    assert message in str(exc.value)


def test_a_missing_or_binary_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as exc:
        tr.load_profile(tmp_path / "nope.csv")
    assert "--traffic default or none" in str(exc.value)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00road")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        tr.load_profile(tmp_path / "bin.csv")


def test_the_traffic_setting_names_none_the_default_or_a_file(tmp_path):
    from optimizer.settings import SettingsError, load_settings

    assert load_settings({}).roads.traffic is None  # the default: see the README, "Traffic"
    assert load_settings({"traffic": "none"}).roads.traffic is None
    assert load_settings({"traffic": "default"}).roads.traffic == tr.default_profile()
    # a what-if file's path is relative to the file's folder
    (tmp_path / "peak.csv").write_text("road_class,day_type,start,end,factor\n"
                                       "*,*,17:00,19:00,1.5\n", encoding="utf-8")
    st = load_settings({"traffic": "peak.csv"}, root=tmp_path)
    assert st.roads.traffic is not None and st.roads.traffic.rows[0].factor == 1.5
    with pytest.raises(SettingsError) as exc:
        load_settings({"traffic": str(DATA / "traffic" / "bad_rows.csv")})
    assert len(exc.value.problems) == 9
    assert all(p.option == "traffic" for p in exc.value.problems)
