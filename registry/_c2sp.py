"""Text rules the C2SP formats share: lines, decimals, sizes, base64 hashes, proof lines.

Private to the modules that implement those formats (``signednote``,
``checkpoint``, ``witness``, ``receipts``): each check raises NoteError with
the message those modules' callers see, naming ``what`` was wrong.

What it does not do: anything specific to one format (signature lines, key
names, checkpoint bodies, receipt heads live in their own modules).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from registry.encoding import b64decode, b64encode
from registry.errors import Base64Error, NonCanonicalBase64Error, NoteError
from registry.tlog import HASH_SIZE

MAX_NOTE_SIZE = 1 << 20
# tlog-witness caps proofs at 63 hashes; a 2**63-leaf tree never needs more.
MAX_PROOF_HASHES = 63
# Sizes, indices and timestamps are int64 in Go and C2SP ("MUST NOT exceed 2^63 - 1").
MAX_INT64 = (1 << 63) - 1

# [0-9], not \d: \d also matches non-ASCII digits, which int() would accept.
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_FORBIDDEN_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f]")
CONTROL = re.compile(r"[\x00-\x1f]")


def check_line(line: str, what: str) -> None:
    """A non-empty line without control characters, encodable as UTF-8."""
    if not line or CONTROL.search(line):
        raise NoteError(f"{what} {show(line)} is empty or has a control character")
    encode(line, what)


def check_int(value: int, what: str) -> None:
    """An int (not a bool) in 0..2**63-1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT64:
        raise NoteError(f"{what} {value!r} is not an integer in 0..2**63-1")


def check_size(data: bytes, what: str) -> bytes:
    """``data`` itself, if it is at most MAX_NOTE_SIZE bytes."""
    if len(data) > MAX_NOTE_SIZE:
        raise NoteError(f"{what} is larger than {MAX_NOTE_SIZE} bytes")
    return data


def decode_text(data: bytes, what: str) -> str:
    """Note text as C2SP signed-note has it: valid UTF-8, no ASCII control but newline."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    if _FORBIDDEN_CONTROL.search(data):
        raise NoteError(f"{what} has a control character other than newline")
    return decoded


def encode(text: str, what: str) -> bytes:
    """``text`` as UTF-8 (a lone surrogate has no UTF-8 form)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not encodable as UTF-8") from None


def show(text: str) -> str:
    """``text`` quoted for a message, cut at 40 characters."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def parse_base64(text: str, what: str) -> bytes:
    """Strict standard base64 (registry.encoding), refused as a NoteError."""
    try:
        return b64decode(text, what)
    except NonCanonicalBase64Error:
        raise NoteError(f"{what} is not canonical base64") from None
    except Base64Error:
        raise NoteError(f"{what} is not valid base64") from None


def parse_int(text: str, what: str) -> int:
    """A decimal in 0..2**63-1 without sign, leading zeros or non-ASCII digits."""
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_INT64:
        raise NoteError(
            f"{what} {show(text)} is not a decimal in 0..2**63-1 without leading zeros"
        )
    return int(text)


def parse_hash(text: str, what: str) -> bytes:
    """A base64 line holding one 32-byte hash."""
    raw = parse_base64(text, what)
    if len(raw) != HASH_SIZE:
        raise NoteError(f"{what} has {len(raw)} bytes, expected {HASH_SIZE}")
    return raw


def format_proof(proof: Sequence[bytes]) -> list[str]:
    """Proof hashes as base64 lines (at most MAX_PROOF_HASHES)."""
    if len(proof) > MAX_PROOF_HASHES:
        raise NoteError(f"proof has more than {MAX_PROOF_HASHES} hashes")
    if any(len(h) != HASH_SIZE for h in proof):
        raise NoteError(f"proof hashes must have {HASH_SIZE} bytes")
    return [b64encode(h) for h in proof]


def parse_proof(lines: Sequence[str]) -> tuple[bytes, ...]:
    """The hashes of proof lines, as :func:`format_proof` writes them."""
    if len(lines) > MAX_PROOF_HASHES:
        raise NoteError(f"proof has more than {MAX_PROOF_HASHES} hashes")
    return tuple(parse_hash(line, "proof hash") for line in lines)


def split_head(data: bytes, what: str) -> tuple[list[str], bytes]:
    """(head lines, signed checkpoint) of a witness request or receipt: ASCII lines, a blank line, the note."""
    # Head lines are never empty, so the first blank line ends the head.
    end = data.find(b"\n\n")
    if end < 0:
        raise NoteError(f"{what} has no blank line before the checkpoint")
    try:
        head = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise NoteError(f"{what} has non-ASCII bytes before the checkpoint") from None
    return head.split("\n"), data[end + 2 :]
