"""How each organization key was proved (registry.keyprovenance), on its page and in the API.

The story, on SQLite and on PostgreSQL: a maintainer registers Acme with a key
whose proof Acme's website published (recorded in ``key_proofs``); Acme adds a
second key with its first (its own act), and a third with a proof of its own;
a maintainer adds a fourth citing Acme's security page, and registers Bare with
a key and nothing else, and Cited with a key and sources about it. Each key's
provenance (self-published at a host, added by the organization, attested by a
maintainer, none) is then read the way the event documents give it, on the
organization pages and in ``GET /api/v1/organizations/<slug>``, against the
OpenAPI schema. The signed state is untouched: it has no provenance.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient

from registry import keyprovenance
from registry.state import RegistryState
from registry.views import event_document
from tests.conftest import Actor, Backend, Fold, page, sign_checkpoint, signing_world, words
from tests.test_web_api import validator

HOST = "keys.acme.example"
WELL_KNOWN = f"https://{HOST}/.well-known/hcoc-registry-keys"
SOURCES = [{"url": "https://acme.example/security", "title": "Acme's signing keys"}]


def proof(actor: Actor, fetched_at: str = "2024-01-01T00:00:00Z") -> dict[str, str]:
    return {"key_id": actor.key_id, "url": WELL_KNOWN, "fetched_at": fetched_at, "sha256": "5a" * 32}


@dataclass
class Keys:
    proved: Actor  # registered by a maintainer, with its proof
    own: Actor  # added by the organization with its proved key
    own_proved: Actor  # added by the organization, with a proof
    attested: Actor  # added by a maintainer, citing evidence
    bare: Actor  # registered by a maintainer with nothing
    cited: Actor  # registered by a maintainer with sources about the organization


def record(world: Any) -> Keys:
    """The story, on a World (a store) or a Fold (in memory)."""
    k = Keys(Actor(), Actor(), Actor(), Actor(), Actor(), Actor())
    m = world.maintainer
    world.submit(m.sign("organization.registered", org="acme", name="Acme", country="JP", kind="company",
                        website=f"https://{HOST}/", public_keys=[k.proved.public], key_proofs=[proof(k.proved)]))
    world.submit(k.proved.sign("organization.key_added", org="acme", public_key=k.own.public))
    world.submit(k.proved.sign("organization.key_added", org="acme", public_key=k.own_proved.public,
                               key_proofs=[proof(k.own_proved, "2024-02-01T00:00:00Z")]))
    world.submit(m.sign("organization.key_added", org="acme", public_key=k.attested.public, evidence=SOURCES))
    world.submit(m.sign("organization.registered", org="bare", name="Bare", country=None, kind="research",
                        public_keys=[k.bare.public]))
    world.submit(m.sign("organization.registered", org="cited", name="Cited", country="FR", kind="academia",
                        public_keys=[k.cited.public], evidence=SOURCES))
    return k


# --- the derivation, pure -------------------------------------------------------------------------


def test_each_way_a_key_was_proved() -> None:
    fold = Fold()
    k = record(fold)
    state = RegistryState()
    docs = [event_document(state.apply(leaf), i) for i, leaf in enumerate(fold.leaves)]
    found = keyprovenance.of_keys([a.key_id for a in (k.proved, k.own, k.own_proved, k.attested, k.bare, k.cited)],
                                  [d for d in docs if d["org"] is not None])
    shown = {key_id: (p.method, p.added_by, p.words) for key_id, p in found.items()}
    assert shown == {
        k.proved.key_id: ("self-published", "maintainer", f"self-published at {HOST}"),
        k.own.key_id: ("organization", "organization", "added by the organization with its own key"),
        k.own_proved.key_id: ("self-published", "organization", f"self-published at {HOST}"),
        k.attested.key_id: ("attested", "maintainer", "attested by a maintainer, citing evidence"),
        k.bare.key_id: ("none", "maintainer", "none: a maintainer added it and cited no evidence"),
        k.cited.key_id: ("attested", "maintainer", "attested by a maintainer, citing evidence"),
    }
    assert found[k.proved.key_id].proof == proof(k.proved) and found[k.proved.key_id].index == 2
    assert found[k.attested.key_id].evidence == tuple(SOURCES)
    # The signed state says nothing of it: snapshots hash what they hashed before.
    assert "key_proofs" not in state.canonical().decode() and "self-published" not in state.canonical().decode()


def test_a_key_with_no_adding_record_is_none() -> None:
    assert keyprovenance.of_keys(["ab" * 32], []) == {
        "ab" * 32: keyprovenance.KeyProvenance("ab" * 32, "none", None, None, None, ())}


# --- on the page and in the API --------------------------------------------------------------------


@dataclass
class Served:
    app: Any
    keys: Keys


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    with signing_world(module_backend) as world:
        found = record(world)
        sign_checkpoint(module_backend, world.registry)
        with module_backend.serve() as app:
            yield Served(app, found)


def key_rows(client: FlaskClient, slug: str) -> dict[str, str]:
    """The organization page's keys table: key id -> the words of its 'How it was proved' cell."""
    doc = page(client, f"/organizations/{slug}")
    (table,) = doc.xpath("//table[contains(@class, 'org-keys')]")
    header = [words(th) for th in table.xpath(".//thead/tr/th")]
    column = header.index("How it was proved")
    return {row.xpath("td[1]/code")[0].text: words(row.xpath("td")[column]) for row in table.xpath(".//tbody/tr")}


