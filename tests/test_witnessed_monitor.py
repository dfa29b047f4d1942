"""The witness and the monitor together, over real processes: ``registry monitor --quorum 1`` on a witnessed registry.

One story per backend of the registry (the mirror is SQLite in its own data
directory). A real witness (``registry witness serve``) and a real registry
(gunicorn and a clock asking that witness, ``REGISTRY_WITNESS_QUORUM=1``):

1. the registry's checkpoints get cosigned; ``registry monitor --witness-key
   WVKEY --quorum 1 --once`` mirrors the registry (same size and root) and
   follows it as it grows, once each new checkpoint is cosigned;
2. the operator forks: a second store holding the same first entries and then
   others, signed with the real log key. The witness refuses it; served to the
   monitor (a gunicorn on that store), it is not accepted and raises the fork
   alert although no witness cosigned it, with both signed checkpoints saved as
   evidence that ``registry verify checkpoint`` accepts offline;
3. the clock stops: nothing new is signed and, once ``--max-age`` has passed
   (a real sleep), the monitor raises ``freeze``;
4. the clock runs again with the witness down: new checkpoints are signed
   without a cosignature, and the monitor refuses them (``unverifiable``:
   the quorum is not met), its mirror staying at the cosigned size.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
from pathlib import Path

from registry.checkpoint import open_checkpoint
from registry.porting import export_bundle
from registry.signednote import parse_verifier_key
from registry.transparency import log_verifier, open_log
from tests import harness
from tests.conftest import ORIGIN, Backend, World, signing_world
from tests.harness import BIN, ROOT, free_port, processes
from tests.test_watchdog import _clean_env, lines, mirror_state, registry_json
from tests.test_witness_server import init_key, start
from tests.test_witnessed_registry import refuse_a_fork, wait_for


def run_monitor(url: str, log_vkey: str, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``registry monitor URL --once`` as a watchdog runs it: its own process, nothing of the registry's settings."""
    return subprocess.run([str(BIN / "registry"), "monitor", url, "--log-key", log_vkey, "--state", str(state),
                           "--once", *extra], cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=300)


def checkpoint(base: str) -> tuple[int, bytes, bytes]:
    """The size, root and whole note the registry at ``base`` serves at /checkpoint (size 0 before the first)."""
    status, note = harness.get(base, "/checkpoint")
    if status == 404 and b"no checkpoint has been published yet" in note:
        return 0, b"", b""
    assert status == 200, note
    body = note.split(b"\n")
    return int(body[1]), base64.b64decode(body[2]), note


def cosigned(base: str, size: int, witness_name: str) -> bytes | None:
    found, _, note = checkpoint(base)
    return note if found == size and f"\u2014 {witness_name} ".encode() in note else None


def register(base: str, world: World, slug: str) -> None:
    data = world.maintainer.sign("organization.registered", org=slug, name=f"{slug.title()} Ltd", country="JP",
                                 kind="company", public_keys=[])
    status, answer = harness.post(base, "/api/v1/statements", data)
    assert status == 201, answer


def only_alert(done: subprocess.CompletedProcess[str], kind: str) -> dict:
    assert done.returncode == 1, done.stdout + done.stderr
    (alert,) = lines(done.stdout)
    assert alert["kind"] == kind and alert["origin"] == ORIGIN, alert
    return alert


def mirrors(state: Path, base: str) -> int:
    """The mirror holds exactly the tree the registry serves; its size."""
    size, root, note = checkpoint(base)
    mine = mirror_state(state, _clean_env())
    assert (mine["origin"], mine["tree_size"], base64.b64decode(mine["root_hash"])) == (ORIGIN, size, root), mine
    assert (state / "monitor" / "checkpoint").read_bytes() == note
    return size


