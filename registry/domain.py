"""Aggregates of the registry and the rules they enforce.

Each accepted statement becomes events on a few small aggregates: the
``Maintainers`` of the registry, signing ``Key``s, ``Code``s with their
versions, ``Organization``s (with their keys and reports) and one
``Endorsement`` per organization and Code. Command methods check the rules of
DESIGN.md section 3 and raise a typed error; ``@event`` methods only assign,
because the library re-runs them on every replay.

Aggregate ids are ``uuid5`` of natural keys, so "register twice" is also caught
by the store. Topics are explicit strings: they are stored, and renaming a
Python class must never change what was recorded.

Not here: signatures, the statement schema, storage, clocks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from registry.errors import ConflictError, RuleError, UnknownSubjectError

NAMESPACE = UUID("6f1d3c52-8d7e-4b0a-9a43-2f0c5b7e8a11")


PROFILE_FIELDS = ("name", "country", "kind", "website", "note", "evidence")
_RESTORED_AT = datetime(2023, 10, 30, tzinfo=UTC)


def restore(cls: type[Any], aggregate_id: UUID, attributes: dict[str, Any]) -> Any:
    """An aggregate rebuilt from its canonical state (for the fold, not for saving: no event history)."""
    aggregate = cls.__new__(cls)
    aggregate._id = aggregate_id
    aggregate._version = 0
    aggregate._created_on = aggregate._modified_on = _RESTORED_AT
    aggregate._pending_events = []
    aggregate.__dict__.update(attributes)
    return aggregate


@lru_cache(maxsize=65536)  # uuid5 costs ~10 µs and the fold asks for the same ids on every entry
def maintainers_id() -> UUID:
    return uuid5(NAMESPACE, "maintainers")


@lru_cache(maxsize=65536)  # uuid5 costs ~10 µs and the fold asks for the same ids on every entry
def key_aggregate_id(key_id: str) -> UUID:
    return uuid5(NAMESPACE, f"key:{key_id}")


@lru_cache(maxsize=65536)  # uuid5 costs ~10 µs and the fold asks for the same ids on every entry
def code_id(code: str) -> UUID:
    return uuid5(NAMESPACE, f"code:{code}")


@lru_cache(maxsize=65536)  # uuid5 costs ~10 µs and the fold asks for the same ids on every entry
def organization_id(org: str) -> UUID:
    return uuid5(NAMESPACE, f"org:{org}")


@lru_cache(maxsize=65536)  # uuid5 costs ~10 µs and the fold asks for the same ids on every entry
def endorsement_id(org: str, code: str) -> UUID:
    return uuid5(NAMESPACE, f"endorsement:{org}:{code}")


def statement_hint_id(statement_hash: str) -> UUID:
    return uuid5(NAMESPACE, f"statement-hint:{statement_hash}")


class Maintainers(Aggregate):
    """The registry itself: its name, root key and maintainer keys."""

    TOPIC = "registry:Maintainers"

    class Created(Aggregate.Created):
        TOPIC = "registry:Maintainers.Created"

    @staticmethod
    def create_id() -> UUID:
        return maintainers_id()

    @event("Founded", topic="registry:Maintainers.Founded")
    def __init__(self, name: str, root_key_id: str, index: int) -> None:
        self.name = name
        self.root_key_id = root_key_id
        self.founded_index = index
        self.maintainer_keys: list[str] = []

    @event("KeyAdded", topic="registry:Maintainers.KeyAdded")
    def add_key(self, key_id: str, index: int) -> None:
        self.maintainer_keys.append(key_id)

    def to_state(self) -> dict[str, Any]:
        return {"name": self.name, "root_key_id": self.root_key_id, "maintainer_keys": self.maintainer_keys,
                "founded_index": self.founded_index}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Maintainers:
        return restore(cls, maintainers_id(), {
            "name": state["name"], "root_key_id": state["root_key_id"],
            "maintainer_keys": list(state["maintainer_keys"]), "founded_index": state["founded_index"],
        })


class Key(Aggregate):
    """One signing key: whose it is, when it was added, whether and when revoked."""

    TOPIC = "registry:Key"

    class Created(Aggregate.Created):
        TOPIC = "registry:Key.Created"

    @staticmethod
    def create_id(key_id: str) -> UUID:
        return key_aggregate_id(key_id)

    @event("Added", topic="registry:Key.Added")
    def __init__(self, key_id: str, public_key: str, role: str, org: str | None, label: str,
                 index: int, at: str) -> None:
        self.key_id = key_id
        self.public_key = public_key
        self.role = role
        self.org = org
        self.label = label
        self.added_index = index
        self.added_at = at
        self.revoked_index: int | None = None
        self.revoked_at: str | None = None
        self.revoked_reason: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_index is not None

    def revoke(self, reason: str | None, index: int, at: str) -> None:
        if self.revoked:
            raise ConflictError(f"key {self.key_id[:16]} is already revoked")
        self._revoke(reason, index, at)

    @event("Revoked", topic="registry:Key.Revoked")
    def _revoke(self, reason: str | None, index: int, at: str) -> None:
        self.revoked_index = index
        self.revoked_at = at
        self.revoked_reason = reason

    def to_state(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id, "public_key": self.public_key, "role": self.role, "org": self.org,
            "label": self.label, "added_index": self.added_index, "added_at": self.added_at,
            "revoked_index": self.revoked_index, "revoked_at": self.revoked_at,
            "revoked_reason": self.revoked_reason,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Key:
        return restore(cls, key_aggregate_id(state["key_id"]), dict(state))


class Code(Aggregate):
    """A code of conduct and its published versions, each with numbered actions."""

    TOPIC = "registry:Code"

    class Created(Aggregate.Created):
        TOPIC = "registry:Code.Created"

    @staticmethod
    def create_id(code: str) -> UUID:
        return code_id(code)

    @event("Registered", topic="registry:Code.Registered")
    def __init__(self, code: str) -> None:
        self.code = code
        self.versions: list[dict[str, Any]] = []

    def find_version(self, version: str) -> dict[str, Any]:
        for v in self.versions:
            if v["version"] == version:
                return v
        raise UnknownSubjectError(f"Code {self.code!r} has no version {version!r}")

    def has_version(self, version: str) -> bool:
        return any(v["version"] == version for v in self.versions)

    def position(self, version: str) -> int:
        return [v["version"] for v in self.versions].index(version)

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.versions[-1] if self.versions else None

    def publish(self, revision: dict[str, Any], index: int, at: str) -> None:
        if self.has_version(revision["version"]):
            raise ConflictError(f"Code {self.code!r} already has version {revision['version']!r}")
        supersedes = revision["supersedes"]
        if supersedes is None and self.versions:
            raise RuleError(f"Code {self.code!r} has versions; a new one must name the version it supersedes")
        if supersedes is not None and not self.has_version(supersedes):
            raise UnknownSubjectError(f"superseded version {supersedes!r} of {self.code!r} does not exist")
        self._publish(revision, index, at)

    @event("RevisionPublished", topic="registry:Code.RevisionPublished")
    def _publish(self, revision: dict[str, Any], index: int, at: str) -> None:
        self.versions.append({**revision, "index": index, "recorded_at": at})

    def check_scope(self, version: str, scope: str | list[int]) -> None:
        actions = self.find_version(version)["actions"]
        if scope == "all":
            return
        numbers = {a["number"] for a in actions}
        missing = [n for n in scope if n not in numbers]
        if missing:
            raise RuleError(f"version {version!r} of {self.code!r} has no action(s) {missing}")

    def to_state(self) -> dict[str, Any]:
        return {"code": self.code, "versions": self.versions}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Code:
        return restore(cls, code_id(state["code"]), {"code": state["code"], "versions": list(state["versions"])})


class Organization(Aggregate):
    """An organization: its profile, its keys and its published reports."""

    TOPIC = "registry:Organization"

    class Created(Aggregate.Created):
        TOPIC = "registry:Organization.Created"

    @staticmethod
    def create_id(org: str) -> UUID:
        return organization_id(org)

    @event("Registered", topic="registry:Organization.Registered")
    def __init__(self, org: str, profile: dict[str, Any], index: int, at: str) -> None:
        self.org = org
        self.profile = profile
        self.registered_index = index
        self.registered_at = at
        self.keys: list[str] = []
        self.reports: list[dict[str, Any]] = []

    @event("Updated", topic="registry:Organization.Updated")
    def update(self, changes: dict[str, Any], index: int, at: str) -> None:
        self.profile = {**self.profile, **changes}

    @event("KeyAdded", topic="registry:Organization.KeyAdded")
    def add_key(self, key_id: str, index: int) -> None:
        self.keys.append(key_id)

    def publish_report(self, report: dict[str, Any], index: int, at: str) -> None:
        for known in self.reports:
            if _report_key(known) == _report_key(report):
                raise ConflictError(f"this report is already recorded (leaf {known['index']})")
        self._publish_report(report, index, at)

    @event("ReportPublished", topic="registry:Organization.ReportPublished")
    def _publish_report(self, report: dict[str, Any], index: int, at: str) -> None:
        self.reports.append({**report, "index": index, "recorded_at": at})

    def to_state(self) -> dict[str, Any]:
        return {
            "org": self.org, **{k: self.profile.get(k) for k in PROFILE_FIELDS},
            "registered_index": self.registered_index, "registered_at": self.registered_at,
            "keys": self.keys, "reports": self.reports,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Organization:
        return restore(cls, organization_id(state["org"]), {
            "org": state["org"], "profile": {k: state[k] for k in PROFILE_FIELDS},
            "registered_index": state["registered_index"], "registered_at": state["registered_at"],
            "keys": list(state["keys"]), "reports": list(state["reports"]),
        })


def _report_key(report: dict[str, Any]) -> tuple[Any, ...]:
    # period, url and published_on may each be absent (the sources do not give them); absent is a value.
    return tuple(report.get(k) for k in ("code", "framework", "period", "url", "published_on"))


class Endorsement(Aggregate):
    """One organization's stance on one Code: endorsed (which version, which actions), withdrawn, declined."""

    TOPIC = "registry:Endorsement"

    class Created(Aggregate.Created):
        TOPIC = "registry:Endorsement.Created"

    @staticmethod
    def create_id(org: str, code: str) -> UUID:
        return endorsement_id(org, code)

    @event("Opened", topic="registry:Endorsement.Opened")
    def __init__(self, org: str, code: str) -> None:
        self.org = org
        self.code = code
        self.status = "none"
        self.code_version: str | None = None
        self.scope: str | list[int] | None = None
        self.statement: str | None = None
        self.effective_date: str | None = None
        self.attested = False
        self.since_index: int | None = None
        self.endorsed_on: str | None = None
        self.last: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def make(self, version: str, scope: str | list[int], record: dict[str, Any]) -> None:
        if self.active:
            raise ConflictError(f"{self.org!r} already endorses {self.code!r} (version {self.code_version!r})")
        self._made(version, scope, record)

    def amend(self, scope: str | list[int] | None, record: dict[str, Any]) -> None:
        if not self.active:
            raise ConflictError(f"{self.org!r} has no active endorsement of {self.code!r} to amend")
        self._amended(scope, record)

    def reaffirm(self, version: str, scope: str | list[int] | None, record: dict[str, Any]) -> None:
        if not self.active:
            raise ConflictError(f"{self.org!r} has no active endorsement of {self.code!r} to reaffirm")
        if version == self.code_version:
            raise ConflictError(f"the endorsement is already for version {version!r}")
        self._reaffirmed(version, scope, record)

    def withdraw(self, record: dict[str, Any]) -> None:
        if not self.active:
            raise ConflictError(f"{self.org!r} has no active endorsement of {self.code!r} to withdraw")
        self._withdrawn(record)

    def decline(self, version: str, record: dict[str, Any]) -> None:
        if self.active:
            raise ConflictError(f"{self.org!r} endorses {self.code!r}; withdraw before recording a refusal")
        self._declined(version, record)

    @event("Made", topic="registry:Endorsement.Made")
    def _made(self, version: str, scope: str | list[int], record: dict[str, Any]) -> None:
        self.status, self.code_version, self.scope = "active", version, scope
        self.statement = record.get("statement")
        self._record("endorsement.made", record)
        self.since_index = record["index"]
        self.endorsed_on = record["effective_date"]

    @event("Amended", topic="registry:Endorsement.Amended")
    def _amended(self, scope: str | list[int] | None, record: dict[str, Any]) -> None:
        if scope is not None:
            self.scope = scope
        if "statement" in record:
            self.statement = record["statement"]
        self._record("endorsement.amended", record)

    @event("Reaffirmed", topic="registry:Endorsement.Reaffirmed")
    def _reaffirmed(self, version: str, scope: str | list[int] | None, record: dict[str, Any]) -> None:
        self.code_version = version
        if scope is not None:
            self.scope = scope
        if "statement" in record:
            self.statement = record["statement"]
        self._record("endorsement.reaffirmed", record)

    @event("Withdrawn", topic="registry:Endorsement.Withdrawn")
    def _withdrawn(self, record: dict[str, Any]) -> None:
        self.status = "withdrawn"
        self._record("endorsement.withdrawn", record)

    @event("Declined", topic="registry:Endorsement.Declined")
    def _declined(self, version: str, record: dict[str, Any]) -> None:
        self.status, self.code_version, self.scope = "declined", version, None
        self.statement = record.get("statement")
        self._record("endorsement.declined", record)

    def _record(self, type_: str, record: dict[str, Any]) -> None:
        # Only called from @event bodies: assigns, checks nothing.
        self.effective_date = record["effective_date"]
        self.attested = record["attested"]
        # The latest act only: the full timeline is the log itself (and its read model).
        self.last = {"type": type_, **record}

    def to_state(self) -> dict[str, Any]:
        return {
            "org": self.org, "code": self.code, "status": self.status, "version": self.code_version,
            "scope": self.scope, "statement": self.statement, "effective_date": self.effective_date,
            "attested": self.attested, "since_index": self.since_index, "endorsed_on": self.endorsed_on,
            "last": self.last,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Endorsement:
        return restore(cls, endorsement_id(state["org"], state["code"]), {
            "org": state["org"], "code": state["code"], "status": state["status"],
            "code_version": state["version"], "scope": state["scope"], "statement": state["statement"],
            "effective_date": state["effective_date"], "attested": state["attested"],
            "since_index": state["since_index"], "endorsed_on": state["endorsed_on"], "last": state["last"],
        })
