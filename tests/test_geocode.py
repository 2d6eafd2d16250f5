"""Geocoding: the offline gazetteer on the bundled Chengdu extract, the sqlite cache, the geopy
wrapper (with a fake service at the network edge: no network), and geocode_cases."""

from __future__ import annotations

import logging
from pathlib import Path

import geopy.geocoders
import pytest
from geopy.exc import GeocoderServiceError, GeocoderTimedOut
from geopy.location import Location

from optimizer.geo.geocode import GeocoderConfigError, GeocodeResult, geocode_cases, make_geocoder
from optimizer.geo.geocode.cache import CachedGeocoder
from optimizer.geo.geocode.gazetteer import Gazetteer
from optimizer.geo.geocode.index import DEFAULT_OSM_PATH, dist_m
from optimizer.geo.geocode.normalize import normalize
from optimizer.geo.geocode.online import GeopyGeocoder
from optimizer.geo.osmfile import OsmFileError
from optimizer.model import Case


@pytest.fixture(scope="module")
def gaz(tmp_path_factory) -> Gazetteer:
    return Gazetteer.from_osm(DEFAULT_OSM_PATH, cache_dir=tmp_path_factory.mktemp("gazcache"))


def near(result: GeocodeResult | None, lat: float, lon: float, within_m: float) -> bool:
    assert result is not None
    return dist_m(result.lat, result.lon, lat, lon) <= within_m


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Chunxi Road", "chūnxī lù"),
        ("ＡＢＣ１２３", "abc123"),
        ("Renmin North Road", "Renminbei Lu"),
        ("Dongchenggen Street South", "dongchenggen nan jie"),
        ("红星路3段", "红星路三段"),
        ("Hongxing Road Section 3", "hongxing lu sanduan"),
        ("Hauptstraße", "HAUPTSTRASSE"),
    ],
)
def test_normalize_equates_spellings(a, b):
    assert normalize(a) == normalize(b)


# --------------------------------------------------------------------------- gazetteer


def test_exact_poi_name(gaz):
    # 成都博物馆 (Chengdu Museum) is a tourism=museum way on 小河街 in the extract
    r = gaz.geocode("成都博物馆")
    assert r is not None and r.kind == "poi" and r.score == 1.0 and r.provider == "offline"
    assert r.matched == "成都博物馆"
    assert near(r, 30.6598, 104.0611, 50)


def test_compound_with_city_district_and_building_suffix(gaz):
    plain = gaz.geocode("锦绣东方")
    assert plain is not None and plain.kind == "building"
    for query in ("成都市成华区锦绣东方3栋2单元501", "四川省成都市锦绣东方 12幢1单元1203"):
        r = gaz.geocode(query)
        assert r is not None and r.matched == "锦绣东方", query
        assert (r.lat, r.lon) == (plain.lat, plain.lon)


def test_latin_spelling_and_latin_unit_suffix(gaz):
    museum = gaz.geocode("Chengdu Museum")
    assert museum is not None and museum.matched == "成都博物馆"
    a = gaz.geocode("人民北路12号")
    b = gaz.geocode("Bldg 3 Unit 2 Rm 501, No. 12 Renmin North Road, Jinniu District, Chengdu")
    c = gaz.geocode("No. 12 Renminbei Lu")
    assert a is not None and b is not None and c is not None
    assert (a.lat, a.lon) == (b.lat, b.lon) == (c.lat, c.lon)


def test_pinyin_tag_with_tone_marks_and_english_name(gaz):
    # 马鞍南路 carries name:zh_pinyin "Mǎān nán lù" in the extract
    cn = gaz.geocode("马鞍南路30号")
    assert cn is not None and cn.kind == "street"
    # the number without 号, as some case systems write it, is the same house
    for query in ("Mǎān nán lù 30", "No. 30 Ma'an South Road", "maan nan lu 30", "马鞍南路 30",
                  "马鞍南路30"):
        r = gaz.geocode(query)
        assert r is not None and (r.lat, r.lon) == (cn.lat, cn.lon), query


