"""The transparency log as a projection of the event store.

Leaf *i* is the *i*-th ``LogEntryRecorded`` event in the store's notification
order: :meth:`TransparencyLog.catch_up` reads those notifications after the
tracked position and integrates their leaf hashes (dense indices whatever gaps
the notification ids have). Checkpoints are C2SP signed notes, and a new one is
signed only after checking that the tree still contains the last published
one (never two inconsistent checkpoints). Receipts are C2SP tlog-proof@v1. A checkpoint is
served, and carried in receipts, with the witness cosignatures stored for it (``registry.cosigning``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError

from registry import config, tlog
from registry.application import Registry
from registry.checkpoint import Checkpoint, sign_checkpoint
from registry.cosigning import with_cosignatures
from registry.errors import (
    CatchUpError,
    InconsistentLogError,
    LogCorruptionError,
    NotFoundError,
    NotYetCoveredError,
    ProofError,
    RegistryError,
)
from registry.follow import next_leaves
from registry.ledger import Anchor, find_anchor
from registry.logstore import LogStoreMixin, PostgresLogStore, SQLiteLogStore, StoredCheckpoint
from registry.receipts import Receipt, format_receipt
from registry.signednote import NoteSigner, NoteVerifier, format_verifier_key, parse_verifier_key, signer_from_private
from registry.sqlstore import open_tracking_store, sidecar_path
from registry.times import format_time

BATCH = 5000  # leaves per integration transaction: fewer commits, bounded memory
MAX_TRIES = 50  # integration attempts that may lose races before catch-up gives up


def log_database_path(settings: config.Settings) -> Path:
    """The SQLite file of the log, beside the event store."""
    return sidecar_path(settings, "log")


def open_log_store(settings: config.Settings) -> LogStoreMixin:
    """The log store for the configured database."""
    store: LogStoreMixin = open_tracking_store(settings, "log", SQLiteLogStore, PostgresLogStore)
    return store


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]


class TransparencyLog:
    """Integrates leaves, answers proofs, signs checkpoints, builds receipts."""

    def __init__(self, registry: Registry, store: LogStoreMixin, origin: str,
                 signer: NoteSigner | None = None) -> None:
        self.registry = registry
        self.store = store
        self.origin = origin
        self.signer = signer

    # --- integration -------------------------------------------------------------

    def catch_up(self, *, batch: int = BATCH, fault: Any = None) -> int:
        """Integrate every recorded statement the registry's ledger has checked; return the log size.

        An entry joins the tree only once the ledger (the checked fold, see ``registry.ledger``) has
        checked it, and only with the exact bytes it checked: the log stops before the first entry
        that fails. Catch-up is exactly-once (tracking) and bounded: a stored position that makes no
        progress possible raises CatchUpError instead of spinning.
        """
        with self.registry.ledger_lock:  # one integrator per process: the ledger's hashes stay put meanwhile
            checked = self.registry.follow(keep_from=self.store.size())
            ledger = self.registry.ledger
            problem, failures = "no progress", 0
            while failures < MAX_TRIES:
                size = self.store.size()
                ledger.forget_below(size)
                if size >= checked:
                    return size
                entries, problem = self._checked_entries(size, checked, batch)
                if entries:
                    try:
                        self.store.integrate(entries, fault=fault)
                        failures = 0  # progress: only tries in a row that move nothing count
                        continue
                    except (IntegrityError, OperationalError):
                        problem = "another process integrated these first"
                    except LogCorruptionError as e:
                        problem = str(e)
                failures += 1
                # The head and the tracking position are read apart, so another process integrating in
                # between looks like a gap once; a real one looks the same every time.
                time.sleep(random.uniform(0, 0.002 * failures))
            raise CatchUpError(f"the log cannot integrate leaf {self.store.size()}: {problem} "
                               f"({MAX_TRIES} tries in a row)")

    def _checked_entries(self, size: int, checked: int, batch: int) -> tuple[list[tuple[int, int, bytes]], str]:
        """(notification id, log version, leaf hash) of leaves ``size``.. that the ledger checked, in order."""
        hashes = self.registry.ledger.hashes
        found, problem = next_leaves(self.registry.recorder, self.store.tracking_position(), size,
                                     min(batch, checked - size))
        entries: list[tuple[int, int, bytes]] = []
        for stored in found:
            leaf_hash = tlog.leaf_hash(stored.leaf)
            if hashes.get(stored.index) != leaf_hash:
                return entries, "the stored entry differs from the one the ledger checked"
            entries.append((stored.notification_id, stored.index + 1, leaf_hash))
        return entries, problem or "not checked yet"

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
        """Sign a checkpoint for the checked tree if it grew; (latest checkpoint, whether new).

        The signed size and root are the ledger's: this process checked every entry up to that size
        itself and computed the root from their bytes. The stored tree must agree with it, and must
        still contain the latest published checkpoint, before anything is signed.
        """
        if self.signer is None:
            raise RegistryError("no log key: cannot sign checkpoints")
        self.catch_up()
        with self.registry.ledger_lock:
            ledger = self.registry.ledger
            size, root = ledger.size, ledger.root()
        latest = self.store.latest_checkpoint()
        if latest is not None and latest.size >= size:
            return latest, False
        if size == 0:
            return latest, False
        try:
            stored_root = tlog.tree_hash(size, self.store.read) if self.store.size() >= size else None
            if stored_root != root:
                raise InconsistentLogError(f"the stored tree at size {size} differs from the entries the signer "
                                           "checked")
            if latest is not None:
                self._check_extends(latest, size, root)
        except (KeyError, LogCorruptionError) as e:
            raise InconsistentLogError(f"the stored tree cannot be read at size {size}: {e}") from None
        note = sign_checkpoint(Checkpoint(self.origin, size, root), self.signer)
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
        except ProofError as e:
            raise InconsistentLogError(f"size {size} is not consistent with checkpoint {latest.size}: {e}") from None

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.store.latest_checkpoint()

    def cosigned_note(self, checkpoint: StoredCheckpoint) -> bytes:
        """A checkpoint's note with the witness cosignature lines stored for its size appended."""
        return with_cosignatures(checkpoint.note, [line for _, line in self.store.cosignatures(checkpoint.size)])

    def served_checkpoint(self) -> tuple[StoredCheckpoint, bytes] | None:
        """The newest checkpoint and the note to serve for it: signed by the log, with whatever cosignatures
        it has so far (never an older checkpoint for having more of them: clients see the log's newest tree
        and judge the quorum themselves). None before the first checkpoint. ``/checkpoint`` serves it, and
        anything that publishes the checkpoint as a file should serve the same bytes.
        """
        latest = self.store.latest_checkpoint()
        return None if latest is None else (latest, self.cosigned_note(latest))

    # --- receipts ------------------------------------------------------------------

    def receipt(self, index: int, size: int | None = None) -> bytes:
        """A C2SP tlog-proof@v1 receipt for leaf ``index`` against the latest (or given) checkpoint.

        Raises:
            NotYetCoveredError: the leaf is in the tree, but the latest checkpoint does not cover it yet.
            NotFoundError: no such leaf, no such checkpoint, or the given checkpoint does not cover it.
        """
        checkpoint = self.store.checkpoint(size) if size is not None else self.store.latest_checkpoint()
        if checkpoint is None or index >= checkpoint.size or index < 0:
            if size is not None:
                raise NotFoundError(f"no published checkpoint covers leaf {index} yet")
            logged = self.store.size()
            if not 0 <= index < logged:
                raise NotFoundError(f"no leaf {index}: the log has {logged} leaves")
            covered = 0 if checkpoint is None else checkpoint.size
            raise NotYetCoveredError(f"leaf {index} is in the log, but the latest checkpoint covers {covered} "
                                     "leaves; the clock signs one shortly")
        leaf = self.registry.leaf(index)
        if leaf is None:
            raise LogCorruptionError(f"leaf {index} is in the tree but not in the event store")
        proof = tlog.prove_inclusion(index, checkpoint.size, self.store.read)
        return format_receipt(Receipt(extra=leaf, index=index, proof=tuple(proof),
                                      checkpoint=self.cosigned_note(checkpoint)))


def log_verifier(settings: config.Settings) -> NoteVerifier | None:
    """The log's public key from the data directory, as a note verifier; None when there is none."""
    from registry import keys

    path = keys.public_path(settings.log_key)
    if not path.exists():
        return None
    return parse_verifier_key(format_verifier_key(settings.origin, keys.load_public_file(path)))


def anchor_source(settings: config.Settings) -> Callable[[], Anchor | None]:
    """Where a registry's ledger starts: its newest signed snapshot that verifies with the log's public key."""

    def find() -> Anchor | None:
        verifier = log_verifier(settings)
        if verifier is None:
            return None
        store = open_log_store(settings)
        try:
            return find_anchor(store, verifier)
        finally:
            store.datastore.close()

    return find


def open_log(settings: config.Settings, registry: Registry, *, with_signer: bool = False) -> TransparencyLog:
    """The transparency log of a registry, optionally able to sign (log key from the data directory)."""
    signer = None
    if with_signer:
        from registry import keys

        signer = signer_from_private(settings.origin, keys.load_private(settings.log_key))
    return TransparencyLog(registry, open_log_store(settings), settings.origin, signer)
