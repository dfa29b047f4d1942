"""Shared fixtures: real SQLite files and a real PostgreSQL server, never mocks.

Every backend-dependent test runs twice, on SQLite and on PostgreSQL. The
PostgreSQL half needs a server: ``REGISTRY_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Without one those tests are
skipped, unless ``REGISTRY_TEST_REQUIRE_POSTGRES=1`` (as in CI), when they fail.
Each PostgreSQL test gets a schema of its own, dropped afterwards.

Modules that record one story and serve it to many tests build it on
``module_backend`` with :func:`signing_world`, sign it with
:func:`sign_checkpoint` and serve it with :meth:`Backend.serve`, then define a
``served`` fixture (anything with an ``app``) that the ``client`` fixture here
reads. The browser fixtures (``demo_site``, ``browser``, ``tab``, ``phone``,
``demo_index``, ``demo_receipt``) serve the demo registry once per session to Chromium.

Tests of the rules need no store at all: :class:`Fold` (the ``fold`` fixture)
is a :class:`World` whose statements are applied to a ``RegistryState`` in
memory. ``make_item`` and ``make_page`` build feed values.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from feeds import FeedItem, FeedPage, newest_updated
from registry import compose, config, envelope, keys
from registry.application import Recorded, Registry, open_registry
from registry.errors import RegistryError
from registry.leaf import format_leaf
from registry.logstore import StoredCheckpoint
from registry.signednote import format_verifier_key
from registry.state import Applied, RegistryState
from registry.transparency import open_log
from tests import harness

PG_URL = os.environ.get("REGISTRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("REGISTRY_TEST_REQUIRE_POSTGRES") == "1"
ORIGIN = "test.example/registry"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# Names and text that try to break out of a page or its layout (the page and browser tests show them).
SCRIPT_NAME = "<script>alert(1)</script>"
BIDI_NAME = "Evil \u202eredro\u202c Corp"
LONG_NAME = "W" * 300
HOSTILE_STATEMENT = ("We endorse <script>alert(2)</script> & \"all\" of it \u202e reversed \u202c. "
                     + "L" * 400 + "\n" + "long statement text " * 228)[:5000]


def _postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


_PG_OK: bool | None = None


def postgres_ok() -> bool:
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _postgres_available()
    return _PG_OK


@dataclass
class Backend:
    """A data directory and the environment that points a registry at its store."""

    name: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def settings(self) -> config.Settings:
        return config.load(self.data_dir, environ={**self.env, "REGISTRY_ORIGIN": ORIGIN})

    def open(self) -> Registry:
        return open_registry(self.settings())

    def app(self, env: dict[str, str] | None = None, **config: Any) -> Any:
        """The web app on this store (the test's own environment, never the developer's shell)."""
        from web import create_app

        return create_app({"DATA_DIR": self.data_dir, "ENVIRON": {**self.env, "REGISTRY_ORIGIN": ORIGIN, **(env or {})},
                           **config})

    @contextmanager
    def serve(self, env: dict[str, str] | None = None, **config: Any) -> Iterator[Any]:
        """:meth:`app`, closed (its stores and threads) when the block ends."""
        from web import close_app

        app = self.app(env, **config)
        try:
            yield app
        finally:
            close_app(app)

    def subprocess_env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "REGISTRY_DATA_DIR": str(self.data_dir), "REGISTRY_ORIGIN": ORIGIN}


def _make_backend(name: str, tmp: Path) -> Iterator[Backend]:
    if name == "sqlite":
        yield Backend("sqlite", tmp, {"REGISTRY_DATABASE_URL": f"sqlite:///{tmp / 'registry.db'}"})
        return
    if not postgres_ok():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_URL}")
        pytest.skip(f"no PostgreSQL server at {PG_URL}")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Backend("postgres", tmp, {"REGISTRY_DATABASE_URL": PG_URL, "REGISTRY_POSTGRES_SCHEMA": schema})
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _make_backend(request.param, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One store per module and backend: for a story recorded once and read by many tests."""
    yield from _make_backend(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture
def second_backend(backend: Backend, tmp_path: Path) -> Iterator[Backend]:
    """Another, empty store of the same kind as ``backend``."""
    other = tmp_path / "second"
    other.mkdir()
    yield from _make_backend(backend.name, other)


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    yield from _make_backend("sqlite", tmp_path)


class Actor:
    """Someone holding a key: signs statements for the test registry."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self.key = key or keys.generate()

    @property
    def public(self) -> str:
        return keys.encode_public(self.key)

    @property
    def key_id(self) -> str:
        return keys.key_id(self.key)

    def sign(self, type_: str, origin: str = ORIGIN, **fields: Any) -> bytes:
        return envelope.sign(compose.statement(type_, origin, **fields), self.key).canonical


class MaintainerStatements:
    """What a maintainer records to set a test registry up; ``submit`` is where it goes."""

    maintainer: Actor

    def submit(self, data: bytes) -> Any:
        raise NotImplementedError

    def code(self, version: str = "2023-10-30", supersedes: str | None = None, actions: int = 11,
             slug: str = "hiroshima-coc") -> Any:
        return self.submit(self.maintainer.sign(
            "code.revision_published", code=slug, version=version, title="Hiroshima Code", issuer="G7",
            published_on="2023-10-30", source_url="https://example.org/code", text_sha256="ab" * 32,
            actions=[{"number": n, "heading": f"Action {n}"} for n in range(1, actions + 1)],
            supersedes=supersedes,
        ))

    def org(self, slug: str = "acme", *actors: Actor) -> Any:
        return self.submit(self.maintainer.sign(
            "organization.registered", org=slug, name=f"{slug.title()} Ltd", country="JP", kind="company",
            public_keys=[a.public for a in actors],
        ))


@dataclass
class World(MaintainerStatements):
    """An initialized registry (genesis and one maintainer) and the keys around it."""

    registry: Registry
    root: Actor
    maintainer: Actor

    def submit(self, data: bytes) -> Recorded:
        return self.registry.submit(data)


def make_world(registry: Registry) -> World:
    root, maintainer = Actor(), Actor()
    world = World(registry, root, maintainer)
    world.submit(root.sign("registry.genesis", name="Test registry", root_key=root.public))
    world.submit(root.sign("maintainer.key_added", public_key=maintainer.public, name="maintainer"))
    return world


@pytest.fixture
def world(backend: Backend) -> Iterator[World]:
    registry = backend.open()
    try:
        yield make_world(registry)
    finally:
        registry.close()


# --- a registry folded in memory -----------------------------------------------------------

RECORDED_AT = "2025-01-01T00:00:00Z"


def as_leaf(data: bytes, recorded_at: str = RECORDED_AT) -> bytes:
    """Signed envelope bytes as the log entry a registry records."""
    return format_leaf(envelope.parse(data), recorded_at)


class Fold(MaintainerStatements):
    """A :class:`World` with no store: genesis and one maintainer, folded leaf by leaf in a RegistryState."""

    def __init__(self) -> None:
        self.state = RegistryState()
        self.root, self.maintainer = Actor(), Actor()
        self.leaves: list[bytes] = []
        self.submit(self.root.sign("registry.genesis", name="Test registry", root_key=self.root.public))
        self.submit(self.root.sign("maintainer.key_added", public_key=self.maintainer.public, name="maintainer"))

    def submit(self, data: bytes, recorded_at: str = RECORDED_AT) -> Applied:
        """Apply (signature checked) and keep the leaf; raise the RegistryError that refuses it."""
        leaf = as_leaf(data, recorded_at)
        applied = self.state.apply(leaf, verify=True)
        self.leaves.append(leaf)
        return applied

    def refuse(self, data: bytes, error: type[RegistryError]) -> RegistryError:
        """Check that ``data`` is refused with ``error`` and leaves the state exactly as it was."""
        before = self.state.canonical()
        with pytest.raises(error) as refused:
            self.submit(data)
        assert self.state.canonical() == before
        return refused.value

    def get(self, aggregate_id: uuid.UUID) -> Any:
        return self.state.get(aggregate_id)


@pytest.fixture
def fold() -> Fold:
    return Fold()


@contextmanager
def signing_world(backend: Backend) -> Iterator[World]:
    """A log key in ``backend``'s data directory and an initialized registry on its store, closed afterwards."""
    keys.save_private(keys.generate(), backend.settings().log_key)
    registry = backend.open()
    try:
        yield make_world(registry)
    finally:
        registry.close()


def sign_checkpoint(backend: Backend, registry: Registry) -> StoredCheckpoint:
    """Integrate everything recorded and sign a checkpoint of it (the clock's job)."""
    checkpoint, _ = open_log(backend.settings(), registry, with_signer=True).publish_checkpoint()
    assert checkpoint is not None
    return checkpoint


@pytest.fixture
def client(served: Any) -> FlaskClient:
    """A test client of the app the module's ``served`` fixture serves."""
    found: FlaskClient = served.app.test_client()
    return found


# --- the researched record, and pages read as a visitor reads them ---------------------------


@dataclass(frozen=True)
class DemoRecord:
    """A registry holding the shipped record (``registry init --demo``), as it stands after a checkpoint."""

    book: Any  # registry.stances.StanceBook
    state: dict[str, Any]
    checkpoint_size: int


def load_demo(backend: Backend) -> DemoRecord:
    """The genesis records, the shipped record loaded by a maintainer, and a signed checkpoint, in ``backend``."""
    from registry import genesis, loader
    from registry.node import Node

    settings = backend.settings()
    for path in genesis.key_files(settings):
        genesis.ensure_key(path)
    node = Node(settings).open()
    try:
        maintainer = keys.load_private(settings.maintainer_key)
        genesis.record_genesis(node.registry, ORIGIN, keys.load_private(settings.root_key), maintainer)
        report = loader.load(node, loader.demo_document(), maintainer)
        assert report.count("loaded") == 148 and report.conflicts == []
        checkpoint = sign_checkpoint(backend, node.registry)
        node.integrate()
        return DemoRecord(node.views.stances(), node.views.current().doc, checkpoint.size)
    finally:
        node.close()


def page(client: FlaskClient, path: str, status: int = 200) -> Any:
    """The HTML page at ``path`` (answered with ``status``), parsed."""
    import lxml.html

    response = client.get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:2000])
    assert response.mimetype == "text/html"
    return lxml.html.fromstring(response.get_data(as_text=True))


