"""The JSON API under /api/v1: read models, state, statistics, and the submission endpoint.

What it does: every read view calls :func:`web.refresh` (so entries recorded
by other processes appear), parses its query strictly (:class:`Params`: an
unknown parameter, a repeated one or an unknown filter value is a 400
problem naming the parameter) and answers ``application/json``. Lists are
paginated: the registry's entities (organizations, codes, endorsements) with
an opaque ``cursor`` (base64url of the last key) and ``limit``, the log's
event documents with ``after``/``before`` indexes and ``limit``; a page is
``{"items": [...], "next": <cursor or index> | null}``. Entity lists are read
from a :class:`Catalog` built once per read-model size from the state
(never by reading the log); event lists are one indexed query each.

``POST /api/v1/statements`` takes a DSSE envelope, records it through
:meth:`Registry.submit` and integrates it into the log and the read models at
once. Refusals are the registry's errors as problem+json (``web.problems``),
with nothing stored. Only this endpoint is rate-limited (``web.ratelimit``).

What it does not do: no snapshots (served elsewhere), no HTML, no writes
other than submission, and no caching beyond the per-size catalog.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from registry.countries import COUNTRIES
from registry.errors import InputError, NotFoundError
from registry.statements import KINDS, STATEMENT_TYPES, date_precision
from registry.views import StateView
from web import get_log, get_registry, get_settings, get_views, parse_index, ratelimit, refresh
from web import openapi as openapi_doc

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
READ_CACHE = "public, max-age=5"
IMMUTABLE = "public, max-age=31536000, immutable"
ENVELOPE_TYPES = ("application/json", "application/vnd.hcoc-registry.envelope+json")
ORG_STATUSES = ("endorsing", "withdrawn", "declined", "none")
ENDORSEMENT_STATUSES = ("active", "withdrawn", "declined", "none")
MAX_ACTION = 100
_PAGING = ("limit", "cursor")
_LOG_PAGING = ("after", "before", "limit", "order")
_CATALOG = "api_catalog"
Key = tuple[str, ...]  # an entity's sort key: slugs, which never contain "/"


# --- organizations -----------------------------------------------------------------


@bp.get("/organizations")
def organizations() -> Response:
    params = Params("country", "kind", "status", "code", *_PAGING)
    cat = catalog()
    country, kind = params.choice("country", COUNTRIES), params.choice("kind", KINDS)
    status, code = params.choice("status", ORG_STATUSES), params.choice("code", cat.codes_by_slug)

    def wanted(org: dict[str, Any]) -> bool:
        return ((country is None or org["country"] == country) and (kind is None or org["kind"] == kind)
                and (code is None or status is not None or any(e["code"] == code for e in cat.of_org(org["org"])))
                and (status is None or org_status(cat.of_org(org["org"]), code) == status))

    return _json(cursor_page(params, "org", cat.organizations, lambda o: (o["org"],), wanted, cat.org_item))


@bp.get("/organizations/<slug>")
def organization(slug: str) -> Response:
    params = Params(*_LOG_PAGING)
    cat = catalog()
    org = cat.orgs_by_slug.get(slug)
    if org is None:
        raise NotFoundError(f"no organization {slug!r}")
    base = get_settings().base_url
    org_keys = [cat.keys_by_id[k] for k in org["keys"] if k in cat.keys_by_id]
    provenance = get_views().key_provenance(slug, [k["key_id"] for k in org_keys])
    body = {
        **cat.org_item(org),
        "keys": [{**key_item(k), "provenance": provenance[k["key_id"]].to_json()} for k in org_keys],
        "reports": org["reports"],
        "timeline": log_page(params, org=slug),
        "feeds": {"atom": f"{base}/feeds/organizations/{slug}.atom", "rss": f"{base}/feeds/organizations/{slug}.rss"},
    }
    return _json(body)


# --- codes -------------------------------------------------------------------------


@bp.get("/codes")
def codes() -> Response:
    params = Params(*_PAGING)
    cat = catalog()
    return _json(cursor_page(params, "code", cat.codes, lambda c: (c["code"],), lambda c: True, cat.code_summary))


@bp.get("/codes/<slug>")
def code(slug: str) -> Response:
    Params()
    cat = catalog()
    found = cat.codes_by_slug.get(slug)
    if found is None:
        raise NotFoundError(f"no Code {slug!r}")
    base = get_settings().base_url
    return _json({**cat.code_summary(found), "versions": found["versions"],
                  "feeds": {"atom": f"{base}/feeds/codes/{slug}.atom", "rss": f"{base}/feeds/codes/{slug}.rss"}})


@bp.get("/codes/<slug>/<version>")
def code_version(slug: str, version: str) -> Response:
    Params()
    cat = catalog()
    found = cat.codes_by_slug.get(slug)
    versions = [] if found is None else [v["version"] for v in found["versions"]]
    if found is None or version not in versions:
        raise NotFoundError(f"no version {version!r} of Code {slug!r}")
    position = versions.index(version)
    doc = found["versions"][position]
    active = [e for e in cat.endorsements if e["code"] == slug and e["version"] == version and e["status"] == "active"]
    actions = [{**a, "endorsed_by": sum(1 for e in active if scope_covers(e["scope"], a["number"]))}
               for a in doc["actions"]]
    return _json({
        **doc, "code": slug, "actions": actions, "latest": position == len(versions) - 1,
        "superseded_by": versions[position + 1] if position + 1 < len(versions) else None,
        "endorsements": _status_counts(e for e in cat.endorsements if e["code"] == slug and e["version"] == version),
    })


# --- endorsements --------------------------------------------------------------------


@bp.get("/endorsements")
def endorsements() -> Response:
    params = Params("code", "version", "status", "action", "country", "kind", *_PAGING)
    cat = catalog()
    code = params.choice("code", cat.codes_by_slug)
    known_versions = cat.versions(code)
    version = params.choice("version", known_versions)
    status = params.choice("status", ENDORSEMENT_STATUSES)
    action = params.integer("action", 1, MAX_ACTION)
    country, kind = params.choice("country", COUNTRIES), params.choice("kind", KINDS)

    def wanted(e: dict[str, Any]) -> bool:
        org = cat.orgs_by_slug.get(e["org"], {})
        return ((code is None or e["code"] == code) and (version is None or e["version"] == version)
                and (status is None or e["status"] == status)
                and (action is None or scope_covers(e["scope"], action))
                and (country is None or org.get("country") == country) and (kind is None or org.get("kind") == kind))

    return _json(cursor_page(params, "endorsement", cat.endorsements, endorsement_key, wanted, cat.endorsement_item))


# --- the log, state and statistics ----------------------------------------------------


@bp.get("/events")
def events() -> Response:
    params = Params("org", "code", "type", *_LOG_PAGING)
    cat = catalog()
    org = params.choice("org", cat.orgs_by_slug)
    code = params.choice("code", cat.codes_by_slug)
    types = params.choices("type", STATEMENT_TYPES)
    return _json(log_page(params, org=org, code=code, types=types))


@bp.get("/state")
def state() -> Response:
    Params()
    cat = catalog()
    return _state_response(cat.state_bytes, READ_CACHE)


@bp.get("/state/<index:size>")
def state_at(size: int) -> Response:
    Params()
    refresh()
    # A state at a size is a fold of that many leaves: it never changes.
    return _state_response(get_views().state_at(size).canonical(), IMMUTABLE)


@bp.get("/snapshots")
def snapshots() -> Response:
    Params()
    store = get_log().store
    base = get_settings().base_url
    items = []
    for size in store.snapshot_sizes():
        stored = store.snapshot(size)
        if stored is not None:
            items.append({"size": size, "state_hash": stored.state_hash, "published_at": stored.published_at,
                          "url": f"{base}/api/v1/snapshots/{size}"})
    response = jsonify({"items": items})
    response.headers["Cache-Control"] = READ_CACHE
    return response


@bp.get("/snapshots/latest")
def snapshot_latest() -> Response:
    Params()
    stored = get_log().store.snapshot()
    if stored is None:
        raise NotFoundError("no snapshot has been published yet")
    return _snapshot_response(stored.document, READ_CACHE)


@bp.get("/snapshots/<index:size>")
def snapshot_at(size: int) -> Response:
    Params()
    stored = get_log().store.snapshot(size)
    if stored is None:
        raise NotFoundError(f"no snapshot was published at size {size}")
    return _snapshot_response(stored.document, IMMUTABLE)


def _snapshot_response(document: bytes, cache_control: str) -> Response:
    # A signed document: served byte for byte as it was signed.
    response = Response(document, content_type="application/json")
    response.set_etag(hashlib.sha256(document).hexdigest())
    response.headers["Cache-Control"] = cache_control
    return response.make_conditional(request)


@bp.get("/stats/monthly")
def monthly() -> Response:
    Params()
    refresh()
    months: dict[str, dict[str, int]] = {}
    for month, type_, count in get_views().store.counts_by_month():
        months.setdefault(month, {})[type_] = count
    rows, endorsing = [], 0
    for month, counts in months.items():
        # made only when not active, withdrawn only when active: the difference is the active count.
        endorsing += counts.get("endorsement.made", 0) - counts.get("endorsement.withdrawn", 0)
        rows.append({"month": month, "total": sum(counts.values()), "by_type": counts,
                     "endorsing_at_end": endorsing})
    return _json({"months": rows, "types": sorted({t for c in months.values() for t in c})})


@bp.get("/openapi.json")
def openapi() -> Response:
    Params()
    response = jsonify(openapi_doc.document(get_settings().base_url))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- submission ----------------------------------------------------------------------


@bp.post("/statements")
def submit() -> Response:
    limited = ratelimit.check_submission()
    if limited is not None:
        return limited
    if request.mimetype not in ENVELOPE_TYPES:
        raise UnsupportedMediaType(f"send the DSSE envelope as {' or '.join(ENVELOPE_TYPES)}")
    # Reading the body enforces MAX_CONTENT_LENGTH (413) before anything is parsed.
    recorded = get_registry().submit(_body())
    _integrate()
    base = get_settings().base_url
    entry_url = f"{base}/api/v1/log/entries/{recorded.index}"
    body = {**recorded.to_json(), "receipt_url": f"{base}/api/v1/receipts/{recorded.index}", "entry_url": entry_url}
    response = jsonify(body)
    response.status_code = 200 if recorded.duplicate else 201
    response.headers["Location"] = entry_url
    response.headers["Cache-Control"] = "no-store"
    return response


def _body() -> bytes:
    """The request body, at most MAX_CONTENT_LENGTH bytes; a longer one is a 413, never parsed cut short."""
    data = request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    # With a Content-Length werkzeug refuses a long body up front. Without one (chunked), it stops reading
    # at the limit and returns what it has, silently: one byte more means the body was longer.
    if request.content_length is None and limit is not None and len(data) >= limit and request.input_stream.read(1):
        raise RequestEntityTooLarge()
    return data


def _integrate() -> None:
    """Bring the tree and the read models up to the new entry (cheap; exactly-once)."""
    try:
        refresh(force=True)
    except Exception:
        # The statement is durably recorded; every later read integrates it. Answering
        # an error now would make the client resubmit something that is already in.
        current_app.logger.warning("integration after a submission failed", exc_info=True)


# --- the catalog -----------------------------------------------------------------------


@dataclass
class Catalog:
    """The current state (one read-model size), indexed for the list views."""

    size: int
    state_bytes: bytes
    organizations: list[dict[str, Any]]
    codes: list[dict[str, Any]]
    endorsements: list[dict[str, Any]]
    orgs_by_slug: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes_by_slug: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_org: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def build(cls, view: StateView) -> Catalog:
        doc = view.doc
        return cls(view.size, view.canonical, doc["organizations"], doc["codes"], doc["endorsements"],
                   view.organizations, view.codes, view.keys, view.endorsements_of)

    def of_org(self, org: str) -> list[dict[str, Any]]:
        return self.by_org.get(org, [])

    def versions(self, code: str | None) -> list[str]:
        chosen = [self.codes_by_slug[code]] if code else self.codes
        return [v["version"] for c in chosen for v in c["versions"]]

    def org_item(self, org: dict[str, Any]) -> dict[str, Any]:
        mine = self.of_org(org["org"])
        return {
            **{k: v for k, v in org.items() if k not in ("keys", "reports")},
            "status": org_status(mine),
            "endorsements": [{**{k: e[k] for k in ("code", "status", "version", "scope", "attested", "effective_date")},
                              "effective_date_precision": date_precision(e["effective_date"])} for e in mine],
            "report_count": len(org["reports"]),
        }

    def endorsement_item(self, e: dict[str, Any]) -> dict[str, Any]:
        org = self.orgs_by_slug.get(e["org"], {})
        return {**e, "name": org.get("name"), "country": org.get("country"), "kind": org.get("kind"),
                # How precisely the sources date it: day, month, or unknown (effective_date null).
                "effective_date_precision": date_precision(e["effective_date"])}

    def code_summary(self, c: dict[str, Any]) -> dict[str, Any]:
        latest = c["versions"][-1] if c["versions"] else None
        return {
            "code": c["code"],
            "title": latest["title"] if latest else None,
            "latest_version": latest["version"] if latest else None,
            "versions": [{k: v[k] for k in ("version", "title", "issuer", "published_on", "supersedes", "index",
                                            "recorded_at")} | {"action_count": len(v["actions"])}
                         for v in c["versions"]],
            "endorsements": _status_counts(e for e in self.endorsements if e["code"] == c["code"]),
        }


def catalog() -> Catalog:
    """The catalog of the current read models (refreshed first), built once per size."""
    refresh()
    view = get_views().current()
    found: Catalog | None = current_app.extensions.get(_CATALOG)
    if found is None or found.size != view.size:
        found = Catalog.build(view)
        current_app.extensions[_CATALOG] = found
    return found


def org_status(endorsements: list[dict[str, Any]], code: str | None = None) -> str:
    """An organization's stance: endorsing (any active), else withdrawn, else declined, else none."""
    statuses = {e["status"] for e in endorsements if code is None or e["code"] == code}
    for status, shown in (("active", "endorsing"), ("withdrawn", "withdrawn"), ("declined", "declined")):
        if status in statuses:
            return shown
    return "none"


