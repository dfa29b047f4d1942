"""The HTML pages people read: overview, organizations, Codes, the log explorer, the verifier, about.

What it does: every view brings the read models up to date (:func:`web.refresh`),
reads the current registry state or a page of events once, shapes it with the
small pure helpers below (organization filters, the version diff, the geometry
of the overview chart, feed links) and renders a Jinja template from
``web/templates``. Every page links its Atom and RSS feeds with
``<link rel="alternate">``. HTML errors (the 404 page, a bad query) are
rendered here too; on the machine-readable paths errors stay problem+json.

What it does not do: it never writes to the registry, and no page needs
JavaScript to be read. The one script, ``static/verify.js`` on ``/verify``
(with ``static/wording.js``, its words), checks a receipt inside the browser
and sends nothing anywhere; the names it words a verified record with come in
a ``<script type="application/json">`` data block, which no browser runs.
There is no inline script or style (the CSP forbids both). Untrusted text is never marked
up: Jinja autoescapes it, templates wrap it in ``<bdi>``, and a URL becomes a
link only when :func:`safe_url` accepts it (http and https).
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import ceil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException

import feeds
from registry import keys, tlog, wording
from registry.countries import COUNTRIES, country_name
from registry.countries import NAMES as COUNTRY_NAMES
from registry.errors import ConfigurationError, NotFoundError
from registry.signednote import format_verifier_key
from registry.statements import KINDS, STATEMENT_TYPES
from web import get_log, get_registry, get_settings, get_views, parse_index, problems, refresh
from web.titles import Title, describe, record_kind, scope_text, signature_kind

# Templates and static files are the app's own (web/templates, web/static): the app is web's Flask.
bp = Blueprint("pages", __name__)

STATIC = Path(__file__).parent / "static"
LOG_PAGE = 50
TIMELINE_PAGE = 50
LATEST_EVENTS = 10
STATUSES = ("active", "withdrawn", "declined", "none")
STATUS_LABELS = {"active": "Endorses", "withdrawn": "Withdrawn", "declined": "Declined", "none": "No endorsement"}
VERSION_FIELDS = ("title", "issuer", "published_on", "source_url", "text_sha256")


# --- template filters --------------------------------------------------------------


@bp.app_template_filter("safe_url")
def safe_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL safe to put in ``href``; else None (show it as text)."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    # The exact lowercase scheme: what the browser follows is what was checked.
    if parts.scheme not in ("http", "https") or not value.startswith(parts.scheme + "://"):
        return None
    if not parts.netloc or "\\" in parts.netloc or "@" in parts.netloc:
        return None
    return value


@bp.app_template_filter("isolate")
def isolate(value: object) -> str:
    """Text wrapped in Unicode isolates (FSI ... PDI), for places that cannot hold ``<bdi>``, like ``<title>``."""
    return feeds.isolate(str(value))


@bp.app_template_filter("url_host")
def url_host(value: object) -> str:
    """The host a (safe) URL points to, shown beside its label so a reader knows where a link goes."""
    href = safe_url(value)
    return (urlsplit(href).hostname or "") if href else ""


@bp.app_template_filter("scope_text")
def _scope_text(scope: Any) -> str:
    return scope_text(scope)


@bp.app_template_filter("date_words")
def _date_words(value: str | None) -> str:
    return wording.date_words(value)


@bp.app_template_filter("country_name")
def _country_name(code: str | None) -> str:
    return country_name(code)


bp.add_app_template_global(record_kind, "record_kind")
bp.add_app_template_global(wording.secondary_only, "secondary_only")
bp.add_app_template_global(wording.uncertain, "uncertain")


# --- feeds -------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """A feed pair: ``path`` + ``.atom`` and ``path`` + ``.rss``; titled ``label`` + ``subject`` (user text)."""

    label: str
    path: str
    subject: str = ""

    @property
    def atom(self) -> str:
        return f"{request.script_root}{self.path}.atom"

    @property
    def rss(self) -> str:
        return f"{request.script_root}{self.path}.rss"

    @property
    def title(self) -> str:
        """For attributes, which cannot hold ``<bdi>``: the subject in Unicode isolates."""
        return self.label + (isolate(self.subject) if self.subject else "")


ALL_EVENTS = Feed("Every registry event", "/feeds/events")


def org_feed(slug: str, name: str) -> Feed:
    return Feed("Events of ", f"/feeds/organizations/{slug}", name)


def code_feed(slug: str) -> Feed:
    return Feed("Events of the Code ", f"/feeds/codes/{slug}", slug)


def type_feed(type_: str) -> Feed:
    return Feed(f"Events of type {type_}", f"/feeds/types/{type_}")


# --- the state, shaped for templates --------------------------------------------------


class Site:
    """Lookups over the canonical state (``RegistryState.to_json()``)."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = state
        self.organizations: list[dict[str, Any]] = list(state["organizations"])
        self.orgs = {o["org"]: o for o in self.organizations}
        self.codes = {c["code"]: c for c in state["codes"]}
        self.keys = {k["key_id"]: k for k in state["keys"]}
        self.endorsements: list[dict[str, Any]] = list(state["endorsements"])
        self.stances: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for e in self.endorsements:
            self.stances[e["org"]][e["code"]] = e

    def org_name(self, slug: str) -> str:
        org = self.orgs.get(slug)
        return org["name"] if org else slug

    def version(self, code: str, version: str | None) -> dict[str, Any] | None:
        for v in self.codes.get(code, {}).get("versions", []):
            if v["version"] == version:
                return v
        return None

    def latest(self, code: str) -> dict[str, Any] | None:
        versions = self.codes.get(code, {}).get("versions", [])
        return versions[-1] if versions else None

    def status(self, org: str, code: str) -> str:
        found = self.stances.get(org, {}).get(code)
        return found["status"] if found else "none"

    def counts(self) -> dict[str, int]:
        return {
            "organizations": len(self.organizations),
            "active": sum(1 for e in self.endorsements if e["status"] == "active"),
            "withdrawn": sum(1 for e in self.endorsements if e["status"] == "withdrawn"),
            "reports": sum(len(o["reports"]) for o in self.organizations),
        }