def words(element: Any) -> str:
    """An element's text as a reader sees it: whitespace folded."""
    return " ".join(element.text_content().split())


# --- the demo registry in Chromium --------------------------------------------------------

BROWSER_ORIGIN = "browser.test/hcoc"
PROOF_HOST = "keys." + "x" * 60 + ".hostile.example"
PROOF_PATH = "/.well-known/hcoc-registry-keys"


def _record_hostile(data: Path, env: dict[str, str]) -> None:
    """An organization whose name and statement try to break out of the page, or its layout."""
    settings = config.load(data, env)
    maintainer = keys.load_private(settings.maintainer_key)
    old, new = keys.generate(), keys.generate()
    registry = open_registry(settings)
    try:
        for stmt in (
            compose.statement("organization.registered", BROWSER_ORIGIN, org="hostile", country="DE",
                              kind="company", name=SCRIPT_NAME + BIDI_NAME + LONG_NAME[:200],
                              public_keys=[keys.encode_public(old)]),
            # The new key with its proof, at a host long enough to wrap on a phone.
            compose.statement("organization.key_added", BROWSER_ORIGIN, org="hostile",
                              public_key=keys.encode_public(new),
                              key_proofs=[{"key_id": keys.key_id(new), "url": f"https://{PROOF_HOST}{PROOF_PATH}",
                                           "fetched_at": "2025-01-01T00:00:00Z", "sha256": "5a" * 32}]),
            compose.statement("organization.key_revoked", BROWSER_ORIGIN, org="hostile", key_id=keys.key_id(old),
                              reason=SCRIPT_NAME + " rotated"),
            compose.statement("endorsement.made", BROWSER_ORIGIN, org="hostile", code="hiroshima-coc",
                              version="2023-10-30", scope=[1, 2, 11], statement=HOSTILE_STATEMENT,
                              effective_date="2025-01-01",
                              evidence=[{"url": "https://example.org/" + "x" * 300, "title": SCRIPT_NAME}]),
        ):
            registry.submit(envelope.sign(stmt, maintainer).canonical)
    finally:
        registry.close()


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Site]:
    """``registry init --demo``, a hostile organization, ``registry checkpoint``; served by gunicorn (read only)."""
    harness.require_chromium()
    data = tmp_path_factory.mktemp("browser-registry")
    port = harness.free_port()
    env = {**os.environ, "REGISTRY_DATA_DIR": str(data), "REGISTRY_DATABASE_URL": f"sqlite:///{data / 'registry.db'}",
           "REGISTRY_ORIGIN": BROWSER_ORIGIN, "REGISTRY_BASE_URL": f"http://127.0.0.1:{port}"}
    harness.run_registry(env, "init", "--origin", BROWSER_ORIGIN, "--demo")
    _record_hostile(data, env)
    harness.run_registry(env, "checkpoint")
    log_public = keys.load_public_file(keys.public_path(data / "keys" / "log.key"))
    maintainer = (data / "keys" / "maintainer.key.pub").read_text("ascii").strip()
    with harness.gunicorn(env, port) as base:
        yield harness.Site(base, data, format_verifier_key(BROWSER_ORIGIN, log_public), maintainer)


