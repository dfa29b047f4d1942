"""RFC 6962 / RFC 9162 Merkle tree math for the registry's transparency log.

What it does: leaf and node hashing, tree (root) hashes, inclusion and
consistency proofs, their verification (RFC 9162 §2.1.3.2 / §2.1.4.2 plus the
length and 32-byte checks real verifiers add, and the C2SP tlog-witness choices
for size 0 and equal sizes), and the bookkeeping of which stored hashes come
into existence when leaves are appended.

What it does not do: no I/O, no database, no signatures or checkpoints, no
tile layout (see ``tiles.py``). Storage is reached only through a
:data:`HashReader`, following golang.org/x/mod/sumdb/tlog.

Stored-hash addressing: the hash at ``(level, index)`` is
``MTH(D[index * 2**level : (index + 1) * 2**level])``. Only *complete* subtrees
are stored, so a stored hash never changes once it exists; every root and
proof of a tree of size n is computed from O(log n) of them, fetched in one
call to the reader.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence

from registry.errors import ProofError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# C2SP tlog-witness accepts at most 63 consistency-proof lines.
MAX_CONSISTENCY_PROOF = 63

Address = tuple[int, int]
"""``(level, index)`` of a complete subtree: its hash is MTH(D[index<<level : (index+1)<<level])."""

HashReader = Callable[[Sequence[Address]], list[bytes]]
"""Given addresses, return their 32-byte hashes in the same order (one call per operation)."""

_Range = tuple[int, int]
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


# --- which stored hashes an operation needs ------------------------------------


def tree_addresses(size: int) -> list[Address]:
    """The stored hashes whose fold is the root of a tree of ``size`` leaves, largest first."""
    _check_size(size)
    return _range_addresses(0, size)


def inclusion_addresses(index: int, size: int) -> list[Address]:
    """The stored hashes :func:`prove_inclusion` reads."""
    _check_index(index, size)
    return [a for lo, hi in _inclusion_ranges(index, size) for a in _range_addresses(lo, hi)]


def consistency_addresses(old: int, new: int) -> list[Address]:
    """The stored hashes :func:`prove_consistency` reads."""
    _check_sizes(old, new)
    return [a for lo, hi in _consistency_ranges(old, new) for a in _range_addresses(lo, hi)]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_addresses(lo: int, hi: int) -> list[Address]:
    """Complete subtrees covering the RFC 6962 subtree D[lo:hi], largest first.

    Every range we build starts at a multiple of a power of two at least as
    large as the range, so each greedy piece is an aligned complete subtree.
    """
    addresses = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        addresses.append((level, lo >> level))
        lo += 1 << level
    return addresses


def _inclusion_ranges(index: int, size: int) -> list[_Range]:
    """The subtrees whose hashes make PATH(index, D[size]), leaf sibling first."""
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def _consistency_ranges(old: int, new: int) -> list[_Range]:
    """The subtrees whose hashes make PROOF(old, D[new]) (RFC 6962 SUBPROOF)."""
    if old == 0 or old == new:
        return []
    ranges = []
    lo, hi = 0, new
    whole = True  # SUBPROOF's b: the old tree is still the whole left edge
    while old != hi:  # invariant: lo < old <= hi
        mid = lo + _split(hi - lo)
        if old <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


# --- computing hashes and proofs from storage -----------------------------------


def tree_hash(size: int, read: HashReader) -> bytes:
    """The root hash of the first ``size`` leaves (EMPTY_ROOT for 0)."""
    if size == 0:
        return EMPTY_ROOT
    return _fold(_read(read, tree_addresses(size)))


def prove_inclusion(index: int, size: int, read: HashReader) -> list[bytes]:
    """The RFC 6962 inclusion proof (audit path) of leaf ``index`` in the tree of ``size``."""
    _check_index(index, size)
    return _range_hashes(_inclusion_ranges(index, size), read)


def prove_consistency(old: int, new: int, read: HashReader) -> list[bytes]:
    """The RFC 6962 consistency proof from size ``old`` to ``new`` ([] if old is 0 or new)."""
    _check_sizes(old, new)
    return _range_hashes(_consistency_ranges(old, new), read)


def _range_hashes(ranges: list[_Range], read: HashReader) -> list[bytes]:
    """MTH of each range, all stored hashes fetched in one read."""
    groups = [_range_addresses(lo, hi) for lo, hi in ranges]
    hashes = _read(read, [a for group in groups for a in group])
    result = []
    start = 0
    for group in groups:
        end = start + len(group)
        result.append(_fold(hashes[start:end]))
        start = end
    return result


def _fold(hashes: list[bytes]) -> bytes:
    """MTH of a range from its complete subtrees, largest (leftmost) first."""
    h = hashes[-1]
    for i in range(len(hashes) - 2, -1, -1):
        h = _sha256(NODE_PREFIX + hashes[i] + h).digest()
    return h


def _read(read: HashReader, addresses: list[Address]) -> list[bytes]:
    """Call the reader once (not at all when nothing is needed) and check its answer."""
    if not addresses:
        return []
    hashes = read(addresses)
    if len(hashes) != len(addresses):
        raise ValueError(f"hash reader returned {len(hashes)} hashes for {len(addresses)}")
    for address, h in zip(addresses, hashes, strict=True):
        if len(h) != HASH_SIZE:
            raise ValueError(f"hash reader returned {len(h)} bytes for {address}")
    return hashes


# --- appending ------------------------------------------------------------------


def append_leaves(
    size: int, leaf_hashes: Sequence[bytes], read: HashReader
) -> list[tuple[int, int, bytes]]:
    """The ``(level, index, hash)`` entries that come into existence when
    ``leaf_hashes`` are appended to a tree of ``size`` leaves, lowest level first.

    Reads (in one call) only the old right-edge hashes the new ones build on.
    """
    _check_size(size)
    for h in leaf_hashes:
        _check_hash("leaf hash", h, ValueError)
    new_size = size + len(leaf_hashes)
    old_addresses = _merge_addresses(size, new_size)
    old = dict(zip(old_addresses, _read(read, old_addresses), strict=True))
    created = [(0, size + i, h) for i, h in enumerate(leaf_hashes)]
    row = list(leaf_hashes)  # new hashes at `level`, indices lo..hi-1
    level, lo, hi = 0, size, new_size
    while (lo >> 1) < (hi >> 1):
        if lo & 1:  # the first new parent's left child is an old stored hash
            row.insert(0, old[(level, lo - 1)])
        first = lo >> 1
        row = [
            _sha256(NODE_PREFIX + row[2 * j] + row[2 * j + 1]).digest()
            for j in range((hi >> 1) - first)
        ]
        level, lo, hi = level + 1, first, hi >> 1
        created.extend((level, first + j, h) for j, h in enumerate(row))
    return created


def append_leaf(size: int, leaf_hash: bytes, read: HashReader) -> list[tuple[int, int, bytes]]:
    """The ``(level, index, hash)`` entries created by appending leaf number ``size``."""
    return append_leaves(size, [leaf_hash], read)


def _merge_addresses(size: int, new_size: int) -> list[Address]:
    """Old stored hashes that become left children of new parents (mirrors append_leaves)."""
    addresses = []
    level, lo, hi = 0, size, new_size
    while (lo >> 1) < (hi >> 1):
        if lo & 1:
            addresses.append((level, lo - 1))
        level, lo, hi = level + 1, lo >> 1, hi >> 1
    return addresses


class RightEdge:
    """A growing RFC 6962 tree that keeps only its right edge: O(log n) hashes.

    :meth:`append` returns every complete-subtree hash ``(level, index, hash)``
    the new leaf completes, lowest level first: the same addresses the log
    stores. :meth:`from_reader` starts it at a size from stored hashes.
    """

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[bytes] = []  # complete subtrees, largest (leftmost) first

    @classmethod
    def from_reader(cls, size: int, read: HashReader) -> RightEdge:
        """The edge of a tree of ``size`` leaves from its stored complete subtrees (check :meth:`root`)."""
        edge = cls()
        edge.size = size
        edge._edge = _read(read, tree_addresses(size))
        return edge

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        nodes = [(0, self.size, leaf_hash)]
        value, level, index = leaf_hash, 0, self.size
        while index & 1:
            value = node_hash(self._edge.pop(), value)
            level, index = level + 1, index >> 1
            nodes.append((level, index, value))
        self._edge.append(value)
        self.size += 1
        return nodes

    def root(self) -> bytes:
        if not self._edge:
            return EMPTY_ROOT
        return _fold(self._edge)

    def copy(self) -> RightEdge:
        twin = RightEdge()
        twin.size, twin._edge = self.size, list(self._edge)
        return twin


class MemoryHashStore:
    """Every complete-subtree hash of one growing tree, kept in memory."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []
        self._size = 0

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index."""
        self.extend([leaf_hash])
        return self._size - 1

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaf hashes in order."""
        for level, index, h in append_leaves(self._size, leaf_hashes, self.read):
            if level == len(self._levels):
                self._levels.append([])
            assert index == len(self._levels[level])  # append_leaves creates in order
            self._levels[level].append(h)
        self._size += len(leaf_hashes)

    def read(self, addresses: Sequence[Address]) -> list[bytes]:
        """A :data:`HashReader` over the stored hashes; KeyError for a missing one."""
        levels = self._levels
        hashes = []
        for level, index in addresses:
            # Check bounds explicitly: a negative index would wrap around in a list.
            if not (0 <= level < len(levels) and 0 <= index < len(levels[level])):
                raise KeyError(f"no stored hash at level {level}, index {index}")
            hashes.append(levels[level][index])
        return hashes

    def root(self, size: int | None = None) -> bytes:
        """The root hash at ``size`` (default: the current size)."""
        size = self._size if size is None else size
        if size > self._size:
            raise ValueError(f"tree size {size} exceeds the {self._size} leaves stored")
        return tree_hash(size, self.read)


