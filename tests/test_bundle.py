"""Export and import: a bundle rebuilds an identical registry elsewhere, and a tampered one stores nothing."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry import auditstore, config, keys, porting
from registry.checkpoint import parse_checkpoint_text, sign_checkpoint
from registry.errors import ConfigurationError, VerificationError
from registry.signednote import parse_note, signer_from_private
from registry.transparency import open_log_store
from tests.conftest import ORIGIN, Backend
from tests.test_audit import Raw, Story, build, reworded, run_cli


@pytest.fixture
def story(backend: Backend) -> Iterator[Story]:
    built = build(backend)
    try:
        yield built
    finally:
        built.world.registry.close()


@pytest.fixture
def exported(backend: Backend, story: Story, tmp_path: Path) -> Path:
    path = tmp_path / "registry.bundle"
    result = run_cli(backend, "export", str(path))
    assert result.exit_code == 0, result.output
    assert f"exported {story.world.registry.size()} entries, 3 checkpoints, 1 snapshots" in result.output
    return path


def status(backend: Backend) -> dict:
    result = run_cli(backend, "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def state_hash(backend: Backend) -> str:
    result = run_cli(backend, "replay", "--json")
    assert result.exit_code == 0, result.output
    return hashlib.sha256(json.dumps(json.loads(result.output), sort_keys=True).encode()).hexdigest()


def stored(backend: Backend) -> dict[str, object]:
    """Everything the stores hold that an import writes: leaves, tile rows, checkpoints, snapshots."""
    settings = backend.settings()
    events, store = auditstore.open_event_store(settings), open_log_store(settings)
    try:
        tiles = auditstore.StoredTiles(store)
        return {
            "leaves": [e.leaf for e in auditstore.stored_entries(events.recorder)],
            "tiles": {key: tiles.row(*key) for key in tiles.keys()},
            "checkpoints": [c.note for c in store.checkpoints()],
            "snapshots": [store.snapshot(size).document for size in store.snapshot_sizes()],
            "head": store.head(),
        }
    finally:
        store.datastore.close()
        events.close()


def rewrite(path: Path, edit: Callable[[list[bytes]], list[bytes]], *, keep_trailer: bool = False) -> Path:
    """A copy of a bundle with ``edit(lines)`` applied; the trailer recomputed unless ``keep_trailer``."""
    lines = gzip.decompress(path.read_bytes()).split(b"\n")[:-1]
    body, trailer = lines[:-1], lines[-1]
    body = edit(body)
    if not keep_trailer:
        leaves = sum(line.startswith(b'{"leaf"') for line in body)
        digest = hashlib.sha256(b"".join(line + b"\n" for line in body)).hexdigest()
        trailer = json.dumps({"end": {"leaves": leaves, "sha256": digest}}, sort_keys=True,
                             separators=(",", ":")).encode()
    out = path.with_name("tampered.bundle")
    out.write_bytes(gzip.compress(b"".join(line + b"\n" for line in [*body, trailer])))
    return out


def nothing_stored(backend: Backend) -> bool:
    settings = backend.settings()
    events, store = auditstore.open_event_store(settings), open_log_store(settings)
    try:
        held = events.recorder.select_notifications(0, 1, inclusive_of_start=False)
        return not held and store.size() == 0 and not store.checkpoints() and not store.snapshot_sizes() \
            and not (backend.data_dir / config.CONFIG_FILE).exists()
    finally:
        store.datastore.close()
        events.close()


# --- the round trip ----------------------------------------------------------------------------


def test_export_then_import_gives_an_identical_registry(backend: Backend, second_backend: Backend, story: Story,
                                                        exported: Path) -> None:
    # 1. import into an empty store of the same kind
    result = run_cli(second_backend, "import", str(exported))
    assert result.exit_code == 0, result.output
    assert "verified mirror without private keys" in result.output
    # 2. same log, same state
    original, mirror = status(backend), status(second_backend)
    for field in ("origin", "tree_size", "root_hash", "log_key", "counts"):
        assert mirror[field] == original[field], field
    assert state_hash(second_backend) == state_hash(backend)
    assert f"state sha256: {auditstore.audit_data(backend.settings(), story.verifier).state_hash}" in result.output
    # 3. identical leaves, tile rows (every level), checkpoints and snapshots
    assert stored(second_backend) == stored(backend)
    # 4. the mirror audits clean with the log's public key the import kept; it cannot sign
    audited = run_cli(second_backend, "audit")
    assert audited.exit_code == 0 and "audit clean" in audited.output, audited.output
    assert not (second_backend.data_dir / "keys" / "log.key").exists()
    refused = run_cli(second_backend, "checkpoint")
    assert refused.exit_code == 2 and "no key file" in refused.output


def test_a_bundle_verifies_with_the_worker_pool(story: Story, exported: Path) -> None:
    verified = porting.verify_bundle(exported, workers=2, parallel_from=0)
    assert verified.size == story.world.registry.size() and verified.result.ok
    assert [c.size for c in verified.checkpoints] == sorted(c.size for c in verified.checkpoints)


def test_import_refuses_a_store_that_holds_entries(backend: Backend, story: Story, exported: Path) -> None:
    before = stored(backend)
    result = run_cli(backend, "import", str(exported))
    assert result.exit_code == 2
    assert "error: configuration: the target store already holds log entries" in result.output
    assert stored(backend) == before


def test_import_refuses_a_target_of_another_origin(second_backend: Backend, story: Story, exported: Path) -> None:
    config.write_config_file(second_backend.data_dir, {"origin": "elsewhere.example/registry"})
    with pytest.raises(ConfigurationError, match=r"configured for origin 'elsewhere\.example/registry'"):
        porting.import_verified(porting.verify_bundle(exported), second_backend.settings())
    assert not (second_backend.data_dir / "keys").exists()


# --- tampered bundles ------------------------------------------------------------------------------


def test_a_bundle_with_a_changed_payload_byte_is_refused_by_the_signature_check(
        second_backend: Backend, story: Story, exported: Path) -> None:
    index = story.indexes["beta"]

    def edit(body: list[bytes]) -> list[bytes]:
        entry = json.loads(body[1 + index])
        entry["leaf"] = reworded(entry["leaf"].encode(), b"Beta Ltd", b"Beta Ltc").decode()
        body[1 + index] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        return body

    tampered = rewrite(exported, edit)
    result = run_cli(second_backend, "import", str(tampered))
    assert result.exit_code == 1
    assert f"FAILED: verification-failed: bundle: entry {index}: signature: the signature does not verify" \
        in result.output, result.output
    assert nothing_stored(second_backend)


def test_a_bundle_edited_without_its_trailer_is_refused_by_the_trailer_check(
        second_backend: Backend, story: Story, exported: Path) -> None:
    def edit(body: list[bytes]) -> list[bytes]:
        edited = body[3].replace(rb'\"payload\":\"eyJ', rb'\"payload\":\"eyK', 1)  # inside the leaf's JSON string
        assert edited != body[3]
        body[3] = edited
        return body

    tampered = rewrite(exported, edit, keep_trailer=True)
    result = run_cli(second_backend, "import", str(tampered))
    assert result.exit_code == 1
    assert "FAILED: verification-failed: bundle: the trailer does not match the content" in result.output
    assert nothing_stored(second_backend)


def test_a_bundle_whose_checkpoint_is_signed_by_another_key_is_refused(story: Story, exported: Path) -> None:
    other = keys.generate()

    def edit(body: list[bytes]) -> list[bytes]:
        for i, line in enumerate(body):
            entry = json.loads(line)
            if "checkpoint" in entry:
                checkpoint = parse_checkpoint_text(parse_note(entry["checkpoint"].encode()).text)
                forged = sign_checkpoint(checkpoint, signer_from_private(ORIGIN, other))
                body[i] = json.dumps({"checkpoint": forged.decode()}).encode()
                return body
        raise AssertionError("no checkpoint line")

    with pytest.raises(VerificationError, match="a checkpoint: "):
        porting.verify_bundle(rewrite(exported, edit))


def test_a_bundle_whose_leaves_miss_the_header_root_is_refused(story: Story, exported: Path) -> None:
    def edit(body: list[bytes]) -> list[bytes]:
        header = json.loads(body[0])
        header["root"] = base64.b64encode(bytes(32)).decode()
        body[0] = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        return body

    with pytest.raises(VerificationError, match="log head: the head's root"):
        porting.verify_bundle(rewrite(exported, edit))


def test_export_refuses_leaves_that_miss_the_log_root(backend: Backend, story: Story, tmp_path: Path) -> None:
    # An entry changed after integration: the store's leaves no longer hash to the log's root.
    index = story.indexes["acme"]
    raw = Raw(backend)
    state = raw.state(index)
    state["leaf"] = reworded(state["leaf"].encode(), b"Acme Ltd", b"Acme Inc").decode()
    raw.set_state(index, state)
    path = tmp_path / "out.bundle"
    result = run_cli(backend, "export", str(path))
    assert result.exit_code == 1 and "do not hash to the log's root" in result.output
    assert not path.exists() and not path.with_name(path.name + ".partial").exists()
