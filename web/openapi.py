"""The OpenAPI 3.1 document of the registry's HTTP interface.

What it does: :func:`document` returns the description of every route of the
JSON API (``web.api``, ``web.obligations``), the transparency log (``web.log``: checkpoint, tiles,
entries, proofs, receipts, discovery) and the feeds (``web.feeds``), with
JSON Schema (2020-12) for every JSON response and problem+json for every
error. Parameters carry examples. The tests call every documented GET and
validate the answers against these schemas, and check that every route under
``/api/v1`` is documented here.

What it does not do: it does not describe the HTML pages (except
``/api/v1/``, this document shown as a page by ``web.apiref``), and it is
data only (no Flask): ``web.api`` serves it.
"""

from __future__ import annotations

from typing import Any

from registry import keyprovenance
from registry.statements import ACTION_NOUNS, KINDS, STATEMENT_TYPES

VERSION = "1.0.0"
Schema = dict[str, Any]
JSON = "application/json"
PROBLEM = "application/problem+json"
TEXT = "text/plain; charset=utf-8"
CSV = "text/csv; charset=utf-8"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, *, closed: bool = False) -> Schema:
    """An object schema: ``required`` properties must be present; ``closed`` forbids others."""
    schema: Schema = {"type": "object", "properties": {**required, **(optional or {})}, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer", "minimum": 0}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"}
