"""Remote mode: the commands that sign, submit or fetch receipts, talking to a registry over HTTP.

What it does: :meth:`Remote.connect` reads the registry's discovery document,
holds its log key against a ``--log-key`` pin or the key remembered for its
origin (trust on first use, in the user's configuration directory), and only
then lets anything be signed. :func:`deliver` submits an envelope, waits
(bounded) until a signed checkpoint covers it, fetches its receipt, verifies it
and its entry, writes it to a file and says what was recorded;
:func:`show_status` and :func:`fetch_receipt` are ``status`` and ``receipt``.

What it does not do: open a data directory, or decide what a valid answer is
(``registry.remote`` does; ``scripts.httpclient`` carries the bytes).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from registry import remote as core
from registry import statements, wording
from registry.checkpoint import open_checkpoint
from registry.envelope import Envelope
from registry.errors import ConfigurationError, NoteError, RegistryError, RemoteError, VerificationError
from registry.remote import API_ANSWER, RECEIPT_ANSWER, SMALL_ANSWER, Discovery, KnownKeys, Submission
from registry.terminal import safe
from scripts.httpclient import Answer, Client

KNOWN_KEYS_FILE = "known-keys.json"
DEFAULT_WAIT = 30.0
PROGRESS_EVERY = 5.0


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/hcoc-registry``, else ``~/.config/hcoc-registry``."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec: a relative path is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "hcoc-registry"


class Remote:
    """A registry over HTTP whose discovery document and log key have been checked."""

    def __init__(self, client: Client, discovery: Discovery) -> None:
        self.client = client
        self.discovery = discovery

    @classmethod
    def connect(cls, url: str, pin: str | None, known_keys: Path | None = None) -> Remote:
        """Discover the registry at ``url`` and trust its log key (pinned, remembered, or seen first now).

        Raises:
            ConfigurationError: a bad URL or pin, or a known-keys file that cannot be read or written.
            RemoteError: the registry cannot be reached, or answers no discovery document.
            VerificationError: the document is not one, or its key is not the pinned or remembered one.
        """
        base = core.registry_url(url)
        pinned = core.parse_pin(pin) if pin else None
        client = Client(base)
        where = core.discovery_url(base)
        answer = client.get(where, SMALL_ANSWER, "application/json")
        if answer.status != 200:
            code, detail = core.parse_problem(answer.body, answer.status)
            raise RemoteError(code, f"{where}: {detail} (is {base} a registry?)", refused=False)
        discovery = core.parse_discovery(answer.body, base)
        _trust(discovery, pinned, known_keys or config_dir() / KNOWN_KEYS_FILE)
        return cls(client, discovery)

    def submit(self, sent: Envelope) -> Submission:
        answer = self.client.post(self.discovery.statements, sent.canonical, core.ENVELOPE_TYPE, SMALL_ANSWER)
        if answer.status not in (200, 201):
            raise problem(answer)
        return core.parse_submission(answer.body, sent)

    def receipt(self, index: int, *, wait: float, patient: bool, expected: float | None = None,
                hint: str = "") -> bytes:
        """The receipt of leaf ``index``, asked for again while no checkpoint covers it, for at most ``wait`` s.

        A 404 is asked again when the registry says when (``Retry-After``), or when ``patient`` (the
        leaf is known to exist: a registry that does not say so yet answers a plain 404).
        """
        started = time.monotonic()
        deadline, delay, said = started + wait, 0.2, 0.0
        while True:
            answer = self.client.get(self.discovery.receipt_url(index), RECEIPT_ANSWER, "text/plain")
            if answer.status == 200:
                return answer.body
            error, retry_after = problem(answer), answer.retry_after()
            again = (answer.status == 404 and (patient or retry_after is not None)) or (
                answer.status == 503 and retry_after is not None)
            now = time.monotonic()
            if not again:
                raise error
            if now >= deadline:
                raise RemoteError(error.code, f"{error.message}; waited {wait:g} s for a checkpoint to cover leaf "
                                  f"{index}{hint}", refused=False)
            if not said:
                within = f", expected within {expected:g} s" if expected is not None else ""
                click.echo(f"waiting for a signed checkpoint to cover leaf {index}{within} (giving up after "
                           f"{wait:g} s)", err=True)
                said = now
            elif now - said >= PROGRESS_EVERY:
                click.echo(f"still waiting for a checkpoint to cover leaf {index} ({now - started:.0f} s)", err=True)
                said = now
            time.sleep(max(0.0, min(retry_after if retry_after is not None else delay, deadline - now)))
            delay = min(delay * 1.5, 2.0)

    def checkpoint(self) -> bytes | None:
        """The latest signed checkpoint, unverified; None when the registry has published none."""
        answer = self.client.get(self.discovery.checkpoint, SMALL_ANSWER, "text/plain")
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise problem(answer)
        return answer.body

    def document(self, path: str) -> dict[str, Any] | None:
        """A JSON API document, or None when there is none (the wording falls back on slugs)."""
        try:
            answer = self.client.get(self.discovery.api + path, API_ANSWER, "application/json")
            return core.parse_json_object(answer.body, path, step="api") if answer.status == 200 else None
        except (RemoteError, VerificationError):
            return None


def problem(answer: Answer) -> RemoteError:
    """The registry's problem document as an error: refused for a 4xx, unavailable for anything else."""
    code, detail = core.parse_problem(answer.body, answer.status)
    return RemoteError(code, detail, refused=400 <= answer.status < 500)


