"""Checks that every stored row derived from the log is exactly what the fold of the log derives.

The log entries are the record; everything else the stores hold is derived
from them and must equal what the audit's fold derives at the same position:

- the statement hints in the event store (one per entry, pointing back at it);
- the tracking positions of the log and of the read models (the notification
  of the last entry each has taken);
- the read models: one ``view_events`` row per entry, the ``view_entities``
  at the read models' head, their head and every ``view_snapshots`` row.

A row that is neither a log entry nor derived from one is a finding too.
Each check is fed by :class:`registry.audit.Auditor` as its fold moves
(:meth:`entry`, right after the entry at ``index`` was applied or refused) and
reports at the end (:meth:`finish`). Every finding names its table and row and,
where one exists, the log index. Read-model findings say that
``registry rebuild`` rebuilds them.

Not here: the log entries, the tree and what was signed (``registry.audit``).
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from registry import canonical
from registry.domain import statement_hint_id
from registry.state import Applied, RegistryState, describe

REBUILD = "rebuildable: `registry rebuild` writes it again from the log"
OPERATIONAL_TABLES = ("clock_jobs", "witness_requests")  # counters of the clock's runs and witness requests
LIBRARY_TRACKING = "__migration__"  # the clock's run counters: not derived from the log, never served as record


@dataclass(frozen=True)
class RowFinding:
    """A derived row that differs from what the log derives: its table, the row and the log index."""

    table: str
    row: str
    index: int | None
    detail: str


class RowCheck(Protocol):
    def entry(self, index: int, nid: int | None, applied: Applied | None, digest: str | None,
              state: RegistryState) -> None: ...
    def finish(self, state: RegistryState) -> list[RowFinding]: ...


# --- statement hints -------------------------------------------------------------------------


@dataclass(frozen=True)
class HintRow:
    """One stored statement hint event, as read from the event store."""

    nid: int
    originator_id: str
    version: int
    statement_hash: str | None
    index: int | None


class HintCheck:
    """Every entry has exactly one hint naming its statement hash and index; every hint belongs to one entry."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._expected: dict[int, str | None] = {}  # entries whose hint has not been read yet
        self._waiting: dict[int, list[HintRow]] = {}  # hints read before their entry
        self.findings: list[RowFinding] = []

    def hint(self, row: HintRow) -> None:
        where = f"notification {row.nid} (hint {row.originator_id} v{row.version})"
        if row.statement_hash is None or row.index is None:
            self.findings.append(RowFinding(self.table, where, None, "a statement hint that cannot be read"))
            return
        if row.originator_id != str(statement_hint_id(row.statement_hash)) or row.version != 1:
            self.findings.append(RowFinding(self.table, where, row.index,
                                            "a statement hint stored under another id or version than its hash gives"))
            return
        if row.index in self._expected:
            self._match(row, self._expected.pop(row.index))
        else:
            self._waiting.setdefault(row.index, []).append(row)

    def entry(self, index: int, nid: int | None, applied: Applied | None, digest: str | None,
              state: RegistryState) -> None:
        waiting = self._waiting.pop(index, None)
        if waiting:
            for row in waiting:
                self._match(row, digest)
        else:
            self._expected[index] = digest

    def _match(self, row: HintRow, digest: str | None) -> None:
        # A second hint for one entry names another statement (a hint's id is its statement hash, and the
        # store allows one version 1 per id), so this one comparison also finds it.
        if digest is not None and row.statement_hash != digest:
            self.findings.append(RowFinding(self.table, f"notification {row.nid} (hint of leaf {row.index})",
                                            row.index, "the hint names another statement than the entry it "
                                                       "points at"))

    def finish(self, state: RegistryState) -> list[RowFinding]:
        for index in sorted(self._expected):
            self.findings.append(RowFinding(self.table, f"hint of leaf {index}", index,
                                            f"the entry has no statement hint ({REBUILD})"))
        for index, rows in sorted(self._waiting.items()):
            for row in rows:
                self.findings.append(RowFinding(self.table, f"notification {row.nid}", index,
                                                f"a statement hint for leaf {index}, which the log does not hold"))
        return self.findings


# --- tracking positions ------------------------------------------------------------------------


class TrackingCheck:
    """A projection's tracking position is the notification id of the last entry it took."""

    def __init__(self, table: str, what: str, position: int, head_size: int) -> None:
        self.table, self.what, self.position, self.head_size = table, what, position, head_size
        self._nid: int | None = None

    def entry(self, index: int, nid: int | None, applied: Applied | None, digest: str | None,
              state: RegistryState) -> None:
        if index == self.head_size - 1:
            self._nid = nid

    def finish(self, state: RegistryState) -> list[RowFinding]:
        expected = 0 if self.head_size == 0 else self._nid
        if expected is None or self.position == expected:
            return []
        index = self.head_size - 1 if self.head_size else None
        return [RowFinding(self.table, f"tracking of {self.what}", index,
                           f"the tracking position is notification {self.position}; the {self.what} hold "
                           f"{self.head_size} entries, the last of which is notification {expected}")]


