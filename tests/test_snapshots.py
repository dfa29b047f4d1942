"""Signed snapshots (registry.snapshots): the note format, making a document, and every verification step.

Pure: the log is a list of leaves folded in memory (``tests.conftest.Fold``),
its tree an in-memory hash store, and the log key a fresh Ed25519 key. Each
forged document is signed with the real log key wherever the step under test
comes after the signature, so the step itself must catch it.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from registry import canonical, keys, snapshots, tlog
from registry.checkpoint import Checkpoint, sign_checkpoint
from registry.errors import RegistryError, VerificationError
from registry.signednote import NoteSigner, NoteVerifier, sign_note, signer_from_private
from registry.snapshots import NOTE_HEADER, SnapshotNote, format_snapshot_text, parse_snapshot_text
from tests.conftest import ORIGIN, Actor, Fold, as_leaf

LOG_KEY = keys.generate()
SIGNER = signer_from_private(ORIGIN, LOG_KEY)


def root_of(leaves: list[bytes]) -> bytes:
    tree = tlog.MemoryHashStore()
    tree.extend([tlog.leaf_hash(leaf) for leaf in leaves])
    return tree.root()


def checkpoint_note(leaves: list[bytes], signer: NoteSigner = SIGNER) -> bytes:
    return sign_checkpoint(Checkpoint(signer.name, len(leaves), root_of(leaves)), signer)


def document(state: dict[str, Any], checkpoint: bytes, note: bytes) -> bytes:
    """A snapshot document put together by hand (``make_document`` refuses to build the bad ones)."""
    return canonical.dumps({"checkpoint": checkpoint.decode(), "format": snapshots.DOCUMENT_FORMAT,
                            "note": note.decode(), "state": state})


def signed_note(state: dict[str, Any], size: int, root: bytes, origin: str = ORIGIN) -> bytes:
    text = format_snapshot_text(SnapshotNote(origin, size, snapshots.state_hash(state), root))
    return sign_note(text, SIGNER)


def failure(data: bytes, leaves: list[bytes] | None = None, verifier: NoteVerifier = SIGNER.verifier) -> str:
    with pytest.raises(VerificationError) as refused:
        snapshots.verify_document(data, verifier, leaves)
    return refused.value.step or ""


@pytest.fixture
def log(fold: Fold) -> Fold:
    acme = Actor()
    fold.code()
    fold.org("acme", acme)
    fold.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30", scope="all",
                          effective_date="2024-02-01"))
    return fold


# --- the note text -------------------------------------------------------------------------


def test_the_note_text_round_trips() -> None:
    note = SnapshotNote(ORIGIN, 42, bytes(range(32)), bytes(range(32, 64)))
    text = format_snapshot_text(note)
    assert text.split(b"\n")[:3] == [NOTE_HEADER.encode(), ORIGIN.encode(), b"42"] and text.endswith(b"\n")
    assert parse_snapshot_text(text) == note


@pytest.mark.parametrize("edit", [
    lambda lines: ["hcoc-registry/snapshot/v2", *lines[1:]],
    lambda lines: [*lines[:2], "042", *lines[3:]],
    lambda lines: [*lines[:2], "+42", *lines[3:]],
    lambda lines: [*lines[:2], "-1", *lines[3:]],
    lambda lines: [*lines[:2], str(1 << 63), *lines[3:]],
    lambda lines: [*lines[:3], lines[3].rstrip("="), *lines[4:]],
    lambda lines: [*lines[:3], base64.b64encode(bytes(31)).decode(), *lines[4:]],
    lambda lines: [*lines[:4], "!" + lines[4][1:], *lines[5:]],
    lambda lines: lines[:-1],  # no final newline
    lambda lines: [*lines[:-1], "extra", ""],
], ids=["header", "leading-zero", "plus", "negative", "too-big", "unpadded", "short-hash", "not-base64",
        "no-newline", "extra-line"])
def test_the_parser_refuses_what_the_formatter_would_not_write(edit: Any) -> None:
    lines = format_snapshot_text(SnapshotNote(ORIGIN, 42, bytes(32), bytes(32))).decode().split("\n")
    with pytest.raises(VerificationError) as refused:
        parse_snapshot_text("\n".join(edit(lines)).encode())
    assert refused.value.step == "note"


# --- making and verifying ----------------------------------------------------------------------


def test_a_document_verifies_and_rebuilds_from_the_entries(log: Fold) -> None:
    state = log.state.to_json()
    data = snapshots.make_document(state, checkpoint_note(log.leaves), SIGNER)
    quick = snapshots.verify_document(data, SIGNER.verifier)
    assert (quick.rebuilt, quick.state, quick.note.size, quick.note.root) == (
        False, state, len(log.leaves), root_of(log.leaves))
    full = snapshots.verify_document(data, SIGNER.verifier, iter([*log.leaves, b"ignored: past the size"]))
    assert full.rebuilt and full.state == state
    assert full.note.state_hash == snapshots.state_hash(state) == bytes.fromhex(log.state.hash())


def test_make_document_refuses_a_state_of_another_tree(log: Fold) -> None:
    checkpoint = checkpoint_note(log.leaves[:-1])
    with pytest.raises(RegistryError, match="not of the same tree"):
        snapshots.make_document(log.state.to_json(), checkpoint, SIGNER)
    with pytest.raises(RegistryError, match="not of the same tree"):
        snapshots.make_document({**log.state.to_json(), "origin": "other.example/log"},
                                checkpoint_note(log.leaves), SIGNER)


@pytest.mark.parametrize("data", [
    b"not json",
    b"[]",
    canonical.dumps({"checkpoint": "", "format": "hcoc-registry/snapshot-document/v0", "note": "", "state": {}}),
    canonical.dumps({"checkpoint": "", "format": snapshots.DOCUMENT_FORMAT, "note": "", "state": []}),
    canonical.dumps({"checkpoint": "", "format": snapshots.DOCUMENT_FORMAT, "state": {}}),
    b'{"checkpoint":"","format":"hcoc-registry/snapshot-document/v1","note":"","state":{"n":1.5}}',
])
def test_step_1_the_document_shape(data: bytes) -> None:
    assert failure(data) == "document"


def test_step_2_the_note_is_signed_by_the_log_key(log: Fold) -> None:
    state, checkpoint = log.state.to_json(), checkpoint_note(log.leaves)
    other = signer_from_private(ORIGIN, keys.generate())
    assert failure(snapshots.make_document(state, checkpoint, other)) == "note signature"
    # a checkpoint note is signed by the log key too, but is no snapshot note
    assert failure(document(state, checkpoint, checkpoint)) == "note"
    # signed by the log key, about another origin
    assert failure(document(state, checkpoint, signed_note(state, len(log.leaves), root_of(log.leaves),
                                                           origin="other.example/log"))) == "note"


def test_step_3_the_checkpoint_is_signed_and_of_the_same_tree(log: Fold) -> None:
    state, root = log.state.to_json(), root_of(log.leaves)
    note = signed_note(state, len(log.leaves), root)
    other = signer_from_private(ORIGIN, keys.generate())
    assert failure(document(state, checkpoint_note(log.leaves, other), note)) == "checkpoint"
    assert failure(document(state, checkpoint_note(log.leaves[:-1]), note)) == "checkpoint"


def test_step_4_the_state_is_the_one_signed(log: Fold) -> None:
    state, root, size = log.state.to_json(), root_of(log.leaves), len(log.leaves)
    data = snapshots.make_document(state, checkpoint_note(log.leaves), SIGNER)
    doc = canonical.loads(data)
    doc["state"]["registry"]["name"] = "Another registry"
    assert failure(canonical.dumps(doc)) == "state hash"
    # a state whose hash is signed, but of another size or origin than the note says
    for changed in ({**state, "size": size + 1}, {**state, "origin": "other.example/log"}):
        assert failure(document(changed, checkpoint_note(log.leaves), signed_note(changed, size, root))) == "state"


def test_step_5_the_entries_give_the_root(log: Fold) -> None:
    data = snapshots.make_document(log.state.to_json(), checkpoint_note(log.leaves), SIGNER)
    with pytest.raises(VerificationError, match=f"only {len(log.leaves) - 1} of {len(log.leaves)}"):
        snapshots.verify_document(data, SIGNER.verifier, log.leaves[:-1])
    swapped = [log.leaves[1], log.leaves[0], *log.leaves[2:]]
    assert failure(data, swapped) == "entries"


def test_step_5_the_entries_rebuild_the_state(log: Fold) -> None:
    # an honest-looking log whose last entry breaks a rule: the root matches, the rebuild refuses it
    replayed = as_leaf(canonical.dumps(canonical.loads(log.leaves[-1])["envelope"]), "2025-01-01T00:00:09Z")
    leaves = [*log.leaves, replayed]
    state = {**log.state.to_json(), "size": len(leaves)}
    data = snapshots.make_document(state, checkpoint_note(leaves), SIGNER)
    with pytest.raises(VerificationError, match="already endorses") as refused:
        snapshots.verify_document(data, SIGNER.verifier, leaves)
    assert refused.value.step == "rebuild"
    # a consistent document whose state is not what the entries give
    wrong = log.state.to_json()
    wrong["registry"]["name"] = "Not what was recorded"
    data = snapshots.make_document(wrong, checkpoint_note(log.leaves), SIGNER)
    assert snapshots.verify_document(data, SIGNER.verifier).state == wrong  # fine without the entries
    with pytest.raises(VerificationError, match="differs from the snapshot"):
        snapshots.verify_document(data, SIGNER.verifier, log.leaves)

