"""A mirror fetches the archived documents the log cites, from real processes over loopback.

The registry (a small validly signed log whose maintainer then registers an
organization citing three documents by hash, two of them archived with
``registry evidence add``) is served by gunicorn; ``registry monitor --once``
runs as a real process, mirrors the log, and fetches the cited documents it
lacks from ``/evidence/<sha256>``. A document the registry has not archived is
noted and asked for again in the next round; the mirror's audit lists it until
then. The mirror serves what it fetched. A round killed after recording the
citing entry is finished by the next one, which fetches what it cites.

The lying operator is a static HTTP server (``python -m http.server``) over a
directory ``registry publish`` wrote, with a document replaced by other
bytes: an ``evidence`` alert with the served bytes as evidence, nothing
stored, and the verified log mirrored all the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from registry import config, keys
from registry.evidence import cited_documents, digest, may_cite
from registry.leaf import parse_leaf
from registry.monitor import DOCUMENTS_FILE, DOCUMENTS_FILE_FORMAT
from scripts.bench import BENCH_ORIGIN, build_signed_registry
from tests import harness
from tests.conftest import Backend
from tests.test_watchdog import (
    REGISTRY,
    ROOT,
    Remote,
    _clean_env,
    documented,
    lines,
    mirror_state,
    monitor,
    served_mirror,
)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML = (b"<!DOCTYPE html><html><body><p>Example AI endorses the Hiroshima Code.</p>"
        + b"<p>Its commitments, in full.</p>" * 60 + b"</body></html>\n")  # over LIMIT bytes
LIMIT = 1500  # a mirror's REGISTRY_EVIDENCE_MAX_BYTES below: over the static server's 404 pages, under the HTML
LATE = b"A statement archived only after the mirror's first round.\n"
FORGED = b"%PDF-1.4\n% not the document that was cited\n%%EOF\n"
SYNTHETIC = 40  # entries of the synthetic log, before the one citing the documents


# --- the quick test of which entries may cite a document (pure) ---------------------------------------------


@pytest.mark.parametrize("pad", range(6))  # the member at every offset modulo 3 in the base64 payload
@pytest.mark.parametrize("member", ["evidence", "text_sha256", "document_sha256", "obligations"])
def test_every_entry_that_cites_a_document_is_parsed(pad: int, member: str) -> None:
    from registry import compose, envelope
    from registry.leaf import format_leaf

    key = keys.generate()
    cited = {"evidence": {"evidence": [{"url": "https://example.org/a", "sha256": "ab" * 32}]},
             "text_sha256": {"text_sha256": "ab" * 32}, "document_sha256": {"document_sha256": "ab" * 32},
             "obligations": {"obligations": [{"evidence": [{"citation": "c", "sha256": "ab" * 32}]}]}}[member]
    stmt = compose.statement("organization.registered", BENCH_ORIGIN, org="x" * (pad + 1), name="X",
                             country="JP", kind="company", public_keys=[], **cited)
    leaf = format_leaf(envelope.sign(stmt, key), "2026-01-01T00:00:00Z")
    assert b"sha256" not in leaf and "ab" * 32 in json.dumps(stmt)  # only in the base64 payload
    assert may_cite(leaf) and cited_documents(parse_leaf(leaf).envelope.statement()) == {
        "ab" * 32: "https://example.org/a" if member == "evidence" else None}
    plain = compose.statement("organization.registered", BENCH_ORIGIN, org="x" * (pad + 1), name="X",
                              country="JP", kind="company", public_keys=[])
    assert not may_cite(format_leaf(envelope.sign(plain, key), "2026-01-01T00:00:00Z"))


# --- real processes ---------------------------------------------------------------------------------------------


def run(data_dir: Path, *args: str, env: dict[str, str] | None = None,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(REGISTRY), "--data-dir", str(data_dir), *args], cwd=ROOT, input=stdin,
                          env={**(env or _clean_env()), "REGISTRY_DATA_DIR": str(data_dir)}, capture_output=True,
                          timeout=300)


def archive(remote: Remote, data: bytes, url: str) -> None:
    done = run(remote.data_dir, "evidence", "add", "-", "--url", url, env=remote.env(), stdin=data)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == digest(data)


def cite(remote: Remote, *documents: bytes) -> None:
    """The maintainer registers an organization whose evidence cites ``documents`` by hash; a checkpoint."""
    from registry import compose, envelope
    from registry.node import Node

    settings = config.load(remote.data_dir, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN})
    maintainer = keys.load_private(settings.maintainer_key)
    evidence = [{"url": f"https://example.org/press/{i}", "sha256": digest(data)} for i, data in enumerate(documents)]
    stmt = compose.statement("organization.registered", BENCH_ORIGIN, org="cited", name="Cited", country="JP",
                             kind="company", public_keys=[keys.encode_public(keys.generate())], evidence=evidence)
    with Node(settings, signer=True) as node:
        node.registry.submit(envelope.sign(stmt, maintainer).canonical)
        node.integrate()
        node.log.publish_checkpoint()


def uncited_remote(tmp_path: Path) -> Remote:
    """A small synthetic log, PDF and HTML archived beside it and not cited yet."""
    data = tmp_path / "remote"
    build_signed_registry(data, SYNTHETIC)
    public = keys.public_bytes(keys.load_private(data / "keys" / "log.key"))
    from registry.signednote import format_verifier_key

    served = Remote(data, format_verifier_key(BENCH_ORIGIN, public), [])
    archive(served, PDF, "https://example.org/press/0")
    archive(served, HTML, "https://example.org/press/1")
    return served


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    served = uncited_remote(tmp_path)
    cite(served, PDF, HTML, LATE)
    return served


def archived(state: Path, env: dict[str, str]) -> dict[str, dict]:
    done = run(state, "evidence", "list", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {row["sha256"]: row for row in map(json.loads, done.stdout.decode().splitlines())}


def missing(state: Path, env: dict[str, str]) -> list[str]:
    """The hashes ``registry audit`` lists as cited and not archived (it passes all the same)."""
    done = run(state, "audit", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line.split()[4] for line in done.stderr.decode().splitlines() if line.startswith("note: not archived")]


def test_a_mirror_fetches_the_documents_the_log_cites(remote: Remote, backend: Backend, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    env = {**_clean_env(), **backend.env}
    # The synthetic log cites documents of its own that nobody archived: the mirror cannot have them either.
    unarchived = missing(remote.data_dir, remote.env())
    assert digest(LATE) in unarchived and digest(PDF) not in unarchived
    with harness.gunicorn(remote.env(), harness.free_port()) as base:
        done = monitor(base, remote, state, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""  # a document the registry has not archived is no alert
        assert (f"archived documents: 2 fetched, {len(unarchived)} not archived there, 0 refused, "
                f"{len(unarchived)} to fetch") in done.stderr
        assert mirror_state(state, env)["tree_size"] == mirror_state(remote.data_dir, remote.env())["tree_size"]
        rows = archived(state, env)
        assert set(rows) == {digest(PDF), digest(HTML)}
        assert rows[digest(PDF)]["media_type"] == "application/pdf"
        assert rows[digest(PDF)]["source_url"] == "https://example.org/press/0"  # as the statement cites it
        assert rows[digest(HTML)]["media_type"] == "text/html" and rows[digest(HTML)]["size"] == len(HTML)
        assert missing(state, env) == unarchived
        kept = json.loads((state / "monitor" / DOCUMENTS_FILE).read_bytes())  # what the next round asks for
        assert kept == {"format": DOCUMENTS_FILE_FORMAT, "pending": {**dict.fromkeys(unarchived), digest(LATE):
                                                                    "https://example.org/press/2"}}
        assert set(kept) == set(documented("monitor-documents")) and documented("monitor-documents")["format"] == \
            DOCUMENTS_FILE_FORMAT

        # the registry archives the third; the next round (the log has not grown) asks again and gets it
        archive(remote, LATE, "https://example.org/press/2")
        unarchived.remove(digest(LATE))
        assert missing(remote.data_dir, remote.env()) == unarchived
        done = monitor(base, remote, state, env=env)
        assert done.returncode == 0 and done.stdout == "", done.stderr
        assert (f"archived documents: 1 fetched, {len(unarchived)} not archived there, 0 refused, "
                f"{len(unarchived)} to fetch") in done.stderr
        assert set(archived(state, env)) == {digest(PDF), digest(HTML), digest(LATE)}
        assert missing(state, env) == unarchived  # none missing that the registry has

    # the mirror serves them as the registry does
    with served_mirror(state, backend.env) as app:
        client = app.test_client()
        for data, media_type in ((PDF, "application/pdf"), (HTML, "text/html"),
                                 (LATE, "text/plain; charset=utf-8")):
            answer = client.get(f"/evidence/{digest(data)}")
            assert answer.status_code == 200 and answer.data == data
            assert answer.headers["Content-Type"] == media_type


def test_documents_cited_by_an_interrupted_round_are_fetched_when_it_is_finished(tmp_path: Path) -> None:
    remote = uncited_remote(tmp_path)
    state = tmp_path / "mirror"
    env = _clean_env()
    with harness.gunicorn(remote.env(), harness.free_port()) as base:
        assert monitor(base, remote, state, env=env).returncode == 0
        assert mirror_state(state, env)["tree_size"] == SYNTHETIC
        cite(remote, PDF, HTML)
        # as if the round that verified the citing entry was killed after recording it, before its checkpoint
        from registry.application import open_registry

        theirs = open_registry(config.load(remote.data_dir, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN}))
        mine = open_registry(config.load(state))
        try:
            assert mine.record_leaves(list(theirs.leaves(SYNTHETIC, SYNTHETIC + 1))) == SYNTHETIC + 1
        finally:
            mine.close()
            theirs.close()
        (state / "monitor" / "pending.checkpoint").write_bytes(urllib.request.urlopen(base + "/checkpoint").read())
        done = monitor(base, remote, state, env=env)
        assert done.returncode == 0 and done.stdout == "", done.stderr
        assert mirror_state(state, env)["tree_size"] == SYNTHETIC + 1
        assert "archived documents: 2 fetched" in done.stderr
        assert {digest(PDF), digest(HTML)} <= set(archived(state, env))


@contextmanager
def static_site(root: Path) -> Iterator[str]:
    """A real ``python -m http.server`` process serving ``root``; its URL."""
    port = harness.free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root),
                                str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/checkpoint", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the static server did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bytes_that_do_not_hash_to_their_name_are_an_alert_and_stored_nowhere(remote: Remote,
                                                                            tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = run(remote.data_dir, "publish", str(site), env=remote.env())
    assert done.returncode == 0, done.stderr
    # The operator serves, at the documents' paths: other bytes under the PDF's name, the HTML as it is.
    (site / "evidence" / digest(PDF)).write_bytes(FORGED)
    (site / "evidence" / digest(HTML)).write_bytes(HTML)
    state = tmp_path / "mirror"
    env = _clean_env()
    with static_site(site) as url:
        done = monitor(url, remote, state, env=env)
        assert done.returncode == 1, done.stderr
        (alert,) = lines(done.stdout)
        assert alert["kind"] == "evidence" and alert["format"] == "hcoc-registry/alert/v1"
        assert digest(PDF) in alert["message"] and digest(FORGED) in alert["message"]
        (kept,) = alert["evidence"]
        assert kept.endswith(f"/document-{digest(PDF)}") and (state / kept).read_bytes() == FORGED
        # the log verified and is mirrored; only the honest document is kept
        assert mirror_state(state, env)["tree_size"] == mirror_state(remote.data_dir, remote.env())["tree_size"]
        assert set(archived(state, env)) == {digest(HTML)}
        assert digest(PDF) in missing(state, env) and digest(HTML) not in missing(state, env)

        again = monitor(url, remote, state, env=env)  # the same lie: exit 1, reported once
        assert again.returncode == 1 and again.stdout == "", again.stderr
        assert set(archived(state, env)) == {digest(HTML)}

        # a mirror with a smaller size limit refuses the HTML (no alert: too large is not a lie) and keeps nothing
        small = tmp_path / "small"
        limited = {**env, "REGISTRY_EVIDENCE_MAX_BYTES": str(LIMIT)}
        assert len(HTML) > LIMIT > len(FORGED)
        done = monitor(url, remote, small, env=limited)
        assert done.returncode == 1, done.stderr
        assert [a["kind"] for a in lines(done.stdout)] == ["evidence"]
        unarchived = missing(remote.data_dir, remote.env())  # LATE and the synthetic log's own: 404s
        assert f"0 fetched, {len(unarchived)} not archived there, 1 refused" in done.stderr
        assert archived(small, limited) == {}
