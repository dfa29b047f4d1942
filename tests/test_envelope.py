"""Tests for registry.envelope: DSSE PAE, sign/verify, strict parsing and arbitrary input."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import canonical, keys
from registry.envelope import (
    MAX_ENVELOPE_BYTES,
    MAX_STATEMENT_BYTES,
    PAYLOAD_TYPE,
    pae,
    parse,
    sign,
    verify,
)
from registry.errors import InvalidSignatureError, MalformedError, TooLargeError
from web.problems import status_of

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
PUBLIC = keys.public_bytes(KEY)
STATEMENT: dict[str, Any] = {"type": "test.statement", "origin": "test.example/registry", "n": 7, "note": "é 日本"}
ENV = sign(STATEMENT, KEY)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def envelope_json(**changes: Any) -> dict[str, Any]:
    """ENV as a JSON object with top-level members replaced (or removed, with None)."""
    obj = ENV.to_json()
    for name, value in changes.items():
        if value is None:
            del obj[name]
        else:
            obj[name] = value
    return obj


def with_signature(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = dict(ENV.to_json()["signatures"][0])
    for name, value in changes.items():
        if value is None:
            del entry[name]
        else:
            entry[name] = value
    return envelope_json(signatures=[entry])


def signed_payload(payload: bytes, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    """An envelope object carrying ``payload`` with a genuine signature over it."""
    sig = KEY.sign(pae(payload_type, payload))
    return {"payload": b64(payload), "payloadType": payload_type,
            "signatures": [{"keyid": keys.key_id(KEY), "sig": b64(sig)}]}


def encode(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


# --- PAE ---------------------------------------------------------------------------------


def test_pae_dsse_spec_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_lengths_are_byte_lengths() -> None:
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("\u00e9", b"\x00 \n") == b"DSSEv1 2 \xc3\xa9 3 \x00 \n"
    assert pae(PAYLOAD_TYPE, b"{}") == b"DSSEv1 44 application/vnd.hcoc-registry.statement+json 2 {}"


# --- sign, parse, verify ------------------------------------------------------------------


def test_sign_parse_round_trip() -> None:
    assert ENV.payload == canonical.dumps(STATEMENT)
    assert ENV.keyid == keys.key_id(KEY)
    assert ENV.payload_type == PAYLOAD_TYPE
    parsed = parse(ENV.canonical)
    assert parsed == ENV
    assert parsed.statement() == STATEMENT
    assert parsed.canonical == ENV.canonical
    verify(parsed, PUBLIC)


def test_signature_covers_pae() -> None:
    keys.load_public(PUBLIC).verify(ENV.sig, pae(PAYLOAD_TYPE, ENV.payload))


def test_canonical_is_rfc8785_of_the_dsse_object() -> None:
    assert ENV.canonical == (
        b'{"payload":"' + b64(ENV.payload).encode() + b'","payloadType":"' + PAYLOAD_TYPE.encode()
        + b'","signatures":[{"keyid":"' + ENV.keyid.encode() + b'","sig":"' + b64(ENV.sig).encode() + b'"}]}'
    )


def test_hash_is_sha256_of_canonical_and_ignores_input_formatting() -> None:
    assert ENV.hash == hashlib.sha256(ENV.canonical).hexdigest()
    obj = ENV.to_json()
    reordered = {"signatures": obj["signatures"], "payloadType": obj["payloadType"], "payload": obj["payload"]}
    for data in (
        json.dumps(obj, indent=4).encode(),
        json.dumps(reordered).encode(),
        b"\n  " + json.dumps(reordered, separators=(" , ", " : ")).encode() + b"\n",
        json.dumps(obj).replace('"payload"', '"\\u0070ayload"').encode(),
    ):
        assert data != ENV.canonical
        parsed = parse(data)
        assert parsed.hash == ENV.hash
        assert parsed.canonical == ENV.canonical


def test_verify_rejects_another_key() -> None:
    with pytest.raises(InvalidSignatureError):
        verify(ENV, keys.public_bytes(OTHER))


def test_verify_rejects_a_signature_by_another_key_under_its_own_keyid() -> None:
    forged = dataclasses.replace(ENV, sig=OTHER.sign(pae(PAYLOAD_TYPE, ENV.payload)))
    with pytest.raises(InvalidSignatureError):
        verify(forged, PUBLIC)
    relabelled = dataclasses.replace(forged, keyid=keys.key_id(OTHER))
    verify(relabelled, keys.public_bytes(OTHER))  # the control: OTHER's own signature is fine
    with pytest.raises(InvalidSignatureError):
        verify(relabelled, PUBLIC)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 64 * 8 - 1))
def test_verify_rejects_a_flipped_bit_in_sig(bit: int) -> None:
    sig = bytearray(ENV.sig)
    sig[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidSignatureError):
        verify(dataclasses.replace(ENV, sig=bytes(sig)), PUBLIC)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_verify_rejects_a_flipped_bit_in_payload(data: st.DataObject) -> None:
    bit = data.draw(st.integers(0, len(ENV.payload) * 8 - 1))
    payload = bytearray(ENV.payload)
    payload[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidSignatureError):
        verify(dataclasses.replace(ENV, payload=bytes(payload)), PUBLIC)


def test_pae_binds_the_payload_type() -> None:
    other_type = "application/vnd.in-toto+json"
    changed = dataclasses.replace(ENV, payload_type=other_type)
    with pytest.raises(InvalidSignatureError):
        verify(changed, PUBLIC)
    # Same payload, same key, signed for the other type: valid only for that type.
    other_sig = KEY.sign(pae(other_type, ENV.payload))
    verify(dataclasses.replace(changed, sig=other_sig), PUBLIC)
    with pytest.raises(InvalidSignatureError):
        verify(dataclasses.replace(ENV, sig=other_sig), PUBLIC)
    # And parse only admits the registry's payload type at all.
    with pytest.raises(MalformedError, match="payloadType"):
        parse(encode(signed_payload(ENV.payload, other_type)))


def test_a_signature_over_the_bare_payload_does_not_verify() -> None:
    with pytest.raises(InvalidSignatureError):
        verify(dataclasses.replace(ENV, sig=KEY.sign(ENV.payload)), PUBLIC)


# --- parse strictness ------------------------------------------------------------------------


def _keyid(text: Any) -> dict[str, Any]:
    return with_signature(keyid=text)


STRICTNESS: dict[str, Callable[[], Any]] = {
    "array": lambda: [ENV.to_json()],
    "string": lambda: "envelope",
    "null": lambda: None,
    "extra member": lambda: envelope_json(extra=1),
    "no payload": lambda: envelope_json(payload=None),
    "no payloadType": lambda: envelope_json(payloadType=None),
    "no signatures": lambda: envelope_json(signatures=None),
    "other payloadType": lambda: envelope_json(payloadType="application/json"),
    "payloadType not a string": lambda: envelope_json(payloadType=[PAYLOAD_TYPE]),
    "two signatures": lambda: envelope_json(signatures=ENV.to_json()["signatures"] * 2),
    "zero signatures": lambda: envelope_json(signatures=[]),
    "signatures an object": lambda: envelope_json(signatures=ENV.to_json()["signatures"][0]),
    "signature not an object": lambda: envelope_json(signatures=[b64(ENV.sig)]),
    "signature extra member": lambda: with_signature(cert="x"),
    "signature without keyid": lambda: with_signature(keyid=None),
    "signature without sig": lambda: with_signature(sig=None),
    "keyid uppercase": lambda: _keyid(ENV.keyid.upper()),
    "keyid 63 hex": lambda: _keyid(ENV.keyid[:63]),
    "keyid 65 hex": lambda: _keyid(ENV.keyid + "0"),
    "keyid not hex": lambda: _keyid("g" * 64),
    "keyid with newline": lambda: _keyid(ENV.keyid + "\n"),
    "keyid an integer": lambda: _keyid(1),
    "keyid empty": lambda: _keyid(""),
    "sig 63 bytes": lambda: with_signature(sig=b64(ENV.sig[:63])),
    "sig 65 bytes": lambda: with_signature(sig=b64(ENV.sig + b"\x00")),
    "sig empty": lambda: with_signature(sig=""),
    "sig not a string": lambda: with_signature(sig=list(ENV.sig)),
    "sig unpadded": lambda: with_signature(sig=b64(ENV.sig).rstrip("=")),
    "sig with newline": lambda: with_signature(sig=b64(ENV.sig)[:40] + "\n" + b64(ENV.sig)[40:]),
    "sig not ascii": lambda: with_signature(sig="é" + b64(ENV.sig)[1:]),
    "payload unpadded": lambda: signed_payload(b'{"a":1}') | {"payload": b64(b'{"a":1}').rstrip("=")},
    "payload not a string": lambda: envelope_json(payload=STATEMENT),
    "payload not canonical (space)": lambda: signed_payload(b'{"a": 1}'),
    "payload not canonical (order)": lambda: signed_payload(b'{"b":1,"a":2}'),
    "payload not canonical (escape)": lambda: signed_payload(b'{"a":"\\u0041"}'),
    "payload an array": lambda: signed_payload(b"[1,2]"),
    "payload a string": lambda: signed_payload(b'"x"'),
    "payload a number": lambda: signed_payload(b"1"),
    "payload null": lambda: signed_payload(b"null"),
    "payload with a float": lambda: signed_payload(b'{"a":1.5}'),
    "payload not JSON": lambda: signed_payload(b"hello"),
    "payload not UTF-8": lambda: signed_payload(b'{"a":"\xff"}'),
    "payload lone surrogate": lambda: signed_payload(b'{"\\ud800":1}'),
    "payload empty": lambda: signed_payload(b""),
}


@pytest.mark.parametrize("name", sorted(STRICTNESS))
def test_parse_refuses(name: str) -> None:
    data = encode(STRICTNESS[name]())
    with pytest.raises(MalformedError) as info:
        parse(data)
    # Malformed, not a refinement with a code of its own (too-large); bad base64 is a Base64Error.
    assert info.value.code == MalformedError.code


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"[]", b"{}", b"1.5", b"NaN", b'{"payload":1,"payload":2}', b"\xff", ENV.canonical[:-1]],
)
def test_parse_refuses_bad_json(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse(data)


def test_duplicate_members_are_refused_even_if_equal() -> None:
    data = ENV.canonical[:-1] + b',"payloadType":"' + PAYLOAD_TYPE.encode() + b'"}'
    with pytest.raises(MalformedError, match="duplicate"):
        parse(data)


def _alphabet_variant(raw_length: int) -> tuple[bytes, str, str]:
    """Bytes whose standard base64 has both '+' and '/', with that and the URL-safe spelling."""
    raw = bytes([0xFB, 0xFF, 0xBF]) * (raw_length // 3) + b"\xfb" * (raw_length % 3)
    std = b64(raw)
    assert "+" in std and "/" in std
    return raw, std, base64.urlsafe_b64encode(raw).decode("ascii")


def test_sig_in_url_safe_base64_is_refused() -> None:
    _, std, url = _alphabet_variant(64)
    parse(encode(with_signature(sig=std)))  # the control: a well-formed (if wrong) signature parses
    with pytest.raises(MalformedError, match="sig"):
        parse(encode(with_signature(sig=url)))


def test_payload_in_url_safe_base64_is_refused() -> None:
    for pad in range(300):
        payload = canonical.dumps({"k": "?" * pad + ">" * pad})
        std = b64(payload)
        if "+" in std and "/" in std:
            break
    else:
        raise AssertionError("no payload with both '+' and '/' in its base64")
    obj = signed_payload(payload)
    assert parse(encode(obj)).payload == payload
    obj["payload"] = base64.urlsafe_b64encode(payload).decode("ascii")
    with pytest.raises(MalformedError, match="payload"):
        parse(encode(obj))


def test_base64_with_nonzero_padding_bits_is_refused() -> None:
    std = b64(ENV.sig)  # 64 bytes: two '=' and 4 unused bits in the last character
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sloppy = std[:-3] + alphabet[alphabet.index(std[-3]) ^ 1] + "=="
    assert base64.b64decode(sloppy) == ENV.sig and sloppy != std
    with pytest.raises(MalformedError, match="canonical"):
        parse(encode(with_signature(sig=sloppy)))


# --- size limits ------------------------------------------------------------------------------


def test_oversized_envelope_is_too_large_whatever_it_holds() -> None:
    padded = ENV.canonical + b" " * (MAX_ENVELOPE_BYTES + 1 - len(ENV.canonical))
    for data in (b"x" * (MAX_ENVELOPE_BYTES + 1), b"\xff" * (MAX_ENVELOPE_BYTES + 1), padded):
        with pytest.raises(TooLargeError) as info:
            parse(data)
        assert type(info.value) is TooLargeError
        assert status_of(info.value) == 413


def test_envelope_at_the_limit_parses() -> None:
    padded = ENV.canonical + b" " * (MAX_ENVELOPE_BYTES - len(ENV.canonical))
    assert len(padded) == MAX_ENVELOPE_BYTES
    assert parse(padded) == ENV


def _statement_of_size(size: int) -> dict[str, Any]:
    statement = {"pad": "x" * (size - len(b'{"pad":""}'))}
    assert len(canonical.dumps(statement)) == size
    return statement


def test_statement_size_limit_on_sign_and_parse() -> None:
    largest = sign(_statement_of_size(MAX_STATEMENT_BYTES), KEY)
    assert len(largest.canonical) <= MAX_ENVELOPE_BYTES
    assert parse(largest.canonical) == largest
    verify(largest, PUBLIC)
    with pytest.raises(TooLargeError):
        sign(_statement_of_size(MAX_STATEMENT_BYTES + 1), KEY)
    data = encode(signed_payload(canonical.dumps(_statement_of_size(MAX_STATEMENT_BYTES + 1))))
    assert len(data) <= MAX_ENVELOPE_BYTES
    with pytest.raises(TooLargeError):
        parse(data)


# --- arbitrary and mutated input --------------------------------------------------------------


def _check_only_expected_errors(data: bytes) -> None:
    """parse raises only MalformedError; verify only InvalidSignatureError; success means no change."""
    try:
        env = parse(data)
    except MalformedError:  # TooLargeError included
        return
    try:
        verify(env, PUBLIC)
    except InvalidSignatureError:
        return
    assert env.canonical == ENV.canonical
    assert env == ENV


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([ENV.canonical, json.dumps(ENV.to_json(), indent=1).encode()])))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["replace", "insert", "delete", "flip"]))
        at = draw(st.integers(0, len(data) - 1))
        if action == "replace":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data.insert(at, draw(st.sampled_from(b' \n"\\{}[],:=+/-_Aa0\x00\xff')))
        elif action == "delete":
            del data[at]
        else:
            data[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@st.composite
def mutated_fields(draw: st.DrawFn) -> bytes:
    """Changes inside the decoded fields, re-encoded so that they get past base64 checks."""
    payload, sig, keyid = bytearray(ENV.payload), bytearray(ENV.sig), ENV.keyid
    field = draw(st.sampled_from(["payload", "sig", "keyid", "statement"]))
    if field == "payload":
        at = draw(st.integers(0, len(payload) - 1))
        payload[at] = draw(st.integers(0, 255))
    elif field == "sig":
        at = draw(st.integers(0, len(sig) - 1))
        sig[at] = draw(st.integers(0, 255))
    elif field == "keyid":
        at = draw(st.integers(0, 63))
        keyid = keyid[:at] + draw(st.sampled_from("0123456789abcdefA")) + keyid[at + 1:]
    else:
        payload = bytearray(canonical.dumps(draw(st.dictionaries(st.text(max_size=5), st.integers(0, 9), max_size=3))))
    obj = {"payload": b64(bytes(payload)), "payloadType": PAYLOAD_TYPE,
           "signatures": [{"keyid": keyid, "sig": b64(bytes(sig))}]}
    return encode(obj)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_malformed(data: bytes) -> None:
    _check_only_expected_errors(data)


@settings(max_examples=300, deadline=None)
@given(mutated_bytes() | mutated_fields())
def test_mutated_envelope_never_parses_and_verifies_unless_unchanged(data: bytes) -> None:
    _check_only_expected_errors(data)


@given(st.binary(min_size=0, max_size=512))
def test_constructed_canonical_equals_rfc8785(payload_seed: bytes) -> None:
    # Envelope.canonical is built by formatting for speed; it must equal the rfc8785 package's bytes.
    env = dataclasses.replace(ENV, payload=canonical.dumps({"p": payload_seed.hex()}))
    assert env.canonical == rfc8785.dumps(env.to_json())