# --- verification ---------------------------------------------------------------


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``proof`` shows ``leaf_hash`` at ``index`` in the tree (size, root).

    Raises:
        ProofError: the inputs are malformed or the proof does not verify.
    """
    # 1. The index must lie in the tree; every hash must be 32 bytes.
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    _check_proof_hashes(proof)
    expected = _inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof for index {index} in tree size {size} must have "
            f"{expected} hashes, found {len(proof)}"
        )
    # 2.-5. Recompute the root.
    computed = _root_from_inclusion(index, size, leaf_hash, proof)
    if computed != root:
        # base64, as checkpoints and proof documents write roots
        raise ProofError(
            f"inclusion proof leads to root {_b64(computed)}, expected {_b64(root)}"
        )


def check_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff :func:`verify_inclusion` accepts."""
    try:
        verify_inclusion(index, size, leaf_hash, proof, root)
    except ProofError:
        return False
    return True


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (old_size, old_root) is a prefix of (new_size, new_root).

    Raises:
        ProofError: the inputs are malformed or the proof does not verify.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} must be between 0 and new size {new_size}")
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    if len(proof) > MAX_CONSISTENCY_PROOF:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes, at most {MAX_CONSISTENCY_PROOF} allowed"
        )
    _check_proof_hashes(proof)
    if old_size == 0:
        # C2SP tlog-witness: the empty tree is a prefix of every tree.
        _expect_empty_proof(proof, "from size 0")
        _expect_root("tree of size 0", EMPTY_ROOT, old_root)
        if new_size == 0:
            _expect_root("tree of size 0", EMPTY_ROOT, new_root)
        return
    if old_size == new_size:
        _expect_empty_proof(proof, "between equal sizes")
        _expect_root(f"tree of size {new_size}", old_root, new_root)
        return
    expected = _consistency_proof_length(old_size, new_size)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} must have "
            f"{expected} hashes, found {len(proof)}"
        )
    computed_old, computed_new = _roots_from_consistency(old_size, new_size, old_root, proof)
    _expect_root(f"old tree of size {old_size}", old_root, computed_old)
    _expect_root(f"new tree of size {new_size}", new_root, computed_new)


