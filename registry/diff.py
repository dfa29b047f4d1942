"""What changed between two registry states (pure: two state documents in, a list of changes out)."""

from __future__ import annotations

from typing import Any

from registry.errors import MalformedError


def check_sizes(before: int, after: int, size: int) -> None:
    """Accept only two tree sizes of a log of ``size`` entries, the older first.

    Raises:
        MalformedError: a size lies outside ``0..size``, or ``before`` is larger than ``after``.
    """
    for name, value in (("A", before), ("B", after)):
        if not 0 <= value <= size:
            raise MalformedError(f"size {name} ({value}) is outside the log, which has {size} entries "
                                 f"(sizes 0 to {size})")
    # Reversed sizes would compare the newer state with the older one: no joins, only "no changes".
    if before > after:
        raise MalformedError(f"size A ({before}) is larger than size B ({after}); give the older size first: "
                             f"diff {after} {before}")


def diff_states(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Changes from ``before`` to ``after``: joins, scope and version changes, withdrawals, versions, keys."""
    changes: list[dict[str, Any]] = []

    def add(kind: str, subject: str, old: Any = None, new: Any = None) -> None:
        changes.append({"kind": kind, "subject": subject, "before": old, "after": new})

    old_codes = {c["code"]: {v["version"] for v in c["versions"]} for c in before["codes"]}
    for code in after["codes"]:
        for version in code["versions"]:
            if version["version"] not in old_codes.get(code["code"], set()):
                add("code.version_published", f"{code['code']} {version['version']}", None, version["title"])
    old_orgs = {o["org"]: o for o in before["organizations"]}
    for org in after["organizations"]:
        was = old_orgs.get(org["org"])
        if was is None:
            add("organization.registered", org["org"], None, org["name"])
            continue
        for field in ("name", "country", "kind", "website"):
            if was[field] != org[field]:
                add(f"organization.{field}_changed", org["org"], was[field], org[field])
    old_keys = {k["key_id"]: k for k in before["keys"]}
    for key in after["keys"]:
        owner = key["org"] or key["role"]
        was = old_keys.get(key["key_id"])
        if was is None:
            add("key.added", f"{owner} {key['key_id'][:16]}")
        if key["revoked_index"] is not None and (was is None or was["revoked_index"] is None):
            add("key.revoked", f"{owner} {key['key_id'][:16]}", None, key["revoked_reason"])
    old_ends = {(e["org"], e["code"]): e for e in before["endorsements"]}
    for e in after["endorsements"]:
        subject = f"{e['org']} / {e['code']}"
        was = old_ends.get((e["org"], e["code"]))
        if was is None or was["status"] != e["status"]:
            kind = {"active": "endorsement.joined", "withdrawn": "endorsement.withdrawn",
                    "declined": "endorsement.declined"}.get(e["status"], "endorsement.status_changed")
            add(kind, subject, None if was is None else was["status"], e["status"])
            continue
        if was["version"] != e["version"]:
            add("endorsement.version_changed", subject, was["version"], e["version"])
        if was["scope"] != e["scope"]:
            add("endorsement.scope_changed", subject, was["scope"], e["scope"])
        if was["statement"] != e["statement"]:
            add("endorsement.statement_changed", subject, was["statement"], e["statement"])
    return changes
