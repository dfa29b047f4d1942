"""The gunicorn worker ``registry serve`` runs: gthread, but a thread gets a request only once it has all arrived.

gunicorn's gthread worker (27.x) waits up to 5 s for a new connection's first
byte without a thread, then gives it a thread that blocks reading the rest. A
client that sends its request slowly (slowloris: a header line every few
seconds) holds that thread for as long as it goes on; eight of them hold all
2 workers x 4 threads, and ``/healthz`` stops answering. gunicorn's other
workers do not help: sync blocks a whole process, gevent needs monkey-patching
(and SQLite calls would then block every connection of a process), tornado runs
the app one request at a time, and the ASGI worker needs an ASGI app.

:class:`RequestBufferingWorker` keeps gthread's threads, keep-alive and
shutdown, and changes one step: the worker's event loop reads each request
itself, without blocking, until the head is complete (gunicorn's own parser
reads it, from memory) and the body its framing announces (Content-Length or
chunked) has arrived. Only then does a thread get the connection, with the
bytes in its parser, so a thread never waits for a client: a read that would
wait fails at once (:class:`_ArrivedOnly`). Bounds per request:

- the head must arrive within :data:`HEADER_TIMEOUT` seconds, the body within
  :data:`BODY_TIMEOUT` seconds after it; then the connection is closed (a 408
  if it had sent anything);
- a body over the app's limit (64 KiB) goes to the app as soon as that is
  known (its Content-Length, or 80 KiB of chunks), for its 413, and
  the connection is closed after the answer instead of being drained;
- at most :data:`MAX_BUFFERED` bytes are held for one request (431 or 413).

TLS, HTTP/2 and the uwsgi protocol are not used by ``registry serve``; such
connections are served exactly as gthread does.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader, Unreader
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, ThreadWorker

from web import MAX_CONTENT_LENGTH

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 10.0
MAX_BODY = MAX_CONTENT_LENGTH
MAX_BUFFERED = 2 * MAX_CONTENT_LENGTH  # a body at the limit and a generous head
OVER_LIMIT = MAX_BODY + 16 * 1024  # chunk data that shows a body too long; gunicorn reads 1 KiB past the app's reads
MAX_CHUNK_LINE = 8192  # gunicorn refuses a longer chunk-size line (limit_request_field_size)
RECV_SIZE = 64 * 1024

WAIT, READY, TOO_LARGE = "wait", "ready", "too-large"
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
HEAD_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
BODY_TOO_LARGE = b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RequestBufferingWorker(ThreadWorker):
    """gunicorn's gthread worker whose event loop, not a thread, waits for each request to arrive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arriving: dict[Any, _Arriving] = {}
        self.deadlines: list[tuple[float, int, _Arriving]] = []
        self.order = itertools.count()
        self.stop_at: float | None = None

    def enqueue_req(self, conn: Any) -> None:
        """Every connection with a request to read comes here (accepted, kept alive, pipelined)."""
        if not self._buffers(conn):
            super().enqueue_req(conn)
            return
        if conn.parser is None:
            conn.parser = RequestParser(self.cfg, conn.sock, conn.client)
            conn.parser.unreader = _ArrivedOnly(conn.sock)
            conn.initialized = True
        arriving = _Arriving(conn, bytearray(conn.parser.unreader.take_buffered()),
                             time.monotonic() + HEADER_TIMEOUT)
        conn.sock.setblocking(False)
        self.arriving[conn] = arriving
        self._push(arriving)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, arriving))
        if arriving.data:
            self._advance(arriving)

    def _buffers(self, conn: Any) -> bool:
        cfg = self.cfg
        return (not cfg.is_ssl and cfg.protocol == "http" and not conn.is_http2
                and not negotiation.prior_knowledge_allowed(cfg, conn.client)
                and not negotiation.upgrade_allowed(cfg, conn.client))

    def _on_readable(self, arriving: _Arriving, _fileobj: Any) -> None:
        try:
            data = arriving.conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(arriving)  # the client gave up
            return
        arriving.data += data
        try:
            self._advance(arriving)
        except Exception:
            self.log.exception("Error reading a request")
            self._close(arriving)

    def _advance(self, arriving: _Arriving) -> None:
        state = arriving.progress(self.cfg)
        if state == READY:
            self._hand_over(arriving)
        elif state == TOO_LARGE:
            self._close(arriving, BODY_TOO_LARGE if arriving.body_at else HEAD_TOO_LARGE)
        elif arriving.deadline_moved:
            arriving.deadline_moved = False
            self._push(arriving)

    def _hand_over(self, arriving: _Arriving) -> None:
        self._forget(arriving)
        conn = arriving.conn
        conn.parser.unreader.unread(bytes(arriving.data))
        super().enqueue_req(conn)

    def _close(self, arriving: _Arriving, answer: bytes = b"") -> None:
        self._forget(arriving)
        if answer:
            _send(arriving.conn.sock, answer)
        self.nr_conns -= 1
        arriving.conn.close()

    def _forget(self, arriving: _Arriving) -> None:
        del self.arriving[arriving.conn]
        try:
            self.poller.unregister(arriving.conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _push(self, arriving: _Arriving) -> None:
        heapq.heappush(self.deadlines, (arriving.deadline, next(self.order), arriving))

    def murder_pending(self) -> None:
        """gthread's expiry of deferred connections, then of requests that took too long to arrive."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive:  # stopping: requests still arriving get what gthread gives kept-alive connections
            self.stop_at = self.stop_at or now + STOP_KEEPALIVE_LINGER
            if now >= self.stop_at:
                for arriving in list(self.arriving.values()):
                    self._close(arriving)
        while self.deadlines and self.deadlines[0][0] <= now:
            deadline, _, arriving = heapq.heappop(self.deadlines)
            if self.arriving.get(arriving.conn) is arriving and arriving.deadline == deadline:
                self.log.debug("Closing a connection whose request did not arrive in time: %s", arriving.conn.client)
                self._close(arriving, REQUEST_TIMEOUT if arriving.data else b"")


@dataclass(eq=False)
class _Arriving:
    """A request being read by the event loop: its bytes so far, and how far they have been looked at."""

    conn: Any
    data: bytearray
    deadline: float
    searched: int = 0  # the head's end (or the trailers' end) was looked for up to here
    body_at: int = 0  # where the body starts, once the head is complete
    length: int | None = None  # the Content-Length; None for a chunked body
    chunk_at: int = 0  # the next chunk-size line
    decoded: int = 0  # chunk data bytes so far
    deadline_moved: bool = False

    def progress(self, cfg: Any) -> str:
        if not self.body_at:
            end = self.data.find(b"\r\n\r\n", max(0, self.searched - 3))
            if end < 0:
                self.searched = len(self.data)
                return TOO_LARGE if len(self.data) > MAX_BUFFERED else WAIT
            framing = _framing(cfg, bytes(self.data[:end + 4]), self.conn.client, self.conn.parser.req_count + 1)
            if framing is None:
                return READY  # gunicorn refuses this head: let it answer
            self.length, expects_continue = framing
            self.body_at = self.chunk_at = self.searched = end + 4
            self.deadline = time.monotonic() + BODY_TIMEOUT
            self.deadline_moved = True
            if expects_continue and not self._body_complete() and (self.length or 0) <= MAX_BODY:
                _send(self.conn.sock, CONTINUE)
        if self.length is None:
            state = self._chunked()
        elif self.length > MAX_BODY or self._body_complete():
            return READY  # over the limit, the app refuses it on its head alone
        else:
            state = WAIT
        return TOO_LARGE if state == WAIT and len(self.data) > MAX_BUFFERED else state

    def _body_complete(self) -> bool:
        return self.length is not None and len(self.data) - self.body_at >= self.length

    def _chunked(self) -> str:
        """How far the chunks that have arrived go (gunicorn checks them again when it reads them)."""
        data = self.data
        while True:
            at = self.chunk_at
            eol = data.find(b"\r\n", at, at + MAX_CHUNK_LINE)
            if eol < 0:
                return READY if len(data) - at > MAX_CHUNK_LINE else WAIT  # gunicorn refuses a long line
            digits = bytes(data[at:eol]).split(b";", 1)[0].rstrip(b" \t")
            if not digits or digits.strip(b"0123456789abcdefABCDEF"):
                return READY  # a bad chunk size: gunicorn answers it
            size = int(digits, 16)
            if size == 0:  # the last chunk: then trailers, up to an empty line
                end = data.find(b"\r\n\r\n", max(eol, self.searched - 3))
                self.searched = len(data)
                return READY if end >= 0 else WAIT
            if self.decoded + min(size, len(data) - eol - 2) > OVER_LIMIT:
                return READY  # too long: the app reads past its limit from what has arrived, and refuses it
            if eol + 2 + size + 2 > len(data):
                return WAIT
            self.decoded += size
            self.chunk_at = eol + 2 + size + 2


def _framing(cfg: Any, head: bytes, client: Any, number: int) -> tuple[int | None, bool] | None:
    """The body length a complete head announces (None: chunked), and whether it expects 100-continue.

    gunicorn's own parser reads the head, so both sides agree on the framing; None when it refuses it.
    """
    try:
        request = Request(cfg, _Arrived(head), client, number)
    except (Exception, _NeedMore):
        return None
    reader = request.body.reader
    expects = request.version >= (1, 1) and any(
        name == "EXPECT" and value.lower() == "100-continue" for name, value in request.headers)
    if isinstance(reader, ChunkedReader):
        return None, expects
    if isinstance(reader, LengthReader):
        return reader.length, expects
    return None


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.send(data)
    except OSError:
        pass


class _NeedMore(BaseException):  # not Exception: no handler of gunicorn's parser may swallow it
    """gunicorn's parser asked for bytes beyond the ones given to it."""


class _Arrived(Unreader):
    """Bytes already received, as gunicorn's parser reads them."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    def chunk(self, size_hint: int | None = None) -> bytes:
        if not self.data:
            raise _NeedMore
        data, self.data = self.data, b""
        return data


class _ArrivedOnly(SocketUnreader):
    """A connection's socket as a thread reads it: what has arrived, never a wait for more."""

    def chunk(self, size_hint: int | None = None) -> bytes:
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)  # a socket with a timeout would wait for it even with MSG_DONTWAIT
        try:
            return super().chunk(size_hint)
        except BlockingIOError:
            raise TimeoutError("the request had not all arrived") from None
        finally:
            self.sock.settimeout(timeout)
