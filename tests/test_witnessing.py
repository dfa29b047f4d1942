"""The witness's state machine and state file (``registry.witnessing``), on real files and real threads.

A small in-memory log (``tlog.MemoryHashStore``) signs checkpoints with a real
Ed25519 key; every request body is made with ``registry.witness`` as a log
would send it. The HTTP shell and the command line have their tests in
``tests/test_witness_server.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from registry import keys, tlog
from registry.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from registry.errors import ConfigurationError
from registry.signednote import parse_verifier_key, signer_from_private
from registry.witness import format_add_checkpoint
from registry.witnessing import STATE_VERSION, StateFile, Witness, WitnessRefusal, known_logs, parse_state

ORIGIN = "witness.test/log"
OTHER = "witness.test/other"
NAME = "witness.test/w1"


class Log:
    """A growing in-memory log that signs its checkpoints."""

    def __init__(self, origin: str = ORIGIN, key: object = None, prefix: bytes = b"entry") -> None:
        self.signer = signer_from_private(origin, key or keys.generate())  # type: ignore[arg-type]
        self.tree = tlog.MemoryHashStore()
        self.prefix = prefix

    @property
    def vkey(self) -> str:
        return self.signer.verifier_key

    def grow(self, n: int, prefix: bytes | None = None) -> None:
        start = self.tree.size
        self.tree.extend([tlog.leaf_hash((prefix or self.prefix) + b"%d" % i) for i in range(start, start + n)])

    def root(self, size: int | None = None) -> bytes:
        return tlog.tree_hash(self.tree.size if size is None else size, self.tree.read)

    def signed(self, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        return sign_checkpoint(Checkpoint(self.signer.name, size, self.root(size)), self.signer)

    def body(self, old: int, size: int | None = None, proof: list[bytes] | None = None) -> bytes:
        size = self.tree.size if size is None else size
        if proof is None:
            proof = tlog.prove_consistency(old, size, self.tree.read) if 0 < old <= size else []
        return format_add_checkpoint(old, proof, self.signed(size))


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> Witness:
    return Witness(NAME, keys.generate(), known_logs([log.vkey]), StateFile(tmp_path / "state.json"),
                   clock=lambda: 1_700_000_000)


def refusal(witness: Witness, body: bytes) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as e:
        witness.add_checkpoint(body)
    return e.value


def cosigned_note(witness: Witness, log: Log, body: bytes) -> bytes:
    """Add the checkpoint and check its cosignature with the witness's published verifier key."""
    done = witness.add_checkpoint(body)
    note = log.signed(done.size) + done.lines
    opened = open_checkpoint(note, log.signer.name, log.signer.verifier,
                             [parse_verifier_key(witness.verifier_key)], 1)
    assert opened.cosignatures[0].timestamp == 1_700_000_000
    return note


def test_first_checkpoint_then_growth_with_proof(witness: Witness, log: Log, tmp_path: Path) -> None:
    log.grow(5)
    cosigned_note(witness, log, log.body(0))
    assert witness.state.read()[ORIGIN].size == 5
    log.grow(300)
    cosigned_note(witness, log, log.body(5))
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["version"] == STATE_VERSION
    assert state["logs"][ORIGIN]["size"] == 305
    assert state["logs"][ORIGIN]["root"] == __import__("base64").b64encode(log.root()).decode()
    assert stat.S_IMODE(os.stat(tmp_path / "state.json").st_mode) == 0o600


def test_stale_old_size_gets_409_with_the_witness_size(witness: Witness, log: Log) -> None:
    log.grow(8)
    witness.add_checkpoint(log.body(0))
    log.grow(4)
    e = refusal(witness, log.body(3))
    assert (e.status, e.size) == (409, 8)
    e = refusal(witness, log.body(0))
    assert (e.status, e.size) == (409, 8)
    cosigned_note(witness, log, log.body(8))  # retried with the size it learnt


def test_bad_proof_is_422_and_changes_nothing(witness: Witness, log: Log) -> None:
    log.grow(8)
    witness.add_checkpoint(log.body(0))
    log.grow(9)
    good = tlog.prove_consistency(8, 17, log.tree.read)
    bad = [hashlib.sha256(b"x").digest(), *good[1:]]
    assert refusal(witness, log.body(8, proof=bad)).status == 422
    assert refusal(witness, log.body(8, proof=good[:-1])).status == 422
    assert refusal(witness, log.body(8, proof=[])).status == 422
    assert witness.state.read()[ORIGIN].size == 8


def test_proof_from_zero_must_be_empty(witness: Witness, log: Log) -> None:
    log.grow(4)
    assert refusal(witness, log.body(0, proof=[log.root(2)])).status == 422
    assert witness.state.read() == {}


