"""Commands for whoever signs statements (organizations and maintainers).

Key files, signing and submitting envelopes, and one command per statement
type (organizations, Code revisions, endorsements), each of which signs and
submits, or with ``--print`` only prints the envelope. Each submits to the
data directory's registry, or with ``--registry URL`` to that registry over
HTTP, and then proves it with a verified receipt (``scripts.cli.remote``).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from registry import compose, envelope, keys, loader
from registry import evidence as archive
from registry.application import Recorded
from registry.canonical import loads as strict_loads
from registry.errors import CanonicalError, ConfigurationError, MalformedError
from registry.statements import KINDS, check_url
from registry.terminal import safe
from registry.times import format_time
from scripts.cli import remote
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
    env = envelope.sign(compose.complete(stmt, obj.origin(printing=True)), keys.load_private(key_file))
    click.echo(env.canonical.decode("ascii"))


@dataclass(frozen=True)
class Delivery:
    """What to do with a signed statement: print it, or submit it (and where to put its receipt)."""

    printing: bool = False
    as_json: bool = False
    receipt_file: Path | None = None
    wait: float = remote.DEFAULT_WAIT

    def check(self, obj: Context) -> None:
        if self.receipt_file is not None and obj.registry_url is None and not self.printing:
            raise ConfigurationError("--receipt FILE needs --registry URL: a local submission has no receipt until "
                                     "a checkpoint covers it (then: registry receipt INDEX)")


def delivery_options(f: Any) -> Any:
    """--receipt and --wait (how a submission to a remote registry is proved), handed on as ``delivery``."""

    @functools.wraps(f)
    def wrapper(*args: Any, printing: bool = False, as_json: bool = False, receipt_file: Path | None = None,
                wait: float = remote.DEFAULT_WAIT, **kwargs: Any) -> Any:
        return f(*args, delivery=Delivery(printing, as_json, receipt_file, wait), **kwargs)

    wrapper = click.option("--wait", type=click.FloatRange(0, 3600), metavar="SECONDS",
                           default=remote.DEFAULT_WAIT, show_default=True,
                           help="With --registry: seconds to wait for a signed checkpoint to cover the entry.")(wrapper)
    return click.option("--receipt", "receipt_file", type=click.Path(dir_okay=False, path_type=Path),
                        help="With --registry: where to write the verified receipt (default "
                             "<origin>-<index>.tlog-proof here).")(wrapper)


@click.command()
@click.argument("envelope_file")
@click.option("--json", "as_json", is_flag=True)
@click.option("--signer-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --registry: the signer's public key file, to check the recorded statement's signature.")
@delivery_options
@pass_ctx
def submit(obj: Context, envelope_file: str, signer_key: Path | None, delivery: Delivery) -> None:
    """Validate, authorize and record a signed envelope (with --registry: submit it there and prove it)."""
    delivery.check(obj)
    data = _read_bytes(envelope_file)
    found = obj.remote
    if found is not None:
        signer = keys.load_public_file(signer_key) if signer_key is not None else None
        remote.deliver(found, envelope.parse(data), signer=signer, receipt_file=delivery.receipt_file,
                       wait=delivery.wait, as_json=delivery.as_json)
        return
    rec = obj.registry.submit(data)
    obj.node.integrate()  # the tree and the read models, as the web does after a submission
    obj.node.wake_clock()  # a running clock signs a checkpoint covering it now
    _report(rec, delivery.as_json)


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
    delivery: Delivery,
    default_key: str | None = None,
) -> None:
    found = obj.remote
    # A remote registry's maintainer signs with a key file named; the data directory's is for its own registry.
    path = key_file or (obj.settings.maintainer_key if default_key == "maintainer" and found is None else None)
    if path is None:
        raise ConfigurationError("--key FILE is required" + (" with --registry" if found is not None else ""))
    private = keys.load_private(path)
    env = envelope.sign(stmt, private)
    if delivery.printing:
        click.echo(env.canonical.decode("ascii"))
        return
    if found is not None:
        remote.deliver(found, env, signer=keys.public_bytes(private), receipt_file=delivery.receipt_file,
                       wait=delivery.wait, as_json=delivery.as_json)
        return
    rec = obj.registry.submit(env.canonical)
    obj.node.integrate()  # the tree and the read models, as the web does after a submission
    obj.node.wake_clock()  # a running clock signs a checkpoint covering it now
    _report(rec, delivery.as_json)


def statement_options(f: Any) -> Any:
    f = delivery_options(f)
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


def _evidence(urls: tuple[str, ...], files: Sequence[tuple[str, bytes]] = ()) -> list[dict[str, str]] | None:
    return [{"url": u} for u in urls] + [{"url": u, "sha256": archive.digest(data)} for u, data in files] or None


def _evidence_files(obj: Context, pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, bytes]]:
    """The (URL, bytes) of each ``--evidence-file URL FILE``: the URL checked, the file read within the limit."""
    from scripts.cli.evidence import read_document

    found = []
    for url, path in pairs:
        check_url(url, "--evidence-file URL")
        found.append((url, read_document(path, obj.settings.evidence_max_bytes)))
    return found


def _archive_cited(obj: Context, files: list[tuple[str, bytes]], delivery: Delivery) -> None:
    """Archive the documents a recorded statement cites (after it was recorded: a refusal archives nothing)."""
    if not files:
        return
    if delivery.printing or obj.remote is not None:
        for url, data in files:
            click.echo(f"cited {archive.digest(data)} ({url}); its registry's operator archives it with "
                       f"registry evidence add FILE --url URL", err=True)
        return
    for url, data in files:
        document, added = obj.node.evidence.add(data, source_url=url, added_at=format_time(datetime.now(UTC)),
                                                max_bytes=obj.settings.evidence_max_bytes)
        click.echo(f"{'archived' if added else 'already archived'}: {document.sha256} ({document.media_type}, "
                   f"{document.size} bytes)", err=True)


def _key_proofs(asked: str | None, website: str | None, origin: str, org: str,
                publics: list[bytes]) -> list[dict[str, str]] | None:
    """The ``key_proofs`` of ``--key-proof``: the organization's key-proof file, checked to list every key."""
    if asked is None:
        return None
    where = asked or website
    if not where:
        raise ConfigurationError("--key-proof needs the organization's website: give it as --key-proof URL "
                                 "(or --website when registering)")
    if not publics:
        raise ConfigurationError("--key-proof proves the keys a statement adds, and this one adds none")
    from scripts.cli.keyproof import key_proofs_for

    found = key_proofs_for(where, origin, org, [keys.key_id(p) for p in publics])
    for proof in found:
        click.echo(f"key {proof['key_id'][:16]}… proved by {proof['url']} (sha256 {proof['sha256'][:16]}…, "
                   f"fetched {proof['fetched_at']})", err=True)
    return found


