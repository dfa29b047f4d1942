"""The ``registry`` command line: a thin shell over the registry core.

Output is for people by default and JSON with ``--json``. A refusal prints one
line (``refused: <code>: <reason>``) on stderr and exits with status 1; a
configuration problem, or a store that cannot be opened or used, is one line
(``error: ...``, naming the database but never its password) and status 2.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import click

from registry import bundle, compose, config, envelope, jobs, keys, notes, seed, snapshots, tlog
from registry.application import Recorded, Registry, open_registry
from registry.canonical import loads as strict_loads
from registry.diff import diff_states
from registry.domain import code_id
from registry.errors import (
    CanonicalError,
    ConfigurationError,
    MalformedError,
    NoteError,
    NotFoundError,
    ProofError,
    ReceiptError,
    RegistryError,
    StorageUnavailableError,
    VerificationError,
)
from registry.leaf import parse_leaf
from registry.publish import publish_snapshot
from registry.terminal import safe, safe_json
from registry.times import format_time, parse_time
from registry.transparency import TransparencyLog, open_log
from registry.views import ReadModels, open_read_models


class Context:
    """Lazily opened settings and application for one command."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir
        self._registry: Registry | None = None
        self._log: TransparencyLog | None = None
        self._views: ReadModels | None = None

    @property
    def settings(self) -> config.Settings:
        return config.load(self.data_dir)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self.settings)
        return self._registry

    def log(self, signer: bool = False) -> TransparencyLog:
        if self._log is None or (signer and self._log.signer is None):
            if self._log is not None:
                self._log.store.datastore.close()
            self._log = open_log(self.settings, self.registry, with_signer=signer)
        return self._log

    def views(self) -> ReadModels:
        if self._views is None:
            # Bounded by what the log has integrated; commands that record (submit, endorse, ...) integrate.
            self._views = open_read_models(self.settings, self.registry, bound=lambda: self.log().size())
        return self._views

    def close(self) -> None:
        if self._views is not None:
            self._views.store.datastore.close()
        if self._log is not None:
            self._log.store.datastore.close()
        if self._registry is not None:
            self._registry.close()


pass_ctx = click.make_pass_decorator(Context)


def fail(error: RegistryError) -> NoReturn:
    """One line on stderr; exit 2 for the operator's problems (settings, an unreachable store), else 1."""
    operator = isinstance(error, ConfigurationError | StorageUnavailableError)
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
@click.pass_context
def main(ctx: click.Context, data_dir: str | None) -> None:
    """The public, verifiable registry of AI code of conduct endorsements."""
    ctx.obj = Context(data_dir)


# --- setting up -------------------------------------------------------------------


@main.command()
@click.option("--origin", default=None, help="Log origin, e.g. registry.example.org/hcoc (fixed forever).")
@click.option("--base-url", default=None, help="Public base URL of the site.")
@click.option("--demo", is_flag=True, help="Also load the demo data (the Hiroshima Code and organizations).")
@pass_ctx
def init(obj: Context, origin: str | None, base_url: str | None, demo: bool) -> None:
    """Create the data directory, keys and genesis records (safe to run twice)."""
    current = config.load(obj.data_dir)
    stored = config.read_config_file(current.data_dir)
    if origin and stored.get("origin") and stored["origin"] != origin:
        raise ConfigurationError(f"this data directory already belongs to origin {stored['origin']!r}")
    values = {
        "origin": origin or stored.get("origin") or current.origin,
        "base_url": base_url or stored.get("base_url") or current.base_url,
    }
    config.write_config_file(current.data_dir, values)
    settings = obj.settings
    (settings.data_dir / "keys").mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (settings.root_key, settings.maintainer_key, settings.log_key):
        if keys.public_path(path).exists() and not path.exists():
            # An imported mirror: it has the log's public key but not its private key. A new key
            # here would overwrite the public one and break every checkpoint's verification.
            click.echo(f"keeping {keys.public_path(path)} (no private key: a verified mirror)", err=True)
            continue
        if not path.exists():
            keys.save_private(keys.generate(), path)
            click.echo(f"created key {path}")
    registry = obj.registry
    root = keys.load_private(settings.root_key)
    maintainer = keys.load_private(settings.maintainer_key)
    if registry.size() == 0:
        origin_ = settings.origin
        _record(
            registry,
            compose.statement(
                "registry.genesis",
                origin_,
                name="Hiroshima Code of Conduct registry",
                root_key=keys.encode_public(root),
            ),
            root,
        )
        _record(
            registry,
            compose.statement(
                "maintainer.key_added",
                origin_,
                public_key=keys.encode_public(maintainer),
                name="maintainer (created by registry init)",
            ),
            root,
        )
    if demo:
        loaded = _load_demo(registry, settings.origin, maintainer)
        click.echo(f"demo data: {loaded} statements recorded" if loaded else "demo data: already loaded")
    click.echo(f"data directory: {settings.data_dir}")
    click.echo(f"origin: {safe(settings.origin)}")
    click.echo(f"log verifier key: {_log_vkey(settings)}")
    click.echo(f"tree size: {obj.log().catch_up()}")


