"""The registry state as a fold over log leaves: ``state(n) = fold(apply, leaves[0:n])``.

:class:`RegistryState` holds the aggregates in memory and feeds one leaf at a
time through exactly the rules the live application uses (``rules.execute``),
so a replay, an audit, the read models and the live writer can never disagree
about what is acceptable. :meth:`RegistryState.check` decides a leaf without
changing anything (the rules run on private copies of the aggregates they
touch) and :meth:`RegistryState.commit` keeps the result; :meth:`apply` is
both. :meth:`to_json` is the canonical form of the whole registry; its RFC 8785
bytes are what snapshots sign.

One rule lives here rather than in ``rules`` because it is about statements,
not about any one type: **no statement is recorded twice, and none is older
than the latest statement that changed the same entity.** For every entity the
state keeps the ``signed_at`` of the latest statement that changed it and the
statement hashes (SHA-256 of the payload) signed at that second. A statement
whose hash is among them is a duplicate; one signed earlier than that second
is out of order (sign it again). Every accepted statement changes at least one
entity, so a replayed statement is always refused, however long ago it was
first recorded, and the state that proves it stays small and can be signed in
a snapshot.

Pure: leaves in, values out. Reading leaves from a store is the caller's job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from registry import canonical, envelope, rules, statements
from registry.domain import (
    Code,
    Endorsement,
    Key,
    Maintainers,
    Organization,
    code_id,
    endorsement_id,
    key_aggregate_id,
    maintainers_id,
    organization_id,
)
from registry.errors import DuplicateStatementError, OutOfOrderError
from registry.leaf import Leaf, parse_leaf

STATE_FORMAT = "hcoc-registry/state/v2"


def statement_hash(payload: bytes) -> str:
    """Lowercase hex SHA-256 of a statement's payload bytes: its identity, whoever signed it and however often."""
    return hashlib.sha256(payload).hexdigest()


@dataclass
class LatestSigned:
    """The newest ``signed_at`` among the statements that changed one entity, and those signed at that second."""

    signed_at: str
    statements: dict[str, int] = field(default_factory=dict)  # statement hash -> leaf index


@dataclass(frozen=True)
class Applied:
    """What applying one leaf did (or, from :meth:`RegistryState.check`, would do)."""

    leaf: Leaf
    statement: dict[str, Any]
    signer: rules.Signer
    changed: list[Aggregate]
    index: int = 0
    statement_hash: str = ""
    leaf_sha256: str = ""  # of the leaf bytes, when they were at hand (apply): what feeds name an entry by


