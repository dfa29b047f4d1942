"""``registry witness init`` and ``registry witness serve`` as real processes, spoken to over loopback HTTP.

Each test starts the command line's witness (its own process, its own state
file) and sends it add-checkpoint bodies as a log would. Two witness processes
on one state file stand in for a witness restarted during a request, or run
twice by mistake: racing forks of one log never get two roots cosigned at one
size.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry import keys, tlog
from registry.checkpoint import open_checkpoint
from registry.signednote import parse_verifier_key
from tests.harness import BIN, free_port
from tests.test_witnessing import ORIGIN, Log

NAME = "witness.test/w1"


@dataclass
class Running:
    """A witness process: its URL, verifier key, state file and log file."""

    process: subprocess.Popen[bytes]
    url: str
    vkey: str
    state: Path
    log_file: Path

    def post(self, body: bytes, path: str = "/add-checkpoint", headers: dict[str, str] | None = None,
             method: str = "POST") -> tuple[int, str, bytes]:
        request = urllib.request.Request(self.url + path, data=body if method == "POST" else None, method=method,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.startswith("{")]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def init_key(tmp_path: Path, name: str = NAME) -> tuple[Path, str]:
    key_file = tmp_path / "witness.key"
    result = subprocess.run([str(BIN / "registry"), "witness", "init", "--name", name, "--key", str(key_file)],
                            capture_output=True, text=True, timeout=60, check=True)
    return key_file, result.stdout.strip()


def start(tmp_path: Path, key_file: Path, vkey: str, logs: list[str], state: Path, port: int | None = None,
          tag: str = "w", name: str = NAME) -> Running:
    port = port or free_port()
    log_file = tmp_path / f"{tag}.log"
    with log_file.open("ab") as out:
        process = subprocess.Popen(
            [str(BIN / "registry"), "witness", "serve", "--key", str(key_file), "--name", name,
             *[a for log in logs for a in ("--log", log)], "--state", str(state), "--port", str(port)],
            stdout=out, stderr=out, start_new_session=True)
    running = Running(process, f"http://127.0.0.1:{port}", vkey, state, log_file)
    deadline = time.monotonic() + 30
    while not any(r.get("event") == "started" for r in running.records()):
        assert process.poll() is None and time.monotonic() < deadline, log_file.read_text()
        time.sleep(0.05)
    return running


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> Iterator[Running]:
    key_file, vkey = init_key(tmp_path)
    running = start(tmp_path, key_file, vkey, [log.vkey], tmp_path / "state.json")
    yield running
    running.stop()


def raw_status(running: Running, rest: bytes) -> int:
    """The status a witness answers to a POST whose headers and body (``rest``) are written by hand."""
    import socket

    port = int(running.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: witness\r\n" + rest)
        return int(conn.recv(64).split(b" ")[1])


def test_init_writes_an_owner_only_key_and_prints_its_verifier_key(tmp_path: Path) -> None:
    key_file, vkey = init_key(tmp_path)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    verifier = parse_verifier_key(vkey)
    assert (verifier.name, verifier.sig_type) == (NAME, 0x04)
    assert verifier.public_key == keys.public_bytes(keys.load_private(key_file))
    before = key_file.read_bytes()
    again = subprocess.run([str(BIN / "registry"), "witness", "init", "--name", NAME, "--key", str(key_file)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert key_file.read_bytes() == before
    bad = subprocess.run([str(BIN / "registry"), "witness", "init", "--name", "has space", "--key",
                          str(tmp_path / "other.key")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and not (tmp_path / "other.key").exists()


def test_serve_cosigns_and_answers_every_refusal_as_the_spec_says(witness: Running, log: Log) -> None:
    log.grow(20)
    status, content_type, body = witness.post(log.body(0))
    assert status == 200 and content_type.startswith("text/plain")
    opened = open_checkpoint(log.signed() + body, ORIGIN, log.signer.verifier, [parse_verifier_key(witness.vkey)], 1)
    assert abs(opened.cosignatures[0].timestamp - time.time()) < 60
    log.grow(5)
    status, content_type, body = witness.post(log.body(3))
    assert (status, content_type, body) == (409, "text/x.tlog.size", b"20\n")
    proof = tlog.prove_consistency(20, 25, log.tree.read)
    assert witness.post(log.body(20, proof=proof[::-1]))[0] == 422
    assert witness.post(Log("witness.test/other").body(0))[0] == 404
    impostor = Log(ORIGIN)
    impostor.grow(3)
    assert witness.post(impostor.body(0))[0] == 403
    assert witness.post(b"old 0\n\nnot a checkpoint\n")[0] == 400
    assert witness.post(b"", path="/add-checkpoint", method="GET")[0] == 405
    assert witness.post(b"x", path="/other")[0] == 404
    assert raw_status(witness, b"\r\n") == 411
    assert raw_status(witness, b"Content-Length: 1048577\r\n\r\nold 0\n") == 413  # refused before it is read
    assert json.loads(witness.state.read_text())["logs"][ORIGIN]["size"] == 20
    assert witness.post(log.body(20))[0] == 200
    outcomes = [(r["event"], r.get("status")) for r in witness.records() if r["event"] in ("cosigned", "refused")]
    assert outcomes == [("cosigned", 200), ("refused", 409), ("refused", 422), ("refused", 404), ("refused", 403),
                        ("refused", 400), ("refused", 405), ("refused", 404), ("refused", 411), ("refused", 413),
                        ("cosigned", 200)]


def test_sigterm_stops_it_cleanly_and_the_state_survives(tmp_path: Path, witness: Running, log: Log) -> None:
    log.grow(9)
    assert witness.post(log.body(0))[0] == 200
    assert witness.stop() == 0
    assert witness.records()[-1]["event"] == "stopped"
    key_file = tmp_path / "witness.key"
    again = start(tmp_path, key_file, witness.vkey, [log.vkey], witness.state, tag="again")
    try:
        assert again.post(log.body(0))[:3] == (409, "text/x.tlog.size", b"9\n")
        log.grow(1)
        assert again.post(log.body(9))[0] == 200
    finally:
        assert again.stop() == 0


def test_a_slow_client_does_not_hold_the_witness(witness: Running, log: Log) -> None:
    """A connection that sends half a request and stalls does not keep others from being answered."""
    import socket

    port = int(witness.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nold")
        log.grow(2)
        assert witness.post(log.body(0))[0] == 200


def test_a_flood_of_idle_connections_costs_bounded_threads_and_passes(witness: Running, log: Log) -> None:
    import socket

    from scripts.witness_server import MAX_CONNECTIONS

    port = int(witness.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS + 8)]
    try:
        deadline = time.monotonic() + 10
        # Exactly the connections beyond the bound are turned away (each logged), the rest wait their turn.
        while sum("connections at once" in str(r.get("reason")) for r in witness.records()) < 8:
            assert time.monotonic() < deadline, "the connections beyond the bound were not turned away"
            time.sleep(0.05)
        time.sleep(0.3)
        assert sum("connections at once" in str(r.get("reason")) for r in witness.records()) == 8
    finally:
        for conn in idle:
            conn.close()
    log.grow(2)
    deadline = time.monotonic() + 10
    while True:  # the idle connections' threads end as they see the close
        try:
            assert witness.post(log.body(0))[0] == 200
            break
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_two_processes_on_one_state_file_never_cosign_two_roots_at_one_size(tmp_path: Path, log: Log) -> None:
    key_file, vkey = init_key(tmp_path)
    state = tmp_path / "state.json"
    pair = [start(tmp_path, key_file, vkey, [log.vkey], state, tag=f"w{i}") for i in range(2)]
    try:
        log.grow(4)
        assert pair[0].post(log.body(0))[0] == 200
        forks = []
        for i in range(12):
            fork = Log(ORIGIN, log.signer.private_key, prefix=b"fork-%d-" % i)
            fork.tree.extend([tlog.leaf_hash(b"entry%d" % n) for n in range(4)])
            fork.grow(3)
            forks.append(fork)
        answers: list[tuple[int, bytes]] = [(0, b"")] * len(forks)
        barrier = threading.Barrier(len(forks))

        def race(i: int) -> None:
            barrier.wait()
            status, _, body = pair[i % 2].post(forks[i].body(4))
            answers[i] = (status, forks[i].root() if status == 200 else body)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(forks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [root for status, root in answers if status == 200]
        assert len(won) == 1
        assert sorted(status for status, _ in answers) == [200] + [409] * (len(forks) - 1)
        assert all(body == b"7\n" for status, body in answers if status == 409)
        import base64

        assert json.loads(state.read_text())["logs"][ORIGIN]["root"] == base64.b64encode(won[0]).decode()
    finally:
        for running in pair:
            running.stop()