def test_parenthesised_qualifier_is_not_a_name(gaz):
    # the hostel "Lazy Bones (Tianfu Square)" must not answer to "Tianfu Square"
    r = gaz.geocode("Tianfu Square")
    assert r is not None and r.matched == "天府广场"
    lazy = gaz.geocode("Lazy Bones")
    assert lazy is not None and lazy.matched == "Lazy Bones (Tianfu Square)"


def test_area_parts_and_postcode_are_dropped(gaz):
    museum = gaz.geocode("成都博物馆")
    queries = (
        "Chengdu Museum, Qingyang, 610000",
        "成都博物馆，青羊区，成都市",
        "610041 成都博物馆",
    )
    for query in queries:
        assert gaz.geocode(query) == museum, query


def test_full_width_digits(gaz):
    assert gaz.geocode("总府路２号") == gaz.geocode("总府路2号")
    r = gaz.geocode("交大路１７８号")
    # the tagged address point 交大路 178号 (金牛公安办证中心)
    assert r is not None and r.kind == "address" and "178" in r.matched


def test_street_and_house_number_lands_on_that_street(gaz):
    street = gaz.streets()["春熙路"]
    r = gaz.geocode("成都市锦江区春熙路 12号 3栋2单元501")
    assert r is not None and r.kind == "street" and "春熙路" in r.matched
    # on the street's polyline: within a metre of one of its interpolated points
    assert min(
        dist_m(r.lat, r.lon, *street.point_at(d)) for d in range(0, int(street.length_m) + 1)
    ) < 1.0
    # the documented rule: number n at min(n / max_n, 1) of the length from the start
    assert (r.lat, r.lon) == street.house(12)
    far = gaz.geocode("春熙路 100000号")
    assert far is not None and (far.lat, far.lon) == street.point_at(street.length_m)
    # different numbers on a long street land at different places, further along
    lo, hi = gaz.geocode("人民北路10号"), gaz.geocode("人民北路200号")
    s = gaz.streets()["人民北路"]
    assert lo is not None and hi is not None
    d_lo = dist_m(lo.lat, lo.lon, s.lat[0], s.lon[0])
    d_hi = dist_m(hi.lat, hi.lon, s.lat[0], s.lon[0])
    assert d_hi > d_lo + 100


def test_exact_tagged_address_beats_interpolation(gaz):
    r = gaz.geocode("成都市金牛区交大路178号")
    assert r is not None and r.kind == "address"
    assert near(r, 30.70323, 104.04172, 5)


@pytest.mark.parametrize(
    "query",
    ["qwertyuiop asdf", "火星基地月亮湾", "地址不详", "成都市锦江区鑫鑫鑫鑫花园 9栋2单元1101", ""],
)
def test_nonsense_returns_none_with_a_reason(gaz, query):
    assert gaz.geocode(query) is None
    assert "not found in the offline gazetteer" in gaz.explain_miss(query)


def test_other_city_is_a_miss_not_a_same_named_street(gaz):
    query = "北京市朝阳区建国路88号"
    assert gaz.geocode(query) is None
    assert "北京市" in gaz.explain_miss(query)


def test_generic_suffix_and_fillers(gaz):
    compound = gaz.geocode("锦绣东方")
    for query in ("成都市锦绣东方小区 3栋1单元202", "锦绣东方附近", "near Chengdu Museum"):
        r = gaz.geocode(query)
        assert r is not None and r.score == 1.0, query
    assert gaz.geocode("锦绣东方小区") == compound
    # a name that itself ends in 小区 still matches as written
    r = gaz.geocode("红光小区")
    assert r is not None and r.matched == "红光小区"


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("间都列五中学", "成都列五中学"),
        ("它二教学楼", "第二教学楼"),
        ("成都山陵博物馆", "成都永陵博物馆"),
    ],
)
def test_typo_never_lands_on_a_far_place_named_inside_it(gaz, typo, meant):
    # a known name inside a mistyped one ("列五中学" in "间都列五中学") only explains part of
    # the query; the fuzzy match of the whole name must win, or nothing
    target = gaz.geocode(meant)
    r = gaz.geocode(typo)
    assert target is not None
    assert r is None or dist_m(r.lat, r.lon, target.lat, target.lon) < 150


