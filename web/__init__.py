"""The Flask application factory of the registry's web front end.

What it does: :func:`create_app` reads the registry settings, opens the
registry's stores once per app through the composition root
(:class:`~registry.node.Node`, without the log's signer), keeps them in
``app.extensions``, sets request limits, trusted hosts and security headers,
and registers the error handlers and blueprints. Views reach the shared
objects through :func:`get_registry`, :func:`get_log` and :func:`get_settings`.

What it does not do: no module-level app and nothing opened at import time.
Database pools and SQLite connections must not cross a ``fork()``, so the app
is built in each gunicorn worker: run ``gunicorn 'web:create_app()'`` and
never with ``--preload``. The web process never holds the log's private key
(checkpoints are signed by the clock process) and never starts a scheduler.

Configuration: ``test_config`` may carry ``DATA_DIR`` and ``ENVIRON`` (a
mapping used *instead of* ``os.environ`` for every ``REGISTRY_*`` setting,
so tests are isolated from the developer's shell); any other keys go into
``app.config`` last. ``REGISTRY_TRUSTED_HOSTS`` is a comma-separated host list
(unset: no Host check).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter, ValidationError

from registry import config, keys
from registry.application import Registry
from registry.errors import ConfigurationError
from registry.logstore import StoredCheckpoint
from registry.node import Node
from registry.transparency import TransparencyLog
from registry.views import ReadModels
from web import compress, problems

MAX_CONTENT_LENGTH = 64 * 1024
# A log index or tree size: canonical ASCII decimal that fits a signed 64-bit column.
MAX_INDEX = (1 << 63) - 1
CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
HSTS = "max-age=31536000"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app for the configured data directory and database."""
    overrides = dict(test_config or {})
    environ: Mapping[str, str] | None = overrides.pop("ENVIRON", None)
    if environ is None:
        environ = os.environ
    settings = config.load(overrides.pop("DATA_DIR", None), dict(environ))
    # Before anything is opened: a key file others can read is a leak waiting to happen.
    keys.check_key_permissions(settings)

    app = Flask(__name__)
    app.config.from_mapping(
        READY_MAX_LAG=int(environ.get("REGISTRY_READY_MAX_LAG", "100")),
        # Per-client write limits (see web/ratelimit.py); unset keeps its defaults.
        SUBMIT_RATE=environ.get("REGISTRY_SUBMIT_RATE"),
        SUBMIT_BURST=environ.get("REGISTRY_SUBMIT_BURST"),
        FEED_PAGE_SIZE=settings.feed_page_size,
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        TRUSTED_HOSTS=trusted_hosts(environ.get("REGISTRY_TRUSTED_HOSTS")),
    )
    app.config.from_mapping(overrides)
    hops = trusted_proxies(environ.get("REGISTRY_TRUSTED_PROXIES"))
    if hops:
        # Behind a front server (deploy/nginx.conf) every client has the server's address: the per-client
        # submission limit must key on the address the front server saw, the last hops of X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]

    app.extensions["node"] = Node(settings, signer=False).open()
    app.extensions["refreshed_at"] = float("-inf")
    app.extensions["head"] = (0, None)

    app.url_map.converters["index"] = IndexConverter
    # No route has an empty segment: "/codes/%2F/v1" is a 404, never a 308 to "/codes/v1" (another resource).
    app.url_map.merge_slashes = False
    problems.init_app(app)
    app.after_request(_security_headers)
    compress.init_app(app)  # after_request hooks run last-registered first: compress before the headers

    # Here, not at the top: the blueprints import get_registry and friends from this module.
    from web import (  # noqa: F401 - these add their routes to others' blueprints before registration
        api,
        codes,
        downloads,
        evidence,
        feeds,
        join,
        log,
        monitor,
        obligations,
        ops,
        organizations,
        overview,
        pages,
    )

    ops.init_app(app)
    evidence.init_app(app)
    app.register_blueprint(log.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(monitor.bp)
    return app


def close_app(app: Flask) -> None:
    """Close the app's database connections (tests, and commands that build an app)."""
    node: Node = app.extensions["node"]
    node.close()


def get_node() -> Node:
    """The app's stores (the composition root, without the log's signer)."""
    node: Node = current_app.extensions["node"]
    return node


def get_registry() -> Registry:
    """The app's registry application."""
    return get_node().registry


def get_log() -> TransparencyLog:
    """The app's transparency log (no signer: the web process never signs)."""
    return get_node().log


def get_views() -> ReadModels:
    """The app's read models (state, timelines, events)."""
    return get_node().views


REFRESH_INTERVAL = 1.0  # seconds between a worker's checks for entries recorded by other processes


def refresh(force: bool = False) -> int:
    """Integrate new log entries into the tree and the read models (at most once a second); the size.

    Submissions through this process integrate at once; this catches entries other processes
    recorded. Catch-up is exactly-once, so racing workers and the clock process are harmless.
    """
    extensions = current_app.extensions
    now = time.monotonic()
    if force or now - extensions["refreshed_at"] >= REFRESH_INTERVAL:
        node: Node = extensions["node"]
        extensions["head"] = (node.integrate(), node.log.latest_checkpoint())
        extensions["refreshed_at"] = now
    # Between refreshes the head is answered from memory: hot read paths (feeds) touch no database.
    return int(extensions["head"][0])


def latest_checkpoint() -> StoredCheckpoint | None:
    """The latest checkpoint as of the last :func:`refresh` (at most a second old)."""
    refresh()
    checkpoint: StoredCheckpoint | None = current_app.extensions["head"][1]
    return checkpoint


def get_settings() -> config.Settings:
    """The registry settings the app was built with."""
    return get_node().settings


def trusted_proxies(value: str | None) -> int:
    """``REGISTRY_TRUSTED_PROXIES``: how many proxies in front set ``X-Forwarded-For`` (0, unset: none is trusted).

    Raises:
        ConfigurationError: not a whole number from 0 to 5.
    """
    text = (value or "0").strip()
    if not (text.isascii() and text.isdigit() and int(text) <= 5):
        raise ConfigurationError(f"REGISTRY_TRUSTED_PROXIES must be a whole number from 0 to 5, not {value!r}")
    return int(text)


def trusted_hosts(value: str | None) -> list[str] | None:
    """``REGISTRY_TRUSTED_HOSTS`` as Flask's ``TRUSTED_HOSTS``; None (no check) when unset or empty."""
    hosts = [h.strip() for h in (value or "").split(",") if h.strip()]
    return hosts or None


_CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def parse_index(text: str) -> int:
    """A non-negative decimal in canonical form (no sign, no leading zero, ASCII) up to 2**63-1.

    Raises:
        ValueError: anything else.
    """
    if not _CANONICAL_DECIMAL.fullmatch(text) or int(text) > MAX_INDEX:
        raise ValueError(f"{text[:40]!r} is not a decimal between 0 and {MAX_INDEX} without leading zeros")
    return int(text)


class IndexConverter(BaseConverter):
    """URL converter ``<index:name>``: :func:`parse_index`, so ``01`` or ``١`` never alias ``1``."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        try:
            return parse_index(value)
        except ValueError:
            raise ValidationError() from None

    def to_url(self, value: int) -> str:
        return str(value)


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if get_settings().base_url.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    # Read-only data is public: browser-based monitors may fetch it from any origin.
    if request.method in ("GET", "HEAD") and problems.is_data_path(request.path):
        headers.setdefault("Access-Control-Allow-Origin", "*")
    return response
