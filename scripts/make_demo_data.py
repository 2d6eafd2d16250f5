"""Make the bundled demo data: overdue cases and collectors in central Chengdu.

Every case is placed at a real place of the bundled OpenStreetMap extract (a named compound or
building, a POI, a tagged address, a neighbourhood, or a house number on a named street) taken
from the offline gazetteer, so every address meant to be findable geocodes back; a handful of
addresses are deliberately unfindable (other cities, garbled names) to exercise the "cannot
geocode" path. Seeded and deterministic.

    python scripts/make_demo_data.py --seed 7 --cases 500 --collectors 15 --out data/demo

Prints the share of findable addresses that geocode back within 150 m of the point the case was
placed at, and the median error.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import re
import statistics
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer.geo.geocode.gazetteer import Gazetteer  # noqa: E402
from optimizer.geo.geocode.index import DEFAULT_OSM_PATH, GazetteerEntry, dist_m  # noqa: E402

CASE_FIELDS = [
    "case_id", "customer_name", "phone", "address", "district", "lat", "lon", "amount_overdue",
    "days_past_due", "windows", "service_minutes", "skill", "preferred_collector",
    "last_visit_date", "promise_date", "promise_broken", "consent", "notes",
]  # fmt: skip
COLLECTOR_FIELDS = [
    "collector_id", "name", "team", "start_address", "start_lat", "start_lon", "end_address",
    "end_lat", "end_lon", "shift", "max_visits", "skills", "districts",
]  # fmt: skip

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷黎史龙陶贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅琳鹏飞宇浩然子轩"
    "梓涵欣怡雨婷俊杰文博思远家豪佳琪晓东春燕德明海燕晨曦"
)
SUBSTRING_UNITS = ("栋", "幢")
NOTES = (
    "夜班，白天休息", "仅周末在家", "门卫不让进，先打电话", "家里有狗", "电话常关机",
    "已搬家？核实地址", "与父母同住", "客户称下月发工资后还款", "上次未见到本人",
    "店铺经营者，下午在店",
    "Speaks English", "要求上门前一小时电话联系", "小区需登记", "家中有老人，注意说话方式",
)  # fmt: skip
DISTRICT_LATIN = {
    "锦江区": "Jinjiang District", "青羊区": "Qingyang District", "金牛区": "Jinniu District",
    "武侯区": "Wuhou District", "成华区": "Chenghua District",
}  # fmt: skip
HARD_ADDRESSES = (
    "北京市朝阳区建国路88号 2栋1单元302",
    "重庆市渝中区解放碑民族路166号",
    "四川省绵阳市涪城区临园路东段45号 5栋3单元601",
    "成都市锦江区鑫鑫鑫鑫花园小区 9栋2单元1101",
    "成者市金午区xx路不详",
    "地址不详",
    "Flat 3, 221B Baker Street, London",
)
RESIDENTIAL_SUFFIXES = ("苑", "园", "小区", "庭", "府", "居", "社区", "公寓", "新村", "湾", "舍")
HARD_NOTE = "地址疑有误，需核实"


@dataclass(frozen=True)
class Spot:
    """Where a case is placed and how its address is written."""

    address: str
    lat: float
    lon: float
    findable: bool
    source: str  # building / poi / place / address / street / latin / hard


def _cn_name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 9)}-****-{rng.randint(0, 9999):04d}"


def _unit(rng: random.Random) -> str:
    b = rng.randint(1, 18)
    u = rng.randint(1, 4)
    room = rng.randint(1, 28) * 100 + rng.randint(1, 6)
    return f"{b}{rng.choice(SUBSTRING_UNITS)}{u}单元{room}"


def _latin_unit(rng: random.Random) -> str:
    room = f"{rng.randint(1, 28)}0{rng.randint(1, 6)}"
    return f"Bldg {rng.randint(1, 18)} Unit {rng.randint(1, 4)} Rm {room}"


def _fullwidth(text: str) -> str:
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})


def _offset(lat: float, lon: float, metres: float, rng: random.Random) -> tuple[float, float]:
    """A point up to `metres` away (normal noise, sigma = metres / 2)."""
    dn, de = rng.gauss(0, metres / 2), rng.gauss(0, metres / 2)
    return (
        lat + dn / 111_320.0,
        lon + de / (111_320.0 * math.cos(math.radians(lat))),
    )


def _is_cjk_name(label: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in label)


def _latin_names(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not _is_cjk_name(n) and sum(c.isalpha() for c in n) >= 5]


class Places:
    """Gazetteer entries that round-trip (their own name geocodes back to them)."""

    def __init__(self, gaz: Gazetteer, district_of) -> None:
        self.gaz = gaz
        # the extract also holds places outside its bounds (members of clipped ways): keep
        # the cases 200 m inside, where the road network is complete
        minlat, minlon, maxlat, maxlon = gaz.bounds
        m_lat, m_lon = 200 / 111_320, 200 / (111_320 * math.cos(math.radians(minlat)))
        self.box = (minlat + m_lat, minlon + m_lon, maxlat - m_lat, maxlon - m_lon)
        self.district_of = district_of
        self.by_kind: dict[str, list[GazetteerEntry]] = {}
        junk = ("盥洗室", "过道", "住宅区", "小区", "宿舍", "厕所", "卫生间")
        for e in gaz.entries():
            if e.kind == "street" or not _is_cjk_name(e.label) or len(e.label) < 3:
                continue
            if not self.inside(e.lat, e.lon):
                continue
            if e.label in junk or e.label[0].isdigit() or any(c.isascii() for c in e.label):
                continue
            r = gaz.geocode(e.label)
            if r is None or dist_m(r.lat, r.lon, e.lat, e.lon) > 30:
                continue  # ambiguous name: another place answers to it
            self.by_kind.setdefault(e.kind, []).append(e)
        self.addresses = [
            a for a in gaz.addresses()
            if _is_cjk_name(a.label.split(" ")[0]) and re.match(r"\d+", a.label.split(" ")[1])
            and self.inside(a.lat, a.lon)
        ]  # fmt: skip
        self.streets = [
            (k, s) for k, s in sorted(gaz.streets().items())
            if s.length_m >= 200 and _is_cjk_name(s.label) and not s.label.endswith(("桥", "高架"))
            and "立交" not in s.label and "匝道" not in s.label
            and all(self.inside(*s.point_at(f * s.length_m)) for f in (0.0, 0.5, 1.0))
        ]  # fmt: skip
        self.latin_streets = []
        for k, s in self.streets:
            good = tuple(
                n for n in _latin_names(s.names)
                if (r := gaz.geocode(f"No. 9 {n}")) is not None
                and dist_m(r.lat, r.lon, *s.house(9)) < 1
            )  # fmt: skip
            if good:
                self.latin_streets.append((k, s, good))
        self.latin_entries = []  # (entry, its Latin names that geocode back to it)
        for kind in ("building", "poi"):
            for e in self.by_kind.get(kind, []):
                good = tuple(
                    n for n in _latin_names(e.names)
                    if (r := gaz.geocode(n)) is not None
                    and dist_m(r.lat, r.lon, e.lat, e.lon) < 30
                )  # fmt: skip
                if good:
                    self.latin_entries.append((e, good))

    def inside(self, lat: float, lon: float) -> bool:
        return self.box[0] <= lat <= self.box[2] and self.box[1] <= lon <= self.box[3]

    def house(self, s, rng: random.Random) -> tuple[int, float, float]:
        """A random house number of street `s` that lands inside the box."""
        top = max(2, int(min(s.max_n, s.length_m / 5) * 0.95))
        for _ in range(50):
            n = rng.randint(1, top)
            lat, lon = s.house(n)
            if self.inside(lat, lon):
                return n, lat, lon
        raise ValueError(f"street {s.label} has no house number inside the extract")

    def prefix(self, lat: float, lon: float, rng: random.Random) -> str:
        d = self.district_of(lat, lon)
        r = rng.random()
        if r < 0.55:
            return "成都市" + d
        if r < 0.75:
            return "四川省成都市" + d
        if r < 0.9:
            return d
        return ""


def _spot(places: Places, rng: random.Random) -> Spot:
    r = rng.random()
    if r < 0.33:  # residential compound or named building + unit
        e = rng.choice(places.by_kind["building"])
        lat, lon = _offset(e.lat, e.lon, 25, rng)
        unit = _unit(rng) if rng.random() < 0.8 else ""
        sep = rng.choice(("", " "))
        name = e.label
        if rng.random() < 0.15 and not name.endswith(("小区", "社区", "大厦", "广场")):
            name += "小区"  # as customers often write it
        address = (places.prefix(e.lat, e.lon, rng) + name + sep + unit).strip()
        return Spot(address, lat, lon, True, "building")
    if r < 0.68:  # house number on a named street
        _k, s = rng.choice(places.streets)
        n, lat, lon = places.house(s, rng)
        number = f"{n}号"
        if rng.random() < 0.06:
            number = _fullwidth(number)
        tail = rng.choice(("", " " + _unit(rng), _unit(rng), f"附{rng.randint(1, 9)}号"))
        sep = rng.choice(("", " "))
        return Spot(places.prefix(lat, lon, rng) + s.label + sep + number + tail, lat, lon, True,
                    "street")  # fmt: skip
    if r < 0.78:  # named POI (shops, offices, schools: customers met at work)
        e = rng.choice(places.by_kind["poi"])
        lat, lon = _offset(e.lat, e.lon, 15, rng)
        return Spot(places.prefix(e.lat, e.lon, rng) + e.label, lat, lon, True, "poi")
    if r < 0.83 and places.addresses:  # a tagged OSM address
        a = rng.choice(places.addresses)
        street, number = a.label.split(" ")[:2]
        n = re.match(r"\d+", number).group(0)
        lat, lon = _offset(a.lat, a.lon, 10, rng)
        return Spot(places.prefix(a.lat, a.lon, rng) + street + n + "号", lat, lon, True,
                    "address")  # fmt: skip
    if r < 0.88 and places.by_kind.get("place"):  # neighbourhood
        e = rng.choice(places.by_kind["place"])
        lat, lon = _offset(e.lat, e.lon, 25, rng)
        return Spot(places.prefix(e.lat, e.lon, rng) + e.label + " " + _unit(rng), lat, lon,
                    True, "place")  # fmt: skip
    # Latin / pinyin spelling, as some systems export it
    if rng.random() < 0.6:
        _k, s, latin = rng.choice(places.latin_streets)
        n, lat, lon = places.house(s, rng)
        name = rng.choice(latin)
        d = DISTRICT_LATIN.get(places.district_of(lat, lon), "")
        parts = [f"No. {n} {name}", d, "Chengdu"]
        if rng.random() < 0.6:
            parts.insert(0, _latin_unit(rng))
        return Spot(", ".join(p for p in parts if p), lat, lon, True, "latin")
    e, latin = rng.choice(places.latin_entries)
    lat, lon = _offset(e.lat, e.lon, 15, rng)
    name = rng.choice(latin)
    return Spot(f"{name}, Chengdu", lat, lon, True, "latin")


def _amount(rng: random.Random) -> float:
    v = math.exp(rng.gauss(math.log(15_000), 0.95))
    return round(min(max(v, 2_000), 200_000), 2)


def _dpd(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.68:
        return min(60, 1 + int(rng.expovariate(1 / 18)))
    if r < 0.88:
        return rng.randint(61, 180)
    return rng.randint(181, 400)


def _windows(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.40:  # salaried
        return rng.choice((
            "Mon-Fri 18:00-21:00; Sat-Sun 09:00-20:00",
            "Mon-Fri 18:30-21:00; Sat-Sun 10:00-18:00",
            "Mon-Fri 12:00-13:30; Mon-Fri 18:00-21:00; Sat 09:00-17:00",
        ))  # fmt: skip
    if r < 0.70:  # daytime
        return rng.choice((
            "09:00-12:00; 14:00-18:00", "Mon-Sat 10:00-19:00", "09:00-17:00",
            "Mon-Fri 09:00-11:30", "Tue,Thu 14:00-17:00", "10:00-12:00",
        ))  # fmt: skip
    if r < 0.80:  # several windows
        return rng.choice((
            "Mon,Wed,Fri 08:30-11:30; Tue,Thu 14:00-17:00; Sat 09:00-12:00",
            "Mon-Fri 07:30-08:30; Mon-Fri 19:00-21:00; Sun 10:00-16:00",
            "Sat-Sun 09:00-12:00; Sat-Sun 15:00-19:00",
        ))  # fmt: skip
    return ""


def _district_lookup(osm_path: Path):
    """``(lat, lon) -> district name`` from the admin_level=6 boundaries of the extract.

    The extract clips the district relations, so their polygons are rebuilt: the boundary
    lines present plus the extract's bounding box are polygonised, and each face gets the
    district shared by every boundary line it touches (a face touching only one line gets the
    side its neighbours across that line do not have). Points outside every face get "".
    """
    import bz2
    import xml.etree.ElementTree as ET

    from shapely.geometry import LineString, Point, box
    from shapely.ops import polygonize, unary_union

    nodes: dict[str, tuple[float, float]] = {}
    ways: dict[str, list[str]] = {}
    districts: list[tuple[str, list[str]]] = []
    bounds = None
    opener = bz2.open if osm_path.suffix == ".bz2" else open
    with opener(osm_path) as f:
        for _ev, el in ET.iterparse(f):
            if el.tag == "bounds":
                bounds = [float(el.get(k)) for k in ("minlon", "minlat", "maxlon", "maxlat")]
            elif el.tag == "node":
                nodes[el.get("id")] = (float(el.get("lon")), float(el.get("lat")))
            elif el.tag == "way":
                ways[el.get("id")] = [n.get("ref") for n in el if n.tag == "nd"]
            elif el.tag == "relation":
                tags = {c.get("k"): c.get("v") for c in el if c.tag == "tag"}
                if tags.get("boundary") == "administrative" and tags.get("admin_level") == "6":
                    name = tags.get("name", "").split(" ")[0]
                    districts.append((name, [m.get("ref") for m in el if m.tag == "member"
                                             and m.get("type") == "way"]))  # fmt: skip
                el.clear()
    sides: dict[str, set[str]] = {}
    for name, members in districts:
        for w in members:
            if w in ways:
                sides.setdefault(w, set()).add(name)
    lines = {
        w: LineString([nodes[n] for n in ways[w] if n in nodes])
        for w in sides if sum(n in nodes for n in ways[w]) >= 2
    }  # fmt: skip
    if not lines or bounds is None:
        return lambda lat, lon: ""
    bbox = box(*bounds)
    faces = [f for f in polygonize(unary_union([*lines.values(), bbox.exterior]))
             if f.representative_point().within(bbox)]  # fmt: skip
    touching = [
        [w for w, ln in lines.items() if f.exterior.intersection(ln).length > 0] for f in faces
    ]
    labels: list[str] = []
    for ws in touching:
        common = set.intersection(*(sides[w] for w in ws)) if ws else set()
        labels.append(next(iter(common)) if len(common) == 1 else "")
    for i, ws in enumerate(touching):  # faces with one line: the side the neighbours lack
        if labels[i] or len(ws) != 1:
            continue
        across = {labels[j] for j, o in enumerate(touching) if j != i and ws[0] in o} - {""}
        rest = sides[ws[0]] - across
        labels[i] = next(iter(rest)) if len(rest) == 1 else ""

    def district_of(lat: float, lon: float) -> str:
        if math.isnan(lat):
            return ""
        p = Point(lon, lat)
        for f, label in zip(faces, labels, strict=True):
            if f.covers(p):
                return label
        return ""

    return district_of


def make(seed: int, n_cases: int, n_collectors: int, as_of: date, osm_path: Path):
    rng = random.Random(seed)
    gaz = Gazetteer.from_osm(osm_path)
    district_of = _district_lookup(osm_path)
    places = Places(gaz, district_of)

    # ---- collectors: branch offices at three real named places + some homes
    targets = {"north": (30.712, 104.075), "east": (30.668, 104.112), "west": (30.668, 104.050)}
    offices = []
    for _name, (tlat, tlon) in targets.items():
        cands = [
            e for e in places.by_kind["building"] + places.by_kind["poi"]
            if e.label.endswith(("大厦", "广场", "中心", "大楼"))
        ]  # fmt: skip
        offices.append(min(cands, key=lambda e: (dist_m(e.lat, e.lon, tlat, tlon), e.label)))
    homes = [e for e in places.by_kind["building"] + places.by_kind.get("place", [])
             if e.label.endswith(RESIDENTIAL_SUFFIXES) and "学生" not in e.label
             and e not in offices]
    collectors = []
    for i in range(n_collectors):
        cid = f"K{i + 1:02d}"
        office = offices[i % len(offices)]
        start_addr, slat, slon = "成都市" + district_of(office.lat, office.lon) + office.label, \
            f"{office.lat:.6f}", f"{office.lon:.6f}"  # fmt: skip
        end_addr = end_lat = end_lon = ""
        if i in (4, 11):  # starts from home; leaves the coordinates to the geocoder
            home = rng.choice(homes)
            start_addr = "成都市" + district_of(home.lat, home.lon) + home.label
            slat = slon = ""
        if i == 7:  # ends the day at home
            home = rng.choice(homes)
            end_addr = "成都市" + district_of(home.lat, home.lon) + home.label
            end_lat, end_lon = f"{home.lat:.6f}", f"{home.lon:.6f}"
        skills = []
        if i in (0, 5):
            skills.append("legal")
        if i % 4 == 2:
            skills.append("sichuanese")
        collectors.append({
            "collector_id": cid, "name": _cn_name(rng), "team": "",
            "start_address": start_addr, "start_lat": slat, "start_lon": slon,
            "end_address": end_addr, "end_lat": end_lat, "end_lon": end_lon,
            "shift": "10:00-21:00" if i % 5 == 3 else "08:30-17:30",
            "max_visits": rng.randint(10, 14), "skills": ";".join(skills),
            # two collectors keep to their branch's district (territory rule)
            "districts": district_of(office.lat, office.lon) if i in (1, 6) else "",
        })  # fmt: skip
    ids = [c["collector_id"] for c in collectors]

    # ---- cases
    hard_at = set(rng.sample(range(n_cases), min(len(HARD_ADDRESSES), n_cases)))
    xss_at = rng.randrange(n_cases)
    hard = list(HARD_ADDRESSES)
    rows, spots = [], []
    for i in range(n_cases):
        if i in hard_at:
            spot = Spot(hard.pop(), math.nan, math.nan, False, "hard")
        else:
            spot = _spot(places, rng)
        spots.append(spot)
        dpd = _dpd(rng)
        with_coords = spot.findable and rng.random() < 0.6
        lat, lon = _offset(spot.lat, spot.lon, 6, rng) if with_coords else (None, None)
        skill = ""
        if dpd > 180 and rng.random() < 0.5:
            skill = "legal"
        elif rng.random() < 0.05:
            skill = "sichuanese"
        last_visit = promise = broken = ""
        if rng.random() < 0.15:
            back = rng.randint(1, 6) if rng.random() < 0.4 else rng.randint(7, 90)
            last_visit = (as_of - timedelta(days=back)).isoformat()
        if rng.random() < 0.08:
            delta = rng.randint(-20, 14)
            promise = (as_of + timedelta(days=delta)).isoformat()
            if delta < 0:
                broken = rng.choice(("yes", "yes", "no"))
        rows.append({
            "case_id": f"C-{i + 1:05d}",
            "customer_name": "<img src=x onerror=alert(1)>" if i == xss_at else _cn_name(rng),
            "phone": _phone(rng),
            "address": spot.address,
            "district": district_of(spot.lat, spot.lon) if spot.findable else "",
            "lat": "" if lat is None else f"{lat:.6f}",
            "lon": "" if lon is None else f"{lon:.6f}",
            "amount_overdue": f"{_amount(rng):.2f}",
            "days_past_due": dpd,
            "windows": _windows(rng),
            "service_minutes": rng.choice((15, 20, 20, 25, 30, 30, 40, 45)),
            "skill": skill,
            "preferred_collector": rng.choice(ids) if rng.random() < 0.10 else "",
            "last_visit_date": last_visit,
            "promise_date": promise,
            "promise_broken": broken,
            "consent": "yes" if rng.random() < 0.02 else "",
            "notes": HARD_NOTE if not spot.findable else (
                rng.choice(NOTES) if rng.random() < 0.2 else ""),
        })  # fmt: skip
    return gaz, rows, collectors, spots


def check(gaz: Gazetteer, rows: list[dict], spots: list[Spot]) -> dict:
    """Geocode every address back; errors against the placed point."""
    errors, misses, found_hard = [], [], []
    for row, spot in zip(rows, spots, strict=True):
        r = gaz.geocode(row["address"])
        if not spot.findable:
            if r is not None:
                found_hard.append((row["case_id"], row["address"], r.matched))
            continue
        if r is None:
            misses.append((row["case_id"], row["address"], gaz.explain_miss(row["address"])))
            continue
        errors.append((dist_m(r.lat, r.lon, spot.lat, spot.lon), row["case_id"], row["address"],
                       r.matched))  # fmt: skip
    findable = sum(s.findable for s in spots)
    within = sum(e[0] <= 150 for e in errors)
    return {
        "findable": findable,
        "within_150m": within,
        "share_within_150m": within / findable if findable else 0.0,
        "median_error_m": statistics.median(e[0] for e in errors) if errors else math.nan,
        "p95_error_m": sorted(e[0] for e in errors)[int(0.95 * (len(errors) - 1))] if errors else 0,
        "misses": misses,
        "far": sorted((e for e in errors if e[0] > 150), reverse=True),
        "hard_found": found_hard,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--collectors", type=int, default=15)
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30),
                    help="reference date for last visits and promises (default 2026-11-30)")
    ap.add_argument("--osm", type=Path, default=DEFAULT_OSM_PATH)
    ap.add_argument("--out", type=Path, default=REPO / "data" / "demo")
    args = ap.parse_args(argv)

    gaz, rows, collectors, spots = make(args.seed, args.cases, args.collectors, args.as_of,
                                        args.osm)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    for name, fields, data in (("cases.csv", CASE_FIELDS, rows),
                               ("collectors.csv", COLLECTOR_FIELDS, collectors)):  # fmt: skip
        with open(args.out / name, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
            w.writeheader()
            w.writerows(data)
    res = check(gaz, rows, spots)
    no_coords = sum(1 for r in rows if not r["lat"])
    kinds: dict[str, int] = {}
    for s in spots:
        kinds[s.source] = kinds.get(s.source, 0) + 1
    print(f"wrote {len(rows)} cases ({no_coords} without lat/lon) and {len(collectors)} "
          f"collectors to {args.out}")  # fmt: skip
    print("address kinds:", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"findable addresses geocoding back within 150 m: {res['within_150m']}/"
          f"{res['findable']} = {res['share_within_150m']:.1%}; median error "
          f"{res['median_error_m']:.1f} m, p95 {res['p95_error_m']:.1f} m")  # fmt: skip
    for m in res["misses"]:
        print("  MISS", *m)
    for e in res["far"]:
        print(f"  FAR {e[0]:.0f} m", *e[1:])
    for h in res["hard_found"]:
        print("  HARD ADDRESS FOUND (should not be)", *h)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
