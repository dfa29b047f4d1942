"""A C2SP tlog-witness: what it cosigns, and the state file that makes it never cosign two histories.

What it does: answers an add-checkpoint request body (``registry.witness``) the
way c2sp.org/tlog-witness says, in the spec's order: a malformed body is 400,
an unknown origin 404, no valid signature of the log's key 403, an old size
above the checkpoint's 400, an old size other than the size it last cosigned
for that log 409 (with that size), a consistency proof that fails (or a
size-0 tree whose root is not SHA-256(""), or the same size with another root)
422. Otherwise it records the new (size, root) of the log in its state file,
durably, under a lock held from the old-size check to the write, and only then
returns its ``cosignature/v1`` line. A tree smaller than the one it cosigned,
or a second root at a size it cosigned, is never cosigned: the first needs an
old size above the checkpoint's (400) or other than its own (409), the second
fails the equal-size check (422).

The state file (docs/FORMATS.md section 22) is one JSON object, rewritten
whole (write, fsync, rename, fsync the directory) while an exclusive
``flock`` on ``<state>.lock`` is held, and read again under that lock for
every request: two threads or two processes on one file cannot both pass the
old-size check for one size.

What it does not do: speak HTTP (``scripts.witness_server``), read key files
or the command line (``scripts.cli.witness``).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import tlog
from registry.checkpoint import cosign_checkpoint, open_log_checkpoint, parse_signed_checkpoint
from registry.errors import ConfigurationError, NoteError, NoteVerificationError, ProofError
from registry.signednote import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    NoteVerifier,
    check_name,
    format_verifier_key,
    parse_verifier_key,
)
from registry.witness import parse_add_checkpoint

STATE_VERSION = "hcoc-witness-state/v1"
MAX_BODY = 1 << 20  # the largest add-checkpoint body parse_add_checkpoint accepts anyway


class WitnessRefusal(Exception):
    """The witness does not cosign: the HTTP status tlog-witness names, why, and (409) its own size."""

    def __init__(self, status: int, reason: str, size: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.size = size


@dataclass(frozen=True)
class LogState:
    """What the witness last cosigned for one log: the tree size, its root, and when (POSIX seconds)."""

    size: int
    root: bytes
    cosigned_at: int


@dataclass(frozen=True)
class Cosigned:
    """A successful add-checkpoint: the origin, the new size, the old one, and the cosignature line(s)."""

    origin: str
    size: int
    old_size: int
    lines: bytes


def witness_verifier_key(name: str, key: Ed25519PrivateKey) -> str:
    """The cosignature/v1 verifier key a witness gives to log operators: name+hex(key ID)+base64(0x04||pub)."""
    return format_verifier_key(name, key.public_key().public_bytes_raw(), SIG_TYPE_COSIGNATURE_V1)


def known_logs(vkeys: Sequence[str]) -> dict[str, NoteVerifier]:
    """The logs a witness serves, by origin (the key name): Ed25519 (type 0x01) keys, one per origin."""
    logs: dict[str, NoteVerifier] = {}
    for vkey in vkeys:
        try:
            verifier = parse_verifier_key(vkey.strip())
        except NoteError as e:
            raise ConfigurationError(f"log key {vkey!r}: {e.message}") from None
        if verifier.sig_type != SIG_TYPE_ED25519:
            raise ConfigurationError(f"log key {vkey!r} is not an Ed25519 (type 0x01) key")
        if verifier.name in logs:
            raise ConfigurationError(f"two log keys for the origin {verifier.name!r}")
        logs[verifier.name] = verifier
    if not logs:
        raise ConfigurationError("a witness needs at least one --log VKEY")
    return logs


# --- the state file ------------------------------------------------------------------------


def format_state(logs: dict[str, LogState]) -> bytes:
    """The state file's bytes: the version and each log's size, base64 root and cosigning time."""
    body = {"version": STATE_VERSION, "logs": {
        origin: {"size": s.size, "root": base64.b64encode(s.root).decode(), "cosigned_at": s.cosigned_at}
        for origin, s in sorted(logs.items())}}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def parse_state(data: bytes, where: str = "witness state") -> dict[str, LogState]:
    """A state file, strictly: anything else is a ConfigurationError (the witness must not guess)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigurationError(f"{where} is not JSON: {e}") from None
    if not isinstance(doc, dict) or set(doc) != {"version", "logs"} or doc["version"] != STATE_VERSION:
        raise ConfigurationError(f"{where} is not a {STATE_VERSION} document")
    if not isinstance(doc["logs"], dict):
        raise ConfigurationError(f"{where}: logs must be an object")
    logs = {}
    for origin, entry in doc["logs"].items():
        if not isinstance(entry, dict) or set(entry) != {"size", "root", "cosigned_at"}:
            raise ConfigurationError(f"{where}: log {origin!r} needs exactly size, root and cosigned_at")
        size, cosigned_at = entry["size"], entry["cosigned_at"]
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (size, cosigned_at)):
            raise ConfigurationError(f"{where}: log {origin!r}: size and cosigned_at must be integers >= 0")
        try:
            root = base64.b64decode(entry["root"], validate=True) if isinstance(entry["root"], str) else b""
        except binascii.Error:
            root = b""
        if len(root) != tlog.HASH_SIZE:
            raise ConfigurationError(f"{where}: log {origin!r}: root must be base64 of 32 bytes")
        logs[origin] = LogState(size, root, cosigned_at)
    return logs


