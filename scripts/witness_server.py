"""The witness over HTTP: ``POST /add-checkpoint`` (c2sp.org/tlog-witness) on a small threaded WSGI server.

What it does: reads a bounded body (Content-Length required, at most
``registry.witnessing.MAX_BODY`` bytes, within a socket timeout), hands it to
:class:`registry.witnessing.Witness` and answers its cosignature line (200,
``text/plain``) or its refusal: 409 with ``Content-Type: text/x.tlog.size`` and
the witness's size as the body, else a one-line plain-text reason. One JSON
line on stderr for each request. At most ``MAX_CONNECTIONS`` connections are
served at once, each for at most ``READ_TIMEOUT`` seconds of silence. SIGTERM or
SIGINT stops it after the requests under way.

What it does not do: decide anything (``registry.witnessing``), or import the
registry's web application (a witness is a separate program).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from registry.witnessing import MAX_BODY, Witness, WitnessRefusal
from scripts import jsonlog

READ_TIMEOUT = 10.0  # seconds a client may take to send its request; the body is small
MAX_CONNECTIONS = 64  # connections served at once (a log sends one request per checkpoint)
StartResponse = Callable[..., Any]
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 411: "Length Required", 413: "Content Too Large", 422: "Unprocessable Entity",
           500: "Internal Server Error"}


def emit(event: str, **fields: Any) -> None:
    jsonlog.emit("witness", event, **fields)


def make_app(witness: Witness) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application of one witness."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        fields: dict[str, Any] = {"method": method, "path": path, "client": environ.get("REMOTE_ADDR")}
        try:
            if path != "/add-checkpoint":
                raise WitnessRefusal(404, "not found: the witness serves POST /add-checkpoint only")
            if method != "POST":
                raise WitnessRefusal(405, "use POST")
            body = _read_body(environ)
            done = witness.add_checkpoint(body)
        except WitnessRefusal as e:
            emit("refused", status=e.status, reason=e.reason, **fields, **({"size": e.size} if e.size is not None
                                                                            else {}))
            if e.status == 409 and e.size is not None:
                return _answer(start_response, 409, f"{e.size}\n".encode(), "text/x.tlog.size")
            return _answer(start_response, e.status, f"{e.reason}\n".encode(), "text/plain; charset=utf-8",
                           [("Allow", "POST")] if e.status == 405 else [])
        except Exception as e:  # a fault of ours (the state file unwritable, say): never a cosignature
            emit("error", level="error", error=f"{type(e).__name__}: {e}", **fields)
            return _answer(start_response, 500, b"the witness could not answer; see its log\n",
                           "text/plain; charset=utf-8")
        emit("cosigned", status=200, origin=done.origin, old_size=done.old_size, size=done.size, **fields)
        return _answer(start_response, 200, done.lines, "text/plain; charset=utf-8")

    return app


def _read_body(environ: dict[str, Any]) -> bytes:
    text = environ.get("CONTENT_LENGTH") or ""
    if not text.isdigit():
        raise WitnessRefusal(411, "a Content-Length is required")
    length = int(text)
    if length > MAX_BODY:
        raise WitnessRefusal(413, f"the body is larger than {MAX_BODY} bytes")
    stream = environ["wsgi.input"]
    chunks, left = [], length
    try:
        while left:
            chunk = stream.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except (TimeoutError, OSError):
        raise WitnessRefusal(400, "the body did not arrive in time") from None
    if left:
        raise WitnessRefusal(400, "the body is shorter than its Content-Length")
    return b"".join(chunks)


def _answer(start_response: StartResponse, status: int, body: bytes, content_type: str,
            headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(f"{status} {REASONS.get(status, 'Error')}",
                   [("Content-Type", content_type), ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


class _Handler(WSGIRequestHandler):
    timeout = READ_TIMEOUT  # socket timeout for each read: a client that stalls is dropped

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the app logs one JSON line per request instead

    def handle(self) -> None:
        try:
            super().handle()
        except (TimeoutError, ConnectionError):
            pass  # a client that stalled or left: nothing to answer


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread a connection, at most MAX_CONNECTIONS at once: a connection beyond them is closed unanswered,
    so a flood of idle connections costs bounded threads (each also ends after READ_TIMEOUT)."""

    daemon_threads = False  # let requests under way finish (and their state writes land) on shutdown
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128  # the listen backlog: a burst waits to be accepted (and counted) in order

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            emit("refused", reason=f"more than {MAX_CONNECTIONS} connections at once", client=client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve(witness: Witness, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests under way and return."""
    server = make_server(host, port, make_app(witness), server_class=_ThreadingServer, handler_class=_Handler)

    def stop(signum: int, _frame: Any) -> None:
        emit("stopping", signal=signal.Signals(signum).name)
        # shutdown() waits for serve_forever, which runs in this very thread: ask from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound = server.server_address[1]
    emit("started", name=witness.name, verifier_key=witness.verifier_key, logs=sorted(witness.logs),
         host=host, port=bound, state=str(witness.state.path))
    if ready is not None:
        ready(bound)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()  # joins the request threads (block_on_close)
        emit("stopped")
