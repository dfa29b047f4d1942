"""Fetching a key-proof file (scripts.keyfetch), against a real HTTP server on loopback.

The server is Python's ``http.server`` in a thread, answering each path its own
way: a good file, a 404, redirects (on the same host, to another host, in a
loop), a body over the limit (declared, or streamed without end), and servers
too slow with their headers or their body. Plain http is allowed here, as only
tests may (``allow_http=True``); without it, nothing is even asked.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry import keyproof
from registry.errors import FetchError, MalformedError
from scripts import keyfetch

ORIGIN = "registry.example.org/hcoc"
KEY = "5025fe84d66fd874447486747c8397ace3ff08c721facdf05dbe390e7371d7e6"
GOOD = keyproof.format_key_file([keyproof.Listing(ORIGIN, "example-ai", (KEY,))])
PATH = keyproof.PATH


@dataclass
class Seen:
    """What the server saw: each request's path and headers, and how much of an endless body it sent."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    streamed: int = 0
    stream_done: threading.Event = field(default_factory=threading.Event)


class Handler(BaseHTTPRequestHandler):
    seen: Seen
    other_port: int

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.requests.append((self.path, dict(self.headers)))
        route = getattr(self, "route_" + self.path.strip("/").replace("/", "_").replace(".", "_").replace("-", "_"),
                        None)
        if route is None:
            self.send_error(404)
            return
        route()

    def _send(self, body: bytes, status: int = 200, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Set-Cookie", "session=secret; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route__well_known_hcoc_registry_keys(self) -> None:
        self._send(GOOD, Content_Type="application/json")

    def route_moved(self) -> None:
        self._redirect(PATH)  # relative: the same host

    def route_moved_twice(self) -> None:
        self._redirect("/moved")

    def route_elsewhere(self) -> None:
        # Another host name for the same machine: still another host.
        self._redirect(f"http://localhost:{self.server.server_address[1]}{PATH}")

    def route_other_port(self) -> None:
        self._redirect(f"http://127.0.0.1:{self.other_port}{PATH}")

    def route_loop(self) -> None:
        self._redirect("/loop")

    def route_declared_too_large(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10 * 1024 * 1024))
        self.end_headers()
        time.sleep(3)  # nothing comes: a client that waited for the body would time out instead

    def route_endless(self) -> None:
        self.send_response(200)
        self.end_headers()  # no length: the body ends when the connection does
        try:
            for _ in range(1024):  # 64 MiB at most
                self.wfile.write(b" " * 65536)
                self.seen.streamed += 65536
        except OSError:
            pass  # the client hung up
        finally:
            self.seen.stream_done.set()

    def route_slow_body(self) -> None:
        self.send_response(200)
        self.end_headers()
        try:
            for byte in GOOD:  # a byte every 50 ms: each read is quick, the whole is not
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def route_slow_headers(self) -> None:
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 200:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def route_silent(self) -> None:
        time.sleep(3)

    def route_gzip(self) -> None:
        self._send(GOOD, Content_Encoding="gzip")

    def route_not_a_file(self) -> None:
        self._send(b"<html>Welcome</html>", Content_Type="text/html")


@dataclass
class Server:
    base: str
    seen: Seen


@pytest.fixture
def server() -> Iterator[Server]:
    seen = Seen()
    other = ThreadingHTTPServer(("127.0.0.1", 0), type("Other", (Handler,), {"seen": Seen(), "other_port": 0}))
    handler = type("Bound", (Handler,), {"seen": seen, "other_port": other.server_address[1]})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    other.daemon_threads = True
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in (httpd, other)]
    for thread in threads:
        thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", seen)
    finally:
        for s in (httpd, other):
            s.shutdown()
            s.server_close()


def fetch(url: str, **options: object) -> keyproof.Fetched:
    return keyfetch.fetch(url, allow_http=True, **options)  # type: ignore[arg-type]


def test_a_good_file_is_fetched_with_its_evidence(server: Server) -> None:
    moment = datetime(2025, 6, 7, 20, 55, 0, tzinfo=UTC)
    found = fetch(server.base + PATH, now=lambda: moment)
    assert found.url == found.final_url == server.base + PATH
    assert found.fetched_at == "2025-06-07T20:55:00Z"
    assert found.sha256 == hashlib.sha256(GOOD).hexdigest()
    assert found.document.keys_for(ORIGIN, "example-ai") == {KEY}
    # Asked plainly: no cookie, no compression.
    path, headers = server.seen.requests[-1]
    assert path == PATH and "Cookie" not in headers and headers["Accept-Encoding"] == "identity"


