"""Benchmark: road network loading (cold/warm), snapping, travel matrix and route geometry.

Usage::

    python scripts/bench_matrix.py                       # bundled Chengdu extract, drive
    python scripts/bench_matrix.py --runs 5 --mode bike
    python scripts/bench_matrix.py --osm ../shared/data/osm/heidelberg.osm.bz2 --runs 1

Locations are ``--cases`` random points inside the network bounds plus ``--collectors`` random
start points (default 500 + 15 = 515), fixed seed. Each figure is the median over ``--runs``
runs; cold loads use a fresh cache directory each run, warm loads read the cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.geo.matrix import route_paths, travel_matrices  # noqa: E402
from optimizer.geo.network import default_osm_path, load_network, snap  # noqa: E402


def _median_s(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:10.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--osm", type=Path, default=default_osm_path(), help="OSM XML file")
    ap.add_argument("--mode", default="drive", choices=("drive", "bike", "walk"))
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--collectors", type=int, default=15)
    ap.add_argument("--stops", type=int, default=20, help="stops per route for route geometry")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:

        def cold():
            with tempfile.TemporaryDirectory(dir=tmp) as fresh:
                return load_network(args.osm, mode=args.mode, cache_dir=fresh)

        cold_s, net = _median_s(cold, args.runs)
        load_network(args.osm, mode=args.mode, cache_dir=tmp)  # fill the cache
        warm_s, net = _median_s(
            lambda: load_network(args.osm, mode=args.mode, cache_dir=tmp), args.runs
        )

    n = args.cases + args.collectors
    rng = np.random.default_rng(args.seed)
    b = net.bounds
    lat = rng.uniform(b.min_lat, b.max_lat, n)
    lon = rng.uniform(b.min_lon, b.max_lon, n)
    snap_s, snapped = _median_s(lambda: snap(net, lat, lon), args.runs)
    matrix_s, tm = _median_s(lambda: travel_matrices(net, snapped), args.runs)

    # one route per collector through random cases: start, stops..., back to start
    cases = np.arange(args.collectors, n)
    seqs = []
    for c in range(args.collectors):
        stops = rng.choice(cases, size=min(args.stops, cases.size), replace=False)
        seqs.append(snapped.node[np.r_[c, stops, c]])
    paths_s, lines = _median_s(lambda: route_paths(net, seqs), args.runs)

    rows = [
        ("network", f"{args.osm.name} ({args.mode}): {net.n_nodes:,} nodes, {net.n_edges:,} edges"),
        ("cold load (parse + build + write cache)", _ms(cold_s)),
        ("warm load (cache)", _ms(warm_s)),
        (f"snap {n} points", _ms(snap_s)),
        (
            f"travel matrix {n} x {n} ({np.unique(snapped.node).size} distinct nodes)",
            _ms(matrix_s),
        ),
        (
            f"route geometry {len(seqs)} routes x {args.stops} stops",
            f"{_ms(paths_s)} ({sum(len(x) for x in lines):,} points)",
        ),
        (
            "snap distance median / max",
            f"{np.median(snapped.distance_m):.0f} / {snapped.distance_m.max():.0f} m",
        ),
        ("unreachable pairs", f"{tm.unreachable_pairs.shape[0]}"),
        ("runs per figure (median)", f"{args.runs}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
