"""Feed documents from read-model values: the subscription, archive and filtered feeds.

What it does: given the site's public settings (:class:`FeedSite`), event
documents and the log's size, it builds the :class:`feeds.FeedPage` of each
feed the registry publishes, computes the strong validator (ETag) each
document is served and stored under, and renders archive pages. The web's
feed views and the clock's archive job call these same functions, so a page
rendered by either is the same bytes under the same key.

The validator is a digest of the path, the feed format and wording versions,
the page size, the base URL, the origin and the head values the document
depends on (none for a complete archive page, which never changes).

What it does not do: no HTTP, no caching, no database. Event documents come
from an :class:`feeds.entries.EventSource` (the read models) passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feeds.archive import PAGE_SIZE, archive_links, page_range, subscription_links, subscription_range
from feeds.entries import WORDS_VERSION, EventSource, ItemBuilder, tag
from feeds.items import EMPTY_FEED_UPDATED, FeedPage
from feeds.render import FORMAT_VERSION, render_atom, render_rss
from feeds.text import xml_text
from registry.times import parse_time

FORMATS = ("atom", "rss")
FILTERED_ENTRIES = 100
# After what the feed holds ("OpenAI: every record"), so a reader's list shows that first.
TITLE_SUFFIX = " · Hiroshima Code registry"


@dataclass(frozen=True)
class FeedSite:
    """What every feed document depends on besides the log: where it is published and how it is paged."""

    base_url: str
    origin: str
    page_size: int = PAGE_SIZE

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError(f"the feed page size must be at least 1, got {self.page_size}")

    def subscription_url(self, fmt: str) -> str:
        return f"{self.base_url}/feeds/events.{fmt}"

    def archive_template(self, fmt: str) -> str:
        return f"{self.base_url}/feeds/events/archive/{{page}}.{fmt}"


def archive_path(k: int, fmt: str) -> str:
    """The path archive page ``k`` is served (and stored) under."""
    return f"/feeds/events/archive/{k}.{fmt}"


def etag(site: FeedSite, path: str, *head: str) -> str:
    """A strong validator for ``path``, the given head values and everything else the bytes depend on."""
    parts = [path, FORMAT_VERSION, WORDS_VERSION, str(site.page_size), site.base_url, site.origin, *head]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]


def checkpoint_digest(note: bytes | None) -> str:
    """The head value a checkpoint adds to a validator."""
    # The note, not its size: witness cosignatures can change the bytes at the same size.
    return "-" if note is None else hashlib.sha256(note).hexdigest()


def newest(docs: list[dict[str, Any]]) -> datetime:
    """The newest ``recorded_at`` of ``docs`` (log order is time order), or the fixed empty-feed instant."""
    return max((parse_time(d["recorded_at"]) for d in docs), default=EMPTY_FEED_UPDATED)


def span(source: EventSource, leaves: range) -> list[dict[str, Any]]:
    """The event documents of a contiguous range of leaves, in log order."""
    return source.events(after=leaves.start - 1, limit=len(leaves)) if leaves else []


def newest_overall(source: EventSource, size: int) -> datetime:
    """The time of the newest of ``size`` entries."""
    return newest(source.events(after=size - 2, limit=1)) if size else EMPTY_FEED_UPDATED


def render(page: FeedPage, fmt: str) -> bytes:
    """The document's bytes in ``fmt`` (``atom`` or ``rss``)."""
    if fmt not in FORMATS:
        raise ValueError(f"no feed format {fmt!r}")
    return render_atom(page) if fmt == "atom" else render_rss(page)


# --- the documents --------------------------------------------------------------------------------


def subscription_page(site: FeedSite, source: EventSource, fmt: str, size: int, docs: list[dict[str, Any]],
                      checkpoint: bytes | None) -> FeedPage:
    """``/feeds/events``: ``docs`` (:func:`subscription_docs`), the newest checkpoint, ``prev-archive``."""
    links = subscription_links(size, subscription_url=site.subscription_url(fmt),
                               archive_template=site.archive_template(fmt), page_size=site.page_size)
    return _page(site, source, "events", "All log entries",
                 "Every entry of the registry's log, newest first; older entries are in the archive pages.",
                 alternate=f"{site.base_url}/log", self_url=links.self_url, docs=docs,
                 updated=newest_overall(source, size), prev_archive=links.prev_archive_url,
                 checkpoint=None if checkpoint is None else checkpoint.decode("utf-8"))