# --- read models ---------------------------------------------------------------------------------


class ViewRows(Protocol):
    def head(self) -> tuple[int, str | None]: ...
    def event_rows(self, after: int, limit: int) -> list[tuple[Any, ...]]: ...
    def entity_rows(self) -> list[tuple[str, str, bytes]]: ...
    def snapshot_rows(self) -> list[tuple[int, str, bytes]]: ...


class ViewCheck:
    """``view_events`` row by row as the fold goes; entities at the head; head; snapshots."""

    def __init__(self, rows: ViewRows, page: int = 1000) -> None:
        from registry.views import event_document, event_row

        self._event_document, self._event_row = event_document, event_row
        self.rows = rows
        self.head_size, self.origin = rows.head()
        self.page = page
        self._rows_seen = 0
        self._events = self._stream()
        self._pending: tuple[Any, ...] | None = next(self._events, None)
        self._snapshots = {size: (digest, doc) for size, digest, doc in rows.snapshot_rows()}
        self._entities_checked = False
        self.findings: list[RowFinding] = []

    def _stream(self) -> Iterator[tuple[Any, ...]]:
        after = -1
        while batch := self.rows.event_rows(after, self.page):
            self._rows_seen += len(batch)
            yield from batch
            after = int(batch[-1][0])

    def entry(self, index: int, nid: int | None, applied: Applied | None, digest: str | None,
              state: RegistryState) -> None:
        stored = self._take(index)
        if index < self.head_size:
            if stored is None:
                self._add("view_events", f"idx {index}", index, f"the read models lack this entry ({REBUILD})")
            elif applied is not None and tuple(stored) != self._event_row(self._event_document(applied, index)):
                self._add("view_events", f"idx {index}", index, f"the row differs from the entry ({REBUILD})")
        elif stored is not None:
            self._add("view_events", f"idx {index}", index,
                      f"a row beyond the read models' head (size {self.head_size})")
        size = index + 1
        if size == self.head_size:
            self._check_entities(state)
        if size in self._snapshots:
            self._check_snapshot(size, state)

    def _take(self, index: int) -> tuple[Any, ...] | None:
        while self._pending is not None and int(self._pending[0]) < index:
            # A row whose entry came earlier: the stream already passed its index (a duplicate or moved row).
            self._add("view_events", f"idx {self._pending[0]}", int(self._pending[0]), "a row out of place")
            self._pending = next(self._events, None)
        if self._pending is not None and int(self._pending[0]) == index:
            stored, self._pending = self._pending, next(self._events, None)
            return stored
        return None

    def _check_entities(self, state: RegistryState) -> None:
        self._entities_checked = True
        expected = expected_entities(state)
        changed = last_changes(state)
        stored = {(kind, name): bytes(doc) for kind, name, doc in self.rows.entity_rows()}
        for key in sorted(set(expected) | set(stored)):
            row = f"{key[0]} {key[1]}"
            index = changed.get(key)
            if key not in stored:
                self._add("view_entities", row, index, f"missing ({REBUILD})")
            elif key not in expected:
                self._add("view_entities", row, index, "a row that no entry derives")
            elif stored[key] != expected[key]:
                self._add("view_entities", row, index, f"differs from the state the entries give ({REBUILD})")
        if self.origin != state.origin:
            self._add("view_head", "id 1", None, f"origin {self.origin!r} differs from the log's {state.origin!r}")

    def _check_snapshot(self, size: int, state: RegistryState) -> None:
        digest, doc = self._snapshots.pop(size)
        expected = state.canonical()
        try:
            same = zlib.decompress(doc) == expected
        except zlib.error:
            same = False
        if not same or digest != canonical_hash(expected):
            self._add("view_snapshots", f"size {size}", size - 1,
                      f"differs from the state after entries 0..{size - 1} ({REBUILD})")

    def finish(self, state: RegistryState) -> list[RowFinding]:
        while self._pending is not None:
            index = int(self._pending[0])
            self._add("view_events", f"idx {index}", index, f"a row for an entry the log does not hold "
                                                            f"({state.size} entries)")
            self._pending = next(self._events, None)
        if self.head_size > state.size:
            self._add("view_head", "id 1", None, f"the read models' head counts {self.head_size} entries; "
                                                 f"the log holds {state.size}")
        elif self._rows_seen != self.head_size:
            self._add("view_head", "id 1", None, f"the read models' head counts {self.head_size} entries; "
                                                 f"view_events holds {self._rows_seen} rows ({REBUILD})")
        elif self.head_size == 0 and not self._entities_checked:
            self._check_entities(RegistryState(self.origin))
        for size in sorted(self._snapshots):
            self._add("view_snapshots", f"size {size}", None, "a snapshot at a size the entries never reach")
        return self.findings

    def _add(self, table: str, row: str, index: int | None, detail: str) -> None:
        self.findings.append(RowFinding(table, row, index, detail))


