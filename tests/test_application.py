"""The Registry application on SQLite and PostgreSQL: a whole lifecycle, then every refusal."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from registry import compose, envelope, errors
from registry.leaf import parse_leaf
from registry.state import fold
from registry.times import format_time
from tests.conftest import ORIGIN, Actor, World


def stored_count(world: World) -> int:
    return world.registry.recorder.max_notification_id() or 0


def test_lifecycle_self_signed_and_attested(world: World) -> None:
    acme = Actor()
    # 1. a maintainer publishes the Code and registers the organization with its key
    world.code()
    world.org("acme", acme)
    # 2. the organization endorses actions 1-3 with its own key
    made = world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                                  scope=[1, 2, 3], statement="We commit.", effective_date="2024-02-01"))
    assert made.type == "endorsement.made" and not made.duplicate
    # 3. it amends to all actions
    world.submit(acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope="all",
                           effective_date="2024-03-01"))
    # 4. a maintainer publishes a new version; the organization reaffirms under it
    world.code(version="2025-01-15", supersedes="2023-10-30", actions=12)
    world.submit(acme.sign("endorsement.reaffirmed", org="acme", code="hiroshima-coc", version="2025-01-15",
                           effective_date="2025-02-01"))
    # 5. another organization's endorsement is attested by a maintainer, with evidence
    world.org("beta")
    world.submit(world.maintainer.sign(
        "endorsement.made", org="beta", code="hiroshima-coc", version="2023-10-30", scope="all",
        effective_date="2024-01-31", evidence=[{"url": "https://news.example/beta-signs"}],
    ))
    # 6. the organization withdraws with a reason
    withdrawn = world.submit(acme.sign("endorsement.withdrawn", org="acme", code="hiroshima-coc",
                                       reason="Merged into a group policy.", effective_date="2026-01-01"))
    # Check the state, rebuilt from the log alone.
    state = fold(world.registry.leaves(), verify=True).to_json()
    assert state["size"] == withdrawn.index + 1 == world.registry.size()
    ends = {(e["org"], e["code"]): e for e in state["endorsements"]}
    acme_e, beta_e = ends[("acme", "hiroshima-coc")], ends[("beta", "hiroshima-coc")]
    assert acme_e["status"] == "withdrawn" and acme_e["version"] == "2025-01-15" and acme_e["scope"] == "all"
    assert acme_e["endorsed_on"] == "2024-02-01" and acme_e["since_index"] == made.index
    assert acme_e["last"]["type"] == "endorsement.withdrawn" and acme_e["effective_date"] == "2026-01-01"
    assert acme_e["attested"] is False and acme_e["last"]["reason"] == "Merged into a group policy."
    assert beta_e["status"] == "active" and beta_e["attested"] is True
    assert beta_e["last"]["evidence"] == [{"url": "https://news.example/beta-signs"}]
    # the endorsement's whole timeline is in the log
    acme_types = [s["type"] for s in (parse_leaf(x).envelope.statement() for x in world.registry.leaves())
                  if s.get("org") == "acme" and s["type"].startswith("endorsement.")]
    assert acme_types == ["endorsement.made", "endorsement.amended", "endorsement.reaffirmed",
                          "endorsement.withdrawn"]
    # Check the log order is exactly the submission order, leaf by leaf.
    types = [parse_leaf(leaf).envelope.statement()["type"] for leaf in world.registry.leaves()]
    assert types[:2] == ["registry.genesis", "maintainer.key_added"] and types[-1] == "endorsement.withdrawn"


@pytest.fixture
def endorsed(world: World) -> tuple[World, Actor]:
    acme = Actor()
    world.code()
    world.org("acme", acme)
    world.org("other", Actor())
    world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                           scope="all", effective_date="2024-02-01"))
    return world, acme


def refused(world: World, data: bytes, error: type[errors.RegistryError]) -> errors.RegistryError:
    size, count = world.registry.size(), stored_count(world)
    with pytest.raises(error) as caught:
        world.submit(data)
    assert world.registry.size() == size, "the log grew on a refusal"
    assert stored_count(world) == count, "events were stored on a refusal"
    assert caught.value.message
    return caught.value


def test_forged_signature(endorsed: tuple[World, Actor]) -> None:
    world, acme = endorsed
    good = json.loads(acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope=[1],
                                effective_date="2024-05-01"))
    sig = bytearray(base64.b64decode(good["signatures"][0]["sig"]))
    sig[0] ^= 1
    good["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    refused(world, json.dumps(good).encode(), errors.InvalidSignatureError)
    # A payload changed after signing is a forgery too.
    other = json.loads(acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope=[2],
                                 effective_date="2024-05-01"))
    stmt = json.loads(base64.b64decode(other["payload"]))
    stmt["scope"] = [2, 3]
    other["payload"] = base64.b64encode(envelope.canonical.dumps(stmt)).decode()
    refused(world, json.dumps(other).encode(), errors.InvalidSignatureError)


def test_unknown_and_revoked_and_foreign_keys(endorsed: tuple[World, Actor]) -> None:
    world, acme = endorsed
    stranger = Actor()
    refused(world, stranger.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope=[1],
                                 effective_date="2024-05-01"), errors.UnknownKeyError)
    # a key of another organization
    other = Actor()
    world.submit(world.maintainer.sign("organization.key_added", org="other", public_key=other.public))
    e = refused(world, other.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope=[1],
                                  effective_date="2024-05-01"), errors.UnauthorizedSignerError)
    assert "other" in e.message
    # revoked: acme rotates, then the old key is refused; what it signed before stays
    new = Actor()
    world.submit(acme.sign("organization.key_added", org="acme", public_key=new.public))
    world.submit(new.sign("organization.key_revoked", org="acme", key_id=acme.key_id, reason="rotated"))
    refused(world, acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope=[1],
                             effective_date="2024-05-01"), errors.RevokedKeyError)
    world.submit(new.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope=[1],
                          effective_date="2024-05-01"))
    fold(world.registry.leaves(), verify=True)  # earlier statements by the revoked key still verify


def test_role_origin_and_time_rules(endorsed: tuple[World, Actor]) -> None:
    world, acme = endorsed
    # a maintainer-only statement signed by an organization
    refused(world, acme.sign("organization.updated", org="acme", name="Acme Renamed"),
            errors.UnauthorizedSignerError)
    refused(world, acme.sign("code.revision_published", code="x", version="1", title="t", issuer="i",
                             published_on="2024-01-01", source_url="https://x.example/", text_sha256="00" * 32,
                             actions=[{"number": 1, "heading": "h"}], supersedes=None),
            errors.UnauthorizedSignerError)
    # an attested record without evidence
    refused(world, world.maintainer.sign("endorsement.withdrawn", org="acme", code="hiroshima-coc",
                                         reason="r", effective_date="2024-05-01"), errors.InvalidStatementError)
    # the wrong registry origin (replay from another registry)
    refused(world, acme.sign("endorsement.amended", origin="other.example/registry", org="acme",
                             code="hiroshima-coc", scope=[1], effective_date="2024-05-01"),
            errors.WrongRegistryError)
    # stale and future signed_at
    old = datetime.now(UTC) - timedelta(days=2)
    stale = envelope.sign(compose.statement("endorsement.amended", ORIGIN, now=old, org="acme", code="hiroshima-coc",
                                            scope=[1], effective_date="2024-05-01"), acme.key).canonical
    refused(world, stale, errors.StaleStatementError)
    future = datetime.now(UTC) + timedelta(hours=2)
    ahead = envelope.sign(compose.statement("endorsement.amended", ORIGIN, now=future, org="acme",
                                            code="hiroshima-coc", scope=[1], effective_date="2024-05-01"),
                          acme.key).canonical
    refused(world, ahead, errors.StaleStatementError)


def test_idempotent_resubmission(endorsed: tuple[World, Actor]) -> None:
    world, acme = endorsed
    data = acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope=[4],
                     effective_date="2024-05-01")
    first = world.submit(data)
    size, count = world.registry.size(), stored_count(world)
    # the same envelope again, also re-serialized with other whitespace and key order
    again = world.submit(data)
    reformatted = json.dumps(json.loads(data), indent=2, sort_keys=False).encode()
    third = world.submit(reformatted)
    assert again.duplicate and third.duplicate
    assert (again.index, again.envelope_hash) == (third.index, third.envelope_hash) == (first.index,
                                                                                        first.envelope_hash)
    assert world.registry.size() == size and stored_count(world) == count


def test_subject_and_rule_refusals(endorsed: tuple[World, Actor]) -> None:
    world, acme = endorsed
    m = world.maintainer
    ev = [{"url": "https://example.org/e"}]
    refused(world, m.sign("endorsement.made", org="ghost", code="hiroshima-coc", version="2023-10-30",
                          scope="all", effective_date="2024-01-01", evidence=ev), errors.UnknownSubjectError)
    refused(world, m.sign("endorsement.made", org="other", code="hiroshima-coc", version="1999-01-01",
                          scope="all", effective_date="2024-01-01", evidence=ev), errors.UnknownSubjectError)
    refused(world, m.sign("endorsement.made", org="other", code="no-such-code", version="2023-10-30",
                          scope="all", effective_date="2024-01-01", evidence=ev), errors.UnknownSubjectError)
    e = refused(world, m.sign("endorsement.made", org="other", code="hiroshima-coc", version="2023-10-30",
                              scope=[1, 12], effective_date="2024-01-01", evidence=ev), errors.RuleError)
    assert "12" in e.message
    refused(world, acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                             scope="all", effective_date="2024-01-01"), errors.ConflictError)
    refused(world, m.sign("endorsement.withdrawn", org="other", code="hiroshima-coc", reason="none",
                          effective_date="2024-01-01", evidence=ev), errors.ConflictError)
    refused(world, m.sign("organization.registered", org="acme", name="Acme again", country="JP", kind="company",
                          public_keys=[]), errors.ConflictError)
    refused(world, world.root.sign("registry.genesis", name="again", root_key=world.root.public),
            errors.ConflictError)


@pytest.mark.parametrize("payload,error", [
    (b"{not json", errors.MalformedError),
    (b"[]", errors.MalformedError),
    (b'{"payload": 1, "payloadType": "x", "signatures": []}', errors.MalformedError),
    (b"\xff\xfe", errors.MalformedError),
    (b"{" + b'"a":' * 40 + b"1" + b"}" * 40, errors.MalformedError),
    (b" " * (envelope.MAX_ENVELOPE_BYTES + 1), errors.TooLargeError),
])
def test_malformed_envelopes(endorsed: tuple[World, Actor], payload: bytes, error: type) -> None:
    world, _ = endorsed
    refused(world, payload, error)


@pytest.mark.parametrize("change,error", [
    ({"scope": "1,2"}, errors.InvalidStatementError),        # wrong type
    ({"scope": [True]}, errors.InvalidStatementError),       # bool is not an int
    ({"colour": "blue"}, errors.InvalidStatementError),      # unknown field
    ({"statement": "x" * 5001}, errors.InvalidStatementError),  # too long
    ({"statement": "bell\x07"}, errors.InvalidStatementError),  # control character
    ({"org": "Acme\x1b[31m"}, errors.InvalidStatementError),
    ({"statement": "y" * 20000}, errors.TooLargeError),      # oversized statement
])
def test_bad_statements(endorsed: tuple[World, Actor], change: dict, error: type) -> None:
    world, acme = endorsed
    stmt = compose.statement("endorsement.amended", ORIGIN, org="acme", code="hiroshima-coc", scope=[1],
                             effective_date="2024-05-01")
    stmt.update(change)
    if error is errors.TooLargeError:
        with pytest.raises(errors.TooLargeError):
            envelope.sign(stmt, acme.key)
        payload = envelope.canonical.dumps(stmt)
        data = json.dumps({"payload": base64.b64encode(payload).decode(), "payloadType": envelope.PAYLOAD_TYPE,
                           "signatures": [{"keyid": acme.key_id, "sig": base64.b64encode(b"0" * 64).decode()}]})
        refused(world, data.encode(), errors.TooLargeError)
        return
    refused(world, envelope.sign(stmt, acme.key).canonical, error)


def test_restart_keeps_everything(backend, world: World) -> None:
    world.code()
    size = world.registry.size()
    state_hash = fold(world.registry.leaves()).hash()
    reopened = backend.open()
    try:
        assert reopened.size() == size
        assert fold(reopened.leaves()).hash() == state_hash
        # a new process validates against the stored state (no duplicate Code version)
        with pytest.raises(errors.ConflictError):
            reopened.submit(world.maintainer.sign(
                "code.revision_published", code="hiroshima-coc", version="2023-10-30", title="t", issuer="i",
                published_on="2023-10-30", source_url="https://example.org/", text_sha256="ab" * 32,
                actions=[{"number": 1, "heading": "h"}], supersedes=None))
    finally:
        reopened.close()


def test_recorded_at_is_the_registry_clock(world: World) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stmt = compose.statement("organization.registered", ORIGIN, now=moment, org="zed", name="Zed", country="DE",
                             kind="academia", public_keys=[])
    rec = world.registry.submit(envelope.sign(stmt, world.maintainer.key).canonical, now=moment)
    assert rec.recorded_at == format_time(moment) == "2026-01-02T03:04:05Z"


def test_a_fresh_process_checks_what_it_has_not_seen(backend, world: World) -> None:
    # A new process assumes unseen aggregates absent on its first attempt; each rule must still hold.
    acme = Actor()
    world.code()
    world.org("acme", acme)
    world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                           scope=[1], effective_date="2024-01-01"))
    for attempt in range(4):
        fresh = backend.open()
        try:
            size, count = fresh.size(), fresh.recorder.max_notification_id()
            if attempt == 0:  # registering an existing organization: refused, nothing stored
                with pytest.raises(errors.ConflictError):
                    fresh.submit(world.maintainer.sign("organization.registered", org="acme", name="Again",
                                                       country="JP", kind="company", public_keys=[]))
                assert (fresh.size(), fresh.recorder.max_notification_id()) == (size, count)
            elif attempt == 1:  # amending an endorsement this process never loaded: accepted
                fresh.submit(acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope="all",
                                       effective_date="2024-02-01"))
            elif attempt == 2:  # endorsing twice: refused
                with pytest.raises(errors.ConflictError):
                    fresh.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc",
                                           version="2023-10-30", scope=[1], effective_date="2024-01-01"))
            else:  # a key already registered to acme cannot be added again, to acme or anyone
                with pytest.raises(errors.ConflictError):
                    fresh.submit(world.maintainer.sign("organization.key_added", org="acme", public_key=acme.public))
        finally:
            fresh.close()
    assert fold(world.registry.leaves(), verify=True).size == world.registry.size()


def test_key_proofs_are_for_keys_the_statement_adds(endorsed: tuple[World, Actor]) -> None:
    world, acme = endorsed
    new, other = Actor(), Actor()
    proof = {"key_id": new.key_id, "url": "https://acme.example/.well-known/hcoc-registry-keys",
             "fetched_at": "2024-01-01T00:00:00Z", "sha256": "ab" * 32}
    # A proof naming a key the statement does not add: refused, naming the field, and nothing stored.
    error = refused(world, acme.sign("organization.key_added", org="acme", public_key=other.public,
                                     key_proofs=[proof]), errors.InvalidStatementError)
    assert error.message == "key_proofs.0.key_id: not the id of a key this statement adds"
    error = refused(world, world.maintainer.sign("organization.registered", org="newco", name="NewCo", country="JP",
                                                 kind="company", public_keys=[other.public], key_proofs=[proof]),
                    errors.InvalidStatementError)
    assert error.message == "key_proofs.0.key_id: not the id of a key this statement adds"
    # For the key it adds, a proof (and a maintainer's evidence) is recorded as signed.
    recorded = world.submit(world.maintainer.sign("organization.key_added", org="acme", public_key=new.public,
                                                  key_proofs=[proof], evidence=[{"url": "https://acme.example/"}]))
    stmt = parse_leaf(world.registry.leaf(recorded.index)).envelope.statement()
    assert stmt["key_proofs"] == [proof] and stmt["evidence"] == [{"url": "https://acme.example/"}]
