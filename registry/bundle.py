"""The export bundle: the whole log in one versioned file.

A bundle file is named ``NAME.hcoc-bundle`` by convention (:data:`SUFFIX`;
docs/FORMATS.md section 18). It is gzip-compressed JSON Lines, so not a JSON
file, and ``.json`` would be a misleading name:

1. a header ``{"format": "hcoc-registry/bundle/v2", "origin", "size", "root" (base64), "log_key"}``;
2. ``{"leaf": "<leaf text>"}`` for every leaf, in index order (leaf text is the exact
   RFC 8785 leaf bytes, which are ASCII);
3. ``{"checkpoint": "<signed note>"}`` for every published checkpoint, by size;
4. ``{"snapshot": "<snapshot document>"}`` for every published snapshot, by size;
5. ``{"document": {"sha256", "media_type", "source_url", "added_at", "data" (base64)}}`` for every
   archived evidence document, by hash (v2 only; docs/FORMATS.md section 25);
6. a trailer ``{"end": {"leaves": N, "sha256": "<hex SHA-256 of every line before it>"}}``.

The trailer makes truncation and edits detectable before anything is imported;
the leaves, checkpoints and snapshots then verify on their own, and each
document must hash to its name and be of the media type its bytes are. A v1
bundle (no documents) still reads.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from registry import evidence
from registry.errors import RegistryError, VerificationError
from registry.statements import check_url
from registry.times import parse_time

FORMAT = "hcoc-registry/bundle/v2"
FORMAT_V1 = "hcoc-registry/bundle/v1"  # no document lines; still read
SUFFIX = ".hcoc-bundle"
MAX_LINE = 1 << 21
# A document line: the base64 of the largest document any setting archives, and its few other members.
MAX_DOCUMENT_LINE = 4 * -(-evidence.HARD_MAX_BYTES // 3) + 8192
_DOCUMENT_MEMBERS = {"sha256", "media_type", "source_url", "added_at", "data"}


@dataclass(frozen=True)
class BundledDocument:
    """An archived evidence document as a bundle carries it: its row and its bytes."""

    document: evidence.StoredDocument
    data: bytes


@dataclass
class Bundle:
    origin: str
    size: int
    root: bytes
    log_key: str
    leaves: list[bytes] = field(default_factory=list)
    checkpoints: list[bytes] = field(default_factory=list)
    snapshots: list[bytes] = field(default_factory=list)
    documents: list[BundledDocument] = field(default_factory=list)


def write(path: Path, *, origin: str, size: int, root: bytes, log_key: str, leaves: Iterable[bytes],
          checkpoints: Iterable[bytes], snapshots: Iterable[bytes], documents: Iterable[BundledDocument] = ()) -> int:
    """Write a bundle; return the number of leaves written."""
    digest, count = hashlib.sha256(), 0
    tmp = path.with_name(path.name + ".partial")
    with gzip.open(tmp, "wb") as out:
        def line(obj: dict[str, Any]) -> None:
            data = json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"
            digest.update(data)
            out.write(data)

        line({"format": FORMAT, "origin": origin, "size": size, "root": base64.b64encode(root).decode(),
              "log_key": log_key})
        for leaf in leaves:
            line({"leaf": leaf.decode("ascii")})
            count += 1
        for note in checkpoints:
            line({"checkpoint": note.decode("utf-8")})
        for document in snapshots:
            line({"snapshot": document.decode("utf-8")})
        for bundled in documents:
            row = bundled.document
            line({"document": {"sha256": row.sha256, "media_type": row.media_type, "source_url": row.source_url,
                               "added_at": row.added_at, "data": base64.b64encode(bundled.data).decode("ascii")}})
        trailer = {"end": {"leaves": count, "sha256": digest.hexdigest()}}
        out.write(json.dumps(trailer, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    if count != size:
        tmp.unlink()
        raise VerificationError(f"wrote {count} leaves, expected {size}", "export")
    tmp.replace(path)
    return count


def read(path: Path) -> Bundle:
    """Read and check a bundle's structure and trailer (not its signatures); raise VerificationError."""
    try:
        with gzip.open(path, "rb") as f:
            return _read(f)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:  # zlib.error: a corrupt deflate stream
        raise VerificationError(f"not a readable bundle: {e}", "bundle") from None


def read_leaves(path: Path) -> Iterator[bytes]:
    """The leaves of a checked bundle."""
    return iter(read(path).leaves)


