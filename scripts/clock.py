"""The clock process: one APScheduler ``BlockingScheduler`` running the registry's jobs.

Exactly one per deployment is intended; a second one during a deploy is
harmless because every job is idempotent and signing takes the signer lock.
Never run a scheduler inside the web workers (each worker would repeat every
job). Logs are JSON lines on stderr.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
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

from registry import config, jobs, keys
from registry.times import format_time
from scripts.feedstore import ALL_JOBS

log = logging.getLogger("registry.clock")
HALT_REPEAT_SECONDS = 60.0


def emit(event: str, **fields: Any) -> None:
    record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "process": "clock", "event": event,
              **fields}
    print(json.dumps(record, sort_keys=True, default=str), file=sys.stderr, flush=True)


def build_scheduler(node: jobs.Node, *, catch_up_seconds: float = 1.0, checkpoint_seconds: float = 1.0,
                    snapshot_seconds: float = 60.0) -> BlockingScheduler:
    """The scheduler with every job, in UTC, coalescing, one instance each, a generous misfire grace."""
    scheduler = BlockingScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 30,
    })

    last: dict[str, Any] = {}

    def run(name: str) -> Any:
        def job() -> dict[str, Any]:
            started = time.perf_counter()
            try:
                result = ALL_JOBS[name](node)
            except Exception as e:
                node.log.store.record_job(name, False, format_time(datetime.now(UTC)), f"{type(e).__name__}: {e}")
                raise
            node.log.store.record_job(name, True, format_time(datetime.now(UTC)))
            # Log what changed, not every idle tick.
            if result != last.get(name):
                emit("job", job=name, result=result, ms=round((time.perf_counter() - started) * 1000, 1))
            last[name] = result
            return result
        return job

    halt_said: dict[str, Any] = {}

    # Catch-up and checkpoint in one job keeps the merge delay to one interval.
    def integrate_and_sign() -> None:
        result = run("catch-up")()
        run("checkpoint")()
        halted = result.get("halted")
        if halted is not None and (halt_said.get("index") != halted["index"]
                                   or time.monotonic() - halt_said.get("at", 0.0) >= HALT_REPEAT_SECONDS):
            # Loud, and again every minute while it lasts: nothing after this entry is signed until an
            # operator acts (docs/SECURITY.md, "A log entry that fails its checks").
            emit("log_halted", level="error", index=halted["index"], reason=halted["reason"],
                 action="see docs/SECURITY.md: nothing after this entry is signed until an operator acts")
            halt_said.update(index=halted["index"], at=time.monotonic())

    scheduler.add_job(integrate_and_sign, "interval", seconds=min(catch_up_seconds, checkpoint_seconds),
                      id="integrate", next_run_time=datetime.now(UTC))
    scheduler.add_job(run("snapshot"), "interval", seconds=snapshot_seconds, id="snapshot",
                      next_run_time=datetime.now(UTC))
    scheduler.add_job(run("flags"), "interval", seconds=max(snapshot_seconds, 60.0), id="flags")
    scheduler.add_job(run("archives"), "interval", seconds=max(snapshot_seconds, 60.0), id="archives",
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
        return json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "process": "clock",
                           "event": "log", "level": record.levelname, "logger": record.name,
                           "message": record.getMessage(),
                           **({"exception": self.formatException(record.exc_info)} if record.exc_info else {})},
                          sort_keys=True)


def main(data_dir: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
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
    try:
        scheduler = build_scheduler(
            node,
            catch_up_seconds=float(_env("REGISTRY_CLOCK_INTERVAL", "0.5")),
            snapshot_seconds=float(_env("REGISTRY_SNAPSHOT_CHECK_SECONDS", "60")),
        )
        node.snapshot_every_leaves = int(_env("REGISTRY_SNAPSHOT_EVERY_LEAVES", str(jobs.SNAPSHOT_EVERY_LEAVES)))

        def stop(signum: int, _frame: Any) -> None:
            emit("stopping", signal=signal.Signals(signum).name)
            if scheduler.running:
                # Not wait=True here: this runs inside the scheduler's own thread; start() returns
                # once the loop sees the shutdown, and running jobs finish before node.close().
                scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        emit("started", origin=settings.origin, database="postgresql" if settings.is_postgres else "sqlite")
        scheduler.start()
    finally:
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
