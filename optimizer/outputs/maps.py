"""HTML maps of a plan: the dispatcher overview and one phone-first page per collector.

Pages are built with folium (Leaflet) and work without any CDN: Leaflet and our small helper
script/stylesheet ship in ``optimizer/outputs/assets`` and are either copied into an
``assets/`` folder beside the pages (default) or inlined into every page
(``self_contained=True``). Only background tiles need the network.

Safety rules the page builders follow:

- no input text ever reaches a template. folium and branca build pages with Jinja2, and branca
  compiles text as a template in more places than one would guess: ``Element(html)`` compiles its
  argument, and `MacroElement.render` wraps every element's rendered script in a new ``Element``,
  so whatever folium writes (layer names, popups, script code) is evaluated a second time. A note
  ``{{ 7*191 }}`` would show as ``1337``, and a note that reaches ``os`` through a Jinja global
  would run commands. So the map handed to folium carries no input text at all: coordinates,
  palette colours, tile constants and fixed layer names only (`write_overview`,
  `write_collector_page`). Our own parts go in as `_Raw` elements, which are written as they are
  and never compiled: two slot markers and the page script (`_Script`), whose code holds folium
  variable names and constants only. After folium has rendered this skeleton, `_render` puts the
  input-derived content into the slots in one pass of plain string substitution
  (`_fill_slots`): the head (title, meta tags), the body (stop list, summary) as escaped HTML,
  and a ``<script type="application/json">`` data block (`_data_block`) from which
  ``collector-routes.js`` draws markers, popups and the layer control. Input text is thus only
  ever data: Jinja2 never sees it, and the inserted text is not scanned again;
- every text that comes from input (names, addresses, notes, ids) is HTML-escaped before it is put
  into HTML; data handed to JavaScript is JSON with ``<``, ``>``, ``&`` and the JS line separators
  escaped, so no input can close a ``<script>`` element or inject markup;
- a collector page holds only that collector's stops (no other route, no unassigned case, no plan
  summary), and by default masks customer names and phone numbers.

Coordinates are WGS-84 throughout the plan; when the page is drawn on GCJ-02 tiles (Amap) every
overlay is shifted to GCJ-02 so that it sits on the right street. Navigation links always carry the
datum their app expects: GCJ-02 for Amap, BD-09 for Baidu, WGS-84 for Apple and Google Maps.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote, urlencode

import folium
import segno
from branca.element import Element, Figure, MacroElement

from optimizer.errors import ConfigError
from optimizer.geo import coords
from optimizer.model import Plan, PlannedRoute, PlannedStop, Unassigned, geocode_status, hhmm
from optimizer.outputs.tables import PageUpdate
from optimizer.plan import summarize

logger = logging.getLogger(__name__)

__all__ = [
    "ASSETS_DIRNAME",
    "PALETTE",
    "TILES",
    "TileProvider",
    "collector_links_html",
    "collector_page_filename",
    "copy_assets",
    "mask_name",
    "mask_phone",
    "navigation_links",
    "page_meta",
    "write_collector_page",
    "write_overview",
]

ASSETS_DIRNAME = "assets"
# files of optimizer/outputs/assets that pages reference, in load order (CSS first, then JS)
_CSS_FILES = ("leaflet/leaflet.css", "collector-routes.css")
_JS_FILES = ("leaflet/leaflet.js", "collector-routes.js")
_IMAGE_FILES = (
    "leaflet/images/layers.png",
    "leaflet/images/layers-2x.png",
    "leaflet/images/marker-icon.png",
    "leaflet/images/marker-icon-2x.png",
    "leaflet/images/marker-shadow.png",
)
_OTHER_FILES = ("leaflet/LICENSE",)

# where the overview's collector-links section starts and ends (optimizer.web.serve replaces it)
LINKS_BEGIN = "<!--cr-links-->"
LINKS_END = "<!--/cr-links-->"

# a colour per route; distinct on both OSM and Amap tiles and readable with white digits
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#f032e6", "#9a6324",
    "#800000", "#808000", "#000075", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)  # fmt: skip
_UNVISITED_COLOR = "#555555"
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class TileProvider:
    """A background tile source.

    Attributes
    ----------
    key : str
        Name used on the command line (``--tiles``).
    url : str
        Leaflet URL template.
    attribution : str
        HTML attribution shown on the map (fixed text, not input).
    datum : str
        ``"wgs84"`` or ``"gcj02"``: the datum the tiles are drawn in; overlays are shifted to it.
    subdomains : str
        Values of ``{s}`` in `url`.
    max_zoom : int
        Highest zoom level the provider serves.
    """

    key: str
    url: str
    attribution: str
    datum: str
    subdomains: str = "abc"
    max_zoom: int = 19


TILES: dict[str, TileProvider] = {
    "osm": TileProvider(
        key="osm",
        url="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        attribution=(
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
            " contributors"
        ),
        datum="wgs84",
        max_zoom=19,
    ),
    "amap": TileProvider(
        key="amap",
        url=(
            "https://webrd0{s}.is.autonavi.com/appmaptile"
            "?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
        ),
        attribution="&copy; AutoNavi 高德地图",
        datum="gcj02",
        subdomains="1234",
        max_zoom=18,
    ),
}
_TILE_ALIASES = {"gaode": "amap", "openstreetmap": "osm"}


def _tile_provider(tiles: str | TileProvider) -> TileProvider:
    if isinstance(tiles, TileProvider):
        return tiles
    key = _TILE_ALIASES.get(tiles.lower(), tiles.lower())
    if key not in TILES:
        choices = ", ".join(sorted([*TILES, *_TILE_ALIASES]))
        raise ConfigError(f"unknown tile provider {tiles!r}; choose one of: {choices}")
    return TILES[key]


# --------------------------------------------------------------------------- text helpers


def _esc(value: object) -> str:
    """HTML-escape any value for element content or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def _js_json(obj: object) -> str:
    """JSON that is safe inside an inline ``<script>`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def mask_name(name: str) -> str:
    """Mask a person's name, keeping its first and last characters.

    ``"张三明"`` -> ``"张*明"``, ``"张三"`` -> ``"张*"``, ``"John Smith"`` -> ``"J*** S****"``.
    """
    name = (name or "").strip()
    if not name:
        return ""
    words = name.split()
    if len(words) > 1:  # Latin-style name: keep each word's initial
        return " ".join(w[0] + "*" * (len(w) - 1) for w in words)
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """Mask a phone number, keeping its first 3 and last 4 digits.

    ``"13812345678"`` -> ``"138****5678"``. Separators are kept; numbers with fewer than 8 digits
    keep only their last 2 digits.
    """
    phone = (phone or "").strip()
    n_digits = sum(ch.isdigit() for ch in phone)
    if n_digits == 0:
        return "*" * len(phone)
    keep_head, keep_tail = (3, 4) if n_digits >= 8 else (0, 2)
    out, seen = [], 0
    for ch in phone:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep_head or seen > n_digits - keep_tail else "*")
        else:
            out.append(ch)
    return "".join(out)


def _money(amount: float) -> str:
    return f"{amount:,.0f}"


def _duration(duration_s: float) -> str:
    minutes = int(round(duration_s / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


# Windows device names: no file may be called e.g. "CON.html" or "com1.x.html" there
_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{d}{n}" for d in ("COM", "LPT") for n in "0123456789¹²³")}
)
_PLAIN_MAX_BYTES = 100  # longer ids are encoded (and the encoded name kept short)
_READABLE_MAX_CHARS = 32
_ENCODED_MAX_BYTES = 80  # base32 of at most this many bytes: 128 characters


def _same_everywhere(ch: str) -> bool:
    """Whether a file name may hold `ch` as it is: no case, stable under Unicode normalisation.

    Case-insensitive (Windows, macOS, Android's shared storage) and normalising (macOS) file
    systems then store and compare it as written.
    """
    if ch.isascii():
        return "A" <= ch <= "Z" or ch.isdigit() or ch in "_-"
    return (
        ch.isalnum()
        and ch.lower() == ch == ch.upper() == ch.casefold()
        and unicodedata.normalize("NFC", ch) == ch == unicodedata.normalize("NFD", ch)
    )


def _plain_stem(collector_id: str) -> bool:
    """Whether `collector_id` is its own page's file name (``K01`` -> ``K01.html``)."""
    return (
        0 < len(collector_id.encode("utf-8")) <= _PLAIN_MAX_BYTES
        and all(_same_everywhere(ch) or ch == "." for ch in collector_id)
        and not collector_id.startswith(".")
        and not collector_id.endswith(".")
        and collector_id.upper() != "INDEX"  # the overview's index.html
        and collector_id.split(".")[0].upper() not in _DEVICE_NAMES
    )


def collector_page_filename(collector_id: str) -> str:
    """File name of a collector's page; a different name for every collector id.

    Ids that are safe file names on every system keep their name: upper-case ASCII letters,
    digits, ``_``, ``-``, inner dots and letters without case (Chinese), e.g. ``K01`` ->
    ``K01.html``, ``张三`` -> ``张三.html``. Every other id (lower-case letters, spaces, ``/``,
    ...) gets a readable part (runs of unsafe characters replaced by ``_``) and, after a ``~``, its
    exact UTF-8 bytes in lower-case base32: ``K/1`` -> ``K_1~jmxtc.html``, ``k1`` ->
    ``k1~nmyq.html``. The mapping is injective, also on case-insensitive file systems: a kept
    name has no ``~`` and no lower-case letter, and an encoded one decodes from its suffix,
    whatever the case. (Ids longer than 80 bytes carry a SHA-256 digest after ``~~`` instead.)
    """
    if _plain_stem(collector_id):
        return f"{collector_id}.html"
    readable = "".join(
        ch if _same_everywhere(ch) or (ch.isascii() and ch.isalpha()) else "_"
        for ch in collector_id
    )
    readable = re.sub(r"__+", "_", readable).strip("_")[:_READABLE_MAX_CHARS] or "collector"
    raw = collector_id.encode("utf-8")
    if len(raw) <= _ENCODED_MAX_BYTES:
        suffix = "~" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    else:
        suffix = "~~" + hashlib.sha256(raw).hexdigest()[:40]
    return f"{readable}{suffix}.html"


# --------------------------------------------------------------------------- navigation links


def navigation_links(lat: float, lon: float, *, label: str = "") -> dict[str, str]:
    """Turn-by-turn navigation links to a WGS-84 point, each in the datum its app expects.

    Parameters
    ----------
    lat, lon : float
        Destination, WGS-84 degrees.
    label : str
        Destination name shown by the app (keep it free of personal data, e.g. ``"3. C-0412"``).

    Returns
    -------
    dict
        ``{"amap": ..., "baidu": ..., "apple": ..., "google": ...}``: Amap's URI API with GCJ-02
        ``lon,lat``; Baidu's URI API with BD-09 ``lat,lon`` (``coord_type=bd09ll``), which shows the
        destination with Baidu's "go there" navigation; Apple and Google Maps with WGS-84.
    """
    g_lat, g_lon = coords.wgs84_to_gcj02(lat, lon)
    b_lat, b_lon = coords.wgs84_to_bd09(lat, lon)
    name = label or "destination"
    amap = "https://uri.amap.com/navigation?" + urlencode(
        {
            "to": f"{g_lon:.6f},{g_lat:.6f},{name}",
            "mode": "car",
            "policy": "1",
            "src": "collector-routes",
            "coordinate": "gaode",
            "callnative": "1",
        },
        quote_via=quote,
    )
    baidu = "https://api.map.baidu.com/marker?" + urlencode(
        {
            "location": f"{b_lat:.6f},{b_lon:.6f}",
            "title": name,
            "content": name,
            "coord_type": "bd09ll",
            "output": "html",
            "src": "webapp.collector-routes.route-page",
        },
        quote_via=quote,
    )
    apple = "https://maps.apple.com/?" + urlencode(
        {"daddr": f"{lat:.6f},{lon:.6f}", "dirflg": "d"}, quote_via=quote
    )
    google = "https://www.google.com/maps/dir/?" + urlencode(
        {"api": "1", "destination": f"{lat:.6f},{lon:.6f}", "travelmode": "driving"},
        quote_via=quote,
    )
    return {"amap": amap, "baidu": baidu, "apple": apple, "google": google}


_NAV_LABELS = (
    ("amap", "Amap 高德"),
    ("baidu", "Baidu 百度"),
    ("apple", "Apple"),
    ("google", "Google"),
)


def _nav_html(links: Mapping[str, str]) -> str:
    items = "".join(
        f'<a href="{_esc(links[key])}" target="_blank" rel="noopener noreferrer" '
        f'data-nav="{key}">{_esc(text)}</a>'
        for key, text in _NAV_LABELS
    )
    return f'<div class="cr-nav">{items}</div>'


# --------------------------------------------------------------------------- assets


def _asset_path(rel: str):
    return resources.files("optimizer.outputs").joinpath("assets", *rel.split("/"))


def _asset_text(rel: str) -> str:
    text = _asset_path(rel).read_text(encoding="utf-8")
    if rel.endswith(".js"):
        # no source map is shipped: drop the comment so browsers do not ask for one
        text = re.sub(r"\n//# sourceMappingURL=\S*\s*$", "\n", text)
    return text


def asset_files() -> dict[str, bytes]:
    """The files written to (and served from) ``assets/``: relative path -> content."""
    out: dict[str, bytes] = {}
    for rel in (*_CSS_FILES, *_JS_FILES, *_OTHER_FILES):
        out[rel] = _asset_text(rel).encode("utf-8")
    for rel in _IMAGE_FILES:
        out[rel] = _asset_path(rel).read_bytes()
    return out


def copy_assets(out_dir: str | Path) -> Path:
    """Write the bundled map assets into ``out_dir/assets`` (idempotent); return that folder."""
    target = Path(out_dir) / ASSETS_DIRNAME
    for rel, data in asset_files().items():
        dest = target.joinpath(*rel.split("/"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_bytes() != data:
            dest.write_bytes(data)
    return target


def _inline_css(rel: str) -> str:
    css = _asset_text(rel)
    base = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""

    def data_uri(match: re.Match) -> str:
        ref = match.group(2)
        data = _asset_path(base + ref).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    css = re.sub(r"url\((['\"]?)(images/[\w.-]+\.png)\1\)", data_uri, css)
    return css.replace("</", "<\\/")


def _assets_head(self_contained: bool) -> str:
    if self_contained:
        styles = "".join(f"<style>\n{_inline_css(rel)}\n</style>\n" for rel in _CSS_FILES)
        scripts = "".join(
            "<script>\n" + _asset_text(rel).replace("</script", "<\\/script") + "\n</script>\n"
            for rel in _JS_FILES
        )
        return styles + scripts
    links = "".join(
        f'<link rel="stylesheet" href="{ASSETS_DIRNAME}/{rel}"/>\n' for rel in _CSS_FILES
    )
    scripts = "".join(f'<script src="{ASSETS_DIRNAME}/{rel}"></script>\n' for rel in _JS_FILES)
    return links + scripts


# --------------------------------------------------------------------------- folium plumbing


class _Raw(Element):
    """A branca element written out exactly as given: its text is never compiled as a template.

    (`branca.element.Element` compiles its argument as a Jinja2 template.) Used only for our own
    fixed text: slot markers and page script code that holds no input text.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "CrRaw"
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


class _Script(MacroElement):
    """Our page script, emitted after the script of the elements added to the map before it.

    `MacroElement.render` would wrap the output in a new ``Element`` (compiled as a template
    again); this one adds its code to the page script as a `_Raw` element instead. The code is
    built from folium variable names and constants only: input text reaches the page as data
    (see `_fill_slots`).
    """

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "CrScript"
        self.code = code

    def render(self, **kwargs) -> str:
        _figure(self).script.add_child(_Raw(self.code), name=self.get_name())
        return ""


def _figure(element: Element) -> Figure:
    root = element.get_root()
    if not isinstance(root, Figure):  # never: our elements are added to the page's map
        raise TypeError(f"{element.get_name()} is not in a branca Figure")
    return root


# markers folium renders in place of our input-derived content; `_fill_slots` replaces them
_SLOT = "<!--cr-slot:{}-->"
_SLOT_RE = re.compile(r"<!--cr-slot:([a-z]+)-->")
_DATA_ID = "cr-data"


def _data_block(data: object) -> str:
    """The page's data as a JSON block that `CR.data()` reads (text only, never run as code)."""
    return f'<script type="application/json" id="{_DATA_ID}">{_js_json(data)}</script>'


def _fill_slots(text: str, slots: Mapping[str, str]) -> str:
    """Replace each slot marker of the rendered page by its content, in one pass.

    Each marker must appear exactly once. The inserted content is not scanned again, so whatever
    it contains (it is escaped HTML and JSON) cannot create or fill another slot.
    """
    found = _SLOT_RE.findall(text)
    if sorted(found) != sorted(slots):  # a bug of this module's page template, not of the input
        raise RuntimeError(f"page slots {sorted(found)} do not match {sorted(slots)}")
    return _SLOT_RE.sub(lambda m: slots[m.group(1)], text)


def page_meta(html_text: str) -> dict[str, str]:
    """Read the ``collector-routes:*`` meta tags of a page written here (used by the server)."""
    head = html_text[:8000]
    out = {}
    for key, value in re.findall(
        r'<meta name="collector-routes:([a-z-]+)" content="([^"]*)"', head
    ):
        out[key] = html.unescape(value)
    return out


def _new_map(tile: TileProvider, points: Sequence[tuple[float, float]]) -> folium.Map:
    if points:
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        center = [(min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2]
    else:
        center = [30.66, 104.06]
    m = folium.Map(
        location=center,
        zoom_start=13,
        tiles=None,
        control_scale=True,
        max_zoom=tile.max_zoom,
    )
    # no CDN: Leaflet comes from our own assets (see _assets_head)
    m.default_js = []
    m.default_css = []
    folium.TileLayer(
        tiles=tile.url,
        attr=tile.attribution,
        name=tile.key,
        max_zoom=tile.max_zoom,
        max_native_zoom=tile.max_zoom,
        subdomains=tile.subdomains,
        control=False,
    ).add_to(m)
    if len(points) > 1:
        m.fit_bounds(
            [[min(lats), min(lons)], [max(lats), max(lons)]], padding=(24, 24), max_zoom=16
        )
    return m


_EXTERNAL_ASSET = re.compile(
    r"<(?:script[^>]*\ssrc|link[^>]*\shref)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE
)


def _render(
    m: folium.Map,
    path: Path,
    *,
    title: str,
    meta: Mapping[str, str],
    body: str,
    data: object,
    body_class: str,
    self_contained: bool,
) -> Path:
    """Render the map's skeleton with folium, then put the page's content into its slots.

    `m` holds no input text (only coordinates, palette colours, tile constants and folium's
    names). `title`, `meta` and `body` (escaped HTML) and `data` (JSON for the page script) are
    put in after folium and Jinja2 are done, by `_fill_slots`.
    """
    root = _figure(m)
    root.header.add_child(_Raw(_SLOT.format("head")), name="cr_head", index=0)
    root.html.add_child(_Raw(_SLOT.format("body")), name="cr_body")
    text = root.render()
    text = text.replace("<html>", '<html lang="zh-CN">', 1)
    if body_class:
        text = text.replace("<body>", f'<body class="{body_class}">', 1)
    metas = "".join(
        f'<meta name="collector-routes:{key}" content="{_esc(value)}"/>\n'
        for key, value in meta.items()
    )
    head = (
        f"<title>{_esc(title)}</title>\n"
        '<meta name="referrer" content="no-referrer"/>\n'
        # no favicon request (one round trip less on a weak network, no 404)
        '<link rel="icon" href="data:,"/>\n'
        f"{metas}{_assets_head(self_contained)}"
    )
    # the data block comes before the page script (folium puts it after </body>)
    text = _fill_slots(text, {"head": head, "body": body + _data_block(data)})
    # a folium default crept back in (a bug of this module or a new folium, not of the input):
    # refuse to write it
    if _EXTERNAL_ASSET.search(text):
        raise RuntimeError(f"{path}: page references an external script or stylesheet")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if not self_contained:
        copy_assets(path.parent)
    logger.info("wrote %s (%d bytes)", path, len(text.encode("utf-8")))
    return path


def _color(i: int) -> str:
    color = PALETTE[i % len(PALETTE)]
    assert _HEX_COLOR.match(color)
    return color


def _to_datum(tile: TileProvider, lat: float, lon: float) -> tuple[float, float]:
    if tile.datum == "gcj02":
        lat, lon = coords.wgs84_to_gcj02(lat, lon)
    return round(lat, 7), round(lon, 7)


def _route_line(route: PlannedRoute) -> tuple[list[tuple[float, float]], bool]:
    """The road geometry of the route, or straight legs when the plan has none."""
    if len(route.path) >= 2:
        return [(float(a), float(b)) for a, b in route.path], True
    pts = [(route.start_lat, route.start_lon)]
    pts += [(s.lat, s.lon) for s in route.stops]
    pts.append((route.end_lat, route.end_lon))
    return pts, False


def _places(route: PlannedRoute, tile: TileProvider) -> list[dict]:
    start = _to_datum(tile, route.start_lat, route.start_lon)
    end = _to_datum(tile, route.end_lat, route.end_lon)
    leave, back = hhmm(route.leave_s), hhmm(route.return_s)
    if abs(route.start_lat - route.end_lat) < 1e-6 and abs(route.start_lon - route.end_lon) < 1e-6:
        return [
            {
                "lat": start[0],
                "lon": start[1],
                "label": "S/E",
                "title": "Start and end",
                "popup": f'<div class="cr-popup"><b>Start</b> {leave} · <b>end</b> {back}</div>',
            }
        ]
    return [
        {
            "lat": start[0],
            "lon": start[1],
            "label": "S",
            "title": "Start",
            "popup": f'<div class="cr-popup"><b>Start</b> {leave}</div>',
        },
        {
            "lat": end[0],
            "lon": end[1],
            "label": "E",
            "title": "End",
            "popup": f'<div class="cr-popup"><b>End</b> {back}</div>',
        },
    ]


def _stop_times(stop: PlannedStop) -> str:
    eta = hhmm(stop.arrive_s)
    if stop.start_s - stop.arrive_s >= 60:
        return f"ETA {eta}, start {hhmm(stop.start_s)}"
    return f"ETA {eta}"


def _stop_popup(stop: PlannedStop, *, mask_private: bool, nav: bool, collector: str = "") -> str:
    case = stop.case
    name = mask_name(case.customer_name) if mask_private else case.customer_name
    phone = mask_phone(case.phone) if mask_private else case.phone
    rows = [
        f'<b>{stop.stop}. <span data-field="case-id">{_esc(case.case_id)}</span></b>'
        + (f' <span class="cr-muted" data-field="collector">{_esc(collector)}</span>'
           if collector else ""),
        f"{_esc(_stop_times(stop))} · window {_esc(stop.window.label())}",
    ]
    if name:
        rows.append(f'<b data-field="name">{_esc(name)}</b>')
    if case.address:
        rows.append(f'<span data-field="address">{_esc(case.address)}</span>')
    amount = _esc(_money(case.amount_overdue))
    rows.append(f"Overdue {amount} · {case.days_past_due} days past due")
    if phone:
        rows.append(f'Phone <span data-field="phone">{_esc(phone)}</span>')
    if case.notes:
        rows.append(f'<span class="cr-muted" data-field="notes">{_esc(case.notes)}</span>')
    body = "<br>".join(rows)
    if nav:
        links = navigation_links(stop.lat, stop.lon, label=f"{stop.stop}. {case.case_id}")
        body += _nav_html(links)
    return f'<div class="cr-popup" data-case-id="{_esc(case.case_id)}">{body}</div>'


def _unassigned_popup(u: Unassigned, *, mask_private: bool) -> str:
    case = u.case
    name = mask_name(case.customer_name) if mask_private else case.customer_name
    rows = [f'<b data-field="case-id">{_esc(case.case_id)}</b> · not visited']
    if name:
        rows.append(f'<b data-field="name">{_esc(name)}</b>')
    if case.address:
        rows.append(f'<span data-field="address">{_esc(case.address)}</span>')
    rows.append(
        f"Overdue {_esc(_money(case.amount_overdue))} · {case.days_past_due} days past due"
        f" · value {_esc(_money(u.value))}"
    )
    rows.append(
        f'Reason: <span data-field="reason">{_esc(u.reason)}</span> ({_esc(u.reason_code)})'
    )
    return f'<div class="cr-popup" data-case-id="{_esc(case.case_id)}">{"<br>".join(rows)}</div>'


def _polyline(
    route: PlannedRoute, tile: TileProvider, color: str, *, weight: int
) -> folium.PolyLine:
    line, on_roads = _route_line(route)
    return folium.PolyLine(
        [_to_datum(tile, lat, lon) for lat, lon in line],
        color=color,
        weight=weight,
        opacity=0.8,
        dash_array=None if on_roads else "8 8",
        class_name="cr-route",
    )


def _stop_data(
    route: PlannedRoute, tile: TileProvider, *, mask_private: bool, nav: bool, collector: str = ""
) -> list[dict]:
    out = []
    for stop in route.stops:
        lat, lon = _to_datum(tile, stop.lat, stop.lon)
        popup = _stop_popup(stop, mask_private=mask_private, nav=nav, collector=collector)
        out.append(
            {"n": stop.stop, "id": stop.case.case_id, "lat": lat, "lon": lon, "popup": popup}
        )
    return out


# --------------------------------------------------------------------------- overview


def collector_links_html(links: Mapping[str, str] | None, *, qr: bool = True) -> str:
    """The overview's section of per-collector links (with a QR code each when `qr`).

    Wrapped in ``LINKS_BEGIN`` / ``LINKS_END`` so that ``optimizer.web.serve`` can replace it with
    the links it serves. QR codes are inline SVG made with segno: no network, no image files.
    """
    if not links:
        return f"{LINKS_BEGIN}{LINKS_END}"
    items = []
    for collector_id, url in links.items():
        code = ""
        if qr:
            code = segno.make(url, error="m").svg_inline(scale=3, border=2)
        items.append(
            f'<div class="cr-link" data-collector-id="{_esc(collector_id)}"><b>'
            f"{_esc(collector_id)}</b>{code}"
            f'<a href="{_esc(url)}" target="_blank" rel="noopener noreferrer">{_esc(url)}</a></div>'
        )
    return (
        f'{LINKS_BEGIN}<details class="cr-links-box"><summary>Collector links'
        f"{' (scan with a phone)' if qr else ''}</summary>"
        f'<div class="cr-links">{"".join(items)}</div></details>{LINKS_END}'
    )


def _summary_html(plan: Plan, colors: Mapping[str, str], links_html: str) -> str:
    # the plan's own totals, as summary.json and the command line report them; a plan put
    # together by hand (tests) has none, and gets the same totals made from its routes
    t = plan.summary if plan.summary is not None else summarize(
        plan.routes, plan.unassigned, plan_date=plan.plan_date, policy="", weighting="")
    share = (t.value_visited / t.value_total * 100) if t.value_total else 0.0
    rows = []
    for route in plan.routes:
        cid = route.collector.collector_id
        rows.append(
            "<tr>"
            f'<td><span class="cr-swatch" style="background:{colors[cid]}"></span>'
            f"{_esc(cid)}</td>"
            f'<td class="cr-num">{len(route.stops)}</td>'
            f'<td class="cr-num">{_esc(_money(route.value))}</td>'
            f'<td class="cr-num">{route.travel_m / 1000:.1f}</td>'
            f'<td class="cr-num">{_esc(hhmm(route.leave_s))}-{_esc(hhmm(route.return_s))}</td>'
            "</tr>"
        )
    not_on_map = sum(1 for u in plan.unassigned if u.lat is None or u.lon is None)
    return (
        '<div class="cr-panel" id="cr-summary"><details open><summary>'
        f"Plan {_esc(plan.plan_date.isoformat())}</summary>"
        "<table>"
        f'<tr><th>Cases</th><td class="cr-num" data-k="cases_visited">{t.cases_visited}</td>'
        f'<td>of <span data-k="cases_total">{t.cases_total}</span> visited</td></tr>'
        f'<tr><th>Value</th><td class="cr-num" data-k="value_visited">'
        f"{_esc(_money(t.value_visited))}</td>"
        f'<td>of <span data-k="value_total">{_esc(_money(t.value_total))}</span>'
        f" ({share:.0f}%)</td></tr>"
        f'<tr><th>Travel</th><td class="cr-num" data-k="travel_h">'
        f"{t.travel_s_total / 3600:.1f} h</td>"
        f'<td data-k="travel_km">{t.travel_m_total / 1000:.1f} km</td></tr>'
        f'<tr><th>Not visited</th><td class="cr-num">{len(plan.unassigned)}</td>'
        f"<td>{f'({not_on_map} without coordinates)' if not_on_map else ''}</td></tr>"
        "</table>"
        '<table class="cr-routes"><tr><th>Collector</th><th class="cr-num">Stops</th>'
        '<th class="cr-num">Value</th><th class="cr-num">km</th><th>Shift</th></tr>'
        f"{''.join(rows)}</table>"
        f"{links_html}</details></div>"
        # on a phone the map needs the room: start with the summary folded
        "<script>if (window.innerWidth < 600) "
        "{document.querySelector('#cr-summary > details').open = false;}</script>"
    )


def write_overview(
    plan: Plan,
    path: str | Path,
    *,
    tiles: str | TileProvider = "osm",
    self_contained: bool = False,
    links: Mapping[str, str] | None = None,
    mask_private: bool = False,
) -> Path:
    """Write the dispatcher overview (``index.html``).

    Every route is its own layer (numbered stops, the route line on the roads, start and end)
    in its own colour; unvisited cases are a layer of their own with the reason in the popup; a
    summary box gives cases, value and travel totals and a row per collector; a layer control
    switches layers.

    Parameters
    ----------
    plan : Plan
        The day's plan.
    path : str or Path
        The HTML file to write; ``assets/`` is written beside it unless `self_contained`.
    tiles : {"osm", "amap"} or TileProvider
        Background tiles; on GCJ-02 tiles (``"amap"``, alias ``"gaode"``) overlays are shifted.
    self_contained : bool
        Inline Leaflet and the helper script/stylesheet into the page.
    links : mapping, optional
        ``collector_id -> URL`` of each collector's page; shown with a QR code each. Without it the
        overview links to the page files beside it: ``collector_page_filename(member)`` for each
        member of each route (the route's collector when it has no members).
    mask_private : bool
        Mask customer names and phones in popups (default off: the dispatcher's view).

    Returns
    -------
    Path
        The file written.
    """
    tile = _tile_provider(tiles)
    path = Path(path)
    points: list[tuple[float, float]] = []
    for route in plan.routes:
        points += [_to_datum(tile, s.lat, s.lon) for s in route.stops]
        points.append(_to_datum(tile, route.start_lat, route.start_lon))
    unassigned_pts = []
    for u in plan.unassigned:
        if u.lat is None or u.lon is None:
            continue
        lat, lon = _to_datum(tile, u.lat, u.lon)
        points.append((lat, lon))
        popup = _unassigned_popup(u, mask_private=mask_private)
        unassigned_pts.append({"id": u.case.case_id, "lat": lat, "lon": lon, "popup": popup})
    m = _new_map(tile, points)

    colors: dict[str, str] = {}
    groups = []
    routes_data = []
    for i, route in enumerate(plan.routes):
        cid = route.collector.collector_id
        color = colors[cid] = _color(i)
        label = f"{cid} {route.collector.name}".strip()
        # no name for folium: the layer control is ours (CR.overviewPage), labelled from the data
        group = folium.FeatureGroup(name=f"route-{i}", control=False, show=True).add_to(m)
        _polyline(route, tile, color, weight=4).add_to(group)
        groups.append(group.get_name())
        routes_data.append({
            "color": color,
            # Leaflet's layer control shows names as HTML: escape the input text
            "label": f'<span class="cr-swatch" style="background:{color}"></span>'
            f"{_esc(label)} ({len(route.stops)})",
            "places": _places(route, tile),
            "stops": _stop_data(route, tile, mask_private=mask_private, nav=False,
                                collector=cid),
        })  # fmt: skip
    unvisited = folium.FeatureGroup(name="unvisited", control=False, show=True).add_to(m)
    data = {
        "routes": routes_data,
        "unvisited": {
            "color": _UNVISITED_COLOR,
            "label": f'<span class="cr-swatch" style="background:{_UNVISITED_COLOR}"></span>'
            f"Not visited ({len(plan.unassigned)})",
            "points": unassigned_pts,
        },
    }
    _Script(
        f"CR.overviewPage({m.get_name()}, [{', '.join(groups)}], {unvisited.get_name()}, "
        f"CR.data({_js_json(_DATA_ID)}));"
    ).add_to(m)

    if links is None:
        # one page per collector; a team's route has a page per member
        links_section = collector_links_html(
            {
                member: collector_page_filename(member)
                for r in plan.routes
                for member in (r.members or (r.collector.collector_id,))
            },
            qr=False,
        )
    else:
        links_section = collector_links_html(links, qr=True)
    return _render(
        m,
        path,
        title=f"Collector routes {plan.plan_date.isoformat()}",
        meta={"page": "overview", "date": plan.plan_date.isoformat()},
        body=_summary_html(plan, colors, links_section),
        data=data,
        body_class="cr-overview",
        self_contained=self_contained,
    )


def write_week_map(
    plans: Sequence[Plan],
    path: str | Path,
    *,
    panel_html: str,
    tiles: str | TileProvider = "osm",
    self_contained: bool = False,
) -> Path:
    """Write the week overview of a multi-day plan: a map with one layer per day (every route
    of the day in the day's colour, its stops numbered with the collector; the first day
    shown), a layer of the cases no day visits (the reason is the last day's), and
    `panel_html` (escaped HTML: the totals and the collector x day table) in the summary panel.

    The page script is the overview's (``CR.overviewPage``): its layer control switches days.
    """
    tile = _tile_provider(tiles)
    points: list[tuple[float, float]] = []
    for plan in plans:
        for route in plan.routes:
            points += [_to_datum(tile, s.lat, s.lon) for s in route.stops]
            points.append(_to_datum(tile, route.start_lat, route.start_lon))
    m = _new_map(tile, points)
    groups = []
    days_data = []
    for i, plan in enumerate(plans):
        color = _color(i)
        group = folium.FeatureGroup(name=f"day-{i}", control=False, show=i == 0).add_to(m)
        places: list[dict] = []
        stops: list[dict] = []
        for route in plan.routes:
            if not route.stops:
                continue
            _polyline(route, tile, color, weight=3).add_to(group)
            places += _places(route, tile)
            stops += _stop_data(route, tile, mask_private=False, nav=False,
                                collector=route.collector.collector_id)
        visits = sum(len(r.stops) for r in plan.routes)
        groups.append(group.get_name())
        days_data.append({
            "color": color,
            "label": f'<span class="cr-swatch" style="background:{color}"></span>'
            f"{plan.plan_date:%a} {_esc(plan.plan_date.isoformat())} ({visits})",
            "places": places,
            "stops": stops,
        })  # fmt: skip
    visited = {s.case.case_id for plan in plans for r in plan.routes for s in r.stops}
    never = []
    for u in plans[-1].unassigned:  # the last day lists every case not visited that day
        if u.case.case_id in visited or u.lat is None or u.lon is None:
            continue
        lat, lon = _to_datum(tile, u.lat, u.lon)
        never.append({"id": u.case.case_id, "lat": lat, "lon": lon,
                      "popup": _unassigned_popup(u, mask_private=False)})
    unvisited = folium.FeatureGroup(name="unvisited", control=False, show=False).add_to(m)
    data = {"routes": days_data, "unvisited": {
        "color": _UNVISITED_COLOR,
        "label": f'<span class="cr-swatch" style="background:{_UNVISITED_COLOR}"></span>'
        f"Not visited in these days ({len(never)})",
        "points": never}}
    _Script(
        f"CR.overviewPage({m.get_name()}, [{', '.join(groups)}], {unvisited.get_name()}, "
        f"CR.data({_js_json(_DATA_ID)}));"
    ).add_to(m)
    first, last = plans[0].plan_date.isoformat(), plans[-1].plan_date.isoformat()
    return _render(
        m,
        Path(path),
        title=f"Collector routes {first} to {last}",
        meta={"page": "week", "date": first},
        body=f'<div class="cr-panel" id="cr-summary"><details open><summary>Plan {first} to '
        f"{last}</summary>{panel_html}</details></div>",
        data=data,
        body_class="cr-overview",
        self_contained=self_contained,
    )


# --------------------------------------------------------------------------- collector page


def _stop_list_item(
    stop: PlannedStop, color: str, *, mask_private: bool, geocoded: tuple | None = None
) -> str:
    case = stop.case
    name = mask_name(case.customer_name) if mask_private else case.customer_name
    phone = mask_phone(case.phone) if mask_private else case.phone
    links = navigation_links(stop.lat, stop.lon, label=f"{stop.stop}. {case.case_id}")
    parts = [
        '<div class="cr-line1">'
        f'<span class="cr-eta">{_esc(_stop_times(stop))}</span>'
        f'<span class="cr-muted">window {_esc(stop.window.label())}</span></div>',
        f'<div><b class="cr-name">{_esc(name)}</b> '
        f'<span class="cr-muted cr-case">{_esc(case.case_id)}</span></div>',
    ]
    if case.address:
        parts.append(f'<div class="cr-addr">{_esc(case.address)}</div>')
    if geocoded is not None and geocode_status(geocoded[2], geocoded[1]) == "uncertain":
        parts.append(
            '<div class="cr-warn" role="note">Address match uncertain: the pin is at '
            f"{_esc(geocoded[0])}. Confirm the place before you go.</div>"
        )
    parts.append(
        f"<div>Overdue <b>{_esc(_money(case.amount_overdue))}</b> · "
        f"{case.days_past_due} days past due</div>"
    )
    if phone:
        parts.append(
            f'<div class="cr-phone">Phone <span data-field="phone">{_esc(phone)}</span></div>'
        )
    if case.notes:
        parts.append(f'<div class="cr-muted" data-field="notes">{_esc(case.notes)}</div>')
    parts.append(_nav_html(links))
    return (
        f'<li class="cr-stop" data-stop="{stop.stop}" data-case-id="{_esc(case.case_id)}" '
        f'tabindex="0" role="button" aria-label="Stop {stop.stop}">'
        f'<span class="cr-pin" style="background:{color}">{stop.stop}</span>'
        f'<div class="cr-body">{"".join(parts)}</div></li>'
    )


def _update_html(update: PageUpdate | None) -> str:
    """The re-plan notice of a collector page as escaped HTML ("" without a re-plan)."""
    if update is None:
        return ""
    items = "".join(f"<li>{_esc(line)}</li>" for line in update.lines)
    return ('<div class="cr-update" id="cr-update" role="status">'
            f'<strong id="cr-updated-at">{_esc(f"Updated at {update.updated_at}")}</strong> '
            f'<span>{_esc(f"(re-planned from {update.at})")}</span>'
            f'<ul id="cr-changes">{items}</ul></div>')


def write_collector_page(
    plan: Plan,
    route: PlannedRoute,
    path: str | Path,
    *,
    tiles: str | TileProvider = "osm",
    mask_private: bool = True,
    self_contained: bool = False,
    collector_id: str | None = None,
    update: PageUpdate | None = None,
) -> Path:
    """Write one collector's phone-first page (``<collector_id>.html``).

    A full-width map with large numbered stops in visiting order and the route on the roads, under
    a header bar, above a stop list (ETA, window, name, address, amount, days past due,
    navigation links to Amap, Baidu, Apple and Google Maps). Tapping a list entry centres the map
    on the stop and opens its popup. The page holds this route's cases only.

    Parameters
    ----------
    plan : Plan
        The day's plan (its date, and how this route's addresses were matched: nothing of
        other routes enters the page).
    route : PlannedRoute
        The collector's route.
    path : str or Path
        The HTML file to write (see `collector_page_filename`).
    tiles : {"osm", "amap"} or TileProvider
        Background tiles; on GCJ-02 tiles overlays are shifted to GCJ-02.
    mask_private : bool
        Mask customer names (``张*明``) and phones (``138****5678``); on by default.
    self_contained : bool
        Inline Leaflet and the helper script/stylesheet into the page.
    collector_id : str, optional
        Whose page this is when a team makes the route together (one of ``route.members``);
        default: the route's collector. `optimizer.web.serve` gives each page its own link.
    update : PageUpdate, optional
        After a re-plan: "Updated at HH:MM" and what changed on this route, at the top of the
        page (escaped text).

    Returns
    -------
    Path
        The file written.
    """
    tile = _tile_provider(tiles)
    path = Path(path)
    collector = route.collector
    cid = collector.collector_id
    color = _color(next((i for i, r in enumerate(plan.routes) if r is route), 0))
    line, _ = _route_line(route)
    points = [_to_datum(tile, lat, lon) for lat, lon in line]
    points += [_to_datum(tile, s.lat, s.lon) for s in route.stops]
    m = _new_map(tile, points)
    group = folium.FeatureGroup(name="route", control=False).add_to(m)
    _polyline(route, tile, color, weight=6).add_to(group)
    data = {
        "color": color,
        "places": _places(route, tile),
        "stops": _stop_data(route, tile, mask_private=mask_private, nav=True),
    }
    _Script(
        f"var crMarkers = CR.collectorPage({m.get_name()}, {group.get_name()}, "
        f"CR.data({_js_json(_DATA_ID)}));"
    ).add_to(m)

    title = " · ".join(x for x in (cid, collector.name, plan.plan_date.isoformat()) if x)
    members = list(route.members) if len(route.members) > 1 else []
    stats = [
        f"{len(route.stops)} stops",
        f"leave {hhmm(route.leave_s)}",
        f"back {hhmm(route.return_s)}",
        f"{route.travel_m / 1000:.1f} km",
        f"{_duration(route.travel_s)} travel",
    ]
    if members:
        stats.append("team " + " + ".join(members))
    items = "".join(
        _stop_list_item(s, color, mask_private=mask_private,
                        geocoded=plan.geocoded.get(s.case.case_id))  # fmt: skip
        for s in route.stops
    )
    if not items:
        items = '<li class="cr-empty">No stops planned for this day.</li>'
    body = (
        '<header class="cr-head">'
        f'<span class="cr-title">{_esc(title)}</span>'
        '<button id="cr-toggle" type="button" aria-expanded="true" aria-controls="cr-sheet">'
        "List</button></header>"
        '<section class="cr-sheet" id="cr-sheet">'
        f"{_update_html(update)}"
        f'<div class="cr-stats">{_esc(" · ".join(stats))}</div>'
        f'<ol class="cr-stops" id="cr-stops">{items}</ol></section>'
    )
    return _render(
        m,
        path,
        title=title,
        body=body,
        data=data,
        meta={
            "page": "collector",
            "collector-id": collector_id or cid,
            "route": cid,
            "members": json.dumps(list(route.members or (cid,)), ensure_ascii=False),
            "date": plan.plan_date.isoformat(),
        },
        body_class="cr-collector",
        self_contained=self_contained,
    )
