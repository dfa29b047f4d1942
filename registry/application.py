"""The Registry application: the one place that loads and saves.

``submit`` takes the bytes of a DSSE envelope and either records it or refuses
it with a typed error and nothing stored. Every accepted statement is saved in
one transaction as the next entry of the statement log (an ``EventSourcedLog``
whose version *n* is leaf *n-1*: the unique ``(log id, version)`` key
serializes all writers, across processes and hosts, so a statement is always
validated against exactly the state it lands on), with a ``StatementHint``
that finds it again by its statement hash.

Nothing else is stored, and nothing stored but the log entries is believed.
A statement is validated against the :class:`~registry.ledger.Ledger`: the
state folded in memory from the stored entries, each one checked (signature,
rules, origin) before it counts. Entries other processes wrote are checked the
same way before this process validates anything against them, so a row
written straight into the database can never make this writer accept what the
fold of the log would refuse; the first entry that fails halts the ledger and
every submission is refused until an operator acts. The hint is only a hint:
it is checked against the entry it points to whenever it is used.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import Application, EventSourcedLog, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent, event
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, PersistenceError
from eventsourcing.utils import register_topic

from registry import envelope, statements
from registry.domain import NAMESPACE, statement_hint_id
from registry.errors import (
    ConfigurationError,
    DuplicateStatementError,
    LogHaltedError,
    MalformedError,
    ReadOnlyMirrorError,
    RegistryError,
    StaleStatementError,
    StorageUnavailableError,
)
from registry.follow import LOG_ENTRY_TOPIC, pages
from registry.leaf import Leaf, format_leaf, parse_leaf
from registry.ledger import Anchor, Ledger
from registry.state import statement_hash
from registry.times import format_time

LOG_ID = uuid5(NAMESPACE, "statement-log")
PAGE = 1000  # log entries read per query while following the log
WRITE_DEADLINE = 30.0  # seconds a submission keeps retrying a busy store before answering 503

log = logging.getLogger(__name__)


class LogEntryRecorded(DomainEvent):
    """One accepted statement: the exact leaf bytes the transparency log hashes."""

    TOPIC = LOG_ENTRY_TOPIC
    leaf: str
    envelope_hash: str


# Aggregates register their explicit topics when defined; a free-standing event must be registered by hand.
register_topic(LogEntryRecorded.TOPIC, LogEntryRecorded)


class StatementHint(Aggregate):
    """Where a statement was recorded, found by its statement hash (checked against that entry on use)."""

    TOPIC = "registry:StatementHint"

    class Created(Aggregate.Created):
        TOPIC = "registry:StatementHint.Created"

    @staticmethod
    def create_id(statement_hash: str) -> UUID:
        return statement_hint_id(statement_hash)

    @event("Recorded", topic="registry:StatementHint.Recorded")
    def __init__(self, statement_hash: str, index: int) -> None:
        self.statement_hash = statement_hash
        self.index = index


HINT_TOPIC = "registry:StatementHint.Recorded"


@dataclass(frozen=True)
class Recorded:
    """What ``submit`` answers: where the statement is in the log."""

    index: int
    envelope_hash: str
    recorded_at: str
    type: str
    duplicate: bool = False
    statement_hash: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "envelope_hash": self.envelope_hash, "statement_hash": self.statement_hash,
            "recorded_at": self.recorded_at, "type": self.type, "duplicate": self.duplicate,
        }


AnchorSource = Callable[[], Anchor | None]


class Registry(Application):
    """Validates, authorizes and records signed statements."""

    name = "registry"

    def __init__(self, env: dict[str, str] | None = None, *, origin: str,
                 signed_at_window: tuple[int, int] = (3600, 300), anchor: AnchorSource | None = None,
                 workers: int = 1, read_only: bool = False) -> None:
        super().__init__(env)
        self.origin = origin
        self.read_only = read_only  # a mirror: submissions are refused, record_leaves re-records what it verified
        self.signed_at_past, self.signed_at_future = signed_at_window
        self.statement_log: EventSourcedLog[LogEntryRecorded] = EventSourcedLog(self.events, LOG_ID, LogEntryRecorded)
        self.workers = workers
        self._anchor = anchor
        self._ledger: Ledger | None = None
        self._followed = False  # whether the ledger has read the stored log at least once
        self._lock = threading.RLock()
        self._check_origin()

    # --- the checked fold ---------------------------------------------------------------

    @property
    def ledger_lock(self) -> threading.RLock:
        """Held while the ledger changes; hold it to read its size and root together."""
        return self._lock

    @property
    def ledger(self) -> Ledger:
        """The checked fold of the stored log (built on first use, from a signed snapshot when there is one)."""
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger(self.origin, self._anchor() if self._anchor is not None else None)
            return self._ledger

    def follow(self, keep_from: int | None = None) -> int:
        """Check every stored entry the ledger has not seen yet; the checked size (it stops at a bad entry).

        ``keep_from``: the ledger keeps leaf hashes only from this index on (what the log has integrated
        needs none), so a long first catch-up holds no more than it must.
        """
        with self._lock:
            ledger = self.ledger
            self._followed = True
            if ledger.halted is not None:
                return ledger.size
            try:
                first = list(self.statement_log.get(gt=ledger.state.size, lte=ledger.state.size + PAGE))
            except (OperationalError, InterfaceError) as e:
                raise StorageUnavailableError(f"the event store failed: {e}") from None
            if not first:
                return ledger.size
            backlog = len(first) if len(first) < PAGE else self.size() - ledger.state.size
            ledger.extend(self._entries(first), workers=self.workers, backlog=backlog, keep_from=keep_from)
            return ledger.size

    def _entries(self, first: list[LogEntryRecorded]) -> Iterator[tuple[int, bytes]]:
        batch = first
        while batch:
            for entry in batch:
                yield entry.originator_version, entry.leaf.encode("utf-8")
            if len(batch) < PAGE:
                return
            last = batch[-1].originator_version
            batch = list(self.statement_log.get(gt=last, lte=last + PAGE))

    # --- commands ---------------------------------------------------------------

    def submit(self, data: bytes, *, now: datetime | None = None, live: bool = True) -> Recorded:
        """Record a DSSE envelope, or raise a RegistryError and store nothing."""
        try:
            return self._submit(data, now=now, live=live)
        except (OperationalError, InterfaceError) as e:
            # The store failed outside the retried write (reading entries, a hint): still a typed,
            # retryable refusal, never the store's own exception.
            raise StorageUnavailableError(f"the event store failed: {e}") from None

    def _submit(self, data: bytes, *, now: datetime | None, live: bool) -> Recorded:
        if self.read_only:
            raise ReadOnlyMirrorError("this registry is a mirror of another: it records only what that one recorded")
        env = envelope.parse(data)
        stmt = statements.validate(env.statement(), origin=self.origin)
        digest = statement_hash(env.payload)
        with self._lock:
            moment = now or datetime.now(UTC)
            recorded_at = format_time(moment)
            leaf = Leaf(env, recorded_at)
            leaf_bytes = format_leaf(env, recorded_at)
            verified_with: bytes | None = None
            with_hint = True
            deadline = time.monotonic() + WRITE_DEADLINE
            attempt = 0
            while time.monotonic() < deadline:
                attempt += 1
                # The write itself is the staleness check: it names the next log version, which the
                # store takes only once (a lost race is an IntegrityError, and then we follow). So
                # a writer whose ledger has read the log skips the read on its first try.
                if attempt > 1 or not self._followed:
                    self.follow()
                ledger = self.ledger
                try:
                    ledger.require_running()
                    if live:
                        self._check_window(stmt, moment)
                    applied = ledger.check(leaf, verified_key=verified_with)
                except RegistryError as refusal:
                    existing = self._duplicate(refusal, digest, env)
                    if existing is not None:
                        return existing
                    raise
                verified_with = applied.signer.public_key
                index = applied.index
                entry = self.statement_log.trigger_event(
                    next_originator_version=index + 1, leaf=leaf_bytes.decode("ascii"), envelope_hash=env.hash)
                hint = StatementHint(statement_hash=digest, index=index) if with_hint else None
                try:
                    self._save_entry(entry, hint)
                except (IntegrityError, OperationalError) as e:
                    # Another writer took this position (or held the lock), or a hint for this statement
                    # exists: follow the log and decide again.
                    moved = self.follow() > index
                    if not moved and isinstance(e, IntegrityError):
                        existing = self._find(digest, env.keyid)
                        if existing is not None:
                            return existing
                        if with_hint:
                            # A hint row that points elsewhere blocks this statement's own: record the
                            # statement without one (the audit reports the stray row).
                            log.warning("a stored statement hint for %s is wrong; recording without one", digest)
                            with_hint = False
                    # Jittered backoff so that racing writers stop colliding in lockstep.
                    limit = 0.05 if isinstance(e, IntegrityError) else 0.5
                    time.sleep(random.uniform(0, min(0.002 * attempt, limit)))
                    continue
                except PersistenceError as e:
                    raise StorageUnavailableError(f"the event store failed: {e}") from None
                ledger.commit(applied, leaf_bytes)
                return Recorded(index, env.hash, recorded_at, stmt["type"], statement_hash=digest)
            raise StorageUnavailableError("the event store stayed busy; try again")

    def record_leaves(self, leaves: list[bytes], *, signatures_checked: bool = False) -> int:
        """Record leaves exactly as given (envelope and recorded time) after the stored log, in one transaction.

        For a mirror re-recording a log it verified: each leaf is still checked by the ledger as of its
        position (rules, origin, and its signature unless ``signatures_checked``: the caller verified
        these very bytes by the same fold) before anything is written, and the batch is stored whole
        or not at all. Returns the new size.

        Raises:
            RegistryError: a leaf is malformed or refused (nothing of the batch is stored).
        """
        with self._lock:
            self.follow()
            ledger = self.ledger
            ledger.require_running()
            if ledger.size != self.size():
                raise StorageUnavailableError("the stored log moved while recording; try again")
            processing = ProcessingEvent()
            try:
                for data in leaves:
                    leaf = parse_leaf(data)
                    applied = ledger.check(leaf, verify=not signatures_checked)
                    index = applied.index
                    processing.events.append(self.statement_log.trigger_event(
                        next_originator_version=index + 1, leaf=data.decode("ascii"), envelope_hash=leaf.envelope.hash))
                    hint = StatementHint(statement_hash=applied.statement_hash, index=index)
                    processing.events.extend(hint.collect_events())
                    processing.aggregates[hint.id] = hint
                    ledger.commit(applied, data)  # the next leaf is checked against the state this one makes
                self._record(processing)
            except BaseException:
                # The ledger ran ahead of the store: forget it, the next use folds the stored log again.
                self._ledger = None
                self._followed = False
                raise
            return ledger.size

    def restore_hints(self) -> int:
        """Write the statement hint of every checked entry that has none; how many were written.

        A hint row that points elsewhere cannot be replaced (the store is append-only): the audit
        names it, and an operator deletes it by hand before running this again.
        """
        written = 0
        with self._lock:
            # Every stored entry, checked or not: a hint is only ever a hint (checked on use), and
            # following the whole log here would re-check every signature for nothing.
            size = self.size()
            present = self._hinted()
            for index, data in enumerate(self.leaves(0, size)):
                if index in present:
                    continue
                digest = statement_hash(parse_leaf(data).envelope.payload)
                if self.recorder.select_events(statement_hint_id(digest), limit=1):
                    continue  # a hint stored for this statement points elsewhere: the audit names it
                hint = StatementHint(statement_hash=digest, index=index)
                processing = ProcessingEvent()
                processing.events.extend(hint.collect_events())
                processing.aggregates[hint.id] = hint
                self._record(processing)
                written += 1
        return written

    def _hinted(self, page: int = 1000) -> set[int]:
        """The indexes that stored hints point at (one pass over the hint events)."""
        import json

        present: set[int] = set()
        for found in pages(self.recorder, page=page, topics=[HINT_TOPIC]):
            for notification in found:
                try:
                    present.add(int(json.loads(notification.state)["index"]))
                except (ValueError, KeyError, TypeError):
                    pass
        return present

    def _save_entry(self, entry: LogEntryRecorded, hint: StatementHint | None) -> None:
        """``save()`` without its per-object protocol checks: the same single transaction.

        ``Application.save`` tells events from aggregates with runtime ``Protocol`` checks that
        cost ~30 µs per object; here the kinds are known. Snapshotting is off for this app and
        nothing listens to ``notify``, so recording is all that ``save`` would do.
        """
        processing = ProcessingEvent()
        processing.events.append(entry)
        if hint is not None:
            processing.events.extend(hint.collect_events())
            processing.aggregates[hint.id] = hint
        self._record(processing)

    # --- queries ----------------------------------------------------------------

    def size(self) -> int:
        """The number of stored log entries (checked or not; see :meth:`follow`)."""
        last = self.statement_log.get_last()
        return 0 if last is None else last.originator_version

    def leaves(self, start: int = 0, stop: int | None = None, page: int = 1000) -> Iterator[bytes]:
        """Leaf bytes for indexes ``start <= i < stop`` in log order."""
        position = start
        while stop is None or position < stop:
            limit = page if stop is None else min(page, stop - position)
            batch = list(self.statement_log.get(gt=position, lte=position + limit))
            for entry in batch:
                yield entry.leaf.encode("ascii")
            if len(batch) < limit:
                return
            position += limit

    def leaf(self, index: int) -> bytes | None:
        """One leaf by index, or None."""
        for entry in self.statement_log.get(gt=index, lte=index + 1):
            return entry.leaf.encode("ascii")
        return None

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        """The current aggregate with that id in the checked state, or None (treat it as read-only)."""
        with self._lock:
            self.follow()
            return self.ledger.state.get(aggregate_id)

    def find(self, digest: str, keyid: str | None = None) -> Recorded | None:
        """The record of a statement already in the log, by its statement hash (and signer key id)."""
        with self._lock:
            self.follow()
            return self._find(digest, keyid)

    # --- internals --------------------------------------------------------------

    def _duplicate(self, refusal: RegistryError, digest: str, env: envelope.Envelope) -> Recorded | None:
        """For a refused statement: the record it duplicates, if it is already in the log."""
        if isinstance(refusal, DuplicateStatementError):
            found = self._record_at(refusal.index, digest, env.keyid)
            if found is not None:
                return found
        if isinstance(refusal, MalformedError | StorageUnavailableError | LogHaltedError):
            return None
        return self._find(digest, env.keyid)

    def _find(self, digest: str, keyid: str | None) -> Recorded | None:
        try:
            # One indexed read of the hint's only event; cheaper than rebuilding the aggregate.
            stored = self.recorder.select_events(statement_hint_id(digest), limit=1)
        except OperationalError as e:
            raise StorageUnavailableError(f"the event store failed: {e}") from None
        if not stored:
            return None
        try:
            hint = self.mapper.to_domain_event(stored[0])
            index = int(hint.index)  # type: ignore[attr-defined]
        except (AttributeError, TypeError, ValueError):
            return None
        return self._record_at(index, digest, keyid)

    def _record_at(self, index: int, digest: str, keyid: str | None) -> Recorded | None:
        """The record at ``index`` if it holds this statement and the ledger has checked it; else None."""
        if not 0 <= index < self.ledger.size:
            return None
        raw = self.leaf(index)
        if raw is None:
            return None
        try:
            parsed = parse_leaf(raw)
        except RegistryError:
            return None
        if statement_hash(parsed.envelope.payload) != digest:
            return None  # a hint that points at another entry is no answer
        if keyid is not None and parsed.envelope.keyid != keyid:
            raise DuplicateStatementError(f"this statement is already recorded at leaf {index}, signed by another key",
                                          index)
        type_ = parsed.envelope.statement()["type"]
        return Recorded(index, parsed.envelope.hash, parsed.recorded_at, type_, duplicate=True,
                        statement_hash=digest)

    def _check_window(self, stmt: dict[str, Any], moment: datetime) -> None:
        signed = statements.parse_timestamp(stmt["signed_at"])
        if signed < moment - timedelta(seconds=self.signed_at_past):
            raise StaleStatementError(
                f"signed_at {stmt['signed_at']} is more than {self.signed_at_past} s before now; sign it again"
            )
        if signed > moment + timedelta(seconds=self.signed_at_future):
            raise StaleStatementError(f"signed_at {stmt['signed_at']} is in the future")

    def _check_origin(self) -> None:
        first = self.leaf(0)
        if first is None:
            return
        try:
            genesis = parse_leaf(first).envelope.statement()
        except RegistryError:
            return  # a broken first entry halts the ledger, which says so
        if genesis.get("registry") != self.origin:
            raise ConfigurationError(
                f"this store belongs to registry {genesis.get('registry')!r}, not {self.origin!r}"
            )


def open_registry(settings: Any, *, workers: int = 1, anchor: AnchorSource | None = None) -> Registry:
    """The application for a :class:`registry.config.Settings`, anchored at its newest signed snapshot
    (or where ``anchor`` says: a state its caller verified itself, such as a monitor's)."""
    from registry.config import eventsourcing_env
    from registry.sqlstore import open_with_retry
    from registry.transparency import anchor_source

    return open_with_retry(lambda: Registry(
        eventsourcing_env(settings),
        origin=settings.origin,
        signed_at_window=(settings.signed_at_past, settings.signed_at_future),
        anchor=anchor or anchor_source(settings),
        workers=workers,
        read_only=getattr(settings, "mirror", False),
    ))
