"""The registry state as a pure fold over log entries (registry.state), with no store.

The rule that lives in the fold itself: no statement is recorded twice, and
none is older than the latest statement that changed the same entity. Then the
fold's mechanics: a refusal changes nothing, a decision is kept only at the size
it was made for, the canonical document round-trips and a restored state folds
on exactly like the original.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from registry import envelope, keys
from registry.domain import code_id, endorsement_id, key_aggregate_id, maintainers_id, organization_id
from registry.errors import (
    DuplicateStatementError,
    InvalidSignatureError,
    OutOfOrderError,
    RegistryError,
    WrongRegistryError,
)
from registry.leaf import format_leaf, parse_leaf
from registry.state import STATE_FORMAT, RegistryState, describe, entity_id, statement_hash
from registry.state import fold as fold_leaves
from tests.conftest import ORIGIN, Actor, Fold, as_leaf

CODE, V1 = "hiroshima-coc", "2023-10-30"
T = datetime(2099, 6, 1, 12, 0, 0, tzinfo=UTC)  # after every statement signed "now" by the helpers


def update(fold: Fold, name: str, at: datetime, org: str = "acme") -> bytes:
    return fold.maintainer.sign("organization.updated", org=org, name=name, now=at)


def org_name(fold: Fold, org: str = "acme") -> str:
    return next(o["name"] for o in fold.state.to_json()["organizations"] if o["org"] == org)


@pytest.fixture
def story(fold: Fold) -> Fold:
    """A Code, acme (self-signing) and beta, an endorsement and a few changes: every kind of entity."""
    acme, beta = Actor(), Actor()
    fold.code(V1)
    fold.org("acme", acme)
    fold.org("beta", beta)
    fold.submit(acme.sign("endorsement.made", org="acme", code=CODE, version=V1, scope=[1, 2],
                          effective_date="2024-02-01"))
    fold.submit(beta.sign("report.published", org="beta", code=CODE, framework="oecd-haip", period="2025",
                          url="https://beta.example/r.pdf"))
    fold.submit(acme.sign("organization.key_added", org="acme", public_key=Actor().public))
    fold.submit(fold.maintainer.sign("organization.updated", org="beta", name="Beta Group"))
    return fold


# --- no statement twice, none out of order ---------------------------------------------------


def test_the_same_statement_is_refused_as_a_duplicate_naming_its_leaf(fold: Fold) -> None:
    fold.org("acme")
    data = update(fold, "Acme Group", T)
    first = fold.submit(data).index
    # the rules alone would take it again (an update has no precondition): the fold refuses it
    error = fold.refuse(data, DuplicateStatementError)
    assert error.index == first and f"leaf {first}" in error.message


def test_a_statement_older_than_the_latest_about_its_entity_is_out_of_order(fold: Fold) -> None:
    fold.org("acme")
    fold.org("beta")
    fold.submit(update(fold, "Acme 2", T))
    error = fold.refuse(update(fold, "Acme 1", T - timedelta(seconds=1)), OutOfOrderError)
    assert "organization:acme" in error.message and "sign it again" in error.message
    assert org_name(fold) == "Acme 2"  # the refused update ran on a copy only
    # the same second is not older; another entity has its own latest time
    fold.submit(update(fold, "Acme 3", T))
    fold.submit(update(fold, "Beta 1", T - timedelta(days=1), org="beta"))
    assert (org_name(fold), org_name(fold, "beta")) == ("Acme 3", "Beta 1")


def test_a_replayed_statement_is_refused_however_long_ago_it_was_recorded(fold: Fold) -> None:
    fold.org("acme")
    old = update(fold, "Acme 1", T)
    fold.submit(old)
    for i in range(20):  # much later, about other entities
        fold.org(f"org-{i}")
    fold.refuse(old, DuplicateStatementError)
    fold.submit(update(fold, "Acme 2", T + timedelta(seconds=5)))
    fold.refuse(old, OutOfOrderError)  # its hash is no longer kept: it is older than the latest instead
    assert org_name(fold) == "Acme 2"


def test_the_order_mark_keeps_every_statement_of_the_latest_second_only(fold: Fold) -> None:
    fold.org("acme")
    a, b = update(fold, "A", T), update(fold, "B", T)
    fold.submit(a)
    fold.submit(b)
    marks = {m["entity"]: m for m in fold.state.to_json()["latest_signed"]}
    acme = marks["organization:acme"]
    assert acme["signed_at"] == "2099-06-01T12:00:00Z"
    assert set(acme["statements"]) == {statement_hash(envelope.parse(d).payload) for d in (a, b)}
    fold.submit(update(fold, "C", T + timedelta(seconds=1)))
    marks = {m["entity"]: m for m in fold.state.to_json()["latest_signed"]}
    assert list(marks["organization:acme"]["statements"].values()) == [fold.state.size - 1]


# --- the fold's mechanics --------------------------------------------------------------------


def test_fold_of_the_leaves_is_the_state_applied_one_by_one(story: Fold) -> None:
    again = fold_leaves(story.leaves, verify=True)
    assert again.canonical() == story.state.canonical() and again.size == len(story.leaves)
    assert again.hash() == hashlib.sha256(again.canonical()).hexdigest()
    assert fold_leaves(story.leaves[:-1]).hash() != again.hash()


def test_check_decides_without_changing_and_commit_keeps_only_at_its_size(fold: Fold) -> None:
    fold.org("acme")
    before = fold.state.canonical()
    first = fold.state.check(parse_leaf(as_leaf(update(fold, "First", T))), verify=True)
    second = fold.state.check(parse_leaf(as_leaf(update(fold, "Second", T))), verify=True)
    assert fold.state.canonical() == before and first.index == second.index == fold.state.size
    assert first.statement_hash == statement_hash(first.leaf.envelope.payload)
    fold.state.commit(first)
    assert org_name(fold) == "First"
    with pytest.raises(ValueError, match="cannot be kept"):  # decided against a state that moved on
        fold.state.commit(second)
    assert org_name(fold) == "First"


def test_a_skipped_leaf_keeps_the_positions_of_the_next(fold: Fold) -> None:
    fold.org("acme")
    fold.state.skip()  # an audit counts a refused leaf and goes on
    applied = fold.submit(update(fold, "Acme 2", T))
    assert applied.index == 4 and fold.state.size == 5


def test_verify_checks_the_signature_against_the_key_the_state_names(fold: Fold) -> None:
    fold.org("acme")
    env = envelope.parse(update(fold, "Forged", T))
    forged = format_leaf(dataclasses.replace(env, sig=bytes(64)), "2099-06-01T12:00:01Z")
    with pytest.raises(InvalidSignatureError):
        fold.state.apply(forged, verify=True)
    with pytest.raises(InvalidSignatureError):  # a key checked earlier, but not the signer's
        fold.state.check(parse_leaf(forged), verify=True, verified_key=keys.public_bytes(fold.root.key))
    assert org_name(fold) == "Acme Ltd"
    # without verify the fold decides on the rules alone (the caller checked the signature)
    fold.state.apply(forged)
    assert org_name(fold) == "Forged"


def test_a_state_for_one_origin_refuses_another() -> None:
    root = Actor()
    state = RegistryState(origin="other.example/registry")
    with pytest.raises(WrongRegistryError):
        state.apply(as_leaf(root.sign("registry.genesis", name="R", root_key=root.public, origin=ORIGIN)))
    assert state.size == 0


# --- the canonical document ------------------------------------------------------------------


def test_the_document_round_trips_and_the_restored_state_folds_on_alike(story: Fold) -> None:
    half = len(story.leaves) // 2
    original = fold_leaves(story.leaves[:half])
    doc = original.to_json()
    assert (doc["format"], doc["origin"], doc["size"]) == (STATE_FORMAT, ORIGIN, half)
    restored = RegistryState.from_json(doc)
    assert restored.canonical() == original.canonical()
    for leaf in story.leaves[half:]:
        restored.apply(leaf, verify=True)
    assert restored.canonical() == story.state.canonical()
    # what proves "no statement twice" survives the round trip too
    with pytest.raises(DuplicateStatementError):
        restored.apply(story.leaves[-1])


def test_from_json_refuses_another_format(story: Fold) -> None:
    doc = {**story.state.to_json(), "format": "hcoc-registry/state/v1"}
    with pytest.raises(ValueError, match="not a hcoc-registry/state/v2"):
        RegistryState.from_json(doc)


def test_the_document_is_sorted_and_names_every_entity(story: Fold) -> None:
    doc = story.state.to_json()
    assert [o["org"] for o in doc["organizations"]] == ["acme", "beta"]
    assert [k["key_id"] for k in doc["keys"]] == sorted(k["key_id"] for k in doc["keys"])
    assert len(doc["keys"]) == 5  # root, maintainer, acme's two, beta's
    entities = [m["entity"] for m in doc["latest_signed"]]
    assert entities == sorted(entities)
    assert {"registry:registry", f"code:{CODE}", "organization:acme", "organization:beta",
            f"endorsement:acme/{CODE}"} <= set(entities)


def test_describe_and_entity_id_are_inverse(story: Fold) -> None:
    assert len(story.state.aggregates) == 10
    for aggregate_id, aggregate in story.state.aggregates.items():
        assert entity_id(describe(aggregate)) == aggregate_id
    assert entity_id("registry:registry") == maintainers_id()
    assert entity_id(f"endorsement:acme/{CODE}") == endorsement_id("acme", CODE)
    assert {entity_id(f"code:{CODE}"), entity_id("organization:acme"), entity_id("key:" + "0" * 64)} == {
        code_id(CODE), organization_id("acme"), key_aggregate_id("0" * 64)}
    with pytest.raises(ValueError):
        entity_id("thing:acme")
    with pytest.raises(TypeError):
        describe(object())  # type: ignore[arg-type]


# --- a random story ----------------------------------------------------------------------------


def random_statement(fold: Fold, rng: random.Random, orgs: dict[str, list[Actor]], versions: list[str],
                     history: list[bytes]) -> bytes:
    """A statement that the state may or may not accept: any type, any signer, sometimes one already sent."""
    if history and rng.random() < 0.15:
        return rng.choice(history)
    org = rng.choice(list(orgs))
    signer = rng.choice([*orgs[org], fold.maintainer])
    attested = {"evidence": [{"url": "https://e.example/"}]} if signer is fold.maintainer else {}
    common = {"org": org, "code": CODE, "effective_date": "2024-01-01"}
    version, scope = rng.choice([*versions, "2099-01-01"]), rng.choice(["all", [1], [1, 2], [13]])
    match rng.randrange(9):
        case 0:
            return signer.sign("endorsement.made", version=version, scope=scope, **common, **attested)
        case 1:
            return signer.sign("endorsement.amended", scope=scope, **common, **attested)
        case 2:
            return signer.sign("endorsement.reaffirmed", version=version, **common, **attested)
        case 3:
            return signer.sign("endorsement.withdrawn", reason="r", **common, **attested)
        case 4:
            new = Actor()
            orgs[org].append(new)
            return signer.sign("organization.key_added", org=org, public_key=new.public)
        case 5:
            victim = rng.choice(orgs[org])
            return signer.sign("organization.key_revoked", org=org, key_id=victim.key_id, reason="r")
        case 6:
            versions.append(f"{2030 + len(versions)}-01-01")
            return fold.maintainer.sign(
                "code.revision_published", code=CODE, version=versions[-1], title="T", issuer="G7",
                published_on=V1, source_url="https://example.org/c", supersedes=rng.choice(versions[:-1]),
                actions=[{"number": n, "heading": "h"} for n in range(1, rng.choice([1, 2, 12]) + 1)])
        case 7:
            return signer.sign("report.published", org=org, code=CODE, framework="f", period=rng.choice("12"),
                               url="https://r.example/", **attested)
    return fold.maintainer.sign("organization.updated", org=org, name=rng.choice(["A", "B"]))


@pytest.mark.parametrize("seed", [1, 2])
def test_a_random_story_keeps_every_invariant(fold: Fold, seed: int) -> None:
    rng, orgs, versions, history = random.Random(seed), {"acme": [Actor()], "beta": [Actor()]}, [V1], []
    fold.code(V1)
    for slug, actors in orgs.items():
        fold.org(slug, *actors)
    outcomes: set[str] = set()
    for _ in range(250):
        data = random_statement(fold, rng, orgs, versions, history)
        before = fold.state.canonical()
        try:
            fold.submit(data)
        except RegistryError as e:
            outcomes.add(type(e).__name__)
            assert fold.state.canonical() == before, e
            continue
        outcomes.add("accepted")
        history.append(data)
        assert RegistryState.from_json(fold.state.to_json()).canonical() == fold.state.canonical()
    assert fold_leaves(fold.leaves, verify=True).canonical() == fold.state.canonical()
    # the story reached the rules it was meant to
    assert {"accepted", "ConflictError", "DuplicateStatementError", "RevokedKeyError", "RuleError"} <= outcomes
