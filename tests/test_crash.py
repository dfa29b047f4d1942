"""Crash safety: SIGKILL the web server, the clock, or both, at random moments, under concurrent writes.

After every restart: every submission that got a 2xx is in the log exactly once, resubmitting
anything is idempotent, the log has no gap, checkpoints stay consistent, and the audit of the raw
store is clean. A few trials per backend in the default run; ``-m slow`` runs 20 per backend.
"""

from __future__ import annotations

import http.client
import itertools
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry import jobs, keys, tlog
from registry.leaf import parse_leaf
from scripts.cli import main
from tests.conftest import Backend, make_world
from tests.harness import get, post, processes

SUBMITTERS = 4


def run_trials(backend: Backend, tmp_path: Path, trials: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)
    counter = itertools.count()
    accepted: dict[str, int] = {}  # envelope hash -> index, for every 2xx answer
    tried: list[bytes] = []
    kills = {"web": 0, "clock": 0, "both": 0}
    lock = threading.Lock()

    def next_envelope() -> bytes:
        n = next(counter)
        return world.maintainer.sign("organization.registered", org=f"org-{n}", name=f"Org {n}", country="JP",
                                     kind="company", public_keys=[])

    with processes(backend, tmp_path / "logs") as running:
        running.start_web(workers=2)
        running.start_clock()
        for _trial in range(trials):
            stop = threading.Event()

            def submitter(stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    data = next_envelope()
                    with lock:
                        tried.append(data)
                    try:
                        status, body = post(running.base, "/api/v1/statements", data, timeout=10)
                    except (OSError, http.client.HTTPException, ValueError):
                        continue  # the server died under us: this one may or may not be recorded
                    if status in (200, 201):
                        with lock:
                            accepted[body["envelope_hash"]] = body["index"]

            threads = [threading.Thread(target=submitter) for _ in range(SUBMITTERS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.2))
            victim = rng.choice(["web", "clock", "both"])
            kills[victim] += 1
            if victim in ("web", "both"):
                running.kill(running.web, signal.SIGKILL)
            if victim in ("clock", "both"):
                running.kill(running.clocks[-1], signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join()
            if victim in ("web", "both"):
                running.start_web(workers=2)
            if victim in ("clock", "both"):
                running.start_clock()
        # resubmitting everything is idempotent: old ones answer 200 with their index, lost ones land now
        for data in tried:
            status, body = post(running.base, "/api/v1/statements", data)
            assert status in (200, 201), body
            if body["envelope_hash"] in accepted:
                assert status == 200 and body["index"] == accepted[body["envelope_hash"]]
            accepted[body["envelope_hash"]] = body["index"]
        total = registry.size()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            code, note = get(running.base, "/checkpoint")
            if code == 200 and int(note.split(b"\n")[1]) == total:
                break
            time.sleep(0.2)
        assert int(note.split(b"\n")[1]) == total
    node = jobs.open_node(settings, signer=False)
    try:
        leaves = [parse_leaf(leaf).envelope.hash for leaf in registry.leaves()]
        assert len(leaves) == total == len(set(leaves)) == 2 + len(tried)  # no gap, no duplicate, none lost
        for envelope_hash, index in accepted.items():
            assert leaves[index] == envelope_hash
        stored = node.log.store.checkpoints()
        for old, new in itertools.pairwise(stored):
            tlog.verify_consistency(old.size, new.size, old.root, new.root, node.log.consistency(old.size, new.size))
    finally:
        node.close()
        registry.close()
    result = CliRunner().invoke(main, ["audit"], env=backend.subprocess_env())
    assert result.exit_code == 0, result.output
    return {"trials": trials, "submissions": len(tried), **kills}


def test_kills_during_concurrent_writes(backend: Backend, tmp_path: Path) -> None:
    figures = run_trials(backend, tmp_path, trials=2, seed=1)
    assert figures["submissions"] > 0


@pytest.mark.slow
def test_kills_during_concurrent_writes_many_trials(backend: Backend, tmp_path: Path) -> None:
    figures = run_trials(backend, tmp_path, trials=20, seed=20)
    print(f"crash trials on {backend.name}: {figures}")
    assert figures["submissions"] > 0
