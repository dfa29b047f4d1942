"""docs/FORMATS.md, checked against the code.

Every marked example block of the document (a fence whose info string reads
``example=NAME``) is extracted and checked the way a client would check it:
statements validate, the envelope verifies with the documented key and hashes
to the documented hash, the leaf parses and hashes to the documented leaf hash,
the checkpoint and the receipt open with the documented verifier key, the
proofs verify against the signed root, the tiles match the example log, and so
on. The tables of statement fields, signers and error codes are compared with
the code too. Finally the examples are regenerated with
tests/data/formats/build_examples.py and compared byte for byte, so the
document always shows what the code produces (run that script with ``--write``
after a deliberate format change).

README.md is held to the same standard where it shows output: its
``registry verify receipt`` session is re-run, its by-hand receipt check is
run on the example receipt (and on a forged one), and every command and
``REGISTRY_*`` setting it names must exist.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from registry import (
    canonical,
    envelope,
    errors,
    keys,
    leaf,
    records,
    snapshots,
    stancetable,
    state,
    statements,
    tiles,
    tlog,
)
from registry.checkpoint import SignedCheckpoint, format_checkpoint_text, open_checkpoint
from registry.errors import CanonicalError, ReceiptError
from registry.receipts import parse_receipt, verify_receipt
from registry.signednote import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    NoteVerifier,
    format_verifier_key,
    open_note,
    parse_verifier_key,
)
from registry.stances import StanceBook
from registry.views import event_document
from tests.test_web_api import validator
from web.openapi import standing_schemas

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "FORMATS.md"
DATA = ROOT / "tests" / "data" / "formats"
_FENCE = re.compile(r"^```([a-z]+) example=([a-z0-9-]+)\n(.*?)^```$", re.M | re.S)

STATEMENT_EXAMPLES = {f"statement-{t.replace('.', '-').replace('_', '-')}": t for t in statements.STATEMENT_TYPES}
EXPECTED = {
    *STATEMENT_EXAMPLES,
    "statement-endorsement-made-attested",
    "canonical-input",
    "canonical-output",
    "canonical-refused",
    "example-keys",
    "private-key-file",
    "public-key-file",
    "verifier-key",
    "envelope",
    "pae-prefix",
    "envelope-hash",
    "submission-response",
    "leaf",
    "leaf-hash",
    "checkpoint",
    "cosignature-message",
    "checkpoint-cosigned",
    "receipt",
    "tile-paths",
    "tiles-for-size",
    "tile-level0",
    "entry-bundle-prefix",
    "proof-inclusion",
    "proof-consistency",
    "discovery",
    "problem",
    "state",
    "state-hash",
    "snapshot-checkpoint",
    "snapshot-note",
    "snapshot-document-hash",
    "record-file",
    "stances",
    "stances-csv",
    "key-proof-file",
    "evidence-response",
    "bundle-document-line",
    "witness-request",
    "witness-state",
    "witness-settings",
    "publish-state",
    "monitor-alert",
    "monitor-watch",
    "monitor-documents",
}
# Made by the registry core with fixed keys and clocks: regenerated and compared byte for byte.
# (The HTTP documents and the provisional state are checked for validity only, so that adding
# a member to them does not make this file fail.)
EXACT = EXPECTED - {"discovery", "proof-inclusion", "proof-consistency", "problem", "submission-response",
                    "state", "state-hash", "snapshot-note", "snapshot-document-hash", "record-file",
                    "stances", "stances-csv", "monitor-alert", "monitor-watch",
                    "monitor-documents"}



def _load_builder() -> Any:
    spec = importlib.util.spec_from_file_location("build_examples", DATA / "build_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()
ORIGIN = builder.ORIGIN
# Written by hand (an input format, not something the registry produces): checked by loading it.
HAND_WRITTEN = builder.HAND_WRITTEN


def extract(text: str) -> dict[str, str]:
    """Every marked example block: name -> exact text (with its final newline)."""
    found: dict[str, str] = {}
    for match in _FENCE.finditer(text):
        name = match.group(2)
        assert name not in found, f"example {name!r} appears twice"
        found[name] = match.group(3)
    return found


EX = extract(DOC.read_text(encoding="utf-8"))


def example(name: str) -> str:
    assert name in EX, f"docs/FORMATS.md lost its example {name!r}"
    return EX[name]


def one_line(name: str) -> bytes:
    """A one-line example (JSON document, hash) as bytes, without the block's final newline."""
    text = example(name)
    assert text.endswith("\n") and text.count("\n") == 1, f"{name} must be one line"
    return text[:-1].encode("utf-8")


