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
``organization.updated`` with a name at or before it), not from the current
state: an archive page must never change, and a later rename must not
rewrite the titles of old entries.

What it does not do: no HTTP, no caching, no paging (see ``feeds.documents``
and ``feeds.archive``); it never reads more than the entries it is given and
the name history of the organizations they mention, and never the event store.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from feeds.items import FeedItem
from feeds.text import NOT_XML, isolate, xml_text
from registry import canonical
from registry.statements import ABOUT_AN_ORGANIZATION, MAINTAINER, ORGANIZATION, scope_words
from registry.terminal import safe_json
from registry.times import parse_time

# The date in every tag: id; fixed forever (RFC 4151): the day the Hiroshima Code was published.
TAG_DATE = "2023-10-30"
# Part of every feed ETag: bump it whenever the wording below changes, so that caches and
# conditional requests do not keep the old words (archive pages are otherwise cached forever).
# 2: untrusted text in Unicode isolates; invisible characters escaped in the content.
# 3: maintainer key entries name the root key once; a report's period and URL only when the statement has them.
# 4: tag: ids take their authority from the origin, no longer from the base URL.
WORDS_VERSION = "4"
NAME_EVENTS = ("organization.registered", "organization.updated")
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


Words = tuple[str, str]  # (title, detail)


def _made(who: str, s: dict[str, Any], version: str | None) -> Words:
    return f"{who} endorsed {s['code']} {version} ({scope_words(s['scope'])})", f"Effective {s['effective_date']}."


def _amended(who: str, s: dict[str, Any], version: str | None) -> Words:
    change = f"now {scope_words(s['scope'])}" if "scope" in s else "statement changed"
    return f"{who} amended its endorsement of {s['code']}: {change}", f"Effective {s['effective_date']}."


def _reaffirmed(who: str, s: dict[str, Any], version: str | None) -> Words:
    title = f"{who} reaffirmed its endorsement of {s['code']}, now version {version}"
    if "scope" in s:
        title += f" ({scope_words(s['scope'])})"
    return title, f"Effective {s['effective_date']}."


def _withdrawn(who: str, s: dict[str, Any], version: str | None) -> Words:
    return (f"{who} withdrew its endorsement of {s['code']}: {_short(s['reason'])}",
            f"Effective {s['effective_date']}. Reason: {isolate(s['reason'])}")


def _declined(who: str, s: dict[str, Any], version: str | None) -> Words:
    return f"{who} declined to endorse {s['code']} {version}", f"Effective {s['effective_date']}."


def _report(who: str, s: dict[str, Any], version: str | None) -> Words:
    # period and url may be absent: say nothing about what the statement does not say.
    about = f"{s['framework']}, period {isolate(s['period'])}" if s.get("period") else s["framework"]
    return (f"{who} published a report under {s['code']} ({about})",
            f"Report: {isolate(s['url'])}" if s.get("url") else "")


def _revision(who: str, s: dict[str, Any], version: str | None) -> Words:
    detail = (f"Issued by {isolate(s['issuer'])} on {s['published_on']}; {len(s['actions'])} actions; "
              f"source {isolate(s['source_url'])}.")
    if s.get("supersedes"):
        detail += f" Supersedes {s['supersedes']}."
    return f"{s['code']} {version} published: {isolate(s['title'])}", detail


def _registered(who: str, s: dict[str, Any], version: str | None) -> Words:
    return f"{who} registered ({s['country']}, {s['kind']})", f"Slug {s['org']}; {len(s['public_keys'])} public key(s)."


def _updated(who: str, s: dict[str, Any], version: str | None) -> Words:
    changed = [f for f in PROFILE_CHANGES if f in s]
    return (f"{who} updated its profile ({', '.join(changed)})",
            "New values: " + "; ".join(f"{f} {isolate(s[f])}" for f in changed))


def _org_key_added(who: str, s: dict[str, Any], version: str | None) -> Words:
    return f"{who} added a signing key", "The key may sign the organization's statements from this entry on."


def _org_key_revoked(who: str, s: dict[str, Any], version: str | None) -> Words:
    return (f"{who} revoked signing key {s['key_id'][:16]}",
            "Statements it signed before stay valid; it signs nothing new." + _reason(s))


# Who signed a maintainer key's entry is said once, by describe(), with the key id.
def _maintainer_added(who: str, s: dict[str, Any], version: str | None) -> Words:
    return f"Maintainer key added: {isolate(s['name'])}", ""


