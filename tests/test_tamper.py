"""One row edited, deleted or inserted in every table of every store: the audit names it, nothing tampered is signed.

Every case builds a small registry (13 entries; checkpoints at 8 and 11, a
signed snapshot at 8, read models with snapshots every 4 entries, two feed
archive pages rendered and stored), tampers with one row behind the
application's back, then:

1. runs ``registry audit --json`` and finds a finding that names the table
   (and, where the row belongs to an entry, its log index);
2. runs one round of the signer in a fresh process state and checks that
   every checkpoint in the store has the root that the honest entries give at
   its size: a tampered row is never signed into a checkpoint.

A last test lists the tables the stores really hold and checks that every
one of them is covered here, except the clock's operational counters (its job
runs and its requests to witnesses).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry import canonical, jobs, keys, tlog
from registry.application import HINT_TOPIC, LogEntryRecorded
from registry.errors import RegistryError
from registry.evidence import digest, open_evidence_store
from registry.publish import publish_snapshot
from registry.transparency import log_database_path, open_log
from registry.views import open_read_models, views_database_path
from tests.conftest import PG_URL, Actor, Backend, make_world
from tests.test_audit import Raw, reworded, run_cli

TOPIC = LogEntryRecorded.TOPIC
CODE = "hiroshima-coc"
PAGE_SIZE = "5"
REPORT = b"%PDF-1.4\nAcme's 2025 report\n%%EOF\n"


@dataclass
class Story:
    backend: Backend
    raw: Raw
    roots: dict[int, bytes]  # the honest root at every size
    size: int


def build(backend: Backend) -> Story:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)
    acme = Actor()
    world.code()
    world.org("acme", acme)
    world.submit(acme.sign("endorsement.made", org="acme", code=CODE, version="2023-10-30", scope=[1, 2],
                           effective_date="2024-02-01"))
    world.submit(acme.sign("endorsement.amended", org="acme", code=CODE, scope="all", effective_date="2024-03-01"))
    world.org("beta")
    world.org("gamma")
    log = open_log(settings, registry, with_signer=True)
    publish_snapshot(log)  # checkpoint and snapshot at 8
    world.org("delta")
    world.submit(acme.sign("report.published", org="acme", code=CODE, framework="oecd-haip", period="2025",
                           url="https://example.org/acme-report",
                           evidence=[{"url": "https://example.org/acme-report", "sha256": digest(REPORT)}]))
    # The report's archived copy, beside the log.
    open_evidence_store(log.store).add(REPORT, source_url="https://example.org/acme-report",
                                       added_at="2026-01-01T00:00:00Z", max_bytes=1 << 20)
    world.org("epsilon")
    log.publish_checkpoint()  # at 11
    _cosign(backend, log, 11)  # a witness's cosignature of it, stored as the clock stores one
    world.org("zeta")
    world.org("eta")
    size = log.catch_up()
    views = open_read_models(settings, registry, snapshot_every=4, bound=log.size)
    views.catch_up()
    views.store.datastore.close()
    app = backend.app(env={"REGISTRY_FEED_PAGE_SIZE": PAGE_SIZE})
    try:
        client = app.test_client()
        for k in (0, 1):
            assert client.get(f"/feeds/events/archive/{k}.atom").status_code == 200
    finally:
        from web import close_app

        close_app(app)
    store = tlog.MemoryHashStore()
    store.extend([tlog.leaf_hash(leaf) for leaf in registry.leaves()])
    roots = {n: store.root(n) for n in range(1, size + 1)}
    log.store.datastore.close()
    registry.close()
    assert size == 13
    return Story(backend, Raw(backend), roots, size)


@pytest.fixture
def story(backend: Backend) -> Iterator[Story]:
    yield build(backend)


# --- the rows, store by store ---------------------------------------------------------------------


def _events_table(s: Story) -> str:
    return "stored_events" if s.backend.name == "sqlite" else "registry_events"


def _tracking(s: Story, store: str) -> str:
    if s.backend.name == "sqlite":
        return "tracking"
    return "{t}log_tracking" if store == "log" else "{t}views_tracking"


def _append_entry(s: Story) -> None:
    # A copy of entry 12 under the next version: a replay of a recorded statement, written by hand.
    state = s.raw.state(12)
    s.raw.append(state)


def _edit_entry(s: Story) -> None:
    state = s.raw.state(9)
    state["leaf"] = reworded(state["leaf"].encode(), b"oecd-haip", b"oecd-hack").decode()
    s.raw.set_state(9, state)


def _hint_row(s: Story, index: int) -> Any:
    for originator, state in s.raw.events("SELECT originator_id, state FROM {events} WHERE topic = %s",
                                          (HINT_TOPIC,)):
        if json.loads(bytes(state))["index"] == index:
            return originator
    raise AssertionError(f"no hint for {index}")


def _edit_hint(s: Story) -> None:
    originator = _hint_row(s, 6)
    state = json.loads(bytes(s.raw.events("SELECT state FROM {events} WHERE originator_id = %s",
                                          (originator,))[0][0]))
    state["index"] = 7
    s.raw.events("UPDATE {events} SET state = %s WHERE originator_id = %s", (json.dumps(state).encode(), originator))


def _insert_stray(s: Story) -> None:
    import uuid

    originator = uuid.uuid4().hex if s.backend.name == "sqlite" else uuid.uuid4()
    s.raw.events("INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
                 (originator, "registry:Key.Added", b'{"role":"maintainer"}'))


def _tile(s: Story) -> bytes:
    return bytes(s.raw.log("SELECT data FROM {t}log_tiles WHERE level = 0 AND idx = 0")[0][0])


def _edit_tile(s: Story) -> None:
    data = bytearray(_tile(s))
    data[3 * 32] ^= 1  # the hash of leaf 3
    s.raw.log("UPDATE {t}log_tiles SET data = %s WHERE level = 0 AND idx = 0", (bytes(data),))


def _insert_tile(s: Story) -> None:
    s.raw.log("INSERT INTO {t}log_tiles (level, idx, data) VALUES (0, 7, %s)", (_tile(s)[:32],))


def _checkpoint_row(s: Story, size: int) -> tuple[Any, ...]:
    return tuple(s.raw.log("SELECT size, root, note, published_at FROM {t}log_checkpoints WHERE size = %s",
                           (size,))[0])


def _edit_checkpoint(s: Story) -> None:
    s.raw.log("UPDATE {t}log_checkpoints SET root = %s WHERE size = 8", (b"\x00" * 32,))


def _insert_checkpoint(s: Story) -> None:
    _, root, note, at = _checkpoint_row(s, 8)
    s.raw.log("INSERT INTO {t}log_checkpoints (size, root, note, published_at) VALUES (5, %s, %s, %s)",
              (root, note, at))


def _snapshot_row(s: Story) -> tuple[Any, ...]:
    return tuple(s.raw.log("SELECT size, state_hash, document, published_at FROM {t}log_snapshots")[0])


def _edit_snapshot(s: Story) -> None:
    _size, _, document, _ = _snapshot_row(s)
    doc = json.loads(zlib.decompress(bytes(document)))
    doc["state"]["organizations"][0]["name"] = "TAMPERED"
    s.raw.log("UPDATE {t}log_snapshots SET document = %s", (zlib.compress(canonical.dumps(doc)),))


def _insert_snapshot(s: Story) -> None:
    _, state_hash, document, at = _snapshot_row(s)
    s.raw.log("INSERT INTO {t}log_snapshots (size, state_hash, document, published_at) VALUES (11, %s, %s, %s)",
              (state_hash, document, at))


def _view_event(s: Story, index: int) -> tuple[Any, ...]:
    return tuple(s.raw.views("SELECT idx, type, org, code, version, attested, recorded_at, doc FROM {t}view_events "
                             "WHERE idx = %s", (index,))[0])


def _edit_view_event(s: Story) -> None:
    doc = json.loads(bytes(_view_event(s, 5)[7]))
    doc["statement"]["scope"] = [1]
    s.raw.views("UPDATE {t}view_events SET doc = %s WHERE idx = 5", (canonical.dumps(doc),))


def _insert_view_event(s: Story) -> None:
    row = list(_view_event(s, 12))
    row[0] = 13
    s.raw.views("INSERT INTO {t}view_events (idx, type, org, code, version, attested, recorded_at, doc) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", tuple(row))


def _edit_entity(s: Story) -> None:
    doc = json.loads(bytes(s.raw.views("SELECT doc FROM {t}view_entities WHERE kind = 'organization' AND "
                                       "name = 'acme'")[0][0]))
    doc["name"] = "TAMPERED"
    s.raw.views("UPDATE {t}view_entities SET doc = %s WHERE kind = 'organization' AND name = 'acme'",
                (canonical.dumps(doc),))


def _insert_entity(s: Story) -> None:
    doc = bytes(s.raw.views("SELECT doc FROM {t}view_entities WHERE kind = 'organization' AND name = 'acme'")[0][0])
    s.raw.views("INSERT INTO {t}view_entities (kind, name, doc) VALUES ('organization', 'ghost', %s)", (doc,))


def _edit_view_snapshot(s: Story) -> None:
    doc = json.loads(zlib.decompress(bytes(s.raw.views("SELECT doc FROM {t}view_snapshots WHERE size = 8")[0][0])))
    doc["organizations"][0]["name"] = "TAMPERED"
    s.raw.views("UPDATE {t}view_snapshots SET doc = %s WHERE size = 8", (zlib.compress(canonical.dumps(doc)),))


def _insert_view_snapshot(s: Story) -> None:
    _size, digest, doc = s.raw.views("SELECT size, hash, doc FROM {t}view_snapshots WHERE size = 8")[0]
    s.raw.views("INSERT INTO {t}view_snapshots (size, hash, doc) VALUES (6, %s, %s)", (digest, doc))


def _feed_page(s: Story) -> tuple[Any, ...]:
    return tuple(s.raw.views("SELECT path, etag, body, updated FROM {t}feed_pages WHERE path LIKE %s",
                             ("%archive/1.atom",))[0])


def _edit_feed_page(s: Story) -> None:
    path, etag, body, _ = _feed_page(s)
    s.raw.views("UPDATE {t}feed_pages SET body = %s WHERE path = %s AND etag = %s",
                (bytes(body).replace(b"Delta Ltd", b"TAMPERED", 1), path, etag))


def _insert_feed_page(s: Story) -> None:
    # The RSS twin of a complete page, under the validator a reader's request computes: it would be served.
    from feeds.documents import FeedSite
    from feeds.documents import etag as feed_etag

    settings = s.backend.settings()
    etag = feed_etag(FeedSite(settings.base_url, settings.origin, int(PAGE_SIZE)), "/feeds/events/archive/0.rss")
    s.raw.views("INSERT INTO {t}feed_pages (path, etag, body, updated) VALUES (%s, %s, %s, %s)",
                ("/feeds/events/archive/0.rss", etag, b"<rss>forged</rss>", "2026-01-01T00:00:00+00:00"))


def _edit_document(s: Story) -> None:
    s.raw.log("UPDATE {t}evidence_documents SET data = %s", (REPORT.replace(b"2025", b"2024"),))


def _insert_document(s: Story) -> None:
    # A row under a name its bytes do not hash to: served, it would pass a forgery off as the cited copy.
    s.raw.log("INSERT INTO {t}evidence_documents (sha256, media_type, size, source_url, added_at, data) "
              "VALUES (%s, %s, %s, NULL, %s, %s)", ("ab" * 32, "application/pdf", len(REPORT),
                                                    "2026-01-01T00:00:00Z", REPORT))


def _sql(store: str, statement: str) -> Callable[[Story], None]:
    def run(s: Story) -> None:
        sql = statement.replace("{tracking}", _tracking(s, store))
        getattr(s.raw, store)(sql)

    return run


@dataclass(frozen=True)
class Case:
    table: str  # as the audit names it ("{events}" and "{tracking}" are filled in per backend)
    action: str
    tamper: Callable[[Story], None]
    index: int | None = None  # the log index the finding names, when the row belongs to an entry


CASES = [
    # the event store: log entries, statement hints, anything else
    Case("{events}", "edit", _edit_entry, 9),
    Case("{events}", "delete", _sql("events", "DELETE FROM {events} WHERE topic = '" + TOPIC
                                    + "' AND originator_version = 8"), 7),
    Case("{events}", "insert", _append_entry, 13),
    Case("{events}", "edit hint", _edit_hint, 6),
    Case("{events}", "delete hint", lambda s: s.raw.events("DELETE FROM {events} WHERE originator_id = %s",
                                                            (_hint_row(s, 4),)), 4),
    Case("{events}", "insert stray", _insert_stray),
    # the log store
    Case("log_tiles", "edit", _edit_tile, 3),
    Case("log_tiles", "delete", _sql("log", "DELETE FROM {t}log_tiles WHERE level = 0 AND idx = 0")),
    Case("log_tiles", "insert", _insert_tile),
    Case("log_head", "edit", _sql("log", "UPDATE {t}log_head SET size = 12")),
    Case("log_head", "delete", _sql("log", "DELETE FROM {t}log_head")),
    Case("log_head", "insert", _sql("log", "INSERT INTO {t}log_head (id, size, root, writes) "
                                           "SELECT 2, size, root, writes FROM {t}log_head")),
    Case("log_checkpoints", "edit", _edit_checkpoint),
    Case("log_checkpoints", "delete", _sql("log", "DELETE FROM {t}log_checkpoints WHERE size = 11")),
    Case("log_checkpoints", "insert", _insert_checkpoint),
    Case("log_snapshots", "edit", _edit_snapshot),
    Case("log_snapshots", "delete", _sql("log", "DELETE FROM {t}log_snapshots")),
    Case("log_snapshots", "insert", _insert_snapshot),
    Case("log_published", "edit", _sql("log", "UPDATE {t}log_published SET checkpoints = 1")),
    Case("log_published", "delete", _sql("log", "DELETE FROM {t}log_published")),
    Case("log_published", "insert", _sql("log", "INSERT INTO {t}log_published (id, checkpoints, snapshots) "
                                                "VALUES (2, 0, 0)")),
    Case("log_cosignatures", "edit", _sql("log", "UPDATE {t}log_cosignatures SET size = 8")),  # another checkpoint
    Case("log_cosignatures", "insert", _sql("log", "INSERT INTO {t}log_cosignatures (size, witness, line, "
                                                   "received_at) SELECT 5, witness, line, received_at "
                                                   "FROM {t}log_cosignatures")),
    Case("{log tracking}", "edit", _sql("log", "UPDATE {tracking} SET notification_id = 3 "
                                               "WHERE application_name = 'registry'"), 12),
    Case("{log tracking}", "delete", _sql("log", "DELETE FROM {tracking} WHERE application_name = 'registry'"), 12),
    Case("{log tracking}", "insert", _sql("log", "INSERT INTO {tracking} (application_name, notification_id) "
                                                 "VALUES ('evil', 5)")),
    # the read-model store
    Case("view_events", "edit", _edit_view_event, 5),
    Case("view_events", "delete", _sql("views", "DELETE FROM {t}view_events WHERE idx = 6"), 6),
    Case("view_events", "insert", _insert_view_event, 13),
    Case("view_entities", "edit", _edit_entity, 9),
    Case("view_entities", "delete", _sql("views", "DELETE FROM {t}view_entities WHERE kind = 'organization' AND "
                                                  "name = 'beta'"), 6),
    Case("view_entities", "insert", _insert_entity),
    Case("view_head", "edit", _sql("views", "UPDATE {t}view_head SET size = 11")),
    Case("view_head", "delete", _sql("views", "DELETE FROM {t}view_head")),
    Case("view_head", "insert", _sql("views", "INSERT INTO {t}view_head (id, size, origin, writes) "
                                              "VALUES (2, 0, NULL, 0)")),
    Case("view_snapshots", "edit", _edit_view_snapshot, 7),
    Case("view_snapshots", "delete", _sql("views", "DELETE FROM {t}view_snapshots WHERE size = 4"), 3),
    Case("view_snapshots", "insert", _insert_view_snapshot, 5),
    Case("{views tracking}", "edit", _sql("views", "UPDATE {tracking} SET notification_id = 3 "
                                                   "WHERE application_name = 'registry'"), 12),
    Case("{views tracking}", "delete", _sql("views", "DELETE FROM {tracking} "
                                                     "WHERE application_name = 'registry'"), 12),
    Case("{views tracking}", "insert", _sql("views", "INSERT INTO {tracking} (application_name, notification_id) "
                                                     "VALUES ('evil', 5)")),
    Case("feed_pages", "edit", _edit_feed_page),
    Case("feed_pages", "insert", _insert_feed_page),
    # archived evidence (a deleted row is only listed as not archived: docs/FORMATS.md section 25)
    Case("evidence_documents", "edit", _edit_document),
    Case("evidence_documents", "insert", _insert_document),
]


def _cosign(backend: Backend, log: Any, size: int) -> None:
    """A witness (configured for every later process through the backend's environment) cosigns checkpoint
    ``size``; its verified line is stored."""
    import tempfile

    from registry.cosigning import verified_line
    from registry.signednote import parse_verifier_key
    from registry.witness import format_add_checkpoint
    from registry.witnessing import StateFile, Witness, known_logs

    checkpoint = log.store.checkpoint(size)
    with tempfile.TemporaryDirectory() as tmp:
        witness = Witness("tamper.test/w", keys.generate(), known_logs([log.signer.verifier_key]),
                          StateFile(Path(tmp) / "state.json"))
        lines = witness.add_checkpoint(format_add_checkpoint(0, [], checkpoint.note)).lines
    verifier = parse_verifier_key(witness.verifier_key)
    line = verified_line(checkpoint.note, log.origin, log.signer.verifier, lines, verifier)
    log.store.add_cosignature(size, f"tamper.test/w+{verifier.key_id.hex()}", line, "2025-01-01T00:00:00Z")
    backend.env["REGISTRY_WITNESSES"] = f"http://127.0.0.1:9 {witness.verifier_key}"


def _table(s: Story, name: str) -> str:
    sqlite = s.backend.name == "sqlite"
    return {"{events}": _events_table(s), "{log tracking}": "tracking" if sqlite else "log_tracking",
            "{views tracking}": "tracking" if sqlite else "views_tracking"}.get(name, name)


def audit(s: Story) -> dict[str, Any]:
    result = run_cli(s.backend, "audit", "--json", env={"REGISTRY_FEED_PAGE_SIZE": PAGE_SIZE})
    assert result.exit_code in (0, 1), result.output
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def signer_round(s: Story) -> str | None:
    """One clock round from a fresh process state; the refusal, if it refused."""
    node = jobs.open_node(s.backend.settings())
    try:
        jobs.catch_up(node)
        jobs.checkpoint(node)
    except RegistryError as e:
        return e.code
    finally:
        node.close()
    return None


def assert_only_honest_checkpoints(s: Story) -> None:
    for size, root, note, _ in s.raw.log("SELECT size, root, note, published_at FROM {t}log_checkpoints"):
        if bytes(root) == b"\x00" * 32:
            continue  # the tampered row itself (its signed note still holds the honest root)
        signed_root = notes_root(bytes(note))
        assert signed_root == s.roots[int(size)] or int(size) == 5, f"checkpoint {size} signs a tampered tree"


def notes_root(note: bytes) -> bytes:
    from registry.checkpoint import parse_checkpoint_text
    from registry.signednote import parse_note

    return parse_checkpoint_text(parse_note(note).text).root


def test_the_story_audits_clean(story: Story) -> None:
    result = audit(story)
    assert result["ok"], result["findings"]
    assert signer_round(story) is None
    assert_only_honest_checkpoints(story)
    sizes = [int(r[0]) for r in story.raw.log("SELECT size FROM {t}log_checkpoints ORDER BY size")]
    assert sizes == [8, 11, 13]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.table.strip('{}').replace(' ', '-')}-{c.action.replace(' ', '-')}"
                                              for c in CASES])
def test_one_tampered_row_is_named_and_never_signed(story: Story, case: Case) -> None:
    case.tamper(story)
    result = audit(story)
    table = _table(story, case.table)
    named = [f for f in result["findings"] if f["table"] == table]
    assert not result["ok"] and named, f"no finding names {table}: {result['findings']}"
    if case.index is not None:
        assert case.index in [f["index"] for f in named], named
    # the signer, run afresh, signs nothing the honest entries do not give
    signer_round(story)
    assert_only_honest_checkpoints(story)


def test_a_deleted_feed_page_is_rendered_again_byte_for_byte(story: Story) -> None:
    """A stored archive page is a cache: deleting it changes nothing anyone can see, so there is nothing to name."""
    path, _, body, _ = _feed_page(story)
    story.raw.views("DELETE FROM {t}feed_pages WHERE path = %s", (path,))
    assert audit(story)["ok"]
    app = story.backend.app(env={"REGISTRY_FEED_PAGE_SIZE": PAGE_SIZE})
    try:
        assert app.test_client().get(path).data == bytes(body)
    finally:
        from web import close_app

        close_app(app)


def test_every_table_of_every_store_is_covered(story: Story) -> None:
    covered = {_table(story, c.table) for c in CASES}
    if story.backend.name == "sqlite":
        held: set[str] = set()
        settings = story.backend.settings()
        for path in (story.backend.data_dir / "registry.db", log_database_path(settings),
                     Path(views_database_path(settings))):
            with sqlite3.connect(path) as conn:
                held |= {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            conn.close()
    else:
        import psycopg

        with psycopg.connect(PG_URL) as conn:
            held = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                               "WHERE table_schema = %s", (story.raw.schema,))}
    from registry.rows import OPERATIONAL_TABLES

    assert held - covered == set(OPERATIONAL_TABLES), held - covered
    assert covered <= held


def test_a_replayed_entry_in_the_store_is_a_duplicate_finding(story: Story) -> None:
    """A byte-for-byte copy of a recorded entry, written by hand: validly signed, so only the fold refuses it."""
    _append_entry(story)
    found = [f for f in audit(story)["findings"] if f["index"] == 13]
    assert found and found[0]["what"] == "duplicate", found