# --- the log key -------------------------------------------------------------------------------


def _trust(discovery: Discovery, pin: Any, path: Path) -> None:
    known = _read_known(path)
    if pin is not None:
        core.check_pin(discovery, pin)
        remembered = known.log_keys.get(discovery.origin)
        if remembered != discovery.log_key.vkey:
            if remembered is not None:
                click.echo(f"note: {safe(str(path))} remembered another log key for {safe(discovery.origin)}; "
                           "it now remembers the pinned one", err=True)
            try:
                _write_known(path, core.remember(known, discovery))
            except OSError as e:  # the pin protects this run; only later runs without one lose
                click.echo(f"note: cannot remember the log key in {safe(str(path))}: {e.strerror or e}", err=True)
        return
    if core.trust(known, discovery, str(path)) == "known":
        return
    try:
        _write_known(path, core.remember(known, discovery))
    except OSError as e:
        raise ConfigurationError(f"cannot remember the log key of {discovery.origin} in {path}: {e.strerror or e}; "
                                 "pin it with --log-key instead") from None
    click.echo(f"trusting the log key of {safe(discovery.origin)} on first use: {discovery.log_key.vkey} "
               f"(remembered in {safe(str(path))}; check it from a second source)", err=True)


def _read_known(path: Path) -> KnownKeys:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return KnownKeys({})
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror or e}") from None
    return core.parse_known_keys(data, str(path))


def _write_known(path: Path, known: KnownKeys) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, core.format_known_keys(known), 0o600)


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it (owner-only from the start), then a rename."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- the commands' remote halves ------------------------------------------------------------------


def deliver(obj_remote: Remote, sent: Envelope, *, signer: bytes | None, receipt_file: Path | None, wait: float,
            as_json: bool) -> None:
    """Submit ``sent``, wait for a checkpoint to cover it, verify its receipt, write it, and say what was recorded.

    ``signer`` is the signer's raw public key (the statement's signature is checked with it when given).
    """
    recorded = obj_remote.submit(sent)
    index = recorded.index
    hint = (f". It is recorded at leaf {index}: get its receipt later with `registry --registry "
            f"{obj_remote.discovery.url} receipt {index} --receipt FILE`")
    data = obj_remote.receipt(index, wait=wait, patient=True, expected=recorded.expected_within, hint=hint)
    checked = core.check_receipt(data, obj_remote.discovery, index, envelope_hash=recorded.envelope_hash, sent=sent,
                                 signer=signer)
    path = _write_receipt(receipt_file, obj_remote.discovery, index, data)
    claim = _claim(obj_remote, checked, key_checked=signer is not None)
    if as_json:
        click.echo(json.dumps({**recorded.to_json(), "receipt": str(path), "checkpoint_size": checked.size,
                               "claim": claim}, sort_keys=True))
        return
    verb = "already recorded" if recorded.duplicate else "recorded"
    click.echo(f"{verb}: {recorded.type} at leaf {index} ({recorded.recorded_at})")
    click.echo(f"envelope hash: {recorded.envelope_hash}")
    click.echo(f"receipt: {safe(str(path))} (verified: in the tree of checkpoint {checked.size} signed by "
               f"{safe(obj_remote.discovery.origin)})")
    if claim is not None:
        click.echo("claim: " + claim)


