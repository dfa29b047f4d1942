"""Atom and RSS feeds of every log entry, filtered feeds, and RFC 5005 archives.

Routes (each in ``.atom`` and ``.rss``):

- ``/feeds/events``: the subscription document: the entries of the current,
  incomplete archive page (``feeds.archive.subscription_range``), the latest
  signed checkpoint, ``prev-archive`` to the newest complete page;
- ``/feeds/events/archive/<k>``: complete archive page ``k`` (leaves
  ``[k*P, (k+1)*P)``, ``P`` = ``app.config["FEED_PAGE_SIZE"]``, default 500),
  immutable and cacheable forever; an incomplete or future page is 404;
- ``/feeds/organizations/<slug>``, ``/feeds/codes/<slug>``,
  ``/feeds/types/<type>``: the newest 100 matching entries, no archive.

HTTP: a strong ETag from (path, read-model head size, latest checkpoint,
page size, base URL, origin, feed format and wording versions), computed before
anything is rendered: a matching ``If-None-Match`` is a 304 at the cost of
reading the head. Without ``If-None-Match``, ``If-Modified-Since`` is checked
against the newest entry's time (one indexed read) before rendering. Rendered
bytes are kept in a small per-process LRU keyed by (path, ETag). Archive ETags
do not depend on the head, since the page never changes once complete.

What it does not do: no rate limit (feed readers poll from shared addresses),
no WebSub, no JSON Feed. Entry ids and words come from ``web.feedviews``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import Blueprint, Flask, Response, current_app, request

from feeds import (
    EMPTY_FEED_UPDATED,
    FORMAT_VERSION,
    PAGE_SIZE,
    FeedPage,
    archive_links,
    is_complete,
    isolate,
    page_range,
    render_atom,
    render_rss,
    subscription_links,
    subscription_range,
    xml_text,
)
from registry.domain import Code, Organization, code_id, organization_id
from registry.errors import NotFoundError
from registry.logstore import StoredCheckpoint
from registry.statements import STATEMENT_TYPES
from registry.times import parse_time
from web import get_registry, get_settings, get_views, latest_checkpoint, refresh
from web.feedviews import WORDS_VERSION, ItemBuilder, tag

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

FILTERED_ENTRIES = 100
CACHE_ENTRIES = 64
SUBSCRIPTION_CACHE = "public, max-age=300"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {"atom": "application/atom+xml; charset=utf-8", "rss": "application/rss+xml; charset=utf-8"}
_CACHE_EXTENSION = "feed_cache"


@dataclass(frozen=True)
class Feed:
    """What one feed request serves, known before anything is read beyond the head."""

    fmt: str  # "atom" | "rss"
    etag: str
    cache_control: str
    newest: Callable[[], datetime]  # Last-Modified: the newest entry's time
    page: Callable[[], FeedPage]  # everything a render needs, read on a cache miss only


# --- routes ------------------------------------------------------------------------


@bp.get("/events.<any(atom, rss):fmt>")
def events(fmt: str) -> Response:
    size = refresh()
    checkpoint = latest_checkpoint()
    base, page_size = get_settings().base_url, _page_size()
    docs = _span(subscription_range(size, page_size))
    links = subscription_links(size, subscription_url=f"{base}/feeds/events.{fmt}",
                               archive_template=f"{base}/feeds/events/archive/{{page}}.{fmt}",
                               page_size=page_size)

    def page() -> FeedPage:
        return _page(fmt, "events", "All log entries",
                     "Every entry of the registry's log, newest first; older entries are in the archive pages.",
                     alternate=f"{base}/log", self_url=links.self_url, docs=docs(),
                     updated=_newest_overall(size), prev_archive=links.prev_archive_url,
                     checkpoint=None if checkpoint is None else checkpoint.note.decode("utf-8"))

    return _serve(Feed(fmt, _etag(str(size), _digest(checkpoint)), SUBSCRIPTION_CACHE,
                       lambda: _newest_overall(size), page))


@bp.get("/events/archive/<index:k>.<any(atom, rss):fmt>")
def archive(k: int, fmt: str) -> Response:
    size = refresh()
    base, page_size = get_settings().base_url, _page_size()
    if not is_complete(k, size, page_size):
        raise NotFoundError(f"archive page {k} is not complete yet; its entries are in /feeds/events.{fmt}")
    links = archive_links(k, size, subscription_url=f"{base}/feeds/events.{fmt}",
                          archive_template=f"{base}/feeds/events/archive/{{page}}.{fmt}", page_size=page_size)
    leaves = page_range(k, page_size)
    docs = _span(leaves)

    def page() -> FeedPage:
        found = docs()
        return _page(fmt, "events", f"All log entries, archive page {k}",
                     f"Log entries {leaves.start} to {leaves.stop - 1}; this page never changes.",
                     alternate=f"{base}/log", self_url=links.self_url, docs=found,
                     updated=_newest(found), prev_archive=links.prev_archive_url,
                     next_archive=links.next_archive_url, current=links.current_url, archive=True)

    # The page is complete, so neither its bytes nor its ETag depend on the head.
    return _serve(Feed(fmt, _etag(), IMMUTABLE, lambda: _newest(_events(after=leaves.stop - 2, limit=1)), page))


@bp.get("/organizations/<slug>.<any(atom, rss):fmt>")
def organization(slug: str, fmt: str) -> Response:
    size = refresh()
    with get_views().lock:  # the live state: another thread's catch-up changes it in place
        found = get_views().state().get(organization_id(slug))
    if not isinstance(found, Organization):
        raise NotFoundError(f"no organization {slug!r}")
    return _filtered(fmt, size, f"organizations/{slug}", f"{isolate(found.profile['name'])}: log entries",
                     f"{get_settings().base_url}/organizations/{slug}", org=slug)


@bp.get("/codes/<slug>.<any(atom, rss):fmt>")
def code(slug: str, fmt: str) -> Response:
    size = refresh()
    with get_views().lock:
        found = get_views().state().get(code_id(slug))
    if not isinstance(found, Code):
        raise NotFoundError(f"no Code {slug!r}")
    return _filtered(fmt, size, f"codes/{slug}", f"{slug}: revisions, endorsements and reports",
                     f"{get_settings().base_url}/codes/{slug}", code=slug)


@bp.get("/types/<type_>.<any(atom, rss):fmt>")
def by_type(type_: str, fmt: str) -> Response:
    if type_ not in STATEMENT_TYPES:
        raise NotFoundError(f"no statement type {type_!r}")
    size = refresh()
    return _filtered(fmt, size, f"types/{type_}", f"{type_} entries", f"{get_settings().base_url}/log",
                     types=(type_,))


# --- building ----------------------------------------------------------------------


def _filtered(fmt: str, size: int, name: str, title: str, alternate: str, **query: Any) -> Response:
    """The newest FILTERED_ENTRIES entries matching ``query``, oldest first, with the checkpoint."""
    checkpoint = latest_checkpoint()
    base = get_settings().base_url
    # before=size: exactly the entries this ETag names, even if the read models moved on meanwhile.
    newest_first = _cached(lambda: _events(descending=True, before=size, limit=FILTERED_ENTRIES, **query))

    def page() -> FeedPage:
        docs = list(reversed(newest_first()))
        return _page(fmt, name, xml_text(title), f"The newest {FILTERED_ENTRIES} matching log entries.",
                     alternate=alternate, self_url=f"{base}/feeds/{name}.{fmt}", docs=docs, updated=_newest(docs),
                     checkpoint=None if checkpoint is None else checkpoint.note.decode("utf-8"))

    return _serve(Feed(fmt, _etag(str(size), _digest(checkpoint)), SUBSCRIPTION_CACHE,
                       lambda: _newest(newest_first()[:1]), page))


def _page(fmt: str, name: str, title: str, subtitle: str, *, alternate: str, self_url: str,
          docs: list[dict[str, Any]], updated: datetime, prev_archive: str | None = None,
          next_archive: str | None = None, current: str | None = None, archive: bool = False,
          checkpoint: str | None = None) -> FeedPage:
    settings = get_settings()
    builder = ItemBuilder(get_registry(), get_views(), settings.base_url, settings.origin)
    return FeedPage(
        feed_id=tag(settings.base_url, settings.origin, f"feed/{name}"),
        title=f"HCoC registry: {title}",
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
        describedby_url=f"{settings.base_url}/verify",
        author_uri=settings.base_url,
    )


def _span(leaves: range) -> Callable[[], list[dict[str, Any]]]:
    """A reader (memoized) of the event documents of a contiguous range of leaves."""
    return _cached(lambda: _events(after=leaves.start - 1, limit=len(leaves)) if leaves else [])


def _events(**query: Any) -> list[dict[str, Any]]:
    return get_views().events(**query)


def _newest(docs: list[dict[str, Any]]) -> datetime:
    """The newest ``recorded_at`` of ``docs`` (log order is time order), or the fixed empty-feed instant."""
    return max((parse_time(d["recorded_at"]) for d in docs), default=EMPTY_FEED_UPDATED)


def _newest_overall(size: int) -> datetime:
    return _newest(_events(after=size - 2, limit=1)) if size else EMPTY_FEED_UPDATED


def _cached(read: Callable[[], list[dict[str, Any]]]) -> Callable[[], list[dict[str, Any]]]:
    box: list[list[dict[str, Any]]] = []

    def once() -> list[dict[str, Any]]:
        if not box:
            box.append(read())
        return box[0]

    return once


def _page_size() -> int:
    size = int(current_app.config.get("FEED_PAGE_SIZE") or PAGE_SIZE)
    if size < 1:
        raise ValueError(f"FEED_PAGE_SIZE must be at least 1, got {size}")
    return size


def _etag(*head: str) -> str:
    """A strong validator for this path, the given head values and everything else the bytes depend on."""
    settings = get_settings()
    parts = [request.path, FORMAT_VERSION, WORDS_VERSION, str(_page_size()), settings.base_url, settings.origin,
             *head]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]


def _digest(checkpoint: StoredCheckpoint | None) -> str:
    # The note, not its size: witness cosignatures can change the bytes at the same size.
    return "-" if checkpoint is None else hashlib.sha256(checkpoint.note).hexdigest()


# --- serving -----------------------------------------------------------------------


def _serve(feed: Feed) -> Response:
    """Answer 304 when the client's validators match (without rendering), else the cached or rendered bytes."""
    if request.if_none_match:
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2); GET compares weakly.
        if request.if_none_match.contains_weak(feed.etag):
            return _response(feed, b"", 304, None)
    elif request.if_modified_since is not None:
        modified = feed.newest()
        if modified <= request.if_modified_since:
            return _response(feed, b"", 304, modified)
    cache = _cache()
    key = (request.path, feed.etag)
    found = cache.get(key)
    if found is None and feed.cache_control == IMMUTABLE and not current_app.config.get("FEED_STORE_BYPASS"):
        found = _stored_page(key)
    if found is None:
        page = feed.page()
        found = (render_atom(page) if feed.fmt == "atom" else render_rss(page), page.updated)
        if feed.cache_control == IMMUTABLE and not current_app.config.get("FEED_STORE_BYPASS"):
            _store_page(key, found)
        cache.put(key, found)
    body, updated = found
    return _response(feed, body, 200, updated)


