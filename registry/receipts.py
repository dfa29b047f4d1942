"""C2SP tlog-proof@v1 receipts: an entry, its inclusion proof and a signed checkpoint, verified offline.

What it does: formats and parses receipts strictly (the header line, an
optional ``extra`` line carrying the entry, the ``index`` line, the proof
hashes, a blank line, the signed checkpoint) and verifies one end to end
following the steps of c2sp.org/tlog-proof: parse, the log's signature and
origin, the witness quorum, the leaf hash, inclusion under the checkpoint's
root. A rejected receipt raises ReceiptError naming the step that failed.

What it does not do: fetch anything, build proofs (``registry.transparency``
does), or interpret the entry (a registry leaf, see ``registry.leaf``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from registry import tlog
from registry._c2sp import check_int, check_size, format_proof, parse_base64, parse_int, parse_proof, split_head
from registry.checkpoint import (
    SignedCheckpoint,
    check_cosignatures,
    check_verifiers,
    open_log_checkpoint,
    parse_signed_checkpoint,
)
from registry.encoding import b64encode
from registry.errors import NoteError, ProofError, ReceiptError
from registry.signednote import NoteVerifier
from registry.tlog import HASH_SIZE

RECEIPT_HEADER = "c2sp.org/tlog-proof@v1"


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
    check_int(r.index, "receipt index")
    head = [RECEIPT_HEADER]
    if r.extra is not None:
        # Empty extra data would give a line with a trailing space; receipts omit the line.
        if not r.extra:
            raise NoteError("receipt extra data is empty; use None")
        head.append(f"extra {b64encode(r.extra)}")
    head += [f"index {r.index}", *format_proof(r.proof)]
    parse_signed_checkpoint(r.checkpoint)
    data = "".join(f"{line}\n" for line in head).encode() + b"\n" + r.checkpoint
    return check_size(data, "receipt")


def parse_receipt(data: bytes) -> Receipt:
    """Parse a tlog-proof@v1 receipt strictly (nothing is verified)."""
    check_size(data, "receipt")
    head, checkpoint = split_head(data, "receipt")
    if head[0] != RECEIPT_HEADER:
        raise NoteError(f"receipt does not start with {RECEIPT_HEADER}")
    rest = head[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = parse_base64(rest.pop(0).removeprefix("extra "), "receipt extra data")
        if not extra:
            raise NoteError("receipt extra data is empty")
    if not rest or not rest[0].startswith("index "):
        raise NoteError("receipt has no index line")
    index = parse_int(rest[0].removeprefix("index "), "receipt index")
    proof = parse_proof(rest[1:])
    parse_signed_checkpoint(checkpoint)
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
    witnesses = check_verifiers(origin, log_verifier, witness_verifiers, witness_quorum)
    # (1) Parse strictly; nothing in the receipt is trusted yet.
    with _receipt_step("parse"):
        receipt = parse_receipt(data)
    # (2) Open the checkpoint: the log's signature, then its origin...
    with _receipt_step("checkpoint"):
        signed = open_log_checkpoint(receipt.checkpoint, origin, log_verifier)
    # ...then the witness cosignatures, against the quorum.
    with _receipt_step("witness"):
        cosignatures = check_cosignatures(signed, witnesses, witness_quorum)
    # (3) The leaf hash, from the (so far unauthenticated) extra data or from the caller.
    with _receipt_step("leaf"):
        hashed = _receipt_leaf_hash(receipt.extra, leaf_hash_fn, leaf_hash)
    # (4) Inclusion of that leaf hash at the index, under the checkpoint's root.
    checkpoint = signed.checkpoint
    with _receipt_step("inclusion"):
        tlog.verify_inclusion(receipt.index, checkpoint.size, hashed, receipt.proof, checkpoint.root)
    verified = SignedCheckpoint(checkpoint, receipt.checkpoint, signed.log_signature, cosignatures)
    return VerifiedReceipt(receipt.index, verified, receipt.extra, hashed)


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
