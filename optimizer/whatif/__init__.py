"""What-if scenarios: variants of a day planned side by side and compared.

`scenario` reads and checks a scenario file, `edits` applies a variant's team edits, `runner`
plans every variant through the daily pipeline and `optimizer.executor`, `kpis` measures and
compares them (``kpis.csv``, ``kpis.json``), `report` draws the comparison page.
"""
