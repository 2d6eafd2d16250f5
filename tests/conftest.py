"""Shared fixtures: one network/geocoder cache for the whole test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A fresh cache folder for networks and geocoding, shared by the session's tests."""
    return tmp_path_factory.mktemp("cache")