class StateFile:
    """The witness's state on disk: read and replaced only while holding its lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._thread_lock = threading.Lock()

    def read(self) -> dict[str, LogState]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        return parse_state(data, str(self.path))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across the threads of this process (the lock) and across processes (flock)."""
        with self._thread_lock:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing drops the flock

    def write(self, logs: dict[str, LogState]) -> None:
        """Replace the file atomically and durably: a crash leaves the old state or the new, never half."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, format_state(logs))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)


# --- the witness ---------------------------------------------------------------------------


class Witness:
    """Cosigns checkpoints of known logs that extend what it cosigned before."""

    def __init__(self, name: str, key: Ed25519PrivateKey, logs: dict[str, NoteVerifier], state: StateFile,
                 clock: Callable[[], float] = time.time) -> None:
        check_name(name)
        self.name = name
        self.key = key
        self.logs = logs
        self.state = state
        self.clock = clock
        state.read()  # a damaged state file stops the witness at start, not at its first request

    @property
    def verifier_key(self) -> str:
        return witness_verifier_key(self.name, self.key)

    def add_checkpoint(self, body: bytes) -> Cosigned:
        """Check an add-checkpoint body, persist the new tree, and return the cosignature line.

        Raises:
            WitnessRefusal: with the status c2sp.org/tlog-witness gives for the reason.
        """
        if len(body) > MAX_BODY:
            raise WitnessRefusal(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            request = parse_add_checkpoint(body)
            origin = parse_signed_checkpoint(request.checkpoint).origin
        except NoteError as e:
            raise WitnessRefusal(400, f"malformed add-checkpoint body: {e.message}") from None
        verifier = self.logs.get(origin)
        if verifier is None:
            raise WitnessRefusal(404, f"unknown log {origin!r}")
        try:
            signed = open_log_checkpoint(request.checkpoint, origin, verifier)
        except NoteVerificationError as e:
            raise WitnessRefusal(403, f"not signed by the log's key: {e.message}") from None
        except NoteError as e:
            raise WitnessRefusal(400, f"malformed checkpoint: {e.message}") from None
        checkpoint = signed.checkpoint
        if request.old_size > checkpoint.size:
            raise WitnessRefusal(400, f"old size {request.old_size} is above the checkpoint's size "
                                      f"{checkpoint.size}")
        with self.state.locked():
            logs = self.state.read()
            current = logs.get(origin)
            latest = current.size if current is not None else 0
            if request.old_size != latest:
                raise WitnessRefusal(409, f"old size {request.old_size} is not the size {latest} last cosigned "
                                          f"for {origin!r}", latest)
            old_root = current.root if current is not None else tlog.EMPTY_ROOT
            try:
                tlog.verify_consistency(latest, checkpoint.size, old_root, checkpoint.root, request.proof)
            except ProofError as e:
                raise WitnessRefusal(422, f"not consistent with size {latest}: {e}") from None
            now = max(int(self.clock()), 1)  # tlog-witness: the timestamp is never zero
            if current is None or checkpoint.size != current.size:
                logs[origin] = LogState(checkpoint.size, checkpoint.root, now)
                self.state.write(logs)  # before answering: a cosignature is never given for an unrecorded tree
        line = cosign_checkpoint(signed.text, self.name, self.key, now)
        return Cosigned(origin, checkpoint.size, request.old_size, line.encode())