def _read(f: IO[bytes]) -> Bundle:
    digest = hashlib.sha256()
    lines = _bounded_lines(f)
    header = _line(next(lines, b""), digest)
    if header.get("format") not in (FORMAT, FORMAT_V1) or set(header) != {"format", "origin", "size", "root",
                                                                          "log_key"}:
        raise VerificationError(f"the first line must be a {FORMAT} (or {FORMAT_V1}) header", "bundle")
    try:
        bundle = Bundle(str(header["origin"]), int(header["size"]), base64.b64decode(header["root"], validate=True),
                        str(header["log_key"]))
    except (ValueError, TypeError, OverflowError) as e:  # OverflowError: a size of 1e999 (infinity)
        raise VerificationError(f"bad header: {e}", "bundle") from None
    order = ("leaf", "checkpoint", "snapshot") + (("document",) if header["format"] == FORMAT else ())
    stage = 0
    for raw in lines:
        is_document = raw.startswith(b'{"document"')
        entry = _line(raw, None if raw.startswith(b'{"end"') else digest,
                      MAX_DOCUMENT_LINE if is_document else MAX_LINE)
        if "end" in entry:
            end = entry["end"]
            if end != {"leaves": len(bundle.leaves), "sha256": digest.hexdigest()}:
                raise VerificationError("the trailer does not match the content (edited or truncated)", "bundle")
            if next(lines, None) is not None:
                raise VerificationError("data after the trailer", "bundle")
            if len(bundle.leaves) != bundle.size:
                raise VerificationError(f"header says {bundle.size} leaves, found {len(bundle.leaves)}", "bundle")
            return bundle
        kind = next(iter(entry)) if len(entry) == 1 else None
        if kind not in order or not isinstance(entry[kind], dict if kind == "document" else str):
            raise VerificationError(f"unexpected line: {raw[:60]!r}", "bundle")
        if order.index(kind) < stage:
            raise VerificationError(f"{kind} lines out of order", "bundle")
        stage = order.index(kind)
        if kind == "document":
            bundle.documents.append(_document(entry[kind], bundle.documents))
            continue
        value = entry[kind]
        try:
            encoded = value.encode("ascii" if kind == "leaf" else "utf-8")
        except UnicodeEncodeError:  # a non-ASCII leaf, or a lone surrogate escaped in the JSON
            raise VerificationError(f"a {kind} line holds text that is not {'ASCII' if kind == 'leaf' else 'UTF-8'}",
                                    "bundle") from None
        {"leaf": bundle.leaves, "checkpoint": bundle.checkpoints, "snapshot": bundle.snapshots}[kind].append(encoded)
    raise VerificationError("the bundle ends without its trailer (truncated)", "bundle")


def _bounded_lines(f: IO[bytes]) -> Iterator[bytes]:
    """The lines of ``f``, each read only to one byte past its limit: MAX_LINE, or for a document line
    MAX_DOCUMENT_LINE (an endless line is refused without holding all of it)."""
    while raw := f.readline(MAX_LINE + 1):
        if len(raw) > MAX_LINE and not raw.endswith(b"\n") and raw.startswith(b'{"document"'):
            raw += f.readline(MAX_DOCUMENT_LINE + 1 - len(raw))
        yield raw


def _document(value: dict[str, Any], before: list[BundledDocument]) -> BundledDocument:
    """A document line's member, checked: exact members, bytes that hash to its name and sniff as its type."""
    texts = _DOCUMENT_MEMBERS - {"source_url"}
    if set(value) != _DOCUMENT_MEMBERS or not all(isinstance(value[k], str) for k in texts) \
            or not isinstance(value["source_url"], str | None):
        raise VerificationError("a document line must have exactly sha256, media_type, source_url, added_at and data",
                                "bundle")
    name = value["sha256"]
    try:
        data = base64.b64decode(value["data"], validate=True)
    except ValueError:
        raise VerificationError(f"document {name[:64]}: its data is not base64", "bundle") from None
    if not evidence.is_sha256(name) or evidence.digest(data) != name:
        raise VerificationError(f"document {name[:64]}: its bytes do not hash to its name", "bundle")
    if before and before[-1].document.sha256 >= name:
        raise VerificationError("documents are not listed once each in hash order", "bundle")
    if not 0 < len(data) <= evidence.HARD_MAX_BYTES or evidence.sniff(data) != value["media_type"]:
        raise VerificationError(f"document {name}: empty, too large, or not of the media type it names", "bundle")
    try:
        parse_time(value["added_at"])
        if value["source_url"] is not None:
            check_url(value["source_url"], "source_url")
    except RegistryError as e:
        raise VerificationError(f"document {name}: {e.message}", "bundle") from None
    return BundledDocument(evidence.StoredDocument(name, value["media_type"], len(data), value["source_url"],
                                                   value["added_at"]), data)


def _line(raw: bytes, digest: Any, limit: int = MAX_LINE) -> dict[str, Any]:
    """One line as a JSON object; ``digest`` (None for the trailer) is updated with its bytes."""
    if len(raw) > limit or not raw.endswith(b"\n"):
        raise VerificationError("a bundle line is too long or unterminated", "bundle")
    if digest is not None:
        digest.update(raw)
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: "[[[[..." nested deeply
        raise VerificationError(f"a bundle line is not JSON: {e}", "bundle") from None
    if not isinstance(value, dict):
        raise VerificationError("a bundle line must be a JSON object", "bundle")
    return value