def _record(registry: Registry, stmt: dict[str, Any], key: Any) -> Recorded:
    return registry.submit(envelope.sign(stmt, key).canonical)


def _load_demo(registry: Registry, origin: str, maintainer: Any) -> int:
    if registry.get(code_id(seed.CODE)) is not None:
        return 0
    loaded = 0
    for stmt in seed.statements(origin):
        try:
            registry.submit(envelope.sign(stmt, maintainer).canonical)
            loaded += 1
        except RegistryError as e:
            if e.code != "conflict":
                raise
    return loaded


def _log_vkey(settings: config.Settings) -> str:
    from registry.signednote import format_verifier_key

    public = keys.load_public_file(keys.public_path(settings.log_key))
    return format_verifier_key(settings.origin, public)


@main.group("keys")
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


# --- signing and submitting ---------------------------------------------------------


def _read_json(path: str) -> Any:
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    try:
        return strict_loads(data)
    except CanonicalError as e:
        raise MalformedError(f"{path}: {e}") from None


def _read_bytes(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


@main.command()
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


@main.command()
@click.argument("envelope_file")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def submit(obj: Context, envelope_file: str, as_json: bool) -> None:
    """Validate, authorize and record a signed envelope."""
    rec = obj.registry.submit(_read_bytes(envelope_file))
    obj.log().catch_up()
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
    obj.log().catch_up()
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


@main.group()
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


@main.group()
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


@main.command()
@endorsement_options
@click.option("--version", "version", required=True)
@click.option("--actions", default=None, help="'all' (default) or action numbers like 1,3,7.")
@click.option("--statement", "text", default=None, help="Public statement.")
@pass_ctx
def endorse(obj: Context, version: str, actions: str | None, text: str | None, **options: Any) -> None:
    """Endorse a Code version."""
    _act(obj, "endorsement.made", options, version=version, scope=_scope(actions), statement=text)


@main.command()
@endorsement_options
@click.option("--actions", default=None, help="New scope: 'all' or action numbers like 1,3,7.")
@click.option("--statement", "text", default=None)
@pass_ctx
def amend(obj: Context, actions: str | None, text: str | None, **options: Any) -> None:
    """Change the scope or statement of an endorsement."""
    _act(obj, "endorsement.amended", options, scope=None if actions is None else _scope(actions), statement=text)


@main.command()
@endorsement_options
@click.option("--version", "version", required=True, help="The newer Code version.")
@click.option("--actions", default=None)
@click.option("--statement", "text", default=None)
@pass_ctx
def reaffirm(obj: Context, version: str, actions: str | None, text: str | None, **options: Any) -> None:
    """Carry an endorsement forward to a newer Code version."""
    _act(obj, "endorsement.reaffirmed", options, version=version,
         scope=None if actions is None else _scope(actions), statement=text)


@main.command()
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


# --- reading ---------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, as_json: bool) -> None:
    """Origin, tree size, root hash, log key, latest checkpoint and counts."""
    settings = obj.settings
    log = obj.log()
    size = log.catch_up()
    latest = log.latest_checkpoint()
    ledger = obj.registry.ledger
    snapshot = ledger.state.to_json()  # the checked state (what the registry validates against)
    halt = ledger.halted
    info: dict[str, Any] = {
        "origin": settings.origin,
        "tree_size": size,
        "root_hash": base64.b64encode(log.root(size)).decode("ascii"),
        "log_key": _log_vkey(settings),
        "statements_recorded": obj.registry.size(),
        "latest_checkpoint": None if latest is None else {"size": latest.size, "published_at": latest.published_at},
        "database": "postgresql" if settings.is_postgres else "sqlite",
        "counts": {
            "codes": len(snapshot["codes"]),
            "organizations": len(snapshot["organizations"]),
            "endorsements_active": sum(e["status"] == "active" for e in snapshot["endorsements"]),
            "keys": len(snapshot["keys"]),
        },
        "halted": None if halt is None else {"index": halt.index, "reason": halt.reason},
    }
    if as_json:
        click.echo(json.dumps(info, sort_keys=True))
        return
    for name in ("origin", "tree_size", "root_hash", "log_key", "database"):
        click.echo(f"{name}: {safe(info[name])}")
    checkpoint = info["latest_checkpoint"]
    click.echo("latest checkpoint: " + ("none yet (run: registry checkpoint)" if checkpoint is None
                                        else f"size {checkpoint['size']} at {checkpoint['published_at']}"))
    click.echo("counts: " + ", ".join(f"{k} {v}" for k, v in info["counts"].items()))
    if halt is not None:
        click.echo(safe(f"HALTED: log entry {halt.index} failed its checks ({halt.reason}); nothing after it is "
                        "accepted or signed until an operator acts (docs/SECURITY.md)").replace("\n", " "), err=True)


@main.command()
@pass_ctx
def checkpoint(obj: Context) -> None:
    """Sign and publish a checkpoint for the current tree if it grew (idempotent)."""
    stored, new = obj.log(signer=True).publish_checkpoint()
    if stored is None:
        click.echo("the log is empty; nothing to sign")
        return
    click.echo(("published" if new else "unchanged: latest") + f" checkpoint for size {stored.size}", err=True)
    click.echo(stored.note.decode("utf-8"), nl=False)


@main.command()
@click.argument("index", type=int)
@pass_ctx
def receipt(obj: Context, index: int) -> None:
    """Print the tlog-proof@v1 receipt for leaf INDEX against the latest checkpoint."""
    log = obj.log()
    log.catch_up()
    click.echo(log.receipt(index).decode("utf-8"), nl=False)


@main.group()
def show() -> None:
    """Show one log entry or one organization, from the read models."""


@show.command("entry")
@click.argument("index", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show_entry(obj: Context, index: int, as_json: bool) -> None:
    """One log entry: its statement, signer, times and hashes."""
    views = obj.views()
    views.catch_up()
    found = views.events(after=index - 1, limit=1)
    if not found or found[0]["index"] != index:
        raise NotFoundError(f"no log entry {index}")
    event = found[0]
    leaf = obj.registry.leaf(index)
    assert leaf is not None
    event["leaf_hash"] = tlog.leaf_hash(leaf).hex()
    if as_json:
        click.echo(safe_json(json.dumps(event, sort_keys=True, ensure_ascii=False)))
        return
    roles = {"organization": "self-signed", "maintainer": "attested by a maintainer"}
    how = roles.get(event["signer_role"], f"{event['signer_role']} record")
    click.echo(f"entry {index}: {event['type']} ({how})")
    click.echo(f"recorded at {event['recorded_at']}, signed at {event['signed_at']} by key {event['signer']}")
    click.echo(f"envelope sha256 {event['envelope_hash']}, leaf hash {event['leaf_hash']}")
    click.echo(safe_json(json.dumps(event["statement"], indent=2, sort_keys=True, ensure_ascii=False)))


@show.command("org")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show_org(obj: Context, slug: str, as_json: bool) -> None:
    """One organization: profile, keys, stance per Code, reports and its timeline."""
    views = obj.views()
    views.catch_up()
    state = views.state().to_json()
    org = next((o for o in state["organizations"] if o["org"] == slug), None)
    if org is None:
        raise NotFoundError(f"no organization {slug!r}")
    stances = [e for e in state["endorsements"] if e["org"] == slug]
    timeline = views.events(org=slug, limit=200)
    if as_json:
        click.echo(safe_json(json.dumps({"organization": org, "endorsements": stances, "timeline": timeline},
                                        sort_keys=True, ensure_ascii=False)))
        return
    click.echo(f"{safe(org['name'])} ({slug}): {org['country']}, {org['kind']}")
    for key in org["keys"]:
        click.echo(f"  key {key}")
    for e in stances:
        how = "attested" if e["attested"] else "self-signed"
        click.echo(f"  {safe(e['code'])}: {e['status']} {safe(e['version'])} scope {e['scope']} ({how})")
    for report in org["reports"]:
        click.echo(f"  report {safe(report['framework'])} {safe(report['period'])}: {safe(report['url'])}")
    for event in timeline:
        click.echo(f"  [{event['index']}] {event['recorded_at']} {event['type']}")


@main.group()
def verify() -> None:
    """Offline verification with public keys only (no data directory, no network)."""


def _vkey(text: str, what: str = "--log-key") -> notes.NoteVerifier:
    try:
        return notes.parse_verifier_key(text.strip())
    except NoteError as e:
        raise VerificationError(f"{what} is not a verifier key (name+hash+base64): {e}", "key") from None


def _ok(step: str, detail: str) -> None:
    click.echo(f"ok   {step}: {safe(detail)}")


@verify.command("receipt")
@click.argument("receipt_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True, help="The log's verifier key (name+hash+base64).")
@click.option("--signer-key", type=click.Path(exists=True, path_type=Path),
              help="Public key file of the statement's signer: also check the DSSE signature.")
@click.option("--witness-key", "witness_keys", multiple=True, help="Witness cosignature verifier key.")
@click.option("--quorum", default=0, show_default=True, help="How many witness cosignatures are required.")
def verify_receipt(receipt_file: Path, log_key: str, signer_key: Path | None, witness_keys: tuple[str, ...],
                   quorum: int) -> None:
    """Check a tlog-proof receipt: checkpoint signature, leaf hash, inclusion; optionally the statement."""
    log_verifier = _vkey(log_key)
    try:
        verified = notes.verify_receipt(
            receipt_file.read_bytes(), origin=log_verifier.name, log_verifier=log_verifier,
            witness_verifiers=[_vkey(w, "--witness-key") for w in witness_keys], witness_quorum=quorum,
        )
    except ReceiptError as e:
        raise VerificationError(str(e), e.step) from None
    except ValueError as e:  # misconfigured: a key of the wrong type, or --quorum beyond the witnesses
        raise VerificationError(str(e), "receipt") from None
    cp = verified.checkpoint.checkpoint
    _ok("checkpoint", f"signed by {log_verifier.name} for tree size {cp.size}")
    _ok("inclusion", f"leaf {verified.index} is in the tree with root {base64.b64encode(cp.root).decode()}")
    if verified.leaf is None:
        return
    try:
        leaf = parse_leaf(verified.leaf)
    except RegistryError as e:
        raise VerificationError(e.message, "leaf") from None
    stmt = leaf.envelope.statement()
    _ok("entry", f"{stmt.get('type')} recorded at {leaf.recorded_at}, envelope sha256 {leaf.envelope.hash}")
    if signer_key is not None:
        try:
            envelope.verify(leaf.envelope, keys.load_public_file(signer_key))
        except RegistryError as e:
            raise VerificationError(e.message, "statement signature") from None
        _ok("statement signature", f"signed by key {leaf.envelope.keyid}")


@verify.command("checkpoint")
@click.argument("checkpoint_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True)
@click.option("--witness-key", "witness_keys", multiple=True)
@click.option("--quorum", default=0, show_default=True)
def verify_checkpoint(checkpoint_file: Path, log_key: str, witness_keys: tuple[str, ...], quorum: int) -> None:
    """Check a signed checkpoint against the log key (and witness cosignatures)."""
    log_verifier = _vkey(log_key)
    signed = _open_checkpoint(checkpoint_file.read_bytes(), log_verifier,
                              [_vkey(w, "--witness-key") for w in witness_keys], quorum)
    cp = signed.checkpoint
    _ok("checkpoint", f"{cp.origin} size {cp.size} root {base64.b64encode(cp.root).decode()}")
    for cosig in signed.cosignatures:
        _ok("cosignature", f"{cosig.name} at {cosig.timestamp}")


def _open_checkpoint(data: bytes, log_verifier: notes.NoteVerifier, witnesses: list[notes.NoteVerifier],
                     quorum: int) -> notes.SignedCheckpoint:
    try:
        return notes.open_checkpoint(data, log_verifier.name, log_verifier, witnesses, quorum)
    except (NoteError, ValueError) as e:  # ValueError: a key of the wrong type, or --quorum beyond the witnesses
        raise VerificationError(str(e), "checkpoint") from None


@verify.command("consistency")
@click.argument("old_file", type=click.Path(exists=True, path_type=Path))
@click.argument("new_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True)
@click.option("--proof", "proof_file", type=click.Path(exists=True, path_type=Path), required=True,
              help="The consistency proof as served by /api/v1/log/proofs/consistency (JSON).")
def verify_consistency(old_file: Path, new_file: Path, log_key: str, proof_file: Path) -> None:
    """Check that a newer checkpoint extends an older one (no history rewritten)."""
    log_verifier = _vkey(log_key)
    old = _open_checkpoint(old_file.read_bytes(), log_verifier, [], 0).checkpoint
    new = _open_checkpoint(new_file.read_bytes(), log_verifier, [], 0).checkpoint
    try:
        doc = strict_loads(proof_file.read_bytes())
        hashes = [base64.b64decode(h, validate=True) for h in doc["hashes"]]
    except (CanonicalError, KeyError, TypeError, ValueError) as e:
        raise VerificationError(f"not a consistency proof document: {e}", "proof") from None
    try:
        tlog.verify_consistency(old.size, new.size, old.root, new.root, hashes)
    except ProofError as e:
        raise VerificationError(str(e), "consistency") from None
    _ok("consistency", f"size {new.size} extends size {old.size}")


@main.command()
@click.option("--size", type=int, default=None, help="State after this many log entries.")
@click.option("--until", "until", default=None, help="State as of this UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def replay(obj: Context, size: int | None, until: str | None, as_json: bool) -> None:
    """Rebuild the registry state from the log (now, or at a size or date) and print it."""
    views = obj.views()
    current = views.catch_up()
    if size is not None and until is not None:
        raise MalformedError("give --size or --until, not both")
    if until is not None:
        size = views.store.size_until(_moment(until))
    state = views.state_at(current if size is None else size)
    snapshot = state.to_json()
    if as_json:
        click.echo(safe_json(json.dumps(snapshot, sort_keys=True, ensure_ascii=False)))
        return
    click.echo(f"state after {state.size} of {current} log entries (sha256 {state.hash()})")
    for c in snapshot["codes"]:
        versions = ", ".join(v["version"] for v in c["versions"])
        click.echo(f"code {safe(c['code'])}: versions {safe(versions)}")
    for o in snapshot["organizations"]:
        click.echo(f"organization {safe(o['org'])}: {safe(o['name'])} ({o['country']}, {o['kind']})")
    for e in snapshot["endorsements"]:
        how = "attested" if e["attested"] else "self-signed"
        flag = " [endorses a superseded version]" if e["flags"]["superseded_version"] else ""
        click.echo(f"endorsement {safe(e['org'])} / {safe(e['code'])}: {e['status']} {safe(e['version'])} "
                   f"scope {e['scope']} ({how}){flag}")


def _moment(text: str) -> str:
    if len(text) == 10:
        text += "T23:59:59Z"
    try:
        return format_time(parse_time(text))
    except RegistryError:
        raise MalformedError(f"--until must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not {text!r}") from None


@main.command()
@click.argument("size_a", type=int)
@click.argument("size_b", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def diff(obj: Context, size_a: int, size_b: int, as_json: bool) -> None:
    """What changed between tree sizes A and B."""
    views = obj.views()
    views.catch_up()
    changes = diff_states(views.state_at(size_a).to_json(), views.state_at(size_b).to_json())
    if as_json:
        click.echo(safe_json(json.dumps({"from": size_a, "to": size_b, "changes": changes}, sort_keys=True,
                                        ensure_ascii=False)))
        return
    if not changes:
        click.echo(f"no changes between {size_a} and {size_b}")
    for change in changes:
        arrow = f": {safe(change['before'])} -> {safe(change['after'])}" if change["before"] is not None else (
            f": {safe(change['after'])}" if change["after"] is not None else "")
        click.echo(f"{change['kind']} {safe(change['subject'])}{arrow}")


@main.command()
@pass_ctx
def snapshot(obj: Context) -> None:
    """Sign and publish the state at the latest checkpoint (publishing one if the tree grew)."""
    stored, new = publish_snapshot(obj.log(signer=True))
    if stored is None:
        click.echo("the log is empty; nothing to sign")
        return
    click.echo(("published" if new else "unchanged: latest") + f" snapshot for size {stored.size} "
               f"(state sha256 {stored.state_hash})", err=True)
    click.echo(stored.document.decode("utf-8"))


@verify.command("snapshot")
@click.argument("snapshot_file", type=click.Path(exists=True, path_type=Path))
@click.option("--log-key", required=True)
@click.option("--bundle", "bundle_file", type=click.Path(exists=True, path_type=Path),
              help="An export bundle: also rebuild the state from its entries and compare.")
def verify_snapshot(snapshot_file: Path, log_key: str, bundle_file: Path | None) -> None:
    """Check a signed snapshot; with --bundle, rebuild it from the log's entries."""
    log_verifier = _vkey(log_key)
    leaves = None if bundle_file is None else bundle.read_leaves(bundle_file)
    verified = snapshots.verify_document(snapshot_file.read_bytes(), log_verifier, leaves)
    _ok("snapshot", f"signed by {log_verifier.name} for tree size {verified.note.size}")
    _ok("state hash", verified.note.state_hash.hex())
    if verified.rebuilt:
        _ok("rebuild", f"the state rebuilt from entries 0..{verified.note.size - 1} is identical")



@main.command()
@pass_ctx
def clock(obj: Context) -> None:
    """Run the clock process: catch-up, checkpoints, snapshots (one per deployment; SIGTERM stops it)."""
    from scripts.clock import main as run_clock

    run_clock(obj.data_dir)


@main.command()
@pass_ctx
def migrate(obj: Context) -> None:
    """Create or upgrade the database schema of the store, the log and the read models (idempotent)."""
    node = jobs.open_node(obj.settings, signer=False)
    try:
        click.echo(f"schema ready: {'postgresql' if obj.settings.is_postgres else 'sqlite'}, "
                   f"{node.registry.size()} statements, log size {node.log.size()}")
    finally:
        node.close()


@main.command()
@pass_ctx
def rebuild(obj: Context) -> None:
    """Rebuild every derived row the audit can name: read models, feed pages, missing statement hints."""
    restored = obj.registry.restore_hints()
    if restored:
        click.echo(f"statement hints restored: {restored}")
    size = obj.views().rebuild()
    obj.views().store.forget_feed_pages()
    click.echo(f"read models rebuilt: {size} entries")


@main.command("job")
@click.argument("name", type=click.Choice(sorted(jobs.JOBS)))
@pass_ctx
def run_job(obj: Context, name: str) -> None:
    """Run one of the clock's jobs by hand, once."""
    node = jobs.open_node(obj.settings)
    try:
        click.echo(json.dumps(jobs.JOBS[name](node), sort_keys=True))
    finally:
        node.close()


@main.command()
@click.option("--port", type=int, default=None, help="Port (default $PORT, else 8000).")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1; $REGISTRY_BIND overrides).")
@click.option("--workers", type=int, default=None, help="gunicorn workers (default $WEB_CONCURRENCY, else 2).")
@pass_ctx
def serve(obj: Context, port: int | None, host: str | None, workers: int | None) -> None:
    """Run the web site and API under gunicorn."""
    import os

    settings = obj.settings
    port = port or int(os.environ.get("PORT", "8000"))
    host = host or os.environ.get("REGISTRY_BIND", "127.0.0.1")
    workers = workers or int(os.environ.get("WEB_CONCURRENCY", "2"))
    env = {**os.environ, "REGISTRY_DATA_DIR": str(settings.data_dir)}
    args = [sys.executable, "-m", "gunicorn", "web:create_app()", "--bind", f"{host}:{port}",
            "--workers", str(workers), *WORKER_OPTIONS, "--timeout", "30", "--graceful-timeout", "10",
            "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]
    click.echo(f"serving {settings.origin} on http://{host}:{port}/ (data: {settings.data_dir})", err=True)
    os.execvpe(sys.executable, args, env)  # noqa: S606 - replaces this process with gunicorn


# gunicorn's gthread worker, except that a thread gets a connection only once its request has all arrived
# (web/worker.py): with plain gthread each client dripping a header line every 3 s held a thread (8 hold all
# 2 x 4) and /healthz timed out; with this worker 64 of them (and 8 dripping bodies) left /healthz and the feed
# answering within 1 s, and were cut by the 10 s header (body) timeout (tests/test_slow_clients.py). Chosen
# over gevent (monkey-patching, and SQLite calls would stop every connection of a process) and over a
# buffering proxy in front (a second server to write and run). The app is thread-safe (web.refresh, ReadModels).
WORKER_OPTIONS = ("--worker-class", "web.worker.RequestBufferingWorker", "--threads", "4")

ACCESS_LOG_FORMAT = (
    '{"time":"%(t)s","process":"web","request_id":"%({x-request-id}o)s","method":"%(m)s",'
    '"path":"%(U)s","status":%(s)s,"bytes":%(B)s,"ms":%(M)s}'
)


# --- audit, export and import ---------------------------------------------------------------


def _progress(verb: str) -> Any:
    """A progress callback for long runs: a line on stderr at most every five seconds."""
    import time

    started = last = time.monotonic()

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 5:
            last = now
            click.echo(f"{verb} {done} of {total} entries ({now - started:.0f} s)", err=True)

    return report


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Processes checking signatures on large logs (1: all in this one).")
@pass_ctx
def audit(obj: Context, as_json: bool, workers: int) -> None:
    """Re-verify every stored row from the raw stores; exit 0 only when clean.

    Checks that log versions run 1..n, every leaf, envelope signature and
    authorization rule as of its position, every stored tree hash and the log
    head, every published checkpoint (signature, root, consistency) and
    snapshot (signature, state hash), and that every other row (statement
    hints, tracking positions, read models, cached feed pages) is exactly what
    the log derives. Names the first bad index and, for each finding, the table
    and row.
    """
    from registry.audit import audit_data

    settings = obj.settings
    result = audit_data(settings, notes.parse_verifier_key(_log_vkey(settings)), workers=workers,
                        progress=_progress("audited"))
    result = _with_feed_pages(result, settings)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
    elif result.ok:
        click.echo(f"audit clean: {result.entries} entries, {result.checkpoints} checkpoints, "
                   f"{result.snapshots} snapshots")
        if result.integrated < result.entries:
            click.echo(f"note: the log has integrated {result.integrated} of the entries so far", err=True)
    else:
        first = next((f for f in result.findings if f.index == result.first_bad_index), result.findings[0])
        where = "no entry is bad" if first.index is None else f"first bad index {first.index}"
        count = len(result.findings) + result.suppressed
        lines = [f"audit: {where}: {first.what}: {first.detail} ({count} findings in {result.entries} entries)"]
        lines += [_finding_line(f) for f in result.findings]
        if result.suppressed:
            lines.append(f"audit: and {result.suppressed} more findings")
        for line in lines:
            click.echo(safe(f"FAILED: verification-failed: {line}").replace("\n", " "), err=True)
    if not result.ok:
        sys.exit(1)


def _with_feed_pages(result: Any, settings: config.Settings) -> Any:
    """The audit's result with the stored feed pages checked too (they are rendered by the web's code)."""
    import dataclasses

    from registry.audit import Finding
    from web import close_app, create_app
    from web.feeds import check_stored_pages

    app = create_app({"DATA_DIR": str(settings.data_dir)})
    try:
        problems = check_stored_pages(app)
    finally:
        close_app(app)
    if not problems:
        return result
    extra = [Finding(None, "derived row", problem, "feed_pages", f"{path} ({etag})")
             for path, etag, problem in problems]
    return dataclasses.replace(result, findings=[*result.findings, *extra])


def _finding_line(f: Any) -> str:
    where = "" if f.table is None else f" [table {f.table}" + ("" if f.row is None else f", {f.row}") + "]"
    return f"{f.what}: " + ("" if f.index is None else f"entry {f.index}: ") + f.detail + where


@main.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def export_bundle(obj: Context, file: Path) -> None:
    """Write the whole log to a bundle FILE: entries, checkpoints, snapshots and the log verifier key.

    No private key is written: a registry imported from FILE is a verified mirror.
    """
    from registry.porting import export_bundle as write_bundle

    exported = write_bundle(file, obj.registry, obj.log(), _log_vkey(obj.settings))
    click.echo(f"exported {exported.size} entries, {exported.checkpoints} checkpoints, "
               f"{exported.snapshots} snapshots to {safe(str(file))}")
    click.echo(f"root hash: {base64.b64encode(exported.root).decode('ascii')}")


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Processes checking signatures on large bundles (1: all in this one).")
@pass_ctx
def import_bundle(obj: Context, file: Path, workers: int) -> None:
    """Verify a bundle FILE completely, then rebuild its registry in an EMPTY store.

    Nothing is stored unless every entry (signature and rules as of its
    position), the root, every checkpoint and every snapshot verify. The
    result has the same origin, entries, roots, checkpoints and snapshots and
    the log's public key, but no private keys: it is a verified mirror. To
    continue as the same log, copy keys/log.key (and keys/root.key,
    keys/maintainer.key) from the original data directory. Checkpoints and
    snapshots keep their signatures; their published_at is the import time.
    """
    from registry import porting

    settings = obj.settings
    porting.check_target(settings)
    verified = porting.verify_bundle(file, workers=workers, progress=_progress("verified"))
    click.echo(f"verified: {verified.size} entries, {len(verified.checkpoints)} checkpoints, "
               f"{len(verified.snapshots)} snapshots of {safe(verified.origin)}", err=True)
    imported = porting.import_verified(verified, settings, progress=_progress("recorded"))
    click.echo(f"imported {imported.size} entries, {imported.checkpoints} checkpoints, "
               f"{imported.snapshots} snapshots into {safe(str(settings.data_dir))}")
    click.echo(f"origin: {safe(imported.origin)}")
    click.echo(f"root hash: {base64.b64encode(imported.root).decode('ascii')}")
    click.echo(f"state sha256: {imported.state_hash}")
    click.echo("this registry is a verified mirror without private keys: to continue as the same log, "
               "copy keys/log.key (and keys/root.key, keys/maintainer.key) from the original data directory")


def _register_bench() -> None:
    from scripts.bench import bench

    main.add_command(bench)


_register_bench()


@verify.command("bundle")
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--log-key", required=True, help="The log's verifier key: the bundle must be signed by it.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def verify_bundle_command(bundle_file: Path, log_key: str, workers: int) -> None:
    """Check an export bundle offline: every entry, signature, rule, root, checkpoint and snapshot."""
    from registry.porting import verify_bundle

    expected = _vkey(log_key)
    verified = verify_bundle(bundle_file, workers=workers, progress=_progress("verified"))
    if verified.log_verifier.vkey != expected.vkey:
        raise VerificationError(f"the bundle is signed by {verified.log_verifier.vkey}, not the given key", "log key")
    _ok("bundle", f"{verified.size} entries of {verified.origin}, root {base64.b64encode(verified.root).decode()}")
    _ok("checkpoints", f"{len(verified.checkpoints)} verified, each consistent with the one before")
    _ok("snapshots", f"{len(verified.snapshots)} verified against the rebuilt state")


if __name__ == "__main__":
    main()
