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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from registry import canonical, config
from registry.application import Registry
from registry.domain import Code, Endorsement, Key, Maintainers, Organization
from registry.errors import CatchUpError, NotFoundError
from registry.follow import next_leaves
from registry.sqlstore import PostgresDialect, SQLiteDialect, cols, open_tracking_store, sidecar_path
from registry.state import STATE_FORMAT, Applied, RegistryState, describe

UPSTREAM = "registry"
LATEST = "latest"  # view_entities kind of the entities' ordering marks
MAX_TRIES = 50  # catch-up rounds that may lose races or meet a moved position before giving up
SNAPSHOT_EVERY = 1000
BATCH = 500
_log = logging.getLogger(__name__)
_KINDS = {Maintainers: "registry", Key: "key", Code: "code", Organization: "organization", Endorsement: "endorsement"}


@dataclass(frozen=True)
class EventRow:
    index: int
    type: str
    org: str | None
    code: str | None
    version: str | None
    attested: bool
    recorded_at: str
    doc: bytes


class ViewStoreMixin:
    """The read-model tables (dialect from a mixin)."""

    datastore: Any
    blob_type: str
    _q: Any
    _insert_tracking: Any

    def _create_statements(self) -> list[str]:
        b = self.blob_type
        return [self._q(s) for s in (
            f"CREATE TABLE IF NOT EXISTS {{t}}view_events (idx BIGINT PRIMARY KEY, type TEXT NOT NULL, org TEXT, "
            f"code TEXT, version TEXT, attested INTEGER NOT NULL, recorded_at TEXT NOT NULL, doc {b} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS view_events_org ON {t}view_events (org, idx)",
            "CREATE INDEX IF NOT EXISTS view_events_code ON {t}view_events (code, idx)",
            "CREATE INDEX IF NOT EXISTS view_events_type ON {t}view_events (type, idx)",
            "CREATE INDEX IF NOT EXISTS view_events_time ON {t}view_events (recorded_at)",
            f"CREATE TABLE IF NOT EXISTS {{t}}view_entities (kind TEXT NOT NULL, name TEXT NOT NULL, "
            f"doc {b} NOT NULL, PRIMARY KEY (kind, name))",
            "CREATE TABLE IF NOT EXISTS {t}view_head (id INTEGER PRIMARY KEY, size BIGINT NOT NULL, "
            "origin TEXT, writes BIGINT NOT NULL)",
            # Only into empty read models: a head row deleted later stays missing (the audit names it).
            "INSERT INTO {t}view_head (id, size, origin, writes) SELECT 1, 0, NULL, 0 "
            "WHERE NOT EXISTS (SELECT 1 FROM {t}view_events) ON CONFLICT (id) DO NOTHING",
            f"CREATE TABLE IF NOT EXISTS {{t}}view_snapshots (size BIGINT PRIMARY KEY, hash TEXT NOT NULL, "
            f"doc {b} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {{t}}feed_pages (path TEXT NOT NULL, etag TEXT NOT NULL, body {b} NOT NULL, "
            f"updated TEXT NOT NULL, PRIMARY KEY (path, etag))",
        )]

    # --- rendered immutable feed pages (archives), shared by every web process --------

    def feed_page(self, path: str, etag: str) -> tuple[bytes, str] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT body, updated FROM {t}feed_pages WHERE path = %s AND etag = %s"), (path, etag))
            row = c.fetchone()
        if row is None:
            return None
        body, updated = cols(row)
        return bytes(body), str(updated)

    def head_rows(self) -> list[tuple[int, int, str | None]]:
        """Every ``view_head`` row as (id, size, origin), for the audit."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT id, size, origin FROM {t}view_head ORDER BY id"))
            return [(int(i), int(n), o) for i, n, o in map(cols, c.fetchall())]

    def tracking_rows(self) -> list[tuple[str, int]]:
        """Every row of the read models' tracking table as (application name, notification id)."""
        from registry.logstore import tracking_rows

        return tracking_rows(self)

    def feed_pages(self) -> list[tuple[str, str, bytes, str]]:
        """Every stored feed page as (path, etag, body, updated), for the audit."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT path, etag, body, updated FROM {t}feed_pages ORDER BY path, etag"))
            return [(str(p), str(e), bytes(b), str(u)) for p, e, b, u in map(cols, c.fetchall())]

    def forget_feed_pages(self) -> None:
        """Drop every stored rendering (they are a cache; the next reader renders again)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q("DELETE FROM {t}feed_pages"))

    def put_feed_page(self, path: str, etag: str, body: bytes, updated: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q("INSERT INTO {t}feed_pages (path, etag, body, updated) VALUES (%s, %s, %s, %s) "
                              "ON CONFLICT (path, etag) DO NOTHING"), (path, etag, body, updated))

    # --- reading ------------------------------------------------------------------

    def is_outdated(self) -> bool:
        """Whether the stored event documents are of an older form (without ``leaf_sha256``)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT doc FROM {t}view_events ORDER BY idx LIMIT 1"))
            row = c.fetchone()
        return row is not None and b'"leaf_sha256":' not in bytes(cols(row)[0])

    def head(self) -> tuple[int, str | None]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size, origin FROM {t}view_head WHERE id = 1"))
            row = c.fetchone()
        if row is None:
            return 0, None
        size, origin = cols(row)
        return int(size), origin

    def entities(self) -> list[tuple[str, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT kind, doc FROM {t}view_entities ORDER BY kind, name"))
            return [(kind, bytes(doc)) for kind, doc in map(cols, c.fetchall())]

    def events(self, *, after: int = -1, before: int | None = None, limit: int = 50, descending: bool = False,
               org: str | None = None, code: str | None = None, types: Sequence[str] = ()) -> list[bytes]:
        where, args = ["idx > %s"], [after]
        if before is not None:
            where.append("idx < %s")
            args.append(before)
        for column, value in (("org", org), ("code", code)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(value)
        if types:
            where.append("type IN (" + ", ".join(["%s"] * len(types)) + ")")
            args.extend(types)
        order = "DESC" if descending else "ASC"
        sql = f"SELECT doc FROM {{t}}view_events WHERE {' AND '.join(where)} ORDER BY idx {order} LIMIT %s"  # noqa: S608
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q(sql), [*args, limit])
            return [bytes(cols(r)[0]) for r in c.fetchall()]

    def event_rows(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Raw ``view_events`` rows (every column) with ``idx > after``, in order (for the audit)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT idx, type, org, code, version, attested, recorded_at, doc FROM {t}view_events "
                              "WHERE idx > %s ORDER BY idx LIMIT %s"), (after, limit))
            return [(int(i), t, o, cd, v, int(a), r, bytes(d)) for i, t, o, cd, v, a, r, d in map(cols, c.fetchall())]

    def entity_rows(self) -> list[tuple[str, str, bytes]]:
        """Every ``view_entities`` row as (kind, name, doc)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT kind, name, doc FROM {t}view_entities ORDER BY kind, name"))
            return [(str(k), str(n), bytes(d)) for k, n, d in map(cols, c.fetchall())]

    def snapshot_rows(self) -> list[tuple[int, str, bytes]]:
        """Every ``view_snapshots`` row as (size, hash, compressed doc)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size, hash, doc FROM {t}view_snapshots ORDER BY size"))
            return [(int(s), str(h), bytes(d)) for s, h, d in map(cols, c.fetchall())]

    def size_until(self, moment: str) -> int:
        """The number of leaves before the first one recorded after ``moment``."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT MIN(idx) FROM {t}view_events WHERE recorded_at > %s"), (moment,))
            first_after = cols(c.fetchone())[0]
        return self.head()[0] if first_after is None else int(first_after)

    def counts_by_month(self) -> list[tuple[str, str, int]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT substr(recorded_at, 1, 7) AS month, type, COUNT(*) FROM {t}view_events "
                              "GROUP BY substr(recorded_at, 1, 7), type ORDER BY 1, 2"))
            return [(str(m), str(t), int(n)) for m, t, n in map(cols, c.fetchall())]

    def snapshot_at_or_before(self, size: int) -> tuple[int, bytes] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT size, doc FROM {t}view_snapshots WHERE size <= %s ORDER BY size DESC LIMIT 1"),
                      (size,))
            row = c.fetchone()
        if row is None:
            return None
        found, doc = cols(row)
        return int(found), zlib.decompress(bytes(doc))

    def tracking_position(self) -> int:
        return self.max_tracking_id(UPSTREAM) or 0  # type: ignore[attr-defined]

    # --- writing ------------------------------------------------------------------

    def write(self, expected_size: int, origin: str | None, rows: list[EventRow],
              entities: dict[tuple[str, str], bytes], snapshots: list[tuple[int, str, bytes]],
              tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._q("UPDATE {t}view_head SET writes = writes + 1 WHERE id = 1"))  # serializes writers
            c.execute(self._q("SELECT size FROM {t}view_head WHERE id = 1"))
            row = c.fetchone()
            if row is None:
                raise CatchUpError("the read models' head row is missing: run registry rebuild")
            if int(cols(row)[0]) != expected_size:
                raise IntegrityError("the read models moved on meanwhile")
            c.executemany(self._q(
                "INSERT INTO {t}view_events (idx, type, org, code, version, attested, recorded_at, doc) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            ), [(r.index, r.type, r.org, r.code, r.version, int(r.attested), r.recorded_at, r.doc) for r in rows])
            c.executemany(self._q(
                "INSERT INTO {t}view_entities (kind, name, doc) VALUES (%s, %s, %s) "
                "ON CONFLICT (kind, name) DO UPDATE SET doc = excluded.doc"
            ), [(kind, name, doc) for (kind, name), doc in sorted(entities.items())])
            if snapshots:
                c.executemany(self._q("INSERT INTO {t}view_snapshots (size, hash, doc) VALUES (%s, %s, %s)"),
                              snapshots)
            c.execute(self._q("UPDATE {t}view_head SET size = %s, origin = %s WHERE id = 1"),
                      (expected_size + len(rows), origin))
            self._insert_tracking(c, tracking)

    def clear(self) -> None:
        """Empty every read model (a rebuild starts from here)."""
        with self.datastore.transaction(commit=True) as c:
            for table in ("view_events", "view_entities", "view_snapshots"):
                c.execute(self._q(f"DELETE FROM {{t}}{table}"))  # noqa: S608 - fixed names
            c.execute(self._q("DELETE FROM {t}view_head"))
            c.execute(self._q("INSERT INTO {t}view_head (id, size, origin, writes) VALUES (1, 0, NULL, 0)"))
            c.execute(self._q(self._tracking_reset_sql()), (UPSTREAM,))

    def _tracking_reset_sql(self) -> str:
        raise NotImplementedError


class SQLiteViewStore(ViewStoreMixin, SQLiteDialect, SQLiteTrackingRecorder):
    def _tracking_reset_sql(self) -> str:
        return "DELETE FROM tracking WHERE application_name = %s"


class PostgresViewStore(ViewStoreMixin, PostgresDialect, PostgresTrackingRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._register_create_statements()

    def _tracking_reset_sql(self) -> str:
        return f'DELETE FROM {{t}}"{self.tracking_table_name}" WHERE application_name = %s'  # noqa: S608


def views_database_path(settings: config.Settings) -> str:
    """The SQLite file of the read models, beside the event store."""
    return str(sidecar_path(settings, "views"))


def open_view_store(settings: config.Settings) -> ViewStoreMixin:
    store: ViewStoreMixin = open_tracking_store(settings, "views", SQLiteViewStore, PostgresViewStore)
    return store


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
            if self._view is None or self._view.size != state.size or self._view.doc["origin"] != state.origin:
                self._view = StateView.of(state)
            return self._view

    def organization(self, slug: str) -> dict[str, Any] | None:
        return self.current().organizations.get(slug)

    def code(self, slug: str) -> dict[str, Any] | None:
        return self.current().codes.get(slug)

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

