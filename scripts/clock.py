"""The clock process: integrate-and-sign in a thread of its own, the other jobs under APScheduler.

A submission wakes the clock (``registry.wakeup``: PostgreSQL ``NOTIFY``, or
a Unix socket in the data directory with SQLite), which then integrates and
signs a checkpoint at once; without a wake-up it does so every
``REGISTRY_CLOCK_INTERVAL`` seconds, so a lost one costs at most that. The
snapshot, flags and feed archive jobs run on a ``BlockingScheduler``. Each new
checkpoint is then taken to the configured witnesses (``scripts.cosigner``), in
threads of their own that never hold up signing.

Exactly one per deployment is intended; a second one during a deploy is
harmless because every job is idempotent and signing takes the signer lock.
Never run a scheduler inside the web workers (each worker would repeat every
job). Logs are JSON lines on stderr.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.schedulers.blocking import BlockingScheduler

from registry import config, jobs, keys, wakeup
from registry.times import format_time
from registry.transparency import log_verifier
from scripts import jsonlog
from scripts.cosigner import Cosigner
from scripts.feedstore import ALL_JOBS

log = logging.getLogger("registry.clock")
HALT_REPEAT_SECONDS = 60.0
# Woken runs start at least this far apart: a stream of submissions then shares checkpoints (every one
# is stored and audited for ever) at a cost of at most this much added wait. Well inside the 250 ms aim.
RUN_SPACING_SECONDS = 0.05
# With REGISTRY_PUBLISH_DIR: publish after each checkpoint, at most every PUBLISH_SPACING_SECONDS (a stream of
# checkpoints shares runs), and every PUBLISH_INTERVAL_SECONDS without one.
PUBLISH_SPACING_SECONDS = 0.5
PUBLISH_INTERVAL_SECONDS = 60.0


def emit(event: str, **fields: Any) -> None:
    jsonlog.emit("clock", event, **fields)


class Runs:
    """Runs the jobs by name: records each run in the store and logs what changed, not every idle tick."""

    def __init__(self, node: jobs.Node, on_signed: Callable[[], None] | None = None) -> None:
        self.node = node
        self.last: dict[str, Any] = {}
        self.halt_said: dict[str, Any] = {}
        self.on_signed = on_signed  # told of each new checkpoint (the witnesses are asked then)
        self.after_signing: Callable[[], None] = lambda: None  # told whenever a checkpoint or snapshot is signed

    def run(self, name: str) -> dict[str, Any]:
        started = time.perf_counter()
        store = self.node.log.store
        try:
            result: dict[str, Any] = ALL_JOBS[name](self.node)
        except Exception as e:
            store.record_job(name, False, format_time(datetime.now(UTC)), f"{type(e).__name__}: {e}")
            raise
        store.record_job(name, True, format_time(datetime.now(UTC)))
        if self.on_signed is not None and (result.get("signed") or result.get("checkpoint_signed")):
            self.on_signed()  # only sets an event: the witnesses are asked in threads of their own
        if result.get("signed") or result.get("published") or result.get("checkpoint_signed"):
            self.after_signing()
        if result != self.last.get(name):
            emit("job", job=name, result=result, ms=round((time.perf_counter() - started) * 1000, 1))
        self.last[name] = result
        return result

    def job(self, name: str) -> Callable[[], dict[str, Any]]:
        return lambda: self.run(name)

    def integrate_and_sign(self) -> None:
        """Checkpoint and catch-up in one run: a new entry waits for one run, not for two.

        The checkpoint first (it integrates what it signs itself): it is what a submitter waits for, and
        the read models need not hold it up.
        """
        failed: Exception | None = None
        try:
            self.run("checkpoint")
        except Exception as e:  # still catch up, and say so if the log halted, before reporting it
            failed = e
        result = self.run("catch-up")
        self._say_if_halted(result.get("halted"))
        if failed is not None:
            raise failed

    def _say_if_halted(self, halted: dict[str, Any] | None) -> None:
        said = self.halt_said
        if halted is not None and (said.get("index") != halted["index"]
                                   or time.monotonic() - said.get("at", 0.0) >= HALT_REPEAT_SECONDS):
            # Loud, and again every minute while it lasts: nothing after this entry is signed until an
            # operator acts (docs/SECURITY.md, "A log entry that fails its checks").
            emit("log_halted", level="error", index=halted["index"], reason=halted["reason"],
                 action="see docs/SECURITY.md: nothing after this entry is signed until an operator acts")
            said.update(index=halted["index"], at=time.monotonic())


class Integrator:
    """Runs integrate-and-sign in one thread of its own: every ``interval`` seconds, and at once when woken.

    Not an APScheduler job: with ``max_instances=1`` the scheduler drops a run that falls due while one is
    going, so a wake-up during a run would leave its entry to the next interval. Here a wake-up during a
    run asks for one more run after it; any number of wake-ups ask for one run (a burst shares one
    checkpoint), and runs never overlap because this one thread makes them all. Runs are at least
    ``spacing`` seconds apart, so that a steady stream of submissions does not sign one checkpoint each.
    """

    def __init__(self, job: Callable[[], None], interval: float, spacing: float = 0.0) -> None:
        self.job = job
        self.interval = interval
        self.spacing = spacing
        self._due = threading.Event()
        self._due.set()  # the first run at start: whatever landed while no clock ran
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="integrate", daemon=True)

    def wake(self) -> None:
        self._due.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the run under way, if any."""
        self._stop.set()
        self._due.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while True:
            self._due.wait(self.interval)
            if self._stop.is_set():
                return
            self._due.clear()  # before the run: a wake-up from now on means one more run
            try:
                self.job()
            except Exception as e:
                emit("job_error", job="integrate", error=repr(e))
            self._stop.wait(self.spacing)


