"""``registry monitor`` end to end: real processes over loopback, an honest registry and a lying operator.

The honest registry (thousands of validly signed statements, built once per
module) is served by gunicorn; ``registry monitor --once`` runs as a real
process and mirrors it into a data directory on SQLite or PostgreSQL; the
mirror must have the remote's size, root and state hash, audit clean and serve
the same checkpoint, then follow the registry as it grows.

The operator's attacks are served by a real static HTTP server process
(``python -m http.server``) from files the test writes: checkpoints signed with
the registry's real log key over a history of the test's choosing (a forked
one, an older one, one with a forged leaf), entry bundles and hash tiles
computed from that history, or tiles altered after the fact.
"""

from __future__ import annotations

import base64
import fcntl
import json
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import config, keys, tiles, tlog
from registry.application import open_registry
from registry.checkpoint import Checkpoint, cosign_checkpoint, sign_checkpoint
from registry.envelope import Envelope
from registry.leaf import format_leaf, parse_leaf
from registry.signednote import SIG_TYPE_COSIGNATURE_V1, NoteSigner, format_verifier_key, signer_from_private
from scripts.bench import BENCH_ORIGIN, build_signed_registry
from tests import harness
from tests.conftest import Backend

REGISTRY = Path(sys.executable).parent / "registry"
ROOT = Path(__file__).resolve().parent.parent
ENTRIES = 2600
WITNESS = "witness.test/w1"
FAILING_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Down(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Down).serve_forever()
"""


@dataclass
class Remote:
    data_dir: Path
    log_key: str  # the verifier key
    leaves: list[bytes]

    def signer(self) -> NoteSigner:
        return signer_from_private(BENCH_ORIGIN, keys.load_private(self.data_dir / "keys" / "log.key"))

    def env(self) -> dict[str, str]:
        return {**_clean_env(), "REGISTRY_DATA_DIR": str(self.data_dir)}


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Remote:
    data = tmp_path_factory.mktemp("remote") / "instance"
    build_signed_registry(data, ENTRIES)
    public = keys.public_bytes(keys.load_private(data / "keys" / "log.key"))
    registry = open_registry(config.load(data, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN}))
    try:
        leaves = list(registry.leaves())
    finally:
        registry.close()
    return Remote(data, format_verifier_key(BENCH_ORIGIN, public), leaves)


def monitor(url: str, remote: Remote, state: Path, *extra: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REGISTRY), "monitor", url, "--log-key", remote.log_key, "--state", str(state),
                           "--once", *extra], cwd=ROOT, env=env or _clean_env(), capture_output=True, text=True,
                          timeout=timeout)


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def registry_json(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REGISTRY), "--data-dir", str(data_dir), *args], cwd=ROOT,
                          env={**env, "REGISTRY_DATA_DIR": str(data_dir)}, capture_output=True, text=True, timeout=300)


# --- a static site the operator controls ----------------------------------------------------------------


class Operator:
    """A real ``python -m http.server`` process serving files the test writes as a tlog-tiles site."""

    def __init__(self, root: Path, remote: Remote) -> None:
        self.root = root
        self.remote = remote
        self.port = harness.free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the static server did not start")

    def publish(self, leaves: list[bytes], *, cosign_at: int | None = None) -> bytes:
        """Serve exactly this history under a checkpoint signed with the real log key; the note."""
        for child in self.root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        tree = tlog.MemoryHashStore()
        tree.extend([tlog.leaf_hash(leaf) for leaf in leaves])
        n = len(leaves)
        cp = Checkpoint(BENCH_ORIGIN, n, tree.root(), ())
        note = sign_checkpoint(cp, self.remote.signer())
        if cosign_at is not None:
            note = cosign(note, cosign_at)
        (self.root / "checkpoint").write_bytes(note)
        for k in range(-(-n // tiles.TILE_WIDTH)):
            width = tiles.tile_width_for(None, k, n)
            self.write(tiles.format_tile_path(None, k, width),
                       tiles.entry_bundle(leaves[k * tiles.TILE_WIDTH:k * tiles.TILE_WIDTH + width]))
        level = 0
        while n >> (tiles.TILE_HEIGHT * level):
            for k in range(-(-(n >> (tiles.TILE_HEIGHT * level)) // tiles.TILE_WIDTH)):
                width = tiles.tile_width_for(level, k, n)
                self.write(tiles.format_tile_path(level, k, width), tiles.tile_data(level, k, width, tree.read))
            level += 1
        return note

    def write(self, path: str, data: bytes) -> None:
        target = self.root / "tile" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def operator(tmp_path: Path, remote: Remote) -> Iterator[Operator]:
    served = Operator(tmp_path / "site", remote)
    try:
        yield served
    finally:
        served.stop()


WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS_VKEY = format_verifier_key(WITNESS, WITNESS_KEY.public_key().public_bytes_raw(), SIG_TYPE_COSIGNATURE_V1)


def cosign(note: bytes, timestamp: int) -> bytes:
    text = note.partition(b"\n\n")[0] + b"\n"
    line = cosign_checkpoint(text, WITNESS, WITNESS_KEY, timestamp)
    return note + line.encode()


def retimed(leaf: bytes, recorded_at: str) -> bytes:
    return format_leaf(parse_leaf(leaf).envelope, recorded_at)


def mirror_state(state: Path, env: dict[str, str]) -> dict:
    done = registry_json(state, env, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- the honest registry, mirrored and followed ------------------------------------------------------------


def test_mirror_follows_a_served_registry(remote: Remote, backend: Backend, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    env = {**_clean_env(), **backend.env}
    with harness.gunicorn(remote.env(), harness.free_port()) as base:
        done = monitor(base, remote, state, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""  # no alert
        mine, theirs = mirror_state(state, env), mirror_state(remote.data_dir, remote.env())
        assert (mine["origin"], mine["tree_size"], mine["root_hash"]) == \
            (theirs["origin"], theirs["tree_size"], theirs["root_hash"])
        assert mine["origin"] == BENCH_ORIGIN and mine["tree_size"] >= ENTRIES  # the module's remote only grows
        first = mine["tree_size"]
        audit = registry_json(state, env, "audit")
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert not (state / "keys" / "log.key").exists()  # a mirror holds no private key
        served = urllib.request.urlopen(base + "/checkpoint").read()
        kept = json.loads((state / "monitor" / "state.json").read_bytes())  # the next round starts from it
        assert kept["size"] == first and kept["state"]["size"] == first
        assert (state / "monitor" / "checkpoint").read_bytes() == served

        # the registry grows (a new organization, registered by the maintainer); a second round follows it
        grown = _grow(remote, 300)
        done = monitor(base, remote, state, "--watch", "type:organization.registered", "--watch", "org:nobody",
                       env=env)
        assert done.returncode == 0, done.stderr
        watched = lines(done.stdout)
        assert [w["index"] for w in watched] == list(range(first, first + grown))
        assert watched[0]["format"] == "hcoc-registry/watch/v1" and watched[0]["kind"] == "watch"
        assert watched[0]["type"] == "organization.registered" and "was registered" in watched[0]["claim"]
        assert set(watched[0]) == set(documented("monitor-watch"))
        mine, theirs = mirror_state(state, env), mirror_state(remote.data_dir, remote.env())
        assert (mine["tree_size"], mine["root_hash"]) == (theirs["tree_size"], theirs["root_hash"])
        assert _state_hash(state, env) == _state_hash(remote.data_dir, remote.env())
        assert registry_json(state, env, "audit").returncode == 0

    # the mirror serves what it verified: the same checkpoint, and its watch feed
    with served_mirror(state, backend.env) as app:
        client = app.test_client()
        assert client.get("/checkpoint").data == served_after(remote)
        feed = client.get("/monitor/watch.atom")
        assert feed.status_code == 200 and b"was registered" in feed.data
        # read-only: a statement submitted to the mirror is refused (submit it to the registry it follows)
        refused = client.post("/api/v1/statements", data=parse_leaf(remote.leaves[5]).envelope.canonical,
                              content_type="application/json")
        assert refused.status_code == 403 and refused.get_json()["type"].endswith("read-only-mirror")


@contextmanager
def served_mirror(state: Path, env: dict[str, str]) -> Iterator[Any]:
    """The web app on a mirror's data directory (its origin from its own registry.json)."""
    from web import close_app, create_app

    app = create_app({"DATA_DIR": state, "ENVIRON": env})
    try:
        yield app
    finally:
        close_app(app)


