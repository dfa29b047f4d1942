"""Atom and RSS feeds of every log entry, filtered feeds, and RFC 5005 archives.

Routes (each in ``.atom`` and ``.rss``):

- ``/feeds/events``: the subscription document: the entries of the current,
  incomplete archive page, or of the newest complete page when the current one
  is empty (``feeds.archive.subscription_range``), the latest signed
  checkpoint, ``prev-archive`` to the newest complete page;
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
no WebSub, no JSON Feed. Entry ids and words come from ``feeds.entries``;
the documents and their validators from ``feeds.documents``, which the clock's
archive job uses too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import Blueprint, Response, current_app, request

from feeds import FeedPage, is_complete, isolate, page_range
from feeds import documents as docs_
from feeds.documents import FeedSite
from registry import wording
from registry.errors import NotFoundError
from registry.statements import STATEMENT_TYPES
from web import get_settings, get_views, latest_checkpoint, refresh

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

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
    checkpoint = _note()
    site, views = feed_site(), get_views()
    docs = _cached(lambda: docs_.subscription_docs(site, views, size))
    return _serve(Feed(fmt, _etag(site, str(size), docs_.checkpoint_digest(checkpoint)), SUBSCRIPTION_CACHE,
                       lambda: docs_.newest_overall(views, size),
                       lambda: docs_.subscription_page(site, views, fmt, size, docs(), checkpoint)))


@bp.get("/events/archive/<index:k>.<any(atom, rss):fmt>")
def archive(k: int, fmt: str) -> Response:
    size = refresh()
    site, views = feed_site(), get_views()
    if not is_complete(k, size, site.page_size):
        raise NotFoundError(f"archive page {k} is not complete yet; its entries are in /feeds/events.{fmt}")
    docs = _cached(lambda: docs_.span(views, page_range(k, site.page_size)))
    # The page is complete, so neither its bytes nor its ETag depend on the head.
    return _serve(Feed(fmt, _etag(site), IMMUTABLE, lambda: docs_.archive_newest(site, views, k),
                       lambda: docs_.archive_page(site, views, fmt, k, size, docs())))


@bp.get("/organizations/<slug>.<any(atom, rss):fmt>")
def organization(slug: str, fmt: str) -> Response:
    size = refresh()
    found = get_views().organization(slug)
    if found is None:
        raise NotFoundError(f"no organization {slug!r}")
    return _filtered(fmt, size, f"organizations/{slug}", f"{isolate(found['name'])}: {wording.EVERY_RECORD}",
                     f"{get_settings().base_url}/organizations/{slug}", org=slug)


@bp.get("/codes/<slug>.<any(atom, rss):fmt>")
def code(slug: str, fmt: str) -> Response:
    size = refresh()
    found = get_views().code(slug)
    if found is None or not found["versions"]:
        raise NotFoundError(f"no Code {slug!r}")
    latest = found["versions"][-1]
    short = latest.get("short_title") or latest["title"]
    return _filtered(fmt, size, f"codes/{slug}", f"{isolate(short)}: {wording.EVERY_RECORD}",
                     f"{get_settings().base_url}/codes/{slug}", code=slug)


@bp.get("/types/<type_>.<any(atom, rss):fmt>")
def by_type(type_: str, fmt: str) -> Response:
    if type_ not in STATEMENT_TYPES:
        raise NotFoundError(f"no statement type {type_!r}")
    size = refresh()
    return _filtered(fmt, size, f"types/{type_}", wording.TYPE_FEEDS[type_], f"{get_settings().base_url}/log",
                     types=(type_,))


# --- building ----------------------------------------------------------------------


def feed_site() -> FeedSite:
    """The app's feed settings (the page size may be set in the app's config, as tests do)."""
    settings = get_settings()
    size = int(current_app.config.get("FEED_PAGE_SIZE") or settings.feed_page_size)
    return FeedSite(settings.base_url, settings.origin, size)


def _filtered(fmt: str, size: int, name: str, title: str, alternate: str, **query: Any) -> Response:
    """The newest ``feeds.documents.FILTERED_ENTRIES`` entries matching ``query``, oldest first, with the checkpoint."""
    checkpoint = _note()
    site, views = feed_site(), get_views()
    # before=size: exactly the entries this ETag names, even if the read models moved on meanwhile.
    newest_first = _cached(lambda: views.events(descending=True, before=size, limit=docs_.FILTERED_ENTRIES, **query))
    return _serve(Feed(fmt, _etag(site, str(size), docs_.checkpoint_digest(checkpoint)), SUBSCRIPTION_CACHE,
                       lambda: docs_.newest(newest_first()[:1]),
                       lambda: docs_.filtered_page(site, views, fmt, name, title, alternate,
                                                   list(reversed(newest_first())), checkpoint)))


def _note() -> bytes | None:
    checkpoint = latest_checkpoint()
    return None if checkpoint is None else checkpoint.note


def _cached(read: Callable[[], list[dict[str, Any]]]) -> Callable[[], list[dict[str, Any]]]:
    box: list[list[dict[str, Any]]] = []

    def once() -> list[dict[str, Any]]:
        if not box:
            box.append(read())
        return box[0]

    return once


def _etag(site: FeedSite, *head: str) -> str:
    return docs_.etag(site, request.path, *head)


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
    if found is None and feed.cache_control == IMMUTABLE:
        found = _stored_page(key)
    if found is None:
        page = feed.page()
        found = (docs_.render(page, feed.fmt), page.updated)
        if feed.cache_control == IMMUTABLE:
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
