"""The key-proof file (registry.keyproof): strict parsing, and which keys a file proves for whom."""

from __future__ import annotations

import json
from typing import Any

import pytest

from registry import keyproof
from registry.errors import MalformedError, TooLargeError

ORIGIN = "registry.example.org/hcoc"
KEY_A, KEY_B, KEY_C = "aa" * 32, "bb" * 32, "cc" * 32
PUBLIC_KEY = "uYamQKz1c836iqCK0hzi/nVmoQXc5tMAKgs2JRaIubU="


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": keyproof.FORMAT,
                           "registries": [{"origin": ORIGIN, "org": "example-ai", "keys": [KEY_A, KEY_B]}]}
    doc.update(changes)
    return doc


def data(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def fetched(doc: dict[str, Any]) -> keyproof.Fetched:
    url = "https://ai.example.com/.well-known/hcoc-registry-keys"
    return keyproof.Fetched(url, url, "2025-06-07T20:55:00Z", "ee" * 32, keyproof.parse_key_file(data(doc)))


def test_a_good_file_lists_keys_per_registry_and_organization() -> None:
    doc = document(registries=[{"origin": ORIGIN, "org": "example-ai", "keys": [KEY_A, KEY_B]},
                               {"origin": "staging.example.org/hcoc", "org": "example-ai", "keys": [KEY_C]},
                               {"origin": ORIGIN, "org": "example-labs", "keys": [KEY_C]}])
    parsed = keyproof.parse_key_file(data(doc))
    assert parsed.keys_for(ORIGIN, "example-ai") == {KEY_A, KEY_B}
    assert parsed.keys_for(ORIGIN, "example-labs") == {KEY_C}
    assert parsed.keys_for(ORIGIN, "nobody") == frozenset()


def test_format_parses_back_to_the_same() -> None:
    listings = [keyproof.Listing(ORIGIN, "example-ai", (KEY_A, KEY_B))]
    written = keyproof.format_key_file(listings)
    assert keyproof.parse_key_file(written).listings == tuple(listings)
    assert json.loads(written) == document()


def test_a_key_listed_for_another_origin_or_organization_is_not_proved() -> None:
    doc = document(registries=[{"origin": "other.example/hcoc", "org": "example-ai", "keys": [KEY_A]},
                               {"origin": ORIGIN, "org": "someone-else", "keys": [KEY_B]},
                               {"origin": ORIGIN, "org": "example-ai", "keys": [KEY_C]}])
    result = keyproof.check(fetched(doc), ORIGIN, "example-ai", [KEY_A, KEY_B, KEY_C])
    assert not result
    assert (result.proved, result.not_proved) == ((KEY_C,), (KEY_A, KEY_B))
    # The evidence names only the proved key, with what the fetch saw.
    assert result.key_proofs == [{"key_id": KEY_C, "url": "https://ai.example.com/.well-known/hcoc-registry-keys",
                                  "fetched_at": "2025-06-07T20:55:00Z", "sha256": "ee" * 32}]


def test_every_asked_key_proved_is_truthy() -> None:
    result = keyproof.check(fetched(document()), ORIGIN, "example-ai", [KEY_B, KEY_A, KEY_B])
    assert result and result.proved == (KEY_B, KEY_A) and result.not_proved == ()


MALFORMED = {
    "not JSON": b"{format: v1}",
    "trailing garbage": data(document())[:-1],
    "a duplicate member": b'{"format": "hcoc-registry/keys/v1", "format": "x", "registries": []}',
    "a float": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A]}])).replace(b"]}]", b"], "
                                                                                                   b"\"n\": 1.5}]"),
    "not an object": data([document()]),
    "another format": data(document(format="hcoc-registry/keys/v2")),
    "no format": data({"registries": document()["registries"]}),
    "an unknown member": data(document(comment="ours")),
    "an unknown member in a listing": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A],
                                                                 "note": "x"}])),
    "no registries": data(document(registries=[])),
    "registries not a list": data(document(registries={"origin": ORIGIN})),
    "a listing not an object": data(document(registries=[ORIGIN])),
    "a missing org": data(document(registries=[{"origin": ORIGIN, "keys": [KEY_A]}])),
    "an org not a slug": data(document(registries=[{"origin": ORIGIN, "org": "Example AI", "keys": [KEY_A]}])),
    "an origin with a space": data(document(registries=[{"origin": "a b", "org": "a", "keys": [KEY_A]}])),
    "an origin not a string": data(document(registries=[{"origin": 7, "org": "a", "keys": [KEY_A]}])),
    "keys not a list": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": KEY_A}])),
    "no keys": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": []}])),
    "an uppercase key id": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A.upper()]}])),
    "a short key id": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A[:63]]}])),
    "a key id not a string": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [1]}])),
    "a public key instead of an id": data(document(registries=[{"origin": ORIGIN, "org": "a",
                                                                "keys": [PUBLIC_KEY]}])),
    "a duplicate key id": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A, KEY_A]}])),
    "a listing twice": data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A]},
                                                 {"origin": ORIGIN, "org": "a", "keys": [KEY_B]}])),
    "too many listings": data(document(registries=[{"origin": f"r{i}.example/hcoc", "org": "a", "keys": [KEY_A]}
                                                   for i in range(keyproof.MAX_REGISTRIES + 1)])),
    "too many keys": data(document(registries=[{"origin": ORIGIN, "org": "a",
                                                "keys": [f"{i:064x}" for i in range(keyproof.MAX_KEYS + 1)]}])),
    "not UTF-8": data(document()).replace(b"example-ai", b"example-\xff"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_are_refused(name: str) -> None:
    with pytest.raises(MalformedError, match=r"^key-proof file"):
        keyproof.parse_key_file(MALFORMED[name])


def test_a_refusal_names_the_member() -> None:
    with pytest.raises(MalformedError, match=r"registries\.0\.keys\.1: must be a key id"):
        keyproof.parse_key_file(data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A, "x"]}])))
    with pytest.raises(MalformedError, match=r"registries\.0\.note: unknown member"):
        keyproof.parse_key_file(data(document(registries=[{"origin": ORIGIN, "org": "a", "keys": [KEY_A],
                                                           "note": "x"}])))


