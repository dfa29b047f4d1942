"""Export and import through registry.porting's own functions, on real SQLite files.

tests/test_bundle.py drives the same code through ``registry export`` and
``registry import`` on both backends; here the values the functions return are
checked against the source registry, and the checks before anything is stored
(the target, the bundle's log key and listing order) each refuse on their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registry import bundle, keys, porting
from registry.errors import ConfigurationError, VerificationError
from registry.publish import publish_snapshot
from registry.signednote import format_verifier_key, parse_verifier_key, signer_from_private
from registry.state import fold
from registry.times import format_time
from registry.transparency import open_log, open_log_store
from tests.conftest import ORIGIN, Actor, Backend, _make_backend, signing_world

NOW = datetime(2025, 7, 1, 8, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Source:
    backend: Backend
    path: Path
    exported: porting.Exported
    leaves: list[bytes]
    checkpoint_sizes: list[int]
    log_vkey: str


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """A registry of nine entries, checkpoints at 4 and 8 (with a snapshot) and an unsigned tail; exported."""
    with contextlib.contextmanager(_make_backend)("sqlite", tmp_path_factory.mktemp("source")) as backend, \
            signing_world(backend) as world:
        settings = backend.settings()
        log = open_log(settings, world.registry, with_signer=True)
        acme = Actor()
        world.code()
        world.org("acme", acme)
        log.publish_checkpoint()
        world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                               scope="all", effective_date="2024-02-01"))
        for slug in ("beta", "gamma", "delta"):
            world.org(slug)
        publish_snapshot(log)
        world.org("epsilon")  # recorded after the last checkpoint: exported all the same
        vkey = signer_from_private(ORIGIN, keys.load_private(settings.log_key)).verifier_key
        path = tmp_path_factory.mktemp("bundle") / "registry.bundle"
        exported = porting.export_bundle(path, world.registry, log, vkey)
        sizes = [c.size for c in log.store.checkpoints()]
        log.store.datastore.close()
        yield Source(backend, path, exported, list(world.registry.leaves()), sizes, vkey)


def rewritten(source: Source, tmp_path: Path, **changes: object) -> Path:
    """The source bundle written again with some header fields or listings changed."""
    data = bundle.read(source.path)
    fields = {"origin": data.origin, "size": data.size, "root": data.root, "log_key": data.log_key,
              "leaves": data.leaves, "checkpoints": data.checkpoints, "snapshots": data.snapshots, **changes}
    path = tmp_path / "rewritten.bundle"
    bundle.write(path, **fields)  # type: ignore[arg-type]
    return path


def test_export_describes_the_log_it_wrote(source: Source) -> None:
    exported = source.exported
    assert (exported.path, exported.size, exported.checkpoints, exported.snapshots) == (
        source.path, len(source.leaves), 2, 1)
    assert len(source.leaves) == 9 and source.checkpoint_sizes == [4, 8]
    data = bundle.read(source.path)
    assert (data.origin, data.size, data.root, data.log_key) == (ORIGIN, 9, exported.root, source.log_vkey)
    assert data.leaves == source.leaves and not source.path.with_name("registry.bundle.partial").exists()


def test_verify_bundle_returns_what_it_checked(source: Source) -> None:
    verified = porting.verify_bundle(source.path)
    assert (verified.origin, verified.size, verified.root) == (ORIGIN, 9, source.exported.root)
    assert verified.leaves == source.leaves and verified.log_verifier.vkey == source.log_vkey
    assert [c.size for c in verified.checkpoints] == source.checkpoint_sizes
    assert [s.size for s in verified.snapshots] == [8] and verified.result.ok
    assert verified.snapshots[0].state_hash == fold(source.leaves[:8]).hash()


def test_import_records_a_mirror_that_holds_no_private_key(source: Source, sqlite_backend: Backend) -> None:
    seen: list[tuple[int, int]] = []
    imported = porting.import_verified(porting.verify_bundle(source.path), sqlite_backend.settings(), now=NOW,
                                       progress=lambda done, total: seen.append((done, total)), progress_every=4)
    assert (imported.origin, imported.size, imported.root, imported.checkpoints, imported.snapshots) == (
        ORIGIN, 9, source.exported.root, 2, 1)
    assert imported.state_hash == fold(source.leaves).hash()
    assert seen == [(4, 9), (8, 9)]
    mirror = sqlite_backend.open()
    store = open_log_store(sqlite_backend.settings())
    try:
        assert list(mirror.leaves()) == source.leaves
        assert [(c.size, c.published_at) for c in store.checkpoints()] == [(4, format_time(NOW)),
                                                                          (8, format_time(NOW))]
    finally:
        store.datastore.close()
        mirror.close()
    log_key = sqlite_backend.settings().log_key
    assert not log_key.exists()
    public = keys.load_public_file(keys.public_path(log_key))
    assert format_verifier_key(ORIGIN, public) == source.log_vkey


def test_import_refuses_a_target_that_holds_another_log_key(source: Source, sqlite_backend: Backend) -> None:
    log_key = sqlite_backend.settings().log_key
    log_key.parent.mkdir(mode=0o700, parents=True)
    keys.save_private(keys.generate(), log_key)
    with pytest.raises(ConfigurationError, match="holds another log key"):
        porting.import_verified(porting.verify_bundle(source.path), sqlite_backend.settings())
    store = open_log_store(sqlite_backend.settings())
    try:
        assert store.size() == 0 and store.checkpoints() == []
    finally:
        store.datastore.close()


def test_check_target_refuses_a_store_with_log_data_only(sqlite_backend: Backend) -> None:
    porting.check_target(sqlite_backend.settings())  # empty: accepted
    store = open_log_store(sqlite_backend.settings())
    try:
        store.add_checkpoint(1, bytes(32), b"a note\n", "2025-01-01T00:00:00Z")
    finally:
        store.datastore.close()
    with pytest.raises(ConfigurationError, match="already holds events or log data"):
        porting.check_target(sqlite_backend.settings())


def test_the_log_key_must_be_a_verifier_key_named_after_the_origin(source: Source, tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="not a verifier key"):
        porting.verify_bundle(rewritten(source, tmp_path, log_key="not a key"))
    other_name = format_verifier_key("elsewhere.example/log", parse_verifier_key(
        source.log_vkey).public_key)
    with pytest.raises(VerificationError, match=r"named 'elsewhere\.example/log'"):
        porting.verify_bundle(rewritten(source, tmp_path, log_key=other_name))


def test_checkpoints_must_be_listed_once_each_by_size(source: Source, tmp_path: Path) -> None:
    checkpoints = bundle.read(source.path).checkpoints
    for listed in (checkpoints[::-1], [checkpoints[0], *checkpoints]):
        with pytest.raises(VerificationError, match="checkpoints are not listed once each in size order"):
            porting.verify_bundle(rewritten(source, tmp_path, checkpoints=listed))
