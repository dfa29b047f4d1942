"""Reading a registry's stores for the audit: the raw event store, the stored tree, every table.

What it does: :func:`audit_data` opens a data directory's event store, log
store and read-model store and runs :class:`registry.audit.Auditor` over
every row they hold: :func:`stored_entries` streams the log entries (and,
for the row checks, every other event row) through the one reader and
decoder of ``registry.follow``; :class:`StoredTiles` gives the auditor the
stored tile rows. The auditor itself is pure and lives in ``registry.audit``.

What it does not do: repair anything, or check the feed pages (the command
line adds those, rendered with ``feeds/``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from eventsourcing.application import Application

from registry import config
from registry.application import HINT_TOPIC, LOG_ID, LogEntryRecorded
from registry.audit import PAGE, PARALLEL_FROM, PROGRESS_EVERY, Auditor, Entry, Progress
from registry.evidence import EvidenceCheck, open_evidence_store
from registry.findings import AuditResult, Finding, Findings
from registry.follow import entry_of, pages
from registry.logstore import (
    UPSTREAM,
    LogStoreMixin,
)
from registry.rows import (
    HintCheck,
    HintRow,
    LogTablesCheck,
    RowCheck,
    TrackingCheck,
    ViewCheck,
    ViewTablesCheck,
    parse_hint,
)
from registry.signednote import NoteVerifier
from registry.transparency import open_log_store


class _EventStore(Application):
    """The registry's event store, opened without the application's start-up reads (which parse leaf 0)."""

    name = "registry"


def open_event_store(settings: config.Settings) -> Application:
    """The raw event store of a registry (same tables as :class:`registry.application.Registry`)."""
    return _EventStore(config.eventsourcing_env(settings))


def stored_entries(recorder: Any, page: int = PAGE, hints: HintCheck | None = None,
                   strays: list[Finding] | None = None) -> Iterator[Entry]:
    """Every log entry event in notification order, as an :class:`Entry`.

    With ``hints``, every row of the event store is read: statement hints go to that check, and any
    other row (neither a log entry nor derived from one) is added to ``strays``.
    """
    topics = [LogEntryRecorded.TOPIC] if hints is None else None
    table = getattr(recorder, "events_table_name", "events")
    for found in pages(recorder, page=page, topics=topics):
        for notification in found:
            if notification.topic == LogEntryRecorded.TOPIC:
                yield _entry(notification)
            elif hints is not None and notification.topic == HINT_TOPIC:
                digest, index = parse_hint(bytes(notification.state))
                hints.hint(HintRow(notification.id, str(notification.originator_id),
                                   int(notification.originator_version), digest, index))
            elif strays is not None:
                strays.append(Finding(None, "derived row", f"a row that is neither a log entry nor derived from "
                                      f"one (topic {notification.topic!r})", table,
                                      f"notification {notification.id} ({notification.originator_id} "
                                      f"v{notification.originator_version})"))


def _entry(notification: Any) -> Entry:
    state = bytes(notification.state)
    try:
        leaf, envelope_hash = entry_of(state)
    except ValueError:
        return Entry(notification.originator_version, state, None, "the stored event is not a readable log entry")
    problem = None
    if notification.originator_id != LOG_ID:
        problem = f"a log entry event outside the statement log (originator {notification.originator_id})"
    return Entry(notification.originator_version, leaf, str(envelope_hash), problem,
                 getattr(notification, "id", None))


def _leaf_by_version(recorder: Any, version: int) -> bytes | None:
    for stored in recorder.select_events(LOG_ID, gt=version - 1, lte=version):
        return _entry(stored).leaf
    return None


def _last_version(recorder: Any) -> int:
    last = recorder.select_events(LOG_ID, desc=True, limit=1)
    return int(last[0].originator_version) if last else 0


class StoredTiles:
    """:class:`TileRows` over a log store's ``log_tiles`` table (raw rows, with their interior levels)."""

    def __init__(self, store: LogStoreMixin) -> None:
        self.store = store

    def row(self, level: int, index: int) -> bytes | None:
        return self.store.tile_row(level, index)

    def keys(self) -> list[tuple[int, int]]:
        return self.store.tile_keys()

    def head_size(self) -> int:
        return self.store.size()


def audit_store(recorder: Any, store: LogStoreMixin, log_verifier: NoteVerifier, *, workers: int = 2,
                parallel_from: int = PARALLEL_FROM, progress: Progress | None = None,
                progress_every: int = PROGRESS_EVERY, page: int = PAGE, views: Any = None) -> AuditResult:
    """Audit an event store (its application recorder), the log store projected from it and, given a
    view store, the read models: every stored row, each against what the fold of the log derives."""
    # What was published is read before the entries, so that the entries read next cover it.
    events_table = str(getattr(recorder, "events_table_name", "events"))
    hints = HintCheck(events_table)
    head = store.head()
    derived: list[RowCheck] = [hints, TrackingCheck(_tracking_table(store), "log", store.tracking_position(),
                                                    head[0]), LogTablesCheck(store, UPSTREAM)]
    archived = EvidenceCheck(open_evidence_store(store))
    derived.append(archived)
    if views is not None:
        derived += [ViewCheck(views), TrackingCheck(_tracking_table(views), "read models", views.tracking_position(),
                                                    views.head()[0]), ViewTablesCheck(views, UPSTREAM)]
    strays: list[Finding] = []
    auditor = Auditor(
        log_verifier=log_verifier, head=head, checkpoints=store.checkpoints(),
        snapshot_sizes=store.snapshot_sizes(), load_snapshot=store.snapshot, tiles=StoredTiles(store),
        proof_reader=store.read, leaf_at=lambda index: _leaf_by_version(recorder, index + 1),
        total=_last_version(recorder), workers=workers, parallel_from=parallel_from,
        progress=progress, progress_every=progress_every, derived=derived, tables={"events": events_table},
    )
    result = auditor.run(stored_entries(recorder, page, hints, strays))
    strays += [Finding(None, "archived document", problem, "evidence_documents", f"sha256 {sha256}")
               for sha256, problem in archived.check()]
    result = dataclasses.replace(result, missing_evidence=archived.missing)
    if not strays:
        return result
    findings = Findings(events_table=events_table)
    for found in [*result.findings, *strays]:
        findings.add(found.index, found.what, found.detail, found.table, found.row)
    return dataclasses.replace(result, findings=findings.sorted(),
                               suppressed=result.suppressed + findings.suppressed)


def _tracking_table(store: Any) -> str:
    return str(getattr(store, "tracking_table_name", "tracking"))


def audit_data(settings: config.Settings, log_verifier: NoteVerifier, **options: Any) -> AuditResult:
    """Open a registry's raw stores (events, log, read models), audit them and close them."""
    from registry.views import open_view_store

    events = open_event_store(settings)
    store = open_log_store(settings)
    views = open_view_store(settings)
    try:
        return audit_store(events.recorder, store, log_verifier, views=views, **options)
    finally:
        views.datastore.close()
        store.datastore.close()
        events.close()
