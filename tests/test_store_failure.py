"""When the store fails: 503 with Retry-After, nothing half-written, full recovery.

Three failures, each real (no mocks of the store):

- PostgreSQL becomes unreachable after the app started: the app reaches the
  shared server through a small TCP proxy that this test stops and restarts
  (the shared server itself is never touched).
- SQLite stays locked: another connection holds ``BEGIN EXCLUSIVE`` on the
  event store's file for longer than the registry's lock timeout.
- The disk is full: the SQLite data directory is a tiny tmpfs, filled up
  (skipped, with the reason, where mounting is not permitted).

In each case the submission endpoint answers ``503`` problem+json with
``Retry-After``, ``Registry.submit`` raises :class:`StorageUnavailableError`
(a typed error, never the store's own exception), a fresh registry opened on
the same store sees nothing of the refused statement, and once the failure
ends the same envelope is recorded, exactly once.

To keep this fast the store's waits are made short for the test: the SQLite
lock timeout (``SQLITE_LOCK_TIMEOUT``, set in ``registry.config``), the
PostgreSQL connect timeout and the registry's ``WRITE_DEADLINE``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry import application, config, envelope
from registry.domain import organization_id
from registry.errors import StorageUnavailableError
from registry.leaf import parse_leaf
from registry.state import statement_hash
from registry.transparency import open_log
from tests.conftest import ORIGIN, Actor, Backend, World, _make_backend, make_world
from web import close_app, create_app

PROBLEM = "application/problem+json"
SQLITE_LOCK_SECONDS = "1"  # the library takes whole seconds
PG_CONNECT_SECONDS = "1"
WRITE_DEADLINE = 2.0


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail in seconds, not the production half-minute (same code paths, smaller numbers)."""
    original = config.eventsourcing_env

    def quick(settings: config.Settings) -> dict[str, str]:
        env = original(settings)
        if "SQLITE_LOCK_TIMEOUT" in env:
            env["SQLITE_LOCK_TIMEOUT"] = SQLITE_LOCK_SECONDS
        if "POSTGRES_HOST" in env:
            env["POSTGRES_CONNECT_TIMEOUT"] = PG_CONNECT_SECONDS
        return env

    monkeypatch.setattr(config, "eventsourcing_env", quick)
    monkeypatch.setattr(application, "WRITE_DEADLINE", WRITE_DEADLINE)


# --- helpers ---------------------------------------------------------------------------


def build_app(backend: Backend) -> Flask:
    return create_app({"DATA_DIR": backend.data_dir, "SUBMIT_RATE": "1000/second",
                       "ENVIRON": {**backend.env, "REGISTRY_ORIGIN": ORIGIN}})


@contextlib.contextmanager
def served_world(backend: Backend) -> Iterator[tuple[Flask, World]]:
    """An app on an initialized store; the world submits through the app's own registry."""
    app = build_app(backend)
    try:
        world = make_world(app.extensions["node"].registry)
        world.code()
        yield app, world
    finally:
        close_app(app)


def registration(world: World, slug: str = "acme") -> bytes:
    return world.maintainer.sign("organization.registered", org=slug, name=f"{slug.title()} Ltd",
                                 country="JP", kind="company", public_keys=[Actor().public])


def post(client: FlaskClient, data: bytes) -> TestResponse:
    return client.post("/api/v1/statements", data=data, content_type="application/json")


