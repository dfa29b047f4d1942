"""A registry whose clock asks witnesses: real clock process, real witness process, SQLite and PostgreSQL.

The story, on each backend: a witness process (``registry witness serve``)
already holds the registry's first checkpoint (so the clock, which believes it
holds nothing, learns its size from a 409 and asks again); a second configured
witness accepts connections and never answers (slow). The clock signs and the
real witness cosigns: ``/checkpoint`` and receipts carry the cosignature,
``registry verify checkpoint`` and ``verify receipt`` pass with ``--quorum 1``,
the discovery document lists both witnesses, ``/metrics`` counts every
outcome, and ``registry audit`` stays clean. Then a second store holding the
same first entries and then others, signed with the real log key, is offered
to the witness: refused, nothing cosigned. Then the witness goes down: signing
goes on; it comes back: the next checkpoint is cosigned again.

The web side is the Flask app in this process (it only reads the store); the
clock and the witness are real processes talking HTTP over loopback.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from registry import keys, tlog
from registry.application import open_registry
from registry.porting import export_bundle, import_verified, verify_bundle
from registry.signednote import parse_verifier_key
from registry.transparency import log_verifier, open_log
from registry.witness import format_add_checkpoint
from registry.witnessing import witness_verifier_key
from tests.conftest import Backend, World, sign_checkpoint, signing_world
from tests.harness import BIN, free_port, processes
from tests.test_witness_server import Running, init_key, start
from tests.test_witnessing import Log


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def served(client: FlaskClient) -> tuple[int, bytes]:
    response = client.get("/checkpoint")
    assert response.status_code == 200
    assert response.headers["ETag"].strip('"') == hashlib.sha256(response.data).hexdigest()
    return int(response.data.split(b"\n")[1]), response.data


def cosigned_at(client: FlaskClient, size: int, witness_name: str) -> bytes | None:
    found, note = served(client)
    return note if found == size and f"\u2014 {witness_name} ".encode() in note else None


def metric(client: FlaskClient, name: str, **labels: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if found == labels:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def registry_cli(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "registry"), *args], env=backend.subprocess_env(), capture_output=True,
                          text=True, timeout=120)


def org(world: World, client: FlaskClient, slug: str) -> None:
    data = world.maintainer.sign("organization.registered", org=slug, name=f"{slug.title()} Ltd", country="JP",
                                 kind="company", public_keys=[])
    response = client.post("/api/v1/statements", data=data, content_type="application/json")
    assert response.status_code == 201, response.get_data(as_text=True)


def clock_records(logs: str) -> list[dict[str, Any]]:
    out = []
    for line in logs.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in out if r.get("event") == "witness"]


def test_the_clock_gets_checkpoints_cosigned_and_never_waits_for_a_witness(
        backend: Backend, second_backend: Backend, tmp_path: Path) -> None:
    with signing_world(backend) as world, socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)  # connections are taken by the kernel and never answered: a slow witness
        settings = backend.settings()
        log_vkey = log_verifier(settings).vkey  # type: ignore[union-attr]
        key_file, witness_vkey = init_key(tmp_path)
        witness_name = parse_verifier_key(witness_vkey).name
        label = witness_name + "+" + witness_vkey.split("+")[1]
        port = free_port()
        state = tmp_path / "state.json"
        witness = start(tmp_path, key_file, witness_vkey, [log_vkey], state, port=port)
        slow_vkey = witness_verifier_key("slow.test/w", keys.generate())
        # A third witness watches another log only: it refuses (404) every checkpoint of this one.
        stranger_key, stranger_vkey = init_key(tmp_path / "stranger", "stranger.test/w")
        stranger = start(tmp_path, stranger_key, stranger_vkey, [Log().vkey], tmp_path / "stranger.json",
                         tag="stranger", name="stranger.test/w")
        try:
            # The witness already holds the registry's first checkpoint, which the registry does not know.
            first = sign_checkpoint(backend, world.registry)
            assert witness.post(format_add_checkpoint(0, [], first.note))[0] == 200
            bundle = tmp_path / "prefix.bundle"
            export_bundle(bundle, world.registry, open_log(settings, world.registry), log_vkey)

            backend.env["REGISTRY_WITNESSES"] = (f"http://127.0.0.1:{port} {witness_vkey},"
                                                 f"http://127.0.0.1:{black_hole.getsockname()[1]}/ {slow_vkey},"
                                                 f"{stranger.url} {stranger_vkey}")
            backend.env["REGISTRY_WITNESS_QUORUM"] = "1"
            with processes(backend, tmp_path / "logs") as running:
                running.start_clock("0.2")
                with backend.serve(SUBMIT_RATE="100000/minute") as app:
                    client = app.test_client()
                    for slug in ("alpha", "beta"):
                        org(world, client, slug)
                    size = world.registry.size()
                    started = time.monotonic()
                    wait_for(lambda: served(client)[0] == size, what="the clock signs")
                    signed_after = time.monotonic() - started
                    note = wait_for(lambda: cosigned_at(client, size, witness_name), what="a cosignature")
                    # signing did not wait for the silent witness (its requests time out after seconds)
                    assert signed_after < 2.5, signed_after
                    check_cosigned(backend, client, note, size, log_vkey, witness_vkey, tmp_path)
                    check_discovery_and_metrics(client, witness_vkey, slow_vkey, label, port, running.clock_logs())
                    stranger_label = "+".join(stranger_vkey.split("+")[:2])
                    wait_for(lambda: metric(client, "registry_witness_requests_total", witness=stranger_label,
                                            outcome="refused") >= 1, what="the refusal counted")
                    assert any(r["witness"] == stranger_label and r.get("status") == 404
                               and r["level"] == "error" for r in clock_records(running.clock_logs()))
                    assert not json.loads(stranger.state.read_text() if stranger.state.exists() else
                                          '{"logs": {}}')["logs"]

                    refuse_a_fork(second_backend, world, bundle, witness, state, settings.log_key, size)

                    # The witness goes down: signing goes on, the failure is logged and counted.
                    assert witness.stop() == 0
                    org(world, client, "gamma")
                    down_size = world.registry.size()
                    wait_for(lambda: served(client)[0] == down_size, timeout=5, what="signing with the witness down")
                    wait_for(lambda: metric(client, "registry_witness_requests_total", witness=label,
                                            outcome="unreachable") >= 1, what="the failure counted")
                    assert f"\u2014 {witness_name} ".encode() not in served(client)[1]
                    assert any(r["outcome"] == "unreachable" and r["witness"] == label
                               for r in clock_records(running.clock_logs()))

                    # It comes back: the next checkpoint is cosigned, from the size it holds.
                    witness = start(tmp_path, key_file, witness_vkey, [log_vkey], state, port=port, tag="back")
                    org(world, client, "delta")
                    back_size = world.registry.size()
                    note = wait_for(lambda: cosigned_at(client, back_size, witness_name), what="cosigned again")
                    check_cosigned(backend, client, note, back_size, log_vkey, witness_vkey, tmp_path)
                    assert json.loads(state.read_text())["logs"][settings.origin]["size"] == back_size
                    assert metric(client, "registry_witness_cosigned_size", witness=label) == back_size

            audit = registry_cli(backend, "audit")
            assert audit.returncode == 0, audit.stdout + audit.stderr
        finally:
            witness.stop()
            stranger.stop()


def check_cosigned(backend: Backend, client: FlaskClient, note: bytes, size: int, log_vkey: str,
                   witness_vkey: str, tmp_path: Path) -> None:
    """The served checkpoint and a receipt verify with the registry's own command and a quorum of 1."""
    path = tmp_path / f"checkpoint-{size}"
    path.write_bytes(note)
    ok = registry_cli(backend, "verify", "checkpoint", str(path), "--log-key", log_vkey, "--witness-key",
                      witness_vkey, "--quorum", "1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "cosignature" in ok.stdout
    bare = tmp_path / f"bare-{size}"
    bare.write_bytes(note.split("\u2014".encode())[0] + note.split(b"\n\n")[1].split(b"\n")[0] + b"\n")
    refused = registry_cli(backend, "verify", "checkpoint", str(bare), "--log-key", log_vkey, "--witness-key",
                           witness_vkey, "--quorum", "1")
    assert refused.returncode == 1 and "quorum" in refused.stderr
    response = client.get(f"/api/v1/receipts/{size - 1}")
    assert response.status_code == 200
    receipt = tmp_path / f"receipt-{size}"
    receipt.write_bytes(response.data)
    ok = registry_cli(backend, "verify", "receipt", str(receipt), "--log-key", log_vkey, "--witness-key",
                      witness_vkey, "--quorum", "1")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def check_discovery_and_metrics(client: FlaskClient, witness_vkey: str, slow_vkey: str, label: str, port: int,
                                clock_logs: str) -> None:
    doc = client.get("/.well-known/hcoc-registry.json").get_json()
    assert doc["witnesses"][0] == {"url": f"http://127.0.0.1:{port}", "verifier_key": witness_vkey}
    assert doc["witnesses"][1]["verifier_key"] == slow_vkey
    assert doc["witness_quorum"] == 1
    # The clock believed the witness held nothing, was told its size (409), and asked again.
    outcomes = [r["outcome"] for r in clock_records(clock_logs) if r["witness"] == label]
    assert outcomes[:2] == ["conflict", "cosigned"], outcomes
    assert metric(client, "registry_witness_requests_total", witness=label, outcome="conflict") == 1
    assert metric(client, "registry_witness_requests_total", witness=label, outcome="cosigned") >= 1
    slow_label = "+".join(slow_vkey.split("+")[:2])
    wait_for(lambda: metric(client, "registry_witness_requests_total", witness=slow_label, outcome="unreachable")
             >= 1, what="the slow witness counted")
    assert metric(client, "registry_checkpoint_cosignatures") == 1
    assert metric(client, "registry_checkpoint_quorum_met") == 1


def refuse_a_fork(second: Backend, world: World, bundle: Path, witness: Running, state: Path, log_key: Path,
                  cosigned: int) -> None:
    """The same first entries then others, in a second store, signed with the real log key: never cosigned."""
    second_settings = second.settings()
    second_settings.log_key.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(log_key, second_settings.log_key)  # the operator's own key: the fork is "really" signed
    import_verified(verify_bundle(bundle), second_settings)
    registry = open_registry(second_settings)
    fork_log = open_log(second_settings, registry, with_signer=True)
    try:
        prefix = registry.size()
        for slug in ("fork-a", "fork-b", "fork-c", "fork-d"):  # entries the real registry never saw
            registry.submit(world.maintainer.sign("organization.registered", org=slug, name=f"{slug} Ltd",
                                                  country="JP", kind="company", public_keys=[]))
        checkpoint, _ = fork_log.publish_checkpoint()
        assert checkpoint is not None and checkpoint.size > cosigned > prefix
        before = state.read_bytes()
        proof = tlog.prove_consistency(cosigned, checkpoint.size, fork_log.store.read)
        status, _, body = witness.post(format_add_checkpoint(cosigned, proof, checkpoint.note))
        assert status == 422, body
        proof = tlog.prove_consistency(prefix, checkpoint.size, fork_log.store.read)
        assert witness.post(format_add_checkpoint(prefix, proof, checkpoint.note)) == (
            409, "text/x.tlog.size", f"{cosigned}\n".encode())
        assert state.read_bytes() == before
        assert [r["event"] for r in witness.records()][-2:] == ["refused", "refused"]
    finally:
        fork_log.store.datastore.close()
        registry.close()
