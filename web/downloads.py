"""Downloads of the current stances: every organization on every Code, as JSON and as CSV.

What it does: ``GET /api/v1/stances`` and ``GET /api/v1/stances.csv`` (on the
``api`` blueprint) serve :mod:`registry.stancetable` over the stances and the
state read at one log size, with the latest signed checkpoint: each row says
which checkpoint covers the record that set it, so a reader can fetch that
record's receipt and check it. The CSV comes as an attachment named after the
log size.

What it does not do: no filters or paging (the table is small and whole), no
other formats.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, jsonify

from registry import stancetable
from registry.logstore import StoredCheckpoint
from web import get_settings, latest_checkpoint
from web.api import READ_CACHE, Params, bp
from web.codes import read

CSV_TYPE = "text/csv; charset=utf-8"


def _table() -> tuple[int, dict[str, Any] | None, list[dict[str, Any]]]:
    site, book = read()
    checkpoint = latest_checkpoint()
    size = None if checkpoint is None else checkpoint.size
    return book.size, checkpoint_json(checkpoint), stancetable.rows(book, site.state, size)


def checkpoint_json(checkpoint: StoredCheckpoint | None) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    return {"size": checkpoint.size, "root_hash": base64.b64encode(checkpoint.root).decode("ascii"),
            "published_at": checkpoint.published_at, "note": checkpoint.note.decode("utf-8")}


@bp.get("/stances")
def stances() -> Response:
    Params()
    size, checkpoint, table = _table()
    response = jsonify(stancetable.document(get_settings().origin, size, checkpoint, table))
    response.headers["Cache-Control"] = READ_CACHE
    return response


@bp.get("/stances.csv")
def stances_csv() -> Response:
    Params()
    size, _, table = _table()
    response = Response(stancetable.csv_text(table), content_type=CSV_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="hcoc-registry-stances-{size}.csv"'
    response.headers["Cache-Control"] = READ_CACHE
    return response
