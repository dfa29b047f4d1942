"""Who may say what, and what each statement does to the aggregates.

One function, :func:`execute`, applies a validated statement to the aggregates
it touches and returns them (new or changed) for saving. Aggregates come from a
reader callable (``get``), so the same code serves the live application
(aggregates from the event store, cached) and the pure fold that replays the
log (aggregates in a dict). Signature checking is the caller's: it needs the
signer's public key, which :func:`resolve_signer` finds here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from registry import keys, statements
from registry.domain import (
    PROFILE_FIELDS,
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
from registry.errors import (
    ConflictError,
    InvalidStatementError,
    RevokedKeyError,
    RuleError,
    UnauthorizedSignerError,
    UnknownKeyError,
    UnknownSubjectError,
)

Reader = Callable[[UUID], Aggregate | None]
COMMON_FIELDS = ("type", "registry", "signed_at", "nonce")


@dataclass(frozen=True)
class Signer:
    """The holder of the key that signed a statement, as the registry knows it."""

    key_id: str
    role: str  # "root" | "maintainer" | "organization"
    org: str | None
    public_key: bytes


@dataclass(frozen=True)
class Position:
    """Where a statement lands in the log."""

    index: int
    recorded_at: str


def resolve_signer(key_id: str, stmt: dict[str, Any], get: Reader) -> Signer:
    """Find the signer of a statement by key id; raise Unknown/RevokedKeyError."""
    if get(maintainers_id()) is None:
        if stmt["type"] != "registry.genesis":
            raise RuleError("the registry has no genesis record yet")
        root = keys.decode_public(stmt["root_key"], "root_key")
        if keys.key_id(root) != key_id:
            raise UnauthorizedSignerError("the genesis record must be signed by the root key it names")
        return Signer(key_id, "root", None, root)
    key = get(key_aggregate_id(key_id))
    if not isinstance(key, Key):
        raise UnknownKeyError(f"key {key_id[:16]}… is not known to this registry")
    if key.revoked:
        raise RevokedKeyError(f"key {key_id[:16]}… was revoked at leaf {key.revoked_index} ({key.revoked_at})")
    return Signer(key_id, key.role, key.org, keys.decode_public(key.public_key))


def authorize(stmt: dict[str, Any], signer: Signer) -> None:
    """Check that the signer's role may make this statement; raise UnauthorizedSignerError."""
    type_ = stmt["type"]
    if signer.role not in statements.SIGNERS[type_]:
        allowed = " or ".join(sorted(statements.SIGNERS[type_]))
        raise UnauthorizedSignerError(f"{type_} must be signed by {allowed}, not by a {signer.role} key")
    if signer.role == "organization" and stmt.get("org") != signer.org:
        raise UnauthorizedSignerError(f"the key belongs to organization {signer.org!r}, not {stmt.get('org')!r}")
    if statements.requires_evidence(type_, signer.role) and not stmt.get("evidence"):
        raise InvalidStatementError("an attested record needs at least one evidence link", "evidence")


