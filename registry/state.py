"""The registry state as a fold over log leaves: ``state(n) = fold(apply, leaves[0:n])``.

:class:`RegistryState` holds the aggregates in memory and :meth:`apply`
feeds one leaf through exactly the rules the live application uses
(``rules.execute``), so a replay, an audit and the read models can never
disagree with what was accepted. :meth:`to_json` is the canonical form of the
whole registry; its RFC 8785 bytes are what snapshots sign.

Pure: leaves in, values out. Reading leaves from a store is the caller's job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from registry import canonical, envelope, rules, statements
from registry.domain import Code, Endorsement, Key, Maintainers, Organization, maintainers_id
from registry.leaf import Leaf, parse_leaf

STATE_FORMAT = "hcoc-registry/state/v1"


@dataclass(frozen=True)
class Applied:
    """What applying one leaf did."""

    leaf: Leaf
    statement: dict[str, Any]
    signer: rules.Signer
    changed: list[Aggregate]


class RegistryState:
    """Every aggregate of the registry after ``size`` leaves."""

    def __init__(self) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}
        self.size = 0
        self.origin: str | None = None

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.aggregates.get(aggregate_id)

    def apply(self, data: bytes, *, verify: bool = False) -> Applied:
        """Apply leaf ``self.size``; raise a RegistryError if it breaks a rule (state unchanged)."""
        leaf = parse_leaf(data)
        stmt = statements.validate(leaf.envelope.statement(), origin=self.origin)
        signer = rules.resolve_signer(leaf.envelope.keyid, stmt, self.get)
        if verify:
            envelope.verify(leaf.envelope, signer.public_key)
        rules.authorize(stmt, signer)
        position = rules.Position(index=self.size, recorded_at=leaf.recorded_at)
        # Every handler checks before it changes an existing aggregate, so a refusal leaves state intact.
        changed = rules.execute(stmt, signer, position, self.get)
        for aggregate in changed:
            aggregate.collect_events()  # the fold keeps state, not events
            self.aggregates[aggregate.id] = aggregate
        if self.origin is None:
            self.origin = stmt["registry"]
        self.size += 1
        return Applied(leaf, stmt, signer, changed)

    def of_type(self, cls: type[Aggregate]) -> list[Any]:
        return [a for a in self.aggregates.values() if isinstance(a, cls)]

    def to_json(self) -> dict[str, Any]:
        """The canonical registry state (sorted, JSON values only), with derived flags."""
        registry = self.aggregates.get(maintainers_id())
        keys = sorted((k.to_state() for k in self.of_type(Key)), key=lambda k: k["key_id"])
        codes = sorted((c.to_state() for c in self.of_type(Code)), key=lambda c: c["code"])
        latest = {c["code"]: c["versions"][-1]["version"] if c["versions"] else None for c in codes}
        revoked = {k["key_id"] for k in keys if k["revoked_index"] is not None}
        organizations = []
        for org in sorted((o.to_state() for o in self.of_type(Organization)), key=lambda o: o["org"]):
            org["flags"] = {"keys_all_revoked": bool(org["keys"]) and all(k in revoked for k in org["keys"])}
            organizations.append(org)
        endorsements = []
        for e in sorted((e.to_state() for e in self.of_type(Endorsement)), key=lambda e: (e["org"], e["code"])):
            e["flags"] = {"superseded_version": e["status"] == "active" and e["version"] != latest.get(e["code"])}
            endorsements.append(e)
        return {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "size": self.size,
            "registry": registry.to_state() if isinstance(registry, Maintainers) else None,
            "keys": keys,
            "codes": codes,
            "organizations": organizations,
            "endorsements": endorsements,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RegistryState:
        """Rebuild the fold's state from :meth:`to_json` output (derived flags are recomputed)."""
        if doc.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} document")
        state = cls()
        state.size, state.origin = doc["size"], doc["origin"]
        restored: list[Aggregate] = []
        if doc["registry"] is not None:
            restored.append(Maintainers.from_state(doc["registry"]))
        restored += [Key.from_state(k) for k in doc["keys"]]
        restored += [Code.from_state(c) for c in doc["codes"]]
        restored += [Organization.from_state(o) for o in doc["organizations"]]
        restored += [Endorsement.from_state(e) for e in doc["endorsements"]]
        state.aggregates = {a.id: a for a in restored}
        return state

    def canonical(self) -> bytes:
        return canonical.dumps(self.to_json())

    def hash(self) -> str:
        """Hex SHA-256 of the canonical state."""
        return hashlib.sha256(self.canonical()).hexdigest()


def fold(leaves: Any, *, verify: bool = False) -> RegistryState:
    """The state after applying every leaf in order."""
    state = RegistryState()
    for data in leaves:
        state.apply(data, verify=verify)
    return state

