"""What someone who can write to the database but holds no key can and cannot do, on both backends.

1. A log entry written straight into the store (unsigned, made up) is never
   integrated or signed: the log halts before it, and says so everywhere.
2. Derived rows (statement hints, read models, stray aggregate rows) never
   change what the live writer accepts; the audit names every one.
3. The same statement signed twice is recorded once.
4. A tracking position moved back or forward never hangs a request.

Each test edits the raw store behind the application's back with SQL.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import feedparser
import pytest

from registry import envelope, jobs, keys
from registry.application import LogEntryRecorded
from registry.leaf import format_leaf
from registry.state import statement_hash
from registry.times import format_time
from registry.transparency import open_log
from tests.conftest import ORIGIN, Actor, Backend, World, make_world
from tests.test_audit import Raw, run_cli

TOPIC = LogEntryRecorded.TOPIC
CODE = "hiroshima-coc"
VERSION = "2023-10-30"


@dataclass
class Site:
    backend: Backend
    world: World
    acme: Actor
    made: bytes  # acme's endorsement, later withdrawn
    signed: int  # the size of the checkpoint signed before any tampering


def build(backend: Backend) -> Site:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    world = make_world(backend.open())
    acme = Actor()
    world.code()
    world.org("acme", acme)
    made = acme.sign("endorsement.made", org="acme", code=CODE, version=VERSION, scope="all",
                     effective_date="2024-02-01")
    world.submit(made)
    node = jobs.open_node(settings)
    try:
        signed = jobs.checkpoint(node)["size"]
        node.views.catch_up()
    finally:
        node.close()
    return Site(backend, world, acme, made, signed)


@pytest.fixture
def site(backend: Backend) -> Iterator[Site]:
    built = build(backend)
    try:
        yield built
    finally:
        built.world.registry.close()


def forged_withdrawal(site: Site) -> dict[str, Any]:
    """The stored form of a log entry nobody signed: acme 'withdraws', with a signature of zeros."""
    stmt = {"type": "endorsement.withdrawn", "registry": ORIGIN, "signed_at": format_time(_now()),
            "nonce": uuid.uuid4().hex, "org": "acme", "code": CODE, "effective_date": "2024-09-01",
            "reason": "We no longer endorse the Code."}
    from registry import canonical

    env = envelope.Envelope(payload=canonical.dumps(stmt), keyid=site.acme.key_id, sig=bytes(64))
    leaf = format_leaf(env, format_time(_now())).decode("ascii")
    return {"timestamp": {"_type_": "datetime_iso", "_data_": _now().isoformat()}, "leaf": leaf,
            "envelope_hash": env.hash}


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def signer_round(backend: Backend) -> dict[str, Any]:
    """One round of the clock's signer in a fresh process state: catch up, then sign if it may."""
    node = jobs.open_node(backend.settings())
    try:
        return {**jobs.catch_up(node), **jobs.checkpoint(node)}
    finally:
        node.close()


# --- 1. a made-up entry written into the store ---------------------------------------------------