def test_shared_name_is_flagged_ambiguous(gaz):
    # 红旗连锁 is a chain: several stores of that name in the extract
    r = gaz.geocode("红旗连锁")
    assert r is not None and r.score < 1.0 and "places with this name" in r.matched
    unique = gaz.geocode("成都博物馆")
    assert unique is not None and unique.score == 1.0


def test_district_name_inside_an_unknown_address_is_no_match(gaz):
    # the district's label node must not stand in for an unknown compound in it
    assert gaz.geocode("鑫鑫花园 锦江区") is None


def test_small_typo_is_fuzzy_matched_below_one(gaz):
    r = gaz.geocode("成都市青羊区成都博物官")  # 馆 mistyped as 官
    assert r is not None and r.matched == "成都博物馆" and 0.75 <= r.score < 1.0
    r = gaz.geocode("锦绣东方菜市埸")  # 场 mistyped as 埸: the market, or the compound it is in
    assert r is not None and r.matched in ("锦绣东方菜市场", "锦绣东方") and r.score < 1.0


def test_index_cache_is_reused_without_parsing(tmp_path, monkeypatch):
    import optimizer.geo.geocode.index as index

    first = Gazetteer.from_osm(DEFAULT_OSM_PATH, cache_dir=tmp_path)
    # plain data (gzipped JSON), not a pickle: a shared cache directory cannot run code
    assert list(tmp_path.glob("gazetteer-*.json.gz"))

    def no_parse(*a, **k):
        raise AssertionError("the XML was parsed again")

    monkeypatch.setattr(index, "parse_osm", no_parse)
    second = Gazetteer.from_osm(DEFAULT_OSM_PATH, cache_dir=tmp_path)
    assert len(second) == len(first)
    assert second.geocode("成都博物馆") == first.geocode("成都博物馆")
    # a different source file does not reuse the cache
    other = tmp_path / "other.osm"
    other.write_text(
        "<?xml version='1.0'?><osm version='0.6'>"
        "<node id='1' lat='30.1' lon='104.1'><tag k='name' v='测试大厦'/>"
        "<tag k='building' v='yes'/></node></osm>",
        encoding="utf-8",
    )
    with pytest.raises(AssertionError, match="parsed again"):
        Gazetteer.from_osm(other, cache_dir=tmp_path)


def test_unreadable_index_cache_is_rebuilt(tmp_path, caplog):
    Gazetteer.from_osm(DEFAULT_OSM_PATH, cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("gazetteer-*.json.gz")
    cache_file.write_bytes(b"not gzip")
    with caplog.at_level(logging.WARNING, logger="optimizer.geo.geocode"):
        g = Gazetteer.from_osm(DEFAULT_OSM_PATH, cache_dir=tmp_path)
    assert g.geocode("成都博物馆") is not None
    assert any("unreadable gazetteer cache" in rec.getMessage() for rec in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="optimizer.geo.geocode"):
        Gazetteer.from_osm(DEFAULT_OSM_PATH, cache_dir=tmp_path)  # rewritten: readable again
    assert not caplog.records


def test_missing_extract_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="OSM extract .*nowhere.osm.bz2 not found"):
        Gazetteer.from_osm(tmp_path / "nowhere.osm.bz2", cache_dir=tmp_path)


