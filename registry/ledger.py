"""The checked fold of the log: what the live writer validates against and what the signer signs.

A :class:`Ledger` is the registry state after its first ``size`` log entries,
with the right edge of their Merkle tree and the leaf hashes of the entries it
checked. :meth:`Ledger.extend` takes stored entries in log order and checks
each one completely before it joins: the leaf is canonical, the statement is
for this registry's origin, the envelope signature verifies with the key the
state names, every rule holds as of its position (the same fold as replay and
audit). The first entry that fails **halts** the ledger there: nothing after
it is checked, accepted, integrated or signed by this process, and
:attr:`Ledger.halted` says where and why, until an operator acts and the
process starts again (docs/SECURITY.md).

Nothing else in the stores is believed: not the aggregates, not the read
models, not the tree. A ledger starts empty, or from an :class:`Anchor`: a
signed snapshot whose signature, state hash and root verify with the log's
public key. Only the holder of the log key signs one, and it signs only the
state its own ledger checked, so starting there is as good as checking
entries ``0..n-1`` again.

Pure: entries in, decisions out. Reading and writing stores is the caller's;
:func:`find_anchor` is the one helper that reads (from a log store it is given).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from registry import snapshots, tlog
from registry.errors import InvalidSignatureError, LogHaltedError, RegistryError, VerificationError
from registry.leaf import Leaf, parse_leaf
from registry.signatures import Signatures
from registry.signednote import NoteVerifier
from registry.state import Applied, RegistryState

PARALLEL_FROM = 10_000  # a backlog this long has its signatures checked by worker processes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Halt:
    """Where a ledger stopped: the first stored entry that failed its checks, and why."""

    index: int
    reason: str

    def error(self) -> LogHaltedError:
        return LogHaltedError(self.index, self.reason)


@dataclass(frozen=True)
class Anchor:
    """A verified starting point: the state and tree edge after ``size`` entries, as a signed snapshot has them."""

    state: RegistryState
    edge: tlog.RightEdge

    @property
    def size(self) -> int:
        return self.edge.size


class Ledger:
    """The registry state folded from checked log entries, with their tree; halts at the first bad entry."""

    def __init__(self, origin: str, anchor: Anchor | None = None) -> None:
        self.origin = origin
        self.state = anchor.state if anchor is not None else RegistryState(origin)
        self.edge = anchor.edge.copy() if anchor is not None else tlog.RightEdge()
        self.start = self.edge.size
        self.hashes: dict[int, bytes] = {}  # leaf hashes of checked entries the log may not have integrated yet
        self.halted: Halt | None = None
        self._keep_from = 0

    @property
    def size(self) -> int:
        """How many entries are checked (the state and the tree are as of this size unless halted)."""
        return self.edge.size

    def root(self) -> bytes:
        """The RFC 6962 root of the checked entries."""
        return self.edge.root()

    def require_running(self) -> None:
        """Raise LogHaltedError if the ledger has stopped at a bad entry."""
        if self.halted is not None:
            raise self.halted.error()

    # --- the live writer: one statement of its own ------------------------------------------

    def check(self, leaf: Leaf, *, verified_key: bytes | None = None, verify: bool = True) -> Applied:
        """Decide the next entry without keeping it (a RegistryError if it breaks a rule).

        ``verify`` False skips the envelope signature: only for a caller that has just checked it on
        these very bytes by the same fold (a mirror re-recording what it verified).
        """
        self.require_running()
        return self.state.check(leaf, verify=verify, verified_key=verified_key)

    def commit(self, applied: Applied, data: bytes) -> None:
        """Keep a decision once its entry (leaf bytes ``data``) is durably recorded at its position."""
        self.state.commit(applied)
        self._keep_from = 0
        self._confirm(tlog.leaf_hash(data))

    # --- entries others recorded ---------------------------------------------------------------

    def extend(self, entries: Iterable[tuple[int, bytes]], *, workers: int = 1, backlog: int = 0,
               keep_from: int | None = None) -> int:
        """Check and apply stored entries (log version, leaf bytes) in order; the new size.

        Stops for good at the first entry that fails (see :attr:`halted`). With ``workers`` > 1 and a
        ``backlog`` of at least PARALLEL_FROM entries, signatures are checked by worker processes
        while this process folds; an entry counts as checked only once its signature has.
        """
        if self.halted is not None:
            return self.size
        self._keep_from = keep_from or 0
        failure: Halt | None = None
        pending: list[bytes] = []  # hashes of folded entries whose signatures are not confirmed yet
        with Signatures(workers if backlog >= PARALLEL_FROM else 1) as signatures:
            for version, data in entries:
                index = self.state.size
                if version != index + 1:
                    failure = Halt(index, f"log version {version} stands where version {index + 1} belongs")
                    break
                try:
                    leaf = parse_leaf(data)
                    applied = self.state.check(leaf, verify=not signatures.parallel)
                except RegistryError as e:
                    failure = Halt(index, _reason(e))
                    break
                self.state.commit(applied)
                pending.append(tlog.leaf_hash(data))
                if signatures.parallel:
                    signatures.add(index, leaf.envelope.canonical, applied.signer.public_key)
                    pending = self._confirm_checked(pending, signatures)
                    if signatures.failures():
                        break
                else:
                    self._confirm(pending.pop())
            bad = signatures.close()
        if bad and (failure is None or bad[0][0] < failure.index):
            failure = Halt(bad[0][0], f"signature: {bad[0][1]}")
        first = self.edge.size
        for offset, leaf_hash in enumerate(pending):
            if failure is not None and first + offset >= failure.index:
                break
            self._confirm(leaf_hash)
        if failure is not None:
            # The state may have run past the bad entry while its signature was out with a worker; a
            # halted ledger never decides anything again, so only the tree (kept at the good size) matters.
            self.halted = failure
            log.error("log entry %d failed its checks: %s", failure.index, failure.reason)
        return self.size

    def forget_below(self, size: int) -> None:
        """Drop the leaf hashes of entries the log has integrated (they are in its tree now)."""
        for index in [i for i in self.hashes if i < size]:
            del self.hashes[index]

    def _confirm(self, leaf_hash: bytes) -> None:
        if self.edge.size >= self._keep_from:
            self.hashes[self.edge.size] = leaf_hash
        self.edge.append(leaf_hash)

    def _confirm_checked(self, pending: list[bytes], signatures: Signatures) -> list[bytes]:
        if signatures.failures():
            return pending  # decided after the loop
        while pending and self.edge.size < signatures.checked:
            self._confirm(pending.pop(0))
        return pending


def _reason(error: RegistryError) -> str:
    kind = "signature" if isinstance(error, InvalidSignatureError) else "rule"
    return f"{kind}: {error.diagnostics()}"


# --- anchors -------------------------------------------------------------------------------------


def anchor_from_snapshot(document: bytes, verifier: NoteVerifier, read: tlog.HashReader) -> Anchor:
    """A verified anchor from a signed snapshot document and the stored tree hashes at its size.

    Raises:
        VerificationError: the snapshot does not verify, its state is of another format, or the stored
            tree does not have the signed root at its size.
    """
    verified = snapshots.verify_document(document, verifier)
    try:
        state = RegistryState.from_json(verified.state)
    except (ValueError, KeyError, TypeError) as e:
        raise VerificationError(f"the snapshot's state cannot anchor a ledger: {e}", "state") from None
    try:
        edge = tlog.RightEdge.from_reader(verified.note.size, read)
    except (KeyError, ValueError) as e:
        raise VerificationError(f"the stored tree lacks hashes at size {verified.note.size}: {e}", "tree") from None
    if edge.root() != verified.note.root:
        raise VerificationError(f"the stored tree at size {verified.note.size} does not have the signed root", "tree")
    return Anchor(state, edge)


def find_anchor(store: Any, verifier: NoteVerifier | None) -> Anchor | None:
    """The newest signed snapshot of a log store that verifies and the stored tree supports; None if none does."""
    if verifier is None:
        return None
    head = store.size()
    for size in sorted(store.snapshot_sizes(), reverse=True):
        if size > head:
            continue
        stored = store.snapshot(size)
        if stored is None:
            continue
        try:
            return anchor_from_snapshot(stored.document, verifier, store.read)
        except VerificationError as e:
            log.warning("snapshot at size %d cannot anchor the ledger: %s", size, e.message)
    return None
