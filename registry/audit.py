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

Not here: repairing anything, the read models (never consulted), the key
files and the command line (``scripts/cli/`` is the shell).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventsourcing.application import Application

from registry import config, envelope, rules, snapshots, tlog
from registry.application import HINT_TOPIC, LOG_ID, LogEntryRecorded
from registry.checkpoint import Checkpoint, open_checkpoint
from registry.errors import (
    DuplicateStatementError,
    InvalidSignatureError,
    MalformedError,
    NoteError,
    RegistryError,
    VerificationError,
)
from registry.follow import entry_of, pages
from registry.leaf import parse_leaf
from registry.logstore import (
    UPSTREAM,
    LogCorruptionError,
    LogStoreMixin,
    StoredCheckpoint,
    StoredSnapshot,
    decode_tile,
    tile_position,
)
from registry.rows import (
    HintCheck,
    HintRow,
    LogTablesCheck,
    RowCheck,
    TrackingCheck,
    ViewCheck,
    ViewTablesCheck,
    parse_hint,
)
from registry.signatures import Signatures, verify_signatures  # noqa: F401 - re-exported for callers
from registry.signednote import NoteVerifier
from registry.state import Applied, RegistryState, statement_hash
from registry.tiles import TILE_HEIGHT, TILE_WIDTH
from registry.tlog import RightEdge
from registry.transparency import open_log_store

PAGE = 1000  # notifications read per query
PROGRESS_EVERY = 10_000
PARALLEL_FROM = 10_000  # smaller logs are checked inline: starting worker processes costs more than it saves
MAX_FINDINGS = 1000  # kept (lowest indexes first); the rest are only counted


@dataclass(frozen=True)
class Finding:
    """One problem: the log index it concerns (None for published artefacts), what failed, and how.

    ``table`` and ``row`` name the stored row it is about, when it is about one.
    """

    index: int | None
    what: str
    detail: str
    table: str | None = None
    row: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "what": self.what, "detail": self.detail, "table": self.table, "row": self.row}


@dataclass(frozen=True)
class AuditResult:
    """What an audit found; truthy when clean."""

    entries: int
    integrated: int
    checkpoints: int
    snapshots: int
    root: bytes
    state_hash: str
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0  # findings beyond MAX_FINDINGS

    @property
    def ok(self) -> bool:
        return not self.findings

    def __bool__(self) -> bool:
        return self.ok

    @property
    def first_bad_index(self) -> int | None:
        """The lowest log index any finding names."""
        return min((f.index for f in self.findings if f.index is not None), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "entries": self.entries, "integrated": self.integrated,
            "checkpoints": self.checkpoints, "snapshots": self.snapshots,
            "root_hash": base64.b64encode(self.root).decode("ascii"), "state_hash": self.state_hash,
            "first_bad_index": self.first_bad_index, "findings": [f.to_json() for f in self.findings],
            "suppressed": self.suppressed,
        }


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


_RANK = {what: rank for rank, what in enumerate(
    ("log version", "duplicate", "leaf", "signature", "rule", "event", "tree hash", "derived row"))}
# The table a finding is about when its kind says it (entries are in the event store: see Auditor.tables).
_TABLE_OF = {"tree hash": "log_tiles", "log head": "log_head", "checkpoint": "log_checkpoints",
             "snapshot": "log_snapshots"}
_ENTRY_KINDS = ("log version", "duplicate", "leaf", "signature", "rule", "event")


class Findings:
    """Findings, at most MAX_FINDINGS of them (the lowest indexes); the rest are counted."""

    def __init__(self, limit: int = MAX_FINDINGS, events_table: str | None = None) -> None:
        self.limit = limit
        self.events_table = events_table
        self.items: list[Finding] = []
        self.suppressed = 0

    def add(self, index: int | None, what: str, detail: str, table: str | None = None,
            row: str | None = None) -> None:
        if table is None:
            table = self.events_table if what in _ENTRY_KINDS else _TABLE_OF.get(what)
        if row is None and what in _ENTRY_KINDS and index is not None:
            row = f"log version {index + 1}"
        self.items.append(Finding(index, what, detail, table, row))
        if len(self.items) > 2 * self.limit:
            self._trim()

    def sorted(self) -> list[Finding]:
        self._trim()
        return list(self.items)

    def _trim(self) -> None:
        # By index, then the most telling first; stable otherwise (workers finish in any order).
        self.items.sort(key=lambda f: (f.index is None, f.index or 0, _RANK.get(f.what, len(_RANK))))
        self.suppressed += max(0, len(self.items) - self.limit)
        del self.items[self.limit:]


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


class _EventStore(Application):
    """The registry's event store, opened without the application's start-up reads (which parse leaf 0)."""

    name = "registry"


def open_event_store(settings: config.Settings) -> Application:
    """The raw event store of a registry (same tables as :class:`registry.application.Registry`)."""
    return _EventStore(config.eventsourcing_env(settings))


