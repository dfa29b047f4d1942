"""Events in, feed bytes out: feed items, documents, Atom/RSS rendering and RFC 5005 paging.

Pure: no Flask, no database, no clock. ``feeds.entries`` turns event documents
(read-model values) into ``FeedItem`` values; ``feeds.documents`` builds the
subscription, archive and filtered ``FeedPage`` of each feed and its validator;
``feeds.archive`` picks leaf ranges and links; ``render_atom`` / ``render_rss``
make the bytes. The web's feed views and the clock's archive job
(``scripts/feedstore.py``) call the same functions. Text taken from a
statement goes into those values through ``isolate`` (and ``xml_text``).
"""

from feeds.archive import (
    PAGE_SIZE,
    PageLinks,
    archive_count,
    archive_links,
    archive_url,
    is_complete,
    page_of,
    page_range,
    subscription_links,
    subscription_range,
)
from feeds.items import EMPTY_FEED_UPDATED, FeedItem, FeedPage, newest_updated
from feeds.render import FORMAT_VERSION, REG_NS, render_atom, render_rss
from feeds.text import isolate, xml_text

__all__ = [
    "EMPTY_FEED_UPDATED",
    "FORMAT_VERSION",
    "PAGE_SIZE",
    "REG_NS",
    "FeedItem",
    "FeedPage",
    "PageLinks",
    "archive_count",
    "archive_links",
    "archive_url",
    "is_complete",
    "isolate",
    "newest_updated",
    "page_of",
    "page_range",
    "render_atom",
    "render_rss",
    "subscription_links",
    "subscription_range",
    "xml_text",
]
