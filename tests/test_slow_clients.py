"""Slow clients against the default deployment: ``registry serve`` (2 workers) on loopback, SQLite and PostgreSQL.

- 64 connections from 127.0.0.1 that each send a partial request, then one
  header line every 3 s, and 8 more that send their head whole and drip the
  body (Content-Length and chunked): meanwhile ``/healthz`` and
  ``/feeds/events.atom`` answer 200 within 1 s every time, over ~10 s, and a
  client that sends its request in pieces (quickly) is answered too;
- every slow connection is cut by the worker's header (or body) timeout, and
  the site answers as before afterwards;
- an upload declared too large is a 413 and its connection is closed at once,
  not drained while the client sends nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import selectors
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from tests.conftest import _make_backend
from tests.test_abuse import Server, prepared, server
from web.worker import BODY_TIMEOUT, CONTINUE, HEADER_TIMEOUT, MAX_BUFFERED, READY, TOO_LARGE, WAIT, _Arriving

SLOW_HEADS = 64
SLOW_BODIES = 8
LINE_EVERY = 3.0  # seconds between two header lines (or body bytes) of a slow client
ANSWER_WITHIN = 1.0
READS = ("/healthz", "/feeds/events.atom")
CUT_SLACK = 3.0  # the worker checks deadlines about once a second; the client notices at its next read


class Drip:
    """Slow connections, driven by one thread: each sends a little more every LINE_EVERY seconds until cut."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.socks: list[socket.socket] = []
        self.cut_at: dict[int, float] = {}
        self.answers: dict[int, bytes] = {}
        self.bodies: set[socket.socket] = set()  # these drip their body, a byte at a time
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def open(self, first: bytes, body: bool = False) -> None:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(first)
        s.setblocking(False)
        self.socks.append(s)
        if body:
            self.bodies.add(s)

    def start(self) -> None:
        self.opened_at = time.monotonic()
        self.thread.start()

    def alive(self) -> int:
        return len(self.socks) - len(self.cut_at)

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for s in self.socks:
                selector.register(s, selectors.EVENT_READ)
            next_line, n = time.monotonic() + LINE_EVERY, 0
            while not self.stop.is_set() and self.alive():
                for key, _ in selector.select(timeout=0.2):
                    self._read(key.fileobj, selector)  # type: ignore[arg-type]
                if time.monotonic() >= next_line:
                    next_line, n = next_line + LINE_EVERY, n + 1
                    for s in self.socks:
                        if s.fileno() not in self.cut_at:
                            try:
                                s.send(b"1" if s in self.bodies else b"X-Slow-%d: %d\r\n" % (n, n))
                            except OSError:
                                self._cut(s, selector)

    def _read(self, s: socket.socket, selector: selectors.BaseSelector) -> None:
        try:
            data = s.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.answers[s.fileno()] = self.answers.get(s.fileno(), b"") + data
        else:
            self._cut(s, selector)

    def _cut(self, s: socket.socket, selector: selectors.BaseSelector) -> None:
        self.cut_at.setdefault(s.fileno(), time.monotonic() - self.opened_at)
        selector.unregister(s)

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        for s in self.socks:
            s.close()


