"""The overview page: who committed to which AI codes, and when.

What it does: shapes the stances of :class:`~registry.stances.StanceBook` into
what ``/`` shows. One table of organizations by Codes, each cell the
organization's current stance on that Code with its effective date and the log
entry that set it (:func:`cell`, :func:`table`); the filters of that table by
Code, country, kind and a search of names (:func:`parse_filter`,
:func:`apply_filter`); the counts of organizations by stance per Code
(:func:`code_counts`); per Code, the stances over time by effective date, one
row per month in which a record took effect and a last row for the current
stances when some records are undated (:func:`timeline`); and the dated
obligations as of a day (:func:`dues`). The view, :func:`overview`, is a route
of the ``pages`` blueprint (endpoint ``pages.overview``).

What it does not do: it counts organizations, never events, and never invents
precision (a date is a day, a month or "not stated", as recorded). It does not
follow the filter in the chart or the obligations: those always describe the
whole record, and the page says so. No markup here: names and notes stay text
for the templates to escape and isolate.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import abort, render_template, request

from registry.countries import COUNTRIES, country_name
from registry.stances import ENDORSING, Stance, StanceBook, obligations
from registry.statements import KINDS
from registry.wording import (
    KIND_NAMES,
    STANCE_LABELS,
    CodeNames,
    Names,
    date_words,
    month_words,
    short_month,
    stance_parts,
)
from web import get_views
from web.pages import ALL_EVENTS, LATEST_EVENTS, bp, current_site, events_page

CHART_STATUSES = ("endorsed", "partial", "declined", "withdrawn", "reported")
CHART_LABELS = {"endorsed": "endorsed in full", "partial": "endorsed in part", "declined": "declined",
                "withdrawn": "withdrew", "reported": "reported only"}
VERDICTS = ("met", "missed", "pending", "undetermined")
MAX_SEARCH = 100  # characters: longer than any name worth typing, short enough to bound the work per request
NO_COUNTRY = "none"  # the country filter's value for organizations whose country the sources do not give


# --- cells -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One organization's current stance on one Code, in words, with the record that set it."""

    status: str  # a stances.STATUSES value
    label: str  # "Endorsed", "Partial", "Partly removed", ...
    detail: str  # which items: "all chapters", "chapter 3 (Safety and Security)", "kept commitments 1, 3-6, 8"
    date: str | None  # the effective date as recorded: a day, a month or None
    index: int | None  # the log entry that set the stance
    secondary: bool = False
    uncertain: bool = False
    narrowed: bool = False

    @property
    def when(self) -> str:
        return date_words(self.date)


