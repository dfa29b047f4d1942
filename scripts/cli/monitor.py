"""``registry monitor``: the shell around :class:`registry.monitor.Monitor`.

It binds the data directory (locked, so two monitors never share one), fetches
over the bounded HTTP client (archived documents with scripts.evidencefetch), prints alert and watch lines on stdout and
progress on stderr, loops until SIGTERM or SIGINT, and serves Prometheus
metrics when asked. Exit status with ``--once``: 0 verified, 1 an alert, 2 the
registry could not be reached.
"""

from __future__ import annotations

import fcntl
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from registry.alerts import KINDS, MONITOR_DIR
from registry.checkpoint import check_verifiers
from registry.errors import ConfigurationError, NoteError, RemoteError
from registry.monitor import (
    CHECKPOINT_LIMIT,
    HASH_TILE_LIMIT,
    TILE_LIMIT,
    Monitor,
    Options,
    Outcome,
    Watch,
    open_mirror,
)
from registry.signednote import NoteVerifier, parse_verifier_key

EXIT = {"verified": 0, "alert": 1, "unreachable": 2, "stopped": 0}


@click.command("monitor")
@click.argument("url")
@click.option("--log-key", "log_key", required=True, metavar="VKEY",
              help="The log's verifier key (name+hash+base64), from a source you trust.")
@click.option("--state", "state_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The mirror's data directory (created on the first round).")
@click.option("--once", is_flag=True, help="One round; exit 0 verified, 1 a problem found, 2 unreachable.")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between rounds without --once.")
@click.option("--witness-key", "witness_keys", multiple=True, metavar="VKEY", help="A witness's cosignature key.")
@click.option("--quorum", default=0, show_default=True, type=click.IntRange(min=0),
              help="Cosignatures (of the --witness-key witnesses) a checkpoint needs.")
