"""Tests for registry.keys: key ids, key files and their permissions, public key encodings."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import ed25519, keys
from registry.errors import ConfigurationError, InvalidStatementError

# RFC 8032 section 7.1, TEST 1.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
PUBLIC_B64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
KEY_ID = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
KEY = Ed25519PrivateKey.from_private_bytes(SEED)


# --- key ids and encodings -----------------------------------------------------------------


def test_public_bytes_rfc8032_vector() -> None:
    assert keys.public_bytes(KEY) == PUBLIC
    assert keys.public_bytes(KEY.public_key()) == PUBLIC


def test_key_id_is_sha256_of_the_raw_public_key() -> None:
    assert KEY_ID == hashlib.sha256(PUBLIC).hexdigest()
    assert keys.key_id(PUBLIC) == KEY_ID
    assert keys.key_id(KEY) == KEY_ID
    assert keys.key_id(KEY.public_key()) == KEY_ID


def test_key_ids_differ_between_keys() -> None:
    a, b = keys.generate(), keys.generate()
    assert keys.key_id(a) != keys.key_id(b)
    assert len(keys.key_id(a)) == 64 and keys.key_id(a) == keys.key_id(a).lower()


def test_encode_public_known_answer() -> None:
    assert keys.encode_public(PUBLIC) == PUBLIC_B64
    assert keys.encode_public(KEY) == PUBLIC_B64
    assert keys.encode_public(KEY.public_key()) == PUBLIC_B64
    assert keys.decode_public(PUBLIC_B64) == PUBLIC


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_encode_decode_round_trip(raw: bytes) -> None:
    # Most 32-byte strings are no prime-order point: those are refused, with registry.ed25519's reason.
    text = keys.encode_public(raw)
    verdict = ed25519.check_public_key(raw)
    if verdict:
        assert keys.decode_public(text) == raw
    else:
        with pytest.raises(InvalidStatementError, match=re.escape(verdict.reason)):
            keys.decode_public(text)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_generated_keys_round_trip(seed: bytes) -> None:
    raw = keys.public_bytes(Ed25519PrivateKey.from_private_bytes(seed))
    assert keys.decode_public(keys.encode_public(raw)) == raw


def _url_safe_example() -> tuple[str, str]:
    raw = keys.public_bytes(Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32))  # a real key with "+" and "/"
    std = base64.b64encode(raw).decode("ascii")
    assert "+" in std and "/" in std
    return std, base64.urlsafe_b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    "text",
    [
        "",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        base64.b64encode(bytes(64)).decode(),
        PUBLIC_B64.rstrip("="),  # unpadded
        PUBLIC_B64 + "=",  # over-padded
        PUBLIC_B64[:-2] + "p=",  # same bytes, non-zero padding bits ("o" -> "p")
        _url_safe_example()[1],
        " " + PUBLIC_B64,
        PUBLIC_B64 + "\n",
        PUBLIC_B64[:20] + "\n" + PUBLIC_B64[20:],
        "é" + PUBLIC_B64[1:],
        PUBLIC.hex(),
    ],
)
def test_decode_public_is_strict(text: str) -> None:
    with pytest.raises(InvalidStatementError) as info:
        keys.decode_public(text)
    assert info.value.field == "public_key"


def test_decode_public_non_canonical_padding_bits_decode_to_the_same_bytes() -> None:
    # The refused spelling above is not refused by accident: base64 alone would accept it.
    assert base64.b64decode(PUBLIC_B64[:-2] + "p=") == PUBLIC


def test_decode_public_url_safe_control() -> None:
    std, _ = _url_safe_example()
    assert len(keys.decode_public(std)) == 32


def test_decode_public_names_the_field() -> None:
    with pytest.raises(InvalidStatementError, match="root_key") as info:
        keys.decode_public("nope", field="root_key")
    assert info.value.field == "root_key"


# --- private key files ---------------------------------------------------------------------


def test_save_private_writes_owner_only_and_a_public_twin(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "root.key"
    keys.save_private(KEY, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    pub = keys.public_path(path)
    assert pub == tmp_path / "keys" / "root.key.pub"
    assert pub.read_text(encoding="ascii") == PUBLIC_B64 + "\n"
    assert keys.public_bytes(keys.load_private(path)) == PUBLIC
    assert keys.load_public_file(pub) == PUBLIC


def test_save_private_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        keys.save_private(KEY, tmp_path / "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_save_private_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    keys.save_private(KEY, path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        keys.save_private(keys.generate(), path)
    assert path.read_bytes() == before
    assert keys.load_public_file(keys.public_path(path)) == PUBLIC


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o610, 0o601, 0o666])
def test_load_private_refuses_a_file_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    keys.save_private(KEY, path)
    path.chmod(mode)
    with pytest.raises(ConfigurationError, match="chmod 600") as info:
        keys.load_private(path)
    assert f"{mode:o}" in info.value.message
    path.chmod(0o600)
    assert keys.public_bytes(keys.load_private(path)) == PUBLIC


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_load_private_accepts_owner_only(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    keys.save_private(KEY, path)
    path.chmod(mode)
    assert keys.key_id(keys.load_private(path)) == KEY_ID


def _owner_only(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_load_private_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no key file"):
        keys.load_private(tmp_path / "absent.key")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key\n",
        b"-----BEGIN PRIVATE KEY-----\nzzzz\n-----END PRIVATE KEY-----\n",
        PUBLIC_B64.encode() + b"\n",
        KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    ],
)
def test_load_private_refuses_junk(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ConfigurationError):
        keys.load_private(_owner_only(tmp_path / "k", data))


def test_load_private_refuses_another_algorithm(tmp_path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigurationError, match="Ed25519"):
        keys.load_private(_owner_only(tmp_path / "k", pem))


def test_load_private_refuses_an_encrypted_key(tmp_path: Path) -> None:
    pem = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(ConfigurationError):
        keys.load_private(_owner_only(tmp_path / "k", pem))


# --- public key files ----------------------------------------------------------------------


def test_load_public_file_base64_form(tmp_path: Path) -> None:
    for text in (PUBLIC_B64, PUBLIC_B64 + "\n", PUBLIC_B64 + "\r\n", "  " + PUBLIC_B64 + "\n\n"):
        path = tmp_path / "k.pub"
        path.write_text(text, encoding="ascii")
        assert keys.load_public_file(path) == PUBLIC


def test_load_public_file_pem_public_key(tmp_path: Path) -> None:
    pem = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "k.pem"
    path.write_bytes(pem)
    assert keys.load_public_file(path) == PUBLIC


def test_load_public_file_from_a_private_key_file_keeps_the_permission_check(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    keys.save_private(KEY, path)
    assert keys.load_public_file(path) == PUBLIC
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod"):
        keys.load_public_file(path)


def test_load_public_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no public key file"):
        keys.load_public_file(tmp_path / "absent.pub")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"hello\n",
        base64.b64encode(bytes(31)) + b"\n",
        base64.b64encode(bytes(33)) + b"\n",
        PUBLIC_B64.rstrip("=").encode() + b"\n",
        _url_safe_example()[1].encode() + b"\n",
        PUBLIC_B64.encode() + b"\n" + PUBLIC_B64.encode() + b"\n",
        b"\xff\xfe" + PUBLIC_B64.encode(),
        PUBLIC.hex().encode(),
        PUBLIC,
        b"-----BEGIN PUBLIC KEY-----\nzzzz\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\n",
    ],
)
def test_load_public_file_refuses_junk(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(data)
    with pytest.raises(ConfigurationError):
        keys.load_public_file(path)


def test_load_public_file_refuses_another_algorithm(tmp_path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / "k.pem"
    path.write_bytes(pem)
    with pytest.raises(ConfigurationError, match="Ed25519"):
        keys.load_public_file(path)
