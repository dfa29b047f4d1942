"""The "For organizations" page: how an organization joins this registry and speaks for itself in it.

What it does: ``/for-organizations`` shows, with this registry's own base URL,
origin and log verifier key filled in, how to make a key, publish the proof
that it is the organization's (the exact key-proof file, docs/FORMATS.md
section 21), ask to be registered, then endorse, amend, withdraw, fetch and
show a receipt, and rotate or revoke a key: each step as the exact command in
the command line's remote mode (``registry --registry URL --log-key VKEY ...``).
The Codes this registry holds are listed with their latest versions, for
``--code`` and ``--version``.

What it does not do: fetch or check a key-proof file (the maintainers do, on
the command line), or accept anything: registration is a maintainer's act.
"""

from __future__ import annotations

import json

from flask import render_template

from registry import keyproof
from web import get_settings
from web.pages import ALL_EVENTS, bp, current_site, log_verifier_key

SLUG = "your-slug"
KEY_ID = "YOUR-KEY-ID"


def key_file_text(origin: str, slug: str = SLUG, key_id: str = KEY_ID) -> str:
    """The key-proof file an organization publishes for this registry (with placeholders for its slug and key)."""
    doc = {"format": keyproof.FORMAT, "registries": [{"origin": origin, "org": slug, "keys": [key_id]}]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


@bp.get("/for-organizations")
def join() -> str:
    site = current_site()
    settings = get_settings()
    codes = [(slug, site.latest(slug)) for slug in sorted(site.codes)]
    return render_template("join.html", base_url=settings.base_url, origin=settings.origin,
                           vkey=log_verifier_key(), key_file=key_file_text(settings.origin), path=keyproof.PATH,
                           codes=[(slug, v) for slug, v in codes if v is not None], names=site.names,
                           max_bytes=keyproof.MAX_BYTES, feeds=[ALL_EVENTS])
