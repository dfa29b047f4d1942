"""The stance table's cells and columns (registry.stancetable), pure: what a spreadsheet would run stays text.

The whole table is checked on the shipped record in tests/test_web_codes.py and on the example log
in tests/test_formats.py; here, the small functions one by one.
"""

from __future__ import annotations

from typing import Any

import pytest

from registry.stancetable import COLUMNS, cell, covering_size, csv_text, precision


@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("a=1", "a=1"), ("'quoted", "'quoted"), (None, ""), (True, "true"), (False, "false"), ([1, 3, 7], "1;3;7"),
    (20, "20"), ("all", "all"), ([], ""),
])
def test_cells(value: Any, written: str) -> None:
    assert cell(value) == written


def test_precision_and_cover() -> None:
    assert [precision(d) for d in ("2025-02-10", "2025-02", None)] == ["day", "month", "unknown"]
    assert covering_size(5, 6) == 6 and covering_size(6, 6) is None
    assert covering_size(None, 6) is None and covering_size(5, None) is None


def test_a_hostile_value_stays_in_its_cell() -> None:
    # Line breaks in text are quoted, and a formula after a quote is still made inert.
    row = dict.fromkeys(COLUMNS) | {"org": "x", "org_name": '=cmd|"/c calc"!A1\r\nnext,line', "attested": True}
    header, body = csv_text([row]).split("\r\n", 1)
    assert header == ",".join(COLUMNS)
    assert body.startswith('x,"\'=cmd|""/c calc""!A1\r\nnext,line",')
