"""Every organization's current stance on every Code, as one table: rows, a JSON document and CSV.

What it does: :func:`rows` makes one row per organization and Code, every
pair (``none`` included, so the table is complete), from the stances folded
from the log (:class:`registry.stances.StanceBook`) and the names in the
state document; each row names the log entry that set the stance and the size
of the checkpoint that covers it. :func:`document` wraps the rows in the
versioned JSON document (``hcoc-registry/stances/v1``, docs/FORMATS.md
section 20) and :func:`csv_text` writes the same rows as CSV, a cell that a
spreadsheet would run as a formula made inert by a leading ``'``.

What it does not do: no I/O and no HTTP (``web.downloads`` serves both), and
no judgement of its own: statuses, scopes and marks are the book's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from registry.countries import country_name
from registry.stances import StanceBook
from registry.statements import scope_words
from registry.wording import Names

FORMAT = "hcoc-registry/stances/v1"
COLUMNS = ("org", "org_name", "country", "country_name", "kind", "code", "code_title", "status", "scope",
           "scope_words", "removed", "version", "effective_date", "date_precision", "index", "checkpoint_size",
           "attested", "secondary_sources_only", "uncertain")
# What a spreadsheet takes for the start of a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def precision(date: str | None) -> str:
    """``day``, ``month`` or ``unknown``: how precisely the sources date a record."""
    if date is None:
        return "unknown"
    return "month" if len(date) == 7 else "day"


def covering_size(index: int | None, checkpoint_size: int | None) -> int | None:
    """The checkpoint's tree size when it covers log entry ``index`` (a receipt can prove it), else None."""
    if index is None or checkpoint_size is None or index >= checkpoint_size:
        return None
    return checkpoint_size


def rows(book: StanceBook, state: Mapping[str, Any], checkpoint_size: int | None) -> list[dict[str, Any]]:
    """One row per (organization, Code) of the state, by organization slug then Code slug."""
    names = Names.of(state)
    codes = sorted(c["code"] for c in state["codes"] if c["versions"])
    out = []
    for org in sorted(state["organizations"], key=lambda o: o["org"]):
        for code in codes:
            stance = book.stance(org["org"], code)
            words = names.code(code)
            scope = stance.scope if stance.endorsing else None  # a withdrawn scope is endorsed no longer
            out.append({
                "org": org["org"], "org_name": org["name"], "country": org["country"],
                "country_name": country_name(org["country"]) if org["country"] else None, "kind": org["kind"],
                "code": code, "code_title": words.title, "status": stance.status, "scope": scope,
                "scope_words": scope_words(scope, words.noun) if scope is not None else None,
                "removed": list(stance.removed) if stance.endorsing else [], "version": stance.version,
                "effective_date": stance.date, "date_precision": precision(stance.date), "index": stance.index,
                "checkpoint_size": covering_size(stance.index, checkpoint_size), "attested": stance.attested,
                "secondary_sources_only": stance.secondary, "uncertain": stance.uncertain,
            })
    return out


def document(origin: str | None, size: int, checkpoint: Mapping[str, Any] | None,
             table: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON download: the rows as of log size ``size``, and the checkpoint they were checked against."""
    return {"format": FORMAT, "origin": origin, "size": size, "checkpoint": checkpoint, "stances": table}


def cell(value: Any) -> str:
    """A CSV cell: empty for null, ``true``/``false``, numbers joined by ``;``; formulas made inert."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = ";".join(str(v) for v in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(table: list[dict[str, Any]]) -> str:
    """The rows as CSV (RFC 4180: CRLF line ends, quotes where needed), with a header row of :data:`COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in table:
        writer.writerow([cell(row[c]) for c in COLUMNS])
    return out.getvalue()
