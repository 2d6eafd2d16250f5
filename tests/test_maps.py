"""The HTML maps: data behind the markers, privacy, escaping, assets without CDNs.

The pages are checked through the data they hand to the map (their JSON data block), the
HTML they contain and the URLs they reference; tests/browser checks them in a real browser.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from maps_plan import INJECTION_NAME, JS_BREAKER, all_case_ids, case_ids, make_plan

from optimizer.geo import coords
from optimizer.outputs import maps


@pytest.fixture(scope="module")
def plan():
    return make_plan()


def _page_data(html_text: str) -> dict:
    """The page's data: its one ``<script type="application/json" id="cr-data">`` block."""
    blocks = re.findall(
        r'<script type="application/json" id="cr-data">(.*?)</script>', html_text, re.S
    )
    assert len(blocks) == 1
    return json.loads(blocks[0])


def _call_args(html_text: str, func: str) -> list[list]:
    """What the page script hands to ``CR.<func>(layer, <list>, ...)``: one list per layer.

    `CR.overviewPage` and `CR.collectorPage` draw every layer from the page's data: stops and
    places of each route, the unvisited points.
    """
    data = _page_data(html_text)
    routes = data["routes"] if "routes" in data else [data]
    if func == "addPoints":
        return [data["unvisited"]["points"]] if "unvisited" in data else []
    key = {"addStops": "stops", "addPlaces": "places"}[func]
    return [r[key] for r in routes]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _tags(html_text: str) -> _Tags:
    p = _Tags()
    p.feed(html_text)
    return p


# URLs a page may contain: tiles, tile attributions, navigation links, SVG namespace
_ALLOWED_URL = re.compile(
    r"^https?://("
    r"tile\.openstreetmap\.org/\{z\}/\{x\}/\{y\}\.png"
    r"|webrd0\{s\}\.is\.autonavi\.com/appmaptile\?"
    r"|www\.openstreetmap\.org/copyright"
    r"|leafletjs\.com"
    r"|www\.w3\.org/2000/svg"
    r"|uri\.amap\.com/navigation\?"
    r"|api\.map\.baidu\.com/marker\?"
    r"|maps\.apple\.com/\?"
    r"|www\.google\.com/maps/dir/\?"
    r"|127\.0\.0\.1[:/]"
    r"|bugs\.chromium\.org/|bugzilla\.mozilla\.org/"  # comments in leaflet.css
    r")"
)


