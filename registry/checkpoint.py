"""C2SP tlog-checkpoint and tlog-cosignature: checkpoint notes, signed by a log, cosigned by witnesses.

What it does: the checkpoint body (origin, tree size, root hash, extension
lines), signing it as the log, cosigning it as a witness (cosignature/v1
lines, signature type 0x04), and opening a signed checkpoint: the log's
signature first, then its origin, then the witness cosignatures against a
quorum. The steps are also offered one by one (:func:`check_verifiers`,
:func:`open_log_checkpoint`, :func:`check_cosignatures`) for a receipt, which
names the step that failed. Malformed input raises NoteError, a failed check
NoteVerificationError, and a misconfigured verifier or quorum ValueError.

What it does not do: check consistency between checkpoints (``registry.tlog``),
judge how fresh a cosignature's timestamp is (callers compare it with their
own clock), or parse tlog-policy files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry._c2sp import check_int, check_line, check_size, decode_text, parse_hash, parse_int, show
from registry.encoding import b64encode
from registry.errors import NoteError, NoteVerificationError
from registry.signednote import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    TIMESTAMP_SIZE,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    check_signatures,
    cosigned_message,
    format_signature_line,
    index_verifiers,
    key_label,
    note_key_id,
    parse_note,
    sign_note,
)
from registry.tlog import HASH_SIZE

Witnesses = Mapping[tuple[str, bytes], NoteVerifier]
"""Trusted witness keys by (name, key ID), as :func:`check_verifiers` returns them."""


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


@dataclass(frozen=True)
class LogSignedCheckpoint:
    """A checkpoint whose log signature and origin verified; its other lines are not checked yet."""

    checkpoint: Checkpoint
    log_signature: NoteSignature
    text: bytes
    other_signatures: tuple[NoteSignature, ...]


# --- the checkpoint body ---------------------------------------------------------------


def format_checkpoint_text(cp: Checkpoint) -> bytes:
    """Return the checkpoint note text: origin, size, base64 root, extensions, one per line."""
    check_line(cp.origin, "checkpoint origin")
    check_int(cp.size, "tree size")
    if len(cp.root) != HASH_SIZE:
        raise NoteError(f"root hash has {len(cp.root)} bytes, expected {HASH_SIZE}")
    for extension in cp.extensions:
        check_line(extension, "checkpoint extension line")
    lines = [cp.origin, str(cp.size), b64encode(cp.root), *cp.extensions]
    return check_size("".join(f"{line}\n" for line in lines).encode(), "checkpoint")


def parse_checkpoint_text(text: bytes) -> Checkpoint:
    """Parse a checkpoint note text strictly."""
    check_size(text, "checkpoint")
    decoded = decode_text(text, "checkpoint")
    if not decoded.endswith("\n"):
        raise NoteError("checkpoint text does not end with a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, tree size and root hash lines")
    if not all(lines):
        raise NoteError("checkpoint has an empty line")
    origin, size, root, *extensions = lines
    return Checkpoint(
        origin, parse_int(size, "tree size"), parse_hash(root, "root hash"), tuple(extensions)
    )


def parse_signed_checkpoint(data: bytes) -> Checkpoint:
    """The checkpoint of a signed checkpoint note, parsed strictly; no signature is verified."""
    return parse_checkpoint_text(parse_note(data).text)


# --- signing and cosigning ---------------------------------------------------------------


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
    check_int(timestamp, "cosignature timestamp")
    key_id = note_key_id(witness_name, SIG_TYPE_COSIGNATURE_V1, key.public_key().public_bytes_raw())
    signature = key.sign(cosigned_message(timestamp, cp_text))
    stamped = timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
    return format_signature_line(NoteSignature(witness_name, key_id, stamped)).decode()


# --- opening ------------------------------------------------------------------------------


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
    witnesses = check_verifiers(origin, log_verifier, witness_verifiers, witness_quorum)
    signed = open_log_checkpoint(data, origin, log_verifier)
    cosignatures = check_cosignatures(signed, witnesses, witness_quorum)
    return SignedCheckpoint(signed.checkpoint, bytes(data), signed.log_signature, cosignatures)


def check_verifiers(
    origin: str, log_verifier: NoteVerifier, witness_verifiers: Sequence[NoteVerifier], quorum: int
) -> Witnesses:
    """The witness keys by (name, key ID), once the log key and the quorum make sense.

    Raises:
        ValueError: the log verifier is not an Ed25519 key named after the origin, a witness
            key is not a cosignature/v1 key, two witnesses share a key, or the quorum is not
            in 0..(number of witnesses).
    """
    if log_verifier.sig_type != SIG_TYPE_ED25519 or log_verifier.name != origin:
        raise ValueError("the log verifier must be an Ed25519 key named after the origin")
    known = index_verifiers(witness_verifiers)
    if any(v.sig_type != SIG_TYPE_COSIGNATURE_V1 for v in known.values()):
        raise ValueError("witness verifiers must be cosignature/v1 (type 0x04) keys")
    # cosignature/v1 does not commit to the witness name: one key under two names counts once.
    if len({v.public_key for v in known.values()}) != len(known):
        raise ValueError("two witness verifiers share a public key")
    if isinstance(quorum, bool) or not 0 <= quorum <= len(known):
        raise ValueError(f"witness quorum {quorum!r} is not in 0..{len(known)}")
    return known


def open_log_checkpoint(data: bytes, origin: str, log_verifier: NoteVerifier) -> LogSignedCheckpoint:
    """Check the log's signature on a checkpoint note, then parse the text and check its origin."""
    note = parse_note(data)
    # Verify before parsing the text: unsigned text is not to be interpreted.
    verified, others = check_signatures(
        note.text, note.signatures, index_verifiers([log_verifier]), "log signature: "
    )
    if not verified:
        label = key_label(log_verifier.name, log_verifier.key_id)
        raise NoteVerificationError(f"log signature: checkpoint is not signed by {label}")
    checkpoint = parse_checkpoint_text(note.text)
    if checkpoint.origin != origin:
        raise NoteVerificationError(
            f"origin: expected {show(origin)}, found {show(checkpoint.origin)}"
        )
    return LogSignedCheckpoint(checkpoint, verified[0], note.text, others)


def check_cosignatures(signed: LogSignedCheckpoint, witnesses: Witnesses, quorum: int) -> tuple[Cosignature, ...]:
    """The verified cosignatures among a checkpoint's other lines; at least ``quorum`` of them."""
    verified, _ = check_signatures(signed.text, signed.other_signatures, witnesses, "witness cosignature: ")
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