def example_keys() -> dict[str, Any]:
    return json.loads(example("example-keys"))


def public_key(name: str) -> bytes:
    return keys.decode_public(example_keys()[name]["public_key"])


def log_verifier() -> NoteVerifier:
    return parse_verifier_key(example_keys()["log"]["verifier_key"])


def example_log() -> list[bytes]:
    return [line.encode("ascii") for line in (DATA / "example-log.txt").read_text("ascii").splitlines()]


def checkpoint() -> SignedCheckpoint:
    return open_checkpoint(example("checkpoint").encode(), ORIGIN, log_verifier())


def tree_root(leaves: list[bytes]) -> bytes:
    hashes = [tlog.leaf_hash(data) for data in leaves]
    return tlog.tree_hash(len(hashes), lambda addresses: [_node(hashes, a) for a in addresses])


def _node(hashes: list[bytes], address: tuple[int, int]) -> bytes:
    level, index = address
    if level == 0:
        return hashes[index]
    return tlog.node_hash(_node(hashes, (level - 1, 2 * index)), _node(hashes, (level - 1, 2 * index + 1)))


# --- the document as a whole ----------------------------------------------------------


def test_every_example_is_present() -> None:
    assert set(EX) == EXPECTED


def test_examples_are_what_the_code_produces() -> None:
    built = builder.build()
    stale = sorted(name for name in EXACT if built[name] != EX[name])
    assert not stale, (
        f"docs/FORMATS.md examples {stale} differ from what the code produces; if the format change is "
        "deliberate, run: python tests/data/formats/build_examples.py --write"
    )
    assert built["example-log"] == (DATA / "example-log.txt").read_text("ascii")
    assert set(built) - {"example-log"} == EXPECTED - HAND_WRITTEN


# --- record files -------------------------------------------------------------------


def test_record_file_example_plans_the_statements_it_describes() -> None:
    planned = records.plan(json.loads(example("record-file")), ORIGIN)
    by_type = {p.statement["type"]: p.statement for p in planned}
    assert [p.where for p in planned] == ["codes[0] (example-code)", "organizations[0] (sample-lab)",
                                          "events[0] (sample-lab, example-code)",
                                          "events[1] (sample-lab, example-code)"]
    code = by_type["code.revision_published"]
    assert (code["version"], code["action_noun"], code["actions"][1]["name"]) == ("1.0", "chapter", "Safety")
    assert code["obligations"][0]["evidence"] == [{"url": "https://standards.example.org/code/1.0#reports",
                                                   "source": "primary"}]
    assert by_type["organization.registered"]["country"] is None
    made = by_type["endorsement.made"]
    assert (made["effective_date"], made["scope"], made["version"]) == ("2024-05", [2], "1.0")
    assert made["note"] == "Signed the Safety chapter only."
    assert made["evidence"][0]["source"] == "secondary"
    report = by_type["report.published"]
    assert "published_on" not in report and "period" not in report
    assert (report["framework"], report["url"]) == ("example-reports", "https://lab.example.net/report-2024.pdf")
    assert report["evidence"] == [{"citation": "Example Gazette, print edition of 3 March 2025",
                                   "source": "secondary"}]


# --- canonical JSON -----------------------------------------------------------------


