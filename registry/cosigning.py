"""The log's side of witnessing: what to send a witness, and what to keep of its answer.

What it does: builds the add-checkpoint body for a witness believed to hold
a given size (``registry.witness``), reads a witness's answer (the
``cosignature/v1`` lines of a 200, the size in a 409's ``text/x.tlog.size``
body), verifies a cosignature line against the configured witness key before
anything keeps it, and appends stored cosignature lines to a checkpoint note:
the note ``/checkpoint`` serves and receipts carry.

What it does not do: HTTP (``scripts.cosigner`` asks the witnesses from the
clock process), or store anything (``registry.logstore``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum

from registry import config
from registry.checkpoint import open_log_checkpoint
from registry.errors import NoteError, NoteVerificationError
from registry.signednote import (
    ED25519_SIGNATURE_SIZE,
    TIMESTAMP_SIZE,
    NoteVerifier,
    check_signatures,
    format_signature_line,
    parse_note,
    parse_signature_line,
    parse_verifier_key,
)
from registry.witness import format_add_checkpoint

_SIZE = re.compile(r"(0|[1-9][0-9]{0,18})\n?")


class Outcome(StrEnum):
    """How one request to a witness ended (the ``outcome`` label of ``registry_witness_requests_total``)."""

    COSIGNED = "cosigned"
    CONFLICT = "conflict"  # 409: the witness holds another size (retried once with its size)
    REFUSED = "refused"  # any other 4xx: the witness will not cosign this checkpoint
    BAD_ANSWER = "bad-answer"  # a 200 without a valid cosignature of the configured key, or a garbled 409
    ERROR = "error"  # a 5xx, or another status
    UNREACHABLE = "unreachable"  # no answer in time: down, slow, or the name does not resolve


def witness_verifier(endpoint: config.WitnessEndpoint) -> NoteVerifier:
    return parse_verifier_key(endpoint.vkey)


def request_body(old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The add-checkpoint body: the old size the witness holds, the proof from it, the log-signed note."""
    return format_add_checkpoint(old_size, proof, note)


def parse_size(body: bytes) -> int | None:
    """The witness's size from a 409 body (``<size>\\n``), or None when it is not one."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _SIZE.fullmatch(text)
    return int(match.group(1)) if match else None


def verified_line(note: bytes, origin: str, log_verifier: NoteVerifier, answer: bytes,
                  witness: NoteVerifier) -> str:
    """The witness's cosignature line in a 200 answer, verified over the checkpoint ``note`` carries.

    Lines of other keys in the answer are ignored; the configured key's first line must verify.

    Raises:
        NoteError: the answer is not signature lines, or holds no valid cosignature of ``witness``.
    """
    if not answer.endswith(b"\n") or len(answer) > 64 * 1024:
        raise NoteError("the answer is not cosignature lines")
    signed = open_log_checkpoint(note, origin, log_verifier)
    lines = parse_note(signed.text + b"\n" + answer).signatures
    verified, _ = check_signatures(signed.text, lines, {(witness.name, witness.key_id): witness},
                                   "witness cosignature: ")
    if not verified:
        raise NoteVerificationError(f"the answer has no cosignature of {witness.name}")
    return format_signature_line(verified[0]).decode()


def check_stored(rows: Sequence[tuple[int, str, str]], notes: Mapping[int, bytes], origin: str,
                 log_verifier: NoteVerifier, witnesses: Sequence[config.WitnessEndpoint]) -> list[tuple[str, str]]:
    """Problems with stored cosignatures, as (row, detail): a line for a size with no published checkpoint, a
    line that is not its witness's, or one that does not verify against the configured witness key.

    Lines of a witness no longer configured cannot be checked and are not problems: the registry cannot
    tell a retired witness from a forgotten one; ``registry verify checkpoint`` with its key can.
    """
    keys = {w.label: witness_verifier(w) for w in witnesses}
    problems: list[tuple[str, str]] = []
    for size, label, line in rows:
        row = f"size {size}, witness {label}"
        note = notes.get(size)
        if note is None:
            problems.append((row, "a cosignature of a checkpoint that was never published"))
            continue
        verifier = keys.get(label)
        if verifier is None:
            continue
        try:
            verified_line(note, origin, log_verifier, line.encode(), verifier)
            if line.encode().count(b"\n") != 1:
                raise NoteError("more than one line")
        except NoteError as e:
            problems.append((row, f"the stored cosignature does not verify with the configured key: {e.message}"))
    return problems


def with_cosignatures(note: bytes, lines: Sequence[str]) -> bytes:
    """The log-signed note with the cosignature lines after its own signature: still one signed note."""
    return note + "".join(lines).encode()


def line_timestamp(line: str) -> int | None:
    """The POSIX time a (stored, verified) cosignature/v1 line was made, or None if it is not readable as one."""
    try:
        signature = parse_signature_line(line.rstrip("\n").encode()).signature
    except (NoteError, UnicodeError):
        return None
    if len(signature) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
        return None
    return int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