DATE: Schema = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
# An effective date as precise as its sources: a day, or a month only (null when not stated at all).
DAY_OR_MONTH: Schema = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$"}
PRECISION: Schema = {"enum": ["day", "month", "unknown"]}
HEX64: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
B64: Schema = {"type": "string", "contentEncoding": "base64"}
URL: Schema = {"type": "string", "format": "uri"}
SLUG: Schema = {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"}
OPEN: Schema = {"type": "object"}
STATUS_COUNTS = obj({s: INT for s in ("active", "withdrawn", "declined")}, closed=True)
FEEDS = obj({"atom": URL, "rss": URL}, closed=True)
# The clock's polling interval: the most a new entry waits for a checkpoint should its wake-up be lost.
SECONDS: Schema = {"type": "number", "exclusiveMinimum": 0}
URL_TEMPLATE: Schema = {"type": "string", "pattern": "^https?://.*\\{index\\}$"}


def schemas() -> dict[str, Schema]:
    """The component schemas."""
    scope = {"anyOf": [{"const": "all"}, array({"type": "integer", "minimum": 1}), {"type": "null"}]}
    summary = obj({"code": SLUG, "status": ref("EndorsementStatus"), "version": nullable(STRING), "scope": scope,
                   "attested": BOOL, "effective_date": nullable(DAY_OR_MONTH), "effective_date_precision": PRECISION},
                  closed=True)
    version_summary = obj({"version": STRING, "title": STRING, "issuer": STRING, "published_on": DATE,
                           "supersedes": nullable(STRING), "index": INT, "recorded_at": TIME, "action_count": INT},
                          closed=True)
    action = obj({"number": {"type": "integer", "minimum": 1}, "heading": STRING}, {"name": STRING})
    code_version = obj({"version": STRING, "title": STRING, "issuer": STRING, "published_on": DATE,
                        "source_url": URL, "supersedes": nullable(STRING), "actions": array(action), "index": INT,
                        "recorded_at": TIME},
                       {"text_sha256": HEX64, "summary_of_changes": STRING, "note": STRING, "short_title": STRING,
                        "action_noun": {"enum": list(ACTION_NOUNS)}, "obligations": array(OPEN)})
    organization = obj({
        "org": SLUG, "name": STRING, "country": nullable(STRING), "kind": {"enum": list(KINDS)},
        "website": nullable(URL),
        "note": nullable(STRING), "evidence": nullable(array(OPEN)), "registered_index": INT, "registered_at": TIME,
        "flags": obj({"keys_all_revoked": BOOL}), "status": {"enum": ["endorsing", "withdrawn", "declined", "none"]},
        "endorsements": array(summary), "report_count": INT,
    })
    key = obj({
        "key_id": HEX64, "public_key": B64, "role": {"enum": ["root", "maintainer", "organization"]},
        "org": nullable(SLUG), "label": STRING, "added_index": INT, "added_at": TIME, "revoked_index": nullable(INT),
        "revoked_at": nullable(TIME), "revoked_reason": nullable(STRING), "active": BOOL, "valid_from_index": INT,
        "valid_until_index": nullable(INT),
    })
    # How the key was shown to be the organization's (registry.keyprovenance): the strongest of four ways.
    proof = obj({"key_id": HEX64, "url": URL, "fetched_at": TIME, "sha256": HEX64}, closed=True)
    provenance = obj({
        "method": {"enum": list(keyprovenance.METHODS)}, "words": STRING,
        "added_by": nullable({"enum": ["organization", "maintainer"]}), "proof": nullable(proof),
        "evidence": array(OPEN),
    }, closed=True)
    endorsement = obj({
        "org": SLUG, "code": SLUG, "status": ref("EndorsementStatus"), "version": nullable(STRING), "scope": scope,
        "statement": nullable(STRING), "effective_date": nullable(DAY_OR_MONTH), "attested": BOOL,
        "since_index": nullable(INT), "endorsed_on": nullable(DAY_OR_MONTH), "last": nullable(OPEN),
        "flags": obj({"superseded_version": BOOL}), "name": nullable(STRING), "country": nullable(STRING),
        "kind": nullable(STRING), "effective_date_precision": PRECISION,
    })
    event = obj({
        "index": INT, "type": {"enum": list(STATEMENT_TYPES)}, "org": nullable(SLUG), "code": nullable(SLUG),
        "version": nullable(STRING), "attested": BOOL, "signer": HEX64,
        "signer_role": {"enum": ["root", "maintainer", "organization"]}, "recorded_at": TIME, "signed_at": TIME,
        "envelope_hash": HEX64, "leaf_sha256": HEX64,
        "statement": obj({"type": STRING, "registry": STRING, "signed_at": TIME}),
    }, closed=True)
    code_summary = obj({"code": SLUG, "title": nullable(STRING), "latest_version": nullable(STRING),
                        "versions": array(version_summary), "endorsements": STATUS_COUNTS})
    return {
        "Problem": obj({"type": URL, "title": STRING, "status": {"type": "integer", "minimum": 400}, "detail": STRING}),
        "EndorsementStatus": {"enum": ["active", "withdrawn", "declined", "none"]},
        "Event": event,
        "EventPage": obj({"items": array(ref("Event")), "next": nullable(INT)}, closed=True),
        "Organization": organization,
        "OrganizationPage": obj({"items": array(ref("Organization")), "next": nullable(STRING)}, closed=True),
        "OrganizationDetail": {"allOf": [ref("Organization"), obj({
            "keys": array(ref("OrganizationKey")), "reports": array(OPEN), "timeline": ref("EventPage"),
            "feeds": FEEDS})]},
        "Key": key,
        "OrganizationKey": {"allOf": [ref("Key"), obj({"provenance": ref("KeyProvenance")})]},
        "KeyProvenance": provenance,
        "Endorsement": endorsement,
        "EndorsementPage": obj({"items": array(ref("Endorsement")), "next": nullable(STRING)}, closed=True),
        "CodeSummary": code_summary,
        "CodePage": obj({"items": array(ref("CodeSummary")), "next": nullable(STRING)}, closed=True),
        "Code": obj({"code": SLUG, "title": nullable(STRING), "latest_version": nullable(STRING),
                     "versions": array(code_version), "endorsements": STATUS_COUNTS, "feeds": FEEDS}),
        "CodeVersion": {"allOf": [code_version, obj({
            "code": SLUG, "latest": BOOL, "superseded_by": nullable(STRING), "endorsements": STATUS_COUNTS,
            "actions": array(obj({"number": INT, "heading": STRING, "endorsed_by": INT}))})]},
        "State": obj({"format": {"const": "hcoc-registry/state/v2"}, "origin": nullable(STRING), "size": INT,
                      "registry": nullable(OPEN), "keys": array(OPEN), "codes": array(OPEN),
                      "organizations": array(OPEN), "endorsements": array(OPEN),
                      "latest_signed": array(obj({"entity": STRING, "signed_at": TIME, "statements": OPEN},
                                                 closed=True))}, closed=True),
        "SnapshotDocument": obj({"checkpoint": STRING, "format": {"const": "hcoc-registry/snapshot-document/v1"},
                                 "note": STRING, "state": ref("State")}, closed=True),
        "SnapshotList": obj({"items": array(obj({"size": INT, "state_hash": HEX64, "published_at": TIME,
                                                  "url": URL}, closed=True))}, closed=True),
        "MonthlyStats": obj({
            "months": array(obj({"month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "total": INT,
                                 "by_type": {"type": "object", "additionalProperties": INT},
                                 "endorsing_at_end": {"type": "integer"}}, closed=True)),
            "types": array(STRING)}, closed=True),
        "Envelope": obj({"payload": B64, "payloadType": {"const": "application/vnd.hcoc-registry.statement+json"},
                         "signatures": array(obj({"keyid": HEX64, "sig": B64}))}),
        "Submitted": obj({"index": INT, "envelope_hash": HEX64, "statement_hash": HEX64, "recorded_at": TIME,
                          "type": STRING,
                          "duplicate": BOOL, "receipt_url": URL, "entry_url": URL,
                          "checkpoint_expected_within_seconds": SECONDS}, closed=True),
        "LogEntry": obj({"envelope": ref("Envelope"), "format": {"const": "hcoc-registry/leaf/v1"},
                         "recorded_at": TIME}, closed=True),
        "InclusionProof": obj({"index": INT, "tree_size": INT, "leaf_hash": B64, "hashes": array(B64),
                               "root_hash": B64}, closed=True),
        "ConsistencyProof": obj({"from": INT, "to": INT, "hashes": array(B64), "from_root": B64, "to_root": B64},
                                closed=True),
        "Discovery": obj({"version": INT, "origin": STRING, "log_key": STRING, "base_url": URL, "checkpoint": URL,
                          "tiles": URL, "api": URL, "feeds": FEEDS, "openapi": URL, "statements": URL,
                          "receipts": URL_TEMPLATE, "checkpoint_expected_within_seconds": SECONDS,
                          "witnesses": array(obj({"url": URL, "verifier_key": STRING}, closed=True)),
                          "witness_quorum": INT}),
        "OpenAPI": obj({"openapi": STRING, "info": OPEN, "paths": OPEN}),
    }


# --- parameters ------------------------------------------------------------------------------


def param(name: str, where: str, schema: Schema, example: Any, description: str, *,
          required: bool = False) -> Schema:
    found = {"name": name, "in": where, "required": required or where == "path", "schema": schema,
             "description": description}
    if example is not None:
        found["example"] = example
    return found


def path_param(name: str, schema: Schema, example: Any, description: str) -> Schema:
    return param(name, "path", schema, example, description)


LIMIT = param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, 50,
              "Page size.")
