"""CSV for spreadsheets: every cell guarded against formula injection.

Excel and LibreOffice treat a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or
carriage return, whatever follows) as a formula. A station or municipality name, a person's name or
anything else typed by a user could then run a formula on the leader's machine when the export is
opened. Such a cell gets a leading apostrophe, which the spreadsheet shows as text and hides.
Every CSV the application writes goes through ``csv_writer``.
"""

from __future__ import annotations

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value):
    """The cell as text a spreadsheet will not evaluate (numbers pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class FormulaSafeWriter:
    """csv.writer whose rows are guarded cell by cell."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([formula_safe(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_writer(out, **kwargs) -> FormulaSafeWriter:
    return FormulaSafeWriter(out, **kwargs)