def subscription_docs(site: FeedSite, source: EventSource, size: int) -> list[dict[str, Any]]:
    """The current, incomplete page's entries; the newest complete page's when that is empty."""
    return span(source, subscription_range(size, site.page_size))


def archive_page(site: FeedSite, source: EventSource, fmt: str, k: int, size: int,
                 docs: list[dict[str, Any]] | None = None) -> FeedPage:
    """Complete archive page ``k`` (raises ``NotFoundError`` while it is not complete)."""
    links = archive_links(k, size, subscription_url=site.subscription_url(fmt),
                          archive_template=site.archive_template(fmt), page_size=site.page_size)
    leaves = page_range(k, site.page_size)
    found = span(source, leaves) if docs is None else docs
    return _page(site, source, "events", f"All log entries, archive page {k}",
                 f"Log entries {leaves.start} to {leaves.stop - 1}; this page never changes.",
                 alternate=f"{site.base_url}/log", self_url=links.self_url, docs=found,
                 updated=newest(found), prev_archive=links.prev_archive_url,
                 next_archive=links.next_archive_url, current=links.current_url, archive=True)


def archive_newest(site: FeedSite, source: EventSource, k: int) -> datetime:
    """The time of archive page ``k``'s last entry (its Last-Modified), read with one lookup."""
    leaves = page_range(k, site.page_size)
    return newest(source.events(after=leaves.stop - 2, limit=1))


def filtered_page(site: FeedSite, source: EventSource, fmt: str, name: str, title: str, alternate: str,
                  docs: list[dict[str, Any]], checkpoint: bytes | None) -> FeedPage:
    """A filtered feed (``name`` like ``organizations/<slug>``): ``docs`` oldest first, with the checkpoint."""
    return _page(site, source, name, xml_text(title), f"The newest {FILTERED_ENTRIES} matching log entries.",
                 alternate=alternate, self_url=f"{site.base_url}/feeds/{name}.{fmt}", docs=docs,
                 updated=newest(docs), checkpoint=None if checkpoint is None else checkpoint.decode("utf-8"))


def _page(site: FeedSite, source: EventSource, name: str, title: str, subtitle: str, *, alternate: str,
          self_url: str, docs: list[dict[str, Any]], updated: datetime, prev_archive: str | None = None,
          next_archive: str | None = None, current: str | None = None, archive: bool = False,
          checkpoint: str | None = None) -> FeedPage:
    builder = ItemBuilder(source, site.base_url, site.origin)
    return FeedPage(
        feed_id=tag(site.origin, f"feed/{name}"),
        title=title + TITLE_SUFFIX,
        subtitle=subtitle,
        self_url=self_url,
        alternate_url=alternate,
        updated=updated,
        items=builder.items(docs),
        archive=archive,
        prev_archive_url=prev_archive,
        next_archive_url=next_archive,
        current_url=current,
        checkpoint=checkpoint,
        describedby_url=f"{site.base_url}/verify",
        author_uri=site.base_url,
    )


# --- stored archive pages -------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedArchive:
    """One complete archive page as it is stored and served."""

    path: str
    etag: str
    body: bytes
    updated: datetime


def render_archive(site: FeedSite, source: EventSource, fmt: str, k: int, size: int) -> RenderedArchive:
    """Archive page ``k`` in ``fmt``, rendered, with the key it is stored under."""
    page = archive_page(site, source, fmt, k, size)
    path = archive_path(k, fmt)
    return RenderedArchive(path, etag(site, path), render(page, fmt), page.updated)


def parse_archive_path(path: str) -> tuple[int, str] | None:
    """``(k, fmt)`` of an archive path :func:`archive_path` makes; None for any other path."""
    prefix = "/feeds/events/archive/"
    if not path.startswith(prefix):
        return None
    number, dot, fmt = path[len(prefix):].partition(".")
    if not dot or fmt not in FORMATS or not number.isascii() or not number.isdigit() or str(int(number)) != number:
        return None
    return int(number), fmt
