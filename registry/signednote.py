"""C2SP signed notes (c2sp.org/signed-note): verifier keys, signers, signing, parsing, opening.

What it does: key IDs and ``name+hash+base64`` verifier keys (vkeys), Ed25519
note signers, the note text and signature-line format, and opening a note the
way Go's ``note.Open`` does (unknown keys' lines set aside, a known key's bad
signature fatal). Parsers accept only what the formatters write: canonical
base64, no stray whitespace or control characters, bounded sizes; malformed
input raises NoteError and failed signatures NoteVerificationError.

It verifies the two signature types the registry knows: Ed25519 (0x01) and
Ed25519 cosignature/v1 (0x04). A cosignature signs a message that
c2sp.org/tlog-cosignature defines, so that message is built here too; the
cosignature line's timestamp and the checkpoint it covers are
``registry.checkpoint``'s business.

What it does not do: read files, keys, the clock or the network; interpret a
note's text (see ``registry.checkpoint``); other signature types.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import ed25519
from registry._c2sp import CONTROL, MAX_INT64, check_size, decode_text, encode, parse_base64, show
from registry.encoding import b64encode
from registry.errors import NoteError, NoteVerificationError

EM_DASH = "\u2014"
SIGNATURE_PREFIX = f"{EM_DASH} ".encode()
SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
KNOWN_SIG_TYPES = frozenset({SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1})
KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
TIMESTAMP_SIZE = 8
# Go's note.Open rejects more than 100 signature lines; C2SP asks for at least 16.
MAX_SIGNATURES = 100
COSIGNATURE_V1_HEADER = b"cosignature/v1\n"

_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


# --- keys -------------------------------------------------------------------------------


def note_key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Return the C2SP key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    check_name(name)
    if not 0 <= sig_type <= 0xFF:
        raise NoteError(f"signature type {sig_type} is not a byte")
    material = name.encode() + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted public key: signature lines must carry exactly this name and key ID."""

    name: str
    key_id: bytes
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        if self.sig_type not in KNOWN_SIG_TYPES:
            raise NoteError(f"unknown signature type 0x{self.sig_type:02x}")
        if len(self.public_key) != PUBLIC_KEY_SIZE:
            raise NoteError(f"public key has {len(self.public_key)} bytes, expected 32")
        # Here rather than in parse_verifier_key, so no verifier (log, witness) holds a weak key.
        verdict = ed25519.check_public_key(self.public_key)
        if not verdict:
            raise NoteError(f"the public key of {self.name!r} {verdict.reason}")
        if self.key_id != note_key_id(self.name, self.sig_type, self.public_key):
            raise NoteError(f"key ID {self.key_id.hex()} does not match key {self.name!r}")

    @property
    def vkey(self) -> str:
        """The verifier key string for this key."""
        return format_verifier_key(self.name, self.public_key, self.sig_type)


def format_verifier_key(name: str, public_key: bytes, sig_type: int = SIG_TYPE_ED25519) -> str:
    """Return the vkey `name+hex(key ID)+base64(type || public key)`."""
    verifier = NoteVerifier(name, note_key_id(name, sig_type, public_key), sig_type, public_key)
    encoded = b64encode(bytes([sig_type]) + public_key)
    return f"{name}+{verifier.key_id.hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> NoteVerifier:
    """Parse a vkey string strictly (lowercase hex ID, canonical base64, known type)."""
    # The name and hex ID never contain "+", so the key data is whatever follows the second one.
    name, sep1, rest = vkey.partition("+")
    key_id_hex, sep2, encoded = rest.partition("+")
    if not (sep1 and sep2):
        raise NoteError("verifier key is not of the form name+keyid+keydata")
    check_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise NoteError(f"verifier key ID {show(key_id_hex)} is not 8 lowercase hex digits")
    key = parse_base64(encoded, "verifier key data")
    if not key:
        raise NoteError("verifier key data is empty")
    if key[0] not in KNOWN_SIG_TYPES:
        raise NoteError(f"unknown signature type 0x{key[0]:02x} in verifier key")
    return NoteVerifier(name, bytes.fromhex(key_id_hex), key[0], key[1:])


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 (type 0x01) note signing key with its key name."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        check_name(self.name)

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self.private_key.public_key().public_bytes_raw()

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID carried by this signer's signature lines."""
        return note_key_id(self.name, SIG_TYPE_ED25519, self.public_key)

    @property
    def verifier_key(self) -> str:
        """The vkey string to publish for this signer."""
        return format_verifier_key(self.name, self.public_key)

    @property
    def verifier(self) -> NoteVerifier:
        """The verifier matching this signer."""
        return NoteVerifier(self.name, self.key_id, SIG_TYPE_ED25519, self.public_key)


def signer_from_private(name: str, private_key: Ed25519PrivateKey) -> NoteSigner:
    """Return a note signer for an Ed25519 private key under a key name."""
    return NoteSigner(name, private_key)


def check_name(name: str) -> None:
    """Refuse a key name that is empty or has a space, a '+' or a control character."""
    if not name or "+" in name or CONTROL.search(name) or any(c.isspace() for c in name):
        raise NoteError(f"invalid key name {show(name)}: empty, or has a space, '+' or control")
    encode(name, "key name")


def key_label(name: str, key_id: bytes) -> str:
    """``name+hex(key ID)``, as messages name a key."""
    return f"{name}+{key_id.hex()}"


# --- signed notes -----------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed but unverified signed note; text includes its final newline."""

    text: bytes
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class VerifiedNote:
    """A note with at least one verified signature; unknown keys' lines are kept apart."""

    text: bytes
    signatures: tuple[NoteSignature, ...]
    unverified_signatures: tuple[NoteSignature, ...]


