"""How each key of an organization was shown to be its own, read from the record that added it.

Every organization key entered the log in one statement, an
``organization.registered`` or an ``organization.key_added``; that statement
says how the key was proved, one of four ways (strongest first):

- ``self-published``: the statement carries a ``key_proofs`` entry for it, the
  evidence that the organization listed the key at its own website's host
  (docs/FORMATS.md section 21): the URL, when it was fetched, the SHA-256 of
  the file;
- ``organization``: the organization added it itself, signing with a key the
  registry already held for it;
- ``attested``: a maintainer added it, citing evidence;
- ``none``: a maintainer added it and cited nothing.

What it does: :func:`of_keys` derives this for the keys of one organization
from the read models' event documents of those statements. It is a read-side
derivation: the signed registry state (docs/FORMATS.md section 14) does not
carry it, so snapshots hash the same bytes as before.

What it does not do: fetch or check a proof again (``scripts/keyfetch.py``
does that, on the command line), or read the store (the caller passes the
documents).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from registry import keys

SELF_PUBLISHED = "self-published"
ORGANIZATION = "organization"
ATTESTED = "attested"
NONE = "none"
METHODS = (SELF_PUBLISHED, ORGANIZATION, ATTESTED, NONE)
# The statements that add an organization key.
ADDING_TYPES = ("organization.registered", "organization.key_added")


@dataclass(frozen=True)
class KeyProvenance:
    """How one organization key was proved, and by which log entry it was added."""

    key_id: str
    method: str  # one of METHODS
    added_by: str | None  # the signer's role: "organization" or "maintainer" (None: no record found)
    index: int | None  # the log entry that added the key
    proof: Mapping[str, str] | None  # the key_proofs entry (key_id, url, fetched_at, sha256)
    evidence: tuple[Mapping[str, Any], ...]  # what the maintainer cited

    @property
    def host(self) -> str | None:
        """The host the key was self-published at."""
        return urlsplit(self.proof["url"]).hostname if self.proof else None

    @property
    def words(self) -> str:
        """The one wording of how the key was proved, as pages and the command line say it."""
        if self.method == SELF_PUBLISHED:
            return f"self-published at {self.host}"
        return {ORGANIZATION: "added by the organization with its own key",
                ATTESTED: "attested by a maintainer, citing evidence",
                NONE: "none: a maintainer added it and cited no evidence"}[self.method]

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "words": self.words, "added_by": self.added_by,
                "proof": dict(self.proof) if self.proof else None, "evidence": [dict(e) for e in self.evidence]}


def added_keys(statement: Mapping[str, Any]) -> list[str]:
    """The ids of the keys an ``organization.registered`` or ``organization.key_added`` adds."""
    added = [statement["public_key"]] if "public_key" in statement else statement.get("public_keys", [])
    return [keys.key_id(keys.decode_public(public)) for public in added]


def of_key(key_id: str, doc: Mapping[str, Any] | None) -> KeyProvenance:
    """How ``key_id`` was proved, from the event document of the statement that added it."""
    if doc is None:
        return KeyProvenance(key_id, NONE, None, None, None, ())
    stmt = doc["statement"]
    role = doc["signer_role"]
    evidence = tuple(stmt.get("evidence", ()))
    proof = next((p for p in stmt.get("key_proofs", ()) if p["key_id"] == key_id), None)
    if proof is not None:
        method = SELF_PUBLISHED
    elif role == "organization":
        method = ORGANIZATION
    else:
        method = ATTESTED if evidence else NONE
    return KeyProvenance(key_id, method, role, doc["index"], proof, evidence)


def of_keys(key_ids: Iterable[str], docs: Iterable[Mapping[str, Any]]) -> dict[str, KeyProvenance]:
    """How each of ``key_ids`` was proved, given the event documents of the statements that added keys."""
    wanted = list(key_ids)
    adding: dict[str, Mapping[str, Any]] = {}
    for doc in docs:
        if doc["type"] in ADDING_TYPES:
            for key_id in added_keys(doc["statement"]):
                adding.setdefault(key_id, doc)  # a key is added once; the first record is the one
    return {key_id: of_key(key_id, adding.get(key_id)) for key_id in wanted}