def test_an_oversized_file_is_refused_before_it_is_parsed() -> None:
    padded = data(document())[:-1] + b" " * keyproof.MAX_BYTES + b"}"
    with pytest.raises(TooLargeError):
        keyproof.parse_key_file(padded)
    # The limit itself is fine (whitespace is JSON's own).
    exact = data(document())[:-1] + b" " * (keyproof.MAX_BYTES - len(data(document()))) + b"}"
    assert len(exact) == keyproof.MAX_BYTES
    assert keyproof.parse_key_file(exact).keys_for(ORIGIN, "example-ai") == {KEY_A, KEY_B}


@pytest.mark.parametrize(("given", "expected"), [
    ("https://ai.example.com", "https://ai.example.com/.well-known/hcoc-registry-keys"),
    ("https://ai.example.com/", "https://ai.example.com/.well-known/hcoc-registry-keys"),
    ("https://ai.example.com/en/about?x=1#top", "https://ai.example.com/.well-known/hcoc-registry-keys"),
    ("https://ai.example.com:8443/.well-known/hcoc-registry-keys",
     "https://ai.example.com:8443/.well-known/hcoc-registry-keys"),
    # Only the host counts: a file anywhere else on a shared host would prove nothing about who runs it.
    ("https://github.com/someone/keys.json", "https://github.com/.well-known/hcoc-registry-keys"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/.well-known/hcoc-registry-keys"),
])
def test_the_file_is_always_at_the_well_known_path_of_the_host(given: str, expected: str) -> None:
    assert keyproof.well_known_url(given) == expected


@pytest.mark.parametrize("bad", ["ai.example.com", "ftp://ai.example.com/", "https://", "https://u@ai.example.com/",
                                 "https://ai.example.com:99999/"])
def test_what_is_not_a_website_is_refused(bad: str) -> None:
    with pytest.raises(MalformedError):
        keyproof.well_known_url(bad)
