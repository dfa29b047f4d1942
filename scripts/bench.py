"""``registry bench``: the benchmarks the issues ask for, each against a baseline in the same run.

Every benchmark alternates baseline and subject runs (A/B, ``--reps`` times),
reports medians and per-repetition figures, prints progress on stderr, and
ends with one JSON object on the last line of stdout. Figures on a shared
machine are noisy; the ratios are what the targets are written against.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import click
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from registry import compose, config, envelope, keys
from registry.application import Registry, StatementHint
from registry.follow import pages
from registry.leaf import format_leaf
from registry.node import Node
from registry.state import statement_hash

BENCH_ORIGIN = "bench.example/registry"


def progress(message: str) -> None:
    click.echo(message, err=True)


def emit(result: dict[str, Any]) -> None:
    click.echo(json.dumps(result, sort_keys=True))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@contextmanager
def bench_settings(postgres_url: str | None) -> Iterator[config.Settings]:
    """Settings for a throw-away registry: a temporary directory and, with PostgreSQL, a schema dropped after."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), postgres_url)
        try:
            yield settings
        finally:
            if postgres_url:
                import psycopg

                with psycopg.connect(postgres_url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {settings.extra['REGISTRY_POSTGRES_SCHEMA']} CASCADE")


def settings_for(root: Path, postgres_url: str | None) -> config.Settings:
    environ = {"REGISTRY_ORIGIN": "bench.example/registry"}
    if postgres_url:
        schema = f"bench_{uuid4().hex[:12]}"
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        environ |= {"REGISTRY_DATABASE_URL": postgres_url, "REGISTRY_POSTGRES_SCHEMA": schema}
    return config.load(root, environ=environ)


class Payload(Aggregate):
    """The baseline: one aggregate, one event with a payload as large as a log entry."""

    @event("Recorded")
    def __init__(self, body: str) -> None:
        self.body = body


@click.group()
def bench() -> None:
    """Benchmarks (each prints one JSON object as its last line)."""


# --- ingest ------------------------------------------------------------------------------


@bench.command("ingest")
@click.option("--statements", default=2000, show_default=True, help="Submissions per repetition.")
@click.option("--reps", default=3, show_default=True)
@click.option("--postgres-url", default=None, help="Measure on PostgreSQL instead of SQLite.")
@click.option("--json", "as_json", is_flag=True, help="Accepted for symmetry; the last line is always JSON.")
def ingest(statements: int, reps: int, postgres_url: str | None, as_json: bool) -> None:
    """Signed submissions per second end to end, beside bare eventsourcing saves (one per commit)."""
    bare_rates, same_rates, ours_rates = [], [], []
    for rep in range(reps):
        with bench_settings(postgres_url) as settings:
            bare_rates.append(_bare_saves(settings, statements))
        with bench_settings(postgres_url) as settings:
            same_rates.append(_bare_saves(settings, statements, events=2))
        with bench_settings(postgres_url) as settings:
            ours_rates.append(_submissions(settings, statements))
        progress(f"rep {rep + 1}/{reps}: bare {bare_rates[-1]:.0f}/s, bare 2-event commits {same_rates[-1]:.0f}/s, "
                 f"submissions {ours_rates[-1]:.0f}/s")
    emit({
        "benchmark": "ingest",
        "backend": "postgresql" if postgres_url else "sqlite",
        "statements": statements,
        "reps": reps,
        "bare_saves_per_s": round(median(bare_rates)),
        "submissions_per_s": round(median(ours_rates)),
        "ratio": round(median(ours_rates) / median(bare_rates), 3),
        "ratios_per_rep": [round(o / b, 3) for o, b in zip(ours_rates, bare_rates, strict=True)],
        "target_ratio": 0.6,
        # What a submission stores is two events in one commit (the log entry and its statement hint):
        # this ratio isolates parsing, verification and rules from storage.
        "bare_2_event_commits_per_s": round(median(same_rates)),
        "ratio_same_events": round(median(ours_rates) / median(same_rates), 3),
    })


def _bare_saves(settings: config.Settings, n: int, events: int = 1) -> float:
    app = Application(config.eventsourcing_env(settings))
    body = "x" * 900  # about the size of a registration's log entry
    groups = [[Payload(body=body if i == 0 else "y" * 100) for i in range(events)] for _ in range(n)]
    start = time.perf_counter()
    for group in groups:
        app.save(*group)
    elapsed = time.perf_counter() - start
    app.close()
    return n / elapsed


def _submissions(settings: config.Settings, n: int) -> float:
    node = Node(settings)
    registry = node.registry
    root, maintainer = keys.generate(), keys.generate()
    origin = settings.origin
    registry.submit(envelope.sign(compose.statement("registry.genesis", origin, name="bench",
                                                    root_key=keys.encode_public(root)), root).canonical)
    registry.submit(envelope.sign(compose.statement("maintainer.key_added", origin, name="m",
                                                    public_key=keys.encode_public(maintainer)), root).canonical)
    # Signing is the submitter's work, not the registry's: done before the clock starts.
    signed = [
        envelope.sign(compose.statement("organization.registered", origin, org=f"org-{i}", name=f"Org {i}",
                                        country="JP", kind="company", public_keys=[]), maintainer).canonical
        for i in range(n)
    ]
    start = time.perf_counter()
    for data in signed:
        registry.submit(data)
    elapsed = time.perf_counter() - start
    node.close()
    return n / elapsed


# --- log ---------------------------------------------------------------------------------


@bench.command("log")
@click.option("--leaves", default=100_000, show_default=True)
@click.option("--samples", default=2000, show_default=True, help="Proofs timed for the latency figures.")
@click.option("--reps", default=3, show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path("bench-cache"), show_default=True,
              help="Where the synthetic event store is kept between runs.")
@click.option("--json", "as_json", is_flag=True)
def log_bench(leaves: int, samples: int, reps: int, cache_dir: Path, as_json: bool) -> None:
    """Leaf integration rate, every leaf checked first (signature, rules), beside the bare notification read rate.

    The store holds validly signed statements (the same registry as ``bench audit``); each repetition
    integrates all of it into an empty log, as the signer does after a bulk load: the ledger checks every
    entry (signatures on every core once the backlog is long) and the log integrates what it checked.
    """
    import os
    import shutil

    source = _signed_registry(cache_dir, leaves)
    cores = os.cpu_count() or 1
    read_rates, integrate_rates, check_rates = [], [], []
    for rep in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "instance"
            shutil.copytree(source, data)
            settings = config.load(data, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN})
            for name in ("registry-log.db", "registry-views.db"):
                (data / name).unlink(missing_ok=True)  # an empty log: integrate everything again
            node = Node(settings, workers=cores)
            registry = node.registry
            read_rates.append(_bare_read(registry, leaves))
            log = node.log
            start = time.perf_counter()
            checked = registry.follow()
            check_seconds = time.perf_counter() - start
            size = log.catch_up()
            elapsed = time.perf_counter() - start
            assert checked == size == leaves, f"checked {checked}, integrated {size} of {leaves}"
            integrate_rates.append(size / elapsed)
            check_rates.append(size / check_seconds)
            progress(f"rep {rep + 1}/{reps}: read {read_rates[-1]:.0f}/s, checked and integrated "
                     f"{integrate_rates[-1]:.0f}/s (the check alone {check_rates[-1]:.0f}/s)")
            if rep == reps - 1:
                inclusion, consistency = _proof_latency(log, size, samples)
            node.close()
    verify_rate = _raw_verify_rate()
    emit({
        "benchmark": "log",
        "leaves": leaves,
        "reps": reps,
        "cores": cores,
        "bare_read_per_s": round(median(read_rates)),
        "integrate_per_s": round(median(integrate_rates)),
        "check_per_s": round(median(check_rates)),
        "ratio": round(median(integrate_rates) / median(read_rates), 3),
        "ratios_per_rep": [round(i / r, 3) for i, r in zip(integrate_rates, read_rates, strict=True)],
        "target_ratio": 0.5,
        # The floor the check cannot go below: one Ed25519 verification per leaf, on every core.
        "raw_verify_per_s_per_core": round(verify_rate),
        "verify_bound_ratio": round(cores * verify_rate / median(read_rates), 3),
        "inclusion_ms": inclusion,
        "consistency_ms": consistency,
        "target_p50_ms": 1.0,
    })


