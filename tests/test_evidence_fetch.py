"""Over real HTTP (gunicorn on loopback): a mirror's fetch of archived evidence, and gzip for bundles and feeds.

One registry is initialized and served by gunicorn, as an operator runs it;
``registry evidence add`` archives documents into it from another process.
``scripts.evidencefetch.fetch_evidence`` then fetches them as a monitor does,
and urllib (which sends no ``Accept-Encoding`` of its own) checks the gzip and
identity variants of entry bundles and feeds, their ETags and their 304s.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from registry.errors import MalformedError, NotFoundError, RemoteError, VerificationError
from scripts.evidencefetch import fetch_evidence
from tests import harness
from tests.test_cli_remote import clean_env

ORIGIN = "fetch.test/hcoc"
PDF = b"%PDF-1.4\nThe press release, as it was\n%%EOF\n"
HTML = b"<!doctype html><title>gone</title><script>alert(1)</script>"


class Served:
    def __init__(self, url: str, data: Path) -> None:
        self.url = url
        self.data = data

    def request(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("fetch")
    data, port = root / "registry", harness.free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(REGISTRY_DATA_DIR=str(data))
    harness.run_registry(env, "init", "--origin", ORIGIN, "--base-url", url)
    harness.run_registry(env, "checkpoint")
    for name, content in (("press.pdf", PDF), ("page.html", HTML)):
        (root / name).write_bytes(content)
        harness.run_registry(env, "evidence", "add", str(root / name), "--url", f"https://example.org/{name}")
    with harness.gunicorn(env, port) as base:
        yield Served(base, data)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- fetch_evidence ---------------------------------------------------------------------------


def test_a_mirror_fetches_an_archived_document_verified(served: Served) -> None:
    assert fetch_evidence(served.url, sha(PDF)) == PDF
    assert fetch_evidence(served.url + "/", sha(HTML)) == HTML


def test_an_unknown_document_is_not_found(served: Served) -> None:
    with pytest.raises(NotFoundError):
        fetch_evidence(served.url, "ab" * 32)


def test_a_malformed_hash_is_refused_before_anything_is_fetched(served: Served) -> None:
    with pytest.raises(MalformedError):
        fetch_evidence(served.url, "../checkpoint")


def test_a_document_over_the_limit_is_refused(served: Served) -> None:
    with pytest.raises(RemoteError) as refused:
        fetch_evidence(served.url, sha(PDF), limit=len(PDF) - 1)
    assert refused.value.code == "answer-too-large"


def test_bytes_that_do_not_hash_to_the_name_are_refused() -> None:
    """A registry (here a one-answer server) that serves other bytes under a document's name."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            body = b"%PDF-1.4 forged"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(VerificationError, match="hash to"):
            fetch_evidence(f"http://127.0.0.1:{port}", sha(PDF))
    finally:
        thread.join(timeout=10)
        listener.close()


def test_html_is_served_as_an_attachment_that_the_browser_must_not_sniff(served: Served) -> None:
    status, headers, body = served.request(f"/evidence/{sha(HTML)}")
    assert status == 200 and body == HTML
    assert headers["content-type"] == "text/html"
    assert headers["content-disposition"] == f'attachment; filename="{sha(HTML)}.html"'
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"]


# --- gzip for entry bundles and feeds -----------------------------------------------------------


BUNDLE = "/tile/entries/000.p/2"  # registry init records genesis and the maintainer; a checkpoint covers them


@pytest.mark.parametrize("path", [BUNDLE, "/feeds/events.atom", "/feeds/events.rss"])
def test_gzip_and_identity_variants_carry_the_same_bytes(served: Served, path: str) -> None:
    status, plain_headers, plain = served.request(path)
    assert status == 200 and "content-encoding" not in plain_headers
    status, headers, packed = served.request(path, {"Accept-Encoding": "gzip, deflate"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed) == plain and len(packed) == int(headers["content-length"])
    assert "Accept-Encoding" in headers["vary"] and "Accept-Encoding" in plain_headers["vary"]
    assert headers["content-type"] == plain_headers["content-type"]
    # Refused explicitly: identity.
    status, refused_headers, body = served.request(path, {"Accept-Encoding": "gzip;q=0, identity"})
    assert status == 200 and body == plain and "content-encoding" not in refused_headers


@pytest.mark.parametrize("path", ["/feeds/events.atom", "/feeds/events.rss"])
def test_each_variant_has_its_own_etag_and_304(served: Served, path: str) -> None:
    _, plain_headers, _ = served.request(path)
    _, headers, packed = served.request(path, {"Accept-Encoding": "gzip"})
    plain_etag, gzip_etag = plain_headers["etag"], headers["etag"]
    assert gzip_etag != plain_etag and gzip_etag.rstrip('"').endswith("-gzip")
    status, _, body = served.request(path, {"Accept-Encoding": "gzip", "If-None-Match": gzip_etag})
    assert status == 304 and body == b""
    status, _, body = served.request(path, {"If-None-Match": plain_etag})
    assert status == 304 and body == b""
    # The gzip validator does not validate an identity copy: the full identity bytes come back.
    status, _, body = served.request(path, {"If-None-Match": gzip_etag})
    assert status == 200 and body != b"" and gzip.decompress(packed) == body


def test_a_feed_reader_reads_the_gzip_feed(served: Served) -> None:
    _, _, packed = served.request("/feeds/events.atom", {"Accept-Encoding": "gzip"})
    parsed = feedparser.parse(gzip.decompress(packed))
    assert not parsed.bozo and len(parsed.entries) == 2
    # feedparser's own HTTP client asks for gzip and decodes it.
    fetched = feedparser.parse(f"{served.url}/feeds/events.atom")
    assert not fetched.bozo and fetched.headers.get("content-encoding") == "gzip"
    assert [e.id for e in fetched.entries] == [e.id for e in parsed.entries]


def test_other_paths_are_not_compressed(served: Served) -> None:
    for path in ("/checkpoint", "/tile/0/000.p/2", f"/evidence/{sha(PDF)}"):
        status, headers, _ = served.request(path, {"Accept-Encoding": "gzip"})
        assert status == 200 and "content-encoding" not in headers, path

