"""The transparency log as a projection of the event store, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry import envelope, keys, tiles, tlog
from registry.checkpoint import open_checkpoint
from registry.errors import InconsistentLogError, NotFoundError, NotYetCoveredError
from registry.leaf import parse_leaf
from registry.receipts import verify_receipt
from registry.signednote import signer_from_private
from registry.tiles import TILE_WIDTH
from registry.times import parse_time
from registry.transparency import TransparencyLog, open_log
from scripts.cli import main
from tests.conftest import Actor, Backend, World, make_world


@pytest.fixture
def log(backend: Backend, world: World) -> Iterator[TransparencyLog]:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    transparency = open_log(settings, world.registry, with_signer=True)
    yield transparency


def fill(world: World, n: int) -> None:
    start = world.registry.size()
    for i in range(start, start + n):
        world.org(f"org-{i}")


def reference(world: World, size: int) -> tlog.MemoryHashStore:
    store = tlog.MemoryHashStore()
    store.extend([tlog.leaf_hash(leaf) for leaf in world.registry.leaves(0, size)])
    return store


def test_log_matches_a_reference_tree(world: World, log: TransparencyLog) -> None:
    fill(world, 40)
    size = log.catch_up()
    assert size == world.registry.size() == 42
    ref = reference(world, size)
    for n in range(1, size + 1):
        assert log.root(n) == ref.root(n)
    for n in (1, 7, 16, 33, size):
        root = ref.root(n)
        for i in range(n):
            proof = log.inclusion(i, n)
            assert proof.leaf_hash == tlog.leaf_hash(world.registry.leaf(i))
            tlog.verify_inclusion(i, n, proof.leaf_hash, proof.hashes, root)
    for old in range(0, size + 1, 5):
        for new in range(old, size + 1, 7):
            tlog.verify_consistency(old, new, ref.root(old), ref.root(new), log.consistency(old, new))


def test_incremental_integration_in_small_batches(world: World, log: TransparencyLog) -> None:
    fill(world, 20)
    log.catch_up(batch=3)
    fill(world, 1)
    log.catch_up(batch=1)
    assert log.root() == reference(world, world.registry.size()).root()


def test_replay_into_a_fresh_store_gives_the_same_log(backend: Backend, second_backend: Backend,
                                                      world: World, log: TransparencyLog) -> None:
    fill(world, 300)  # one full tile and a partial one
    size = log.catch_up()
    copy = second_backend.open()
    try:
        for leaf in world.registry.leaves():
            parsed = parse_leaf(leaf)
            copy.submit(parsed.envelope.canonical, now=parse_time(parsed.recorded_at), live=False)
        copy_log = open_log(second_backend.settings(), copy)
        assert copy_log.catch_up() == size
        assert list(copy.leaves()) == list(world.registry.leaves())
        assert copy_log.root() == log.root()
        for level, count in ((0, 2), (1, 1)):
            for index in range(count):
                assert copy_log.store.tile(level, index) == log.store.tile(level, index)
        assert len(log.store.tile(0, 0)) == TILE_WIDTH * 32
    finally:
        copy.close()


@pytest.mark.parametrize("step", ["locked", "computed", "tiles-written", "head-written", "tracked"])
def test_a_crash_at_any_step_resumes_without_gap_or_duplicate(world: World, log: TransparencyLog,
                                                              step: str) -> None:
    fill(world, 10)
    log.catch_up()
    before = (log.size(), log.root(), log.store.tracking_position())
    fill(world, 5)

    def crash(at: str) -> None:
        if at == step:
            raise RuntimeError(f"simulated crash at {at}")

    with pytest.raises(RuntimeError, match="simulated crash"):
        log.catch_up(fault=crash)
    assert (log.size(), log.root(), log.store.tracking_position()) == before
    assert log.catch_up() == world.registry.size()
    assert log.root() == reference(world, log.size()).root()
    assert log.catch_up() == world.registry.size()  # running again changes nothing


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_dense_indices_across_notification_id_gaps(backend: Backend, world: World, log: TransparencyLog) -> None:
    import psycopg

    from tests.conftest import PG_URL

    fill(world, 3)
    # A rolled-back insert burns sequence values: the next notification ids skip some numbers.
    schema = backend.env["REGISTRY_POSTGRES_SCHEMA"]
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f"SELECT nextval(pg_get_serial_sequence('{schema}.registry_events', 'notification_id'))")
        conn.execute(f"SELECT nextval(pg_get_serial_sequence('{schema}.registry_events', 'notification_id'))")
        conn.rollback()
    fill(world, 3)
    ids = [n.id for n in world.registry.recorder.select_notifications(1, 1000, topics=["registry:Log.EntryRecorded"])]
    assert any(b - a > 1 for a, b in itertools.pairwise(ids)), "expected a gap in notification ids"
    assert log.catch_up() == world.registry.size() == len(ids)
    assert log.root() == reference(world, log.size()).root()


def test_checkpoints_are_signed_only_when_the_tree_grows(world: World, log: TransparencyLog) -> None:
    fill(world, 5)
    first, new = log.publish_checkpoint()
    assert new and first is not None and first.size == 7
    again, new = log.publish_checkpoint()
    assert not new and again == first
    fill(world, 2)
    second, new = log.publish_checkpoint()
    assert new and second.size == 9
    assert [c.size for c in log.store.checkpoints()] == [7, 9]
    verifier = log.signer.verifier
    for stored in log.store.checkpoints():
        opened = open_checkpoint(stored.note, log.origin, verifier)
        assert opened.checkpoint.root == log.root(stored.size) == stored.root
    tlog.verify_consistency(7, 9, first.root, second.root, log.consistency(7, 9))


def test_never_signs_a_tree_inconsistent_with_a_published_checkpoint(world: World, log: TransparencyLog) -> None:
    fill(world, 4)
    log.publish_checkpoint()
    # A malicious edit of a stored hash inside the checkpointed part of the tree: the node over
    # leaves 0-3 (tile row layout: 6 level-0 hashes, then 3 level-1, then this one).
    with log.store.datastore.transaction(commit=True) as c:
        c.execute(log.store._q("SELECT data FROM {t}log_tiles WHERE level = 0 AND idx = 0"))
        row = c.fetchone()
        data = bytearray(bytes(row["data"] if isinstance(row, dict) else row[0]))
        data[(6 + 3) * 32] ^= 1
        c.execute(log.store._q("UPDATE {t}log_tiles SET data = %s WHERE level = 0 AND idx = 0"), (bytes(data),))
    fill(world, 1)
    with pytest.raises(InconsistentLogError):
        log.publish_checkpoint()
    assert len(log.store.checkpoints()) == 1


def test_receipts_verify_end_to_end(world: World, log: TransparencyLog) -> None:
    acme = Actor()
    world.code()
    world.org("acme", acme)
    made = world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                                  scope="all", effective_date="2024-01-01"))
    fill(world, 6)
    log.publish_checkpoint()
    receipt = log.receipt(made.index)
    verified = verify_receipt(receipt, origin=log.origin, log_verifier=log.signer.verifier)
    assert verified.index == made.index and verified.leaf == world.registry.leaf(made.index)
    envelope.verify(parse_leaf(verified.leaf).envelope, keys.public_bytes(acme.key))
    signed = world.registry.size()
    # beyond the log: not found; in the log but not yet signed: not yet covered; not under a given size: not found
    with pytest.raises(NotFoundError, match=f"no leaf {signed + 5}") as beyond:
        log.receipt(signed + 5)
    assert type(beyond.value) is NotFoundError
    late = world.org("late")
    log.catch_up()
    with pytest.raises(NotYetCoveredError, match=f"covers {signed} leaves"):
        log.receipt(late.index)
    with pytest.raises(NotFoundError, match="no published checkpoint") as under_size:
        log.receipt(late.index, signed)
    assert type(under_size.value) is NotFoundError


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_offline_verification_commands(world: World, log: TransparencyLog, tmp_path: Path) -> None:
    acme = Actor()
    world.code()
    world.org("acme", acme)
    made = world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                                  scope=[1, 2], effective_date="2024-01-01"))
    old, _ = log.publish_checkpoint()
    fill(world, 3)
    new, _ = log.publish_checkpoint()
    vkey = log.signer.verifier_key
    (tmp_path / "receipt").write_bytes(log.receipt(made.index))
    (tmp_path / "acme.pub").write_text(acme.public + "\n")
    (tmp_path / "other.pub").write_text(Actor().public + "\n")
    (tmp_path / "old").write_bytes(old.note)
    (tmp_path / "new").write_bytes(new.note)
    proof = log.consistency(old.size, new.size)
    (tmp_path / "proof.json").write_text(json.dumps({"hashes": [base64.b64encode(h).decode() for h in proof]}))
    code, out = run(["verify", "receipt", str(tmp_path / "receipt"), "--log-key", vkey,
                     "--signer-key", str(tmp_path / "acme.pub")])
    assert code == 0 and "ok   statement signature" in out and "ok   inclusion" in out
    code, out = run(["verify", "receipt", str(tmp_path / "receipt"), "--log-key", vkey,
                     "--signer-key", str(tmp_path / "other.pub")])
    assert code == 1 and "FAILED" in out and "statement signature" in out
    # a receipt whose proof was changed fails at the inclusion step
    lines = (tmp_path / "receipt").read_text().split("\n")
    proof_line = next(i for i, line in enumerate(lines) if i > 2 and len(line) == 44)
    lines[proof_line] = base64.b64encode(bytes(32)).decode()
    (tmp_path / "bad").write_text("\n".join(lines))
    code, out = run(["verify", "receipt", str(tmp_path / "bad"), "--log-key", vkey])
    assert code == 1 and "FAILED: verification-failed: inclusion" in out
    code, out = run(["verify", "checkpoint", str(tmp_path / "new"), "--log-key", vkey])
    assert code == 0 and f"size {new.size}" in out
    other_key = signer_from_private(log.origin, keys.generate()).verifier_key
    code, out = run(["verify", "checkpoint", str(tmp_path / "new"), "--log-key", other_key])
    assert code == 1 and "checkpoint" in out
    code, out = run(["verify", "consistency", str(tmp_path / "old"), str(tmp_path / "new"), "--log-key", vkey,
                     "--proof", str(tmp_path / "proof.json")])
    assert code == 0, out
    code, out = run(["verify", "consistency", str(tmp_path / "new"), str(tmp_path / "old"), "--log-key", vkey,
                     "--proof", str(tmp_path / "proof.json")])
    assert code == 1


def test_tiles_cover_the_log(world: World, log: TransparencyLog) -> None:
    fill(world, 258)
    size = log.catch_up()
    reader = tiles.tile_hash_reader(size, lambda path: _served(log, path))
    assert tlog.tree_hash(size, reader) == log.root()


def _served(log: TransparencyLog, path: str) -> bytes:
    tile = tiles.parse_tile_path(path)
    data = log.store.tile(tile.level, tile.index)
    assert data is not None
    return data if tile.width is None else data[: tile.width * 32]


def test_world_fixture_is_fresh(backend: Backend) -> None:
    registry = backend.open()
    try:
        world = make_world(registry)
        assert world.registry.size() == 2
    finally:
        registry.close()
