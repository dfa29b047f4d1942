"""The feed of obligations falling due (feeds.obligations), pure: words, ids and times, read back with feedparser.

The obligations are judged by the core from the hand-made book of tests/test_stances.py: a
framework due on 10 February 2025 that one organization met, one missed and two leave undecided.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import feedparser
import pytest

from feeds import isolate, render_atom, render_rss
from feeds.entries import tag_authority as origin_authority
from feeds.obligations import Due, fell_due, item, obligation_id, page, title
from registry.stances import obligations
from tests.test_bidi import leak
from tests.test_stance_obligations import CODE, STORY, book_of

BASE, OTHER_BASE, ORIGIN = "https://registry.example", "http://127.0.0.1:8000", "registry.example.org/hcoc"
NAMES = {"early": "Early Ltd", "silent": "Silent Corp", "undated": "Undated AG", "monthly": "Monthly SA"}
HOSTILE = '<script>alert(1)</script> \u202eevil'


def due(as_of: str = "2025-03-01", changed_at: datetime | None = None, **names: str) -> Due:
    (only,) = obligations(book_of(STORY), CODE, as_of)
    return Due(only, "Example Code", {**NAMES, **names}, changed_at)


def test_the_title_says_what_fell_due_when_and_how_it_stands() -> None:
    assert title(due()) == (f"{isolate('Example Code')}: '{isolate('Publish a framework')}' fell due on "
                            "10 February 2025: 1 met, 1 missed, 2 undetermined")


def test_the_content_lists_the_organizations_by_verdict_with_reasons() -> None:
    content = item(due(), BASE, ORIGIN).content
    met, missed, undetermined = (content.index(f"\n{label} (") for label in ("Met", "Missed", "Undetermined"))
    assert met < missed < undetermined and "Pending" not in content
    assert f"- {isolate('Early Ltd')}: published 1 June 2024 (log entry 2)" in content
    assert f"- {isolate('Silent Corp')}: no record of it by 10 February 2025" in content
    assert f"- {isolate('Monthly SA')}: published February 2025: the sources give only the month" in content


def test_published_when_its_due_day_ends_updated_when_a_later_record_changed_it() -> None:
    plain = item(due(), BASE, ORIGIN)
    assert plain.recorded_at == datetime(2025, 2, 10, 23, 59, 59, tzinfo=UTC) and plain.updated_at is None
    later = item(due(changed_at=datetime(2025, 4, 1, 12, tzinfo=UTC)), BASE, ORIGIN)
    assert later.recorded_at == plain.recorded_at and later.updated == datetime(2025, 4, 1, 12, tzinfo=UTC)
    earlier = item(due(changed_at=datetime(2024, 6, 2, tzinfo=UTC)), BASE, ORIGIN)
    assert earlier.updated == plain.recorded_at  # recorded before it fell due: due date it is
    assert plain.page_url == f"{BASE}/codes/{CODE}#obligations" and plain.index is None


def test_ids_come_from_the_origin_never_the_base_url() -> None:
    first, second = item(due(), BASE, ORIGIN), item(due(), OTHER_BASE, ORIGIN)
    assert first.entry_id == second.entry_id == (
        "tag:registry.example.org,2023-10-30:log/registry.example.org/hcoc/obligation/example-code/1.0/framework")
    assert first.page_url != second.page_url
    assert page(BASE, ORIGIN, "atom", [due()]).feed_id == page(OTHER_BASE, ORIGIN, "atom", [due()]).feed_id
    assert obligation_id("other.example/log", CODE, "1.0", "framework") != first.entry_id
    # The authority is the origin's host when it is a DNS name, else a fixed one.
    assert origin_authority("Registry.Example.ORG/hcoc") == "registry.example.org"
    assert origin_authority("localhost:8080/hcoc") == origin_authority("\u212aelvin.example") == "hcoc-registry.org"


def test_it_falls_due_when_its_due_day_is_over() -> None:
    (on_the_day,) = obligations(book_of(STORY), CODE, "2025-02-10")
    assert not fell_due(on_the_day, "2025-02-10") and on_the_day.count("pending") > 0
    (after,) = obligations(book_of(STORY), CODE, "2025-02-11")
    assert fell_due(after, "2025-02-11") and after.count("pending") == 0  # the core judges it from then on


@pytest.mark.parametrize("render", [render_atom, render_rss])
def test_the_feed_parses_and_hostile_text_stays_text(render: object) -> None:
    hostile = due(early=HOSTILE)
    hostile = dataclasses.replace(hostile, code_title=HOSTILE)
    other = Due(dataclasses.replace(hostile.obligation, id="second", due="2025-01-31"), "Example Code", NAMES,
                None)
    fmt = "atom" if render is render_atom else "rss"
    document = render(page(BASE, ORIGIN, fmt, [hostile, other]))  # type: ignore[operator]
    parsed = feedparser.parse(document)
    assert not parsed.bozo, parsed.get("bozo_exception")
    # newest due date first, as readers expect
    assert [e.id for e in parsed.entries] == [item(d, BASE, ORIGIN).entry_id for d in (hostile, other)]
    newest = parsed.entries[0]
    assert newest.title == title(hostile) and newest.title.startswith(isolate(HOSTILE) + ": ")
    # No direction change reaches beyond its isolate (the rule every feed is held to in tests/test_bidi.py).
    assert leak(newest.title) is None and leak(newest.summary) is None
    assert leak(item(hostile, BASE, ORIGIN).content) is None
    assert newest.link == f"{BASE}/codes/{CODE}#obligations"
    if render is render_atom:  # text content: the words exactly
        assert isolate(HOSTILE) in newest.content[0].value
    else:  # the RSS description is HTML: the markup in it is escaped, so it shows as text
        assert isolate(HOSTILE.replace("<", "&lt;").replace(">", "&gt;")) in newest.summary
        assert "<script>" not in newest.summary