def _stored_page(key: tuple[str, str]) -> Rendered | None:
    # Complete archive pages never change: rendered once (by the clock's job or a first reader),
    # kept in the read-model store, and served from there by every web process.
    stored = get_views().store.feed_page(*key)
    if stored is None:
        return None
    body, updated = stored
    return body, datetime.fromisoformat(updated)


def _store_page(key: tuple[str, str], rendered: Rendered) -> None:
    body, updated = rendered
    try:
        get_views().store.put_feed_page(key[0], key[1], body, updated.isoformat())
    except PersistenceError:
        pass  # a cache: serving the page matters more than keeping it


def _response(feed: Feed, body: bytes, status: int, modified: datetime | None) -> Response:
    response = Response(body, status=status, content_type=MEDIA_TYPES[feed.fmt])
    response.set_etag(feed.etag)
    response.headers["Cache-Control"] = feed.cache_control
    # Public read-only data: browser-based monitors may fetch feeds from any origin.
    response.headers["Access-Control-Allow-Origin"] = "*"
    if modified is not None:
        response.last_modified = modified
    return response


Rendered = tuple[bytes, datetime]  # the document and its feed-level updated (Last-Modified)


def check_stored_pages(app: Flask) -> list[tuple[str, str, str]]:
    """Render afresh every stored feed page that would be served and compare; (path, etag, problem) when not equal.

    The stored pages are a cache of what the log derives, served to every reader; the audit holds them
    to the same standard as any other derived row. A row is served only under the validator its path
    has now (which depends on the base URL, the page size and the feed wording): rows under another one
    (an earlier configuration) are never served, and ``registry rebuild`` drops them. ``app`` must be a
    fresh app with the deployment's settings (its in-memory cache empty).
    """
    app.config["FEED_STORE_BYPASS"] = True
    problems = []
    with app.test_client() as client:
        for path, etag, body, _updated in app.extensions["views"].store.feed_pages():
            response = client.get(path)
            if response.status_code != 200 or (response.get_etag()[0] or "") != etag:
                continue
            if response.data != body:
                problems.append((path, etag, "the stored page differs from the page the log gives "
                                             "(`registry rebuild` drops it)"))
    return problems


class RenderCache:
    """A small thread-safe LRU of rendered feed documents."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Rendered | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], rendered: Rendered) -> None:
        with self._lock:
            self._items[key] = rendered
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _cache() -> RenderCache:
    found = current_app.extensions.get(_CACHE_EXTENSION)
    if found is None:
        found = current_app.extensions.setdefault(_CACHE_EXTENSION, RenderCache())
    cache: RenderCache = found
    return cache
