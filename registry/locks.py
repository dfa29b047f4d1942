"""One signer at a time: a lock held while a checkpoint or snapshot is signed.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a
dedicated connection, so clock processes on several hosts exclude each other.
SQLite: an ``flock`` on a file in the data directory (SQLite itself is
single-host). Both are released by the operating system or the server when a
process dies, so a killed clock never leaves the lock held.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from registry import config
from registry.sqlstore import postgres_connection


def _advisory_key(settings: config.Settings) -> int:
    schema = settings.extra.get("REGISTRY_POSTGRES_SCHEMA", "public")
    digest = hashlib.sha256(f"hcoc-registry signer {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def signer_lock(settings: config.Settings) -> Iterator[bool]:
    """Try to take the signer lock; yields whether this process holds it (never blocks)."""
    if settings.is_postgres:
        with _postgres_lock(settings) as held:
            yield held
        return
    path = settings.data_dir / "signer.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _postgres_lock(settings: config.Settings) -> Iterator[bool]:
    conn: Any = postgres_connection(settings)
    key = _advisory_key(settings)
    try:
        held = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
        try:
            yield held
        finally:
            if held:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        conn.close()