def cell(stance: Stance, code: CodeNames) -> Cell:
    """The cell of a stance, its items named by the Code's own noun (action, chapter, commitment)."""
    marks = {"date": stance.date, "index": stance.index, "secondary": stance.secondary,
             "uncertain": stance.uncertain}
    if stance.status == "none":
        return Cell("none", STANCE_LABELS["none"], "", None, None)
    label, detail = stance_parts(stance.status, stance.scope, stance.removed, code, stance.version)
    return Cell(stance.status, label, detail, narrowed=stance.narrowed, **marks)


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One organization and its cells, one per Code in the order of the columns."""

    org: str
    name: str
    country: str | None
    kind: str
    cells: Mapping[str, Cell]  # Code slug -> cell

    @property
    def endorsing(self) -> bool:
        return any(c.status in ENDORSING for c in self.cells.values())

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)


def fold(text: str) -> str:
    """Text as search compares it: compatibility forms and case folded, so "ＡＩ" finds "ai"."""
    return unicodedata.normalize("NFKC", text).casefold()


def table(organizations: Iterable[Mapping[str, Any]], codes: Sequence[CodeNames], book: StanceBook) -> list[Row]:
    """Every organization with its cell on each Code, by name as people look for them."""
    rows = [Row(o["org"], o["name"], o["country"], o["kind"],
                {c.slug: cell(book.stance(o["org"], c.slug), c) for c in codes}) for o in organizations]
    return sorted(rows, key=lambda r: (fold(r.name), r.org))


def ordered_codes(names: Names, state: Mapping[str, Any]) -> list[CodeNames]:
    """The Codes with at least one version, oldest first (by their first version's date): the story's order."""
    first = {c["code"]: c["versions"][0]["published_on"] for c in state["codes"] if c["versions"]}
    return [names.code(slug) for slug in sorted(first, key=lambda s: (first[s], s))]


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    code: str = ""  # keep organizations with a record on this Code
    country: str = ""  # an ISO code, or NO_COUNTRY
    kind: str = ""
    q: str = ""  # a piece of an organization's name, as typed (stripped)

    @property
    def active(self) -> bool:
        return any((self.code, self.country, self.kind, self.q))


def parse_filter(args: Mapping[str, str], codes: Iterable[str]) -> Filter:
    """The filter from the query string.

    Raises:
        ValueError: a value no form offers (an unknown Code, country or kind), or a search that is
            too long or holds control characters; the message says which.
    """
    f = Filter(*(args.get(name, "").strip() for name in ("code", "country", "kind", "q")))
    if f.code and f.code not in set(codes):
        raise ValueError(f"no Code {f.code[:64]!r} is registered")
    if f.country and f.country != NO_COUNTRY and f.country not in COUNTRIES:
        raise ValueError(f"unknown country code {f.country[:8]!r} (ISO 3166-1 alpha-2, uppercase, or "
                         f"{NO_COUNTRY!r} for a country the sources do not state)")
    if f.kind and f.kind not in KINDS:
        raise ValueError(f"unknown kind {f.kind[:40]!r}; one of {', '.join(KINDS)}")
    if len(f.q) > MAX_SEARCH:
        raise ValueError(f"the search is {len(f.q)} characters long; at most {MAX_SEARCH}")
    if any(unicodedata.category(c) == "Cc" for c in f.q):
        raise ValueError("the search holds control characters")
    return f


def matches(row: Row, f: Filter) -> bool:
    if f.code and row.cells[f.code].status == "none":
        return False
    if f.country and (row.country or NO_COUNTRY) != f.country:
        return False
    if f.kind and row.kind != f.kind:
        return False
    return not f.q or fold(f.q) in fold(row.name)


def apply_filter(rows: Iterable[Row], f: Filter) -> list[Row]:
    return [r for r in rows if matches(r, f)]


def countries(rows: Iterable[Row], chosen: str = "") -> list[tuple[str, str]]:
    """The filter's country options ``(value, name)``: only countries present, by name; unknown last."""
    present = {r.country for r in rows}
    known = sorted({c for c in present if c} | ({chosen} if chosen in COUNTRIES else set()), key=country_name)
    options = [(c, country_name(c)) for c in known]
    if None in present or chosen == NO_COUNTRY:
        options.append((NO_COUNTRY, country_name(None)))
    return options


# --- counts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeCount:
    """How many of the organizations shown stand where on one Code."""

    code: CodeNames
    counts: Mapping[str, int]  # CHART_STATUSES -> organizations

    @property
    def endorsing(self) -> int:
        return sum(self.counts[s] for s in ENDORSING)


def code_counts(rows: Sequence[Row], codes: Sequence[CodeNames]) -> list[CodeCount]:
    """Organizations by stance per Code, over ``rows`` (all of them: the same numbers as ``book.counts``)."""
    out = []
    for code in codes:
        counts = dict.fromkeys(CHART_STATUSES, 0)
        for row in rows:
            status = row.cells[code.slug].status
            if status != "none":
                counts[status] += 1
        out.append(CodeCount(code, counts))
    return out


# --- the chart: stances over time by effective date ------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of one status in a bar, in organizations: ``x`` from the bar's start, ``width`` long."""

    status: str
    x: int
    width: int


@dataclass(frozen=True)
class TimeRow:
    """The stances on a Code at the end of a month in which a record took effect, or now."""

    month: str | None  # None: the current stances, undated records included
    counts: Mapping[str, int]  # CHART_STATUSES -> organizations
    skipped: int = 0  # months with no dated record between the previous row and this one

    @property
    def label(self) -> str:
        return short_month(self.month) if self.month else "Now"

    @property
    def long_label(self) -> str:
        return month_words(self.month) if self.month else "Now"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def segments(self) -> list[Segment]:
        out, x = [], 0
        for status in CHART_STATUSES:
            if self.counts[status]:
                out.append(Segment(status, x, self.counts[status]))
                x += self.counts[status]
        return out

    @property
    def summary(self) -> str:
        """The row in words: ``15 endorsed in full, 1 endorsed in part``; zeros left out."""
        parts = [f"{self.counts[s]} {CHART_LABELS[s]}" for s in CHART_STATUSES if self.counts[s]]
        return ", ".join(parts) or "no organization"


@dataclass(frozen=True)
class Timeline:
    code: CodeNames
    rows: list[TimeRow]
    undated: int  # records about the Code whose date the sources do not state


def months_apart(first: str, last: str) -> int:
    """Whole months from ``first`` to ``last`` (``YYYY-MM``): 1 for consecutive months."""
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7])


