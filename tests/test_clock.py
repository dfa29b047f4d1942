"""The clock process: jobs, one signer at a time, and a SIGKILL mid-run that loses and duplicates nothing."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from registry import jobs, keys, tlog
from registry.checkpoint import open_checkpoint
from registry.locks import signer_lock
from registry.signednote import signer_from_private
from scripts import feedstore
from tests.conftest import Backend, make_world
from tests.harness import signed_sizes

REGISTRY = str(Path(sys.executable).with_name("registry"))


def test_the_signer_lock_is_exclusive(backend: Backend) -> None:
    settings = backend.settings()
    with signer_lock(settings) as first:
        assert first
        with signer_lock(settings) as second:
            assert not second
    with signer_lock(settings) as again:
        assert again


def test_jobs_are_idempotent(backend: Backend) -> None:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)
    world.code()
    node = jobs.open_node(settings)
    try:
        assert jobs.catch_up(node) == {"tree_size": 3, "read_models": 3}
        assert jobs.checkpoint(node) == {"signed": True, "size": 3}
        assert jobs.checkpoint(node) == {"signed": False, "size": 3}
        assert jobs.snapshot(node)["published"] is True
        assert jobs.snapshot(node)["published"] is False
        world.org("acme")
        assert jobs.snapshot(node) == {"published": False, "size": 3}  # not due yet: 1 new leaf, same day
        forced = jobs.snapshot(node, force=True)
        assert forced["published"] is True and forced["size"] == 4 and forced["checkpoint_signed"] is True
        with signer_lock(settings) as held:
            assert held
            assert jobs.checkpoint(node)["signed"] is False  # another process holds the lock: skip
        assert jobs.flags(node) == {"superseded_version": [], "keys_all_revoked": []}
    finally:
        node.close()
        registry.close()


def _start_clock(backend: Backend, log: Path) -> subprocess.Popen[bytes]:
    env = {**backend.subprocess_env(), "REGISTRY_CLOCK_INTERVAL": "0.1"}
    started = log.read_text().count('"event": "started"') if log.exists() else 0
    with log.open("ab") as out:  # the child keeps its own descriptor
        process = subprocess.Popen([REGISTRY, "clock"], env=env, stdout=subprocess.DEVNULL, stderr=out,
                                   start_new_session=True)
    deadline = time.monotonic() + 30
    while log.read_text().count('"event": "started"') == started and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        time.sleep(0.05)
    return process


def test_two_clocks_and_a_sigkill_lose_and_duplicate_nothing(backend: Backend, tmp_path: Path) -> None:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)
    logs = [tmp_path / "clock-a.log", tmp_path / "clock-b.log"]
    clocks = [_start_clock(backend, logs[0]), _start_clock(backend, logs[1])]
    node = jobs.open_node(settings, signer=False)
    try:
        for i in range(60):
            world.org(f"org-{i}")
            if i == 30:  # kill one clock mid-run, without warning, and start it again
                os.killpg(clocks[0].pid, signal.SIGKILL)
                clocks[0].wait()
                clocks[0] = _start_clock(backend, logs[0])
            time.sleep(0.02)
        deadline = time.monotonic() + 30
        latest = None
        while time.monotonic() < deadline:
            latest = node.log.latest_checkpoint()
            if latest is not None and latest.size == registry.size():
                break
            time.sleep(0.1)
        assert latest is not None and latest.size == registry.size() == 62
        for clock in clocks:
            os.killpg(clock.pid, signal.SIGTERM)
            assert clock.wait(timeout=20) == 0  # SIGTERM is a clean shutdown
        # every checkpoint verifies and is consistent with the one before it
        verifier = signer_from_private(settings.origin, keys.load_private(settings.log_key)).verifier
        stored = node.log.store.checkpoints()
        for cp in stored:
            opened = open_checkpoint(cp.note, settings.origin, verifier).checkpoint
            assert opened.root == node.log.root(cp.size)
        for old, new in itertools.pairwise(stored):
            tlog.verify_consistency(old.size, new.size, old.root, new.root, node.log.consistency(old.size, new.size))
        # no size was signed twice, by one clock or by both
        signed = signed_sizes(logs[0].read_text() + logs[1].read_text())
        assert len(signed) == len(set(signed)), f"a size was signed twice: {sorted(signed)}"
        # (a clock killed between storing a checkpoint and logging it leaves one unlogged, never a duplicate)
        assert set(signed) <= {cp.size for cp in stored} and len(stored) >= len(signed) > 0
    finally:
        for clock in clocks:
            if clock.poll() is None:
                os.killpg(clock.pid, signal.SIGKILL)
                clock.wait()
        node.close()
        registry.close()


def test_archive_pages_are_prerendered_and_served_from_the_store(sqlite_backend: Backend, monkeypatch) -> None:
    backend = sqlite_backend
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)
    for i in range(12):
        world.org(f"org-{i}")
    monkeypatch.setenv("REGISTRY_FEED_PAGE_SIZE", "5")
    monkeypatch.setenv("REGISTRY_ORIGIN", settings.origin)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", backend.env["REGISTRY_DATABASE_URL"])
    node = jobs.open_node(dataclasses.replace(settings, feed_page_size=5))
    try:
        # 14 leaves: pages 0 and 1, Atom and RSS, all rendered by the clock, without Flask
        assert feedstore.archives(node) == {"archive_pages": 4, "rendered": 4}
        assert feedstore.archives(node) == {"archive_pages": 4, "rendered": 0}  # stored: never rendered again
        stored = node.views.store.feed_page
        # a web process serves them from the store without rendering
        from feeds import documents
        from web import close_app, create_app

        def no_render(*_: object) -> bytes:
            raise AssertionError("rendered although the page was stored")

        monkeypatch.setattr(documents, "render_atom", no_render)
        app = create_app({"DATA_DIR": str(backend.data_dir)})
        try:
            response = app.test_client().get("/feeds/events/archive/1.atom")
            assert response.status_code == 200 and b"<fh:archive" in response.data
            assert stored("/feeds/events/archive/1.atom", response.headers["ETag"].strip('"')) is not None
        finally:
            close_app(app)
    finally:
        node.close()
        registry.close()
