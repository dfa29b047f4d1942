"""Who stands where on a Code (web.standings), from a hand-made book of stances: pure, no store.

A Code with three named chapters; organizations that endorse all of it, one chapter, two chapters
then one (a narrowing), that decline, withdraw, or only report. The groups, the per-chapter
coverage and the counts are checked against the story.
"""

from __future__ import annotations

from typing import Any

from registry.stances import StanceBook
from registry.wording import Names
from web.standings import GROUPS, coverage, covers, group_key, groups, item_counts

CODE, VERSION = "gpai", "1.0"
NAMES = {"all": "Zeta Full", "one": "Alpha Only", "narrow": "Narrow Co", "no": "Declining Ltd",
         "gone": "Gone Inc", "rep": "Reporter"}


def doc(index: int, type_: str, org: str | None = None, **statement: Any) -> dict[str, Any]:
    return {"index": index, "type": type_, "org": org, "code": CODE, "version": statement.get("version"),
            "attested": True, "statement": {"type": type_, "code": CODE, **({"org": org} if org else {}),
                                            **statement}}


def made(index: int, org: str, scope: Any, date: str | None = "2025-08-01") -> dict[str, Any]:
    return doc(index, "endorsement.made", org, version=VERSION, scope=scope, effective_date=date)


STORY = [
    doc(0, "code.revision_published", version=VERSION, title="General-Purpose AI Code", short_title="GPAI Code",
        action_noun="chapter", actions=[{"number": 1, "heading": "Transparency: ...", "name": "Transparency"},
                                        {"number": 2, "heading": "Copyright: ...", "name": "Copyright"},
                                        {"number": 3, "heading": "Safety: ...", "name": "Safety"}]),
    made(1, "all", "all"),
    made(2, "one", [3], date=None),
    made(3, "narrow", [1, 2]),
    doc(4, "endorsement.amended", "narrow", scope=[1], effective_date="2025-09",
        evidence=[{"url": "https://news.example/n", "source": "secondary"}], date_note="The month only."),
    doc(5, "endorsement.declined", "no", version=VERSION, effective_date="2025-07-18",
        evidence=[{"url": "https://news.example/d"}]),
    made(6, "gone", "all"),
    doc(7, "endorsement.withdrawn", "gone", reason="Left.", effective_date="2025-10-01"),
    doc(8, "report.published", "rep", framework="f"),
]


def state() -> dict[str, Any]:
    """The least of a state document that Names reads."""
    return {"organizations": [{"org": slug, "name": name} for slug, name in NAMES.items()],
            "codes": [{"code": CODE, "versions": [{**STORY[0]["statement"], "index": 0}]}]}


BOOK = StanceBook().extended(STORY)
WORDS = Names.of(state())


def test_groups_in_order_by_name_with_what_exactly() -> None:
    found = {g.key: g for g in groups(BOOK, WORDS, CODE)}
    assert list(found) == [key for key, _ in GROUPS]
    assert [(r.org, r.detail) for r in found["endorsed"].rows] == [("all", "")]
    assert [(r.org, r.detail) for r in found["partial"].rows] == [("one", "chapter 3 (Safety)")]
    assert [(r.org, r.detail) for r in found["narrowed"].rows] == [
        ("narrow", "removed chapter 2 (Copyright); now chapter 1 (Transparency)")]
    assert [r.org for r in found["declined"].rows] == ["no"]
    assert [r.org for r in found["withdrawn"].rows] == ["gone"]
    assert [r.org for r in found["reported"].rows] == ["rep"]
    # The row carries the record that set the stance, its date and marks.
    narrow = found["narrowed"].rows[0].stance
    assert (narrow.index, narrow.date, narrow.secondary, narrow.uncertain) == (4, "2025-09", True, True)
    assert found["partial"].rows[0].stance.date is None
    assert group_key(narrow) == "narrowed" and group_key(BOOK.stance("one", CODE)) == "partial"


def test_a_version_keeps_only_the_stances_that_name_it() -> None:
    assert [r.org for g in groups(BOOK, WORDS, CODE, "0.9") for r in g.rows] == []
    # Reports name no version: left out of a version's page.
    assert "rep" not in [r.org for g in groups(BOOK, WORDS, CODE, VERSION) for r in g.rows]


def test_who_covers_each_chapter() -> None:
    third = coverage(BOOK, WORDS, CODE, 3)
    assert [r.org for r in third.covering] == ["one", "all"]  # by name: Alpha Only, Zeta Full
    assert [(r.org, r.detail) for r in third.without] == [("narrow", "endorses chapter 1 (Transparency)")]
    second = coverage(BOOK, WORDS, CODE, 2)
    assert [r.org for r in second.covering] == ["all"]
    assert [(r.org, r.detail) for r in second.without] == [
        ("one", "endorses chapter 3 (Safety)"), ("narrow", "removed chapter 2 (Copyright)")]
    # Declined, withdrawn and reported-only organizations cover nothing and endorse nothing.
    for n in (1, 2, 3):
        listed = {r.org for r in coverage(BOOK, WORDS, CODE, n).covering + coverage(BOOK, WORDS, CODE, n).without}
        assert listed.isdisjoint({"no", "gone", "rep"})
    assert item_counts(BOOK, CODE, [1, 2, 3]) == {1: 2, 2: 1, 3: 2}


def test_all_covers_only_the_items_of_its_version() -> None:
    stance = BOOK.stance("all", CODE)
    assert covers(BOOK, stance, 3) and not covers(BOOK, stance, 4)
    assert not covers(BOOK, BOOK.stance("gone", CODE), 1)