def format_note(note: Note) -> bytes:
    """Encode a note: text, a blank line, then one line per signature."""
    _check_note_text(note.text)
    if not 1 <= len(note.signatures) <= MAX_SIGNATURES:
        raise NoteError(f"a note needs 1 to {MAX_SIGNATURES} signatures")
    data = note.text + b"\n" + b"".join(format_signature_line(s) for s in note.signatures)
    return check_size(data, "note")


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines without verifying them."""
    check_size(data, "note")
    decode_text(data, "note")
    # The text may itself contain blank lines: the signatures follow the last one.
    split = data.rfind(b"\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = data[: split + 1], data[split + 2 :]
    if not block.endswith(b"\n"):
        raise NoteError("note does not end with a signature line")
    lines = block[:-1].split(b"\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(parse_signature_line(line) for line in lines))


def sign_note(text: str | bytes, *signers: NoteSigner) -> bytes:
    """Sign a note text (UTF-8, ending in a newline) with one or more Ed25519 signers."""
    data = encode(text, "note text") if isinstance(text, str) else bytes(text)
    _check_note_text(data)
    if not signers:
        raise NoteError("sign_note needs at least one signer")
    if len({(s.name, s.key_id) for s in signers}) != len(signers):
        raise NoteError("the same key cannot sign a note twice")
    signatures = tuple(NoteSignature(s.name, s.key_id, s.private_key.sign(data)) for s in signers)
    return format_note(Note(data, signatures))


def open_note(data: bytes, verifiers: Sequence[NoteVerifier]) -> VerifiedNote:
    """Parse a note and verify it like Go's note.Open.

    Lines from unknown keys (name and key ID not both known) are ignored, a
    known key's bad signature rejects the note, and at least one known key
    must have signed.

    Raises:
        NoteError: the note is malformed.
        NoteVerificationError: a known key's signature fails, or none is present.
        ValueError: two different verifiers share a name and key ID.
    """
    known = index_verifiers(verifiers)
    note = parse_note(data)
    verified, unknown = check_signatures(note.text, note.signatures, known)
    if not verified:
        raise NoteVerificationError("note has no verifiable signatures")
    return VerifiedNote(note.text, verified, unknown)


# --- signature lines and their verification -----------------------------------------------


def format_signature_line(sig: NoteSignature) -> bytes:
    """``— <name> base64(key ID || signature)`` and a newline."""
    check_name(sig.name)
    if len(sig.key_id) != KEY_ID_SIZE or not sig.signature:
        raise NoteError("a signature needs a 4-byte key ID and non-empty signature bytes")
    return f"{EM_DASH} {sig.name} {b64encode(sig.key_id + sig.signature)}\n".encode()


def index_verifiers(verifiers: Sequence[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    """Verifiers by (name, key ID); ValueError if two different ones share both."""
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        if known.setdefault(key, verifier) != verifier:
            raise ValueError(f"two different verifiers share the name and ID {key_label(*key)}")
    return known


def check_signatures(
    text: bytes,
    signatures: Sequence[NoteSignature],
    known: Mapping[tuple[str, bytes], NoteVerifier],
    context: str = "",
) -> tuple[tuple[NoteSignature, ...], tuple[NoteSignature, ...]]:
    """(verified, unknown) signature lines over ``text``; a known key's bad signature raises.

    ``context`` prefixes the NoteVerificationError message (``"log signature: "``, ...).
    """
    # The loop of Go's note.Open: unknown keys are set aside (identical lines once), a
    # known key's first line must verify and its repeated lines are dropped.
    verified: list[NoteSignature] = []
    unknown: list[NoteSignature] = []
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            if sig not in unknown:
                unknown.append(sig)
        elif all((v.name, v.key_id) != (sig.name, sig.key_id) for v in verified):
            if not _signature_valid(verifier, text, sig.signature):
                label = key_label(sig.name, sig.key_id)
                raise NoteVerificationError(f"{context}invalid signature for key {label}")
            verified.append(sig)
    return tuple(verified), tuple(unknown)


def cosigned_message(timestamp: int, checkpoint_text: bytes) -> bytes:
    """What a cosignature/v1 (type 0x04) signs: a header, the time, then the checkpoint text."""
    return COSIGNATURE_V1_HEADER + f"time {timestamp}\n".encode() + checkpoint_text


def _check_note_text(text: bytes) -> None:
    if not text.endswith(b"\n"):
        raise NoteError("note text does not end with a newline")
    decode_text(text, "note text")


def parse_signature_line(line: bytes) -> NoteSignature:
    """One signature line, without its newline: name, key ID, signature bytes (not verified)."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("signature line does not start with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].decode().partition(" ")
    if not space:
        raise NoteError("signature line has no space between key name and signature")
    check_name(name)
    raw = parse_base64(encoded, "signature")
    if len(raw) <= KEY_ID_SIZE:
        raise NoteError("signature is too short to hold a key ID and a signature")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def _signature_valid(verifier: NoteVerifier, text: bytes, signature: bytes) -> bool:
    message = text
    if verifier.sig_type == SIG_TYPE_COSIGNATURE_V1:
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        if timestamp > MAX_INT64:
            return False
        message = cosigned_message(timestamp, text)
        signature = signature[TIMESTAMP_SIZE:]
    if len(signature) != ED25519_SIGNATURE_SIZE:
        return False
    # Strict: S < L and no small-order R, not just what OpenSSL accepts.
    return ed25519.verify(verifier.public_key, signature, message)
