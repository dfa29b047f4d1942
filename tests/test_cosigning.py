"""The registry's side of witnessing: REGISTRY_WITNESSES, answers from witnesses, stored cosignatures served.

Settings and answers are checked as values; the stored cosignatures on real
SQLite and PostgreSQL stores, through the log (``served_checkpoint``, receipts)
and the web app (``/checkpoint`` and its ETag, discovery). The clock's requests
to real witness processes are in ``tests/test_witnessed_registry.py``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from registry import config, keys
from registry.checkpoint import open_checkpoint
from registry.cosigning import parse_size, verified_line, with_cosignatures
from registry.errors import ConfigurationError, NoteError, NoteVerificationError
from registry.receipts import verify_receipt
from registry.signednote import parse_verifier_key
from registry.transparency import log_verifier, open_log
from registry.witnessing import StateFile, Witness, known_logs, witness_verifier_key
from tests.conftest import Backend, sign_checkpoint, signing_world
from tests.test_witnessing import Log

W1 = witness_verifier_key("w1.test/w", keys.generate())
W2 = witness_verifier_key("w2.test/w", keys.generate())


def settings(**env: str) -> config.Settings:
    return config.load("/nonexistent-data-dir", environ=env)


def test_witness_settings() -> None:
    none = settings()
    assert (none.witnesses, none.witness_quorum) == ((), 0)
    two = settings(REGISTRY_WITNESSES=f"https://w1.example/a/ {W1}, http://127.0.0.1:9 {W2}")
    assert [(w.url, w.vkey) for w in two.witnesses] == [("https://w1.example/a", W1), ("http://127.0.0.1:9", W2)]
    assert two.witness_quorum == 2  # default: all of them
    assert two.witnesses[0].label == "w1.test/w+" + W1.split("+")[1]
    one = settings(REGISTRY_WITNESSES=f"https://w1.example {W1},https://w2.example {W2}",
                   REGISTRY_WITNESS_QUORUM="1")
    assert one.witness_quorum == 1
    assert settings(REGISTRY_WITNESSES=f"https://w1.example {W1}", REGISTRY_WITNESS_QUORUM="0").witness_quorum == 0


@pytest.mark.parametrize(("env", "message"), [
    ({"REGISTRY_WITNESSES": f"https://w1.example  {W1}"}, "one space"),
    ({"REGISTRY_WITNESSES": W1}, "one space"),
    ({"REGISTRY_WITNESSES": f"ftp://w1.example {W1}"}, "http"),
    ({"REGISTRY_WITNESSES": f"https:///path {W1}"}, "http"),
    ({"REGISTRY_WITNESSES": "https://w1.example w1+00000000+AAAA"}, "entry 1"),
    ({"REGISTRY_WITNESSES": f"https://w1.example {Log().vkey}"}, "cosignature/v1"),
    ({"REGISTRY_WITNESSES": f"https://w1.example {W1},"}, "entry 2 is empty"),
    ({"REGISTRY_WITNESSES": f"https://w1.example {W1},https://w2.example {W1}"}, "repeats"),
    ({"REGISTRY_WITNESSES": f"https://w1.example {W1},https://w1.example {W2}"}, "repeats"),
    ({"REGISTRY_WITNESSES": f"https://w1.example {W1}", "REGISTRY_WITNESS_QUORUM": "2"}, "from 0 to 1"),
    ({"REGISTRY_WITNESSES": f"https://w1.example {W1}", "REGISTRY_WITNESS_QUORUM": "-1"}, "from 0 to 1"),
    ({"REGISTRY_WITNESS_QUORUM": "1"}, "from 0 to 0"),
    ({"REGISTRY_WITNESS_QUORUM": "all"}, "whole number"),
])
def test_bad_witness_settings_are_refused_clearly(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        settings(**env)


def test_parse_size() -> None:
    assert [parse_size(b) for b in (b"0\n", b"12\n", b"12", b"9223372036854775807\n")] == [
        0, 12, 12, 9223372036854775807]
    assert [parse_size(b) for b in (b"012\n", b"-1\n", b"", b"12\n\n", b" 12\n", b"\xff")] == [None] * 6


def test_a_cosignature_line_is_verified_before_it_is_kept(tmp_path: Path) -> None:
    log = Log()
    log.grow(3)
    key = keys.generate()
    witness = Witness("w1.test/w", key, known_logs([log.vkey]), StateFile(tmp_path / "s.json"))
    lines = witness.add_checkpoint(log.body(0)).lines
    verifier = parse_verifier_key(witness.verifier_key)
    note = log.signed()
    line = verified_line(note, log.signer.name, log.signer.verifier, lines, verifier)
    assert open_checkpoint(with_cosignatures(note, [line]), log.signer.name, log.signer.verifier, [verifier], 1)
    # Another key under the same name and key ID cannot be made; a damaged signature can.
    damaged = lines[:-6] + (b"AAAA" if lines[-6:-2] != b"AAAA" else b"BBBB") + lines[-2:]
    with pytest.raises(NoteError):
        verified_line(note, log.signer.name, log.signer.verifier, damaged, verifier)
    # A valid cosignature of another checkpoint (the log grew since) is refused too.
    log.grow(1)
    with pytest.raises(NoteVerificationError):
        verified_line(log.signed(), log.signer.name, log.signer.verifier, lines, verifier)
    stranger = parse_verifier_key(witness_verifier_key("w1.test/w", keys.generate()))
    with pytest.raises(NoteVerificationError, match="no cosignature"):
        verified_line(note, log.signer.name, log.signer.verifier, lines, stranger)
    for garbage in (b"", b"hello\n", b"\xe2\x80\x94 w1.test/w !!!\n", lines.rstrip(b"\n")):
        with pytest.raises(NoteError):
            verified_line(note, log.signer.name, log.signer.verifier, garbage, verifier)


def test_stored_cosignatures_are_served_and_carried_by_receipts(backend: Backend, tmp_path: Path) -> None:
    with signing_world(backend) as world:
        first = sign_checkpoint(backend, world.registry)
        s = backend.settings()
        lv = log_verifier(s)
        assert lv is not None
        witness = Witness("w1.test/w", keys.generate(), known_logs([lv.vkey]), StateFile(tmp_path / "s"))
        verifier = parse_verifier_key(witness.verifier_key)
        env = {"REGISTRY_WITNESSES": f"http://127.0.0.1:9 {witness.verifier_key}"}
        with backend.serve(env) as app:
            client = app.test_client()
            bare = client.get("/checkpoint")
            assert bare.data == first.note
            # A receipt at an explicit size is not cached for ever while a witness may still cosign it.
            early = client.get(f"/api/v1/receipts/0?size={first.size}")
            assert early.status_code == 200 and early.headers["Cache-Control"] == "public, max-age=5"
            log = open_log(s, world.registry)
            try:
                from registry.witness import format_add_checkpoint

                line = verified_line(first.note, s.origin, lv,
                                     witness.add_checkpoint(format_add_checkpoint(0, [], first.note)).lines, verifier)
                log.store.add_cosignature(first.size, "w1.test/w+" + verifier.key_id.hex(), line,
                                          "2026-01-01T00:00:00Z")
                found = log.served_checkpoint()
                assert found is not None and found[1] == first.note + line.encode()
                cosigned = client.get("/checkpoint")
                assert cosigned.data == first.note + line.encode()
                assert cosigned.headers["ETag"] != bare.headers["ETag"]
                assert cosigned.headers["ETag"].strip('"') == hashlib.sha256(cosigned.data).hexdigest()
                assert client.get("/checkpoint", headers={"If-None-Match": bare.headers["ETag"]}).status_code == 200
                receipt = client.get("/api/v1/receipts/0").data
                # Once every configured witness has cosigned, the receipt at that size no longer changes.
                at = client.get(f"/api/v1/receipts/0?size={first.size}")
                assert at.data == receipt and at.headers["Cache-Control"].endswith("immutable")
                assert line.encode() in receipt
                verified = verify_receipt(receipt, origin=s.origin, log_verifier=lv, witness_verifiers=[verifier],
                                          witness_quorum=1)
                assert verified.checkpoint.cosignatures[0].name == "w1.test/w"
                assert log.store.cosigned_sizes() == {"w1.test/w+" + verifier.key_id.hex(): first.size}
                doc = client.get("/.well-known/hcoc-registry.json").get_json()
                assert doc["witnesses"] == [{"url": "http://127.0.0.1:9", "verifier_key": witness.verifier_key}]
                assert doc["witness_quorum"] == 1
            finally:
                log.store.datastore.close()


def test_the_audit_checks_stored_cosignatures(backend: Backend, tmp_path: Path) -> None:
    """A stored cosignature line that does not verify (moved to another checkpoint, or of none) is a finding."""
    import subprocess

    from registry.witness import format_add_checkpoint
    from tests.harness import BIN

    with signing_world(backend) as world:
        first = sign_checkpoint(backend, world.registry)
        s = backend.settings()
        lv = log_verifier(s)
        assert lv is not None
        witness = Witness("w1.test/w", keys.generate(), known_logs([lv.vkey]), StateFile(tmp_path / "s"))
        verifier = parse_verifier_key(witness.verifier_key)
        label = "w1.test/w+" + verifier.key_id.hex()
        line = verified_line(first.note, s.origin, lv,
                             witness.add_checkpoint(format_add_checkpoint(0, [], first.note)).lines, verifier)
        world.org("beta")
        second = sign_checkpoint(backend, world.registry)
        env = {**backend.subprocess_env(), "REGISTRY_WITNESSES": f"http://127.0.0.1:9 {witness.verifier_key}"}
        log = open_log(s, world.registry)
        try:
            log.store.add_cosignature(first.size, label, line, "2026-01-01T00:00:00Z")
            clean = subprocess.run([str(BIN / "registry"), "audit"], env=env, capture_output=True, text=True,
                                   timeout=120)
            assert clean.returncode == 0, clean.stderr
            log.store.add_cosignature(second.size, label, line, "2026-01-01T00:00:00Z")  # the wrong checkpoint
            log.store.add_cosignature(999, label, line, "2026-01-01T00:00:00Z")
            found = subprocess.run([str(BIN / "registry"), "audit"], env=env, capture_output=True, text=True,
                                   timeout=120)
        finally:
            log.store.datastore.close()
        assert found.returncode == 1
        assert f"size {second.size}, witness {label}" in found.stderr
        assert "size 999" in found.stderr and "never published" in found.stderr
        assert f"size {first.size}," not in found.stderr


def test_a_bad_witness_setting_stops_the_clock_with_one_clear_line(tmp_path: Path) -> None:
    import subprocess

    from tests.harness import BIN

    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {"REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_WITNESSES": f"https://w1.example {W1},"}
    result = subprocess.run([str(BIN / "registry"), "clock"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: configuration: REGISTRY_WITNESSES: entry 2 is empty (a stray comma?)"
    assert not (tmp_path / "registry.db").exists()