def test_extract_without_nodes_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.osm"
    empty.write_text("<?xml version='1.0'?><osm version='0.6'></osm>", encoding="utf-8")
    with pytest.raises(OsmFileError, match="empty.osm: the file holds no nodes.*geofabrik"):
        Gazetteer.from_osm(empty, cache_dir=tmp_path)
    assert not list(tmp_path.glob("gazetteer-*"))  # nothing cached


# --------------------------------------------------------------------------- sqlite cache


class CountingGeocoder:
    provider = "counting"

    def __init__(self, answers: dict[str, GeocodeResult | None]):
        self.answers = answers
        self.calls: list[str] = []

    def geocode(self, query):
        self.calls.append(query)
        return self.answers.get(query)

    def explain_miss(self, query):
        return "not known to the counting geocoder"


def test_cache_round_trip_hits_and_misses(tmp_path):
    hit = GeocodeResult(30.66, 104.07, "某处", "poi", 0.9, "counting")
    inner = CountingGeocoder({"某处": hit})
    db = tmp_path / "geo.sqlite"
    with CachedGeocoder(inner, db) as c:
        assert c.geocode("某处") == hit
        assert c.geocode("无处") is None
    assert inner.calls == ["某处", "无处"]
    # a new process: both answers come from the file, the miss with its reason
    with CachedGeocoder(inner, db) as c:
        assert c.geocode("某处") == hit
        assert c.geocode(" 无处 ") is None  # light normalisation of the key
        assert c.explain_miss("无处") == "not known to the counting geocoder"
        assert c.hits == 2
    assert inner.calls == ["某处", "无处"]
    # retry_misses asks again for cached misses only
    inner.answers["无处"] = GeocodeResult(30.7, 104.1, "无处", "place", 1.0, "counting")
    with CachedGeocoder(inner, db, retry_misses=True) as c:
        assert c.geocode("无处") is not None
        assert c.geocode("某处") == hit
    assert inner.calls == ["某处", "无处", "无处"]


def test_cache_held_by_another_program_is_skipped_not_a_traceback(tmp_path, caplog):
    # found by scripts/hostile_inputs.py: a cache locked by another writer (a second plan, a
    # what-if run) ended the plan in "sqlite3.OperationalError: database is locked"
    import sqlite3

    hit = GeocodeResult(30.66, 104.07, "某处", "poi", 0.9, "counting")
    db = tmp_path / "geo.sqlite"
    with CachedGeocoder(CountingGeocoder({}), db):
        pass  # the file exists, in WAL mode
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        inner = CountingGeocoder({"某处": hit})
        with CachedGeocoder(inner, db) as c:
            c._db.execute("PRAGMA busy_timeout = 100")  # the test need not wait 5 s
            assert c.geocode("某处") == hit
            assert c.geocode("无处") is None
        assert inner.calls == ["某处", "无处"]
        assert sum("in use by another program" in r.message for r in caplog.records) == 1
    finally:
        other.rollback()
        other.close()


def test_unwritable_cache_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(GeocoderConfigError, match="cannot use the geocoding cache .*geo.sqlite"):
        CachedGeocoder(CountingGeocoder({}), blocker / "geo.sqlite")


def test_make_geocoder_offline_is_cached(tmp_path):
    g = make_geocoder("offline", cache_dir=tmp_path)
    assert g.geocode("成都博物馆") is not None
    assert (tmp_path / "geocode.sqlite").is_file()
    g2 = make_geocoder("offline", cache_dir=tmp_path)
    assert g2.geocode("成都博物馆") == g.geocode("成都博物馆") and g2.hits == 1


# --------------------------------------------------------------------------- geopy wrapper


class FakeService:
    """Stands in for a geopy geocoder class at the network edge."""

    script: list[object] = []
    calls: list[str] = []

    def __init__(self, *, user_agent=None, timeout=None, **kwargs):
        self.user_agent = user_agent
        self.kwargs = kwargs

    def geocode(self, query, exactly_one=True):
        FakeService.calls.append(query)
        step = FakeService.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


