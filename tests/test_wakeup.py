"""A submission wakes the clock (registry.wakeup, scripts/clock.py), on SQLite and on PostgreSQL.

Real clock processes run with a fallback interval of 30 s, so a checkpoint
served within a second of a 201 can only come from the wake-up, never from
the polling. The web side is the Flask app in this process. Also: a wake-up
meant for another registry's schema wakes nothing, a burst of submissions is
all covered by runs that never overlap, the web answers 201 with no clock
running, and a stale socket file does not stop a clock starting. The
integrate thread itself (a wake-up during a run, a burst, the fallback) is
checked in-process with a fake job.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry import wakeup
from scripts.clock import Integrator
from tests.conftest import PG_URL, Backend, World, signing_world
from tests.harness import Processes, processes, signed_sizes

FALLBACK = "30"  # seconds: far longer than any test waits, so only a wake-up can explain a quick checkpoint
WOKEN_WITHIN = 1.0


@dataclass
class Site:
    """A registry with a running clock process, served by the Flask app here."""

    app: Flask
    world: World
    running: Processes
    log_mark: int = 0  # where the clock logs stood once its first runs (integrate and snapshot) were done

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def submit(self, slug: str) -> dict[str, Any]:
        data = self.world.maintainer.sign("organization.registered", org=slug, name=f"{slug.title()} Ltd",
                                          country="JP", kind="company", public_keys=[])
        response = self.client.post("/api/v1/statements", data=data, content_type="application/json")
        assert response.status_code == 201, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def served_size(self) -> int:
        response = self.client.get("/checkpoint")
        return 0 if response.status_code == 404 else int(response.data.split(b"\n")[1])

    def checkpoint_runs(self) -> int:
        store = self.app.extensions["node"].log.store
        return next((runs for name, runs, *_ in store.jobs() if name == "checkpoint"), 0)


def wait_until(predicate: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``predicate`` held (polled every 5 ms), or None if it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.005)
    return None


def started_lines(running: Processes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in running.clock_logs().splitlines() if '"event": "started"' in line]


def start_clock(running: Processes, interval: str = FALLBACK) -> dict[str, Any]:
    """Start a clock and wait until it says it started; its ``started`` record."""
    before = len(started_lines(running))
    clock = running.start_clock(interval)
    deadline = time.monotonic() + 30
    while len(started_lines(running)) == before:
        assert clock.poll() is None and time.monotonic() < deadline, running.clock_logs()[-3000:]
        time.sleep(0.02)
    return started_lines(running)[-1]


@contextmanager
def site(backend: Backend, logs: Path, before_clock: Callable[[], None] = lambda: None) -> Iterator[Site]:
    with signing_world(backend) as world, processes(backend, logs) as running:
        before_clock()
        started = start_clock(running)
        assert started["interval"] == float(FALLBACK)
        assert started["wakeups"] == ("postgres-notify" if backend.name == "postgres" else "unix-socket")
        with backend.serve({"REGISTRY_CLOCK_INTERVAL": FALLBACK}, SUBMIT_RATE="100000/minute") as app:
            found = Site(app, world, running)
            # the clock's first run, at start, signs what was recorded before it
            assert wait_until(lambda: found.served_size() == world.registry.size(), 30) is not None
            assert wait_until(lambda: '"job": "snapshot"' in running.clock_logs(), 30) is not None
            found.log_mark = len(running.clock_logs())
            yield found


def assert_runs_never_overlapped(s: Site) -> None:
    logs = s.running.clock_logs()
    signed = signed_sizes(logs)
    assert signed == sorted(set(signed)), f"sizes signed out of order or twice: {signed}"
    # Two runs at once would meet at the signer lock, and one would say so. (At start the snapshot job
    # may meet the first run there: that is older than wake-ups, and harmless.)
    logs = logs[s.log_mark:]
    assert "another process holds the signer lock" not in logs
    assert '"job_error"' not in logs and '"job_skipped"' not in logs, logs[-3000:]


# --- real clock processes ---------------------------------------------------------------------


def test_a_submission_wakes_the_clock(backend: Backend, tmp_path: Path) -> None:
    with site(backend, tmp_path / "logs") as s:
        body = s.submit("acme")
        assert body["checkpoint_expected_within_seconds"] == float(FALLBACK)
        waited = wait_until(lambda: s.served_size() > body["index"], 5)
        assert waited is not None and waited < WOKEN_WITHIN, f"covered after {waited} s"
        assert s.client.get(f"/api/v1/receipts/{body['index']}").status_code == 200
        assert_runs_never_overlapped(s)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_wake_up_for_another_schema_wakes_nothing(backend: Backend, tmp_path: Path) -> None:
    with site(backend, tmp_path / "logs") as s:
        settings = backend.settings()
        other = dataclasses.replace(settings, extra={**settings.extra, "REGISTRY_POSTGRES_SCHEMA": "another"})
        assert wakeup.channel(other) != wakeup.channel(settings)
        recorded = s.world.org("quiet")  # recorded without a wake-up
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, '')", (wakeup.channel(other),))
            assert wait_until(lambda: s.served_size() > recorded.index, 1.5) is None
            conn.execute("SELECT pg_notify(%s, '')", (wakeup.channel(settings),))
            waited = wait_until(lambda: s.served_size() > recorded.index, 5)
        assert waited is not None and waited < WOKEN_WITHIN


def test_a_burst_is_all_covered_by_runs_that_never_overlap(backend: Backend, tmp_path: Path) -> None:
    with site(backend, tmp_path / "logs") as s:
        last = max(s.submit(f"org-{i}")["index"] for i in range(50))
        waited = wait_until(lambda: s.served_size() > last, 5)
        assert waited is not None and waited < WOKEN_WITHIN, f"covered after {waited} s"
        assert s.served_size() == s.world.registry.size()
        assert_runs_never_overlapped(s)
        # fifty wake-ups at once make a run or two, not fifty
        time.sleep(0.5)
        runs = s.checkpoint_runs()
        node = s.app.extensions["node"]
        for _ in range(50):
            node.wake_clock()
        time.sleep(1.0)
        assert 1 <= s.checkpoint_runs() - runs <= 5


def test_the_web_answers_201_without_a_clock(backend: Backend) -> None:
    if backend.name == "sqlite":  # a socket file left by a clock that was killed: nobody reads it
        stale_socket(wakeup.socket_path(backend.settings()))
    with signing_world(backend) as world, backend.serve() as app:
        client = app.test_client()
        data = world.maintainer.sign("organization.registered", org="acme", name="Acme Ltd", country="JP",
                                     kind="company", public_keys=[])
        started = time.monotonic()
        response = client.post("/api/v1/statements", data=data, content_type="application/json")
        assert response.status_code == 201, response.get_data(as_text=True)
        assert time.monotonic() - started < 5
        early = client.get(f"/api/v1/receipts/{response.get_json()['index']}")
        assert early.status_code == 404 and early.headers["Retry-After"] == "1"
        assert early.get_json()["type"].endswith("/not-yet-covered")


def stale_socket(path: Path) -> None:
    """A socket file that nothing listens on, as a SIGKILLed clock leaves it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_stale_socket_does_not_stop_the_clock(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = wakeup.socket_path(sqlite_backend.settings())
    with site(sqlite_backend, tmp_path / "logs", before_clock=lambda: stale_socket(path)) as s:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        body = s.submit("acme")
        waited = wait_until(lambda: s.served_size() > body["index"], 5)
        assert waited is not None and waited < WOKEN_WITHIN
        s.running.stop()
    assert not path.exists()  # a clock removes its own socket when it stops


def test_a_file_in_the_way_leaves_the_clock_polling(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = wakeup.socket_path(sqlite_backend.settings())
    with signing_world(sqlite_backend) as world, processes(sqlite_backend, tmp_path / "logs") as running:
        path.write_text("not ours")
        assert start_clock(running, "0.2")["wakeups"] == "none"
        world.org("acme")
        with sqlite_backend.serve() as app:
            client = app.test_client()
            assert wait_until(lambda: client.get("/checkpoint").status_code == 200, 10) is not None
        assert path.read_text() == "not ours"


# --- in-process: the listener and the integrate thread ----------------------------------------------


def test_the_socket_listener_wakes_and_cleans_up(sqlite_backend: Backend) -> None:
    settings = sqlite_backend.settings()
    woken = threading.Event()
    listener = wakeup.open_listener(settings, woken.set)
    assert listener.start()
    waker = wakeup.open_waker(settings, None)
    try:
        waker.wake()
        assert woken.wait(2)
        # another clock takes the path over: closing the first must not remove the second's socket
        second = wakeup.open_listener(settings, lambda: None)
        assert second.start()
        listener.close()
        assert wakeup.socket_path(settings).exists()
        second.close()
        assert not wakeup.socket_path(settings).exists()
        waker.wake()  # nobody listens: ignored
    finally:
        listener.close()
        waker.close()


def test_channels_are_per_schema(sqlite_backend: Backend) -> None:
    settings = sqlite_backend.settings()
    names = {wakeup.channel(dataclasses.replace(settings, extra={"REGISTRY_POSTGRES_SCHEMA": schema}))
             for schema in ("public", "a", "b", "A")}
    assert len(names) == 4
    assert all(name.isidentifier() and name == name.lower() and len(name) < 64 for name in names)


class FakeJob:
    """A job that takes ``seconds`` and records how many runs overlapped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs = 0
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()
        self.started = threading.Event()

    def __call__(self) -> None:
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        self.started.set()
        time.sleep(self.seconds)
        with self.lock:
            self.active -= 1
            self.runs += 1


def test_a_wake_up_during_a_run_asks_for_one_more() -> None:
    job = FakeJob(0.2)
    integrator = Integrator(job, interval=60)
    integrator.start()
    try:
        assert wait_until(lambda: job.runs == 1, 5) is not None  # the run at start
        job.started.clear()
        integrator.wake()
        assert job.started.wait(2)
        for _ in range(100):  # during that run: one more run, not a hundred
            integrator.wake()
        assert wait_until(lambda: job.runs == 3, 5) is not None
        time.sleep(0.5)
        assert job.runs == 3 and job.most_active == 1
    finally:
        integrator.stop()


def test_without_wake_ups_the_interval_still_runs_the_job() -> None:
    job = FakeJob(0.0)
    integrator = Integrator(job, interval=0.05)
    integrator.start()
    try:
        assert wait_until(lambda: job.runs >= 4, 5) is not None
    finally:
        integrator.stop()
    runs = job.runs
    time.sleep(0.2)
    assert job.runs == runs  # stopped