CURSOR = param("cursor", "query", STRING, None, "The `next` of the previous page (opaque).")
AFTER = param("after", "query", INT, 0, "Only entries with a larger index (ascending pages: the previous `next`).")
BEFORE = param("before", "query", INT, 10, "Only entries with a smaller index (descending pages: the previous `next`).")
ORDER = param("order", "query", {"enum": ["asc", "desc"], "default": "asc"}, "asc", "Oldest or newest first.")
COUNTRY = param("country", "query", {"type": "string", "pattern": "^[A-Z]{2}$"}, "JP", "ISO 3166-1 alpha-2.")
KIND = param("kind", "query", {"enum": list(KINDS)}, "company", "Kind of organization.")
SLUG_PARAM = path_param("slug", SLUG, "acme", "A slug.")
LOG_PAGING = [AFTER, BEFORE, LIMIT, ORDER]
CURSOR_PAGING = [LIMIT, CURSOR]


# --- operations -----------------------------------------------------------------------------


def content(media_type: str, schema: Schema) -> Schema:
    return {media_type: {"schema": schema}}


def problem(description: str) -> Schema:
    return {"description": description, "content": content(PROBLEM, ref("Problem"))}


def ok(schema: Schema, description: str = "OK", media_type: str = JSON) -> Schema:
    return {"description": description, "content": content(media_type, schema)}


