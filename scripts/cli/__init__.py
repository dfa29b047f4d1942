"""The ``registry`` command line: a thin shell over the registry core.

Output is for people by default and JSON with ``--json``. A refusal prints one
line (``refused: <code>: <reason>``) on stderr and exits with status 1; a
configuration problem, or a store that cannot be opened or used, is one line
(``error: ...``, naming the database but never its password) and status 2.

This module is the top-level group and how errors leave it; the commands live
in one module per kind of user: ``statements`` (whoever signs: keys, statements,
submitting; ``keyproof`` adds ``org check-key``), ``log`` (reading a data directory's log and state, publishing
checkpoints and snapshots), ``verify`` (offline checks with public keys only),
``ops`` (the operator: init, serve, clock, migrate, rebuild, audit, export,
import), ``evidence`` (the operator's archive of cited documents),
``witness`` (a C2SP witness of other logs: init, serve) and ``monitor``
(watchdogs: following a registry into a verified mirror).
With ``--registry URL`` the commands that sign or submit statements, ``receipt``
and ``status`` talk to that registry over HTTP instead (``remote``); a command
that needs a local registry and finds none says so and creates nothing.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import click

from registry import config
from registry.errors import (
    ConfigurationError,
    RegistryError,
    RemoteError,
    StorageUnavailableError,
    VerificationError,
)
from registry.terminal import safe
from scripts.bench import bench
from scripts.cli import evidence, keyproof, log, monitor, ops, statements, verify, witness
from scripts.cli.context import Context

__all__ = ["main"]


def fail(error: RegistryError) -> NoReturn:
    """One line on stderr; exit 2 for the operator's problems (settings, an unreachable store or registry), else 1."""
    operator = isinstance(error, ConfigurationError | StorageUnavailableError) or (
        isinstance(error, RemoteError) and not error.refused)
    kind = "error" if operator else "FAILED" if isinstance(error, VerificationError) else "refused"
    click.echo(f"{kind}: {safe(error.diagnostics())}".replace("\n", " "), err=True)
    sys.exit(2 if operator else 1)


def _store_errors() -> tuple[type[BaseException], ...]:
    """What the storage library and the database drivers raise when a store cannot be used."""
    import sqlite3

    from eventsourcing.persistence import PersistenceError

    try:
        import psycopg
    except ImportError:
        return (PersistenceError, sqlite3.Error)
    return (PersistenceError, sqlite3.Error, psycopg.Error)


def _storage_error(obj: Context | None, error: BaseException) -> StorageUnavailableError:
    """``error`` as one line naming the database (never its password)."""
    reason = error.message if isinstance(error, RegistryError) else " ".join(str(error).split())
    try:
        settings = config.load(obj.data_dir) if obj is not None else None
    except RegistryError:
        settings = None
    if settings is None:
        return StorageUnavailableError(f"the database: {reason or type(error).__name__}")
    try:
        password = urlsplit(settings.database_url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password or "")} - {None, ""}:
        reason = reason.replace(secret, "***")  # drivers never quote it, but nothing must show it
    return StorageUnavailableError(f"{config.database_label(settings)}: {reason or type(error).__name__}")


class RegistryGroup(click.Group):
    """Turns every RegistryError, and every failure to use a store, into one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StorageUnavailableError as e:
            fail(_storage_error(ctx.find_object(Context), e))
        except RegistryError as e:
            fail(e)
        except _store_errors() as e:  # from code that opens a store itself (the audit's raw readers)
            fail(_storage_error(ctx.find_object(Context), e))
        finally:
            obj = ctx.find_object(Context)
            if obj is not None:
                try:
                    obj.close()
                except _store_errors():
                    pass  # a store that failed to open or answer cannot be closed cleanly either


@click.group(cls=RegistryGroup)
@click.option(
    "--data-dir",
    envvar="REGISTRY_DATA_DIR",
    default=None,
    help="Data directory (default $REGISTRY_DATA_DIR, else ./instance).",
)
@click.option(
    "--registry",
    "registry_url",
    envvar="REGISTRY_URL",
    default=None,
    metavar="URL",
    help="Talk to the registry at URL over HTTP (default $REGISTRY_URL): the commands that sign or submit "
         "statements, receipt and status; no data directory needed.",
)
@click.option(
    "--log-key",
    "log_key_pin",
    envvar="REGISTRY_LOG_KEY_PIN",
    default=None,
    metavar="VKEY",
    help="With --registry: the log's verifier key, from a source you trust (default $REGISTRY_LOG_KEY_PIN); "
         "without it the key is trusted on first use and remembered.",
)
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, registry_url: str | None, log_key_pin: str | None) -> None:
    """The public, verifiable registry of AI code of conduct endorsements."""
    ctx.obj = Context(data_dir, registry_url, log_key_pin)


for command in (
    statements.keys_group, statements.sign, statements.submit, statements.org, statements.code,
    statements.endorse, statements.amend, statements.reaffirm, statements.withdraw, statements.load,
    log.status, log.checkpoint, log.receipt, log.show, log.replay, log.diff, log.snapshot,
    verify.verify,
    ops.init, ops.clock, ops.migrate, ops.rebuild, ops.run_job, ops.serve, ops.audit, ops.export_bundle,
    ops.import_bundle, ops.publish, evidence.evidence, monitor.monitor, bench, witness.witness,
):
    main.add_command(command)
statements.org.add_command(keyproof.check_key)  # org check-key: kept apart from the commands that sign
