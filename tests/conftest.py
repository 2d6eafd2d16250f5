"""Shared fixtures: one network/geocoder cache for the whole test session."""

from __future__ import annotations

import os

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A fresh cache folder for networks and geocoding, shared by the session's tests."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def demo_plan(tmp_path_factory, cache_dir):
    """The bundled demo planned once through the CLI (deterministic: see `demoplan.ARGS`)."""
    from demoplan import ARGS

    from optimizer.cli import main

    out = tmp_path_factory.mktemp("demo-plan")
    assert main([*ARGS, "--out", str(out), "--cache-dir", str(cache_dir)]) == 0
    return out


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright: one for the whole session.

    Playwright's sync API allows one running instance per thread, so every browser test shares it.
    """
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); CI installs it")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def injected_plan(tmp_path_factory, cache_dir):
    """Inputs with template syntax in every text field, planned by `python -m optimizer plan`.

    See tests/injection_plan.py; used by tests/test_template_injection.py and the browser tests.
    """
    from injection_plan import run_plan

    return run_plan(tmp_path_factory.mktemp("injected-plan"), cache_dir)


@pytest.fixture(scope="session")
def injected_whatif(tmp_path_factory, cache_dir):
    """A what-if scenario on those inputs (`python -m optimizer whatif`), with a bad variant."""
    from injection_plan import run_whatif

    return run_whatif(tmp_path_factory.mktemp("injected-whatif"), cache_dir)
