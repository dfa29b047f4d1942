"""``registry publish`` and deploy/nginx.conf, end to end on real processes, on SQLite and on PostgreSQL.

A registry of a few hundred entries runs under gunicorn with a clock that
publishes into a directory after each checkpoint (``REGISTRY_PUBLISH_DIR``);
Debian's nginx, started with the repository's configuration on loopback,
serves that directory in front of gunicorn. Every published path is fetched
through nginx and from gunicorn directly: same bytes, same content type, same
caching headers, and the answer came from a file (nginx's own ETag). Then the
project's own checks run against nginx alone: the checkpoint verifies, the
tiles hash to its root, a receipt proves an inclusion, two publishes are
consistent, the feeds parse and their archive chain resolves, the snapshot
verifies. A submission through nginx lands and appears after the next
publish. Finally, a second directory shows the incremental and atomic
writing: nothing new writes nothing, new entries change only the files they
should, full tiles are never rewritten, and a reader never sees part of a
file.

nginx is required with REGISTRY_TEST_REQUIRE_NGINX=1 (CI sets it); otherwise the
tests are skipped without it.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import pytest

from registry import config, evidence, keys, snapshots, tiles, tlog
from registry.checkpoint import open_checkpoint
from registry.errors import ConfigurationError
from registry.receipts import verify_receipt
from registry.signednote import format_verifier_key, parse_verifier_key
from registry.transparency import open_log_store
from scripts.publishing import FORMAT, STATE_FILE, Publisher, file_for, parse_state
from tests import harness
from tests.conftest import ORIGIN, Actor, Backend, make_world

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
REQUIRE_NGINX = os.environ.get("REGISTRY_TEST_REQUIRE_NGINX") == "1"
ORGS = 8
AMENDMENTS = 290  # with the rest, over 256 entries: one full tile and bundle, and a partial one
PAGE = 100  # feed archive page size: three complete pages
RECENT = 40  # receipts and log pages published for the newest 40 leaves only
IMMUTABLE = "public, max-age=31536000, immutable"
# Archived evidence (section 25), published at evidence/<sha256>.<ext>: (bytes, media type, shown inline).
DOCUMENTS = {
    "pdf": (b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n", "application/pdf", True),
    "txt": ("Press release: Acme endorses the Hiroshima Code. \u00e9\n".encode(), "text/plain; charset=utf-8", True),
    "html": (b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>", "text/html", False),
    "png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png", False),
    "bin": (b"\x00\x01\x02 not a known type", "application/octet-stream", False),
}
NGINX_ETAG = re.compile(r'(W/)?"[0-9a-f]+-[0-9a-f]+"')  # nginx's own: mtime-size; the app's never look so


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        if REQUIRE_NGINX:
            pytest.fail("REGISTRY_TEST_REQUIRE_NGINX=1 but there is no nginx (apt-get install nginx)")
        pytest.skip("no nginx (apt-get install nginx); set REGISTRY_TEST_REQUIRE_NGINX=1 to fail instead")
    return found


def nginx_config(listen: str, root: Path, upstream: str, temp: Path) -> str:
    text = NGINX_CONF.read_text()
    for name, value in (("@LISTEN@", listen), ("@ROOT@", str(root)), ("@UPSTREAM@", upstream),
                        ("@TEMP@", str(temp))):
        assert name in text
        text = text.replace(name, value)
    assert not re.search(r"@[A-Z]+@", re.sub(r"#.*", "", text)), "a placeholder was left unsubstituted"
    return text


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def request(base: str, path: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Answer:
    """One HTTP request, nothing decoded (gzip stays gzip), header names lower-cased."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


class Fronted(harness.Processes):
    """The registry's processes, with nginx's URL as the public base URL and the clock publishing."""

    def __init__(self, backend: Backend, logs: Path, public: str, published: Path) -> None:
        super().__init__(backend, logs)
        self.public = public
        self.published = published

    def env(self, **extra: str) -> dict[str, str]:
        return {**super().env(), "REGISTRY_BASE_URL": self.public, "REGISTRY_PUBLISH_DIR": str(self.published),
                "REGISTRY_FEED_PAGE_SIZE": str(PAGE), "REGISTRY_PUBLISH_RECENT": str(RECENT),
                # The clock publishes what the web serves only if both have the same settings.
                "REGISTRY_CLOCK_INTERVAL": "0.2", "REGISTRY_SNAPSHOT_CHECK_SECONDS": "1",
                "REGISTRY_TRUSTED_PROXIES": "1", **extra}