def scope_covers(scope: Any, action: int) -> bool:
    return scope == "all" or (isinstance(scope, list) and action in scope)


def endorsement_key(e: dict[str, Any]) -> tuple[str, ...]:
    # A tuple, as the state sorts them: "a-b/x" < "a/x" as strings but ("a", ...) < ("a-b", ...).
    return e["org"], e["code"]


def key_item(key: dict[str, Any]) -> dict[str, Any]:
    """A key with its validity: it signs from ``added_index`` on, until ``revoked_index`` (exclusive)."""
    return {**key, "active": key["revoked_index"] is None,
            "valid_from_index": key["added_index"], "valid_until_index": key["revoked_index"]}


def _status_counts(endorsements: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(e["status"] for e in endorsements)
    return {s: counts.get(s, 0) for s in ("active", "withdrawn", "declined")}


# --- paging ------------------------------------------------------------------------------


def cursor_page(params: Params, kind: str, items: list[dict[str, Any]], key: Callable[[dict[str, Any]], Key],
                wanted: Callable[[dict[str, Any]], bool],
                show: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` (sorted by ``key``) after the cursor, filtered by ``wanted``.

    Only the page (and one more match) is looked at past the cursor: a bisection, then a lazy filter.
    """
    limit = params.limit()
    after = params.cursor(kind)
    start = 0 if after is None else bisect.bisect_right(items, after, key=key)
    found = list(itertools.islice((i for i in items[start:] if wanted(i)), limit + 1))
    more = len(found) > limit
    page = found[:limit]
    return {"items": [show(i) for i in page], "next": encode_cursor(kind, key(page[-1])) if more else None}


def log_page(params: Params, **query: Any) -> dict[str, Any]:
    """One page of event documents, by index; ``next`` is the index to pass as ``after`` (or ``before``)."""
    limit = params.limit()
    descending = params.choice("order", ("asc", "desc")) == "desc"
    after, before = params.index("after"), params.index("before")
    found = get_views().events(after=-1 if after is None else after, before=before, limit=limit + 1,
                               descending=descending, **{k: v for k, v in query.items() if v})
    page = found[:limit]
    return {"items": page, "next": page[-1]["index"] if len(found) > limit else None}


def encode_cursor(kind: str, key: Key) -> str:
    """``base64url("<kind>:<slug>[/<slug>]")`` without padding: opaque to clients, stable across sizes."""
    return base64.urlsafe_b64encode(f"{kind}:{'/'.join(key)}".encode()).decode("ascii").rstrip("=")


def decode_cursor(kind: str, text: str) -> Key:
    """The key in a cursor of this kind; raises ValueError for anything :func:`encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor this API made") from None
    prefix, _, joined = raw.partition(":")
    key = tuple(joined.split("/"))
    if prefix != kind or not joined or encode_cursor(kind, key) != text:
        raise ValueError("not a cursor for this list") from None
    return key


class Params:
    """The request's query parameters, parsed strictly: only ``allowed`` names, each at most once."""

    def __init__(self, *allowed: str) -> None:
        for name in request.args:
            if name not in allowed:
                expected = ", ".join(allowed) or "none"
                raise InputError(f"unknown query parameter {name[:40]!r} (expected: {expected})")
            if len(request.args.getlist(name)) > 1:
                raise InputError(f"query parameter {name!r} is given more than once")

    @staticmethod
    def get(name: str) -> str | None:
        return request.args.get(name)

    def choice(self, name: str, choices: Iterable[str]) -> str | None:
        value = self.get(name)
        if value is not None and value not in choices:
            allowed = list(choices) if not isinstance(choices, dict | frozenset | set) else sorted(choices)
            shown = ", ".join(allowed[:12]) + (", …" if len(allowed) > 12 else "")
            raise InputError(f"query parameter {name!r}: unknown value {value[:80]!r} (known: {shown or 'none'})")
        return value

    def choices(self, name: str, choices: Iterable[str]) -> tuple[str, ...]:
        value = self.get(name)
        if value is None:
            return ()
        known = set(choices)
        parts = tuple(value.split(","))
        for part in parts:
            if part not in known:
                raise InputError(f"query parameter {name!r}: unknown value {part[:80]!r}")
        return parts

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            number = parse_index(value)
        except ValueError:
            number = -1
        if not low <= number <= high:
            raise InputError(f"query parameter {name!r} must be a whole number from {low} to {high}")
        return number

    def index(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return parse_index(value)
        except ValueError as e:
            raise InputError(f"query parameter {name!r}: {e}") from None

    def limit(self) -> int:
        found = self.integer("limit", 1, MAX_LIMIT)
        return DEFAULT_LIMIT if found is None else found

    def cursor(self, kind: str) -> Key | None:
        value = self.get("cursor")
        if value is None:
            return None
        try:
            return decode_cursor(kind, value)
        except ValueError as e:
            raise InputError(f"query parameter 'cursor': {e}") from None


# --- responses -----------------------------------------------------------------------------


def _json(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = READ_CACHE
    return response


def _state_response(data: bytes, cache_control: str) -> Response:
    # Canonical (RFC 8785) bytes as stored in snapshots; the ETag is the state hash.
    response = Response(data, content_type="application/json")
    response.set_etag(hashlib.sha256(data).hexdigest())
    response.headers["Cache-Control"] = cache_control
    return response.make_conditional(request)