def documented(name: str) -> dict[str, Any]:
    from tests.test_formats import example

    return json.loads(example(name))


def test_the_documented_alert_format() -> None:
    from registry.alerts import ALERT_FORMAT, KINDS, WATCH_FORMAT
    from tests.test_formats import DOC

    alert, watch = documented("monitor-alert"), documented("monitor-watch")
    assert alert["format"] == ALERT_FORMAT and alert["kind"] in KINDS and watch["format"] == WATCH_FORMAT
    assert re.fullmatch(r"[0-9a-f]{32}", alert["id"]) and watch["kind"] == "watch"
    section = DOC.read_text(encoding="utf-8").split("## 23. Monitor alerts")[1]
    assert re.findall(r"^- `([a-z-]+)`:", section, flags=re.M) == list(KINDS)
    assert f"`{ALERT_FORMAT}`" in section and f"`{WATCH_FORMAT}`" in section


def served_after(remote: Remote) -> bytes:
    registry = open_registry(config.load(remote.data_dir, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN}))
    from registry.transparency import open_log

    log = open_log(config.load(remote.data_dir, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN}), registry)
    try:
        latest = log.latest_checkpoint()
        assert latest is not None
        return latest.note
    finally:
        log.store.datastore.close()
        registry.close()


def _state_hash(data_dir: Path, env: dict[str, str]) -> str:
    done = registry_json(data_dir, env, "replay")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[0]  # "state after N of N log entries (sha256 ...)"


