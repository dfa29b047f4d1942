"""Publication jobs: checkpoints and signed snapshots (used by the command line and the clock).

Each job is idempotent: it signs only when there is something new, and a
second run for the same tree size returns what was published before.
"""

from __future__ import annotations

from datetime import UTC, datetime

from registry import snapshots
from registry.errors import RegistryError
from registry.leaf import format_time
from registry.logstore import StoredSnapshot
from registry.transparency import TransparencyLog
from registry.views import ReadModels


def publish_snapshot(log: TransparencyLog, views: ReadModels,
                     now: datetime | None = None) -> tuple[StoredSnapshot | None, bool]:
    """Sign the state at the latest checkpoint (publishing one if the tree grew); (snapshot, whether new)."""
    if log.signer is None:
        raise RegistryError("no log key: cannot sign snapshots")
    checkpoint, _ = log.publish_checkpoint(now)
    if checkpoint is None:
        return None, False
    existing = log.store.snapshot(checkpoint.size)
    if existing is not None:
        return existing, False
    views.catch_up()
    state_doc = views.state_at(checkpoint.size).to_json()
    document = snapshots.make_document(state_doc, checkpoint.note, log.signer)
    published_at = format_time(now or datetime.now(UTC))
    log.store.add_snapshot(checkpoint.size, snapshots.state_hash(state_doc).hex(), document, published_at)
    return log.store.snapshot(checkpoint.size), True
