"""Abuse limits: sizes, rates, bounded reads, and a read side that stays up under a write flood and slow clients.

In-process (SQLite):

- request size: a body over 64 KiB (with or without a Content-Length) is a
  413 problem and nothing is stored;
- statement size: an envelope over 32 KiB, and a statement over 16 KiB even
  when validly signed, are 413 ``too-large``, refused before any signature work;
- write rate: past the per-client bucket every submission (valid, garbage or
  oversized) is a 429 problem with a whole-second ``Retry-After``, nothing is
  stored, ``X-Forwarded-For`` does not open a new bucket, reads are not limited;
- pagination: ``limit`` above 200 or below 1 is a 400 on every list, a page
  never holds more than 200 items, huge ``after``/``before`` are answered at
  once (empty pages), indexes past 2**63-1 are 400;
- proofs: sizes beyond the tree (up to 2**63-1) are 404, non-canonical numbers
  400 (query) or 404 (path), an index not below the size 400, all fast.

With real gunicorn processes (tests/harness.py, the server options of
``registry serve``):

- 16 threads flood ``POST /api/v1/statements`` (2 workers,
  ``REGISTRY_SUBMIT_RATE=5/second``) while a reader polls the Atom feed, the
  organization list and the checkpoint: every read is a 200 and the reads'
  p99 latency stays under 2 s; most writes are 429s, accepted ones are
  bounded by the rate, and the store holds exactly the accepted ones;
- slowloris: 2 clients that send their request headers a byte every 0.5 s,
  and 2 that connect and send nothing, do not keep other clients waiting:
  requests made meanwhile are all answered within 2 s.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import queue
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry import compose, envelope, keys
from registry.envelope import MAX_ENVELOPE_BYTES, MAX_STATEMENT_BYTES, PAYLOAD_TYPE
from registry.transparency import open_log
from tests.conftest import ORIGIN, Actor, Backend, World, _make_backend, make_world
from tests.harness import BIN, Processes
from tests.test_fuzz_api import FUZZ_ORG, Populated, populated_app
from tests.test_web_api import HIROSHIMA, V1, publish_code
from web import MAX_CONTENT_LENGTH

PROBLEM = "application/problem+json"
TYPES = "https://hcoc-registry.org/problems/"
MAX_LIMIT = 200
FAST_ANSWER = 1.0  # seconds: a bounded request on a small registry, with room for a busy machine


# --- in-process ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with contextlib.contextmanager(_make_backend)("sqlite", tmp_path_factory.mktemp("abuse")) as backend:
        yield backend


@pytest.fixture(scope="module")
def served(backend_dir: Backend) -> Iterator[Populated]:
    with populated_app(backend_dir) as populated:
        yield populated


def problem(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.mimetype == PROBLEM, response.mimetype
    body: dict[str, Any] = json.loads(response.data)
    assert body["status"] == status and body["title"] and body["type"].startswith(TYPES)
    if code is not None:
        assert body["type"] == TYPES + code, body
    return body


def post(client: FlaskClient, data: bytes | io.BytesIO, **kwargs: Any) -> TestResponse:
    kwargs.setdefault("content_type", "application/json")
    if isinstance(data, io.BytesIO):
        return client.post("/api/v1/statements", input_stream=data, **kwargs)
    return client.post("/api/v1/statements", data=data, **kwargs)


def timed(call: Callable[[], TestResponse]) -> TestResponse:
    start = time.monotonic()
    response = call()
    assert time.monotonic() - start < FAST_ANSWER, f"took {time.monotonic() - start:.2f} s"
    return response


def oversized_statement(signer: Actor, size: int) -> bytes:
    """A validly signed envelope whose statement is ``size`` bytes (envelope.sign refuses to make one)."""
    stmt = compose.statement("endorsement.made", ORIGIN, org=FUZZ_ORG, code=HIROSHIMA, version=V1, scope="all",
                             effective_date="2024-02-01", statement="x")
    payload = bytearray(json.dumps(stmt, sort_keys=True, separators=(",", ":")).encode())
    payload[payload.index(b'"statement":"x"') + 13:payload.index(b'"statement":"x"') + 14] = b"x" * (
        size - len(payload) + 1)
    assert len(payload) == size
    sig = signer.key.sign(envelope.pae(PAYLOAD_TYPE, bytes(payload)))
    return json.dumps({"payload": base64.b64encode(bytes(payload)).decode(), "payloadType": PAYLOAD_TYPE,
                       "signatures": [{"keyid": signer.key_id, "sig": base64.b64encode(sig).decode()}]}).encode()


def test_request_size_is_bounded(served: Populated) -> None:
    client = served.app.test_client()
    before = served.sizes()
    for body in (b" " * (MAX_CONTENT_LENGTH + 1), b"{" * (1 << 20)):
        problem(timed(lambda b=body: post(client, b)), 413, "request-entity-too-large")
    # no Content-Length (a chunked upload, as gunicorn passes it on): the limit holds while the body is read
    for size in (MAX_CONTENT_LENGTH + 1, MAX_CONTENT_LENGTH * 4):
        chunked = post(client, io.BytesIO(b" " * size), headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})
        problem(chunked, 413, "request-entity-too-large")
    # at the limit exactly, a chunked body is read whole (and refused for what it is, not for its size)
    exact = post(client, io.BytesIO(served.seed + b" " * (MAX_CONTENT_LENGTH - len(served.seed))),
                 headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    problem(exact, 413, "too-large")
    assert served.sizes() == before


def test_statement_size_is_bounded(served: Populated) -> None:
    client = served.app.test_client()
    before = served.sizes()
    seed = json.loads(served.seed)
    padded = json.dumps(seed).encode() + b" " * (MAX_ENVELOPE_BYTES + 1 - len(json.dumps(seed)))
    assert MAX_ENVELOPE_BYTES < len(padded) < MAX_CONTENT_LENGTH
    body = problem(post(client, padded), 413, "too-large")
    assert "envelope" in body["detail"]
    # validly signed, but the statement is over 16 KiB: refused for its size, before its signature is looked at
    big = oversized_statement(served.signer, MAX_STATEMENT_BYTES + 1)
    assert len(big) < MAX_ENVELOPE_BYTES
    body = problem(post(client, big), 413, "too-large")
    assert "statement" in body["detail"]
    forged = json.loads(big)
    forged["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    problem(post(client, json.dumps(forged).encode()), 413, "too-large")
    assert served.sizes() == before


def test_write_rate_is_limited(backend_dir: Backend, served: Populated) -> None:
    with backend_dir.serve(SUBMIT_RATE="3/minute", SUBMIT_BURST="3") as app:
        client = app.test_client()
        for _ in range(3):
            problem(post(client, b"{}"), 400)  # refusals take tokens too
        before = served.sizes()
        fresh = served.signer.sign("endorsement.amended", org=FUZZ_ORG, code=HIROSHIMA, scope=[1, 2],
                                   effective_date="2024-03-01")
        attempts = [
            post(client, fresh),
            post(client, b"{}"),
            post(client, b" " * (MAX_CONTENT_LENGTH + 1)),  # refused before the body is read: 429, not 413
            post(client, fresh, headers={"X-Forwarded-For": "198.51.100.1"}),  # no proxy is trusted
            post(client, fresh, headers={"X-Real-IP": "198.51.100.2", "Forwarded": "for=198.51.100.3"}),
        ]
        for response in attempts:
            problem(response, 429, "rate-limited")
            assert 1 <= int(response.headers["Retry-After"]) <= 20, response.headers["Retry-After"]
            assert response.headers["Cache-Control"] == "no-store"
        assert served.sizes() == before
        for url in ("/api/v1/organizations", "/feeds/events.atom", "/checkpoint", "/api/v1/events"):
            response = client.get(url)
            assert response.status_code == 200 and "Retry-After" not in response.headers, url
        other = post(client, fresh, environ_base={"REMOTE_ADDR": "192.0.2.9"})
        assert other.status_code == 201, other.data  # another address has its own bucket


PAGED = ["/api/v1/organizations", "/api/v1/endorsements", "/api/v1/codes", "/api/v1/events",
         "/api/v1/organizations/acme"]
LOG_PAGED = ["/api/v1/events", "/api/v1/organizations/acme"]


def test_pagination_is_bounded(served: Populated) -> None:
    client = served.app.test_client()
    for url in PAGED:
        for limit in (str(MAX_LIMIT + 1), "1000000", "99999999999999999999", "0", "-1"):
            body = problem(timed(lambda u=url, n=limit: client.get(u, query_string={"limit": n})), 400)
            assert "'limit'" in body["detail"]
        page = timed(lambda u=url: client.get(u, query_string={"limit": str(MAX_LIMIT)}))
        assert page.status_code == 200
        items = page.get_json()["timeline" if "/organizations/" in url else "items"]
        items = items["items"] if isinstance(items, dict) else items
        assert 0 < len(items) <= MAX_LIMIT
    for url in LOG_PAGED:
        for name in ("after", "before"):
            found = timed(lambda u=url, p=name: client.get(u, query_string={p: str(2**63 - 1), "limit": "200"}))
            assert found.status_code == 200
        empty = client.get(url, query_string={"after": str(2**63 - 1)}).get_json()
        assert (empty.get("timeline") or empty)["items"] == []
        for value in (str(2**63), "1" * 40, "-1", "1e9"):
            problem(timed(lambda u=url, v=value: client.get(u, query_string={"after": v})), 400)
    # a long opaque cursor, and many parameters, are refused at once
    problem(timed(lambda: client.get("/api/v1/organizations", query_string={"cursor": "A" * 100_000})), 400)
    many = "&".join(f"p{i}=1" for i in range(5000))
    problem(timed(lambda: client.get(f"/api/v1/organizations?{many}")), 400)


NON_CANONICAL = ["01", "+1", " 1", "1 ", "1.0", "1e3", "0x1", "١", "-1", "", str(2**63), "9" * 30]


def test_proof_requests_are_bounded(served: Populated) -> None:
    client = served.app.test_client()
    size = served.world.registry.size()
    checkpoint = client.get("/api/v1/snapshots").get_json()["items"][0]["size"]
    for beyond in (size + 1, 2**40, 2**63 - 1):
        for url in (f"/api/v1/log/proofs/inclusion?index=0&size={beyond}",
                    f"/api/v1/log/proofs/consistency?from=1&to={beyond}", f"/api/v1/receipts/0?size={beyond}",
                    f"/api/v1/state/{beyond}", f"/api/v1/snapshots/{beyond}", f"/api/v1/log/entries/{beyond}",
                    f"/api/v1/receipts/{beyond}"):
            problem(timed(lambda u=url: client.get(u)), 404)
    for bad in NON_CANONICAL:
        for name, url in (("index", "/api/v1/log/proofs/inclusion?size=1&index="),
                          ("size", "/api/v1/log/proofs/inclusion?index=0&size="),
                          ("from", "/api/v1/log/proofs/consistency?to=2&from="),
                          ("to", "/api/v1/log/proofs/consistency?from=1&to="),
                          ("size", "/api/v1/receipts/0?size=")):
            body = problem(timed(lambda u=url, b=bad: client.get(u + urllib.request.quote(b))), 400)
            assert f"'{name}'" in body["detail"], body["detail"]
        for url in ("/api/v1/log/entries/", "/api/v1/state/", "/api/v1/snapshots/", "/api/v1/receipts/"):
            problem(timed(lambda u=url, b=bad: client.get(u + urllib.request.quote(b, safe=""))), 404)
    problem(client.get(f"/api/v1/log/proofs/inclusion?index={checkpoint}&size={checkpoint}"), 400)
    problem(client.get(f"/api/v1/log/proofs/consistency?from={checkpoint}&to=1"), 400)
    problem(client.get("/api/v1/log/proofs/inclusion?index=0&index=0&size=1"), 400)
    # and the bounded answers are real ones
    proof = client.get(f"/api/v1/log/proofs/inclusion?index=0&size={checkpoint}")
    assert proof.status_code == 200 and proof.get_json()["tree_size"] == checkpoint


def test_threaded_reads_use_the_read_models_lock(served: Populated) -> None:
    """With threaded workers, catch-up changes the cached state in place: readers must hold ``views.lock``."""
    views = served.app.extensions["node"].views
    with views.lock:
        catching_up = threading.Thread(target=views.catch_up)
        catching_up.start()
        catching_up.join(0.3)
        assert catching_up.is_alive(), "catch-up ran while another thread held the read models"
    catching_up.join(10)
    refreshed_at = served.app.extensions["refreshed_at"]
    served.app.extensions["refreshed_at"] = float("inf")  # no catch-up in the requests: only their reads
    try:
        for url in ("/api/v1/organizations", "/api/v1/endorsements", "/organizations", f"/codes/{HIROSHIMA}",
                    f"/feeds/organizations/{FUZZ_ORG}.atom", f"/feeds/codes/{HIROSHIMA}.rss"):
            answered: list[int] = []
            reader = threading.Thread(target=lambda u=url, out=answered: out.append(
                served.app.test_client().get(u).status_code))
            with views.lock:
                reader.start()
                reader.join(0.3)
                assert reader.is_alive() and not answered, f"{url} read the live state without the lock"
            reader.join(10)
            assert answered == [200], url
    finally:
        served.app.extensions["refreshed_at"] = refreshed_at


# --- real servers ------------------------------------------------------------------------------


@contextlib.contextmanager
def prepared(backend: Backend) -> Iterator[World]:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    try:
        world = make_world(registry)
        publish_code(world, HIROSHIMA, V1, 11)
        world.org("acme", Actor())
        clock = open_log(settings, registry, with_signer=True)
        checkpoint, _ = clock.publish_checkpoint()
        assert checkpoint is not None
        clock.store.datastore.close()
        yield world
    finally:
        registry.close()


class Server(Processes):
    """The harness's processes, with extra environment for the web server, and ``registry serve`` itself."""

    def __init__(self, backend: Backend, logs: Path, **env: str) -> None:
        super().__init__(backend, logs)
        self.extra = env

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(**{**self.extra, **extra})

    def start_serve(self, workers: int = 2) -> None:
        """``registry serve``: exactly the gunicorn command line production runs."""
        with (self.logs / "web.log").open("ab") as out:
            self.web = subprocess.Popen(
                [str(BIN / "registry"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(workers)],
                env=self.env(), stdout=out, stderr=out, start_new_session=True)
        self.wait_ready()


@contextlib.contextmanager
def server(backend: Backend, logs: Path, **env: str) -> Iterator[Server]:
    running = Server(backend, logs, **env)
    try:
        yield running
    finally:
        running.stop()


def http(base: str, path: str, data: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


FLOOD_THREADS = 16
FLOOD_SECONDS = 4.0
WORKERS = 2
RATE_PER_SECOND = 5
READS = ("/feeds/events.atom", "/api/v1/organizations", "/checkpoint")


def test_reads_stay_up_while_writes_are_flooded(sqlite_backend: Backend, tmp_path: Path) -> None:
    with prepared(sqlite_backend) as world:
        # every flooder has valid new statements to send (each a new organization) and garbage
        valid: queue.Queue[bytes] = queue.Queue()
        for i in range(400):
            valid.put(world.maintainer.sign("organization.registered", org=f"flood-{i}", name=f"Flood {i}",
                                            country="JP", kind="company", public_keys=[]))
        before = world.registry.size()
        with server(sqlite_backend, tmp_path / "logs", REGISTRY_SUBMIT_RATE=f"{RATE_PER_SECOND}/second") as running:
            running.start_web(workers=WORKERS)
            base = running.base
            stop = threading.Event()
            writes: Counter[int] = Counter()
            reads: list[tuple[str, int, float]] = []
            lock = threading.Lock()

            def flood(n: int) -> None:
                while not stop.is_set():
                    body = valid.get_nowait() if n % 2 == 0 and not valid.empty() else b'{"payload": 1}'
                    status, _ = http(base, "/api/v1/statements", body)
                    with lock:
                        writes[status] += 1
                    if status != 201 and body.startswith(b'{"payload":"'):
                        valid.put(body)  # not recorded: try it again later

            def read() -> None:
                i = 0
                while not stop.is_set():
                    path = READS[i % len(READS)]
                    start = time.monotonic()
                    status, _ = http(base, path)
                    with lock:
                        reads.append((path, status, time.monotonic() - start))
                    i += 1

            started = time.monotonic()
            threads = [threading.Thread(target=flood, args=(n,)) for n in range(FLOOD_THREADS)]
            threads.append(threading.Thread(target=read))
            for t in threads:
                t.start()
            time.sleep(FLOOD_SECONDS)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            elapsed = time.monotonic() - started
        log = (tmp_path / "logs" / "web.log").read_text()
        latencies = [seconds for _, _, seconds in reads]
        print(f"\nflood: {sum(writes.values())} writes in {elapsed:.1f} s: {dict(writes)}; "
              f"{len(reads)} reads, p99 {p99(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        assert all(status == 200 for _, status, _ in reads), [r for r in reads if r[1] != 200][:5]
        assert len(reads) >= 20 and {path for path, _, _ in reads} == set(READS)
        assert p99(latencies) < 2.0
        assert set(writes) <= {201, 400, 429, 503}, (writes, log[-3000:])
        assert writes[429] > sum(writes.values()) / 2, writes  # most of the flood is turned away
        assert writes[201] > 0  # yet writes go on being accepted, up to the rate
        bound = WORKERS * RATE_PER_SECOND * (1 + elapsed)  # a full bucket (burst = rate) per worker, then the rate
        assert writes[201] <= bound, (writes, bound)
        assert world.registry.size() == before + writes[201]  # exactly the accepted ones are in the log
        assert "Traceback" not in log, log[-3000:]


def test_threaded_workers_stay_consistent_under_concurrent_writes(sqlite_backend: Backend, tmp_path: Path) -> None:
    """No rate limit: writes are accepted as fast as they come while pages and lists are read, in every thread."""
    with prepared(sqlite_backend) as world:
        todo: queue.Queue[bytes] = queue.Queue()
        for i in range(300):
            todo.put(world.maintainer.sign("organization.registered", org=f"busy-{i}", name=f"Busy {i}", country="FR",
                                           kind="academia", public_keys=[]))
        before = world.registry.size()
        statuses: Counter[tuple[str, int]] = Counter()
        lock = threading.Lock()
        with server(sqlite_backend, tmp_path / "logs", REGISTRY_SUBMIT_RATE="1000000/second") as running:
            running.start_web(workers=WORKERS)
            done = threading.Event()

            def write() -> None:
                while True:
                    try:
                        body = todo.get_nowait()
                    except queue.Empty:
                        return
                    status, _ = http(running.base, "/api/v1/statements", body)
                    with lock:
                        statuses[("POST", status)] += 1

            def read(path: str) -> None:
                while not done.is_set():
                    status, _ = http(running.base, path)
                    with lock:
                        statuses[(path, status)] += 1

            writers = [threading.Thread(target=write) for _ in range(8)]
            readers = [threading.Thread(target=read, args=(path,)) for path in
                       ("/organizations", "/api/v1/endorsements", "/api/v1/state", "/feeds/organizations/acme.atom")]
            for t in writers + readers:
                t.start()
            for t in writers:
                t.join(timeout=120)
            done.set()
            for t in readers:
                t.join(timeout=30)
        log = (tmp_path / "logs" / "web.log").read_text()
        print(f"\nconcurrent: {dict(statuses)}")
        assert statuses[("POST", 201)] == 300, statuses
        assert all(status == 200 for (path, status) in statuses if path != "POST"), statuses
        assert world.registry.size() == before + 300
        assert "Traceback" not in log, log[log.index("Traceback") - 200:][:3000]


def slow_client(port: int, stop: threading.Event, started: threading.Event, interval: float = 0.5) -> None:
    """Slowloris: a request header sent one byte every ``interval`` seconds, never finished while ``stop`` is clear."""
    request = b"GET /api/v1/organizations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        started.set()
        for byte in request:
            if stop.wait(interval):
                return
            try:
                s.sendall(bytes([byte]))
            except OSError:
                return  # the server gave up on us: fine


def silent_client(port: int, stop: threading.Event, started: threading.Event) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        started.set()
        stop.wait(30)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``registry serve`` with its own options (2 workers) on a small SQLite registry."""
    with contextlib.contextmanager(_make_backend)("sqlite", tmp_path_factory.mktemp("serve")) as backend:
        with prepared(backend), server(backend, tmp_path_factory.mktemp("serve-logs")) as running:
            running.start_serve(workers=WORKERS)
            yield running


def raw_post(port: int, body: bytes, *, chunked: bool, declared: int | None = None) -> tuple[int, bytes]:
    """POST ``body`` over a plain socket: chunked (no Content-Length), or with a Content-Length of ``declared``."""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % (len(body) if declared is None
                                                                                   else declared)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/v1/statements HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  + framing + b"\r\n\r\n")
        if chunked:
            for i in range(0, len(body), 8192):
                s.sendall(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192]))
            s.sendall(b"0\r\n\r\n")
        else:
            s.sendall(body)
        response = b""
        while b"\r\n\r\n" not in response:
            response += s.recv(65536) or b"\r\n\r\n"
        head, _, payload = response.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(payload) < length and (more := s.recv(65536)):
            payload += more
    return int(head.split(b" ", 2)[1]), payload


def test_real_server_refuses_oversized_uploads(production: Server) -> None:
    registry = production.backend.open()
    try:
        before = registry.size()
        for status, payload in (
            raw_post(production.port, b" " * (MAX_CONTENT_LENGTH + 1), chunked=True),  # werkzeug would cut it short
            raw_post(production.port, b"", chunked=False, declared=8 << 20),  # refused on its headers alone
            raw_post(production.port, b" " * (MAX_CONTENT_LENGTH + 1), chunked=False),
        ):
            assert status == 413, payload[:300]
            assert json.loads(payload)["type"] == TYPES + "request-entity-too-large", payload
        assert registry.size() == before
    finally:
        registry.close()


@pytest.mark.parametrize("hog", [slow_client, silent_client], ids=["dripping", "silent"])
def test_slow_clients_do_not_block_others(production: Server, hog: Callable[..., None]) -> None:
    stop = threading.Event()
    hogs: list[threading.Thread] = []
    latencies: list[float] = []
    try:
        for target in (hog, hog):
            started = threading.Event()
            thread = threading.Thread(target=target, args=(production.port, stop, started), daemon=True)
            thread.start()
            assert started.wait(5)
            hogs.append(thread)
        time.sleep(1.0)  # the slow ones have sent a few bytes: a sync worker would be stuck reading them now
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            start = time.monotonic()
            status, _ = http(production.base, "/api/v1/organizations", timeout=10)
            latencies.append(time.monotonic() - start)
            assert status == 200
            time.sleep(0.1)
        assert all(h.is_alive() for h in hogs), "the slow clients should still be connected"
    finally:
        stop.set()
        for thread in hogs:
            thread.join(timeout=10)
    print(f"\n2 {hog.__name__}s: {len(latencies)} requests meanwhile, max {max(latencies) * 1000:.0f} ms")
    assert max(latencies) < 2.0, latencies
