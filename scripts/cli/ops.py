"""Commands for the operator of a deployment.

Setting up a data directory, running the web site and the clock, the schema,
rebuilding derived rows, running a clock job by hand, the audit, and moving a
whole log out (export) and into an empty store (import).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import click

from registry import config, genesis, jobs, keys, loader
from registry.signednote import parse_verifier_key
from registry.status import log_verifier_key
from registry.terminal import safe
from scripts.cli.context import Context, pass_ctx, progress_reporter
from scripts.feedstore import ALL_JOBS

# --- setting up -------------------------------------------------------------------


@click.command()
@click.option("--origin", default=None, help="Log origin, e.g. registry.example.org/hcoc (fixed forever).")
@click.option("--base-url", default=None, help="Public base URL of the site.")
@click.option("--demo", is_flag=True, help="Also load the researched record of four Codes (registry/data).")
@pass_ctx
def init(obj: Context, origin: str | None, base_url: str | None, demo: bool) -> None:
    """Create the data directory, keys and genesis records (safe to run twice)."""
    genesis.write_config(config.load(obj.data_dir), origin, base_url)
    settings = obj.settings
    for path in genesis.key_files(settings):
        made = genesis.ensure_key(path)
        if made == "public only":
            click.echo(f"keeping {keys.public_path(path)} (no private key: a verified mirror)", err=True)
        elif made == "created":
            click.echo(f"created key {path}")
    registry = obj.registry
    root = keys.load_private(settings.root_key)
    maintainer = keys.load_private(settings.maintainer_key)
    genesis.record_genesis(registry, settings.origin, root, maintainer)
    if demo:
        report = loader.load(obj.node, loader.demo_document(), maintainer)
        loaded = report.count("loaded")
        if report.conflicts:
            for outcome in report.conflicts:
                click.echo(f"demo data: {outcome.where}: {safe(outcome.reason)}", err=True)
        click.echo(f"demo data: {loaded} statements recorded" if loaded else "demo data: already loaded")
    click.echo(f"data directory: {settings.data_dir}")
    click.echo(f"origin: {safe(settings.origin)}")
    click.echo(f"log verifier key: {log_verifier_key(settings)}")
    click.echo(f"tree size: {obj.log().catch_up()}")


# --- running -------------------------------------------------------------------------


@click.command()
@pass_ctx
def clock(obj: Context) -> None:
    """Run the clock process: catch-up, checkpoints, snapshots (one per deployment; SIGTERM stops it)."""
    from scripts.clock import main as run_clock

    keys.check_key_permissions(obj.settings)  # first, as the clock itself does: a key open to others is worse
    obj.local()  # then refuse, creating nothing, where there is no registry
    run_clock(obj.data_dir)


@click.command()
@pass_ctx
def migrate(obj: Context) -> None:
    """Create or upgrade the database schema of the store, the log and the read models (idempotent)."""
    node = obj.node.open()  # opening creates every table that is missing
    click.echo(f"schema ready: {'postgresql' if obj.settings.is_postgres else 'sqlite'}, "
               f"{node.registry.size()} statements, log size {node.log.size()}")


@click.command()
@pass_ctx
def rebuild(obj: Context) -> None:
    """Rebuild every derived row the audit can name: read models, feed pages, missing statement hints."""
    restored = obj.registry.restore_hints()
    if restored:
        click.echo(f"statement hints restored: {restored}")
    size = obj.views().rebuild()
    obj.views().store.forget_feed_pages()
    click.echo(f"read models rebuilt: {size} entries")


@click.command("job")
@click.argument("name", type=click.Choice(sorted(ALL_JOBS)))
@pass_ctx
def run_job(obj: Context, name: str) -> None:
    """Run one of the clock's jobs by hand, once."""
    node = jobs.open_node(obj.local())
    try:
        click.echo(json.dumps(ALL_JOBS[name](node), sort_keys=True))
    finally:
        node.close()


@click.command()
@click.option("--port", type=int, default=None, help="Port (default $PORT, else 8000).")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1; $REGISTRY_BIND overrides).")
@click.option("--workers", type=int, default=None, help="gunicorn workers (default $WEB_CONCURRENCY, else 2).")
@pass_ctx
def serve(obj: Context, port: int | None, host: str | None, workers: int | None) -> None:
    """Run the web site and API under gunicorn."""
    import os

    settings = obj.local()
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


@click.command()
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
    the log derives; and every stored witness cosignature against the configured
    witness keys. Names the first bad index and, for each finding, the table
    and row.
    """
    from registry.auditstore import audit_data

    settings = obj.local()
    result = audit_data(settings, parse_verifier_key(log_verifier_key(settings)), workers=workers,
                        progress=progress_reporter("audited"))
    result = _with_feed_pages(result, settings)
    result = _with_cosignatures(result, settings)
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
    if not as_json:
        # Not a failure: a document may be cited before it is archived (docs/FORMATS.md section 25).
        for missing in result.missing_evidence:
            click.echo(f"note: not archived here: {missing.sha256} (cited by entry {missing.index}, "
                       f"{missing.field})", err=True)
    if not result.ok:
        sys.exit(1)


def _with_feed_pages(result: Any, settings: config.Settings) -> Any:
    """The audit's result with the stored feed pages checked too (rendered as the web renders them)."""
    import dataclasses

    from registry.findings import Finding
    from registry.node import Node
    from scripts.feedstore import check_stored_pages

    with Node(settings, signer=False) as node:
        problems = check_stored_pages(node)
    if not problems:
        return result
    extra = [Finding(None, "derived row", problem, "feed_pages", f"{path} ({etag})")
             for path, etag, problem in problems]
    return dataclasses.replace(result, findings=[*result.findings, *extra])


