"""Archived evidence: documents kept by their SHA-256, beside the log (docs/FORMATS.md section 25).

What it does: the pure core names a document by the hex SHA-256 of its exact
bytes (:func:`digest`), sniffs its media type from a short allow-list
(:func:`sniff`: PDF, HTML, PNG, JPEG, JSON, UTF-8 text; anything else is
``application/octet-stream``), says how it may be served (:func:`inline`) and
finds the hashes a statement cites (:func:`cited_hashes`). The SQL shell,
:class:`EvidenceStoreMixin`, keeps one ``evidence_documents`` row per
document in the log's database (its SQLite file, or its PostgreSQL schema):
adding the same bytes twice stores nothing new.

What it does not do: fetch anything from the network (mirrors do that with
``registry.remote.fetch_evidence``; the web process only reads), trust a
file's name or claimed type (only its bytes count), or change a row once
written. The audit reads every row back and checks it against its key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from registry.errors import MalformedError, TooLargeError
from registry.sqlstore import PostgresDialect, SQLiteDialect, cols, open_with_retry

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # REGISTRY_EVIDENCE_MAX_BYTES
HARD_MAX_BYTES = 64 * 1024 * 1024  # no setting goes above this: export bundles carry a document on one line
OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"
PDF = "application/pdf"
HTML = "text/html"
# What a browser may show on our own origin: nothing active. HTML never is (it would run on our origin).
INLINE = frozenset({TEXT, PDF})
EXTENSIONS = {TEXT: "txt", PDF: "pdf", HTML: "html", "image/png": "png", "image/jpeg": "jpg",
              "application/json": "json", OCTET_STREAM: "bin"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Controls that plain text does not hold (tab, newline, form feed and carriage return do occur).
_BINARY_CONTROLS = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D}
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<svg", b"<?xml")


@dataclass(frozen=True)
class StoredDocument:
    """One archived document's row, without its bytes."""

    sha256: str
    media_type: str
    size: int
    source_url: str | None
    added_at: str

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "media_type": self.media_type, "size": self.size,
                "source_url": self.source_url, "added_at": self.added_at}


# --- the pure core ------------------------------------------------------------------


def digest(data: bytes) -> str:
    """The name of a document: the hex SHA-256 of its exact bytes."""
    return hashlib.sha256(data).hexdigest()


def is_sha256(value: Any) -> bool:
    """Whether ``value`` is 64 lowercase hex characters."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def parse_sha256(text: str) -> str:
    """``text`` if it is a document's name (64 lowercase hex characters).

    Raises:
        MalformedError: anything else (uppercase, short, with spaces or a path).
    """
    if not is_sha256(text):
        raise MalformedError(f"{text[:80]!r} is not a SHA-256 (64 lowercase hex characters)")
    return text


def check_size(size: int, max_bytes: int) -> None:
    """Refuse an empty document or one over ``max_bytes``.

    Raises:
        TooLargeError: over the limit. MalformedError: empty.
    """
    if size == 0:
        raise MalformedError("the document is empty")
    if size > max_bytes:
        raise TooLargeError(f"the document is {size} bytes; at most {max_bytes} are archived "
                            f"(REGISTRY_EVIDENCE_MAX_BYTES)")


def sniff(data: bytes) -> str:
    """The media type of ``data`` from the allow-list, by its bytes alone; ``application/octet-stream`` else."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return OCTET_STREAM
    head = text.lstrip("\ufeff \t\r\n\x0c")[:64].encode().lower()
    # Markup is HTML whatever else it may be: it is then only ever served as an attachment.
    if head.startswith(_HTML_STARTS) or b"<html" in data[:1024].lower():
        return HTML
    if any(b in _BINARY_CONTROLS for b in data):
        return OCTET_STREAM
    if head[:1] in (b"{", b"["):
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            return TEXT
        return "application/json"
    return TEXT


def inline(media_type: str) -> bool:
    """Whether a document of ``media_type`` may be shown in the browser (else it is an attachment)."""
    return media_type in INLINE


def filename(document: StoredDocument) -> str:
    """The one name a served document gets: its hash and an extension from its type (never a submitted name)."""
    return f"{document.sha256}.{EXTENSIONS.get(document.media_type, 'bin')}"


def published_path(document: StoredDocument) -> str:
    """Where ``registry publish`` writes a document (docs/FORMATS.md section 24): the front server finds it by
    trying each extension, and takes its media type from the extension."""
    return f"evidence/{filename(document)}"


