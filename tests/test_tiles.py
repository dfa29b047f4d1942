"""Tests for registry.tiles: C2SP tlog-tiles vectors, strict paths, serving and reading tiles."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.errors import TileDataError, TilePathError
from registry.tiles import (
    MAX_TILE_INDEX,
    TILE_WIDTH,
    TilePath,
    entry_bundle,
    format_tile_index,
    format_tile_path,
    parse_entry_bundle,
    parse_tile_path,
    tile_available,
    tile_data,
    tile_hash_addresses,
    tile_hash_reader,
    tile_width_for,
    tiles_for_size,
)
from registry.tlog import MemoryHashStore, leaf_hash, prove_consistency, prove_inclusion, tree_hash

VECTORS = json.loads((Path(__file__).parent / "data" / "tlog_tiles_vectors.json").read_text())
URL_TILE_PREFIX = "tile/"  # the vectors name full URL paths; ours start after it


def entry(i: int) -> bytes:
    return f"entry {i}\n".encode()


@functools.cache
def store_of(size: int) -> MemoryHashStore:
    store = MemoryHashStore()
    store.extend([leaf_hash(entry(i)) for i in range(size)])
    return store


def serve(store: MemoryHashStore, tree_size: int, path: str) -> bytes:
    """What a log at ``tree_size`` serves for ``path``; refuses tiles it could not serve."""
    tile = parse_tile_path(path)
    assert tile_available(tile, tree_size), f"{path} is not justified by size {tree_size}"
    width = tile.width or TILE_WIDTH
    if tile.level is None:
        start = tile.index * TILE_WIDTH
        return entry_bundle([entry(i) for i in range(start, start + width)])
    return tile_data(tile.level, tile.index, width, store.read)


# --- vectors -----------------------------------------------------------------------


def test_300_entry_tiles_match_vectors() -> None:
    size = VECTORS["tree_size"]
    store = store_of(size)
    assert store.root().hex() == VECTORS["root"]
    assert VECTORS["entry_rule"] == "entry i = ('entry %d\\n' % i).encode()"
    for url_path, digest in VECTORS["tiles_sha256"].items():
        data = serve(store, size, url_path.removeprefix(URL_TILE_PREFIX))
        assert len(data) == VECTORS["tiles_len"][url_path], url_path
        assert hashlib.sha256(data).hexdigest() == digest, url_path


def test_index_encoding_examples() -> None:
    for n, text in VECTORS["index_encoding_examples"].items():
        assert format_tile_index(int(n)) == text
    assert format_tile_index(999) == "999"
    assert format_tile_index(MAX_TILE_INDEX) == "x018/x446/x744/x073/x709/x551/615"


def test_partial_tiles_for_70000() -> None:
    expected = [p.removeprefix(URL_TILE_PREFIX) for p in VECTORS["tree_70000_paths_partial"]]
    assert tiles_for_size(70_000) == expected
    assert tiles_for_size(256) == ["1/000.p/1"]
    assert tiles_for_size(300) == ["0/001.p/44", "1/000.p/1", "entries/001.p/44"]
    assert tiles_for_size(0) == []
    assert tiles_for_size(65536) == ["2/000.p/1"]


# --- tile math ------------------------------------------------------------------------


def test_tile_hash_addresses() -> None:
    assert tile_hash_addresses(0, 0, 2) == [(0, 0), (0, 1)]
    assert tile_hash_addresses(1, 2, 3) == [(8, 512), (8, 513), (8, 514)]
    assert len(tile_hash_addresses(2, 0, TILE_WIDTH)) == TILE_WIDTH
    for width in (0, 257):
        with pytest.raises(ValueError, match="width"):
            tile_hash_addresses(0, 0, width)


def test_tile_width_for() -> None:
    assert tile_width_for(0, 273, 70_000) == 112
    assert tile_width_for(0, 272, 70_000) == TILE_WIDTH
    assert tile_width_for(0, 274, 70_000) == 0
    assert tile_width_for(1, 1, 70_000) == 17
    assert tile_width_for(2, 0, 70_000) == 1
    assert tile_width_for(3, 0, 70_000) == 0
    assert tile_width_for(None, 273, 70_000) == 112


def test_tile_available() -> None:
    assert tile_available(TilePath(0, 1, 44), 300)
    assert tile_available(TilePath(0, 1, 10), 300)  # an older partial tile stays valid
    assert not tile_available(TilePath(0, 1, 45), 300)
    assert not tile_available(TilePath(0, 1), 300)
    assert tile_available(TilePath(None, 0), 300)
    assert not tile_available(TilePath(1, 0), 300)


# --- reading back from served tiles ---------------------------------------------------


@pytest.mark.parametrize("size", [1, 255, 256, 257, 300, 65_536, 70_000])
def test_root_and_proofs_rebuilt_from_served_tiles(size: int) -> None:
    store = store_of(70_000 if size > 300 else 300)
    fetched: list[str] = []

    def fetch(path: str) -> bytes:
        fetched.append(path)
        return serve(store, size, path)

    read = tile_hash_reader(size, fetch)
    assert tree_hash(size, read) == store.root(size)
    for index in {0, size // 3, size - 1}:
        assert prove_inclusion(index, size, read) == prove_inclusion(index, size, store.read)
    for old in {1, size // 2, size - 1} - {0}:
        assert prove_consistency(old, size, read) == prove_consistency(old, size, store.read)
    assert fetched, "tiles were fetched"


def test_tile_reader_rejects_bad_tiles_and_missing_hashes() -> None:
    store = store_of(300)
    truncated = tile_hash_reader(300, lambda path: serve(store, 300, path)[:-1])
    with pytest.raises(TileDataError, match="expected"):
        truncated([(0, 0)])
    with pytest.raises(KeyError):
        tile_hash_reader(300, lambda path: b"")([(0, 300)])
    with pytest.raises(KeyError):
        tile_hash_reader(300, lambda path: b"")([(9, 0)])


# --- entry bundles -----------------------------------------------------------------------


def test_entry_bundle_round_trip() -> None:
    entries = [b"", b"a", b"x" * 65535, bytes(range(256))]
    data = entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert parse_entry_bundle(data) == entries
    assert parse_entry_bundle(data, count=4) == entries


def test_entry_bundle_limits() -> None:
    with pytest.raises(ValueError, match="at most 65535"):
        entry_bundle([b"x" * 65536])
    with pytest.raises(ValueError, match=r"1\.\.256"):
        entry_bundle([])
    with pytest.raises(ValueError, match=r"1\.\.256"):
        entry_bundle([b""] * 257)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "1..256 entries, found 0"),
        (b"\x00", "inside a length prefix"),
        (b"\x00\x02a", "needs 2 bytes, 1 left"),
        (b"\x00\x01ab", "inside a length prefix"),
        (b"\x00\x00" * 257, "found 257"),
        (b"\x00\x00" * 3, "expected 2 entries"),
    ],
)
def test_parse_entry_bundle_is_strict(data: bytes, message: str) -> None:
    with pytest.raises(TileDataError, match=message):
        parse_entry_bundle(data, count=2 if message.startswith("expected") else None)


# --- strict paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        ("0/000", TilePath(0, 0)),
        ("0/x001/234.p/17", TilePath(0, 1234, 17)),
        ("63/x001/x234/067", TilePath(63, 1234067)),
        ("entries/000", TilePath(None, 0)),
        ("entries/273.p/112", TilePath(None, 273, 112)),
        ("1/x001/000.p/255", TilePath(1, 1000, 255)),
    ],
)
def test_parse_valid_paths(path: str, tile: TilePath) -> None:
    assert parse_tile_path(path) == tile
    assert str(tile) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "0",
        "0/",
        "00/000",
        "01/000",
        "64/000",
        "100/000",
        "-1/000",
        "+1/000",
        "0/5",
        "0/0005",
        "0/x000/005",
        "0/x1/000",
        "0/x001",
        "0/x001/x002",
        "0/000/",
        "/0/000",
        "tile/0/000",
        "0/000.p/0",
        "0/000.p/007",
        "0/000.p/256",
        "0/000.p/1000",
        "0/000.p/",
        "0/000.p/1/",
        "0/000.P/1",
        "0/000.p1",
        "Entries/000",
        "entries",
        "data/000",
        "0/\u0660\u0660\u0660",
        "\u0661/000",
        "0/000\n",
        " 0/000",
        "0//000",
        "0/x018/x446/x744/x073/x709/x551/616",
        "0/x001/x000/x000/x000/x000/x000/x000/000",
    ],
)
def test_parse_rejects_non_canonical_paths(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


def test_format_rejects_impossible_tiles() -> None:
    for args in [(64, 0, None), (-1, 0, None), (0, -1, None), (0, 0, 0), (0, 0, 257)]:
        with pytest.raises(TilePathError):
            format_tile_path(*args)
    assert format_tile_path(0, 5, TILE_WIDTH) == "0/005"


tile_paths = st.builds(
    TilePath,
    st.none() | st.integers(0, 63),
    st.integers(0, MAX_TILE_INDEX),
    st.none() | st.integers(1, TILE_WIDTH - 1),
)


@settings(max_examples=500)
@given(tile_paths)
def test_format_parse_round_trip(tile: TilePath) -> None:
    path = format_tile_path(tile.level, tile.index, tile.width)
    assert parse_tile_path(path) == tile


@settings(max_examples=1000)
@given(st.text() | st.text(alphabet="0123456789x/.pentries") | tile_paths.map(str).map(lambda s: s + "0"))
def test_parse_arbitrary_text_only_raises_tile_path_error(text: str) -> None:
    try:
        tile = parse_tile_path(text)
    except TilePathError:
        return
    assert str(tile) == text


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(b"0/000")  # type: ignore[arg-type]
