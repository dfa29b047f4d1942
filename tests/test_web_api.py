"""The JSON API and the submission endpoint (web.api, web.openapi, web.ratelimit), as a client sees them.

On SQLite and on PostgreSQL: a registry with two Codes, organizations of
every kind and country, endorsements self-signed and attested, withdrawn,
declined, amended and reaffirmed, a key rotation and a report, then a signed
checkpoint. The OpenAPI document is walked: every documented GET is called
and its answer validated against the documented schema, and every route
under /api/v1 must be documented. Filters and cursors are checked against a
brute-force reading of the state; every page walk must see each item once.
Submissions run on a small world of their own, since they change the log.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry import compose, envelope
from registry.publish import publish_snapshot
from registry.state import fold
from registry.transparency import open_log
from registry.views import open_read_models
from tests.conftest import ORIGIN, Actor, Backend, World, make_world, signing_world
from web import ratelimit
from web.api import encode_cursor

PROBLEM = "application/problem+json"
HOSTILE = '<script>alert(1)</script> "quoted" \u202eevil'
HIROSHIMA, SEOUL = "hiroshima-coc", "seoul-commitments"
V1, V2, SEOUL_V = "2023-10-30", "2025-01-15", "2024-05-21"
ORGS = [  # slug, country, kind; "a", "a-b", "a0" sort differently as strings and as (org, code) tuples
    ("a", "JP", "company"), ("a-b", "US", "academia"), ("a0", "GB", "civil-society"), ("acme", "JP", "company"),
    ("beta", "US", "company"), ("gamma", "FR", "public-sector"), ("delta", "DE", "academia"),
    ("epsilon", "JP", "civil-society"), ("zeta", "CA", "company"), ("eta", "US", "public-sector"),
    ("hostile", "JP", "company"), ("theta", "GB", "company"), ("iota", "JP", "academia"),
    ("kappa", "KR", "company"), ("lambda", "US", "company"),
]


# --- the world -------------------------------------------------------------------------------


@dataclass
class Served:
    app: Flask
    backend: Backend
    size: int
    checkpoint_size: int
    revoked_key: str

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def registry_leaves(self, n: int) -> list[bytes]:
        return list(self.app.extensions["node"].registry.leaves(0, n))


def publish_code(world: World, slug: str, version: str, actions: int, supersedes: str | None = None) -> None:
    world.submit(world.maintainer.sign(
        "code.revision_published", code=slug, version=version, title=f"{slug} {version}", issuer="G7",
        published_on=version, source_url="https://example.org/code", actions=[
            {"number": n, "heading": f"Action {n}"} for n in range(1, actions + 1)], supersedes=supersedes))


def populate(world: World) -> str:
    """The story above; returns the key id acme revoked."""
    m = world.maintainer
    evidence = [{"url": "https://news.example/source"}]
    publish_code(world, HIROSHIMA, V1, 11)
    publish_code(world, SEOUL, SEOUL_V, 8)
    actors: dict[str, Actor] = {}
    for slug, country, kind in ORGS:
        actors[slug] = Actor()
        name = HOSTILE if slug == "hostile" else f"{slug.title()} Ltd"
        world.submit(m.sign("organization.registered", org=slug, name=name, country=country, kind=kind,
                            public_keys=[actors[slug].public]))
    for i, (slug, _, _) in enumerate(ORGS):
        me = actors[slug]
        common = {"org": slug, "code": HIROSHIMA, "effective_date": "2024-02-01"}
        if i % 5 == 0:
            world.submit(me.sign("endorsement.made", version=V1, scope="all", **common))
        elif i % 5 == 1:
            world.submit(me.sign("endorsement.made", version=V1, scope=[1, 2, 3], statement=HOSTILE, **common))
        elif i % 5 == 2:
            world.submit(m.sign("endorsement.made", version=V1, scope=[2, 5], evidence=evidence, **common))
            world.submit(m.sign("endorsement.withdrawn", reason="Stopped.", evidence=evidence,
                                **{**common, "effective_date": "2024-06-01"}))
        elif i % 5 == 3:
            world.submit(m.sign("endorsement.declined", version=V1, evidence=evidence, **common))
        if i % 3 == 0:
            world.submit(me.sign("endorsement.made", org=slug, code=SEOUL, version=SEOUL_V, scope=[4],
                                 effective_date="2024-05-22"))
    publish_code(world, HIROSHIMA, V2, 12, supersedes=V1)
    world.submit(actors["a"].sign("endorsement.reaffirmed", org="a", code=HIROSHIMA, version=V2,
                                  effective_date="2025-02-01"))
    world.submit(actors["a-b"].sign("endorsement.amended", org="a-b", code=HIROSHIMA, scope=[1, 2, 3, 7],
                                    effective_date="2025-03-01"))
    # acme rotates its key and publishes a report
    new = Actor()
    world.submit(actors["acme"].sign("organization.key_added", org="acme", public_key=new.public))
    world.submit(new.sign("organization.key_revoked", org="acme", key_id=actors["acme"].key_id, reason="rotated"))
    world.submit(new.sign("report.published", org="acme", code=HIROSHIMA, framework="oecd-haip", period="2025",
                          url="https://acme.example/report.pdf"))
    return actors["acme"].key_id


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    with signing_world(module_backend) as world:
        revoked = populate(world)
        clock = open_log(module_backend.settings(), world.registry, with_signer=True)
        checkpoint, _ = clock.publish_checkpoint()
        assert checkpoint is not None
        views = open_read_models(module_backend.settings(), world.registry)
        snapshot, _ = publish_snapshot(clock)
        assert snapshot is not None and snapshot.size == checkpoint.size
        views.store.datastore.close()
        with module_backend.serve(FEED_PAGE_SIZE=10) as app:  # so that archive page 0 exists
            yield Served(app, module_backend, world.registry.size(), checkpoint.size, revoked)


@pytest.fixture(scope="module")
def state(served: Served) -> dict[str, Any]:
    found: dict[str, Any] = served.client().get("/api/v1/state").get_json()
    return found


@pytest.fixture(scope="module")
def openapi(served: Served) -> dict[str, Any]:
    found: dict[str, Any] = served.client().get("/api/v1/openapi.json").get_json()
    return found


def assert_problem(response: TestResponse, status: int, mentions: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = json.loads(response.data)
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["type"].startswith("https://hcoc-registry.org/problems/")
    if mentions is not None:
        assert repr(mentions) in body["detail"] or mentions in body["detail"], body["detail"]
    return body


# --- schema validation -------------------------------------------------------------------------


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Callable[[Any], None]:
    """A Draft 2020-12 validator for ``schema``, resolving ``#/components/...`` in ``doc``."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"], **schema}
    try:
        import jsonschema_rs  # what schemathesis 4 ships

        return jsonschema_rs.Draft202012Validator(root).validate
    except ImportError:  # schemathesis 3 ships the pure-Python jsonschema
        import jsonschema

        return jsonschema.Draft202012Validator(root).validate  # type: ignore[no-any-return]


