"""Key-proof files: an organization's word, on its own website's host, that a key is its own.

An organization shows that a key it gives the registry is its own by
publishing the key's id at ``https://<its website host>/.well-known/hcoc-registry-keys``
(docs/FORMATS.md section 21). Only someone who runs that host can put a file
there, so anyone can check the claim from outside, at any time.

What it does: :func:`parse_key_file` reads such a file strictly (unknown
members, wrong types, too many entries, malformed ids are refused, naming the
member), :func:`format_key_file` writes one, :func:`well_known_url` says where
a website's file is, and :func:`check` decides, for a fetched file, which of
the given keys it proves for an organization of a registry, and gives the
``key_proofs`` entries a statement records as evidence (:class:`Fetched` is
what the fetch saw: the URL, the time, the SHA-256 of the body).

What it does not do: fetch anything. Fetching is the command line's
(``scripts/keyfetch.py``: bounded, HTTPS only) and never the web process's.
It does not judge the statements that record proofs (``registry.statements``)
or say how each key of an organization was proved (``registry.keyprovenance``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from registry import canonical, statements
from registry.errors import CanonicalError, MalformedError, TooLargeError

FORMAT = "hcoc-registry/keys/v1"
PATH = statements.KEY_PROOF_PATH
MAX_BYTES = 64 * 1024
MAX_REGISTRIES = 16
MAX_KEYS = 32
_MEMBERS = frozenset({"format", "registries"})
_LISTING_MEMBERS = frozenset({"origin", "org", "keys"})


@dataclass(frozen=True)
class Listing:
    """The keys an organization lists for itself in one registry."""

    origin: str
    org: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class KeyFile:
    """A parsed key-proof file: one listing per (registry origin, organization)."""

    listings: tuple[Listing, ...]

    def keys_for(self, origin: str, org: str) -> frozenset[str]:
        """The key ids listed for organization ``org`` of the registry ``origin`` (none: empty)."""
        return frozenset(k for listing in self.listings if (listing.origin, listing.org) == (origin, org)
                         for k in listing.keys)


@dataclass(frozen=True)
class Fetched:
    """A key-proof file as fetched: where from, when, the SHA-256 of the exact body, and what it says.

    ``url`` is the well-known URL asked for (what a statement records and anyone can fetch again);
    ``final_url`` the one that answered, after redirects on the same host.
    """

    url: str
    final_url: str
    fetched_at: str
    sha256: str
    document: KeyFile


@dataclass(frozen=True)
class KeyCheck:
    """Which of the asked keys a fetched file proves, and the evidence for those it does."""

    fetched: Fetched
    origin: str
    org: str
    proved: tuple[str, ...]
    not_proved: tuple[str, ...]

    def __bool__(self) -> bool:
        return not self.not_proved

    @property
    def key_proofs(self) -> list[dict[str, str]]:
        """The ``key_proofs`` entries of a statement that adds the proved keys (docs/FORMATS.md section 4)."""
        return [proof_entry(self.fetched, key_id) for key_id in self.proved]


def _fail(message: str, member: str | None = None) -> MalformedError:
    return MalformedError(f"key-proof file: {member}: {message}" if member else f"key-proof file: {message}")


def parse_key_file(data: bytes) -> KeyFile:
    """Parse a key-proof file strictly.

    Raises:
        TooLargeError: over :data:`MAX_BYTES`.
        MalformedError: not strict JSON, or not exactly the documented shape (naming the member).
    """
    if len(data) > MAX_BYTES:
        raise TooLargeError(f"key-proof file: {len(data)} bytes; at most {MAX_BYTES}")
    try:
        doc = canonical.loads(data)
    except CanonicalError as e:
        raise _fail(f"not strict JSON: {e}") from None
    if not isinstance(doc, dict):
        raise _fail("must be a JSON object")
    _members(doc, _MEMBERS, None)
    if doc["format"] != FORMAT:
        raise _fail(f"must be {FORMAT!r}", "format")
    entries = doc["registries"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_REGISTRIES:
        raise _fail(f"must be a list of 1 to {MAX_REGISTRIES} objects", "registries")
    listings = [_listing(entry, f"registries.{i}") for i, entry in enumerate(entries)]
    seen: set[tuple[str, str]] = set()
    for i, listing in enumerate(listings):
        if (listing.origin, listing.org) in seen:
            raise _fail("this registry and organization are listed above already", f"registries.{i}")
        seen.add((listing.origin, listing.org))
    return KeyFile(tuple(listings))


def _members(value: dict[str, Any], allowed: frozenset[str], path: str | None) -> None:
    for name in value:
        if name not in allowed:
            raise _fail("unknown member", f"{path}.{name[:100]}" if path else name[:100])
    for name in sorted(allowed):
        if name not in value:
            raise _fail("required member is missing", f"{path}.{name}" if path else name)


def _listing(entry: Any, path: str) -> Listing:
    if not isinstance(entry, dict):
        raise _fail("must be a JSON object", path)
    _members(entry, _LISTING_MEMBERS, path)
    if not statements.is_origin(entry["origin"]):
        raise _fail("must be a registry origin (1 to 200 printable ASCII characters, no space or '+')",
                    f"{path}.origin")
    if not statements.is_slug(entry["org"]):
        raise _fail("must be a slug (lowercase letters, digits and inner hyphens, at most 64)", f"{path}.org")
    ids = entry["keys"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_KEYS:
        raise _fail(f"must be a list of 1 to {MAX_KEYS} key ids", f"{path}.keys")
    for i, key_id in enumerate(ids):
        if not statements.is_key_id(key_id):
            raise _fail("must be a key id (64 lowercase hex characters)", f"{path}.keys.{i}")
        if key_id in ids[:i]:
            raise _fail("duplicate key id", f"{path}.keys.{i}")
    return Listing(entry["origin"], entry["org"], tuple(ids))


def format_key_file(listings: Iterable[Listing]) -> bytes:
    """A key-proof file listing ``listings``, as an organization would publish it (parses back the same)."""
    doc = {"format": FORMAT, "registries": [{"origin": listing.origin, "org": listing.org,
                                             "keys": list(listing.keys)} for listing in listings]}
    data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    parse_key_file(data)  # never write a file that the parser would refuse
    return data


def well_known_url(website_or_url: str) -> str:
    """The key-proof file's URL on the host of a website (or of a URL): its path and query are never used.

    Raises:
        MalformedError: not an http(s) URL with a host.
    """
    try:
        parts = urlsplit(website_or_url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise MalformedError(f"not a URL: {website_or_url[:200]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise MalformedError(f"not an http(s) URL with a host: {website_or_url[:200]!r}")
    return f"{parts.scheme}://{parts.netloc}{PATH}"


def proof_entry(fetched: Fetched, key_id: str) -> dict[str, str]:
    """The ``key_proofs`` entry recording that ``fetched`` listed ``key_id``."""
    return {"key_id": key_id, "url": fetched.url, "fetched_at": fetched.fetched_at, "sha256": fetched.sha256}


def check(fetched: Fetched, origin: str, org: str, key_ids: Sequence[str]) -> KeyCheck:
    """Which of ``key_ids`` the fetched file lists for ``org`` of the registry ``origin`` (truthy: all of them)."""
    listed = fetched.document.keys_for(origin, org)
    asked = tuple(dict.fromkeys(key_ids))  # once each, in the order asked
    return KeyCheck(fetched, origin, org, tuple(k for k in asked if k in listed),
                    tuple(k for k in asked if k not in listed))