def current_site() -> Site:
    refresh()
    return Site(get_views().current().doc)


@dataclass(frozen=True)
class EventView:
    """One event as a row of a list."""

    index: int
    type: str
    recorded_at: str
    title: Title
    kind: Any
    org: str | None
    code: str | None
    version: str | None
    signer: str
    doc: Mapping[str, Any]


def event_view(doc: Mapping[str, Any], site: Site) -> EventView:
    return EventView(
        index=doc["index"], type=doc["type"], recorded_at=doc["recorded_at"],
        title=describe(doc, site.org_name), kind=signature_kind(doc["type"], doc["signer_role"]),
        org=doc.get("org"), code=doc.get("code"), version=doc.get("version"), signer=doc["signer"], doc=doc,
    )


def events_page(site: Site, *, before: int | None, limit: int, **query: Any) -> tuple[list[EventView], int | None]:
    """Up to ``limit`` events newest first, and the cursor of the next (older) page if there is one."""
    docs = get_views().events(before=before, limit=limit + 1, descending=True, **query)
    shown = [event_view(d, site) for d in docs[:limit]]
    older = shown[-1].index if len(docs) > limit else None
    return shown, older


# --- organizations: filters -------------------------------------------------------------


@dataclass(frozen=True)
class OrgFilter:
    country: str = ""
    kind: str = ""
    status: str = ""
    code: str = ""

    @property
    def active(self) -> bool:
        return any((self.country, self.kind, self.status, self.code))


def parse_org_filter(args: Mapping[str, str], site: Site) -> OrgFilter:
    """The filter of ``/organizations`` from its query; 400 for a value no form offers."""
    f = OrgFilter(*(args.get(name, "").strip() for name in ("country", "kind", "status", "code")))
    if f.country and f.country not in COUNTRIES:
        abort(400, f"unknown country code {f.country[:8]!r} (ISO 3166-1 alpha-2, uppercase)")
    if f.kind and f.kind not in KINDS:
        abort(400, f"unknown kind {f.kind[:40]!r}; one of {', '.join(KINDS)}")
    if f.status and f.status not in STATUSES:
        abort(400, f"unknown status {f.status[:40]!r}; one of {', '.join(STATUSES)}")
    if f.code and f.code not in site.codes:
        abort(400, f"no Code {f.code[:64]!r} is registered")
    return f


def filter_organizations(site: Site, f: OrgFilter) -> list[dict[str, Any]]:
    """The organizations matching every part of the filter.

    The status is that of the chosen Code, or of any Code when none is chosen ("none": no
    endorsement record at all). A Code without a status keeps the organizations that have a
    record (endorsed, withdrawn or declined) for it.
    """
    codes = [f.code] if f.code else list(site.codes)
    out = []
    for org in site.organizations:
        if f.country and org["country"] != f.country:
            continue
        if f.kind and org["kind"] != f.kind:
            continue
        statuses = {site.status(org["org"], c) for c in codes}
        if f.status == "none":
            keep = statuses <= {"none"}
        elif f.status:
            keep = f.status in statuses
        else:
            keep = not f.code or bool(statuses - {"none"})
        if keep:
            out.append(org)
    return out


