"""``GET /evidence/<sha256>``: an archived document, served so that it cannot act on our origin.

What it does: answers the stored bytes of a document the operator archived
(``registry evidence add``) with the media type its bytes were sniffed as
(registry.evidence), ``X-Content-Type-Options: nosniff``, a CSP that lets
nothing run (``sandbox``), ``Content-Disposition: attachment`` for anything
but plain text and PDF (stored HTML is never rendered here), and, as the
bytes are named by their hash, an ETag of that hash and immutable caching.
Bytes that no longer hash to their name are never served (a 500, and the
audit names the row). Pages ask :func:`archived` which cited hashes have a
copy, to link them.

What it does not do: fetch anything (the web process never goes to the
network) or accept uploads (only the command line archives).
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from registry import evidence as archive
from registry.errors import LogCorruptionError, MalformedError, NotFoundError
from web import get_node
from web.log import bp

IMMUTABLE = "public, max-age=31536000, immutable"
# Nothing in an archived document may run, load, frame or be framed: it is a record, not a page of ours.
CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"


@bp.get("/evidence/<name>")
def evidence_document(name: str) -> Response:
    if not archive.is_sha256(name):
        raise MalformedError("an archived document is named by its SHA-256: 64 lowercase hex characters")
    store = get_node().evidence
    document = store.document(name)
    data = store.data(name) if document is not None else None
    if document is None or data is None:
        raise NotFoundError(f"no archived document {name}")
    if archive.digest(data) != name:
        raise LogCorruptionError(f"the archived document {name} no longer hashes to its name (registry audit)")
    response = Response(data, content_type=document.media_type)
    disposition = "inline" if archive.inline(document.media_type) else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{archive.filename(document)}"'
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = IMMUTABLE
    response.set_etag(name)
    return response.make_conditional(request)


def archived(hashes: object) -> set[str]:
    """Which of the cited hashes (a hash or a list of them) have an archived copy here.

    Asked once per hash and request (a page lists a source several times: on the record and its timeline).
    """
    wanted = [hashes] if isinstance(hashes, str) else list(hashes) if isinstance(hashes, list | tuple | set) else []
    wanted = [h for h in wanted if archive.is_sha256(h)]
    known: dict[str, bool] = g.setdefault("archived_evidence", {})
    unknown = [h for h in wanted if h not in known]
    if unknown:
        present = get_node().evidence.present(unknown)
        known.update({h: h in present for h in unknown})
    return {h for h in wanted if known[h]}


def init_app(app: Flask) -> None:
    """Let templates ask which cited documents are archived (``archived(item.sha256)``)."""
    app.jinja_env.globals["archived"] = archived
