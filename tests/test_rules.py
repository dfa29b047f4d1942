"""Who may say what, and what each statement does (registry.rules), over the pure fold: no store at all.

Every statement is signed by a real key, made into a log entry and applied to a
RegistryState (``tests.conftest.Fold``), the fold that live submission, replay
and audit share. Each refusal is checked for its error class and for leaving
the state byte-identical.
"""

from __future__ import annotations

from typing import Any

import pytest

from registry import keys, rules
from registry.errors import (
    ConflictError,
    InvalidStatementError,
    RevokedKeyError,
    RuleError,
    UnauthorizedSignerError,
    UnknownKeyError,
    UnknownSubjectError,
    WrongRegistryError,
)
from registry.state import RegistryState
from tests.conftest import Actor, Fold, as_leaf

CODE, V1, V2, V3 = "hiroshima-coc", "2023-10-30", "2025-01-15", "2026-01-01"
EVIDENCE = [{"url": "https://news.example/source"}]


def endorse(actor: Actor, org: str = "acme", version: str = V1, scope: Any = "all", **extra: Any) -> bytes:
    return actor.sign("endorsement.made", org=org, code=CODE, version=version, scope=scope,
                      effective_date="2024-02-01", **extra)


def act(actor: Actor, type_: str, org: str = "acme", **extra: Any) -> bytes:
    """An endorsement.amended / reaffirmed / withdrawn by ``actor`` with the fields each one needs."""
    fields: dict[str, Any] = {"org": org, "code": CODE, "effective_date": "2024-03-01", **extra}
    if type_ == "endorsement.withdrawn":
        fields.setdefault("reason", "Stopped.")
    if type_ == "endorsement.amended" and "statement" not in fields:
        fields.setdefault("scope", [1, 2])
    return actor.sign(type_, **fields)


def endorsement(fold: Fold, org: str = "acme") -> dict[str, Any]:
    found = [e for e in fold.state.to_json()["endorsements"] if (e["org"], e["code"]) == (org, CODE)]
    assert len(found) == 1, found
    return found[0]


def key_state(fold: Fold, actor: Actor) -> dict[str, Any]:
    return next(k for k in fold.state.to_json()["keys"] if k["key_id"] == actor.key_id)


@pytest.fixture
def acme(fold: Fold) -> Actor:
    """A Code in one version (11 actions) and organization acme holding this key."""
    key = Actor()
    fold.code(V1)
    fold.org("acme", key)
    return key


# --- genesis and the registry's own keys ------------------------------------------------------


def test_nothing_before_genesis() -> None:
    state, root = RegistryState(), Actor()
    with pytest.raises(RuleError, match="no genesis"):
        state.apply(as_leaf(root.sign("maintainer.key_added", public_key=Actor().public, name="m")))
    assert state.size == 0 and state.aggregates == {}


def test_genesis_is_signed_by_the_root_key_it_names() -> None:
    state, root, other = RegistryState(), Actor(), Actor()
    with pytest.raises(UnauthorizedSignerError, match="root key it names"):
        state.apply(as_leaf(other.sign("registry.genesis", name="R", root_key=root.public)))
    state.apply(as_leaf(root.sign("registry.genesis", name="R", root_key=root.public)), verify=True)
    assert state.to_json()["registry"]["root_key_id"] == root.key_id


def test_a_second_genesis_is_refused(fold: Fold) -> None:
    fold.refuse(fold.root.sign("registry.genesis", name="Again", root_key=fold.root.public), ConflictError)
    other = Actor()  # a new root naming itself is not known to the registry at all
    fold.refuse(other.sign("registry.genesis", name="Again", root_key=other.public), UnknownKeyError)


def test_only_the_root_adds_and_revokes_maintainer_keys(fold: Fold) -> None:
    second = Actor()
    fold.refuse(fold.maintainer.sign("maintainer.key_added", public_key=second.public, name="m2"),
                UnauthorizedSignerError)
    fold.submit(fold.root.sign("maintainer.key_added", public_key=second.public, name="m2"))
    fold.refuse(second.sign("maintainer.key_revoked", key_id=fold.maintainer.key_id, reason="no"),
                UnauthorizedSignerError)
    fold.submit(fold.root.sign("maintainer.key_revoked", key_id=second.key_id, reason="left"))
    assert key_state(fold, second)["revoked_index"] == fold.state.size - 1
    assert fold.state.to_json()["registry"]["maintainer_keys"] == [fold.maintainer.key_id, second.key_id]