def test_a_monitor_with_a_quorum_follows_only_what_the_witness_cosigned(
        backend: Backend, second_backend: Backend, tmp_path: Path) -> None:
    with signing_world(backend) as world:
        settings = backend.settings()
        log_vkey = log_verifier(settings).vkey  # type: ignore[union-attr]
        key_file, witness_vkey = init_key(tmp_path)
        witness_name = parse_verifier_key(witness_vkey).name
        witness_state = tmp_path / "witness.json"
        witness = start(tmp_path, key_file, witness_vkey, [log_vkey], witness_state)
        # The first entries, which the operator's fork will share.
        bundle = tmp_path / "prefix.bundle"
        prefix_log = open_log(settings, world.registry)
        try:
            export_bundle(bundle, world.registry, prefix_log, log_vkey)
        finally:
            prefix_log.store.datastore.close()
        backend.env["REGISTRY_WITNESSES"] = f"{witness.url} {witness_vkey}"
        backend.env["REGISTRY_WITNESS_QUORUM"] = "1"
        quorum = ("--witness-key", witness_vkey, "--quorum", "1")
        state = tmp_path / "mirror"
        try:
            with processes(backend, tmp_path / "logs") as running:
                running.start_web(workers=2)
                clock = running.start_clock("0.2")
                base = running.base

                # 1. Cosigned checkpoints are mirrored, and followed as the registry grows.
                register(base, world, "alpha")
                size = world.registry.size()
                wait_for(lambda: cosigned(base, size, witness_name), what="a cosigned checkpoint")
                done = run_monitor(base, log_vkey, state, *quorum)
                assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
                assert mirrors(state, base) == size
                register(base, world, "beta")
                grown = world.registry.size()
                wait_for(lambda: cosigned(base, grown, witness_name), what="the grown checkpoint cosigned")
                done = run_monitor(base, log_vkey, state, *quorum)
                assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
                assert mirrors(state, base) == grown
                accepted = (state / "monitor" / "checkpoint").read_bytes()
                assert json.loads(witness_state.read_text())["logs"][ORIGIN]["size"] == grown

                # 2. The operator forks: the witness refuses (422, 409), nothing is cosigned ...
                refuse_a_fork(second_backend, world, bundle, witness, witness_state, settings.log_key, grown)
                check_the_fork(second_backend, state, log_vkey, witness_vkey, accepted, grown, quorum)
                assert mirrors(state, base) == grown

                # 3. The clock stops: no new checkpoint, and the cosignature grows older than --max-age.
                running.kill(clock, signal.SIGTERM)
                time.sleep(3)
                alert = only_alert(run_monitor(base, log_vkey, state, *quorum, "--max-age", "2"), "freeze")
                assert (alert["accepted_size"], alert["served_size"]) == (grown, grown)
                assert "has not grown" in alert["message"]
                # the same tree, judged with a longer --max-age, is fine
                assert run_monitor(base, log_vkey, state, *quorum, "--max-age", "3600").returncode == 0

                # 4. The witness goes down; the clock signs on, without its cosignature.
                assert witness.stop() == 0
                running.start_clock("0.2")
                register(base, world, "gamma")
                later = world.registry.size()
                wait_for(lambda: checkpoint(base)[0] == later, what="a checkpoint signed with the witness down")
                _, _, bare = checkpoint(base)
                assert f"\u2014 {witness_name} ".encode() not in bare
                alert = only_alert(run_monitor(base, log_vkey, state, *quorum), "unverifiable")
                assert "witness quorum" in alert["message"]
                assert (alert["accepted_size"], alert["served_size"]) == (grown, later)
                (served,) = [p for p in alert["evidence"] if p.endswith("served.checkpoint")]
                assert (state / served).read_bytes() == bare
                assert mirror_state(state, _clean_env())["tree_size"] == grown
                assert (state / "monitor" / "checkpoint").read_bytes() == accepted
                # the quorum was the only thing missing: without it the same checkpoint is followed
                assert run_monitor(base, log_vkey, state).returncode == 0
                assert mirrors(state, base) == later
            audit = registry_json(state, _clean_env(), "audit")
            assert audit.returncode == 0, audit.stdout + audit.stderr
        finally:
            witness.stop()


def check_the_fork(fork: Backend, state: Path, log_vkey: str, witness_vkey: str, accepted: bytes, grown: int,
                   quorum: tuple[str, ...]) -> None:
    """... and, served to the monitor, the fork is not accepted: the fork alert, with checkable evidence."""
    with harness.gunicorn(fork.subprocess_env(), free_port()) as fork_base:
        forked_size, _, forked = checkpoint(fork_base)
        assert forked_size > grown
        opened = open_checkpoint(forked, ORIGIN, parse_verifier_key(log_vkey))  # really signed by the log key
        assert opened.checkpoint.size == forked_size
        alert = only_alert(run_monitor(fork_base, log_vkey, state, *quorum), "fork")
        assert (alert["accepted_size"], alert["served_size"]) == (grown, forked_size)
        files = {Path(p).name: state / p for p in alert["evidence"]}
        assert sorted(files) == ["accepted.checkpoint", "consistency.json", "served.checkpoint"]
        assert files["accepted.checkpoint"].read_bytes() == accepted
        assert files["served.checkpoint"].read_bytes() == forked
        # offline, with public keys only: the log signed both; only the accepted one has the witness's cosignature
        for name in ("accepted.checkpoint", "served.checkpoint"):
            assert verify(files[name], log_vkey).returncode == 0
        assert verify(files["accepted.checkpoint"], log_vkey, *quorum).returncode == 0
        refused = verify(files["served.checkpoint"], log_vkey, *quorum)
        assert refused.returncode == 1 and "quorum" in refused.stderr
        check = subprocess.run([str(BIN / "registry"), "verify", "consistency", str(files["accepted.checkpoint"]),
                                str(files["served.checkpoint"]), "--log-key", log_vkey, "--proof",
                                str(files["consistency.json"])], capture_output=True, text=True, cwd=ROOT,
                               env=_clean_env(), timeout=60)
        assert check.returncode == 1 and "FAILED" in check.stderr
        # A monitor without a quorum finds the same fork (reported once: exit 1, no new line).
        again = run_monitor(fork_base, log_vkey, state)
        assert again.returncode == 1 and again.stdout == "", again.stdout + again.stderr
        kinds = [a["kind"] for a in lines((state / "monitor" / "alerts.jsonl").read_text())]
        assert kinds == ["fork"]


def verify(path: Path, log_vkey: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "registry"), "verify", "checkpoint", str(path), "--log-key", log_vkey, *extra],
                          capture_output=True, text=True, cwd=ROOT, env=_clean_env(), timeout=60)
