"""Export and import: the whole log as a bundle, and a verified mirror rebuilt from one.

:func:`export_bundle` writes the log's leaves (from the event store), every
published checkpoint note and snapshot document, and the log's verifier key
with :mod:`registry.bundle`. :func:`verify_bundle` checks a bundle completely
with the audit's core (every leaf folded with its signature and every rule as
of its position, the root, every checkpoint's signature, root and consistency,
every snapshot) before :func:`import_verified` stores anything: it re-records
every statement at its original time and checks that each lands at the same
index with byte-identical leaf bytes, integrates the log, stores the
checkpoints and snapshots verbatim and catches up the read models.

What it does not do: carry private keys. An imported registry is a verified
mirror that can serve and prove everything but sign nothing new; to continue
as the same log, copy the key files (``keys/log.key``, and the root and
maintainer keys) from the original data directory. A bundle does not record
when a checkpoint or snapshot was first published, so the mirror's
``published_at`` of each is the time of the import.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import zip_longest
from pathlib import Path

from registry import bundle, config, keys, snapshots, tlog
from registry.application import LogEntryRecorded, Registry, open_registry
from registry.audit import Auditor, AuditResult, Entry, Progress, RightEdge
from registry.auditstore import open_event_store
from registry.checkpoint import open_checkpoint
from registry.errors import ConfigurationError, NoteError, RegistryError, VerificationError
from registry.evidence import EvidenceStoreMixin, StoredDocument, digest, open_evidence_store
from registry.logstore import StoredCheckpoint, StoredSnapshot
from registry.signednote import NoteVerifier, parse_verifier_key
from registry.times import format_time
from registry.transparency import TransparencyLog, open_log, open_log_store
from registry.views import open_read_models, open_view_store

BATCH = 500  # leaves re-recorded per transaction


@dataclass(frozen=True)
class Exported:
    """What a bundle holds."""

    path: Path
    size: int
    root: bytes
    checkpoints: int
    snapshots: int
    documents: int = 0


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose every entry, checkpoint and snapshot verified."""

    origin: str
    size: int
    root: bytes
    log_verifier: NoteVerifier
    leaves: list[bytes]
    checkpoints: list[StoredCheckpoint]
    snapshots: list[StoredSnapshot]
    result: AuditResult
    documents: list[bundle.BundledDocument] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Imported:
    """What an import recorded."""

    origin: str
    size: int
    root: bytes
    state_hash: str
    checkpoints: int
    snapshots: int
    documents: int = 0


# --- export ---------------------------------------------------------------------------


def export_bundle(path: Path, registry: Registry, log: TransparencyLog, log_key: str) -> Exported:
    """Write the integrated log to a bundle at ``path``; raise VerificationError if its leaves miss its root."""
    log.catch_up()
    size, root = log.store.head()
    checkpoints = [c.note for c in log.store.checkpoints() if c.size <= size]
    sizes = [s for s in log.store.snapshot_sizes() if s <= size]
    archive = open_evidence_store(log.store)
    rows = archive.documents()
    try:
        bundle.write(path, origin=log.origin, size=size, root=root, log_key=log_key,
                     leaves=_checked(registry.leaves(0, size), size, root), checkpoints=checkpoints,
                     snapshots=_documents(log, sizes), documents=_archived(archive, rows))
    except BaseException:
        path.with_name(path.name + ".partial").unlink(missing_ok=True)  # bundle.write's working file
        raise
    return Exported(path, size, root, len(checkpoints), len(sizes), len(rows))


def _archived(archive: EvidenceStoreMixin, rows: list[StoredDocument]) -> Iterator[bundle.BundledDocument]:
    """Every archived document, one at a time; refusing one whose bytes no longer hash to its name."""
    for row in rows:
        data = archive.data(row.sha256) or b""
        if digest(data) != row.sha256:
            raise VerificationError(f"the archived document {row.sha256} no longer hashes to its name; "
                                    "run registry audit", "export")
        yield bundle.BundledDocument(row, data)


def _checked(leaves: Iterable[bytes], size: int, root: bytes) -> Iterator[bytes]:
    """The leaves, refusing at the end unless there are ``size`` of them with root ``root``."""
    tree = RightEdge()
    for leaf in leaves:
        tree.append(tlog.leaf_hash(leaf))
        yield leaf
    if tree.size != size or tree.root() != root:
        raise VerificationError(f"the event store's {tree.size} leaves do not hash to the log's root "
                                f"at size {size}; run registry audit", "export")


def _documents(log: TransparencyLog, sizes: list[int]) -> Iterator[bytes]:
    for size in sizes:
        stored = log.store.snapshot(size)
        if stored is not None:
            yield stored.document


# --- verification (stores nothing) -------------------------------------------------------