class Publishing:
    """``registry publish`` into ``REGISTRY_PUBLISH_DIR`` after each new checkpoint, in a thread of its own.

    Woken by every checkpoint and snapshot (a burst shares one run), and every ``PUBLISH_INTERVAL_SECONDS`` anyway (new
    snapshots, the obligations feed's new day). A failed run is logged and never stops signing.
    """

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.publisher: Any = None
        self.loop = Integrator(self.run, PUBLISH_INTERVAL_SECONDS, PUBLISH_SPACING_SECONDS)

    def run(self) -> None:
        from scripts.publishing import Publisher

        directory = self.settings.publish_dir
        assert directory is not None
        try:
            if self.publisher is None:  # built in this thread, which alone uses its connections
                self.publisher = Publisher(self.settings)
            report = self.publisher.publish(directory)
        except Exception as e:
            emit("publish_error", level="error", directory=str(directory), error=f"{type(e).__name__}: {e}")
            return
        if report.written or report.deleted:
            emit("published", directory=str(directory), **report.to_json())

    def stop(self) -> None:
        self.loop.stop()
        if self.publisher is not None:
            try:
                self.publisher.close()
            except Exception as e:  # closing at exit: nothing to lose any more
                emit("publish_error", level="warning", error=f"closing: {type(e).__name__}: {e}")


def build_scheduler(runs: Runs, *, snapshot_seconds: float = 60.0) -> BlockingScheduler:
    """The scheduler of the other jobs, in UTC, coalescing, one instance each, a generous misfire grace."""
    scheduler = BlockingScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 30,
    })
    scheduler.add_job(runs.job("snapshot"), "interval", seconds=snapshot_seconds, id="snapshot",
                      next_run_time=datetime.now(UTC))
    scheduler.add_job(runs.job("flags"), "interval", seconds=max(snapshot_seconds, 60.0), id="flags")
    scheduler.add_job(runs.job("archives"), "interval", seconds=max(snapshot_seconds, 60.0), id="archives",
                      next_run_time=datetime.now(UTC))

    def listen(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            emit("job_error", job=event.job_id, error=repr(event.exception))
        elif event.code == EVENT_JOB_MISSED:
            emit("job_missed", job=event.job_id, scheduled=event.scheduled_run_time)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            emit("job_skipped", job=event.job_id, reason="previous run still going")

    scheduler.add_listener(listen, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED)
    return scheduler


class JSONFormatter(logging.Formatter):
    """Library log records (APScheduler's own warnings) as JSON lines like ours."""

    def format(self, record: logging.LogRecord) -> str:
        return jsonlog.record("clock", "log", level=record.levelname, logger=record.name,
                              message=record.getMessage(),
                              **({"exception": self.formatException(record.exc_info)} if record.exc_info else {}))


def main(data_dir: str | None = None) -> None:
    handler = jsonlog.LineHandler()
    handler.setFormatter(JSONFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)

    # Until the scheduler runs, a stop request just ends the process cleanly.
    def early_stop(signum: int, _frame: Any) -> None:
        emit("stopped", signal=signal.Signals(signum).name, phase="starting")
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, early_stop)
    signal.signal(signal.SIGINT, early_stop)
    settings = config.load(data_dir)
    keys.check_key_permissions(settings)
    node = jobs.open_node(settings)
    publishing = Publishing(settings) if settings.publish_dir is not None else None
    # A cosignature changes the served checkpoint and receipts: the published copies follow at once.
    cosigner = Cosigner(settings, node.log, log_verifier(settings), emit,
                        on_cosigned=None if publishing is None else publishing.loop.wake)
    runs = Runs(node, cosigner.wake)
    integrator = Integrator(runs.integrate_and_sign, settings.clock_interval, RUN_SPACING_SECONDS)
    if publishing is not None:
        runs.after_signing = publishing.loop.wake
    # Bound before the first run, so that nothing recorded from here on can land unannounced.
    listener = wakeup.open_listener(settings, integrator.wake)
    try:
        scheduler = build_scheduler(runs, snapshot_seconds=float(_env("REGISTRY_SNAPSHOT_CHECK_SECONDS", "60")))
        node.snapshot_every_leaves = int(_env("REGISTRY_SNAPSHOT_EVERY_LEAVES", str(jobs.SNAPSHOT_EVERY_LEAVES)))

        def stop(signum: int, _frame: Any) -> None:
            emit("stopping", signal=signal.Signals(signum).name)
            if scheduler.running:
                # Not wait=True here: this runs inside the scheduler's own thread; start() returns
                # once the loop sees the shutdown, and running jobs finish before node.close().
                scheduler.shutdown(wait=False)

        woken = listener.start()
        integrator.start()
        cosigner.start()
        if publishing is not None:
            publishing.loop.start()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        emit("started", origin=settings.origin, database="postgresql" if settings.is_postgres else "sqlite",
             interval=settings.clock_interval, wakeups=listener.mechanism if woken else "none",
             witnesses=[w.label for w in settings.witnesses],
             publish_dir=None if publishing is None else str(settings.publish_dir))
        scheduler.start()
    finally:
        listener.close()
        integrator.stop()
        cosigner.stop()
        if publishing is not None:
            publishing.stop()
        _wait_for_jobs(scheduler if "scheduler" in locals() else None)
        node.close()
        emit("stopped")


def _wait_for_jobs(scheduler: BlockingScheduler | None) -> None:
    if scheduler is None:
        return
    for executor in scheduler._executors.values():  # let a job that was running finish before closing
        executor.shutdown(wait=True)


def _env(name: str, default: str) -> str:
    import os

    return os.environ.get(name, default)
