"""Benchmark instance readers (Solomon, Gehring & Homberger, TOPTW) for `scripts/bench_vrptw.py`
and the tests; beside the product package, not installed with it."""
