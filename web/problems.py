"""RFC 9457 ``application/problem+json`` errors for the machine-readable paths.

What it does: one app-level error handler per family of errors (our
:class:`~registry.errors.RegistryError` classes, werkzeug's HTTP exceptions,
the event store's transient failures, and anything unhandled) that answers
``{"type", "title", "status", "detail"}`` with the error's status on the
paths where clients expect JSON (:func:`is_data_path`: the API, the log's
checkpoint and tiles, the discovery document, the feeds). ``type`` is
``https://hcoc-registry.org/problems/<code>`` with the registry error's
``code``, or a slug of the HTTP reason for werkzeug's exceptions. The HTTP
status of every registry error class is in one table, :data:`STATUSES`, read
through :func:`status_of`.

What it does not do: no HTML error pages. On other paths an error keeps
werkzeug's plain default page (a blueprint that renders HTML registers its own
handler, which Flask prefers over these). Server faults (5xx other than 503)
never show their message or a traceback: they are logged and answered with a
generic detail.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from flask import Flask, Response, current_app, json, request
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from registry.errors import (
    CatchUpError,
    FetchError,
    InputError,
    InvalidSignatureError,
    InvalidStatementError,
    LogHaltedError,
    NotFoundError,
    NotYetCoveredError,
    ReadOnlyMirrorError,
    RegistryError,
    RevokedKeyError,
    RuleError,
    StaleStatementError,
    StorageUnavailableError,
    TooLargeError,
    UnauthorizedSignerError,
    UnknownKeyError,
    UnknownSubjectError,
    VerificationError,
    WrongRegistryError,
)

PROBLEM_TYPE_BASE = "https://hcoc-registry.org/problems/"
PROBLEM_MIMETYPE = "application/problem+json"
# Where clients are programs: errors are problem+json and reads are CORS-readable.
# Feeds too: their readers are programs, so an unknown feed is a typed 404, not an HTML page.
DATA_PATH_PREFIXES = ("/api/", "/tile/", "/.well-known/", "/feeds/", "/evidence/")
DATA_PATHS = ("/checkpoint", "/tile", "/api")
RETRY_AFTER_SECONDS = "5"  # every 503: the store or the log may be back by then
# A receipt asked for before the clock signed a checkpoint covering its entry: that takes well under a
# second once the clock is woken (registry.wakeup), so a client asks again soon.
NOT_YET_COVERED_RETRY_AFTER = "1"
_GENERIC_DETAIL = "the server could not answer this request; the operator has been told"

# The HTTP status of each registry error class: the most specific class listed wins (see
# status_of), so a refinement such as DuplicateStatementError answers as its parent does.
# Everything else is a server fault. docs/FORMATS.md section 13 lists the same (a test checks).
STATUSES: dict[type[RegistryError], HTTPStatus] = {
    RegistryError: HTTPStatus.INTERNAL_SERVER_ERROR,
    InputError: HTTPStatus.BAD_REQUEST,
    TooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    InvalidStatementError: HTTPStatus.UNPROCESSABLE_ENTITY,
    InvalidSignatureError: HTTPStatus.UNAUTHORIZED,
    UnknownKeyError: HTTPStatus.UNAUTHORIZED,
    RevokedKeyError: HTTPStatus.FORBIDDEN,
    UnauthorizedSignerError: HTTPStatus.FORBIDDEN,
    WrongRegistryError: HTTPStatus.UNPROCESSABLE_ENTITY,
    StaleStatementError: HTTPStatus.UNPROCESSABLE_ENTITY,
    UnknownSubjectError: HTTPStatus.NOT_FOUND,
    RuleError: HTTPStatus.CONFLICT,
    NotFoundError: HTTPStatus.NOT_FOUND,
    VerificationError: HTTPStatus.UNPROCESSABLE_ENTITY,
    FetchError: HTTPStatus.BAD_GATEWAY,
    StorageUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
    LogHaltedError: HTTPStatus.SERVICE_UNAVAILABLE,
    ReadOnlyMirrorError: HTTPStatus.FORBIDDEN,
    CatchUpError: HTTPStatus.SERVICE_UNAVAILABLE,
}


def status_of(error: RegistryError | type[RegistryError]) -> int:
    """The HTTP status of a registry error (or error class): its nearest class in :data:`STATUSES`."""
    cls = error if isinstance(error, type) else type(error)
    status = next((STATUSES[c] for c in cls.__mro__ if c in STATUSES), HTTPStatus.INTERNAL_SERVER_ERROR)
    return int(status)


def is_data_path(path: str) -> bool:
    """True for paths whose clients are programs (JSON API, log, discovery)."""
    return path in DATA_PATHS or path.startswith(DATA_PATH_PREFIXES)


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    """An ``application/problem+json`` response."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": _title(status),
        "status": status,
        "detail": detail,
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers.update(headers or {})
    # Errors (a 404 for a tile not yet there, say) must not be cached like the content.
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the handlers on the app (so they also catch routing errors)."""
    app.register_error_handler(RegistryError, _registry_error)
    # Only the transient store failures: a DataError or ProgrammingError is a bug, a plain 500.
    app.register_error_handler(OperationalError, _persistence_error)
    app.register_error_handler(InterfaceError, _persistence_error)
    app.register_error_handler(HTTPException, _http_exception)


def _registry_error(e: RegistryError) -> Any:
    status = status_of(e)
    if status >= 500 and status != HTTPStatus.SERVICE_UNAVAILABLE:
        current_app.logger.error("registry error on %s: %s", request.path, e.diagnostics())
        return _server_fault(status, e.code)
    headers = None
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
    elif isinstance(e, NotYetCoveredError):
        headers = {"Retry-After": NOT_YET_COVERED_RETRY_AFTER}
    if not is_data_path(request.path):
        return _plain(status, e.message)
    return problem(status, e.code, e.message, headers)


def _persistence_error(e: OperationalError | InterfaceError) -> Any:
    # A locked SQLite file or a lost PostgreSQL connection: the client may retry.
    current_app.logger.warning("event store unavailable on %s: %s", request.path, e)
    detail = "the event store is unavailable; try again shortly"
    if not is_data_path(request.path):
        return _plain(HTTPStatus.SERVICE_UNAVAILABLE, detail)
    return problem(HTTPStatus.SERVICE_UNAVAILABLE, "storage-unavailable", detail,
                   {"Retry-After": RETRY_AFTER_SECONDS})


def _http_exception(e: HTTPException) -> Any:
    status = e.code or HTTPStatus.INTERNAL_SERVER_ERROR
    if isinstance(e, InternalServerError) and e.original_exception is not None:
        # An unhandled exception, wrapped by Flask (which has logged it): show nothing of it.
        return _server_fault(status, "internal-error") if is_data_path(request.path) else e
    if not is_data_path(request.path):
        return e
    # Keep the headers werkzeug adds (Allow on a 405, WWW-Authenticate, ...), not its HTML type.
    headers = {k: v for k, v in e.get_headers() if k.lower() != "content-type"}
    detail = e.description or _title(status)
    return problem(status, _slug(e.name), detail, headers)


def _server_fault(status: int, code: str) -> Any:
    if is_data_path(request.path):
        return problem(status, code, _GENERIC_DETAIL)
    return _plain(status, _GENERIC_DETAIL)


def _plain(status: int, detail: str) -> HTTPException:
    # werkzeug's own error page for that status, with our message (escaped by werkzeug).
    return default_exceptions.get(status, InternalServerError)(description=detail)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "error"
