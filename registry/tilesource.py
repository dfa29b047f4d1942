"""The bytes of C2SP tiles and entry bundles, read from the log's stores.

What it does: :func:`hash_tile` cuts a served Merkle tile out of its stored
row, :func:`entry_bundle` reads one bundle's leaves, and :func:`full_bundles`
streams many consecutive full bundles from one read of the event store (for
``registry publish``, which writes thousands at once). The web views and the
publisher both serve these bytes, so a published file is the file the site
serves.

What it does not do: decide which tiles a checkpoint justifies (that is
:mod:`registry.tiles`) or add any HTTP headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from registry import tiles
from registry.errors import LogCorruptionError
from registry.tlog import HASH_SIZE


class TileStore(Protocol):
    def tile(self, level: int, index: int) -> bytes | None: ...


class LeafSource(Protocol):
    def leaves(self, start: int = 0, stop: int | None = None, page: int = 1000) -> Iterator[bytes]: ...


def hash_tile(store: TileStore, level: int, index: int, width: int) -> bytes:
    """Merkle tile ``level/index`` with ``width`` hashes.

    Raises:
        LogCorruptionError: the stored row lacks hashes the caller was promised by a checkpoint.
    """
    # The stored row may have grown past the checkpoint; a tile is always a prefix of it.
    stored = store.tile(level, index)
    if stored is None or len(stored) < width * HASH_SIZE:
        raise LogCorruptionError(f"tile {level}/{index} lacks hashes a published checkpoint covers")
    return stored[: width * HASH_SIZE]


def entry_bundle(source: LeafSource, index: int, width: int) -> bytes:
    """Entry bundle ``index`` holding its first ``width`` leaves.

    Raises:
        LogCorruptionError: a leaf a checkpoint covers is not stored.
    """
    start = index * tiles.TILE_WIDTH
    leaves = list(source.leaves(start, start + width))
    if len(leaves) != width:
        raise LogCorruptionError(f"leaves {start}..{start + width - 1} are covered by a checkpoint but not stored")
    return tiles.entry_bundle(leaves)


def full_bundles(source: LeafSource, first: int, stop: int) -> Iterator[tuple[int, bytes]]:
    """(index, bytes) of the full entry bundles ``first <= index < stop``, from one stream of leaves."""
    if stop <= first:
        return
    width = tiles.TILE_WIDTH
    batch: list[bytes] = []
    index = first
    for leaf in source.leaves(first * width, stop * width, page=width * 8):
        batch.append(leaf)
        if len(batch) == width:
            yield index, tiles.entry_bundle(batch)
            batch, index = [], index + 1
    if index != stop:
        raise LogCorruptionError(f"entry bundle {index} is covered by a checkpoint but its leaves are not stored")