def _bare_read(registry: Registry, leaves: int) -> float:
    # The baseline: the projections' own reader (registry.follow.pages), without decoding a leaf.
    start, count = time.perf_counter(), 0
    for found in pages(registry.recorder, page=1000):
        count += len(found)
    assert count == leaves, f"read {count} of {leaves}"
    return count / (time.perf_counter() - start)


def _proof_latency(log: Any, size: int, samples: int) -> tuple[dict[str, float], dict[str, float]]:
    rng = random.Random(11)

    def timed(fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1000

    inclusion = [timed(lambda: log.inclusion(rng.randrange(size), size)) for _ in range(samples)]
    pairs = [sorted((rng.randrange(1, size + 1), rng.randrange(1, size + 1))) for _ in range(samples)]
    consistency = [timed(lambda p=p: log.consistency(p[0], p[1])) for p in pairs]
    summary = lambda xs: {"p50": round(percentile(xs, 0.5), 3), "p99": round(percentile(xs, 0.99), 3)}  # noqa: E731
    return summary(inclusion), summary(consistency)



# --- merge delay ------------------------------------------------------------------------

POLL_PAUSE = 0.005  # seconds between polls of /checkpoint


@bench.command("merge-delay")
@click.option("--submissions", default=500, show_default=True)
@click.option("--rate", default=25.0, show_default=True, help="Submissions per second.")
@click.option("--postgres-url", default=None, help="Measure on PostgreSQL instead of SQLite.")
@click.option("--json", "as_json", is_flag=True)
def merge_delay(submissions: int, rate: float, postgres_url: str | None, as_json: bool) -> None:
    """Time from a 201 to a served checkpoint covering the entry, with honcho running the Procfile.

    One thread submits at ``--rate``; another polls ``/checkpoint`` (conditionally) and notes when each
    tree size is first served. An entry's delay runs from reading its 201 to the first poll answer
    covering it, so it overstates by up to one poll (``poll_every_ms`` in the output).
    """
    import itertools
    import os
    import shutil
    import signal
    import subprocess
    import threading
    import urllib.error
    import urllib.request

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = settings_for(root / "instance", postgres_url)
        port = _free_port()
        env = {**os.environ, "REGISTRY_DATA_DIR": str(settings.data_dir), "REGISTRY_ORIGIN": settings.origin,
               "PORT": str(port), "REGISTRY_SUBMIT_RATE": "100000/minute",
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        if postgres_url:
            env |= {"REGISTRY_DATABASE_URL": postgres_url, "REGISTRY_POSTGRES_SCHEMA":
                    settings.extra["REGISTRY_POSTGRES_SCHEMA"]}
        registry_bin = shutil.which("registry", path=env["PATH"]) or "registry"
        subprocess.run([registry_bin, "init", "--base-url", f"http://127.0.0.1:{port}"], env=env, check=True,
                       capture_output=True)
        maintainer = keys.load_private(settings.maintainer_key)
        signed = [
            envelope.sign(compose.statement("organization.registered", settings.origin, org=f"org-{i}",
                                            name=f"Org {i}", country="JP", kind="company", public_keys=[]),
                          maintainer).canonical
            for i in range(submissions)
        ]
        procfile = Path(__file__).resolve().parent.parent / "Procfile"
        honcho = subprocess.Popen([str(Path(sys.executable).parent / "honcho"), "start", "-f", str(procfile),
                                   "web", "clock"], env=env, cwd=procfile.parent, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_http(base + "/healthz")
            seen: dict[int, float] = {}  # checkpoint size -> when first served
            polls: list[float] = []  # when each poll answered: their spacing is what this can resolve
            done = threading.Event()

            def poll() -> None:
                etag = None
                while not done.is_set():
                    # Conditional, as a monitor would poll: an unchanged checkpoint is a bodiless 304.
                    headers = {"If-None-Match": etag} if etag else {}
                    request = urllib.request.Request(base + "/checkpoint", headers=headers)  # noqa: S310
                    try:
                        with urllib.request.urlopen(request, timeout=5) as r:  # noqa: S310 - loopback
                            size = int(r.read().split(b"\n")[1])
                            etag = r.headers.get("ETag")
                        seen.setdefault(size, time.perf_counter())
                    except urllib.error.HTTPError as e:
                        e.close()  # 304: nothing new (a 404 before the first checkpoint, too)
                    except (OSError, ValueError, IndexError):
                        pass
                    polls.append(time.perf_counter())
                    time.sleep(POLL_PAUSE)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            accepted: list[tuple[int, float]] = []
            started = time.perf_counter()
            for i, data in enumerate(signed):
                request = urllib.request.Request(base + "/api/v1/statements", data=data, method="POST",  # noqa: S310
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - loopback
                    body = json.loads(r.read())
                    accepted.append((body["index"], time.perf_counter()))
                if (i + 1) % 100 == 0:
                    progress(f"submitted {i + 1}/{submissions}")
                time.sleep(max(0.0, 1 / rate))
            elapsed = time.perf_counter() - started
            last = accepted[-1][0]
            deadline = time.monotonic() + 30
            while max(seen, default=0) <= last and time.monotonic() < deadline:
                time.sleep(0.05)
            done.set()
            poller.join()
        finally:
            os.killpg(honcho.pid, signal.SIGTERM)
            honcho.wait(timeout=30)
            if postgres_url:
                import psycopg

                with psycopg.connect(postgres_url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {settings.extra['REGISTRY_POSTGRES_SCHEMA']} CASCADE")
    delays = []
    for index, at in accepted:
        # The first served checkpoint that covers the entry; seen before the 201 was read, it waited nothing.
        covered = min((t for size, t in seen.items() if size > index), default=None)
        if covered is None:
            raise click.ClickException(f"no served checkpoint covered leaf {index} within 30 s")
        delays.append(max(0.0, covered - at) * 1000)
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    emit({
        "benchmark": "merge-delay",
        "backend": "postgresql" if postgres_url else "sqlite",
        "submissions": len(accepted),
        "rate_per_second": round(len(accepted) / elapsed, 1),
        "clock_interval_s": settings.clock_interval,
        "poll_every_ms": round(median(gaps) * 1000, 1),
        "p50_ms": round(percentile(delays, 0.5), 1),
        "p99_ms": round(percentile(delays, 0.99), 1),
        "max_ms": round(max(delays), 1),
        "target_p99_ms": 250,
    })


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise click.ClickException(f"{url} did not answer within {timeout} s")


def _warm(url: str, connections: int, timeout: float) -> None:
    """Wait until ``connections`` concurrent requests to ``url`` all answer within seconds.

    One answer proves only that one worker is warm: each gunicorn worker checks the whole log at its first
    request (minutes on a large log), and a worker still checking would make the timed runs measure nothing.
    """
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_: int) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
                return bool(answer.status == 200)
        except OSError:
            return False

    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(connections) as pool:
        while time.monotonic() < deadline:
            if all(pool.map(fetch, range(connections))):
                return
            time.sleep(1)
    raise click.ClickException(f"{url} did not answer {connections} requests at once within {timeout} s")


def _stop(process: Any, grace: float = 90) -> None:
    """SIGTERM the process group; SIGKILL it if it has not exited after ``grace`` seconds (gunicorn gives
    its workers 30 s, and a worker busy checking a large log does not stop sooner)."""
    import os
    import signal
    import subprocess

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


# --- feeds -------------------------------------------------------------------------------


@bench.command("feeds")
@click.option("--entries", default=1200, show_default=True, help="Log entries in the test registry.")
@click.option("--seconds", default=10, show_default=True, help="Duration of each load run.")
@click.option("--connections", default=16, show_default=True)
@click.option("--reps", default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def feeds_bench(entries: int, seconds: int, connections: int, reps: int, as_json: bool) -> None:
    """Subscription feed requests/s (200 and 304) under gunicorn, beside a trivial route with the same bytes."""
    import os
    import shutil
    import signal
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp) / "instance", None)
        with Node(settings) as node:
            _fill(node.registry, settings.origin, entries)
        render_ms = _archive_render_ms(settings)
        port = _free_port()
        env = {**os.environ, "REGISTRY_DATA_DIR": str(settings.data_dir), "REGISTRY_ORIGIN": settings.origin,
               "REGISTRY_BASE_URL": f"http://127.0.0.1:{port}"}
        root = Path(__file__).resolve().parent.parent
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "scripts.bench_app:create_app()", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--worker-class", "sync", "--access-logfile", "/dev/null"],
            env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_http(base + "/healthz")
            etag = _etag_of(base + "/feeds/events.atom")
            tool = "wrk" if shutil.which("wrk") else "python"
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in ("feed", "fixed", "feed_304", "fixed_304")}
            for rep in range(reps):  # alternate subject and baseline in every repetition
                for name, path, inm in (("fixed", "/bench/fixed.atom", None), ("feed", "/feeds/events.atom", None),
                                        ("fixed_304", "/bench/fixed.atom", etag),
                                        ("feed_304", "/feeds/events.atom", etag)):
                    runs[name].append(_load(base + path, inm, seconds, connections, tool))
                progress(f"rep {rep + 1}/{reps}: " + ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in runs.items()))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    rps = {k: median([r["rps"] for r in v]) for k, v in runs.items()}
    p99 = {k: median([r["p99_ms"] for r in v]) for k, v in runs.items()}
    emit({
        "benchmark": "feeds", "tool": tool, "connections": connections, "seconds": seconds, "reps": reps,
        "entries": entries,
        "feed_rps": round(rps["feed"]), "fixed_rps": round(rps["fixed"]),
        "feed_304_rps": round(rps["feed_304"]), "fixed_304_rps": round(rps["fixed_304"]),
        "ratio": round(rps["feed"] / rps["fixed"], 3), "ratio_304": round(rps["feed_304"] / rps["fixed_304"], 3),
        "p99_ms": {k: round(v, 2) for k, v in p99.items()},
        "archive_500_render_ms": round(render_ms, 1),
        "target_ratio": 0.8,
    })


def _fill(registry: Registry, origin: str, entries: int) -> None:
    root, maintainer = keys.generate(), keys.generate()
    registry.submit(envelope.sign(compose.statement("registry.genesis", origin, name="bench",
                                                    root_key=keys.encode_public(root)), root).canonical)
    registry.submit(envelope.sign(compose.statement("maintainer.key_added", origin, name="m",
                                                    public_key=keys.encode_public(maintainer)), root).canonical)
    for i in range(entries - 2):
        registry.submit(envelope.sign(compose.statement(
            "organization.registered", origin, org=f"org-{i}", name=f"Organization {i}", country="JP",
            kind="company", public_keys=[]), maintainer).canonical)


def _archive_render_ms(settings: config.Settings) -> float:
    """Time to render archive page 0 (500 entries) with every cache cold."""
    import os

    from web import close_app, create_app

    os.environ.setdefault("REGISTRY_ORIGIN", settings.origin)
    app = create_app({"DATA_DIR": str(settings.data_dir),
                      "ENVIRON": {"REGISTRY_ORIGIN": settings.origin, "REGISTRY_FEED_PAGE_SIZE": "500"}})
    try:
        with app.test_client() as client:
            client.get("/healthz")
            times = []
            for _ in range(3):
                app.extensions.pop("feed_cache", None)  # the worker's memory cache
                app.extensions["node"].views.store.forget_feed_pages()  # and the shared store of pages
                start = time.perf_counter()
                response = client.get("/feeds/events/archive/0.atom")
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.status_code
        return median(times)
    finally:
        close_app(app)


def _etag_of(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - loopback
        return str(r.headers["ETag"])


def _load(url: str, inm: str | None, seconds: int, connections: int, tool: str) -> dict[str, float]:
    if tool == "wrk":
        return _wrk(url, inm, seconds, connections)
    return _python_load(url, inm, seconds, connections)


def _wrk(url: str, inm: str | None, seconds: int, connections: int) -> dict[str, float]:
    import re
    import subprocess

    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if inm:
        args[1:1] = ["-H", f"If-None-Match: {inm}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)] if p99 else 0.0
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale if p99 else 0.0}


def _python_load(url: str, inm: str | None, seconds: int, connections: int) -> dict[str, float]:
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    headers = {"If-None-Match": inm} if inm else {}

    def worker() -> None:
        mine = []
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            start = time.perf_counter()
            conn.request("GET", parts.path, headers=headers)
            conn.getresponse().read()
            mine.append((time.perf_counter() - start) * 1000)
            conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": len(latencies) / seconds, "p99_ms": percentile(latencies, 0.99)}



# --- publish -----------------------------------------------------------------------------


@bench.command("publish")
@click.option("--log-size", default=1_000_000, show_default=True, help="Entries in the synthetic signed log.")
@click.option("--new", "new_entries", default=1000, show_default=True, help="Entries added before the timed publish.")
@click.option("--seconds", default=10, show_default=True, help="Duration of each load run.")
@click.option("--connections", default=16, show_default=True)
@click.option("--reps", default=3, show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path("bench-cache"), show_default=True,
              help="Where the synthetic event store is kept between runs.")
@click.option("--json", "as_json", is_flag=True)
def publish_bench(log_size: int, new_entries: int, seconds: int, connections: int, reps: int, cache_dir: Path,
                  as_json: bool) -> None:
    """Requests/s of published files through nginx (deploy/nginx.conf) beside a fixed file of the same size and
    beside the dynamic route under gunicorn; and how long `registry publish` takes for --new entries."""
    import os
    import shutil
    import subprocess

    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        raise click.ClickException("no nginx on this machine (apt-get install nginx)")
    source = _signed_registry(cache_dir, log_size)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "instance"
        shutil.copytree(source, data)
        front_port, app_port = _free_port(), _free_port()
        front = f"http://127.0.0.1:{front_port}"
        environ = {**os.environ, "REGISTRY_DATA_DIR": str(data), "REGISTRY_ORIGIN": BENCH_ORIGIN,
                   "REGISTRY_BASE_URL": front}
        settings = config.load(data, environ=environ)
        # nginx's workers may run as another user: the published directory must be readable to them.
        public = Path(tempfile.mkdtemp(prefix="hcoc-bench-publish-"))
        public.chmod(0o755)
        site = public / "site"
        try:
            progress(f"catching up a log of {log_size} entries (not timed)")
            with Node(settings, signer=True, workers=os.cpu_count() or 1) as node:
                node.log.catch_up()
                node.views.catch_up()
            from scripts.publishing import Publisher

            with Publisher(settings, environ) as publisher:
                start = time.perf_counter()
                full = publisher.publish(site, progress)
                full_seconds = time.perf_counter() - start
                progress(f"first publish: {sum(full.written.values())} files in {full_seconds:.1f} s")
                _add_entries(settings, new_entries, log_size)
                start = time.perf_counter()
                step = publisher.publish(site, progress)
                step_seconds = time.perf_counter() - start
                progress(f"publish of {new_entries} new entries: {sum(step.written.values())} files written, "
                         f"{step.deleted} deleted, in {step_seconds:.2f} s")
            paths = {"feed": "/feeds/events.atom", "tile": "/tile/0/000", "checkpoint": "/checkpoint"}
            for name, path in paths.items():  # the baselines: fixed files of the same sizes, in the same server
                fixed = site / "bench" / f"fixed-{name}"
                fixed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(site / path.lstrip("/"), fixed)
                fixed.chmod(0o644)
            temp = public / "nginx"
            temp.mkdir()
            conf = temp / "nginx.conf"
            text = (Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf").read_text()
            for key, value in (("@LISTEN@", f"127.0.0.1:{front_port}"), ("@ROOT@", str(site)),
                               ("@UPSTREAM@", f"127.0.0.1:{app_port}"), ("@TEMP@", str(temp))):
                text = text.replace(key, value)
            conf.write_text(text)
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "web:create_app()", "--bind", f"127.0.0.1:{app_port}",
                 "--workers", "2", "--worker-class", "sync", "--timeout", "3600", "--access-logfile", "/dev/null"],
                env=environ, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            proxy = subprocess.Popen([nginx, "-p", str(temp), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            app = f"http://127.0.0.1:{app_port}"
            try:
                # Each web process checks the whole log before its first answer (minutes on a large log), and
                # a route's first answer in a process may take long too: warm every worker on every measured
                # route before anything is timed, and let no worker timeout kill them meanwhile.
                for path in paths.values():
                    _warm(app + path, connections, timeout=3600)
                _wait_http(front + "/checkpoint")
                tool = "wrk" if shutil.which("wrk") else "python"
                runs: dict[str, list[dict[str, float]]] = {}
                for rep in range(reps):  # subject, baseline and the dynamic route, alternating in every repetition
                    for name, path in paths.items():
                        for label, url in ((f"{name}_fixed", f"{front}/bench/fixed-{name}"),
                                           (f"{name}_published", front + path), (f"{name}_dynamic", app + path)):
                            runs.setdefault(label, []).append(_load(url, None, seconds, connections, tool))
                    progress(f"rep {rep + 1}/{reps}: "
                             + ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in runs.items()))
            finally:
                for process in (proxy, server):
                    _stop(process)
        finally:
            shutil.rmtree(public, ignore_errors=True)
    rps = {k: median([r["rps"] for r in v]) for k, v in runs.items()}
    silent = sorted(k for k, v in rps.items() if v <= 0)
    if silent:
        raise click.ClickException(f"no request completed in the load runs of: {', '.join(silent)}")
    emit({
        "benchmark": "publish", "tool": tool, "connections": connections, "seconds": seconds, "reps": reps,
        "log_size": log_size, "new_entries": new_entries,
        "rps": {k: round(v) for k, v in sorted(rps.items())},
        "ratio_to_fixed": {n: round(rps[f"{n}_published"] / rps[f"{n}_fixed"], 3) for n in paths},
        "speedup_over_dynamic": {n: round(rps[f"{n}_published"] / rps[f"{n}_dynamic"], 1) for n in paths},
        "target_ratio": 0.9,
        "first_publish_s": round(full_seconds, 2), "first_publish_files": sum(full.written.values()),
        "publish_new_s": round(step_seconds, 3), "publish_new_files": sum(step.written.values()),
        "publish_new_deleted": step.deleted, "publish_new_bytes": step.bytes,
        "publish_new_written_by_kind": dict(sorted(step.written.items())),
    })


def _add_entries(settings: config.Settings, count: int, log_size: int) -> None:
    """``count`` more signed entries, then a checkpoint: renamings of the synthetic registry's organizations.

    Existing organizations, so that the number of organization pages and feeds (which every publish renders)
    stays that of the log being measured.
    """
    from registry import jobs

    maintainer = keys.load_private(settings.maintainer_key)
    orgs = min(max(10, log_size // 1000), log_size - 3)  # as _synthetic_statements registers them
    node = jobs.open_node(settings, signer=True)
    try:
        tag = uuid4().hex[:8]
        for i in range(count):
            slug = f"org-{i % orgs}"
            node.registry.submit(envelope.sign(compose.statement(
                "organization.updated", BENCH_ORIGIN, org=slug, name=f"Organization {i % orgs} ({tag}-{i})"),
                maintainer).canonical)
        jobs.catch_up(node)
        jobs.checkpoint(node)
    finally:
        node.close()


# --- audit -------------------------------------------------------------------------------


@bench.command("audit")
@click.option("--events", default=1_000_000, show_default=True, help="Signed events in the synthetic registry.")
@click.option("--samples", default=20, show_default=True, help="Replays to random sizes.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path("bench-cache"), show_default=True)
@click.option("--json", "as_json", is_flag=True)
def audit_bench(events: int, samples: int, cache_dir: Path, as_json: bool) -> None:
    """Audit rate beside cores x raw Ed25519 verify; read-model rebuild beside a bare read; replay; memory."""
    import os
    import shutil

    source = _signed_registry(cache_dir, events)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "instance"
        shutil.copytree(source, data)
        settings = config.load(data, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN})
        verify_rate = _raw_verify_rate()
        progress(f"raw Ed25519 verify: {verify_rate:.0f}/s per core, {cores} cores")
        audit_seconds, audit_rss = _timed_command(["audit", "--workers", str(cores)], data)
        progress(f"audit: {events / audit_seconds:.0f} events/s, peak {audit_rss:.0f} MB")
        with Node(settings) as node:
            read_rate = _bare_read(node.registry, events)
        rebuild_seconds, rebuild_rss = _timed_command(["rebuild"], data)
        progress(f"rebuild: {events / rebuild_seconds:.0f} events/s (bare read {read_rate:.0f}/s), "
                 f"peak {rebuild_rss:.0f} MB")
        with Node(settings) as node:
            rng = random.Random(3)
            replay_ms = []
            for _ in range(samples):
                size = rng.randrange(events + 1)
                start = time.perf_counter()
                node.views.state_at(size)
                replay_ms.append((time.perf_counter() - start) * 1000)
    audit_rate = events / audit_seconds
    emit({
        "benchmark": "audit", "events": events, "cores": cores,
        "raw_verify_per_s_per_core": round(verify_rate), "audit_per_s": round(audit_rate),
        "ratio": round(audit_rate / (cores * verify_rate), 3), "target_ratio": 0.8,
        "bare_read_per_s": round(read_rate), "rebuild_per_s": round(events / rebuild_seconds),
        "rebuild_ratio": round(events / rebuild_seconds / read_rate, 3), "target_rebuild_ratio": 0.5,
        "replay_ms": {"p50": round(percentile(replay_ms, 0.5), 1), "p99": round(percentile(replay_ms, 0.99), 1)},
        "target_replay_p50_ms": 1000,
        "peak_rss_mb": {"audit": round(audit_rss), "rebuild": round(rebuild_rss)}, "target_rss_mb": 300,
    })


def _raw_verify_rate(n: int = 5000) -> float:
    key = keys.generate()
    message = b"x" * 600
    signature = key.sign(message)
    public = key.public_key()
    start = time.perf_counter()
    for _ in range(n):
        public.verify(signature, message)
    return n / (time.perf_counter() - start)


def _timed_command(args: list[str], data_dir: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of a ``registry`` command run in its own process."""
    import os
    import subprocess

    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    command = [str(Path(sys.executable).with_name("registry")), "--data-dir", str(data_dir), *args]
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True,
                         env={**os.environ, "REGISTRY_ORIGIN": BENCH_ORIGIN}).stdout.split()
    seconds, rss_kb, code = float(out[0]), float(out[1]), int(out[2])
    if code != 0:
        raise click.ClickException(f"registry {' '.join(args)} exited {code}")
    return seconds, rss_kb / 1024


def _signed_registry(cache_dir: Path, events: int) -> Path:
    """A data directory holding a registry of ``events`` validly signed statements (built once)."""
    import shutil

    path = cache_dir / f"audit-v2-{events}"
    if path.exists():
        return path
    partial = cache_dir / f"audit-v2-{events}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    progress(f"building a registry of {events} signed events in {path} (once)")
    build_signed_registry(partial, events)
    partial.rename(path)
    return path


def build_signed_registry(partial: Path, events: int) -> None:
    """Record ``events`` validly signed synthetic statements into a new data directory and sign a checkpoint."""
    import os

    settings = config.load(partial, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN})
    config.write_config_file(partial, {"origin": BENCH_ORIGIN, "base_url": "http://127.0.0.1:8000"})
    (partial / "keys").mkdir(mode=0o700, parents=True)
    root, maintainer, log_key = keys.generate(), keys.generate(), keys.generate()
    for key, path_ in ((root, settings.root_key), (maintainer, settings.maintainer_key), (log_key, settings.log_key)):
        keys.save_private(key, path_)
    node = Node(settings, signer=True, workers=os.cpu_count() or 1)
    registry = node.registry
    orgs = max(10, events // 1000)
    org_keys = [keys.generate() for _ in range(orgs)]
    statements_ = _synthetic_statements(events, orgs, org_keys, root, maintainer)
    recorded_at = "2026-01-01T00:00:00Z"
    batch: list[Any] = []
    for index, (stmt, key) in enumerate(statements_):
        env = envelope.sign(stmt, key)
        # What a submission stores: the log entry and its statement hint.
        batch.append(registry.statement_log.trigger_event(
            next_originator_version=index + 1, leaf=format_leaf(env, recorded_at).decode("ascii"),
            envelope_hash=env.hash))
        batch.append(StatementHint(statement_hash=statement_hash(env.payload), index=index))
        if len(batch) == 2000:
            registry.save(*batch)
            batch = []
        if (index + 1) % 100_000 == 0:
            progress(f"  {index + 1} events")
    if batch:
        registry.save(*batch)
    node.log.publish_checkpoint()
    node.close()


def _synthetic_statements(events: int, orgs: int, org_keys: list[Any], root: Any,
                          maintainer: Any) -> Any:
    """Genesis, a maintainer, a Code, ``orgs`` organizations, then endorsement lifecycles round-robin."""
    origin = BENCH_ORIGIN
    yield compose.statement("registry.genesis", origin, name="bench", root_key=keys.encode_public(root)), root
    yield compose.statement("maintainer.key_added", origin, name="m", public_key=keys.encode_public(maintainer)), root
    yield compose.statement(
        "code.revision_published", origin, code="hiroshima-coc", version="2023-10-30", title="Hiroshima Code",
        issuer="G7", published_on="2023-10-30", source_url="https://example.org/code", text_sha256="ab" * 32,
        actions=[{"number": n, "heading": f"Action {n}"} for n in range(1, 12)], supersedes=None), maintainer
    made = 3
    for i in range(orgs):
        if made >= events:
            return
        yield compose.statement("organization.registered", origin, org=f"org-{i}", name=f"Organization {i}",
                                country="JP", kind="company", public_keys=[keys.encode_public(org_keys[i])]), maintainer
        made += 1
    stance = ["none"] * orgs
    step = 0
    while made < events:
        i = step % orgs
        step += 1
        common = {"org": f"org-{i}", "code": "hiroshima-coc", "effective_date": "2024-01-01"}
        if stance[i] == "active" and step % 50 == 0:
            stmt = compose.statement("endorsement.withdrawn", origin, reason="review", **common)
            stance[i] = "withdrawn"
        elif stance[i] == "active":
            stmt = compose.statement("endorsement.amended", origin, scope="all" if step % 2 else [1, 2, 3], **common)
        else:
            stmt = compose.statement("endorsement.made", origin, version="2023-10-30", scope=[1, 2], **common)
            stance[i] = "active"
        made += 1
        yield stmt, org_keys[i]


# --- monitor -------------------------------------------------------------------------------


@bench.command("monitor")
@click.option("--entries", default=1_000_000, show_default=True, help="Signed entries in the served registry.")
@click.option("--workers", default=None, type=int, help="Signature workers of the monitor (default: every core).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path("bench-cache"), show_default=True)
@click.option("--json", "as_json", is_flag=True)
def monitor_bench(entries: int, workers: int | None, cache_dir: Path, as_json: bool) -> None:
    """A first mirror's entries/s beside the bare rate of fetching the same bundles and tiles; its peak memory."""
    import os
    import shutil
    import signal
    import subprocess

    from registry.signednote import format_verifier_key

    source = _signed_registry(cache_dir, entries)
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "instance"
        shutil.copytree(source, data)
        settings = config.load(data, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN})
        log_key = format_verifier_key(BENCH_ORIGIN, keys.public_bytes(keys.load_private(settings.log_key)))
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "REGISTRY_DATA_DIR": str(data), "REGISTRY_ORIGIN": BENCH_ORIGIN, "REGISTRY_BASE_URL": base}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "web:create_app()", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--worker-class", "gthread", "--threads", "8", "--timeout", "3600", "--access-logfile", "/dev/null"],
            env=env, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            progress("serving; the web process checks the log once before it answers")
            _wait_http(base + "/checkpoint", timeout=3600)
            bare = _bare_tiles(base, entries)
            progress(f"bare: {entries / bare:.0f} entries/s over HTTP (bundles and hash tiles, no verification)")
            seconds, rss = _timed_monitor(base, log_key, Path(tmp) / "mirror", workers)
            progress(f"first mirror: {entries / seconds:.0f} entries/s, peak {rss:.0f} MB")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    emit({
        "benchmark": "monitor", "entries": entries, "workers": workers,
        "bare_fetch_per_s": round(entries / bare), "first_mirror_per_s": round(entries / seconds),
        "ratio": round(bare / seconds, 3), "first_mirror_s": round(seconds, 1), "peak_rss_mb": round(rss),
    })


def _bare_tiles(base: str, size: int) -> float:
    """Seconds to fetch every entry bundle and every hash tile of a tree over HTTP, as the monitor does."""
    from registry import tiles
    from registry.monitor import TILE_LIMIT, prefetched
    from scripts.httpclient import Client

    client = Client(base + "/")

    def fetch(path: str) -> bytes:
        answer = client.get(f"{base}/{path}", TILE_LIMIT)
        if answer.status != 200:
            raise click.ClickException(f"{path}: HTTP {answer.status}")
        return answer.body

    paths = []
    for level in [None, *range(tiles.MAX_TILE_LEVEL)]:
        count = size >> (tiles.TILE_HEIGHT * (level or 0))
        if not count:
            break
        paths += [tiles.format_tile_path(level, k, tiles.tile_width_for(level, k, size))
                  for k in range(-(-count // tiles.TILE_WIDTH))]
    start = time.perf_counter()
    for _ in prefetched(paths, fetch):
        pass
    return time.perf_counter() - start


def _timed_monitor(base: str, log_key: str, state: Path, workers: int) -> tuple[float, float]:
    """Wall time and peak RSS (MB, the largest process) of ``registry monitor --once`` into an empty directory."""
    import os
    import subprocess

    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    command = [str(Path(sys.executable).with_name("registry")), "monitor", base, "--log-key", log_key, "--state",
               str(state), "--once", "--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=False, stdout=subprocess.PIPE,
                         text=True, check=True, env=env).stdout.split()
    seconds, rss_kb, code = float(out[0]), float(out[1]), int(out[2])
    if code != 0:
        raise click.ClickException(f"registry monitor exited {code}")
    return seconds, rss_kb / 1024


if __name__ == "__main__":
    bench()
