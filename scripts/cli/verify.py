"""``registry verify``: offline checks with public keys and files only (no network).

Each check prints one ``ok`` line per step that passed; the first step that
fails is a ``FAILED: verification-failed`` line (exit status 1). A receipt that
passes ends with a ``claim:`` line saying what its record claims. No check
reads a data directory; only that last line does, for names and the signer's
role, when one of the same origin is at hand (:func:`_local_state`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from registry import bundle, config, envelope, keys, receipts, snapshots, statements, tlog, wording
from registry.canonical import loads as strict_loads
from registry.checkpoint import SignedCheckpoint, open_checkpoint
from registry.errors import CanonicalError, NoteError, ProofError, ReceiptError, RegistryError, VerificationError
from registry.leaf import Leaf, parse_leaf
from registry.signednote import NoteVerifier, parse_verifier_key
from registry.terminal import safe
from scripts.cli.context import Context, pass_ctx, progress_reporter


@click.group()
def verify() -> None:
    """Offline verification with public keys only (no network)."""


def _vkey(text: str, what: str = "--log-key") -> NoteVerifier:
    try:
        return parse_verifier_key(text.strip())
    except NoteError as e:
        raise VerificationError(f"{what} is not a verifier key (name+hash+base64): {e}", "key") from None


def _ok(step: str, detail: str) -> None:
    click.echo(f"ok   {step}: {safe(detail)}")


@verify.command("receipt")
@click.argument("receipt_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True, help="The log's verifier key (name+hash+base64).")
@click.option("--signer-key", type=click.Path(exists=True, path_type=Path),
              help="Public key file of the statement's signer: also check the DSSE signature.")
@click.option("--witness-key", "witness_keys", multiple=True, help="Witness cosignature verifier key.")
@click.option("--quorum", default=0, show_default=True, help="How many witness cosignatures are required.")
@pass_ctx
def verify_receipt(obj: Context, receipt_file: Path, log_key: str, signer_key: Path | None,
                   witness_keys: tuple[str, ...], quorum: int) -> None:
    """Check a tlog-proof receipt: checkpoint signature, leaf hash, inclusion; optionally the statement.

    Then say in one line what the record claims: in the names of the data directory's state when
    it is of the same origin (--data-dir), else with the statement's own slugs.
    """
    log_verifier = _vkey(log_key)
    try:
        verified = receipts.verify_receipt(
            receipt_file.read_bytes(), origin=log_verifier.name, log_verifier=log_verifier,
            witness_verifiers=[_vkey(w, "--witness-key") for w in witness_keys], witness_quorum=quorum,
        )
    except ReceiptError as e:
        raise VerificationError(e.reason, e.step) from None  # the step once: VerificationError names it
    except ValueError as e:  # misconfigured: a key of the wrong type, or --quorum beyond the witnesses
        raise VerificationError(str(e), "receipt") from None
    cp = verified.checkpoint.checkpoint
    _ok("checkpoint", f"signed by {log_verifier.name} for tree size {cp.size}")
    _ok("inclusion", f"leaf {verified.index} is in the tree with root {base64.b64encode(cp.root).decode()}")
    if verified.leaf is None:
        return
    try:
        leaf = parse_leaf(verified.leaf)
    except RegistryError as e:
        raise VerificationError(e.message, "leaf") from None
    stmt = leaf.envelope.statement()
    _ok("entry", f"{stmt.get('type')} recorded at {leaf.recorded_at}, envelope sha256 {leaf.envelope.hash}")
    if signer_key is not None:
        try:
            envelope.verify(leaf.envelope, keys.load_public_file(signer_key))
        except RegistryError as e:
            raise VerificationError(e.message, "statement signature") from None
        _ok("statement signature", f"signed by key {leaf.envelope.keyid}")
    _say_claim(leaf, log_verifier.name, verified.index, cp.size, _local_state(obj, log_verifier.name),
               checked=signer_key is not None)


@dataclass(frozen=True)
class _Local:
    """What a data directory's state tells a verifier: names, and each key's role and public key."""

    names: wording.Names
    keys: Mapping[str, Mapping[str, Any]]  # key id -> the state's key


def _local_state(obj: Context, origin: str) -> _Local | None:
    """The data directory's names and keys, if it is an initialized registry of ``origin``; else None.

    The read models are read as they stand (never caught up: verifying writes nothing).
    """
    settings = obj.settings
    if not (settings.data_dir / config.CONFIG_FILE).is_file() or settings.origin != origin:
        return None
    view = obj.views().current()
    return _Local(wording.Names.of(view.doc), view.keys)


def _say_claim(leaf: Leaf, origin: str, index: int, size: int, local: _Local | None, *, checked: bool) -> None:
    """The ``claim:`` line, after every check passed; a key the state holds is checked here too."""
    stmt = leaf.envelope.statement()
    try:
        statements.validate(stmt, origin=origin)
    except RegistryError as e:  # from a newer registry, say: in the log all the same, but not ours to word
        reason = safe(e.message).replace("\n", " ")
        click.echo(f"note: the statement is not worded: this verifier does not read it ({reason})", err=True)
        return
    key = local.keys.get(leaf.envelope.keyid) if local is not None else None
    if key is not None and not checked:
        try:
            envelope.verify(leaf.envelope, keys.decode_public(key["public_key"]))
        except RegistryError as e:
            raise VerificationError(e.message, "statement signature") from None
        _ok("statement signature", f"signed by key {leaf.envelope.keyid} ({key['role']} key in the data "
                                   "directory's state)")
    line = wording.receipt_claim(stmt, local.names if local is not None else wording.Names({}, {}),
                                 key["role"] if key else None, index=index, size=size,
                                 key_id=leaf.envelope.keyid, key_checked=checked)
    click.echo("claim: " + safe(line).replace("\n", "\\n"))  # one line, whatever a name holds


@verify.command("checkpoint")
@click.argument("checkpoint_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True)
@click.option("--witness-key", "witness_keys", multiple=True)
@click.option("--quorum", default=0, show_default=True)
def verify_checkpoint(checkpoint_file: Path, log_key: str, witness_keys: tuple[str, ...], quorum: int) -> None:
    """Check a signed checkpoint against the log key (and witness cosignatures)."""
    log_verifier = _vkey(log_key)
    signed = _open_checkpoint(checkpoint_file.read_bytes(), log_verifier,
                              [_vkey(w, "--witness-key") for w in witness_keys], quorum)
    cp = signed.checkpoint
    _ok("checkpoint", f"{cp.origin} size {cp.size} root {base64.b64encode(cp.root).decode()}")
    for cosig in signed.cosignatures:
        _ok("cosignature", f"{cosig.name} at {cosig.timestamp}")


def _open_checkpoint(data: bytes, log_verifier: NoteVerifier, witnesses: list[NoteVerifier],
                     quorum: int) -> SignedCheckpoint:
    try:
        return open_checkpoint(data, log_verifier.name, log_verifier, witnesses, quorum)
    except (NoteError, ValueError) as e:  # ValueError: a key of the wrong type, or --quorum beyond the witnesses
        raise VerificationError(str(e), "checkpoint") from None


@verify.command("consistency")
@click.argument("old_file", type=click.Path(exists=True, path_type=Path))
@click.argument("new_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True)
@click.option("--proof", "proof_file", type=click.Path(exists=True, path_type=Path), required=True,
              help="The consistency proof as served by /api/v1/log/proofs/consistency (JSON).")
def verify_consistency(old_file: Path, new_file: Path, log_key: str, proof_file: Path) -> None:
    """Check that a newer checkpoint extends an older one (no history rewritten)."""
    log_verifier = _vkey(log_key)
    old = _open_checkpoint(old_file.read_bytes(), log_verifier, [], 0).checkpoint
    new = _open_checkpoint(new_file.read_bytes(), log_verifier, [], 0).checkpoint
    try:
        doc = strict_loads(proof_file.read_bytes())
        hashes = [base64.b64decode(h, validate=True) for h in doc["hashes"]]
    except (CanonicalError, KeyError, TypeError, ValueError) as e:
        raise VerificationError(f"not a consistency proof document: {e}", "proof") from None
    try:
        tlog.verify_consistency(old.size, new.size, old.root, new.root, hashes)
    except ProofError as e:
        raise VerificationError(str(e), "consistency") from None
    _ok("consistency", f"size {new.size} extends size {old.size}")


@verify.command("snapshot")
@click.argument("snapshot_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True)
@click.option("--bundle", "bundle_file", type=click.Path(exists=True, path_type=Path),
              help="An export bundle: also rebuild the state from its entries and compare.")
def verify_snapshot(snapshot_file: Path, log_key: str, bundle_file: Path | None) -> None:
    """Check a signed snapshot; with --bundle, rebuild it from the log's entries."""
    log_verifier = _vkey(log_key)
    leaves = None if bundle_file is None else bundle.read_leaves(bundle_file)
    verified = snapshots.verify_document(snapshot_file.read_bytes(), log_verifier, leaves)
    _ok("snapshot", f"signed by {log_verifier.name} for tree size {verified.note.size}")
    _ok("state hash", verified.note.state_hash.hex())
    if verified.rebuilt:
        _ok("rebuild", f"the state rebuilt from entries 0..{verified.note.size - 1} is identical")


@verify.command("bundle")
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--log-key", required=True,
              help="The log's verifier key, from a source you trust: the bundle must be signed by it (the key "
                   "a bundle names for itself proves nothing).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def verify_bundle_command(bundle_file: Path, log_key: str, workers: int) -> None:
    """Check an export bundle offline: every entry, signature, rule, root, checkpoint and snapshot."""
    from registry.porting import verify_bundle

    expected = _vkey(log_key)
    verified = verify_bundle(bundle_file, workers=workers, progress=progress_reporter("verified"))
    if verified.log_verifier.vkey != expected.vkey:
        raise VerificationError(f"the bundle is signed by {verified.log_verifier.vkey}, not the given key", "log key")
    _ok("bundle", f"{verified.size} entries of {verified.origin}, root {base64.b64encode(verified.root).decode()}")
    _ok("checkpoints", f"{len(verified.checkpoints)} verified, each consistent with the one before")
    _ok("snapshots", f"{len(verified.snapshots)} verified against the rebuilt state")
