"""gzip for entry bundles and feeds (web.compress), through the Flask test client on both backends.

The same behaviour over gunicorn and a feed reader is in tests/test_evidence_fetch.py.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Backend, sign_checkpoint, signing_world


@pytest.fixture
def app(backend: Backend) -> Iterator[Any]:
    with signing_world(backend) as world:
        for slug in ("a", "b", "c"):
            world.org(slug)
        sign_checkpoint(backend, world.registry)
    with backend.serve(env={"REGISTRY_FEED_PAGE_SIZE": "2"}) as served:
        yield served


PATHS = ["/tile/entries/000.p/5", "/feeds/events.atom", "/feeds/events.rss", "/feeds/events/archive/0.atom",
         "/feeds/organizations/a.atom"]


@pytest.mark.parametrize("path", PATHS)
def test_gzip_for_those_who_ask_identity_for_the_others(app: Any, path: str) -> None:
    client = app.test_client()
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "br, gzip;q=0.5"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert packed.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
    assert packed.headers["Cache-Control"] == plain.headers["Cache-Control"]
    # the same compressed bytes every time (cached or not): caches and mirrors can compare them
    assert client.get(path, headers={"Accept-Encoding": "gzip"}).data == packed.data == gzip.compress(
        plain.data, compresslevel=6, mtime=0)
    assert "Content-Encoding" not in client.get(path, headers={"Accept-Encoding": "identity"}).headers
    if plain.headers.get("ETag"):
        assert packed.headers["ETag"] != plain.headers["ETag"]
        again = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""


def test_errors_and_other_paths_stay_plain(app: Any) -> None:
    client = app.test_client()
    for path in ("/tile/entries/001", "/feeds/organizations/nobody.atom", "/checkpoint", "/tile/0/000.p/5",
                 "/api/v1/organizations"):
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in response.headers, path
