"""The Code pages: the list of Codes, one Code (or one of its versions), and one of its numbered items.

What it does: ``/codes`` lists the Codes by title with how many organizations
stand where on each; ``/codes/<slug>`` shows the latest version and
``/codes/<slug>/<version>`` any version: title, issuer, versions (with the
diff to the superseded one), the numbered items under the Code's own noun
(action, chapter, commitment) and names, the maintainers' note, who stands
where (:mod:`web.standings`), the obligations judged as of today or as of
``?as_of=YYYY-MM-DD``, and the latest events about the Code.
``/codes/<slug>/actions/<n>`` says who covers item *n* and who endorses the
Code without it. The views are registered on the ``pages`` blueprint, so the
endpoints are ``pages.codes``, ``pages.code``, ``pages.code_version`` and
``pages.code_item``.

What it does not do: no writes, no scripts; stances and verdicts are the
core's (:mod:`registry.stances`), words are :mod:`registry.wording`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import abort, render_template, request

from registry.errors import InvalidStatementError
from registry.stances import Obligation, StanceBook, obligations
from registry.statements import parse_date
from registry.views import StateView
from registry.wording import Names, tally
from web import get_views, refresh
from web.pages import ALL_EVENTS, TIMELINE_PAGE, Feed, Site, bp, code_feed, events_page, type_feed
from web.standings import VerdictGroup, coverage, groups, item_counts, reports_by_index, verdict_groups

VERSION_FIELDS = ("title", "short_title", "issuer", "published_on", "source_url", "text_sha256", "action_noun")
OBLIGATIONS_FEED = Feed("Obligations falling due", "/feeds/obligations")
MAX_TRIES = 3


def code_feeds(slug: str, short_title: str) -> list[Feed]:
    return [code_feed(slug, short_title), OBLIGATIONS_FEED, ALL_EVENTS]


# --- the diff between a version and the one it supersedes ----------------------------------------


@dataclass(frozen=True)
class VersionDiff:
    old: str
    new: str
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[int, str, str]] = field(default_factory=list)
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.fields)


def diff_versions(old: Mapping[str, Any], new: Mapping[str, Any]) -> VersionDiff:
    """Actions added, removed and re-headed (by number), and changed metadata, from ``old`` to ``new``."""
    before = {a["number"]: a for a in old["actions"]}
    after = {a["number"]: a for a in new["actions"]}
    return VersionDiff(
        old=old["version"], new=new["version"],
        added=[after[n] for n in sorted(after.keys() - before.keys())],
        removed=[before[n] for n in sorted(before.keys() - after.keys())],
        changed=[(n, before[n]["heading"], after[n]["heading"]) for n in sorted(before.keys() & after.keys())
                 if before[n]["heading"] != after[n]["heading"]],
        fields=[(name, old.get(name), new.get(name)) for name in VERSION_FIELDS if old.get(name) != new.get(name)],
    )


# --- reading ---------------------------------------------------------------------------------------


def read() -> tuple[Site, StanceBook]:
    """The state and the stances at one and the same log size (read again if a catch-up fell between)."""
    refresh()
    views = get_views()
    for _ in range(MAX_TRIES):
        view: StateView = views.current()
        book = views.stances()
        if book.size == view.size:
            break
    return Site(view.doc), book


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def parse_as_of(value: str) -> str:
    """A date to judge obligations as of: exactly ``YYYY-MM-DD``, a real day in the years 1900 to 2999.

    Raises:
        ValueError: anything else, saying why.
    """
    try:
        return parse_date(value).isoformat()
    except InvalidStatementError as e:
        raise ValueError(e.reason) from None


def as_of_arg() -> str:
    """``?as_of=`` of a page (empty or absent: today, UTC); anything else is a 400 page."""
    value = request.args.get("as_of", "")
    if not value:
        return today()
    try:
        return parse_as_of(value)
    except ValueError as e:
        abort(400, f"as_of: {e} (a date YYYY-MM-DD)")


# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRow:
    slug: str
    title: str
    short: str
    latest: Mapping[str, Any]
    versions: int
    counts: dict[str, int]


@bp.get("/codes")
def codes() -> str:
    site, book = read()
    names = Names.of(site.state)
    rows = [CodeRow(slug, names.code(slug).title, names.code(slug).short, c["versions"][-1], len(c["versions"]),
                    book.counts(slug))
            for slug, c in site.codes.items() if c["versions"]]
    return render_template("codes.html", site=site, rows=rows,
                           feeds=[ALL_EVENTS, OBLIGATIONS_FEED, type_feed("code.revision_published")])


@bp.get("/codes/<slug>")
def code(slug: str) -> str:
    site, book = read()
    found = site.codes.get(slug)
    if found is None or not found["versions"]:
        abort(404, f"no Code {slug[:64]!r} is registered")
    return _render_version(site, book, slug, found["versions"][-1], is_latest_page=True)


@bp.get("/codes/<slug>/<version>")
def code_version(slug: str, version: str) -> str:
    site, book = read()
    found = site.version(slug, version)
    if found is None:
        abort(404, f"the Code {slug[:64]!r} has no version {version[:64]!r}")
    return _render_version(site, book, slug, found, is_latest_page=False)


def _render_version(site: Site, book: StanceBook, slug: str, version: dict[str, Any], *,
                    is_latest_page: bool) -> str:
    as_of = as_of_arg()
    names = Names.of(site.state)
    versions = site.codes[slug]["versions"]
    previous = site.version(slug, version.get("supersedes"))
    numbers = [a["number"] for a in version["actions"]]
    shown = obligations(book, slug, as_of)
    if not is_latest_page:
        shown = [o for o in shown if o.version == version["version"]]
    timeline, _ = events_page(site, before=None, limit=TIMELINE_PAGE, code=slug)
    return render_template(
        "code.html", site=site, slug=slug, version=version, versions=versions, latest=versions[-1],
        names=names.code(slug), diff=diff_versions(previous, version) if previous else None,
        groups=groups(book, names, slug, None if is_latest_page else version["version"]),
        counts=item_counts(book, slug, numbers) if version is versions[-1] else None,
        obligations=_obligation_views(shown, names, site.state), as_of=as_of, today=today(),
        timeline=timeline, is_latest_page=is_latest_page, feeds=code_feeds(slug, names.code(slug).short))


@dataclass(frozen=True)
class ObligationView:
    obligation: Obligation
    tally: str
    groups: list[VerdictGroup]


def counts(obligation: Obligation) -> dict[str, int]:
    return {status: obligation.count(status) for status in ("met", "missed", "pending", "undetermined")}


def _obligation_views(found: list[Obligation], names: Names, state: Mapping[str, Any]) -> list[ObligationView]:
    reports = reports_by_index(state)
    return [ObligationView(o, tally(counts(o)), verdict_groups(o, names, reports)) for o in found]


@bp.get("/codes/<slug>/actions/<index:number>")
def code_item(slug: str, number: int) -> str:
    site, book = read()
    latest = site.latest(slug)
    names = Names.of(site.state).code(slug)
    item = next((a for a in latest["actions"] if a["number"] == number), None) if latest else None
    if latest is None or item is None:
        abort(404, f"the Code {slug[:64]!r} has no {names.noun} {number}")
    numbers = [a["number"] for a in latest["actions"]]
    position = numbers.index(number)
    return render_template(
        "code_item.html", site=site, slug=slug, version=latest, names=names, item=item,
        coverage=coverage(book, Names.of(site.state), slug, number),
        previous=numbers[position - 1] if position else None,
        next=numbers[position + 1] if position + 1 < len(numbers) else None, feeds=code_feeds(slug, names.short))
