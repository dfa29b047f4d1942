"""Archived evidence: the store on both backends, the command line, GET /evidence/<sha256>, pages, audit, bundles.

Every test uses a real store (SQLite file or PostgreSQL schema), the real
command line (click's runner, in process) and the real Flask app; the mirror's
fetch is tested against gunicorn over loopback in tests/test_evidence_fetch.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import bundle, evidence
from registry.errors import MalformedError, TooLargeError, VerificationError
from registry.transparency import open_log_store
from tests.conftest import Actor, Backend, signing_world
from tests.test_audit import Raw, run_cli

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
TEXT = "Press release: Acme endorses the Hiroshima Code. \u00e9\n".encode()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
JSON_DOC = b'{"endorses": true}'
BINARY = b"\x00\x01\x02 not a known type"
CODE = "hiroshima-coc"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the pure core --------------------------------------------------------------------


@pytest.mark.parametrize(("data", "media_type"), [
    (PDF, "application/pdf"), (HTML, "text/html"), (b"  \n<html lang=en>hi</html>", "text/html"),
    (b"<svg onload=alert(1)>", "text/html"), (b"Some words <html> later", "text/html"),
    (TEXT, "text/plain; charset=utf-8"), (PNG, "image/png"), (JPEG, "image/jpeg"),
    (JSON_DOC, "application/json"), (b"{not json", "text/plain; charset=utf-8"),
    (BINARY, "application/octet-stream"), (b"\xff\xfe not utf-8", "application/octet-stream"),
    (b"text with a NUL \x00", "application/octet-stream"),
])
def test_the_media_type_comes_from_the_bytes_alone(data: bytes, media_type: str) -> None:
    assert evidence.sniff(data) == media_type


def test_only_plain_text_and_pdf_are_shown_inline() -> None:
    assert {t for t in evidence.EXTENSIONS if evidence.inline(t)} == {"text/plain; charset=utf-8", "application/pdf"}


@pytest.mark.parametrize("bad", ["AB" * 32, "ab" * 31, "ab" * 33, "../" + "ab" * 32, "ab" * 31 + "zz", "",
                                 " " + "a" * 63])
def test_a_malformed_hash_is_refused(bad: str) -> None:
    with pytest.raises(MalformedError):
        evidence.parse_sha256(bad)


def test_cited_hashes_are_found_wherever_a_statement_cites_a_document() -> None:
    statement = {"type": "code.revision_published", "text_sha256": "aa" * 32,
                 "evidence": [{"url": "https://example.org/a", "sha256": "bb" * 32}, {"url": "https://example.org/b"}],
                 "obligations": [{"id": "o", "evidence": [{"citation": "A letter", "sha256": "cc" * 32}]}]}
    assert list(evidence.cited_hashes(statement)) == [
        ("text_sha256", "aa" * 32), ("evidence.0.sha256", "bb" * 32), ("obligations.0.evidence.0.sha256", "cc" * 32)]


# --- the store, on both backends --------------------------------------------------------


@pytest.fixture
def store(backend: Backend) -> Iterator[evidence.EvidenceStoreMixin]:
    with signing_world(backend):
        pass
    log_store = open_log_store(backend.settings())
    try:
        yield evidence.open_evidence_store(log_store)
    finally:
        log_store.datastore.close()


def test_a_document_is_stored_once_under_its_hash(store: evidence.EvidenceStoreMixin) -> None:
    row, added = store.add(PDF, source_url="https://example.org/a.pdf", added_at="2026-01-02T03:04:05Z",
                           max_bytes=1000)
    assert added and row == evidence.StoredDocument(sha(PDF), "application/pdf", len(PDF), "https://example.org/a.pdf",
                                                    "2026-01-02T03:04:05Z")
    again, added = store.add(PDF, source_url=None, added_at="2026-02-02T00:00:00Z", max_bytes=1000)
    assert not added and again == row  # the first record stands
    assert store.data(sha(PDF)) == PDF
    assert store.documents() == [row]
    assert store.present([sha(PDF), sha(HTML), "not a hash"]) == {sha(PDF)}
    assert store.document(sha(HTML)) is None and store.data(sha(HTML)) is None


@pytest.mark.parametrize(("data", "error"), [(b"x" * 101, TooLargeError), (b"", MalformedError)])
def test_an_oversized_or_empty_document_stores_nothing(store: evidence.EvidenceStoreMixin, data: bytes,
                                                       error: type[Exception]) -> None:
    with pytest.raises(error):
        store.add(data, source_url=None, added_at="2026-01-02T03:04:05Z", max_bytes=100)
    assert store.documents() == []


def test_bytes_that_do_not_hash_to_the_name_are_never_stored(store: evidence.EvidenceStoreMixin) -> None:
    row = evidence.StoredDocument(sha(PDF), "application/pdf", len(PDF), None, "2026-01-02T03:04:05Z")
    with pytest.raises(MalformedError):
        store.put(row, PDF + b" ")
    assert store.documents() == []


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def local(backend: Backend) -> Iterator[Backend]:
    """An initialized registry in ``backend``, with a log key (as ``registry init`` leaves it)."""
    assert run_cli(backend, "init").exit_code == 0
    yield backend


def test_evidence_add_prints_the_hash_and_is_idempotent(local: Backend, tmp_path: Path) -> None:
    # A hostile file name: never recorded, never shown back, never the served name.
    hostile = tmp_path / 'evil\n"; name=x.html\u202e.pdf'
    hostile.write_bytes(HTML)
    first = run_cli(local, "evidence", "add", str(hostile), "--url", "https://example.org/press")
    assert first.exit_code == 0, first.output
    assert first.stdout == sha(HTML) + "\n"
    assert "stored: " in first.stderr and "evil" not in first.output
    second = run_cli(local, "evidence", "add", str(hostile), "--json")
    assert json.loads(second.stdout) == {"sha256": sha(HTML), "media_type": "text/html", "size": len(HTML),
                                         "source_url": "https://example.org/press",
                                         "added_at": json.loads(second.stdout)["added_at"], "added": False}
    listed = run_cli(local, "evidence", "list", "--json")
    assert [json.loads(line)["sha256"] for line in listed.stdout.splitlines()] == [sha(HTML)]
    shown = run_cli(local, "evidence", "show", sha(HTML))
    assert json.loads(shown.stdout)["media_type"] == "text/html"


@pytest.mark.parametrize(("args", "env", "message", "status"), [
    (["big"], {"REGISTRY_EVIDENCE_MAX_BYTES": "10"}, "too-large", 1),
    (["empty"], {}, "empty", 1),
    (["missing"], {}, "no such file", 2),
    (["doc", "--url", "javascript:alert(1)"], {}, "http:// or https://", 1),
    (["doc", "--url", "https://exa\u202emple.org/"], {}, "invisible format characters", 1),
    (["doc"], {"REGISTRY_EVIDENCE_MAX_BYTES": "99999999999"}, "REGISTRY_EVIDENCE_MAX_BYTES", 2),
])
def test_bad_input_stores_nothing_and_says_why(local: Backend, tmp_path: Path, args: list[str], env: dict[str, str],
                                               message: str, status: int) -> None:
    (tmp_path / "big").write_bytes(b"x" * 11)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "doc").write_bytes(TEXT)
    result = run_cli(local, "evidence", "add", str(tmp_path / args[0]), *args[1:], env=env)
    assert result.exit_code == status and message in result.stderr, result.output
    assert result.stdout == ""
    assert run_cli(local, "evidence", "list").stdout == ""


@pytest.mark.parametrize("bad", ["AB" * 32, "ab" * 31, "../../etc/passwd"])
def test_show_refuses_a_malformed_hash(local: Backend, bad: str) -> None:
    result = run_cli(local, "evidence", "show", bad)
    assert result.exit_code == 1 and "malformed" in result.stderr


# --- GET /evidence/<sha256> -------------------------------------------------------------------


@pytest.fixture
def archived(local: Backend, tmp_path: Path) -> Backend:
    for name, data in (("a.pdf", PDF), ("a.html", HTML), ("a.txt", TEXT), ("a.bin", BINARY), ("a.png", PNG)):
        (tmp_path / name).write_bytes(data)
        assert run_cli(local, "evidence", "add", str(tmp_path / name)).exit_code == 0
    return local


@pytest.mark.parametrize(("data", "media_type", "disposition"), [
    (PDF, "application/pdf", "inline"), (TEXT, "text/plain; charset=utf-8", "inline"),
    (HTML, "text/html", "attachment"), (BINARY, "application/octet-stream", "attachment"),
    (PNG, "image/png", "attachment"),
])
def test_a_document_is_served_as_its_bytes_with_safe_headers(archived: Backend, data: bytes, media_type: str,
                                                             disposition: str) -> None:
    extension = evidence.EXTENSIONS[media_type]
    with archived.serve() as app:
        client = app.test_client()
        response = client.get(f"/evidence/{sha(data)}")
        assert response.status_code == 200 and response.data == data
        assert response.headers["Content-Type"] == media_type
        assert response.headers["Content-Disposition"] == f'{disposition}; filename="{sha(data)}.{extension}"'
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["ETag"] == f'"{sha(data)}"'
        again = client.get(f"/evidence/{sha(data)}", headers={"If-None-Match": f'"{sha(data)}"'})
        assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(("path", "status"), [
    ("/evidence/" + "ab" * 32, 404), ("/evidence/" + "AB" * 32, 400), ("/evidence/" + "ab" * 31, 400),
    ("/evidence/..%2F..%2Fetc%2Fpasswd", 404), ("/evidence/" + "ab" * 32 + ".html", 400),
])
def test_unknown_and_malformed_names_are_problems(archived: Backend, path: str, status: int) -> None:
    with archived.serve() as app:
        response = app.test_client().get(path)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"


def test_bytes_edited_in_the_database_are_never_served(archived: Backend) -> None:
    Raw(archived).log("UPDATE {t}evidence_documents SET data = %s WHERE sha256 = %s", (b"%PDF-1.4 forged", sha(PDF)))
    with archived.serve() as app:
        response = app.test_client().get(f"/evidence/{sha(PDF)}")
    assert response.status_code == 500 and b"forged" not in response.data


def test_pages_link_a_cited_document_only_when_it_is_archived(archived: Backend) -> None:
    settings = archived.settings()
    from registry import keys
    from tests.conftest import ORIGIN

    maintainer = Actor(keys.load_private(settings.maintainer_key))
    run = run_cli  # the maintainer records an organization whose evidence cites one archived and one absent hash
    stmt = maintainer.sign("organization.registered", origin=ORIGIN, org="acme", name="Acme", country="JP",
                           kind="company", public_keys=[], evidence=[
                               {"url": "https://example.org/press", "sha256": sha(PDF)},
                               {"url": "https://example.org/gone", "sha256": "cd" * 32}])
    path = archived.data_dir / "stmt.json"
    path.write_bytes(stmt)
    assert run(archived, "submit", str(path)).exit_code == 0
    with archived.serve() as app:
        client = app.test_client()
        page = client.get("/organizations/acme").get_data(as_text=True)
    assert f'href="/evidence/{sha(PDF)}"' in page and "archived copy" in page
    assert f"/evidence/{'cd' * 32}" not in page and "cd" * 32 in page


# --- the audit -------------------------------------------------------------------------------


def _cite(backend: Backend, *hashes: str) -> None:
    from registry import keys
    from tests.conftest import ORIGIN

    maintainer = Actor(keys.load_private(backend.settings().maintainer_key))
    stmt = maintainer.sign("organization.registered", origin=ORIGIN, org="acme", name="Acme", country="JP",
                           kind="company", public_keys=[],
                           evidence=[{"url": f"https://example.org/{i}", "sha256": h} for i, h in enumerate(hashes)])
    path = backend.data_dir / "stmt.json"
    path.write_bytes(stmt)
    assert run_cli(backend, "submit", str(path)).exit_code == 0


def test_the_audit_lists_a_cited_document_that_is_not_archived_without_failing(archived: Backend) -> None:
    _cite(archived, sha(PDF), "cd" * 32)
    result = run_cli(archived, "audit", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["missing_evidence"] == [{"sha256": "cd" * 32, "index": 2,
                                                            "field": "evidence.1.sha256"}]
    human = run_cli(archived, "audit")
    assert human.exit_code == 0 and f"note: not archived here: {'cd' * 32} (cited by entry 2" in human.stderr


@pytest.mark.parametrize("column", ["data", "media_type", "size"])
def test_the_audit_finds_a_tampered_document_row(archived: Backend, column: str) -> None:
    value = {"data": b"%PDF-1.4 forged", "media_type": "text/plain; charset=utf-8", "size": 3}[column]
    Raw(archived).log(f"UPDATE {{t}}evidence_documents SET {column} = %s WHERE sha256 = %s",
                      (value, sha(PDF)))
    result = run_cli(archived, "audit", "--json")
    assert result.exit_code == 1
    found = [f for f in json.loads(result.stdout)["findings"] if f["table"] == "evidence_documents"]
    assert found and found[0]["row"] == f"sha256 {sha(PDF)}" and found[0]["what"] == "archived document"


# --- export bundles ------------------------------------------------------------------------------


def test_export_and_import_carry_the_documents(archived: Backend, second_backend: Backend, tmp_path: Path) -> None:
    _cite(archived, sha(PDF))
    path = tmp_path / "out.hcoc-bundle"
    exported = run_cli(archived, "export", str(path))
    assert exported.exit_code == 0 and "5 archived documents" in exported.stdout, exported.output
    imported = run_cli(second_backend, "import", str(path))
    assert imported.exit_code == 0 and "5 archived documents" in imported.stdout, imported.output
    source = run_cli(archived, "evidence", "list", "--json").stdout
    assert run_cli(second_backend, "evidence", "list", "--json").stdout == source
    with second_backend.serve() as app:
        assert app.test_client().get(f"/evidence/{sha(HTML)}").data == HTML
    assert run_cli(second_backend, "audit").exit_code == 0


def _lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def _rewrite(path: Path, lines: list[bytes]) -> None:
    digest = hashlib.sha256(b"".join(lines[:-1])).hexdigest()
    end = json.loads(lines[-1])
    end["end"]["sha256"] = digest
    path.write_bytes(gzip.compress(b"".join(lines[:-1]) + json.dumps(end, separators=(",", ":")).encode() + b"\n"))


@pytest.mark.parametrize("change", ["bytes", "name", "media_type", "order", "source_url"])
def test_a_bundle_whose_document_does_not_check_imports_nothing(archived: Backend, second_backend: Backend,
                                                                tmp_path: Path, change: str) -> None:
    path = tmp_path / "out.hcoc-bundle"
    assert run_cli(archived, "export", str(path)).exit_code == 0
    lines = _lines(path)
    at = [i for i, line in enumerate(lines) if line.startswith(b'{"document"')]
    doc = json.loads(lines[at[0]])
    if change == "bytes":
        doc["document"]["data"] = "JVBERi0xLjQgZm9yZ2Vk"
    elif change == "name":
        doc["document"]["sha256"] = "ab" * 32
    elif change == "media_type":
        doc["document"]["media_type"] = "text/plain; charset=utf-8"
    elif change == "source_url":
        doc["document"]["source_url"] = "javascript:alert(1)"
    if change == "order":
        lines[at[0]], lines[at[1]] = lines[at[1]], lines[at[0]]
    else:
        lines[at[0]] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    _rewrite(path, lines)
    with pytest.raises(VerificationError):
        bundle.read(path)
    result = run_cli(second_backend, "import", str(path))
    assert result.exit_code == 1 and "document" in result.stderr
    assert run_cli(second_backend, "evidence", "list").stdout == ""


def test_a_v1_bundle_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.hcoc-bundle"
    header = {"format": "hcoc-registry/bundle/v1", "origin": "o", "size": 0, "root": "", "log_key": "k"}
    first = json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    trailer = json.dumps({"end": {"leaves": 0, "sha256": hashlib.sha256(first).hexdigest()}}).encode() + b"\n"
    path.write_bytes(gzip.compress(first + trailer))
    assert bundle.read(path).documents == []
    document = {"document": {"sha256": sha(TEXT), "media_type": "text/plain; charset=utf-8", "source_url": None,
                             "added_at": "2026-01-01T00:00:00Z", "data": ""}}
    line = json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    trailer = json.dumps({"end": {"leaves": 0, "sha256": hashlib.sha256(first + line).hexdigest()}}).encode() + b"\n"
    path.write_bytes(gzip.compress(first + line + trailer))
    with pytest.raises(VerificationError, match="unexpected line"):  # v1 has no document lines
        bundle.read(path)


# --- citing an archived document from the command line --------------------------------------------


REVISION = {"code": CODE, "version": "2023-10-30", "title": "Hiroshima Code", "issuer": "G7",
            "published_on": "2023-10-30", "source_url": "https://example.org/code", "supersedes": None,
            "actions": [{"number": n, "heading": f"Action {n}"} for n in range(1, 12)]}


def test_an_attested_record_cites_a_file_by_hash_and_archives_it_once_recorded(local: Backend,
                                                                              tmp_path: Path) -> None:
    maintainer_key = str(local.settings().maintainer_key)
    (tmp_path / "revision.json").write_text(json.dumps(REVISION))
    assert run_cli(local, "code", "publish", str(tmp_path / "revision.json")).exit_code == 0
    assert run_cli(local, "org", "register", "--slug", "acme", "--name", "Acme", "--country", "JP",
                   "--kind", "company").exit_code == 0
    copy = tmp_path / "press copy.pdf"
    copy.write_bytes(PDF)
    # refused (an unknown Code): the document is not archived
    refused = run_cli(local, "endorse", "--org", "acme", "--code", "nope", "--version", "1", "--key", maintainer_key,
                      "--evidence-file", "https://example.org/press", str(copy))
    assert refused.exit_code == 1 and run_cli(local, "evidence", "list").stdout == ""
    # a URL the statement would refuse: refused before anything is read or signed
    hostile = run_cli(local, "endorse", "--org", "acme", "--code", CODE, "--version", "2023-10-30", "--key",
                      maintainer_key, "--evidence-file", "javascript:alert(1)", str(copy))
    assert hostile.exit_code == 1 and "--evidence-file URL" in hostile.stderr
    made = run_cli(local, "endorse", "--org", "acme", "--code", CODE, "--version", "2023-10-30", "--key",
                   maintainer_key, "--evidence", "https://example.org/news", "--evidence-file",
                   "https://example.org/press", str(copy), "--json")
    assert made.exit_code == 0, made.output
    assert f"archived: {sha(PDF)}" in made.stderr
    index = json.loads(made.stdout)["index"]
    statement = json.loads(run_cli(local, "show", "entry", str(index), "--json").stdout)["statement"]
    assert statement["evidence"] == [{"url": "https://example.org/news"},
                                     {"url": "https://example.org/press", "sha256": sha(PDF)}]
    assert [json.loads(line)["sha256"] for line in run_cli(local, "evidence", "list", "--json").stdout.splitlines()] \
        == [sha(PDF)]
    assert json.loads(run_cli(local, "audit", "--json").stdout)["missing_evidence"] == []


def test_a_reports_document_is_linked_to_its_archived_copy(archived: Backend) -> None:
    from registry import keys
    from tests.conftest import ORIGIN

    maintainer = Actor(keys.load_private(archived.settings().maintainer_key))
    for i, stmt in enumerate((
        maintainer.sign("code.revision_published", origin=ORIGIN, **{**REVISION, "text_sha256": sha(TEXT)}),
        maintainer.sign("organization.registered", origin=ORIGIN, org="acme", name="Acme", country="JP",
                        kind="company", public_keys=[]),
        maintainer.sign("report.published", origin=ORIGIN, org="acme", code=CODE, framework="oecd-haip",
                        url="https://example.org/report", document_sha256=sha(PDF),
                        evidence=[{"url": "https://example.org/report"}]),
    )):
        (archived.data_dir / f"s{i}.json").write_bytes(stmt)
        assert run_cli(archived, "submit", str(archived.data_dir / f"s{i}.json")).exit_code == 0
    with archived.serve() as app:
        client = app.test_client()
        org_page = client.get("/organizations/acme").get_data(as_text=True)
        code_page = client.get(f"/codes/{CODE}").get_data(as_text=True)
    assert f'href="/evidence/{sha(PDF)}"' in org_page
    assert f'href="/evidence/{sha(TEXT)}"' in code_page


def test_evidence_add_reads_standard_input(local: Backend) -> None:
    from click.testing import CliRunner

    from scripts.cli import main
    from tests.conftest import ORIGIN

    env = {**local.env, "REGISTRY_DATA_DIR": str(local.data_dir), "REGISTRY_ORIGIN": ORIGIN}
    result = CliRunner().invoke(main, ["evidence", "add", "-"], input=TEXT, env=env, catch_exceptions=False)
    assert result.exit_code == 0 and result.stdout == sha(TEXT) + "\n"


def test_evidence_add_without_a_registry_creates_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from scripts.cli import main

    (tmp_path / "doc").write_bytes(TEXT)
    empty = tmp_path / "nothing-here"
    result = CliRunner().invoke(main, ["--data-dir", str(empty), "evidence", "add", str(tmp_path / "doc")],
                                env={"REGISTRY_DATA_DIR": "", "REGISTRY_DATABASE_URL": "", "REGISTRY_ORIGIN": ""})
    assert result.exit_code == 2 and "no registry" in result.stderr
    assert not empty.exists()
