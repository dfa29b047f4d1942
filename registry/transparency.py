"""The transparency log as a projection of the event store.

Leaf *i* is the *i*-th ``LogEntryRecorded`` event in the store's notification
order: :meth:`TransparencyLog.catch_up` reads those notifications after the
tracked position and integrates their leaf hashes (dense indices whatever gaps
the notification ids have). Checkpoints are C2SP signed notes, and a new one is
signed only after checking that the tree still contains the last published
one (never two inconsistent checkpoints). Receipts are C2SP tlog-proof@v1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, IntegrityError, OperationalError
from eventsourcing.utils import Environment

from registry import config, notes, tlog
from registry.application import LogEntryRecorded, Registry
from registry.errors import NotFoundError, RegistryError
from registry.leaf import format_time
from registry.logstore import LogCorruptionError, LogStoreMixin, PostgresLogStore, SQLiteLogStore, StoredCheckpoint
from registry.sqlstore import open_with_retry

BATCH = 5000  # leaves per integration transaction: fewer commits, bounded memory


class InconsistentLogError(RegistryError):
    """The stored tree no longer contains a published checkpoint: refuse to sign."""

    code = "inconsistent-log"


def log_database_path(settings: config.Settings) -> Path:
    """The SQLite file of the log, beside the event store."""
    events = Path(settings.database_url[len("sqlite:///"):])
    return events.with_name(events.stem + "-log" + (events.suffix or ".db"))


def open_log_store(settings: config.Settings) -> LogStoreMixin:
    """The log store for the configured database."""
    env = config.eventsourcing_env(settings)
    cls: Any = PostgresLogStore
    if not settings.is_postgres:
        env["LOG_SQLITE_DBNAME"] = str(log_database_path(settings))
        cls = SQLiteLogStore
    return open_with_retry(lambda: InfrastructureFactory.construct(Environment("log", env)).tracking_recorder(cls))


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]


class TransparencyLog:
    """Integrates leaves, answers proofs, signs checkpoints, builds receipts."""

    def __init__(self, registry: Registry, store: LogStoreMixin, origin: str,
                 signer: notes.NoteSigner | None = None) -> None:
        self.registry = registry
        self.store = store
        self.origin = origin
        self.signer = signer

    # --- integration -------------------------------------------------------------

    def catch_up(self, *, batch: int = BATCH, fault: Any = None) -> int:
        """Integrate every recorded statement not yet in the log; return the log size."""
        while True:
            start = self.store.tracking_position()
            found = self.registry.recorder.select_notifications(
                start, batch, topics=[LogEntryRecorded.TOPIC], inclusive_of_start=False
            )
            if not found:
                return self.store.size()
            entries = [(n.id, n.originator_version, tlog.leaf_hash(_leaf_bytes(n.state))) for n in found]
            try:
                self.store.integrate(entries, fault=fault)
            except (IntegrityError, OperationalError):
                continue  # another process integrated these first; look again

    # --- reading -----------------------------------------------------------------

    def size(self) -> int:
        return self.store.size()

    def root(self, size: int | None = None) -> bytes:
        current = self.store.size()
        size = current if size is None else size
        if not 0 <= size <= current:
            raise NotFoundError(f"the log has {current} leaves; no tree of size {size}")
        return tlog.tree_hash(size, self.store.read)

    def inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        current = self.store.size()
        size = current if size is None else size
        if not 0 <= index < size <= current:
            raise NotFoundError(f"no inclusion proof for leaf {index} in a tree of size {size} (log size {current})")
        leaf = self.store.read([(0, index)])[0]
        return InclusionProof(index, size, leaf, tlog.prove_inclusion(index, size, self.store.read))

    def consistency(self, old: int, new: int) -> list[bytes]:
        current = self.store.size()
        if not 0 <= old <= new <= current:
            raise NotFoundError(f"no consistency proof from {old} to {new} (log size {current})")
        return tlog.prove_consistency(old, new, self.store.read)

    # --- checkpoints -----------------------------------------------------------------

    def publish_checkpoint(self, now: datetime | None = None) -> tuple[StoredCheckpoint | None, bool]:
        """Sign a checkpoint for the current tree if it grew; (latest checkpoint, whether new)."""
        if self.signer is None:
            raise RegistryError("no log key: cannot sign checkpoints")
        self.catch_up()
        size, root = self.store.head()
        latest = self.store.latest_checkpoint()
        if latest is not None and latest.size >= size:
            return latest, False
        if size == 0:
            return latest, False
        if latest is not None:
            self._check_extends(latest, size, root)
        note = notes.sign_checkpoint(notes.Checkpoint(self.origin, size, root), self.signer)
        published_at = format_time(now or datetime.now(UTC))
        if not self.store.add_checkpoint(size, root, note, published_at):
            return self.store.checkpoint(size), False
        return self.store.checkpoint(size), True

    def _check_extends(self, latest: StoredCheckpoint, size: int, root: bytes) -> None:
        # Recompute the old root from today's stored hashes and prove old -> new before signing.
        if tlog.tree_hash(latest.size, self.store.read) != latest.root:
            raise InconsistentLogError(f"the stored tree no longer matches the checkpoint at size {latest.size}")
        proof = tlog.prove_consistency(latest.size, size, self.store.read)
        try:
            tlog.verify_consistency(latest.size, size, latest.root, root, proof)
        except tlog.ProofError as e:
            raise InconsistentLogError(f"size {size} is not consistent with checkpoint {latest.size}: {e}") from None

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.store.latest_checkpoint()

    # --- receipts ------------------------------------------------------------------

    def receipt(self, index: int, size: int | None = None) -> bytes:
        """A C2SP tlog-proof@v1 receipt for leaf ``index`` against the latest (or given) checkpoint."""
        checkpoint = self.store.checkpoint(size) if size is not None else self.store.latest_checkpoint()
        if checkpoint is None or index >= checkpoint.size or index < 0:
            raise NotFoundError(f"no published checkpoint covers leaf {index} yet")
        leaf = self.registry.leaf(index)
        if leaf is None:
            raise LogCorruptionError(f"leaf {index} is in the tree but not in the event store")
        proof = tlog.prove_inclusion(index, checkpoint.size, self.store.read)
        return notes.format_receipt(notes.Receipt(extra=leaf, index=index, proof=tuple(proof),
                                                  checkpoint=checkpoint.note))


_LEAF_KEY = '"leaf":"'


def _leaf_bytes(state: bytes) -> bytes:
    """The leaf string member of a stored event's JSON, decoded without parsing the rest.

    The library writes ``{"timestamp": {...}, "leaf": "...", "envelope_hash": "..."}``; the leaf
    text inside is escaped, so an unescaped ``"leaf":"`` occurs once, as the member name. This
    is the hot loop of integration, hence the direct scan; anything unexpected takes the slow path.
    """
    text = state.decode("utf-8")
    start = text.find(_LEAF_KEY)
    if start != -1:
        value, _ = json.decoder.scanstring(text, start + len(_LEAF_KEY))
        return value.encode("ascii")
    return json.loads(text)["leaf"].encode("ascii")


def open_log(settings: config.Settings, registry: Registry, *, with_signer: bool = False) -> TransparencyLog:
    """The transparency log of a registry, optionally able to sign (log key from the data directory)."""
    signer = None
    if with_signer:
        from registry import keys

        signer = notes.signer_from_private(settings.origin, keys.load_private(settings.log_key))
    return TransparencyLog(registry, open_log_store(settings), settings.origin, signer)