def test_the_page_says_how_each_key_was_proved(client: FlaskClient, served: Served) -> None:
    k = served.keys
    acme = key_rows(client, "acme")
    assert acme[k.proved.key_id].startswith(f"Self-published at {HOST} listed in {WELL_KNOWN}, fetched "
                                            "2024-01-01 00:00:00 UTC; SHA-256 of the file " + "5a" * 32)
    assert acme[k.proved.key_id].endswith("recorded by a maintainer")
    assert acme[k.own_proved.key_id].endswith("recorded by the organization itself")
    assert acme[k.own.key_id] == "Added by the organization with its own key"
    assert acme[k.attested.key_id].startswith("Attested by a maintainer, citing: Acme's signing keys")
    assert key_rows(client, "bare") == {k.bare.key_id: "None: a maintainer added it and cited no evidence"}
    assert key_rows(client, "cited")[k.cited.key_id].startswith("Attested by a maintainer, citing:")
    # The proof's URL is a link; the page says where proofs come from.
    doc = page(client, "/organizations/acme")
    assert doc.xpath(f"//td[contains(@class, 'key-proof-self-published')]//a[@href='{WELL_KNOWN}']")
    assert doc.xpath("//a[@href='/for-organizations#publish-proof']")


def test_the_api_says_how_each_key_was_proved(client: FlaskClient, served: Served) -> None:
    k = served.keys
    openapi = client.get("/api/v1/openapi.json").get_json()
    check = validator(openapi, openapi["paths"]["/api/v1/organizations/{slug}"]["get"]["responses"]["200"]
                      ["content"]["application/json"]["schema"])
    methods = {}
    for slug in ("acme", "bare", "cited"):
        body = client.get(f"/api/v1/organizations/{slug}").get_json()
        check(body)
        methods.update({key["key_id"]: key["provenance"] for key in body["keys"]})
    assert {key_id: p["method"] for key_id, p in methods.items()} == {
        k.proved.key_id: "self-published", k.own.key_id: "organization", k.own_proved.key_id: "self-published",
        k.attested.key_id: "attested", k.bare.key_id: "none", k.cited.key_id: "attested"}
    assert methods[k.proved.key_id] == {"method": "self-published", "words": f"self-published at {HOST}",
                                        "added_by": "maintainer", "proof": proof(k.proved), "evidence": []}
    assert methods[k.attested.key_id]["evidence"] == SOURCES and methods[k.attested.key_id]["proof"] is None
    assert methods[k.own.key_id]["added_by"] == "organization"
    # The schema holds the provenance to its shape.
    body = client.get("/api/v1/organizations/bare").get_json()
    body["keys"][0]["provenance"]["method"] = "trust-me"
    with pytest.raises(Exception, match="trust-me"):
        check(body)


def test_the_state_and_its_document_carry_no_provenance(client: FlaskClient) -> None:
    state = client.get("/api/v1/state").get_data(as_text=True)
    assert "provenance" not in state and "key_proofs" not in state
    assert re.search(r'"keys":\[', unescape(state))
