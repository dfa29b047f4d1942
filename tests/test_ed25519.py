"""Tests for registry.ed25519: weak keys and badly shaped signatures are refused wherever they enter.

The facts are derived here from the curve itself, with affine arithmetic written
independently of the module's extended coordinates: the 8 small-order points
are the multiples of a point of order 8, found as [L]Q for points Q. They are
then cross-checked against the encodings libsodium refuses
(``ge25519_has_small_order`` in src/libsodium/crypto_core/ed25519/ref10/ed25519_ref10.c,
compared there with the sign bit masked). Each weak encoding is then refused as
every statement field that carries a key (through ``statements.validate`` and a
real ``Registry.submit`` that stores nothing), as a key file and as a verifier
key; and the forged signature, a small-order R and S + L are refused by
``envelope.verify`` and by the note verifier while genuine signatures verify.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import ed25519, envelope, keys, statements
from registry.checkpoint import Checkpoint, cosign_checkpoint, format_checkpoint_text, open_checkpoint
from registry.errors import (
    ConfigurationError,
    InvalidSignatureError,
    InvalidStatementError,
    NoteError,
    NoteVerificationError,
)
from registry.signednote import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Note,
    NoteSignature,
    format_note,
    format_verifier_key,
    note_key_id,
    parse_note,
    parse_verifier_key,
    sign_note,
    signer_from_private,
)
from tests.conftest import Actor, Backend, World
from tests.test_statements import ORIGIN as STATEMENT_ORIGIN
from tests.test_statements import make, without

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
IDENTITY = b"\x01" + bytes(31)
IDENTITY_B64 = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
FORGED = IDENTITY + bytes(32)  # R = identity, S = 0
FAST = settings(max_examples=40, deadline=None)

# --- the curve, affine and independent of registry.ed25519 -----------------------------------

Affine = tuple[int, int]
ZERO: Affine = (0, 1)


def add(a: Affine, b: Affine) -> Affine:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + y1 * x2) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def times(k: int, a: Affine) -> Affine:
    result = ZERO
    while k:
        if k & 1:
            result = add(result, a)
        a, k = add(a, a), k >> 1
    return result


def on_curve(a: Affine) -> bool:
    x, y = a
    return (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def x_for(y: int) -> int | None:
    """An x with (x, y) on the curve, or None."""
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    for x in range(2):  # brute force is out of reach; try both square-root candidates of Atkin's formula
        candidate = pow(x2, (P + 3) // 8, P) * pow(2, x * (P - 1) // 4, P) % P
        if candidate * candidate % P == x2:
            return candidate
    return None


def encode(a: Affine) -> bytes:
    x, y = a
    return (y | (x & 1) << 255).to_bytes(32, "little")


def order(a: Affine) -> int:
    return next(n for n in (1, 2, 4, 8) if times(n, a) == ZERO)


def _torsion_generator() -> Affine:
    # [L]Q kills Q's prime-order part and leaves its small-order part; some Q has one of order 8.
    for y in range(2, 1000):
        x = x_for(y)
        if x is not None:
            t = times(L, (x, y))
            if order(t) == 8:
                return t
    raise AssertionError("no point with a component of order 8 found")


T8 = _torsion_generator()
TORSION = [times(k, T8) for k in range(8)]
SMALL_ORDER = sorted(encode(t) for t in TORSION)

# libsodium's list, byte for byte: 5 canonical y values and p, p + 1 (y = 0 and y = 1 plus p).
LIBSODIUM_SMALL_ORDER = [bytes.fromhex(h) for h in (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
)]

# Every non-canonical encoding: y + p (it fits in 255 bits only for y < 19), with either sign bit;
# and x = 0 (y = 1 or y = p - 1) with the sign bit set.
NON_CANONICAL = [((y + P) | s << 255).to_bytes(32, "little") for y in range(19) for s in (0, 1)] + [
    (1 | 1 << 255).to_bytes(32, "little"), (P - 1 | 1 << 255).to_bytes(32, "little")]
WEAK = SMALL_ORDER + NON_CANONICAL
WEAK_IDS = [f"small-order-{i}" for i in range(8)] + [f"non-canonical-{i}" for i in range(len(NON_CANONICAL))]


def _honest(n: int) -> bytes:
    return keys.public_bytes(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"honest %d" % n).digest()))


# --- the facts ---------------------------------------------------------------------------------


def test_the_eight_torsion_points_from_the_math() -> None:
    assert all(on_curve(t) for t in TORSION)
    assert len(set(TORSION)) == 8
    assert sorted(order(t) for t in TORSION) == [1, 2, 4, 4, 8, 8, 8, 8]
    assert all(times(8, t) == ZERO for t in TORSION)
    assert TORSION[0] == ZERO and encode(ZERO) == IDENTITY
    assert base64.b64encode(IDENTITY).decode() == IDENTITY_B64


def test_the_torsion_points_are_libsodiums_blacklist() -> None:
    masked = {int.from_bytes(e, "little") & ((1 << 255) - 1) for e in SMALL_ORDER}
    canonical = {int.from_bytes(e, "little") for e in LIBSODIUM_SMALL_ORDER[:5]}
    assert masked == canonical
    # libsodium's two others are the non-canonical spellings y + p of the small-order y values below 19.
    spelt_again = {int.from_bytes(e, "little") for e in LIBSODIUM_SMALL_ORDER[5:]}
    assert {y + P for y in masked if y + P < 1 << 255} == spelt_again
    assert ed25519.SMALL_ORDER_Y == masked


def test_the_modules_constants() -> None:
    assert (ed25519.P, ed25519.L, ed25519.D) == (P, L, D)
    y = 4 * pow(5, -1, P) % P  # RFC 8032: the base point has y = 4/5 and an even x
    x = x_for(y)
    assert x is not None
    base = (x if x % 2 == 0 else P - x, y)
    assert encode(base) == bytes.fromhex("58" + "66" * 31)
    assert times(L, base) == ZERO != times(8, base)  # L is the order of the base point


def test_the_module_arithmetic_agrees_with_the_affine_one() -> None:
    point = ed25519._decode(_honest(1))
    assert not isinstance(point, str)
    affine = (point[0], point[1])
    for k in (0, 1, 2, 3, 8, 255, L - 1, L, L + 1, 2**255 + 7):
        assert ed25519._encode(ed25519._multiply(k, point)) == encode(times(k, affine))
    assert ed25519._encode(ed25519._double(point)) == encode(add(affine, affine))


# --- public keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=[f"order-{order(t)}" for t in sorted(TORSION, key=encode)])
def test_every_small_order_point_is_refused(raw: bytes) -> None:
    assert ed25519.check_public_key(raw).reason == "is a small-order point: it would let anyone sign"


@pytest.mark.parametrize("raw", NON_CANONICAL)
def test_every_non_canonical_encoding_is_refused(raw: bytes) -> None:
    verdict = ed25519.check_public_key(raw)
    assert not verdict and verdict.reason.startswith("is not a canonical encoding")


def test_off_curve_and_mixed_order_keys_are_refused() -> None:
    off = next(y for y in range(2, 100) if x_for(y) is None)
    assert ed25519.check_public_key(off.to_bytes(32, "little")).reason == "is not a point on the Ed25519 curve"
    honest = ed25519._decode(_honest(2))
    assert not isinstance(honest, str)
    for t in TORSION[1:]:
        mixed = encode(add((honest[0], honest[1]), t))
        assert "prime-order subgroup" in ed25519.check_public_key(mixed).reason
    assert not ed25519.check_public_key(bytes(31)) and not ed25519.check_public_key(bytes(33))


@FAST
@given(st.binary(min_size=32, max_size=32))
def test_random_honest_keys_are_accepted(seed: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    raw = keys.public_bytes(key)
    assert ed25519.check_public_key(raw)
    assert keys.decode_public(keys.encode_public(raw)) == raw
    sig = key.sign(seed)
    assert ed25519.check_signature(sig, raw) and ed25519.verify(raw, sig, seed)


# --- where a key enters: statements, the registry, key files, verifier keys ---------------------

FIELDS = {  # statement type: (the field a key goes in, the statement with that key there)
    "registry.genesis": ("root_key", lambda k: make("registry.genesis", root_key=k)),
    "maintainer.key_added": ("public_key", lambda k: make("maintainer.key_added", public_key=k)),
    # Without the full examples' key proofs: those name the examples' own keys.
    "organization.registered": ("public_keys.1", lambda k: without(make(
        "organization.registered", public_keys=[keys.encode_public(_honest(3)), k]), "key_proofs")),
    "organization.key_added": ("public_key", lambda k: without(make("organization.key_added", public_key=k),
                                                               "key_proofs")),
}


@pytest.mark.parametrize("type_", list(FIELDS))
def test_weak_keys_are_refused_in_every_statement_field(type_: str) -> None:
    field, build = FIELDS[type_]
    for raw in WEAK:
        with pytest.raises(InvalidStatementError) as caught:
            statements.validate(build(keys.encode_public(raw)), origin=STATEMENT_ORIGIN)
        assert caught.value.field == field
        assert re.search("small-order point: it would let anyone sign|not a canonical encoding", caught.value.message)
    statements.validate(build(keys.encode_public(_honest(4))), origin=STATEMENT_ORIGIN)


def test_the_identity_key_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidStatementError, match=r"^public_key: is a small-order point: it would let anyone sign$"):
        statements.validate(make("organization.key_added", public_key=IDENTITY_B64), origin=STATEMENT_ORIGIN)


def test_a_registry_stores_no_weak_key(world: World, second_backend: Backend) -> None:
    def count() -> int:
        return world.registry.size()

    acme = Actor()
    world.org("acme", acme)
    before = count()
    honest = keys.encode_public(_honest(5))
    submissions = [  # (the field named in the refusal, the envelope with the key there)
        ("public_key", lambda k: world.root.sign("maintainer.key_added", public_key=k, name="Second")),
        ("public_keys.1", lambda k: world.maintainer.sign(
            "organization.registered", org="newco", name="Newco", country="JP", kind="company",
            public_keys=[honest, k])),
        ("public_key", lambda k: acme.sign("organization.key_added", org="acme", public_key=k)),
    ]
    for field, sign in submissions:
        for raw in WEAK:
            with pytest.raises(InvalidStatementError) as caught:
                world.submit(sign(keys.encode_public(raw)))
            assert caught.value.field == field
    assert count() == before
    # a genesis naming a weak root key, on an empty store
    fresh = second_backend.open()
    try:
        for raw in WEAK:
            with pytest.raises(InvalidStatementError, match="root_key"):
                fresh.submit(Actor().sign("registry.genesis", name="Weak", root_key=keys.encode_public(raw)))
        assert fresh.size() == 0
    finally:
        fresh.close()
    # the same statements with honest keys are recorded
    for _, sign in submissions:
        world.submit(sign(keys.encode_public(Actor().key)))
    assert count() == before + 3


def test_key_files_with_weak_keys_are_refused(tmp_path: Path) -> None:
    spki = bytes.fromhex("302a300506032b6570032100")  # SubjectPublicKeyInfo prefix of an Ed25519 key
    for index, raw in enumerate(WEAK):
        line = tmp_path / f"weak-{index}.pub"
        line.write_text(keys.encode_public(raw) + "\n", encoding="ascii")
        pem = tmp_path / f"weak-{index}.pem"
        body = base64.encodebytes(spki + raw)
        pem.write_bytes(b"-----BEGIN PUBLIC KEY-----\n" + body + b"-----END PUBLIC KEY-----\n")
        for path in (line, pem):
            with pytest.raises(ConfigurationError) as caught:
                keys.load_public_file(path)
            assert str(path) in caught.value.message
            assert re.search("small-order|not a canonical encoding|not a point", caught.value.message)
    honest = tmp_path / "honest.pub"
    keys.save_public(_honest(6), honest)
    assert keys.load_public_file(honest) == _honest(6)


def _vkey(name: str, sig_type: int, raw: bytes) -> str:
    key_id = note_key_id(name, sig_type, raw).hex()
    return f"{name}+{key_id}+{base64.b64encode(bytes([sig_type]) + raw).decode()}"


@pytest.mark.parametrize("sig_type", [SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1])
def test_verifier_keys_with_weak_keys_are_refused(sig_type: int) -> None:
    for raw in WEAK:
        with pytest.raises(NoteError, match=r"small-order|not a canonical encoding"):
            parse_verifier_key(_vkey("log.example/x", sig_type, raw))
        with pytest.raises(NoteError):
            format_verifier_key("log.example/x", raw, sig_type)
    assert parse_verifier_key(_vkey("log.example/x", sig_type, _honest(7))).public_key == _honest(7)


# --- signatures ------------------------------------------------------------------------------------

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"signer").digest())
STATEMENT = make("organization.key_added", public_key=keys.encode_public(_honest(8)))


def _high_s(sig: bytes) -> bytes:
    return sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")


def _with_sig(env: envelope.Envelope, sig: bytes) -> envelope.Envelope:
    return envelope.Envelope(payload=env.payload, keyid=env.keyid, sig=sig)


def test_the_forgery_verifies_under_plain_cryptography() -> None:
    # What is defended against: OpenSSL accepts the identity key, and under it this one signature
    # verifies for every message; so does the key's non-canonical spelling p + 1.
    for public in (IDENTITY, (P + 1).to_bytes(32, "little")):
        for message in (b"", b"anything", envelope.pae(envelope.PAYLOAD_TYPE, b'{"type":"forged"}')):
            Ed25519PublicKey.from_public_bytes(public).verify(FORGED, message)  # raises nothing


def test_envelope_verify_refuses_the_forgery() -> None:
    forged = envelope.Envelope(payload=b'{"type":"forged"}', keyid=keys.key_id(IDENTITY), sig=FORGED)
    with pytest.raises(InvalidSignatureError, match="small-order"):
        envelope.verify(forged, IDENTITY)
    assert not ed25519.verify(IDENTITY, FORGED, b"anything")


def test_envelope_verify_refuses_high_s_and_small_order_r() -> None:
    env = envelope.sign(STATEMENT, KEY)
    public = keys.public_bytes(KEY)
    envelope.verify(env, public)
    with pytest.raises(InvalidSignatureError, match="S is not below the group order L"):
        envelope.verify(_with_sig(env, _high_s(env.sig)), public)
    for r in SMALL_ORDER:
        with pytest.raises(InvalidSignatureError, match="R is a small-order point"):
            envelope.verify(_with_sig(env, r + env.sig[32:]), public)
    for r in NON_CANONICAL[:-2]:  # y + p
        with pytest.raises(InvalidSignatureError, match="R is not a canonical encoding"):
            envelope.verify(_with_sig(env, r + env.sig[32:]), public)
    for r in NON_CANONICAL[-2:]:  # x = 0 with the sign bit: the y alone says small-order
        with pytest.raises(InvalidSignatureError, match="R is a small-order point"):
            envelope.verify(_with_sig(env, r + env.sig[32:]), public)


def test_check_signature_checks_the_key_too() -> None:
    sig = KEY.sign(b"m")
    for raw in SMALL_ORDER:
        assert "the public key is a small-order point" in ed25519.check_signature(sig, raw).reason
    assert not ed25519.check_signature(sig[:63], keys.public_bytes(KEY))
    assert ed25519.check_signature(sig, keys.public_bytes(KEY)) is ed25519.ACCEPTED


def test_notes_refuse_high_s_and_small_order_r() -> None:
    signer = signer_from_private("log.example/x", KEY)
    text = format_checkpoint_text(Checkpoint("log.example/x", 1, bytes(32)))
    genuine = parse_note(sign_note(text, signer)).signatures[0]
    assert open_checkpoint(sign_note(text, signer), "log.example/x", signer.verifier)
    for bad in (_high_s(genuine.signature), IDENTITY + genuine.signature[32:], SMALL_ORDER[3] + bytes(32)):
        note = format_note(Note(text, (NoteSignature(genuine.name, genuine.key_id, bad),)))
        with pytest.raises(NoteVerificationError):
            open_checkpoint(note, "log.example/x", signer.verifier)
    # a cosignature with S + L
    witness_key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"witness").digest())
    witness = parse_verifier_key(format_verifier_key(
        "witness.example/w", keys.public_bytes(witness_key), SIG_TYPE_COSIGNATURE_V1))
    line = cosign_checkpoint(text, "witness.example/w", witness_key, 1_700_000_000)
    cosigned = sign_note(text, signer) + line.encode()
    assert open_checkpoint(cosigned, "log.example/x", signer.verifier, [witness], 1).cosignatures
    cosig = parse_note(cosigned).signatures[1]
    bad = NoteSignature(cosig.name, cosig.key_id, cosig.signature[:8] + _high_s(cosig.signature[8:]))
    tampered = format_note(Note(text, (genuine, bad)))
    with pytest.raises(NoteVerificationError, match="witness cosignature"):
        open_checkpoint(tampered, "log.example/x", signer.verifier, [witness], 1)


def test_the_public_key_check_is_cached() -> None:
    raw = _honest(9)
    assert ed25519.check_public_key(raw)
    hits = ed25519._check_public_key.cache_info().hits
    assert ed25519.check_public_key(bytearray(raw))
    assert ed25519._check_public_key.cache_info().hits == hits + 1
