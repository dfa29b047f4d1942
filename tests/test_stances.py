"""registry.stances over event documents: the stance as of a month follows effective dates, not log order.

The story: the 2023 White House commitments (eight of them) are published; Lab A endorses them
all in July 2023 and narrows its endorsement to six in March 2025; Lab B's endorsement of May
2024 is entered first and its safety framework of September 2023 only afterwards. As of each
month the book must say what was in effect then, whatever the order the records were entered in.
"""

from __future__ import annotations

from typing import Any

from registry.stances import StanceBook

CODE = "us-wh"


def _doc(index: int, type_: str, org: str | None = None, **statement: Any) -> dict[str, Any]:
    return {"index": index, "type": type_, "org": org, "code": CODE, "attested": True,
            "statement": {"type": type_, "code": CODE, **({"org": org} if org else {}), **statement}}


STORY = [
    _doc(0, "code.revision_published", version="v1", actions=[{"number": n, "heading": f"C{n}"} for n in range(1, 9)]),
    _doc(1, "endorsement.made", "lab-a", version="v1", scope="all", effective_date="2023-07-21"),
    _doc(2, "endorsement.made", "lab-b", version="v1", scope="all", effective_date="2024-05-21"),
    _doc(3, "report.published", "lab-b", framework="safety-framework", published_on="2023-09"),
    _doc(4, "endorsement.amended", "lab-a", scope=[1, 3, 4, 5, 6, 8], effective_date="2025-03"),
]


def test_a_record_entered_late_counts_from_when_it_took_effect() -> None:
    book = StanceBook().extended(STORY)
    # Lab B's framework predates its endorsement: in September 2023 it had reported, not endorsed.
    assert book.at("lab-b", CODE, "2023-09").status == "reported"
    assert book.at("lab-b", CODE, "2023-09").index == 3
    assert book.at("lab-b", CODE, "2023-08").status == "none"
    may = book.at("lab-b", CODE, "2024-05")
    assert (may.status, may.index, may.date, may.reports) == ("endorsed", 2, "2024-05-21", (3,))
    assert book.stance("lab-b", CODE).status == "endorsed"
    assert book.counts_at(CODE, "2023-09") == {"endorsed": 1, "partial": 0, "declined": 0, "withdrawn": 0,
                                               "reported": 1}
    assert book.counts_at(CODE, "2024-05")["endorsed"] == 2


def test_a_narrowing_amendment_counts_from_its_month() -> None:
    book = StanceBook().extended(STORY)
    before = book.at("lab-a", CODE, "2025-02")
    assert (before.status, before.removed) == ("endorsed", ())
    after = book.at("lab-a", CODE, "2025-03")
    assert (after.status, after.scope, after.removed, after.date) == ("partial", [1, 3, 4, 5, 6, 8], (2, 7), "2025-03")
    assert after == book.stance("lab-a", CODE)
    assert book.months(CODE) == ["2023-07", "2023-09", "2024-05", "2025-03"]
    # With every record dated, the last month's counts are the current ones.
    assert book.counts_at(CODE, "2025-03") == book.counts(CODE)


def test_undated_records_count_only_now() -> None:
    book = StanceBook().extended([*STORY, _doc(5, "endorsement.made", "lab-c", version="v1", scope=[2],
                                               effective_date=None)])
    assert book.undated(CODE) == 1
    assert book.at("lab-c", CODE, "2099-12").status == "none"
    assert book.stance("lab-c", CODE).status == "partial"
    assert book.counts(CODE)["partial"] == book.counts_at(CODE, "2099-12")["partial"] + 1