def test_unknown_log_is_404_and_bad_signature_403(witness: Witness, log: Log) -> None:
    stranger = Log(OTHER)
    stranger.grow(3)
    assert refusal(witness, stranger.body(0)).status == 404
    impostor = Log(ORIGIN)  # the right origin, another key
    impostor.grow(3)
    assert refusal(witness, impostor.body(0)).status == 403
    log.grow(3)
    # A damaged signature by the right key: flip a bit of the signature
    # bytes, not of their base64 text, which could make the line malformed
    # instead of the signature wrong.
    text, _, line = log.signed().rstrip(b"\n").rpartition(b"\n")
    prefix, _, encoded = line.rpartition(b" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    note = text + b"\n" + prefix + b" " + base64.b64encode(bytes(raw)) + b"\n"
    e = refusal(witness, format_add_checkpoint(0, [], note))
    assert e.status == 403  # a well-formed line whose signature fails
    assert witness.state.read() == {}


def test_same_size_same_root_is_cosigned_again(witness: Witness, log: Log) -> None:
    log.grow(6)
    witness.add_checkpoint(log.body(0))
    cosigned_note(witness, log, log.body(6))


def test_same_size_other_root_is_refused(witness: Witness, log: Log) -> None:
    log.grow(6)
    witness.add_checkpoint(log.body(0))
    fork = Log(ORIGIN, log.signer.private_key, prefix=b"forged")
    fork.grow(6)
    assert refusal(witness, fork.body(6, proof=[])).status == 422
    assert witness.state.read()[ORIGIN].root == log.root()


def test_a_smaller_tree_is_never_cosigned(witness: Witness, log: Log) -> None:
    log.grow(10)
    witness.add_checkpoint(log.body(0))
    assert refusal(witness, log.body(10, size=7, proof=[])).status == 400  # old above the checkpoint
    e = refusal(witness, log.body(7, size=7))
    assert (e.status, e.size) == (409, 10)
    assert witness.state.read()[ORIGIN].size == 10


def test_a_forked_history_is_refused(witness: Witness, log: Log) -> None:
    """Same log key, same first entries, then others: no proof from the cosigned tree reaches the fork."""
    log.grow(10)
    witness.add_checkpoint(log.body(0))
    fork = Log(ORIGIN, log.signer.private_key)
    fork.grow(7)
    fork.grow(5, prefix=b"forged")
    assert refusal(witness, fork.body(10, size=12, proof=tlog.prove_consistency(7, 12, fork.tree.read))).status \
        in (422,)
    e = refusal(witness, fork.body(7, size=12))
    assert (e.status, e.size) == (409, 10)
    assert witness.state.read()[ORIGIN].root == log.root()


@pytest.mark.parametrize("body", [
    b"", b"old 0\n", b"old x\n\nfoo\n", b"old 01\n\n", b"\xff\xfe", b"old 0\nnot base64!\n\nchk\n",
    b"old 0\n\n" + b"witness.test/log\n3\n" + b"A" * 44 + b"\n\n",
])
def test_malformed_bodies_are_400(witness: Witness, body: bytes) -> None:
    assert refusal(witness, body).status == 400


def test_oversized_body_is_413(witness: Witness) -> None:
    assert refusal(witness, b"old 0\n" + b"A" * (1 << 20)).status == 413


def test_state_survives_a_restart(tmp_path: Path, log: Log) -> None:
    key = keys.generate()
    first = Witness(NAME, key, known_logs([log.vkey]), StateFile(tmp_path / "s.json"))
    log.grow(12)
    first.add_checkpoint(log.body(0))
    again = Witness(NAME, key, known_logs([log.vkey]), StateFile(tmp_path / "s.json"))
    assert (refusal(again, log.body(0)).size, again.state.read()[ORIGIN].root) == (12, log.root())


def test_a_damaged_state_file_stops_the_witness(tmp_path: Path, log: Log) -> None:
    path = tmp_path / "s.json"
    for text in ("{", "[]", json.dumps({"version": STATE_VERSION, "logs": {ORIGIN: {"size": -1, "root": "",
                                                                                    "cosigned_at": 0}}})):
        path.write_text(text)
        with pytest.raises(ConfigurationError):
            Witness(NAME, keys.generate(), known_logs([log.vkey]), StateFile(path))


def test_the_state_file_is_replaced_whole(tmp_path: Path, log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails half-way (the disk full at the rename) leaves the previous state readable."""
    state = StateFile(tmp_path / "s.json")
    witness = Witness(NAME, keys.generate(), known_logs([log.vkey]), state)
    log.grow(3)
    witness.add_checkpoint(log.body(0))
    before = (tmp_path / "s.json").read_bytes()

    def failing_replace(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    log.grow(3)
    with pytest.raises(OSError):
        witness.add_checkpoint(log.body(3))
    assert (tmp_path / "s.json").read_bytes() == before
    assert parse_state(before)[ORIGIN].size == 3


def test_racing_threads_never_cosign_two_roots_at_one_size(tmp_path: Path, log: Log) -> None:
    """Two forks of one log race from the same cosigned size: exactly one history wins each round."""
    key = keys.generate()
    # Two witnesses on one state file stand for two processes: each has its own in-process lock.
    witnesses = [Witness(NAME, key, known_logs([log.vkey]), StateFile(tmp_path / "s.json")) for _ in range(2)]
    log.grow(4)
    witnesses[0].add_checkpoint(log.body(0))
    forks = [Log(ORIGIN, log.signer.private_key, prefix=b"fork-%d-" % i) for i in range(8)]
    for fork in forks:
        fork.tree = tlog.MemoryHashStore()
        fork.tree.extend([tlog.leaf_hash(b"entry%d" % i) for i in range(4)])
        fork.grow(5)
    bodies = [fork.body(4) for fork in forks]
    won: list[bytes] = []
    refused: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def race(i: int) -> None:
        barrier.wait()
        try:
            done = witnesses[i % 2].add_checkpoint(bodies[i])
            won.append(forks[i].root())
            assert done.size == 9
        except WitnessRefusal as e:
            refused.append(e.status)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert sorted(refused) == [409] * (len(bodies) - 1)
    assert StateFile(tmp_path / "s.json").read()[ORIGIN].root == won[0]


def test_log_keys_are_checked(log: Log) -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        known_logs([])
    with pytest.raises(ConfigurationError, match="two log keys"):
        known_logs([log.vkey, Log(ORIGIN).vkey])
    with pytest.raises(ConfigurationError):
        known_logs(["not a key"])
