"""Commands on a data directory's log and the state it derives.

Status, checkpoints and snapshots (signed with the log's key), receipts,
single entries and organizations, and the state replayed at a size or date.
``status`` and ``receipt`` also work on a remote registry (``--registry URL``,
``scripts.cli.remote``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from registry import keys, lookup
from registry.countries import country_name
from registry.diff import check_sizes, diff_states
from registry.errors import ConfigurationError, MalformedError, RegistryError
from registry.publish import publish_snapshot
from registry.status import summarize
from registry.terminal import safe, safe_json
from registry.times import format_time, parse_time
from registry.wording import KIND_NAMES, Names, claim, date_words, scope_phrase
from scripts.cli import remote
from scripts.cli.context import Context, pass_ctx


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, as_json: bool) -> None:
    """Origin, tree size, root hash, log key, latest checkpoint and counts (with --registry: of that registry)."""
    found = obj.remote
    if found is not None:
        remote.show_status(found, as_json)
        return
    settings = obj.local()
    log = obj.log()
    info = summarize(settings, obj.registry, log, log.catch_up())
    if as_json:
        click.echo(json.dumps(info, sort_keys=True))
        return
    for name in ("origin", "tree_size", "root_hash", "log_key", "database"):
        click.echo(f"{name}: {safe(info[name])}")
    checkpoint = info["latest_checkpoint"]
    click.echo("latest checkpoint: " + ("none yet (run: registry checkpoint)" if checkpoint is None
                                        else f"size {checkpoint['size']} at {checkpoint['published_at']}"))
    click.echo("counts: " + ", ".join(f"{k} {v}" for k, v in info["counts"].items()))
    halt = info["halted"]
    if halt is not None:
        click.echo(safe(f"HALTED: log entry {halt['index']} failed its checks ({halt['reason']}); nothing after it is "
                        "accepted or signed until an operator acts (docs/SECURITY.md)").replace("\n", " "), err=True)


@click.command()
@pass_ctx
def checkpoint(obj: Context) -> None:
    """Sign and publish a checkpoint for the current tree if it grew (idempotent); print it, with any
    witness cosignatures it has."""
    log = obj.log(signer=True)
    stored, new = log.publish_checkpoint()
    if stored is None:
        click.echo("the log is empty; nothing to sign")
        return
    click.echo(("published" if new else "unchanged: latest") + f" checkpoint for size {stored.size}", err=True)
    click.echo(log.cosigned_note(stored).decode("utf-8"), nl=False)  # as /checkpoint serves it


@click.command()
@click.argument("index", type=int)
@click.option("--receipt", "receipt_file", type=click.Path(dir_okay=False, path_type=Path),
              help="With --registry: write the verified receipt to FILE instead of printing it.")
@click.option("--signer-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --registry: the signer's public key file, to check the statement's signature too.")
@click.option("--wait", type=click.FloatRange(0, 3600), metavar="SECONDS",
              default=remote.DEFAULT_WAIT, show_default=True,
              help="With --registry: seconds to wait while the registry says a checkpoint is coming.")
@pass_ctx
def receipt(obj: Context, index: int, receipt_file: Path | None, signer_key: Path | None, wait: float) -> None:
    """Print the tlog-proof@v1 receipt for leaf INDEX against the latest checkpoint.

    With --registry, fetch it from that registry and verify it against its log key first.
    """
    found = obj.remote
    if found is not None:
        signer = keys.load_public_file(signer_key) if signer_key is not None else None
        remote.fetch_receipt(found, index, receipt_file=receipt_file, signer=signer, wait=wait)
        return
    if receipt_file is not None or signer_key is not None:
        raise ConfigurationError("--receipt and --signer-key need --registry URL (locally: registry receipt INDEX "
                                 "> FILE, then registry verify receipt FILE)")
    log = obj.log()
    log.catch_up()
    click.echo(log.receipt(index).decode("utf-8"), nl=False)


@click.group()
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
    event = lookup.entry(views, obj.registry, index)
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
    profile = lookup.organization(views, slug)
    if as_json:
        click.echo(safe_json(json.dumps(profile, sort_keys=True, ensure_ascii=False)))
        return
    org, timeline = profile["organization"], profile["timeline"]
    names = Names.of(views.current().doc)
    kind = KIND_NAMES.get(org["kind"], org["kind"])
    click.echo(f"{safe(org['name'])} ({slug}): {country_name(org['country'])}, {kind}")
    click.echo(f"  in this registry since {org['registered_at']} (entry {org['registered_index']}; not a date of "
               "its commitments)")
    for key in org["keys"]:
        click.echo(f"  key {key}")
    for s in profile["stances"]:
        marks = ["attested" if s["attested"] else "self-signed"]
        marks += ["secondary sources"] * s["secondary_sources_only"] + ["uncertain"] * s["uncertain"]
        click.echo(f"  {safe(s['code_short_title'])}: {safe(s['words'])}, {s['date_words']} "
                   f"(entry {s['index']}; {', '.join(marks)})")
    for report in org["reports"]:
        where = report.get("url") or "address not stated"
        click.echo(f"  report under {safe(names.code(report['code']).short)} ({report['framework']}"
                   f"{', period ' + safe(report['period']) if report.get('period') else ''}): {safe(where)}, "
                   f"{date_words(report.get('published_on'))} (entry {report['index']})")
    for event in timeline:
        sentence = claim({**event["statement"], "type": event["type"]}, names, event.get("version"))
        click.echo(f"  [{event['index']}] {event['recorded_at']} {safe(sentence)}")


@click.command()
@click.option("--size", type=int, default=None, help="State after this many log entries.")
@click.option("--until", "until", default=None,
              help="State as of this UTC time, YYYY-MM-DDTHH:MM:SSZ; a date YYYY-MM-DD means the end of that day "
                   "(UTC), 23:59:59Z, so every entry recorded that day is included.")
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
    names = Names.of(snapshot)
    for c in snapshot["codes"]:
        versions = ", ".join(v["version"] for v in c["versions"])
        click.echo(f"code {safe(names.code(c['code']).title)} ({c['code']}): versions {safe(versions)}")
    for o in snapshot["organizations"]:
        click.echo(f"organization {safe(o['name'])} ({o['org']}): {country_name(o['country'])}, "
                   f"{KIND_NAMES.get(o['kind'], o['kind'])}")
    for e in snapshot["endorsements"]:
        how = "attested" if e["attested"] else "self-signed"
        flag = " [endorses a superseded version]" if e["flags"]["superseded_version"] else ""
        code = names.code(e["code"])
        words = {"active": f"endorses {scope_phrase(e['scope'], code, e['version'])}", "withdrawn": "withdrew",
                 "declined": "declined"}.get(e["status"], e["status"])
        click.echo(f"endorsement {safe(names.org(e['org']))} / {safe(code.short)}: {safe(words)}, version "
                   f"{safe(e['version'])}, effective {date_words(e['effective_date'])} ({how}){flag}")


def _moment(text: str) -> str:
    if len(text) == 10:
        text += "T23:59:59Z"  # a date means the whole day, as --help says
    try:
        return format_time(parse_time(text))
    except RegistryError:
        raise MalformedError(f"--until must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not {text!r}") from None


@click.command()
@click.argument("size_a", type=int)
@click.argument("size_b", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def diff(obj: Context, size_a: int, size_b: int, as_json: bool) -> None:
    """What changed between tree sizes A and B (A, the older, first; both within the log)."""
    views = obj.views()
    check_sizes(size_a, size_b, views.catch_up())
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


@click.command()
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
