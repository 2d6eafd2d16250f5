"""The day's business rules around the solver: what a visit is worth, who may make it, when,
and why a case was left out.

`weigh` values cases, `rules` forms crews and applies the collection rules (legal hours, teams,
breaks, skills, cooldown), `build` makes the checks before solving and the solver's `Problem` of
a located day, `explain` gives every unvisited case its reason.
"""
