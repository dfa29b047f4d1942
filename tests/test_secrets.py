"""Private keys stay private: permissions checked at start-up, never served, never logged.

- ``create_app`` and the clock process refuse to start while a private key
  file in the data directory's ``keys/`` folder (or a configured key file) is
  open to group or others, naming the file and the ``chmod 600`` fix, before
  any database is opened; with owner-only files they start.
- No HTTP response of the app (every GET route, with sample values for the
  routes that take parameters, plus error answers and a submission of a key
  file by mistake) carries private key material in any usual encoding, in its
  body or headers; nor does anything the app logs while answering them.
- Paths that try to reach the key files (``/keys/...``, ``/instance/...``,
  traversal out of ``/static``, plain and percent-encoded) answer 404.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from flask import Flask
from werkzeug.test import TestResponse

from registry import keys
from registry.errors import ConfigurationError
from scripts import clock
from scripts.cli import main as cli
from tests.conftest import ORIGIN, Backend
from web import close_app, create_app

KEY_NAMES = ("root.key", "maintainer.key", "log.key")


def environ(backend: Backend) -> dict[str, str]:
    return {**backend.env, "REGISTRY_ORIGIN": ORIGIN}


def app_for(backend: Backend) -> Flask:
    return create_app({"DATA_DIR": backend.data_dir, "ENVIRON": environ(backend)})


def make_keys(data_dir: Path) -> Path:
    folder = data_dir / "keys"
    for name in KEY_NAMES:
        keys.save_private(keys.generate(), folder / name)
    return folder


def databases(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.rglob("*.db"))


# --- permissions at start-up -------------------------------------------------------------


@pytest.mark.parametrize(("name", "mode"), [("log.key", 0o644), ("maintainer.key", 0o640), ("root.key", 0o604),
                                            ("log.key", 0o620), ("stray-backup.key", 0o644)])
def test_create_app_refuses_a_key_file_others_can_read(sqlite_backend: Backend, name: str, mode: int) -> None:
    folder = make_keys(sqlite_backend.data_dir)
    path = folder / name
    if not path.exists():  # any private file in keys/, not only the three the registry names
        keys.save_private(keys.generate(), path)
    path.chmod(mode)
    with pytest.raises(ConfigurationError) as info:
        app_for(sqlite_backend)
    assert str(path) in info.value.message
    assert f"chmod 600 {path}" in info.value.message
    assert databases(sqlite_backend.data_dir) == []  # refused before opening anything
    path.chmod(0o600)
    app = app_for(sqlite_backend)
    close_app(app)
    assert databases(sqlite_backend.data_dir) != []


def test_public_key_files_and_a_missing_keys_folder_are_fine(sqlite_backend: Backend) -> None:
    app = app_for(sqlite_backend)  # no keys/ folder at all (a web host without keys)
    close_app(app)
    folder = make_keys(sqlite_backend.data_dir)
    for pub in folder.glob("*.pub"):
        pub.chmod(0o644)  # public halves may be world-readable
    app = app_for(sqlite_backend)
    close_app(app)


def test_a_configured_key_outside_the_data_directory_is_checked(sqlite_backend: Backend, tmp_path: Path) -> None:
    elsewhere = tmp_path / "secrets" / "log.key"
    keys.save_private(keys.generate(), elsewhere)
    elsewhere.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        create_app({"DATA_DIR": sqlite_backend.data_dir,
                    "ENVIRON": {**environ(sqlite_backend), "REGISTRY_LOG_KEY": str(elsewhere)}})


def test_the_clock_refuses_before_opening_anything(sqlite_backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("REGISTRY_")]:
        monkeypatch.delenv(name)
    path = make_keys(sqlite_backend.data_dir) / "log.key"
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match=f"chmod 600 {path}"):
        clock.main(str(sqlite_backend.data_dir))
    assert databases(sqlite_backend.data_dir) == []
    # through the command line: a one-line error and exit status 2, no traceback
    result = CliRunner().invoke(cli, ["--data-dir", str(sqlite_backend.data_dir), "clock"])
    assert result.exit_code == 2
    assert "chmod 600" in result.stderr and "Traceback" not in result.output
    assert databases(sqlite_backend.data_dir) == []


# --- nothing served, nothing logged ----------------------------------------------------


def key_material(folder: Path) -> dict[str, bytes]:
    """Every private key file's secret, in the encodings a leak would likely use."""
    forms: dict[str, bytes] = {}
    for path in sorted(folder.iterdir()):
        if path.name.endswith(keys.PUBLIC_SUFFIX):
            continue
        pem = path.read_bytes()
        seed = keys.load_private(path).private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        der = keys.load_private(path).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
        candidates = {
            "pem": pem.strip(), "pem body": body, "raw seed": seed, "der": der,
            "hex": seed.hex().encode(), "HEX": seed.hex().upper().encode(),
            "base64": base64.b64encode(seed), "base64url": base64.urlsafe_b64encode(seed).rstrip(b"="),
            "go note key": base64.b64encode(b"\x01" + seed),
        }
        forms.update({f"{path.name} {kind}": value for kind, value in candidates.items()})
    return forms