@pytest.fixture
def fake_service(monkeypatch):
    monkeypatch.setitem(geopy.geocoders.SERVICE_TO_GEOCODER, "fakeservice", FakeService)
    FakeService.script = []
    FakeService.calls = []
    return FakeService


def _loc(lat, lon, cls="building"):
    return Location("Somewhere, Chengdu", (lat, lon), {"class": cls, "type": "yes"})


def test_geopy_retries_service_errors_then_succeeds(fake_service):
    fake_service.script = [GeocoderServiceError("502"), _loc(30.66, 104.07)]
    g = GeopyGeocoder("fakeservice", user_agent="t", min_delay_s=0, error_wait_s=0, max_retries=2)
    r = g.geocode("某路1号")
    assert r == GeocodeResult(30.66, 104.07, "Somewhere, Chengdu", "building", 1.0, "fakeservice")
    assert fake_service.calls == ["某路1号", "某路1号"]


def test_geopy_error_after_retries_is_a_logged_miss(fake_service, caplog):
    fake_service.script = [GeocoderTimedOut("slow")] * 3
    g = GeopyGeocoder("fakeservice", user_agent="t", min_delay_s=0, error_wait_s=0, max_retries=2)
    with caplog.at_level(logging.WARNING, logger="optimizer.geo.geocode"):
        assert g.geocode("某路1号") is None
    assert len(fake_service.calls) == 3
    assert "GeocoderTimedOut" in g.explain_miss("某路1号")
    assert any("GeocoderTimedOut" in rec.getMessage() for rec in caplog.records)


def test_geopy_not_found_and_transient_misses_in_the_cache(fake_service, tmp_path):
    fake_service.script = [None, GeocoderServiceError("503"), _loc(30.7, 104.1)]
    g = GeopyGeocoder("fakeservice", user_agent="t", min_delay_s=0, error_wait_s=0, max_retries=0)
    c = CachedGeocoder(g, tmp_path / "c.sqlite")
    assert c.geocode("无此地") is None
    assert "not found by the geocoding service" in c.explain_miss("无此地")
    assert c.geocode("某路1号") is None  # service error: not cached, retried next time
    assert c.geocode("某路1号") is not None
    assert c.geocode("无此地") is None  # the real miss is cached: no new request
    assert fake_service.calls == ["无此地", "某路1号", "某路1号"]


def test_geopy_rate_limit_spaces_requests(fake_service, monkeypatch):
    import geopy.extra.rate_limiter as rl

    clock = {"t": 1000.0}
    sleeps: list[float] = []
    monkeypatch.setattr(rl, "default_timer", lambda: clock["t"])

    def fake_sleep(self, seconds):
        sleeps.append(seconds)
        clock["t"] += seconds

    monkeypatch.setattr(rl.RateLimiter, "_sleep", fake_sleep)
    fake_service.script = [_loc(30.6, 104.0), _loc(30.6, 104.0), _loc(30.6, 104.0)]
    g = GeopyGeocoder("fakeservice", user_agent="t", min_delay_s=1.5, error_wait_s=0)
    for q in ("a", "b", "c"):
        assert g.geocode(q) is not None
    assert sleeps == [1.5, 1.5]


def test_geopy_config_errors_are_exceptions(fake_service):
    with pytest.raises(GeocoderConfigError, match="unknown geocoding service 'nosuchservice'"):
        GeopyGeocoder("nosuchservice", user_agent="t")
    with pytest.raises(GeocoderConfigError, match="user_agent"):
        GeopyGeocoder("nominatim")
    with pytest.raises(GeocoderConfigError, match="user_agent"):
        make_geocoder("nominatim", cache_dir=Path("/nonexistent/never-created"))
    # geopy's own configuration error (a ValueError) when a service needs an API key
    with pytest.raises(GeocoderConfigError, match="'googlev3' cannot be used as configured"):
        GeopyGeocoder("googlev3")