def test_canonical_example() -> None:
    value = canonical.loads(example("canonical-input").encode("utf-8"))
    output = one_line("canonical-output")
    assert canonical.dumps(value) == output
    assert canonical.loads_canonical(output) == value


@pytest.mark.parametrize("line", example("canonical-refused").splitlines())
def test_canonical_refusals(line: str) -> None:
    with pytest.raises(CanonicalError):
        canonical.loads(line.encode("utf-8"))


def test_nesting_limit_is_as_documented() -> None:
    canonical.loads(b"[" * 17 + b"]" * 17)


# --- keys -------------------------------------------------------------------------------


def test_example_keys_follow_from_their_seeds() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    for name, entry in example_keys().items():
        seed = hashlib.sha256(f"hcoc-registry example key: {name}".encode()).digest()
        assert entry["seed"] == seed.hex()
        private = Ed25519PrivateKey.from_private_bytes(seed)
        assert entry["public_key"] == keys.encode_public(private)
        assert entry["key_id"] == hashlib.sha256(keys.public_bytes(private)).hexdigest() == keys.key_id(private)


def test_verifier_keys() -> None:
    table = example_keys()
    assert one_line("verifier-key").decode() == table["log"]["verifier_key"]
    log = log_verifier()
    assert (log.name, log.sig_type, log.public_key) == (ORIGIN, SIG_TYPE_ED25519, public_key("log"))
    witness = parse_verifier_key(table["witness"]["verifier_key"])
    assert witness.sig_type == SIG_TYPE_COSIGNATURE_V1
    assert witness.public_key == public_key("witness")


def test_key_files(tmp_path: Path) -> None:
    private = tmp_path / "org.key"
    private.write_text(example("private-key-file"), encoding="ascii")
    os.chmod(private, 0o600)
    assert keys.public_bytes(keys.load_private(private)) == public_key("org-key-2")
    public = tmp_path / "org.key.pub"
    public.write_text(example("public-key-file"), encoding="ascii")
    assert keys.load_public_file(public) == public_key("org-key-2")
    os.chmod(private, 0o640)
    with pytest.raises(errors.ConfigurationError):
        keys.load_private(private)


# --- statements ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted({*STATEMENT_EXAMPLES, "statement-endorsement-made-attested"}))
def test_statement_examples_validate(name: str) -> None:
    stmt = json.loads(example(name))
    assert statements.validate(stmt, origin=ORIGIN) is stmt
    assert stmt["type"] == STATEMENT_EXAMPLES.get(name, "endorsement.made")
    # The example is the statement recorded in the example log, signed as shown.
    payloads = [leaf.parse_leaf(data).envelope.payload for data in example_log()]
    assert canonical.dumps(stmt) in payloads


def _type_sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^#### `([a-z_.]+)`\n", text, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_every_statement_type_is_documented() -> None:
    assert list(_type_sections()) == list(statements.STATEMENT_TYPES)


@pytest.mark.parametrize("type_", statements.STATEMENT_TYPES)
def test_field_tables_match_the_specs(type_: str) -> None:
    section = _type_sections()[type_]
    rows = re.findall(r"^\| `([a-z_0-9]+)` \| (yes|no)[^|]*\|", section, flags=re.M)
    documented = {name: required == "yes" for name, required in rows}
    spec = statements.SPECS[type_]
    expected = {name: f.required for name, f in spec.fields.items() if name not in ("type", "registry",
                                                                                      "signed_at", "nonce")}
    assert documented == expected


@pytest.mark.parametrize("type_", statements.STATEMENT_TYPES)
def test_signers_match_the_specs(type_: str) -> None:
    section = _type_sections()[type_]
    line = re.search(r"^\*\*Signed by:\*\* (.*?)\.", section, flags=re.M | re.S)
    assert line is not None, f"{type_}: no 'Signed by' line"
    roles = set(re.findall(r"`(root|maintainer|organization)`", line.group(1)))
    assert roles == set(statements.SIGNERS[type_])
    attested = "(attested, with evidence)" in line.group(1)
    assert attested == (type_ in statements.ATTESTABLE)


