"""Tamper evidence, seen from outside: a monitor against an operator who holds the log key.

The :class:`Monitor` below is what a watchdog would run. It pins the log's
verifier key (out of band, never from the site it watches), fetches
``/checkpoint``, verifies the signature, and keeps every checkpoint it has
accepted. It accepts a newer checkpoint only with a consistency proof from
``/api/v1/log/proofs/consistency`` that verifies against both signed roots; a
smaller tree is a rollback, the same size with another root a split view.
It can also check any entry against its latest checkpoint with an inclusion
proof. With witnesses configured it requires a quorum of their
``cosignature/v1`` lines, each no older than ``max_age``: a checkpoint carries
no time of its own (three lines: origin, size, root), so only a witness's
timestamp can tell a frozen log from an idle one.

The operator, on SQLite and on PostgreSQL, has the log key and the database:

- rewrites history (a fresh store holding the same statements minus one, so a
  different entry sits at an index the client has seen), re-signs with the
  real key, and serves that: the monitor's next check fails, and the two
  signed checkpoints it holds, with the failing proof, are evidence anyone can
  check offline; an honest witness refuses to cosign the fork;
- does the same at the very size the client holds (no proof needed);
- deletes the newest checkpoint row (a rollback), or edits an entry's row in
  the event store (backdating a record): both caught;
- freezes the log on an old checkpoint: caught once the witness cosignature
  on it is older than the monitor's ``max_age``, and the witness will not
  re-cosign an old checkpoint after a newer one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from registry import keys, tlog
from registry.application import LogEntryRecorded, Registry
from registry.auditstore import audit_data
from registry.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    cosign_checkpoint,
    open_checkpoint,
    parse_checkpoint_text,
    sign_checkpoint,
)
from registry.errors import NoteVerificationError, ProofError
from registry.leaf import parse_leaf
from registry.receipts import verify_receipt
from registry.signednote import (
    SIG_TYPE_COSIGNATURE_V1,
    NoteSigner,
    NoteVerifier,
    format_verifier_key,
    parse_note,
    parse_verifier_key,
    signer_from_private,
)
from registry.times import parse_time
from registry.transparency import TransparencyLog, open_log
from registry.witness import format_add_checkpoint, parse_add_checkpoint
from tests.conftest import ORIGIN, Actor, Backend, World, make_world
from web import close_app, create_app

T0 = 1_750_000_000  # the tests' clock (POSIX seconds): witnesses and monitors read it, never the wall clock
MAX_AGE = 3600
WITHDRAWAL = 5  # the index of the entry the operator would like to erase


# --- the monitor -------------------------------------------------------------------------


class Alarm(Exception):
    """The log contradicted what the monitor holds; ``evidence`` is the signed notes that show it."""

    def __init__(self, kind: str, message: str, evidence: Sequence[bytes] = (), proof: Sequence[bytes] = ()) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.evidence = tuple(evidence)
        self.proof = tuple(proof)


@dataclass
class Monitor:
    """Follows one log through its HTTP API and keeps every checkpoint it accepted."""

    client: FlaskClient
    log_key: NoteVerifier
    witnesses: Sequence[NoteVerifier] = ()
    quorum: int = 0
    max_age: int | None = None
    clock: Callable[[], int] = lambda: T0
    max_skew: int = 30
    seen: list[SignedCheckpoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_age is not None and self.quorum < 1:
            raise ValueError("a checkpoint carries no time: a max age needs witness cosignatures (quorum >= 1)")

    @property
    def latest(self) -> SignedCheckpoint | None:
        return self.seen[-1] if self.seen else None

    def observe(self, note: bytes | None = None) -> SignedCheckpoint:
        """Check the served checkpoint (or one obtained elsewhere: gossip, a witness) and keep it.

        Raises:
            NoteVerificationError: not signed by the log, or too few witnesses cosigned.
            Alarm: rollback, split view, an unproven extension, or a stale cosignature.
        """
        data = self._fetch_checkpoint() if note is None else note
        signed = open_checkpoint(data, self.log_key.name, self.log_key, self.witnesses, self.quorum)
        self._check_fresh(signed)
        latest = self.latest
        if latest is not None:
            self._check_extends(latest, signed)
        if latest is None or signed.checkpoint.size > latest.checkpoint.size:
            self.seen.append(signed)
        return signed

    def check_entry(self, index: int) -> bytes:
        """Fetch entry ``index`` and prove it is in the latest accepted checkpoint; return its bytes."""
        latest = self.latest
        assert latest is not None, "observe a checkpoint first"
        cp = latest.checkpoint
        entry = self.client.get(f"/api/v1/log/entries/{index}")
        doc = self.client.get(f"/api/v1/log/proofs/inclusion?index={index}&size={cp.size}").get_json()
        proof = [base64.b64decode(h, validate=True) for h in doc["hashes"]]
        try:
            tlog.verify_inclusion(index, cp.size, tlog.leaf_hash(entry.data), proof, cp.root)
        except ProofError as e:
            raise Alarm("entry", f"entry {index} is not the one checkpoint {cp.size} commits to: {e}",
                        (latest.note,), proof) from None
        return entry.data

    def _fetch_checkpoint(self) -> bytes:
        response = self.client.get("/checkpoint")
        if response.status_code != 200:
            raise Alarm("unavailable", f"/checkpoint answered {response.status_code}")
        return response.data

    def _check_fresh(self, signed: SignedCheckpoint) -> None:
        if self.max_age is None:
            return
        now = self.clock()
        stamps = [c.timestamp for c in signed.cosignatures]
        fresh = [t for t in stamps if now - self.max_age <= t <= now + self.max_skew]
        if len(fresh) >= self.quorum:
            return
        kind = "future" if any(t > now + self.max_skew for t in stamps) else "stale"
        raise Alarm(kind, f"{len(fresh)} of the {self.quorum} required cosignatures are from the last "
                    f"{self.max_age} s (dated {stamps}, now {now})", (signed.note,))

    def _check_extends(self, old: SignedCheckpoint, new: SignedCheckpoint) -> None:
        a, b = old.checkpoint, new.checkpoint
        evidence = (old.note, new.note)
        if b.size < a.size:
            raise Alarm("rollback", f"size {b.size} after size {a.size}", evidence)
        if b.size == a.size:
            if b.root != a.root:
                raise Alarm("split-view", f"two roots for size {a.size}", evidence)
            return
        proof = self._consistency_proof(a.size, b.size, evidence)
        try:
            tlog.verify_consistency(a.size, b.size, a.root, b.root, proof)
        except ProofError as e:
            raise Alarm("split-view", f"size {b.size} does not extend size {a.size}: {e}", evidence, proof) from None

    def _consistency_proof(self, old: int, new: int, evidence: tuple[bytes, ...]) -> list[bytes]:
        response = self.client.get(f"/api/v1/log/proofs/consistency?from={old}&to={new}")
        if response.status_code != 200:
            raise Alarm("unproven", f"no consistency proof from {old} to {new} ({response.status_code})", evidence)
        doc = response.get_json()
        if (doc["from"], doc["to"]) != (old, new):
            raise Alarm("unproven", f"asked for a proof {old}->{new}, got {doc['from']}->{doc['to']}", evidence)
        return [base64.b64decode(h, validate=True) for h in doc["hashes"]]


def proves_misbehaviour(old_note: bytes, new_note: bytes, proof: Sequence[bytes], log_key: NoteVerifier) -> bool:
    """Offline, with the log's public key only: both notes are the log's, and the proof does not join them."""
    old = open_checkpoint(old_note, log_key.name, log_key).checkpoint
    new = open_checkpoint(new_note, log_key.name, log_key).checkpoint
    if old.size == new.size:
        return old.root != new.root
    try:
        tlog.verify_consistency(old.size, new.size, old.root, new.root, proof)
    except ProofError:
        return True
    return False


# --- a witness (C2SP tlog-witness semantics, in process) ------------------------------------


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass
class Witness:
    """Cosigns a log's checkpoints only if each extends the last one it cosigned."""

    name: str
    log_key: NoteVerifier
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    size: int = 0
    root: bytes = tlog.EMPTY_ROOT

    @property
    def verifier(self) -> NoteVerifier:
        public = self.key.public_key().public_bytes_raw()
        return parse_verifier_key(format_verifier_key(self.name, public, SIG_TYPE_COSIGNATURE_V1))

    def add_checkpoint(self, body: bytes, now: int) -> str:
        """The add-checkpoint request: a cosignature line, or Refused with the spec's status."""
        request = parse_add_checkpoint(body)
        try:
            cp = open_checkpoint(request.checkpoint, self.log_key.name, self.log_key).checkpoint
        except NoteVerificationError as e:
            raise Refused(403, str(e)) from None
        if request.old_size > cp.size:
            raise Refused(400, f"old size {request.old_size} > checkpoint size {cp.size}")
        if request.old_size != self.size:
            raise Refused(409, f"{self.size}")
        try:
            tlog.verify_consistency(self.size, cp.size, self.root, cp.root, request.proof)
        except ProofError as e:
            raise Refused(422, str(e)) from None
        self.size, self.root = cp.size, cp.root
        return cosign_checkpoint(parse_note(request.checkpoint).text, self.name, self.key, now)


