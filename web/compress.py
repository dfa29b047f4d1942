"""gzip for entry bundles and feeds, for the clients that ask for it (C2SP tlog-tiles: bundles SHOULD be).

What it does: one ``after_request`` hook. For a 200 answer on ``/tile/entries/``
or ``/feeds/`` to a request whose ``Accept-Encoding`` takes gzip, the body is
replaced by its gzip form (deterministic: no file name, no time, so every
worker sends the same bytes), ``Content-Encoding: gzip`` is set, and the
ETag becomes the variant's own (``<etag>-gzip``, weak if the original was):
a cache never mixes the two encodings under one validator. Conditional
requests are then answered against the variant's ETag, so a client that
cached the gzip form gets its 304. Every answer on those paths says
``Vary: Accept-Encoding``. Compressed bodies are kept in a small LRU keyed by
path and ETag (bundle paths name immutable bytes), so a hot feed is
compressed once, not per request.

What it does not do: compress anything else (tiles of hashes do not shrink;
pages are small), other encodings than gzip, or answers that are streamed.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict

from flask import Flask, Response, current_app, request

PREFIXES = ("/tile/entries/", "/feeds/")
LEVEL = 6
CACHE_ENTRIES = 256
_CACHE = "gzip_cache"


def compressed(data: bytes) -> bytes:
    """The gzip member of ``data``, the same bytes every time (mtime 0, no name)."""
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


def _wants_gzip() -> bool:
    # The quality werkzeug gives for "gzip" counts a "*" and is 0 when refused ("gzip;q=0").
    return request.accept_encodings["gzip"] > 0


def _gzip(response: Response) -> Response:
    if not request.path.startswith(PREFIXES):
        return response
    response.vary.add("Accept-Encoding")
    if (response.status_code != 200 or response.direct_passthrough or "Content-Encoding" in response.headers
            or request.method not in ("GET", "HEAD") or not _wants_gzip()):
        return response
    etag, weak = response.get_etag()
    body = _cached(request.path, etag, response.get_data())
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    if etag is not None:
        response.set_etag(f"{etag}-gzip", weak=weak)
    return response.make_conditional(request)


def _cached(path: str, etag: str | None, data: bytes) -> bytes:
    cache: LRU = current_app.extensions[_CACHE]
    key = (path, etag, len(data))
    found = cache.get(key)
    if found is None:
        found = compressed(data)
        cache.put(key, found)
    return found


class LRU:
    """A small thread-safe LRU of compressed bodies."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str | None, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str | None, int]) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str | None, int], value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def init_app(app: Flask) -> None:
    app.extensions[_CACHE] = LRU()
    app.after_request(_gzip)
