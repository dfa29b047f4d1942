"""``registry witness``: run a C2SP tlog-witness for one or more logs.

``init`` makes the witness's Ed25519 key (owner-only, never over an existing
file) and prints its cosignature/v1 verifier key, which the witness's operator
gives to each log operator. ``serve`` answers ``POST /add-checkpoint``
(``scripts.witness_server``) for the logs named with ``--log``. Neither needs
a data directory or a registry.
"""

from __future__ import annotations

from pathlib import Path

import click

from registry import keys
from registry.errors import ConfigurationError, NoteError
from registry.signednote import check_name
from registry.witnessing import StateFile, Witness, known_logs, witness_verifier_key


def _name(name: str) -> str:
    try:
        check_name(name)
    except NoteError as e:
        raise ConfigurationError(f"--name: {e.message}") from None
    return name


@click.group("witness")
def witness() -> None:
    """A C2SP tlog-witness: cosign the checkpoints of logs you watch, never two histories of one."""


@witness.command("init")
@click.option("--name", required=True, help="The witness's key name, e.g. witness.example.org/w1.")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (created 0600; an existing file is never overwritten).")
def init(name: str, key_file: Path) -> None:
    """Create the witness key and print its verifier key (give it to the log operators)."""
    _name(name)
    if key_file.exists() or keys.public_path(key_file).exists():
        raise ConfigurationError(f"{key_file} exists already: a witness key is never overwritten")
    key = keys.generate()
    keys.save_private(key, key_file)
    click.echo(witness_verifier_key(name, key))


@witness.command("serve")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The witness's private key file (from witness init).")
@click.option("--name", required=True, help="The witness's key name, as given to witness init.")
@click.option("--log", "logs", multiple=True, required=True, metavar="VKEY",
              help="A log to witness: its Ed25519 verifier key, named after its origin (repeatable).")
@click.option("--state", "state_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The witness's state file (JSON; created on the first cosignature).")
@click.option("--port", type=int, required=True, help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def serve(key_file: Path, name: str, logs: tuple[str, ...], state_file: Path, port: int, host: str) -> None:
    """Serve POST /add-checkpoint until SIGTERM."""
    from scripts.witness_server import serve as run

    key = keys.load_private(key_file)
    if not state_file.parent.is_dir():
        raise ConfigurationError(f"the directory of the state file {state_file} does not exist")
    run(Witness(_name(name), key, known_logs(logs), StateFile(state_file)), host, port)
