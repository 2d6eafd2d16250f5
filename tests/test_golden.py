"""The demo plan, planned deterministically, is byte for byte the recorded one (tests/golden.py).

A refactoring must not change a plan; a deliberate change of behaviour records the golden files
again and says why in its commit.
"""

from __future__ import annotations

import pytest
from golden import GOLDEN, snapshot


@pytest.mark.slow
def test_demo_plan_matches_the_golden_files(demo_plan):
    got = snapshot(demo_plan)
    recorded = {p.name: p.read_bytes() for p in GOLDEN.iterdir()}
    assert sorted(got) == sorted(recorded)
    differ = [name for name in got if got[name] != recorded[name]]
    assert not differ, f"differ from {GOLDEN}: {differ}"
