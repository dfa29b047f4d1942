"""Feed values: one log entry as a feed shows it, and one feed document.

``FeedItem`` and ``FeedPage`` are frozen dataclasses the caller (the web layer)
builds from log entries and URLs; ``feeds.render`` turns a page into Atom or
RSS bytes. Construction checks only what the renderer relies on for
well-formed, byte-deterministic output: UTC times at seconds precision, text
that XML 1.0 can carry, items in log order, no mutable data in archive
documents. This module does not word titles, build ``tag:`` ids or URLs, read
the clock or touch the log; those are the caller's.

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
    """One log entry as every feed shows it; never edited once published."""

    index: int
    entry_id: str
    type: str
    title: str
    summary: str
    recorded_at: datetime
    content: str
    event_hash: str
    page_url: str
    json_url: str
    proof_url: str
    receipt_url: str
    org: str | None
    org_name: str | None
    org_url: str | None
    code: str | None
    code_version: str | None
    attested: bool
    code_title: str | None = None  # the Code's title as of the entry (a category's label)

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError(f"index must be >= 0, got {self.index}")
        if not self.entry_id or not self.title or not self.content:
            raise ValueError("entry_id, title and content must not be empty")
        if not _EVENT_HASH.fullmatch(self.event_hash):
            raise ValueError(f"event_hash must be sha256:<64 lowercase hex>, got {self.event_hash!r}")
        _check_utc_seconds("recorded_at", self.recorded_at)
        _check_xml_text(self)


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
        if any(a.index >= b.index for a, b in pairwise(self.items)):
            raise ValueError("items must be oldest first, in strictly increasing index order")
        if self.archive and self.checkpoint is not None:
            # An archive document must never change; the checkpoint does.
            raise ValueError("an archive document cannot carry the current checkpoint")
        _check_xml_text(self)


def newest_updated(items: Iterable[FeedItem]) -> datetime:
    """The ``updated`` of a page holding ``items``: the newest recorded_at, or the fixed empty-feed instant."""
    return max((item.recorded_at for item in items), default=EMPTY_FEED_UPDATED)


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
