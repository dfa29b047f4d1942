"""A monitor round: follow a remote registry through its tiles, verify everything, and mirror what verified.

One :meth:`Monitor.round`:

1. fetches the remote's checkpoint and opens it (the log's signature);
2. compares it with the newest checkpoint the mirror accepted: a smaller tree
   is a rollback, the same size with another root a fork; for a larger tree,
   proves consistency with the accepted checkpoint from the served hash tiles
   (a failing proof whose tiles do hash to the signed root is a fork). These
   come before the witnesses' say: the log's own signature on two conflicting
   checkpoints is the evidence, cosigned or not;
3. with witnesses, demands a quorum of cosignatures, none from the future and
   none older than ``max_age`` (the same tree with stale ones is a freeze);
   then, for a larger tree, streams every new entry bundle into a spool file, recomputing
   the tree from the mirror's own stored edge plus the new leaves (the root must
   be the signed one) and comparing every hash tile that covers the new range
   with what the leaves give;
4. re-verifies every new entry as the audit does (signature, rules as of its
   position: the same fold, continued from the mirror's checked state), with
   signatures checked by worker processes for a long first download;
5. only then records the entries into the mirror (``porting.record_leaves``:
   same index, byte-identical leaves), integrates the tree, stores the
   checkpoint note verbatim and catches up the read models.

Anything that fails becomes an :class:`~registry.alerts.Alert` and nothing of
that round is stored: the mirror never takes what conflicts with what it
accepted. The remote is reached only through ``fetch`` (a path -> bytes
callable raising RemoteError), so this module does no HTTP itself.

6. Then the archived documents the new entries cite by hash (and those an
   earlier round could not get), at most ``DOCUMENTS_PER_ROUND``, through
   ``fetch_document``: each is stored in the mirror's evidence store only if
   its bytes hash to its name. A document the registry has not archived (a
   404) is noted and asked for again next round; bytes that do not hash to
   their name are an ``evidence`` alert, the served bytes its evidence, and
   nothing is stored. The log itself was recorded before: a lying document
   server never holds back the verified log.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry import config, evidence, porting, tlog
from registry.alerts import WATCH_FORMAT, Alert, AlertBook, write_atomic
from registry.checkpoint import SignedCheckpoint, open_checkpoint
from registry.errors import (
    ConfigurationError,
    DocumentMismatchError,
    MalformedError,
    NoteError,
    NoteVerificationError,
    NotFoundError,
    ProofError,
    RemoteError,
    TileDataError,
    VerificationError,
)
from registry.leaf import parse_leaf
from registry.ledger import Anchor, Ledger
from registry.logstore import StoredCheckpoint
from registry.node import Node
from registry.signednote import NoteVerifier
from registry.state import RegistryState
from registry.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    format_tile_path,
    parse_entry_bundle,
    tile_hash_reader,
    tile_width_for,
)
from registry.times import format_time
from registry.transparency import open_log_store

SKEW = 60.0  # seconds a cosignature may be ahead of this clock
PREFETCH = 8  # bundles and tiles in flight at once
CHECKPOINT_LIMIT = 64 * 1024
TILE_LIMIT = TILE_WIDTH * (2 + 0xFFFF)  # the largest entry bundle the format allows
HASH_TILE_LIMIT = TILE_WIDTH * tlog.HASH_SIZE
WATCH_KINDS = ("org", "code", "type")
STATE_FILE = "state.json"
PENDING_FILE = "pending.checkpoint"
STATE_FILE_FORMAT = "hcoc-registry/monitor-state/v1"
DOCUMENTS_FILE = "documents.json"  # the cited documents not fetched yet, with their cited URLs
DOCUMENTS_FILE_FORMAT = "hcoc-registry/monitor-documents/v1"
DOCUMENTS_PER_ROUND = 100  # fetched at most per round: the rest wait for the next one
PRESENT_BATCH = 500  # hashes per query asking which documents the mirror has (SQLite bounds a query's parameters)

Fetch = Callable[[str], bytes]
# (sha256, limit) -> bytes that hash to it. Raises NotFoundError (not archived there), RemoteError (unreachable,
# refused, over the limit) or DocumentMismatchError (bytes that do not hash to the name).
FetchDocument = Callable[[str, int], bytes]
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class Watch:
    """A ``--watch`` filter: ``org:SLUG``, ``code:SLUG`` or ``type:TYPE``."""

    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Watch:
        kind, sep, value = text.partition(":")
        if not sep or kind not in WATCH_KINDS or not value:
            raise ConfigurationError(f"--watch {text!r}: expected org:SLUG, code:SLUG or type:TYPE")
        return cls(kind, value)

    def matches(self, stmt: dict[str, Any]) -> bool:
        return stmt.get(self.kind) == self.value

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Options:
    log_verifier: NoteVerifier
    witnesses: tuple[NoteVerifier, ...] = ()
    quorum: int = 0
    max_age: float = 86400.0
    watches: tuple[Watch, ...] = ()
    workers: int = 2


@dataclass
class Outcome:
    """What one round found: ``verified``, ``alert``, ``unreachable`` or ``stopped`` (asked to, before recording)."""

    status: str
    size: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)  # new alert lines (repeats are not listed)
    kinds: list[str] = field(default_factory=list)  # every alert kind found this round, repeats included
    watched: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_age: float | None = None
    reason: str = ""
    # Archived documents this round: "fetched", "missing" (not archived there), "refused" (over the size limit,
    # or empty: given up), "pending" (still to fetch: the next round asks again).
    documents: dict[str, int] = field(default_factory=dict)


class _Stopped(Exception):
    """Asked to stop before this round recorded anything: the round is dropped, nothing stored."""


class _Found(Exception):
    """A problem found mid-round: unwinds to :meth:`Monitor.round`, which records the alert."""

    def __init__(self, alert: Alert) -> None:
        super().__init__(alert.message)
        self.alert = alert


def open_mirror(data_dir: Path, log_verifier: NoteVerifier) -> config.Settings:
    """The settings of DIR as a mirror of the log, binding an empty DIR to it; another log's DIR is refused."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings = porting.prepare_mirror(config.load(data_dir), log_verifier.name, log_verifier.public_key)
    stored = config.read_config_file(data_dir)
    if stored.get("mirror") is not True:  # from now on it takes no submissions: it records what it verified
        config.write_config_file(data_dir, {**stored, "mirror": True})
    return dataclasses.replace(settings, mirror=True)


