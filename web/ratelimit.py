"""A per-client token bucket for the submission endpoint.

What it does: :class:`TokenBucket` gives each client key (the remote
address) a bucket of ``burst`` tokens that refills at ``rate``; a request
takes one token or is told how many seconds until the next one.
:func:`check_submission` applies the app's bucket to the current request and
returns a 429 ``application/problem+json`` response with ``Retry-After`` when
the client is over its limit. The app's limit comes from ``app.config``:
``SUBMIT_RATE`` (``"30/minute"``; ``N/second|minute|hour|day``) and
``SUBMIT_BURST`` (default: ``N``).

Hand-written on purpose: Flask-Limiter is not a project dependency, and one
endpoint needs no more than this (Flask-Limiter 4 would also put ``Retry-After``
on every 200 response when its headers are enabled).

What it does not do: no shared storage. Buckets live in one process, so with
W gunicorn workers a client may get up to W times the configured rate; a
proxy in front must be trusted (ProxyFix) or every client shares the proxy's
address. Only the submission endpoint is limited: reads and feeds never are,
because feed readers poll from a few shared addresses.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, request

from web import problems

DEFAULT_RATE = "30/minute"
# Idle clients are forgotten oldest-first past this many: a forgotten bucket is a full one,
# which is what an idle client's bucket would be anyway.
MAX_CLIENTS = 10_000
_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(r"([1-9][0-9]{0,8})\s*(?:/|per)\s*(second|minute|hour|day)")
_EXTENSION = "submit_rate_limiter"


@dataclass(frozen=True)
class Rate:
    """``tokens`` requests per ``period`` seconds."""

    tokens: int
    period: float

    @property
    def per_second(self) -> float:
        return self.tokens / self.period


def parse_rate(text: str) -> Rate:
    """``"30/minute"`` or ``"30 per minute"`` as a :class:`Rate`.

    Raises:
        ValueError: anything else.
    """
    match = _RATE.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"a rate looks like '30/minute' (second, minute, hour or day), not {text!r}")
    return Rate(int(match.group(1)), _PERIODS[match.group(2)])


class TokenBucket:
    """Token buckets keyed by client; thread-safe, bounded memory."""

    def __init__(self, rate: Rate, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if granted, else the seconds until one is available."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate.per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate.per_second
            self._buckets[key] = (tokens, now)  # re-inserted last: most recently seen
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait


def limiter(app: Flask) -> TokenBucket:
    """The app's submission limiter, built from its config on first use."""
    found = app.extensions.get(_EXTENSION)
    if found is None:
        rate = parse_rate(str(app.config.get("SUBMIT_RATE") or DEFAULT_RATE))
        burst = int(app.config.get("SUBMIT_BURST") or rate.tokens)
        found = app.extensions.setdefault(_EXTENSION, TokenBucket(rate, burst))
    bucket: TokenBucket = found
    return bucket


def check_submission() -> Response | None:
    """None if the current client may submit now; else the 429 problem response to send."""
    wait = limiter(current_app).take(request.remote_addr or "unknown")
    if wait <= 0.0:
        return None
    seconds = max(1, math.ceil(wait))
    return problems.problem(429, "rate-limited", f"too many submissions from this address; retry in {seconds} s",
                            {"Retry-After": str(seconds)})