def cosigned(note: bytes, line: str) -> bytes:
    return note + line.encode()


# --- the honest registry and the operator's tools -------------------------------------------


@dataclass
class Site:
    backend: Backend
    registry: Registry
    world: World
    log: TransparencyLog  # the clock's log
    signer: NoteSigner  # the log key
    app: Flask

    @property
    def vkey(self) -> NoteVerifier:
        return self.signer.verifier

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def grow(self, n: int) -> None:
        start = self.registry.size()
        for i in range(start, start + n):
            self.world.org(f"org-{i}")

    def publish(self) -> SignedCheckpoint:
        stored, new = self.log.publish_checkpoint()
        assert new and stored is not None
        return open_checkpoint(stored.note, ORIGIN, self.vkey)


def serve(backend: Backend) -> Flask:
    return create_app({"DATA_DIR": backend.data_dir, "ENVIRON": {**backend.env, "REGISTRY_ORIGIN": ORIGIN}})


@pytest.fixture
def site(backend: Backend) -> Iterator[Site]:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)  # 0 genesis, 1 maintainer key
    acme = Actor()
    world.code()  # 2
    world.org("acme", acme)  # 3
    world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                           scope="all", effective_date="2024-02-01"))  # 4
    world.submit(acme.sign("endorsement.withdrawn", org="acme", code="hiroshima-coc",
                           reason="No longer.", effective_date="2025-01-01"))  # 5 = WITHDRAWAL
    log = open_log(settings, registry, with_signer=True)
    assert log.signer is not None
    app = serve(backend)
    try:
        result = Site(backend, registry, world, log, log.signer, app)
        result.grow(2)  # 6, 7
        yield result
    finally:
        close_app(app)
        log.store.datastore.close()
        registry.close()


