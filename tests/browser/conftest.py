"""Fixtures for tests in a real browser: Debian's Chromium driven by Playwright.

Pages are served by the web application (`optimizer.web.run`, here without a store) on
127.0.0.1 (port 0). Background tiles are answered with a blank PNG by the test (no network
here); every other request that does not go to the test server is aborted and recorded, so a
page that needs anything from outside fails its test.

Screenshots go to ``artifacts/screenshots/`` (gitignored) for review.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from maps_plan import make_plan  # noqa: E402

from optimizer.outputs import maps  # noqa: E402
from optimizer.outputs.write import write_manifest  # noqa: E402
from optimizer.web.run import start_server  # noqa: E402

# the session's one browser (fixture `browser`) lives in tests/conftest.py
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# a 1x1 light grey PNG stands in for every background tile
BLANK_TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
)
TILE_HOSTS = ("tile.openstreetmap.org", ".is.autonavi.com")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if not Path(CHROMIUM).exists():
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"{CHROMIUM} not installed (apt-get install chromium); "
                        "CI installs it"
                    )
                )


@dataclass
class PageLog:
    """What a page did that a test may object to."""

    errors: list[str] = field(default_factory=list)  # JS exceptions and console errors
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt
    external: list[str] = field(default_factory=list)  # aborted non-tile requests
    tiles: int = 0
    local: list[str] = field(default_factory=list)  # requests to the test server / files


def _route_requests(page, log: PageLog, *, allow_local: bool = True) -> None:
    def handle(route):
        url = route.request.url
        host = url.split("/")[2] if "://" in url else ""
        if url.startswith(("file:", "data:", "about:")) or (
            allow_local and host.startswith("127.0.0.1")
        ):
            log.local.append(url)
            return route.continue_()
        if any(host == h or host.endswith(h) for h in TILE_HOSTS if h.startswith(".")) or (
            host in TILE_HOSTS
        ):
            log.tiles += 1
            return route.fulfill(status=200, content_type="image/png", body=BLANK_TILE)
        log.external.append(url)
        return route.abort()

    page.route("**/*", handle)


@pytest.fixture
def open_page(browser):
    """Open a URL in a phone-sized context; returns (page, log, response)."""
    contexts = []

    def _open(url: str, *, offline_assets: bool = False, offline: bool = False, wait_ms=300):
        ctx = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            offline=offline,
        )
        contexts.append(ctx)
        page = ctx.new_page()
        log = PageLog()
        page.on("pageerror", lambda exc: log.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: log.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

        def on_dialog(dialog):
            log.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        if offline_assets:
            # the network is cut off: only the page itself may load, nothing else at all
            def only_document(route):
                if route.request.resource_type == "document":
                    log.local.append(route.request.url)
                    return route.continue_()
                log.external.append(route.request.url)
                return route.abort()

            page.route("**/*", only_document)
        elif not offline:
            _route_requests(page, log)
        response = page.goto(url, wait_until="load")
        page.wait_for_timeout(wait_ms)
        return page, log, response

    yield _open
    for ctx in contexts:
        ctx.close()


def _shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture
def shot():
    """``shot(page, name)`` saves a screenshot to artifacts/screenshots/<name>.png."""
    return _shot


# --------------------------------------------------------------------------- sites


@dataclass
class Site:
    """A served plan directory and what the tests need to know about it."""

    name: str
    plan_dir: Path
    base_url: str
    overview_url: str
    collector_urls: dict[str, str]
    stops: dict[str, list[str]]  # route id -> case ids in visiting order
    all_case_ids: set[str]
    markup_names: dict[str, str]  # case id -> customer name that looks like markup
    self_contained: bool


def _fixture_site_dir(out: Path, *, self_contained: bool, mask_private: bool):
    plan = make_plan()
    maps.write_overview(plan, out / "index.html", self_contained=self_contained)
    pages = {}
    for route in plan.routes:
        cid = route.collector.collector_id
        pages[cid] = maps.collector_page_filename(cid)
        maps.write_collector_page(
            plan,
            route,
            out / pages[cid],
            self_contained=self_contained,
            mask_private=mask_private,
        )
    write_manifest(plan, out, overview="index.html", pages=pages)  # what `serve` serves
    return plan


def _site(name, plan_dir, running, stops, all_ids, markup, *, self_contained=True) -> Site:
    return Site(
        name=name,
        plan_dir=plan_dir,
        base_url=running.base_url,
        overview_url=running.links.overview,
        collector_urls=dict(running.links.collectors),
        stops=stops,
        all_case_ids=all_ids,
        markup_names=markup,
        self_contained=self_contained,
    )


def _markup(plan) -> dict[str, str]:
    cases = [s.case for r in plan.routes for s in r.stops] + [u.case for u in plan.unassigned]
    return {c.case_id: c.customer_name for c in cases if "<" in c.customer_name}


def _plan_ids(plan):
    stops = {r.collector.collector_id: [s.case.case_id for s in r.stops] for r in plan.routes}
    every = {c for ids in stops.values() for c in ids} | {u.case.case_id for u in plan.unassigned}
    return stops, every


@pytest.fixture(scope="session")
def fixture_site(tmp_path_factory):
    """The hand-built test plan, pages with assets beside them, masked collector pages."""
    out = tmp_path_factory.mktemp("site")
    plan = _fixture_site_dir(out, self_contained=False, mask_private=True)
    stops, every = _plan_ids(plan)
    with start_server(out, port=0) as running:
        yield _site("fixture", out, running, stops, every, _markup(plan), self_contained=False)


@pytest.fixture(scope="session")
def self_contained_site(tmp_path_factory):
    """The test plan as self-contained pages with names unmasked (injection name in view)."""
    out = tmp_path_factory.mktemp("site_sc")
    plan = _fixture_site_dir(out, self_contained=True, mask_private=False)
    stops, every = _plan_ids(plan)
    with start_server(out, port=0) as running:
        yield _site("self-contained", out, running, stops, every, _markup(plan))


def _demo_available() -> str | None:
    """None when `python -m optimizer plan` exists, else why not."""
    cli = ROOT / "optimizer" / "cli.py"
    if not cli.exists():
        return "optimizer/cli.py does not exist yet"
    probe = subprocess.run(
        [sys.executable, "-m", "optimizer", "plan", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0 or "--out" not in probe.stdout:
        return f"`python -m optimizer plan` is not available: {probe.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory):
    """The bundled demo planned by the real pipeline (a few solutions, self-contained pages; the
    time limit only caps a loaded machine)."""
    why = _demo_available()
    if why:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("demo")
    run = subprocess.run(
        [sys.executable, "-m", "optimizer", "plan", "--time-limit", "300", "--max-solutions", "5",
         "--quiet",
         "--self-contained", "--cache-dir", str(tmp_path_factory.mktemp("demo-cache")),
         "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, f"demo plan failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    # route id (the collector id, or team members joined by "+") -> case ids in visiting order
    routes = json.loads((out / "routes.json").read_text(encoding="utf-8"))["routes"]
    stops: dict[str, list[str]] = {r["collector_id"]: [] for r in routes}
    with (out / "routes.csv").open(encoding="utf-8-sig") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: (r["collector_id"], int(r["stop"])))
    for row in rows:
        stops[row["collector_id"]].append(row["case_id"])
    with (out / "unassigned.csv").open(encoding="utf-8-sig") as fh:
        unassigned = {row["case_id"] for row in csv.DictReader(fh)}
    every = {c for ids in stops.values() for c in ids} | unassigned
    with (ROOT / "data" / "demo" / "cases.csv").open(encoding="utf-8-sig") as fh:
        markup = {
            r["case_id"]: r["customer_name"]
            for r in csv.DictReader(fh)
            if "<" in r["customer_name"]
        }
    with start_server(out, port=0) as running:
        yield _site("demo", out, running, stops, every, markup)