def cited_hashes(statement: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field path, sha256) of every document a statement cites by hash: its evidence items' ``sha256``,
    a Code revision's obligations' evidence, ``text_sha256`` and ``document_sha256``."""
    for name in ("text_sha256", "document_sha256"):
        if is_sha256(statement.get(name)):
            yield name, statement[name]
    yield from _evidence_hashes(statement.get("evidence"), "evidence")
    for o, obligation in enumerate(statement.get("obligations") or []):
        if isinstance(obligation, dict):
            yield from _evidence_hashes(obligation.get("evidence"), f"obligations.{o}.evidence")


def cited_documents(statement: dict[str, Any]) -> dict[str, str | None]:
    """Every hash a statement cites, with the URL its evidence item gives it (None for ``text_sha256`` and
    ``document_sha256``, or an item citing no URL): what a mirror records as the fetched copy's source."""
    found: dict[str, str | None] = {}
    for path, sha256 in cited_hashes(statement):
        item: Any = statement
        for part in path.split(".")[:-1]:  # "obligations.0.evidence.2.sha256" -> that evidence item
            item = item[int(part)] if isinstance(item, list) else item[part]
        url = item.get("url") if item is not statement else None
        if found.get(sha256) is None:
            found[sha256] = url if isinstance(url, str) else None
    return found