def key_proof_option(f: Any) -> Any:
    return click.option(
        "--key-proof", "key_proof", default=None, is_flag=False, flag_value="", metavar="[URL]",
        help="Check that the organization's website lists the new key(s) at /.well-known/hcoc-registry-keys "
             "(docs/FORMATS.md section 21) and record the proof; URL: the website (default: --website, or the "
             "one the local registry holds).")(f)


@click.group()
def org() -> None:
    """Organizations."""


@org.command("register")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. JP.")
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--website", default=None)
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(exists=True, path_type=Path))
@key_proof_option
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
    key_proof: str | None,
    key_file: Path | None,
    delivery: Delivery,
) -> None:
    """Register an organization (maintainer-signed)."""
    delivery.check(obj)
    origin = obj.origin(delivery.printing)
    publics = [keys.load_public_file(p) for p in public_keys]
    # Fetched before the statement is composed: a proof is never fetched after the statement was signed.
    proofs = _key_proofs(key_proof, website, origin, slug, publics)
    stmt = compose.statement(
        "organization.registered",
        origin,
        **compose.present(
            org=slug,
            name=name,
            country=country,
            kind=kind,
            website=website,
            public_keys=[keys.encode_public(p) for p in publics],
            key_proofs=proofs,
        ),
    )
    _deliver(obj, stmt, key_file, delivery, default_key="maintainer")


@org.command("add-key")
@click.option("--org", "slug", required=True)
@click.option("--public-key", required=True, type=click.Path(exists=True, path_type=Path))
@key_proof_option
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path))
@statement_options
@pass_ctx
def org_add_key(obj: Context, slug: str, public_key: Path, key_proof: str | None, key_file: Path | None,
                delivery: Delivery) -> None:
    """Add a key to an organization (signed by one of its keys or a maintainer)."""
    delivery.check(obj)
    origin = obj.origin(delivery.printing)
    public = keys.load_public_file(public_key)
    if key_proof == "" and obj.remote is None:
        # The organization's website, as the local registry holds it.
        key_proof = (obj.views().organization(slug) or {}).get("website") or ""
    proofs = _key_proofs(key_proof, None, origin, slug, [public])
    stmt = compose.statement(
        "organization.key_added",
        origin,
        **compose.present(org=slug, public_key=keys.encode_public(public), key_proofs=proofs),
    )
    _deliver(obj, stmt, key_file, delivery, default_key="maintainer")


@org.command("revoke-key")
@click.option("--org", "slug", required=True)
@click.option("--key-id", required=True)
@click.option("--reason", default=None)
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path))
@statement_options
@pass_ctx
def org_revoke_key(
    obj: Context, slug: str, key_id: str, reason: str | None, key_file: Path | None, delivery: Delivery
) -> None:
    """Revoke an organization key; what it signed before stays valid."""
    delivery.check(obj)
    stmt = compose.statement("organization.key_revoked", obj.origin(delivery.printing),
                             **compose.present(org=slug, key_id=key_id, reason=reason))
    _deliver(obj, stmt, key_file, delivery, default_key="maintainer")


@click.group()
def code() -> None:
    """Codes of conduct."""


@code.command("publish")
@click.argument("revision_file")
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), help="Maintainer key.")
@statement_options
@pass_ctx
def code_publish(obj: Context, revision_file: str, key_file: Path | None, delivery: Delivery) -> None:
    """Publish a Code revision from REVISION_FILE (JSON: code, version, title, actions, ...)."""
    delivery.check(obj)
    revision = _read_json(revision_file)
    if not isinstance(revision, dict):
        raise MalformedError("a revision must be a JSON object")
    stmt = compose.complete({"type": "code.revision_published", **revision}, obj.origin(delivery.printing))
    _deliver(obj, stmt, key_file, delivery, default_key="maintainer")


def endorsement_options(f: Any) -> Any:
    f = click.option("--evidence-file", "evidence_file", multiple=True, nargs=2, metavar="URL FILE",
                     help="Evidence at URL, cited with the SHA-256 of FILE (a copy of it) and archived in the "
                          "local registry once the statement is recorded (docs/FORMATS.md section 25).")(f)
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
    delivery: Delivery = options["delivery"]
    delivery.check(obj)
    files = _evidence_files(obj, options["evidence_file"])
    stmt = compose.statement(type_, obj.origin(delivery.printing), **compose.present(
        org=options["slug"], code=options["code_"], effective_date=options["effective_date"] or _today(),
        evidence=_evidence(options["evidence"], files), **fields))
    _deliver(obj, stmt, options["key_file"], delivery)
    _archive_cited(obj, files, delivery)


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