@contextlib.contextmanager
def dripping(port: int) -> Iterator[Drip]:
    drip = Drip(port)
    try:
        for _ in range(SLOW_HEADS):
            drip.open(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for i in range(SLOW_BODIES):
            head = (b"POST /api/v1/statements HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + (b"Transfer-Encoding: chunked\r\n\r\n10\r\n" if i % 2 else b"Content-Length: 100\r\n\r\n"))
            drip.open(head, body=True)
        drip.start()
        yield drip
    finally:
        drip.close()


def timed_get(base: str, path: str) -> tuple[int | None, float]:
    """The status (None: no answer in 3 s) and how long it took."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(base + path, timeout=3) as r:
            r.read()
            status: int | None = r.status
    except OSError:
        status = None
    return status, time.monotonic() - start


def pieces(port: int, delay: float = 0.3) -> bytes:
    """A client that sends its request in three pieces, ``delay`` apart (slow, but well within the timeouts).

    Its answer (what came of it in 3 s).
    """
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Connection: close\r\n\r\n"):
            s.sendall(piece)
            time.sleep(delay)
        with contextlib.suppress(TimeoutError):
            while more := s.recv(65536):
                answer += more
    return answer


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def serving(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``registry serve`` with its own options on a small registry, one per backend."""
    with contextlib.contextmanager(_make_backend)(request.param, tmp_path_factory.mktemp("slow")) as backend:
        with prepared(backend), server(backend, tmp_path_factory.mktemp("slow-logs")) as running:
            running.start_serve()
            yield running


def test_slow_clients_do_not_stop_the_site_and_are_cut(serving: Server) -> None:
    latencies: dict[str, list[float]] = {path: [] for path in READS}
    failures: list[tuple[str, int | None, float]] = []
    with dripping(serving.port) as drip:
        # Check reads meanwhile, until just before the header timeout (every slow client still connected).
        while time.monotonic() - drip.opened_at < HEADER_TIMEOUT - 1.0:
            for path in READS:
                status, seconds = timed_get(serving.base, path)
                latencies[path].append(seconds)
                if status != 200 or seconds >= ANSWER_WITHIN:
                    failures.append((path, status, round(seconds, 2)))
            time.sleep(0.4)
        in_pieces = pieces(serving.port)
        # Then every slow connection is cut, within the timeouts and the worker's once-a-second check.
        limit = max(HEADER_TIMEOUT, BODY_TIMEOUT) + CUT_SLACK
        while drip.alive() and time.monotonic() - drip.opened_at < limit:
            time.sleep(0.2)
        cut = sorted(drip.cut_at.values())
        answers = set(drip.answers.values())
        after = [timed_get(serving.base, path) for path in READS]
    print(f"\n{SLOW_HEADS} + {SLOW_BODIES} slow connections: " + ", ".join(
        f"{path} {len(ls)} reads, max {max(ls) * 1000:.0f} ms" for path, ls in latencies.items())
        + (f"; cut after {cut[0]:.1f}-{cut[-1]:.1f} s" if cut else "; none cut"))
    assert not failures, failures
    assert all(len(ls) >= 5 for ls in latencies.values()), latencies
    assert in_pieces.startswith(b"HTTP/1.1 200 "), in_pieces[:200]
    assert len(cut) == SLOW_HEADS + SLOW_BODIES, f"{drip.alive()} slow connections still open after {limit} s"
    assert cut[0] >= min(HEADER_TIMEOUT, BODY_TIMEOUT) - 0.5, f"cut before the timeout: {cut[:5]}"
    assert answers <= {b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"}, answers
    assert all(status == 200 and seconds < ANSWER_WITHIN for status, seconds in after), after
    log = (serving.logs / "web.log").read_text()
    assert "Traceback" not in log, log[log.find("Traceback") - 500:][:3000]


def test_complete_requests_are_answered_however_they_arrive(serving: Server) -> None:
    # kept alive: three requests on one connection
    connection = http.client.HTTPConnection("127.0.0.1", serving.port, timeout=5)
    try:
        for path in (*READS, "/healthz"):
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 200 and response.read(), path
    finally:
        connection.close()
    # pipelined: two requests in one write
    answer = exchange(serving.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer[:500]
    # a chunked body, whole, and a body sent only after the server's 100 Continue
    post = b"POST /api/v1/statements HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    chunked = b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    answer = exchange(serving.port, post + chunked)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    with socket.create_connection(("127.0.0.1", serving.port), timeout=ANSWER_WITHIN) as s:
        s.sendall(post + b"Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        assert s.recv(len(CONTINUE)) == CONTINUE
        s.sendall(b"{}")
        answer = read_all(s)
    assert b"HTTP/1.1 400 " in answer, answer[:300]


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        return read_all(s)


def read_all(s: socket.socket) -> bytes:
    answer = b""
    while more := s.recv(65536):
        answer += more
    return answer


def test_an_oversized_upload_is_refused_and_closed_at_once(serving: Server) -> None:
    with socket.create_connection(("127.0.0.1", serving.port), timeout=5) as s:
        s.sendall(b"POST /api/v1/statements HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 8388608\r\n\r\n" + b" " * 1000)
        start, answer = time.monotonic(), b""
        while more := s.recv(65536):
            answer += more
        closed_after = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert closed_after < ANSWER_WITHIN, f"the connection stayed open {closed_after:.1f} s"


# --- when the worker's event loop hands a request to a thread ----------------------------------------------

GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
POST = b"POST /api/v1/statements HTTP/1.1\r\nHost: 127.0.0.1\r\n"
WHOLE = [
    GET,
    b"\r\n" + GET,
    POST + b"Content-Length: 5\r\n\r\nhello",
    POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\n\r\n",
    POST + b"Transfer-Encoding: chunked\r\n\r\n2\r\n\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n",
]


class Sent:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)


def arriving() -> _Arriving:
    conn: Any = SimpleNamespace(client=("127.0.0.1", 1), parser=SimpleNamespace(req_count=0), sock=Sent())
    return _Arriving(conn, bytearray(), deadline=0.0)


def feed(request: bytes, step: int = 1) -> list[str]:
    """The state after each ``step`` bytes."""
    cfg, pending, states = Config(), arriving(), []
    for at in range(0, len(request), step):
        pending.data += request[at:at + step]
        states.append(pending.progress(cfg))
    return states


@pytest.mark.parametrize("request_bytes", WHOLE)
def test_a_request_is_handed_over_when_its_last_byte_arrives(request_bytes: bytes) -> None:
    states = feed(request_bytes)
    assert states == [WAIT] * (len(request_bytes) - 1) + [READY]
    assert feed(request_bytes, step=len(request_bytes)) == [READY]
    assert feed(request_bytes + GET, step=len(request_bytes) + len(GET)) == [READY]  # pipelined


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",  # refused by gunicorn: it answers 400
    POST + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    POST + b"Transfer-Encoding: gzip\r\n\r\n",
    POST + b"Content-Length: 8388608\r\n\r\n",  # too long: the app answers 413 on the head alone
])
def test_a_refused_head_is_handed_over_at_once(head: bytes) -> None:
    assert feed(head, step=len(head)) == [READY]


def test_chunks_too_long_or_malformed_are_handed_over_and_hoarding_is_refused() -> None:
    chunked = POST + b"Transfer-Encoding: chunked\r\n\r\n"
    states = feed(chunked + b"20000\r\n" + b"x" * 0x20000, step=1024)
    assert states[-1] == READY and states.index(READY) * 1024 < len(chunked) + 90 * 1024  # not all of it
    assert feed(chunked + b"zz\r\n", step=1024) == [READY]
    assert feed(b"GET /" + b"a" * MAX_BUFFERED, step=MAX_BUFFERED // 4)[-1] == TOO_LARGE
    tiny = chunked + b"1\r\nx\r\n" * (MAX_BUFFERED // 6)
    assert feed(tiny, step=len(tiny)) == [TOO_LARGE]


def test_continue_is_sent_once_the_head_is_in_and_not_for_a_body_that_came_with_it() -> None:
    head = POST + b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    cfg = Config()
    for body, sent in ((b"", [CONTINUE]), (b"{}", [])):
        pending = arriving()
        pending.data += head + body
        assert pending.progress(cfg) == (READY if body else WAIT)
        assert pending.conn.sock.sent == sent
