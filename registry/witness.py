"""C2SP tlog-witness: the add-checkpoint request body a log sends a witness.

What it does: formats and parses the body strictly: an ``old <size>`` line,
the consistency proof from that size (one base64 hash a line, at most 63), a
blank line, then the signed checkpoint. Malformed bodies raise NoteError.

What it does not do: verify the checkpoint or the proof (the witness does, with
``registry.checkpoint`` and ``registry.tlog``), keep a witness's state, or
speak HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from registry._c2sp import check_int, check_size, format_proof, parse_int, parse_proof, split_head
from registry.checkpoint import parse_signed_checkpoint
from registry.errors import NoteError


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A tlog-witness add-checkpoint body: old size, consistency proof, signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], signed_checkpoint: bytes) -> bytes:
    """Return the add-checkpoint request body."""
    check_int(old_size, "old size")
    parse_signed_checkpoint(signed_checkpoint)
    head = [f"old {old_size}", *format_proof(proof)]
    data = "".join(f"{line}\n" for line in head).encode() + b"\n" + signed_checkpoint
    return check_size(data, "add-checkpoint request")


def parse_add_checkpoint(data: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint request body strictly (the checkpoint is not verified)."""
    check_size(data, "add-checkpoint request")
    head, checkpoint = split_head(data, "add-checkpoint request")
    if not head[0].startswith("old "):
        raise NoteError("add-checkpoint request does not start with an old line")
    old_size = parse_int(head[0].removeprefix("old "), "old size")
    proof = parse_proof(head[1:])
    parse_signed_checkpoint(checkpoint)
    return AddCheckpointRequest(old_size, proof, checkpoint)