def get(summary: str, tag: str, response: Schema, parameters: list[Schema] | None = None,
        errors: tuple[int, ...] = (400,), extra: dict[str, Schema] | None = None) -> Schema:
    """A GET operation: 200 ``response`` plus problem+json for each status in ``errors``."""
    responses: dict[str, Schema] = {"200": response, **(extra or {})}
    for status in errors:
        responses[str(status)] = problem({400: "Bad parameters", 404: "Not found"}.get(status, "Error"))
    return {"get": {"summary": summary, "tags": [tag], "parameters": parameters or [], "responses": responses}}


def feed(summary: str, parameters: list[Schema], media_type: str, immutable: bool = False,
         errors: tuple[int, ...] = ()) -> Schema:
    headers = {"ETag": {"schema": STRING}, "Last-Modified": {"schema": STRING},
               "Cache-Control": {"schema": {"const": "public, max-age=31536000, immutable" if immutable
                                            else "public, max-age=300"}}}
    operation = get(summary, "feeds", {"description": "The feed document", "headers": headers,
                                       "content": content(media_type, STRING)},
                    parameters, errors=errors, extra={"304": {"description": "Not modified (If-None-Match or "
                                                                             "If-Modified-Since matched)"}})
    return operation


def api_paths() -> dict[str, Schema]:
    org_filters = [COUNTRY, KIND,
                   param("status", "query", {"enum": ["endorsing", "withdrawn", "declined", "none"]}, "endorsing",
                         "The organization's stance (for `code` if given, else across Codes)."),
                   param("code", "query", SLUG, "hiroshima-coc", "Only organizations with a record for this Code.")]
    endorsement_filters = [
        param("code", "query", SLUG, "hiroshima-coc", "Code slug."),
        param("version", "query", STRING, "2023-10-30", "Code version id."),
        param("status", "query", ref("EndorsementStatus"), "active", "Endorsement status."),
        param("action", "query", {"type": "integer", "minimum": 1, "maximum": 100}, 1,
              "Only scopes that cover this action number (scope `all` covers every action)."),
        COUNTRY, KIND]
    event_filters = [param("org", "query", SLUG, "acme", "Organization slug."),
                     param("code", "query", SLUG, "hiroshima-coc", "Code slug."),
                     param("type", "query", STRING, "endorsement.made",
                           "Statement type(s), comma-separated: " + ", ".join(STATEMENT_TYPES) + ".")]
    version_param = path_param("version", STRING, "2023-10-30", "Code version id.")
    return {
        "/api/v1/organizations": get("Organizations, filtered, by slug", "registry", ok(ref("OrganizationPage")),
                                     [*org_filters, *CURSOR_PAGING]),
        "/api/v1/organizations/{slug}": get(
            "An organization: profile, keys with validity and how each was proved, reports, endorsements, timeline",
            "registry",
            ok(ref("OrganizationDetail")), [SLUG_PARAM, *LOG_PAGING], errors=(400, 404)),
        "/api/v1/codes": get("Codes of conduct", "registry", ok(ref("CodePage")), CURSOR_PAGING),
        "/api/v1/codes/{slug}": get("A Code and all its versions", "registry", ok(ref("Code")), [SLUG_PARAM],
                                    errors=(400, 404)),
        "/api/v1/codes/{slug}/{version}": get("One version of a Code, with its actions", "registry",
                                              ok(ref("CodeVersion")), [SLUG_PARAM, version_param], errors=(400, 404)),
        "/api/v1/endorsements": get("Endorsements, filtered, by (organization, Code)", "registry",
                                    ok(ref("EndorsementPage")), [*endorsement_filters, *CURSOR_PAGING]),
        "/api/v1/events": get("Log entries as event documents", "log", ok(ref("EventPage")),
                              [*event_filters, *LOG_PAGING]),
        "/api/v1/state": get("The current canonical state (RFC 8785 bytes; ETag = its SHA-256)", "registry",
                             ok(ref("State"))),
        "/api/v1/state/{size}": get("The canonical state after `size` leaves (immutable)", "registry",
                                    ok(ref("State")), [path_param("size", INT, 1, "Tree size.")], errors=(400, 404)),
        "/api/v1/snapshots": get("Every published signed snapshot (size, state hash, when)", "log",
                                 ok(ref("SnapshotList"))),
        "/api/v1/snapshots/latest": get("The latest signed snapshot document", "log", ok(ref("SnapshotDocument")),
                                        errors=(404,)),
        "/api/v1/snapshots/{size}": get("The signed snapshot document at a tree size (immutable)", "log",
                                        ok(ref("SnapshotDocument")),
                                        [path_param("size", INT, 1, "Tree size.")], errors=(400, 404)),
        "/api/v1/stats/monthly": get("Entries per month and type; active endorsements at each month's end",
                                     "registry", ok(ref("MonthlyStats"))),
        "/api/v1/openapi.json": get("This document", "meta", ok(ref("OpenAPI"))),
        "/api/v1/": get("This document as an HTML page, for people", "meta",
                        ok(STRING, media_type="text/html; charset=utf-8"), errors=()),
        "/api/v1/statements": {"post": {
            "summary": "Submit a signed statement (a DSSE envelope)",
            "tags": ["submission"],
            "requestBody": {"required": True, "content": {
                JSON: {"schema": ref("Envelope")},
                "application/vnd.hcoc-registry.envelope+json": {"schema": ref("Envelope")}}},
            "responses": {
                "201": {"description": "Recorded", "headers": {"Location": {"schema": URL}},
                        "content": content(JSON, ref("Submitted"))},
                "200": {"description": "Already recorded (duplicate: true)",
                        "content": content(JSON, ref("Submitted"))},
                **{str(s): problem(d) for s, d in (
                    (400, "Malformed envelope or statement"), (401, "Bad signature or unknown key"),
                    (403, "Revoked key or signer not allowed"), (404, "Unknown organization, Code or version"),
                    (409, "Breaks a registry rule"), (413, "Body too large"), (415, "Wrong content type"),
                    (422, "Invalid statement, wrong registry or stale signed_at"),
                    (429, "Rate limited (see Retry-After)"),
                    (503, "Store busy, or the log halted at an entry that failed its checks (see Retry-After)"))},
            },
        }},
    }