@dataclass
class Site:
    front: str  # nginx
    app: str  # gunicorn, directly
    published: Path
    running: Fronted
    backend: Backend
    world: Any
    log_key: str

    def settings(self) -> config.Settings:
        return config.load(self.backend.data_dir, self.running.env())

    def wait_published(self, size: int, timeout: float = 60) -> dict[str, Any]:
        """The state file once the clock has published a checkpoint of at least ``size`` leaves."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = json.loads((self.published / STATE_FILE).read_bytes())
                if state["size"] >= size:
                    return dict(state)
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"nothing published for size {size}:\n{self.running.clock_logs()[-3000:]}")

    def submit_org(self, slug: str) -> int:
        data = self.world.maintainer.sign("organization.registered", org=slug, name=f"Org {slug}", country="JP",
                                          kind="company", public_keys=[])
        answer = request(self.front, "/api/v1/statements", "POST", data, {"Content-Type": "application/json"})
        assert answer.status == 201, answer.body
        return int(json.loads(answer.body)["index"])


@pytest.fixture(scope="module")
def site(module_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    binary = nginx_binary()
    tmp = tmp_path_factory.mktemp("publish")
    settings = module_backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    log_key = format_verifier_key(ORIGIN, keys.load_public_file(keys.public_path(settings.log_key)))
    registry = module_backend.open()
    world = make_world(registry)
    world.code()
    actors = [Actor() for _ in range(ORGS)]
    common = {"code": "hiroshima-coc", "effective_date": "2024-01-01"}
    for i, actor in enumerate(actors):
        world.org(f"org-{i:03d}", actor)
        world.submit(actor.sign("endorsement.made", org=f"org-{i:03d}", version="2023-10-30", scope=[1, 2], **common))
    for n in range(AMENDMENTS):  # few organizations, many entries: a publish stays quick
        i = n % ORGS
        world.submit(actors[i].sign("endorsement.amended", org=f"org-{i:03d}", scope="all" if n // ORGS % 2 == 0
                                    else [1, 2, 3], **common))
    total = registry.size()
    registry.close()
    archive(settings, *(data for data, _, _ in DOCUMENTS.values()))
    front_port = harness.free_port()
    front = f"http://127.0.0.1:{front_port}"
    # nginx's workers drop root for an unprivileged user, who cannot enter pytest's owner-only directories.
    public_root = Path(tempfile.mkdtemp(prefix="hcoc-published-"))
    public_root.chmod(0o755)
    published = public_root / "site"
    nginx_dir = tmp / "nginx"
    nginx_dir.mkdir()
    running = Fronted(module_backend, tmp / "logs", front, published)
    nginx = None
    try:
        running.start_web(workers=2)
        running.start_clock()
        conf = nginx_dir / "nginx.conf"
        conf.write_text(nginx_config(f"127.0.0.1:{front_port}", published, f"127.0.0.1:{running.port}", nginx_dir))
        with (tmp / "logs" / "nginx.log").open("ab") as out:
            nginx = subprocess.Popen([binary, "-p", str(nginx_dir), "-c", str(conf), "-e", "stderr", "-g",
                                      "daemon off;"], stdout=out, stderr=out, start_new_session=True)
        served = Site(front, running.base, published, running, module_backend, world, log_key)
        served.wait_published(total)
        deadline = time.monotonic() + 30
        while not (published / "api/v1/snapshots/latest").is_file():  # the clock's first snapshot, published
            assert time.monotonic() < deadline, running.clock_logs()[-3000:]
            time.sleep(0.1)
        deadline = time.monotonic() + 30
        while request(front, "/healthz").status != 200:  # nginx up, and gunicorn behind it
            assert time.monotonic() < deadline and nginx.poll() is None, (tmp / "logs" / "nginx.log").read_text()
            time.sleep(0.1)
        yield served
    finally:
        if nginx is not None and nginx.poll() is None:
            os.killpg(nginx.pid, signal.SIGTERM)
            nginx.wait(timeout=30)
        running.stop()
        shutil.rmtree(public_root, ignore_errors=True)


def archive(settings: config.Settings, *documents: bytes) -> None:
    """Archive documents as ``registry evidence add`` does."""
    log_store = open_log_store(settings)
    try:
        store = evidence.open_evidence_store(log_store)
        for data in documents:
            store.add(data, source_url=None, added_at="2026-01-02T03:04:05Z", max_bytes=1 << 20)
    finally:
        log_store.datastore.close()


def published_paths(site: Site) -> list[str]:
    """Every path the published directory answers, by the layout of docs/FORMATS.md section 24."""
    state = json.loads((site.published / STATE_FILE).read_bytes())
    size = state["size"]
    paths = ["/checkpoint", "/.well-known/hcoc-registry.json", "/api/v1/openapi.json", "/api/v1/snapshots",
             "/api/v1/snapshots/latest", "/", "/organizations", "/organizations/org-007", "/codes",
             "/codes/hiroshima-coc", "/codes/hiroshima-coc/2023-10-30", "/codes/hiroshima-coc/actions/3", "/log",
             "/about", "/verify", "/for-organizations", "/api/v1/", "/favicon.ico", "/static/site.css",
             "/tile/0/000", "/tile/entries/000", f"/api/v1/receipts/{size - 1}", f"/log/{size - 1}"]
    paths += [f"/tile/{p}" for p in tiles.tiles_for_size(size)]
    for fmt in ("atom", "rss"):
        paths += [f"/feeds/events.{fmt}", f"/feeds/obligations.{fmt}", f"/feeds/organizations/org-001.{fmt}",
                  f"/feeds/codes/hiroshima-coc.{fmt}", f"/feeds/types/organization.registered.{fmt}",
                  *(f"/feeds/events/archive/{k}.{fmt}" for k in range(size // PAGE))]
    return paths


# --- what nginx serves ------------------------------------------------------------------------------


def test_every_published_path_is_a_file_with_the_apps_bytes_and_headers(site: Site) -> None:
    for path in published_paths(site):
        front, app = request(site.front, path), request(site.app, path)
        assert front.status == app.status == 200, (path, front.status, app.status)
        assert NGINX_ETAG.fullmatch(front.headers.get("etag", "")), (path, "not served from a file", front.headers)
        assert front.body == app.body, path
        for name in ("content-type", "cache-control", "access-control-allow-origin", "content-security-policy",
                     "x-content-type-options", "referrer-policy"):
            assert front.headers.get(name) == app.headers.get(name), (path, name)
        if app.headers.get("content-disposition", "").startswith("attachment"):  # Flask's "inline" says nothing
            assert front.headers.get("content-disposition") == app.headers["content-disposition"], path
    # The contract's values, not just equality with the app.
    assert request(site.front, "/checkpoint").headers["content-type"] == "text/plain; charset=utf-8"
    assert request(site.front, "/checkpoint").headers["cache-control"] == "public, max-age=5"
    tile = request(site.front, "/tile/0/000")
    assert tile.headers["content-type"] == "application/octet-stream" and tile.headers["cache-control"] == IMMUTABLE
    archive = request(site.front, "/feeds/events/archive/0.atom")
    assert archive.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert archive.headers["cache-control"] == IMMUTABLE
    assert request(site.front, "/feeds/events.rss").headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert request(site.front, "/feeds/events.rss").headers["cache-control"] == "public, max-age=300"


def test_conditional_requests_and_compression(site: Site) -> None:
    for path in ("/checkpoint", "/tile/0/000", "/tile/entries/000", "/feeds/events.atom", "/organizations"):
        first = request(site.front, path)
        again = request(site.front, path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status == 304 and again.body == b"", path
        assert again.headers.get("cache-control") == first.headers.get("cache-control"), path
        assert request(site.front, path, headers={"If-None-Match": '"other"'}).status == 200, path
    for path in ("/tile/entries/000", "/feeds/events.atom", "/feeds/events/archive/1.rss"):
        plain = request(site.front, path)
        packed = request(site.front, path, headers={"Accept-Encoding": "gzip"})
        assert packed.headers.get("content-encoding") == "gzip", path
        assert "Accept-Encoding" in packed.headers.get("vary", ""), path
        assert gzip.decompress(packed.body) == plain.body == request(site.app, path).body, path
        assert len(packed.body) < len(plain.body)
        conditional = request(site.front, path, headers={"Accept-Encoding": "gzip",
                                                         "If-None-Match": packed.headers["etag"]})
        assert conditional.status == 304, path
    hashes = request(site.front, "/tile/0/000", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in hashes.headers  # random hashes: not worth compressing


def test_dynamic_paths_go_to_the_application(site: Site) -> None:
    size = json.loads((site.published / STATE_FILE).read_bytes())["size"]
    for path in (f"/api/v1/log/proofs/inclusion?index=3&size={size}", f"/api/v1/receipts/3?size={size}",
                 "/api/v1/receipts/3", "/organizations?country=JP", "/log?before=20", "/api/v1/organizations",
                 "/api/v1/log/entries/5", "/healthz", "/readyz", "/tile/0/000.p/7", "/tile/entries/001.p/9"):
        front, app = request(site.front, path), request(site.app, path)
        assert front.status == app.status == 200, (path, front.status, front.body[:200])
        assert not NGINX_ETAG.fullmatch(front.headers.get("etag", "")), path  # not a file
        assert front.body == app.body or path in ("/healthz", "/readyz"), path
        # One Cache-Control: the application's, never one added by nginx besides.
        assert front.headers.get("cache-control") == app.headers.get("cache-control"), path
    assert not (site.published / "api/v1/receipts/3").exists()  # older than the newest RECENT leaves
    assert request(site.front, "/metrics").status == 200
    for hidden in (f"/{STATE_FILE}", "/.publish-lock", "/tile/.0"):
        answer = request(site.front, hidden)
        assert answer.status == 404 and b"format" not in answer.body, hidden
    assert request(site.front, "/nothing-here").status == 404
    for alias in ("/index", "/index.html", "/codes.html", "/organizations/org-001.html", "/api/v1/snapshots.json",
                  "/api/v1/index"):  # the files' names are not the site's paths
        assert request(site.front, alias).status == request(site.app, alias).status == 404, alias


def test_archived_evidence_is_served_from_files_with_the_apps_bytes_and_headers(site: Site) -> None:
    for extension, (data, media_type, shown) in DOCUMENTS.items():
        name = evidence.digest(data)
        assert (site.published / "evidence" / f"{name}.{extension}").read_bytes() == data
        path = f"/evidence/{name}"
        front, app = request(site.front, path), request(site.app, path)
        assert front.status == app.status == 200, (path, front.status, front.body[:200])
        assert NGINX_ETAG.fullmatch(front.headers.get("etag", "")), (extension, "not served from a file")
        assert front.body == app.body == data, extension
        for header in ("content-type", "content-disposition", "x-content-type-options", "content-security-policy",
                       "cache-control", "access-control-allow-origin", "referrer-policy"):
            assert front.headers.get(header) == app.headers.get(header), (extension, header, front.headers)
        # The contract's values, not just equality with the app.
        assert front.headers["content-type"] == media_type
        disposition = "inline" if shown else "attachment"
        assert front.headers["content-disposition"] == f'{disposition}; filename="{name}.{extension}"'
        assert front.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in front.headers["content-security-policy"]
        assert "default-src 'none'" in front.headers["content-security-policy"]
        assert front.headers["cache-control"] == IMMUTABLE
        again = request(site.front, path, headers={"If-None-Match": front.headers["etag"]})
        assert again.status == 304 and again.body == b"", extension
        # The file's own name is not a path of the site: the application refuses it, the file is not served.
        direct = request(site.front, f"{path}.{extension}")
        assert direct.status == request(site.app, f"{path}.{extension}").status == 400, extension
        assert data not in direct.body
    unknown = "/evidence/" + "cd" * 32
    front, app = request(site.front, unknown), request(site.app, unknown)
    assert front.status == app.status == 404 and front.body == app.body
    assert front.headers["content-type"] == "application/problem+json"
    assert front.headers.get("cache-control") == app.headers.get("cache-control")
    assert "content-disposition" not in front.headers and "sandbox" not in front.headers.get(
        "content-security-policy", "")
    for malformed in ("/evidence/" + "CD" * 32, "/evidence/" + "cd" * 31, "/evidence/", "/evidence/x/../"):
        assert request(site.front, malformed).status == request(site.app, malformed).status != 200, malformed


def test_archived_evidence_is_written_once(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "site"
    env = site.running.env()
    with Publisher(config.load(site.backend.data_dir, env), env) as publisher:
        first = publisher.publish(out)
        assert first.written["evidence"] == len(DOCUMENTS)
        before = {p: v for p, v in snapshot_files(out).items() if p.startswith("evidence/")}
        assert len(before) == len(DOCUMENTS)
        added = b"%PDF-1.7\n% a later press release\n%%EOF\n"
        archive(site.settings(), added)
        again = publisher.publish(out)  # nothing else moved: the new document alone is a reason to run
        assert again.written.get("evidence") == 1
        assert (out / "evidence" / f"{evidence.digest(added)}.pdf").read_bytes() == added
        after = snapshot_files(out)
        assert all(after[p] == before[p] for p in before)  # never rewritten
        with Publisher(config.load(site.backend.data_dir, env), env) as fresh:  # a new process checks every file
            checked = fresh.publish(out)
        assert "evidence" not in checked.written
        assert {p: v for p, v in snapshot_files(out).items() if p.startswith("evidence/")} == {
            p: v for p, v in after.items() if p.startswith("evidence/")}


def test_submissions_are_buffered_and_bounded_by_nginx(site: Site) -> None:
    too_large = request(site.front, "/api/v1/statements", "POST", b"{" + b" " * (65 * 1024) + b"}",
                        {"Content-Type": "application/json"})
    assert too_large.status == 413
    refused = request(site.front, "/api/v1/statements", "POST", b"{}", {"Content-Type": "application/json"})
    assert refused.status == 400 and refused.headers["content-type"] == "application/problem+json"
    # A body near the limit reaches the application whole (its own refusal, not nginx's).
    large = json.dumps({"payload": "x" * 60_000}).encode()
    answer = request(site.front, "/api/v1/statements", "POST", large, {"Content-Type": "application/json"})
    assert answer.headers["content-type"] == "application/problem+json" and answer.status in (400, 413), answer
    # A large dynamic answer passes through whole.
    dynamic = request(site.front, "/feeds/events.atom?fresh=1")
    assert dynamic.status == request(site.app, "/feeds/events.atom?fresh=1").status


# --- the project's checks, against nginx alone ------------------------------------------------------


def test_tlog_checks_pass_against_the_published_directory(site: Site) -> None:
    verifier = parse_verifier_key(site.log_key)
    note = request(site.front, "/checkpoint").body
    checkpoint = open_checkpoint(note, ORIGIN, verifier).checkpoint
    size = checkpoint.size

    def fetch(path: str) -> bytes:
        answer = request(site.front, f"/tile/{path}")
        assert answer.status == 200 and NGINX_ETAG.fullmatch(answer.headers["etag"]), path
        return answer.body

    read = tiles.tile_hash_reader(size, fetch)
    assert tlog.tree_hash(size, read) == checkpoint.root
    # Every leaf in the bundles hashes to the level-0 hash the tiles hold.
    leaves = [leaf for k in range(-(-size // tiles.TILE_WIDTH))
              for leaf in tiles.parse_entry_bundle(fetch(tiles.format_tile_path(
                  None, k, tiles.tile_width_for(None, k, size))))]
    assert len(leaves) == size
    assert [tlog.leaf_hash(leaf) for leaf in leaves] == read([(0, i) for i in range(size)])
    # An inclusion, from a published receipt.
    receipt = request(site.front, f"/api/v1/receipts/{size - 1}").body
    verified = verify_receipt(receipt, origin=ORIGIN, log_verifier=verifier)
    assert verified.index == size - 1 and verified.checkpoint.checkpoint.size == size


def test_consistency_across_two_publishes(site: Site) -> None:
    verifier = parse_verifier_key(site.log_key)
    old = open_checkpoint(request(site.front, "/checkpoint").body, ORIGIN, verifier).checkpoint
    site.submit_org("consistency-check")
    site.wait_published(old.size + 1)
    new = open_checkpoint(request(site.front, "/checkpoint").body, ORIGIN, verifier).checkpoint
    assert new.size > old.size
    proof = json.loads(request(site.front, f"/api/v1/log/proofs/consistency?from={old.size}&to={new.size}").body)
    import base64

    tlog.verify_consistency(old.size, new.size, old.root, new.root, [base64.b64decode(h) for h in proof["hashes"]])
    # The new checkpoint's tiles give the old root too (the partial tiles of the old size are the app's now).
    read = tiles.tile_hash_reader(new.size, lambda p: request(site.front, f"/tile/{p}").body)
    assert tlog.tree_hash(old.size, read) == old.root


def test_feeds_and_their_archive_chain_resolve_through_nginx(site: Site) -> None:
    state = site.wait_published(0)
    size = state["size"]
    subscription = feedparser.parse(request(site.front, "/feeds/events.atom").body)
    assert not subscription.bozo
    seen = {e.id for e in subscription.entries}
    url, pages = _link(subscription, "prev-archive"), 0
    while url is not None:
        assert url.startswith(site.front + "/feeds/events/archive/"), url
        answer = request(site.front, url[len(site.front):])
        assert answer.status == 200 and NGINX_ETAG.fullmatch(answer.headers["etag"]), url
        page = feedparser.parse(answer.body)
        assert not page.bozo and len(page.entries) == PAGE
        seen |= {e.id for e in page.entries}
        url, pages = _link(page, "prev-archive"), pages + 1
    assert pages == size // PAGE
    assert len(seen) >= size  # every published entry, through the chain
    for path in ("/feeds/events.rss", "/feeds/organizations/org-002.atom", "/feeds/types/organization.registered.rss",
                 "/feeds/obligations.atom", "/feeds/codes/hiroshima-coc.rss"):
        assert not feedparser.parse(request(site.front, path).body).bozo, path


def _link(parsed: Any, rel: str) -> str | None:
    return next((x["href"] for x in parsed.feed.get("links", []) if x["rel"] == rel), None)


def test_snapshots_verify_through_nginx(site: Site) -> None:
    verifier = parse_verifier_key(site.log_key)
    listing = json.loads(request(site.front, "/api/v1/snapshots").body)
    assert listing["items"]
    for item in listing["items"]:
        path = item["url"].removeprefix(site.front)
        answer = request(site.front, path)
        assert answer.headers["cache-control"] == IMMUTABLE and NGINX_ETAG.fullmatch(answer.headers["etag"])
        verified = snapshots.verify_document(answer.body, verifier)
        assert verified.note.size == item["size"]
    snapshots.verify_document(request(site.front, "/api/v1/snapshots/latest").body, verifier)


def test_a_submission_through_nginx_appears_after_the_next_publish(site: Site) -> None:
    index = site.submit_org("fresh-org")
    site.wait_published(index + 1)
    assert request(site.front, "/feeds/organizations/fresh-org.atom").status == 200
    assert b"fresh-org" in request(site.front, "/feeds/events.atom").body
    assert request(site.front, "/organizations/fresh-org").status == 200
    receipt = request(site.front, f"/api/v1/receipts/{index}")
    assert NGINX_ETAG.fullmatch(receipt.headers["etag"])
    verify_receipt(receipt.body, origin=ORIGIN, log_verifier=parse_verifier_key(site.log_key))
    logs = [json.loads(line) for line in site.running.clock_logs().splitlines() if line.startswith("{")]
    published = [r for r in logs if r.get("event") == "published"]
    assert published and published[-1]["written"] > 0 and "bytes" in published[-1] and "seconds" in published[-1]
    assert not [r for r in logs if r.get("event") == "publish_error"]


# --- incremental and atomic writing --------------------------------------------------------------


def snapshot_files(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file under ``root``."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_incremental_publishing_writes_only_what_changed(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "site"
    env = site.running.env()
    with Publisher(config.load(site.backend.data_dir, env), env) as publisher:
        first = publisher.publish(out)
        assert first.written["tile"] >= 1 and first.written["bundle"] >= 1 and first.unchanged == 0
        before = snapshot_files(out)
        again = publisher.publish(out)  # the clock's idle run: nothing changed since its own last run
        assert again.written == {} and again.deleted == 0 and again.bytes == 0
        assert snapshot_files(out) == before  # not one file touched, the state file included
        with Publisher(config.load(site.backend.data_dir, env), env) as fresh:  # a new process checks every file
            checked = fresh.publish(out)
        assert checked.written == {} and checked.deleted == 0 and checked.unchanged > 0
        assert snapshot_files(out) == before
        size = first.size
        (out / "feeds" / ".events.atom.k2j_8xQz.tmp").write_bytes(b"<feed")  # a killed run's half-written file
        for i in range(3):
            site.submit_org(f"incremental-{i}")
        site.wait_published(size + 3)
        after_report = publisher.publish(out)
    after = snapshot_files(out)
    assert after_report.size >= size + 3
    full = [p for p in before if p.startswith("tile/") and ".p/" not in p]
    assert full and all(after[p] == before[p] for p in full)  # full tiles and bundles: never rewritten
    old_partials = {p for p in before if ".p/" in p}
    new_partials = {f"tile/{p}" for p in tiles.tiles_for_size(after_report.size)}
    assert not (old_partials - new_partials) & set(after)  # superseded partials deleted
    changed = {p for p in after if before.get(p) != after[p]}
    archive = {p for p in changed if p.startswith("feeds/events/archive/")}
    assert all(int(Path(p).stem) >= size // PAGE for p in archive)  # only pages completed since
    allowed = re.compile(r"checkpoint|\.publish-state\.json|tile/.*|api/v1/receipts/\d+|log/\d+\.html|feeds/.*"
                         r"|api/v1/snapshots.*|organizations.*|codes.*|index\.html|log\.html|api/v1/index\.html"
                         r"|about\.html|verify\.html|for-organizations\.html")
    assert all(allowed.fullmatch(p) for p in changed), sorted(p for p in changed if not allowed.fullmatch(p))
    assert "static/site.css" not in changed and "favicon.ico" not in changed
    assert {f"organizations/incremental-{i}.html" for i in range(3)} <= changed
    assert not [p for p in out.rglob("*.tmp")]  # no temporary file left behind, and a killed run's swept
    assert after_report.deleted >= 1


def test_a_reader_never_sees_part_of_a_file(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "site"
    env = site.running.env()
    verifier = parse_verifier_key(site.log_key)
    failures: list[str] = []
    reads = [0]
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for name, check in (("checkpoint", lambda d: open_checkpoint(d, ORIGIN, verifier)),
                                ("feeds/events.atom", ET.fromstring),
                                (".publish-state.json", json.loads)):
                try:
                    data = (out / name).read_bytes()
                except FileNotFoundError:
                    continue
                try:
                    check(data)
                    reads[0] += 1
                except Exception as e:
                    failures.append(f"{name}: {type(e).__name__}: {e}")

    thread = threading.Thread(target=reader)
    with Publisher(config.load(site.backend.data_dir, env), env) as publisher:
        publisher.publish(out)
        thread.start()
        try:
            for i in range(3):
                index = site.submit_org(f"atomic-{i}")
                site.wait_published(index + 1)
                publisher.publish(out)
        finally:
            stop.set()
            thread.join()
    assert reads[0] > 0 and failures == []
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_the_cli_reports_what_it_wrote(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    env = {k: v for k, v in site.running.env().items() if k != "REGISTRY_PUBLISH_DIR"}
    run = subprocess.run([str(harness.BIN / "registry"), "publish", str(out), "--json", "--recent", "5"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["written"] > 0 and report["bytes"] > 0 and report["seconds"] > 0
    assert report["written_by_kind"]["receipt"] == 5
    human = subprocess.run([str(harness.BIN / "registry"), "publish", str(out), "--recent", "5"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert human.returncode == 0 and "wrote 0 files" in human.stdout, human.stdout + human.stderr


# --- the layout and the state file (no server) -----------------------------------------------------


def test_layout() -> None:
    assert file_for("/checkpoint", "text/plain; charset=utf-8") == "checkpoint"
    assert file_for("/tile/0/x001/234.p/17") == "tile/0/x001/234.p/17"
    assert file_for("/", "text/html; charset=utf-8") == "index.html"
    assert file_for("/api/v1/", "text/html; charset=utf-8") == "api/v1/index.html"
    assert file_for("/codes/hiroshima-coc", "text/html; charset=utf-8") == "codes/hiroshima-coc.html"
    assert file_for("/api/v1/snapshots", "application/json") == "api/v1/snapshots.json"
    assert file_for("/.well-known/hcoc-registry.json", "application/json") == ".well-known/hcoc-registry.json"
    for bad in ("checkpoint", "/a/../b", "/a//b", "/.publish-state.json", "/a/.hidden", "/x?y=1", "/a\\b"):
        with pytest.raises(ValueError):
            file_for(bad)


def test_state_file_example_in_formats() -> None:
    text = (ROOT / "docs" / "FORMATS.md").read_text()
    found = re.search(r"```json example=publish-state\n(.*?)```", text, re.S)
    assert found is not None
    example = found.group(1).encode()
    state = parse_state(example, "registry.example.org/hcoc")
    doc = json.loads(example)
    assert doc["format"] == FORMAT
    assert state.partial_tiles == tuple(tiles.tiles_for_size(state.size))
    assert state.recent == (state.size - 256, state.size)
    assert state.archive_pages == state.size // 500
    with pytest.raises(ConfigurationError, match="origin"):
        parse_state(example, "other.example/log")
    for broken in (b"{}", b"[]", b"not json", example.replace(b'"0/', b'"0/x'),
                   example.replace(b'"size": ', b'"size": -'), example.replace(b'"60366d', b'"60366D'),
                   example.replace(b'"archive_pages": 2', b'"archive_pages": true')):
        with pytest.raises(ConfigurationError):
            parse_state(broken, "registry.example.org/hcoc")


def test_behind_a_trusted_proxy_the_submission_limit_is_per_client(sqlite_backend: Backend) -> None:
    env = {"REGISTRY_TRUSTED_PROXIES": "1"}
    with sqlite_backend.serve(env, SUBMIT_RATE="1/minute", SUBMIT_BURST="1") as app:
        client = app.test_client()

        def post(forwarded_for: str) -> int:
            return int(client.post("/api/v1/statements", data=b"{}", headers={
                "Content-Type": "application/json", "X-Forwarded-For": forwarded_for}).status_code)

        assert post("198.51.100.1") == 400  # refused as malformed, and a token taken
        assert post("198.51.100.1") == 429
        assert post("198.51.100.2") == 400  # another client behind the same proxy has its own bucket
        # What the client itself put in the header is not believed: only the hop the proxy added counts.
        assert post("198.51.100.2, 198.51.100.1") == 429
    for bad in ("x", "-1", "6", "1.5"):
        with pytest.raises(ConfigurationError, match="REGISTRY_TRUSTED_PROXIES"):
            sqlite_backend.app({"REGISTRY_TRUSTED_PROXIES": bad})


def test_a_failed_publish_is_logged_and_never_raised_in_the_clock(sqlite_backend: Backend, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from scripts.clock import Publishing

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the published directory should be\n")
    settings = config.load(sqlite_backend.data_dir, {**sqlite_backend.env, "REGISTRY_ORIGIN": ORIGIN,
                                                     "REGISTRY_PUBLISH_DIR": str(blocked)})
    publishing = Publishing(settings)
    try:
        publishing.run()  # must not raise: the clock's signing goes on
    finally:
        publishing.stop()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    errors = [r for r in lines if r["event"] == "publish_error"]
    assert errors and errors[0]["directory"] == str(blocked) and errors[0]["level"] == "error"
    assert blocked.read_text().startswith("a file")


@pytest.mark.parametrize("value", ["-1", "1000001", "many", "٣", ""])
def test_a_bad_publish_recent_setting_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match="REGISTRY_PUBLISH_RECENT must be a whole number from 0 to 1000000"):
        config.load(tmp_path, environ={"REGISTRY_PUBLISH_RECENT": value})
    assert config.load(tmp_path, environ={"REGISTRY_PUBLISH_RECENT": "0"}).publish_recent == 0
