"""Remote mode end to end: the ``registry`` command, with a registry's URL only, against real served registries.

Registry A (origin ``remote.test/hcoc``) runs under gunicorn with a clock
process; registry B has the same origin and another log key, is served too,
and has no clock (its checkpoints are signed by hand, so receipts come late).
A :class:`Proxy` (a real HTTP server in this process) stands in front of
either and can be told to lie. Every ``registry`` run is a real process, from
an empty working directory, with no data directory and no ``REGISTRY_*``
setting but ``REGISTRY_URL`` (or none), and its own ``XDG_CONFIG_HOME``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from registry import config, keys
from registry.application import open_registry
from registry.signednote import format_verifier_key
from tests import harness

REGISTRY = Path(sys.executable).parent / "registry"
ORIGIN = "remote.test/hcoc"
SLUG = "remote.test-hcoc"  # the origin as receipt file names have it
REVISION = {
    "code": "hiroshima-coc", "version": "2023-10-30", "title": "Hiroshima Process International Code of Conduct",
    "short_title": "Hiroshima Code", "issuer": "G7", "published_on": "2023-10-30",
    "source_url": "https://example.org/hcoc", "text_sha256": "12" * 32, "supersedes": None,
    "actions": [{"number": n, "heading": f"Action {n}", **({"name": f"Name {n}"} if n in (1, 3) else {})}
                for n in range(1, 12)],
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any REGISTRY_* setting (a developer's own must not leak in), plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}, **extra}


@dataclass
class Served:
    """A registry served on loopback: its URL, data directory and log verifier key."""

    url: str
    data_dir: Path
    log_key: str

    def size(self) -> int:
        """How many entries its store holds (read in this process, as an operator would)."""
        registry = open_registry(config.load(self.data_dir, clean_env()))
        try:
            return registry.size()
        finally:
            registry.close()

    def checkpoint(self) -> None:
        harness.run_registry(clean_env(REGISTRY_DATA_DIR=str(self.data_dir)), "checkpoint")

    def get(self, path: str) -> tuple[int, bytes]:
        return harness.get(self.url, path)



def serve_registry(root: Path, name: str, *, clock: bool) -> Iterator[Served]:
    """``registry init`` in root/name, served by gunicorn (and a clock process, when asked)."""
    data, port = root / name, harness.free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(REGISTRY_DATA_DIR=str(data), REGISTRY_SUBMIT_RATE="100000/minute")
    harness.run_registry(env, "init", "--origin", ORIGIN, "--base-url", url)
    log_key = format_verifier_key(ORIGIN, keys.load_public_file(data / "keys" / "log.key.pub"))
    running = None
    if clock:
        with (root / f"{name}-clock.log").open("ab") as out:
            running = subprocess.Popen([str(REGISTRY), "clock"], env={**env, "REGISTRY_CLOCK_INTERVAL": "0.2"},
                                       stdout=out, stderr=out, start_new_session=True)
    try:
        with harness.gunicorn(env, port) as base:
            yield Served(base, data, log_key)
    finally:
        if running is not None:
            os.killpg(running.pid, signal.SIGTERM)
            running.wait(timeout=30)


@pytest.fixture(scope="module")
def registry_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_registry(tmp_path_factory.mktemp("remote"), "a", clock=True)


@pytest.fixture(scope="module")
def registry_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Another registry of the same origin, with another log key, and no clock."""
    yield from serve_registry(tmp_path_factory.mktemp("remote"), "b", clock=False)


# --- a registry that lies --------------------------------------------------------------------------------

Lie = Callable[[str], "tuple[int, dict[str, str], bytes] | None"]


