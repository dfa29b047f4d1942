"""The transparency log's storage: tree hashes kept as C2SP tiles, checkpoints.

Each row of ``log_tiles`` is one tile of height 8 (C2SP tlog-tiles): the
hashes of Merkle level ``8*L`` it serves, *plus* the seven interior levels
above them, so that any stored hash (any level) is one slice of one row. An
inclusion or consistency proof therefore reads a handful of rows, never more
than O(log n) of them, and never rebuilds anything. Rows only ever grow, from
partial to full, as leaves are integrated.

``integrate`` appends leaf hashes and records the tracking position of the
last event it took in the same transaction (the ``eventsourcing`` tracking
recorder), so catch-up is exactly-once and a crash at any point leaves either
all of a batch or none of it. A one-row ``log_head`` is updated first in that
transaction: it serializes integrators across processes and holds the size
and root.

SQLite and PostgreSQL differ only in placeholders, blob types and table
names; see the two small subclasses at the bottom.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from registry import tlog
from registry.errors import LogCorruptionError
from registry.sqlstore import PostgresDialect, SQLiteDialect
from registry.sqlstore import cols as _cols
from registry.tiles import TILE_HEIGHT, TILE_WIDTH
from registry.tlog import Address

HASH = tlog.HASH_SIZE
UPSTREAM = "registry"  # the application whose notifications the log tracks


@dataclass(frozen=True)
class StoredSnapshot:
    """A signed snapshot document as published."""

    size: int
    state_hash: str
    document: bytes
    published_at: str


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as published."""

    size: int
    root: bytes
    note: bytes
    published_at: str


# --- the tile row layout (pure) ------------------------------------------------


def tile_position(level: int, index: int) -> tuple[int, int, int, int]:
    """Where stored hash (level, index) lives: (tile level, tile index, interior level, offset)."""
    tile_level, interior = divmod(level, TILE_HEIGHT)
    per_tile = TILE_WIDTH >> interior
    tile_index, offset = divmod(index, per_tile)
    return tile_level, tile_index, interior, offset


def decode_tile(data: bytes) -> list[list[bytes]]:
    """A stored tile row as its levels: level 0 (the served hashes) first, then the interior levels."""
    width = _width_of(len(data))
    levels, position = [], 0
    for interior in range(TILE_HEIGHT):
        count = width >> interior
        levels.append([data[p:p + HASH] for p in range(position, position + count * HASH, HASH)])
        position += count * HASH
    return levels


def encode_tile(levels: list[list[bytes]]) -> bytes:
    """The stored form: every level's hashes, bottom level first."""
    return b"".join(h for level in levels for h in level)


def served_tile(data: bytes) -> bytes:
    """The C2SP tile bytes of a stored row: only its bottom level."""
    return data[: _width_of(len(data)) * HASH]


_WIDTH_BY_LENGTH = {sum(w >> i for i in range(TILE_HEIGHT)) * HASH: w for w in range(1, TILE_WIDTH + 1)}


def _width_of(length: int) -> int:
    # A row of width w holds sum(w >> i for i < 8) hashes; the table inverts that.
    width = _WIDTH_BY_LENGTH.get(length)
    if width is None:
        raise LogCorruptionError(f"a stored tile of {length} bytes has no valid width")
    return width


# --- the SQL shell ---------------------------------------------------------------


