"""C2SP signed notes, checkpoints, cosignatures, witness requests and receipts.

Formats and parses the text formats a transparency log publishes, and verifies
their Ed25519 signatures and inclusion proofs:

- c2sp.org/signed-note: verifier keys (vkeys), signing, parsing, opening.
- c2sp.org/tlog-checkpoint: the note text, signing, and opening with a witness quorum.
- c2sp.org/tlog-cosignature: cosignature/v1 lines (signature type 0x04).
- c2sp.org/tlog-witness: the add-checkpoint request body.
- c2sp.org/tlog-proof@v1: offline receipts, verified end to end.

The module is pure. It reads no files, keys, clock or network: callers pass in
bytes, key objects and (for cosigning) the timestamp. Each parser rejects
anything its formatter would not produce, such as non-canonical base64 or
decimals, stray whitespace or oversized input, and raises NoteError. Failed
signatures, origins, quorums and proofs raise NoteVerificationError, or a
ReceiptError that names the step that failed.

It does not build Merkle trees or check consistency proofs: registry.tlog does,
and receipts use its RFC 9162 inclusion check. It does not judge how fresh a
cosignature timestamp is (callers compare it with their own clock). It does not
load or store keys, and it does not parse tlog-policy files. It supports only
two signature types: Ed25519 (0x01) and Ed25519 cosignature/v1 (0x04).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import ed25519, tlog
from registry.encoding import b64decode, b64encode
from registry.errors import (
    Base64Error,
    NonCanonicalBase64Error,
    NoteError,
    NoteVerificationError,
    ProofError,
    ReceiptError,
)

EM_DASH = "\u2014"
SIGNATURE_PREFIX = f"{EM_DASH} ".encode()
SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
KNOWN_SIG_TYPES = frozenset({SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1})
KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
TIMESTAMP_SIZE = 8
HASH_SIZE = tlog.HASH_SIZE
# Go's note.Open rejects more than 100 signature lines; C2SP asks for at least 16.
MAX_SIGNATURES = 100
MAX_NOTE_SIZE = 1 << 20
# tlog-witness caps proofs at 63 hashes; a 2**63-leaf tree never needs more.
MAX_PROOF_HASHES = 63
# Sizes, indices and timestamps are int64 in Go and C2SP ("MUST NOT exceed 2^63 - 1").
MAX_INT64 = (1 << 63) - 1
COSIGNATURE_V1_HEADER = b"cosignature/v1\n"
RECEIPT_HEADER = "c2sp.org/tlog-proof@v1"

# [0-9], not \d: \d also matches non-ASCII digits, which int() would accept.
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_FORBIDDEN_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f]")
_CONTROL = re.compile(r"[\x00-\x1f]")


# --- keys -------------------------------------------------------------------------------


def note_key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Return the C2SP key ID: SHA-256(name || 0x0A || type || public key)[:4]."""
    _check_name(name)
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
    _check_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise NoteError(f"verifier key ID {_show(key_id_hex)} is not 8 lowercase hex digits")
    key = _b64decode(encoded, "verifier key data")
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
        _check_name(self.name)

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
    data = note.text + b"\n" + b"".join(_format_signature_line(s) for s in note.signatures)
    return _check_size(data, "note")


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines without verifying them."""
    _check_size(data, "note")
    _decode_text(data, "note")
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
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def sign_note(text: str | bytes, *signers: NoteSigner) -> bytes:
    """Sign a note text (UTF-8, ending in a newline) with one or more Ed25519 signers."""
    data = _encode(text, "note text") if isinstance(text, str) else bytes(text)
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
    """
    known = _index_verifiers(verifiers)
    note = parse_note(data)
    verified, unknown = _check_signatures(note.text, note.signatures, known)
    if not verified:
        raise NoteVerificationError("note has no verifiable signatures")
    return VerifiedNote(note.text, verified, unknown)


# --- checkpoints and cosignatures -------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, RFC 6962 root and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature/v1: which witness, and when (POSIX seconds) it cosigned."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint whose log signature, origin and witness quorum verified."""

    checkpoint: Checkpoint
    note: bytes
    log_signature: NoteSignature
    cosignatures: tuple[Cosignature, ...]