def verify_bundle(path: Path, *, workers: int = 2, progress: Progress | None = None,
                  **options: int) -> VerifiedBundle:
    """Read a bundle and verify everything in it; raise VerificationError naming the first problem."""
    # 1. structure and trailer (an edited or truncated file stops here)
    data = bundle.read(path)
    # 2. the log key is named after the origin
    try:
        verifier = parse_verifier_key(data.log_key)
    except NoteError as e:
        raise VerificationError(f"the bundle's log key is not a verifier key: {e}", "bundle") from None
    if verifier.name != data.origin:
        raise VerificationError(f"the log key is named {verifier.name!r}, the origin is {data.origin!r}", "bundle")
    # 3. checkpoints and snapshots are signed by that key and listed once each, by size
    checkpoints = [_checkpoint(note, verifier) for note in data.checkpoints]
    documents = [_snapshot(document, verifier) for document in data.snapshots]
    for what, sizes in (("checkpoint", [c.size for c in checkpoints]), ("snapshot", [s.size for s in documents])):
        if sizes != sorted(set(sizes)):
            raise VerificationError(f"{what}s are not listed once each in size order", "bundle")
    # 4. every entry, the root, each checkpoint and snapshot against the entries (the audit's checks)
    tree = tlog.MemoryHashStore()  # consistency proofs between checkpoints come from the bundle's own leaves
    tree.extend([tlog.leaf_hash(leaf) for leaf in data.leaves])
    by_size = {s.size: s for s in documents}
    result = Auditor(
        log_verifier=verifier, head=(data.size, data.root), checkpoints=checkpoints,
        snapshot_sizes=list(by_size), load_snapshot=by_size.get, proof_reader=tree.read,
        leaf_at=lambda index: data.leaves[index] if 0 <= index < len(data.leaves) else None,
        total=len(data.leaves), workers=workers, progress=progress, **options,
    ).run(Entry(index + 1, leaf) for index, leaf in enumerate(data.leaves))
    if not result.ok:
        first = result.findings[0]
        where = "" if first.index is None else f"entry {first.index}: "
        more = len(result.findings) + result.suppressed - 1
        raise VerificationError(f"{where}{first.what}: {first.detail}" + (f" (and {more} more findings)" if more
                                                                           else ""), "bundle")
    return VerifiedBundle(data.origin, data.size, data.root, verifier, data.leaves, checkpoints, documents, result,
                          data.documents)


def _checkpoint(note: bytes, verifier: NoteVerifier) -> StoredCheckpoint:
    try:
        cp = open_checkpoint(note, verifier.name, verifier).checkpoint
    except (NoteError, ValueError) as e:  # ValueError: the bundle's log key is a cosignature key, not Ed25519
        raise VerificationError(f"a checkpoint: {e}", "bundle") from None
    return StoredCheckpoint(cp.size, cp.root, note, "")


def _snapshot(document: bytes, verifier: NoteVerifier) -> StoredSnapshot:
    try:
        verified = snapshots.verify_document(document, verifier)
    except VerificationError as e:
        raise VerificationError(f"a snapshot: {e.message}", "bundle") from None
    return StoredSnapshot(verified.note.size, verified.note.state_hash.hex(), document, "")


# --- import --------------------------------------------------------------------------------


def check_target(settings: config.Settings) -> None:
    """Refuse (ConfigurationError) unless the target's event store, log and read models are all empty."""
    events = open_event_store(settings)
    store = open_log_store(settings)
    views = open_view_store(settings)
    try:
        held = events.recorder.select_notifications(0, 1, inclusive_of_start=False)
        log_entries = events.recorder.select_notifications(0, 1, topics=[LogEntryRecorded.TOPIC],
                                                           inclusive_of_start=False)
        if held or store.size() or store.checkpoints() or store.snapshot_sizes() or views.head()[0]:
            what = "log entries" if log_entries else "events or log data"
            raise ConfigurationError(f"the target store already holds {what}: import only into an empty "
                                     f"store (a new data directory, database or schema)")
    finally:
        views.datastore.close()
        store.datastore.close()
        events.close()


def import_verified(verified: VerifiedBundle, settings: config.Settings, *, now: datetime | None = None,
                    progress: Progress | None = None, progress_every: int = 10_000) -> Imported:
    """Record a verified bundle into an empty store as a mirror of the same log (same origin and log key).

    Raises:
        ConfigurationError: the target is not empty, or belongs to another origin or log key.
        VerificationError: re-recording did not reproduce the bundle exactly (the store then holds a
            partial copy: delete it).
    """
    # 1. the target: empty, not bound to another origin or log key; then its configuration
    check_target(_target_settings(settings, verified.origin))
    settings = prepare_mirror(settings, verified.origin, verified.log_verifier.public_key)
    registry = open_registry(settings)
    log = open_log(settings, registry)
    views = open_read_models(settings, registry)
    try:
        # 2. every statement again, at its original time: same index, same leaf bytes
        _record(registry, verified, progress, progress_every)
        # 3. the log: same root
        size = log.catch_up()
        root = log.root()
        if (size, root) != (verified.size, verified.root):
            raise VerificationError(f"the imported log's root at size {size} differs from the bundle's", "import")
        # 4. checkpoints and snapshots verbatim, published (here) at the import time
        published_at = format_time(now or datetime.now(UTC))
        for cp in verified.checkpoints:
            log.store.add_checkpoint(cp.size, cp.root, cp.note, published_at)
        for snap in verified.snapshots:
            log.store.add_snapshot(snap.size, snap.state_hash, snap.document, published_at)
        # 5. the archived documents, each checked against its name again as it is stored
        archive = open_evidence_store(log.store)
        for bundled in verified.documents:
            archive.put(bundled.document, bundled.data)
        # 6. the read models
        views.catch_up()
        state_hash = views.state().hash()
    finally:
        views.store.datastore.close()
        log.store.datastore.close()
        registry.close()
    return Imported(verified.origin, size, root, state_hash, len(verified.checkpoints), len(verified.snapshots),
                    len(verified.documents))