def test_a_revoked_maintainer_key_signs_nothing_and_is_not_revoked_twice(fold: Fold) -> None:
    fold.submit(fold.root.sign("maintainer.key_revoked", key_id=fold.maintainer.key_id, reason="lost"))
    error = fold.refuse(fold.maintainer.sign("organization.registered", org="acme", name="Acme", country="JP",
                                             kind="company", public_keys=[]), RevokedKeyError)
    assert "revoked at leaf 2" in error.message
    fold.refuse(fold.root.sign("maintainer.key_revoked", key_id=fold.maintainer.key_id, reason="again"),
                ConflictError)


def test_maintainer_revocation_names_only_maintainer_keys(fold: Fold, acme: Actor) -> None:
    for key_id in (fold.root.key_id, acme.key_id, "0" * 64):
        fold.refuse(fold.root.sign("maintainer.key_revoked", key_id=key_id, reason="r"), UnknownSubjectError)


def test_a_key_serves_one_holder_only(fold: Fold) -> None:
    fold.refuse(fold.root.sign("maintainer.key_added", public_key=fold.maintainer.public, name="twice"),
                ConflictError)
    fold.refuse(fold.maintainer.sign("organization.registered", org="acme", name="Acme", country="JP",
                                     kind="company", public_keys=[fold.root.public]), ConflictError)


def test_an_unknown_key_signs_nothing(fold: Fold) -> None:
    fold.refuse(Actor().sign("organization.registered", org="acme", name="Acme", country="JP", kind="company",
                             public_keys=[]), UnknownKeyError)


def test_statements_for_another_registry_are_refused(fold: Fold) -> None:
    fold.refuse(fold.maintainer.sign("organization.registered", origin="elsewhere.example/registry", org="acme",
                                     name="Acme", country="JP", kind="company", public_keys=[]),
                WrongRegistryError)


# --- Codes -----------------------------------------------------------------------------------


def test_code_versions_form_a_chain(fold: Fold) -> None:
    fold.code(V1)
    fold.refuse(fold.maintainer.sign("code.revision_published", code=CODE, version=V1, title="T", issuer="G7",
                                     published_on=V1, source_url="https://example.org/code",
                                     actions=[{"number": 1, "heading": "A"}], supersedes=None), ConflictError)
    with pytest.raises(RuleError, match="must name the version it supersedes"):
        fold.code(V2)
    with pytest.raises(UnknownSubjectError, match="does not exist"):
        fold.code(V2, supersedes="1999-01-01")
    fold.code(V2, supersedes=V1, actions=12)
    fold.code(V3, supersedes=V1)  # any known version may be superseded, not only the latest
    codes = fold.state.to_json()["codes"]
    assert [v["version"] for v in codes[0]["versions"]] == [V1, V2, V3]


def test_organizations_cannot_publish_codes(fold: Fold, acme: Actor) -> None:
    fold.refuse(acme.sign("code.revision_published", code="own-code", version=V1, title="T", issuer="Acme",
                          published_on=V1, source_url="https://example.org/code",
                          actions=[{"number": 1, "heading": "A"}], supersedes=None), UnauthorizedSignerError)


# --- organizations ---------------------------------------------------------------------------


def test_organizations_register_once_and_update_only_when_registered(fold: Fold) -> None:
    fold.org("acme")
    with pytest.raises(ConflictError, match="already registered"):
        fold.org("acme")
    fold.refuse(fold.maintainer.sign("organization.updated", org="nobody", name="X"), UnknownSubjectError)
    fold.submit(fold.maintainer.sign("organization.updated", org="acme", name="Acme Group", country="US"))
    org = fold.state.to_json()["organizations"][0]
    assert (org["name"], org["country"], org["kind"]) == ("Acme Group", "US", "company")


def test_organizations_cannot_register_or_update_themselves(fold: Fold, acme: Actor) -> None:
    fold.refuse(acme.sign("organization.updated", org="acme", name="Acme Self"), UnauthorizedSignerError)
    fold.refuse(acme.sign("organization.registered", org="acme2", name="Acme 2", country="JP", kind="company",
                          public_keys=[]), UnauthorizedSignerError)


