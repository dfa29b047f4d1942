"""Signed snapshots: the canonical registry state at tree size N, bound to the checkpoint for N.

A snapshot *note* is a C2SP signed note signed by the log key (key name = the
origin), whose text is::

    hcoc-registry/snapshot/v1
    <origin>
    <tree size N>
    <base64 SHA-256 of the RFC 8785 state document>
    <base64 RFC 6962 root hash at N>

Its first line keeps it apart from a checkpoint (a checkpoint verifier reads
that line as an origin and refuses it). A snapshot *document* is the JSON
object ``{"checkpoint": <signed checkpoint note for N>, "format":
"hcoc-registry/snapshot-document/v1", "note": <snapshot note>, "state":
<state document>}``. Anyone can check the signatures, the hashes, and, given
the log's entries, rebuild the state from leaves 0..N-1 and compare.

Pure: bytes and keys in, values out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from registry import canonical, tlog
from registry.checkpoint import open_checkpoint, parse_signed_checkpoint
from registry.errors import CanonicalError, NoteError, RegistryError, VerificationError
from registry.signednote import NoteSigner, NoteVerifier, open_note, sign_note
from registry.state import fold

NOTE_HEADER = "hcoc-registry/snapshot/v1"
DOCUMENT_FORMAT = "hcoc-registry/snapshot-document/v1"
MAX_TREE_SIZE = (1 << 63) - 1


@dataclass(frozen=True)
class SnapshotNote:
    origin: str
    size: int
    state_hash: bytes
    root: bytes


def format_snapshot_text(s: SnapshotNote) -> bytes:
    """The note text (what the log key signs)."""
    return (f"{NOTE_HEADER}\n{s.origin}\n{s.size}\n{base64.b64encode(s.state_hash).decode()}\n"
            f"{base64.b64encode(s.root).decode()}\n").encode()


def parse_snapshot_text(text: bytes) -> SnapshotNote:
    """Parse the note text strictly (only what :func:`format_snapshot_text` produces)."""
    try:
        lines = text.decode("utf-8").split("\n")
        if len(lines) != 6 or lines[0] != NOTE_HEADER or lines[5] != "":
            raise ValueError("not a snapshot note")
        origin, size_text, state_b64, root_b64 = lines[1:5]
        size = int(size_text)
        if not 0 <= size <= MAX_TREE_SIZE:  # as a checkpoint's tree size: "-1" is canonical for int() alone
            raise ValueError(f"tree size {size_text[:40]!r} is not in 0..{MAX_TREE_SIZE}")
        state_hash, root = base64.b64decode(state_b64, validate=True), base64.b64decode(root_b64, validate=True)
    except (UnicodeDecodeError, ValueError) as e:
        raise VerificationError(f"malformed snapshot note: {e}", "note") from None
    parsed = SnapshotNote(origin, size, state_hash, root)
    if len(state_hash) != 32 or len(root) != 32 or format_snapshot_text(parsed) != text:
        raise VerificationError("snapshot note is not in canonical form", "note")
    return parsed


def state_hash(state_doc: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical.dumps(state_doc)).digest()


def make_document(state_doc: dict[str, Any], checkpoint_note: bytes, signer: NoteSigner) -> bytes:
    """Sign a snapshot of ``state_doc`` (whose size must be the checkpoint's) and return the document."""
    cp = parse_signed_checkpoint(checkpoint_note)
    if state_doc["size"] != cp.size or state_doc["origin"] != cp.origin:
        raise RegistryError("the state and the checkpoint are not of the same tree")
    note = sign_note(format_snapshot_text(SnapshotNote(cp.origin, cp.size, state_hash(state_doc), cp.root)), signer)
    return canonical.dumps({
        "checkpoint": checkpoint_note.decode("utf-8"), "format": DOCUMENT_FORMAT,
        "note": note.decode("utf-8"), "state": state_doc,
    })


@dataclass(frozen=True)
class VerifiedSnapshot:
    note: SnapshotNote
    state: dict[str, Any]
    rebuilt: bool


def verify_document(data: bytes, log_verifier: NoteVerifier,
                    leaves: Iterable[bytes] | None = None) -> VerifiedSnapshot:
    """Check a snapshot document; with ``leaves`` (0..N-1), also rebuild the state and the root.

    Raises:
        VerificationError: naming the step that failed.
    """
    # 1. the document's shape
    try:
        # canonical.loads, not json.loads: bounded depth (no RecursionError) and only values that
        # canonicalize, so hashing the state below cannot fail (floats, NaN, huge integers are refused).
        doc = canonical.loads(data)
        note_bytes, cp_bytes, state_doc = doc["note"].encode(), doc["checkpoint"].encode(), doc["state"]
        if doc.get("format") != DOCUMENT_FORMAT or not isinstance(state_doc, dict):
            raise ValueError(f"format must be {DOCUMENT_FORMAT}")
    except (CanonicalError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise VerificationError(f"not a snapshot document: {e}", "document") from None
    origin = log_verifier.name
    # 2. the snapshot note is signed by the log key
    try:
        opened = open_note(note_bytes, [log_verifier])
    except NoteError as e:
        raise VerificationError(str(e), "note signature") from None
    snap = parse_snapshot_text(opened.text)
    if snap.origin != origin:
        raise VerificationError(f"snapshot is for origin {snap.origin!r}, not {origin!r}", "note")
    # 3. the checkpoint is signed and is of the same tree
    try:
        cp = open_checkpoint(cp_bytes, origin, log_verifier).checkpoint
    except (NoteError, ValueError) as e:  # ValueError: a log key that is not Ed25519 (a bundle's may be)
        raise VerificationError(str(e), "checkpoint") from None
    if (cp.size, cp.root) != (snap.size, snap.root):
        raise VerificationError(f"checkpoint is of size {cp.size}, snapshot of {snap.size}", "checkpoint")
    # 4. the state document hashes to the signed hash
    if state_hash(state_doc) != snap.state_hash:
        raise VerificationError("the state does not hash to the signed state hash", "state hash")
    if state_doc.get("size") != snap.size or state_doc.get("origin") != origin:
        raise VerificationError("the state's size or origin differs from the note", "state")
    if leaves is None:
        return VerifiedSnapshot(snap, state_doc, rebuilt=False)
    # 5. rebuild from the log's entries: the root, then the state
    entries = list(_first(leaves, snap.size))
    if len(entries) != snap.size:
        raise VerificationError(f"only {len(entries)} of {snap.size} entries were given", "entries")
    store = tlog.MemoryHashStore()
    store.extend([tlog.leaf_hash(e) for e in entries])
    if store.root(snap.size) != snap.root:
        raise VerificationError("the entries do not hash to the checkpoint's root", "entries")
    try:
        rebuilt = fold(entries, verify=True).to_json()
    except RegistryError as e:
        raise VerificationError(e.message, "rebuild") from None
    if state_hash(rebuilt) != snap.state_hash:
        raise VerificationError("the state rebuilt from the entries differs from the snapshot", "rebuild")
    return VerifiedSnapshot(snap, state_doc, rebuilt=True)


def _first(items: Iterable[bytes], n: int) -> Iterable[bytes]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item