class Monitor:
    """Rounds of following one remote registry into one mirror data directory."""

    def __init__(self, settings: config.Settings, url: str, options: Options, fetch: Fetch, *,
                 fetch_document: FetchDocument | None = None, progress: Progress | None = None,
                 clock: Callable[[], float] = time.time, stopping: Callable[[], bool] = lambda: False) -> None:
        self.settings = settings
        self.fetch_document = fetch_document  # None: the mirror keeps no documents
        self.stopping = stopping  # checked between bundles and entries until recording starts
        self.url = url
        self.options = options
        self.origin = options.log_verifier.name
        self.fetch = fetch
        self.progress = progress
        self.clock = clock
        self.book = AlertBook(settings.data_dir)

    # --- one round ---------------------------------------------------------------------

    def round(self) -> Outcome:
        """Check the remote once; never raises for what it finds (RegistryError only for the mirror itself)."""
        node = Node(self.settings, signer=False, workers=self.options.workers, anchor=self._anchor)
        try:
            return self._round(node)
        except _Found as found:
            return self._alert(found.alert)
        except _Stopped:
            return Outcome("stopped", reason="stopped before recording; nothing of this round was stored")
        except RemoteError as e:
            if e.refused or e.code == "answer-too-large":  # a 4xx, or an answer no tile can be: unverifiable
                return self._alert(Alert("unverifiable", e.message))
            return Outcome("unreachable", reason=e.message)
        finally:
            node.close()
            self._spool_path().unlink(missing_ok=True)

    def _round(self, node: Node) -> Outcome:
        accepted_size, accepted_root, accepted_note = self._accepted(node)
        note = self.fetch("checkpoint")
        signed, short = self._open(note, accepted_size, accepted_note)
        cp = signed.checkpoint
        now = self.clock()
        age = self._age(signed, now, node)
        evidence = {"served.checkpoint": note}
        if accepted_note is not None:
            evidence["accepted.checkpoint"] = accepted_note
        if cp.size < accepted_size:
            raise _Found(Alert("rollback", f"the registry serves a checkpoint of size {cp.size}, smaller than the "
                               f"size {accepted_size} this mirror accepted", accepted_size, cp.size, evidence))
        if cp.size == accepted_size:
            if cp.root != accepted_root:
                raise _Found(Alert("fork", f"the registry serves another root at size {cp.size} than the one this "
                                   "mirror accepted: two signed views of one log", accepted_size, cp.size, evidence))
            self._quorum(short, signed, accepted_size)
            self._fresh(signed, now, grown=False, accepted_size=accepted_size)
            if note != accepted_note:
                write_atomic(self.book.dir / "checkpoint", note)  # the same tree, newer cosignatures
            return self._documents(node, None, Outcome("verified", cp.size, checkpoint_age=age))
        if accepted_size:  # before the quorum: a fork the log signed is a fork, whoever cosigned it
            self._consistent(accepted_size, accepted_root, cp.size, cp.root, evidence)
        self._quorum(short, signed, accepted_size)
        self._fresh(signed, now, grown=True, accepted_size=accepted_size)
        spool = self._download(node, accepted_size, cp.size, cp.root, note)
        self._verify(node, spool, accepted_size, cp.size, note)
        self._record(node, spool, accepted_size, cp.size, cp.root, note)
        watched = self._watch(node, spool, accepted_size)
        return self._documents(node, spool, Outcome("verified", cp.size, watched=watched, checkpoint_age=age))

    def _alert(self, alert: Alert) -> Outcome:
        line = self.book.record(alert, origin=self.origin, registry=self.url, time=format_time(self._now()))
        return Outcome("alert", alert.accepted_size or 0, alerts=[line] if line else [], kinds=[alert.kind],
                       reason=alert.message)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- what the mirror accepted ----------------------------------------------------------

    def _accepted(self, node: Node) -> tuple[int, bytes, bytes | None]:
        """The newest checkpoint the mirror accepted, checked against what the mirror holds.

        A round stopped while recording (killed, the store gone) leaves entries beyond the accepted
        checkpoint, all verified against the checkpoint that round kept in ``pending.checkpoint``: that
        round is finished first, from the entries the mirror lacks.
        """
        registry, log = node.registry, node.log
        checked = registry.follow()
        if registry.ledger.halted is not None:
            raise ConfigurationError(f"the mirror's own entry {registry.ledger.halted.index} fails its checks "
                                     f"({registry.ledger.halted.reason}): its store was changed; rebuild it")
        size = log.catch_up()
        latest = log.store.latest_checkpoint()
        accepted = 0 if latest is None else latest.size
        if checked == size == registry.size() and accepted < size:
            latest = self._finish_pending(node, size, accepted)
            size, accepted = latest.size, latest.size
        if not (checked <= size == registry.size() == accepted):
            raise ConfigurationError(f"the mirror holds {registry.size()} entries ({size} in its tree) but accepted "
                                     f"a checkpoint of size {accepted}: it was changed; rebuild it in an empty "
                                     "directory")
        if latest is None:
            return 0, tlog.EMPTY_ROOT, None
        try:
            own = open_checkpoint(latest.note, self.origin, self.options.log_verifier).checkpoint
        except (NoteError, ValueError) as e:
            raise ConfigurationError(f"the mirror's accepted checkpoint does not verify: {e}") from None
        if (own.size, own.root) != (size, log.root()):
            raise ConfigurationError("the mirror's tree does not have its accepted checkpoint's root; rebuild it")
        return own.size, own.root, latest.note

    def _finish_pending(self, node: Node, size: int, accepted: int) -> StoredCheckpoint:
        """Finish a round that was stopped while recording: fetch, verify and record the rest of its tree."""
        path = self.book.dir / PENDING_FILE
        try:
            note = path.read_bytes()
            cp = open_checkpoint(note, self.origin, self.options.log_verifier).checkpoint
        except (OSError, NoteError, ValueError):
            raise ConfigurationError(f"the mirror holds {size} entries beyond its accepted checkpoint and no "
                                     "verified checkpoint of an interrupted round: rebuild it") from None
        if cp.size < size:
            raise ConfigurationError(f"the mirror holds {size} entries, more than its interrupted round's "
                                     f"{cp.size}: rebuild it")
        if cp.size > size:
            spool = self._download(node, size, cp.size, cp.root, note)
            self._verify(node, spool, size, cp.size, note)
            self._record(node, spool, size, cp.size, cp.root, note)
        else:
            self._record(node, Spool(self._spool_path()), size, size, cp.root, note)
        stored = node.log.store.latest_checkpoint()
        if stored is None or stored.size != cp.size:
            raise VerificationError(f"the interrupted round's checkpoint at size {cp.size} was not stored", "monitor")
        if self.fetch_document is not None:  # what the interrupted round's entries cite: fetched by this round
            wanted = self._pending_documents()
            self._cited(node.registry.leaves(accepted, cp.size), wanted)
            self._keep_pending_documents(wanted)
        return stored

    # --- the checkpoint ---------------------------------------------------------------------

    def _open(self, note: bytes, accepted_size: int, accepted_note: bytes | None
              ) -> tuple[SignedCheckpoint, str | None]:
        """The checkpoint opened with the log's key (its valid cosignatures kept), and why it lacks the quorum.

        A missing quorum is not raised here: the checkpoint is compared with the accepted one first, so that a
        log-signed rollback or fork is reported as what it is (see :meth:`_quorum`).
        """
        options = self.options
        try:
            signed = open_checkpoint(note, self.origin, options.log_verifier, options.witnesses, 0)
        except NoteVerificationError as e:
            raise _Found(Alert("bad-signature", f"the served checkpoint: {e}", accepted_size, None,
                               {"served.checkpoint": note})) from None
        except NoteError as e:
            raise _Found(Alert("unverifiable", f"the served checkpoint is malformed: {e}", accepted_size, None,
                               {"served.checkpoint": note})) from None
        found = len(signed.cosignatures)  # valid cosignatures of the configured witnesses only
        if found >= options.quorum:
            return signed, None
        return signed, f"witness quorum: {found} known witnesses cosigned, {options.quorum} required"

    def _quorum(self, short: str | None, signed: SignedCheckpoint, accepted_size: int) -> None:
        """A checkpoint short of the witness quorum is never accepted: ``unverifiable``."""
        if short is not None:
            raise _Found(Alert("unverifiable", f"the served checkpoint: {short}", accepted_size,
                               signed.checkpoint.size, {"served.checkpoint": signed.note}))

    def _fresh(self, signed: SignedCheckpoint, now: float, *, grown: bool, accepted_size: int) -> None:
        """With witnesses: a quorum of cosignatures no older than max_age, none from the future."""
        quorum = self.options.quorum
        if quorum == 0:
            return
        size = signed.checkpoint.size
        evidence = {"served.checkpoint": signed.note}
        if any(c.timestamp > now + SKEW for c in signed.cosignatures):
            raise _Found(Alert("unverifiable", f"a cosignature of the checkpoint at size {size} is dated in the "
                               "future", accepted_size, size, evidence))
        fresh = [c for c in signed.cosignatures if now - c.timestamp <= self.options.max_age]
        if len(fresh) >= quorum:
            return
        newest = max(c.timestamp for c in signed.cosignatures)
        stale = f"{len(fresh)} of the {quorum} cosignatures needed are younger than {self.options.max_age:g} s " \
                f"(the newest is {now - newest:.0f} s old)"
        if grown:
            raise _Found(Alert("unverifiable", f"the checkpoint at size {size} is not accepted: {stale}",
                               accepted_size, size, evidence))
        raise _Found(Alert("freeze", f"the log has not grown past size {size} and {stale}: its witnesses stopped "
                           "cosigning, or it is showing this mirror a frozen view", accepted_size, size, evidence))

    def _age(self, signed: SignedCheckpoint, now: float, node: Node) -> float | None:
        if signed.cosignatures:
            return now - max(c.timestamp for c in signed.cosignatures)
        stored = node.log.store.checkpoint(signed.checkpoint.size)
        if stored is None or not stored.published_at:
            return None
        return now - datetime.fromisoformat(stored.published_at.replace("Z", "+00:00")).timestamp()

    # --- consistency, from the served tiles --------------------------------------------------

    def _consistent(self, old: int, old_root: bytes, new: int, new_root: bytes, evidence: dict[str, bytes]) -> None:
        served: dict[str, bytes] = {}

        def fetch(path: str) -> bytes:
            served[path] = self.fetch(f"tile/{path}")
            return served[path]

        read = tile_hash_reader(new, fetch)
        try:
            root = tlog.tree_hash(new, read)
            their_old = tlog.tree_hash(old, read)
            proof = tlog.prove_consistency(old, new, read)
        except (TileDataError, KeyError) as e:
            raise _Found(Alert("tiles", f"the hash tiles at size {new} cannot be read: {e}", old, new,
                               {**evidence, **_tiles(served)})) from None
        # The tiles are believed only as far as the signed root binds them: their root, and a proof from
        # their own root at the accepted size to the signed root. Tiles that fail that are lying tiles.
        try:
            if root != new_root:
                raise ProofError(f"the tiles' root at size {new} is not the signed root")
            tlog.verify_consistency(old, new, their_old, new_root, proof)
        except ProofError as e:
            raise _Found(Alert("tiles", f"the served hash tiles do not hash to the signed root at size {new}: {e}",
                               old, new, {**evidence, **_tiles(served)})) from None
        if their_old != old_root:
            document = json.dumps({"from": old, "to": new, "hashes": [base64.b64encode(h).decode() for h in proof]},
                                  indent=1).encode() + b"\n"
            raise _Found(Alert("fork", f"the checkpoint at size {new} is not consistent with the accepted one at "
                               f"size {old}: its tree had root {base64.b64encode(their_old).decode()} at size "
                               f"{old}; the log rewrote the history this mirror accepted", old, new,
                               {**evidence, "consistency.json": document}))

    # --- downloading -------------------------------------------------------------------------

    def _download(self, node: Node, old: int, new: int, root: bytes, note: bytes) -> Spool:
        """Every new entry into the spool, the tree recomputed from the mirror's edge and checked tile by tile."""
        store = node.log.store
        edge = tlog.RightEdge.from_reader(old, store.read)
        tiles = _TileCheck(old, new, store.read, self.fetch)
        own = list(node.registry.leaves(old - old % TILE_WIDTH, old))  # the served bundle must start with these
        spool = Spool(self._spool_path())
        first, last = old // TILE_WIDTH, (new - 1) // TILE_WIDTH
        # A generator: a checkpoint claiming an absurd size costs requests (until one fails), never memory.
        paths = (format_tile_path(None, k, tile_width_for(None, k, new)) for k in range(first, last + 1))
        try:
            with spool.writing():
                self._stream(paths, first, old, new, note, own, edge, tiles, spool)
                tiles.finish()
        except _TileMismatch as e:
            raise _Found(Alert("tiles", f"hash tile {e.path} differs from the hashes of the entries served for it: "
                               "the entry bundles or the tile do not hash to the signed root", old, new,
                               {"served.checkpoint": note, _name("tile", e.path): e.data})) from None
        if edge.root() != root:
            raise _Found(Alert("tiles", f"the entry bundles do not hash to the signed root at size {new}", old, new,
                               {"served.checkpoint": note}))
        return spool

    def _stream(self, paths: Iterator[str], first: int, old: int, new: int, note: bytes, own: list[bytes],
                edge: tlog.RightEdge, tiles: _TileCheck, spool: Spool) -> None:
        """Each bundle in order: the entries the mirror has must be its own, the new ones join edge and spool."""
        for k, (path, data) in enumerate(prefetched(paths, self.fetch), start=first):
            if self.stopping():
                raise _Stopped
            width = tile_width_for(None, k, new)
            try:
                entries = parse_entry_bundle(data, width)
            except TileDataError as e:
                raise _Found(Alert("tiles", f"entry bundle {path}: {e}", old, new,
                                   {"served.checkpoint": note, _name("bundle", path): data})) from None
            start = k * TILE_WIDTH
            for i, leaf in enumerate(entries):
                index = start + i
                if index < old:
                    if leaf != own[index - (old - old % TILE_WIDTH)]:
                        raise _Found(Alert("tiles", f"entry bundle {path} holds another entry {index} than the one "
                                           "this mirror accepted", old, new,
                                           {"served.checkpoint": note, _name("bundle", path): data}))
                    continue
                tiles.add(edge.append(tlog.leaf_hash(leaf)))
                spool.append(leaf)
            if self.progress is not None:
                self.progress("downloaded", edge.size - old, new - old)

    def _spool_path(self) -> Path:
        return self.book.dir / "spool.partial"

    # --- verifying: the audit's fold, continued from the mirror's checked state --------------------

    def _verify(self, node: Node, spool: Spool, old: int, new: int, note: bytes) -> None:
        own = node.registry.ledger
        if old:
            state = RegistryState.from_json(own.state.to_json())  # a copy: the mirror's own fold stays as it is
            ledger = Ledger(self.origin, Anchor(state, own.edge.copy()))
        else:
            ledger = Ledger(self.origin)
        # keep_from=new: this ledger only decides; it keeps no leaf hashes (bounded memory on a long download)
        ledger.extend(self._entries(spool, old), workers=self.options.workers, backlog=new - old, keep_from=new)
        if ledger.halted is not None:
            halt = ledger.halted
            leaf = spool.at(halt.index - old)
            raise _Found(Alert("invalid-entry", f"entry {halt.index} fails the audit: {halt.reason}", old, new,
                               {"served.checkpoint": note, f"entry-{halt.index}.leaf": leaf or b""}))
        if ledger.size != new:
            raise VerificationError(f"the fold stopped at {ledger.size} of {new} entries", "monitor")

    def _entries(self, spool: Spool, old: int) -> Iterator[tuple[int, bytes]]:
        for i, leaf in enumerate(spool):
            if i % 1000 == 0 and self.stopping():
                raise _Stopped
            yield old + i + 1, leaf

    # --- recording ----------------------------------------------------------------------------------

    def _record(self, node: Node, spool: Spool, old: int, new: int, root: bytes, note: bytes) -> None:
        registry, log = node.registry, node.log
        pending = self.book.dir / PENDING_FILE
        write_atomic(pending, note)  # what an interrupted recording was verified against (see _accepted)
        if new > old:
            progress = self.progress
            report = None if progress is None else lambda done, _: progress("recorded", done, new - old)
            # _verify has just checked every signature of these spooled bytes by the same fold. The tree is
            # integrated as the entries land, so the ledger never holds more than a batch of leaf hashes.
            porting.record_leaves(registry, spool, start=old, every=1000, signatures_checked=True,
                                  progress=report, after_batch=lambda size: log.catch_up())
        size = log.catch_up()
        if (size, log.root()) != (new, root):
            raise VerificationError(f"the mirror's tree at size {size} does not have the signed root", "monitor")
        log.store.add_checkpoint(new, root, note, format_time(self._now()))
        node.views.catch_up()
        write_atomic(self.book.dir / "checkpoint", note)
        pending.unlink(missing_ok=True)
        self._keep_state(node, new, root)

    # --- the checked state, kept between rounds --------------------------------------------------------

    def _keep_state(self, node: Node, size: int, root: bytes) -> None:
        """The fold's state after this round, so that the next round (a new process) need not fold it all again."""
        ledger = node.registry.ledger
        if ledger.size != size:
            return
        document = {"format": STATE_FILE_FORMAT, "size": size, "root": base64.b64encode(root).decode(),
                    "state": ledger.state.to_json()}
        write_atomic(self.book.dir / STATE_FILE, json.dumps(document, sort_keys=True).encode())

    def _anchor(self) -> Anchor | None:
        """Where the mirror's ledger starts: the state this monitor kept, if the stored tree has its root."""
        path = self.book.dir / STATE_FILE
        if not path.exists():
            return None
        store = open_log_store(self.settings)
        try:
            document = json.loads(path.read_bytes())
            size = int(document["size"])
            if document.get("format") != STATE_FILE_FORMAT or size > store.size():
                return None
            edge = tlog.RightEdge.from_reader(size, store.read)
            if edge.root() != base64.b64decode(document["root"]):
                return None
            state = RegistryState.from_json(document["state"])
            return Anchor(state, edge) if state.size == size else None
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: fold the stored log from the start, as a registry does
        finally:
            store.datastore.close()

    # --- archived documents ---------------------------------------------------------------------------

    def _documents(self, node: Node, spool: Spool | None, outcome: Outcome) -> Outcome:
        """Fetch the documents newly cited (in ``spool``) or still pending; an ``evidence`` alert for a lie."""
        if self.fetch_document is None:
            return outcome
        wanted = self._pending_documents()
        if spool is not None:
            self._cited(spool, wanted)
        store = node.evidence
        hashes = list(wanted)
        for start in range(0, len(hashes), PRESENT_BATCH):  # a long log may cite many: bounded queries
            for sha256 in store.present(hashes[start:start + PRESENT_BATCH]):
                del wanted[sha256]
        counts = {"fetched": 0, "missing": 0, "refused": 0}
        limit = min(self.settings.evidence_max_bytes, evidence.HARD_MAX_BYTES)
        alert: Alert | None = None
        for sha256 in list(wanted)[:DOCUMENTS_PER_ROUND]:
            if self.stopping():
                break  # the log is recorded; the documents wait for the next run
            try:
                data = self.fetch_document(sha256, limit)
                store.add(data, source_url=wanted[sha256], added_at=format_time(self._now()), max_bytes=limit)
            except NotFoundError:
                counts["missing"] += 1  # not archived there (yet): asked for again next round
                continue
            except DocumentMismatchError as e:
                # Only the served bytes make the alert's identity: the same lie is reported once, however often
                # it is asked for again. Nothing is stored.
                alert = Alert("evidence", f"the registry serves bytes under /evidence/{sha256} that do not hash "
                              f"to that name: {e}", outcome.size, outcome.size, {f"document-{sha256}": e.served})
                continue
            except RemoteError as e:
                if e.code == "answer-too-large":
                    counts["refused"] += 1  # over this mirror's limit: never asked for again
                    del wanted[sha256]
                    continue
                break  # unreachable, or another status: it and the rest wait for the next round
            except MalformedError:  # empty (or over the limit): fetched, verified, and not kept here
                counts["refused"] += 1
                del wanted[sha256]
                continue
            counts["fetched"] += 1
            del wanted[sha256]
        self._keep_pending_documents(wanted)
        outcome.documents = {**counts, "pending": len(wanted)}
        if alert is None:
            return outcome
        line = self.book.record(alert, origin=self.origin, registry=self.url, time=format_time(self._now()))
        return dataclasses.replace(outcome, status="alert", alerts=[line] if line else [], kinds=[alert.kind],
                                   reason=alert.message)

    @staticmethod
    def _cited(leaves: Iterable[bytes], wanted: dict[str, str | None]) -> None:
        """Add to ``wanted`` every document ``leaves`` cite by hash, with the URL cited (the first one given)."""
        for data in leaves:
            if not evidence.may_cite(data):  # most entries cite nothing: not parsed again
                continue
            for sha256, url in evidence.cited_documents(parse_leaf(data).envelope.statement()).items():
                if wanted.get(sha256) is None:
                    wanted[sha256] = url

    def _pending_documents(self) -> dict[str, str | None]:
        """The documents an earlier round could not get (sha256 -> cited URL), in the order they were cited."""
        try:
            document = json.loads((self.book.dir / DOCUMENTS_FILE).read_bytes())
            pending = document["pending"] if document.get("format") == DOCUMENTS_FILE_FORMAT else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}  # none, or unreadable: the documents cited from now on are still fetched
        if not isinstance(pending, dict):
            return {}
        return {k: v if isinstance(v, str) else None for k, v in pending.items() if evidence.is_sha256(k)}

    def _keep_pending_documents(self, pending: dict[str, str | None]) -> None:
        path = self.book.dir / DOCUMENTS_FILE
        if not pending and not path.exists():
            return
        write_atomic(path, json.dumps({"format": DOCUMENTS_FILE_FORMAT, "pending": pending}).encode())

    # --- watching ------------------------------------------------------------------------------------

    def _watch(self, node: Node, spool: Spool, old: int) -> list[dict[str, Any]]:
        watches = self.options.watches
        if not watches:
            return []
        from registry.wording import Names, claim

        names: Names | None = None
        lines = []
        for offset, data in enumerate(spool):
            stmt = parse_leaf(data).envelope.statement()
            matched = [str(w) for w in watches if w.matches(stmt)]
            if not matched:
                continue
            if names is None:
                names = Names.of(node.registry.ledger.state.to_json())
            line = {"format": WATCH_FORMAT, "kind": "watch", "time": format_time(self._now()),
                    "origin": self.origin, "index": old + offset, "type": stmt.get("type"),
                    "organization": stmt.get("org"), "code": stmt.get("code"), "claim": claim(stmt, names),
                    "watch": matched}
            self.book.watch(line)
            lines.append(line)
        return lines