def _record(registry: Registry, verified: VerifiedBundle, progress: Progress | None, every: int) -> None:
    total = verified.size
    # verify_bundle checked every signature of these leaves by the audit's fold
    record_leaves(registry, verified.leaves, start=0, signatures_checked=True,
                  progress=None if progress is None else lambda done, _: progress(done, total), every=every)


def record_leaves(registry: Registry, leaves: Iterable[bytes], *, start: int, progress: Progress | None = None,
                  every: int = 10_000, batch: int = BATCH, signatures_checked: bool = False,
                  after_batch: Callable[[int], object] | None = None) -> int:
    """Re-record verified leaves after the ``start`` entries a store holds; the new size.

    Each leaf is recorded again exactly (its envelope at its original time), checked by the
    registry's ledger as of its position, ``batch`` leaves per transaction, and must land at its
    original index; afterwards the stored leaves must be byte-identical to the given ones.
    ``leaves`` is iterated twice, so it must be re-iterable (a list or a spool).
    ``signatures_checked``: the caller has just verified every envelope signature of these very
    leaves by the audit's fold (the ledger then checks rules and origin only). ``after_batch`` is
    called with the new size after each batch (a mirror integrates its tree as it goes).

    Raises:
        VerificationError: an entry was refused or did not land exactly where and as it was.
    """
    if registry.size() != start:
        raise VerificationError(f"the store holds {registry.size()} entries, not {start}", "import")
    index = start
    batch = min(batch, every)  # progress is reported at whole multiples of ``every``
    pending: list[bytes] = []
    for data in leaves:
        pending.append(data)
        if len(pending) >= batch:
            index = _record_batch(registry, pending, index, signatures_checked)
            pending = []
            if after_batch is not None:
                after_batch(index)
            if progress is not None and (index - start) % every == 0:
                progress(index - start, 0)
    if pending:
        index = _record_batch(registry, pending, index, signatures_checked)
    for offset, (stored, original) in enumerate(zip_longest(registry.leaves(start), leaves)):
        if stored != original:
            raise VerificationError(f"entry {start + offset} was not recorded byte for byte", "import")
    return index


def _record_batch(registry: Registry, leaves: list[bytes], index: int, signatures_checked: bool) -> int:
    try:
        size = registry.record_leaves(leaves, signatures_checked=signatures_checked)
    except RegistryError as e:
        raise VerificationError(f"an entry in {index}..{index + len(leaves) - 1} was refused on import: "
                                f"{e.diagnostics()}", "import") from None
    if size != index + len(leaves):
        raise VerificationError(f"entries {index}..{index + len(leaves) - 1} landed at {size - len(leaves)}",
                                "import")
    return size


def prepare_mirror(settings: config.Settings, origin: str, log_public_key: bytes) -> config.Settings:
    """Bind a data directory to a log (its origin and public log key) as a mirror; refuse another log's.

    Raises:
        ConfigurationError: the directory belongs to another origin or holds another log key.
    """
    settings = _target_settings(settings, origin)
    _install_log_key(settings, log_public_key)
    stored = config.read_config_file(settings.data_dir)
    if stored.get("origin") != origin:
        config.write_config_file(settings.data_dir, {**stored, "origin": origin})
    return settings


def _target_settings(settings: config.Settings, origin: str) -> config.Settings:
    stored = config.read_config_file(settings.data_dir).get("origin")
    if stored not in (None, origin) or (settings.origin != origin and settings.origin != config.DEFAULT_ORIGIN):
        raise ConfigurationError(f"the target is configured for origin {stored or settings.origin!r}; "
                                 f"the bundle is of {origin!r}")
    return dataclasses.replace(settings, origin=origin)


def _install_log_key(settings: config.Settings, public_key: bytes) -> None:
    """Keep the log's public key beside where its private key would go; refuse another log key there."""
    public_file = keys.public_path(settings.log_key)
    if settings.log_key.exists():
        present = keys.public_bytes(keys.load_private(settings.log_key))
    elif public_file.exists():
        present = keys.load_public_file(public_file)
    else:
        public_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys.save_public(public_key, public_file)
        return
    if present != public_key:
        raise ConfigurationError(f"{public_file} holds another log key than the bundle's "
                                 f"({base64.b64encode(public_key).decode()})")