def format_checkpoint_text(cp: Checkpoint) -> bytes:
    """Return the checkpoint note text: origin, size, base64 root, extensions, one per line."""
    _check_line(cp.origin, "checkpoint origin")
    _check_int(cp.size, "tree size")
    if len(cp.root) != HASH_SIZE:
        raise NoteError(f"root hash has {len(cp.root)} bytes, expected {HASH_SIZE}")
    for extension in cp.extensions:
        _check_line(extension, "checkpoint extension line")
    lines = [cp.origin, str(cp.size), b64encode(cp.root), *cp.extensions]
    return _check_size("".join(f"{line}\n" for line in lines).encode(), "checkpoint")


def parse_checkpoint_text(text: bytes) -> Checkpoint:
    """Parse a checkpoint note text strictly."""
    _check_size(text, "checkpoint")
    decoded = _decode_text(text, "checkpoint")
    if not decoded.endswith("\n"):
        raise NoteError("checkpoint text does not end with a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, tree size and root hash lines")
    if not all(lines):
        raise NoteError("checkpoint has an empty line")
    origin, size, root, *extensions = lines
    return Checkpoint(
        origin, _parse_int(size, "tree size"), _parse_hash(root, "root hash"), tuple(extensions)
    )


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> bytes:
    """Sign a checkpoint as its log; the key name must equal the origin."""
    if signer.name != cp.origin:
        raise NoteError(f"log key name {signer.name!r} differs from origin {cp.origin!r}")
    return sign_note(format_checkpoint_text(cp), signer)


def cosign_checkpoint(
    cp_text: bytes, witness_name: str, key: Ed25519PrivateKey, timestamp: int
) -> str:
    """Return a cosignature/v1 signature line (ending in a newline) over a checkpoint text."""
    parse_checkpoint_text(cp_text)
    _check_int(timestamp, "cosignature timestamp")
    key_id = note_key_id(witness_name, SIG_TYPE_COSIGNATURE_V1, key.public_key().public_bytes_raw())
    signature = key.sign(_cosigned_message(timestamp, cp_text))
    stamped = timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
    return _format_signature_line(NoteSignature(witness_name, key_id, stamped)).decode()


def open_checkpoint(
    data: bytes,
    origin: str,
    log_verifier: NoteVerifier,
    witness_verifiers: Sequence[NoteVerifier] = (),
    witness_quorum: int = 0,
) -> SignedCheckpoint:
    """Verify a signed checkpoint: log signature, origin, then witness cosignatures.

    Raises:
        NoteError: the note or its checkpoint text is malformed.
        NoteVerificationError: the log signature, origin or witness quorum check failed.
        ValueError: the verifiers or quorum are misconfigured.
    """
    _check_log_verifier(origin, log_verifier)
    witnesses = _index_witnesses(witness_verifiers, witness_quorum)
    checkpoint, log_signature, text, others = _open_log_checkpoint(data, origin, log_verifier)
    cosignatures = _check_cosignatures(text, others, witnesses, witness_quorum)
    return SignedCheckpoint(checkpoint, bytes(data), log_signature, cosignatures)


# --- witness requests -------------------------------------------------------------------


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A tlog-witness add-checkpoint body: old size, consistency proof, signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], signed_checkpoint: bytes) -> bytes:
    """Return the add-checkpoint request body."""
    _check_int(old_size, "old size")
    _parse_signed_checkpoint(signed_checkpoint)
    head = [f"old {old_size}", *_format_proof(proof)]
    data = "".join(f"{line}\n" for line in head).encode() + b"\n" + signed_checkpoint
    return _check_size(data, "add-checkpoint request")


