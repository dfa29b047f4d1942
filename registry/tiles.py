"""C2SP tlog-tiles layout: tile paths, tile contents and entry bundles.

What it does: the strict path format/parse pair, which stored hashes (in the
``(level, index)`` addressing of ``tlog.py``) a tile holds, which tiles a
tree size justifies, entry bundles, and a :data:`~registry.tlog.HashReader`
over served tiles (for clients and for rebuilding roots from a mirror).

What it does not do: no I/O, no HTTP, no caching headers, no checkpoints.

Path convention: every path here is the part *after* ``<prefix>/tile/``, e.g.
``0/x001/234.p/17`` (Merkle tile, level 0, index 1234, 17 hashes) or
``entries/000`` (a full entry bundle). Tile height is 8: tile level L holds
Merkle level 8*L, and hash i of tile n is the stored hash (8*L, n*256 + i).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from registry.errors import TileDataError, TilePathError
from registry.tlog import HASH_SIZE, Address, HashReader, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
# Trees never exceed 2**64 leaves, so no tile index needs more digits.
MAX_TILE_INDEX = (1 << 64) - 1
MAX_ENTRY_SIZE = 0xFFFF  # uint16 length prefix
ENTRIES = "entries"
_LENGTH_PREFIX = 2
# Longest canonical path: "entries/" + 7 groups "x123/" + ".p/255"; refuse far longer input early.
_MAX_PATH_LENGTH = 64
_PATH_RE = re.compile(
    r"(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


@dataclass(frozen=True)
class TilePath:
    """A parsed tile path; ``level`` None is an entry bundle, ``width`` None a full tile."""

    level: int | None
    index: int
    width: int | None = None

    def __str__(self) -> str:
        return format_tile_path(self.level, self.index, self.width)


def format_tile_index(n: int) -> str:
    """The index as 3-digit groups, all but the last prefixed with x: 1234067 -> x001/x234/067."""
    if not 0 <= n <= MAX_TILE_INDEX:
        raise TilePathError(f"tile index {n} is outside 0..{MAX_TILE_INDEX}")
    digits = str(n)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "".join(f"x{g}/" for g in groups[:-1]) + groups[-1]


def format_tile_path(level: int | None, index: int, width: int | None = None) -> str:
    """The path after ``tile/``; width None or 256 means a full tile."""
    if level is not None and not 0 <= level <= MAX_TILE_LEVEL:
        raise TilePathError(f"tile level {level} is outside 0..{MAX_TILE_LEVEL}")
    if width is not None and not 1 <= width <= TILE_WIDTH:
        raise TilePathError(f"tile width {width} is outside 1..{TILE_WIDTH}")
    path = f"{ENTRIES if level is None else level}/{format_tile_index(index)}"
    return path if width in (None, TILE_WIDTH) else f"{path}.p/{width}"


def parse_tile_path(path: str) -> TilePath:
    """Parse a path after ``tile/``, accepting only what :func:`format_tile_path` produces.

    Raises:
        TilePathError: anything else.
    """
    if not isinstance(path, str) or len(path) > _MAX_PATH_LENGTH:
        raise TilePathError(f"not a tile path: {path!r:.80}")
    match = _PATH_RE.fullmatch(path)
    if match is None:
        raise TilePathError(f"not a tile path: {path!r}")
    level_text, width_text = match["level"], match["width"]
    level = None if level_text == ENTRIES else int(level_text)
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = None if width_text is None else int(width_text)
    # Round trip rejects the remaining non-canonical forms: x000/ prefixes,
    # levels above 63, ".p/256" for a full tile, indices beyond 2**64 - 1.
    if format_tile_path(level, index, width) != path:
        raise TilePathError(f"non-canonical tile path: {path!r}")
    return TilePath(level, index, width)


def tile_hash_addresses(level: int, index: int, width: int) -> list[Address]:
    """The stored-hash addresses of the ``width`` hashes in tile ``index`` at tile ``level``."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is outside 1..{TILE_WIDTH}")
    start = index * TILE_WIDTH
    merkle_level = level * TILE_HEIGHT
    return [(merkle_level, start + i) for i in range(width)]