def _base64_forms(needle: bytes) -> tuple[bytes, ...]:
    """The base64 characters that ``needle`` alone decides, wherever it lies in the encoded bytes (one form per
    offset modulo 3): encoded bytes hold ``needle`` only if their base64 holds one of these."""
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + needle + bytes(2))
        # Character i carries bits [6i, 6i + 6): those entirely inside the needle's bits.
        forms.append(encoded[-(-8 * shift // 6):8 * (shift + len(needle)) // 6])
    return tuple(forms)


# Every member that cites a document by hash ends in "sha256" and has a string value: in RFC 8785 form,
# 'sha256":"'. A leaf carries its statement base64-encoded in its envelope.
_CITING = _base64_forms(b'sha256":"')


def may_cite(leaf: bytes) -> bool:
    """False only if the statement in ``leaf`` (a log entry's bytes) cites no document by hash: a quick test
    that spares parsing the entries of a long log that cite none. True may still cite nothing."""
    return any(form in leaf for form in _CITING)


def _evidence_hashes(items: Any, path: str) -> Iterator[tuple[str, str]]:
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and is_sha256(item.get("sha256")):
            yield f"{path}.{i}.sha256", item["sha256"]


# --- the SQL shell ---------------------------------------------------------------------


class EvidenceStoreMixin:
    """The ``evidence_documents`` table over the log store's connection pool (dialect in subclasses)."""

    blob_type: str
    _q: Any

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore

    def _create_statements(self) -> list[str]:
        return [self._q(
            f"CREATE TABLE IF NOT EXISTS {{t}}evidence_documents (sha256 TEXT PRIMARY KEY, "
            f"media_type TEXT NOT NULL, size BIGINT NOT NULL, source_url TEXT, added_at TEXT NOT NULL, "
            f"data {self.blob_type} NOT NULL)")]

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            for statement in self._create_statements():
                c.execute(statement)

    def add(self, data: bytes, *, source_url: str | None, added_at: str, max_bytes: int) -> tuple[StoredDocument, bool]:
        """Keep ``data`` under its SHA-256; (its row, whether it was new). The same bytes again store nothing.

        Raises:
            TooLargeError, MalformedError: an oversized or empty document (nothing is stored).
        """
        check_size(len(data), max_bytes)
        return self.put(StoredDocument(digest(data), sniff(data), len(data), source_url, added_at), data)

    def put(self, document: StoredDocument, data: bytes) -> tuple[StoredDocument, bool]:
        """Keep a document whose row was made elsewhere (an import): only if ``data`` hashes to its name."""
        if digest(data) != document.sha256 or len(data) != document.size:
            raise MalformedError(f"the bytes given for {document.sha256} do not hash to it")
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q("INSERT INTO {t}evidence_documents (sha256, media_type, size, source_url, added_at, "
                              "data) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING RETURNING sha256"),
                      (document.sha256, document.media_type, document.size, document.source_url,
                       document.added_at, data))
            added = c.fetchone() is not None
        if added:
            return document, True
        stored = self.document(document.sha256)
        return (stored or document), False

    def document(self, sha256: str) -> StoredDocument | None:
        """The row of an archived document, or None."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT sha256, media_type, size, source_url, added_at FROM {t}evidence_documents "
                              "WHERE sha256 = %s"), (sha256,))
            row = c.fetchone()
        return None if row is None else _document(row)

    def data(self, sha256: str) -> bytes | None:
        """The stored bytes of a document, as stored (the caller checks them when it must)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT data FROM {t}evidence_documents WHERE sha256 = %s"), (sha256,))
            row = c.fetchone()
        return None if row is None else bytes(cols(row)[0])

    def present(self, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` are archived (one query)."""
        wanted = sorted({h for h in hashes if is_sha256(h)})
        if not wanted:
            return set()
        marks = ", ".join(["%s"] * len(wanted))  # placeholders only, no values
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q(f"SELECT sha256 FROM {{t}}evidence_documents WHERE sha256 IN ({marks})"),  # noqa: S608
                      wanted)
            return {str(cols(r)[0]) for r in c.fetchall()}

    def count(self) -> int:
        """How many documents are archived (one query; what a publisher checks to see that one was added)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT COUNT(*) FROM {t}evidence_documents"))
            return int(cols(c.fetchone())[0])

    def documents(self) -> list[StoredDocument]:
        """Every archived document's row, by hash."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT sha256, media_type, size, source_url, added_at FROM {t}evidence_documents "
                              "ORDER BY sha256"))
            return [_document(r) for r in c.fetchall()]


def _document(row: Any) -> StoredDocument:
    sha256, media_type, size, source_url, added_at = cols(row)
    return StoredDocument(str(sha256), str(media_type), int(size), None if source_url is None else str(source_url),
                          str(added_at))


class SQLiteEvidenceStore(EvidenceStoreMixin, SQLiteDialect):
    """Archived documents in the log's SQLite file."""


class PostgresEvidenceStore(EvidenceStoreMixin, PostgresDialect):
    """Archived documents in the log's PostgreSQL schema."""


def open_evidence_store(log_store: Any) -> EvidenceStoreMixin:
    """The evidence store beside ``log_store`` (same database, same pool), its table created if missing."""
    cls = PostgresEvidenceStore if isinstance(log_store, PostgresDialect) else SQLiteEvidenceStore
    store = cls(log_store.datastore)
    # Several processes may create it at once (gunicorn workers at first start): retried like the stores.
    return open_with_retry(lambda: (store.create_table(), store)[1])


# --- the audit's check ---------------------------------------------------------------------


@dataclass(frozen=True)
class MissingDocument:
    """A document the log cites by hash that this registry has not archived: where it is first cited."""

    sha256: str
    index: int
    field: str

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "index": self.index, "field": self.field}


class EvidenceCheck:
    """The audit's check of archived documents: fed every applied entry (the hashes it cites), then
    :meth:`check` reads every stored row back against its key.

    A row whose bytes do not hash to its name (or whose size or media type is not its bytes') is a
    problem: the store was edited. A cited document with no row is only listed (:attr:`missing`): a
    statement may cite a document before anyone archives it, and a mirror may not have fetched it yet.
    """

    def __init__(self, store: EvidenceStoreMixin) -> None:
        self.store = store
        self._cited: dict[str, tuple[int, str]] = {}
        self.missing: list[MissingDocument] = []

    def entry(self, index: int, nid: int | None, applied: Any, digest: str | None, state: Any) -> None:
        if applied is not None:
            for path, sha256 in cited_hashes(applied.statement):
                self._cited.setdefault(sha256, (index, path))

    def finish(self, state: Any) -> list[Any]:
        return []  # reported by check(), as "archived document" problems rather than derived rows

    def check(self) -> list[tuple[str, str]]:
        """(row, problem) for every stored row that is not what its key says; fills :attr:`missing`."""
        problems = []
        stored = set()
        for document in self.store.documents():
            stored.add(document.sha256)
            data = self.store.data(document.sha256) or b""
            found = digest(data)
            if found != document.sha256:
                problems.append((document.sha256, f"the stored bytes hash to {found}, not to the row's key"))
            elif len(data) != document.size:
                problems.append((document.sha256, f"the row says {document.size} bytes, it holds {len(data)}"))
            elif sniff(data) != document.media_type:
                problems.append((document.sha256, f"the row says {document.media_type}, the bytes are "
                                                  f"{sniff(data)}"))
        self.missing = [MissingDocument(sha256, index, path)
                        for sha256, (index, path) in sorted(self._cited.items(), key=lambda kv: kv[1])
                        if sha256 not in stored]
        return problems