def check_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff :func:`verify_consistency` accepts."""
    try:
        verify_consistency(old_size, new_size, old_root, new_root, proof)
    except ProofError:
        return False
    return True


def _inclusion_proof_length(index: int, size: int) -> int:
    """Exact path length: levels below the split from the right edge, plus border nodes."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_length(old: int, new: int) -> int:
    """Exact proof length for 0 < old < new (transparency-dev ``VerifyConsistency``)."""
    level = (old & -old).bit_length() - 1  # old's complete left subtrees are implied
    index = (old - 1) >> level
    seed = 0 if index == 0 else 1  # a power-of-two old size seeds with old_root itself
    return seed + _inclusion_proof_length(index, ((new - 1) >> level) + 1)


def _root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 2-5; the caller has checked the length."""
    fn, sn = index, size - 1  # 2.
    r = leaf  # 3.
    for p in proof:  # 4.
        if sn == 0:  # a.
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # b.
            r = _sha256(NODE_PREFIX + p + r).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(NODE_PREFIX + r + p).digest()
        fn >>= 1  # c.
        sn >>= 1
    if sn != 0:  # 5.
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def _roots_from_consistency(
    old: int, new: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2-7 for 0 < old < new; returns (old root, new root)."""
    path = [old_root, *proof] if old & (old - 1) == 0 else list(proof)  # 2.
    fn, sn = old - 1, new - 1  # 3.
    while fn & 1:  # 4.
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # 5.
    for c in path[1:]:  # 6.
        if sn == 0:  # a.
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # b.
            fr = _sha256(NODE_PREFIX + c + fr).digest()
            sr = _sha256(NODE_PREFIX + c + sr).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(NODE_PREFIX + sr + c).digest()
        fn >>= 1  # c.
        sn >>= 1
    if sn != 0:  # 7.
        raise ProofError("consistency proof is shorter than the path to the root")
    return fr, sr


# --- argument checks ------------------------------------------------------------


def _check_size(size: int) -> None:
    if size < 0:
        raise ValueError(f"tree size must not be negative, got {size}")


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")


def _check_sizes(old: int, new: int) -> None:
    if not 0 <= old <= new:
        raise ValueError(f"old size {old} must be between 0 and new size {new}")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _check_hash(name: str, value: bytes, error: type[Exception] = ProofError) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        found = len(value) if isinstance(value, bytes) else type(value).__name__
        raise error(f"{name} must be {HASH_SIZE} bytes, found {found}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(f"proof hash {i}", h)


def _expect_empty_proof(proof: Sequence[bytes], what: str) -> None:
    if proof:
        raise ProofError(f"consistency proof {what} must be empty, found {len(proof)} hashes")


def _expect_root(what: str, expected: bytes, found: bytes) -> None:
    if found != expected:
        raise ProofError(f"{what}: expected root {_b64(expected)}, found {_b64(found)}")  # base64, as checkpoints
