"""The HTML pages people read: organizations, Codes, the log explorer, the verifier, about, the API.

What it does: every view brings the read models up to date (:func:`web.refresh`),
reads the current registry state or a page of events once, shapes it with the
small pure helpers below (organization filters, feed links) and renders a Jinja
template from ``web/templates``. The overview (``/``), the organization pages and
the Code pages are routes of this blueprint too, shaped in :mod:`web.overview`,
:mod:`web.organizations` and :mod:`web.codes`. Every page links its Atom and RSS feeds with
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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

import feeds
from registry import keys, tlog, wording
from registry.countries import COUNTRIES, country_name
from registry.countries import NAMES as COUNTRY_NAMES
from registry.errors import ConfigurationError, NotFoundError
from registry.signednote import format_verifier_key
from registry.statements import KINDS, STATEMENT_TYPES
from web import apiref, get_log, get_registry, get_settings, get_views, openapi, parse_index, problems, refresh
from web.titles import Title, describe, record_kind, scope_text, signature_kind

# Templates and static files are the app's own (web/templates, web/static): the app is web's Flask.
bp = Blueprint("pages", __name__)

STATIC = Path(__file__).parent / "static"
LOG_PAGE = 50
TIMELINE_PAGE = 50
LATEST_EVENTS = 10
STATUSES = ("active", "withdrawn", "declined", "none")
STATUS_LABELS = {"active": "Endorses", "withdrawn": "Withdrawn", "declined": "Declined", "none": "No endorsement"}


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
def _date_words(value: object) -> str:
    # A missing member (Jinja's Undefined) is a date the sources do not state, like null.
    return wording.date_words(value if isinstance(value, str) else None)


@bp.app_template_filter("country_name")
def _country_name(code: str | None) -> str:
    return country_name(code)


bp.add_app_template_global(record_kind, "record_kind")
bp.add_app_template_global(wording.secondary_only, "secondary_only")
bp.add_app_template_global(wording.uncertain, "uncertain")


@bp.app_template_global("stance_words")
def _stance_words(stance: Any, code: wording.CodeNames) -> str:
    return wording.stance_words(stance.status, stance.scope, stance.removed, code, stance.version)


# --- feeds -------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """A feed pair: ``path`` + ``.atom`` and ``path`` + ``.rss``; titled ``subject`` (user text) + ``label``."""

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
        return (isolate(self.subject) if self.subject else "") + self.label


ALL_EVENTS = Feed("Every record in the registry", "/feeds/events")


def org_feed(slug: str, name: str) -> Feed:
    return Feed(f": {wording.EVERY_RECORD}", f"/feeds/organizations/{slug}", name)


def code_feed(slug: str, title: str | None = None) -> Feed:
    """The feed of a Code, titled by its short title (``title``; the slug when none is given)."""
    return Feed(f": {wording.EVERY_RECORD}", f"/feeds/codes/{slug}", title or slug)


def type_feed(type_: str) -> Feed:
    return Feed(wording.TYPE_FEEDS.get(type_, f"Records of type {type_}"), f"/feeds/types/{type_}")


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
        self.names = wording.Names.of(state)

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
    detail: str | None = None  # what a row adds to its title (a withdrawal's reason, a scope's change)


def event_view(doc: Mapping[str, Any], site: Site) -> EventView:
    return EventView(
        index=doc["index"], type=doc["type"], recorded_at=doc["recorded_at"],
        title=describe(doc, site.names), kind=signature_kind(doc["type"], doc["signer_role"]),
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


# --- organizations: which actions a scope covers -------------------------------------------


def scope_table(version: Mapping[str, Any], scope: Any) -> list[tuple[int, str, bool]]:
    """Each action of a version with whether ``scope`` covers it."""
    covered = None if scope == "all" else set(scope or ())
    return [(a["number"], a["heading"], covered is None or a["number"] in covered) for a in version["actions"]]


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


@bp.get("/organizations")
def organizations() -> str:
    site = current_site()
    f = parse_org_filter(request.args, site)
    rows = filter_organizations(site, f)
    # By name, as people look for them; organizations whose country the sources do not give have no option.
    codes = {o["country"] for o in site.organizations if o["country"]} | ({f.country} if f.country else set())
    countries = sorted(codes, key=country_name)
    names = wording.Names.of(site.state)
    return render_template("organizations.html", site=site, rows=rows, filter=f,
                           countries=[(c, country_name(c)) for c in countries],
                           kinds=[(k, wording.KIND_NAMES.get(k, k)) for k in KINDS],
                           statuses=[(s, STATUS_LABELS[s]) for s in STATUSES],
                           codes=[(c, names.code(c).short) for c in site.codes], book=get_views().stances(),
                           names=names, kind_names=wording.KIND_NAMES,
                           feeds=[ALL_EVENTS, type_feed("endorsement.made"), type_feed("endorsement.withdrawn")])




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
        feeds.insert(0, code_feed(event.code, site.names.code(event.code).short))
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


@bp.get("/api/v1/")
def api_reference() -> str:
    """The JSON API described for people, from the OpenAPI document the API serves."""
    document = openapi.document(get_settings().base_url)
    return render_template("api.html", info=document["info"], openapi_version=document["openapi"],
                           server=document["servers"][0]["url"], groups=apiref.reference(document),
                           feeds=[ALL_EVENTS])


@bp.get("/api")
def api_index() -> WerkzeugResponse:
    return redirect(url_for("pages.api_reference"), 308)


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
