"""Feed values: one log entry as a feed shows it, and one feed document.

``FeedItem`` and ``FeedPage`` are frozen dataclasses the caller (the web layer)
builds from log entries and URLs; ``feeds.render`` turns a page into Atom or
RSS bytes. Construction checks only what the renderer relies on for
well-formed, byte-deterministic output: UTC times at seconds precision, text
that XML 1.0 can carry, items in log order, no mutable data in archive
documents. An item may also be something other than a log entry (an
obligation falling due): it has no leaf index, hash or proof links, and may
change after it was published (``updated_at``); a page holds one kind only.
This module does not word titles, build ``tag:`` ids or URLs, read the clock
or touch the log; those are the caller's.

A page's URLs are those of one format: the Atom page links to ``.atom``
archives and the RSS page to ``.rss`` ones, so the caller builds one page per
format (the items tuple is shared).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from feeds.text import NOT_XML

# An empty feed still needs an <updated>; a fixed instant (the day the G7
# published the Hiroshima Code) keeps empty feeds byte-stable instead of now().
EMPTY_FEED_UPDATED = datetime(2023, 10, 30, tzinfo=UTC)

_EVENT_HASH = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class FeedItem:
    """One log entry as every feed shows it; never edited once published.

    With ``index`` None, an entry that is not a log entry: ``event_hash`` and the JSON, proof and
    receipt links are None too (they are a leaf's), ``recorded_at`` is when it was published and
    ``updated_at`` when it last changed.
    """

    index: int | None
    entry_id: str
    type: str
    title: str
    summary: str
    recorded_at: datetime
    content: str
    event_hash: str | None
    page_url: str
    json_url: str | None
    proof_url: str | None
    receipt_url: str | None
    org: str | None
    org_name: str | None
    org_url: str | None
    code: str | None
    code_version: str | None
    attested: bool
    code_title: str | None = None  # the Code's title as of the entry (a category's label)
    updated_at: datetime | None = None  # None: never changed after recorded_at (every log entry)

    def __post_init__(self) -> None:
        if not self.entry_id or not self.title or not self.content:
            raise ValueError("entry_id, title and content must not be empty")
        leaf_parts = (self.event_hash, self.json_url, self.proof_url, self.receipt_url)
        if self.index is None:
            if any(part is not None for part in leaf_parts):
                raise ValueError("an item that is not a log entry has no event_hash, JSON, proof or receipt link")
        else:
            if self.index < 0:
                raise ValueError(f"index must be >= 0, got {self.index}")
            if not _EVENT_HASH.fullmatch(self.event_hash or ""):
                raise ValueError(f"event_hash must be sha256:<64 lowercase hex>, got {self.event_hash!r}")
            if None in leaf_parts:
                raise ValueError("a log entry needs its JSON, proof and receipt links")
        _check_utc_seconds("recorded_at", self.recorded_at)
        if self.updated_at is not None:
            _check_utc_seconds("updated_at", self.updated_at)
            if self.updated_at < self.recorded_at:
                raise ValueError("updated_at must not be before recorded_at")
        _check_xml_text(self)

    @property
    def updated(self) -> datetime:
        """When the entry last changed: ``updated_at``, else ``recorded_at``."""
        return self.updated_at or self.recorded_at


@dataclass(frozen=True)
class FeedPage:
    """One feed document: a subscription feed or an RFC 5005 archive page."""

    feed_id: str
    title: str
    subtitle: str
    self_url: str
    alternate_url: str
    updated: datetime
    items: tuple[FeedItem, ...]
    archive: bool
    prev_archive_url: str | None
    next_archive_url: str | None
    current_url: str | None
    checkpoint: str | None
    describedby_url: str | None
    # Atom needs a feed-level author whenever an entry has none (self-signed
    # statements without an org name); the registry operator is that author.
    author_name: str = "HCoC Registry"
    author_uri: str | None = None

    def __post_init__(self) -> None:
        if not self.feed_id or not self.title:
            raise ValueError("feed_id and title must not be empty")
        _check_utc_seconds("updated", self.updated)
        kinds = {item.index is None for item in self.items}
        if len(kinds) > 1:
            raise ValueError("a page holds log entries or other entries, not both")
        if any(_position(a) >= _position(b) for a, b in pairwise(self.items)):
            raise ValueError("items must be oldest first, in strictly increasing index order "
                             "(other entries: by recorded_at, then entry_id)")
        if self.archive and self.checkpoint is not None:
            # An archive document must never change; the checkpoint does.
            raise ValueError("an archive document cannot carry the current checkpoint")
        _check_xml_text(self)


def newest_updated(items: Iterable[FeedItem]) -> datetime:
    """The ``updated`` of a page holding ``items``: the newest item ``updated``, or the fixed empty-feed instant."""
    return max((item.updated for item in items), default=EMPTY_FEED_UPDATED)


def _position(item: FeedItem) -> tuple[int, datetime, str]:
    # Log entries by leaf index; other entries (no index) by when they were published, then by id.
    if item.index is not None:
        return item.index, EMPTY_FEED_UPDATED, ""
    return -1, item.recorded_at, item.entry_id


def _check_utc_seconds(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be timezone-aware UTC, got {moment!r}")
    if moment.microsecond:
        raise ValueError(f"{name} must have seconds precision, got {moment!r}")


def _check_xml_text(value: FeedItem | FeedPage) -> None:
    for field in fields(value):
        text = getattr(value, field.name)
        if isinstance(text, str) and (bad := NOT_XML.search(text)):
            raise ValueError(f"{field.name} holds U+{ord(bad.group()):04X}, which XML 1.0 cannot carry")
