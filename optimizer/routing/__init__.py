"""Vehicle routing on plain data: a `optimizer.model.Problem` in, a `optimizer.model.Solution`
out; no files, no places, no business rules.

`solve` is the entry (settings in `params`); `portfolio` runs searches side by side through the
executor; `ortools_model` is the OR-Tools model, one function per constraint family, and the only
module that sees OR-Tools; `warm` builds starting routes with PyVRP or VROOM; `schedule` is the
one forward simulation of a route (the times a plan reports); `verify` re-checks a solution
independently of all of them.
"""
