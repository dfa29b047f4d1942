"""Commands for whoever signs statements (organizations and maintainers).

Key files, signing and submitting envelopes, and one command per statement
type (organizations, Code revisions, endorsements), each of which signs and
submits, or with ``--print`` only prints the envelope.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from registry import compose, envelope, keys, loader
from registry.application import Recorded
from registry.canonical import loads as strict_loads
from registry.errors import CanonicalError, ConfigurationError, MalformedError
from registry.terminal import safe
from scripts.cli.context import Context, pass_ctx, progress_reporter


@click.group("keys")
def keys_group() -> None:
    """Key files."""


@keys_group.command("generate")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Private key file to create.")
def keys_generate(out: Path) -> None:
    """Create an Ed25519 private key (owner-only) and FILE.pub; print the key id."""
    if out.exists():
        raise ConfigurationError(f"{out} exists; refusing to overwrite a key")
    key = keys.generate()
    keys.save_private(key, out)
    click.echo(keys.key_id(key))


def _read_json(path: str) -> Any:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        return strict_loads(data)
    except CanonicalError as e:
        raise MalformedError(f"{path}: {e}") from None


def _read_bytes(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


@click.command()
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, path_type=Path))
@click.argument("statement_file")
@pass_ctx
def sign(obj: Context, key_file: Path, statement_file: str) -> None:
    """Print the DSSE envelope for STATEMENT_FILE (registry, signed_at and nonce filled in if absent)."""
    stmt = _read_json(statement_file)
    if not isinstance(stmt, dict):
        raise MalformedError("a statement must be a JSON object")
    env = envelope.sign(compose.complete(stmt, obj.settings.origin), keys.load_private(key_file))
    click.echo(env.canonical.decode("ascii"))


@click.command()
@click.argument("envelope_file")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def submit(obj: Context, envelope_file: str, as_json: bool) -> None:
    """Validate, authorize and record a signed envelope."""
    rec = obj.registry.submit(_read_bytes(envelope_file))
    obj.node.integrate()  # the tree and the read models, as the web does after a submission
    obj.node.wake_clock()  # a running clock signs a checkpoint covering it now
    _report(rec, as_json)


def _report(rec: Recorded, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rec.to_json(), sort_keys=True))
        return
    verb = "already recorded" if rec.duplicate else "recorded"
    click.echo(f"{verb}: {rec.type} at leaf {rec.index} ({rec.recorded_at})")
    click.echo(f"event hash: {rec.envelope_hash}")


def _deliver(
    obj: Context,
    stmt: dict[str, Any],
    key_file: Path | None,
    printing: bool,
    as_json: bool,
    default_key: str | None = None,
) -> None:
    settings = obj.settings
    path = key_file or (settings.maintainer_key if default_key == "maintainer" else None)
    if path is None:
        raise ConfigurationError("--key FILE is required")
    env = envelope.sign(stmt, keys.load_private(path))
    if printing:
        click.echo(env.canonical.decode("ascii"))
        return
    rec = obj.registry.submit(env.canonical)
    obj.node.integrate()  # the tree and the read models, as the web does after a submission
    obj.node.wake_clock()  # a running clock signs a checkpoint covering it now
    _report(rec, as_json)


def statement_options(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)
    f = click.option("--print", "printing", is_flag=True, help="Print the signed envelope instead of submitting.")(f)
    return f


def _scope(actions: str | None) -> Any:
    if actions is None or actions.strip().lower() == "all":
        return "all"
    try:
        return sorted({int(a) for a in actions.split(",") if a.strip()})
    except ValueError:
        raise MalformedError(f"--actions must be 'all' or numbers like 1,3,7, not {actions!r}") from None


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _evidence(urls: tuple[str, ...]) -> list[dict[str, str]] | None:
    return [{"url": u} for u in urls] or None


@click.group()
def org() -> None:
    """Organizations."""


@org.command("register")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. JP.")
@click.option("--kind", required=True, type=click.Choice(["company", "academia", "civil-society", "public-sector"]))
@click.option("--website", default=None)
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(exists=True, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), help="Maintainer key.")
@statement_options
@pass_ctx
def org_register(
    obj: Context,
    slug: str,
    name: str,
    country: str,
    kind: str,
    website: str | None,
    public_keys: tuple[Path, ...],
    key_file: Path | None,
    printing: bool,
    as_json: bool,
) -> None:
    """Register an organization (maintainer-signed)."""
    stmt = compose.statement(
        "organization.registered",
        obj.settings.origin,
        **compose.present(
            org=slug,
            name=name,
            country=country,
            kind=kind,
            website=website,
            public_keys=[keys.encode_public(keys.load_public_file(p)) for p in public_keys],
        ),
    )
    _deliver(obj, stmt, key_file, printing, as_json, default_key="maintainer")


@org.command("add-key")
@click.option("--org", "slug", required=True)
@click.option("--public-key", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path))
@statement_options
@pass_ctx
def org_add_key(
    obj: Context, slug: str, public_key: Path, key_file: Path | None, printing: bool, as_json: bool
) -> None:
    """Add a key to an organization (signed by one of its keys or a maintainer)."""
    stmt = compose.statement(
        "organization.key_added",
        obj.settings.origin,
        **compose.present(org=slug, public_key=keys.encode_public(keys.load_public_file(public_key))),
    )
    _deliver(obj, stmt, key_file, printing, as_json, default_key="maintainer")


@org.command("revoke-key")
@click.option("--org", "slug", required=True)
@click.option("--key-id", required=True)
@click.option("--reason", default=None)
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path))
@statement_options
@pass_ctx
def org_revoke_key(
    obj: Context, slug: str, key_id: str, reason: str | None, key_file: Path | None, printing: bool, as_json: bool
) -> None:
    """Revoke an organization key; what it signed before stays valid."""
    stmt = compose.statement(
        "organization.key_revoked", obj.settings.origin, **compose.present(org=slug, key_id=key_id, reason=reason)
    )
    _deliver(obj, stmt, key_file, printing, as_json, default_key="maintainer")


@click.group()
def code() -> None:
    """Codes of conduct."""


@code.command("publish")
@click.argument("revision_file")
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), help="Maintainer key.")
@statement_options
@pass_ctx
def code_publish(obj: Context, revision_file: str, key_file: Path | None, printing: bool, as_json: bool) -> None:
    """Publish a Code revision from REVISION_FILE (JSON: code, version, title, actions, ...)."""
    revision = _read_json(revision_file)
    if not isinstance(revision, dict):
        raise MalformedError("a revision must be a JSON object")
    stmt = compose.complete({"type": "code.revision_published", **revision}, obj.settings.origin)
    _deliver(obj, stmt, key_file, printing, as_json, default_key="maintainer")


def endorsement_options(f: Any) -> Any:
    f = click.option("--evidence", multiple=True, help="Evidence URL (required when a maintainer attests).")(f)
    f = click.option("--effective-date", default=None, help="YYYY-MM-DD (default today, UTC).")(f)
    f = click.option(
        "--key",
        "key_file",
        required=True,
        type=click.Path(exists=True, path_type=Path),
        help="The organization's key, or a maintainer's for an attested record.",
    )(f)
    f = click.option("--code", "code_", required=True)(f)
    f = click.option("--org", "slug", required=True)(f)
    return statement_options(f)


@click.command()
@endorsement_options
@click.option("--version", "version", required=True)
@click.option("--actions", default=None, help="'all' (default) or action numbers like 1,3,7.")
@click.option("--statement", "text", default=None, help="Public statement.")
@pass_ctx
def endorse(obj: Context, version: str, actions: str | None, text: str | None, **options: Any) -> None:
    """Endorse a Code version."""
    _act(obj, "endorsement.made", options, version=version, scope=_scope(actions), statement=text)


@click.command()
@endorsement_options
@click.option("--actions", default=None, help="New scope: 'all' or action numbers like 1,3,7.")
@click.option("--statement", "text", default=None)
@pass_ctx
def amend(obj: Context, actions: str | None, text: str | None, **options: Any) -> None:
    """Change the scope or statement of an endorsement."""
    _act(obj, "endorsement.amended", options, scope=None if actions is None else _scope(actions), statement=text)


@click.command()
@endorsement_options
@click.option("--version", "version", required=True, help="The newer Code version.")
@click.option("--actions", default=None)
@click.option("--statement", "text", default=None)
@pass_ctx
def reaffirm(obj: Context, version: str, actions: str | None, text: str | None, **options: Any) -> None:
    """Carry an endorsement forward to a newer Code version."""
    _act(obj, "endorsement.reaffirmed", options, version=version,
         scope=None if actions is None else _scope(actions), statement=text)


@click.command()
@endorsement_options
@click.option("--reason", required=True)
@pass_ctx
def withdraw(obj: Context, reason: str, **options: Any) -> None:
    """Withdraw an endorsement, with a stated reason."""
    _act(obj, "endorsement.withdrawn", options, reason=reason)


def _act(obj: Context, type_: str, options: dict[str, Any], **fields: Any) -> None:
    """Build, sign and submit (or print) an endorsement statement from the options they share."""
    stmt = compose.statement(type_, obj.settings.origin, **compose.present(
        org=options["slug"], code=options["code_"], effective_date=options["effective_date"] or _today(),
        evidence=_evidence(options["evidence"]), **fields))
    _deliver(obj, stmt, options["key_file"], options["printing"], options["as_json"])


@click.command("load")
@click.argument("record_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), default=None,
              help="Maintainer key to sign with (default: the data directory's).")
@click.option("--dry-run", is_flag=True, help="Check the file and say what would be loaded; record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def load(obj: Context, record_file: Path, key_file: Path | None, dry_run: bool, as_json: bool) -> None:
    """Load a record file (docs/FORMATS.md section 19) as maintainer-attested statements.

    Idempotent: a record the log already holds is skipped. A record that conflicts with the log
    (other content under the same identity, or one the registry refuses) is reported and not
    recorded; the exit status is then 1. A file with an invalid entry loads nothing.
    """
    maintainer = keys.load_private(key_file or obj.settings.maintainer_key)
    doc = _read_json(str(record_file))
    report = loader.load(obj.node, doc, maintainer, dry_run=dry_run, progress=progress_reporter("planned"))
    if as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
    else:
        for outcome in report.conflicts:
            click.echo(f"conflict: {outcome.where}: {safe(outcome.reason)}")
        verb = "would load" if dry_run else "loaded"
        count = report.count("new") if dry_run else report.count("loaded")
        click.echo(f"{verb} {count} records; {report.count('skipped')} already recorded; "
                   f"{len(report.conflicts)} conflicts")
    if report.conflicts:
        sys.exit(1)
