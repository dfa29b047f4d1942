"""Read models: incremental catch-up equals a rebuild; replay at every size equals what they held."""

from __future__ import annotations

import json

import pytest

from registry.state import fold
from registry.views import ReadModels, open_read_models
from tests.conftest import Actor, Backend, World


@pytest.fixture
def views(backend: Backend, world: World) -> ReadModels:
    return open_read_models(backend.settings(), world.registry, snapshot_every=4)


def story(world: World) -> list[Actor]:
    acme, beta = Actor(), Actor()
    world.code()
    world.org("acme", acme)
    world.org("beta", beta)
    world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc", version="2023-10-30",
                           scope=[1, 2, 3], effective_date="2024-02-01"))
    world.submit(acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope="all",
                           effective_date="2024-03-01"))
    world.code(version="2025-01-15", supersedes="2023-10-30", actions=12)
    world.submit(beta.sign("endorsement.made", org="beta", code="hiroshima-coc", version="2025-01-15",
                           scope=[12], effective_date="2025-02-01"))
    world.submit(acme.sign("report.published", org="acme", code="hiroshima-coc", framework="oecd-haip",
                           period="2025", url="https://example.org/acme-report"))
    world.submit(acme.sign("endorsement.withdrawn", org="acme", code="hiroshima-coc", reason="Policy review.",
                           effective_date="2026-01-01"))
    return [acme, beta]


def test_replay_to_every_size_equals_what_the_read_models_held(world: World, views: ReadModels) -> None:
    held = {}
    size = views.catch_up()
    held[size] = views.state().canonical()
    acme, beta = Actor(), Actor()
    steps = [
        lambda: world.code(),
        lambda: world.org("acme", acme),
        lambda: world.org("beta", beta),
        lambda: world.submit(acme.sign("endorsement.made", org="acme", code="hiroshima-coc",
                                       version="2023-10-30", scope=[1], effective_date="2024-02-01")),
        lambda: world.submit(acme.sign("endorsement.amended", org="acme", code="hiroshima-coc", scope="all",
                                       effective_date="2024-03-01")),
        lambda: world.code(version="2025-01-15", supersedes="2023-10-30", actions=12),
        lambda: world.submit(acme.sign("endorsement.withdrawn", org="acme", code="hiroshima-coc", reason="r",
                                       effective_date="2026-01-01")),
    ]
    for step in steps:
        step()
        size = views.catch_up()
        held[size] = views.state().canonical()
    for size, expected in held.items():
        assert views.state_at(size).canonical() == expected
        assert fold(world.registry.leaves(0, size)).canonical() == expected


def test_rebuild_is_byte_identical_to_incremental(world: World, views: ReadModels) -> None:
    story(world)
    views.catch_up(batch=1)
    incremental = (views.store.entities(), [json.dumps(e) for e in views.iter_all_events()],
                   views.state().canonical())
    snapshots = [views.store.snapshot_at_or_before(n) for n in range(world.registry.size() + 1)]
    assert views.rebuild() == world.registry.size()
    rebuilt = (views.store.entities(), [json.dumps(e) for e in views.iter_all_events()], views.state().canonical())
    assert rebuilt == incremental
    assert [views.store.snapshot_at_or_before(n) for n in range(world.registry.size() + 1)] == snapshots


def test_queries(world: World, views: ReadModels) -> None:
    story(world)
    views.catch_up()
    state = views.state().to_json()
    ends = {(e["org"], e["code"]): e for e in state["endorsements"]}
    assert ends[("beta", "hiroshima-coc")]["flags"]["superseded_version"] is False
    assert ends[("acme", "hiroshima-coc")]["status"] == "withdrawn"
    timeline = views.events(org="acme")
    assert [e["type"] for e in timeline] == ["organization.registered", "endorsement.made", "endorsement.amended",
                                             "report.published", "endorsement.withdrawn"]
    assert timeline[1]["attested"] is False and timeline[1]["version"] == "2023-10-30"
    assert timeline[-1]["version"] == "2023-10-30"  # a withdrawal names the version it ended
    # Several organizations in one query (a feed page's name lookups); none given matches nothing.
    registered = views.events(orgs=["beta", "acme", "nobody"], types=["organization.registered"])
    assert [e["org"] for e in registered] == ["acme", "beta"]
    assert [e["org"] for e in views.events(orgs=["beta"], limit=100)] == ["beta", "beta"]
    assert views.events(orgs=[], limit=100) == []
    withdrawals = views.events(types=["endorsement.withdrawn"])
    assert [e["org"] for e in withdrawals] == ["acme"]
    newest = views.events(descending=True, limit=2)
    assert [e["index"] for e in newest] == [world.registry.size() - 1, world.registry.size() - 2]
    page = views.events(after=3, limit=2)
    assert [e["index"] for e in page] == [4, 5]
    counts = views.store.counts_by_month()
    assert sum(n for _, _, n in counts) == world.registry.size()
    assert views.store.size_until("1999-01-01T00:00:00Z") == 0
    assert views.store.size_until("2999-01-01T00:00:00Z") == world.registry.size()


def test_two_catch_ups_racing_write_each_leaf_once(backend: Backend, world: World, views: ReadModels) -> None:
    story(world)
    other = open_read_models(backend.settings(), world.registry, snapshot_every=4)
    views.catch_up(batch=2)
    assert other.catch_up(batch=3) == world.registry.size()
    assert len(list(other.iter_all_events())) == world.registry.size()
    assert other.state().canonical() == fold(world.registry.leaves()).canonical()


def test_read_models_of_an_older_release_are_rebuilt_once(backend: Backend, world: World) -> None:
    """Event documents without the leaf digest (as an older release wrote them) are rebuilt, not served."""
    import hashlib

    story(world)
    views = open_read_models(backend.settings(), world.registry)
    size = views.catch_up()
    with views.store.datastore.transaction(commit=True) as c:  # what an older release stored
        for index, doc in [(r[0], r[7]) for r in views.store.event_rows(-1, 1000)]:
            old = {k: v for k, v in json.loads(doc).items() if k != "leaf_sha256"}
            c.execute(views.store._q("UPDATE {t}view_events SET doc = %s WHERE idx = %s"),
                      (json.dumps(old).encode(), index))
    views.store.datastore.close()
    probe = open_read_models(backend.settings(), world.registry)
    assert probe.store.is_outdated()
    probe.store.datastore.close()

    reopened = open_read_models(backend.settings(), world.registry)
    assert reopened.catch_up() == size
    assert not reopened.store.is_outdated()
    leaves = list(world.registry.leaves(0, size))
    docs = reopened.events(limit=size)
    assert [d["leaf_sha256"] for d in docs] == [hashlib.sha256(leaf).hexdigest() for leaf in leaves]