def expected_entities(state: RegistryState) -> dict[tuple[str, str], bytes]:
    """The ``view_entities`` rows the read models must hold for a state."""
    from registry.views import LATEST, entity_key, latest_document

    out = {}
    for aggregate in state.aggregates.values():
        out[entity_key(aggregate)] = canonical.dumps(aggregate.to_state())
        if aggregate.id in state.latest:
            out[(LATEST, describe(aggregate))] = canonical.dumps(latest_document(state, aggregate))
    return out


def canonical_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def last_changes(state: RegistryState) -> dict[tuple[str, str], int]:
    """For every entity row, the index of the latest entry that changed the entity."""
    from registry.views import LATEST, entity_key

    out = {}
    for aggregate in state.aggregates.values():
        mark = state.latest.get(aggregate.id)
        if mark is not None and mark.statements:
            out[entity_key(aggregate)] = out[(LATEST, describe(aggregate))] = max(mark.statements.values())
    return out


def parse_hint(state: bytes) -> tuple[str | None, int | None]:
    """(statement hash, index) of a stored hint event; Nones when it cannot be read."""
    try:
        doc = json.loads(state)
        digest, index = doc["statement_hash"], doc["index"]
        if isinstance(digest, str) and type(index) is int:
            return digest, index
    except (ValueError, KeyError, TypeError):
        pass
    return None, None


# --- one-row tables and the rows around them -------------------------------------------------------


class LogTablesCheck:
    """``log_head`` and ``log_published`` hold one row each, the counts match the rows, tracking is the log's own."""

    def __init__(self, store: Any, upstream: str) -> None:
        self.heads = store.head_rows()
        self.published = store.published()
        self.checkpoints = len(store.checkpoints())
        self.snapshots = len(store.snapshot_sizes())
        self.tracking = store.tracking_rows()
        self.tracking_table = str(getattr(store, "tracking_table_name", "tracking"))
        self.upstream = upstream

    def entry(self, index: int, nid: int | None, applied: Applied | None, digest: str | None,
              state: RegistryState) -> None:
        return None

    def finish(self, state: RegistryState) -> list[RowFinding]:
        found = _one_row("log_head", [r[0] for r in self.heads])
        found += _one_row("log_published", [r[0] for r in self.published])
        for _, checkpoints, snapshots in [r for r in self.published if r[0] == 1]:
            for table, counted, held in (("log_checkpoints", checkpoints, self.checkpoints),
                                         ("log_snapshots", snapshots, self.snapshots)):
                if counted != held:
                    # Either table may be the one changed: both are named.
                    detail = f"{table} holds {held} rows, but log_published counts {counted} published"
                    found.append(RowFinding(table, "all rows", None, detail + " (a row was deleted or inserted)"))
                    found.append(RowFinding("log_published", "id 1", None, detail))
        found += _foreign_tracking(self.tracking_table, self.tracking, self.upstream)
        return found


class ViewTablesCheck:
    """``view_head`` holds one row, tracking is the read models' own, snapshots come at one fixed interval."""

    def __init__(self, store: Any, upstream: str) -> None:
        self.heads = store.head_rows()
        self.tracking = store.tracking_rows()
        self.tracking_table = str(getattr(store, "tracking_table_name", "tracking"))
        self.sizes = [size for size, _, _ in store.snapshot_rows()]
        self.head_size = store.head()[0]
        self.upstream = upstream

    def entry(self, index: int, nid: int | None, applied: Applied | None, digest: str | None,
              state: RegistryState) -> None:
        return None

    def finish(self, state: RegistryState) -> list[RowFinding]:
        found = _one_row("view_head", [r[0] for r in self.heads])
        found += _foreign_tracking(self.tracking_table, self.tracking, self.upstream)
        # The read models snapshot every K entries, so the stored sizes are multiples of one K; with two
        # or more of them stored, a missing multiple below the head is a deleted row.
        if len(self.sizes) >= 2:
            interval = math.gcd(*self.sizes)
            for size in range(interval, min(self.head_size, state.size) + 1, interval):
                if size not in self.sizes:
                    found.append(RowFinding("view_snapshots", f"size {size}", size - 1,
                                            f"missing: the read models snapshot every {interval} entries ({REBUILD})"))
        return found


def _one_row(table: str, ids: list[int]) -> list[RowFinding]:
    found = [RowFinding(table, f"id {i}", None, "a row that is neither a log entry nor derived from one")
             for i in ids if i != 1]
    if 1 not in ids:
        found.append(RowFinding(table, "id 1", None, "the row is missing"))
    return found


def _foreign_tracking(table: str, rows: list[tuple[str, int]], upstream: str) -> list[RowFinding]:
    # "__migration__" is the library's own row: the schema version of its tables.
    return [RowFinding(table, f"application {name!r}", None, "a tracking row of no projection of this registry")
            for name, _ in rows if name not in (upstream, LIBRARY_TRACKING)]