def test_an_organization_key_speaks_for_its_organization_only(fold: Fold, acme: Actor) -> None:
    beta = Actor()
    fold.org("beta", beta)
    fold.refuse(endorse(acme, org="beta"), UnauthorizedSignerError)
    fold.refuse(acme.sign("organization.key_added", org="beta", public_key=Actor().public), UnauthorizedSignerError)
    # its own org, another org's key: not a key of acme's
    fold.refuse(acme.sign("organization.key_revoked", org="acme", key_id=beta.key_id, reason="r"),
                UnknownSubjectError)


def test_key_rotation_then_the_old_key_signs_nothing(fold: Fold, acme: Actor) -> None:
    fold.submit(endorse(acme))
    new = Actor()
    fold.submit(acme.sign("organization.key_added", org="acme", public_key=new.public))
    fold.submit(new.sign("organization.key_revoked", org="acme", key_id=acme.key_id, reason="rotated"))
    revoked_at = fold.state.size - 1
    for data in (act(acme, "endorsement.amended"), act(acme, "endorsement.withdrawn"),
                 acme.sign("organization.key_added", org="acme", public_key=Actor().public),
                 acme.sign("organization.key_revoked", org="acme", key_id=new.key_id, reason="revenge"),
                 acme.sign("report.published", org="acme", code=CODE, framework="oecd-haip", period="2025",
                           url="https://acme.example/r.pdf")):
        error = fold.refuse(data, RevokedKeyError)
        assert f"revoked at leaf {revoked_at}" in error.message
    # what the old key signed before its revocation stands; the new key carries on
    assert endorsement(fold)["status"] == "active"
    fold.submit(act(new, "endorsement.amended", scope=[1, 2, 3]))
    assert endorsement(fold)["scope"] == [1, 2, 3]
    org = fold.state.to_json()["organizations"][0]
    assert org["keys"] == [acme.key_id, new.key_id] and org["flags"] == {"keys_all_revoked": False}


def test_a_maintainer_may_revoke_an_organization_key_without_evidence(fold: Fold, acme: Actor) -> None:
    fold.submit(fold.maintainer.sign("organization.key_revoked", org="acme", key_id=acme.key_id, reason="leaked"))
    assert fold.state.to_json()["organizations"][0]["flags"] == {"keys_all_revoked": True}
    fold.refuse(fold.maintainer.sign("organization.key_revoked", org="acme", key_id=acme.key_id, reason="again"),
                ConflictError)


# --- endorsements ----------------------------------------------------------------------------


def test_endorse_twice_is_refused(fold: Fold, acme: Actor) -> None:
    fold.submit(endorse(acme, scope=[1, 2]))
    error = fold.refuse(endorse(acme), ConflictError)
    assert "already endorses" in error.message
    # nor may a maintainer record a second endorsement on acme's behalf
    fold.refuse(endorse(fold.maintainer, evidence=EVIDENCE), ConflictError)
    assert endorsement(fold)["scope"] == [1, 2]


def test_endorsing_needs_a_registered_organization_code_and_version(fold: Fold, acme: Actor) -> None:
    fold.refuse(endorse(fold.maintainer, org="ghost", evidence=EVIDENCE), UnknownSubjectError)
    fold.refuse(acme.sign("endorsement.made", org="acme", code="no-such-code", version=V1, scope="all",
                          effective_date="2024-02-01"), UnknownSubjectError)
    fold.refuse(endorse(acme, version="1999-01-01"), UnknownSubjectError)


def test_the_scope_must_name_actions_of_the_version(fold: Fold, acme: Actor) -> None:
    error = fold.refuse(endorse(acme, scope=[1, 12]), RuleError)
    assert "[12]" in error.message
    fold.submit(endorse(acme, scope=[11]))
    fold.refuse(act(acme, "endorsement.amended", scope=[11, 12]), RuleError)
    assert endorsement(fold)["scope"] == [11]


def test_amend_without_an_endorsement_is_refused(fold: Fold, acme: Actor) -> None:
    error = fold.refuse(act(acme, "endorsement.amended"), ConflictError)
    assert "no endorsement" in error.message
    fold.refuse(act(acme, "endorsement.withdrawn"), ConflictError)
    fold.refuse(act(acme, "endorsement.reaffirmed", version=V1), ConflictError)