def fork(site: Site, into: Backend, leave_out: int, size: int) -> tuple[Flask, bytes, TransparencyLog]:
    """The operator's rewrite: a store with the site's entries minus one, up to ``size``, signed with the real key.

    No statement is forged (the operator has no organization's key): one is dropped, so every later
    entry moves up and a different entry sits at index ``leave_out``.
    """
    copy = into.open()
    kept = [leaf for i, leaf in enumerate(site.registry.leaves()) if i != leave_out][:size]
    assert len(kept) == size
    for leaf in kept:
        parsed = parse_leaf(leaf)
        copy.submit(parsed.envelope.canonical, now=parse_time(parsed.recorded_at), live=False)
    forged_log = open_log(into.settings(), copy)
    assert forged_log.catch_up() == size
    root = forged_log.root(size)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), site.signer)
    assert forged_log.store.add_checkpoint(size, root, note, "2025-06-01T00:00:00Z")
    copy.close()
    return serve(into), note, forged_log


# --- the honest case -----------------------------------------------------------------------


def test_monitor_follows_an_honest_log(site: Site) -> None:
    monitor = Monitor(site.client(), site.vkey)
    first = site.publish()
    assert monitor.observe().checkpoint == first.checkpoint
    assert monitor.observe().checkpoint == first.checkpoint  # the same one again: fine
    for _ in range(3):
        site.grow(5)
        site.publish()
        monitor.observe()  # each step proven consistent with the last
    assert [s.checkpoint.size for s in monitor.seen] == [8, 13, 18, 23]
    assert monitor.check_entry(WITHDRAWAL) == site.registry.leaf(WITHDRAWAL)
    # a monitor pinned to another key accepts nothing from this log
    stranger = parse_verifier_key(signer_from_private(ORIGIN, keys.generate()).verifier_key)
    with pytest.raises(NoteVerificationError):
        Monitor(site.client(), stranger).observe()


