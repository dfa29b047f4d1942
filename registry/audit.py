"""Audit: re-verify a whole registry from its raw stores, and name the first bad log index.

The audit reads the ``LogEntryRecorded`` events straight from the event store
in notification order (never the read models) and checks, entry by entry:

1. the log versions run 1..n in notification order (a deleted, inserted or
   moved event breaks the run where it happened);
2. every leaf parses strictly, its envelope signature verifies and every
   authorization rule holds as of its position: the same fold as replay
   (:meth:`RegistryState.apply`), so a key revoked later still validates what
   it signed before; no statement is recorded twice;
3. every stored tree hash (every tile row, every interior level) equals the
   hash recomputed from the leaves, and the log head's size and root agree;
4. every published checkpoint is signed by the log key, has the recomputed
   root at its size, and consecutive checkpoints are provably consistent;
5. every published snapshot is signed and its state hash equals the fold's
   state hash at its size.

:class:`Auditor` is the core: it is fed entries and reaches storage only
through small callables (a tile-row reader, a snapshot loader, a hash reader),
so ``porting`` runs the same checks over a bundle before importing it.
Memory stays bounded: leaves are streamed, the tree is recomputed from its
right edge only, and envelope signatures (the cost) are checked by worker
processes in ordered chunks while the main process folds the state.

Worker processes are started with ``spawn`` (the parent holds database
pools and their threads), so a script that audits must guard its entry point
with ``if __name__ == "__main__"``, as the ``registry`` command and pytest do.

Not here: reading the stores (``registry.auditstore`` feeds this module
every stored row), the findings' values (``registry.findings``), signature
workers (``registry.signatures``), repairing anything, the key files and the
command line (``scripts/cli/`` is the shell).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from registry import envelope, rules, snapshots, tlog
from registry.checkpoint import Checkpoint, open_checkpoint
from registry.errors import (
    DuplicateStatementError,
    InvalidSignatureError,
    MalformedError,
    NoteError,
    RegistryError,
    VerificationError,
)
from registry.findings import MAX_FINDINGS, AuditResult, Finding, Findings  # noqa: F401 - re-exported
from registry.leaf import parse_leaf
from registry.logstore import (
    LogCorruptionError,
    StoredCheckpoint,
    StoredSnapshot,
    decode_tile,
    tile_position,
)
from registry.rows import (
    RowCheck,
)
from registry.signatures import Signatures, verify_signatures  # noqa: F401 - re-exported for callers
from registry.signednote import NoteVerifier
from registry.state import Applied, RegistryState, statement_hash
from registry.tiles import TILE_HEIGHT, TILE_WIDTH
from registry.tlog import RightEdge

PAGE = 1000  # notifications read per query
PROGRESS_EVERY = 10_000
PARALLEL_FROM = 10_000  # smaller logs are checked inline: starting worker processes costs more than it saves


@dataclass(frozen=True)
class Entry:
    """One log entry as stored: its log version, its leaf bytes and what the event claims about them."""

    version: int
    leaf: bytes
    envelope_hash: str | None = None  # the event's own record of it, when there is one
    problem: str | None = None  # the stored event itself is wrong (unreadable, outside the log)
    nid: int | None = None  # its notification id, when read from a store


class TileRows(Protocol):
    """Read access to the stored tree: raw tile rows (every level) and the head size."""

    def row(self, level: int, index: int) -> bytes | None: ...
    def keys(self) -> list[tuple[int, int]]: ...
    def head_size(self) -> int: ...


Progress = Callable[[int, int], None]


# --- the core ------------------------------------------------------------------------


class Auditor:
    """Checks a stream of log entries against what was published about them."""

    def __init__(self, *, log_verifier: NoteVerifier, head: tuple[int, bytes],
                 checkpoints: Sequence[StoredCheckpoint] = (), snapshot_sizes: Sequence[int] = (),
                 load_snapshot: Callable[[int], StoredSnapshot | None] = lambda size: None,
                 tiles: TileRows | None = None, proof_reader: tlog.HashReader | None = None,
                 leaf_at: Callable[[int], bytes | None] = lambda index: None,
                 total: int = 0, workers: int = 2, parallel_from: int = PARALLEL_FROM,
                 progress: Progress | None = None, progress_every: int = PROGRESS_EVERY,
                 derived: Sequence[RowCheck] = (), tables: dict[str, str] | None = None) -> None:
        self.origin = log_verifier.name  # the log key is named after the origin
        self.verifier = log_verifier
        self.head = head
        self.checkpoints = sorted(checkpoints, key=lambda c: c.size)
        self.snapshot_sizes = set(snapshot_sizes)
        self.load_snapshot = load_snapshot
        self.proof_reader = proof_reader
        self.leaf_at = leaf_at
        self.total = total
        self.workers = workers if total >= parallel_from else 1
        self.progress = progress
        self.progress_every = progress_every
        self.state = RegistryState()
        self.tree = RightEdge()
        self.tiles = None if tiles is None else TileCheck(tiles, head[0])
        self.roots: dict[int, bytes] = {0: tlog.EMPTY_ROOT}
        self.wanted_roots = {head[0], *(c.size for c in self.checkpoints), *self.snapshot_sizes}
        self.tables = tables or {}  # "events" -> the event store's table name, for findings about entries
        self.findings = Findings(events_table=self.tables.get("events"))
        self.derived = list(derived)
        self._seen: dict[int, int] = {}  # 8-byte statement hash prefix -> first index (duplicates)
        self._last_version = 0

    def run(self, entries: Iterable[Entry]) -> AuditResult:
        """Check every entry, then everything published; never raises for what it finds."""
        with Signatures(self.workers) as signatures:
            for entry in entries:
                self._entry(entry, signatures)
            for index, message in signatures.close():
                self.findings.add(index, "signature", message)
        size = self.tree.size
        self._finish_tree(size)
        self._finish_published(size)
        for check in self.derived:
            for found in check.finish(self.state):
                self.findings.add(found.index, "derived row", found.detail, found.table, found.row)
        return AuditResult(
            entries=size, integrated=self.head[0], checkpoints=len(self.checkpoints),
            snapshots=len(self.snapshot_sizes), root=self.tree.root(), state_hash=self.state.hash(),
            findings=self.findings.sorted(), suppressed=self.findings.suppressed,
        )

    # --- one entry ------------------------------------------------------------------

    def _entry(self, entry: Entry, signatures: Signatures) -> None:
        index = self.tree.size
        # 1. log version v is leaf v - 1, in notification order
        if entry.version != self._last_version + 1:
            self.findings.add(index, "log version", _version_break(self._last_version, entry.version),
                              self.tables.get("events"), _row(entry))
        self._last_version = entry.version
        if entry.problem is not None:
            self.findings.add(index, "event", entry.problem, self.tables.get("events"), _row(entry))
        # 2. the leaf hash joins the recomputed tree, whose new nodes are compared with the stored ones
        nodes = self.tree.append(tlog.leaf_hash(entry.leaf))
        if self.tiles is not None:
            self.tiles.add(nodes)
        # 3. parse, authorize and apply as of this position; the signature inline or in a worker
        self._apply(index, entry, signatures)
        size = index + 1
        if size in self.wanted_roots:
            self.roots[size] = self.tree.root()
        if size in self.snapshot_sizes:
            self._snapshot(size)
        if self.progress is not None and size % self.progress_every == 0:
            self.progress(size, max(self.total, size))

    def _apply(self, index: int, entry: Entry, signatures: Signatures) -> None:
        # The fold resolves the signer as of this position; ``signatures`` checks the signature
        # (inline or in a worker), so both paths fold exactly the same entries.
        try:
            applied = self.state.apply(entry.leaf)
        except RegistryError as e:
            digest = self._refused(index, entry.leaf, e)
            self._derive(index, entry, None, digest)
            return
        env = applied.leaf.envelope
        signatures.add(index, env.canonical, applied.signer.public_key)
        if index == 0 and self.state.origin != self.origin:
            self.findings.add(index, "leaf", f"the log is of registry {self.state.origin!r}, not {self.origin!r}")
        if entry.envelope_hash is not None and entry.envelope_hash != env.hash:
            self.findings.add(index, "event", "the event's envelope hash is not the hash of its leaf's envelope",
                              self.tables.get("events"), _row(entry))
        self._check_duplicate(index, applied.statement_hash)
        self._derive(index, entry, applied, applied.statement_hash)

    def _derive(self, index: int, entry: Entry, applied: Applied | None, digest: str | None) -> None:
        for check in self.derived:
            check.entry(index, entry.nid, applied, digest, self.state)

    def _refused(self, index: int, leaf: bytes, error: RegistryError) -> str | None:
        digest = None
        if not isinstance(error, MalformedError):
            digest = statement_hash(parse_leaf(leaf).envelope.payload)
            self._check_duplicate(index, digest)
        error = _telling_error(self.state, leaf, error)
        what = _what(error)
        self.findings.add(index, what, error.diagnostics() if what == "rule" else error.message)
        self.state.skip()  # a refused entry still holds its position: later ones keep theirs
        return digest

    def _check_duplicate(self, index: int, digest: str) -> None:
        prefix = int(digest[:16], 16)
        earlier = self._seen.setdefault(prefix, index)
        if earlier == index:
            return
        data = self.leaf_at(earlier)  # confirm on the full hash: prefixes may collide
        try:
            same = data is not None and _statement_hash(data) == digest
        except RegistryError:
            same = False
        if same:
            self.findings.add(index, "duplicate", f"the statement at index {index} was already recorded at {earlier}")

    def _snapshot(self, size: int) -> None:
        stored = self.load_snapshot(size)
        if stored is None:
            self.findings.add(None, "snapshot", f"size {size}: listed but not readable")
            return
        try:
            verified = snapshots.verify_document(stored.document, self.verifier)
        except VerificationError as e:
            self.findings.add(None, "snapshot", f"size {size}: {e.message}")
            return
        note = verified.note
        problems = []
        if note.size != size:
            problems.append(f"the signed note is for size {note.size}")
        if stored.state_hash and stored.state_hash != note.state_hash.hex():
            problems.append("the stored state hash differs from the signed one")
        if note.root != self.tree.root():
            problems.append(f"the signed root differs from the root recomputed from entries 0..{size - 1}")
        if note.state_hash != hashlib.sha256(self.state.canonical()).digest():
            problems.append(f"the signed state hash differs from the state rebuilt from entries 0..{size - 1}")
        for problem in problems:
            self.findings.add(None, "snapshot", f"size {size}: {problem}")

    # --- after the last entry ---------------------------------------------------------

    def _finish_tree(self, size: int) -> None:
        # 3. the stored tree and the head
        if self.tiles is not None:
            for finding in self.tiles.finish(size):
                self.findings.add(finding.index, finding.what, finding.detail)
        head_size, head_root = self.head
        if head_size > size:
            self.findings.add(None, "log head", f"the log head counts {head_size} entries; the store holds {size}")
        elif self.roots[head_size] != head_root:
            self.findings.add(None, "log head",
                              f"the head's root at size {head_size} differs from the root recomputed from the entries")

    def _finish_published(self, size: int) -> None:
        # 4. checkpoints: signature, root at their size, each consistent with the one before
        previous: Checkpoint | None = None
        for stored in self.checkpoints:
            try:
                signed = open_checkpoint(stored.note, self.origin, self.verifier).checkpoint
            except (NoteError, ValueError) as e:
                self.findings.add(None, "checkpoint", f"size {stored.size}: signature: {e}")
                continue
            if (signed.size, signed.root) != (stored.size, stored.root):
                self.findings.add(None, "checkpoint", f"size {stored.size}: the stored size or root differs from "
                                                      f"the signed note (size {signed.size})")
            if signed.size > size:
                self.findings.add(None, "checkpoint", f"size {signed.size}: beyond the {size} entries in the store")
            elif signed.size in self.roots and self.roots[signed.size] != signed.root:
                self.findings.add(None, "checkpoint", f"size {signed.size}: the signed root differs from the root "
                                                      f"recomputed from entries 0..{signed.size - 1}")
            if previous is not None:
                self._consistency(previous, signed)
            previous = signed
        # 5. snapshots the entries never reached
        for missing in sorted(s for s in self.snapshot_sizes if s > size or s == 0):
            self.findings.add(None, "snapshot", f"size {missing}: not a size the {size} entries reach")

    def _consistency(self, old: Checkpoint, new: Checkpoint) -> None:
        if self.proof_reader is None or old.size > new.size:
            return
        try:
            proof = tlog.prove_consistency(old.size, new.size, self.proof_reader)
            tlog.verify_consistency(old.size, new.size, old.root, new.root, proof)
        except (tlog.ProofError, KeyError, ValueError) as e:
            self.findings.add(None, "checkpoint", f"size {new.size} is not provably consistent with size "
                                                  f"{old.size}: {e}")


def _telling_error(state: RegistryState, leaf: bytes, error: RegistryError) -> RegistryError:
    """For a refused leaf: a bad signature (when its signer is known) tells more than the rule it then breaks."""
    if isinstance(error, MalformedError):
        return error
    try:
        parsed = parse_leaf(leaf)
        signer = rules.resolve_signer(parsed.envelope.keyid, parsed.envelope.statement(), state.get)
        envelope.verify(parsed.envelope, signer.public_key)
    except InvalidSignatureError as e:
        return e
    except (RegistryError, KeyError, TypeError, ValueError):
        pass
    return error


def _what(error: RegistryError) -> str:
    if isinstance(error, InvalidSignatureError):
        return "signature"
    if isinstance(error, DuplicateStatementError):
        return "duplicate"
    if isinstance(error, MalformedError):
        return "leaf"
    return "rule"


def _version_break(previous: int, version: int) -> str:
    expected = previous + 1
    if version > expected:
        return f"log version {version} follows {previous}: version {expected} is missing or moved"
    return f"log version {version} follows {previous}: a duplicated or moved entry"


def _statement_hash(leaf: bytes) -> str:
    return statement_hash(parse_leaf(leaf).envelope.payload)


def _row(entry: Entry) -> str:
    return f"notification {entry.nid} (log version {entry.version})" if entry.nid is not None else \
        f"log version {entry.version}"


# --- the stored tree ------------------------------------------------------------------


class TileCheck:
    """Compares recomputed hashes with stored tile rows, a row at a time as each fills up.

    A hash the head (read before the entries) covers must be stored; a stored
    hash beyond the entries read must be one the head (read after them) covers,
    so a log growing during the audit is no finding.
    """

    def __init__(self, tiles: TileRows, head_size: int) -> None:
        self.tiles = tiles
        self.head_size = head_size
        self._pending: dict[tuple[int, int], list[list[bytes]]] = {}
        self._visited: set[tuple[int, int]] = set()
        self._first: dict[str, tuple[int, int]] = {}
        self._count: dict[str, int] = {}

    def add(self, nodes: list[tuple[int, int, bytes]]) -> None:
        for level, index, value in nodes:
            tile_level, tile_index, interior, offset = tile_position(level, index)
            key = (tile_level, tile_index)
            row = self._pending.get(key)
            if row is None:
                row = self._pending[key] = [[] for _ in range(TILE_HEIGHT)]
                self._visited.add(key)
            row[interior].append(value)
            if interior == TILE_HEIGHT - 1 and offset == (TILE_WIDTH >> interior) - 1:
                self._compare(key, self._pending.pop(key), None)  # the row is full: it can only be equal

    def finish(self, size: int) -> list[Finding]:
        head_end = self.tiles.head_size()
        for key in sorted(self._pending):
            self._compare(key, self._pending[key], head_end)
        for key in self.tiles.keys():
            if key not in self._visited:
                self._compare(key, [[] for _ in range(TILE_HEIGHT)], head_end)
        return self._findings(size)

    def _compare(self, key: tuple[int, int], expected: list[list[bytes]], head_end: int | None) -> None:
        tile_level, tile_index = key
        raw = self.tiles.row(tile_level, tile_index)
        try:
            stored = decode_tile(raw) if raw is not None else [[] for _ in range(TILE_HEIGHT)]
        except LogCorruptionError:
            self._note("mismatch", tile_level * TILE_HEIGHT, tile_index * TILE_WIDTH)
            return
        for interior in range(TILE_HEIGHT):
            level = tile_level * TILE_HEIGHT + interior
            first = tile_index * (TILE_WIDTH >> interior)
            want, have = expected[interior], stored[interior]
            for offset in range(max(len(want), len(have))):
                index = first + offset
                if offset < len(want) and offset < len(have):
                    if want[offset] != have[offset]:
                        self._note("mismatch", level, index)
                elif offset < len(want):
                    if (index + 1) << level <= self.head_size:
                        self._note("missing", level, index)
                elif head_end is None or (index + 1) << level > head_end:
                    self._note("extra", level, index)

    def _note(self, kind: str, level: int, index: int) -> None:
        self._count[kind] = self._count.get(kind, 0) + 1
        if kind not in self._first or (level, index) < self._first[kind]:
            self._first[kind] = (level, index)

    def _findings(self, size: int) -> list[Finding]:
        found = []
        texts = {
            "mismatch": "the stored hash at level {0}, index {1} differs from the hash recomputed from the entries",
            "missing": f"the stored tree lacks the hash at level {{0}}, index {{1}}, which its head "
                       f"(size {self.head_size}) covers",
            "extra": f"the stored tree holds a hash at level {{0}}, index {{1}} for entries beyond the {size} stored",
        }
        for kind in ("mismatch", "missing", "extra"):
            if kind in self._first:
                level, index = self._first[kind]
                more = self._count[kind] - 1
                detail = texts[kind].format(level, index) + (f" (and {more} more like it)" if more else "")
                found.append(Finding(index if level == 0 and kind == "mismatch" else None, "tree hash", detail))
        return found


# --- the shell: the raw stores ----------------------------------------------------------
