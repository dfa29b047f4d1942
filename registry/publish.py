"""Publication jobs: checkpoints and signed snapshots (used by the command line and the clock).

Each job is idempotent: it signs only when there is something new, and a
second run for the same tree size returns what was published before.
"""

from __future__ import annotations

from datetime import UTC, datetime

from registry import snapshots
from registry.errors import RegistryError
from registry.logstore import StoredSnapshot
from registry.times import format_time
from registry.transparency import TransparencyLog


def publish_snapshot(log: TransparencyLog, now: datetime | None = None) -> tuple[StoredSnapshot | None, bool]:
    """Sign the state at the latest checkpoint (publishing one if the tree grew); (snapshot, whether new).

    The state signed is the signer's own ledger (every entry checked by this process), never a
    read model: a snapshot anchors every other process's ledger, so it must be as sound as a checkpoint.
    """
    if log.signer is None:
        raise RegistryError("no log key: cannot sign snapshots")
    with log.registry.ledger_lock:
        checkpoint, _ = log.publish_checkpoint(now)
        if checkpoint is None:
            return None, False
        existing = log.store.snapshot(checkpoint.size)
        if existing is not None:
            return existing, False
        ledger = log.registry.ledger
        if ledger.halted is not None or not ledger.size == ledger.state.size == checkpoint.size:
            return log.store.snapshot(), False
        state_doc = ledger.state.to_json()
    document = snapshots.make_document(state_doc, checkpoint.note, log.signer)
    published_at = format_time(now or datetime.now(UTC))
    log.store.add_snapshot(checkpoint.size, snapshots.state_hash(state_doc).hex(), document, published_at)
    return log.store.snapshot(checkpoint.size), True
