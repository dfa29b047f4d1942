"""Fetch an organization's key-proof file, within bounds, over HTTPS only.

What it does: :func:`fetch` gets ``https://<host>/.well-known/hcoc-registry-keys``
(docs/FORMATS.md section 21) with the standard library's HTTP client and
returns what a statement records as evidence: the URL asked for, the UTC time
of the answer, the SHA-256 of the exact body, and the file parsed
(``registry.keyproof``). Every fetch is bounded:

- HTTPS with the system's certificate checks; plain ``http://`` only when the
  caller allows it, and then only to a loopback address. Tests allow it (with
  ``allow_http=True``, or ``REGISTRY_KEYPROOF_ALLOW_HTTP=1`` for the command
  line): never set it anywhere else.
- :data:`TIMEOUT` seconds for the whole fetch, redirects and every byte of the
  body included, so a server that trickles bytes is cut off too.
- :data:`MAX_BYTES` of body, counted while reading: a larger declared length is
  refused before reading, and a body that grows past it is dropped at once.
- At most :data:`MAX_REDIRECTS` redirects, each on the same host and port and
  never from ``https`` to ``http``.
- No cookies, no proxy, no credentials, no compressed bodies.

What it does not do: run in the web process (tests/test_imports.py keeps
``web/`` from importing it), retry, or cache.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import SplitResult, urljoin, urlsplit

from registry import keyproof
from registry.errors import FetchError
from registry.times import format_time

ALLOW_HTTP_ENV = "REGISTRY_KEYPROOF_ALLOW_HTTP"
TIMEOUT = 5.0
MAX_BYTES = keyproof.MAX_BYTES
MAX_REDIRECTS = 3
USER_AGENT = "hcoc-registry-keyproof/1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 8192


def allow_http_from(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``REGISTRY_KEYPROOF_ALLOW_HTTP=1`` allows plain http to loopback (for tests only)."""
    return environ.get(ALLOW_HTTP_ENV) == "1"


def fetch(url: str, *, allow_http: bool = False, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES,
          max_redirects: int = MAX_REDIRECTS, now: Callable[[], datetime] = lambda: datetime.now(UTC)
          ) -> keyproof.Fetched:
    """Fetch and parse the key-proof file at ``url`` (a well-known URL, see ``keyproof.well_known_url``).

    Raises:
        FetchError: refused before asking, unreachable, not 200, too slow, too large, or a bad redirect.
        MalformedError: the body is not a valid key-proof file.
    """
    _check_target(url, allow_http)
    deadline = time.monotonic() + timeout
    current = url
    for _ in range(max_redirects + 1):
        status, location, body = _get(current, deadline, max_bytes)
        if status in _REDIRECTS:
            if not location:
                raise FetchError(f"{current} answered {status} without a Location")
            target = urljoin(current, location)
            _check_redirect(current, target, allow_http)
            current = target
            continue
        if status != 200:
            raise FetchError(f"{current} answered {status}, not 200")
        fetched_at = format_time(now())
        # Parsed last: the time and hash are of bytes that arrived whole, within every bound.
        document = keyproof.parse_key_file(body)
        return keyproof.Fetched(url, current, fetched_at, hashlib.sha256(body).hexdigest(), document)
    raise FetchError(f"{url}: more than {max_redirects} redirects")


def _check_target(url: str, allow_http: bool) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise FetchError(f"not a URL: {url[:200]!r}") from None
    if not parts.hostname or "@" in parts.netloc:
        raise FetchError(f"not a URL with a host (and no user name): {url[:200]!r}")
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise FetchError(f"only https:// URLs are fetched, not {url[:200]!r}")
    if not allow_http:
        raise FetchError(f"only https:// URLs are fetched (plain http proves nothing about a host): {url[:200]!r}")
    if not _loopback(parts.hostname):
        raise FetchError(f"plain http is allowed for tests on this machine's loopback only, not {parts.hostname!r}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_redirect(source: str, target: str, allow_http: bool) -> None:
    """A redirect stays on the same host and port, and never goes from https to http."""
    before, after = urlsplit(source), urlsplit(target)
    _check_target(target, allow_http)
    if (after.hostname or "").lower() != (before.hostname or "").lower() or _port(after) != _port(before):
        raise FetchError(f"{source} redirects to another host ({after.netloc[:200]}): refused")
    if before.scheme == "https" and after.scheme != "https":
        raise FetchError(f"{source} redirects from https to {after.scheme}: refused")


def _port(parts: SplitResult) -> int:
    return parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError(f"{url}: no complete answer within the time allowed")
    return left


def _get(url: str, deadline: float, max_bytes: int) -> tuple[int, str | None, bytes]:
    """One GET: (status, Location, body). The body is read only for a 200."""
    parts = urlsplit(url)
    timeout = _remaining(deadline, url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    watchdog: _Watchdog | None = None
    try:
        connection.connect()
        # A server may trickle its status line and headers a byte at a time, each within the socket's
        # timeout: at the deadline the watchdog shuts the socket, so no read outlives the fetch.
        watchdog = _Watchdog(connection.sock, _remaining(deadline, url))
        connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Accept": "application/json",
                                                   "Accept-Encoding": "identity", "Connection": "close"})
        response = connection.getresponse()
        if response.status in _REDIRECTS:
            return response.status, response.getheader("Location"), b""
        if response.status != 200:
            return response.status, None, b""
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise FetchError(f"{url}: a body encoded as {encoding[:40]!r} is not accepted")
        declared = response.getheader("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{url}: the body is {int(declared)} bytes; at most {max_bytes} are read")
        body = _read(watchdog.sock, response, url, deadline, max_bytes)
        if watchdog.fired.is_set():  # the end of the body was the watchdog's, not the server's
            raise TimeoutError
        return 200, None, body
    except (OSError, ValueError, http.client.HTTPException) as e:
        if isinstance(e, TimeoutError) or (watchdog is not None and watchdog.fired.is_set()):
            raise FetchError(f"{url}: no complete answer within the time allowed") from None
        raise FetchError(f"{url}: {type(e).__name__}: {e}"[:500]) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
        connection.close()


class _Watchdog:
    """Shuts a socket when its time is up (reads then end at once), and says that it did."""

    def __init__(self, sock: socket.socket | None, seconds: float) -> None:
        # Kept here: the connection lets go of its socket once a response that closes it arrives.
        self.sock = sock
        self.fired = threading.Event()
        self._timer = threading.Timer(seconds, self._shut)
        self._timer.daemon = True
        self._timer.start()

    def _shut(self) -> None:
        self.fired.set()
        if self.sock is not None:
            try:
                # The plain socket's method, also under TLS: SSLSocket.shutdown would unwrap the TLS state
                # under the reading thread's feet; this only ends its reads.
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the fetch is over

    def cancel(self) -> None:
        self._timer.cancel()


def _read(sock: socket.socket | None, response: http.client.HTTPResponse, url: str, deadline: float,
          max_bytes: int) -> bytes:
    body = bytearray()
    while True:
        if sock is not None:
            sock.settimeout(_remaining(deadline, url))  # each read waits only as long as the whole fetch may
        chunk = response.read1(_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"{url}: the body is over {max_bytes} bytes; the rest is not read")
