"""Several processes writing to one store: every statement recorded exactly once, in one total order."""

from __future__ import annotations

import multiprocessing
import os

from registry import config
from registry.application import open_registry
from registry.leaf import parse_leaf
from registry.state import fold
from tests.conftest import ORIGIN, Actor, Backend, make_world

PROCESSES = 4
PER_PROCESS = 250


def _worker(env: dict[str, str], data_dir: str, envelopes: list[bytes]) -> list[tuple[int, str]]:
    os.environ.update(env)
    registry = open_registry(config.load(data_dir, environ={**env, "REGISTRY_ORIGIN": ORIGIN}))
    try:
        return [(r.index, r.envelope_hash) for r in (registry.submit(e) for e in envelopes)]
    finally:
        registry.close()


def test_four_processes_one_store(backend: Backend) -> None:
    registry = backend.open()
    world = make_world(registry)
    maintainer: Actor = world.maintainer
    batches = [
        [maintainer.sign("organization.registered", org=f"org-{p}-{i}", name=f"Org {p}/{i}", country="JP",
                         kind="company", public_keys=[]) for i in range(PER_PROCESS)]
        for p in range(PROCESSES)
    ]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        results = pool.starmap(_worker, [(backend.env, str(backend.data_dir), b) for b in batches])
    recorded = [r for batch in results for r in batch]
    # every submission got its own leaf, no two the same, and the log is dense
    indices = sorted(i for i, _ in recorded)
    assert indices == list(range(2, 2 + PROCESSES * PER_PROCESS))
    size = registry.size()
    assert size == 2 + PROCESSES * PER_PROCESS
    leaves = list(registry.leaves())
    assert len(leaves) == size
    by_index = {i: h for i, h in recorded}
    for i in range(2, size):
        assert parse_leaf(leaves[i]).envelope.hash == by_index[i]
    # each process's own submissions keep their order in the total order
    for batch in results:
        assert [i for i, _ in batch] == sorted(i for i, _ in batch)
    # the notification order of log entries is the leaf order
    entries = [n for n in registry.recorder.select_notifications(1, 10_000, topics=["registry:Log.EntryRecorded"])]
    assert [registry.mapper.to_domain_event(n).originator_version for n in entries] == list(range(1, size + 1))
    # and the whole log replays, every signature verified
    assert fold(leaves, verify=True).size == size
    registry.close()