# A tile index is written in groups of three digits, every group but the last prefixed with "x"
# (x001/x234/067), and a partial tile adds ".p/<width>". A path template matches one segment per
# parameter, so each number of groups (an index below 2**64 has at most seven) is a path of its own.
TILE_GROUPS = 7
# OpenAPI 3.1 (section 4.8.14.3): bytes that are not text have no schema beyond their media type.
BINARY: Schema = {}
TILE_GROUP = {"type": "string", "pattern": "^[0-9]{3}$"}
TILE_WIDTH = {"type": "integer", "minimum": 1, "maximum": 255}


def tile_paths(prefix: str, summary: str, before: list[Schema]) -> dict[str, Schema]:
    """Every path shape of a tile under ``prefix``: 1 to 7 index groups, full or partial."""
    found: dict[str, Schema] = {}
    for groups in range(1, TILE_GROUPS + 1):
        names = [f"i{g}" for g in range(groups)]
        segments = "/".join(("x{%s}" if g < groups - 1 else "{%s}") % n for g, n in enumerate(names))
        digits = [path_param(n, TILE_GROUP, "000", f"Digits {3 * g + 1} to {3 * g + 3} of the tile index, "
                                                   f"in groups of three (C2SP tlog-tiles).")
                  for g, n in enumerate(names)]
        for partial in (False, True):
            width = [path_param("width", TILE_WIDTH, 5, "Entries in a partial tile.")] if partial else []
            found[f"{prefix}/{segments}" + (".p/{width}" if partial else "")] = get(
                summary + (" (partial)" if partial else ""), "log",
                ok(BINARY, media_type="application/octet-stream"), [*before, *digits, *width], errors=(400, 404))
    return found