def test_amend_keeps_what_it_does_not_name(fold: Fold, acme: Actor) -> None:
    fold.submit(endorse(acme, scope=[1, 2], statement="First words."))
    fold.submit(act(acme, "endorsement.amended", statement="Better words."))
    assert (endorsement(fold)["scope"], endorsement(fold)["statement"]) == ([1, 2], "Better words.")
    fold.submit(act(acme, "endorsement.amended", scope="all"))
    assert (endorsement(fold)["scope"], endorsement(fold)["statement"]) == ("all", "Better words.")
    assert endorsement(fold)["last"]["type"] == "endorsement.amended"


def test_withdraw_then_endorse_again(fold: Fold, acme: Actor) -> None:
    first = fold.submit(endorse(acme)).index
    fold.submit(act(acme, "endorsement.withdrawn"))
    assert endorsement(fold)["status"] == "withdrawn"
    fold.refuse(act(acme, "endorsement.withdrawn"), ConflictError)
    fold.refuse(act(acme, "endorsement.amended"), ConflictError)
    again = fold.submit(endorse(acme, scope=[3])).index
    found = endorsement(fold)
    assert (found["status"], found["scope"], found["since_index"]) == ("active", [3], again)
    assert again > first


def test_reaffirm_moves_only_to_a_newer_version(fold: Fold, acme: Actor) -> None:
    fold.code(V2, supersedes=V1, actions=12)
    fold.submit(endorse(acme, version=V2))
    for version in (V2, V1):  # the same version, an older one
        error = fold.refuse(act(acme, "endorsement.reaffirmed", version=version), RuleError)
        assert "not newer" in error.message
    fold.code(V3, supersedes=V2, actions=3)
    fold.refuse(act(acme, "endorsement.reaffirmed", version=V3, scope=[4]), RuleError)  # V3 has 3 actions
    fold.submit(act(acme, "endorsement.reaffirmed", version=V3, scope=[1, 3]))
    found = endorsement(fold)
    assert (found["version"], found["scope"], found["flags"]) == (V3, [1, 3], {"superseded_version": False})


def test_an_endorsement_of_an_older_version_is_flagged_superseded(fold: Fold, acme: Actor) -> None:
    fold.submit(endorse(acme))
    assert endorsement(fold)["flags"] == {"superseded_version": False}
    fold.code(V2, supersedes=V1)
    assert endorsement(fold)["flags"] == {"superseded_version": True}


def test_decline_is_the_maintainers_record_and_never_over_an_endorsement(fold: Fold, acme: Actor) -> None:
    decline = fold.maintainer.sign("endorsement.declined", org="acme", code=CODE, version=V1,
                                   effective_date="2024-01-15", evidence=EVIDENCE)
    fold.refuse(acme.sign("endorsement.declined", org="acme", code=CODE, version=V1, effective_date="2024-01-15",
                          evidence=EVIDENCE), UnauthorizedSignerError)
    fold.submit(endorse(acme))
    fold.refuse(decline, ConflictError)
    fold.submit(act(acme, "endorsement.withdrawn"))
    fold.submit(decline)
    assert (endorsement(fold)["status"], endorsement(fold)["attested"]) == ("declined", True)
    fold.refuse(act(acme, "endorsement.amended"), ConflictError)
    fold.submit(endorse(acme, scope=[1]))  # and it may change its mind again
    assert endorsement(fold)["status"] == "active"


# --- maintainer attestations -------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["endorsement.made", "endorsement.amended", "endorsement.reaffirmed",
                                   "endorsement.withdrawn", "report.published"])
def test_a_maintainer_attests_only_with_evidence(fold: Fold, acme: Actor, type_: str) -> None:
    fold.code(V2, supersedes=V1)
    if type_ != "endorsement.made":
        fold.submit(endorse(acme))
    extra: dict[str, Any] = {"version": V2} if type_ == "endorsement.reaffirmed" else {}
    if type_ == "endorsement.made":
        build = lambda **e: endorse(fold.maintainer, **e)  # noqa: E731
    elif type_ == "report.published":
        build = lambda **e: fold.maintainer.sign(type_, org="acme", code=CODE, framework="oecd-haip",  # noqa: E731
                                                 period="2025", url="https://acme.example/r.pdf", **e)
    else:
        build = lambda **e: act(fold.maintainer, type_, **extra, **e)  # noqa: E731
    error = fold.refuse(build(), InvalidStatementError)
    assert error.field == "evidence"
    applied = fold.submit(build(evidence=EVIDENCE))
    assert applied.signer.role == "maintainer"
    if type_ == "report.published":
        report = fold.state.to_json()["organizations"][0]["reports"][0]
        assert (report["attested"], report["evidence"]) == (True, EVIDENCE)
    else:
        assert endorsement(fold)["attested"] is True and endorsement(fold)["last"]["evidence"] == EVIDENCE


