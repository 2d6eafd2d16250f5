"""Make a large, seeded day in a real city: cases on its roads, collectors in branches.

Cases sit on road junctions of the extract's largest strongly connected component (sampled
uniformly, so they follow the density of streets: more in the centre) with coordinates given,
an overdue amount (log-normal, median 3,000), days past due, service time 15-30 minutes and
visiting windows (most cases the whole working day, a share only mornings, afternoons or the
evening). Branches are spread over the city (farthest-point sampling from a seeded start);
collectors are dealt to branches in turn, start and end at their branch, work 08:30-17:30 (some
till 19:30) with at most 12 visits, and cover their branch's district (``districts``); a case's
district is its nearest branch's (the territories a partitioned plan splits by). Not bundled:
benchmark input (greater Porto: ../shared/data/osm/).

    python scripts/make_city_cases.py --osm ../shared/data/osm/porto_portugal.osm.pbf \\
        --cases 10000 --collectors 200 --branches 13 --seed 1 --out /tmp/porto10k
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer.geo import network as nw  # noqa: E402

CASE_FIELDS = ["case_id", "address", "district", "lat", "lon", "amount_overdue",
               "days_past_due", "windows", "service_minutes"]
COLLECTOR_FIELDS = ["collector_id", "name", "districts", "start_lat", "start_lon", "shift",
                    "max_visits"]
WINDOWS = (("Mon-Sat 09:00-19:00", 0.55), ("Mon-Fri 09:00-13:00", 0.15),
           ("Mon-Fri 13:00-18:00", 0.15), ("Mon-Fri 17:00-20:00; Sat 10:00-14:00", 0.15))


def _spread(lat: np.ndarray, lon: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """`k` indices far from each other (farthest-point sampling from a random start)."""
    x = lon * math.cos(math.radians(float(np.mean(lat))))
    chosen = [int(rng.integers(len(lat)))]
    d = np.hypot(x - x[chosen[0]], lat - lat[chosen[0]])
    for _ in range(k - 1):
        # the farthest point, among the denser three quarters (not the extract's empty edges)
        i = int(np.argmax(np.where(d <= np.quantile(d, 0.75), d, -1.0)))
        chosen.append(i)
        d = np.minimum(d, np.hypot(x - x[i], lat - lat[i]))
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--osm", required=True, type=Path)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--collectors", type=int, default=40)
    ap.add_argument("--branches", type=int, default=None,
                    help="default: one per 15 collectors (at least 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    net = nw.load_network(args.osm, cache_dir=args.cache_dir)
    main_nodes = np.flatnonzero(np.asarray(net.main_component))
    lat = np.asarray(net.node_lat)[main_nodes]
    lon = np.asarray(net.node_lon)[main_nodes]
    args.out.mkdir(parents=True, exist_ok=True)

    branches = args.branches or max(1, args.collectors // 15)
    offices = _spread(lat, lon, branches, rng)
    picks = rng.choice(len(main_nodes), size=args.cases, replace=len(main_nodes) < args.cases)
    # a case's district is its nearest branch's (the branch's collectors cover it)
    coslat = math.cos(math.radians(float(np.mean(lat))))
    near = np.argmin(np.hypot((lon[picks][:, None] - lon[offices][None, :]) * coslat,
                              lat[picks][:, None] - lat[offices][None, :]), axis=1)
    shares = np.array([w for _, w in WINDOWS])
    kinds = rng.choice(len(WINDOWS), size=args.cases, p=shares / shares.sum())
    amounts = np.round(np.exp(rng.normal(math.log(3000), 0.8, size=args.cases)), 2)
    dpd = rng.integers(5, 400, size=args.cases)
    service = rng.integers(15, 31, size=args.cases)
    with open(args.out / "cases.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(CASE_FIELDS)
        for n in range(args.cases):
            i = int(picks[n])
            w.writerow([f"P-{n + 1:05d}", "", f"B{int(near[n]) + 1:02d}", f"{lat[i]:.6f}",
                        f"{lon[i]:.6f}",
                        f"{amounts[n]:.2f}", int(dpd[n]), WINDOWS[int(kinds[n])][0],
                        int(service[n])])

    with open(args.out / "collectors.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLLECTOR_FIELDS)
        for k in range(args.collectors):
            b = k % branches
            i = offices[b]
            shift = "08:30-19:30" if rng.random() < 0.2 else "08:30-17:30"
            w.writerow([f"C-{k + 1:04d}", f"Collector {k + 1}", f"B{b + 1:02d}",
                        f"{lat[i]:.6f}", f"{lon[i]:.6f}", shift, 12])
    print(f"{args.cases} cases, {args.collectors} collectors in {branches} branches: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