@pytest.fixture(scope="session")
def browser(demo_site: harness.Site) -> Iterator[Any]:
    with harness.chromium() as found:
        yield found


@pytest.fixture
def tab(browser: Any) -> Iterator[harness.Tab]:
    with harness.open_tab(browser, {"width": 1280, "height": 900}) as found:
        yield found


@pytest.fixture
def phone(browser: Any) -> Iterator[harness.Tab]:
    with harness.open_tab(browser, {"width": 390, "height": 844}) as found:
        yield found


@pytest.fixture(scope="session")
def demo_index(demo_site: harness.Site) -> int:
    """The log index of xAI's endorsement of chapter 3 of the EU GPAI Code (attested, secondary sources)."""
    size = int(demo_site.get("/checkpoint").decode().split("\n")[1])
    for index in range(size):
        leaf = json.loads(demo_site.get(f"/api/v1/log/entries/{index}"))
        statement = json.loads(base64.b64decode(leaf["envelope"]["payload"]))
        if statement["type"] == "endorsement.made" and (statement["org"], statement["code"]) == ("xai", "eu-gpai-cop"):
            return index
    raise AssertionError("the demo data has no endorsement of eu-gpai-cop by xai")


@pytest.fixture(scope="session")
def demo_receipt(demo_site: harness.Site, demo_index: int) -> str:
    """The receipt of xAI's demo endorsement of the EU GPAI Code, as the site serves it."""
    return demo_site.get(f"/api/v1/receipts/{demo_index}").decode("utf-8")