def test_geopy_instance_can_be_passed(fake_service):
    fake_service.script = [_loc(30.65, 104.05, cls="highway")]
    g = GeopyGeocoder("mine", geocoder=FakeService(), min_delay_s=0)
    r = g.geocode("x")
    assert r is not None and r.kind == "street" and r.provider == "mine"


# --------------------------------------------------------------------------- geocode_cases


def test_geocode_cases_never_drops_a_case(gaz):
    cases = [
        Case("C-1", 1000.0, 10, address="whatever", lat=30.6, lon=104.1),
        Case("C-2", 1000.0, 10, address="成都市青羊区成都博物馆"),
        Case("C-3", 1000.0, 10, address="成都市青羊区成都博物馆"),  # same address: asked once
        Case("C-4", 1000.0, 10, address="北京市朝阳区建国路88号"),
        Case("C-5", 1000.0, 10, address=""),
        Case("C-6", 1000.0, 10, address="zzqqxx 99999"),
    ]
    calls: list[str] = []

    class Spy:
        provider = gaz.provider

        def geocode(self, q):
            calls.append(q)
            return gaz.geocode(q)

        def explain_miss(self, q):
            return gaz.explain_miss(q)

    found, reasons = geocode_cases(cases, Spy())
    assert set(found) | set(reasons) == {c.case_id for c in cases}
    assert not set(found) & set(reasons)
    assert found["C-1"].provider == "input"
    assert (found["C-1"].lat, found["C-1"].lon) == (30.6, 104.1)
    assert found["C-2"] == found["C-3"] and found["C-2"].matched == "成都博物馆"
    assert calls.count("成都市青羊区成都博物馆") == 1
    assert "北京市" in reasons["C-4"] and "add lat/lon or fix the address" in reasons["C-4"]
    assert "no address and no lat/lon" in reasons["C-5"]
    assert reasons["C-6"].startswith("address 'zzqqxx 99999' not found in the offline gazetteer")
    assert "best match" in reasons["C-6"] or "no similar name" in reasons["C-6"]


def test_demo_cases_geocode_except_the_deliberately_bad(gaz):
    from optimizer.io.inputs import read_cases

    demo = Path(__file__).resolve().parents[1] / "data" / "demo" / "cases.csv"
    cases = read_cases(demo)
    found, reasons = geocode_cases(cases, gaz)
    assert len(found) + len(reasons) == len(cases) >= 400
    assert 5 <= len(reasons) <= 8
    bad = {c.case_id for c in cases if "地址疑有误" in c.notes}
    assert set(reasons) == bad
    without = [c for c in cases if c.lat is None and c.case_id not in bad]
    assert len(without) >= 0.3 * len(cases)


# --------------------------------------------------------------------------- several towns


