"""``registry org check-key``: does an organization's own website list its keys for this registry?

An organization proves that a key is its own by listing the key's id, with
this registry's origin and its slug, in ``/.well-known/hcoc-registry-keys`` on
its website's host (docs/FORMATS.md section 21). ``check-key`` fetches that
file (``scripts.keyfetch``: HTTPS only, bounded) and says, for each key,
whether it is proved, and the evidence a statement adding the key records
(``key_proofs``: the URL, the time fetched, the SHA-256 of the file). Exit 0
when every key asked about is proved, 1 when one is not (or the file is not a
valid key-proof file), 2 when the file cannot be fetched.

It reads the organization's website and active keys from the data
directory's state; ``--url``, ``--key-id``/``--public-key`` and ``--origin``
check a key and an organization the registry does not hold yet (then no
data directory is needed). :func:`key_proofs_for` is the same check for
commands that build statements: it returns the ``key_proofs`` entries, or
raises.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from registry import keyproof, keys, statements
from registry.errors import FetchError, InputError, MalformedError, NotFoundError, VerificationError
from registry.terminal import safe, safe_json
from scripts import keyfetch
from scripts.cli.context import Context, pass_ctx


def key_proofs_for(website_or_url: str, origin: str, org: str, key_ids: Sequence[str], *,
                   allow_http: bool | None = None) -> list[dict[str, str]]:
    """The ``key_proofs`` entries for ``key_ids``, from the key-proof file on the host of ``website_or_url``.

    ``allow_http`` defaults to ``REGISTRY_KEYPROOF_ALLOW_HTTP`` (tests only); a statement records only
    an https proof, so entries from plain http are for tests of this function alone.

    Raises:
        FetchError: the file cannot be fetched (refused, unreachable, too slow or too large).
        MalformedError: the file is not a valid key-proof file.
        VerificationError: the file does not list every one of ``key_ids`` for ``org`` at ``origin``.
    """
    result = _check(website_or_url, origin, org, key_ids, allow_http)
    if not result:
        missing = ", ".join(result.not_proved)
        raise VerificationError(f"{result.fetched.url} does not list {missing} for {org!r} at {origin!r}",
                                step="key proof")
    return result.key_proofs


def _check(website_or_url: str, origin: str, org: str, key_ids: Sequence[str],
           allow_http: bool | None) -> keyproof.KeyCheck:
    url = keyproof.well_known_url(website_or_url)
    fetched = keyfetch.fetch(url, allow_http=keyfetch.allow_http_from() if allow_http is None else allow_http)
    return keyproof.check(fetched, origin, org, key_ids)


@click.command("check-key")
@click.argument("slug")
@click.option("--url", default=None,
              help="The organization's website, or its key-proof file's URL (default: the website the registry "
                   "holds). Only the host counts: the file is always at /.well-known/hcoc-registry-keys.")
@click.option("--key-id", "key_ids", multiple=True, help="A key id to check (repeatable; default: the "
              "organization's active keys).")
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="A public key file whose key to check, such as one not registered yet.")
@click.option("--origin", default=None, help="The registry origin the file must name (default: the --registry "
              "one's, else the data directory's).")
@click.option("--json", "as_json", is_flag=True, help="The key_proofs entries of the proved keys, and the keys "
              "not proved, as JSON.")
@pass_ctx
def check_key(obj: Context, slug: str, url: str | None, key_ids: tuple[str, ...], public_keys: tuple[Path, ...],
              origin: str | None, as_json: bool) -> None:
    """Check that SLUG's website lists its keys for this registry (exit 0 all proved, 1 not, 2 unreachable)."""
    if not statements.is_slug(slug):
        raise MalformedError(f"not an organization slug: {slug[:100]!r}")
    asked = [_key_id(k) for k in key_ids] + [keys.key_id(keys.load_public_file(p)) for p in public_keys]
    if url is None or not asked:
        url, asked = _from_state(obj, slug, url, asked)
    # The registry the file must name: given, or the remote (--registry) or local one's; never a default.
    origin = origin or obj.origin(printing=True)
    try:
        result = _check(url, origin, slug, asked, None)
    except FetchError as e:
        click.echo(f"error: {safe(e.diagnostics())}", err=True)
        sys.exit(2)
    except MalformedError as e:  # fetched, but not a key-proof file: it proves nothing
        raise MalformedError(f"{keyproof.well_known_url(url)}: {e.message}") from None
    if as_json:
        click.echo(safe_json(json.dumps({"key_proofs": result.key_proofs, "not_proved": list(result.not_proved)},
                                        sort_keys=True)))
    else:
        _report(result)
    sys.exit(0 if result else 1)


def _key_id(text: str) -> str:
    if not statements.is_key_id(text):
        raise MalformedError(f"--key-id must be 64 lowercase hex characters, not {text[:100]!r}")
    return text


def _from_state(obj: Context, slug: str, url: str | None, asked: list[str]) -> tuple[str, list[str]]:
    """The website and the active keys of ``slug`` as the data directory's state has them, where not given."""
    views = obj.views()
    views.catch_up()
    view = views.current()
    org = view.organizations.get(slug)
    if org is None:
        raise NotFoundError(f"no organization {slug!r} in this registry: give --url and --key-id or --public-key "
                            "to check one that is not registered yet")
    if url is None:
        if not org["website"]:
            raise InputError(f"the registry holds no website for {slug!r}: give --url")
        url = org["website"]
    if not asked:
        asked = [k for k in org["keys"] if view.keys[k]["revoked_index"] is None]
        if not asked:
            raise InputError(f"{slug!r} has no active key: give --key-id or --public-key")
    return url, asked


def _report(result: keyproof.KeyCheck) -> None:
    fetched = result.fetched
    via = f" (answered by {safe(fetched.final_url)})" if fetched.final_url != fetched.url else ""
    click.echo(f"fetched {safe(fetched.url)}{via} at {fetched.fetched_at}, sha256 {fetched.sha256}")
    where = f"for {result.org} at {result.origin}"
    for key_id in result.proved:
        click.echo(f"proved      {key_id}  listed {where}")
    for key_id in result.not_proved:
        click.echo(f"not proved  {key_id}  not listed {where}")
    if result.not_proved:
        others = [f"{listing.org} at {listing.origin}" for listing in fetched.document.listings]
        click.echo("the file lists keys for: " + "; ".join(others))
    if result.proved:
        click.echo("evidence to record (key_proofs):")
        for entry in result.key_proofs:
            click.echo("  " + safe_json(json.dumps(entry, sort_keys=True)))