@click.option("--max-age", default=86400.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds a cosignature counts as fresh; an unchanged log with none fresher is a freeze.")
@click.option("--watch", "watches", multiple=True, metavar="org:SLUG|code:SLUG|type:TYPE",
              help="Print a line for each new verified entry that matches (repeatable).")
@click.option("--metrics-port", default=None, type=click.IntRange(1, 65535),
              help="Serve Prometheus metrics on this port (127.0.0.1).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Processes checking signatures on a long download.")
def monitor(url: str, log_key: str, state_dir: Path, once: bool, interval: float, witness_keys: tuple[str, ...],
            quorum: int, max_age: float, watches: tuple[str, ...], metrics_port: int | None, workers: int) -> None:
    """Follow the registry at URL through its tiles; verify everything and keep a mirror in --state DIR.

    Every new entry is downloaded as C2SP entry bundles, checked against the
    signed root and the hash tiles, and re-verified as `registry audit` does
    before the mirror records it. The archived documents new entries cite by
    hash are then fetched from URL/evidence/<sha256> and kept if they hash to
    their name. Alerts (fork, rollback, bad-signature, tiles, invalid-entry,
    freeze, unverifiable, evidence) are JSON lines on stdout, with their
    evidence in DIR/monitor/evidence/. `registry --data-dir DIR serve` serves
    the mirror, with its alerts at /monitor/alerts.atom.
    """
    options = Options(_verifier(log_key, "--log-key"), tuple(_verifier(k, "--witness-key") for k in witness_keys),
                      quorum, max_age, tuple(Watch.parse(w) for w in watches), workers)
    if quorum > len(options.witnesses):
        raise ConfigurationError(f"--quorum {quorum} needs at least {quorum} --witness-key")
    try:
        check_verifiers(options.log_verifier.name, options.log_verifier, options.witnesses, quorum)
    except ValueError as e:  # a log key that is not Ed25519, a witness key that is not a cosignature key, ...
        raise ConfigurationError(f"the keys given: {e}") from None
    base = url.rstrip("/")
    with _locked(state_dir):
        settings = open_mirror(state_dir, options.log_verifier)
        stop = threading.Event()
        runner = Monitor(settings, base, options, _fetcher(base), fetch_document=_document_fetcher(base),
                         progress=_progress(), stopping=stop.is_set)
        metrics = None if metrics_port is None else _Metrics(metrics_port)
        if once:
            outcome = _round(runner, metrics)
            sys.exit(EXIT[outcome.status])

        def stopping(signum: int, frame: Any) -> None:
            stop.set()  # a round still downloading or verifying is dropped; one recording finishes first

        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        while not stop.is_set():
            _round(runner, metrics)
            stop.wait(interval)
        click.echo("monitor: stopped", err=True)


def _round(runner: Monitor, metrics: _Metrics | None) -> Outcome:
    outcome = runner.round()
    for line in outcome.alerts + outcome.watched:
        click.echo(json.dumps(line, sort_keys=True, ensure_ascii=False))
    if outcome.status in ("unreachable", "stopped"):
        click.echo(f"monitor: {outcome.status}: {outcome.reason}", err=True)
    elif outcome.status == "alert" and not outcome.alerts:
        click.echo(f"monitor: still: {outcome.reason}", err=True)  # reported before: once on stdout
    else:
        click.echo(f"monitor: {outcome.status} at size {outcome.size}", err=True)
    documents = outcome.documents
    if any(documents.values()):
        click.echo(f"monitor: archived documents: {documents.get('fetched', 0)} fetched, "
                   f"{documents.get('missing', 0)} not archived there, {documents.get('refused', 0)} refused, "
                   f"{documents.get('pending', 0)} to fetch in a later round", err=True)
    sys.stdout.flush()
    if metrics is not None:
        metrics.observe(outcome)
    return outcome


def _verifier(text: str, option: str) -> NoteVerifier:
    try:
        return parse_verifier_key(text)
    except NoteError as e:
        raise ConfigurationError(f"{option}: not a verifier key: {e}") from None


def _fetcher(base: str) -> Callable[[str], bytes]:
    from scripts.httpclient import Client

    client = Client(base + "/")

    def fetch(path: str) -> bytes:
        limit = CHECKPOINT_LIMIT if path == "checkpoint" else TILE_LIMIT if path.startswith("tile/entries/") \
            else HASH_TILE_LIMIT
        answer = client.get(f"{base}/{path}", limit)
        if answer.status == 200:
            return answer.body
        if answer.status >= 500:
            raise RemoteError("unreachable", f"{base}/{path}: HTTP {answer.status}", refused=False)
        raise RemoteError("not-found" if answer.status == 404 else "refused",
                          f"{base}/{path}: HTTP {answer.status}", refused=True)

    return fetch


def _document_fetcher(base: str) -> Callable[[str, int], bytes]:
    from scripts.evidencefetch import fetch_evidence

    def fetch(sha256: str, limit: int) -> bytes:
        return fetch_evidence(base, sha256, limit=limit)

    return fetch


def _progress() -> Callable[[str, int, int], None]:
    """Progress lines on stderr for a long round: at most every five seconds, with the rate."""
    started: dict[str, tuple[float, int]] = {}  # phase -> (time, entries) when it was first reported
    last = [time.monotonic()]

    def report(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase not in started:
            started[phase] = (now, done)  # the rate is measured from here
            return
        if now - last[0] >= 5:
            last[0] = now
            begun, before = started[phase]
            rate = (done - before) / max(now - begun, 1e-9)
            click.echo(f"monitor: {phase} {done} of {total} entries ({rate:.0f} entries/s)", err=True)

    return report


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One monitor per data directory: an flock the operating system releases if the process dies."""
    where = state_dir / MONITOR_DIR
    where.mkdir(mode=0o755, parents=True, exist_ok=True)
    with (where / "lock").open("a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(f"another monitor is running on {state_dir}") from None
        yield


class _Metrics:
    """Prometheus metrics of the monitor, served on 127.0.0.1:PORT."""

    def __init__(self, port: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        self.registry = CollectorRegistry()
        self.size = Gauge("registry_monitor_verified_size", "Tree size of the newest verified checkpoint.",
                          registry=self.registry)
        self.verified_at = Gauge("registry_monitor_verified_time_seconds",
                                 "Unix time of the last round that verified everything.", registry=self.registry)
        self.age = Gauge("registry_monitor_checkpoint_age_seconds",
                         "Age of the served checkpoint (its newest cosignature when it has one).",
                         registry=self.registry)
        self.alerts = Counter("registry_monitor_alerts_total", "Alerts found, repeats included, by kind.",
                              ["kind"], registry=self.registry)
        self.rounds = Counter("registry_monitor_rounds_total", "Rounds by outcome.", ["outcome"],
                              registry=self.registry)
        for kind in KINDS:
            self.alerts.labels(kind)
        for outcome in EXIT:
            self.rounds.labels(outcome)
        start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def observe(self, outcome: Outcome) -> None:
        self.rounds.labels(outcome.status).inc()
        for kind in outcome.kinds:
            self.alerts.labels(kind).inc()
        if outcome.status == "verified":
            self.size.set(outcome.size)
            self.verified_at.set(time.time())
        if outcome.checkpoint_age is not None:
            self.age.set(outcome.checkpoint_age)
