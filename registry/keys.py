"""Ed25519 keys: generate, save and load files, key ids, public key encodings.

This is the edge where key material meets files: private keys are written
owner-only (0600) and loading refuses a private key file that group or others
can read. Everything else in the core takes key *objects* or raw public bytes.
A key id is the lowercase hex SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry import ed25519
from registry.encoding import b64decode, b64encode
from registry.errors import Base64Error, ConfigurationError, InvalidStatementError, NonCanonicalBase64Error

if TYPE_CHECKING:
    from registry.config import Settings

PUBLIC_KEY_SIZE = 32
PUBLIC_SUFFIX = ".pub"


def generate() -> Ed25519PrivateKey:
    """A new random Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes_raw()


def key_id(public: bytes | Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Lowercase hex SHA-256 of the raw public key."""
    raw = public if isinstance(public, bytes) else public_bytes(public)
    return hashlib.sha256(raw).hexdigest()


def encode_public(public: bytes | Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Standard base64 (with padding) of the raw public key, as statements carry it."""
    raw = public if isinstance(public, bytes) else public_bytes(public)
    return b64encode(raw)


def decode_public(text: str, field: str = "public_key") -> bytes:
    """Raw public key bytes from the base64 form statements carry; strict, and refusing weak keys.

    Raises:
        InvalidStatementError: naming ``field``: not canonical base64 of 32 bytes, or a key that
            :func:`registry.ed25519.check_public_key` refuses (small-order, non-canonical, ...).
    """
    raw = _decode_base64_key(text, field)
    verdict = ed25519.check_public_key(raw)
    if not verdict:
        raise InvalidStatementError(verdict.reason, field)
    return raw


def _decode_base64_key(text: str, field: str) -> bytes:
    try:
        raw = b64decode(text, field)
    except NonCanonicalBase64Error:  # worded as the wrong size is: not the spelling of a 32-byte key
        raise InvalidStatementError("must be a 32-byte Ed25519 public key", field) from None
    except Base64Error:
        raise InvalidStatementError("not standard base64", field) from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise InvalidStatementError("must be a 32-byte Ed25519 public key", field)
    return raw


def load_public(raw: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key object from 32 raw bytes."""
    return Ed25519PublicKey.from_public_bytes(raw)


def save_private(key: Ed25519PrivateKey, path: Path) -> None:
    """Write ``key`` (PKCS#8 PEM) owner-only and its public key beside it (``.pub``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: never overwrite a key; 0o600 from the first byte, not chmod afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    save_public(public_bytes(key), public_path(path))


def save_public(raw: bytes, path: Path) -> None:
    """Write a public key file: base64 of the raw key and a newline."""
    path.write_text(encode_public(raw) + "\n", encoding="ascii")


def public_path(private_path: Path) -> Path:
    """Where the public twin of a private key file lives."""
    return private_path.with_name(private_path.name + PUBLIC_SUFFIX)


def load_private(path: Path) -> Ed25519PrivateKey:
    """Load a private key file, refusing one that others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigurationError(f"no key file at {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"key file {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
            "run: chmod 600 " + str(path)
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:  # TypeError: encrypted
        raise ConfigurationError(f"{path} is not a PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} is not an Ed25519 key")
    return key


def check_key_permissions(settings: Settings) -> None:
    """Refuse to run while a private key file is open to group or others.

    Checks every file in the data directory's ``keys/`` folder except the
    ``.pub`` twins, and the configured root, maintainer and log key files
    wherever they live. Call it before anything is opened.

    Raises:
        ConfigurationError: names the first such file and the ``chmod 600`` fix.
    """
    folder = settings.data_dir / "keys"
    in_folder = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    configured = [p for p in (settings.root_key, settings.maintainer_key, settings.log_key) if p.is_file()]
    for path in dict.fromkeys([*in_folder, *configured]):
        if path.name.endswith(PUBLIC_SUFFIX):
            continue
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(
                f"private key file {path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {path}"
            )


def load_public_file(path: Path) -> bytes:
    """Raw public key from a ``.pub`` file (base64 line) or a PEM public key."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"no public key file at {path}") from None
    raw = _read_public(path, data)
    verdict = ed25519.check_public_key(raw)
    if not verdict:
        raise ConfigurationError(f"{path}: the public key {verdict.reason}")
    return raw


def _read_public(path: Path, data: bytes) -> bytes:
    if data.startswith(b"-----BEGIN PUBLIC KEY-----"):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as e:
            raise ConfigurationError(f"{path} is not a PEM public key: {e}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigurationError(f"{path} is not an Ed25519 public key")
        return public_bytes(key)
    if data.startswith(b"-----BEGIN"):
        return public_bytes(load_private(path))
    try:
        return _decode_base64_key(data.decode("ascii").strip(), "public_key")
    except (InvalidStatementError, UnicodeDecodeError):
        raise ConfigurationError(f"{path} holds no base64 Ed25519 public key") from None
