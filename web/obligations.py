"""Obligations over HTTP: each Code's dated duties and every bound organization's verdict, as JSON.

What it does: ``GET /api/v1/codes/<slug>/obligations?as_of=YYYY-MM-DD`` (on
the ``api`` blueprint) judges every obligation of every version of the Code
as of that date, or today (UTC) without one, from the stances folded from the
log (:func:`registry.stances.obligations`), and names the log size it read.

What it does not do: judge anything itself (the rules are the core's), or
write. The Code page shows the same verdicts (:mod:`web.codes`).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from registry.errors import InputError, NotFoundError
from registry.stances import Obligation, Verdict, obligations
from registry.wording import Names
from web.api import READ_CACHE, Params, bp
from web.codes import parse_as_of, read, today

VERDICT_STATUSES = ("met", "missed", "pending", "undetermined")


@bp.get("/codes/<slug>/obligations")
def code_obligations(slug: str) -> Response:
    params = Params("as_of")
    given = params.get("as_of")
    try:
        as_of = today() if given is None else parse_as_of(given)
    except ValueError as e:
        raise InputError(f"query parameter 'as_of': {e}") from None
    site, book = read()
    if slug not in site.codes:
        raise NotFoundError(f"no Code {slug!r}")
    names = Names.of(site.state)
    response = jsonify({"code": slug, "as_of": as_of, "size": book.size,
                        "obligations": [obligation_json(o, names) for o in obligations(book, slug, as_of)]})
    response.headers["Cache-Control"] = READ_CACHE
    return response


def obligation_json(obligation: Obligation, names: Names) -> dict[str, Any]:
    """One obligation, its verdicts (organizations by slug order) and how many of each there are."""
    return {
        "version": obligation.version, "id": obligation.id, "what": obligation.what, "due": obligation.due,
        "met_by": obligation.met_by, "note": obligation.note, "evidence": obligation.evidence,
        "counts": {status: obligation.count(status) for status in VERDICT_STATUSES},
        "verdicts": [verdict_json(v, names) for v in obligation.verdicts],
    }


def verdict_json(verdict: Verdict, names: Names) -> dict[str, Any]:
    report = verdict.report
    return {
        "org": verdict.org, "name": names.org(verdict.org), "status": verdict.status, "reason": verdict.reason,
        "report": None if report is None else {"index": report.index, "published_on": report.date,
                                               "url": report.url, "secondary_sources_only": report.secondary},
    }
