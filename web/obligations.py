"""Obligations over HTTP: each Code's dated duties and every bound organization's verdict, as JSON and a feed.

What it does: ``GET /api/v1/codes/<slug>/obligations?as_of=YYYY-MM-DD`` (on
the ``api`` blueprint) judges every obligation of every version of the Code
as of that date, or today (UTC) without one, from the stances folded from the
log (:func:`registry.stances.obligations`), and names the log size it read.
``/feeds/obligations.atom`` and ``.rss`` (on the ``feeds`` blueprint) hold one
entry per obligation whose due date has come, judged as of today
(:mod:`feeds.obligations`), each updated when the newest record its verdicts
rest on was recorded. The feed's ETag depends on the log size, the day and
the site, so it changes when a verdict can.

What it does not do: judge anything itself (the rules are the core's), or
write. The Code page shows the same verdicts (:mod:`web.codes`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, jsonify, request

from feeds import documents
from feeds import obligations as due_feed
from registry.errors import InputError, NotFoundError
from registry.stances import Obligation, StanceBook, Verdict, basis, obligations
from registry.times import parse_time
from registry.wording import Names
from web import feeds as web_feeds
from web import get_views
from web.api import READ_CACHE, Params, bp
from web.codes import counts, parse_as_of, read, today


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
        "counts": counts(obligation),
        "verdicts": [verdict_json(v, names) for v in obligation.verdicts],
    }


def verdict_json(verdict: Verdict, names: Names) -> dict[str, Any]:
    report = verdict.report
    return {
        "org": verdict.org, "name": names.org(verdict.org), "status": verdict.status, "reason": verdict.reason,
        "report": None if report is None else {"index": report.index, "published_on": report.date,
                                               "url": report.url, "secondary_sources_only": report.secondary},
    }


# --- the feed of obligations falling due ---------------------------------------------------------------


@web_feeds.bp.get("/obligations.<any(atom, rss):fmt>")
def obligations_feed(fmt: str) -> Response:
    site, book = read()
    day, settings = today(), web_feeds.feed_site()
    etag = documents.etag(settings, request.path, str(book.size), day, due_feed.WORDS_VERSION)
    names = Names.of(site.state)
    dues = [due_feed.Due(o, names.code(o.code).short, names.organizations, _changed_at(book, o))
            for code in sorted(site.codes) for o in obligations(book, code, day) if due_feed.fell_due(o, day)]
    feed = due_feed.page(settings.base_url, settings.origin, fmt, dues)
    response = Response(documents.render(feed, fmt), content_type=web_feeds.MEDIA_TYPES[fmt])
    response.set_etag(etag)
    response.last_modified = feed.updated
    response.headers["Cache-Control"] = web_feeds.SUBSCRIPTION_CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


def _changed_at(book: StanceBook, obligation: Obligation) -> datetime | None:
    """When the newest record the verdicts rest on was recorded (the log is in time order)."""
    index = basis(book, obligation)
    if index is None:
        return None
    found = get_views().events(after=index - 1, limit=1)
    return parse_time(found[0]["recorded_at"]) if found else None