# --- rewritten history -----------------------------------------------------------------------


def test_rewritten_history_is_detected_and_provable(site: Site, second_backend: Backend) -> None:
    monitor = Monitor(site.client(), site.vkey)
    held = monitor.observe(site.publish().note)  # the client holds size 8, with the withdrawal at 5
    assert held.checkpoint.size == 8
    receipt = site.client().get(f"/api/v1/receipts/{WITHDRAWAL}").data  # what the organization keeps
    site.grow(4)  # the honest log goes on to 12
    honest = site.publish()
    # the operator serves a history without the withdrawal, at size 11, signed with the real key
    forged_app, forged_note, forged_log = fork(site, second_backend, leave_out=WITHDRAWAL, size=11)
    try:
        monitor.client = forged_app.test_client()
        served = monitor.client.get("/checkpoint").data
        assert served == forged_note
        open_checkpoint(served, ORIGIN, site.vkey)  # on its own it verifies: the key is the real one
        with pytest.raises(Alarm) as caught:
            monitor.observe()
        alarm = caught.value
        assert alarm.kind == "split-view"
        assert [s.checkpoint.size for s in monitor.seen] == [8]  # the fork was not accepted
        # the evidence: two notes signed by the log key, and the proof the log offered, which fails
        assert alarm.evidence == (held.note, forged_note)
        assert proves_misbehaviour(*alarm.evidence, alarm.proof, site.vkey)
        # no proof can exist: the forked tree's own prefix of size 8 has another root than the signed one
        served_proof = monitor.client.get("/api/v1/log/proofs/consistency?from=8&to=11").get_json()
        assert base64.b64decode(served_proof["from_root"]) == forged_log.root(8) != held.checkpoint.root
        # while the honest log proves its own history from the same checkpoint
        honest_proof = site.log.consistency(8, honest.checkpoint.size)
        assert not proves_misbehaviour(held.note, honest.note, honest_proof, site.vkey)
        # the organization's receipt still proves its withdrawal against the checkpoint it holds...
        verified = verify_receipt(receipt, origin=ORIGIN, log_verifier=site.vkey)
        assert parse_leaf(verified.leaf or b"").envelope.statement()["type"] == "endorsement.withdrawn"
        # ...and the fork serves another entry at that index
        forged_entry = monitor.client.get(f"/api/v1/log/entries/{WITHDRAWAL}").data
        assert forged_entry != verified.leaf
        # an honest witness that cosigned size 8 refuses the fork, whatever proof the operator sends
        witness = Witness("witness.example/w1", site.vkey)
        witness.add_checkpoint(format_add_checkpoint(0, [], held.note), T0)
        with pytest.raises(Refused) as refused:
            witness.add_checkpoint(format_add_checkpoint(8, alarm.proof, forged_note), T0 + 60)
        assert refused.value.status == 422
        assert witness.size == 8
    finally:
        close_app(forged_app)
        forged_log.store.datastore.close()


