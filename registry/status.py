"""What ``registry status`` reports about a data directory: its log, its key, its counts and any halt.

A summary of values the core already holds; it reads the log's public key
file, and nothing else outside the stores. It does not catch the log up: the
caller integrates first and passes the size it reached.
"""

from __future__ import annotations

import base64
from typing import Any

from registry import config, keys
from registry.application import Registry
from registry.signednote import format_verifier_key
from registry.transparency import TransparencyLog


def log_verifier_key(settings: config.Settings) -> str:
    """The log's verifier key (name+hash+base64), from its public key file."""
    public = keys.load_public_file(keys.public_path(settings.log_key))
    return format_verifier_key(settings.origin, public)


def summarize(settings: config.Settings, registry: Registry, log: TransparencyLog, size: int) -> dict[str, Any]:
    """Origin, tree ``size`` and its root, log key, statements, latest checkpoint, database, counts and halt."""
    latest = log.latest_checkpoint()
    ledger = registry.ledger
    snapshot = ledger.state.to_json()  # the checked state (what the registry validates against)
    halt = ledger.halted
    return {
        "origin": settings.origin,
        "tree_size": size,
        "root_hash": base64.b64encode(log.root(size)).decode("ascii"),
        "log_key": log_verifier_key(settings),
        "statements_recorded": registry.size(),
        "latest_checkpoint": None if latest is None else {"size": latest.size, "published_at": latest.published_at},
        "database": "postgresql" if settings.is_postgres else "sqlite",
        "counts": {
            "codes": len(snapshot["codes"]),
            "organizations": len(snapshot["organizations"]),
            "endorsements_active": sum(e["status"] == "active" for e in snapshot["endorsements"]),
            "keys": len(snapshot["keys"]),
        },
        "halted": None if halt is None else {"index": halt.index, "reason": halt.reason},
    }