class LogStoreMixin:
    """Tiles, head and checkpoints over one SQL connection pool (dialect in subclasses)."""

    datastore: Any
    blob_type: str
    _q: Any  # from the dialect mixin
    _blob_literal: Any

    def _create_statements(self) -> list[str]:
        b = self.blob_type
        return [self._q(s) for s in (
            f"CREATE TABLE IF NOT EXISTS {{t}}log_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
            f"data {b} NOT NULL, PRIMARY KEY (level, idx))",
            f"CREATE TABLE IF NOT EXISTS {{t}}log_head (id INTEGER PRIMARY KEY, size BIGINT NOT NULL, "
            f"root {b} NOT NULL, writes BIGINT NOT NULL)",
            # Only into an empty log: a head row deleted later must stay missing (the audit names it),
            # not come back at size 0 on the next start.
            "INSERT INTO {t}log_head (id, size, root, writes) SELECT 1, 0, "  # noqa: S608 - a constant
            + self._blob_literal(tlog.EMPTY_ROOT) + ", 0 WHERE NOT EXISTS (SELECT 1 FROM {t}log_tiles) "
            "ON CONFLICT (id) DO NOTHING",
            f"CREATE TABLE IF NOT EXISTS {{t}}log_checkpoints (size BIGINT PRIMARY KEY, root {b} NOT NULL, "
            f"note {b} NOT NULL, published_at TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {{t}}log_snapshots (size BIGINT PRIMARY KEY, state_hash TEXT NOT NULL, "
            f"document {b} NOT NULL, published_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {t}clock_jobs (name TEXT PRIMARY KEY, runs BIGINT NOT NULL, "
            "failures BIGINT NOT NULL, last_run TEXT, last_error TEXT)",
            # How many checkpoints and snapshots were ever published, counted in the transaction that adds
            # one: a deleted row then shows (the audit compares). Created with the log, so that a deleted
            # counter row stays missing too.
            "CREATE TABLE IF NOT EXISTS {t}log_published (id INTEGER PRIMARY KEY, checkpoints BIGINT NOT NULL, "
            "snapshots BIGINT NOT NULL)",
            "INSERT INTO {t}log_published (id, checkpoints, snapshots) SELECT 1, 0, 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM {t}log_checkpoints) AND NOT EXISTS (SELECT 1 FROM {t}log_snapshots) "
            "ON CONFLICT (id) DO NOTHING",
            # Witness cosignatures of published checkpoints, one line per (size, witness), each verified
            # against the configured witness key before it is stored (docs/FORMATS.md section 22).
            "CREATE TABLE IF NOT EXISTS {t}log_cosignatures (size BIGINT NOT NULL, witness TEXT NOT NULL, "
            "line TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY (size, witness))",
            # How each witness answered the clock, counted (read by /metrics in the web processes).
            "CREATE TABLE IF NOT EXISTS {t}witness_requests (witness TEXT NOT NULL, outcome TEXT NOT NULL, "
            "count BIGINT NOT NULL, last_at TEXT NOT NULL, PRIMARY KEY (witness, outcome))",
        )]

    # --- reading --------------------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        """(size, root) of the integrated log."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size, root FROM {t}log_head WHERE id = 1"))
            row = c.fetchone()
        if row is None:
            return 0, tlog.EMPTY_ROOT
        size, root = _cols(row)
        return int(size), bytes(root)

    def size(self) -> int:
        return self.head()[0]

    def read(self, addresses: Sequence[Address]) -> list[bytes]:
        """HashReader over stored tiles: one query for all the rows the addresses live in."""
        with self.datastore.transaction(commit=False) as c:
            return self._read(c, addresses)

    def _read(self, c: Any, addresses: Sequence[Address]) -> list[bytes]:
        if not addresses:
            return []
        positions = [tile_position(level, index) for level, index in addresses]
        rows = self._tiles(c, sorted({(p[0], p[1]) for p in positions}))
        out = []
        for (level, index), (tl, ti, interior, offset) in zip(addresses, positions, strict=True):
            data = rows.get((tl, ti))
            start = (sum(_width_of(len(data)) >> i for i in range(interior)) + offset) * HASH if data else -1
            if data is None or offset >= (_width_of(len(data)) >> interior):
                raise KeyError(f"no stored hash at level {level} index {index}")
            out.append(bytes(data[start:start + HASH]))
        return out

    def _tiles(self, c: Any, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        if not keys:
            return {}
        clause = " OR ".join(["(level = %s AND idx = %s)"] * len(keys))  # placeholders only, no values
        c.execute(self._q(f"SELECT level, idx, data FROM {{t}}log_tiles WHERE {clause}"),  # noqa: S608
                  [v for k in keys for v in k])
        return {(int(level), int(idx)): bytes(data) for level, idx, data in map(_cols, c.fetchall())}

    def tile_row(self, level: int, index: int) -> bytes | None:
        """The stored row of a tile, with its interior levels (for the audit), or None."""
        with self.datastore.transaction(commit=False) as c:
            return self._tiles(c, [(level, index)]).get((level, index))

    def tile_keys(self) -> list[tuple[int, int]]:
        """(tile level, tile index) of every stored row, in order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT level, idx FROM {t}log_tiles ORDER BY level, idx"))
            return [(int(level), int(idx)) for level, idx in map(_cols, c.fetchall())]

    def tile(self, level: int, index: int) -> bytes | None:
        """The served bytes (bottom level only) of a stored tile row, or None."""
        with self.datastore.transaction(commit=False) as c:
            data = self._tiles(c, [(level, index)]).get((level, index))
        return None if data is None else served_tile(data)

    def tracking_position(self) -> int:
        return self.max_tracking_id(UPSTREAM) or 0  # type: ignore[attr-defined]

    # --- writing --------------------------------------------------------------

    def integrate(self, entries: Sequence[tuple[int, int, bytes]], fault: Any = None) -> int:
        """Append leaves (notification id, log version, leaf hash) exactly once; return the new size.

        ``fault`` is a test hook called between steps to simulate a crash.
        """
        if not entries:
            return self.size()
        with self.datastore.transaction(commit=True) as c:
            # 1. take the head row first: this serializes integrators (row lock / SQLite write lock)
            c.execute(self._q("UPDATE {t}log_head SET writes = writes + 1 WHERE id = 1"))
            c.execute(self._q("SELECT size FROM {t}log_head WHERE id = 1"))
            row = c.fetchone()
            if row is None:
                raise LogCorruptionError("the log head row is missing (registry audit names it)")
            size = int(_cols(row)[0])
            _fault(fault, "locked")
            # 2. the leaves must continue the log exactly: log version v is leaf v - 1
            for offset, (_, version, _) in enumerate(entries):
                if version <= size + offset:
                    # Another integrator got here between our read of the tracking position and this
                    # transaction: not corruption, just a lost race; the caller reads again.
                    raise IntegrityError(f"leaf {version - 1} is already integrated")
                if version != size + offset + 1:
                    raise LogCorruptionError(
                        f"log entry version {version} arrived where leaf {size + offset} was expected"
                    )
            hashes = [h for _, _, h in entries]
            new_nodes = tlog.append_leaves(size, hashes, lambda a: self._read(c, a))
            _fault(fault, "computed")
            # 3. merge the new hashes into their tile rows
            self._write_tiles(c, new_nodes)
            _fault(fault, "tiles-written")
            new_size = size + len(entries)
            root = tlog.tree_hash(new_size, lambda a: self._read(c, a))
            c.execute(self._q("UPDATE {t}log_head SET size = %s, root = %s WHERE id = 1"), (new_size, root))
            _fault(fault, "head-written")
            # 4. the tracking record in the same transaction: exactly-once
            self._insert_tracking(c, Tracking(UPSTREAM, entries[-1][0]))
            _fault(fault, "tracked")
        return new_size

    def _write_tiles(self, c: Any, nodes: list[tuple[int, int, bytes]]) -> None:
        grouped: dict[tuple[int, int], list[tuple[int, int, bytes]]] = {}
        for level, index, value in nodes:
            tl, ti, interior, offset = tile_position(level, index)
            grouped.setdefault((tl, ti), []).append((interior, offset, value))
        existing = self._tiles(c, sorted(grouped))
        for key, additions in grouped.items():
            levels = decode_tile(existing[key]) if key in existing else [[] for _ in range(TILE_HEIGHT)]
            for interior, offset, value in sorted(additions):
                if offset != len(levels[interior]):
                    raise LogCorruptionError(f"tile {key} level {interior}: hash {offset} out of order")
                levels[interior].append(value)
            c.execute(self._q(
                "INSERT INTO {t}log_tiles (level, idx, data) VALUES (%s, %s, %s) "
                "ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data"
            ), (key[0], key[1], encode_tile(levels)))

    # --- checkpoints ----------------------------------------------------------

    def add_checkpoint(self, size: int, root: bytes, note: bytes, published_at: str) -> bool:
        """Keep a signed checkpoint; False if one for that size exists already."""
        # Write first (no read-then-write): SQLite cannot upgrade a read transaction under contention.
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q("INSERT INTO {t}log_checkpoints (size, root, note, published_at) "
                              "VALUES (%s, %s, %s, %s) ON CONFLICT (size) DO NOTHING RETURNING size"),
                      (size, root, note, published_at))
            added = c.fetchone() is not None
            if added:
                c.execute(self._q("UPDATE {t}log_published SET checkpoints = checkpoints + 1 WHERE id = 1"))
            return added

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size, root, note, published_at FROM {t}log_checkpoints "
                              "ORDER BY size DESC LIMIT 1"))
            row = c.fetchone()
        return _checkpoint(row)

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size, root, note, published_at FROM {t}log_checkpoints WHERE size = %s"),
                      (size,))
            return _checkpoint(c.fetchone())

    # --- witness cosignatures ---------------------------------------------------------

    def add_cosignature(self, size: int, witness: str, line: str, received_at: str) -> None:
        """Keep a witness's (verified) cosignature line of the checkpoint at ``size``; a newer one replaces it."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q(
                "INSERT INTO {t}log_cosignatures (size, witness, line, received_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, received_at = excluded.received_at"
            ), (size, witness, line, received_at))

    def cosignatures(self, size: int) -> list[tuple[str, str]]:
        """(witness, line) of the cosignatures stored for the checkpoint at ``size``, by witness."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT witness, line FROM {t}log_cosignatures WHERE size = %s ORDER BY witness"),
                      (size,))
            return [(str(w), str(line)) for w, line in map(_cols, c.fetchall())]

    def cosignature_rows(self) -> list[tuple[int, str, str]]:
        """Every stored cosignature as (size, witness, line), for the audit."""
        return [(int(n), str(w), str(line)) for n, w, line in self._all(
            "SELECT size, witness, line FROM {t}log_cosignatures ORDER BY size, witness")]

    def cosigned_sizes(self) -> dict[str, int]:
        """The largest checkpoint size each witness has cosigned, by witness."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT witness, MAX(size) FROM {t}log_cosignatures GROUP BY witness"))
            return {str(w): int(s) for w, s in map(_cols, c.fetchall())}

    def count_witness_request(self, witness: str, outcome: str, at: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q(
                "INSERT INTO {t}witness_requests (witness, outcome, count, last_at) VALUES (%s, %s, 1, %s) "
                "ON CONFLICT (witness, outcome) DO UPDATE SET count = {t}witness_requests.count + 1, "
                "last_at = excluded.last_at"
            ), (witness, outcome, at))

    def witness_requests(self) -> list[tuple[str, str, int]]:
        """(witness, outcome, count) of every request the clock made to a witness."""
        return [(str(w), str(o), int(n)) for w, o, n in self._all(
            "SELECT witness, outcome, count FROM {t}witness_requests ORDER BY witness, outcome")]

    # --- rows the audit accounts for ------------------------------------------------

    def published(self) -> list[tuple[int, int, int]]:
        """Every ``log_published`` row as (id, checkpoints, snapshots)."""
        return [(int(a), int(b), int(c)) for a, b, c in self._all("SELECT id, checkpoints, snapshots "
                                                                  "FROM {t}log_published ORDER BY id")]

    def head_rows(self) -> list[tuple[int, int, bytes]]:
        """Every ``log_head`` row as (id, size, root)."""
        return [(int(a), int(b), bytes(c)) for a, b, c in self._all("SELECT id, size, root FROM {t}log_head "
                                                                    "ORDER BY id")]

    def tracking_rows(self) -> list[tuple[str, int]]:
        """Every row of this store's tracking table as (application name, notification id)."""
        return tracking_rows(self)

    def _all(self, sql: str) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q(sql))
            return [_cols(r) for r in c.fetchall()]

    # --- the clock's job record (read by /metrics in the web processes) -------------

    def record_job(self, name: str, ok: bool, at: str, error: str | None = None) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q(
                "INSERT INTO {t}clock_jobs (name, runs, failures, last_run, last_error) VALUES (%s, 1, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET runs = {t}clock_jobs.runs + 1, "
                "failures = {t}clock_jobs.failures + excluded.failures, last_run = excluded.last_run, "
                "last_error = COALESCE(excluded.last_error, {t}clock_jobs.last_error)"
            ), (name, 0 if ok else 1, at, error))

    def jobs(self) -> list[tuple[str, int, int, str | None, str | None]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT name, runs, failures, last_run, last_error FROM {t}clock_jobs ORDER BY name"))
            return [(str(n), int(r), int(f), lr, le) for n, r, f, lr, le in map(_cols, c.fetchall())]

    # --- snapshots ------------------------------------------------------------------

    def add_snapshot(self, size: int, state_hash: str, document: bytes, published_at: str) -> bool:
        """Keep a signed snapshot document; False if one for that size exists already."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q("INSERT INTO {t}log_snapshots (size, state_hash, document, published_at) "
                              "VALUES (%s, %s, %s, %s) ON CONFLICT (size) DO NOTHING RETURNING size"),
                      (size, state_hash, zlib.compress(document, 6), published_at))
            added = c.fetchone() is not None
            if added:
                c.execute(self._q("UPDATE {t}log_published SET snapshots = snapshots + 1 WHERE id = 1"))
            return added

    def snapshot(self, size: int | None = None) -> StoredSnapshot | None:
        """The snapshot at ``size``, or the latest one."""
        with self.datastore.transaction(commit=False) as c:
            if size is None:
                c.execute(self._q("SELECT size, state_hash, document, published_at FROM {t}log_snapshots "
                                  "ORDER BY size DESC LIMIT 1"))
            else:
                c.execute(self._q("SELECT size, state_hash, document, published_at FROM {t}log_snapshots "
                                  "WHERE size = %s"), (size,))
            return _snapshot(c.fetchone())

    def snapshot_sizes(self) -> list[int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size FROM {t}log_snapshots ORDER BY size"))
            return [int(_cols(r)[0]) for r in c.fetchall()]

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size, root, note, published_at FROM {t}log_checkpoints ORDER BY size"))
            return [cp for cp in (_checkpoint(r) for r in c.fetchall()) if cp is not None]


def _snapshot(row: Any) -> StoredSnapshot | None:
    if row is None:
        return None
    size, state_hash, document, published_at = _cols(row)
    return StoredSnapshot(int(size), str(state_hash), zlib.decompress(bytes(document)), str(published_at))


def _checkpoint(row: Any) -> StoredCheckpoint | None:
    if row is None:
        return None
    size, root, note, published_at = _cols(row)
    return StoredCheckpoint(int(size), bytes(root), bytes(note), str(published_at))


def tracking_rows(store: Any) -> list[tuple[str, int]]:
    """Every row of a tracking recorder's table: the library's table, named per store."""
    name = getattr(store, "tracking_table_name", None)
    table = "tracking" if name is None else f'{{t}}"{name}"'
    with store.datastore.transaction(commit=False) as c:
        c.execute(store._q(f"SELECT application_name, notification_id FROM {table} ORDER BY 1"))  # noqa: S608
        return [(str(a), int(n)) for a, n in map(_cols, c.fetchall())]


def _fault(hook: Any, step: str) -> None:
    if hook is not None:
        hook(step)


class SQLiteLogStore(LogStoreMixin, SQLiteDialect, SQLiteTrackingRecorder):
    """The log in its own SQLite file (the library's tracking table name is fixed per file)."""


class PostgresLogStore(LogStoreMixin, PostgresDialect, PostgresTrackingRecorder):
    """The log's tables beside the events in PostgreSQL (same schema)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._register_create_statements()