class Proxy:
    """A real HTTP server in front of a registry: it forwards every request (its own URL in place of the
    registry's in every answer) unless :attr:`lie` answers it instead."""

    def __init__(self, upstream: Served) -> None:
        self.upstream = upstream
        self.lie: Lie = lambda path: None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(proxy.lie(self.path) or proxy.fetch(proxy.upstream, self.path))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.answer(proxy.fetch(proxy.upstream, self.path, body, self.headers.get("Content-Type", "")))

            def answer(self, found: tuple[int, dict[str, str], bytes]) -> None:
                status, headers, body = found
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fetch(self, served: Served, path: str, body: bytes | None = None,
              content_type: str = "") -> tuple[int, dict[str, str], bytes]:
        """What ``served`` answers to ``path``, with this proxy's URL in place of the registry's."""
        request = urllib.request.Request(served.url + path, data=body, method="POST" if body is not None else "GET",
                                         headers={"Content-Type": content_type} if content_type else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                status, headers, data = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers, e.read()
        kept = {k: v for k in ("Content-Type", "Retry-After", "Location") if (v := headers.get(k)) is not None}
        return status, kept, data.replace(served.url.encode(), self.url.encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(registry_a: Served) -> Iterator[Proxy]:
    found = Proxy(registry_a)
    try:
        yield found
    finally:
        found.close()


# --- the command, as an organization runs it ----------------------------------------------------------------


@dataclass
class User:
    """An empty working directory and a configuration directory of one's own."""

    cwd: Path
    xdg: Path

    def run(self, *args: str, url: str | None, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
        extra = {"XDG_CONFIG_HOME": str(self.xdg), **env} | ({"REGISTRY_URL": url} if url is not None else {})
        return subprocess.run([str(REGISTRY), *args], cwd=self.cwd, env=clean_env(**extra), capture_output=True,
                              text=True, timeout=timeout, check=False)

    @property
    def known_keys(self) -> Path:
        return self.xdg / "hcoc-registry" / "known-keys.json"

    def files(self) -> set[str]:
        return {str(p.relative_to(self.cwd)) for p in self.cwd.rglob("*")}


@pytest.fixture
def user(tmp_path: Path) -> User:
    (tmp_path / "work").mkdir()
    return User(tmp_path / "work", tmp_path / "xdg")


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def one_line(done: subprocess.CompletedProcess[str], status: int, start: str) -> str:
    """The single stderr line of a run that failed with ``status``; it starts with ``start``."""
    assert done.returncode == status, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(start), done.stderr
    return done.stderr


def lines(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """stdout's ``name: value`` lines by name."""
    return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)


def copy_key(served: Served, name: str, to: Path) -> Path:
    target = to / f"{name}.key"
    shutil.copyfile(served.data_dir / "keys" / f"{name}.key", target)
    target.chmod(0o600)
    return target


# --- the story --------------------------------------------------------------------------------------------


def test_an_organization_with_only_the_url(registry_a: Served, user: User) -> None:
    url = registry_a.url
    maintainer = copy_key(registry_a, "maintainer", user.cwd)
    (user.cwd / "revision.json").write_text(json.dumps(REVISION))
    # 1. A maintainer publishes the Code from anywhere; the first contact trusts the log key, and says so.
    done = ok(user.run("code", "publish", "revision.json", "--key", str(maintainer), url=url))
    assert done.stderr.splitlines()[0] == (f"trusting the log key of {ORIGIN} on first use: {registry_a.log_key} "
                                           f"(remembered in {user.known_keys}; check it from a second source)")
    assert json.loads(user.known_keys.read_text())["log_keys"] == {ORIGIN: registry_a.log_key}
    assert user.known_keys.stat().st_mode & 0o777 == 0o600
    # 2. The organization makes its key; the maintainer registers the organization with it.
    ok(user.run("keys", "generate", "--out", "org.key", url=None))
    done = ok(user.run("org", "register", "--slug", "acme", "--name", "Acme AI", "--country", "JP", "--kind",
                       "company", "--public-key", "org.key.pub", "--key", str(maintainer), url=url))
    assert "trusting" not in done.stderr  # known now
    registered = int(lines(done)["recorded"].split(" at leaf ")[1].split()[0])
    assert (user.cwd / f"{SLUG}-{registered}.tlog-proof").is_file()
    # 3. The organization endorses actions 1 and 3 with its own key, and gets a receipt that verifies offline.
    done = ok(user.run("endorse", "--org", "acme", "--code", "hiroshima-coc", "--version", "2023-10-30",
                       "--actions", "1,3", "--statement", "We commit.", "--key", "org.key", "--receipt",
                       "acme.tlog-proof", url=url))
    said = lines(done)
    index = int(said["recorded"].split(" at leaf ")[1].split()[0])
    assert said["recorded"].startswith("endorsement.made at leaf ")
    assert len(said["envelope hash"]) == 64
    assert said["receipt"].startswith("acme.tlog-proof (verified: in the tree of checkpoint ")
    assert said["claim"].startswith("Acme AI endorsed actions 1 (Name 1), 3 (Name 3) of the Hiroshima Code, effective ")
    assert f"; signed by the organization itself; in the log at #{index}, covered by checkpoint " in said["claim"]
    verified = ok(user.run("verify", "receipt", "acme.tlog-proof", "--log-key", registry_a.log_key, "--signer-key",
                           "org.key.pub", url=None))
    assert "ok   entry: endorsement.made recorded at " in verified.stdout
    assert said["envelope hash"] in verified.stdout and "ok   statement signature" in verified.stdout
    # 4. Endorsing twice is refused with the registry's own problem, and no receipt is written.
    before = user.files()
    done = user.run("endorse", "--org", "acme", "--code", "hiroshima-coc", "--version", "2023-10-30",
                    "--key", "org.key", url=url)
    assert "already endorses" in one_line(done, 1, "refused: conflict: ")
    assert user.files() == before
    # 5. It amends, then withdraws (--json: the record and where its receipt is).
    ok(user.run("amend", "--org", "acme", "--code", "hiroshima-coc", "--actions", "all", "--key", "org.key",
                url=url))
    done = ok(user.run("withdraw", "--org", "acme", "--code", "hiroshima-coc", "--reason", "Policy review.",
                       "--key", "org.key", "--json", url=url))
    withdrawn = json.loads(done.stdout)
    assert withdrawn["type"] == "endorsement.withdrawn" and withdrawn["duplicate"] is False
    assert withdrawn["receipt"] == f"{SLUG}-{withdrawn['index']}.tlog-proof"
    assert withdrawn["claim"].startswith("Acme AI withdrew its endorsement of the Hiroshima Code")
    ok(user.run("verify", "receipt", withdrawn["receipt"], "--log-key", registry_a.log_key, url=None))
    # 6. --print signs for the remote origin and sends nothing; submitting that envelope twice is one record.
    size = registry_a.size()
    ok(user.run("keys", "generate", "--out", "second.key", url=None))
    printed = ok(user.run("org", "add-key", "--org", "acme", "--public-key", "second.key.pub", "--key", "org.key",
                          "--print", url=url)).stdout
    assert json.loads(base64.b64decode(json.loads(printed)["payload"]))["registry"] == ORIGIN
    assert registry_a.size() == size
    (user.cwd / "add-key.json").write_text(printed)
    first = ok(user.run("submit", "add-key.json", "--signer-key", "org.key.pub", url=url))
    again = ok(user.run("submit", "add-key.json", url=url))
    assert lines(first)["recorded"].split(" (")[0] == lines(again)["already recorded"].split(" (")[0]
    assert lines(first)["envelope hash"] == lines(again)["envelope hash"]
    assert registry_a.size() == size + 1
    # 7. status and receipt, of the remote registry.
    status = json.loads(ok(user.run("status", "--json", url=url)).stdout)
    assert (status["origin"], status["log_key"]) == (ORIGIN, registry_a.log_key) and status["tree_size"] >= index
    printed = ok(user.run("receipt", str(index), url=url)).stdout
    assert printed.startswith("c2sp.org/tlog-proof@v1\n") and f"\nindex {index}\n" in printed
    done = ok(user.run("receipt", str(index), "--receipt", "again.tlog-proof", "--signer-key", "org.key.pub",
                       url=url))
    assert lines(done)["claim"].startswith("Acme AI endorsed actions 1 (Name 1), 3 (Name 3)")
    ok(user.run("verify", "receipt", "again.tlog-proof", "--log-key", registry_a.log_key, url=None))
    # 8. No data directory was made, here or anywhere below.
    assert not any(name == "instance" or name.endswith("/instance") for name in user.files())
    assert sorted(p.name for p in user.xdg.rglob("*")) == ["hcoc-registry", "known-keys.json"]


def test_without_a_registry_nothing_is_guessed_or_created(user: User, tmp_path: Path) -> None:
    (user.cwd / "envelope.json").write_text("{}")
    ok(user.run("keys", "generate", "--out", "org.key", url=None))
    for args in (["status"], ["submit", "envelope.json"], ["receipt", "0"], ["show", "org", "acme"], ["audit"],
                 ["migrate"], ["checkpoint"], ["clock"], ["serve"], ["job", "checkpoint"],
                 ["endorse", "--org", "acme", "--code", "c", "--version", "1", "--key", "org.key"]):
        line = one_line(user.run(*args, url=None), 2, "error: configuration: there is no registry in ")
        assert "registry init" in line and "--registry URL" in line and "nothing was created" in line
    # A statement only printed names its registry: never the default one.
    line = one_line(user.run("endorse", "--org", "acme", "--code", "c", "--version", "1", "--key", "org.key",
                             "--print", url=None), 2, "error: configuration: no registry to sign for")
    assert "--registry URL" in line and "REGISTRY_ORIGIN" in line
    one_line(user.run("sign", "--key", "org.key", "envelope.json", url=None), 2, "error: configuration: no registry")
    assert user.files() == {"envelope.json", "org.key", "org.key.pub"}
    # A stated origin is enough to print.
    printed = ok(user.run("endorse", "--org", "acme", "--code", "c", "--version", "1", "--key", "org.key", "--print",
                          url=None, REGISTRY_ORIGIN="stated.example/reg"))
    assert json.loads(printed.stdout)["payloadType"]
    # --receipt is for a remote registry.
    one_line(user.run("endorse", "--org", "acme", "--code", "c", "--version", "1", "--key", "org.key", "--receipt",
                      "x", url=None), 2, "error: configuration: --receipt FILE needs --registry URL")
    assert user.files() == {"envelope.json", "org.key", "org.key.pub"}


# --- the log key --------------------------------------------------------------------------------------------


def test_a_wrong_pin_is_refused_before_anything_is_sent(registry_a: Served, registry_b: Served, user: User) -> None:
    maintainer = copy_key(registry_a, "maintainer", user.cwd)
    size = registry_a.size()
    register = ["org", "register", "--slug", "pinned", "--name", "Pinned", "--country", "FR", "--kind", "company",
                "--key", str(maintainer)]
    for how in ({"REGISTRY_LOG_KEY_PIN": registry_b.log_key}, {}):
        args = ([] if how else ["--log-key", registry_b.log_key]) + register
        line = one_line(user.run(*args, url=registry_a.url, **how), 1, "FAILED: verification-failed: log key: ")
        assert f"presents the log key {registry_a.log_key}, but --log-key pins {registry_b.log_key}" in line
        assert "nothing was signed or sent" in line
        # --print too: nothing is signed for a registry whose key is not the pinned one
        printed = user.run(*args, "--print", url=registry_a.url, **how)
        assert printed.returncode == 1 and printed.stdout == ""
    assert registry_a.size() == size
    assert registry_a.get("/api/v1/organizations/pinned")[0] == 404
    assert not user.known_keys.exists() and user.files() == {"maintainer.key"}
    # A pin that is not a key at all is a configuration error; the right pin works, and is remembered.
    one_line(user.run("--log-key", "nonsense", "status", url=registry_a.url), 2, "error: configuration: --log-key ")
    done = ok(user.run("--log-key", registry_a.log_key, "status", url=registry_a.url))
    assert "trusting" not in done.stderr
    assert json.loads(user.known_keys.read_text())["log_keys"] == {ORIGIN: registry_a.log_key}


def test_a_log_key_that_changes_is_refused(registry_a: Served, registry_b: Served, proxy: Proxy, user: User) -> None:
    ok(user.run("status", url=proxy.url))
    assert json.loads(user.known_keys.read_text())["log_keys"] == {ORIGIN: registry_a.log_key}
    # The same URL and origin now serve registry B, with another log key: refused, saying what to do.
    proxy.upstream = registry_b
    ok(user.run("keys", "generate", "--out", "org.key", url=None))
    for args in (["status"], ["endorse", "--org", "x", "--code", "c", "--version", "1", "--key", "org.key",
                              "--print"]):
        done = user.run(*args, url=proxy.url)
        line = one_line(done, 1, "FAILED: verification-failed: log key: ")
        assert f"now presents the log key {registry_b.log_key}, but {user.known_keys} remembers {registry_a.log_key}" \
            in line
        assert f"edit or delete the line for {ORIGIN} in {user.known_keys}" in line
        assert done.stdout == ""
    # The file is left as it was; with B's key pinned, the pin is the user's word and is remembered instead.
    assert json.loads(user.known_keys.read_text())["log_keys"] == {ORIGIN: registry_a.log_key}
    done = ok(user.run("--log-key", registry_b.log_key, "status", url=proxy.url))
    assert "remembered another log key" in done.stderr
    assert json.loads(user.known_keys.read_text())["log_keys"] == {ORIGIN: registry_b.log_key}
    # A tampered file is refused too, and a broken one is named.
    proxy.upstream = registry_a
    one_line(user.run("status", url=proxy.url), 1, "FAILED: verification-failed: log key: ")
    user.known_keys.write_text("{")
    line = one_line(user.run("status", url=proxy.url), 2, f"error: configuration: {user.known_keys} is not valid JSON")
    assert "fix or delete it" in line


# --- errors of the registry, and of the network -------------------------------------------------------------


def test_an_unreachable_registry_is_one_line_and_exit_2(registry_a: Served, user: User) -> None:
    stopped = f"http://127.0.0.1:{harness.free_port()}"  # nothing listens there any more
    maintainer = copy_key(registry_a, "maintainer", user.cwd)
    for args in (["status"], ["receipt", "0"], ["org", "register", "--slug", "gone", "--name", "Gone", "--country",
                                                 "FR", "--kind", "company", "--key", str(maintainer)]):
        line = one_line(user.run(*args, url=stopped), 2, f"error: unreachable: {stopped}/.well-known/")
        assert "Connection refused" in line
    line = one_line(user.run("status", url="http://registry.invalid"), 2, "error: unreachable: http://registry.invalid/")
    one_line(user.run("status", url="ftp://127.0.0.1/"), 2, "error: configuration: --registry must be an http")
    assert user.files() == {"maintainer.key"} and not user.known_keys.exists()


def test_an_early_receipt_is_waited_for(registry_b: Served, user: User) -> None:
    maintainer = copy_key(registry_b, "maintainer", user.cwd)
    pin = {"REGISTRY_LOG_KEY_PIN": registry_b.log_key}

    def register(slug: str, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(REGISTRY), "org", "register", "--slug", slug, "--name", slug, "--country", "JP",
                                 "--kind", "company", "--key", str(maintainer), *extra], cwd=user.cwd, text=True,
                                env=clean_env(REGISTRY_URL=registry_b.url, XDG_CONFIG_HOME=str(user.xdg), **pin),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # No clock signs B's checkpoints: the command waits, and finishes once one is signed.
    size = registry_b.size()
    running = register("early")
    deadline = time.monotonic() + 30
    while registry_b.size() == size and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    assert running.poll() is None  # still waiting
    registry_b.checkpoint()
    out, err = running.communicate(timeout=60)
    assert running.returncode == 0, out + err
    assert f"waiting for a signed checkpoint to cover leaf {size}" in err
    assert (user.cwd / f"{SLUG}-{size}.tlog-proof").is_file()
    # Bounded: with no checkpoint in time it gives up (exit 2), says it is recorded and how to get the receipt.
    running = register("late", "--wait", "1")
    out, err = running.communicate(timeout=60)
    assert running.returncode == 2, out + err
    assert err.splitlines()[-1].startswith("error: ") and "waited 1 s for a checkpoint to cover leaf" in err
    assert f"It is recorded at leaf {size + 1}: get its receipt later with `registry --registry " in err
    assert not (user.cwd / f"{SLUG}-{size + 1}.tlog-proof").exists()
    registry_b.checkpoint()
    ok(user.run("receipt", str(size + 1), "--receipt", "late.tlog-proof", url=registry_b.url, **pin))
    assert (user.cwd / "late.tlog-proof").is_file()
    # A leaf the registry does not know is not waited for.
    started = time.monotonic()
    assert "not-found" in one_line(user.run("receipt", "999", "--wait", "5", url=registry_b.url, **pin), 1,
                                   "refused: ")
    assert time.monotonic() - started < 5


def test_a_registry_that_lies_is_refused(registry_a: Served, registry_b: Served, proxy: Proxy, user: User) -> None:
    maintainer = copy_key(registry_a, "maintainer", user.cwd)
    ok(user.run("status", url=proxy.url))

    def register(slug: str) -> subprocess.CompletedProcess[str]:
        return user.run("org", "register", "--slug", slug, "--name", slug, "--country", "JP", "--kind", "company",
                        "--key", str(maintainer), url=proxy.url)

    # A receipt for another entry.
    proxy.lie = lambda path: proxy.fetch(registry_a, "/api/v1/receipts/0") if "/receipts/" in path else None
    line = one_line(register("liar-one"), 1, "FAILED: verification-failed: entry: ")
    assert "a receipt for leaf 0, not " in line
    # A checkpoint signed by another key (registry B's: the same origin), in a receipt and on its own.
    registry_b.checkpoint()
    proxy.lie = lambda path: (proxy.fetch(registry_b, "/api/v1/receipts/0") if "/receipts/" in path
                              else proxy.fetch(registry_b, path) if path == "/checkpoint" else None)
    line = one_line(register("liar-two"), 1, "FAILED: verification-failed: receipt checkpoint: ")
    assert "not signed by" in line
    one_line(user.run("receipt", "0", "--receipt", "zero.tlog-proof", url=proxy.url), 1,
             "FAILED: verification-failed: receipt checkpoint: ")
    one_line(user.run("status", url=proxy.url), 1, "FAILED: verification-failed: checkpoint: ")
    # No receipt was written for any of them.
    assert user.files() == {"maintainer.key"}
    # A discovery document whose origin is not its key's name.
    discovery = proxy.fetch(registry_a, "/.well-known/hcoc-registry.json")
    forged = json.loads(discovery[2]) | {"origin": "other.test/hcoc"}
    proxy.lie = lambda path: (200, {"Content-Type": "application/json"}, json.dumps(forged).encode()) \
        if path.startswith("/.well-known/") else None
    line = one_line(user.run("status", url=proxy.url), 1, "FAILED: verification-failed: discovery: ")
    assert "names origin 'other.test/hcoc', but its log key is named 'remote.test/hcoc'" in line
    # A redirect to another site, and an answer larger than any receipt.
    proxy.lie = lambda path: (302, {"Location": registry_a.url + path}, b"") if path.startswith("/.well-known/") \
        else None
    assert "not followed" in one_line(user.run("status", url=proxy.url), 2, "error: unreachable: ")
    proxy.lie = lambda path: (200, {}, b"x" * (2 << 20)) if "/receipts/" in path else None
    one_line(user.run("receipt", "0", url=proxy.url), 2, "error: answer-too-large: ")
    assert user.files() == {"maintainer.key"}


# --- joining: a key proved on the organization's own website -------------------------------------------------


@dataclass
class Website:
    """The organization's website: HTTPS on loopback with a certificate of its own, trusted through SSL_CERT_FILE."""

    url: str
    ca_file: Path
    body: bytes = b""


@pytest.fixture
def website(tmp_path: Path) -> Iterator[Website]:
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme website (test)")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    ca_file, key_file = tmp_path / "website.pem", tmp_path / "website.key"
    ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    served = Website("", ca_file)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/.well-known/hcoc-registry-keys" and served.body
            self.send_response(200 if found else 404)
            body = served.body if found else b"not here"
            self.send_header("Content-Type", "application/json" if found else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(ca_file, key_file)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    served.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


def test_an_organization_joins_with_its_key_proved_on_its_website(registry_a: Served, user: User,
                                                                 website: Website, tmp_path: Path) -> None:
    from registry import keyproof

    url, trust = registry_a.url, {"SSL_CERT_FILE": str(website.ca_file)}
    maintainer = copy_key(registry_a, "maintainer", user.cwd)
    (user.cwd / "revision.json").write_text(json.dumps({**REVISION, "code": "join-code"}))
    ok(user.run("code", "publish", "revision.json", "--key", str(maintainer), url=url))
    # 1. The organization makes its key and publishes its id on its website for this registry.
    key_id = ok(user.run("keys", "generate", "--out", "org.key", url=None)).stdout.strip()
    website.body = keyproof.format_key_file([keyproof.Listing(ORIGIN, "joiner", (key_id,))])
    # Anyone can check it from outside before anything is recorded.
    checked = ok(user.run("org", "check-key", "joiner", "--url", website.url, "--public-key", "org.key.pub",
                          url=url, **trust))
    assert key_id[:16] in checked.stdout
    # 2. A maintainer registers it remotely with the proof: the statement records the URL, time and digest.
    done = ok(user.run("org", "register", "--slug", "joiner", "--name", "Joiner Labs", "--country", "DE",
                       "--kind", "research", "--website", website.url, "--public-key", "org.key.pub",
                       "--key-proof", "--key", str(maintainer), url=url, **trust))
    assert f"key {key_id[:16]}… proved by {website.url}/.well-known/hcoc-registry-keys" in done.stderr
    registered = json.loads(registry_a.get("/api/v1/organizations/joiner")[1])
    (proved,) = [k for k in registered["keys"] if k["key_id"] == key_id]
    assert proved["provenance"]["method"] == "self-published" and "127.0.0.1" in proved["provenance"]["words"]
    page = re.sub(r"<[^>]+>", "", registry_a.get("/organizations/joiner")[1].decode())
    assert "Self-published at 127.0.0.1" in page
    # 3. It endorses actions 1 and 3 itself; the receipt verifies with the command line and the README's script.
    done = ok(user.run("endorse", "--org", "joiner", "--code", "join-code", "--version", "2023-10-30",
                       "--actions", "1,3", "--key", "org.key", "--receipt", "joiner.tlog-proof", url=url))
    assert lines(done)["claim"].startswith("Joiner Labs endorsed actions 1 (Name 1), 3 (Name 3) of the ")
    ok(user.run("verify", "receipt", "joiner.tlog-proof", "--log-key", registry_a.log_key, "--signer-key",
                "org.key.pub", url=None))
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (script,) = [b for b in re.findall(r"^```python\n(.*?)^```$", readme, flags=re.M | re.S)
                 if b.startswith("import base64")]
    (tmp_path / "verify.py").write_text(script, encoding="utf-8")
    by_hand = subprocess.run([sys.executable, str(tmp_path / "verify.py"), str(user.cwd / "joiner.tlog-proof"),
                              registry_a.log_key], capture_output=True, text=True, check=False)
    assert by_hand.returncode == 0 and '"org":"joiner"' in by_hand.stdout, by_hand.stderr
    # 4. It amends and withdraws; nothing anywhere became a local registry.
    ok(user.run("amend", "--org", "joiner", "--code", "join-code", "--actions", "1", "--key", "org.key", url=url))
    ok(user.run("withdraw", "--org", "joiner", "--code", "join-code", "--reason", "Done.", "--key", "org.key",
                url=url))
    assert not any(name == "instance" or name.endswith("/instance") for name in user.files())
    # 5. A website that does not list the key proves nothing: the registration is refused before it is sent.
    size = registry_a.size()
    ok(user.run("keys", "generate", "--out", "other.key", url=None))
    done = user.run("org", "register", "--slug", "pretender", "--name", "Pretender", "--country", "DE", "--kind",
                    "company", "--website", website.url, "--public-key", "other.key.pub", "--key-proof", "--key",
                    str(maintainer), url=url, **trust)
    assert done.returncode == 1 and "does not list" in done.stderr, done.stderr
    assert registry_a.size() == size
