"""End to end on real processes: three gunicorn workers, two clocks, eight concurrent HTTP submitters.

Every accepted submission appears exactly once in the log, the log has no gap, every published
checkpoint is consistent with the previous one, no tree size was signed twice, and the audit of
the raw store is clean. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner

from registry import jobs, keys, tlog
from registry.checkpoint import open_checkpoint
from registry.leaf import parse_leaf
from registry.signednote import signer_from_private
from scripts.cli import main
from tests.conftest import Actor, Backend, make_world
from tests.harness import get, post, processes, signed_sizes

SUBMITTERS = 8
PER_SUBMITTER = 25


def test_three_workers_two_clocks_eight_submitters(backend: Backend, tmp_path: Path) -> None:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)
    world.code()
    signed = {
        s: [world.maintainer.sign("organization.registered", org=f"org-{s}-{i}", name=f"Org {s}/{i}", country="JP",
                                  kind="company", public_keys=[]) for i in range(PER_SUBMITTER)]
        for s in range(SUBMITTERS)
    }
    acme = Actor()
    with processes(backend, tmp_path / "logs") as running:
        running.start_web(workers=3)
        running.start_clock()
        running.start_clock()

        def submitter(envelopes: list[bytes]) -> list[tuple[int, str]]:
            accepted = []
            for data in envelopes:
                status, body = post(running.base, "/api/v1/statements", data)
                assert status == 201, body
                accepted.append((body["index"], body["envelope_hash"]))
            return accepted

        with ThreadPoolExecutor(SUBMITTERS) as pool:
            results = list(pool.map(submitter, signed.values()))
        # the same envelopes again: idempotent, nothing new
        status, again = post(running.base, "/api/v1/statements", signed[0][0])
        assert status == 200 and again["index"] == results[0][0][0]
        # a refusal over HTTP stores nothing
        status, problem = post(running.base, "/api/v1/statements",
                               acme.sign("organization.key_added", org="org-0-0", public_key=acme.public))
        assert status == 401 and problem["type"].endswith("unknown-key")
        accepted = [r for batch in results for r in batch]
        total = 3 + SUBMITTERS * PER_SUBMITTER
        node = jobs.open_node(settings, signer=False)
        try:
            # wait for a served checkpoint covering everything
            import time

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                code, body = get(running.base, "/checkpoint")
                if code == 200 and body.split(b"\n")[1] == str(total).encode():
                    break
                time.sleep(0.2)
            assert body.split(b"\n")[1] == str(total).encode()
            running.stop()
            # every accepted submission is in the log exactly once, and the log has no gap
            leaves = list(registry.leaves())
            assert len(leaves) == total == registry.size()
            hashes = [parse_leaf(leaf).envelope.hash for leaf in leaves]
            assert len(set(hashes)) == total
            for index, envelope_hash in accepted:
                assert hashes[index] == envelope_hash
            # checkpoints: each verifies, each is consistent with the previous, no size signed twice
            verifier = signer_from_private(settings.origin, keys.load_private(settings.log_key)).verifier
            stored = node.log.store.checkpoints()
            for cp in stored:
                open_checkpoint(cp.note, settings.origin, verifier)
            for old, new in itertools.pairwise(stored):
                tlog.verify_consistency(old.size, new.size, old.root, new.root,
                                        node.log.consistency(old.size, new.size))
            sizes = signed_sizes(running.clock_logs())
            assert sizes and len(sizes) == len(set(sizes)) and set(sizes) <= {cp.size for cp in stored}
        finally:
            node.close()
            registry.close()
    # and the audit of the raw store is clean
    result = CliRunner().invoke(main, ["audit"], env=backend.subprocess_env())
    assert result.exit_code == 0, result.output
