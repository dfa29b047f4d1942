"""Stances and obligations folded from event documents (registry.stances), without a store.

A small Code with three commitments and one obligation due on 10 February 2025, and organizations
whose records meet it, miss it, leave it undecided, or join too late to be bound. The book is built
from hand-made event documents, as the read models hand them over.
"""

from __future__ import annotations

from typing import Any

from registry.stances import StanceBook, basis, obligations

CODE, VERSION, DUE = "example-code", "1.0", "2025-02-10"


def doc(index: int, type_: str, org: str | None = None, **statement: Any) -> dict[str, Any]:
    """An event document as ``ReadModels.events`` returns it (only what the fold reads)."""
    return {"index": index, "type": type_, "org": org, "code": CODE, "version": statement.get("version"),
            "attested": True, "statement": {"type": type_, "code": CODE, **({"org": org} if org else {}),
                                            **statement}}


def revision() -> dict[str, Any]:
    return doc(0, "code.revision_published", version=VERSION, title="Example Code", action_noun="commitment",
               actions=[{"number": n, "heading": f"Commitment {n}"} for n in (1, 2, 3)],
               obligations=[{"id": "framework", "what": "Publish a framework", "due": DUE,
                             "met_by": "report.published"}])


def joined(index: int, org: str, date: str | None) -> dict[str, Any]:
    return doc(index, "endorsement.made", org, version=VERSION, scope="all", effective_date=date)


def report(index: int, org: str, date: str | None) -> dict[str, Any]:
    return doc(index, "report.published", org, framework="framework",
               **({"published_on": date} if date else {}))


STORY = [
    revision(),
    joined(1, "early", "2024-05-21"), report(2, "early", "2024-06-01"),  # met
    joined(3, "silent", "2024-05-21"),  # missed
    joined(4, "undated", None),  # undetermined: when it joined is not known
    joined(5, "monthly", "2024-05-21"), report(6, "monthly", "2025-02"),  # undetermined: the due month only
    joined(7, "late-joiner", "2025-03-01"),  # not bound
]


def book_of(docs: list[dict[str, Any]]) -> StanceBook:
    return StanceBook().extended(docs)


def verdicts(book: StanceBook, as_of: str) -> dict[str, str]:
    (only,) = obligations(book, CODE, as_of)
    return {v.org: v.status for v in only.verdicts}


def test_verdicts_as_of_two_dates() -> None:
    book = book_of(STORY)
    assert verdicts(book, "2025-03-01") == {"early": "met", "silent": "missed", "undated": "undetermined",
                                            "monthly": "undetermined"}
    # Before the due date only what was already met is decided.
    assert verdicts(book, "2025-01-01") == {"early": "met", "silent": "pending", "undated": "pending",
                                            "monthly": "pending"}


def test_a_report_on_the_due_day_still_meets_it() -> None:
    book = book_of(STORY)
    assert verdicts(book, DUE)["silent"] == "pending"  # the day is not over yet
    on_time = book.extended([report(8, "silent", DUE)])
    assert verdicts(on_time, DUE)["silent"] == "met" and verdicts(on_time, "2025-03-01")["silent"] == "met"


def test_basis_is_the_newest_record_the_verdicts_rest_on() -> None:
    book = book_of(STORY)
    (ob,) = obligations(book, CODE, "2025-03-01")
    assert basis(book, ob) == 6  # monthly's report; late-joiner (7) binds no one
    # A later report that changes no verdict (early had met already) moves nothing.
    more = book.extended([report(8, "early", "2025-01-05")])
    (again,) = obligations(more, CODE, "2025-03-01")
    assert again.verdicts == ob.verdicts and basis(more, again) == 6
    # A report that decides a verdict, and a joining that binds someone, do.
    decided = more.extended([report(9, "silent", "2025-01-31")])
    (now,) = obligations(decided, CODE, "2025-03-01")
    assert {v.org: v.status for v in now.verdicts}["silent"] == "met" and basis(decided, now) == 9
    bound = decided.extended([joined(10, "newcomer", "2024-06-01")])
    (last,) = obligations(bound, CODE, "2025-03-01")
    assert basis(bound, last) == 10


def test_no_verdicts_no_basis() -> None:
    book = book_of([revision()])
    (ob,) = obligations(book, CODE, "2025-03-01")
    assert ob.verdicts == [] and basis(book, ob) is None


def test_a_report_is_not_a_joining() -> None:
    # Joined on a date the sources do not state, then reported late: it may have joined after the
    # due date (and not be bound), so the verdict cannot be "missed".
    book = book_of([revision(), joined(1, "vague", None), report(2, "vague", "2025-03-01")])
    (ob,) = obligations(book, CODE, "2025-04-01")
    assert [(v.org, v.status) for v in ob.verdicts] == [("vague", "undetermined")]
    assert "do not state when the organization joined" in ob.verdicts[0].reason
    # Joined after the due date, with a report dated before it: not bound (the report is no joining).
    book = book_of([revision(), joined(1, "after", "2025-03-01"), report(2, "after", "2024-12-01")])
    assert obligations(book, CODE, "2025-04-01")[0].verdicts == []


def test_a_narrowing_amendment_names_what_it_removed() -> None:
    book = book_of([revision(), joined(1, "acme", "2024-05-21"),
                    doc(2, "endorsement.amended", "acme", scope=[1, 3], effective_date="2025-03")])
    stance = book.stance("acme", CODE)
    assert (stance.status, stance.scope, stance.removed, stance.narrowed) == ("partial", [1, 3], (2,), True)
    assert book.counts(CODE) == {"endorsed": 0, "partial": 1, "declined": 0, "withdrawn": 0, "reported": 0}
