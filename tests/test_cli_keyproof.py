"""``registry org check-key``, end to end: a registry on each backend, an organization's website on loopback.

The story: ``registry init``, then a maintainer registers Acme with one key and
its website, a real HTTP server on 127.0.0.1 (plain http, which only tests may
allow: ``REGISTRY_KEYPROOF_ALLOW_HTTP=1``). The website's key-proof file is
changed between checks: it lists the key (exit 0, and the evidence to record),
lists another key or another registry (exit 1), is not a key-proof file (exit
1), or is gone (exit 2). A key not registered yet is checked from its public
key file; so is an organization that is not registered, with no data directory.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from registry import keyproof, keys
from registry.errors import FetchError, VerificationError
from scripts.cli import main
from scripts.cli.keyproof import key_proofs_for
from scripts.keyfetch import ALLOW_HTTP_ENV
from tests.conftest import ORIGIN, Backend


class Website:
    """An organization's website on loopback, serving whatever ``body`` is at the well-known path."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != keyproof.PATH or site.body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(site.body)))
                self.end_headers()
                self.wfile.write(site.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def lists(self, *listings: tuple[str, str, list[str]]) -> bytes:
        self.body = keyproof.format_key_file([keyproof.Listing(o, org, tuple(ids)) for o, org, ids in listings])
        return self.body


@pytest.fixture
def website() -> Iterator[Website]:
    site = Website()
    thread = threading.Thread(target=site.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=self.env, catch_exceptions=False)

    def without_http(self) -> Cli:
        """The same command line as outside tests: plain http not allowed."""
        return Cli({k: v for k, v in self.env.items() if k != ALLOW_HTTP_ENV})


@pytest.fixture
def acme(backend: Backend, website: Website, tmp_path: Path) -> tuple[Cli, str, Path]:
    cli = Cli({**backend.env, "REGISTRY_DATA_DIR": str(backend.data_dir), ALLOW_HTTP_ENV: "1"})
    assert cli("init", "--origin", ORIGIN).exit_code == 0
    key = tmp_path / "acme.key"
    key_id = cli("keys", "generate", "--out", str(key)).output.strip()
    done = cli("org", "register", "--slug", "acme", "--name", "Acme", "--country", "JP", "--kind", "company",
               "--website", website.url + "/about", "--public-key", f"{key}.pub")
    assert done.exit_code == 0, done.output
    return cli, key_id, key


def test_a_listed_key_is_proved_with_the_evidence_to_record(acme: tuple[Cli, str, Path], website: Website) -> None:
    cli, key_id, _ = acme
    body = website.lists((ORIGIN, "acme", [key_id]))
    done = cli("org", "check-key", "acme")
    assert done.exit_code == 0, done.output
    well_known = website.url + keyproof.PATH  # the website's host; its path /about is not used
    assert done.output.startswith(f"fetched {well_known} at ")
    assert f"proved      {key_id}  listed for acme at {ORIGIN}" in done.output
    entries = json.loads(cli("org", "check-key", "acme", "--json").output)
    assert entries["not_proved"] == []
    (entry,) = entries["key_proofs"]
    assert set(entry) == {"key_id", "url", "fetched_at", "sha256"}
    assert (entry["key_id"], entry["url"], entry["sha256"]) == (key_id, well_known, hashlib.sha256(body).hexdigest())


def test_a_key_not_listed_here_is_not_proved(acme: tuple[Cli, str, Path], website: Website) -> None:
    cli, key_id, _ = acme
    other = "ab" * 32
    # Listed for another registry, and for another organization of this one: neither proves it.
    website.lists(("other.example/registry", "acme", [key_id]), (ORIGIN, "acme-labs", [key_id]))
    done = cli("org", "check-key", "acme")
    assert done.exit_code == 1
    assert f"not proved  {key_id}  not listed for acme at {ORIGIN}" in done.output
    assert f"the file lists keys for: acme at other.example/registry; acme-labs at {ORIGIN}" in done.output
    # One key proved and one not: still 1, and the evidence names only the proved one.
    website.lists((ORIGIN, "acme", [key_id]))
    done = cli("org", "check-key", "acme", "--key-id", key_id, "--key-id", other, "--json")
    assert done.exit_code == 1
    result = json.loads(done.output)
    assert [e["key_id"] for e in result["key_proofs"]] == [key_id] and result["not_proved"] == [other]


def test_a_new_key_is_checked_from_its_public_key_file(acme: tuple[Cli, str, Path], website: Website,
                                                      tmp_path: Path) -> None:
    cli, key_id, _ = acme
    new = tmp_path / "new.key"
    new_id = cli("keys", "generate", "--out", str(new)).output.strip()
    website.lists((ORIGIN, "acme", [key_id]))
    assert cli("org", "check-key", "acme", "--public-key", f"{new}.pub").exit_code == 1
    website.lists((ORIGIN, "acme", [key_id, new_id]))
    done = cli("org", "check-key", "acme", "--public-key", f"{new}.pub", "--json")
    assert done.exit_code == 0
    assert [e["key_id"] for e in json.loads(done.output)["key_proofs"]] == [new_id]


def test_a_file_that_cannot_be_fetched_exits_2(acme: tuple[Cli, str, Path], website: Website) -> None:
    cli, _, _ = acme
    done = cli("org", "check-key", "acme")  # nothing published: 404
    assert done.exit_code == 2
    assert "error: fetch-failed:" in done.stderr and "answered 404" in done.stderr
    # Outside tests plain http is never fetched.
    website.lists((ORIGIN, "acme", ["ab" * 32]))
    result = cli.without_http()("org", "check-key", "acme")
    assert result.exit_code == 2 and "only https:// URLs are fetched" in result.stderr


def test_a_page_that_is_not_a_key_proof_file_exits_1(acme: tuple[Cli, str, Path], website: Website) -> None:
    cli, _, _ = acme
    website.body = b'{"format": "hcoc-registry/keys/v1", "registries": [], "comment": "soon"}'
    done = cli("org", "check-key", "acme")
    assert done.exit_code == 1
    assert done.stderr.startswith(f"refused: malformed: {website.url}{keyproof.PATH}: key-proof file: ")


def test_what_cannot_be_checked_is_said(acme: tuple[Cli, str, Path]) -> None:
    cli, _, _ = acme
    assert "no organization 'ghost'" in cli("org", "check-key", "ghost").stderr
    assert "--key-id must be 64 lowercase hex" in cli("org", "check-key", "acme", "--key-id", "AB" * 32).stderr
    assert cli("org", "register", "--slug", "quiet", "--name", "Quiet", "--country", "FR",
               "--kind", "company").exit_code == 0
    assert "holds no website for 'quiet': give --url" in cli("org", "check-key", "quiet").stderr


def test_an_unregistered_organization_checks_its_file_without_a_data_directory(website: Website,
                                                                              tmp_path: Path) -> None:
    key = keys.generate()
    public = tmp_path / "org.key.pub"
    public.write_text(keys.encode_public(key) + "\n", encoding="ascii")
    website.lists(("registry.example.org/hcoc", "newco", [keys.key_id(key)]))
    env = {"REGISTRY_DATA_DIR": str(tmp_path / "none"), ALLOW_HTTP_ENV: "1"}
    done = CliRunner().invoke(main, ["org", "check-key", "newco", "--origin", "registry.example.org/hcoc",
                                     "--url", website.url, "--public-key", str(public)], env=env)
    assert done.exit_code == 0, done.output
    assert not (tmp_path / "none").exists()


def test_key_proofs_for_returns_the_entries_or_raises(website: Website) -> None:
    key_id, other = "cd" * 32, "ef" * 32
    body = website.lists((ORIGIN, "acme", [key_id]))
    entries: list[dict[str, Any]] = key_proofs_for(website.url, ORIGIN, "acme", [key_id], allow_http=True)
    assert entries == [{"key_id": key_id, "url": website.url + keyproof.PATH, "fetched_at": entries[0]["fetched_at"],
                        "sha256": hashlib.sha256(body).hexdigest()}]
    with pytest.raises(VerificationError, match=f"does not list {other} for 'acme'"):
        key_proofs_for(website.url, ORIGIN, "acme", [key_id, other], allow_http=True)
    with pytest.raises(FetchError, match="only https"):
        key_proofs_for(website.url, ORIGIN, "acme", [key_id], allow_http=False)