def test_common_fields_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8").split("### 4.1 Common fields")[1].split("### 4.2")[0]
    assert re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M) == ["type", "registry", "signed_at", "nonce"]


# --- DSSE envelope and leaf ----------------------------------------------------------------


def test_envelope_example() -> None:
    data = one_line("envelope")
    env = envelope.parse(data)
    envelope.verify(env, public_key("org-key-2"))
    assert env.keyid == example_keys()["org-key-2"]["key_id"]
    assert env.canonical == data
    assert env.hash == one_line("envelope-hash").decode() == hashlib.sha256(data).hexdigest()
    assert env.statement() == json.loads(example("statement-endorsement-made"))
    assert envelope.pae(env.payload_type, env.payload) == one_line("pae-prefix") + b" " + env.payload


def test_submission_response_example() -> None:
    doc = json.loads(example("submission-response"))
    entry = leaf.parse_leaf(one_line("leaf"))
    assert doc["index"] == 13
    assert doc["envelope_hash"] == one_line("envelope-hash").decode()
    assert doc["recorded_at"] == entry.recorded_at
    assert doc["type"] == "endorsement.made"
    assert doc["duplicate"] is True
    assert doc["entry_url"].endswith("/api/v1/log/entries/13")
    assert doc["receipt_url"].endswith("/api/v1/receipts/13")
    assert doc["checkpoint_expected_within_seconds"] == 0.5  # REGISTRY_CLOCK_INTERVAL's default


def test_envelope_does_not_verify_with_another_key() -> None:
    env = envelope.parse(one_line("envelope"))
    with pytest.raises(errors.InvalidSignatureError):
        envelope.verify(env, public_key("org-key-1"))


def test_leaf_example() -> None:
    data = one_line("leaf")
    entry = leaf.parse_leaf(data)
    assert entry.envelope.canonical == one_line("envelope")
    assert leaf.format_leaf(entry.envelope, entry.recorded_at) == data
    assert tlog.leaf_hash(data).hex() == one_line("leaf-hash").decode()
    assert hashlib.sha256(b"\x00" + data).hexdigest() == one_line("leaf-hash").decode()
    assert example_log()[13] == data


def test_example_log_is_a_valid_registry_history() -> None:
    leaves = example_log()
    assert len(leaves) == 20
    folded = state.fold(leaves, verify=True)
    assert folded.size == 20 and folded.origin == ORIGIN


# --- checkpoints, cosignatures, receipts ---------------------------------------------------


def test_checkpoint_example() -> None:
    signed = checkpoint()
    assert signed.checkpoint.origin == ORIGIN
    assert signed.checkpoint.size == len(example_log()) == 20
    assert signed.checkpoint.root == tree_root(example_log())
    assert signed.cosignatures == ()


def test_cosigned_checkpoint_example() -> None:
    witness = parse_verifier_key(example_keys()["witness"]["verifier_key"])
    signed = open_checkpoint(example("checkpoint-cosigned").encode(), ORIGIN, log_verifier(), [witness], 1)
    assert signed.checkpoint == checkpoint().checkpoint
    (cosignature,) = signed.cosignatures
    assert cosignature.timestamp == builder.COSIGNED_AT
    text = format_checkpoint_text(signed.checkpoint)
    message = example("cosignature-message").encode()
    assert message == b"cosignature/v1\ntime %d\n" % cosignature.timestamp + text
    keys.load_public(public_key("witness")).verify(cosignature.signature, message)


def test_receipt_example() -> None:
    data = example("receipt").encode()
    verified = verify_receipt(data, origin=ORIGIN, log_verifier=log_verifier())
    assert verified.index == 13
    assert verified.leaf == one_line("leaf")
    assert verified.leaf_hash.hex() == one_line("leaf-hash").decode()
    assert verified.checkpoint.note == example("checkpoint").encode()
    assert data.endswith(b"\n\n" + example("checkpoint").encode())


