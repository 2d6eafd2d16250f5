"""What-if scenarios: variants of a day planned side by side and compared.

`runner` reads a scenario file, plans every variant through `optimizer.executor` and writes the
KPIs; `report` draws the comparison page.
"""
