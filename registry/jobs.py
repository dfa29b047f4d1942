"""The periodic jobs of the clock process, callable by hand as well.

Every job is idempotent: catch-up is exactly-once, a checkpoint is signed
only when the tree grew, a snapshot only when it is due, and signing happens
under the signer lock so two clock processes never both sign. A job returns a
short dict describing what it did (logged by the clock, printed by the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from registry import config
from registry.application import Registry
from registry.locks import signer_lock
from registry.publish import publish_snapshot
from registry.times import parse_time
from registry.transparency import TransparencyLog
from registry.views import ReadModels

SNAPSHOT_EVERY_LEAVES = 1000
SNAPSHOT_EVERY = timedelta(days=1)


@dataclass
class Node:
    """Everything one process needs to run the jobs."""

    settings: config.Settings
    registry: Registry
    log: TransparencyLog
    views: ReadModels
    snapshot_every_leaves: int = SNAPSHOT_EVERY_LEAVES
    snapshot_every: timedelta = SNAPSHOT_EVERY
    app: Any = None  # the web app, built on first use by the archives job

    def close(self) -> None:
        if self.app is not None:
            from web import close_app

            close_app(self.app)
        self.log.store.datastore.close()
        self.views.store.datastore.close()
        self.registry.close()


def open_node(settings: config.Settings, *, signer: bool = True) -> Node:
    from registry.application import open_registry
    from registry.transparency import open_log
    from registry.views import open_read_models

    # The signer checks every entry itself; a long backlog has its signatures checked on every core.
    registry = open_registry(settings, workers=2 if signer else 1)
    log = open_log(settings, registry, with_signer=signer)
    return Node(settings, registry, log, open_read_models(settings, registry, bound=log.size))


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
    state = node.views.state().to_json()
    superseded = [f"{e['org']}/{e['code']}" for e in state["endorsements"] if e["flags"]["superseded_version"]]
    keyless = [o["org"] for o in state["organizations"] if o["flags"]["keys_all_revoked"]]
    return {"superseded_version": superseded, "keys_all_revoked": keyless}


def archives(node: Node) -> dict[str, Any]:
    """Render every complete feed archive page not rendered yet, so no reader waits for one."""
    from feeds.archive import archive_count
    from web import create_app  # the clock renders with the web's own code, in its own process

    if node.app is None:
        node.app = create_app({"DATA_DIR": str(node.settings.data_dir)})
    app = node.app
    node.log.catch_up()
    size = node.views.catch_up()
    page_size = int(app.config.get("FEED_PAGE_SIZE", 500))
    pages = archive_count(size, page_size)
    with app.test_client() as client:
        for k in range(pages):
            for fmt in ("atom", "rss"):
                path = f"/feeds/events/archive/{k}.{fmt}"
                response = client.get(path)  # renders and stores the page unless it is stored already
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}")
    return {"archive_pages": pages * 2}


JOBS = {"catch-up": catch_up, "checkpoint": checkpoint, "snapshot": snapshot, "flags": flags, "archives": archives}