def test_receipt_fails_with_another_log_key() -> None:
    other = format_verifier_key(ORIGIN, public_key("witness"))
    with pytest.raises(ReceiptError) as refused:
        verify_receipt(example("receipt").encode(), origin=ORIGIN,
                             log_verifier=parse_verifier_key(other))
    assert refused.value.step == "checkpoint"


# --- tiles --------------------------------------------------------------------------------


def test_tile_path_examples() -> None:
    for row in example("tile-paths").splitlines():
        path, level, *rest = row.split()
        tile = tiles.parse_tile_path(path)
        assert str(tile) == path
        if level == "entries":
            assert tile.level is None
            index, width = rest[1], rest[2]
        else:
            assert tile.level == int(rest[0])
            index, width = rest[2], rest[3]
        assert tile.index == int(index)
        assert tile.width == (None if width == "full" else int(width))


def test_tiles_for_size_example() -> None:
    for row in example("tiles-for-size").splitlines():
        size, paths = row.split(": ")
        assert tiles.tiles_for_size(int(size)) == paths.split()


def test_tile_example_holds_the_leaf_hashes() -> None:
    data = bytes.fromhex(example("tile-level0").replace("\n", ""))
    leaves = example_log()
    assert data == b"".join(tlog.leaf_hash(entry) for entry in leaves)
    assert tiles.tiles_for_size(len(leaves)) == ["0/000.p/20", "entries/000.p/20"]


def test_entry_bundle_example() -> None:
    prefix = bytes.fromhex(example("entry-bundle-prefix").replace("\n", ""))
    bundle = tiles.entry_bundle(example_log())
    assert bundle.startswith(prefix)
    assert tiles.parse_entry_bundle(bundle, 20) == example_log()
    assert int.from_bytes(prefix[:2], "big") == len(example_log()[0]) == 0x028B


# --- HTTP documents -------------------------------------------------------------------


def test_inclusion_proof_example() -> None:
    doc = json.loads(example("proof-inclusion"))
    assert {"index", "tree_size", "hashes"} <= set(doc)
    hashes = [base64.b64decode(h, validate=True) for h in doc["hashes"]]
    signed = checkpoint().checkpoint
    assert (doc["index"], doc["tree_size"]) == (13, signed.size)
    assert base64.b64decode(doc["leaf_hash"]).hex() == one_line("leaf-hash").decode()
    assert base64.b64decode(doc["root_hash"]) == signed.root
    tlog.verify_inclusion(doc["index"], doc["tree_size"], tlog.leaf_hash(one_line("leaf")), hashes, signed.root)
    # The receipt carries the same proof.
    assert parse_receipt(example("receipt").encode()).proof == tuple(hashes)


def test_consistency_proof_example() -> None:
    doc = json.loads(example("proof-consistency"))
    assert {"from", "to", "hashes"} <= set(doc)
    hashes = [base64.b64decode(h, validate=True) for h in doc["hashes"]]
    old_root, new_root = base64.b64decode(doc["from_root"]), base64.b64decode(doc["to_root"])
    assert (doc["from"], doc["to"]) == (14, 20)
    assert old_root == tree_root(example_log()[:14])
    assert new_root == checkpoint().checkpoint.root
    tlog.verify_consistency(doc["from"], doc["to"], old_root, new_root, hashes)


def test_discovery_example() -> None:
    doc = json.loads(example("discovery"))
    assert doc["version"] == 1
    assert doc["origin"] == ORIGIN
    assert doc["log_key"] == example_keys()["log"]["verifier_key"]
    base = doc["base_url"]
    assert doc["checkpoint"] == f"{base}/checkpoint"
    assert doc["tiles"] == f"{base}/tile/"
    assert doc["api"] == f"{base}/api/v1/"
    assert set(doc["feeds"]) == {"atom", "rss"}
    assert {"openapi"} <= set(doc)
    assert doc["statements"] == f"{base}/api/v1/statements"
    assert doc["receipts"].replace("{index}", "13") == json.loads(example("submission-response"))["receipt_url"]
    assert doc["checkpoint_expected_within_seconds"] == 0.5