def test_self_signed_records_are_not_attested(fold: Fold, acme: Actor) -> None:
    fold.submit(endorse(acme))
    assert endorsement(fold)["attested"] is False
    fold.submit(act(fold.maintainer, "endorsement.amended", scope=[1], evidence=EVIDENCE))
    assert endorsement(fold)["attested"] is True  # the latest act decides
    fold.submit(act(acme, "endorsement.amended", scope=[1, 2]))
    assert endorsement(fold)["attested"] is False


@pytest.mark.parametrize("type_", ["endorsement.made", "report.published"])
def test_the_root_key_speaks_for_no_organization(fold: Fold, acme: Actor, type_: str) -> None:
    if type_ == "endorsement.made":
        data = endorse(fold.root, evidence=EVIDENCE)
    else:
        data = fold.root.sign(type_, org="acme", code=CODE, framework="oecd-haip", period="2025",
                              url="https://acme.example/r.pdf", evidence=EVIDENCE)
    fold.refuse(data, UnauthorizedSignerError)


# --- reports ---------------------------------------------------------------------------------


def test_a_report_is_recorded_once_and_only_for_a_known_code(fold: Fold, acme: Actor) -> None:
    def report(code: str = CODE, period: str = "2025") -> bytes:
        return acme.sign("report.published", org="acme", code=code, framework="oecd-haip", period=period,
                         url="https://acme.example/r.pdf")

    fold.refuse(report(code="no-such-code"), UnknownSubjectError)
    first = fold.submit(report()).index
    error = fold.refuse(report(), ConflictError)  # a new nonce: not a duplicate statement, the same report
    assert f"leaf {first}" in error.message
    fold.submit(report(period="2026"))
    assert [r["period"] for r in fold.state.to_json()["organizations"][0]["reports"]] == ["2025", "2026"]


# --- the cache contract ------------------------------------------------------------------------


def test_affected_names_every_aggregate_a_statement_changes(fold: Fold, acme: Actor) -> None:
    new, beta = Actor(), Actor()
    story = [
        endorse(acme, scope=[1]),
        act(acme, "endorsement.amended", scope=[1, 2]),
        acme.sign("organization.key_added", org="acme", public_key=new.public),
        new.sign("organization.key_revoked", org="acme", key_id=acme.key_id, reason="rotated"),
        fold.maintainer.sign("organization.registered", org="beta", name="Beta", country="US", kind="academia",
                             public_keys=[beta.public]),
        fold.maintainer.sign("organization.updated", org="beta", website="https://beta.example/"),
        new.sign("report.published", org="acme", code=CODE, framework="oecd-haip", period="2025",
                 url="https://acme.example/r.pdf"),
        act(new, "endorsement.withdrawn"),
        fold.maintainer.sign("endorsement.declined", org="beta", code=CODE, version=V1, effective_date="2024-05-01",
                             evidence=EVIDENCE),
        fold.root.sign("maintainer.key_added", public_key=Actor().public, name="m2"),
    ]
    seen: set[str] = set()
    for data in story:
        applied = fold.submit(data)
        changed = {a.id for a in applied.changed}
        assert changed and changed <= set(rules.affected(applied.statement)), applied.statement["type"]
        seen.add(applied.statement["type"])
    assert len(seen) == len(story)


def test_resolve_signer_names_role_and_organization(fold: Fold, acme: Actor) -> None:
    stmt = {"type": "endorsement.made"}
    signer = rules.resolve_signer(acme.key_id, stmt, fold.get)
    assert (signer.role, signer.org, signer.public_key) == ("organization", "acme", keys.public_bytes(acme.key))
    assert rules.resolve_signer(fold.maintainer.key_id, stmt, fold.get).role == "maintainer"
    assert rules.resolve_signer(fold.root.key_id, stmt, fold.get).role == "root"
    with pytest.raises(UnknownKeyError):
        rules.resolve_signer(Actor().key_id, stmt, fold.get)