def test_an_entry_written_into_the_store_is_never_integrated_or_signed(site: Site) -> None:
    backend, raw = site.backend, Raw(site.backend)
    bad = raw.append(forged_withdrawal(site))
    assert bad == site.signed  # it lands right after what was signed

    # the signer checks it, stops before it, signs nothing new, and says where and why
    result = signer_round(backend)
    assert result["halted"]["index"] == bad and "signature" in result["halted"]["reason"]
    assert result["tree_size"] == bad and result["size"] == site.signed and result["signed"] is False
    log = open_log(backend.settings(), backend.open())
    try:
        assert log.size() == bad and log.latest_checkpoint().size == site.signed
    finally:
        log.store.datastore.close()
        log.registry.close()

    app = backend.app()
    try:
        client = app.test_client()
        # readiness and metrics say so
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["status"] == "halted" and ready.json["index"] == bad
        metrics = client.get("/metrics").get_data(as_text=True)
        assert "registry_log_halted 1.0" in metrics and f"registry_log_halted_index {float(bad)}" in metrics
        # nothing is accepted after it
        refused = client.post("/api/v1/statements", data=site.acme.sign(
            "endorsement.amended", org="acme", code=CODE, scope=[1, 2], effective_date="2024-10-01"),
            content_type="application/json")
        assert refused.status_code == 503 and refused.json["type"].endswith("/log-halted")
        assert f"log entry {bad} failed its checks" in refused.json["detail"]
        # pages, feeds and the API never show the forged withdrawal
        endorsement = client.get("/api/v1/endorsements").json["items"][0]
        assert (endorsement["org"], endorsement["status"]) == ("acme", "active")
        feed = feedparser.parse(client.get("/feeds/events.atom").data)
        assert len(feed.entries) == bad and not any("withdr" in e.title.lower() for e in feed.entries)
        assert client.get(f"/api/v1/log/entries/{bad}").status_code == 404
        assert "withdrawn" not in client.get("/organizations/acme").get_data(as_text=True).lower()
    finally:
        from web import close_app

        close_app(app)

    # the audit names it; the status line says the log halted
    audit = run_cli(backend, "audit")
    assert audit.exit_code == 1 and f"first bad index {bad}: signature" in audit.output
    status = run_cli(backend, "status")
    assert f"HALTED: log entry {bad} failed its checks" in status.output

    # recovery (docs/SECURITY.md): delete the row, and everything is as before
    raw.events("DELETE FROM {events} WHERE topic = %s AND originator_version = %s", (TOPIC, bad + 1))
    assert run_cli(backend, "audit").exit_code == 0
    again = backend.open()
    try:
        recorded = again.submit(site.acme.sign("endorsement.amended", org="acme", code=CODE, scope=[1, 2],
                                               effective_date="2024-10-01"))
        assert recorded.index == bad
    finally:
        again.close()
    assert signer_round(backend)["size"] == bad + 1


def test_a_signed_entry_that_breaks_a_rule_halts_the_log_too(site: Site) -> None:
    """Validly signed, but by a key that a later entry revoked: only the fold of the log can tell."""
    backend, raw = site.backend, Raw(site.backend)
    second = Actor()
    site.world.submit(site.acme.sign("organization.key_added", org="acme", public_key=second.public))
    site.world.submit(second.sign("organization.key_revoked", org="acme", key_id=site.acme.key_id, reason="lost"))
    # the revoked key signs an amendment, and it is written straight into the store
    data = site.acme.sign("endorsement.amended", org="acme", code=CODE, scope=[1], effective_date="2024-11-01")
    parsed = envelope.parse(data)
    bad = raw.append({"timestamp": {"_type_": "datetime_iso", "_data_": _now().isoformat()},
                      "leaf": format_leaf(parsed, format_time(_now())).decode("ascii"),
                      "envelope_hash": parsed.hash})
    result = signer_round(backend)
    assert result["halted"]["index"] == bad and "revoked" in result["halted"]["reason"]
    assert result["tree_size"] == bad and result["size"] == bad  # everything before it is signed
    audit = run_cli(backend, "audit")
    assert audit.exit_code == 1 and f"first bad index {bad}: rule" in audit.output


# --- 2. derived rows never change what the writer accepts -----------------------------------------


def test_a_stray_aggregate_row_never_makes_a_key_a_maintainer(site: Site) -> None:
    """The old store kept aggregates; a row claiming acme's key is a maintainer's is neither believed nor kept."""
    backend, raw = site.backend, Raw(site.backend)
    from registry.domain import key_aggregate_id

    fake = json.dumps({"timestamp": {"_type_": "datetime_iso", "_data_": _now().isoformat()},
                       "originator_topic": "registry:Key", "key_id": site.acme.key_id,
                       "public_key": site.acme.public, "role": "maintainer", "org": None, "label": "x",
                       "index": 0, "at": "2024-01-01T00:00:00Z"}).encode()
    raw.events("INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)",
               (key_aggregate_id(site.acme.key_id).hex if backend.name == "sqlite"
                else key_aggregate_id(site.acme.key_id), 1, "registry:Key.Added", fake))
    fresh = backend.open()
    try:
        from registry.errors import UnauthorizedSignerError

        with pytest.raises(UnauthorizedSignerError):
            fresh.submit(site.acme.sign("organization.registered", org="evil", name="Evil", country="JP",
                                        kind="company", public_keys=[]))
        assert fresh.size() == site.signed
    finally:
        fresh.close()
    audit = run_cli(backend, "audit")
    assert audit.exit_code == 1
    assert "neither a log entry nor derived from one (topic 'registry:Key.Added')" in audit.output
    assert "table stored_events" in audit.output or "table registry_events" in audit.output


