"""Read models: caches of the state fold, kept current by exactly-once catch-up.

For every log entry the catch-up applies the leaf to the in-memory
:class:`RegistryState` (the same fold as replay and audit) and writes, in one
transaction with the tracking record: one ``view_events`` row (what happened,
for timelines, feeds and the log explorer), the current form of every entity
the leaf changed (``view_entities``), the new head, and every ``K`` leaves a
state snapshot (``view_snapshots``) from which point-in-time replays start.

Rebuilding from scratch and catching up incrementally write the same bytes:
rows hold RFC 8785 documents and nothing depends on when the work was done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, Tracking

from registry import canonical, config, keyprovenance
from registry.application import Registry
from registry.domain import Code, Endorsement, Key, Maintainers, Organization
from registry.errors import CatchUpError, NotFoundError
from registry.follow import next_leaves
from registry.stances import STANCE_TYPES, StanceBook
from registry.state import STATE_FORMAT, Applied, RegistryState, describe
from registry.viewstore import (  # noqa: F401 - the store's names, re-exported
    UPSTREAM,
    EventRow,
    PostgresViewStore,
    SQLiteViewStore,
    ViewStoreMixin,
    open_view_store,
    views_database_path,
)

LATEST = "latest"  # view_entities kind of the entities' ordering marks
MAX_TRIES = 50  # catch-up rounds that may lose races or meet a moved position before giving up
SNAPSHOT_EVERY = 1000
BATCH = 500
_log = logging.getLogger(__name__)
_KINDS = {Maintainers: "registry", Key: "key", Code: "code", Organization: "organization", Endorsement: "endorsement"}


# --- the projection -----------------------------------------------------------------


def event_document(applied: Applied, index: int) -> dict[str, Any]:
    """What one log entry did, as the read models and feeds show it."""
    if not applied.leaf_sha256:
        raise ValueError("an event document needs the digest of the leaf bytes (RegistryState.apply gives it)")
    stmt = applied.statement
    version = stmt.get("version")
    if version is None:
        for aggregate in applied.changed:
            if isinstance(aggregate, Endorsement):
                version = aggregate.code_version
    leaf = applied.leaf
    return {
        "index": index,
        "type": stmt["type"],
        "org": stmt.get("org"),
        "code": stmt.get("code"),
        "version": version,
        "attested": applied.signer.role != "organization",
        "signer": applied.signer.key_id,
        "signer_role": applied.signer.role,
        "recorded_at": leaf.recorded_at,
        "signed_at": stmt["signed_at"],
        "envelope_hash": leaf.envelope.hash,
        # Stored here so a feed names the entry without reading the leaf back from the event store.
        "leaf_sha256": applied.leaf_sha256,
        "statement": stmt,
    }


def event_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    """The ``view_events`` row of an event document, column by column."""
    return (doc["index"], doc["type"], doc["org"], doc["code"], doc["version"], int(doc["attested"]),
            doc["recorded_at"], canonical.dumps(doc))


def entity_key(aggregate: Any) -> tuple[str, str]:
    kind = _KINDS[type(aggregate)]
    name = {
        "registry": lambda a: "registry",
        "key": lambda a: a.key_id,
        "code": lambda a: a.code,
        "organization": lambda a: a.org,
        "endorsement": lambda a: f"{a.org}/{a.code}",
    }[kind](aggregate)
    return kind, name


def state_from_entities(entities: list[tuple[str, bytes]], size: int, origin: str | None) -> RegistryState:
    docs: dict[str, list[Any]] = {kind: [] for kind in (*_KINDS.values(), LATEST)}
    for kind, doc in entities:
        docs[kind].append(json.loads(doc))
    return RegistryState.from_json({
        "format": STATE_FORMAT, "origin": origin, "size": size,
        "registry": docs["registry"][0] if docs["registry"] else None,
        "keys": docs["key"], "codes": docs["code"], "organizations": docs["organization"],
        "endorsements": docs["endorsement"], "latest_signed": docs[LATEST],
    })


def latest_document(state: RegistryState, aggregate: Any) -> dict[str, Any]:
    """The ordering mark of one entity (see ``registry.state``) as the read models keep it."""
    mark = state.latest[aggregate.id]
    return {"entity": describe(aggregate), "signed_at": mark.signed_at,
            "statements": dict(sorted(mark.statements.items()))}


@dataclass(frozen=True)
class StateView:
    """The state after ``size`` leaves as plain JSON values, indexed by slug and key id.

    Made once per read-model size and shared by every caller until the size changes: callers read
    it, never change it, and need no lock (the live :class:`RegistryState` stays in this module).
    """

    size: int
    doc: dict[str, Any]  # RegistryState.to_json()
    canonical: bytes  # the same, as RFC 8785 bytes
    organizations: dict[str, dict[str, Any]]
    codes: dict[str, dict[str, Any]]
    keys: dict[str, dict[str, Any]]
    endorsements_of: dict[str, list[dict[str, Any]]]  # by organization slug, in state order

    @classmethod
    def of(cls, state: RegistryState) -> StateView:
        doc = state.to_json()
        by_org: dict[str, list[dict[str, Any]]] = {}
        for e in doc["endorsements"]:
            by_org.setdefault(e["org"], []).append(e)
        return cls(state.size, doc, canonical.dumps(doc), {o["org"]: o for o in doc["organizations"]},
                   {c["code"]: c for c in doc["codes"]}, {k["key_id"]: k for k in doc["keys"]}, by_org)


class ReadModels:
    """Catch-up, rebuild and queries over the read-model store.

    The read models never run ahead of the log: they take only entries below ``bound()``, the
    transparency log's integrated size when a log is given (else the registry's checked size).
    """

    def __init__(self, registry: Registry, store: ViewStoreMixin, *, snapshot_every: int = SNAPSHOT_EVERY,
                 bound: Callable[[], int] | None = None) -> None:
        self.registry = registry
        self.store = store
        self.snapshot_every = snapshot_every
        self.bound = bound or registry.follow
        self._state: RegistryState | None = None
        # Catch-up applies leaves to the cached state in place. Threads sharing these read models (a
        # threaded web worker) hold this lock to catch up, and while they use what state() returned.
        self.lock = threading.RLock()
        self._format_checked = False
        self._view: StateView | None = None
        self._book = StanceBook()

    def _current_state(self) -> RegistryState:
        size, origin = self.store.head()
        if self._state is None or self._state.size != size:
            self._state = state_from_entities(self.store.entities(), size, origin)
        return self._state

    def catch_up(self, *, batch: int = BATCH) -> int:
        """Apply every integrated leaf not yet in the read models; return their size."""
        with self.lock:
            if not self._format_checked:
                self._format_checked = True
                if self.store.is_outdated():
                    # Read models written by an older release lack a field the feeds now read: they
                    # are caches of the log, so they are rebuilt (once, here) rather than patched.
                    _log.warning("the read models predate leaf digests in event documents: rebuilding them")
                    return self.rebuild()
            return self._catch_up(batch, self.bound())

    def _catch_up(self, batch: int, upto: int) -> int:
        failures = 0
        while failures < MAX_TRIES:
            state = self._current_state()
            if state.size >= upto:
                return state.size
            found, _ = next_leaves(self.registry.recorder, self.store.tracking_position(), state.size,
                                   min(batch, upto - state.size))
            if not found:
                # The head, the tracking position and the entries disagree (or another process wrote
                # between our reads): read all three again, a bounded number of times in a row.
                failures += 1
                self._state = None
                time.sleep(random.uniform(0, 0.002))
                continue
            rows, snapshots = [], []
            changed: dict[tuple[str, str], Any] = {}  # the newest form of each entity the batch changed
            for stored in found:
                applied = state.apply(stored.leaf)
                row = event_row(event_document(applied, stored.index))
                rows.append(EventRow(*row[:5], bool(row[5]), *row[6:]))
                for aggregate in applied.changed:
                    changed[entity_key(aggregate)] = aggregate
                if state.size % self.snapshot_every == 0:
                    snapshot = state.canonical()
                    snapshots.append((state.size, hashlib.sha256(snapshot).hexdigest(), zlib.compress(snapshot, 6)))
            # Each entity is written once per batch, as it stands at the batch's end (later leaves replace
            # an aggregate rather than change it, so the last one seen is the newest).
            entities: dict[tuple[str, str], bytes] = {}
            for key, aggregate in changed.items():
                entities[key] = canonical.dumps(aggregate.to_state())
                entities[(LATEST, describe(aggregate))] = canonical.dumps(latest_document(state, aggregate))
            try:
                self.store.write(found[0].index, state.origin, rows, entities, snapshots,
                                 Tracking(UPSTREAM, found[-1].notification_id))
                failures = 0
                continue  # the cached state is the new head's: go on from it
            except (IntegrityError, OperationalError):
                failures += 1  # someone else wrote first: reload and continue
            self._state = None
        raise CatchUpError(f"the read models made no progress in {MAX_TRIES} tries in a row (at size "
                           f"{self.store.head()[0]}; tracking position {self.store.tracking_position()})")

    def rebuild(self) -> int:
        """Drop every read model and build them again from the log."""
        with self.lock:
            self.store.clear()
            self._state = None
            return self._catch_up(BATCH, self.bound())

    # --- queries -------------------------------------------------------------------

    def state(self) -> RegistryState:
        """The current state: a live object, which another thread's catch-up may change; see :attr:`lock`."""
        with self.lock:
            return self._current_state()

    def current(self) -> StateView:
        """The current state as plain values (see :class:`StateView`), made once per size."""
        with self.lock:
            state = self._current_state()
            if self._view is None or self._view.size != state.size:
                self._view = StateView.of(state)
            return self._view

    def stances(self) -> StanceBook:
        """Every organization's stance on every Code, and its history, as of the read models' head.

        Folded once, then extended with the newer entries only; the book returned is never changed.
        """
        with self.lock:
            size = self.store.head()[0]
            book = self._book
            if book.size < size:
                docs = self._stance_docs(book.size, size)
                self._book = book = book.extended(docs, size)
            return book

    def _stance_docs(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        after = start - 1
        while batch := self.events(types=STANCE_TYPES, after=after, before=stop, limit=1000):
            yield from batch
            after = batch[-1]["index"]

    def organization(self, slug: str) -> dict[str, Any] | None:
        return self.current().organizations.get(slug)

    def code(self, slug: str) -> dict[str, Any] | None:
        return self.current().codes.get(slug)

    def key_provenance(self, org: str, key_ids: list[str]) -> dict[str, keyprovenance.KeyProvenance]:
        """How each of an organization's keys was proved, from the records that added them."""
        docs, after = [], -1
        while batch := self.events(org=org, types=keyprovenance.ADDING_TYPES, after=after, limit=1000):
            docs.extend(batch)
            after = batch[-1]["index"]
        return keyprovenance.of_keys(key_ids, docs)

    def state_at(self, size: int) -> RegistryState:
        """The state after ``size`` leaves: from the nearest snapshot, then the fold."""
        current = self.store.head()[0]
        if not 0 <= size <= current:
            raise NotFoundError(f"the read models hold {current} leaves; no state at size {size}")
        found = self.store.snapshot_at_or_before(size)
        state = RegistryState() if found is None else RegistryState.from_json(json.loads(found[1]))
        for leaf in self.registry.leaves(state.size, size):
            state.apply(leaf)
        return state

    def events(self, **query: Any) -> list[dict[str, Any]]:
        return [json.loads(doc) for doc in self.store.events(**query)]

    def iter_all_events(self, page: int = 1000) -> Iterator[dict[str, Any]]:
        after = -1
        while batch := self.events(after=after, limit=page):
            yield from batch
            after = batch[-1]["index"]


def open_read_models(settings: config.Settings, registry: Registry, **kwargs: Any) -> ReadModels:
    return ReadModels(registry, open_view_store(settings), **kwargs)

