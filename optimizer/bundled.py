"""Where the bundled data lives: the demo day (``data/demo/``), the OSM extract of central
Chengdu (``data/osm/``, © OpenStreetMap contributors, ODbL 1.0) and the default traffic profile
(``data/traffic/``).

The repository keeps them in ``data/`` at its top level. A wheel ships that folder inside the
package as ``optimizer/data`` (``pyproject.toml``: ``package-dir`` maps the package
``optimizer.data`` onto ``data/``), so an installed package (``pip install .``) finds them through
`importlib.resources`, from any folder. A source checkout (``PYTHONPATH=<repo>``, or an editable
install) has no ``optimizer/data``: there the data is ``data/`` beside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: the bundled OSM extract, relative to the data folder
OSM_EXTRACT = ("osm", "chengdu_ring2.osm.bz2")
#: the default traffic profile for Chinese cities, relative to the data folder
TRAFFIC_PROFILE = ("traffic", "china_cities.csv")


def data_path(*parts: str) -> Path:
    """Path of a bundled data file or folder, e.g. ``data_path("demo", "cases.csv")``."""
    package = resources.files("optimizer")  # the folder this package was imported from
    installed = package.joinpath("data")
    if installed.is_dir():
        root = Path(str(installed))
    else:
        root = Path(str(package)).parent / "data"
    return root.joinpath(*parts)


def default_osm_path() -> Path:
    """The bundled OSM extract of central Chengdu (roads and addresses of the demo)."""
    return data_path(*OSM_EXTRACT)


def traffic_profile_path() -> Path:
    """The default traffic profile for Chinese cities (`optimizer.geo.traffic`)."""
    return data_path(*TRAFFIC_PROFILE)
