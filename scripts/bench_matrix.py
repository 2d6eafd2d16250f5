"""Benchmark: road network loading (cold/warm), snapping, travel matrices and route geometry.

Usage::

    python scripts/bench_matrix.py                        # bundled Chengdu extract, drive
    python scripts/bench_matrix.py --runs 5 --mode bike
    python scripts/bench_matrix.py --osm ../shared/data/osm/porto_portugal.osm.pbf \\
        --n 2000 --engine cch --runs 3 --cold-runs 0 --cache-dir /tmp/bench-cache --compare
    python scripts/bench_matrix.py --osm ../shared/data/osm/porto_portugal.osm.pbf \
        --n 10000 --engine cch --runs 1 --cold-runs 0 --cache-dir /tmp/bench-cache
    python scripts/bench_matrix.py --osm ../shared/data/osm/porto_portugal.osm.pbf \\
        --n 2000 --engine dijkstra --runs 1 --compare
    python scripts/bench_matrix.py --demo-snap            # the demo day: snap, matrix

Locations: without ``--n``, ``--cases`` random points inside the network bounds plus
``--collectors`` random start points (default 500 + 15 = 515); with ``--n N``, N points near random
nodes of the main component (up to 50 m off, in a random direction), fixed seed. Each figure is the
median over ``--runs`` runs. Cold loads use a fresh cache directory each run (they parse the file
and compute the CCH node order, reported on its own); warm loads read the cache (``--cache-dir``,
default a temporary one). Memory: the peak of the matrix call as tracemalloc sees it (numpy's
arrays: the matrices and the CCH's per-thread buffers; what the compiled kernels allocate inside,
the hierarchy's arcs and weights, is not traced) and the process's peak resident size
(``ru_maxrss``) at the end: run one size per process. ``--compare`` also runs the other engine once
and reports how far the matrices differ. ``--demo-snap`` geocodes the bundled demo day offline and
reports the median and p95 distance from each case and collector place to its place on the road,
snapped to the nearest node and to the nearest segment, and the time of the demo day's matrix by
each engine. CPU times (this process and its ended children) are reported beside wall times; on a
shared machine both grow with the load, and the ratio to the other engine in the same run is the
steadier figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.geo import cch  # noqa: E402
from optimizer.geo.matrix import route_paths, travel_matrices  # noqa: E402
from optimizer.geo.network import (  # noqa: E402
    EARTH_RADIUS_M,
    default_osm_path,
    load_network,
    snap,
    snap_to_node,
)


def _median_s(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:10.1f} ms"


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended (user + system)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def near_nodes(net, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` points up to 50 m from random nodes of the main component (seeded)."""
    rng = np.random.default_rng(seed)
    node = rng.choice(np.flatnonzero(net.main_component), size=n)
    r = 50.0 * np.sqrt(rng.uniform(0, 1, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    dlat = np.degrees(r * np.sin(angle) / EARTH_RADIUS_M)
    dlon = np.degrees(r * np.cos(angle) / (EARTH_RADIUS_M * np.cos(np.radians(net.node_lat[node]))))
    return net.node_lat[node] + dlat, net.node_lon[node] + dlon


def demo_snap(cache_dir: str, runs: int) -> int:
    """The demo day's places: snap distances (nearest node vs nearest segment) and the time of
    their travel matrix by each engine (median of `runs`)."""
    from optimizer import bundled
    from optimizer.geo import geocode as gc
    from optimizer.io.inputs import read_cases, read_collectors

    demo = bundled.data_path("demo")
    cases = read_cases(demo / "cases.csv")
    collectors = read_collectors(demo / "collectors.csv")
    geocoder = gc.make_geocoder("offline", osm_path=default_osm_path(), cache_dir=cache_dir)
    found, _ = gc.geocode_cases(cases, geocoder)
    points = [(r.lat, r.lon) for r in found.values()]
    places: dict[tuple[float, float], None] = {}  # distinct start/end places, as the plan has
    for c in collectors:
        for place in (c.start, c.end):
            if place.lat is not None and place.lon is not None:
                places[(place.lat, place.lon)] = None
            elif (res := geocoder.geocode(place.address)) is not None:
                places[(res.lat, res.lon)] = None
    points += list(places)
    lat, lon = np.array(points).T
    net = load_network(None, cache_dir=cache_dir)
    print(f"demo day: {len(found)} cases located, {len(points) - len(found)} collector places")
    for name, fn in (("nearest node", snap_to_node), ("nearest segment", snap)):
        d = fn(net, lat, lon).distance_m
        print(f"{name:<16} median {np.median(d):6.1f} m   p95 {np.quantile(d, 0.95):6.1f} m   "
              f"max {d.max():7.1f} m")
    snapped = snap(net, lat, lon)
    wall: dict[str, float] = {}
    for engine in ("cch", "dijkstra"):
        travel_matrices(net, snapped, engine=engine)  # warm: imports, first allocation
        cpu: list[float] = []

        def one(engine: str = engine, cpu: list[float] = cpu) -> None:
            c0 = _cpu_s()
            travel_matrices(net, snapped, engine=engine)
            cpu.append(_cpu_s() - c0)

        wall[engine], _ = _median_s(one, runs)
        print(f"demo matrix {len(points)} x {len(points)}, {engine:<8}: {_ms(wall[engine])} "
              f"(CPU {_ms(statistics.median(cpu))}, median of {runs})")
    print(f"ratio dijkstra / cch: {wall['dijkstra'] / wall['cch']:.1f} x   load {_load()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--osm", type=Path, default=default_osm_path(), help="OSM file (.osm, .pbf)")
    ap.add_argument("--mode", default="drive", choices=("drive", "bike", "walk"))
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    ap.add_argument("--n", type=int, default=None, help="N locations near the network's nodes")
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--collectors", type=int, default=15)
    ap.add_argument("--engine", default="auto", choices=("auto", "cch", "dijkstra"))
    ap.add_argument("--compare", action="store_true", help="also run the other engine once")
    ap.add_argument("--workers", type=int, default=None, choices=(1, 2),
                    help="threads answering CCH rows (default: travel_matrices decides)")
    ap.add_argument("--cold-runs", type=int, default=None,
                    help="cold loads (parse + node order), default --runs")
    ap.add_argument("--stops", type=int, default=20, help="stops per route for route geometry")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None, help="network cache (default: a temporary one)")
    ap.add_argument("--demo-snap", action="store_true",
                    help="the demo day: snap distances, matrix time by each engine")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or tmp
        if args.demo_snap:
            return demo_snap(cache_dir, args.runs)
        cold_runs = args.runs if args.cold_runs is None else args.cold_runs

        def cold():
            with tempfile.TemporaryDirectory(dir=tmp) as fresh:
                return load_network(args.osm, mode=args.mode, cache_dir=fresh)

        cold_s, net = _median_s(cold, cold_runs) if cold_runs else (float("nan"), None)
        load_network(args.osm, mode=args.mode, cache_dir=cache_dir)  # fill the cache
        warm_s, net = _median_s(
            lambda: load_network(args.osm, mode=args.mode, cache_dir=cache_dir), args.runs
        )

    # the node order alone, as a cold load computes it (once per network, then cached)
    order_s, _ = _median_s(lambda: cch.node_order(
        net.n_nodes, net.edge_source, net.travel_time_s.indices, net.node_lat, net.node_lon),
        max(cold_runs, 1))
    if args.n is not None:
        n = args.n
        lat, lon = near_nodes(net, n, args.seed)
    else:
        n = args.cases + args.collectors
        rng = np.random.default_rng(args.seed)
        b = net.bounds
        lat = rng.uniform(b.min_lat, b.max_lat, n)
        lon = rng.uniform(b.min_lon, b.max_lon, n)
    snap_s, snapped = _median_s(lambda: snap(net, lat, lon), args.runs)

    cpu: dict[str, list[float]] = {}

    def matrix(engine: str, workers: int | None = args.workers):
        """One matrix call; its CPU seconds (this process and its finished children) noted."""
        tracemalloc.start()
        c0 = _cpu_s()
        try:
            tm = travel_matrices(net, snapped, engine=engine, workers=workers)
            return tm, tracemalloc.get_traced_memory()[1]
        finally:
            cpu.setdefault(engine, []).append(_cpu_s() - c0)
            tracemalloc.stop()

    load_before = _load()
    matrix_s, (tm, traced) = _median_s(lambda: matrix(args.engine), args.runs)
    load_after = _load()

    rows = [
        ("network", f"{args.osm.name} ({args.mode}): {net.n_nodes:,} nodes, {net.n_edges:,} edges"),
        ("cold load (parse + build + node order + write cache)", _ms(cold_s)),
        ("  of which the CCH node order", _ms(order_s)),
        ("warm load (cache)", _ms(warm_s)),
        (f"snap {n} points to segments", _ms(snap_s)),
        (f"travel matrix {n} x {n}, engine {args.engine}, workers {args.workers or 'auto'}",
         _ms(matrix_s)),
        ("  CPU time of the matrix call (median)", _ms(statistics.median(cpu[args.engine]))),
        ("  peak traced memory of the matrix call", f"{traced / 2**20:10.1f} MiB"),
        ("  matrix dtype", str(tm.duration_s.dtype)),
        ("snap distance median / p95 / max",
         f"{np.median(snapped.distance_m):.0f} / {np.quantile(snapped.distance_m, 0.95):.0f} / "
         f"{snapped.distance_m.max():.0f} m"),
        ("unreachable pairs", f"{tm.unreachable_pairs.shape[0]}"),
    ]
    if args.n is None:
        # one route per collector through random cases: start, stops..., back to start
        rng = np.random.default_rng(args.seed + 1)
        cases = np.arange(args.collectors, n)
        seqs = []
        for c in range(args.collectors):
            stops = rng.choice(cases, size=min(args.stops, cases.size), replace=False)
            seqs.append(snapped.take(np.r_[c, stops, c]))
        paths_s, lines = _median_s(lambda: route_paths(net, seqs), args.runs)
        rows.append((f"route geometry {len(seqs)} routes x {args.stops} stops",
                     f"{_ms(paths_s)} ({sum(len(x) for x in lines):,} points)"))
    if args.compare:
        other = "dijkstra" if args.engine != "dijkstra" else "cch"
        t0 = time.perf_counter()
        ref, _ = matrix(other)
        other_s = time.perf_counter() - t0
        other_cpu = cpu[other][-1]
        dt = np.abs(tm.duration_s.astype(float) - ref.duration_s)
        dd = np.abs(tm.distance_m.astype(float) - ref.distance_m)
        rows += [
            (f"{other} once", _ms(other_s)),
            (f"  CPU time of {other}", _ms(other_cpu)),
            (f"ratio {other} / {args.engine}: wall, CPU",
             f"{other_s / matrix_s:.1f} x, "
             f"{other_cpu / statistics.median(cpu[args.engine]):.1f} x"),
            ("|time difference| max / p99.9", f"{dt.max() * 1000:.1f} / "
             f"{np.quantile(dt, 0.999) * 1000:.1f} ms"),
            ("|distance difference| median / p99.9 / max",
             f"{np.median(dd):.3f} / {np.quantile(dd, 0.999):.3f} / {dd.max():.1f} m"),
            ("pairs with distances > 1 m / > 10 m apart",
             f"{(dd > 1).mean() * 100:.4f} % / {(dd > 10).mean() * 100:.4f} %"),
        ]
    rows += [
        ("process peak resident size (ru_maxrss)",
         f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:10.1f} MiB"),
        ("runs per figure (median)", f"{args.runs}"),
        ("load average before / after the matrix runs", f"{load_before} / {load_after}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
