"""A store the ``registry`` command cannot use is one line on stderr and exit status 2, never a traceback.

Real runs of the installed ``registry`` command (as an operator types it)
against a PostgreSQL server that does not answer, a PostgreSQL database that
does not exist, and SQLite paths that are a directory, cannot be created, or
are not a database. The line names the database, never its password.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from registry import config
from tests.conftest import ORIGIN, PG_URL, postgres_ok

REGISTRY = Path(sys.executable).parent / "registry"
PASSWORD = "s3cret-Pa55"
UNREACHABLE = f"postgresql://operator:{PASSWORD}@127.0.0.1:1/registry"


@dataclass
class Setup:
    data_dir: Path
    bundle: Path
    envelope: Path
    scratch: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A data directory with keys and an exported bundle (made on a working SQLite store)."""
    root = tmp_path_factory.mktemp("cli-errors")
    data_dir = root / "data"
    good = {"REGISTRY_DATABASE_URL": f"sqlite:///{root / 'good.db'}"}
    run("init", "--origin", ORIGIN, data_dir=data_dir, env=good, check=True)
    run("export", str(root / "good.bundle"), data_dir=data_dir, env=good, check=True)
    (root / "envelope.json").write_text("{}")
    yield Setup(data_dir, root / "good.bundle", root / "envelope.json", root)


def run(*args: str, data_dir: Path, env: dict[str, str], check: bool = False) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    # One second for the pool to give up on a server that does not answer (the default is two).
    environ |= {"REGISTRY_DATA_DIR": str(data_dir), "REGISTRY_ORIGIN": ORIGIN,
                "REGISTRY_POSTGRES_CONNECT_TIMEOUT": "1", **env}
    done = subprocess.run([str(REGISTRY), *args], env=environ, capture_output=True, text=True, timeout=120,
                          check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done


# Every command that opens a store, with arguments that get it as far as opening one.
COMMANDS = {
    "status": ["status"],
    "audit": ["audit"],
    "submit": ["submit", "{envelope}"],
    "replay": ["replay"],
    "checkpoint": ["checkpoint"],
    "receipt": ["receipt", "0"],
    "show entry": ["show", "entry", "0"],
    "show org": ["show", "org", "acme"],
    "rebuild": ["rebuild"],
    "migrate": ["migrate"],
    "export": ["export", "{scratch}/out.bundle"],
    "import": ["import", "{bundle}"],
    "init": ["init", "--origin", ORIGIN],
    "snapshot": ["snapshot"],
    "diff": ["diff", "0", "1"],
}


def command_line(s: Setup, command: str) -> list[str]:
    return [arg.format(envelope=s.envelope, scratch=s.scratch, bundle=s.bundle) for arg in COMMANDS[command]]


def assert_one_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert PASSWORD not in done.stderr + done.stdout
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_postgresql_server(setup: Setup, command: str) -> None:
    done = run(*command_line(setup, command), data_dir=setup.data_dir, env={"REGISTRY_DATABASE_URL": UNREACHABLE})
    line = assert_one_line(done, "storage-unavailable", "127.0.0.1:1/registry")
    assert line.startswith("error: ")
    assert "operator:***@" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sqlite_file_that_is_not_a_database(setup: Setup, command: str) -> None:
    path = setup.scratch / "not-a-database.db"
    path.write_bytes(b"this is not an SQLite database, only text that is long enough " * 4)
    done = run(*command_line(setup, command), data_dir=setup.data_dir, env={"REGISTRY_DATABASE_URL": f"sqlite:///{path}"})
    assert_one_line(done, "storage-unavailable", str(path), "not a database")
    assert path.read_bytes().startswith(b"this is not an SQLite database")  # and nothing wrote over it


@pytest.mark.parametrize("command", ["status", "audit", "submit", "migrate", "init"])
def test_sqlite_paths_that_cannot_be_opened(setup: Setup, command: str) -> None:
    a_file = setup.scratch / "a-file"
    a_file.write_text("")
    a_directory = setup.scratch / "a-directory"
    a_directory.mkdir(exist_ok=True)
    cases = {
        f"sqlite:///{a_directory}": ("storage-unavailable", str(a_directory), "unable to open"),
        # its directory cannot be created: a file stands where the directory would be
        f"sqlite:///{a_file}/registry.db": ("configuration", f"{a_file}/registry.db"),
        # a directory no one may create files in, not even root
        "sqlite:////proc/registry.db": ("storage-unavailable", "/proc/registry.db"),
        "sqlite:////proc/missing/registry.db": ("configuration", "/proc/missing/registry.db"),
    }
    for url, expected in cases.items():
        done = run(*command_line(setup, command), data_dir=setup.data_dir, env={"REGISTRY_DATABASE_URL": url})
        assert_one_line(done, *expected)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes files whatever their mode")
@pytest.mark.parametrize("command", ["status", "audit", "submit"])
def test_a_sqlite_file_without_permission(setup: Setup, command: str) -> None:
    path = setup.scratch / "locked.db"
    run("migrate", data_dir=setup.data_dir, env={"REGISTRY_DATABASE_URL": f"sqlite:///{path}"}, check=True)
    path.chmod(0)
    try:
        done = run(*command_line(setup, command), data_dir=setup.data_dir,
                   env={"REGISTRY_DATABASE_URL": f"sqlite:///{path}"})
        assert_one_line(done, "storage-unavailable", str(path))
    finally:
        path.chmod(0o600)


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_ok(), reason=f"no PostgreSQL server at {PG_URL}")
def test_a_postgresql_database_that_does_not_exist(setup: Setup) -> None:
    server = urlsplit(PG_URL)
    missing = f"postgresql://postgres:{PASSWORD}@{server.hostname}:{server.port or 5432}/no_such_database_here"
    for command in ("status", "audit", "migrate"):
        done = run(*command_line(setup, command), data_dir=setup.data_dir, env={"REGISTRY_DATABASE_URL": missing})
        assert_one_line(done, "storage-unavailable", "no_such_database_here")


def test_an_unsupported_database_url_does_not_show_its_password(setup: Setup) -> None:
    done = run("status", data_dir=setup.data_dir, env={"REGISTRY_DATABASE_URL": f"mysql://u:{PASSWORD}@h/db"})
    assert_one_line(done, "configuration", "mysql://u:***@h/db")
    done = run("status", data_dir=setup.data_dir, env={"REGISTRY_DATABASE_URL": f"postgresql://u:{PASSWORD}@h:x/db"})
    assert_one_line(done, "configuration")


def test_redacted_urls() -> None:
    assert config.redacted_url(UNREACHABLE) == "postgresql://operator:***@127.0.0.1:1/registry"
    assert config.redacted_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert config.redacted_url("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"
    assert config.redacted_url("postgresql://u@h/db?password=x") == "postgresql://u@h/db?***"
    assert config.redacted_url("postgresql://h/db") == "postgresql://h/db"
    assert config.redacted_url("postgresql://[broken") == "(an unparsable URL)"