class RegistryState:
    """Every aggregate of the registry after ``size`` leaves."""

    def __init__(self, origin: str | None = None) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}
        self.latest: dict[UUID, LatestSigned] = {}
        self.size = 0
        self.origin = origin

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.aggregates.get(aggregate_id)

    # --- the fold -----------------------------------------------------------------

    def apply(self, data: bytes, *, verify: bool = False) -> Applied:
        """Apply leaf ``self.size``; raise a RegistryError if it breaks a rule (state unchanged)."""
        applied = self.check(parse_leaf(data), verify=verify, leaf_sha256=hashlib.sha256(data).hexdigest())
        self.commit(applied)
        return applied

    def check(self, leaf: Leaf, *, verify: bool = False, verified_key: bytes | None = None,
              leaf_sha256: str = "") -> Applied:
        """Decide leaf ``self.size`` without changing anything; raise a RegistryError if it breaks a rule.

        ``verify`` checks the envelope signature (unless it was already checked with ``verified_key``,
        the public key the rules resolve the signer to).
        """
        stmt = statements.validate(leaf.envelope.statement(), origin=self.origin)
        forks: dict[UUID, Aggregate | None] = {}

        def read(aggregate_id: UUID) -> Aggregate | None:
            # The rules change what they read; they get private copies so a refusal, or a write that
            # loses a race, leaves this state exactly as it was.
            if aggregate_id not in forks:
                forks[aggregate_id] = _fork(self.aggregates.get(aggregate_id))
            return forks[aggregate_id]

        signer = rules.resolve_signer(leaf.envelope.keyid, stmt, read)
        if verify and verified_key != signer.public_key:
            envelope.verify(leaf.envelope, signer.public_key)
        rules.authorize(stmt, signer)
        position = rules.Position(index=self.size, recorded_at=leaf.recorded_at)
        changed = rules.execute(stmt, signer, position, read)
        digest = statement_hash(leaf.envelope.payload)
        self._check_order(stmt, digest, changed)
        return Applied(leaf, stmt, signer, changed, self.size, digest, leaf_sha256)

    def commit(self, applied: Applied) -> None:
        """Keep what :meth:`check` decided for the leaf at ``self.size``."""
        if applied.index != self.size:
            raise ValueError(f"a decision for leaf {applied.index} cannot be kept at size {self.size}")
        signed_at = applied.statement["signed_at"]
        for aggregate in applied.changed:
            aggregate.collect_events()  # the fold keeps state, not events
            self.aggregates[aggregate.id] = aggregate
            latest = self.latest.get(aggregate.id)
            if latest is None or signed_at > latest.signed_at:
                self.latest[aggregate.id] = LatestSigned(signed_at, {applied.statement_hash: applied.index})
            else:
                latest.statements[applied.statement_hash] = applied.index
        if self.origin is None:
            self.origin = applied.statement["registry"]
        self.size += 1

    def skip(self) -> None:
        """Count a refused leaf (an audit goes on past it; later leaves keep their positions)."""
        self.size += 1

    def _check_order(self, stmt: dict[str, Any], digest: str, changed: list[Aggregate]) -> None:
        signed_at = stmt["signed_at"]
        for aggregate in changed:
            latest = self.latest.get(aggregate.id)
            if latest is None:
                continue
            if digest in latest.statements:
                index = latest.statements[digest]
                raise DuplicateStatementError(f"this statement was already recorded at leaf {index}", index)
            if signed_at < latest.signed_at:
                raise OutOfOrderError(
                    f"signed at {signed_at}, before the latest statement about {describe(aggregate)} "
                    f"(signed at {latest.signed_at}); sign it again"
                )

    # --- the canonical document -------------------------------------------------------

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
        signed = sorted(
            ({"entity": describe(self.aggregates[aggregate_id]), "signed_at": mark.signed_at,
              "statements": dict(sorted(mark.statements.items()))}
             for aggregate_id, mark in self.latest.items()),
            key=lambda s: s["entity"],
        )
        return {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "size": self.size,
            "registry": registry.to_state() if isinstance(registry, Maintainers) else None,
            "keys": keys,
            "codes": codes,
            "organizations": organizations,
            "endorsements": endorsements,
            "latest_signed": signed,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RegistryState:
        """Rebuild the fold's state from :meth:`to_json` output (derived flags are recomputed)."""
        if doc.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} document")
        state = cls(doc["origin"])
        state.size = doc["size"]
        restored: list[Aggregate] = []
        if doc["registry"] is not None:
            restored.append(Maintainers.from_state(doc["registry"]))
        restored += [Key.from_state(k) for k in doc["keys"]]
        restored += [Code.from_state(c) for c in doc["codes"]]
        restored += [Organization.from_state(o) for o in doc["organizations"]]
        restored += [Endorsement.from_state(e) for e in doc["endorsements"]]
        state.aggregates = {a.id: a for a in restored}
        for mark in doc["latest_signed"]:
            state.latest[entity_id(mark["entity"])] = LatestSigned(mark["signed_at"], dict(mark["statements"]))
        return state

    def canonical(self) -> bytes:
        return canonical.dumps(self.to_json())

    def hash(self) -> str:
        """Hex SHA-256 of the canonical state."""
        return hashlib.sha256(self.canonical()).hexdigest()


def describe(aggregate: Aggregate) -> str:
    """``kind:name`` of an entity, as the state document and messages name it."""
    if isinstance(aggregate, Maintainers):
        return "registry:registry"
    if isinstance(aggregate, Key):
        return f"key:{aggregate.key_id}"
    if isinstance(aggregate, Code):
        return f"code:{aggregate.code}"
    if isinstance(aggregate, Organization):
        return f"organization:{aggregate.org}"
    if isinstance(aggregate, Endorsement):
        return f"endorsement:{aggregate.org}/{aggregate.code}"
    raise TypeError(f"not a registry entity: {type(aggregate).__name__}")


def entity_id(name: str) -> UUID:
    """The aggregate id of an entity named by :func:`describe`."""
    kind, _, rest = name.partition(":")
    if kind == "registry":
        return maintainers_id()
    if kind == "key":
        return key_aggregate_id(rest)
    if kind == "code":
        return code_id(rest)
    if kind == "organization":
        return organization_id(rest)
    if kind == "endorsement":
        org, _, code = rest.partition("/")
        return endorsement_id(org, code)
    raise ValueError(f"not an entity name: {name!r}")


def _fork(aggregate: Aggregate | None) -> Aggregate | None:
    """A copy the rules may change: new containers one level down, the values they hold shared.

    Every @event method of the domain either assigns an attribute or appends to a list attribute,
    so copying the lists (not what they hold) is enough to keep the original untouched.
    """
    if aggregate is None:
        return None
    twin = object.__new__(type(aggregate))
    twin.__dict__.update({k: (v.copy() if type(v) is list else v) for k, v in aggregate.__dict__.items()})
    return twin


def fold(leaves: Any, *, verify: bool = False) -> RegistryState:
    """The state after applying every leaf in order."""
    state = RegistryState()
    for data in leaves:
        state.apply(data, verify=verify)
    return state