def test_a_404_cannot_be_fetched(server: Server) -> None:
    with pytest.raises(FetchError, match="answered 404"):
        fetch(server.base + "/missing")


def test_redirects_on_the_same_host_are_followed_without_cookies(server: Server) -> None:
    found = fetch(server.base + "/moved-twice")
    assert found.url == server.base + "/moved-twice" and found.final_url == server.base + PATH
    assert [p for p, _ in server.seen.requests] == ["/moved-twice", "/moved", PATH]
    assert all("Cookie" not in headers for _, headers in server.seen.requests)


def test_a_redirect_to_another_host_is_refused(server: Server) -> None:
    with pytest.raises(FetchError, match="redirects to another host"):
        fetch(server.base + "/elsewhere")
    with pytest.raises(FetchError, match="redirects to another host"):
        fetch(server.base + "/other-port")
    assert [p for p, _ in server.seen.requests] == ["/elsewhere", "/other-port"]  # never followed


def test_at_most_three_redirects(server: Server) -> None:
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch(server.base + "/loop")
    assert len(server.seen.requests) == 4


def test_a_declared_length_over_the_limit_is_refused_before_reading(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="10485760 bytes; at most 65536"):
        fetch(server.base + "/declared-too-large")
    assert time.monotonic() - started < 2


def test_a_body_over_the_limit_is_refused_without_reading_it_all(server: Server) -> None:
    with pytest.raises(FetchError, match="over 65536 bytes"):
        fetch(server.base + "/endless")
    assert server.seen.stream_done.wait(10)
    # The client hung up after the limit: the server could not send its 64 MiB.
    assert server.seen.streamed < 16 * 1024 * 1024


@pytest.mark.parametrize("path", ["/slow-body", "/slow-headers", "/silent"])
def test_a_slow_server_times_out(server: Server, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="no complete answer within the time allowed"):
        fetch(server.base + path, timeout=1.0)
    assert time.monotonic() - started < 1.8


def test_the_default_timeout_is_five_seconds() -> None:
    assert keyfetch.TIMEOUT == 5.0 and keyfetch.MAX_BYTES == 64 * 1024 and keyfetch.MAX_REDIRECTS == 3


def test_a_compressed_body_is_refused(server: Server) -> None:
    with pytest.raises(FetchError, match="encoded as 'gzip'"):
        fetch(server.base + "/gzip")


def test_a_page_that_is_not_a_key_proof_file_is_malformed(server: Server) -> None:
    with pytest.raises(MalformedError, match="key-proof file: not strict JSON"):
        fetch(server.base + "/not-a-file")


def test_plain_http_is_refused_unless_allowed_and_nothing_is_asked(server: Server) -> None:
    with pytest.raises(FetchError, match="only https"):
        keyfetch.fetch(server.base + PATH)
    assert server.seen.requests == []


@pytest.mark.parametrize("url", ["http://ai.example.com/.well-known/hcoc-registry-keys",
                                 "http://10.0.0.1/.well-known/hcoc-registry-keys"])
def test_allowed_http_is_for_loopback_only(url: str) -> None:
    with pytest.raises(FetchError, match="loopback only"):
        keyfetch.fetch(url, allow_http=True)


@pytest.mark.parametrize("url", ["ftp://ai.example.com/x", "https://user@ai.example.com/x", "https:///x",
                                 "file:///etc/passwd"])
def test_what_is_not_an_https_url_is_never_asked(url: str) -> None:
    with pytest.raises(FetchError):
        keyfetch.fetch(url, allow_http=True)


@pytest.mark.parametrize(("source", "target", "allowed"), [
    ("https://a.example/x", "https://a.example/y", True),
    ("https://a.example/x", "https://A.EXAMPLE:443/y", True),
    ("https://a.example/x", "http://a.example/y", False),  # never down to http
    ("https://a.example/x", "https://b.example/y", False),
    ("https://a.example/x", "https://a.example:8443/y", False),
    ("https://a.example/x", "https://www.a.example/y", False),
])
def test_redirect_rules(source: str, target: str, allowed: bool) -> None:
    if allowed:
        keyfetch._check_redirect(source, target, allow_http=False)
    else:
        with pytest.raises(FetchError):
            keyfetch._check_redirect(source, target, allow_http=False)


def test_the_environment_switch_is_exactly_one() -> None:
    assert keyfetch.allow_http_from({keyfetch.ALLOW_HTTP_ENV: "1"})
    assert not keyfetch.allow_http_from({keyfetch.ALLOW_HTTP_ENV: "true"})
    assert not keyfetch.allow_http_from({})