def tile_width_for(level: int | None, index: int, tree_size: int) -> int:
    """How many hashes (entries, for level None) the tile holds at ``tree_size``.

    0 means the tile does not exist yet, 256 that it is full.
    """
    count = tree_size >> (TILE_HEIGHT * (level or 0))
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def tile_available(tile: TilePath, tree_size: int) -> bool:
    """True iff a tree of ``tree_size`` already holds everything ``tile`` asks for."""
    have = tile_width_for(tile.level, tile.index, tree_size)
    return have >= (TILE_WIDTH if tile.width is None else tile.width)


def tiles_for_size(tree_size: int) -> list[str]:
    """Every partial tile (Merkle levels upward, then entries) a checkpoint of this size justifies."""
    paths = []
    level = 0
    while count := tree_size >> (TILE_HEIGHT * level):
        if partial := count % TILE_WIDTH:
            paths.append(format_tile_path(level, count // TILE_WIDTH, partial))
        level += 1
    if partial := tree_size % TILE_WIDTH:
        paths.append(format_tile_path(None, tree_size // TILE_WIDTH, partial))
    return paths


def tile_data(level: int, index: int, width: int, read: HashReader) -> bytes:
    """The served bytes of a Merkle tile: its hashes concatenated, read in one call."""
    return b"".join(read(tile_hash_addresses(level, index, width)))


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """The served bytes of an entry bundle: uint16 big-endian length || entry, per entry."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise ValueError(f"an entry bundle holds 1..{TILE_WIDTH} entries, got {len(entries)}")
    parts = []
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry {i} has {len(entry)} bytes, at most {MAX_ENTRY_SIZE} fit")
        parts.append(len(entry).to_bytes(_LENGTH_PREFIX, "big") + entry)
    return b"".join(parts)


def parse_entry_bundle(data: bytes, count: int | None = None) -> list[bytes]:
    """The entries of a bundle; ``count`` (if given) is the exact number expected.

    Raises:
        TileDataError: truncated data, no entries, more than 256, or not ``count``.
    """
    entries = []
    pos = 0
    while pos < len(data):
        if pos + _LENGTH_PREFIX > len(data):
            raise TileDataError(f"entry bundle ends inside a length prefix at byte {pos}")
        size = int.from_bytes(data[pos : pos + _LENGTH_PREFIX], "big")
        pos += _LENGTH_PREFIX
        if pos + size > len(data):
            raise TileDataError(f"entry {len(entries)} needs {size} bytes, {len(data) - pos} left")
        entries.append(data[pos : pos + size])
        pos += size
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileDataError(f"an entry bundle holds 1..{TILE_WIDTH} entries, found {len(entries)}")
    if count is not None and len(entries) != count:
        raise TileDataError(f"expected {count} entries in the bundle, found {len(entries)}")
    return entries


def tile_hash_reader(tree_size: int, fetch: Callable[[str], bytes]) -> HashReader:
    """A HashReader over the tiles of a verified tree size; ``fetch`` maps a path to its bytes.

    Only tiles justified by ``tree_size`` are requested. Hashes between tile
    levels (Merkle levels not a multiple of 8) are recomputed from the tile
    row below them, as golang.org/x/mod/sumdb/tlog does.
    """

    def read(addresses: Sequence[Address]) -> list[bytes]:
        tiles: dict[str, bytes] = {}  # fetch each tile once per call
        return [_hash_from_tile(a, tree_size, fetch, tiles) for a in addresses]

    return read


def _hash_from_tile(
    address: Address, tree_size: int, fetch: Callable[[str], bytes], tiles: dict[str, bytes]
) -> bytes:
    """The stored hash at ``address`` recomputed from the one tile that covers it."""
    merkle_level, merkle_index = address
    level, height = divmod(merkle_level, TILE_HEIGHT)
    first = merkle_index << height  # first covered hash in the tile row
    index, offset = divmod(first, TILE_WIDTH)
    width = tile_width_for(level, index, tree_size)
    if offset + (1 << height) > width:
        raise KeyError(f"hash {address} is not complete in a tree of size {tree_size}")
    path = format_tile_path(level, index, width)
    if path not in tiles:
        data = fetch(path)
        if len(data) != width * HASH_SIZE:
            raise TileDataError(f"tile {path} has {len(data)} bytes, expected {width * HASH_SIZE}")
        tiles[path] = data
    data = tiles[path]
    row = [data[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(offset, offset + (1 << height))]
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]