def test_a_deleted_hint_never_lets_an_old_endorsement_back_in(site: Site) -> None:
    backend, raw = site.backend, Raw(site.backend)
    withdrawn = site.world.submit(site.acme.sign("endorsement.withdrawn", org="acme", code=CODE,
                                                 effective_date="2024-06-01", reason="Stopped."))
    digest = statement_hash(envelope.parse(site.made).payload)
    from registry.domain import statement_hint_id

    hint = statement_hint_id(digest).hex if backend.name == "sqlite" else statement_hint_id(digest)
    assert raw.events("DELETE FROM {events} WHERE originator_id = %s RETURNING topic", (hint,))
    fresh = backend.open()  # a new process: nothing cached
    try:
        size = fresh.size()
        try:
            answer = fresh.submit(site.made)
        except Exception as e:  # refused as out of order: fine too
            assert getattr(e, "code", None) in ("out-of-order", "duplicate-statement"), e
        else:
            assert answer.duplicate and answer.index == withdrawn.index - 1
        assert fresh.size() == size  # never recorded again
        from registry.domain import endorsement_id

        assert fresh.get(endorsement_id("acme", CODE)).status == "withdrawn"
    finally:
        fresh.close()
    audit = run_cli(backend, "audit")
    index = withdrawn.index - 1
    assert audit.exit_code == 1 and f"entry {index}: the entry has no statement hint (rebuildable" in audit.output
    rebuilt = run_cli(backend, "rebuild")
    assert "statement hints restored: 1" in rebuilt.output
    assert run_cli(backend, "audit").exit_code == 0


def test_an_edited_read_model_is_found_and_rebuilt(site: Site) -> None:
    backend, raw = site.backend, Raw(site.backend)
    doc = json.loads(bytes(raw.views("SELECT doc FROM {t}view_entities WHERE kind = %s AND name = %s",
                                     ("organization", "acme"))[0][0]))
    doc["name"] = "TAMPERED"
    raw.views("UPDATE {t}view_entities SET doc = %s WHERE kind = %s AND name = %s",
              (json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), "organization", "acme"))
    audit = run_cli(backend, "audit")
    assert audit.exit_code == 1
    assert "derived row: entry 3: differs from the state the entries give (rebuildable" in audit.output
    assert "[table view_entities, organization acme]" in audit.output
    run_cli(backend, "rebuild")
    assert run_cli(backend, "audit").exit_code == 0
    app = backend.app()
    try:
        assert "TAMPERED" not in app.test_client().get("/organizations/acme").get_data(as_text=True)
    finally:
        from web import close_app

        close_app(app)


# --- 4. tracking positions ------------------------------------------------------------------------------


def test_a_lowered_tracking_position_hangs_nothing(site: Site) -> None:
    backend, raw = site.backend, Raw(site.backend)
    table = "tracking" if backend.name == "sqlite" else "{t}log_tracking"
    raw.log(f"UPDATE {table} SET notification_id = 1 WHERE application_name = %s", ("registry",))
    audit = run_cli(backend, "audit")
    assert audit.exit_code == 1 and "the tracking position is notification 1" in audit.output
    app = backend.app()
    try:
        client = app.test_client()
        started = time.monotonic()
        assert client.get("/").status_code == 200
        posted = client.post("/api/v1/statements", data=site.acme.sign(
            "endorsement.amended", org="acme", code=CODE, scope=[1, 2], effective_date="2024-10-01"),
            content_type="application/json")
        assert posted.status_code == 201, posted.get_data(as_text=True)
        assert client.get("/readyz").status_code == 200
        assert time.monotonic() - started < 10
    finally:
        from web import close_app

        close_app(app)
    assert run_cli(backend, "audit").exit_code == 0  # the next integration put the position right


def test_a_raised_tracking_position_answers_503_not_a_hang(site: Site) -> None:
    backend, raw = site.backend, Raw(site.backend)
    table = "tracking" if backend.name == "sqlite" else "{t}log_tracking"
    raw.log(f"UPDATE {table} SET notification_id = notification_id + 1000 "
            "WHERE application_name = %s", ("registry",))
    app = backend.app()
    try:
        client = app.test_client()
        started = time.monotonic()
        posted = client.post("/api/v1/statements", data=site.acme.sign(
            "endorsement.amended", org="acme", code=CODE, scope=[1, 2], effective_date="2024-10-01"),
            content_type="application/json")
        assert posted.status_code == 201  # recorded; integrating it is what cannot proceed
        time.sleep(1.1)  # past the refresh interval: the next read tries to integrate again
        answer = client.get("/api/v1/log/entries/0")
        assert answer.status_code == 503 and answer.json["type"].endswith("/catch-up-stuck")
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["reason"] == "catch-up-stuck"
        assert time.monotonic() - started < 30
    finally:
        from web import close_app

        close_app(app)
    audit = run_cli(backend, "audit")
    assert audit.exit_code == 1 and "the tracking position is notification" in audit.output