# --- Codes: the diff between a version and the one it supersedes -------------------------


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


def scope_table(version: Mapping[str, Any], scope: Any) -> list[tuple[int, str, bool]]:
    """Each action of a version with whether ``scope`` covers it."""
    covered = None if scope == "all" else set(scope or ())
    return [(a["number"], a["heading"], covered is None or a["number"] in covered) for a in version["actions"]]


# --- the overview chart -------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    label: str


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart of endorsements and withdrawals per month, with the active total as a line."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    line: str
    points: list[tuple[float, float, str]]
    rows: list[tuple[str, int, int, int]]  # month, endorsed, withdrawn, active at the end of the month
    summary: str


ENDORSED_TYPES = ("endorsement.made",)
MIN_MONTHS = 6
WITHDRAWN_TYPES = ("endorsement.withdrawn",)


def months_between(first: str, last: str, at_least: int = 1) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last`` inclusive, starting earlier to give ``at_least`` months."""
    year, month = int(first[:4]), int(first[5:7])
    last_year, last_month = int(last[:4]), int(last[5:7])
    span = (last_year - year) * 12 + last_month - month + 1
    start = year * 12 + month - 1 - max(0, at_least - span)
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(start, last_year * 12 + last_month)]


def build_chart(counts: Iterable[tuple[str, str, int]], width: int = 480, height: int = 240) -> Chart | None:
    """The chart of ``counts_by_month()`` rows ``(YYYY-MM, type, n)``; None when nothing was endorsed yet."""
    made: dict[str, int] = defaultdict(int)
    withdrawn: dict[str, int] = defaultdict(int)
    for month, type_, n in counts:
        if type_ in ENDORSED_TYPES:
            made[month] += n
        elif type_ in WITHDRAWN_TYPES:
            withdrawn[month] += n
    seen = sorted(made.keys() | withdrawn.keys())
    if not seen:
        return None
    # A few months at least, so that a young registry's single month still reads as a chart.
    months = months_between(seen[0], seen[-1], at_least=MIN_MONTHS)
    rows, active = [], 0
    for m in months:
        active += made[m] - withdrawn[m]
        rows.append((m, made[m], withdrawn[m], active))
    left, right, top, bottom = 34, 10, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(max(r[1], r[2], r[3]) for r in rows)
    step = max(1, ceil(peak / 4))
    y_max = step * max(1, ceil(peak / step))

    def y(value: float) -> float:
        return round(top + plot_h - plot_h * value / y_max, 2)

    slot = plot_w / len(months)
    bar_w = round(min(slot * 0.36, 24.0), 2)
    bars, points, x_ticks = [], [], []
    label_every = max(1, ceil(len(months) / MIN_MONTHS))
    for i, (m, endorsed, withdrew, total) in enumerate(rows):
        center = left + slot * i + slot / 2
        for value, offset, css, what in ((endorsed, -bar_w, "bar-endorsed", "endorsed"),
                                         (withdrew, 0.0, "bar-withdrawn", "withdrawn")):
            if value:
                bars.append(Bar(round(center + offset, 2), y(value), bar_w, round(top + plot_h - y(value), 2),
                                css, f"{m}: {value} {what}"))
        points.append((round(center, 2), y(total), f"{m}: {total} active at the end of the month"))
        if i % label_every == 0:
            x_ticks.append(Tick(round(center, 2), m))
    y_ticks = [Tick(y(v), str(v)) for v in range(0, y_max + 1, step)]
    total_made, total_withdrawn = sum(made.values()), sum(withdrawn.values())
    summary = (f"From {months[0]} to {months[-1]}: {total_made} endorsement(s) made and {total_withdrawn} "
               f"withdrawn; {active} active at the end.")
    return Chart(width, height, left, right, top, bottom, bars, x_ticks, y_ticks,
                 " ".join(f"{px},{py}" for px, py, _ in points), points, rows, summary)


# --- JSON shown to people -------------------------------------------------------------------


def pretty_json(value: Any) -> str:
    """Indented JSON that keeps readable text but escapes invisible and direction-changing characters."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    # Outside strings there are only newlines and spaces, so every escape lands inside a JSON string.
    return "".join(_escape(c) if unicodedata.category(c) in ("Cf", "Cc") and c != "\n" else c for c in text)


