"""The read-model tables: events, entities, head, snapshots and stored feed pages, in SQL.

What it does: :class:`ViewStoreMixin` holds every statement the read models
run, for SQLite and PostgreSQL (dialects from ``registry.sqlstore``), on the
eventsourcing library's tracking recorders: a catch-up writes its rows, the
new head and the tracking record in one transaction (:meth:`ViewStoreMixin.write`),
and refuses to when another writer moved the head meanwhile. Reads return
plain bytes and tuples.

What it does not do: decide what goes in the rows (``registry.views`` folds
the log into them) or render feeds (the rendered pages are stored as given).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from registry import config
from registry.errors import CatchUpError
from registry.sqlstore import PostgresDialect, SQLiteDialect, cols, open_tracking_store, sidecar_path

UPSTREAM = "registry"  # the tracking name of the log the read models follow


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
               org: str | None = None, code: str | None = None, types: Sequence[str] = (),
               orgs: Sequence[str] | None = None) -> list[bytes]:
        """Event documents in log order (or newest first), filtered by any of the columns given.

        ``orgs`` matches any of several organizations in one query (a feed page's name lookups); an empty
        sequence matches nothing.
        """
        if orgs is not None and not orgs:
            return []
        where, args = ["idx > %s"], [after]
        if before is not None:
            where.append("idx < %s")
            args.append(before)
        for column, value in (("org", org), ("code", code)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(value)
        if orgs is not None:
            where.append("org IN (" + ", ".join(["%s"] * len(orgs)) + ")")
            args.extend(orgs)
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