def _grow(remote: Remote, count: int) -> int:
    """Register ``count`` organizations on the remote (as its maintainer) and sign a checkpoint."""
    from registry import compose, envelope
    from registry.node import Node

    settings = config.load(remote.data_dir, environ={"REGISTRY_ORIGIN": BENCH_ORIGIN})
    maintainer = keys.load_private(settings.maintainer_key)
    tag = secrets.token_hex(3)
    with Node(settings, signer=True) as node:
        for i in range(count):
            stmt = compose.statement("organization.registered", BENCH_ORIGIN, org=f"grown-{tag}-{i}", name=f"Grown {i}",
                                     country="JP", kind="company", public_keys=[keys.encode_public(keys.generate())])
            node.registry.submit(envelope.sign(stmt, maintainer).canonical)
        node.integrate()
        node.log.publish_checkpoint()
    return count


# --- the operator lies ----------------------------------------------------------------------------------------


def _accept(operator: Operator, remote: Remote, state: Path, size: int, *extra: str) -> bytes:
    note = operator.publish(remote.leaves[:size])
    done = monitor(operator.url, remote, state, *extra)
    assert done.returncode == 0, done.stderr
    assert mirror_state(state, _clean_env())["tree_size"] == size
    return note


def _only_alert(done: subprocess.CompletedProcess[str], kind: str) -> dict:
    assert done.returncode == 1, done.stderr
    (alert,) = lines(done.stdout)
    assert alert["format"] == "hcoc-registry/alert/v1" and alert["kind"] == kind, alert
    assert alert["origin"] == BENCH_ORIGIN
    return alert