def leaks(data: bytes, material: dict[str, bytes]) -> list[str]:
    return [kind for kind, secret in material.items() if secret in data]


def response_bytes(response: TestResponse) -> bytes:
    headers = "".join(f"{k}: {v}\n" for k, v in response.headers.items()).encode()
    return headers + response.get_data()


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A data directory set up as an operator would: init --demo, a checkpoint, a snapshot."""
    data_dir = tmp_path_factory.mktemp("secrets")
    backend = Backend("sqlite", data_dir, {"REGISTRY_DATABASE_URL": f"sqlite:///{data_dir / 'registry.db'}"})
    env = {**environ(backend), "REGISTRY_DATA_DIR": str(data_dir)}
    runner = CliRunner()
    for args in (["init", "--demo"], ["checkpoint"], ["snapshot"]):
        result = runner.invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    yield backend


SAMPLES = {"index": "0", "size": "1", "k": "0", "fmt": "atom", "slug": "hiroshima-coc", "version": "2023-10-30",
           "type_": "endorsement.made", "rest": "0/000.p/1", "number": "1"}


def urls(app: Flask) -> list[str]:
    """Every GET route: as is without parameters, else built from sample values; plus the named pages."""
    adapter = app.url_map.bind("localhost")
    found = {"/about", "/.well-known/hcoc-registry.json"}
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        if not rule.arguments:
            found.add(rule.rule)
        elif rule.arguments <= SAMPLES.keys():
            found.add(adapter.build(rule.endpoint, {a: SAMPLES[a] for a in rule.arguments}))
    return sorted(found)


def test_no_response_and_no_log_line_carries_a_private_key(
    initialized: Backend, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    material = key_material(initialized.data_dir / "keys")
    assert len(material) == 3 * 9
    # the detector itself works: the log key's PEM file would be caught in any of its encodings
    assert len(leaks((initialized.data_dir / "keys" / "log.key").read_bytes(), material)) >= 2
    caplog.set_level(logging.DEBUG)
    app = app_for(initialized)
    try:
        client = app.test_client()
        visited = urls(app)
        assert {"/", "/checkpoint", "/about", "/.well-known/hcoc-registry.json", "/metrics"} <= set(visited)
        statuses = {}
        for url in visited:
            with client.get(url) as response:  # closed: some routes stream files
                statuses[url] = response.status_code
                assert response.status_code < 500, (url, response.status_code)
                assert leaks(response_bytes(response), material) == [], url
        assert sum(1 for s in statuses.values() if s == 200) >= 20, statuses
        # the discovery document publishes the log's *public* key, and that is all
        discovery = client.get("/.well-known/hcoc-registry.json").get_json()
        log_public = keys.load_public_file(keys.public_path(initialized.settings().log_key))
        assert discovery["log_key"].endswith(base64.b64encode(b"\x01" + log_public).decode())
        # error answers, and someone pasting a private key file into the submission endpoint
        for name in KEY_NAMES:
            pem = (initialized.data_dir / "keys" / name).read_bytes()
            for response in (
                client.post("/api/v1/statements", data=pem, content_type="application/json"),
                client.post("/api/v1/statements", data=b'{"payload": "' + pem + b'"}',
                            content_type="application/json"),
                client.get("/api/v1/log/proofs/inclusion?index=" + quote(pem.decode())),
            ):
                assert 400 <= response.status_code < 500
                assert leaks(response_bytes(response), material) == []
    finally:
        close_app(app)
    logged = caplog.text.encode() + "".join(capfd.readouterr()).encode()
    assert leaks(logged, material) == []


# --- key files are not reachable by URL --------------------------------------------------


def test_key_files_cannot_be_fetched(initialized: Backend) -> None:
    material = key_material(initialized.data_dir / "keys")
    app = app_for(initialized)
    try:
        client = app.test_client()
        for path in ("/static/../keys/log.key", "/keys/log.key", "/instance/keys/log.key"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert leaks(response_bytes(response), material) == []
        # the real way out of the static folder to the key file, plain and percent-encoded
        key_file = initialized.data_dir / "keys" / "log.key"
        relative = os.path.relpath(key_file, app.static_folder)
        assert relative.startswith("..")
        attempts = [
            f"/static/{relative}",
            "/static/" + quote(relative, safe=""),
            "/static/" + relative.replace("..", "%2e%2e"),
            "/static/" + str(key_file),
            "/static/" + quote(str(key_file), safe=""),
            "/tile/" + relative,
            "/feeds/" + relative,
        ]
        for path in attempts:
            response = client.get(path, follow_redirects=True)  # "//" is redirected to "/" first
            assert response.status_code in (400, 404), (path, response.status_code)
            assert leaks(response_bytes(response), material) == [], path
    finally:
        close_app(app)
