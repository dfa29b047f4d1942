"""From log entries to feed items: ids, words, links and hashes.

What it does: :func:`entry_id` is the one place a feed entry's ``tag:`` id is
made, so the same leaf has the same id in every feed, format and render. Ids
come from the log origin alone, which is fixed for the life of the registry,
never from the base URL: moving the site to another domain changes links, not
ids (docs/FORMATS.md section 17).
:func:`describe` words an event document as a title and a summary.
:class:`ItemBuilder` turns event documents (``ReadModels.events``) into
:class:`feeds.FeedItem` values: the statement as canonical JSON, the
``sha256:`` of the leaf bytes (kept in the event document by the read-model
projection), absolute links from the configured base URL, and organization
names as they stood when the entry was recorded.

Every piece of text taken from a statement (names, titles, headings,
reasons, statements, URLs) is wrapped in Unicode isolates with
:func:`feeds.isolate` before it is joined with the fixed words, so a
direction override in a name cannot reverse the rest of a title; the
statement JSON in an entry's content writes invisible and direction-changing
characters as ``\\uXXXX`` escapes instead, so it still parses to the signed
statement. Slugs, version ids, types and key ids are ASCII by the statement
schema and are not wrapped.

Names are taken as of each entry (the newest ``organization.registered`` or
``organization.updated`` with a name at or before it, and the newest revision
of a Code), not from the current state: an archive page must never change,
and a later rename must not rewrite the titles of old entries.

What it does not do: no HTTP, no caching, no paging (see ``feeds.documents``
and ``feeds.archive``); it never reads more than the entries it is given and
the name history of the organizations they mention, and never the event store.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from feeds.items import FeedItem
from feeds.text import NOT_XML, isolate, xml_text
from registry import canonical
from registry.statements import ABOUT_AN_ORGANIZATION, MAINTAINER, ORGANIZATION
from registry.terminal import safe_json
from registry.times import parse_time
from registry.wording import CodeNames, Names, claim_parts, date_words, provenance, secondary_only, uncertain

# The date in every tag: id; fixed forever (RFC 4151): the day the Hiroshima Code was published.
TAG_DATE = "2023-10-30"
# Part of every feed ETag: bump it whenever the wording below changes, so that caches and
# conditional requests do not keep the old words (archive pages are otherwise cached forever).
# 2: untrusted text in Unicode isolates; invisible characters escaped in the content.
# 3: maintainer key entries name the root key once; a report's period and URL only when the statement has them.
# 4: tag: ids take their authority from the origin, no longer from the base URL.
# 5: names, not slugs: Codes by their short titles, dates as precise as the sources, whose words each text is.
WORDS_VERSION = "5"
NAME_EVENTS = ("organization.registered", "organization.updated")
CODE_EVENTS = ("code.revision_published",)
# Rows per read of a name or Code history.
PAGE = 1000
TITLE_REASON_CHARS = 120
# Characters allowed unescaped in a tag: URI's specific part besides letters and digits (RFC 3986 pchar, "/").
_TAG_SAFE = "/:@!$&'()*,;=-._~"
# The tag: authority when the origin's host part is no DNS name (a port, an underscore, ...): fixed forever.
FALLBACK_AUTHORITY = "hcoc-registry.org"
# RFC 4151: DNSname = DNScomp *( "." DNScomp ), DNScomp = alphaNum [*(alphaNum / "-") alphaNum].
_DNS_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def tag_authority(origin: str) -> str:
    """The authority of every ``tag:`` id: the origin's host part, else :data:`FALLBACK_AUTHORITY`.

    The host part is the origin up to its first ``/``, lowercased, taken only when it is a DNS
    name as RFC 4151 defines one (ASCII letters, digits and inner hyphens, in dot-separated parts).
    """
    host = origin.split("/", 1)[0]
    # isascii first: str.lower() maps some non-ASCII letters (U+212A KELVIN SIGN) to ASCII ones.
    if host.isascii() and _DNS_NAME.fullmatch(host.lower()):
        return host.lower()
    return FALLBACK_AUTHORITY


def tag(origin: str, specific: str) -> str:
    """``tag:<authority>,2023-10-30:log/<origin>/<specific>``."""
    return f"tag:{tag_authority(origin)},{TAG_DATE}:log/{quote(origin, safe=_TAG_SAFE)}/{specific}"


def entry_id(origin: str, index: int) -> str:
    """The id of log entry ``index`` in every feed: ``tag:<authority>,2023-10-30:log/<origin>/entry/<index>``."""
    return tag(origin, f"entry/{index}")


def statement_text(statement: dict[str, Any]) -> str:
    """The canonical (RFC 8785) statement JSON as feed text.

    Characters XML cannot carry (statements may hold U+FFFE/U+FFFF) and
    invisible or direction-changing ones (category Cf: U+202E, U+2066, ...)
    can only sit inside JSON strings; there they are written as ``\\uXXXX``
    escapes, which parse to the same statement.
    """
    text = safe_json(canonical.dumps(statement).decode("utf-8"))
    return NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# --- words -------------------------------------------------------------------------------


def _short(text: str, limit: int = TITLE_REASON_CHARS) -> str:
    line = " ".join(text.split())
    return isolate(line if len(line) <= limit else line[: limit - 1].rstrip() + "…")


def _revision(s: dict[str, Any]) -> str:
    detail = f"Issued by {isolate(s['issuer'])}; {len(s['actions'])} {s.get('action_noun', 'action')}s; "
    detail += f"source {isolate(s['source_url'])}."
    if s.get("obligations"):
        detail += " Obligations: " + "; ".join(f"{isolate(o['what'])}, due {date_words(o['due'])}"
                                              for o in s["obligations"]) + "."
    return detail


def _registered(s: dict[str, Any]) -> str:
    return f"Slug {s['org']}; {len(s['public_keys'])} public key(s)."


def _updated(s: dict[str, Any]) -> str:
    changed = [f for f in PROFILE_CHANGES if f in s]
    return "New values: " + "; ".join(f"{f} {isolate(str(s[f]))}" for f in changed)


def _report(s: dict[str, Any]) -> str:
    return f"Report: {isolate(s['url'])}" if s.get("url") else "No address is given for the report."


PROFILE_CHANGES = ("name", "country", "kind", "website")
# What a summary says beyond its title, by type (a withdrawal's reason is said for every type that has one).
_DETAILS: dict[str, Callable[[dict[str, Any]], str]] = {
    "code.revision_published": _revision,
    "organization.registered": _registered,
    "organization.updated": _updated,
    "organization.key_added": lambda s: "The key may sign the organization's statements from this entry on.",
    "organization.key_revoked": lambda s: (f"Key {s['key_id'][:16]} signs nothing new; statements it signed "
                                           "before stay valid."),
    "maintainer.key_revoked": lambda s: f"Key {s['key_id'][:16]}.",
    "registry.genesis": lambda s: "The first entry of the log; it names the root key.",
    "report.published": _report,
}


def describe(doc: dict[str, Any], names: Names) -> tuple[str, str]:
    """The title and the summary of an event document, with ``names`` as they stood at the entry.

    The title is the registry's one sentence for the record (``registry.wording``); every piece
    taken from a statement is in Unicode isolates (:func:`feeds.isolate`).
    """
    s = {**doc["statement"], "type": doc["type"]}
    title = "".join(isolate(text) if user else text for text, user in claim_parts(s, names, doc.get("version")))
    if s.get("reason") and doc["type"] == "endorsement.withdrawn":
        title += f": {_short(s['reason'])}"
    role = doc.get("signer_role")
    attested = role == MAINTAINER and doc["type"] in ABOUT_AN_ORGANIZATION
    if attested:
        marks = ["attested by a maintainer"] + (["secondary sources"] if secondary_only(s.get("evidence")) else []) + (
            ["uncertain"] if uncertain(s) else [])
        title += f" ({', '.join(marks)})"
    parts = [_DETAILS[doc["type"]](s) if doc["type"] in _DETAILS else ""]
    if s.get("reason"):
        parts.append(f"Reason: {isolate(s['reason'])}")
    if s.get("statement"):
        whose = "The organization's statement, as quoted by a maintainer" if attested else "Statement"
        parts.append(f"{whose}: {isolate(s['statement'])}")
    if s.get("note"):
        parts.append(f"{'The maintainers’ summary of the sources' if attested else 'Note'}: {isolate(s['note'])}")
    if s.get("date_note"):
        parts.append(f"Uncertain date: {isolate(s['date_note'])}")
    if s.get("scope_note"):
        parts.append(f"Uncertain scope: {isolate(s['scope_note'])}")
    if attested:
        cited = ", ".join(isolate(e.get("url") or e["citation"]) for e in s.get("evidence", []))
        parts.append(f"{provenance(s, role).capitalize()} ({cited}).")
    elif role == ORGANIZATION:
        parts.append(f"Signed by the organization's own key {doc['signer'][:16]}.")
    else:
        parts.append(f"Signed by the registry {role} key {doc['signer'][:16]}.")
    return xml_text(title), xml_text(" ".join(p for p in parts if p))


# --- items -------------------------------------------------------------------------------


class EventSource(Protocol):
    """Where event documents come from: the read models (``registry.views.ReadModels``)."""

    def events(self, **query: Any) -> list[dict[str, Any]]: ...


class NameHistory:
    """Organization display names as of a log index, loaded once per organization.

    :meth:`load` reads the name histories of many organizations in one query: a feed page of 250 entries
    may name hundreds of organizations, and one query each made an archive page of a large log take
    seconds (each query walks every entry of its organization to find the few that name it).
    """

    # Organizations per query: well under the bound parameters every backend accepts.
    CHUNK = 500

    def __init__(self, views: EventSource) -> None:
        self.views = views
        self._history: dict[str, tuple[list[int], list[str]]] = {}

    def at(self, org: str, index: int) -> str | None:
        if org not in self._history:
            self.load([org])
        indexes, names = self._history[org]
        position = bisect.bisect_right(indexes, index)
        return names[position - 1] if position else None

    def load(self, orgs: Iterable[str]) -> None:
        """Read the histories of those of ``orgs`` not read yet, in as few queries as the chunks allow."""
        missing = sorted({org for org in orgs if org not in self._history})
        for start in range(0, len(missing), self.CHUNK):
            chunk = missing[start:start + self.CHUNK]
            found: dict[str, tuple[list[int], list[str]]] = {org: ([], []) for org in chunk}
            after = -1
            # Names change rarely (a handful of rows per organization), read in pages all the same.
            while batch := self.views.events(orgs=chunk, types=NAME_EVENTS, after=after, limit=PAGE):
                for doc in batch:
                    if "name" in doc["statement"] and doc["org"] in found:
                        indexes, names = found[doc["org"]]
                        indexes.append(doc["index"])
                        names.append(doc["statement"]["name"])
                if len(batch) < PAGE:
                    break
                after = batch[-1]["index"]
            self._history.update(found)


class CodeHistory:
    """Codes as named by their revisions published at or before a log index, loaded once per Code."""

    def __init__(self, views: EventSource) -> None:
        self.views = views
        self._history: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    def at(self, code: str, index: int) -> CodeNames | None:
        revisions = self._history.get(code)
        if revisions is None:
            revisions = self._history[code] = self._load(code)
        known = [stmt for at, stmt in revisions if at <= index]
        if not known:
            return None
        latest = known[-1]
        return CodeNames(code, latest["title"], latest.get("short_title") or latest["title"],
                         latest.get("action_noun") or "action", {v["version"]: v for v in known})

    def _load(self, code: str) -> list[tuple[int, dict[str, Any]]]:
        found: list[tuple[int, dict[str, Any]]] = []
        after = -1
        while batch := self.views.events(code=code, types=CODE_EVENTS, after=after, limit=PAGE):
            found += [(doc["index"], doc["statement"]) for doc in batch]
            if len(batch) < PAGE:
                break
            after = batch[-1]["index"]
        return found


class ItemBuilder:
    """Builds the feed items of event documents for one render."""

    def __init__(self, views: EventSource, base_url: str, origin: str) -> None:
        self.base = base_url
        self.origin = origin
        self.names = NameHistory(views)
        self.codes = CodeHistory(views)

    def items(self, docs: Sequence[dict[str, Any]]) -> tuple[FeedItem, ...]:
        """Items for ``docs`` (oldest first); the names they need are read up front, in one go."""
        self.names.load(doc["org"] for doc in docs if doc["org"])
        return tuple(self.item(doc) for doc in docs)

    def item(self, doc: dict[str, Any]) -> FeedItem:
        index, org, code = doc["index"], doc["org"], doc["code"]
        name = self.names.at(org, index) if org else None
        code_names = self.codes.at(code, index) if code else None
        names = Names({org: name} if org and name else {}, {code: code_names} if code and code_names else {})
        title, summary = describe(doc, names)
        base = self.base
        return FeedItem(
            index=index,
            entry_id=entry_id(self.origin, index),
            type=doc["type"],
            title=title,
            summary=summary,
            recorded_at=parse_time(doc["recorded_at"]),
            content=statement_text(doc["statement"]),
            event_hash="sha256:" + doc["leaf_sha256"],
            page_url=f"{base}/log/{index}",
            json_url=f"{base}/api/v1/log/entries/{index}",
            proof_url=f"{base}/api/v1/log/proofs/inclusion?index={index}",
            receipt_url=f"{base}/api/v1/receipts/{index}",
            org=org,
            org_name=xml_text(isolate(name)) if name else None,
            org_url=f"{base}/organizations/{org}" if org else None,
            code=code,
            code_title=xml_text(isolate(code_names.title)) if code_names else None,
            code_version=doc["version"],
            attested=bool(doc["attested"]),
        )
