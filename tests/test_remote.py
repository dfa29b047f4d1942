"""Remote mode's pure parts (registry/remote.py): URLs, discovery, pins, known keys, submissions and receipts.

The example registry of docs/FORMATS.md serves as the remote: its discovery
document, its receipt of leaf 13 and the envelope in it. The end-to-end runs
on a served registry are in tests/test_cli_remote.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from registry import envelope, keys, remote
from registry.errors import ConfigurationError, VerificationError
from registry.leaf import parse_leaf
from registry.receipts import parse_receipt
from registry.signednote import format_verifier_key
from tests.test_formats import ORIGIN, example, example_keys, public_key

BASE = "https://registry.example.org/"


def discovery(**changes: object) -> remote.Discovery:
    doc = {**json.loads(example("discovery")), **changes}
    return remote.parse_discovery(json.dumps(doc).encode(), BASE)


def example_envelope() -> envelope.Envelope:
    return envelope.parse(example("envelope").encode())


def test_registry_urls() -> None:
    assert remote.registry_url("https://registry.example.org") == BASE
    assert remote.registry_url("http://127.0.0.1:8000/hcoc") == "http://127.0.0.1:8000/hcoc/"
    for bad in ("ftp://registry.example.org", "file:///etc/passwd", "registry.example.org", "https://",
                "https://u:p@registry.example.org", "https://registry.example.org/?x=1", "https://h:port/"):
        with pytest.raises(ConfigurationError):
            remote.registry_url(bad)


def test_the_example_discovery_document() -> None:
    found = discovery()
    assert found.origin == ORIGIN and found.log_key.vkey == example_keys()["log"]["verifier_key"]
    assert found.statements == BASE + "api/v1/statements"
    assert found.receipt_url(13) == BASE + "api/v1/receipts/13"
    assert found.checkpoint == BASE + "checkpoint"
    # The URLs the registry adds to it are used when present, as a prefix or a template.
    assert discovery(statements=BASE + "submit").statements == BASE + "submit"
    assert discovery(receipts=BASE + "r").receipt_url(2) == BASE + "r/2"
    assert discovery(receipts=BASE + "r/{index}.txt").receipt_url(2) == BASE + "r/2.txt"


@pytest.mark.parametrize("changes, words", [
    ({"origin": "other.example/hcoc"}, "its log key is named"),
    ({"version": 2}, "version 2 is not 1"),
    ({"log_key": "not a key"}, "not a verifier key"),
    ({"api": "https://elsewhere.example/api/v1/"}, "another site"),
    ({"statements": "http://registry.example.org/api/v1/statements"}, "another site"),  # http is another origin
    ({"receipts": "file:///tmp/"}, "another site"),
])
def test_a_discovery_document_that_lies_is_refused(changes: dict[str, object], words: str) -> None:
    with pytest.raises(VerificationError, match=words) as raised:
        discovery(**changes)
    assert raised.value.step == "discovery"
    with pytest.raises(VerificationError, match="not JSON"):
        remote.parse_discovery(b"<html>", BASE)
    with pytest.raises(VerificationError, match="duplicate"):
        remote.parse_discovery(b'{"version": 1, "version": 1}', BASE)


def test_pins() -> None:
    found = discovery()
    remote.check_pin(found, remote.parse_pin(example_keys()["log"]["verifier_key"] + "\n"))
    other = remote.parse_pin(format_verifier_key(ORIGIN, public_key("witness")))
    with pytest.raises(VerificationError, match="nothing was signed or sent") as raised:
        remote.check_pin(found, other)
    assert raised.value.step == "log key"
    with pytest.raises(ConfigurationError, match="--log-key"):
        remote.parse_pin("registry.example.org/hcoc+00000000+AAAA")


def test_known_keys_trust_on_first_use() -> None:
    found = discovery()
    empty = remote.parse_known_keys(remote.format_known_keys(remote.KnownKeys({})), "known.json")
    assert remote.trust(empty, found, "known.json") == "new"
    known = remote.remember(empty, found)
    text = remote.format_known_keys(known)
    assert remote.parse_known_keys(text, "known.json") == known
    assert json.loads(text) == {"format": remote.KNOWN_KEYS_FORMAT, "log_keys": {ORIGIN: found.log_key.vkey}}
    assert remote.trust(known, found, "known.json") == "known"
    # The same origin with another key is refused, naming the file to edit.
    rotated = remote.KnownKeys({ORIGIN: format_verifier_key(ORIGIN, public_key("witness"))})
    edit = re.escape("edit or delete the line for registry.example.org/hcoc in known.json")
    with pytest.raises(VerificationError, match=edit):
        remote.trust(rotated, found, "known.json")


@pytest.mark.parametrize("text", [
    b"", b"[]", b'{"format": "other", "log_keys": {}}', b'{"format": "hcoc-registry/known-keys/v1"}',
    b'{"format": "hcoc-registry/known-keys/v1", "log_keys": {"a.example/x": "registry.example.org/hcoc+a874a236+'
    b'AdfbHzJ5j3FDd+L1OTO+VcIy9IxEA1y8tIPcg2Pf59V3"}}',  # a key under another origin's name
])
def test_a_broken_known_keys_file_is_named(text: bytes) -> None:
    with pytest.raises(ConfigurationError, match=re.escape("known.json")):
        remote.parse_known_keys(text, "known.json")


def test_receipt_file_names() -> None:
    assert remote.origin_slug("registry.example.org/hcoc") == "registry.example.org-hcoc"
    assert remote.receipt_file_name("Reg.Example:8443/a b", 7) == "-eg.-xample-8443-a-b-7.tlog-proof"


def submission(sent: envelope.Envelope, **changes: object) -> bytes:
    answer = {**json.loads(example("submission-response")), "duplicate": False, "envelope_hash": sent.hash,
              "checkpoint_expected_within_seconds": 0.5, **changes}
    return json.dumps(answer).encode()


def test_the_answer_to_a_submission() -> None:
    sent = example_envelope()
    answer = remote.parse_submission(submission(sent), sent)
    assert (answer.index, answer.envelope_hash, answer.duplicate, answer.expected_within) == (13, sent.hash, False, 0.5)
    # Already recorded: the first envelope of the same statement is named.
    again = remote.parse_submission(submission(sent, duplicate=True, envelope_hash="ab" * 32), sent)
    assert again.duplicate and again.envelope_hash == "ab" * 32
    for lie in ({"envelope_hash": "ab" * 32}, {"statement_hash": "cd" * 32}, {"index": -1}, {"index": "13"}):
        with pytest.raises(VerificationError) as raised:
            remote.parse_submission(submission(sent, **lie), sent)
        assert raised.value.step == "submission"


def test_problems() -> None:
    assert remote.parse_problem(example("problem").encode(), 404) == ("not-found", "no leaf 20: the log has 20 leaves")
    assert remote.parse_problem(b"<html>Not Found</html>", 404) == ("http-404", "the registry answered HTTP 404")
    assert remote.parse_problem(b'{"type": "x/../Evil Code", "detail": "a\\nb"}', 409) == ("http-409", "a b")


def test_a_receipt_is_checked_end_to_end() -> None:
    data, found, sent = example("receipt").encode(), discovery(), example_envelope()
    signer = base64.b64decode(example("public-key-file"))
    checked = remote.check_receipt(data, found, 13, envelope_hash=sent.hash, sent=sent, signer=signer)
    assert checked.size == 20 and checked.leaf.envelope == sent
    # Another leaf than the one asked for, another envelope, another signer key, another log key.
    with pytest.raises(VerificationError, match="for leaf 13, not 12"):
        remote.check_receipt(data, found, 12)
    with pytest.raises(VerificationError, match="not " + "ab" * 32):
        remote.check_receipt(data, found, 13, envelope_hash="ab" * 32)
    other = envelope.Envelope(payload=sent.payload + b" ", keyid=sent.keyid, sig=sent.sig)
    with pytest.raises(VerificationError, match="another statement"):
        remote.check_receipt(data, found, 13, sent=other)
    with pytest.raises(VerificationError) as raised:
        remote.check_receipt(data, found, 13, signer=public_key("witness"))
    assert raised.value.step == "statement signature"
    with pytest.raises(VerificationError) as raised:
        remote.check_receipt(data, discovery(origin=ORIGIN, log_key=format_verifier_key(ORIGIN, public_key("witness"))),
                             13)
    assert raised.value.step == "receipt checkpoint"
    assert parse_leaf(parse_receipt(data).extra or b"").envelope.hash == sent.hash


def test_names_from_the_api() -> None:
    org = {"org": "example-ai", "name": "Example AI Ltd", "keys": [{"key_id": keys.key_id(b"\x01" * 32)}]}
    code = {"code": "hiroshima-coc", "versions": [{"version": "2023-10-30", "title": "The Code", "short_title": "HCoC",
                                                   "actions": [{"number": 1, "name": "Risks"}]}]}
    names = remote.names_from_api(org, code)
    assert names.org("example-ai") == "Example AI Ltd" and names.code("hiroshima-coc").short == "HCoC"
    assert names.code("hiroshima-coc").item_names("2023-10-30") == {1: "Risks"}
    assert remote.signer_role(org, keys.key_id(b"\x01" * 32)) == "organization"
    assert remote.signer_role(org, hashlib.sha256(b"x").hexdigest()) is None
    # Documents of another shape name nothing.
    assert remote.names_from_api({"org": 1}, {"code": "c", "versions": "x"}).organizations == {}
    assert remote.names_from_api(None, None).codes == {}
