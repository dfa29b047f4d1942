"""The organization page: one organization across every Code, each record in its own words or the maintainers'.

What it does: :func:`code_stances` shapes, for one organization, its stance on
each Code it has a record about (from the stance book, ``registry.stances``),
with the record that set it, the items its scope covers, and its verdict on
each of the Code's dated obligations; :func:`event_detail` adds to a timeline
row what its title cannot hold (a withdrawal's reason, what an amendment did
to the scope). Each of its keys says how it was shown to be the
organization's own (``registry.keyprovenance``). The page tells apart what the organization said (a statement
it signed, or quoted from the evidence) from what the maintainers wrote (their
summary of the sources, their notes on uncertain dates and scopes), and the
day this registry recorded the organization from the dates of its public
commitments.

What it does not do: write anything, or word a stance differently from the
other pages (``registry.wording`` has the one wording).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from flask import abort, render_template

from registry import stances, wording
from registry.stances import Obligation, Stance, StanceBook, Verdict
from registry.wording import CodeNames, Names
from web import get_views
from web.pages import (
    ALL_EVENTS,
    TIMELINE_PAGE,
    EventView,
    Site,
    _cursor,
    bp,
    current_site,
    events_page,
    org_feed,
    record_kind,
)
from web.titles import SignatureKind


@dataclass(frozen=True)
class Item:
    """One numbered item of a Code version, and whether a scope covers it."""

    number: int
    name: str | None
    heading: str
    covered: bool


@dataclass(frozen=True)
class CodeStance:
    """An organization's stance on one Code, as its page shows it."""

    slug: str
    code: CodeNames
    stance: Stance
    words: str
    record: Mapping[str, Any] | None  # the record that set the stance (statement fields, index, evidence, ...)
    kind: SignatureKind
    items: list[Item]
    verdicts: list[tuple[Obligation, Verdict]]
    superseded: bool  # endorses a version older than the Code's latest


def code_stances(org: str, site: Site, book: StanceBook, names: Names, today: str) -> list[CodeStance]:
    """Every Code the organization has a record about, in the order of the Codes' titles."""
    out = []
    for slug in sorted(site.codes, key=lambda s: names.code(s).short.casefold()):
        stance = book.stance(org, slug)
        if stance.status == "none" and not stance.reports:
            continue
        code = names.code(slug)
        record = _record(org, slug, stance, site)
        version = site.version(slug, stance.version) or site.latest(slug)
        items = []
        if version and stance.endorsing:
            covered = None if stance.scope == "all" else set(stance.scope or ())
            items = [Item(a["number"], a.get("name"), a["heading"], covered is None or a["number"] in covered)
                     for a in version["actions"]]
        verdicts = [(o, v) for o in stances.obligations(book, slug, today) for v in o.verdicts if v.org == org]
        endorsement = site.stances.get(org, {}).get(slug)
        superseded = bool(endorsement and endorsement["flags"]["superseded_version"])
        out.append(CodeStance(slug, code, stance,
                              wording.stance_words(stance.status, stance.scope, stance.removed, code, stance.version),
                              record, record_kind(stance.attested), items, verdicts, superseded))
    return out


def _record(org: str, code: str, stance: Stance, site: Site) -> Mapping[str, Any] | None:
    if stance.status == "reported":
        return next((r for r in site.orgs[org]["reports"] if r["index"] == stance.index), None)
    endorsement = site.stances.get(org, {}).get(code)
    return endorsement["last"] if endorsement else None


def first_commitment(org: str, book: StanceBook, names: Names) -> tuple[str, str] | None:
    """The earliest dated endorsement record of the organization on any Code: (date, the Code's short title)."""
    dated = [(c.date, names.code(code).short) for (o, code), changes in book.history.items() if o == org
             for c in changes if c.date and c.stance.type == "endorsement.made"]
    return min(dated) if dated else None


def event_detail(doc: Mapping[str, Any], book: StanceBook, names: Names) -> str | None:
    """What a timeline row adds to its title: a withdrawal's reason; what an amendment did to the scope."""
    stmt = doc["statement"]
    if doc["type"] == "endorsement.withdrawn":
        return f"Reason given: {stmt['reason']}"
    if doc["type"] != "endorsement.amended" or "scope" not in stmt:
        return None
    changes = book.history.get((doc["org"], doc["code"]), [])
    position = next((i for i, c in enumerate(changes) if c.index == doc["index"]), None)
    if not position:
        return None
    before = changes[position - 1].stance
    version = changes[position].stance.version
    numbers = book.items.get((doc["code"], version or ""), [])
    return "Scope changed " + wording.scope_change(before.scope, stmt["scope"], numbers, names.code(doc["code"]),
                                                   version)


@bp.get("/organizations/<slug>")
def organization(slug: str) -> str:
    site = current_site()
    org = site.orgs.get(slug)
    if org is None:
        abort(404, f"no organization {slug[:64]!r} is registered")
    book = get_views().stances()
    names = Names.of(site.state)
    before = _cursor()
    timeline, older = events_page(site, before=before, limit=TIMELINE_PAGE, org=slug)
    timeline = [_with_detail(e, book, names) for e in timeline]
    today = datetime.now(UTC).date().isoformat()
    org_keys = [site.keys[k] for k in org["keys"] if k in site.keys]
    provenance = get_views().key_provenance(slug, [k["key_id"] for k in org_keys])
    return render_template("organization.html", site=site, org=org, names=names, kind_names=wording.KIND_NAMES,
                           stances=code_stances(slug, site, book, names, today),
                           first=first_commitment(slug, book, names), keys=org_keys, provenance=provenance,
                           timeline=timeline, older=older,
                           before=before, today=today, feeds=[org_feed(slug, org["name"]), ALL_EVENTS])


def _with_detail(event: EventView, book: StanceBook, names: Names) -> EventView:
    detail = event_detail(event.doc, book, names)
    return event if detail is None else replace(event, detail=detail)
