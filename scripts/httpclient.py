"""The HTTP client of remote mode: bounded requests to one registry, with the standard library.

What it does: GET and POST with a timeout on every request and a deadline and
a size limit on reading every answer; only http and https; a redirect is
followed only for a GET and only within the registry's own site (scheme, host
and port). An answer of any status comes back as an :class:`Answer`; not
getting one (connection refused, a name that does not resolve, a timeout, a
redirect elsewhere) is a :class:`~registry.errors.RemoteError` ``unreachable``
and an answer over its limit one of ``answer-too-large``.

What it does not do: interpret answers (``registry.remote`` does) or retry
(``scripts.cli.remote`` waits for receipts).
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from registry.errors import RemoteError
from registry.remote import site

USER_AGENT = "hcoc-registry-client/1"
TIMEOUT = 10.0  # seconds for connecting, and for each read; an answer must have arrived within 3 x this
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: its URL (after any redirect), status, headers and body."""

    url: str
    status: int
    headers: Message
    body: bytes

    def retry_after(self) -> float | None:
        """Seconds the registry asks to wait before asking again (``Retry-After``), if it asks."""
        value = self.headers.get("Retry-After")
        if value is None:
            return None
        value = value.strip()
        return float(min(int(value), 3600)) if value.isdigit() else 1.0  # an HTTP date: ask again soon


class Client:
    """Requests to the registry at ``base`` (and nowhere else)."""

    def __init__(self, base: str, timeout: float = TIMEOUT) -> None:
        self.base = base
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_SameSiteRedirects(base))

    def get(self, url: str, limit: int, accept: str = "*/*") -> Answer:
        return self._send(url, None, {"Accept": accept}, limit)

    def post(self, url: str, body: bytes, content_type: str, limit: int) -> Answer:
        return self._send(url, body, {"Content-Type": content_type, "Accept": "application/json"}, limit)

    def _send(self, url: str, body: bytes | None, headers: dict[str, str], limit: int) -> Answer:
        if not url.startswith(("http://", "https://")) or site(url) != site(self.base):
            raise RemoteError("unreachable", f"{url} is not on the registry's site {self.base}", refused=False)
        request = urllib.request.Request(  # noqa: S310 - http or https only, checked above
            url, data=body, method="GET" if body is None else "POST", headers={**headers, "User-Agent": USER_AGENT})
        deadline = time.monotonic() + 3 * self.timeout
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Answer(response.geturl(), response.status, response.headers,
                              _read(response, limit, deadline, url))
        except urllib.error.HTTPError as e:
            with e:
                return Answer(e.geturl(), e.code, e.headers, _read(e, limit, deadline, url))
        except urllib.error.URLError as e:
            raise _unreachable(url, e.reason) from None
        except (OSError, http.client.HTTPException) as e:  # a timeout or a reset while reading, a garbled answer
            raise _unreachable(url, e) from None


def _read(response: Any, limit: int, deadline: float, url: str) -> bytes:
    """The body, refused past ``limit`` bytes or past ``deadline`` (a server dripping bytes is no answer)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise RemoteError("unreachable", f"{url}: the answer did not arrive in time", refused=False)
        chunk = response.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise RemoteError("answer-too-large", f"{url}: the answer is larger than {limit} bytes; refused",
                              refused=False)
        chunks.append(chunk)


def _unreachable(url: str, reason: Any) -> RemoteError:
    if isinstance(reason, OSError) and reason.strerror:
        text = reason.strerror
    elif isinstance(reason, TimeoutError | OSError) and not str(reason):
        text = "timed out" if isinstance(reason, TimeoutError) else type(reason).__name__
    else:
        text = str(reason) or type(reason).__name__
    return RemoteError("unreachable", f"{url}: {' '.join(text.split())}", refused=False)


class _SameSiteRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only for a GET, and only to the registry's own site."""

    def __init__(self, base: str) -> None:
        self.base = base

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Message,
                         newurl: str) -> urllib.request.Request | None:
        if req.get_method() != "GET" or site(newurl) != site(self.base):
            raise RemoteError("unreachable", f"{req.full_url} redirects to {newurl}: not followed (only a read is "
                              f"redirected, and only within {self.base})", refused=False)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
