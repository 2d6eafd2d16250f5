"""A small hand-built plan in Chengdu for the map, server and browser tests.

Three collectors, a few stops each on short road-like paths, and unvisited cases (one without
coordinates). One customer is named like a script injection; another carries JS-breaking text.
"""

from __future__ import annotations

from datetime import date

from optimizer.model import (
    Case,
    Collector,
    Place,
    Plan,
    PlannedRoute,
    PlannedStop,
    TimeWindow,
    Unassigned,
)

INJECTION_NAME = "<img src=x onerror=alert(1)>"
JS_BREAKER = "</script><script>alert(2)</script> `${alert(3)}` \\u0022 \u2028"


def _case(case_id: str, name: str, phone: str, address: str, amount: float, dpd: int, notes=""):
    return Case(
        case_id=case_id,
        amount_overdue=amount,
        days_past_due=dpd,
        address=address,
        customer_name=name,
        phone=phone,
        notes=notes,
    )


def _path(points):
    """A road-like polyline: an L-shaped detour (east, then north) between consecutive points."""
    out = [points[0]]
    for (a_lat, _a_lon), (b_lat, b_lon) in zip(points, points[1:], strict=False):
        out.append((a_lat, b_lon))
        out.append((b_lat, b_lon))
    return tuple(out)


def _route(collector: Collector, start, stops_spec, *, t0_s: int, members=()) -> PlannedRoute:
    stops = []
    t = t0_s
    for i, (case, lat, lon, window) in enumerate(stops_spec, start=1):
        t += 900
        start_s = max(t, window.start_s)
        stops.append(
            PlannedStop(
                collector_id=collector.collector_id,
                stop=i,
                case=case,
                lat=lat,
                lon=lon,
                arrive_s=t,
                start_s=start_s,
                depart_s=start_s + case.service_s,
                travel_s=900,
                travel_m=4000,
                value=round(case.amount_overdue * 0.6, 2),
                window=window,
            )
        )
        t = start_s + case.service_s
    pts = [start, *[(s.lat, s.lon) for s in stops], start]
    return PlannedRoute(
        collector=collector,
        stops=tuple(stops),
        start_lat=start[0],
        start_lon=start[1],
        end_lat=start[0],
        end_lon=start[1],
        leave_s=t0_s,
        return_s=t + 900,
        travel_s=900.0 * (len(stops) + 1),
        travel_m=4000.0 * (len(stops) + 1),
        value=sum(s.value for s in stops),
        path=_path(pts),
        members=(collector.collector_id,),
    )


def make_plan() -> Plan:
    """The test plan: collectors C01, C02, C03 (C03 has no stops), 7 routed, 3 unassigned cases."""
    shift = TimeWindow(8 * 3600, 18 * 3600)
    day = TimeWindow(9 * 3600, 17 * 3600)
    evening = TimeWindow(10 * 3600, 12 * 3600)

    def collector(cid, name, lat, lon):
        return Collector(
            collector_id=cid, start=Place(lat, lon), end=Place(lat, lon), shift=shift, name=name
        )

    c1 = collector("C01", "王强", 30.6600, 104.0650)
    c2 = collector("C02", "Li Na", 30.7100, 104.1100)
    c3 = collector("C03", "赵六", 30.6900, 104.0900)
    r1 = _route(
        c1,
        (30.6600, 104.0650),
        [
            (
                _case("K-1001", "张三明", "13812345678", "成都市青羊区人民中路一段12号", 12500, 45),
                30.6652,
                104.0601,
                day,
            ),
            (
                _case("K-1002", INJECTION_NAME, "13987654321", "锦江区春熙路<b>8</b>号", 8300, 90),
                30.6701,
                104.0702,
                evening,
            ),
            (
                _case(
                    "K-1003",
                    "Zhou Jie",
                    "+86 135 0000 1111",
                    "武侯区科华北路65号",
                    4100,
                    30,
                    notes=JS_BREAKER,
                ),
                30.6755,
                104.0823,
                day,
            ),
        ],
        t0_s=8 * 3600 + 1800,
    )
    r2 = _route(
        c2,
        (30.7100, 104.1100),
        [
            (
                _case("K-2001", "陈美丽", "13600001234", "成华区建设路55号", 20000, 120),
                30.7150,
                104.1050,
                day,
            ),
            (
                _case("K-2002", "刘洋", "13700005678", "成华区二环路东二段7号", 6400, 60),
                30.7080,
                104.0980,
                day,
            ),
            (
                _case("K-2003", "黄磊", "", "金牛区一环路北三段1号", 3000, 15),
                30.7010,
                104.1120,
                day,
            ),
            (
                _case("K-2004", "孙丽", "13900009999", "成华区府青路二段3号", 9100, 75),
                30.6950,
                104.1000,
                day,
            ),
        ],
        t0_s=9 * 3600,
    )
    r3 = PlannedRoute(
        collector=c3,
        stops=(),
        start_lat=30.6900,
        start_lon=104.0900,
        end_lat=30.6900,
        end_lon=104.0900,
        leave_s=8 * 3600,
        return_s=8 * 3600,
        travel_s=0.0,
        travel_m=0.0,
        value=0.0,
        path=(),
        members=("C03",),
    )
    unassigned = (
        Unassigned(
            case=_case("K-9001", "吴刚", "13811112222", "青羊区宽巷子9号", 5000, 200),
            reason_code="no_capacity",
            reason="every collector's day is full with more valuable cases",
            value=1200.0,
            lat=30.6680,
            lon=104.0550,
        ),
        Unassigned(
            case=_case(
                "K-9002", "<script>alert(4)</script>", "", "高新区天府大道<i>北</i>", 700, 10
            ),
            reason_code="window",
            reason="available only on weekends <b>bold</b>",
            value=300.0,
            lat=30.6620,
            lon=104.1150,
        ),
        Unassigned(
            case=_case("K-9003", "郑七", "", "不存在的地址 999号", 2500, 50),
            reason_code="geocode_failed",
            reason="address not found in the gazetteer",
            value=900.0,
        ),
    )
    geocoded = {cid: (address, 1.0, "offline") for cid, address in (
        ("K-1001", "人民中路一段12号"), ("K-2001", "建设路55号"), ("K-2002", "二环路东二段7号"))}
    # an uncertain match (one of two same-name streets), with markup in the matched text
    geocoded["K-1002"] = ("春熙路 <i>8</i> (one of 2 streets with this name)", 0.8, "offline")
    geocoded["K-2003"] = ("lat/lon from the input", 1.0, "input")
    return Plan(plan_date=date(2026, 11, 30), routes=(r1, r2, r3), unassigned=unassigned,
                geocoded=geocoded)


def case_ids(route: PlannedRoute) -> list[str]:
    return [s.case.case_id for s in route.stops]


def all_case_ids(plan: Plan) -> set[str]:
    ids = {s.case.case_id for r in plan.routes for s in r.stops}
    return ids | {u.case.case_id for u in plan.unassigned}