def _two_towns_osm(path: Path) -> Path:
    """Two towns 8 km apart, each with a Hauptstraße (house number 5 tagged in both) and a
    Bahnhofstraße; a Marktplatz only in Neudorf, a Schulweg only in Altstadt.

    Altstadt: place=town node at (49.40, 8.60), addresses tagged 11111 Altstadt.
    Neudorf: no place node, known from its addresses tagged 22222 Neudorf, at (49.40, 8.71).
    """
    nodes: list[str] = []
    ways: list[str] = []
    nid = iter(range(1, 10_000))

    def node(lat: float, lon: float, tags: dict[str, str] | None = None) -> int:
        i = next(nid)
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in (tags or {}).items())
        nodes.append(f'<node id="{i}" lat="{lat:.7f}" lon="{lon:.7f}">{body}</node>')
        return i

    def way(name: str, pts: list[tuple[float, float]]) -> None:
        refs = "".join(f'<nd ref="{node(lat, lon)}"/>' for lat, lon in pts)
        tags = f'<tag k="highway" v="residential"/><tag k="name" v="{name}"/>'
        ways.append(f'<way id="{next(nid)}">{refs}{tags}</way>')

    for town, postcode, lon0 in (("Altstadt", "11111", 8.60), ("Neudorf", "22222", 8.71)):
        way("Hauptstraße", [(49.40, lon0), (49.40, lon0 + 0.003), (49.40, lon0 + 0.006)])
        way("Bahnhofstraße", [(49.40, lon0), (49.402, lon0), (49.404, lon0)])
        for number, dlon in (("5", 0.001), ("9", 0.004), ("12-14", 0.005), ("7a", 0.002)):
            node(49.4001, lon0 + dlon, {"addr:street": "Hauptstraße", "addr:housenumber": number,
                                        "addr:city": town, "addr:postcode": postcode})  # fmt: skip
    node(49.40, 8.60, {"place": "town", "name": "Altstadt"})
    way("Schulweg", [(49.398, 8.601), (49.396, 8.601)])
    node(49.4012, 8.712, {"amenity": "marketplace", "name": "Marktplatz"})
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
        + "\n".join([*nodes, *ways])
        + "\n</osm>\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def towns(tmp_path_factory) -> Gazetteer:
    path = _two_towns_osm(tmp_path_factory.mktemp("towns") / "towns.osm")
    return Gazetteer.from_osm(path, use_cache=False)


@pytest.mark.parametrize(
    ("query", "lon0"),
    [
        ("Hauptstraße 5, 11111 Altstadt", 8.60),
        ("Hauptstraße 5, Neudorf", 8.71),
        ("Hauptstraße 5, 22222", 8.71),
        ("Hauptstraße 9, 22222 Neudorf", 8.71),
        ("Neudorf, Hauptstraße 5", 8.71),
    ],
)
def test_town_or_postcode_picks_the_tagged_address(towns, query, lon0):
    r = towns.geocode(query)
    assert r is not None and r.kind == "address" and r.score == 1.0, r
    assert abs(r.lon - lon0) < 0.005


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("Hauptstraße 12-14, Neudorf", "Hauptstraße 12-14"),
        ("Hauptstraße 12 - 14, Neudorf", "Hauptstraße 12-14"),
        ("Hauptstraße 12, Neudorf", "Hauptstraße 12-14"),
        ("Hauptstraße 7a, Neudorf", "Hauptstraße 7a"),
        ("Hauptstraße 7a-c, Neudorf", "Hauptstraße 7a"),
        ("Hauptstr. 12, Neudorf", "Hauptstraße 12-14"),
        ("Haupt-Str. 7a, 22222 Neudorf", "Hauptstraße 7a"),
        ("HAUPTSTRASSE 9, Neudorf", "Hauptstraße 9"),
    ],
)
def test_house_number_ranges_and_letters(towns, query, label):
    r = towns.geocode(query)
    assert r is not None and r.kind == "address" and r.matched == label, r
    assert abs(r.lon - 8.71) < 0.01


def test_same_address_in_two_towns_without_town_is_flagged(towns):
    r = towns.geocode("Hauptstraße 5")
    assert r is not None and r.score < 1.0 and "one of 2" in r.matched


@pytest.mark.parametrize(("town", "lon0"), [("Altstadt", 8.60), ("Neudorf", 8.71)])
def test_untagged_street_of_the_named_town_is_used_for_interpolation(towns, town, lon0):
    r = towns.geocode(f"Bahnhofstraße 7, {town}")
    assert r is not None and r.kind == "street"
    assert near(r, 49.402, lon0, 300), r
    assert len(towns.streets()) == 5  # two Hauptstraße, two Bahnhofstraße, one Schulweg