def log_paths() -> dict[str, Schema]:
    index = path_param("index", INT, 0, "Leaf index.")
    size = param("size", "query", INT, 1, "Tree size (default: the latest checkpoint's).")
    return {
        "/checkpoint": get("The latest signed checkpoint (C2SP signed note)", "log", ok(STRING, media_type=TEXT),
                           errors=(404,)),
        **tile_paths("/tile/{level}", "A Merkle tile (C2SP tlog-tiles)",
                     [path_param("level", {"type": "integer", "minimum": 0, "maximum": 63}, 0, "Tile level.")]),
        **tile_paths("/tile/entries", "An entry bundle (C2SP tlog-tiles); gzip-compressed when the client accepts "
                                      "it", []),
        "/evidence/{sha256}": get(
            "An archived evidence document, by the SHA-256 of its bytes (docs/FORMATS.md section 25)", "log",
            ok(BINARY, media_type="*/*"),
            [path_param("sha256", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "ab" * 32, "Its SHA-256 (hex).")],
            errors=(400, 404)),
        "/api/v1/log/entries/{index}": get("One leaf (canonical JSON)", "log", ok(ref("LogEntry")), [index],
                                           errors=(400, 404)),
        "/api/v1/log/proofs/inclusion": get(
            "RFC 9162 inclusion proof", "log", ok(ref("InclusionProof")),
            [param("index", "query", INT, 0, "Leaf index.", required=True), size], errors=(400, 404)),
        "/api/v1/log/proofs/consistency": get(
            "RFC 9162 consistency proof", "log", ok(ref("ConsistencyProof")),
            [param("from", "query", INT, 1, "Older tree size.", required=True),
             param("to", "query", INT, 2, "Newer tree size (default: the latest checkpoint's).")],
            errors=(400, 404)),
        "/api/v1/receipts/{index}": get(
            "C2SP tlog-proof@v1 receipt", "log", ok(STRING, media_type=TEXT), [index, size], errors=(400,),
            extra={"404": {**problem("No such leaf or checkpoint (`not-found`), or the leaf is in the log but no "
                                     "checkpoint covers it yet (`not-yet-covered`, with Retry-After: ask again)"),
                           "headers": {"Retry-After": {"schema": INT, "description": "Seconds; only with "
                                                                                    "`not-yet-covered`"}}}}),
        "/.well-known/hcoc-registry.json": get("Discovery: origin, log key, API and feed locations", "meta",
                                               ok(ref("Discovery")), errors=()),
    }


def feed_paths() -> dict[str, Schema]:
    paths: dict[str, Schema] = {}
    for ext, media_type in (("atom", "application/atom+xml"), ("rss", "application/rss+xml")):
        k = path_param("k", INT, 0, "Archive page number (complete pages only).")
        slug = path_param("slug", SLUG, "acme", "A slug.")
        type_ = path_param("type", {"enum": list(STATEMENT_TYPES)}, "endorsement.withdrawn", "Statement type.")
        paths[f"/feeds/events.{ext}"] = feed("Subscription feed of every log entry (RFC 5005)", [], media_type)
        paths[f"/feeds/events/archive/{{k}}.{ext}"] = feed("RFC 5005 archive page", [k], media_type,
                                                           immutable=True, errors=(404,))
        paths[f"/feeds/organizations/{{slug}}.{ext}"] = feed("An organization's newest 100 entries", [slug],
                                                             media_type, errors=(404,))
        paths[f"/feeds/codes/{{slug}}.{ext}"] = feed("A Code's newest 100 entries", [slug], media_type,
                                                     errors=(404,))
        paths[f"/feeds/types/{{type}}.{ext}"] = feed("The newest 100 entries of one type", [type_], media_type,
                                                     errors=(404,))
    return paths


TAGS = (
    ("registry", "The registry's state, read from the log: organizations, Codes, endorsements, states at any size."),
    ("log", "The transparency log: checkpoints, tiles, entries, proofs, receipts, events and signed snapshots."),
    ("feeds", "Atom and RSS feeds of the log's entries; the full log through RFC 5005 archive pages."),
    ("submission", "Recording a signed statement."),
    ("meta", "This description of the interface, and the discovery document."),
)


