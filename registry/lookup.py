"""Looking up one thing in the read models: a log entry, or an organization with its stances and timeline.

The read models answer as of what they have processed; the caller catches
them up first. Values are plain JSON-ready dicts, as the read models hold them.
"""

from __future__ import annotations

from typing import Any

from registry import tlog
from registry.application import Registry
from registry.errors import NotFoundError
from registry.views import ReadModels
from registry.wording import Names, date_words, stance_words

TIMELINE_LIMIT = 200


def entry(views: ReadModels, registry: Registry, index: int) -> dict[str, Any]:
    """Log entry ``index`` (statement, signer, times, hashes) with its RFC 6962 leaf hash in hex.

    Raises:
        NotFoundError: there is no entry ``index``.
    """
    found = views.events(after=index - 1, limit=1)
    if not found or found[0]["index"] != index:
        raise NotFoundError(f"no log entry {index}")
    event = found[0]
    leaf = registry.leaf(index)
    assert leaf is not None
    event["leaf_hash"] = tlog.leaf_hash(leaf).hex()
    return event


def organization(views: ReadModels, slug: str) -> dict[str, Any]:
    """Organization ``slug``: ``organization`` (profile, keys, reports), its ``endorsements`` (as the state has
    them), its ``stances`` on each Code in words (``registry.stances``) and its ``timeline``.

    Raises:
        NotFoundError: there is no organization ``slug``.
    """
    state = views.state().to_json()
    org = next((o for o in state["organizations"] if o["org"] == slug), None)
    if org is None:
        raise NotFoundError(f"no organization {slug!r}")
    endorsements = [e for e in state["endorsements"] if e["org"] == slug]
    timeline = views.events(org=slug, limit=TIMELINE_LIMIT)
    book, names = views.stances(), Names.of(state)
    stances = []
    for code in sorted(c["code"] for c in state["codes"]):
        stance = book.stance(slug, code)
        if stance.status != "none":
            words = stance_words(stance.status, stance.scope, stance.removed, names.code(code), stance.version)
            stances.append({**stance.to_json(), "code_title": names.code(code).title,
                            "code_short_title": names.code(code).short, "words": words,
                            "date_words": date_words(stance.date)})
    return {"organization": org, "endorsements": endorsements, "stances": stances, "timeline": timeline}
