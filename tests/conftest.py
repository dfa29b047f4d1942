"""Shared fixtures: real SQLite files and a real PostgreSQL server, never mocks.

Every backend-dependent test runs twice, on SQLite and on PostgreSQL. The
PostgreSQL half needs a server: ``REGISTRY_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Without one those tests are
skipped, unless ``REGISTRY_TEST_REQUIRE_POSTGRES=1`` (as in CI), when they fail.
Each PostgreSQL test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import compose, config, envelope, keys
from registry.application import Recorded, Registry, open_registry

PG_URL = os.environ.get("REGISTRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("REGISTRY_TEST_REQUIRE_POSTGRES") == "1"
ORIGIN = "test.example/registry"


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _make_backend(request.param, tmp_path)


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


@dataclass
class World:
    """An initialized registry (genesis and one maintainer) and the keys around it."""

    registry: Registry
    root: Actor
    maintainer: Actor

    def submit(self, data: bytes) -> Recorded:
        return self.registry.submit(data)

    def code(self, version: str = "2023-10-30", supersedes: str | None = None, actions: int = 11,
             slug: str = "hiroshima-coc") -> Recorded:
        return self.submit(self.maintainer.sign(
            "code.revision_published", code=slug, version=version, title="Hiroshima Code", issuer="G7",
            published_on="2023-10-30", source_url="https://example.org/code", text_sha256="ab" * 32,
            actions=[{"number": n, "heading": f"Action {n}"} for n in range(1, actions + 1)],
            supersedes=supersedes,
        ))

    def org(self, slug: str = "acme", *actors: Actor) -> Recorded:
        return self.submit(self.maintainer.sign(
            "organization.registered", org=slug, name=f"{slug.title()} Ltd", country="JP", kind="company",
            public_keys=[a.public for a in actors],
        ))


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
