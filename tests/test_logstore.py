"""The log's storage (registry.logstore): tile rows, the head, checkpoints, snapshots, job records.

The row layout is checked as pure functions; the store itself on a real SQLite
file and on PostgreSQL, opened the way the registry opens it
(``transparency.open_log_store``), fed leaf hashes directly and compared with
an in-memory tree (``tlog.MemoryHashStore``) hash by hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError

from registry import tlog
from registry.logstore import (
    TILE_HEIGHT,
    TILE_WIDTH,
    LogCorruptionError,
    LogStoreMixin,
    decode_tile,
    encode_tile,
    served_tile,
    tile_position,
)
from registry.transparency import open_log_store
from tests.conftest import Backend

AT = "2025-01-01T00:00:00Z"


def leaf_hashes(start: int, stop: int) -> list[bytes]:
    return [tlog.leaf_hash(f"leaf {i}".encode()) for i in range(start, stop)]


def entries(start: int, stop: int, gap: int = 3) -> list[tuple[int, int, bytes]]:
    """(notification id, log version, leaf hash) as the log takes them: ids with gaps, version = index + 1."""
    return [(10 + gap * i, i + 1, h) for i, h in zip(range(start, stop), leaf_hashes(start, stop), strict=True)]


def every_address(size: int) -> list[tuple[int, int]]:
    return [(level, index) for level in range(size.bit_length()) for index in range(size >> level)]


@pytest.fixture
def store(backend: Backend) -> Iterator[LogStoreMixin]:
    opened = open_log_store(backend.settings())
    try:
        yield opened
    finally:
        opened.datastore.close()


# --- the row layout (pure) ---------------------------------------------------------------------


def test_tile_position() -> None:
    assert tile_position(0, 0) == (0, 0, 0, 0)
    assert tile_position(0, 257) == (0, 1, 0, 1)
    assert tile_position(3, 40) == (0, 1, 3, 8)  # level 3 holds 32 hashes per tile
    assert tile_position(7, 5) == (0, 2, 7, 1)  # the top interior level: 2 per tile
    assert tile_position(8, 0) == (1, 0, 0, 0) and tile_position(17, 131) == (2, 1, 1, 3)
    for level in range(24):
        tile_level, tile_index, interior, offset = tile_position(level, 1000)
        assert tile_level * TILE_HEIGHT + interior == level
        assert tile_index * (TILE_WIDTH >> interior) + offset == 1000


@pytest.mark.parametrize("width", [1, 2, 3, 127, 128, 255, 256])
def test_a_row_round_trips_and_serves_its_bottom_level(width: int) -> None:
    levels = [[hashlib.sha256(f"{i}/{j}".encode()).digest() for j in range(width >> i)] for i in range(TILE_HEIGHT)]
    data = encode_tile(levels)
    assert decode_tile(data) == levels
    assert served_tile(data) == b"".join(levels[0])
    with pytest.raises(LogCorruptionError, match="no valid width"):
        decode_tile(data[:-1])


# --- integration -------------------------------------------------------------------------------


def test_an_empty_store(store: LogStoreMixin) -> None:
    assert store.head() == (0, tlog.EMPTY_ROOT) and store.size() == 0
    assert store.tile(0, 0) is None and store.tile_keys() == [] and store.tracking_position() == 0
    assert store.latest_checkpoint() is None and store.snapshot() is None and store.checkpoints() == []
    assert store.head_rows() == [(1, 0, tlog.EMPTY_ROOT)] and store.published() == [(1, 0, 0)]
    assert store.integrate([]) == 0
    with pytest.raises(KeyError):
        store.read([(0, 0)])


def test_integration_stores_every_hash_of_the_tree(store: LogStoreMixin) -> None:
    reference = tlog.MemoryHashStore()
    size = 0
    for batch in (1, 6, 249, 1, 1, 300, 42):  # across the first tile boundary and into a second tile level
        assert store.integrate(entries(size, size + batch)) == size + batch
        reference.extend(leaf_hashes(size, size + batch))
        size += batch
        assert store.head() == (size, reference.root())
    assert size == 600
    addresses = every_address(size)
    assert store.read(addresses) == reference.read(addresses)
    for old in (1, 255, 256, 257, 599):  # older trees stay provable from the same rows
        assert tlog.tree_hash(old, store.read) == reference.root(old)
    assert store.tile_keys() == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert store.tile(0, 0) == b"".join(leaf_hashes(0, 256))
    assert store.tile(0, 2) == b"".join(leaf_hashes(512, 600))  # partial: 88 hashes
    assert store.tile(1, 0) == b"".join(reference.read([(8, 0), (8, 1)]))
    assert decode_tile(store.tile_row(0, 1) or b"")[7] == reference.read([(7, 2), (7, 3)])
    assert store.tracking_position() == 10 + 3 * 599
    with pytest.raises(KeyError):
        store.read([(0, 600)])


def test_integration_refuses_what_does_not_continue_the_log(store: LogStoreMixin) -> None:
    store.integrate(entries(0, 5))
    head = store.head()
    with pytest.raises(IntegrityError):  # another integrator got there first: a lost race
        store.integrate(entries(4, 6))
    with pytest.raises(LogCorruptionError, match="version 7 arrived where leaf 5"):
        store.integrate(entries(6, 8))
    assert store.head() == head and store.tracking_position() == 10 + 3 * 4
    assert store.integrate(entries(5, 8)) == 8


@pytest.mark.parametrize("step", ["locked", "computed", "tiles-written", "head-written", "tracked"])
def test_a_crash_at_any_step_keeps_all_or_nothing(store: LogStoreMixin, step: str) -> None:
    store.integrate(entries(0, 3))
    before = (store.head(), store.tile(0, 0), store.tracking_position())

    def crash(at: str) -> None:
        if at == step:
            raise RuntimeError(f"crash at {at}")

    with pytest.raises(RuntimeError, match=step):
        store.integrate(entries(3, 9), fault=crash)
    assert (store.head(), store.tile(0, 0), store.tracking_position()) == before
    assert store.integrate(entries(3, 9)) == 9


# --- what is published -----------------------------------------------------------------------


def test_checkpoints_are_kept_once_per_size(store: LogStoreMixin) -> None:
    root = tlog.leaf_hash(b"r")
    assert store.add_checkpoint(5, root, b"note 5\n", AT)
    assert not store.add_checkpoint(5, bytes(32), b"another note 5\n", "2025-02-01T00:00:00Z")
    assert store.add_checkpoint(9, root, b"note 9\n", AT) and store.add_checkpoint(7, root, b"note 7\n", AT)
    assert [c.size for c in store.checkpoints()] == [5, 7, 9]
    kept = store.checkpoint(5)
    assert kept is not None and (kept.root, kept.note, kept.published_at) == (root, b"note 5\n", AT)
    latest = store.latest_checkpoint()
    assert latest is not None and latest.size == 9 and store.checkpoint(6) is None
    assert store.published() == [(1, 3, 0)]  # the refused duplicate is not counted


def test_snapshots_round_trip_their_documents(store: LogStoreMixin) -> None:
    document = b'{"state":' + b'"x"' * 5000 + b"}"
    assert store.add_snapshot(4, "ab" * 32, document, AT)
    assert not store.add_snapshot(4, "cd" * 32, b"other", AT)
    assert store.add_snapshot(2, "ef" * 32, b"{}", AT)
    kept = store.snapshot(4)
    assert kept is not None and (kept.document, kept.state_hash, kept.published_at) == (document, "ab" * 32, AT)
    latest = store.snapshot()
    assert latest is not None and latest.size == 4
    assert store.snapshot_sizes() == [2, 4] and store.snapshot(3) is None
    assert store.published() == [(1, 0, 2)]


def test_job_records_count_runs_and_keep_the_last_error(store: LogStoreMixin) -> None:
    store.record_job("checkpoint", True, AT)
    store.record_job("checkpoint", False, "2025-01-01T00:01:00Z", "disk full")
    store.record_job("checkpoint", True, "2025-01-01T00:02:00Z")
    store.record_job("snapshot", True, AT)
    assert store.jobs() == [("checkpoint", 3, 1, "2025-01-01T00:02:00Z", "disk full"), ("snapshot", 1, 0, AT, None)]
