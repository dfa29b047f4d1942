"""The aggregates (registry.domain) on their own: commands check, events only assign, replay rebuilds.

No rules module, no fold, no store: each aggregate is created and commanded
directly, its events are replayed into a fresh copy, and its canonical state
goes through ``to_state`` / ``from_state``.
"""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

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
    statement_hint_id,
)
from registry.errors import ConflictError, RuleError, UnknownSubjectError

AT = "2025-01-01T00:00:00Z"
ACTIONS = [{"number": n, "heading": f"Action {n}"} for n in range(1, 4)]


def revision(version: str, supersedes: str | None = None, actions: list[dict[str, Any]] = ACTIONS) -> dict[str, Any]:
    return {"version": version, "supersedes": supersedes, "title": "Code", "actions": actions}


def record(index: int, effective_date: str = "2024-02-01", attested: bool = False, **extra: Any) -> dict[str, Any]:
    return {"index": index, "recorded_at": AT, "effective_date": effective_date, "attested": attested, **extra}


def replayed(aggregate: Aggregate) -> Any:
    """The aggregate rebuilt from its own events (what the event store does on every load)."""
    rebuilt = None
    for event in aggregate.collect_events():
        rebuilt = event.mutate(rebuilt)
    return rebuilt


# --- ids -------------------------------------------------------------------------------------


def test_ids_are_stable_uuid5s_of_natural_keys_and_never_collide_across_kinds() -> None:
    assert organization_id("acme") == Organization.create_id("acme") == organization_id("acme")
    assert code_id("x") == Code.create_id("x") and key_aggregate_id("x") == Key.create_id("x")
    assert endorsement_id("a", "b") == Endorsement.create_id("a", "b") and maintainers_id() == Maintainers.create_id()
    ids = {organization_id("x"), code_id("x"), key_aggregate_id("x"), endorsement_id("x", "x"), maintainers_id(),
           statement_hint_id("x")}
    assert len(ids) == 6 and all(i.version == 5 for i in ids)
    assert endorsement_id("a-b", "c") != endorsement_id("a", "b-c")
    assert str(organization_id("acme")) == "49488320-2813-56a6-b5ad-0470d5d7c723"  # stored: must never change


# --- Code ------------------------------------------------------------------------------------


def test_code_versions_and_their_order() -> None:
    code = Code(code="hcoc")
    assert code.latest is None
    code.publish(revision("v1"), 3, AT)
    code.publish(revision("v2", "v1", ACTIONS[:2]), 7, AT)
    assert [v["version"] for v in code.versions] == ["v1", "v2"] and code.latest == code.versions[-1]
    assert (code.position("v1"), code.position("v2"), code.has_version("v3")) == (0, 1, False)
    assert code.find_version("v2")["index"] == 7 and code.find_version("v2")["recorded_at"] == AT
    with pytest.raises(UnknownSubjectError, match="no version 'v3'"):
        code.find_version("v3")


def test_code_publish_refuses_a_broken_chain_before_any_event() -> None:
    code = Code(code="hcoc")
    code.publish(revision("v1"), 3, AT)
    pending = len(code.collect_events())
    for bad, error in ((revision("v1"), ConflictError), (revision("v2"), RuleError),
                       (revision("v2", "v0"), UnknownSubjectError)):
        with pytest.raises(error):
            code.publish(bad, 9, AT)
    assert code.collect_events() == [] and pending == 2
    assert [v["version"] for v in code.versions] == ["v1"]


def test_check_scope() -> None:
    code = Code(code="hcoc")
    code.publish(revision("v1"), 3, AT)
    code.check_scope("v1", "all")
    code.check_scope("v1", [1, 3])
    with pytest.raises(RuleError, match=r"no action\(s\) \[4, 9\]"):
        code.check_scope("v1", [1, 4, 9])
    with pytest.raises(UnknownSubjectError):
        code.check_scope("v9", "all")


# --- Endorsement: the state machine ----------------------------------------------------------


def test_endorsement_lifecycle() -> None:
    e = Endorsement(org="acme", code="hcoc")
    assert (e.status, e.active, e.last) == ("none", False, None)
    e.make("v1", [1, 2], record(5, statement="We endorse."))
    assert (e.status, e.code_version, e.scope, e.statement, e.since_index, e.endorsed_on) == (
        "active", "v1", [1, 2], "We endorse.", 5, "2024-02-01")
    e.amend(None, record(6, "2024-03-01", attested=True))
    assert (e.scope, e.statement, e.attested, e.effective_date) == ([1, 2], "We endorse.", True, "2024-03-01")
    e.reaffirm("v2", "all", record(7, "2024-04-01", statement="Still."))
    assert (e.code_version, e.scope, e.statement, e.since_index, e.endorsed_on) == (
        "v2", "all", "Still.", 5, "2024-02-01")  # a reaffirmation keeps the endorsement's start
    e.withdraw(record(8, "2024-05-01", reason="Stopped."))
    assert (e.status, e.active, e.last["type"], e.last["reason"]) == ("withdrawn", False, "endorsement.withdrawn",
                                                                      "Stopped.")
    e.decline("v2", record(9, "2024-06-01", attested=True))
    assert (e.status, e.code_version, e.scope, e.statement) == ("declined", "v2", None, None)
    e.make("v2", [3], record(10, "2024-07-01"))
    assert (e.status, e.since_index, e.endorsed_on, e.last["index"]) == ("active", 10, "2024-07-01", 10)