def test_a_fork_at_the_size_the_client_holds_needs_no_proof(site: Site, second_backend: Backend) -> None:
    monitor = Monitor(site.client(), site.vkey)
    held = monitor.observe(site.publish().note)
    site.grow(1)  # 9 entries: dropping one still leaves 8
    forged_app, forged_note, forged_log = fork(site, second_backend, leave_out=WITHDRAWAL, size=8)
    try:
        monitor.client = forged_app.test_client()
        with pytest.raises(Alarm) as caught:
            monitor.observe()
        assert caught.value.kind == "split-view"
        assert caught.value.evidence == (held.note, forged_note)
        assert proves_misbehaviour(held.note, forged_note, (), site.vkey)
    finally:
        close_app(forged_app)
        forged_log.store.datastore.close()


# --- rows deleted or edited in place ---------------------------------------------------------


def test_deleting_the_newest_checkpoint_is_a_rollback(site: Site) -> None:
    monitor = Monitor(site.client(), site.vkey)
    older = monitor.observe(site.publish().note)
    site.grow(3)
    newer = site.publish()
    monitor.observe()
    store = site.log.store
    with store.datastore.transaction(commit=True) as c:
        c.execute(store._q("DELETE FROM {t}log_checkpoints WHERE size = %s"), (newer.checkpoint.size,))
    assert site.client().get("/checkpoint").data == older.note  # the operator now serves the older one
    with pytest.raises(Alarm) as caught:
        monitor.observe()
    assert caught.value.kind == "rollback"
    assert caught.value.evidence == (newer.note, older.note)
    for note in caught.value.evidence:
        open_checkpoint(note, ORIGIN, site.vkey)  # both are the log's own signatures
    # someone who never saw the newer checkpoint is fooled, until a monitor gossips it
    newcomer = Monitor(site.client(), site.vkey)
    newcomer.observe()
    newcomer.observe(newer.note)
    with pytest.raises(Alarm, match="rollback"):
        newcomer.observe()


def test_editing_an_entry_in_the_event_store_is_caught(site: Site) -> None:
    monitor = Monitor(site.client(), site.vkey)
    monitor.observe(site.publish().note)
    original = monitor.check_entry(WITHDRAWAL)
    # the operator backdates the withdrawal in the stored event (the signed envelope is untouched)
    recorder = site.registry.recorder
    pg = site.backend.name == "postgres"
    table = f'"{recorder.datastore.schema}".{recorder.events_table_name}' if pg else recorder.events_table_name
    mark = "%s" if pg else "?"
    select = f"SELECT state FROM {table} WHERE topic = {mark} AND originator_version = {mark}"
    update = f"UPDATE {table} SET state = {mark} WHERE topic = {mark} AND originator_version = {mark}"
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(select, (LogEntryRecorded.TOPIC, WITHDRAWAL + 1))
        row = c.fetchone()
        state = json.loads(bytes(row["state"] if isinstance(row, dict) else row[0]))
        recorded_at = parse_leaf(state["leaf"].encode()).recorded_at
        state["leaf"] = state["leaf"].replace(recorded_at, "2023-01-01T00:00:00Z")
        c.execute(update, (json.dumps(state, separators=(",", ":")).encode(), LogEntryRecorded.TOPIC, WITHDRAWAL + 1))
    served = site.client().get(f"/api/v1/log/entries/{WITHDRAWAL}").data
    assert served != original and b"2023-01-01T00:00:00Z" in served  # the edit is live...
    with pytest.raises(Alarm) as caught:
        monitor.check_entry(WITHDRAWAL)  # ...and does not match what the signed checkpoint commits to
    assert caught.value.kind == "entry"
    assert tlog.leaf_hash(original) == site.log.inclusion(WITHDRAWAL, 8).leaf_hash  # the tree kept the truth
    # and the operator's own audit, from the raw store, names the edited index
    result = audit_data(site.backend.settings(), site.vkey, workers=1)
    assert not result.ok and result.first_bad_index == WITHDRAWAL


