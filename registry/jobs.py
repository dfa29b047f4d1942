"""The periodic jobs of the clock process, callable by hand as well.

Every job is idempotent: catch-up is exactly-once, a checkpoint is signed
only when the tree grew, a snapshot only when it is due, and signing happens
under the signer lock so two clock processes never both sign. A job returns a
short dict describing what it did (logged by the clock, printed by the CLI).
The feed archive job renders feeds, which the core knows nothing of: it lives
with the process shells (``scripts/feedstore.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registry.locks import signer_lock
from registry.node import SNAPSHOT_EVERY, SNAPSHOT_EVERY_LEAVES, Node, open_node
from registry.publish import publish_snapshot
from registry.times import parse_time

__all__ = ["JOBS", "SNAPSHOT_EVERY", "SNAPSHOT_EVERY_LEAVES", "Node", "catch_up", "checkpoint", "flags", "halted",
           "open_node", "snapshot"]


def catch_up(node: Node) -> dict[str, Any]:
    """Integrate new statements into the tree (each checked first) and the read models."""
    result: dict[str, Any] = {"tree_size": node.log.catch_up(), "read_models": node.views.catch_up()}
    return {**result, **halted(node)}


def halted(node: Node) -> dict[str, Any]:
    """The stored entry the ledger stopped at, if any: ``{"halted": {"index": i, "reason": ...}}``."""
    halt = node.registry.ledger.halted
    return {} if halt is None else {"halted": {"index": halt.index, "reason": halt.reason}}


def checkpoint(node: Node, now: datetime | None = None) -> dict[str, Any]:
    """Sign a checkpoint if the tree grew (under the signer lock)."""
    with signer_lock(node.settings) as held:
        if not held:
            return {"signed": False, "reason": "another process holds the signer lock"}
        stored, new = node.log.publish_checkpoint(now)
    return {"signed": new, "size": None if stored is None else stored.size, **halted(node)}


def snapshot(node: Node, now: datetime | None = None, force: bool = False) -> dict[str, Any]:
    """Publish a signed snapshot when one is due: every N new leaves, or daily if the tree grew."""
    moment = now or datetime.now(UTC)
    latest = node.log.store.snapshot()
    size = node.log.catch_up()
    if not force and latest is not None:
        grown = size - latest.size
        age = moment - parse_time(latest.published_at)
        if grown <= 0 or (grown < node.snapshot_every_leaves and age < node.snapshot_every):
            return {"published": False, "size": latest.size}
    if size == 0:
        return {"published": False, "size": 0}
    with signer_lock(node.settings) as held:
        if not held:
            return {"published": False, "reason": "another process holds the signer lock"}
        checkpoint, signed = node.log.publish_checkpoint(moment)
        stored, new = publish_snapshot(node.log, moment)
    return {"published": new, "size": None if stored is None else stored.size,
            "checkpoint_signed": signed, "checkpoint_size": None if checkpoint is None else checkpoint.size}


def flags(node: Node) -> dict[str, Any]:
    """Count what the state flags: endorsements of superseded versions, organizations with no valid key."""
    node.log.catch_up()
    node.views.catch_up()
    state = node.views.current().doc
    superseded = [f"{e['org']}/{e['code']}" for e in state["endorsements"] if e["flags"]["superseded_version"]]
    keyless = [o["org"] for o in state["organizations"] if o["flags"]["keys_all_revoked"]]
    return {"superseded_version": superseded, "keys_all_revoked": keyless}


JOBS = {"catch-up": catch_up, "checkpoint": checkpoint, "snapshot": snapshot, "flags": flags}
