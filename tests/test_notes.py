"""Tests for the C2SP formats (signednote, checkpoint, witness, receipts).

C2SP vectors, round trips, tampering and arbitrary input.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry._c2sp import MAX_INT64, MAX_NOTE_SIZE, MAX_PROOF_HASHES
from registry.checkpoint import (
    Checkpoint,
    cosign_checkpoint,
    format_checkpoint_text,
    open_checkpoint,
    parse_checkpoint_text,
    sign_checkpoint,
)
from registry.errors import NoteError, NoteVerificationError, ReceiptError
from registry.receipts import Receipt, format_receipt, parse_receipt, verify_receipt
from registry.signednote import (
    EM_DASH,
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Note,
    NoteSignature,
    NoteVerifier,
    format_note,
    format_verifier_key,
    note_key_id,
    open_note,
    parse_note,
    parse_verifier_key,
    sign_note,
    signer_from_private,
)
from registry.witness import AddCheckpointRequest, format_add_checkpoint, parse_add_checkpoint

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "signed_note_vectors.json").read_text("utf-8")
)
GO = VECTORS["go_sumdb_note"]
C2SP = VECTORS["c2sp_signed_note_example"]
COSIG = VECTORS["cosignature_structure"]
GEN = VECTORS["generated_checkpoint"]
SUMDB = VECTORS["go_sumdb_production_note"]

# transparency-dev testonly/constants.go leaf inputs; GEN's checkpoint commits to all 8.
RFC6962_LEAVE_HEX = ",00,10,2021,3031,40414243,5051525354555657,606162636465666768696a6b6c6d6e6f"
RFC6962_LEAVES = [bytes.fromhex(h) for h in RFC6962_LEAVE_HEX.split(",")]

ORIGIN = "example.com/registry"
WITNESS_NAME = "witness.example.com/w1"
COSIGN_TIME = 1_700_000_000


def key_from_hex(seed: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))


PETER = signer_from_private("PeterNeumann", key_from_hex(GO["ed25519_seed_hex"]))
PETER_VERIFIER = parse_verifier_key(GO["verifier_keys"]["PeterNeumann"])
ENOCH_VERIFIER = parse_verifier_key(GO["verifier_keys"]["EnochRoot"])
LOG_SIGNER = signer_from_private(ORIGIN, key_from_hex(GEN["log_seed_hex"]))
LOG_VERIFIER = parse_verifier_key(GEN["log_vkey"])
WITNESS_KEY = key_from_hex(GEN["witness_seed_hex"])
WITNESS_VERIFIER = parse_verifier_key(GEN["witness_vkey_type04"])
OTHER_WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other witness").digest())
OTHER_WITNESS_VERIFIER = parse_verifier_key(
    format_verifier_key(
        "witness.example.org/w2",
        OTHER_WITNESS_KEY.public_key().public_bytes_raw(),
        SIG_TYPE_COSIGNATURE_V1,
    )
)
# The same witness key under another name: cosignature/v1 does not commit to names.
ALIAS_WITNESS_VERIFIER = parse_verifier_key(
    format_verifier_key("alias.example/w1", WITNESS_VERIFIER.public_key, SIG_TYPE_COSIGNATURE_V1)
)
FAST = settings(max_examples=60, deadline=None)


# --- a naive RFC 6962 tree (section 2.1), independent of registry.tlog -------------------


def _leaf(d: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + d).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def mth(ds: list[bytes]) -> bytes:
    if not ds:
        return hashlib.sha256(b"").digest()
    if len(ds) == 1:
        return _leaf(ds[0])
    k = _split(len(ds))
    return _node(mth(ds[:k]), mth(ds[k:]))


def path(m: int, ds: list[bytes]) -> list[bytes]:
    if len(ds) <= 1:
        return []
    k = _split(len(ds))
    if m < k:
        return [*path(m, ds[:k]), mth(ds[k:])]
    return [*path(m - k, ds[k:]), mth(ds[:k])]


def subproof(m: int, ds: list[bytes], complete: bool) -> list[bytes]:
    if m == len(ds):
        return [] if complete else [mth(ds)]
    k = _split(len(ds))
    if m <= k:
        return [*subproof(m, ds[:k], complete), mth(ds[k:])]
    return [*subproof(m - k, ds[k:], False), mth(ds[:k])]


def entries(size: int) -> list[bytes]:
    return [b"entry %d\n" % i for i in range(size)]


@functools.cache
def signed_tree(size: int, cosigned: bool = True) -> bytes:
    cp = Checkpoint(ORIGIN, size, mth(entries(size)))
    signed = sign_checkpoint(cp, LOG_SIGNER)
    if cosigned:
        text = format_checkpoint_text(cp)
        signed += cosign_checkpoint(text, WITNESS_NAME, WITNESS_KEY, COSIGN_TIME).encode()
    return signed


def make_receipt(size: int, index: int, *, extra: bool = True) -> bytes:
    leaves = entries(size)
    leaf = leaves[index] if extra else None
    return format_receipt(Receipt(leaf, index, tuple(path(index, leaves)), signed_tree(size)))


def verify(data: bytes, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "origin": ORIGIN,
        "log_verifier": LOG_VERIFIER,
        "witness_verifiers": [WITNESS_VERIFIER],
        "witness_quorum": 1,
    }
    return verify_receipt(data, **(options | kwargs))


def open_generated(data: bytes) -> Any:
    return open_checkpoint(data, ORIGIN, LOG_VERIFIER, [WITNESS_VERIFIER], 1)


def open_peter(data: bytes) -> Any:
    return open_note(data, [PETER_VERIFIER])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- keys -----------------------------------------------------------------------------


def test_go_signer_matches_its_published_verifier_key() -> None:
    assert PETER.verifier_key == GO["verifier_keys"]["PeterNeumann"]
    assert PETER.key_id.hex() == "c74f20a3"
    assert PETER.public_key.hex() == GO["ed25519_pub_hex"]
    assert PETER.verifier == PETER_VERIFIER
    assert "private_key" not in repr(PETER)


def test_parse_verifier_key_fields() -> None:
    v = parse_verifier_key(GEN["witness_vkey_type04"])
    assert (v.name, v.key_id.hex(), v.sig_type) == (
        WITNESS_NAME,
        "5a3cfa2f",
        SIG_TYPE_COSIGNATURE_V1,
    )
    assert v.public_key.hex() == GEN["witness_pub_hex"]
    assert (
        note_key_id(ORIGIN, SIG_TYPE_ED25519, bytes.fromhex(GEN["log_pub_hex"])).hex() == "853d25e5"
    )


@pytest.mark.parametrize(
    "vkey",
    [
        *GO["verifier_keys"].values(),
        C2SP["vkey"],
        *VECTORS["keyhash_only"]["valid_vkeys"],
        GEN["log_vkey"],
        GEN["witness_vkey_type04"],
        SUMDB["vkey"],
    ],
)
def test_valid_verifier_keys_round_trip(vkey: str) -> None:
    v = parse_verifier_key(vkey)
    assert v.vkey == vkey
    assert format_verifier_key(v.name, v.public_key, v.sig_type) == vkey


def _vkey(name: str, raw: bytes, key_id: bytes | None = None) -> str:
    # Builds a vkey whose ID matches its contents, so only the intended defect remains.
    key_id = key_id or hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    return f"{name}+{key_id.hex()}+{b64(raw)}"


PUB = bytes.fromhex(GO["ed25519_pub_hex"])


@pytest.mark.parametrize(
    "vkey",
    [
        *VECTORS["keyhash_only"]["invalid_vkeys"],
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        _vkey("", b"\x01" + PUB),
        _vkey("Peter Neumann", b"\x01" + PUB),
        _vkey("Peter\u00a0Neumann", b"\x01" + PUB),
        _vkey("Peter\tNeumann", b"\x01" + PUB),
        GO["verifier_keys"]["PeterNeumann"].replace("c74f20a3", "C74F20A3"),
        GO["verifier_keys"]["PeterNeumann"].replace("c74f20a3", "c74f20a4"),
        GO["verifier_keys"]["PeterNeumann"].replace("c74f20a3", "c74f20a"),
        GO["verifier_keys"]["PeterNeumann"] + "\n",
        GO["verifier_keys"]["PeterNeumann"] + "=",
        GO["verifier_keys"]["PeterNeumann"][:-1],
        _vkey("x", b"\x01" + PUB[:31]),
        _vkey("x", b"\x01" + PUB + b"\x00"),
        _vkey("x", b"\x02" + PUB),
        _vkey("x", b""),
        _vkey("x", b"\x04" + PUB, key_id=b"\x00\x00\x00\x00"),
    ],
)
def test_invalid_verifier_keys_are_rejected(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


def test_verifier_checks_its_own_fields() -> None:
    with pytest.raises(NoteError):
        NoteVerifier("PeterNeumann", b"\x00" * 4, SIG_TYPE_ED25519, PUB)
    with pytest.raises(NoteError):
        NoteVerifier("PeterNeumann", PETER.key_id, 0x02, PUB)
    with pytest.raises(NoteError):
        signer_from_private("bad name", PETER.private_key)


# --- signed notes ---------------------------------------------------------------------


def test_go_note_is_reproduced_and_opens() -> None:
    data = GO["signed_note"].encode()
    assert sign_note(GO["text"], PETER) == data
    assert sign_note(GO["text"].encode(), PETER) == data
    opened = open_peter(data)
    assert opened.text == GO["text"].encode()
    assert [(s.name, s.key_id.hex()) for s in opened.signatures] == [("PeterNeumann", "c74f20a3")]
    assert opened.unverified_signatures == ()
    assert format_note(parse_note(data)) == data


def test_unknown_keys_are_ignored_and_known_ones_verified() -> None:
    data = GO["signed_note_two_sigs"].encode()
    only_peter = open_note(data, [PETER_VERIFIER])
    assert [s.name for s in only_peter.signatures] == ["PeterNeumann"]
    assert [s.name for s in only_peter.unverified_signatures] == ["EnochRoot"]
    both = open_note(data, [ENOCH_VERIFIER, PETER_VERIFIER])
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]
    assert format_note(parse_note(data)) == data


@pytest.mark.parametrize(
    ("data", "verifiers"),
    [
        (GO["signed_note"], [ENOCH_VERIFIER]),
        (GO["signed_note"], []),
        (GO["signed_note_two_sigs"], []),
        (C2SP["signed_note"], [PETER_VERIFIER]),
    ],
)
def test_note_without_known_signature_is_rejected(data: str, verifiers: list[NoteVerifier]) -> None:
    with pytest.raises(NoteVerificationError, match=r"^note has no verifiable signatures$"):
        open_note(data.encode(), verifiers)


def test_bad_signature_from_known_key_names_the_key() -> None:
    data = GO["signed_note_two_sigs"].replace("answer", "Answer").encode()
    with pytest.raises(
        NoteVerificationError, match=r"invalid signature for key PeterNeumann\+c74f20a3"
    ):
        open_note(data, [PETER_VERIFIER])


def test_repeated_lines_are_dropped_like_go() -> None:
    enoch_line = GO["signed_note_two_sigs"].splitlines(keepends=True)[-1]
    data = (
        GO["signed_note"] + GO["signed_note"].splitlines(keepends=True)[-1] + enoch_line * 2
    ).encode()
    opened = open_peter(data)
    assert len(opened.signatures) == 1
    assert len(opened.unverified_signatures) == 1


def test_c2sp_example_note_opens() -> None:
    opened = open_note(C2SP["signed_note"].encode(), [parse_verifier_key(C2SP["vkey"])])
    assert opened.text == b"This is an example message.\n"


def test_note_text_may_contain_blank_lines_and_signature_lookalikes() -> None:
    text = f"a\n\n\n{EM_DASH} PeterNeumann AAAAAAA=\n\nb\n\n"
    opened = open_peter(sign_note(text, PETER))
    assert opened.text == text.encode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no final newline",
        "tab\there\n",
        "nul\x00\n",
        "cr\r\n",
        b"\xff\n",
        b"\xed\xa0\x80\n",
        "\ud800\n",
        "x" * MAX_NOTE_SIZE + "\n",
    ],
)
def test_sign_note_rejects_bad_text(text: str | bytes) -> None:
    with pytest.raises(NoteError):
        sign_note(text, PETER)


def test_sign_note_needs_distinct_signers() -> None:
    with pytest.raises(NoteError):
        sign_note("x\n")
    with pytest.raises(NoteError):
        sign_note("x\n", PETER, signer_from_private("PeterNeumann", PETER.private_key))


def _peter_line() -> str:
    return GO["signed_note"].splitlines(keepends=True)[-1]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n",
        GO["text"].encode(),
        GO["signed_note"].encode()[:-1],
        GO["signed_note"].replace("\n\n", "\n").encode(),
        GO["signed_note"].replace(EM_DASH, "\u2013").encode(),
        GO["signed_note"].replace(EM_DASH, "--").encode(),
        GO["signed_note"].replace(EM_DASH + " ", EM_DASH).encode(),
        GO["signed_note"].replace("PeterNeumann ", "PeterNeumann  ").encode(),
        GO["signed_note"].replace("PeterNeumann ", "Peter+Neumann ").encode(),
        GO["signed_note"].replace(" x08go", "\u00a0x08go").encode(),
        GO["signed_note"].replace("nAM=", "nAN=").encode(),  # non-canonical base64 padding bits
        GO["signed_note"].replace("nAM=", "nAM").encode(),
        GO["signed_note"].replace("\n", "\r\n").encode(),
        (GO["text"] + f"\n{EM_DASH} PeterNeumann AAAAAA==\n").encode(),  # key ID but no signature
        (GO["text"] + f"\n{EM_DASH} PeterNeumann \n").encode(),
        (GO["text"] + f"\n{EM_DASH}  AAAAAAA=\n").encode(),
        GO["signed_note"].encode() + b"trailing",
        GO["signed_note"].encode() + b"\n",
        GO["signed_note"].encode().replace(b"you", b"y\x00u"),
        GO["signed_note"].encode().replace(b"you", b"y\xc0u"),
        (GO["text"] + "\n" + _peter_line() * (MAX_SIGNATURES + 1)).encode(),
        ("x" * MAX_NOTE_SIZE + "\n\n" + _peter_line()).encode(),
    ],
)
def test_parse_note_rejects_malformed_notes(data: bytes) -> None:
    with pytest.raises(NoteError) as caught:
        parse_note(data)
    assert not isinstance(caught.value, NoteVerificationError)


def test_note_limits_are_exact() -> None:
    line = _peter_line()
    assert len(parse_note((GO["text"] + "\n" + line * MAX_SIGNATURES).encode()).signatures) == 100
    filler = MAX_NOTE_SIZE - len(sign_note("\n", PETER))
    biggest = sign_note("x" * filler + "\n", PETER)
    assert len(biggest) == MAX_NOTE_SIZE
    assert open_peter(biggest).text.startswith(b"xxx")


@pytest.mark.parametrize(
    "note",
    [
        Note(b"x\n", ()),
        Note(b"x", (NoteSignature("a", b"\x00" * 4, b"s"),)),
        Note(b"x\n", (NoteSignature("a", b"\x00" * 3, b"s"),)),
        Note(b"x\n", (NoteSignature("a", b"\x00" * 4, b""),)),
        Note(b"x\n", (NoteSignature("a b", b"\x00" * 4, b"s"),)),
        Note(b"x\n", (NoteSignature("a", b"\x00" * 4, b"s"),) * (MAX_SIGNATURES + 1)),
    ],
)
def test_format_note_rejects_what_parse_would(note: Note) -> None:
    with pytest.raises(NoteError):
        format_note(note)


names = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12
).filter(lambda s: "+" not in s and not any(c.isspace() for c in s))
lines = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="".join(map(chr, range(32)))),
    min_size=1,
    max_size=24,
)
hashes = st.binary(min_size=32, max_size=32)
SIGNING_KEYS = [
    Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"key %d" % i).digest()) for i in range(3)
]


@FAST
@given(
    st.lists(st.one_of(lines, st.just("")), min_size=1, max_size=5),
    st.lists(names, min_size=1, max_size=3, unique=True),
)
def test_signed_notes_round_trip(text_lines: list[str], signer_names: list[str]) -> None:
    text = "".join(f"{line}\n" for line in text_lines)
    signers = [signer_from_private(n, k) for n, k in zip(signer_names, SIGNING_KEYS, strict=False)]
    data = sign_note(text, *signers)
    note = parse_note(data)
    assert note.text == text.encode()
    assert [s.name for s in note.signatures] == signer_names
    assert format_note(note) == data
    assert open_note(data, [s.verifier for s in signers]).signatures == note.signatures


# --- checkpoints and cosignatures -----------------------------------------------------


def test_c2sp_cosignature_line_decodes() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    note = parse_note(f"{text}\n{COSIG['c2sp_example_line']}\n".encode())
    (sig,) = note.signatures
    assert sig.key_id.hex() == COSIG["c2sp_example_keyid_hex"]
    assert int.from_bytes(sig.signature[:8], "big") == COSIG["c2sp_example_timestamp"]
    assert len(sig.signature) == 8 + 64
    assert parse_checkpoint_text(note.text) == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    raw = base64.b64decode(COSIG["formats_sig_b64"])
    assert len(raw) == 76
    assert int.from_bytes(raw[4:12], "big") == COSIG["formats_timestamp"]


def test_generated_checkpoint_is_reproduced_byte_for_byte() -> None:
    text = GEN["checkpoint_text"].encode()
    cp = parse_checkpoint_text(text)
    assert cp == Checkpoint(ORIGIN, 8, mth(RFC6962_LEAVES))
    assert format_checkpoint_text(cp) == text
    cosignature = cosign_checkpoint(text, WITNESS_NAME, WITNESS_KEY, COSIGN_TIME)
    assert (
        sign_checkpoint(cp, LOG_SIGNER) + cosignature.encode() == GEN["signed_checkpoint"].encode()
    )
    # The vector's message is exactly what cosignature/v1 signs.
    signature = base64.b64decode(cosignature.split(" ")[-1])[12:]
    witness_public: Ed25519PublicKey = WITNESS_KEY.public_key()
    witness_public.verify(signature, GEN["cosignature_signed_message"].encode())


def test_generated_checkpoint_opens_with_log_and_witness_keys() -> None:
    signed = open_generated(GEN["signed_checkpoint"].encode())
    assert signed.checkpoint == Checkpoint(ORIGIN, 8, mth(RFC6962_LEAVES))
    assert signed.note == GEN["signed_checkpoint"].encode()
    assert (signed.log_signature.name, signed.log_signature.key_id.hex()) == (ORIGIN, "853d25e5")
    (cosig,) = signed.cosignatures
    assert (cosig.name, cosig.key_id.hex(), cosig.timestamp) == (
        WITNESS_NAME,
        "5a3cfa2f",
        COSIGN_TIME,
    )
    # Without a quorum the witness line is simply another unknown signature.
    assert (
        open_checkpoint(GEN["signed_checkpoint"].encode(), ORIGIN, LOG_VERIFIER).cosignatures == ()
    )


def test_tampered_generated_checkpoint_fails() -> None:
    with pytest.raises(NoteVerificationError, match=r"^log signature: invalid signature for key"):
        open_generated(GEN["tampered_checkpoint_must_fail"].encode())


def _cosigned(text: str, *, time: int = COSIGN_TIME) -> bytes:
    line = cosign_checkpoint(text.encode(), WITNESS_NAME, WITNESS_KEY, time)
    return sign_note(text, LOG_SIGNER) + line.encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (sign_note(GEN["checkpoint_text"], PETER), "^log signature: checkpoint is not signed by"),
        (
            _cosigned(GEN["checkpoint_text"].replace(ORIGIN, "example.com/other")),
            "^origin: expected",
        ),
        (
            sign_checkpoint(parse_checkpoint_text(GEN["checkpoint_text"].encode()), LOG_SIGNER),
            "^witness quorum: 0 known witnesses cosigned, 1 required$",
        ),
        (
            GEN["signed_checkpoint"].replace("Wjz6LwAAAABlU/EA", "Wjz6LwAAAABlU/EB"),
            "^witness cosignature: invalid signature for key witness.example.com/w1",
        ),
        (
            GEN["signed_checkpoint"].replace("Wjz6LwAAAABlU/EA", "Wjz6L4AAAABlU/EA"),
            "^witness cosignature: invalid signature",
        ),  # timestamp above 2**63-1
    ],
)
def test_open_checkpoint_names_the_failed_step(data: bytes | str, message: str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(NoteVerificationError, match=message):
        open_generated(raw)


def test_open_checkpoint_counts_each_witness_once() -> None:
    data = GEN["signed_checkpoint"].encode()
    witnesses = [WITNESS_VERIFIER, OTHER_WITNESS_VERIFIER]
    with pytest.raises(NoteVerificationError, match=r"^witness quorum: 1 known"):
        open_checkpoint(data, ORIGIN, LOG_VERIFIER, witnesses, 2)
    other = cosign_checkpoint(
        GEN["checkpoint_text"].encode(), "witness.example.org/w2", OTHER_WITNESS_KEY, 5
    )
    repeated = data + GEN["signed_checkpoint"].encode().splitlines(keepends=True)[-1]
    signed = open_checkpoint(repeated + other.encode(), ORIGIN, LOG_VERIFIER, witnesses, 2)
    assert [(c.name, c.timestamp) for c in signed.cosignatures] == [
        (WITNESS_NAME, COSIGN_TIME),
        ("witness.example.org/w2", 5),
    ]


def test_reordered_signatures_are_the_same_checkpoint() -> None:
    # Signature order carries no meaning in C2SP notes: witnesses' lines arrive in any order.
    head, log_line, witness_line = GEN["signed_checkpoint"].rsplit("\n", 3)[0:3]
    reordered = f"{head}\n{witness_line}\n{log_line}\n".encode()
    assert (
        open_generated(reordered).checkpoint
        == open_generated(GEN["signed_checkpoint"].encode()).checkpoint
    )


@pytest.mark.parametrize(
    ("origin", "log", "witnesses", "quorum"),
    [
        ("example.com/other", LOG_VERIFIER, [WITNESS_VERIFIER], 1),
        (WITNESS_NAME, WITNESS_VERIFIER, [], 0),
        (ORIGIN, LOG_VERIFIER, [WITNESS_VERIFIER], 2),
        (ORIGIN, LOG_VERIFIER, [WITNESS_VERIFIER], -1),
        (ORIGIN, LOG_VERIFIER, [LOG_VERIFIER], 1),
        (
            ORIGIN,
            LOG_VERIFIER,
            [WITNESS_VERIFIER, ALIAS_WITNESS_VERIFIER],
            1,
        ),
    ],
)
def test_misconfigured_verification_is_a_value_error(
    origin: str, log: NoteVerifier, witnesses: list[NoteVerifier], quorum: int
) -> None:
    data = GEN["signed_checkpoint"].encode()
    with pytest.raises(ValueError) as caught:
        open_checkpoint(data, origin, log, witnesses, quorum)
    assert not isinstance(caught.value, NoteError)
    for receipt in (make_receipt(3, 1), b"configuration is checked before parsing"):
        with pytest.raises(ValueError) as caught:
            verify(
                receipt,
                origin=origin,
                log_verifier=log,
                witness_verifiers=witnesses,
                witness_quorum=quorum,
            )
        assert not isinstance(caught.value, NoteError)


def test_sumdb_production_note_verifies_and_every_byte_matters() -> None:
    data = SUMDB["signed_note"].encode()
    verifier = parse_verifier_key(SUMDB["vkey"])
    opened = open_note(data, [verifier])
    assert parse_checkpoint_text(opened.text).size == 65664258
    assert parse_checkpoint_text(opened.text).origin == "go.sum database tree"
    for i in range(len(data)):
        for flip in (0x01, 0x20, 0x80):
            tampered = data[:i] + bytes([data[i] ^ flip]) + data[i + 1 :]
            with pytest.raises(NoteError):
                open_note(tampered, [verifier])


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\n",
        b"o\n1\n",
        b"o\n1\n" + GEN["checkpoint_text"].encode().split(b"\n")[2],
        GEN["checkpoint_text"].encode().replace(b"\n8\n", b"\n08\n"),
        GEN["checkpoint_text"].encode().replace(b"\n8\n", b"\n+8\n"),
        GEN["checkpoint_text"].encode().replace(b"\n8\n", b"\n8 \n"),
        GEN["checkpoint_text"].encode().replace(b"\n8\n", b"\n-8\n"),
        GEN["checkpoint_text"].encode().replace(b"\n8\n", b"\n8_0\n"),
        GEN["checkpoint_text"].encode().replace(b"\n8\n", "\n\u0668\n".encode()),
        GEN["checkpoint_text"].encode().replace(b"\n8\n", b"\n9223372036854775808\n"),
        GEN["checkpoint_text"].encode().replace(b"\n8\n", b"\n" + b"9" * 5000 + b"\n"),
        GEN["checkpoint_text"].encode().replace(b"Qyg=", b"Qyh="),
        GEN["checkpoint_text"].encode().replace(b"Qyg=", b"Qy=="),
        GEN["checkpoint_text"].encode().replace(b"Qyg=", b"QygA"),
        GEN["checkpoint_text"].encode().replace(ORIGIN.encode(), b""),
        GEN["checkpoint_text"].encode() + b"\n",
        GEN["checkpoint_text"].encode() + b"ext",
        GEN["checkpoint_text"].encode() + b"ext\n\nmore\n",
        GEN["checkpoint_text"].encode() + b"ext\tx\n",
        GEN["checkpoint_text"].encode().replace(b"\n", b"\r\n"),
        GEN["checkpoint_text"].encode() + b"\xff\n",
        GEN["checkpoint_text"].encode() + b"x" * MAX_NOTE_SIZE + b"\n",
    ],
)
def test_parse_checkpoint_text_rejects(text: bytes) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint_text(text)


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("", 1, b"\x00" * 32),
        Checkpoint("a\nb", 1, b"\x00" * 32),
        Checkpoint("a\x00", 1, b"\x00" * 32),
        Checkpoint("\ud800", 1, b"\x00" * 32),
        Checkpoint("a", -1, b"\x00" * 32),
        Checkpoint("a", MAX_INT64 + 1, b"\x00" * 32),
        Checkpoint("a", True, b"\x00" * 32),
        Checkpoint("a", 1, b"\x00" * 31),
        Checkpoint("a", 1, b"\x00" * 32, ("",)),
        Checkpoint("a", 1, b"\x00" * 32, ("x\ny",)),
    ],
)
def test_format_checkpoint_text_rejects(cp: Checkpoint) -> None:
    with pytest.raises(NoteError):
        format_checkpoint_text(cp)


def test_signing_and_cosigning_check_their_inputs() -> None:
    cp = parse_checkpoint_text(GEN["checkpoint_text"].encode())
    with pytest.raises(NoteError):
        sign_checkpoint(cp, PETER)  # key name must be the origin
    text = GEN["checkpoint_text"].encode()
    for bad in [
        lambda: cosign_checkpoint(text, WITNESS_NAME, WITNESS_KEY, -1),
        lambda: cosign_checkpoint(text, WITNESS_NAME, WITNESS_KEY, MAX_INT64 + 1),
        lambda: cosign_checkpoint(text, "bad name", WITNESS_KEY, 1),
        lambda: cosign_checkpoint(b"not a checkpoint\n", WITNESS_NAME, WITNESS_KEY, 1),
    ]:
        with pytest.raises(NoteError):
            bad()
    line = cosign_checkpoint(text, WITNESS_NAME, WITNESS_KEY, MAX_INT64)
    assert line.startswith(f"{EM_DASH} {WITNESS_NAME} ") and line.endswith("\n")
    signed = open_generated(sign_checkpoint(cp, LOG_SIGNER) + line.encode())
    assert signed.cosignatures[0].timestamp == MAX_INT64


checkpoints = st.builds(
    Checkpoint,
    origin=lines,
    size=st.integers(0, MAX_INT64),
    root=hashes,
    extensions=st.lists(lines, max_size=3).map(tuple),
)


@FAST
@given(checkpoints)
def test_checkpoint_text_round_trips(cp: Checkpoint) -> None:
    text = format_checkpoint_text(cp)
    assert parse_checkpoint_text(text) == cp
    assert format_checkpoint_text(parse_checkpoint_text(text)) == text


@FAST
@given(
    checkpoints.map(lambda cp: Checkpoint(ORIGIN, cp.size, cp.root, cp.extensions)),
    st.integers(0, MAX_INT64),
)
def test_signed_and_cosigned_checkpoints_open(cp: Checkpoint, time: int) -> None:
    text = format_checkpoint_text(cp)
    data = (
        sign_checkpoint(cp, LOG_SIGNER)
        + cosign_checkpoint(text, WITNESS_NAME, WITNESS_KEY, time).encode()
    )
    signed = open_generated(data)
    assert signed.checkpoint == cp
    assert signed.cosignatures[0].timestamp == time


# --- witness add-checkpoint requests --------------------------------------------------


def test_add_checkpoint_vector_parses_and_its_proof_is_rfc6962() -> None:
    data = GEN["witness_add_checkpoint_request_7_to_8"].encode()
    request = parse_add_checkpoint(data)
    assert request.old_size == 7
    assert list(request.proof) == subproof(7, RFC6962_LEAVES, True)
    assert request.checkpoint == GEN["signed_checkpoint"].encode().rsplit(b"\n", 2)[0] + b"\n"
    assert open_checkpoint(request.checkpoint, ORIGIN, LOG_VERIFIER).checkpoint.size == 8
    assert format_add_checkpoint(request.old_size, request.proof, request.checkpoint) == data


CHECKPOINT_NOTE = GEN["signed_checkpoint"].encode()
ADD = GEN["witness_add_checkpoint_request_7_to_8"]


@pytest.mark.parametrize(
    "data",
    [
        "",
        ADD.replace("old 7\n", "old 07\n"),
        ADD.replace("old 7\n", "old -7\n"),
        ADD.replace("old 7\n", "old  7\n"),
        ADD.replace("old 7\n", "Old 7\n"),
        ADD.replace("old 7\n", "old 7 \n"),
        ADD.replace("old 7\n", ""),
        ADD.replace("old 7\n", "old 7\n\n"),
        ADD.replace("=\n\n", "=\n"),
        ADD.replace("Gl8=", "Gl9="),
        ADD.replace("Gl8=", "Gl8"),
        ADD.replace("old 7\n", "old 7\n" + f"{b64(bytes(32))}\n" * 60),
        ADD.replace("old 7\n", "old 7\u00e9\n"),
        ADD.replace("\n", "\r\n"),
        ADD.split("\n\n", 1)[0] + "\n\n" + GEN["checkpoint_text"],
        ADD.split("\n\n", 1)[0] + "\n\n" + GO["signed_note"],
        ADD + "trailing",
    ],
)
def test_parse_add_checkpoint_rejects(data: str) -> None:
    with pytest.raises(NoteError):
        parse_add_checkpoint(data.encode())


def test_format_add_checkpoint_rejects() -> None:
    with pytest.raises(NoteError):
        format_add_checkpoint(-1, [], CHECKPOINT_NOTE)
    with pytest.raises(NoteError):
        format_add_checkpoint(1, [bytes(32)] * (MAX_PROOF_HASHES + 1), CHECKPOINT_NOTE)
    with pytest.raises(NoteError):
        format_add_checkpoint(1, [bytes(31)], CHECKPOINT_NOTE)
    with pytest.raises(NoteError):
        format_add_checkpoint(1, [], GO["signed_note"].encode())


@FAST
@given(
    st.integers(0, MAX_INT64),
    st.lists(hashes, max_size=MAX_PROOF_HASHES),
    st.sampled_from([1, 2, 9]),
)
def test_add_checkpoint_round_trips(old_size: int, proof: list[bytes], size: int) -> None:
    data = format_add_checkpoint(old_size, proof, signed_tree(size))
    assert parse_add_checkpoint(data) == AddCheckpointRequest(
        old_size, tuple(proof), signed_tree(size)
    )


# --- receipts -------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 14))
def test_receipts_verify_for_every_leaf(size: int) -> None:
    for index in range(size):
        data = make_receipt(size, index)
        verified = verify(data)
        assert (verified.index, verified.leaf) == (index, b"entry %d\n" % index)
        assert verified.leaf_hash == _leaf(verified.leaf)
        assert verified.checkpoint.checkpoint.size == size
        assert verified.checkpoint.note == signed_tree(size)
        assert verified.checkpoint.cosignatures[0].timestamp == COSIGN_TIME
        assert format_receipt(parse_receipt(data)) == data


def test_receipt_text_layout() -> None:
    data = make_receipt(3, 2)
    assert data.split(b"\n")[:4] == [
        b"c2sp.org/tlog-proof@v1",
        b"extra " + base64.b64encode(b"entry 2\n"),
        b"index 2",
        base64.b64encode(mth(entries(2))),
    ]
    assert data.endswith(b"\n\n" + signed_tree(3))


def test_receipt_leaf_hash_comes_from_extra_or_the_caller() -> None:
    bare = make_receipt(5, 3, extra=False)
    with pytest.raises(ReceiptError) as caught:
        verify(bare)
    assert caught.value.step == "leaf"
    assert verify(bare, leaf_hash=_leaf(b"entry 3\n")).leaf is None
    with pytest.raises(ReceiptError) as caught:
        verify(bare, leaf_hash=_leaf(b"entry 4\n"))
    assert caught.value.step == "inclusion"
    with pytest.raises(ReceiptError) as caught:
        verify(make_receipt(5, 3), leaf_hash=_leaf(b"entry 4\n"))
    assert caught.value.step == "leaf"
    with pytest.raises(ReceiptError) as caught:
        verify(make_receipt(5, 3), leaf_hash_fn=lambda b: b[:31])
    assert caught.value.step == "leaf"
    custom = verify(bare, leaf_hash_fn=lambda b: b"unused", leaf_hash=_leaf(b"entry 3\n"))
    assert custom.leaf_hash == _leaf(b"entry 3\n")


def _other_log() -> NoteVerifier:
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"impostor").digest())
    return signer_from_private(ORIGIN, key).verifier


@pytest.mark.parametrize(
    ("step", "data", "options"),
    [
        ("parse", b"c2sp.org/tlog-proof@v2" + make_receipt(3, 1)[22:], {}),
        ("checkpoint", make_receipt(3, 1), {"log_verifier": _other_log()}),
        ("witness", make_receipt(3, 1), {"witness_verifiers": [OTHER_WITNESS_VERIFIER]}),
        (
            "witness",
            format_receipt(
                Receipt(b"entry 1\n", 1, tuple(path(1, entries(3))), signed_tree(3, cosigned=False))
            ),
            {},
        ),
        ("inclusion", make_receipt(3, 1).replace(b"index 1", b"index 0"), {}),
        ("inclusion", make_receipt(3, 1).replace(b"index 1", b"index 3"), {}),
        ("inclusion", make_receipt(4, 1).replace(b"index 1", b"index 9"), {}),
        ("inclusion", format_receipt(Receipt(b"entry 1\n", 1, (), signed_tree(3))), {}),
        (
            "inclusion",
            format_receipt(Receipt(b"entry 1\n", 1, tuple(path(1, entries(4))), signed_tree(3))),
            {},
        ),
        (
            "inclusion",
            format_receipt(Receipt(b"entry 9\n", 1, tuple(path(1, entries(3))), signed_tree(3))),
            {},
        ),
    ],
)
def test_receipt_errors_name_the_step(step: str, data: bytes, options: dict[str, Any]) -> None:
    with pytest.raises(ReceiptError) as caught:
        verify(data, **options)
    assert caught.value.step == step
    assert str(caught.value).startswith(f"{step}: ")


RECEIPT = make_receipt(7, 3).decode()


@pytest.mark.parametrize(
    "data",
    [
        "",
        RECEIPT.replace("c2sp.org/tlog-proof@v1\n", ""),
        RECEIPT.replace("c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v1 \n"),
        RECEIPT.replace("c2sp.org/tlog-proof@v1\n", "C2SP.org/tlog-proof@v1\n"),
        RECEIPT.replace("extra ZW50cnkgMwo=\n", "extra \n"),
        RECEIPT.replace("extra ZW50cnkgMwo=\n", "extra ZW50cnkgMwp=\n"),
        RECEIPT.replace("extra ZW50cnkgMwo=\n", "extra  ZW50cnkgMwo=\n"),
        RECEIPT.replace("extra ZW50cnkgMwo=\n", "extra=ZW50cnkgMwo=\n"),
        RECEIPT.replace("extra ZW50cnkgMwo=\nindex 3\n", "index 3\nextra ZW50cnkgMwo=\n"),
        RECEIPT.replace("index 3\n", ""),
        RECEIPT.replace("index 3\n", "index 03\n"),
        RECEIPT.replace("index 3\n", "index -3\n"),
        RECEIPT.replace("index 3\n", "index 3 \n"),
        RECEIPT.replace("index 3\n", "index 3\nindex 3\n"),
        RECEIPT.replace("index 3\n", "index 9223372036854775808\n"),
        RECEIPT.replace("index 3\n", "index 3\n" + f"{b64(bytes(32))}\n" * 61),
        RECEIPT.replace("index 3\n", f"index 3\n{b64(bytes(31))}\n"),
        RECEIPT.replace("index 3\n", "index 3\n\u00e9\n"),
        RECEIPT.replace("\n\nexample.com/registry", "\nexample.com/registry"),
        RECEIPT.replace("\n\nexample.com/registry", "\n\n\nexample.com/registry"),
        RECEIPT.replace("\n", "\r\n"),
        RECEIPT.split("\n\n", 1)[0] + "\n\n" + GEN["checkpoint_text"],
        RECEIPT.split("\n\n", 1)[0] + "\n\n" + GO["signed_note"],
        RECEIPT + "trailing",
        RECEIPT.replace("extra ZW50cnkgMwo=", "extra " + b64(b"x" * MAX_NOTE_SIZE)),
    ],
)
def test_parse_receipt_rejects(data: str) -> None:
    with pytest.raises(NoteError):
        parse_receipt(data.encode())
    with pytest.raises(ReceiptError) as caught:
        verify(data.encode())
    assert caught.value.step == "parse"


@pytest.mark.parametrize(
    "receipt",
    [
        Receipt(b"", 0, (), CHECKPOINT_NOTE),
        Receipt(None, -1, (), CHECKPOINT_NOTE),
        Receipt(None, 0, (bytes(31),), CHECKPOINT_NOTE),
        Receipt(None, 0, (bytes(32),) * (MAX_PROOF_HASHES + 1), CHECKPOINT_NOTE),
        Receipt(None, 0, (), GEN["checkpoint_text"].encode()),
        Receipt(b"x" * MAX_NOTE_SIZE, 0, (), CHECKPOINT_NOTE),
    ],
)
def test_format_receipt_rejects(receipt: Receipt) -> None:
    with pytest.raises(NoteError):
        format_receipt(receipt)


receipts = st.builds(
    Receipt,
    extra=st.none() | st.binary(min_size=1, max_size=64),
    index=st.integers(0, MAX_INT64),
    proof=st.lists(hashes, max_size=MAX_PROOF_HASHES).map(tuple),
    checkpoint=st.sampled_from([1, 2, 9]).map(signed_tree),
)


@FAST
@given(receipts)
def test_receipts_round_trip(receipt: Receipt) -> None:
    data = format_receipt(receipt)
    assert parse_receipt(data) == receipt
    assert format_receipt(parse_receipt(data)) == data


# --- tampering: every change is rejected with a NoteError -----------------------------

SAMPLES: dict[str, tuple[bytes, Callable[[bytes], Any]]] = {
    "note": (GO["signed_note"].encode(), open_peter),
    "checkpoint": (GEN["signed_checkpoint"].encode(), open_generated),
    "receipt": (make_receipt(7, 3), verify),
}


@pytest.mark.parametrize("kind", SAMPLES)
def test_every_byte_flip_is_rejected(kind: str) -> None:
    data, opener = SAMPLES[kind]
    opener(data)
    for i in range(len(data)):
        for flip in (0x01, 0x04, 0x20, 0x80, 0xFF):
            with pytest.raises(NoteError):
                opener(data[:i] + bytes([data[i] ^ flip]) + data[i + 1 :])


@FAST
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_random_byte_changes_are_rejected(kind: str, data: st.DataObject) -> None:
    original, opener = SAMPLES[kind]
    i = data.draw(st.integers(0, len(original) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != original[i]))
    with pytest.raises(NoteError):
        opener(original[:i] + bytes([value]) + original[i + 1 :])


@pytest.mark.parametrize("kind", SAMPLES)
def test_dropping_any_line_is_rejected(kind: str) -> None:
    data, opener = SAMPLES[kind]
    lines_ = data.split(b"\n")
    for i in range(len(lines_) - 1):
        with pytest.raises(NoteError):
            opener(b"\n".join(lines_[:i] + lines_[i + 1 :]))


def test_reordered_proof_and_changed_index_are_rejected() -> None:
    data = make_receipt(7, 3)
    head, rest = data.split(b"\n\n", 1)
    header = head.split(b"\n")
    proof = header[3:]
    for permutation in (proof[::-1], proof[1:] + proof[:1]):
        with pytest.raises(ReceiptError) as caught:
            verify(b"\n".join(header[:3] + permutation) + b"\n\n" + rest)
        assert caught.value.step == "inclusion"
    for index in [*range(7), 7, 8, 2**62]:
        if index != 3:
            with pytest.raises(ReceiptError) as caught:
                verify(data.replace(b"index 3\n", b"index %d\n" % index))
            assert caught.value.step == "inclusion"


# --- arbitrary input: parsers raise NoteError and nothing else ------------------------

PARSERS: dict[str, Callable[[bytes], Any]] = {
    "parse_note": parse_note,
    "open_note": open_peter,
    "parse_checkpoint_text": parse_checkpoint_text,
    "open_checkpoint": open_generated,
    "parse_add_checkpoint": parse_add_checkpoint,
    "parse_receipt": parse_receipt,
    "verify_receipt": verify,
    "parse_verifier_key": lambda b: parse_verifier_key(b.decode("utf-8", "surrogateescape")),
}
VALID_INPUTS = [
    GO["signed_note_two_sigs"].encode(),
    GEN["signed_checkpoint"].encode(),
    GEN["checkpoint_text"].encode(),
    ADD.encode(),
    make_receipt(7, 3),
    GEN["witness_vkey_type04"].encode(),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(VALID_INPUTS))
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 8)))
        data = data[:start] + draw(st.binary(max_size=8)) + data[end:]
    return data


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=200) | mutated())
def test_parsers_raise_only_note_errors(parser: str, data: bytes) -> None:
    try:
        PARSERS[parser](data)
    except NoteError:
        pass