def test_fork_is_alerted_once_with_evidence_and_the_mirror_keeps_what_it_accepted(
        operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    accepted = _accept(operator, remote, state, 600)
    before = mirror_state(state, _clean_env())
    # another history: the same first 400 entries, then the others recorded a second later, signed with the log key
    other = remote.leaves[:400] + [retimed(leaf, "2026-01-01T00:00:01Z") for leaf in remote.leaves[400:700]]
    forked = operator.publish(other)
    alert = _only_alert(monitor(operator.url, remote, state), "fork")
    assert (alert["accepted_size"], alert["served_size"]) == (600, 700)
    example = documented("monitor-alert")
    assert set(alert) == set(example) and sorted(Path(p).name for p in alert["evidence"]) == \
        sorted(Path(p).name for p in example["evidence"])
    assert all(p.startswith(f"monitor/evidence/{alert['id']}/") for p in alert["evidence"])
    assert mirror_state(state, _clean_env()) == before
    files = {Path(p).name: state / p for p in alert["evidence"]}
    assert files["accepted.checkpoint"].read_bytes() == accepted and files["served.checkpoint"].read_bytes() == forked
    # anyone can check the evidence offline: both checkpoints are signed by the log, and do not extend each other
    for name in ("accepted.checkpoint", "served.checkpoint"):
        ok = subprocess.run([str(REGISTRY), "verify", "checkpoint", str(files[name]), "--log-key", remote.log_key],
                            capture_output=True, text=True, cwd=ROOT, env=_clean_env())
        assert ok.returncode == 0, ok.stdout + ok.stderr
    check = subprocess.run([str(REGISTRY), "verify", "consistency", str(files["accepted.checkpoint"]),
                            str(files["served.checkpoint"]), "--log-key", remote.log_key,
                            "--proof", str(files["consistency.json"])], capture_output=True, text=True, cwd=ROOT,
                           env=_clean_env())
    assert check.returncode == 1 and "FAILED" in check.stderr
    # the same fork again: exit 1, but reported once
    again = monitor(operator.url, remote, state)
    assert again.returncode == 1 and again.stdout == ""
    assert len(lines((state / "monitor" / "alerts.jsonl").read_text())) == 1
    # the same size with another root is a fork too
    operator.publish(other[:600])
    assert _only_alert(monitor(operator.url, remote, state), "fork")["served_size"] == 600
    # the mirror serves its alerts as an Atom feed
    with served_mirror(state, {}) as app:
        feed = app.test_client().get("/monitor/alerts.atom")
        assert feed.status_code == 200 and feed.data.count(b"<entry>") == 2 and b"fork" in feed.data


def test_rollback(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    _accept(operator, remote, state, 600)
    operator.publish(remote.leaves[:500])
    alert = _only_alert(monitor(operator.url, remote, state), "rollback")
    assert (alert["accepted_size"], alert["served_size"]) == (600, 500)
    assert mirror_state(state, _clean_env())["tree_size"] == 600
    # the kept state is only a cache of the fold: one that does not match the stored tree is not used
    kept = state / "monitor" / "state.json"
    document = json.loads(kept.read_bytes())
    document["root"] = base64.b64encode(bytes(32)).decode()
    kept.write_text(json.dumps(document))
    operator.publish(remote.leaves[:650])
    done = monitor(operator.url, remote, state)
    assert done.returncode == 0, done.stderr
    assert json.loads(kept.read_bytes())["size"] == 650


def test_forged_leaf_under_a_valid_signature(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    _accept(operator, remote, state, 600)
    leaf = parse_leaf(remote.leaves[600])
    env = leaf.envelope
    payload = env.payload.replace(b'"org-', b'"orh-', 1)
    assert payload != env.payload
    forged = format_leaf(Envelope(payload=payload, keyid=env.keyid, sig=env.sig, payload_type=env.payload_type),
                         leaf.recorded_at)
    operator.publish([*remote.leaves[:600], forged, *remote.leaves[601:650]])  # the operator signs a root over it
    alert = _only_alert(monitor(operator.url, remote, state), "invalid-entry")
    assert "entry 600" in alert["message"]
    (evidence,) = [p for p in alert["evidence"] if p.endswith(".leaf")]
    assert (state / evidence).read_bytes() == forged
    after = mirror_state(state, _clean_env())
    assert after["tree_size"] == 600  # nothing of that round stored
    assert registry_json(state, _clean_env(), "audit").returncode == 0


def test_a_round_stopped_while_recording_is_finished(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    _accept(operator, remote, state, 300)
    # as if a round verifying size 500 was killed after recording entries 300..399: those entries stored, its
    # checkpoint kept as pending, the accepted checkpoint still at 300
    note = operator.publish(remote.leaves[:500])
    registry = open_registry(config.load(state))
    try:
        assert registry.record_leaves(remote.leaves[300:400]) == 400
    finally:
        registry.close()
    (state / "monitor" / "pending.checkpoint").write_bytes(note)
    done = monitor(operator.url, remote, state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert mirror_state(state, _clean_env())["tree_size"] == 500
    assert not (state / "monitor" / "pending.checkpoint").exists()
    operator.publish(remote.leaves[:520])
    assert monitor(operator.url, remote, state).returncode == 0
    assert registry_json(state, _clean_env(), "audit").returncode == 0
    # entries beyond the accepted checkpoint with no pending checkpoint: the mirror was changed
    registry = open_registry(config.load(state))
    try:
        registry.record_leaves(remote.leaves[520:530])
    finally:
        registry.close()
    done = monitor(operator.url, remote, state)
    assert done.returncode == 2 and "rebuild it" in done.stderr


def test_bundles_and_tiles_that_do_not_hash_to_the_root(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    _accept(operator, remote, state, 300)
    # a bundle whose entry differs from the one the signed root covers
    operator.publish(remote.leaves[:700])
    bad = list(remote.leaves[512:700])
    bad[3] = retimed(bad[3], "2026-01-01T00:00:02Z")
    operator.write("entries/002.p/188", tiles.entry_bundle(bad))
    alert = _only_alert(monitor(operator.url, remote, state), "tiles")
    assert "do not hash to the signed root" in alert["message"] and "0/002.p/188" in alert["message"]
    # honest bundles, but a hash tile that lies: the consistency proof from the tiles fails to reach the root
    operator.publish(remote.leaves[:700])
    tile = bytearray((operator.root / "tile" / "0" / "001").read_bytes())
    tile[40] ^= 1
    operator.write("0/001", bytes(tile))
    alert = _only_alert(monitor(operator.url, remote, state), "tiles")
    assert any(p.endswith("tile-0_001") for p in alert["evidence"])
    assert mirror_state(state, _clean_env())["tree_size"] == 300
    # and on a first download (no proof to ask for), the tile is compared with the leaves it covers
    fresh = tmp_path / "fresh"
    alert = _only_alert(monitor(operator.url, remote, fresh), "tiles")
    assert "hash tile 0/001 differs" in alert["message"]
    assert any(p.endswith("tile-0_001") for p in alert["evidence"])
    assert mirror_state(fresh, _clean_env())["tree_size"] == 0
    # the truth is accepted
    operator.publish(remote.leaves[:700])
    assert monitor(operator.url, remote, state).returncode == 0


def test_unreachable_and_missing(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    done = monitor(f"http://127.0.0.1:{harness.free_port()}", remote, state)
    assert done.returncode == 2 and done.stdout == "" and "unreachable" in done.stderr
    # a registry that answers 503: unreachable too, nothing stored
    port = harness.free_port()
    failing = subprocess.Popen([sys.executable, "-c", FAILING_SERVER, str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            done = monitor(f"http://127.0.0.1:{port}", remote, state)
            if "HTTP 503" in done.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done.returncode == 2 and "HTTP 503" in done.stderr and done.stdout == ""
    finally:
        failing.terminate()
        failing.wait(timeout=10)
    operator.publish(remote.leaves[:300])
    (operator.root / "tile" / "entries" / "000").unlink()
    _only_alert(monitor(operator.url, remote, state), "unverifiable")
    assert mirror_state(state, _clean_env())["tree_size"] == 0


def test_quorum_cosignatures_and_freeze(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    witness = ("--witness-key", WITNESS_VKEY, "--quorum", "1", "--max-age", "3600")
    operator.publish(remote.leaves[:300])  # not cosigned
    alert = _only_alert(monitor(operator.url, remote, state, *witness), "unverifiable")
    assert "witness quorum" in alert["message"]
    assert mirror_state(state, _clean_env())["tree_size"] == 0
    now = int(time.time())
    operator.publish(remote.leaves[:300], cosign_at=now - 10)
    done = monitor(operator.url, remote, state, *witness)
    assert done.returncode == 0, done.stderr
    assert mirror_state(state, _clean_env())["tree_size"] == 300
    # a grown log with only a stale cosignature is not accepted
    operator.publish(remote.leaves[:400], cosign_at=now - 7200)
    assert "not accepted" in _only_alert(monitor(operator.url, remote, state, *witness), "unverifiable")["message"]
    # the same tree, and nothing fresher than max-age: a freeze
    operator.publish(remote.leaves[:300], cosign_at=now - 7200)
    _only_alert(monitor(operator.url, remote, state, *witness), "freeze")
    # a cosignature from the future is refused
    operator.publish(remote.leaves[:400], cosign_at=now + 3600)
    _only_alert(monitor(operator.url, remote, state, *witness), "unverifiable")
    # a smaller tree, or another root at the accepted size, signed by the log: a rollback or a fork, with or
    # without cosignatures (the log's signature is the evidence; a witness would refuse to cosign either)
    operator.publish(remote.leaves[:200])
    _only_alert(monitor(operator.url, remote, state, *witness), "rollback")
    operator.publish([*remote.leaves[:299], retimed(remote.leaves[299], "2026-01-01T00:00:03Z")])
    _only_alert(monitor(operator.url, remote, state, *witness), "fork")
    assert mirror_state(state, _clean_env())["tree_size"] == 300


def test_bad_signature_other_log_and_lock(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    state = tmp_path / "mirror"
    _accept(operator, remote, state, 300)
    # a checkpoint signed by another key
    other = signer_from_private(BENCH_ORIGIN, keys.generate())
    tree = tlog.MemoryHashStore()
    tree.extend([tlog.leaf_hash(leaf) for leaf in remote.leaves[:310]])
    (operator.root / "checkpoint").write_bytes(sign_checkpoint(Checkpoint(BENCH_ORIGIN, 310, tree.root(), ()), other))
    _only_alert(monitor(operator.url, remote, state), "bad-signature")
    # a mirror of this log refuses to follow another log's key
    stranger = format_verifier_key(BENCH_ORIGIN, keys.public_bytes(keys.generate()))
    done = subprocess.run([str(REGISTRY), "monitor", operator.url, "--log-key", stranger, "--state", str(state),
                           "--once"], capture_output=True, text=True, cwd=ROOT, env=_clean_env())
    assert done.returncode == 2 and "another log key" in done.stderr
    # a witness key must be a cosignature key
    done = monitor(operator.url, remote, state, "--witness-key", remote.log_key, "--quorum", "1")
    assert done.returncode == 2 and "cosignature" in done.stderr
    # two monitors never share a directory
    with (state / "monitor" / "lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        done = monitor(operator.url, remote, state)
    assert done.returncode == 2 and "another monitor" in done.stderr


def test_service_mode_metrics_and_clean_stop(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    import signal

    state = tmp_path / "mirror"
    port = harness.free_port()
    operator.publish(remote.leaves[:300])
    process = subprocess.Popen([str(REGISTRY), "monitor", operator.url, "--log-key", remote.log_key, "--state",
                                str(state), "--interval", "0.3", "--metrics-port", str(port)], cwd=ROOT,
                               env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        metrics = _wait_metric(port, "registry_monitor_verified_size", 300.0)
        assert 'registry_monitor_rounds_total{outcome="verified"}' in metrics
        assert "registry_monitor_checkpoint_age_seconds" in metrics
        operator.publish(remote.leaves[:400])
        _wait_metric(port, "registry_monitor_verified_size", 400.0)
        operator.publish(remote.leaves[:350])  # a rollback, found every round, printed once
        metrics = _wait_metric(port, 'registry_monitor_alerts_total{kind="rollback"}', 2.0, at_least=True)
        # a second monitor on the same directory is refused while this one runs
        done = monitor(operator.url, remote, state)
        assert done.returncode == 2 and "another monitor" in done.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in err
    assert [line["kind"] for line in lines(out)] == ["rollback"]
    assert mirror_state(state, _clean_env())["tree_size"] == 400


def _wait_metric(port: int, name: str, value: float, *, at_least: bool = False, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            time.sleep(0.1)
            continue
        for line in text.splitlines():
            if line.startswith(name + " "):
                found = float(line.split()[-1])
                if found == value or (at_least and found >= value):
                    return text
        time.sleep(0.1)
    raise AssertionError(f"{name} did not reach {value}:\n{text}")


def test_a_stop_before_recording_drops_the_round(operator: Operator, remote: Remote, tmp_path: Path) -> None:
    from registry.monitor import Monitor, Options, open_mirror
    from registry.signednote import parse_verifier_key
    from scripts.cli.monitor import _fetcher

    operator.publish(remote.leaves[:600])
    verifier = parse_verifier_key(remote.log_key)
    settings = open_mirror(tmp_path / "mirror", verifier)
    asked = iter([False, False, True])  # asked to stop while the third bundle arrives
    runner = Monitor(settings, operator.url, Options(verifier, workers=1), _fetcher(operator.url),
                     stopping=lambda: next(asked, True))
    outcome = runner.round()
    assert outcome.status == "stopped"
    assert mirror_state(tmp_path / "mirror", _clean_env())["tree_size"] == 0
    assert not (tmp_path / "mirror" / "monitor" / "spool.partial").exists()
    runner.stopping = lambda: False
    assert runner.round().status == "verified"
    assert mirror_state(tmp_path / "mirror", _clean_env())["tree_size"] == 600