# --- feed values ---------------------------------------------------------------------------

FEED_BASE = "https://registry.example"
FEED_TIME = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
FEED_HOSTILE = (
    '<script>alert("x")</script> ]]> <![CDATA[ & &amp; \'single\' "double" '
    "\u202eevil\u202c \u2028line\u2029para 😀 <!-- c --> <b onmouseover=x>"
)
FEED_CHECKPOINT = f"registry.example/log\n3\n{'A' * 43}=\n\n— registry.example/log sig=\n"


def canonical_text(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_item(index: int, /, **changes: Any) -> FeedItem:
    """Leaf ``index`` as a feed item: acme's endorsement, a minute after the one before, with hostile content."""
    content = canonical_text({"index": index, "note": FEED_HOSTILE, "org": "acme", "type": "endorsement.created"})
    item = FeedItem(
        index=index,
        entry_id=f"tag:registry.example,2025:event/{index}",
        type="endorsement.created",
        title=f"Acme Ltd endorsed hiroshima-coc 2023-10-30 (#{index})",
        summary=f"Acme Ltd endorsed the Code; leaf {index}.",
        recorded_at=FEED_TIME + timedelta(minutes=index),
        content=content,
        event_hash="sha256:" + hashlib.sha256(content.encode()).hexdigest(),
        page_url=f"{FEED_BASE}/log/{index}",
        json_url=f"{FEED_BASE}/api/v1/log/{index}",
        proof_url=f"{FEED_BASE}/api/v1/log/{index}/proof",
        receipt_url=f"{FEED_BASE}/api/v1/log/{index}/receipt",
        org="acme",
        org_name="Acme Ltd",
        org_url=f"{FEED_BASE}/organizations/acme",
        code="hiroshima-coc",
        code_version="2023-10-30",
        attested=index % 2 == 1,
    )
    if "content" in changes and "event_hash" not in changes:
        changes["event_hash"] = "sha256:" + hashlib.sha256(changes["content"].encode()).hexdigest()
    return dataclasses.replace(item, **changes)


def make_page(items: tuple[FeedItem, ...], **changes: Any) -> FeedPage:
    """The subscription document of every event holding ``items``, carrying a checkpoint."""
    page = FeedPage(
        feed_id="tag:registry.example,2025:feed/events",
        title="All registry events",
        subtitle="Every accepted signed statement, newest first",
        self_url=f"{FEED_BASE}/feeds/events.atom",
        alternate_url=f"{FEED_BASE}/log",
        updated=newest_updated(items),
        items=items,
        archive=False,
        prev_archive_url=None,
        next_archive_url=None,
        current_url=None,
        checkpoint=FEED_CHECKPOINT,
        describedby_url=f"{FEED_BASE}/verify",
    )
    return dataclasses.replace(page, **changes)
