"""collector-routes: route and schedule optimizer for field debt collectors.

The pipeline, one module per step: input -> geocode -> weigh -> network -> matrix -> solve ->
explain -> export (routes, maps) -> cli.
"""

__version__ = "0.1.0"
