"""Real processes for end-to-end tests: gunicorn web workers and clock processes on a test registry.

Everything listens on 127.0.0.1 only and is stopped (or killed) by the tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scripts.cli.ops import WORKER_OPTIONS  # the worker model `registry serve` runs
from tests.conftest import Backend

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """The web server and clocks of one test registry."""

    def __init__(self, backend: Backend, logs: Path) -> None:
        self.backend = backend
        self.logs = logs
        self.port = free_port()
        self.web: subprocess.Popen[bytes] | None = None
        self.clocks: list[subprocess.Popen[bytes]] = []
        logs.mkdir(parents=True, exist_ok=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        # Every test submitter shares 127.0.0.1: lift the per-client write limit unless a test sets one.
        return {**self.backend.subprocess_env(), "REGISTRY_BASE_URL": self.base,
                "REGISTRY_SUBMIT_RATE": "100000/minute", **extra}

    def start_web(self, workers: int = 3) -> None:
        with (self.logs / "web.log").open("ab") as out:
            self.web = subprocess.Popen(
                [str(BIN / "gunicorn"), "web:create_app()", "--bind", f"127.0.0.1:{self.port}", "--workers",
                 str(workers), *WORKER_OPTIONS, "--timeout", "30", "--graceful-timeout", "5"],
                env=self.env(), stdout=out, stderr=out, start_new_session=True, cwd=Path(__file__).parent.parent,
            )
        self.wait_ready()

    def start_clock(self, interval: str = "0.2") -> subprocess.Popen[bytes]:
        with (self.logs / f"clock-{len(self.clocks)}.log").open("ab") as out:
            clock = subprocess.Popen([str(BIN / "registry"), "clock"], env=self.env(REGISTRY_CLOCK_INTERVAL=interval),
                                     stdout=out, stderr=out, start_new_session=True)
        self.clocks.append(clock)
        return clock

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web is not None and self.web.poll() is not None:
                raise RuntimeError("web server exited:\n" + (self.logs / "web.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("web server did not become ready")

    def kill(self, process: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL) -> None:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def stop(self) -> None:
        for clock in self.clocks:
            self.kill(clock, signal.SIGTERM)
        self.kill(self.web, signal.SIGTERM)

    def clock_logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.logs.glob("clock-*.log")))


@contextmanager
def processes(backend: Backend, logs: Path) -> Iterator[Processes]:
    running = Processes(backend, logs)
    try:
        yield running
    finally:
        running.stop()


def post(base: str, path: str, body: bytes, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(base + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get(base: str, path: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def signed_sizes(clock_logs: str) -> list[int]:
    """Tree sizes the clock logs say it signed a checkpoint for (lines torn by a SIGKILL are skipped)."""
    sizes = []
    for line in clock_logs.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        result = record.get("result", {})
        if record.get("job") == "checkpoint" and result.get("signed"):
            sizes.append(result["size"])
        if record.get("job") == "snapshot" and result.get("checkpoint_signed"):
            sizes.append(result["checkpoint_size"])
    return sizes
