"""Who stands where on one Code, shaped for its pages: organizations grouped by stance, and who covers each item.

What it does: :func:`groups` sorts the organizations with a record about a
Code into endorsed in full, partial (with which items), partly removed (with
what an amendment removed), declined, withdrawn and reported only; each
:class:`Row` carries the record that set the stance, its effective date and
its marks. :func:`coverage` answers, for one numbered item, who covers it (full
endorsers, partials that include it) and who endorses the Code without it
(partials without it, narrowings that removed it). :func:`verdict_groups`
sorts an obligation's verdicts by status, each with the report it rests on and
that report's sources.

What it does not do: no Flask, no I/O, no markup or escaping (templates do
that, and wrap every name and item name in ``<bdi>``). The stances and the
verdicts come from :mod:`registry.stances`, the words from
:mod:`registry.wording`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry.stances import Obligation, Stance, StanceBook
from registry.wording import CodeNames, Names, scope_phrase

GROUPS = (
    ("endorsed", "Endorsed in full"),
    ("partial", "Endorsed in part"),
    ("narrowed", "Partly removed"),
    ("declined", "Declined"),
    ("withdrawn", "Withdrawn"),
    ("reported", "Reported only"),
)
VERDICTS = (("met", "Met"), ("missed", "Missed"), ("undetermined", "Undetermined"), ("pending", "Pending"))


@dataclass(frozen=True)
class Row:
    """One organization's stance as a line of a list: who, what exactly, when, and on which record."""

    org: str
    name: str
    stance: Stance
    detail: str = ""  # which items, or what was removed; empty when the status says it all


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Coverage:
    """Item ``number`` of a Code: who covers it, and who endorses the Code without it."""

    number: int
    covering: tuple[Row, ...]
    without: tuple[Row, ...]


def group_key(stance: Stance) -> str:
    """The group a stance is listed under: its status, except that a narrowed scope is a group of its own."""
    return "narrowed" if stance.endorsing and stance.narrowed else stance.status


def groups(book: StanceBook, names: Names, code: str, version: str | None = None) -> list[Group]:
    """Every group in :data:`GROUPS` order (empty ones included), organizations by name.

    With ``version``, only the stances whose record names that version (reports name none).
    """
    words = names.code(code)
    by_key: dict[str, list[Row]] = {key: [] for key, _ in GROUPS}
    for stance in _by_name(book.of_code(code), names):
        if version is not None and stance.version != version:
            continue
        by_key[group_key(stance)].append(Row(stance.org, names.org(stance.org), stance, _detail(stance, words)))
    return [Group(key, label, tuple(by_key[key])) for key, label in GROUPS]


def _detail(stance: Stance, words: CodeNames) -> str:
    if stance.narrowed and stance.endorsing:
        return (f"removed {scope_phrase(list(stance.removed), words, stance.version)}; "
                f"now {scope_phrase(stance.scope, words, stance.version)}")
    if stance.status == "partial":
        return scope_phrase(stance.scope, words, stance.version)
    return ""


def covers(book: StanceBook, stance: Stance, number: int) -> bool:
    """Whether an endorsing stance covers item ``number`` (scope ``all``: every item of its version)."""
    if not stance.endorsing:
        return False
    if stance.scope == "all":
        items = book.items.get((stance.code, stance.version or ""))
        return items is None or number in items
    return isinstance(stance.scope, list) and number in stance.scope


def coverage(book: StanceBook, names: Names, code: str, number: int) -> Coverage:
    """Who covers item ``number`` of ``code`` and who endorses the Code without it, by name."""
    words = names.code(code)
    covering, without = [], []
    for stance in _by_name(book.of_code(code), names):
        if not stance.endorsing:
            continue
        if covers(book, stance, number):
            covering.append(Row(stance.org, names.org(stance.org), stance, _detail(stance, words)))
            continue
        if number in stance.removed:
            detail = f"removed {scope_phrase([number], words, stance.version)}"
        else:
            detail = f"endorses {scope_phrase(stance.scope, words, stance.version)}"
        without.append(Row(stance.org, names.org(stance.org), stance, detail))
    return Coverage(number, tuple(covering), tuple(without))


def item_counts(book: StanceBook, code: str, numbers: Iterable[int]) -> dict[int, int]:
    """How many organizations cover each item."""
    stances = [s for s in book.of_code(code) if s.endorsing]
    return {n: sum(1 for s in stances if covers(book, s, n)) for n in numbers}


def _by_name(stances: Iterable[Stance], names: Names) -> list[Stance]:
    return sorted(stances, key=lambda s: (names.org(s.org).casefold(), s.org))


# --- obligations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictRow:
    """One organization's verdict on one obligation, with the report it rests on (a state report entry)."""

    org: str
    name: str
    status: str
    reason: str
    report: Mapping[str, Any] | None  # the report as the state holds it: index, url, evidence, ...


@dataclass(frozen=True)
class VerdictGroup:
    status: str
    label: str
    rows: tuple[VerdictRow, ...]


def reports_by_index(state: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """Every report in the state document by its log index."""
    return {r["index"]: r for o in state["organizations"] for r in o["reports"]}


def verdict_groups(obligation: Obligation, names: Names,
                   reports: Mapping[int, Mapping[str, Any]]) -> list[VerdictGroup]:
    """The verdicts by status (met, missed, undetermined, pending; empty groups left out), by name."""
    out = []
    for status, label in VERDICTS:
        rows = [VerdictRow(v.org, names.org(v.org), v.status, v.reason,
                           reports.get(v.report.index) if v.report else None)
                for v in obligation.verdicts if v.status == status]
        rows.sort(key=lambda r: (r.name.casefold(), r.org))
        if rows:
            out.append(VerdictGroup(status, label, tuple(rows)))
    return out