def _escape(c: str) -> str:
    units = c.encode("utf-16-be")  # two units (a surrogate pair) beyond the BMP, as JSON spells them
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def log_verifier_key() -> str | None:
    """The log's verifier key (``name+hash+base64``), or None if the public key file is missing."""
    settings = get_settings()
    try:
        public = keys.load_public_file(keys.public_path(settings.log_key))
    except ConfigurationError:
        return None
    return format_verifier_key(settings.origin, public)


# --- views --------------------------------------------------------------------------------


@bp.get("/")
def overview() -> str:
    site = current_site()
    latest, _ = events_page(site, before=None, limit=LATEST_EVENTS)
    codes = [(slug, site.latest(slug)) for slug in site.codes]
    return render_template("overview.html", site=site, codes=codes, counts=site.counts(), latest=latest,
                           chart=build_chart(get_views().store.counts_by_month()), feeds=[ALL_EVENTS])


@bp.get("/organizations")
def organizations() -> str:
    site = current_site()
    f = parse_org_filter(request.args, site)
    rows = filter_organizations(site, f)
    # By name, as people look for them; organizations whose country the sources do not give have no option.
    codes = {o["country"] for o in site.organizations if o["country"]} | ({f.country} if f.country else set())
    countries = sorted(codes, key=country_name)
    return render_template("organizations.html", site=site, rows=rows, filter=f, countries=countries,
                           kinds=KINDS, statuses=STATUSES, status_labels=STATUS_LABELS,
                           feeds=[ALL_EVENTS, type_feed("endorsement.made"), type_feed("endorsement.withdrawn")])


@bp.get("/organizations/<slug>")
def organization(slug: str) -> str:
    site = current_site()
    org = site.orgs.get(slug)
    if org is None:
        abort(404, f"no organization {slug[:64]!r} is registered")
    before = _cursor()
    timeline, older = events_page(site, before=before, limit=TIMELINE_PAGE, org=slug)
    stances = []
    for code, e in sorted(site.stances.get(slug, {}).items()):
        version = site.version(code, e["version"])
        stances.append({"endorsement": e, "version": version, "kind": record_kind(e["attested"]),
                        "actions": scope_table(version, e["scope"]) if version and e["status"] == "active" else []})
    org_keys = [site.keys[k] for k in org["keys"] if k in site.keys]
    return render_template("organization.html", site=site, org=org, stances=stances, keys=org_keys,
                           timeline=timeline, older=older, before=before,
                           feeds=[org_feed(slug, org["name"]), ALL_EVENTS])


@bp.get("/codes")
def codes() -> str:
    site = current_site()
    rows = [(slug, site.latest(slug), len(c["versions"]),
             sum(1 for e in site.endorsements if e["code"] == slug and e["status"] == "active"))
            for slug, c in site.codes.items()]
    return render_template("codes.html", site=site, rows=rows,
                           feeds=[ALL_EVENTS, type_feed("code.revision_published")])


@bp.get("/codes/<slug>")
def code(slug: str) -> str:
    site = current_site()
    found = site.codes.get(slug)
    if found is None or not found["versions"]:
        abort(404, f"no Code {slug[:64]!r} is registered")
    return _render_version(site, slug, found["versions"][-1], is_latest_page=True)


@bp.get("/codes/<slug>/<version>")
def code_version(slug: str, version: str) -> str:
    site = current_site()
    found = site.version(slug, version)
    if found is None:
        abort(404, f"the Code {slug[:64]!r} has no version {version[:64]!r}")
    return _render_version(site, slug, found, is_latest_page=False)


def _render_version(site: Site, slug: str, version: dict[str, Any], *, is_latest_page: bool) -> str:
    versions = site.codes[slug]["versions"]
    previous = site.version(slug, version.get("supersedes"))
    diff = diff_versions(previous, version) if previous else None
    endorsements = [e for e in site.endorsements if e["code"] == slug]
    if not is_latest_page:
        endorsements = [e for e in endorsements if e["version"] == version["version"]]
    timeline, _ = events_page(site, before=None, limit=TIMELINE_PAGE, code=slug)
    return render_template("code.html", site=site, slug=slug, version=version, versions=versions,
                           latest=versions[-1], diff=diff, endorsements=endorsements, timeline=timeline,
                           is_latest_page=is_latest_page, feeds=[code_feed(slug), ALL_EVENTS])


@bp.get("/log")
def log() -> Any:
    jump = request.args.get("index")
    if jump is not None:
        try:
            return redirect(url_for("pages.entry", index=parse_index(jump.strip())))
        except ValueError:
            abort(400, "the leaf index must be a decimal number without leading zeros")
    site = current_site()
    before = _cursor()
    events, older = events_page(site, before=before, limit=LOG_PAGE)
    feeds = [ALL_EVENTS, *(type_feed(t) for t in ("endorsement.made", "endorsement.withdrawn"))]
    return render_template("log.html", site=site, events=events, older=older, before=before,
                           checkpoint=get_log().latest_checkpoint(), b64=b64, feeds=feeds,
                           type_feeds=[type_feed(t) for t in STATEMENT_TYPES])