def _urls(html_text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>)`\\]+", html_text)


def _write_all(plan, out: Path, **kw) -> dict[str, Path]:
    pages = {"index": maps.write_overview(plan, out / "index.html", **kw)}
    for route in plan.routes:
        cid = route.collector.collector_id
        pages[cid] = maps.write_collector_page(
            plan, route, out / maps.collector_page_filename(cid), **kw
        )
    return pages


@pytest.fixture(scope="module")
def written(plan, tmp_path_factory):
    out = tmp_path_factory.mktemp("maps")
    pages = _write_all(plan, out)
    return out, {k: p.read_text(encoding="utf-8") for k, p in pages.items()}


# --------------------------------------------------------------------------- assets / no CDN


def test_default_pages_use_local_assets_only(written):
    out, texts = written
    for name, text in texts.items():
        tags = _tags(text).tags
        srcs = [a.get("src") for t, a in tags if t == "script" and a.get("src")]
        hrefs = [a.get("href") for t, a in tags if t == "link" and a.get("rel") == "stylesheet"]
        icons = [a.get("href") for t, a in tags if t == "link" and a.get("rel") == "icon"]
        assert icons == ["data:,"]  # no favicon request
        assert srcs == ["assets/leaflet/leaflet.js", "assets/collector-routes.js"], name
        assert hrefs == ["assets/leaflet/leaflet.css", "assets/collector-routes.css"], name
        for ref in srcs + hrefs:
            assert (out / ref).is_file()
        bad = [u for u in _urls(text) if not _ALLOWED_URL.match(u)]
        assert bad == [], f"{name}: unexpected external URLs {bad}"
    assert (out / "assets/leaflet/images/layers.png").is_file()
    assert (out / "assets/leaflet/LICENSE").read_text().startswith("BSD 2-Clause")


def test_self_contained_page_inlines_everything(plan, tmp_path):
    path = maps.write_collector_page(
        plan, plan.routes[0], tmp_path / "C01.html", self_contained=True
    )
    text = path.read_text(encoding="utf-8")
    tags = _tags(text).tags
    assert not [a for t, a in tags if t == "script" and a.get("src")]
    assert not [a for t, a in tags if t == "link" and a.get("rel") == "stylesheet"]
    assert "Leaflet 1.9.4" in text and "window.CR" in text
    assert "url(images/" not in text and "data:image/png;base64," in text
    assert "sourceMappingURL" not in text
    assert not (tmp_path / "assets").exists()
    bad = [u for u in _urls(text) if not _ALLOWED_URL.match(u)]
    assert bad == []


def test_unknown_tile_provider_is_rejected(plan, tmp_path):
    with pytest.raises(ValueError, match="unknown tile provider 'google'.*amap.*osm"):
        maps.write_overview(plan, tmp_path / "index.html", tiles="google")


# --------------------------------------------------------------------------- collector page


def test_collector_page_markers_follow_the_route(plan, written):
    _, texts = written
    for route in plan.routes:
        text = texts[route.collector.collector_id]
        (stops,) = _call_args(text, "addStops")
        assert [s["n"] for s in stops] == list(range(1, len(route.stops) + 1))
        for s, planned in zip(stops, route.stops, strict=True):
            assert (s["lat"], s["lon"]) == pytest.approx((planned.lat, planned.lon), abs=1e-6)
            assert f'data-case-id="{planned.case.case_id}"' in s["popup"]
        items = re.findall(r'<li class="cr-stop" data-stop="(\d+)"', text)
        assert items == [str(i) for i in range(1, len(route.stops) + 1)]
    # the route line is the road path, not straight legs
    route = plan.routes[0]
    line = re.search(r"L\.polyline\(\s*(\[\[.*?\]\])", texts["C01"], re.S).group(1)
    assert json.loads(line) == [list(p) for p in route.path]


def test_collector_page_holds_only_its_own_cases(plan, written):
    _, texts = written
    every_case = all_case_ids(plan)
    collectors = {r.collector.collector_id for r in plan.routes}
    for route in plan.routes:
        cid = route.collector.collector_id
        text = texts[cid]
        own = set(case_ids(route))
        for other in every_case - own:
            assert other not in text, f"{cid} page leaks case {other}"
        for other in collectors - {cid}:
            assert other not in text, f"{cid} page names collector {other}"
        for own_id in own:
            assert own_id in text
        # nothing of the plan-wide summary
        assert "Not visited" not in text and "cr-summary" not in text


def test_collector_page_masks_private_data_by_default(plan, tmp_path, written):
    _, texts = written
    text = texts["C01"]
    assert "张三明" not in text and "张*明" in text
    assert "13812345678" not in text and "138****5678" in text
    assert "+86 1** **** 1111" in text
    plain = maps.write_collector_page(
        plan, plan.routes[0], tmp_path / "C01.html", mask_private=False
    ).read_text(encoding="utf-8")
    assert "张三明" in plain and "13812345678" in plain


def test_input_text_is_escaped_everywhere(plan, tmp_path):
    pages = _write_all(plan, tmp_path, mask_private=False)
    pages["index_private"] = maps.write_overview(plan, tmp_path / "o.html", mask_private=True)
    for name, path in pages.items():
        text = path.read_text(encoding="utf-8")
        parsed = _tags(text)
        for tag, attrs in parsed.tags:
            assert not [a for a in attrs if a.startswith("on")], f"{name}: <{tag} {attrs}>"
            assert tag != "img", f"{name}: injected <img>"
        assert "alert(" not in "".join(
            s for t, a in parsed.tags if t == "script" for s in a.values()
        )
        # raw input markup never appears; the escaped form does (as HTML or inside JSON)
        for raw in (INJECTION_NAME, "</script><script>alert(2)", "<script>alert(4)", "<b>8</b>"):
            assert raw not in text, f"{name} contains {raw!r}"
    overview = pages["index"].read_text(encoding="utf-8")
    (unvisited,) = _call_args(overview, "addPoints")
    popups = " ".join(p["popup"] for p in unvisited)
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in popups
    assert "weekends &lt;b&gt;bold&lt;/b&gt;" in popups
    c01 = pages["C01"].read_text(encoding="utf-8")
    (stops,) = _call_args(c01, "addStops")
    assert "&lt;img src=x onerror=alert(1)&gt;" in stops[1]["popup"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in c01  # in the stop list as text
    assert html.escape(JS_BREAKER) in c01  # the notes, as text in the stop list


def test_gcj02_tiles_shift_every_overlay(plan, tmp_path):
    text = maps.write_collector_page(
        plan, plan.routes[0], tmp_path / "C01.html", tiles="gaode"
    ).read_text(encoding="utf-8")
    assert "is.autonavi.com" in text and "tile.openstreetmap.org" not in text
    (stops,) = _call_args(text, "addStops")
    for s, planned in zip(stops, plan.routes[0].stops, strict=True):
        assert (s["lat"], s["lon"]) == pytest.approx(
            coords.wgs84_to_gcj02(planned.lat, planned.lon), abs=1e-6
        )
    line = json.loads(re.search(r"L\.polyline\(\s*(\[\[.*?\]\])", text, re.S).group(1))
    for got, p in zip(line, plan.routes[0].path, strict=True):
        assert got == pytest.approx(coords.wgs84_to_gcj02(*p), abs=1e-6)
    (places,) = _call_args(text, "addPlaces")
    assert (places[0]["lat"], places[0]["lon"]) == pytest.approx(
        coords.wgs84_to_gcj02(plan.routes[0].start_lat, plan.routes[0].start_lon), abs=1e-6
    )
    # navigation links do not depend on the tiles: Apple still gets WGS-84
    first = plan.routes[0].stops[0]
    assert f"daddr={first.lat:.6f}%2C{first.lon:.6f}" in text


def test_empty_route_page(plan, written):
    _, texts = written
    assert "No stops planned" in texts["C03"]
    assert _call_args(texts["C03"], "addStops") == [[]]


# --------------------------------------------------------------------------- navigation links


def test_navigation_links_carry_each_apps_datum():
    lat, lon = 30.6652, 104.0601
    links = maps.navigation_links(lat, lon, label="1. K-1001")
    amap = parse_qs(urlsplit(links["amap"]).query)
    a_lon, a_lat, name = amap["to"][0].split(",")
    assert (float(a_lat), float(a_lon)) == pytest.approx(coords.wgs84_to_gcj02(lat, lon), abs=2e-6)
    assert name == "1. K-1001" and amap["coordinate"] == ["gaode"]
    baidu = parse_qs(urlsplit(links["baidu"]).query)
    b_lat, b_lon = map(float, baidu["location"][0].split(","))
    assert (b_lat, b_lon) == pytest.approx(coords.wgs84_to_bd09(lat, lon), abs=2e-6)
    assert baidu["coord_type"] == ["bd09ll"]
    apple = parse_qs(urlsplit(links["apple"]).query)
    assert apple["daddr"] == ["30.665200,104.060100"]
    google = parse_qs(urlsplit(links["google"]).query)
    assert google["destination"] == ["30.665200,104.060100"] and google["api"] == ["1"]
    # the converted points really differ from WGS-84 in Chengdu (by hundreds of metres)
    assert abs(float(a_lon) - lon) > 1e-3 and abs(b_lon - lon) > 1e-3


def test_collector_page_has_navigation_links_per_stop(plan, written):
    _, texts = written
    text = texts["C02"]
    for key in ("amap", "baidu", "apple", "google"):
        n = len(plan.routes[1].stops)
        assert text.count(f'data-nav="{key}"') == n  # stop list
        assert text.count(f'data-nav=\\"{key}\\"') == n  # popups (JSON)


# --------------------------------------------------------------------------- overview


def test_overview_layers_and_summary(plan, written):
    _, texts = written
    text = texts["index"]
    stop_calls = _call_args(text, "addStops")
    assert [len(c) for c in stop_calls] == [len(r.stops) for r in plan.routes]
    (unvisited,) = _call_args(text, "addPoints")
    assert len(unvisited) == 2  # K-9003 has no coordinates
    assert "address not found" not in text  # ... and so is not on the map
    assert "every collector&#x27;s day is full" in unvisited[0]["popup"] or (
        "every collector&#x27;s day is full" in json.dumps(unvisited)
    )
    assert text.count("L.polyline(") == len(plan.routes)
    assert "CR.overviewPage(" in text  # draws the layer control (collector-routes.js)
    labels = [r["label"] for r in _page_data(text)["routes"]]
    assert [re.sub(r"<[^>]*>", "", x) for x in labels] == [
        f"{r.collector.collector_id} {r.collector.name} ({len(r.stops)})" for r in plan.routes
    ]
    assert 'data-k="cases_total">10<' in text and 'data-k="cases_visited">7<' in text
    value_total = sum(s.value for r in plan.routes for s in r.stops) + sum(
        u.value for u in plan.unassigned
    )
    assert f'data-k="value_total">{value_total:,.0f}<' in text
    # without served links: plain links to the page files, no QR codes
    assert 'href="C01.html"' in text and "<svg" not in text
    # the dispatcher sees names unmasked
    assert "张三明" in text


def test_overview_with_links_shows_a_qr_per_collector(plan, tmp_path):
    links = {
        r.collector.collector_id: f"http://127.0.0.1:8000/tok{i}/"
        for i, r in enumerate(plan.routes)
    }
    text = maps.write_overview(plan, tmp_path / "index.html", links=links).read_text()
    assert text.count("<svg width=") == len(links)
    for url in links.values():
        assert f'href="{url}"' in text
    section = text[text.index(maps.LINKS_BEGIN) : text.index(maps.LINKS_END)]
    assert section.count("data-collector-id=") == len(links)


# --------------------------------------------------------------------------- small helpers


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三明", "张*明"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧**娜"),
        ("李", "*"),
        ("John Smith", "J*** S****"),
        ("", ""),
    ],
)
def test_mask_name(name, masked):
    assert maps.mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "+86 1** **** 5678"),
        ("028-8765432", "028-***5432"),
        ("8765432", "*****32"),
        ("", ""),
    ],
)
def test_mask_phone(phone, masked):
    assert maps.mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("collector_id", "filename"),
    [
        # plain safe names keep their name (existing links stay valid)
        ("C01", "C01.html"),
        ("K_1", "K_1.html"),
        ("K-01.2", "K-01.2.html"),
        ("张三", "张三.html"),
        # everything else: a readable part, then "~" and the id's bytes in base32
        ("K/1", "K_1~jmxtc.html"),  # b32("K/1") = JMXTC
        ("k1", "k1~nmyq.html"),  # lower case: would meet K1.html on Windows or macOS
        ("../etc/passwd", "etc_passwd~fyxc6zlummxxaylton3wi.html"),
        ("张三 A/B", "张三_A_B~4w6kbzfyreqecl2c.html"),
        ("index", "index~nfxgizly.html"),  # not the overview's index.html
        ("INDEX", "INDEX~jfheirky.html"),
        ("CON", "CON~inhu4.html"),  # a Windows device name
        ("COM\u00b9.X", "COM\u00b9_X~inhu3qvzfzma.html"),  # COM¹ is one too, with any extension
        (".K1", "K1~fzftc.html"),  # no hidden file
    ],
)
def test_collector_page_filename(collector_id, filename):
    assert maps.collector_page_filename(collector_id) == filename


def test_collector_page_filename_of_a_long_id_stays_short():
    name = maps.collector_page_filename("K" * 300)
    assert name.startswith("K" * 32 + "~~") and len(name.encode()) < 255
    assert maps.collector_page_filename("K" * 299 + "k") != name


_ID_CHARS = st.sampled_from("Kk1_-./ ~张Ａａß\u00e9e\u0301:%#?")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(_ID_CHARS, min_size=1, max_size=6), min_size=2, max_size=12, unique=True))
def test_collector_page_filenames_differ_even_ignoring_case(ids):
    names = [maps.collector_page_filename(i) for i in ids]
    # distinct on a case-insensitive, normalising file system (Windows, macOS)
    folded = {unicodedata.normalize("NFC", n).casefold() for n in names}
    assert len(folded) == len(ids), dict(zip(ids, names, strict=True))
    for n in names:
        assert re.fullmatch(r"[^/\\:*?\"<>|%#\s]+\.html", n), n
        assert not n.startswith(".") and n.casefold() != "index.html"


def test_pages_of_ids_that_used_to_share_a_file(plan, tmp_path):
    """``K/1`` and ``K_1`` (and ``k_1``) each get their own page, linked from the overview."""
    base = plan.routes[0]
    routes = []
    for cid in ("K/1", "K_1", "k_1"):
        collector = dataclasses.replace(base.collector, collector_id=cid, name=f"name of {cid}")
        routes.append(dataclasses.replace(base, collector=collector, members=(cid,)))
    plan = dataclasses.replace(plan, routes=tuple(routes))
    files = set()
    for route in routes:
        cid = route.collector.collector_id
        path = tmp_path / maps.collector_page_filename(cid)
        maps.write_collector_page(plan, route, path)
        files.add(path.name.casefold())
    assert len(files) == 3 == len(list(tmp_path.glob("*.html")))
    overview = maps.write_overview(plan, tmp_path / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'data-collector-id="([^"]*)"><b>[^<]*</b><a href="([^"]*)"', overview)
    assert len(links) == 3
    for cid, href in links:
        cid = html.unescape(cid)
        page = (tmp_path / html.unescape(href)).read_text(encoding="utf-8")
        assert maps.page_meta(page)["collector-id"] == cid
        assert f"name of {cid}" in html.unescape(page)


def test_page_meta_round_trips_ids(plan, tmp_path):
    odd = 'C"<&>1'
    route = plan.routes[0]
    route = type(route)(
        **{
            **route.__dict__,
            "collector": type(route.collector)(**{**route.collector.__dict__, "collector_id": odd}),
        }
    )
    text = maps.write_collector_page(plan, route, tmp_path / "x.html").read_text()
    meta = maps.page_meta(text)
    assert meta["page"] == "collector" and meta["collector-id"] == odd
    assert meta["route"] == odd and meta["date"] == "2026-11-30"
    member = maps.write_collector_page(plan, route, tmp_path / "y.html", collector_id="C09")
    assert maps.page_meta(member.read_text())["collector-id"] == "C09"


def test_overview_links_each_team_members_page(plan, tmp_path):
    team = dataclasses.replace(plan.routes[0], members=("C01", "C07"))
    plan = dataclasses.replace(plan, routes=(team, *plan.routes[1:]))
    text = maps.write_overview(plan, tmp_path / "index.html").read_text(encoding="utf-8")
    for page in ("C01.html", "C07.html", "C02.html", "C03.html"):
        assert f'href="{page}"' in text


def test_collector_page_warns_of_an_uncertain_address_match(plan, written):
    _, texts = written
    pages_with_warning = {cid for cid, text in texts.items() if "Address match uncertain" in text}
    owner = next(r.collector.collector_id for r in plan.routes if "K-1002" in case_ids(r))
    assert pages_with_warning == {owner}
    text = texts[owner]
    assert "春熙路 &lt;i&gt;8&lt;/i&gt; (one of 2 streets with this name)" in text
    assert "<i>8</i>" not in text
    # the warning sits in K-1002's list entry, not another stop's
    entry = re.search(r'data-case-id="K-1002".*?</li>', text, re.S)
    assert entry is not None and "Address match uncertain" in entry.group(0)
