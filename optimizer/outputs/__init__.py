"""What a plan becomes on disk: tables, route sheets, maps and the plan folder.

`tables` builds the rows of routes.csv/unassigned.csv and routes.json, `sheets` the printable
routes.xlsx, `maps` the overview and one phone page per collector (with the bundled `assets/`),
`write` the whole plan folder with its manifest, atomically.
"""
