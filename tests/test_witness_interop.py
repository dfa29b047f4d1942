"""A checkpoint cosigned by our witness verifies with another implementation of C2SP cosignatures: aics-tlog.

aics-tlog 0.2.1 needs Python 3.12 or later, and the project runs on 3.11, so it
is not a dependency in pyproject.toml: this test makes (once, then reuses) a
Python 3.12 virtual environment under ``.cache/`` (ignored by git) with
exactly that version, and runs a small script in it that opens our witness's
cosigned checkpoint with ``aics_tlog.verify_checkpoint``. Without Python 3.12
the test fails where CI demands everything (``REGISTRY_TEST_REQUIRE_POSTGRES=1``)
and is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT
from tests.test_witness_server import Running, init_key, start
from tests.test_witnessing import ORIGIN, Log

AICS_TLOG = "aics-tlog==0.2.1"
VENV = ROOT / ".cache" / "aics-tlog-0.2.1"
REQUIRED = os.environ.get("REGISTRY_TEST_REQUIRE_POSTGRES") == "1"

# Runs in the 3.12 environment: argv = note file, log vkey, witness vkey; prints the verdict as JSON.
VERIFY = """
import json, sys
from aics_tlog import parse_note, parse_vkey, verify_checkpoint
note = parse_note(open(sys.argv[1], "rb").read())
result = verify_checkpoint(note, parse_vkey(sys.argv[2]), [parse_vkey(sys.argv[3])], 1,
                           expected_origin=sys.argv[4], max_age_seconds=600)
print(json.dumps({"ok": result.ok, "count": result.cosignature_count, "witnesses": result.witnesses,
                  "size": result.size, "error": result.error}))
"""


def _python312() -> tuple[str, dict[str, str]] | None:
    """A Python 3.12 interpreter and the environment that runs it (pyenv shims may need PYENV_VERSION)."""
    found = shutil.which("python3.12")
    if found is None:
        return None
    candidates = [dict(os.environ)]
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        bare = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, timeout=30).stdout
        candidates += [{**os.environ, "PYENV_VERSION": v} for v in bare.split() if v.startswith("3.12")]
    for env in candidates:
        probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2] >= (3, 12))"],
                               capture_output=True, text=True, env=env, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return found, env
    return None


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"the aics-tlog interoperability check cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def aics_python() -> Path:
    """The cached 3.12 environment's interpreter, with aics-tlog installed."""
    python = VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import aics_tlog"], timeout=60).returncode == 0:
        return python
    interpreter = _python312()
    if interpreter is None:
        _unavailable("no Python 3.12 (aics-tlog needs it)")
    assert interpreter is not None
    shutil.rmtree(VENV, ignore_errors=True)
    made = subprocess.run([interpreter[0], "-m", "venv", str(VENV)], capture_output=True, text=True,
                          env=interpreter[1], timeout=300)
    if made.returncode != 0:
        _unavailable(f"cannot make a Python 3.12 environment: {made.stderr[-500:]}")
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", AICS_TLOG], capture_output=True,
                               text=True, timeout=600)
    if installed.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        _unavailable(f"cannot install {AICS_TLOG}: {installed.stderr[-500:]}")
    return python


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[tuple[Running, Log]]:
    log = Log()
    key_file, vkey = init_key(tmp_path)
    running = start(tmp_path, key_file, vkey, [log.vkey], tmp_path / "state.json")
    yield running, log
    running.stop()


def aics_verdict(python: Path, note: bytes, log_vkey: str, witness_vkey: str, tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "note"
    path.write_bytes(note)
    result = subprocess.run([str(python), "-c", VERIFY, str(path), log_vkey, witness_vkey, ORIGIN],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    verdict: dict[str, object] = json.loads(result.stdout)
    return verdict


def test_our_cosignature_verifies_with_aics_tlog(aics_python: Path, witness: tuple[Running, Log],
                                                 tmp_path: Path) -> None:
    running, log = witness
    log.grow(1000)
    status, _, line = running.post(log.body(0))
    assert status == 200
    log.grow(37)
    status, _, line = running.post(log.body(1000))
    assert status == 200
    note = log.signed() + line
    assert aics_verdict(aics_python, note, log.vkey, running.vkey, tmp_path) == {
        "ok": True, "count": 1, "witnesses": [running.vkey.split("+")[0]], "size": 1037, "error": None}
    # The other implementation is not simply agreeable: a changed cosignature, or another witness key, fails.
    tampered = note[:-10] + (b"A" if note[-10:-9] != b"A" else b"B") + note[-9:]
    assert aics_verdict(aics_python, tampered, log.vkey, running.vkey, tmp_path)["ok"] is False
    other_key, other_vkey = init_key(tmp_path / "other")
    del other_key
    verdict = aics_verdict(aics_python, note, log.vkey, other_vkey, tmp_path)
    assert verdict["ok"] is False and verdict["count"] == 0