@pytest.mark.parametrize("command", ["amend", "reaffirm", "withdraw"])
def test_only_an_active_endorsement_is_amended_reaffirmed_or_withdrawn(command: str) -> None:
    e = Endorsement(org="acme", code="hcoc")
    calls = {"amend": lambda: e.amend([1], record(2)), "reaffirm": lambda: e.reaffirm("v2", None, record(2)),
             "withdraw": lambda: e.withdraw(record(2))}
    with pytest.raises(ConflictError, match="no active endorsement"):
        calls[command]()
    e.make("v1", "all", record(1))
    e.withdraw(record(2))
    with pytest.raises(ConflictError, match="no active endorsement"):
        calls[command]()


def test_an_active_endorsement_is_not_made_again_declined_or_reaffirmed_to_its_own_version() -> None:
    e = Endorsement(org="acme", code="hcoc")
    e.make("v1", "all", record(1))
    events = len(e.collect_events())
    with pytest.raises(ConflictError, match="already endorses"):
        e.make("v2", "all", record(2))
    with pytest.raises(ConflictError, match="withdraw before"):
        e.decline("v1", record(2))
    with pytest.raises(ConflictError, match="already for version"):
        e.reaffirm("v1", None, record(2))
    assert e.collect_events() == [] and events == 2 and e.last == {"type": "endorsement.made", **record(1)}


# --- Key, Organization, Maintainers ------------------------------------------------------------


def test_a_key_is_revoked_once() -> None:
    key = Key(key_id="k" * 64, public_key="pk", role="organization", org="acme", label="Acme", index=2, at=AT)
    assert not key.revoked
    key.revoke("rotated", 9, "2025-02-01T00:00:00Z")
    assert (key.revoked, key.revoked_index, key.revoked_at, key.revoked_reason) == (
        True, 9, "2025-02-01T00:00:00Z", "rotated")
    with pytest.raises(ConflictError, match="already revoked"):
        key.revoke("again", 10, AT)
    assert key.revoked_index == 9


def test_an_organization_merges_updates_and_refuses_the_same_report_twice() -> None:
    org = Organization(org="acme", profile={"name": "Acme", "country": "JP", "kind": "company"}, index=2, at=AT)
    org.update({"name": "Acme Group", "website": "https://acme.example/"}, 3, AT)
    assert org.profile == {"name": "Acme Group", "country": "JP", "kind": "company",
                           "website": "https://acme.example/"}
    report = {"code": "hcoc", "framework": "oecd-haip", "period": "2025", "url": "https://acme.example/r.pdf"}
    org.publish_report(report, 4, AT)
    with pytest.raises(ConflictError, match="leaf 4"):
        org.publish_report({**report, "title": "Same report, other words"}, 5, AT)
    org.publish_report({**report, "url": "https://acme.example/r2.pdf"}, 6, AT)
    assert [r["index"] for r in org.reports] == [4, 6]


# --- events: explicit topics, replay, canonical state -----------------------------------------


def story() -> list[Aggregate]:
    maintainers = Maintainers(name="Registry", root_key_id="r" * 64, index=0)
    maintainers.add_key("m" * 64, 1)
    key = Key(key_id="k" * 64, public_key="pk", role="organization", org="acme", label="Acme", index=3, at=AT)
    key.revoke("rotated", 9, AT)
    code = Code(code="hcoc")
    code.publish(revision("v1"), 2, AT)
    code.publish(revision("v2", "v1"), 8, AT)
    org = Organization(org="acme", profile={"name": "Acme", "country": "JP", "kind": "company", "website": None,
                                            "note": None, "evidence": None}, index=3, at=AT)
    org.add_key("k" * 64, 3)
    org.update({"name": "Acme Group"}, 4, AT)
    org.publish_report({"code": "hcoc", "framework": "f", "period": "2025", "url": "https://a.example/"}, 5, AT)
    endorsement = Endorsement(org="acme", code="hcoc")
    endorsement.make("v1", [1], record(6))
    endorsement.amend([1, 2], record(7, statement="More."))
    endorsement.reaffirm("v2", None, record(10))
    endorsement.withdraw(record(11))
    endorsement.decline("v2", record(12, attested=True))
    return [maintainers, key, code, org, endorsement]


def test_every_event_has_an_explicit_stored_topic() -> None:
    for aggregate in story():
        name = type(aggregate).__name__
        assert get_topic(type(aggregate)) == f"registry:{name}"
        for event in aggregate.collect_events():
            topic = get_topic(type(event))
            assert topic == f"registry:{name}.{type(event).__name__}", topic
            assert resolve_topic(topic) is type(event)


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    for aggregate in story():
        state = aggregate.to_state()
        rebuilt = replayed(aggregate)
        assert (rebuilt.id, rebuilt.version, rebuilt.to_state()) == (aggregate.id, aggregate.version, state)


def test_to_state_and_from_state_round_trip_with_the_natural_key_id() -> None:
    for aggregate in story():
        restored = type(aggregate).from_state(aggregate.to_state())
        assert restored.id == aggregate.id and restored.to_state() == aggregate.to_state()
        assert restored.collect_events() == []  # rebuilt for the fold: no history to save
