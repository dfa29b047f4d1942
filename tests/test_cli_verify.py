"""``registry verify receipt`` says what the verified record claims: in names with a data directory, in slugs without.

One demo registry (``init --demo``, an organization with a hostile name that
endorses with its own key, a checkpoint) is made once for the module; its
receipts are then verified with the data directory, with none, and with one of
another origin.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from registry import compose, config, envelope, keys, tlog
from registry.checkpoint import Checkpoint, sign_checkpoint
from registry.node import Node
from registry.receipts import Receipt, format_receipt
from registry.signednote import signer_from_private
from registry.terminal import safe
from scripts.cli import main
from tests.conftest import BIDI_NAME, ORIGIN, SCRIPT_NAME, as_leaf

HOSTILE = SCRIPT_NAME + BIDI_NAME
XAI = ("xAI endorsed chapter 3 (Safety and Security) of the EU GPAI Code of Practice, effective 1 August 2025; "
       "recorded by a maintainer from secondary sources")


@dataclass
class Demo:
    data_dir: Path
    log_key: str
    maintainer_pub: Path
    hostile_pub: Path
    size: int
    xai: int  # the index of xAI's endorsement of chapter 3 of the EU GPAI Code
    hostile: int  # the index of the hostile organization's own endorsement

    def run(self, *args: str, data_dir: Path | None = None) -> Result:
        env = {"REGISTRY_DATA_DIR": str(data_dir or self.data_dir),
               "REGISTRY_DATABASE_URL": f"sqlite:///{(data_dir or self.data_dir) / 'registry.db'}"}
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    def receipt(self, index: int, tmp_path: Path) -> Path:
        result = self.run("receipt", str(index))
        assert result.exit_code == 0, result.output
        path = tmp_path / f"leaf-{index}.tlog-proof"
        path.write_text(result.stdout, encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("verify-demo")
    made = Demo(data, "", data / "keys" / "maintainer.key.pub", data / "hostile.key.pub", 0, 0, 0)

    def ok(*args: str) -> str:
        result = made.run(*args)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result.stdout

    ok("init", "--origin", ORIGIN, "--demo")
    ok("keys", "generate", "--out", str(data / "hostile.key"))
    ok("org", "register", "--slug", "hostile", "--name", HOSTILE, "--country", "DE", "--kind", "company",
       "--public-key", str(made.hostile_pub))
    ok("endorse", "--org", "hostile", "--code", "eu-gpai-cop", "--version", "2025-07-10", "--actions", "3",
       "--effective-date", "2025-08-01", "--key", str(data / "hostile.key"))
    ok("checkpoint")
    with Node(config.load(data, {"REGISTRY_DATABASE_URL": f"sqlite:///{data / 'registry.db'}"})) as node:
        made.size = node.log.size()
        made.xai = node.views.events(org="xai", code="eu-gpai-cop", types=["endorsement.made"])[0]["index"]
        made.hostile = node.views.events(org="hostile", types=["endorsement.made"])[0]["index"]
    made.log_key = json.loads(ok("status", "--json"))["log_key"]
    yield made


def _where(index: int, demo: Demo) -> str:
    return f"; in the log at #{index}, covered by checkpoint {demo.size}"


def test_with_the_data_directory_the_claim_is_in_its_names(demo: Demo, tmp_path: Path) -> None:
    receipt = demo.receipt(demo.xai, tmp_path)
    result = demo.run("verify", "receipt", str(receipt), "--log-key", demo.log_key)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # The state holds the signer's key: its signature is checked with it, and its role named.
    assert lines[3].startswith("ok   statement signature: signed by key ")
    assert lines[3].endswith("(maintainer key in the data directory's state)")
    assert lines[4] == "claim: " + XAI + _where(demo.xai, demo)
    assert len(lines) == 5
    # With --signer-key, that key is checked (once); the role still comes from the state.
    result = demo.run("verify", "receipt", str(receipt), "--log-key", demo.log_key,
                      "--signer-key", str(demo.maintainer_pub))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok   statement signature") == 1
    assert result.stdout.splitlines()[-1] == "claim: " + XAI + _where(demo.xai, demo)


def test_without_a_data_directory_the_claim_is_in_slugs(demo: Demo, tmp_path: Path) -> None:
    receipt = demo.receipt(demo.xai, tmp_path)
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    result = demo.run("verify", "receipt", str(receipt), "--log-key", demo.log_key, data_dir=nowhere)
    assert result.exit_code == 0, result.output
    key_id = keys.key_id(keys.load_public_file(demo.maintainer_pub))[:16]
    assert result.stdout.splitlines()[-1] == (
        f"claim: xai endorsed item 3 of the Code eu-gpai-cop, effective 1 August 2025; signed by key {key_id}… "
        "(not checked; its role is not known without the registry's state), citing secondary sources"
        + _where(demo.xai, demo))
    assert list(nowhere.iterdir()) == []  # verifying opened no store and wrote nothing
    result = demo.run("verify", "receipt", str(receipt), "--log-key", demo.log_key,
                      "--signer-key", str(demo.maintainer_pub), data_dir=nowhere)
    assert result.exit_code == 0, result.output
    assert ", the signer key given (its role is not known without the registry's state)" in result.stdout


def test_a_data_directory_of_another_origin_lends_no_names(demo: Demo, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert demo.run("init", "--origin", "other.example/registry", data_dir=other).exit_code == 0
    result = demo.run("verify", "receipt", str(demo.receipt(demo.xai, tmp_path)), "--log-key", demo.log_key,
                      data_dir=other)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("claim: xai endorsed item 3 of the Code eu-gpai-cop")


def test_a_hostile_name_is_escaped_and_an_own_signature_said_so(demo: Demo, tmp_path: Path) -> None:
    result = demo.run("verify", "receipt", str(demo.receipt(demo.hostile, tmp_path)), "--log-key", demo.log_key)
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.output and "\u202c" not in result.output
    assert result.stdout.splitlines()[-1] == (
        f"claim: {safe(HOSTILE)} endorsed chapter 3 (Safety and Security) of the EU GPAI Code of Practice, "
        "effective 1 August 2025; signed by the organization itself" + _where(demo.hostile, demo))
    assert "\\u202e" in result.stdout


def _flip_first_proof_hash(text: str) -> str:
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
    raw = bytearray(base64.b64decode(lines[at]))
    raw[0] ^= 1
    lines[at] = base64.b64encode(bytes(raw)).decode()
    return "\n".join(lines)


def test_a_tampered_receipt_claims_nothing(demo: Demo, tmp_path: Path) -> None:
    receipt = demo.receipt(demo.xai, tmp_path)
    receipt.write_text(_flip_first_proof_hash(receipt.read_text(encoding="utf-8")), encoding="utf-8")
    result = demo.run("verify", "receipt", str(receipt), "--log-key", demo.log_key)
    assert result.exit_code == 1
    assert "FAILED: verification-failed: inclusion" in result.output and "claim:" not in result.output
    # A signer key that did not sign it: the last check fails, and nothing is claimed either.
    receipt = demo.receipt(demo.xai, tmp_path)
    result = demo.run("verify", "receipt", str(receipt), "--log-key", demo.log_key,
                      "--signer-key", str(demo.hostile_pub))
    assert result.exit_code == 1
    assert "FAILED: verification-failed: statement signature" in result.output and "claim:" not in result.output


def test_the_readme_shows_the_demo_line(demo: Demo) -> None:
    from tests.test_formats import _readme_block

    ok_line, claim = _readme_block("text", "ok   statement signature").splitlines()
    assert ok_line.endswith("(maintainer key in the data directory's state)")
    # The README's demo registry is init --demo and a checkpoint: this one's last two entries are not in it.
    assert claim == "claim: " + XAI + f"; in the log at #{demo.xai}, covered by checkpoint {demo.size - 2}"


def test_a_statement_this_verifier_cannot_read_is_in_the_log_but_not_worded(tmp_path: Path) -> None:
    # A one-leaf log whose statement names another registry: every check passes, nothing is claimed.
    stmt = compose.statement("organization.updated", "elsewhere.example/registry", org="acme", name="Acme")
    leaf = as_leaf(envelope.sign(stmt, keys.generate()).canonical)
    log = signer_from_private(ORIGIN, keys.generate())
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, tlog.leaf_hash(leaf)), log)
    receipt = tmp_path / "leaf-0.tlog-proof"
    receipt.write_bytes(format_receipt(Receipt(leaf, 0, (), note)))
    result = CliRunner().invoke(main, ["verify", "receipt", str(receipt), "--log-key", log.verifier_key],
                                env={"REGISTRY_DATA_DIR": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output
    assert "ok   entry: organization.updated" in result.stdout and "claim:" not in result.output
    assert result.stderr.startswith("note: the statement is not worded: this verifier does not read it (")