@bp.get("/log/<index:index>")
def entry(index: int) -> str:
    site = current_site()
    docs = get_views().events(after=index - 1, limit=1)
    if not docs or docs[0]["index"] != index:
        abort(404, f"there is no log entry {index}")
    leaf = get_registry().leaf(index)
    if leaf is None:
        abort(404, f"there is no log entry {index}")
    event = event_view(docs[0], site)
    checkpoint = get_log().latest_checkpoint()
    proof = get_log().inclusion(index, checkpoint.size) if checkpoint and index < checkpoint.size else None
    feeds = [ALL_EVENTS, type_feed(event.type)]
    if event.org:
        feeds.insert(0, org_feed(event.org, site.org_name(event.org)))
    if event.code:
        feeds.insert(0, code_feed(event.code))
    return render_template("entry.html", site=site, event=event, signer=site.keys.get(event.signer),
                           statement_json=pretty_json(event.doc["statement"]), leaf_hash=tlog.leaf_hash(leaf),
                           leaf_size=len(leaf), checkpoint=checkpoint, proof=proof, b64=b64, feeds=feeds,
                           has_next=index + 1 < get_views().store.head()[0])


@bp.get("/verify")
def verify() -> str:
    refresh()
    index, receipt = _page_receipt(request.args.get("index"))
    return render_template("verify.html", vkey=log_verifier_key(), origin=get_settings().origin, feeds=[ALL_EVENTS],
                           index=index, receipt=receipt, words=verifier_words())


def _page_receipt(value: str | None) -> tuple[int | None, str | None]:
    """``?index=N``: leaf N's receipt against the latest checkpoint, as /api/v1/receipts/N serves it."""
    if value is None:
        return None, None
    try:
        index = parse_index(value)
    except ValueError:
        abort(400, "index must be a log entry's index: a decimal number without leading zeros")
    try:
        receipt = get_log().receipt(index)
    except NotFoundError:
        if get_registry().leaf(index) is None:
            abort(404, f"there is no log entry {index}")
        abort(404, f"log entry {index} is not covered by a signed checkpoint yet, so it has no receipt: checkpoints "
                   "are signed every few moments; try again shortly")
    return index, receipt.decode("utf-8")


def verifier_words() -> dict[str, Any]:
    """What /verify's scripts word a verified record with, as ``registry verify receipt`` does.

    The names and key roles of this registry (for receipts of its origin only), and every country name.
    """
    view = get_views().current()
    return {"origin": get_settings().origin, "names": wording.Names.of(view.doc).to_json(),
            "roles": {key_id: key["role"] for key_id, key in view.keys.items()}, "countries": COUNTRY_NAMES}


@bp.get("/about")
def about() -> str:
    site = current_site()
    registry_keys = sorted((k for k in site.state["keys"] if k["role"] in ("root", "maintainer")),
                           key=lambda k: (k["role"] != "root", k["added_index"]))
    return render_template("about.html", site=site, vkey=log_verifier_key(), origin=get_settings().origin,
                           base_url=get_settings().base_url, registry_keys=registry_keys,
                           checkpoint=get_log().latest_checkpoint(), feeds=[ALL_EVENTS])


@bp.get("/favicon.ico")
def favicon() -> Response:
    return send_from_directory(STATIC, "favicon.svg", mimetype="image/svg+xml", max_age=86400)


def _cursor() -> int | None:
    value = request.args.get("before")
    if value is None:
        return None
    try:
        return parse_index(value)
    except ValueError:
        abort(400, "before must be a leaf index: a decimal number without leading zeros")


# --- errors -------------------------------------------------------------------------------


@bp.errorhandler(HTTPException)
def page_error(e: HTTPException) -> tuple[str, int]:
    """A bad query or a missing subject on one of these pages: an HTML error page."""
    return _error_page(e)


@bp.app_errorhandler(404)
def not_found(e: HTTPException) -> Any:
    """Any unknown URL: the HTML 404 page, except where clients are programs (problem+json there)."""
    if problems.is_data_path(request.path):
        return problems.problem(404, "not-found", e.description or "Not Found")
    return _error_page(e)


def _error_page(e: HTTPException) -> tuple[str, int]:
    status = e.code or 500
    return render_template("error.html", status=status, name=e.name, description=e.description,
                           feeds=[ALL_EVENTS]), status