def check_against(doc: dict[str, Any], operation: dict[str, Any], response: TestResponse) -> None:
    """The response's status is documented and its body matches the documented schema for its media type."""
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"status {response.status_code} is not documented"
    if response.status_code == 304 or "content" not in documented:
        return
    media = {m.split(";")[0]: spec for m, spec in documented["content"].items()}
    assert response.mimetype in media, f"{response.mimetype} is not documented ({list(media)})"
    if response.mimetype.endswith("json"):
        validator(doc, media[response.mimetype]["schema"])(json.loads(response.data))


def path_values(served: Served) -> dict[str, str]:
    return {"slug": "acme", "version": V1, "index": "0", "size": str(served.checkpoint_size), "k": "0",
            "type": "endorsement.withdrawn", "level": "0", "i0": "000", "width": str(served.checkpoint_size)}


def fill(path: str, values: dict[str, str]) -> str:
    path = path.replace("/codes/{slug}", f"/codes/{HIROSHIMA}")
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)


# --- the OpenAPI document ---------------------------------------------------------------------


def test_openapi_document_is_openapi_31(openapi: dict[str, Any]) -> None:
    # The OpenAPI 3.1 meta-schema as schemathesis ships it (not a public API: skip if it moves).
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    meta = getattr(definitions, "OPENAPI_31", None)
    if meta is None:
        pytest.skip("schemathesis no longer ships the OpenAPI 3.1 meta-schema here")
    validator({"components": {}}, meta)(openapi)
    assert openapi["openapi"] == "3.1.0"
    assert openapi["servers"] == [{"url": "http://127.0.0.1:8000"}]