def _error_classes() -> list[type[errors.RegistryError]]:
    found: list[type[errors.RegistryError]] = []
    pending: list[type[errors.RegistryError]] = [errors.RegistryError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_error_code_table_matches_the_code() -> None:
    section = DOC.read_text(encoding="utf-8").split("## 13. Errors")[1].split("## 14.")[0]
    documented = {code: int(status) for code, status in re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", section,
                                                                   flags=re.M)}
    from web.problems import status_of

    assert documented == {cls.code: status_of(cls) for cls in _error_classes()}


def test_problem_example() -> None:
    from web.problems import PROBLEM_TYPE_BASE, status_of

    doc = json.loads(example("problem"))
    assert set(doc) == {"type", "title", "status", "detail"}
    assert doc["type"] == PROBLEM_TYPE_BASE + errors.NotFoundError.code
    assert doc["status"] == status_of(errors.NotFoundError) == 404
    assert doc["title"] == "Not Found"


# --- registry state (provisional) -------------------------------------------------------


def test_state_example() -> None:
    doc = json.loads(example("state"))
    assert doc["format"] == state.STATE_FORMAT == "hcoc-registry/state/v2"
    assert doc["origin"] == ORIGIN
    assert doc["size"] == 6
    assert hashlib.sha256(canonical.dumps(doc)).hexdigest() == one_line("state-hash").decode()
    rebuilt = state.fold(example_log()[: doc["size"]]).to_json()
    assert list(rebuilt) == list(doc)
    section = DOC.read_text(encoding="utf-8").split("## 14. Registry state")[1].split("## 15.")[0]
    assert re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M) == list(rebuilt)


def test_snapshot_example() -> None:
    state_doc = json.loads(example("state"))
    size = state_doc["size"]
    snapshot_checkpoint = open_checkpoint(example("snapshot-checkpoint").encode(), ORIGIN, log_verifier())
    assert (snapshot_checkpoint.checkpoint.size, snapshot_checkpoint.checkpoint.root) == (
        size, tree_root(example_log()[:size]))
    opened = open_note(example("snapshot-note").encode(), [log_verifier()])
    note = snapshots.parse_snapshot_text(opened.text)
    assert opened.text.startswith(b"hcoc-registry/snapshot/v1\n")
    assert (note.origin, note.size, note.root) == (ORIGIN, size, snapshot_checkpoint.checkpoint.root)
    assert note.state_hash.hex() == one_line("state-hash").decode()
    # The document, assembled as section 15 says, is the one whose hash is shown, and it verifies.
    document = canonical.dumps({"checkpoint": example("snapshot-checkpoint"), "format": snapshots.DOCUMENT_FORMAT,
                                "note": example("snapshot-note"), "state": state_doc})
    assert hashlib.sha256(document).hexdigest() == one_line("snapshot-document-hash").decode()
    verified = snapshots.verify_document(document, log_verifier(), example_log())
    assert verified.rebuilt and verified.note == note


# --- README: verifying a receipt ------------------------------------------------------------

README = ROOT / "README.md"