# --- stances and obligations --------------------------------------------------------------------

AS_OF = param("as_of", "query", DATE, "2025-03-01", "Judge as of this day (default: today, UTC).")


def standing_schemas() -> dict[str, Schema]:
    """Obligations with their verdicts (``web.obligations``), and the stance downloads (``web.downloads``)."""
    report = obj({"index": INT, "published_on": nullable(STRING), "url": nullable(URL),
                  "secondary_sources_only": BOOL}, closed=True)
    verdict = obj({"org": SLUG, "name": STRING, "status": {"enum": ["met", "missed", "pending", "undetermined"]},
                   "reason": STRING, "report": nullable(report)}, closed=True)
    obligation = obj({"version": STRING, "id": SLUG, "what": STRING, "due": DATE, "met_by": STRING,
                      "note": nullable(STRING), "evidence": array(OPEN),
                      "counts": obj({s: INT for s in ("met", "missed", "pending", "undetermined")}, closed=True),
                      "verdicts": array(verdict)}, closed=True)
    day_or_month = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$"}
    stance = obj({
        "org": SLUG, "org_name": STRING, "country": nullable({"type": "string", "pattern": "^[A-Z]{2}$"}),
        "country_name": nullable(STRING), "kind": {"enum": list(KINDS)}, "code": SLUG, "code_title": STRING,
        "status": {"enum": ["endorsed", "partial", "declined", "withdrawn", "reported", "none"]},
        "scope": {"anyOf": [{"const": "all"}, array({"type": "integer", "minimum": 1}), {"type": "null"}]},
        "scope_words": nullable(STRING), "removed": array({"type": "integer", "minimum": 1}),
        "version": nullable(STRING), "effective_date": nullable(day_or_month),
        "date_precision": {"enum": ["day", "month", "unknown"]}, "index": nullable(INT),
        "checkpoint_size": nullable(INT), "attested": BOOL, "secondary_sources_only": BOOL, "uncertain": BOOL,
    }, closed=True)
    checkpoint = obj({"size": INT, "root_hash": B64, "published_at": TIME, "note": STRING}, closed=True)
    return {
        "Obligations": obj({"code": SLUG, "as_of": DATE, "size": INT, "obligations": array(obligation)},
                           closed=True),
        "Stances": obj({"format": {"const": "hcoc-registry/stances/v1"}, "origin": nullable(STRING), "size": INT,
                        "checkpoint": nullable(checkpoint), "stances": array(stance)}, closed=True),
    }


def standing_paths() -> dict[str, Schema]:
    return {
        "/api/v1/codes/{slug}/obligations": get(
            "A Code's obligations, and every bound organization's verdict (met, missed, pending, undetermined) "
            "as of a day", "registry", ok(ref("Obligations")), [SLUG_PARAM, AS_OF], errors=(400, 404)),
        "/api/v1/stances": get(
            "Every organization's current stance on every Code (one row per pair), with the checkpoint",
            "registry", ok(ref("Stances"))),
        "/api/v1/stances.csv": get(
            "The same rows as CSV, as an attachment (docs/FORMATS.md section 20)", "registry",
            {"description": "CSV with a header row", "content": content(CSV, STRING),
             "headers": {"Content-Disposition": {"schema": STRING, "required": True}}}),
        **{f"/feeds/obligations.{ext}": feed(
            "One entry per obligation whose due date has come, with every bound organization's verdict", [],
            media_type) for ext, media_type in (("atom", "application/atom+xml"), ("rss", "application/rss+xml"))},
    }


def document(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with ``base_url`` as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HCoC registry",
            "version": VERSION,
            "description": "The public, verifiable registry of endorsements of AI codes of conduct: read models, "
                           "the transparency log, feeds, and the submission endpoint. Errors are RFC 9457 "
                           "problem+json. Entity lists page with `cursor`; log lists with `after`/`before`.",
        },
        "servers": [{"url": base_url}],
        "tags": [{"name": name, "description": description} for name, description in TAGS],
        "paths": {**api_paths(), **standing_paths(), **log_paths(), **feed_paths()},
        "components": {"schemas": {**schemas(), **standing_schemas()}},
    }