def _statuses(counts: Mapping[str, int]) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in CHART_STATUSES}


def timeline(book: StanceBook, code: CodeNames) -> Timeline:
    """A row per month in which a record about the Code took effect, then "now" if some records are undated.

    Months with nothing dated in them get no row (the next row says how many were skipped), so a
    quiet year takes no room; with every record dated, the last month's row is the current state.
    """
    rows, previous = [], None
    for month in book.months(code.slug):
        skipped = months_apart(previous, month) - 1 if previous else 0
        rows.append(TimeRow(month, _statuses(book.counts_at(code.slug, month)), skipped))
        previous = month
    undated = book.undated(code.slug)
    if undated:
        rows.append(TimeRow(None, _statuses(book.counts(code.slug))))
    return Timeline(code, rows, undated)


def chart_scale(timelines: Iterable[Timeline]) -> int:
    """The organizations a full-width bar stands for: one scale for every Code, so bars compare across them."""
    return max((r.total for t in timelines for r in t.rows), default=0) or 1


# --- obligations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """One dated obligation of a Code and how the organizations bound by it stand, as of a day."""

    code: CodeNames
    what: str
    due: str
    counts: Mapping[str, int]  # VERDICTS -> organizations

    @property
    def bound(self) -> int:
        return sum(self.counts.values())


def dues(book: StanceBook, codes: Sequence[CodeNames], today: str) -> list[Due]:
    """Every obligation of the Codes, judged as of ``today`` (``YYYY-MM-DD``)."""
    return [Due(code, o.what, o.due, {v: o.count(v) for v in VERDICTS})
            for code in codes for o in obligations(book, code.slug, today)]


# --- the view ------------------------------------------------------------------------------


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@bp.get("/")
def overview() -> str:
    site = current_site()
    book = get_views().stances()
    codes = ordered_codes(Names.of(site.state), site.state)
    try:
        f = parse_filter(request.args, (c.slug for c in codes))
    except ValueError as e:
        abort(400, str(e))
    everyone = table(site.organizations, codes, book)
    rows = apply_filter(everyone, f)
    timelines = [timeline(book, c) for c in codes]
    latest, _ = events_page(site, before=None, limit=LATEST_EVENTS)
    return render_template(
        "overview.html", site=site, codes=codes, filter=f, rows=rows, everyone=everyone,
        counts=code_counts(everyone, codes), endorsing=sum(1 for r in everyone if r.endorsing),
        countries=countries(everyone, f.country), kinds=[(k, KIND_NAMES.get(k, k)) for k in KINDS],
        code_options=[(c.slug, c.short) for c in codes],
        timelines=timelines, scale=chart_scale(timelines), statuses=CHART_STATUSES, chart_labels=CHART_LABELS,
        dues=dues(book, codes, today()), today=today(), latest=latest, max_search=MAX_SEARCH,
        feeds=[ALL_EVENTS])