def execute(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    """Apply one authorized statement; return the aggregates created or changed."""
    handler = _HANDLERS[stmt["type"]]
    return handler(stmt, signer, at, get)


def affected(stmt: dict[str, Any]) -> list[UUID]:
    """Ids of aggregates a statement may change (to forget cached copies)."""
    ids = [maintainers_id()]
    if "org" in stmt:
        ids.append(organization_id(stmt["org"]))
        if "code" in stmt:
            ids.append(endorsement_id(stmt["org"], stmt["code"]))
    if "code" in stmt:
        ids.append(code_id(stmt["code"]))
    for field in ("key_id", "public_key", "root_key"):
        if isinstance(stmt.get(field), str):
            ids.append(key_aggregate_id(_key_id_of(stmt, field)))
    for public in stmt.get("public_keys") or ():
        ids.append(key_aggregate_id(keys.key_id(keys.decode_public(public))))
    return ids


def _key_id_of(stmt: dict[str, Any], field: str) -> str:
    value = stmt[field]
    return value if field == "key_id" else keys.key_id(keys.decode_public(value, field))


def _details(stmt: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stmt.items() if k not in COMMON_FIELDS}


def _record(stmt: dict[str, Any], signer: Signer, at: Position) -> dict[str, Any]:
    return {
        **{k: v for k, v in _details(stmt).items() if k not in ("org", "code")},
        "index": at.index, "recorded_at": at.recorded_at, "signed_at": stmt["signed_at"],
        "signer": signer.key_id, "attested": signer.role != "organization",
        "evidence": stmt.get("evidence", []),
    }


def _new_key(public: str, role: str, org: str | None, label: str, at: Position, get: Reader) -> Key:
    kid = keys.key_id(keys.decode_public(public))
    if get(key_aggregate_id(kid)) is not None:
        raise ConflictError(f"key {kid[:16]}… is already registered")
    return Key(key_id=kid, public_key=public, role=role, org=org, label=label, index=at.index, at=at.recorded_at)


def _require(get: Reader, aggregate_id: UUID, cls: type[Aggregate], what: str) -> Any:
    found = get(aggregate_id)
    if not isinstance(found, cls):
        raise UnknownSubjectError(f"{what} is not registered")
    return found


def _org(stmt: dict[str, Any], get: Reader) -> Organization:
    return _require(get, organization_id(stmt["org"]), Organization, f"organization {stmt['org']!r}")


def _code(stmt: dict[str, Any], get: Reader) -> Code:
    return _require(get, code_id(stmt["code"]), Code, f"Code {stmt['code']!r}")


def _genesis(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    if get(maintainers_id()) is not None:
        raise ConflictError("the registry already has a genesis record")
    root = Key(key_id=signer.key_id, public_key=stmt["root_key"], role="root", org=None, label="root",
               index=at.index, at=at.recorded_at)
    return [Maintainers(name=stmt["name"], root_key_id=signer.key_id, index=at.index), root]


def _maintainer_key_added(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    key = _new_key(stmt["public_key"], "maintainer", None, stmt["name"], at, get)
    maintainers = _require(get, maintainers_id(), Maintainers, "the registry")
    maintainers.add_key(key.key_id, at.index)
    return [maintainers, key]


def _key_revoked(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    key = get(key_aggregate_id(stmt["key_id"]))
    org = stmt.get("org")
    role = "organization" if org else "maintainer"
    if not isinstance(key, Key) or key.role != role or key.org != org:
        owner = f"organization {org!r}" if org else "the maintainers"
        raise UnknownSubjectError(f"key {stmt['key_id'][:16]}… is not a key of {owner}")
    if org:
        _org(stmt, get)
    key.revoke(stmt.get("reason"), at.index, at.recorded_at)
    return [key]


def _code_published(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    code = get(code_id(stmt["code"]))
    if not isinstance(code, Code):
        code = Code(code=stmt["code"])
    revision = {k: v for k, v in _details(stmt).items() if k != "code"}
    code.publish(revision, at.index, at.recorded_at)
    return [code]


def _org_registered(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    if get(organization_id(stmt["org"])) is not None:
        raise ConflictError(f"organization {stmt['org']!r} is already registered")
    profile = {k: stmt.get(k) for k in PROFILE_FIELDS}
    org = Organization(org=stmt["org"], profile=profile, index=at.index, at=at.recorded_at)
    new_keys = [_new_key(p, "organization", stmt["org"], stmt["name"], at, get) for p in stmt["public_keys"]]
    for key in new_keys:
        org.add_key(key.key_id, at.index)
    return [org, *new_keys]


def _org_updated(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    org = _org(stmt, get)
    org.update({k: v for k, v in _details(stmt).items() if k != "org"}, at.index, at.recorded_at)
    return [org]


def _org_key_added(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    org = _org(stmt, get)
    key = _new_key(stmt["public_key"], "organization", org.org, org.profile["name"], at, get)
    org.add_key(key.key_id, at.index)
    return [org, key]


def _endorsement(stmt: dict[str, Any], get: Reader, create: bool) -> tuple[Code, Endorsement]:
    _org(stmt, get)
    code = _code(stmt, get)
    found = get(endorsement_id(stmt["org"], stmt["code"]))
    if isinstance(found, Endorsement):
        return code, found
    if not create:
        raise ConflictError(f"{stmt['org']!r} has no endorsement of {stmt['code']!r}")
    return code, Endorsement(org=stmt["org"], code=stmt["code"])


def _made(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    code, endorsement = _endorsement(stmt, get, create=True)
    code.check_scope(stmt["version"], stmt["scope"])
    endorsement.make(stmt["version"], stmt["scope"], _record(stmt, signer, at))
    return [endorsement]


def _amended(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    code, endorsement = _endorsement(stmt, get, create=False)
    if "scope" in stmt and endorsement.code_version is not None:
        code.check_scope(endorsement.code_version, stmt["scope"])
    endorsement.amend(stmt.get("scope"), _record(stmt, signer, at))
    return [endorsement]


def _reaffirmed(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    code, endorsement = _endorsement(stmt, get, create=False)
    code.find_version(stmt["version"])
    if endorsement.active and endorsement.code_version and code.position(stmt["version"]) <= code.position(
        endorsement.code_version
    ):
        raise RuleError(f"version {stmt['version']!r} is not newer than the endorsed {endorsement.code_version!r}")
    scope = stmt.get("scope", endorsement.scope)
    if scope is not None:
        code.check_scope(stmt["version"], scope)
    endorsement.reaffirm(stmt["version"], stmt.get("scope"), _record(stmt, signer, at))
    return [endorsement]


def _withdrawn(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    _, endorsement = _endorsement(stmt, get, create=False)
    endorsement.withdraw(_record(stmt, signer, at))
    return [endorsement]


def _declined(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    code, endorsement = _endorsement(stmt, get, create=True)
    code.find_version(stmt["version"])
    endorsement.decline(stmt["version"], _record(stmt, signer, at))
    return [endorsement]


def _report(stmt: dict[str, Any], signer: Signer, at: Position, get: Reader) -> list[Aggregate]:
    org = _org(stmt, get)
    _code(stmt, get)
    report = {k: v for k, v in _record(stmt, signer, at).items()}
    report["code"] = stmt["code"]
    org.publish_report(report, at.index, at.recorded_at)
    return [org]


_HANDLERS: dict[str, Callable[[dict[str, Any], Signer, Position, Reader], list[Aggregate]]] = {
    "registry.genesis": _genesis,
    "maintainer.key_added": _maintainer_key_added,
    "maintainer.key_revoked": _key_revoked,
    "code.revision_published": _code_published,
    "organization.registered": _org_registered,
    "organization.updated": _org_updated,
    "organization.key_added": _org_key_added,
    "organization.key_revoked": _key_revoked,
    "endorsement.made": _made,
    "endorsement.amended": _amended,
    "endorsement.reaffirmed": _reaffirmed,
    "endorsement.withdrawn": _withdrawn,
    "endorsement.declined": _declined,
    "report.published": _report,
}
