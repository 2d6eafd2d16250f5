"""Spreadsheet cells that stay what they are: text never becomes a formula.

Shared by every writer of files that a spreadsheet opens (``routes.csv``, the store's
compliance export). OWASP's rule for CSV injection: a text cell that starts with ``=`` ``+``
``-`` ``@``, tab or carriage return is read as a formula, so it gets a leading ``'``.
"""

from __future__ import annotations

import re

#: A spreadsheet reads a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# characters an .xlsx (XML 1.0) cannot hold; a CSV or a phone can carry them in
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def csv_cell(value: object) -> object:
    """A cell for a CSV that Excel opens: text that would start a formula gets a leading ``'``.

    Only text is guarded; numbers are written as numbers, so a negative number stays a number
    (-12.5), while the text ``-12.5`` of a case id becomes ``'-12.5``.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def xlsx_text(text: str) -> str:
    """`text` with the characters an .xlsx cannot hold replaced by U+FFFD; write it with the
    cell's data type set to text (``cell.data_type = "s"``) so it is never a formula."""
    return _ILLEGAL_XML.sub("\ufffd", text)
