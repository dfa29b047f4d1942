"""``registry evidence``: archive a document by its SHA-256, list and show what is archived.

What it does: ``add FILE [--url URL]`` reads FILE (or ``-`` for stdin) up to
the size limit, stores it content-addressed in the local registry's evidence
store (registry.evidence) and prints its SHA-256; the same bytes again are
"already stored". The file's name is never recorded or shown back: only its
bytes count. ``list`` and ``show SHA256`` read the store.

What it does not do: fetch a URL (``--url`` only records where the document
came from), or archive into a remote registry (its operator runs ``add``).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import click

from registry import evidence as archive
from registry.errors import ConfigurationError, NotFoundError
from registry.statements import check_url
from registry.terminal import safe
from registry.times import format_time
from scripts.cli.context import Context, pass_ctx


@click.group("evidence")
def evidence() -> None:
    """Archived evidence documents (docs/FORMATS.md section 25)."""


def read_document(path: str, max_bytes: int) -> bytes:
    """The bytes of FILE (``-``: stdin), reading at most one byte past ``max_bytes`` (then refused)."""
    if path == "-":
        return _bounded(sys.stdin.buffer, max_bytes)
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"{path}: no such file")
    with file.open("rb") as f:
        return _bounded(f, max_bytes)


def _bounded(f: BinaryIO, max_bytes: int) -> bytes:
    data = f.read(max_bytes + 1)
    archive.check_size(len(data), max_bytes)
    return data


def archive_file(obj: Context, path: str, url: str | None) -> tuple[archive.StoredDocument, bool]:
    """Check ``url``, read and archive FILE in the local registry; (its row, whether it was new)."""
    if url is not None:
        check_url(url, "--url")
    settings = obj.local()
    data = read_document(path, settings.evidence_max_bytes)
    return obj.node.evidence.add(data, source_url=url, added_at=format_time(datetime.now(UTC)),
                                 max_bytes=settings.evidence_max_bytes)


@evidence.command("add")
@click.argument("file")
@click.option("--url", default=None, help="Where the document was published (recorded, never fetched).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def add(obj: Context, file: str, url: str | None, as_json: bool) -> None:
    """Archive FILE by its SHA-256 and print the hash (idempotent)."""
    document, added = archive_file(obj, file, url)
    if as_json:
        click.echo(json.dumps({**document.to_json(), "added": added}, sort_keys=True))
        return
    click.echo(document.sha256)
    verb = "stored" if added else "already stored"
    click.echo(f"{verb}: {document.size} bytes, {document.media_type}; cite it as evidence sha256 "
               f"{document.sha256}, served at /evidence/{document.sha256}", err=True)


@evidence.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON lines).")
@pass_ctx
def list_documents(obj: Context, as_json: bool) -> None:
    """Every archived document: hash, size, type, when it was added and where from."""
    obj.local()
    for document in obj.node.evidence.documents():
        if as_json:
            click.echo(json.dumps(document.to_json(), sort_keys=True))
        else:
            click.echo(safe(f"{document.sha256} {document.size:>10} {document.media_type} {document.added_at} "
                            f"{document.source_url or '-'}"))


@evidence.command("show")
@click.argument("sha256")
@pass_ctx
def show(obj: Context, sha256: str) -> None:
    """One archived document's record as JSON (its bytes: GET /evidence/SHA256)."""
    archive.parse_sha256(sha256)
    obj.local()
    document = obj.node.evidence.document(sha256)
    if document is None:
        raise NotFoundError(f"no archived document {sha256}")
    click.echo(json.dumps(document.to_json(), sort_keys=True, indent=2))