# --- 3. the same statement signed twice ------------------------------------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P


def _point_add(p: tuple[int, int, int, int], q: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    # Extended twisted Edwards coordinates (RFC 8032 section 5.1.4).
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    dd = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, dd - c, dd + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _scalar_mult(k: int, p: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    out = (0, 1, 1, 0)
    while k:
        if k & 1:
            out = _point_add(out, p)
        p, k = _point_add(p, p), k >> 1
    return out


def _encode(p: tuple[int, int, int, int]) -> bytes:
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _base() -> tuple[int, int, int, int]:
    y = 4 * pow(5, _P - 2, _P) % _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    if x & 1:
        x = _P - x
    return x, y, 1, x * y % _P


def randomized_signature(key: Any, message: bytes) -> bytes:
    """A valid Ed25519 signature with a random nonce (RFC 8032 signs deterministically; many signers do not)."""
    import hashlib
    import secrets

    digest = hashlib.sha512(key.private_bytes_raw()).digest()
    a = int.from_bytes(digest[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)
    r = secrets.randbelow(_L - 1) + 1
    big_r = _encode(_scalar_mult(r, _base()))
    public = keys.public_bytes(key)
    k = int.from_bytes(hashlib.sha512(big_r + public + message).digest(), "little") % _L
    return big_r + ((r + k * a) % _L).to_bytes(32, "little")


def test_the_same_statement_signed_twice_is_recorded_once(site: Site) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from registry import compose

    stmt = compose.statement("endorsement.amended", ORIGIN, org="acme", code=CODE, scope=[1, 2],
                             effective_date="2024-10-01")
    first = envelope.sign(stmt, site.acme.key)
    pae = envelope.pae(first.payload_type, first.payload)
    second = envelope.Envelope(payload=first.payload, keyid=first.keyid,
                               sig=randomized_signature(site.acme.key, pae))
    # two different, valid signatures over the same payload
    assert second.sig != first.sig and second.hash != first.hash
    Ed25519PublicKey.from_public_bytes(keys.public_bytes(site.acme.key)).verify(second.sig, pae)

    app = site.backend.app()
    try:
        client = app.test_client()

        def post(env: envelope.Envelope) -> Any:
            return client.post("/api/v1/statements", data=env.canonical, content_type="application/json")

        recorded = post(first)
        assert recorded.status_code == 201
        again = post(second)
        assert again.status_code == 200 and again.json["duplicate"] is True
        assert again.json["index"] == recorded.json["index"]
        assert again.json["envelope_hash"] == first.hash  # the first record, as recorded
        assert again.json["statement_hash"] == recorded.json["statement_hash"] == statement_hash(first.payload)
        # the same payload from another key is not the same record, and is not recorded either
        other = Actor()
        site.world.submit(site.acme.sign("organization.key_added", org="acme", public_key=other.public))
        size = site.world.registry.size()
        third = envelope.Envelope(payload=first.payload, keyid=other.key_id,
                                  sig=other.key.sign(pae))
        refused = post(third)
        assert refused.status_code == 409 and refused.json["type"].endswith("/duplicate-statement"), refused.json
        assert "signed by another key" in refused.json["detail"]
        assert site.world.registry.size() == size
    finally:
        from web import close_app

        close_app(app)


def test_catch_up_counts_only_tries_that_move_nothing(backend: Backend) -> None:
    """Many small batches in one catch-up: progress is never mistaken for being stuck."""
    settings = backend.settings()
    world = make_world(backend.open())
    try:
        for i in range(60):
            world.org(f"org-{i}")
        log = open_log(settings, world.registry)
        from registry.views import open_read_models

        views = open_read_models(settings, world.registry, bound=log.size)
        try:
            assert log.catch_up(batch=1) == 62  # 62 batches: more than the 50 failures allowed in a row
            assert views._catch_up(1, log.size()) == 62
        finally:
            views.store.datastore.close()
            log.store.datastore.close()
    finally:
        world.registry.close()
