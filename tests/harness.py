"""Real processes for end-to-end tests: gunicorn web workers, clock processes and Chromium on a test registry.

Everything listens on 127.0.0.1 only and is stopped (or killed) by the tests.
The browser parts drive Debian's Chromium through Playwright; nothing here
installs a browser.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from scripts.cli.ops import WORKER_OPTIONS  # the worker model `registry serve` runs

if TYPE_CHECKING:  # conftest imports this module
    from tests.conftest import Backend

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


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


# --- a browser on a served registry ------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("REGISTRY_TEST_REQUIRE_BROWSER") == "1"
SHOTS = ROOT / "test-artifacts" / "screenshots"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]
VERIFY_STEPS = ["parse", "key", "checkpoint", "leaf", "inclusion", "statement"]  # /verify's steps, in order


def require_chromium() -> None:
    """Skip (or, with REGISTRY_TEST_REQUIRE_BROWSER=1, fail) without the system Chromium."""
    if CHROMIUM.exists():
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"REGISTRY_TEST_REQUIRE_BROWSER=1 but there is no browser at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); set REGISTRY_TEST_REQUIRE_BROWSER=1 to fail")


@dataclass
class Site:
    """A running server and what the test knows out of band."""

    base: str
    data_dir: Path
    log_vkey: str
    maintainer_public: str
    errors: list[str] = field(default_factory=list)

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            data: bytes = response.read()
            return data


@dataclass
class Tab:
    """A browser page that records console errors, page errors and failed responses."""

    page: Any
    problems: list[str]

    def goto(self, site: Site, path: str) -> None:
        response = self.page.goto(site.base + path)
        assert response is not None and response.status == 200, path

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def run_registry(env: dict[str, str], *args: str) -> None:
    """``registry ARGS`` in a subprocess, as an operator runs it."""
    subprocess.run([sys.executable, "-c", "from scripts.cli import main; main()", *args],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)


@contextmanager
def gunicorn(env: dict[str, str], port: int) -> Iterator[str]:
    """One gunicorn worker serving ``web:create_app()`` with ``env``; its base URL, once it answers."""
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "web:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_up(base, server)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/about", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer within 30 s")


@contextmanager
def chromium() -> Iterator[Any]:
    """The system Chromium, headless, through Playwright."""
    from playwright.sync_api import sync_playwright  # only where a browser runs

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_tab(browser: Any, viewport: dict[str, int]) -> Iterator[Tab]:
    """A fresh browser context and page of ``viewport`` size, recording every problem it sees."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        yield Tab(page, problems)
    finally:
        context.close()