def assert_unavailable(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    retry_after = response.headers.get("Retry-After", "")
    assert retry_after.isdigit() and int(retry_after) > 0
    body = json.loads(response.data)
    assert body["status"] == 503
    assert body["type"] == "https://hcoc-registry.org/problems/storage-unavailable"
    assert "Traceback" not in body["detail"]
    return body


def assert_not_recorded(backend: Backend, data: bytes, size: int) -> None:
    """A registry opened afresh on the store (no cache) finds no trace of the statement."""
    fresh = backend.open()
    try:
        assert fresh.size() == size
        assert fresh.find(statement_hash(envelope.parse(data).payload)) is None
        assert fresh.get(organization_id("acme")) is None
        assert len(list(fresh.leaves())) == size
    finally:
        fresh.close()


def assert_recorded_once(backend: Backend, data: bytes, size: int) -> None:
    fresh = backend.open()
    try:
        assert fresh.size() == size
        env_hash = envelope.parse(data).hash
        holding = [i for i, leaf in enumerate(fresh.leaves()) if parse_leaf(leaf).envelope.hash == env_hash]
        assert holding == [size - 1]
        found = fresh.find(statement_hash(envelope.parse(data).payload))
        assert found is not None and found.index == size - 1
        assert fresh.get(organization_id("acme")) is not None
        log = open_log(backend.settings(), fresh)
        try:
            assert log.catch_up() == size
        finally:
            log.store.datastore.close()
    finally:
        fresh.close()


def recover(client: FlaskClient, backend: Backend, data: bytes, size: int, retry_for: float = 0.0) -> None:
    """The same envelope now goes in once; sending it again answers the existing record."""
    deadline = time.monotonic() + retry_for
    first = post(client, data)
    while first.status_code == 503 and time.monotonic() < deadline:
        assert_unavailable(first)
        time.sleep(1.0)
        first = post(client, data)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert first.json["index"] == size and first.json["duplicate"] is False
    again = post(client, data)
    assert again.status_code == 200 and again.json["duplicate"] is True and again.json["index"] == size
    assert_recorded_once(backend, data, size + 1)


# --- PostgreSQL unreachable ------------------------------------------------------------


class Proxy:
    """A TCP relay to the PostgreSQL server that can be cut and restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one, as a network failure would."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied_postgres(tmp_path: Path) -> Iterator[tuple[Backend, Proxy]]:
    with contextlib.contextmanager(_make_backend)("postgres", tmp_path) as backend:
        from urllib.parse import urlsplit

        real = urlsplit(backend.env["REGISTRY_DATABASE_URL"])
        proxy = Proxy((real.hostname or "127.0.0.1", real.port or 5432))
        proxy.start()
        try:
            netloc = f"{real.username or 'postgres'}@127.0.0.1:{proxy.port}"
            url = real._replace(netloc=netloc).geturl()
            yield Backend("postgres", backend.data_dir, {**backend.env, "REGISTRY_DATABASE_URL": url}), proxy
        finally:
            proxy.stop()


@pytest.mark.postgres
def test_postgres_unreachable_answers_503_then_recovers(proxied_postgres: tuple[Backend, Proxy]) -> None:
    backend, proxy = proxied_postgres
    with served_world(backend) as (app, world):
        other = backend.open()  # another process's registry, opened while the database was up
        try:
            size = world.registry.size()
            data = registration(world)
            # 1. the network to the database goes away; three callers hit the outage at once
            proxy.stop()
            with ThreadPoolExecutor(3) as pool:
                posted = pool.submit(post, app.test_client(), data)
                read = pool.submit(app.test_client().get, "/api/v1/log/entries/0")
                direct = pool.submit(other.submit, registration(world, "other"))
                # the submission endpoint: 503 problem+json with Retry-After
                assert_unavailable(posted.result())
                # reads fail the same way, not with a 500
                assert_unavailable(read.result())
                # the application API says it with a typed error (the CLI and other callers rely on it)
                with pytest.raises(StorageUnavailableError):
                    direct.result()
        finally:
            other.close()
        # 2. it comes back on the same address: nothing of the refused statement is there...
        proxy.start()
        assert_not_recorded(backend, data, size)
        # ...and the same submission succeeds, exactly once, without restarting the app: its connection
        # pool reconnects by itself (with backoff, so the client retries while told 503 + Retry-After)
        recover(app.test_client(), backend, data, size, retry_for=120.0)


# --- SQLite locked ---------------------------------------------------------------------


def test_sqlite_locked_answers_503_then_recovers(sqlite_backend: Backend) -> None:
    backend = sqlite_backend
    with served_world(backend) as (app, world):
        client = app.test_client()
        size = world.registry.size()
        data = registration(world)
        db = Path(backend.settings().database_url[len("sqlite:///"):])
        holder = sqlite3.connect(db, isolation_level=None, timeout=0)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            body = assert_unavailable(post(client, data))
            waited = time.monotonic() - started
            # it tried for the write deadline (not forever, not once)
            assert WRITE_DEADLINE <= waited < WRITE_DEADLINE + 3 * int(SQLITE_LOCK_SECONDS) + 2, waited
            assert "try again" in body["detail"]
            with pytest.raises(StorageUnavailableError):
                world.registry.submit(registration(world, "other"))
            # reads go on while writes are blocked (WAL): the log and the API still answer
            assert client.get("/api/v1/log/entries/0").status_code == 200
            assert_not_recorded(backend, data, size)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        recover(client, backend, data, size)


# --- disk full -------------------------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``path``; the reason it cannot be done, or None."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"mount -t tmpfs is not permitted here: {result.stderr.strip()}"
    return None


def _fill(path: Path) -> None:
    """Write until the filesystem has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    reason = _mount_tmpfs(mount_point, "8m")
    if reason is not None:
        pytest.skip(f"disk-full simulation skipped: {reason}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if os.path.ismount(mount_point):  # something still open: detach it anyway
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def test_disk_full_answers_503_then_recovers(tiny_disk: Path) -> None:
    backend = Backend("sqlite", tiny_disk, {"REGISTRY_DATABASE_URL": f"sqlite:///{tiny_disk / 'registry.db'}"})
    with served_world(backend) as (app, world):
        client = app.test_client()
        size = world.registry.size()
        data = registration(world)
        filler = tiny_disk / "filler"
        _fill(filler)
        assert os.statvfs(tiny_disk).f_bavail == 0
        assert_unavailable(post(client, data))
        with pytest.raises(StorageUnavailableError):
            world.registry.submit(registration(world, "other"))
        filler.unlink()  # the operator frees space
        assert_not_recorded(backend, data, size)
        recover(client, backend, data, size)
    # and the database file came through intact
    with contextlib.closing(sqlite3.connect(tiny_disk / "registry.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
