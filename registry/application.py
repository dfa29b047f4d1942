"""The Registry application: the one place that loads and saves.

``submit`` takes the bytes of a DSSE envelope and either records it or refuses
it with a typed error and nothing stored. Every accepted statement is saved in
one transaction as: the next entry of the statement log (an
``EventSourcedLog`` whose version *n* is leaf *n-1*: the unique
``(log id, version)`` key serializes all writers, across processes and hosts,
so a statement is always validated against exactly the state it lands on), a
``StatementRef`` keyed by the envelope hash (idempotency), and the events of
the aggregates it changed.

Aggregates are read through a small in-process cache. Before each submission
the application reads the log entries other processes added since it last
looked and forgets the cached aggregates those entries touched.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application, EventSourcedLog, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent, event
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, PersistenceError
from eventsourcing.utils import register_topic

from registry import envelope, rules, statements
from registry.domain import NAMESPACE, statement_ref_id
from registry.errors import (
    ConfigurationError,
    RegistryError,
    StaleStatementError,
    StorageUnavailableError,
)
from registry.leaf import format_leaf, format_time, parse_leaf

LOG_ID = uuid5(NAMESPACE, "statement-log")
CACHE_SIZE = 4096
WRITE_DEADLINE = 30.0  # seconds a submission keeps retrying a busy store before answering 503


class LogEntryRecorded(DomainEvent):
    """One accepted statement: the exact leaf bytes the transparency log hashes."""

    TOPIC = "registry:Log.EntryRecorded"
    leaf: str
    envelope_hash: str


# Aggregates register their explicit topics when defined; a free-standing event must be registered by hand.
register_topic(LogEntryRecorded.TOPIC, LogEntryRecorded)


class StatementRef(Aggregate):
    """Finds a recorded statement by the SHA-256 of its envelope."""

    TOPIC = "registry:StatementRef"

    class Created(Aggregate.Created):
        TOPIC = "registry:StatementRef.Created"

    @staticmethod
    def create_id(envelope_hash: str) -> UUID:
        return statement_ref_id(envelope_hash)

    @event("Recorded", topic="registry:StatementRef.Recorded")
    def __init__(self, envelope_hash: str, index: int) -> None:
        self.envelope_hash = envelope_hash
        self.index = index


@dataclass(frozen=True)
class Recorded:
    """What ``submit`` answers: where the statement is in the log."""

    index: int
    envelope_hash: str
    recorded_at: str
    type: str
    duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "envelope_hash": self.envelope_hash, "recorded_at": self.recorded_at,
            "type": self.type, "duplicate": self.duplicate,
        }


class Registry(Application):
    """Validates, authorizes and records signed statements."""

    name = "registry"

    def __init__(self, env: dict[str, str] | None = None, *, origin: str,
                 signed_at_window: tuple[int, int] = (3600, 300)) -> None:
        super().__init__(env)
        self.origin = origin
        self.signed_at_past, self.signed_at_future = signed_at_window
        self.statement_log: EventSourcedLog[LogEntryRecorded] = EventSourcedLog(self.events, LOG_ID, LogEntryRecorded)
        self._cache: OrderedDict[UUID, Aggregate | None] = OrderedDict()
        self._lock = threading.RLock()
        self._authoritative = True
        self._assumed: set[UUID] = set()
        self._size = self.size()
        self._check_origin()

    # --- commands ---------------------------------------------------------------

    def submit(self, data: bytes, *, now: datetime | None = None, live: bool = True) -> Recorded:
        """Record a DSSE envelope, or raise a RegistryError and store nothing."""
        try:
            return self._submit(data, now=now, live=live)
        except (OperationalError, InterfaceError) as e:
            # The store failed outside the retried write (reading the signer's key, catching up):
            # still a typed, retryable refusal, never the store's own exception.
            raise StorageUnavailableError(f"the event store failed: {e}") from None

    def _submit(self, data: bytes, *, now: datetime | None, live: bool) -> Recorded:
        env = envelope.parse(data)
        env_hash = env.hash
        stmt = statements.validate(env.statement(), origin=self.origin)
        with self._lock:
            moment = now or datetime.now(UTC)
            verified_with: bytes | None = None
            deadline = time.monotonic() + WRITE_DEADLINE
            attempt = 0
            self._authoritative = False
            while time.monotonic() < deadline:
                attempt += 1
                self._assumed.clear()
                # Optimistic: validate against the cached state at log position ``_size`` and write
                # entry ``_size``. If another writer got there first the write conflicts and we catch
                # up; a refusal is only final once checked against the newest state.
                position = rules.Position(index=self._size, recorded_at=format_time(moment))
                try:
                    if live:
                        self._check_window(stmt, moment)
                    signer = rules.resolve_signer(env.keyid, stmt, self._get)
                    if verified_with != signer.public_key:
                        envelope.verify(env, signer.public_key)
                        verified_with = signer.public_key
                    rules.authorize(stmt, signer)
                    changed = rules.execute(stmt, signer, position, self._get)
                except RegistryError:
                    self._forget(rules.affected(stmt))
                    existing = self._find(env_hash)
                    if existing is not None:
                        return existing
                    if self._catch_up() or self._assumed:
                        self._authoritative = self._authoritative or bool(self._assumed)
                        continue
                    raise
                entry = self.statement_log.trigger_event(
                    next_originator_version=position.index + 1,
                    leaf=format_leaf(env, position.recorded_at).decode("ascii"),
                    envelope_hash=env_hash,
                )
                ref = StatementRef(envelope_hash=env_hash, index=position.index)
                try:
                    self._save_events(entry, ref, changed)
                except (IntegrityError, OperationalError) as e:
                    # Another writer took this position (or held the lock), or it is a duplicate,
                    # or an aggregate assumed absent exists after all.
                    self._authoritative = self._authoritative or bool(self._assumed)
                    self._forget(rules.affected(stmt))
                    existing = self._find(env_hash)
                    if existing is not None:
                        return existing
                    self._catch_up()
                    # Jittered backoff so that racing writers stop colliding in lockstep.
                    limit = 0.05 if isinstance(e, IntegrityError) else 0.5
                    time.sleep(random.uniform(0, min(0.002 * attempt, limit)))
                    continue
                except PersistenceError as e:
                    self._forget(rules.affected(stmt))
                    raise StorageUnavailableError(f"the event store failed: {e}") from None
                self._size = position.index + 1
                for aggregate in changed:
                    self._remember(aggregate.id, aggregate)
                return Recorded(position.index, env_hash, position.recorded_at, stmt["type"])
            raise StorageUnavailableError("the event store stayed busy; try again")

    def _save_events(self, entry: LogEntryRecorded, ref: StatementRef, changed: list[Aggregate]) -> None:
        """``save()`` without its per-object protocol checks: the same single transaction.

        ``Application.save`` tells events from aggregates with runtime ``Protocol`` checks that
        cost ~30 µs per object; here the kinds are known. Snapshotting is off for this app and
        nothing listens to ``notify``, so recording is all that ``save`` would do.
        """
        processing = ProcessingEvent()
        processing.events.append(entry)
        for aggregate in (ref, *changed):
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        self._record(processing)

    # --- queries ----------------------------------------------------------------

    def size(self) -> int:
        """The number of recorded statements (the log's tree size once integrated)."""
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
        """The current aggregate with that id, or None."""
        with self._lock:
            self._catch_up()
            self._authoritative = True  # queries never assume
            return self._get(aggregate_id)

    def find(self, envelope_hash: str) -> Recorded | None:
        """The record of an envelope already submitted, by its hash."""
        with self._lock:
            return self._find(envelope_hash)

    # --- internals --------------------------------------------------------------

    def _find(self, envelope_hash: str) -> Recorded | None:
        try:
            # One indexed read of the created event; cheaper than rebuilding the aggregate.
            stored = self.recorder.select_events(statement_ref_id(envelope_hash), limit=1)
        except OperationalError as e:
            raise StorageUnavailableError(f"the event store failed: {e}") from None
        if not stored:
            return None
        ref = self.mapper.to_domain_event(stored[0])
        raw = self.leaf(ref.index)
        if raw is None:  # pragma: no cover - the two are saved in one transaction
            return None
        parsed = parse_leaf(raw)
        type_ = parsed.envelope.statement()["type"]
        return Recorded(ref.index, envelope_hash, parsed.recorded_at, type_, duplicate=True)

    def _catch_up(self) -> bool:
        """Forget cached aggregates that log entries written since ``_size`` touched; True if any."""
        moved = False
        for entry in self.statement_log.get(gt=self._size):
            stmt = parse_leaf(entry.leaf.encode("ascii")).envelope.statement()
            self._forget(rules.affected(stmt))
            self._size = entry.originator_version
            moved = True
        return moved

    def _get(self, aggregate_id: UUID) -> Aggregate | None:
        if aggregate_id in self._cache:
            self._cache.move_to_end(aggregate_id)
            return self._cache[aggregate_id]
        if not self._authoritative:
            # Optimistic first attempt: an aggregate this process has never seen is taken to be
            # absent, without a read. That is safe because every rule either refuses on absence
            # (then the attempt is repeated with real reads) or creates the aggregate, whose first
            # event conflicts in the store if it existed after all (then likewise).
            self._assumed.add(aggregate_id)
            return None
        try:
            found: Aggregate | None = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            found = None
        # Absence is cached too: only a log entry can create an aggregate, and catch-up forgets
        # every id a new entry touches, so a cached "absent" is as current as the log position.
        self._remember(aggregate_id, found)
        return found

    def _remember(self, aggregate_id: UUID, aggregate: Aggregate | None) -> None:
        self._cache[aggregate_id] = aggregate
        self._cache.move_to_end(aggregate_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _forget(self, ids: list[UUID]) -> None:
        for aggregate_id in ids:
            self._cache.pop(aggregate_id, None)

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
        genesis = parse_leaf(first).envelope.statement()
        if genesis.get("registry") != self.origin:
            raise ConfigurationError(
                f"this store belongs to registry {genesis.get('registry')!r}, not {self.origin!r}"
            )


def open_registry(settings: Any) -> Registry:
    """The application for a :class:`registry.config.Settings`."""
    from registry.config import eventsourcing_env
    from registry.sqlstore import open_with_retry

    return open_with_retry(lambda: Registry(
        eventsourcing_env(settings),
        origin=settings.origin,
        signed_at_window=(settings.signed_at_past, settings.signed_at_future),
    ))