def test_name_only_in_another_town_is_a_miss_that_says_so(towns):
    assert near(towns.geocode("Marktplatz, Neudorf"), 49.4012, 8.712, 1)
    assert towns.geocode("Marktplatz, Altstadt") is None
    why = towns.explain_miss("Marktplatz, Altstadt")
    assert "'Marktplatz' exists only outside Altstadt" in why and "49.40120,8.71200" in why
    assert towns.geocode("Schulweg 3, Neudorf") is None
    assert "'Schulweg' exists only outside Neudorf" in towns.explain_miss("Schulweg 3, Neudorf")
    assert near(towns.geocode("Schulweg 3, Altstadt"), 49.397, 8.601, 300)


def test_unknown_town_part_does_not_filter(towns):
    # a town the extract does not know is not a filter (and the query still must match)
    r = towns.geocode("Marktplatz")
    assert r is not None and r.score == 1.0


# --------------------------------------------------------------------------- validate --geocode


def test_cli_validate_geocode_lists_every_address(tmp_path, capsys, cache_dir):
    import csv

    from optimizer.cli import main

    cases = tmp_path / "cases.csv"
    cases.write_text(
        "case_id,address,lat,lon,amount_overdue,days_past_due,windows\n"
        "A1,四川省成都市成华区桃蹊路１０８号,,,100,10,Mon-Sun 09:00-18:00\n"
        "A2,somewhere,30.67,104.06,100,10,Mon-Sun 09:00-18:00\n"
        "A3,地址不详,,,100,10,Mon-Sun 09:00-18:00\n"
        "A4,成都市成华区荆翠东路183号17幢2单元1102,,,100,10,Mon-Sun 09:00-18:00\n",
        encoding="utf-8",
    )
    team = tmp_path / "team.csv"
    team.write_text(
        "collector_id,start_address,start_lat,start_lon,end_address,shift\n"
        "K1,成都博物馆,,,,08:00-18:00\n"
        "K2,,30.66,104.06,北京市朝阳区建国路88号,08:00-18:00\n",
        encoding="utf-8",
    )
    out = tmp_path / "addresses.csv"
    args = ["validate", "--cases", str(cases), "--collectors", str(team), "--geocode", "-q",
            "--cache-dir", str(cache_dir), "--out", str(out)]  # fmt: skip
    assert main(args) == 1  # a miss and an uncertain match need attention
    text = capsys.readouterr().out
    assert "2 with lat/lon given" in text and "2 not found" in text and "1 uncertain" in text
    assert "cases.csv row 4 (case_id=A3)" in text
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = {(r["record"], r["field"]): r for r in csv.DictReader(fh)}
    assert len(rows) == 4 + 3  # every case; K1 start (end = start), K2 start and end
    assert rows[("case_id=A1", "address")]["status"] == "found"
    assert rows[("case_id=A2", "address")]["status"] == "given"
    assert rows[("case_id=A3", "address")]["status"] == "not_found"
    assert "not found" in rows[("case_id=A3", "address")]["reason"]
    a4 = rows[("case_id=A4", "address")]
    assert a4["status"] == "uncertain" and "one of 2" in a4["matched"]
    assert float(a4["score"]) < 1 and float(a4["lat"]) > 30
    assert rows[("collector_id=K1", "start_address")]["status"] == "found"
    k2_end = rows[("collector_id=K2", "end_address")]
    assert k2_end["status"] == "not_found" and "北京市" in k2_end["reason"]
    # all found and certain: exit 0
    cases.write_text(
        "case_id,address,lat,lon,amount_overdue,days_past_due,windows\n"
        "A1,四川省成都市成华区桃蹊路１０８号,,,100,10,Mon-Sun 09:00-18:00\n",
        encoding="utf-8",
    )
    team.write_text("collector_id,start_lat,start_lon,shift\nK1,30.66,104.06,08:00-18:00\n",
                    encoding="utf-8")  # fmt: skip
    assert main(["validate", "--cases", str(cases), "--collectors", str(team), "--geocode",
                 "-q", "--cache-dir", str(cache_dir)]) == 0  # fmt: skip
