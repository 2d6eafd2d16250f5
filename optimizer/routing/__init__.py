"""Vehicle routing on plain data: a `optimizer.model.Problem` in, a `optimizer.model.Solution`
out; no files, no places, no business rules.

`solve` runs the OR-Tools search (a portfolio of searches side by side), `warm` builds
starting routes with PyVRP or VROOM, `schedule` simulates a route forward (the times a plan
reports), `verify` re-checks a solution independently of all of them.
"""
