"""The audit re-verifies everything from the raw stores and names what was tampered with, on both backends.

Each tamper test builds a fresh registry, then edits the raw store behind the
application's back with SQL (the events table, or the log tables) and runs
``registry audit`` through the command line.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from registry import audit, auditstore, envelope, keys, tlog
from registry.application import LogEntryRecorded
from registry.leaf import format_leaf, parse_leaf
from registry.publish import publish_snapshot
from registry.signednote import NoteVerifier
from registry.transparency import log_database_path, open_log
from registry.views import open_read_models, views_database_path
from scripts.cli import main
from tests.conftest import ORIGIN, PG_URL, Actor, Backend, World, make_world

TOPIC = LogEntryRecorded.TOPIC


# --- a small registry with a key rotation, checkpoints and a snapshot ----------------------


@dataclass
class Story:
    world: World
    acme: Actor  # acme's first key: signed an endorsement, then was revoked
    acme2: Actor
    indexes: dict[str, int]
    verifier: NoteVerifier


def build(backend: Backend) -> Story:
    """About twenty entries, three checkpoints (one with a snapshot); the log integrated to the end."""
    settings = backend.settings()
    world = make_world(backend.open())
    keys.save_private(keys.generate(), settings.log_key)
    acme, acme2, beta = Actor(), Actor(), Actor()
    at: dict[str, int] = {}
    world.code()
    at["acme"] = world.org("acme", acme).index
    at["beta"] = world.org("beta", beta).index
    at["made"] = world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                                        scope=[1, 2, 3], effective_date="2024-02-01")).index
    world.submit(acme.sign("organization.key_added", org="acme", public_key=acme2.public))
    at["revoked"] = world.submit(acme2.sign("organization.key_revoked", org="acme", key_id=acme.key_id,
                                            reason="rotated")).index
    log = open_log(settings, world.registry, with_signer=True)
    log.publish_checkpoint()
    world.submit(acme2.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope="all",
                            effective_date="2024-03-01"))
    world.submit(beta.sign("endorsement.made", org="beta", code="hiroshima-coc", version="2023-10-30",
                           scope="all", effective_date="2024-04-01"))
    for i in range(6):
        at[f"org-{i}"] = world.org(f"org-{i}").index
    views = open_read_models(settings, world.registry)
    publish_snapshot(log)
    world.submit(acme2.sign("report.published", org="acme", code="hiroshima-coc", framework="oecd-haip",
                            period="2025", url="https://example.org/acme-report"))
    world.org("gamma")
    log.publish_checkpoint()
    world.org("delta")
    log.catch_up()
    views.store.datastore.close()
    log.store.datastore.close()
    assert log.signer is not None
    return Story(world, acme, acme2, at, log.signer.verifier)


@pytest.fixture
def story(backend: Backend) -> Iterator[Story]:
    built = build(backend)
    try:
        yield built
    finally:
        built.world.registry.close()


def run_cli(backend: Backend, *args: str, env: dict[str, str] | None = None) -> Result:
    env = {**backend.env, "REGISTRY_DATA_DIR": str(backend.data_dir), "REGISTRY_ORIGIN": ORIGIN, **(env or {})}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def audit_cli(backend: Backend) -> tuple[int, str]:
    result = run_cli(backend, "audit")
    return result.exit_code, result.output  # stdout and stderr as a terminal shows them


# --- raw SQL behind the application's back ------------------------------------------------------


class Raw:
    """SQL on a backend's event table (``{events}``) and log tables (``{t}log_...``); ``%s`` placeholders."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.schema = backend.env.get("REGISTRY_POSTGRES_SCHEMA")

    def events(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        table = "stored_events" if self.schema is None else f"{self.schema}.registry_events"
        return self._run(self.backend.data_dir / "registry.db", sql.replace("{events}", table), params)

    def log(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        path = log_database_path(self.backend.settings())
        return self._run(path, sql.replace("{t}", "" if self.schema is None else f"{self.schema}."), params)

    def views(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        path = Path(views_database_path(self.backend.settings()))
        return self._run(path, sql.replace("{t}", "" if self.schema is None else f"{self.schema}."), params)

    def _run(self, path: Path, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self.schema is None:
            with sqlite3.connect(path) as conn:
                rows = conn.execute(sql.replace("%s", "?"), params).fetchall()
            conn.close()
            return rows
        import psycopg

        with psycopg.connect(PG_URL) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def state(self, index: int) -> dict[str, Any]:
        rows = self.events("SELECT state FROM {events} WHERE topic = %s AND originator_version = %s",
                           (TOPIC, index + 1))
        return json.loads(bytes(rows[0][0]))

    def set_state(self, index: int, state: dict[str, Any] | bytes) -> None:
        data = state if isinstance(state, bytes) else json.dumps(state, separators=(",", ":")).encode()
        self.events("UPDATE {events} SET state = %s WHERE topic = %s AND originator_version = %s",
                    (data, TOPIC, index + 1))

    def append(self, state: dict[str, Any]) -> int:
        """Insert a log entry event after the last one; return its index."""
        last, originator = self.events("SELECT originator_version, originator_id FROM {events} WHERE topic = %s "
                                       "ORDER BY originator_version DESC LIMIT 1", (TOPIC,))[0]
        self.events("INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)",
                    (originator, last + 1, TOPIC, json.dumps(state, separators=(",", ":")).encode()))
        return int(last)


def reworded(leaf: bytes, old: bytes, new: bytes) -> bytes:
    """The leaf with its statement's payload edited (and re-encoded): the signature no longer covers it."""
    parsed = parse_leaf(leaf)
    assert old in parsed.envelope.payload
    env = envelope.Envelope(payload=parsed.envelope.payload.replace(old, new, 1), keyid=parsed.envelope.keyid,
                            sig=parsed.envelope.sig)
    return format_leaf(env, parsed.recorded_at)


# --- the checks ----------------------------------------------------------------------------------


def test_a_clean_registry_audits_clean(backend: Backend, story: Story) -> None:
    code, out = audit_cli(backend)
    assert code == 0, out
    size = story.world.registry.size()
    assert f"audit clean: {size} entries, 3 checkpoints, 1 snapshots" in out
    result = run_cli(backend, "audit", "--json")
    doc = json.loads(result.output)
    assert result.exit_code == 0 and doc["ok"] and doc["entries"] == size and doc["findings"] == []
    views = open_read_models(backend.settings(), story.world.registry)
    views.catch_up()
    assert doc["state_hash"] == views.state().hash()
    views.store.datastore.close()
    # the revoked key's endorsement (signed before its revocation) is part of the clean log
    assert story.indexes["made"] < story.indexes["revoked"]


@pytest.mark.parametrize("how", ["reworded", "flipped"])
def test_a_changed_byte_in_a_stored_leaf_is_found_at_its_index(backend: Backend, story: Story, how: str) -> None:
    raw, index = Raw(backend), story.indexes["beta"]
    state = raw.state(index)
    leaf = state["leaf"].encode()
    if how == "reworded":
        state["leaf"] = reworded(leaf, b"Beta Ltd", b"Beta Ltc").decode()
    else:
        payload_at = leaf.index(b'"payload":"') + 40
        state["leaf"] = (leaf[:payload_at] + (b"A" if leaf[payload_at:payload_at + 1] != b"A" else b"B")
                         + leaf[payload_at + 1:]).decode()
    raw.set_state(index, state)
    code, out = audit_cli(backend)
    assert code == 1
    assert f"FAILED: verification-failed: audit: first bad index {index}: " in out
    expected = "signature" if how == "reworded" else "(signature|leaf)"
    assert re.search(f"FAILED: verification-failed: {expected}: entry {index}: ", out), out
    assert f"tree hash: entry {index}: the stored hash at level 0, index {index} differs" in out


def test_a_deleted_event_is_found_where_it_was(backend: Backend, story: Story) -> None:
    raw, index = Raw(backend), story.indexes["org-2"]
    raw.events("DELETE FROM {events} WHERE topic = %s AND originator_version = %s", (TOPIC, index + 1))
    code, out = audit_cli(backend)
    assert code == 1
    assert f"audit: first bad index {index}: log version: log version {index + 2} follows {index}" in out
    assert "log head: the log head counts" in out


@pytest.mark.parametrize("column", ["state", "originator_version"])
def test_two_swapped_events_are_found(backend: Backend, story: Story, column: str) -> None:
    raw = Raw(backend)
    first, second = story.indexes["org-1"], story.indexes["org-4"]
    if column == "state":
        a, b = raw.state(first), raw.state(second)
        raw.set_state(first, b)
        raw.set_state(second, a)
        what = "tree hash"
    else:
        swap = "UPDATE {events} SET originator_version = %s WHERE topic = %s AND originator_version = %s"
        raw.events(swap, (-1, TOPIC, first + 1))
        raw.events(swap, (first + 1, TOPIC, second + 1))
        raw.events(swap, (second + 1, TOPIC, -1))
        what = "log version"  # the notification order (the log's order) is unchanged: only the versions say it
    code, out = audit_cli(backend)
    assert code == 1
    assert f"audit: first bad index {first}: {what}: " in out, out
    if column == "state":
        assert f"tree hash: entry {first}: the stored hash at level 0, index {first} differs" in out
    else:
        assert f"log version: entry {first}: log version {second + 1} follows {first}" in out


def test_an_inserted_entry_signed_by_an_unknown_key_is_found(backend: Backend, story: Story) -> None:
    raw = Raw(backend)
    stranger = envelope.parse(story.world.maintainer.sign("organization.registered", org="ghost", name="Ghost",
                                                          country="JP", kind="company", public_keys=[]))
    forged = envelope.Envelope(payload=stranger.payload, keyid=Actor().key_id, sig=stranger.sig)
    state = raw.state(0)
    state.update(leaf=format_leaf(forged, "2026-01-01T00:00:00Z").decode(), envelope_hash=forged.hash)
    index = raw.append(state)
    code, out = audit_cli(backend)
    assert code == 1
    assert f"audit: first bad index {index}: rule: unknown-key: " in out, out


def test_an_inserted_entry_signed_by_a_revoked_key_is_found(backend: Backend, story: Story) -> None:
    raw = Raw(backend)
    late = envelope.parse(story.acme.sign("report.published", org="acme", code="hiroshima-coc", framework="x",
                                          period="2026", url="https://example.org/late"))
    state = raw.state(0)
    state.update(leaf=format_leaf(late, "2026-01-01T00:00:00Z").decode(), envelope_hash=late.hash)
    index = raw.append(state)
    code, out = audit_cli(backend)
    assert code == 1
    assert f"audit: first bad index {index}: rule: revoked-key: " in out, out


def test_an_inserted_duplicate_is_found(backend: Backend, story: Story) -> None:
    raw = Raw(backend)
    original = story.indexes["org-3"]
    index = raw.append(raw.state(original))
    code, out = audit_cli(backend)
    assert code == 1
    assert f"audit: first bad index {index}: " in out
    assert f"duplicate: entry {index}: the statement at index {index} was already recorded at {original}" in out


@pytest.mark.parametrize("part", ["note", "root"])
def test_a_changed_checkpoint_is_found(backend: Backend, story: Story, part: str) -> None:
    raw = Raw(backend)
    size, note = raw.log("SELECT size, note FROM {t}log_checkpoints ORDER BY size LIMIT 1")[0]
    if part == "note":
        changed = bytearray(bytes(note))
        changed[len(ORIGIN) + 4] ^= 1  # inside the root line
        raw.log("UPDATE {t}log_checkpoints SET note = %s WHERE size = %s", (bytes(changed), size))
    else:
        raw.log("UPDATE {t}log_checkpoints SET root = %s WHERE size = %s", (bytes(32), size))
    code, out = audit_cli(backend)
    assert code == 1
    assert "audit: no entry is bad: checkpoint: " in out, out
    assert f"checkpoint: size {size}: " in out


def test_a_changed_snapshot_is_found(backend: Backend, story: Story) -> None:
    raw = Raw(backend)
    size, document = raw.log("SELECT size, document FROM {t}log_snapshots")[0]
    text = zlib.decompress(bytes(document))
    assert b'"name":"Beta Ltd"' in text
    changed = zlib.compress(text.replace(b'"name":"Beta Ltd"', b'"name":"Beta Plc"'))
    raw.log("UPDATE {t}log_snapshots SET document = %s WHERE size = %s", (changed, size))
    code, out = audit_cli(backend)
    assert code == 1
    assert f"snapshot: size {size}: state hash: the state does not hash to the signed state hash" in out, out


def test_a_changed_stored_tree_hash_is_found(backend: Backend, story: Story) -> None:
    raw = Raw(backend)
    data = bytearray(bytes(raw.log("SELECT data FROM {t}log_tiles WHERE level = 0 AND idx = 0")[0][0]))
    width = story.world.registry.size()
    # the row holds the level-0 hashes, then level 1 (width // 2 of them), then level 2: change (2, 1)
    data[(width + width // 2 + 1) * 32] ^= 1
    raw.log("UPDATE {t}log_tiles SET data = %s WHERE level = 0 AND idx = 0", (bytes(data),))
    code, out = audit_cli(backend)
    assert code == 1
    assert "audit: no entry is bad: tree hash: the stored hash at level 2, index 1 differs" in out, out


def test_workers_find_the_same_as_one_process(backend: Backend, story: Story) -> None:
    raw, index = Raw(backend), story.indexes["org-0"]
    state = raw.state(index)
    state["leaf"] = reworded(state["leaf"].encode(), b"Org-0 Ltd", b"Org-0 Inc").decode()
    raw.set_state(index, state)
    settings = backend.settings()
    inline = auditstore.audit_data(settings, story.verifier, workers=1)
    pooled = auditstore.audit_data(settings, story.verifier, workers=2, parallel_from=0)
    assert not inline and inline.first_bad_index == index
    first = inline.findings[0]
    assert (first.index, first.what, first.detail) == (
        index, "signature", f"the signature does not verify for key {story.world.maintainer.key_id[:16]}")
    assert first.table in ("stored_events", "registry_events") and first.row == f"log version {index + 1}"
    # the entry (its leaf, its event, its tree hash, its statement hint), then what was published after it
    # (the first checkpoint, before it, still verifies)
    assert [(f.index, f.what) for f in inline.findings] == [
        (index, "signature"), (index, "event"), (index, "tree hash"), (index, "derived row"), (None, "snapshot"),
        (None, "snapshot"), (None, "log head"), (None, "checkpoint"), (None, "checkpoint")]
    assert pooled == inline


# --- the pure parts --------------------------------------------------------------------------------


def test_the_right_edge_emits_every_stored_hash_in_order() -> None:
    reference, edge = tlog.MemoryHashStore(), tlog.RightEdge()
    emitted: list[tuple[int, int, bytes]] = []
    for i in range(600):
        leaf = tlog.leaf_hash(i.to_bytes(4, "big"))
        emitted += edge.append(leaf)
        reference.append(leaf)
        assert edge.root() == reference.root()
    assert [h for _, _, h in emitted] == reference.read([(level, index) for level, index, _ in emitted])
    assert len(emitted) == sum(600 >> level for level in range(10))


def test_findings_keep_the_lowest_indexes() -> None:
    findings = audit.Findings(limit=3)
    for i in (9, 8, None, 7, 1, 5, 2):
        findings.add(i, "rule", str(i))
    assert [f.index for f in findings.sorted()] == [1, 2, 5] and findings.suppressed == 4


def test_verify_signatures_reports_failures_in_order() -> None:
    key, other = keys.generate(), keys.generate()
    good = envelope.sign({"type": "x", "n": 1}, key)
    bad = envelope.Envelope(payload=b'{"n":2}', keyid=good.keyid, sig=good.sig)
    items = [(0, good.canonical, keys.public_bytes(key)), (1, bad.canonical, keys.public_bytes(key)),
             (2, good.canonical, keys.public_bytes(other)), (3, b"{", keys.public_bytes(key))]
    failures = audit.verify_signatures(items)
    assert [i for i, _ in failures] == [1, 2, 3]
    assert "does not match" in failures[1][1] and "cannot be read" in failures[2][1]


def test_a_result_is_truthy_only_when_clean() -> None:
    clean = audit.AuditResult(3, 3, 0, 0, tlog.EMPTY_ROOT, "00", [])
    bad = audit.AuditResult(3, 3, 0, 0, tlog.EMPTY_ROOT, "00", [audit.Finding(None, "checkpoint", "x"),
                                                                 audit.Finding(2, "rule", "y")])
    assert clean and clean.first_bad_index is None and not bad and bad.first_bad_index == 2
    assert bad.to_json()["root_hash"] == base64.b64encode(tlog.EMPTY_ROOT).decode()


def test_the_audit_writes_nothing(backend: Backend, story: Story) -> None:
    """An audit reads every store and changes none: read models that lag the log stay where they were."""
    settings = backend.settings()
    views = open_read_models(settings, story.world.registry)
    try:
        head = views.store.head()
        assert head[0] < story.world.registry.size()  # the story never caught the read models up
        result = run_cli(backend, "audit", "--json")
        assert result.exit_code == 0, result.output
        assert views.store.head() == head and views.store.feed_pages() == []
    finally:
        views.store.datastore.close()