def _readme_block(lang: str, starts: str) -> str:
    blocks = re.findall(rf"^```{lang}\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.M | re.S)
    found = [b for b in blocks if b.startswith(starts)]
    assert len(found) == 1, f"README.md: expected one {lang} block starting with {starts!r}"
    return found[0]


@pytest.fixture
def receipt_files(tmp_path: Path) -> tuple[Path, Path]:
    receipt = tmp_path / "leaf-13.tlog-proof"
    receipt.write_text(example("receipt"), encoding="utf-8")
    signer = tmp_path / "org.pub"
    signer.write_text(example("public-key-file"), encoding="ascii")
    return receipt, signer


def test_readme_verify_receipt_session(receipt_files: tuple[Path, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from scripts.cli import main

    command, *expected = _readme_block("console", "$ registry verify receipt").splitlines()
    args = command.removeprefix("$ registry ").split()
    assert args[:3] == ["verify", "receipt", "leaf-13.tlog-proof"]
    assert args[args.index("--log-key") + 1] == example_keys()["log"]["verifier_key"]
    receipt, signer = receipt_files
    # As the README runs it: with no data directory (a developer's own would lend its names to the claim).
    result = CliRunner().invoke(main, ["verify", "receipt", str(receipt), "--log-key", args[4],
                                       "--signer-key", str(signer)],
                                env={"REGISTRY_DATA_DIR": str(tmp_path / "no-data-directory")})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == expected


def test_readme_receipt_script(receipt_files: tuple[Path, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "verify.py"
    script.write_text(_readme_block("python", "import base64"), encoding="utf-8")
    receipt, _ = receipt_files
    vkey = example_keys()["log"]["verifier_key"]
    done = subprocess.run([sys.executable, str(script), str(receipt), vkey], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    recorded_at, statement = done.stdout.rstrip("\n").split(" ", 1)
    assert recorded_at == leaf.parse_leaf(one_line("leaf")).recorded_at
    assert json.loads(statement) == json.loads(example("statement-endorsement-made"))
    # A receipt whose proof was tampered with, or another log's key, is refused.
    text = example("receipt")
    hash_line = parse_receipt(text.encode()).proof[0]
    forged = base64.b64encode(bytes([hash_line[0] ^ 1]) + hash_line[1:]).decode()
    receipt.write_text(text.replace(base64.b64encode(hash_line).decode(), forged, 1), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(receipt), vkey], capture_output=True, text=True)
    assert done.returncode != 0 and "inclusion proof does not verify" in done.stderr
    receipt.write_text(text, encoding="utf-8")
    other = format_verifier_key(ORIGIN, public_key("witness"))
    done = subprocess.run([sys.executable, str(script), str(receipt), other], capture_output=True, text=True)
    assert done.returncode != 0 and "not signed by this log key" in done.stderr


def _readme_section(title: str) -> str:
    return README.read_text(encoding="utf-8").split(f"## {title}\n")[1].split("\n## ")[0]


def test_readme_names_only_commands_that_exist() -> None:
    import click

    from scripts.cli import main

    table = _readme_section("Command line")
    first_cells = re.findall(r"^\| (`.+?`) \| ", table, flags=re.M)
    assert first_cells[0].startswith("`init")
    named = []
    for span in re.findall(r"`([^`]+)`", table):
        words = span.split()
        if words[0] not in main.commands:
            continue  # an option or a value, not a command
        # The command is the leading lowercase words; arguments and options follow.
        command = list(itertools.takewhile(lambda w: re.fullmatch(r"[a-z][a-z-]*", w) is not None, words))
        named.append(command)
    assert len(named) >= 25
    for command in named:
        node: click.Command = main
        for word in command:
            if not isinstance(node, click.Group):
                break  # the rest are arguments (job catch-up, ...)
            assert word in node.commands, f"README.md names `registry {' '.join(command)}`"
            node = node.commands[word]


def test_readme_names_only_settings_that_exist() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for folder in ("registry", "web", "scripts")
                       for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in (".py", "")
                       ) + (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    named = set(re.findall(r"REGISTRY_[A-Z_]+[A-Z]", README.read_text(encoding="utf-8")))
    assert "REGISTRY_DATABASE_URL" in named
    assert {name for name in named if name not in source} == set()


# --- key-proof files -----------------------------------------------------------------


def test_key_proof_file_example_proves_the_example_keys() -> None:
    from registry import keyproof

    text = example("key-proof-file")
    parsed = keyproof.parse_key_file(text.encode("utf-8"))
    table = example_keys()
    assert parsed.keys_for(ORIGIN, "example-ai") == {table["org-key-1"]["key_id"], table["org-key-2"]["key_id"]}
    assert parsed.keys_for(ORIGIN, "sample-lab") == frozenset()
    assert parsed.keys_for("registry.example.net/other", "example-ai") == frozenset()
    section = DOC.read_text(encoding="utf-8").split("## 21. Key-proof files")[1]
    assert f"`format` | `{keyproof.FORMAT}`" in section and keyproof.PATH in section
    assert "1 to 16 objects" in section and keyproof.MAX_REGISTRIES == 16
    assert "1 to 32 distinct key ids" in section and keyproof.MAX_KEYS == 32
    assert "at most 64 KiB" in section and keyproof.MAX_BYTES == 64 * 1024
    # The example organization.key_added records this very file as the proof of its new key, at the
    # well-known path of the website the organization had then (organization.updated before it).
    added = json.loads(example("statement-organization-key-added"))
    (proof,) = added["key_proofs"]
    assert proof["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert proof["key_id"] == table["org-key-2"]["key_id"] == keys.key_id(keys.decode_public(added["public_key"]))
    website = json.loads(example("statement-organization-updated"))["website"]
    assert proof["url"] == keyproof.well_known_url(website)
    assert proof["fetched_at"] < added["signed_at"]


# --- stance downloads ---------------------------------------------------------------


def test_stances_example_is_the_example_log_as_a_table() -> None:
    document = json.loads(example("stances"))
    assert (document["format"], document["origin"], document["size"]) == (stancetable.FORMAT, ORIGIN, 20)
    # The checkpoint is the example checkpoint of section 7, as the download names it.
    assert document["checkpoint"]["note"] == example("checkpoint")
    assert base64.b64decode(document["checkpoint"]["root_hash"]) == checkpoint().checkpoint.root
    assert document["checkpoint"]["size"] == checkpoint().checkpoint.size == 20
    # The rows are what the registry makes of the 20 leaves of the example log.
    folded = state.RegistryState()
    docs = [event_document(folded.apply(data), i) for i, data in enumerate(example_log())]
    book = StanceBook().extended(docs)
    assert document["stances"] == stancetable.rows(book, folded.to_json(), 20)
    # And they match the schema the API documents for them.
    validator({"components": {"schemas": standing_schemas()}}, {"$ref": "#/components/schemas/Stances"})(document)


def test_stances_csv_example_is_the_same_rows() -> None:
    rows = json.loads(example("stances"))["stances"]
    written = stancetable.csv_text(rows)
    assert written.endswith("\r\n") and "\n" not in written.replace("\r\n", "")
    assert written.replace("\r\n", "\n") == example("stances-csv")
    parsed = list(csv.DictReader(io.StringIO(example("stances-csv"))))
    assert [r["org"] for r in parsed] == [r["org"] for r in rows]
    assert parsed[2]["effective_date"] == "2025-06" and parsed[2]["uncertain"] == "true"
    assert list(parsed[0]) == list(stancetable.COLUMNS)


# --- archived evidence (section 25) --------------------------------------------------------


def test_archived_evidence_examples_are_one_document() -> None:
    from registry import bundle, evidence

    head, _, body = example("evidence-response").partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    data = body.encode("utf-8")
    name = evidence.digest(data)
    assert headers["ETag"] == f'"{name}"' and int(headers["Content-Length"]) == len(data)
    assert headers["Content-Disposition"] == f'attachment; filename="{name}.html"'
    assert headers["Content-Type"] == evidence.sniff(data) == "text/html"
    assert headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in headers["Content-Security-Policy"]
    line = json.loads(example("bundle-document-line"))
    bundled = bundle._document(line["document"], [])
    assert bundled.data == data and bundled.document.sha256 == name


def test_the_media_type_table_is_the_code() -> None:
    from registry import evidence

    section = DOC.read_text(encoding="utf-8").split("## 25. Archived evidence", 1)[1]
    rows = re.findall(r"^\| [^|]+ \| `([^`]+)` \| (inline|attachment) \|$", section, re.M)
    assert {t: way == "inline" for t, way in rows} == {t: evidence.inline(t) for t in evidence.EXTENSIONS}