def _with_cosignatures(result: Any, settings: config.Settings) -> Any:
    """The audit's result with every stored witness cosignature checked against the configured witness keys."""
    import dataclasses

    from registry.cosigning import check_stored
    from registry.findings import Finding
    from registry.transparency import open_log_store

    store = open_log_store(settings)
    try:
        rows = store.cosignature_rows()
        notes = {c.size: c.note for c in store.checkpoints()} if rows else {}
    finally:
        store.datastore.close()
    problems = check_stored(rows, notes, settings.origin, parse_verifier_key(log_verifier_key(settings)),
                            settings.witnesses)
    if not problems:
        return result
    extra = [Finding(None, "cosignature", detail, "log_cosignatures", row) for row, detail in problems]
    return dataclasses.replace(result, findings=[*result.findings, *extra])


def _finding_line(f: Any) -> str:
    where = "" if f.table is None else f" [table {f.table}" + ("" if f.row is None else f", {f.row}") + "]"
    return f"{f.what}: " + ("" if f.index is None else f"entry {f.index}: ") + f.detail + where


JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def export_bundle(obj: Context, file: Path) -> None:
    """Write the whole log to a bundle FILE: entries, checkpoints, snapshots and the log verifier key.

    FILE is gzip-compressed JSON Lines (docs/FORMATS.md section 18), by
    convention named NAME.hcoc-bundle. No private key is written: a registry
    imported from FILE is a verified mirror.
    """
    from registry import bundle
    from registry.porting import export_bundle as write_bundle

    exported = write_bundle(file, obj.registry, obj.log(), log_verifier_key(obj.settings))
    click.echo(f"exported {exported.size} entries, {exported.checkpoints} checkpoints, "
               f"{exported.snapshots} snapshots, {exported.documents} archived documents "
               f"to {safe(str(file))} as a gzip-compressed bundle ({bundle.FORMAT})")
    click.echo(f"root hash: {base64.b64encode(exported.root).decode('ascii')}")
    if file.suffix.lower() in JSON_SUFFIXES:
        # Written all the same (the name is the operator's), but a JSON tool would choke on it.
        click.echo(f"note: {safe(file.name)} is gzip-compressed, not plain JSON; name it "
                   f"{safe(file.stem)}{bundle.SUFFIX}", err=True)


@click.command("import")
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
    verified = porting.verify_bundle(file, workers=workers, progress=progress_reporter("verified"))
    click.echo(f"verified: {verified.size} entries, {len(verified.checkpoints)} checkpoints, "
               f"{len(verified.snapshots)} snapshots of {safe(verified.origin)}", err=True)
    imported = porting.import_verified(verified, settings, progress=progress_reporter("recorded"))
    click.echo(f"imported {imported.size} entries, {imported.checkpoints} checkpoints, "
               f"{imported.snapshots} snapshots, {imported.documents} archived documents into "
               f"{safe(str(settings.data_dir))}")
    click.echo(f"origin: {safe(imported.origin)}")
    click.echo(f"root hash: {base64.b64encode(imported.root).decode('ascii')}")
    click.echo(f"state sha256: {imported.state_hash}")
    click.echo("this registry is a verified mirror without private keys: to continue as the same log, "
               "copy keys/log.key (and keys/root.key, keys/maintainer.key) from the original data directory")


# --- publishing -------------------------------------------------------------------------------------


@click.command("publish")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--recent", default=None, type=click.IntRange(0, 1_000_000),
              help="Newest leaves whose receipt and log page are written (default $REGISTRY_PUBLISH_RECENT, else "
                   "256); the front server passes the others to the application.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def publish(obj: Context, directory: Path, recent: int | None, as_json: bool) -> None:
    """Write the public surface (checkpoint, tiles, feeds, snapshots, pages) as files in DIRECTORY.

    Incremental and atomic per file; safe while the registry takes submissions. Serve DIRECTORY with
    deploy/nginx.conf in front of `registry serve` (README, "Serving at scale").
    """
    from scripts.publishing import Publisher

    settings = obj.local()
    with Publisher(settings, recent=recent) as publisher:
        report = publisher.publish(directory, lambda message: click.echo(message, err=True))
    if as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
        return
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.written.items())) or "nothing new"
    click.echo(f"published tree size {report.size} (was {report.previous_size}) to {safe(str(directory))}: "
               f"wrote {sum(report.written.values())} files ({kinds}), {report.bytes} bytes; {report.unchanged} "
               f"unchanged, {report.deleted} deleted; {report.seconds:.2f} s")