def test_every_api_route_is_documented(served: Served, openapi: dict[str, Any]) -> None:
    missing = []
    for rule in served.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() not in openapi["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, f"routes not in web/openapi.py: {missing}"


def test_every_documented_get_answers_as_documented(client: FlaskClient, served: Served,
                                                    openapi: dict[str, Any]) -> None:
    values = path_values(served)
    overrides = {"size": str(served.checkpoint_size), "to": str(served.checkpoint_size)}
    called, operations = 0, 0
    for path, item in openapi["paths"].items():
        operation = item.get("get")
        # One shape of tile path stands for all (a log this small has only its first, partial tiles; every
        # shape is matched in tests/test_openapi_paths.py), and no document is archived here (tests/test_evidence.py).
        if operation is None or (path.startswith("/tile/") and not path.endswith("/{i0}.p/{width}")) \
                or path.startswith("/evidence/"):
            continue
        operations += 1
        url = fill(path, values)
        # once with the required parameters only, once with every parameter's example
        required = {p["name"]: overrides.get(p["name"], str(p["example"])) for p in operation["parameters"]
                    if p["in"] == "query" and p["required"]}
        every = {p["name"]: overrides.get(p["name"], str(p["example"])) for p in operation["parameters"]
                 if p["in"] == "query" and "example" in p}
        for query in (required, every):
            response = client.get(url, query_string=query)
            assert response.status_code == 200, (url, query, response.get_data(as_text=True)[:300])
            check_against(openapi, operation, response)
            called += 1
    assert called == 2 * operations and operations >= 29


@pytest.mark.parametrize("url", [
    "/api/v1/organizations/nobody", "/api/v1/codes/nothing", f"/api/v1/codes/{HIROSHIMA}/1999-01-01",
    "/api/v1/state/999999", "/api/v1/organizations?limit=0", "/api/v1/events?type=nonsense",
])
def test_errors_are_documented_problems(client: FlaskClient, openapi: dict[str, Any], url: str) -> None:
    response = client.get(url)
    assert response.status_code in (400, 404)
    template = {"/api/v1/organizations/nobody": "/api/v1/organizations/{slug}",
                "/api/v1/codes/nothing": "/api/v1/codes/{slug}",
                f"/api/v1/codes/{HIROSHIMA}/1999-01-01": "/api/v1/codes/{slug}/{version}",
                "/api/v1/state/999999": "/api/v1/state/{size}"}.get(url, url.split("?")[0])
    check_against(openapi, openapi["paths"][template]["get"], response)
    assert response.headers["Cache-Control"] == "no-store"


# --- filters and pagination ---------------------------------------------------------------------


def walk(client: FlaskClient, url: str, query: dict[str, Any], key: Callable[[dict[str, Any]], Any],
         cursor: str = "cursor") -> list[Any]:
    """Every item of a paginated list, following ``next``; fails on a repeated item."""
    seen: list[Any] = []
    query = dict(query)
    for _ in range(1000):
        response = client.get(url, query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        body = response.get_json()
        seen.extend(key(i) for i in body["items"])
        assert len(body["items"]) <= int(query.get("limit", 50))
        if body["next"] is None:
            break
        assert len(body["items"]) == int(query.get("limit", 50)), "a page before the last must be full"
        query[cursor] = body["next"]
    assert len(seen) == len(set(seen)), "an item was served twice"
    return seen


def org_status(state: dict[str, Any], org: str, code: str | None) -> str:
    statuses = {e["status"] for e in state["endorsements"] if e["org"] == org and code in (None, e["code"])}
    for status, shown in (("active", "endorsing"), ("withdrawn", "withdrawn"), ("declined", "declined")):
        if status in statuses:
            return shown
    return "none"


@pytest.mark.parametrize("query", [
    {}, {"country": "JP"}, {"kind": "company"}, {"status": "endorsing"}, {"status": "withdrawn"},
    {"status": "declined"}, {"status": "none"}, {"code": SEOUL}, {"code": HIROSHIMA, "status": "none"},
    {"country": "US", "kind": "company", "status": "endorsing", "code": HIROSHIMA}, {"country": "AQ"},
])
@pytest.mark.parametrize("limit", [1, 4, 200])
def test_organization_filters_and_pages(client: FlaskClient, state: dict[str, Any], query: dict[str, str],
                                        limit: int) -> None:
    got = walk(client, "/api/v1/organizations", {**query, "limit": limit}, lambda o: o["org"])
    code = query.get("code")
    expected = [o["org"] for o in state["organizations"]
                if query.get("country", o["country"]) == o["country"] and query.get("kind", o["kind"]) == o["kind"]
                and (code is None or "status" in query
                     or any(e["org"] == o["org"] and e["code"] == code for e in state["endorsements"]))
                and query.get("status", org_status(state, o["org"], code)) == org_status(state, o["org"], code)]
    assert got == expected


def covers(scope: Any, action: int) -> bool:
    return scope == "all" or (isinstance(scope, list) and action in scope)


@pytest.mark.parametrize("query", [
    {}, {"code": SEOUL}, {"code": HIROSHIMA, "version": V2}, {"version": V1}, {"status": "active"},
    {"status": "withdrawn"}, {"status": "declined"}, {"action": 5}, {"action": 7, "code": HIROSHIMA},
    {"country": "JP", "kind": "company"}, {"kind": "academia", "status": "active", "action": 1},
])
def test_endorsement_filters_and_pages(client: FlaskClient, state: dict[str, Any], query: dict[str, Any]) -> None:
    got = walk(client, "/api/v1/endorsements", {**query, "limit": 2}, lambda e: (e["org"], e["code"]))
    orgs = {o["org"]: o for o in state["organizations"]}
    expected = [(e["org"], e["code"]) for e in state["endorsements"]
                if query.get("code", e["code"]) == e["code"] and query.get("version", e["version"]) == e["version"]
                and query.get("status", e["status"]) == e["status"]
                and ("action" not in query or covers(e["scope"], query["action"]))
                and query.get("country", orgs[e["org"]]["country"]) == orgs[e["org"]]["country"]
                and query.get("kind", orgs[e["org"]]["kind"]) == orgs[e["org"]]["kind"]]
    assert got == expected and got


def test_endorsement_items_name_their_organization(client: FlaskClient) -> None:
    items = client.get("/api/v1/endorsements", query_string={"status": "active", "limit": 200}).get_json()["items"]
    hostile = next(e for e in items if e["org"] == "hostile")
    assert hostile["name"] == HOSTILE and hostile["country"] == "JP" and hostile["kind"] == "company"
    assert {e["status"] for e in items} == {"active"}


def test_codes_list_and_versions(client: FlaskClient, state: dict[str, Any]) -> None:
    assert walk(client, "/api/v1/codes", {"limit": 1}, lambda c: c["code"]) == [HIROSHIMA, SEOUL]
    code = client.get(f"/api/v1/codes/{HIROSHIMA}").get_json()
    assert code["latest_version"] == V2 and [v["version"] for v in code["versions"]] == [V1, V2]
    assert code["feeds"]["atom"].endswith(f"/feeds/codes/{HIROSHIMA}.atom")
    old = client.get(f"/api/v1/codes/{HIROSHIMA}/{V1}").get_json()
    assert old["latest"] is False and old["superseded_by"] == V2 and len(old["actions"]) == 11
    active_v1 = [e for e in state["endorsements"] if e["code"] == HIROSHIMA and e["version"] == V1
                 and e["status"] == "active"]
    for action in old["actions"]:
        assert action["endorsed_by"] == sum(covers(e["scope"], action["number"]) for e in active_v1)
    new = client.get(f"/api/v1/codes/{HIROSHIMA}/{V2}").get_json()
    assert new["latest"] is True and new["superseded_by"] is None and len(new["actions"]) == 12
    assert new["endorsements"] == {"active": 1, "withdrawn": 0, "declined": 0}


def test_events_pages_both_ways_and_filters(client: FlaskClient, served: Served) -> None:
    n = served.size
    ascending = walk(client, "/api/v1/events", {"limit": 7}, lambda e: e["index"], cursor="after")
    assert ascending == list(range(n))
    descending = walk(client, "/api/v1/events", {"limit": 6, "order": "desc"}, lambda e: e["index"], cursor="before")
    assert descending == list(reversed(range(n)))
    everything = client.get("/api/v1/events", query_string={"limit": 200}).get_json()["items"]
    for query, wanted in [
        ({"org": "acme"}, lambda e: e["org"] == "acme"),
        ({"code": SEOUL}, lambda e: e["code"] == SEOUL),
        ({"type": "endorsement.withdrawn,endorsement.declined"},
         lambda e: e["type"] in ("endorsement.withdrawn", "endorsement.declined")),
        ({"org": "acme", "type": "organization.key_added"}, lambda e: e["org"] == "acme"
         and e["type"] == "organization.key_added"),
    ]:
        got = walk(client, "/api/v1/events", {**query, "limit": 3}, lambda e: e["index"], cursor="after")
        assert got == [e["index"] for e in everything if wanted(e)] and got
    window = client.get("/api/v1/events", query_string={"after": 3, "before": 9}).get_json()
    assert [e["index"] for e in window["items"]] == list(range(4, 9)) and window["next"] is None


def test_organization_profile(client: FlaskClient, served: Served) -> None:
    acme = client.get("/api/v1/organizations/acme").get_json()
    assert acme["name"] == "Acme Ltd" and acme["country"] == "JP" and acme["status"] == "endorsing"
    by_id = {k["key_id"]: k for k in acme["keys"]}
    old = by_id[served.revoked_key]
    assert old["active"] is False and old["valid_until_index"] == old["revoked_index"] is not None
    assert old["revoked_reason"] == "rotated"
    [new] = [k for k in acme["keys"] if k["active"]]
    assert new["valid_from_index"] == new["added_index"] and new["valid_until_index"] is None
    assert [r["framework"] for r in acme["reports"]] == ["oecd-haip"] and acme["report_count"] == 1
    assert {e["code"] for e in acme["endorsements"]} == {HIROSHIMA, SEOUL}
    pages, query = [], {"limit": 2}
    while True:
        body = client.get("/api/v1/organizations/acme", query_string=query).get_json()
        pages.extend(e["index"] for e in body["timeline"]["items"])
        if body["timeline"]["next"] is None:
            break
        query = {"limit": 2, "after": body["timeline"]["next"]}
    events = client.get("/api/v1/events", query_string={"org": "acme", "limit": 200}).get_json()["items"]
    assert pages == [e["index"] for e in events] and len(pages) >= 5
    assert acme["feeds"]["rss"].endswith("/feeds/organizations/acme.rss")


def test_state_and_state_at_a_size(client: FlaskClient, served: Served) -> None:
    response = client.get("/api/v1/state")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = json.loads(response.data)
    assert doc["size"] == served.size and doc["origin"] == ORIGIN
    assert response.headers["ETag"].strip('"') == hashlib.sha256(response.data).hexdigest()
    assert client.get("/api/v1/state", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    registry = served.backend.open()
    try:
        leaves = list(registry.leaves(0, 10))
    finally:
        registry.close()
    at = client.get("/api/v1/state/10")
    assert at.data == fold(leaves).canonical()
    assert at.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/api/v1/state/{served.size}").data == response.data
    assert_problem(client.get(f"/api/v1/state/{served.size + 1}"), 404)
    assert client.get("/api/v1/state/01").status_code == 404  # not a canonical index: no route


def test_monthly_stats(client: FlaskClient, served: Served) -> None:
    body = client.get("/api/v1/stats/monthly").get_json()
    assert sum(m["total"] for m in body["months"]) == served.size
    assert all(m["total"] == sum(m["by_type"].values()) for m in body["months"])
    active = client.get("/api/v1/endorsements", query_string={"status": "active", "limit": 200}).get_json()
    # every endorsement was made after the last withdrawal or never withdrawn: the counts agree
    assert body["months"][-1]["endorsing_at_end"] == len(active["items"])
    assert "endorsement.made" in body["types"]


@pytest.mark.parametrize(("url", "parameter"), [
    ("/api/v1/organizations?colour=blue", "colour"),
    ("/api/v1/organizations?status=endorsed", "status"),
    ("/api/v1/organizations?kind=Company", "kind"),
    ("/api/v1/organizations?country=XK", "country"),
    ("/api/v1/organizations?code=nope", "code"),
    ("/api/v1/organizations?limit=201", "limit"),
    ("/api/v1/organizations?limit=abc", "limit"),
    ("/api/v1/organizations?limit=1&limit=2", "limit"),
    ("/api/v1/organizations?cursor=%%%", "cursor"),
    (f"/api/v1/organizations?cursor={encode_cursor('endorsement', ('acme', HIROSHIMA))}", "cursor"),  # another list's
    ("/api/v1/endorsements?action=0", "action"),
    ("/api/v1/endorsements?action=1.5", "action"),
    ("/api/v1/endorsements?version=9999-01-01", "version"),
    (f"/api/v1/endorsements?code={SEOUL}&version={V1}", "version"),
    ("/api/v1/endorsements?status=endorsing", "status"),
    ("/api/v1/events?after=-1", "after"),
    ("/api/v1/events?order=sideways", "order"),
    ("/api/v1/events?org=nobody", "org"),
    ("/api/v1/events?type=endorsement.made,", "type"),
    ("/api/v1/codes?cursor=Y29kZTo", "cursor"),
    ("/api/v1/state?x=1", "x"),
    ("/api/v1/organizations/acme?cursor=x", "cursor"),
])
def test_strict_parameters(client: FlaskClient, url: str, parameter: str) -> None:
    body = assert_problem(client.get(url), 400)
    assert f"'{parameter}'" in body["detail"], body["detail"]


def test_reads_are_cors_open_json(client: FlaskClient) -> None:
    for url in ("/api/v1/organizations", "/api/v1/events", "/api/v1/openapi.json"):
        response = client.get(url)
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.mimetype == "application/json"


# --- submission -------------------------------------------------------------------------------


@dataclass
class Desk:
    """A small registry behind an app, for tests that submit."""

    app: Flask
    world: World
    acme: Actor

    def sizes(self) -> tuple[int, int]:
        registry = self.world.registry
        return registry.size(), registry.recorder.max_notification_id() or 0

    def endorsement(self, **changes: Any) -> bytes:
        return self.acme.sign("endorsement.made", **{"org": "acme", "code": HIROSHIMA, "version": V1,
                                                     "scope": "all", "effective_date": "2024-02-01", **changes})


@contextlib.contextmanager
def desk_for(backend: Backend, **config: Any) -> Iterator[Desk]:
    registry = backend.open()
    try:
        world = make_world(registry)
        acme = Actor()
        publish_code(world, HIROSHIMA, V1, 11)
        world.org("acme", acme)
        with backend.serve(**config) as app:
            yield Desk(app, world, acme)
    finally:
        registry.close()


@pytest.fixture
def desk(backend: Backend) -> Iterator[Desk]:
    with desk_for(backend, SUBMIT_RATE="1000/minute") as found:
        yield found


def post(client: FlaskClient, data: bytes, content_type: str = "application/json") -> TestResponse:
    return client.post("/api/v1/statements", data=data, content_type=content_type)


def test_submission_records_then_answers_duplicates(desk: Desk) -> None:
    client = desk.app.test_client()
    openapi = client.get("/api/v1/openapi.json").get_json()
    operation = openapi["paths"]["/api/v1/statements"]["post"]
    size, _ = desk.sizes()
    data = desk.endorsement(statement=HOSTILE)
    first = post(client, data)
    assert first.status_code == 201, first.get_data(as_text=True)
    check_against(openapi, operation, first)
    body = first.get_json()
    assert body["index"] == size and body["type"] == "endorsement.made" and body["duplicate"] is False
    assert body["envelope_hash"] == envelope.parse(data).hash
    assert first.headers["Location"] == body["entry_url"] == f"http://127.0.0.1:8000/api/v1/log/entries/{size}"
    assert body["receipt_url"] == f"http://127.0.0.1:8000/api/v1/receipts/{size}"
    # integrated at once: the leaf, the event and the state already show it
    assert client.get(f"/api/v1/log/entries/{size}").status_code == 200
    events = client.get("/api/v1/events", query_string={"after": size - 1}).get_json()["items"]
    assert [e["index"] for e in events] == [size] and events[0]["statement"]["statement"] == HOSTILE
    assert client.get("/api/v1/organizations/acme").get_json()["status"] == "endorsing"
    # the same envelope again: 200, the same record, nothing new stored
    sizes = desk.sizes()
    again = post(client, data, "application/vnd.hcoc-registry.envelope+json")
    assert again.status_code == 200
    check_against(openapi, operation, again)
    assert again.get_json() == {**body, "duplicate": True}
    assert desk.sizes() == sizes


def test_an_early_receipt_says_when_to_ask_again(desk: Desk) -> None:
    client = desk.app.test_client()
    openapi = client.get("/api/v1/openapi.json").get_json()
    receipts = openapi["paths"]["/api/v1/receipts/{index}"]["get"]
    # no clock runs here: the new entry is in the log, and no checkpoint covers it
    first = post(client, desk.endorsement())
    assert first.status_code == 201
    index = first.get_json()["index"]
    assert first.get_json()["checkpoint_expected_within_seconds"] == 0.5  # REGISTRY_CLOCK_INTERVAL's default
    early = client.get(f"/api/v1/receipts/{index}")
    body = assert_problem(early, 404)
    assert body["type"] == "https://hcoc-registry.org/problems/not-yet-covered"
    assert early.headers["Retry-After"] == "1" and early.headers["Cache-Control"] == "no-store"
    check_against(openapi, receipts, early)
    # beyond the log, or against a checkpoint that was never published: not found, and no use asking again
    for url in (f"/api/v1/receipts/{index + 1}", f"/api/v1/receipts/{index}?size={index + 1}"):
        missing = client.get(url)
        body = assert_problem(missing, 404)
        assert body["type"] == "https://hcoc-registry.org/problems/not-found"
        assert "Retry-After" not in missing.headers
        check_against(openapi, receipts, missing)


def test_discovery_says_where_to_submit_and_what_to_expect(served: Served) -> None:
    doc = served.client().get("/.well-known/hcoc-registry.json").get_json()
    base = doc["base_url"]
    assert doc["statements"] == f"{base}/api/v1/statements"
    assert doc["receipts"] == f"{base}/api/v1/receipts/{{index}}"
    assert doc["checkpoint_expected_within_seconds"] == 0.5  # REGISTRY_CLOCK_INTERVAL's default
    assert served.client().get(doc["receipts"].replace("{index}", "0").removeprefix(base)).status_code == 200
    with served.backend.serve({"REGISTRY_CLOCK_INTERVAL": "2.5"}) as app:
        doc = app.test_client().get("/.well-known/hcoc-registry.json").get_json()
        assert doc["checkpoint_expected_within_seconds"] == 2.5


def forged(desk: Desk) -> bytes:
    env = json.loads(desk.endorsement())
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(env).encode()


def unknown_field(desk: Desk) -> bytes:
    stmt = compose.statement("endorsement.made", ORIGIN, org="acme", code=HIROSHIMA, version=V1, scope="all",
                             effective_date="2024-02-01", colour="blue")
    return envelope.sign(stmt, desk.acme.key).canonical


REFUSALS: list[tuple[str, Callable[[Desk], bytes], str, int, str]] = [
    ("bad signature", forged, "application/json", 401, "invalid-signature"),
    ("unknown key", lambda d: Actor().sign("endorsement.made", org="acme", code=HIROSHIMA, version=V1,
                                           scope="all", effective_date="2024-02-01"),
     "application/json", 401, "unknown-key"),
    ("malformed JSON", lambda d: b'{"payload": ', "application/json", 400, "malformed"),
    ("unknown field", unknown_field, "application/json", 422, "invalid-statement"),
    ("unknown version", lambda d: d.endorsement(version="1999-01-01"), "application/json", 404, "unknown-subject"),
    ("oversized body", lambda d: b" " * (64 * 1024 + 1), "application/json", 413, "request-entity-too-large"),
    ("too large envelope", lambda d: b" " * (40 * 1024), "application/json", 413, "too-large"),
    ("wrong content type", lambda d: d.endorsement(), "text/plain", 415, "unsupported-media-type"),
    ("form post", lambda d: b"a=1", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
]


def test_refusals_are_problems_and_store_nothing(desk: Desk) -> None:
    client = desk.app.test_client()
    openapi = client.get("/api/v1/openapi.json").get_json()
    operation = openapi["paths"]["/api/v1/statements"]["post"]
    for what, make, content_type, status, code in REFUSALS:
        before = desk.sizes()
        response = post(client, make(desk), content_type)
        body = assert_problem(response, status)
        assert body["type"] == f"https://hcoc-registry.org/problems/{code}", what
        check_against(openapi, operation, response)
        assert desk.sizes() == before, f"{what}: something was stored"
    # the endpoint still records a good statement afterwards
    assert post(client, desk.endorsement()).status_code == 201


def test_submission_is_rate_limited_per_client_and_reads_are_not(sqlite_backend: Backend) -> None:
    with desk_for(sqlite_backend, SUBMIT_RATE="2/minute", SUBMIT_BURST=2) as desk:
        client = desk.app.test_client()
        data = desk.endorsement()
        assert post(client, data).status_code == 201
        assert post(client, data).status_code == 200  # a duplicate still takes a token
        before = desk.sizes()
        refused = post(client, desk.acme.sign("endorsement.withdrawn", org="acme", code=HIROSHIMA, reason="r",
                                              effective_date="2024-03-01"))
        body = assert_problem(refused, 429)
        assert body["type"].endswith("/rate-limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 30
        assert desk.sizes() == before
        for url in ("/api/v1/organizations", "/api/v1/events", "/feeds/events.atom", "/api/v1/state"):
            response = client.get(url)
            assert response.status_code == 200 and "Retry-After" not in response.headers
        # another address has its own bucket
        other = client.post("/api/v1/statements", data=b"{}", content_type="application/json",
                            environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert other.status_code == 400


def test_token_bucket_refills() -> None:
    now = [0.0]
    bucket = ratelimit.TokenBucket(ratelimit.parse_rate("6/minute"), 2, clock=lambda: now[0], max_clients=2)
    assert bucket.take("a") == bucket.take("a") == 0.0
    assert bucket.take("a") == pytest.approx(10.0)
    now[0] = 5.0
    assert bucket.take("a") == pytest.approx(5.0)  # refused requests do not reset the refill
    now[0] = 10.0
    assert bucket.take("a") == 0.0
    bucket.take("b"), bucket.take("c")  # "a", least recently seen, is forgotten: a full bucket again
    assert bucket.take("a") == 0.0
    assert ratelimit.parse_rate("30 per hour") == ratelimit.Rate(30, 3600.0)
    for bad in ("30", "0/minute", "30/fortnight", "-1/second", "1e3/second"):
        with pytest.raises(ValueError):
            ratelimit.parse_rate(bad)


def test_snapshots_are_served_as_signed(served: Served) -> None:
    c = served.client()
    listing = c.get("/api/v1/snapshots").get_json()["items"]
    assert [s["size"] for s in listing] == [served.checkpoint_size]
    latest = c.get("/api/v1/snapshots/latest")
    at = c.get(f"/api/v1/snapshots/{served.checkpoint_size}")
    assert latest.data == at.data and at.headers["Cache-Control"].endswith("immutable")
    log_key = c.get("/.well-known/hcoc-registry.json").get_json()["log_key"]
    from registry import snapshots
    from registry.signednote import parse_verifier_key

    verified = snapshots.verify_document(at.data, parse_verifier_key(log_key),
                                         served.registry_leaves(served.checkpoint_size))
    assert verified.rebuilt and verified.state == c.get(f"/api/v1/state/{served.checkpoint_size}").get_json()
    assert c.get("/api/v1/snapshots/1").status_code == 404