def _maintainer_revoked(who: str, s: dict[str, Any], version: str | None) -> Words:
    return f"Maintainer key {s['key_id'][:16]} revoked", _reason(s).strip()


def _genesis(who: str, s: dict[str, Any], version: str | None) -> Words:
    return f"Registry founded: {isolate(s['name'])}", "The first entry of the log; it names the root key."


def _reason(s: dict[str, Any]) -> str:
    return f" Reason: {isolate(s['reason'])}" if s.get("reason") else ""


PROFILE_CHANGES = ("name", "country", "kind", "website")
_WORDS: dict[str, Callable[[str, dict[str, Any], str | None], Words]] = {
    "endorsement.made": _made,
    "endorsement.amended": _amended,
    "endorsement.reaffirmed": _reaffirmed,
    "endorsement.withdrawn": _withdrawn,
    "endorsement.declined": _declined,
    "report.published": _report,
    "code.revision_published": _revision,
    "organization.registered": _registered,
    "organization.updated": _updated,
    "organization.key_added": _org_key_added,
    "organization.key_revoked": _org_key_revoked,
    "maintainer.key_added": _maintainer_added,
    "maintainer.key_revoked": _maintainer_revoked,
    "registry.genesis": _genesis,
}


def describe(doc: dict[str, Any], name: str | None) -> tuple[str, str]:
    """The title and the summary of an event document; ``name`` is the organization's display name.

    Every piece taken from the statement is in Unicode isolates (:func:`feeds.isolate`).
    """
    s = doc["statement"]
    subject = name or s.get("org")
    who = isolate(subject) if subject else "An organization"
    words = _WORDS.get(doc["type"])
    # A type added later still gets a truthful, if plain, entry.
    title, detail = words(who, s, doc.get("version")) if words else (f"{doc['type']} recorded", "")
    role = doc.get("signer_role")
    if role == MAINTAINER and doc["type"] in ABOUT_AN_ORGANIZATION:
        title += " (attested by a maintainer)"
        evidence = ", ".join(isolate(e.get("url") or e["citation"]) for e in s.get("evidence", []))
        signed = f"Recorded by a registry maintainer from public sources ({evidence})."
    elif role == ORGANIZATION:
        signed = f"Signed by the organization's own key {doc['signer'][:16]}."
    else:
        signed = f"Signed by the registry {role} key {doc['signer'][:16]}."
    statement = s.get("statement")
    parts = [detail, f"Statement: {isolate(statement)}" if statement else "", signed]
    return xml_text(title), xml_text(" ".join(p for p in parts if p))


# --- items -------------------------------------------------------------------------------


class EventSource(Protocol):
    """Where event documents come from: the read models (``registry.views.ReadModels``)."""

    def events(self, **query: Any) -> list[dict[str, Any]]: ...


class NameHistory:
    """Organization display names as of a log index, loaded once per organization."""

    def __init__(self, views: EventSource) -> None:
        self.views = views
        self._history: dict[str, tuple[list[int], list[str]]] = {}

    def at(self, org: str, index: int) -> str | None:
        indexes, names = self._history.get(org) or self._load(org)
        position = bisect.bisect_right(indexes, index)
        return names[position - 1] if position else None

    def _load(self, org: str) -> tuple[list[int], list[str]]:
        indexes: list[int] = []
        names: list[str] = []
        after = -1
        # An organization's name changes rarely: a handful of rows, read in pages all the same.
        while batch := self.views.events(org=org, types=NAME_EVENTS, after=after, limit=100):
            for doc in batch:
                if "name" in doc["statement"]:
                    indexes.append(doc["index"])
                    names.append(doc["statement"]["name"])
            after = batch[-1]["index"]
        self._history[org] = (indexes, names)
        return indexes, names


class ItemBuilder:
    """Builds the feed items of event documents for one render."""

    def __init__(self, views: EventSource, base_url: str, origin: str) -> None:
        self.base = base_url
        self.origin = origin
        self.names = NameHistory(views)

    def items(self, docs: Sequence[dict[str, Any]]) -> tuple[FeedItem, ...]:
        """Items for ``docs`` (oldest first)."""
        return tuple(self.item(doc) for doc in docs)

    def item(self, doc: dict[str, Any]) -> FeedItem:
        index, org = doc["index"], doc["org"]
        name = self.names.at(org, index) if org else None
        title, summary = describe(doc, name)
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
            code=doc["code"],
            code_version=doc["version"],
            attested=bool(doc["attested"]),
        )