def fetch_receipt(obj_remote: Remote, index: int, *, receipt_file: Path | None, signer: bytes | None,
                  wait: float) -> None:
    """``registry --registry URL receipt INDEX``: the verified receipt, printed or (with --receipt) written."""
    data = obj_remote.receipt(index, wait=wait, patient=False)
    checked = core.check_receipt(data, obj_remote.discovery, index, signer=signer)
    if receipt_file is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    path = _write_receipt(receipt_file, obj_remote.discovery, index, data)
    click.echo(f"receipt: {safe(str(path))} (verified: leaf {index} is in the tree of checkpoint {checked.size} "
               f"signed by {safe(obj_remote.discovery.origin)})")
    claim = _claim(obj_remote, checked, key_checked=signer is not None)
    if claim is not None:
        click.echo("claim: " + claim)


def show_status(obj_remote: Remote, as_json: bool) -> None:
    """``registry --registry URL status``: the origin, and the tree of the latest checkpoint, verified."""
    d = obj_remote.discovery
    note = obj_remote.checkpoint()
    size, root = 0, None
    if note is not None:
        try:
            cp = open_checkpoint(note, d.origin, d.log_key).checkpoint
        except NoteError as e:
            raise VerificationError(e.message, "checkpoint") from None
        size, root = cp.size, base64.b64encode(cp.root).decode("ascii")
    info = {"registry": d.url, "origin": d.origin, "tree_size": size, "root_hash": root, "log_key": d.log_key.vkey}
    if as_json:
        click.echo(json.dumps(info, sort_keys=True))
        return
    for name in ("registry", "origin", "tree_size", "root_hash", "log_key"):
        click.echo(f"{name}: {safe(str(info[name]) if info[name] is not None else 'none')}")
    click.echo("latest checkpoint: " + ("none yet" if note is None else f"size {size}, signature verified"))


def _write_receipt(given: Path | None, d: Discovery, index: int, data: bytes) -> Path:
    path = given if given is not None else Path(core.receipt_file_name(d.origin, index))
    try:
        write_atomically(path, data, 0o644)  # a receipt is public: it is made to be shown
    except OSError as e:
        raise ConfigurationError(f"cannot write the receipt to {path}: {e.strerror or e}") from None
    return path


def _claim(obj_remote: Remote, checked: core.CheckedReceipt, *, key_checked: bool) -> str | None:
    """The ``claim:`` sentence, in the names the registry's API gives; None for a statement this client cannot word."""
    stmt = checked.leaf.envelope.statement()
    try:
        statements.validate(stmt, origin=obj_remote.discovery.origin)
    except RegistryError as e:
        click.echo(f"note: the statement is not worded: this client does not read it ({safe(e.message)})", err=True)
        return None
    org = obj_remote.document(f"organizations/{quote(stmt['org'], safe='')}") if stmt.get("org") else None
    code = obj_remote.document(f"codes/{quote(stmt['code'], safe='')}") if stmt.get("code") else None
    keyid = checked.leaf.envelope.keyid
    line = wording.receipt_claim(stmt, core.names_from_api(org, code), core.signer_role(org, keyid),
                                 index=checked.verified.index, size=checked.size, key_id=keyid, key_checked=key_checked)
    return safe(line).replace("\n", "\\n")
