"""The log over HTTP (web.log, web.problems, web.create_app), checked as a client would.

The story, on SQLite and on PostgreSQL: a registry records 300 statements, the
clock signs a checkpoint at size 100 and another at 302, then ten more
statements are integrated but not yet signed. A client then fetches the
published key, the checkpoint and the tiles, rebuilds the signed root from
tiles alone, checks entry bundles against the level-0 tiles, and verifies
inclusion and consistency proofs and receipts. Bad input of every kind
answers 4xx problem+json, never 500; nothing beyond the signed checkpoint is
served as a tile.

One served world per backend (module scope) keeps this file fast: the tests
only read it.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry import keys, tiles, tlog
from registry.checkpoint import open_checkpoint
from registry.config import Settings
from registry.logstore import StoredCheckpoint
from registry.receipts import verify_receipt
from registry.signednote import parse_verifier_key, signer_from_private
from registry.transparency import open_log
from tests.conftest import ORIGIN, Backend, make_world, signing_world

FIRST, SIGNED, INTEGRATED = 100, 302, 312  # two published checkpoints, then unsigned leaves
PROBLEM = "application/problem+json"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass
class Served:
    """A running app over a recorded log, and what the test knows out of band."""

    app: Flask
    backend: Backend
    settings: Settings
    first: StoredCheckpoint
    signed: StoredCheckpoint
    log_vkey: str

    def client(self) -> FlaskClient:
        return self.app.test_client()


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    settings = module_backend.settings()
    with signing_world(module_backend) as world:
        # 1. record and sign twice (the clock's job), then record more without signing
        clock = open_log(settings, world.registry, with_signer=True)
        for i in range(INTEGRATED - 2):
            world.org(f"org-{i}")
            if world.registry.size() in (FIRST, SIGNED):
                clock.publish_checkpoint()
        clock.catch_up()
        first, signed = clock.store.checkpoints()
        assert (first.size, signed.size, clock.size()) == (FIRST, SIGNED, INTEGRATED)
        vkey = signer_from_private(ORIGIN, keys.load_private(settings.log_key)).verifier_key
        # 2. the web app, built after the log key exists
        with module_backend.serve() as app:
            yield Served(app, module_backend, settings, first, signed, vkey)


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = json.loads(response.data)
    assert body["status"] == status
    assert body["type"].startswith("https://hcoc-registry.org/problems/")
    assert body["title"] and body["detail"]
    assert "Traceback" not in body["detail"]
    return body


# --- discovery and checkpoint ----------------------------------------------------------


def test_discovery_publishes_the_log_key(client: FlaskClient, served: Served) -> None:
    response = client.get("/.well-known/hcoc-registry.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    doc = response.get_json()
    base = served.settings.base_url
    assert doc["version"] == 1
    assert doc["origin"] == ORIGIN
    assert doc["log_key"] == served.log_vkey
    assert doc["base_url"] == base
    assert doc["checkpoint"] == f"{base}/checkpoint"
    assert doc["tiles"] == f"{base}/tile/"
    assert doc["api"] == f"{base}/api/v1/"
    assert doc["openapi"] == f"{base}/api/v1/openapi.json"
    assert doc["feeds"]["atom"] == f"{base}/feeds/events.atom"


def test_checkpoint_verifies_with_the_published_key(client: FlaskClient, served: Served) -> None:
    vkey = client.get("/.well-known/hcoc-registry.json").get_json()["log_key"]
    response = client.get("/checkpoint")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "max-age=5" in response.headers["Cache-Control"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    opened = open_checkpoint(response.data, ORIGIN, parse_verifier_key(vkey))
    assert (opened.checkpoint.size, opened.checkpoint.root) == (SIGNED, served.signed.root)
    # conditional GET: the same checkpoint costs nothing to re-fetch
    again = client.get("/checkpoint", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


# --- tiles -----------------------------------------------------------------------------


def tile_fetcher(client: FlaskClient, fetched: list[str]) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        response = client.get(f"/tile/{path}")
        assert response.status_code == 200, (path, response.data)
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Cache-Control"] == IMMUTABLE
        fetched.append(path)
        return response.data

    return fetch


@pytest.mark.parametrize("which", ["first", "signed"])
def test_tiles_rebuild_every_signed_root(client: FlaskClient, served: Served, which: str) -> None:
    checkpoint: StoredCheckpoint = getattr(served, which)
    fetched: list[str] = []
    reader = tiles.tile_hash_reader(checkpoint.size, tile_fetcher(client, fetched))
    assert tlog.tree_hash(checkpoint.size, reader) == checkpoint.root
    assert fetched
    # the partial tiles of every published size stay available (tlog-tiles: MUST)
    for path in tiles.tiles_for_size(checkpoint.size):
        assert client.get(f"/tile/{path}").status_code == 200


def test_tile_bytes_are_exact_prefixes(client: FlaskClient) -> None:
    full = client.get("/tile/0/000").data
    assert len(full) == 256 * 32
    assert client.get("/tile/0/000.p/5").data == full[: 5 * 32]
    assert client.get("/tile/0/000.p/255").data == full[: 255 * 32]
    # the stored row already holds 56 hashes; the checkpoint justifies 46, and 46 is what is served
    assert len(client.get(f"/tile/0/001.p/{SIGNED - 256}").data) == (SIGNED - 256) * 32
    assert client.get("/tile/0/001.p/3").data == client.get(f"/tile/0/001.p/{SIGNED - 256}").data[: 3 * 32]
    level1 = client.get("/tile/1/000.p/1").data
    assert level1 == tlog.tree_hash(256, tiles.tile_hash_reader(256, lambda p: client.get(f"/tile/{p}").data))


def test_entry_bundles_hash_to_level0_tiles(client: FlaskClient) -> None:
    for bundle_path, tile_path, count in [("entries/000", "0/000", 256),
                                          (f"entries/001.p/{SIGNED - 256}", f"0/001.p/{SIGNED - 256}", SIGNED - 256),
                                          ("entries/000.p/7", "0/000.p/7", 7)]:
        response = client.get(f"/tile/{bundle_path}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Cache-Control"] == IMMUTABLE
        entries = tiles.parse_entry_bundle(response.data, count)
        hashes = client.get(f"/tile/{tile_path}").data
        assert b"".join(tlog.leaf_hash(e) for e in entries) == hashes
    first_bundle = tiles.parse_entry_bundle(client.get("/tile/entries/000").data, 256)
    for i in (0, 1, 255):
        assert client.get(f"/api/v1/log/entries/{i}").data == first_bundle[i]


BAD_TILE_PATHS = [
    # malformed: 400
    ("0/1000", 400), ("0/01", 400), ("64/000", 400), ("0/000.p/0", 400), ("0/000.p/256", 400),
    ("x/000", 400), ("0/../etc", 400), ("-1/000", 400), ("00/000", 400), ("0/000.p/01", 400),
    ("0/000.p/1/x", 400), ("0/x000/001", 400), ("entries/000.p/00", 400), ("0/%D9%A0%D9%A0%D9%A0", 400),
    ("0/x999/x999/x999/x999/x999/x999/999", 400), ("data/000", 400), ("0/000.P/1", 400),
    # well formed, but not justified by the latest checkpoint (302): 404
    (f"0/001.p/{SIGNED - 256 + 1}", 404), (f"0/001.p/{INTEGRATED - 256}", 404), ("0/001", 404),
    ("0/002.p/1", 404), (f"entries/001.p/{SIGNED - 256 + 1}", 404), ("entries/001", 404),
    ("1/000", 404), ("1/000.p/2", 404), ("2/000.p/1", 404), ("0/x001/000", 404),
    ("0/x018/x446/x744/x073/x709/x551/615", 404), ("entries/x018/x446/x744/x073/x709/x551/615", 404),
    ("63/000.p/1", 404),
]


@pytest.mark.parametrize(("path", "status"), BAD_TILE_PATHS)
def test_bad_or_unjustified_tiles_are_problems(client: FlaskClient, path: str, status: int) -> None:
    response = client.get(f"/tile/{path}")
    assert_problem(response, status)
    assert response.headers["Cache-Control"] == "no-store"


def test_tile_route_edges(client: FlaskClient) -> None:
    assert_problem(client.get("/tile/"), 404)
    assert_problem(client.get("/tile"), 404)
    assert_problem(client.post("/tile/0/000"), 405)


# --- entries, proofs, receipts ---------------------------------------------------------


def test_entries(client: FlaskClient) -> None:
    response = client.get("/api/v1/log/entries/0")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert isinstance(json.loads(response.data), dict)
    # recorded leaves are served even before a checkpoint covers them
    assert client.get(f"/api/v1/log/entries/{INTEGRATED - 1}").status_code == 200
    for index in (str(INTEGRATED), "9223372036854775807", "9223372036854775808", "99999999999999999999999",
                  "01", "-1", "1e3", "%D9%A3"):
        assert_problem(client.get(f"/api/v1/log/entries/{index}"), 404)


def sample(size: int) -> list[int]:
    return sorted({0, 1, 255, 256, size - 1, *random.Random(size).sample(range(size), 12)})


def test_inclusion_proofs_verify_against_the_checkpoint(client: FlaskClient, served: Served) -> None:
    for index in sample(SIGNED):
        response = client.get(f"/api/v1/log/proofs/inclusion?index={index}")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=5"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        proof = response.get_json()
        assert (proof["index"], proof["tree_size"]) == (index, SIGNED)
        leaf = client.get(f"/api/v1/log/entries/{index}").data
        assert b64(proof["leaf_hash"]) == tlog.leaf_hash(leaf)
        assert b64(proof["root_hash"]) == served.signed.root
        tlog.verify_inclusion(index, SIGNED, tlog.leaf_hash(leaf), [b64(h) for h in proof["hashes"]],
                              served.signed.root)
    # against the older checkpoint, and against the integrated but unsigned tree
    for index, size, root in [(5, FIRST, served.first.root), (FIRST - 1, FIRST, served.first.root),
                              (INTEGRATED - 1, INTEGRATED, None)]:
        response = client.get(f"/api/v1/log/proofs/inclusion?index={index}&size={size}")
        assert response.headers["Cache-Control"] == IMMUTABLE
        proof = response.get_json()
        root = root or b64(proof["root_hash"])
        assert b64(proof["root_hash"]) == root
        tlog.verify_inclusion(index, size, b64(proof["leaf_hash"]), [b64(h) for h in proof["hashes"]], root)


def test_consistency_proofs_verify(client: FlaskClient, served: Served) -> None:
    roots = {FIRST: served.first.root, SIGNED: served.signed.root}
    for old, new in [(1, SIGNED), (FIRST, SIGNED), (255, 256), (256, SIGNED), (SIGNED, SIGNED), (0, SIGNED),
                     (7, FIRST), (SIGNED, INTEGRATED), (1, 2)]:
        response = client.get(f"/api/v1/log/proofs/consistency?from={old}&to={new}")
        assert response.status_code == 200, response.data
        assert response.headers["Cache-Control"] == IMMUTABLE
        body = response.get_json()
        assert (body["from"], body["to"]) == (old, new)
        old_root, new_root = b64(body["from_root"]), b64(body["to_root"])
        assert old_root == roots.get(old, old_root) and new_root == roots.get(new, new_root)
        tlog.verify_consistency(old, new, old_root, new_root, [b64(h) for h in body["hashes"]])
    latest = client.get(f"/api/v1/log/proofs/consistency?from={FIRST}").get_json()
    assert latest["to"] == SIGNED
    tlog.verify_consistency(FIRST, SIGNED, served.first.root, served.signed.root, [b64(h) for h in latest["hashes"]])


@pytest.mark.parametrize("query", [
    "", "index=", "index=01", "index=-1", "index=1e3", "index=abc", "index= 1", "index=1.0", "index=%D9%A3",
    "index=9223372036854775808", "index=123456789012345678901234567890", "index=1&index=2",
    "index=5&size=3", "index=3&size=3", "index=0&size=0", "index=0&size=01", "size=10",
])
def test_inclusion_bad_params(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"/api/v1/log/proofs/inclusion?{query}"), 400)


@pytest.mark.parametrize("query", [
    "", "to=3", "from=", "from=1e3", "from=-1", "from=01", "from=5&to=3", "from=1&to=x",
    "from=1&from=2", "from=9223372036854775808",
])
def test_consistency_bad_params(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"/api/v1/log/proofs/consistency?{query}"), 400)


def test_proofs_beyond_the_tree_are_not_found(client: FlaskClient) -> None:
    assert_problem(client.get(f"/api/v1/log/proofs/inclusion?index=0&size={INTEGRATED + 1}"), 404)
    assert_problem(client.get("/api/v1/log/proofs/inclusion?index=0&size=9223372036854775807"), 404)
    assert_problem(client.get(f"/api/v1/log/proofs/consistency?from=1&to={INTEGRATED + 1}"), 404)
    assert_problem(client.get("/api/v1/log/proofs/consistency?from=9223372036854775807"), 400)


def test_receipts_verify_offline(client: FlaskClient, served: Served) -> None:
    verifier = parse_verifier_key(served.log_vkey)
    for index in (0, 150, SIGNED - 1):
        response = client.get(f"/api/v1/receipts/{index}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Content-Disposition"] == f'attachment; filename="leaf-{index}.tlog-proof"'
        verified = verify_receipt(response.data, origin=ORIGIN, log_verifier=verifier)
        assert (verified.index, verified.checkpoint.checkpoint.size) == (index, SIGNED)
        assert verified.leaf == client.get(f"/api/v1/log/entries/{index}").data
    older = client.get(f"/api/v1/receipts/5?size={FIRST}")
    assert older.headers["Cache-Control"] == IMMUTABLE
    assert verify_receipt(older.data, origin=ORIGIN, log_verifier=verifier).checkpoint.checkpoint.size == FIRST
    # integrated but not yet signed: not yet covered, ask again in a second
    for index in (SIGNED, INTEGRATED - 1):
        early = client.get(f"/api/v1/receipts/{index}")
        assert assert_problem(early, 404)["type"].endswith("/not-yet-covered")
        assert early.headers["Retry-After"] == "1"
    # beyond the log, not a published size, not covered by the size asked for: not found, for good
    for url in (f"/api/v1/receipts/{INTEGRATED}", "/api/v1/receipts/9223372036854775807",
                f"/api/v1/receipts/5?size={FIRST + 1}", f"/api/v1/receipts/{FIRST}?size={FIRST}",
                f"/api/v1/receipts/{SIGNED}?size={SIGNED}"):
        missing = client.get(url)
        assert assert_problem(missing, 404)["type"].endswith("/not-found"), url
        assert "Retry-After" not in missing.headers, url
    assert_problem(client.get("/api/v1/receipts/5?size=01"), 400)
    assert_problem(client.get("/api/v1/receipts/05"), 404)


# --- headers and the app around the views ---------------------------------------------


@pytest.mark.parametrize("path", ["/checkpoint", "/tile/0/000", "/tile/0/01", "/api/v1/log/entries/0",
                                  "/api/v1/nothing-here", "/no-such-page"])
def test_security_headers_everywhere(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers  # the test base URL is http


def test_html_gets_csp_and_data_gets_cors(client: FlaskClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "Access-Control-Allow-Origin" not in page.headers
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert client.get("/api/v1/nothing-here").headers["Access-Control-Allow-Origin"] == "*"
    refused = client.post("/checkpoint", data=b"x")
    assert_problem(refused, 405)
    assert "GET" in refused.headers["Allow"]
    assert "Access-Control-Allow-Origin" not in refused.headers
    head = client.head("/tile/0/000")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(256 * 32)


def test_limits_and_trusted_hosts(served: Served) -> None:
    assert served.app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert served.app.config["TRUSTED_HOSTS"] is None
    with served.backend.serve({"REGISTRY_TRUSTED_HOSTS": "registry.example, mirror.example"}) as app:
        assert app.config["TRUSTED_HOSTS"] == ["registry.example", "mirror.example"]
        client = app.test_client()
        assert client.get("/checkpoint", headers={"Host": "mirror.example"}).status_code == 200
        assert_problem(client.get("/checkpoint", headers={"Host": "evil.example"}), 400)


def test_before_any_checkpoint(backend: Backend) -> None:
    registry = backend.open()
    make_world(registry)
    registry.close()
    # no log key in this data directory: the web process needs none to serve
    with backend.serve({"REGISTRY_BASE_URL": "https://registry.example"}) as app:
        client = app.test_client()
        body = assert_problem(client.get("/checkpoint"), 404)
        assert body["type"] == "https://hcoc-registry.org/problems/not-found"
        assert_problem(client.get("/tile/0/000.p/1"), 404)
        assert_problem(client.get("/tile/entries/000.p/1"), 404)
        assert_problem(client.get("/api/v1/log/proofs/inclusion?index=0"), 404)
        assert_problem(client.get("/api/v1/receipts/0"), 404)
        # proofs for an explicit size catch the log up with the event store first
        proof = client.get("/api/v1/log/proofs/inclusion?index=1&size=2")
        assert proof.status_code == 200, proof.data
        assert client.get("/api/v1/log/entries/1").status_code == 200
        # a missing public key is the operator's fault: a generic 500 that names no file
        response = client.get("/.well-known/hcoc-registry.json")
        body = assert_problem(response, 500)
        assert str(backend.data_dir) not in body["detail"]
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_faults_and_limits_are_problems_without_details(sqlite_backend: Backend) -> None:
    with sqlite_backend.serve() as app:
        secret = str(sqlite_backend.data_dir)

        def boom() -> str:
            raise RuntimeError(f"bug near {secret}")

        def busy() -> str:
            raise OperationalError("database is locked")

        def upload() -> dict[str, int]:
            return {"length": len(request.get_data())}

        # routes for this test only, on a fresh app: the handlers are the app's, whatever the view
        app.add_url_rule("/api/v1/test/boom", "boom", boom)
        app.add_url_rule("/api/v1/test/busy", "busy", busy)
        app.add_url_rule("/api/v1/test/upload", "upload", upload, methods=["POST"])
        app.add_url_rule("/test/boom", "page_boom", boom)
        client = app.test_client()
        body = assert_problem(client.get("/api/v1/test/boom"), 500)
        assert secret not in body["detail"] and "bug" not in body["detail"]
        busy_response = client.get("/api/v1/test/busy")
        assert assert_problem(busy_response, 503)["type"].endswith("/storage-unavailable")
        assert busy_response.headers["Retry-After"]
        assert client.post("/api/v1/test/upload", data=b"x" * 1024).get_json() == {"length": 1024}
        assert_problem(client.post("/api/v1/test/upload", data=b"x" * (64 * 1024 + 1)), 413)
        page = client.get("/test/boom")
        assert page.status_code == 500 and page.mimetype == "text/html"
        assert secret not in page.get_data(as_text=True)