# --- the spool: new entries on disk between download and recording (bounded memory) -------------------


class Spool:
    """Leaves appended to a file, read back in order as often as needed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None
        self.count = 0

    def writing(self) -> Spool:
        self._file = self.path.open("wb")
        return self

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        self._file = None

    def append(self, leaf: bytes) -> None:
        self._file.write(len(leaf).to_bytes(4, "big") + leaf)
        self.count += 1

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            while header := f.read(4):
                yield f.read(int.from_bytes(header, "big"))

    def at(self, offset: int) -> bytes | None:
        for i, leaf in enumerate(self):
            if i == offset:
                return leaf
        return None


# --- hash tiles: what the leaves give, compared with what is served ------------------------------------


class _TileMismatch(Exception):
    def __init__(self, path: str, data: bytes) -> None:
        super().__init__(path)
        self.path = path
        self.data = data


class _TileCheck:
    """Collects the tile-level hashes the new leaves complete, and compares each tile as it fills up."""

    def __init__(self, old: int, new: int, own: tlog.HashReader, fetch: Fetch) -> None:
        self.new = new
        self.own = own
        self.fetch = fetch
        self.rows: dict[int, tuple[int, int, list[bytes]]] = {}  # tile level -> (tile index, first offset, hashes)

    def add(self, nodes: list[tuple[int, int, bytes]]) -> None:
        for level, index, value in nodes:
            if level % TILE_HEIGHT:
                continue
            tile_level = level // TILE_HEIGHT
            tile, offset = divmod(index, TILE_WIDTH)
            row = self.rows.get(tile_level)
            if row is None or row[0] != tile:
                row = self.rows[tile_level] = (tile, offset, [])
            row[2].append(value)
            if offset == TILE_WIDTH - 1:
                self._compare(tile_level, *self.rows.pop(tile_level))

    def finish(self) -> None:
        for tile_level, row in sorted(self.rows.items()):
            self._compare(tile_level, *row)
        self.rows.clear()

    def _compare(self, tile_level: int, tile: int, first: int, hashes: list[bytes]) -> None:
        width = tile_width_for(tile_level, tile, self.new)
        path = format_tile_path(tile_level, tile, width)
        level = tile_level * TILE_HEIGHT
        before = self.own([(level, tile * TILE_WIDTH + i) for i in range(first)]) if first else []
        data = self.fetch(f"tile/{path}")
        if data != b"".join(before + hashes):
            raise _TileMismatch(path, data)


def prefetched(paths: Iterable[str], fetch: Fetch) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of ``tile/<path>`` in order, a few requests ahead (bounded memory)."""
    with ThreadPoolExecutor(4) as pool:
        pending: list[tuple[str, Future[bytes]]] = []
        queue = iter(paths)
        for path in queue:
            pending.append((path, pool.submit(fetch, f"tile/{path}")))
            if len(pending) >= PREFETCH:
                break
        while pending:
            path, future = pending.pop(0)
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(fetch, f"tile/{nxt}")))
            try:
                yield path, future.result()
            except BaseException:
                for _, other in pending:
                    other.cancel()
                raise


def _name(what: str, path: str) -> str:
    return f"{what}-" + path.replace("/", "_")


def _tiles(served: dict[str, bytes]) -> dict[str, bytes]:
    return {_name("tile", path): data for path, data in served.items()}