def parse_add_checkpoint(data: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint request body strictly (the checkpoint is not verified)."""
    _check_size(data, "add-checkpoint request")
    head, checkpoint = _split_head(data, "add-checkpoint request")
    if not head[0].startswith("old "):
        raise NoteError("add-checkpoint request does not start with an old line")
    old_size = _parse_int(head[0].removeprefix("old "), "old size")
    proof = _parse_proof(head[1:])
    _parse_signed_checkpoint(checkpoint)
    return AddCheckpointRequest(old_size, proof, checkpoint)


# --- receipts (tlog-proof) --------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """A tlog-proof@v1 receipt; checkpoint is the signed checkpoint note verbatim."""

    extra: bytes | None
    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes


@dataclass(frozen=True)
class VerifiedReceipt:
    """A receipt whose checkpoint, witnesses and inclusion proof verified.

    leaf is the receipt's extra data; it is authenticated only because its hash
    is the leaf hash the inclusion proof verified.
    """

    index: int
    checkpoint: SignedCheckpoint
    leaf: bytes | None
    leaf_hash: bytes


def format_receipt(r: Receipt) -> bytes:
    """Return the tlog-proof@v1 text of a receipt."""
    _check_int(r.index, "receipt index")
    head = [RECEIPT_HEADER]
    if r.extra is not None:
        # Empty extra data would give a line with a trailing space; receipts omit the line.
        if not r.extra:
            raise NoteError("receipt extra data is empty; use None")
        head.append(f"extra {b64encode(r.extra)}")
    head += [f"index {r.index}", *_format_proof(r.proof)]
    _parse_signed_checkpoint(r.checkpoint)
    data = "".join(f"{line}\n" for line in head).encode() + b"\n" + r.checkpoint
    return _check_size(data, "receipt")


def parse_receipt(data: bytes) -> Receipt:
    """Parse a tlog-proof@v1 receipt strictly (nothing is verified)."""
    _check_size(data, "receipt")
    head, checkpoint = _split_head(data, "receipt")
    if head[0] != RECEIPT_HEADER:
        raise NoteError(f"receipt does not start with {RECEIPT_HEADER}")
    rest = head[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64decode(rest.pop(0).removeprefix("extra "), "receipt extra data")
        if not extra:
            raise NoteError("receipt extra data is empty")
    if not rest or not rest[0].startswith("index "):
        raise NoteError("receipt has no index line")
    index = _parse_int(rest[0].removeprefix("index "), "receipt index")
    proof = _parse_proof(rest[1:])
    _parse_signed_checkpoint(checkpoint)
    return Receipt(extra, index, proof, checkpoint)


def verify_receipt(
    data: bytes,
    *,
    origin: str,
    log_verifier: NoteVerifier,
    leaf_hash_fn: Callable[[bytes], bytes] = tlog.leaf_hash,
    leaf_hash: bytes | None = None,
    witness_verifiers: Sequence[NoteVerifier] = (),
    witness_quorum: int = 0,
) -> VerifiedReceipt:
    """Verify a tlog-proof@v1 receipt offline, following the steps of c2sp.org/tlog-proof.

    leaf_hash_fn hashes the extra data (RFC 6962 leaf hash by default). A receipt
    without extra data needs leaf_hash; if both are present they must agree.

    Raises:
        ReceiptError: step is "parse", "checkpoint", "witness", "leaf" or "inclusion".
        ValueError: the verifiers or quorum are misconfigured.
    """
    _check_log_verifier(origin, log_verifier)
    witnesses = _index_witnesses(witness_verifiers, witness_quorum)
    # (1) Parse strictly; nothing in the receipt is trusted yet.
    with _receipt_step("parse"):
        receipt = parse_receipt(data)
    # (2) Open the checkpoint: the log's signature, then its origin...
    with _receipt_step("checkpoint"):
        checkpoint, log_signature, text, others = _open_log_checkpoint(
            receipt.checkpoint, origin, log_verifier
        )
    # ...then the witness cosignatures, against the quorum.
    with _receipt_step("witness"):
        cosignatures = _check_cosignatures(text, others, witnesses, witness_quorum)
    # (3) The leaf hash, from the (so far unauthenticated) extra data or from the caller.
    with _receipt_step("leaf"):
        hashed = _receipt_leaf_hash(receipt.extra, leaf_hash_fn, leaf_hash)
    # (4) Inclusion of that leaf hash at the index, under the checkpoint's root.
    with _receipt_step("inclusion"):
        tlog.verify_inclusion(
            receipt.index, checkpoint.size, hashed, receipt.proof, checkpoint.root
        )
    signed = SignedCheckpoint(checkpoint, receipt.checkpoint, log_signature, cosignatures)
    return VerifiedReceipt(receipt.index, signed, receipt.extra, hashed)


# --- private helpers --------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not name or "+" in name or _CONTROL.search(name) or any(c.isspace() for c in name):
        raise NoteError(f"invalid key name {_show(name)}: empty, or has a space, '+' or control")
    _encode(name, "key name")


def _check_line(line: str, what: str) -> None:
    if not line or _CONTROL.search(line):
        raise NoteError(f"{what} {_show(line)} is empty or has a control character")
    _encode(line, what)


def _check_int(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT64:
        raise NoteError(f"{what} {value!r} is not an integer in 0..2**63-1")


def _check_size(data: bytes, what: str) -> bytes:
    if len(data) > MAX_NOTE_SIZE:
        raise NoteError(f"{what} is larger than {MAX_NOTE_SIZE} bytes")
    return data


def _check_note_text(text: bytes) -> None:
    if not text.endswith(b"\n"):
        raise NoteError("note text does not end with a newline")
    _decode_text(text, "note text")


def _decode_text(data: bytes, what: str) -> str:
    # C2SP signed-note: valid UTF-8 and no ASCII control characters except newline.
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    if _FORBIDDEN_CONTROL.search(data):
        raise NoteError(f"{what} has a control character other than newline")
    return decoded


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not encodable as UTF-8") from None


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return b64decode(text, what)
    except NonCanonicalBase64Error:
        raise NoteError(f"{what} is not canonical base64") from None
    except Base64Error:
        raise NoteError(f"{what} is not valid base64") from None


def _parse_int(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_INT64:
        raise NoteError(
            f"{what} {_show(text)} is not a decimal in 0..2**63-1 without leading zeros"
        )
    return int(text)


def _parse_hash(text: str, what: str) -> bytes:
    raw = _b64decode(text, what)
    if len(raw) != HASH_SIZE:
        raise NoteError(f"{what} has {len(raw)} bytes, expected {HASH_SIZE}")
    return raw


def _format_proof(proof: Sequence[bytes]) -> list[str]:
    if len(proof) > MAX_PROOF_HASHES:
        raise NoteError(f"proof has more than {MAX_PROOF_HASHES} hashes")
    if any(len(h) != HASH_SIZE for h in proof):
        raise NoteError(f"proof hashes must have {HASH_SIZE} bytes")
    return [b64encode(h) for h in proof]


def _parse_proof(lines: Sequence[str]) -> tuple[bytes, ...]:
    if len(lines) > MAX_PROOF_HASHES:
        raise NoteError(f"proof has more than {MAX_PROOF_HASHES} hashes")
    return tuple(_parse_hash(line, "proof hash") for line in lines)


def _split_head(data: bytes, what: str) -> tuple[list[str], bytes]:
    # Head lines are never empty, so the first blank line ends the head.
    end = data.find(b"\n\n")
    if end < 0:
        raise NoteError(f"{what} has no blank line before the checkpoint")
    try:
        head = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise NoteError(f"{what} has non-ASCII bytes before the checkpoint") from None
    return head.split("\n"), data[end + 2 :]


def _parse_signed_checkpoint(data: bytes) -> Checkpoint:
    return parse_checkpoint_text(parse_note(data).text)


def _format_signature_line(sig: NoteSignature) -> bytes:
    _check_name(sig.name)
    if len(sig.key_id) != KEY_ID_SIZE or not sig.signature:
        raise NoteError("a signature needs a 4-byte key ID and non-empty signature bytes")
    return f"{EM_DASH} {sig.name} {b64encode(sig.key_id + sig.signature)}\n".encode()


def _parse_signature_line(line: bytes) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("signature line does not start with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].decode().partition(" ")
    if not space:
        raise NoteError("signature line has no space between key name and signature")
    _check_name(name)
    raw = _b64decode(encoded, "signature")
    if len(raw) <= KEY_ID_SIZE:
        raise NoteError("signature is too short to hold a key ID and a signature")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def _key_label(name: str, key_id: bytes) -> str:
    return f"{name}+{key_id.hex()}"


def _index_verifiers(verifiers: Sequence[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        if known.setdefault(key, verifier) != verifier:
            raise ValueError(f"two different verifiers share the name and ID {_key_label(*key)}")
    return known


def _index_witnesses(
    verifiers: Sequence[NoteVerifier], quorum: int
) -> dict[tuple[str, bytes], NoteVerifier]:
    known = _index_verifiers(verifiers)
    if any(v.sig_type != SIG_TYPE_COSIGNATURE_V1 for v in known.values()):
        raise ValueError("witness verifiers must be cosignature/v1 (type 0x04) keys")
    # cosignature/v1 does not commit to the witness name: one key under two names counts once.
    if len({v.public_key for v in known.values()}) != len(known):
        raise ValueError("two witness verifiers share a public key")
    if isinstance(quorum, bool) or not 0 <= quorum <= len(known):
        raise ValueError(f"witness quorum {quorum!r} is not in 0..{len(known)}")
    return known


def _check_signatures(
    text: bytes,
    signatures: Sequence[NoteSignature],
    known: Mapping[tuple[str, bytes], NoteVerifier],
    context: str = "",
) -> tuple[tuple[NoteSignature, ...], tuple[NoteSignature, ...]]:
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
                label = _key_label(sig.name, sig.key_id)
                raise NoteVerificationError(f"{context}invalid signature for key {label}")
            verified.append(sig)
    return tuple(verified), tuple(unknown)


def _signature_valid(verifier: NoteVerifier, text: bytes, signature: bytes) -> bool:
    message = text
    if verifier.sig_type == SIG_TYPE_COSIGNATURE_V1:
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        if timestamp > MAX_INT64:
            return False
        message = _cosigned_message(timestamp, text)
        signature = signature[TIMESTAMP_SIZE:]
    if len(signature) != ED25519_SIGNATURE_SIZE:
        return False
    # Strict: S < L and no small-order R, not just what OpenSSL accepts.
    return ed25519.verify(verifier.public_key, signature, message)


def _cosigned_message(timestamp: int, checkpoint_text: bytes) -> bytes:
    return COSIGNATURE_V1_HEADER + f"time {timestamp}\n".encode() + checkpoint_text


def _check_log_verifier(origin: str, log_verifier: NoteVerifier) -> None:
    if log_verifier.sig_type != SIG_TYPE_ED25519 or log_verifier.name != origin:
        raise ValueError("the log verifier must be an Ed25519 key named after the origin")


def _open_log_checkpoint(
    data: bytes, origin: str, log_verifier: NoteVerifier
) -> tuple[Checkpoint, NoteSignature, bytes, tuple[NoteSignature, ...]]:
    # Returns the checkpoint, the log's signature, the signed text and the other lines.
    note = parse_note(data)
    # Verify before parsing the text: unsigned text is not to be interpreted.
    verified, others = _check_signatures(
        note.text, note.signatures, _index_verifiers([log_verifier]), "log signature: "
    )
    if not verified:
        label = _key_label(log_verifier.name, log_verifier.key_id)
        raise NoteVerificationError(f"log signature: checkpoint is not signed by {label}")
    checkpoint = parse_checkpoint_text(note.text)
    if checkpoint.origin != origin:
        raise NoteVerificationError(
            f"origin: expected {_show(origin)}, found {_show(checkpoint.origin)}"
        )
    return checkpoint, verified[0], note.text, others


def _check_cosignatures(
    text: bytes,
    signatures: Sequence[NoteSignature],
    witnesses: Mapping[tuple[str, bytes], NoteVerifier],
    quorum: int,
) -> tuple[Cosignature, ...]:
    verified, _ = _check_signatures(text, signatures, witnesses, "witness cosignature: ")
    if len(verified) < quorum:
        raise NoteVerificationError(
            f"witness quorum: {len(verified)} known witnesses cosigned, {quorum} required"
        )
    return tuple(
        Cosignature(
            s.name,
            s.key_id,
            int.from_bytes(s.signature[:TIMESTAMP_SIZE], "big"),
            s.signature[TIMESTAMP_SIZE:],
        )
        for s in verified
    )


def _receipt_leaf_hash(
    extra: bytes | None, leaf_hash_fn: Callable[[bytes], bytes], leaf_hash: bytes | None
) -> bytes:
    if extra is None:
        if leaf_hash is None:
            raise NoteError("receipt has no extra data and no leaf_hash was given")
        hashed = leaf_hash
    else:
        hashed = leaf_hash_fn(extra)
        if leaf_hash is not None and leaf_hash != hashed:
            raise NoteError("the receipt's extra data does not hash to the given leaf_hash")
    if len(hashed) != HASH_SIZE:
        raise NoteError(f"leaf hash has {len(hashed)} bytes, expected {HASH_SIZE}")
    return hashed


@contextmanager
def _receipt_step(step: str) -> Iterator[None]:
    try:
        yield
    except ReceiptError:
        raise
    except (NoteError, ProofError) as e:
        raise ReceiptError(step, str(e)) from e