# --- freshness: freeze and witnesses ---------------------------------------------------------


def test_a_checkpoint_carries_no_time(site: Site) -> None:
    site.publish()
    note = site.client().get("/checkpoint").data
    text = parse_note(note).text
    assert len(text.decode().splitlines()) == 3  # origin, size, root: no timestamp line
    assert parse_checkpoint_text(text).extensions == ()
    stored = site.log.latest_checkpoint()
    # the time the registry stored is not in the signed text, so it proves nothing to a client
    assert stored is not None and stored.published_at.encode() not in note
    with pytest.raises(ValueError, match="witness"):
        Monitor(site.client(), site.vkey, max_age=MAX_AGE)
    # without witnesses a frozen log and an idle one look the same: the old note is accepted forever
    now = [T0]
    monitor = Monitor(site.client(), site.vkey, clock=lambda: now[0])
    monitor.observe()
    site.grow(3)  # recorded, never signed: the operator has frozen the checkpoint
    now[0] += 10 * 365 * 86400
    assert monitor.observe().checkpoint.size == 8


def test_witness_cosignatures_give_freshness(site: Site) -> None:
    now = [T0]
    witness = Witness("witness.example/w1", site.vkey)
    monitor = Monitor(site.client(), site.vkey, witnesses=[witness.verifier], quorum=1, max_age=MAX_AGE,
                      clock=lambda: now[0])
    first = site.publish()
    # the log's own checkpoint, without a cosignature: not enough for this client
    with pytest.raises(NoteVerificationError, match="quorum"):
        monitor.observe()
    # the witness cosigns it (nothing before: old size 0); a monitor fetches the cosigned note
    line = witness.add_checkpoint(format_add_checkpoint(0, [], first.note), now[0])
    witnessed = cosigned(first.note, line)
    now[0] += 60
    assert monitor.observe(witnessed).cosignatures[0].timestamp == T0
    # a cosignature by a witness the client does not know does not count
    other = Witness("witness.example/other", site.vkey)
    with pytest.raises(NoteVerificationError, match="quorum"):
        monitor.observe(cosigned(first.note, other.add_checkpoint(format_add_checkpoint(0, [], first.note), T0)))
    # the log freezes: the same note, the same cosignature, an hour later
    now[0] = T0 + MAX_AGE + 1
    with pytest.raises(Alarm, match="stale"):
        monitor.observe(witnessed)
    # a cosignature from the future is no better
    ahead = witness.add_checkpoint(format_add_checkpoint(8, [], first.note), now[0] + 3600)
    with pytest.raises(Alarm, match="future"):
        monitor.observe(cosigned(first.note, ahead))
    # an idle log stays fresh: the witness re-cosigns the same checkpoint now
    again = witness.add_checkpoint(format_add_checkpoint(8, [], first.note), now[0])
    assert monitor.observe(cosigned(first.note, again)).checkpoint.size == 8
    # the log grows; the witness checks the proof before cosigning, the monitor checks the server's proof
    site.grow(4)
    second = site.publish()
    body = format_add_checkpoint(8, site.log.consistency(8, 12), second.note)
    now[0] += 100
    newer = cosigned(second.note, witness.add_checkpoint(body, now[0]))
    assert monitor.observe(newer).checkpoint.size == 12
    # and the witness will not freshen the old checkpoint now: the operator cannot hide the growth
    with pytest.raises(Refused) as refused:
        witness.add_checkpoint(format_add_checkpoint(8, [], first.note), now[0])
    assert refused.value.status == 409
    with pytest.raises(Refused) as refused:
        witness.add_checkpoint(format_add_checkpoint(12, [], first.note), now[0])
    assert refused.value.status == 400