def stored_entries(recorder: Any, page: int = PAGE, hints: HintCheck | None = None,
                   strays: list[Finding] | None = None) -> Iterator[Entry]:
    """Every log entry event in notification order, as an :class:`Entry`.

    With ``hints``, every row of the event store is read: statement hints go to that check, and any
    other row (neither a log entry nor derived from one) is added to ``strays``.
    """
    topics = [LogEntryRecorded.TOPIC] if hints is None else None
    table = getattr(recorder, "events_table_name", "events")
    for found in pages(recorder, page=page, topics=topics):
        for notification in found:
            if notification.topic == LogEntryRecorded.TOPIC:
                yield _entry(notification)
            elif hints is not None and notification.topic == HINT_TOPIC:
                digest, index = parse_hint(bytes(notification.state))
                hints.hint(HintRow(notification.id, str(notification.originator_id),
                                   int(notification.originator_version), digest, index))
            elif strays is not None:
                strays.append(Finding(None, "derived row", f"a row that is neither a log entry nor derived from "
                                      f"one (topic {notification.topic!r})", table,
                                      f"notification {notification.id} ({notification.originator_id} "
                                      f"v{notification.originator_version})"))


def _entry(notification: Any) -> Entry:
    state = bytes(notification.state)
    try:
        leaf, envelope_hash = entry_of(state)
    except ValueError:
        return Entry(notification.originator_version, state, None, "the stored event is not a readable log entry")
    problem = None
    if notification.originator_id != LOG_ID:
        problem = f"a log entry event outside the statement log (originator {notification.originator_id})"
    return Entry(notification.originator_version, leaf, str(envelope_hash), problem,
                 getattr(notification, "id", None))


def _leaf_by_version(recorder: Any, version: int) -> bytes | None:
    for stored in recorder.select_events(LOG_ID, gt=version - 1, lte=version):
        return _entry(stored).leaf
    return None


def _last_version(recorder: Any) -> int:
    last = recorder.select_events(LOG_ID, desc=True, limit=1)
    return int(last[0].originator_version) if last else 0


class StoredTiles:
    """:class:`TileRows` over a log store's ``log_tiles`` table (raw rows, with their interior levels)."""

    def __init__(self, store: LogStoreMixin) -> None:
        self.store = store

    def row(self, level: int, index: int) -> bytes | None:
        return self.store.tile_row(level, index)

    def keys(self) -> list[tuple[int, int]]:
        return self.store.tile_keys()

    def head_size(self) -> int:
        return self.store.size()


def audit_store(recorder: Any, store: LogStoreMixin, log_verifier: NoteVerifier, *, workers: int = 2,
                parallel_from: int = PARALLEL_FROM, progress: Progress | None = None,
                progress_every: int = PROGRESS_EVERY, page: int = PAGE, views: Any = None) -> AuditResult:
    """Audit an event store (its application recorder), the log store projected from it and, given a
    view store, the read models: every stored row, each against what the fold of the log derives."""
    # What was published is read before the entries, so that the entries read next cover it.
    events_table = str(getattr(recorder, "events_table_name", "events"))
    hints = HintCheck(events_table)
    head = store.head()
    derived: list[RowCheck] = [hints, TrackingCheck(_tracking_table(store), "log", store.tracking_position(),
                                                    head[0]), LogTablesCheck(store, UPSTREAM)]
    if views is not None:
        derived += [ViewCheck(views), TrackingCheck(_tracking_table(views), "read models", views.tracking_position(),
                                                    views.head()[0]), ViewTablesCheck(views, UPSTREAM)]
    strays: list[Finding] = []
    auditor = Auditor(
        log_verifier=log_verifier, head=head, checkpoints=store.checkpoints(),
        snapshot_sizes=store.snapshot_sizes(), load_snapshot=store.snapshot, tiles=StoredTiles(store),
        proof_reader=store.read, leaf_at=lambda index: _leaf_by_version(recorder, index + 1),
        total=_last_version(recorder), workers=workers, parallel_from=parallel_from,
        progress=progress, progress_every=progress_every, derived=derived, tables={"events": events_table},
    )
    result = auditor.run(stored_entries(recorder, page, hints, strays))
    if not strays:
        return result
    findings = Findings(events_table=events_table)
    for found in [*result.findings, *strays]:
        findings.add(found.index, found.what, found.detail, found.table, found.row)
    return dataclasses.replace(result, findings=findings.sorted(),
                               suppressed=result.suppressed + findings.suppressed)


def _tracking_table(store: Any) -> str:
    return str(getattr(store, "tracking_table_name", "tracking"))


def audit_data(settings: config.Settings, log_verifier: NoteVerifier, **options: Any) -> AuditResult:
    """Open a registry's raw stores (events, log, read models), audit them and close them."""
    from registry.views import open_view_store

    events = open_event_store(settings)
    store = open_log_store(settings)
    views = open_view_store(settings)
    try:
        return audit_store(events.recorder, store, log_verifier, views=views, **options)
    finally:
        views.datastore.close()
        store.datastore.close()
        events.close()
