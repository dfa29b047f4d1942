"""The clock's witness requests (``scripts.cosigner``) against witnesses that misbehave, over real HTTP.

A small HTTP server in this process plays a witness that answers whatever the
test says (a 200 without a valid cosignature, a 500, a 409 without its size,
a 409 naming a size beyond the log); one :class:`WitnessAsker` round is run
by hand against a real store, and what it stored, counted and logged is
checked. The well-behaved paths, with a real witness process and a real
clock, are in ``tests/test_witnessed_registry.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from registry import config, keys
from registry.transparency import log_verifier, open_log
from registry.witnessing import StateFile, Witness, known_logs, witness_verifier_key
from scripts.cosigner import WitnessAsker
from tests.conftest import Backend, sign_checkpoint, signing_world


class FakeWitness:
    """Answers each POST with the next (status, content type, body) the test queued; records the bodies."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, bytes]] = []
        self.bodies: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                status, content_type, body = fake.answers.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeWitness]:
    found = FakeWitness()
    yield found
    found.close()


def test_misbehaving_witnesses_are_counted_and_nothing_unverified_is_kept(backend: Backend, fake: FakeWitness,
                                                                          tmp_path: Path) -> None:
    with signing_world(backend) as world:
        checkpoint = sign_checkpoint(backend, world.registry)
        settings = backend.settings()
        verifier = log_verifier(settings)
        assert verifier is not None
        key = keys.generate()
        vkey = witness_verifier_key("fake.test/w", key)
        endpoint = config.WitnessEndpoint(fake.url, vkey)
        # A real cosignature by the configured key, to be answered in the right and the wrong places.
        real = Witness("fake.test/w", key, known_logs([verifier.vkey]), StateFile(tmp_path / "s.json"))
        from registry.witness import format_add_checkpoint

        line = real.add_checkpoint(format_add_checkpoint(0, [], checkpoint.note)).lines
        other = Witness("fake.test/w", keys.generate(), known_logs([verifier.vkey]), StateFile(tmp_path / "o"))
        foreign = other.add_checkpoint(format_add_checkpoint(0, [], checkpoint.note)).lines
        logged: list[dict[str, Any]] = []
        log = open_log(settings, world.registry)
        try:
            asker = WitnessAsker(endpoint, log, verifier, lambda event, **f: logged.append({"event": event, **f}),
                                 timeout=2)
            fake.answers = [
                (200, "text/plain", foreign),  # another key's cosignature: not the configured witness's
                (200, "text/plain", b"garbage\n"),
                (500, "text/plain", b"boom\n"),
                (409, "text/plain", b"1\n"),  # a 409 without its content type
                (409, "text/x.tlog.size", b"99\n"),  # a size beyond the newest checkpoint: asked no further
                (422, "text/plain", b"no\n"),
                (409, "text/x.tlog.size", f"{checkpoint.size}\n".encode()),  # then the retry succeeds
                (200, "text/plain", line),
            ]
            outcomes = []
            for _ in range(7):
                assert asker.round() is (len(outcomes) == 6)
                outcomes.append([r["outcome"] if r["event"] == "witness" else r["event"] for r in logged])
                logged.clear()
            assert outcomes == [["bad-answer"], ["bad-answer"], ["error"], ["bad-answer"],
                                ["conflict", "witness_ahead"], ["refused"], ["conflict", "cosigned"]]
            assert fake.answers == []
            # The request after "99": sent from 0 (what the store said), never from a size beyond the log.
            assert [b.split(b"\n")[0] for b in fake.bodies] == [b"old 0"] * 7 + [f"old {checkpoint.size}".encode()]
            assert log.store.cosignatures(checkpoint.size) == [(endpoint.label, line.decode())]
            counts = {(o, n) for _, o, n in log.store.witness_requests()}
            assert counts == {("bad-answer", 3), ("error", 1), ("conflict", 2), ("refused", 1), ("cosigned", 1)}
            # Once stored, the newest checkpoint is not asked for again.
            assert asker.round() is True and len(fake.bodies) == 8
        finally:
            log.store.datastore.close()


def test_a_cosignature_older_than_the_refresh_is_asked_for_again(backend: Backend, fake: FakeWitness,
                                                                 tmp_path: Path) -> None:
    """A quiet log keeps fresh cosignatures: else a monitor's --max-age would call it frozen."""
    from registry.cosigning import line_timestamp
    from registry.witness import format_add_checkpoint

    with signing_world(backend) as world:
        checkpoint = sign_checkpoint(backend, world.registry)
        settings = backend.settings()
        verifier = log_verifier(settings)
        assert verifier is not None
        key = keys.generate()
        endpoint = config.WitnessEndpoint(fake.url, witness_verifier_key("fake.test/w", key))
        now = [1_750_000_000.0]
        real = Witness("fake.test/w", key, known_logs([verifier.vkey]), StateFile(tmp_path / "s.json"),
                       clock=lambda: now[0])
        old_line = real.add_checkpoint(format_add_checkpoint(0, [], checkpoint.note)).lines
        now[0] = time.time()
        fresh_line = real.add_checkpoint(format_add_checkpoint(checkpoint.size, [], checkpoint.note)).lines
        log = open_log(settings, world.registry)
        try:
            log.store.add_cosignature(checkpoint.size, endpoint.label, old_line.decode(), "2025-06-15T15:06:40Z")
            asker = WitnessAsker(endpoint, log, verifier, lambda event, **f: None, timeout=2, refresh=3600)
            fake.answers = [(200, "text/plain", fresh_line)]
            assert asker.round() is True
            # Asked from the size it holds, with no proof; the fresh line replaced the stale one.
            assert fake.bodies == [format_add_checkpoint(checkpoint.size, [], checkpoint.note)]
            assert log.store.cosignatures(checkpoint.size) == [(endpoint.label, fresh_line.decode())]
            assert line_timestamp(fresh_line.decode()) == int(now[0])
            # Unreadable lines have no time (and are asked for again): never an exception in the asker's loop.
            assert line_timestamp("garbage\n") is None
            assert line_timestamp(checkpoint.note.decode().splitlines()[-1]) is None  # an Ed25519 line: no stamp
            # Fresh now: not asked again.
            assert asker.round() is True and len(fake.bodies) == 1
        finally:
            log.store.datastore.close()
