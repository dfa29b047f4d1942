"""Each organization's stance on each Code, and how the stances changed over time, from log entries.

What it does: :class:`StanceBook` folds event documents (``ReadModels.events``:
the endorsement records, reports and Code revisions, in log order) into one
:class:`Stance` per organization and Code: endorsed in full, partial (which
items, and whether an amendment removed some), declined, withdrawn, reported
without endorsing, or no record. Each stance names the log entry that set it
and that entry's effective date. :meth:`StanceBook.counts_at` counts
organizations (never events) by stance as of the end of a month, placing each
record at its *effective* date, so a chart tells when things happened in the
world rather than when they were entered. A record whose date the sources do
not state counts only in the current stance.

Obligations (a Code version's dated duties, such as the Seoul commitments'
safety framework due before the February 2025 summit) are judged by
:func:`obligations` for any date: met (by which record), missed, pending, or
undetermined when the dates the sources give cannot decide it; :func:`basis`
names the newest log entry those verdicts rest on.

Pure: documents in, values out. The book is kept in memory by whoever reads
the log, and can be extended with newer documents as the log grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from registry.wording import date_words, secondary_only, uncertain

STANCE_TYPES = (
    "code.revision_published",
    "endorsement.made",
    "endorsement.amended",
    "endorsement.reaffirmed",
    "endorsement.withdrawn",
    "endorsement.declined",
    "report.published",
)
STATUSES = ("endorsed", "partial", "declined", "withdrawn", "reported", "none")
STATUS_LABELS = {"endorsed": "Endorsed", "partial": "Partial", "declined": "Declined", "withdrawn": "Withdrawn",
                 "reported": "Reported", "none": "No record"}
ENDORSING = ("endorsed", "partial")


@dataclass(frozen=True)
class Stance:
    """Where one organization stands on one Code, and the record that put it there."""

    org: str
    code: str
    status: str = "none"  # one of STATUSES
    version: str | None = None
    scope: str | list[int] | None = None
    removed: tuple[int, ...] = ()  # items the latest narrowing amendment removed from the scope
    index: int | None = None  # the log entry that set this stance
    type: str | None = None  # its statement type
    date: str | None = None  # its effective date (day, month or None)
    attested: bool = False
    secondary: bool = False  # its record cites secondary sources only
    uncertain: bool = False  # its record says its date or scope is uncertain
    reports: tuple[int, ...] = ()  # log entries of the organization's reports under this Code

    @property
    def narrowed(self) -> bool:
        return bool(self.removed)

    @property
    def endorsing(self) -> bool:
        return self.status in ENDORSING

    def to_json(self) -> dict[str, Any]:
        return {"org": self.org, "code": self.code, "status": self.status, "version": self.version,
                "scope": self.scope, "removed": list(self.removed), "index": self.index, "type": self.type,
                "effective_date": self.date, "attested": self.attested, "secondary_sources_only": self.secondary,
                "uncertain": self.uncertain, "reports": list(self.reports)}


@dataclass(frozen=True)
class Change:
    """One record that changed a stance: the stance after it (in log order), and when it took effect."""

    index: int
    date: str | None
    stance: Stance
    doc: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the event document, to fold again


@dataclass(frozen=True)
class Report:
    org: str
    code: str
    index: int
    date: str | None  # published_on
    url: str | None
    secondary: bool


@dataclass
class StanceBook:
    """The stances folded from event documents so far (see the module docstring).

    A book is never changed once shared: :meth:`extended` returns a new one that shares what did
    not change, so readers in other threads keep a consistent book without a lock.
    """

    size: int = 0  # documents are folded in log order; the index after the last one seen
    stances: dict[tuple[str, str], Stance] = field(default_factory=dict)
    history: dict[tuple[str, str], list[Change]] = field(default_factory=dict)
    items: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (code, version) -> item numbers
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)

    def extended(self, docs: Iterable[Mapping[str, Any]], size: int | None = None) -> StanceBook:
        """A new book with ``docs`` (the next documents in log order) folded in; ``size`` the log size read."""
        book = StanceBook(self.size, dict(self.stances), dict(self.history), dict(self.items), dict(self.versions),
                          list(self.reports))
        for doc in docs:
            book._add(doc)
        if size is not None:
            book.size = max(book.size, size)
        return book

    def _add(self, doc: Mapping[str, Any]) -> None:
        type_, stmt, index = doc["type"], doc["statement"], doc["index"]
        self.size = max(self.size, index + 1)
        if type_ == "code.revision_published":
            self.versions[stmt["code"]] = [*self.versions.get(stmt["code"], []), {**stmt, "index": index}]
            self.items[(stmt["code"], stmt["version"])] = [a["number"] for a in stmt["actions"]]
            return
        if type_ not in STANCE_TYPES:
            return
        key = (doc["org"], doc["code"])
        if type_ == "report.published":
            self.reports.append(Report(key[0], key[1], index, stmt.get("published_on"), stmt.get("url"),
                                       secondary_only(stmt.get("evidence"))))
        now = self._step(self.stances.get(key) or Stance(*key), doc)
        self.stances[key] = now
        self.history[key] = [*self.history.get(key, []), Change(index, _effective(doc), now, doc)]

    def _step(self, was: Stance, doc: Mapping[str, Any]) -> Stance:
        """The stance after one record, given the stance before it."""
        type_, stmt, index = doc["type"], doc["statement"], doc["index"]
        marks = {"index": index, "type": type_, "attested": bool(doc["attested"]),
                 "secondary": secondary_only(stmt.get("evidence")), "uncertain": uncertain(stmt)}
        if type_ == "report.published":
            now = replace(was, reports=(*was.reports, index))
            if was.status == "none":
                now = replace(now, status="reported", date=_effective(doc), **marks)
            return now
        version = stmt.get("version") or doc.get("version") or was.version
        now = self._endorsement(type_, stmt, was, version)
        return replace(now, version=version, date=_effective(doc), **marks)

    def _endorsement(self, type_: str, stmt: Mapping[str, Any], was: Stance, version: str | None) -> Stance:
        if type_ == "endorsement.withdrawn":
            return replace(was, status="withdrawn", removed=())
        if type_ == "endorsement.declined":
            return replace(was, status="declined", scope=None, removed=())
        scope = stmt.get("scope", was.scope)
        removed: tuple[int, ...] = ()
        if type_ == "endorsement.amended" and "scope" in stmt:
            before = set(self._numbers(was.scope, was.code, version))
            removed = tuple(sorted(before - set(self._numbers(scope, was.code, version))))
        elif type_ == "endorsement.amended":
            removed = was.removed
        return replace(was, status="endorsed" if scope == "all" else "partial", scope=scope, removed=removed)

    def _numbers(self, scope: Any, code: str, version: str | None) -> list[int]:
        if scope == "all":
            return self.items.get((code, version or ""), [])
        return list(scope or ())

    # --- questions -------------------------------------------------------------------------

    def stance(self, org: str, code: str) -> Stance:
        return self.stances.get((org, code)) or Stance(org, code)

    def of_code(self, code: str) -> list[Stance]:
        return [s for (_, c), s in self.stances.items() if c == code]

    def counts(self, code: str) -> dict[str, int]:
        """Organizations by current stance on ``code`` (every status, zeros included; not "none")."""
        out = dict.fromkeys(STATUSES[:-1], 0)
        for s in self.of_code(code):
            out[s.status] += 1
        return out

    def months(self, code: str) -> list[str]:
        """Every month (``YYYY-MM``) in which a record about ``code`` took effect, in order."""
        return sorted({c.date[:7] for (_, c_), changes in self.history.items() if c_ == code
                       for c in changes if c.date})

    def undated(self, code: str) -> int:
        """How many records about ``code`` give no date (they count only in the current stances)."""
        return sum(1 for (_, c_), changes in self.history.items() if c_ == code for c in changes if not c.date)

    def at(self, org: str, code: str, month: str) -> Stance:
        """The stance at the end of ``month``: the records dated in or before it, folded in log order.

        Folded again rather than read off the history: a record entered later may have taken effect
        earlier (a safety framework of 2023 entered after the 2024 endorsement), and the stance after
        it in log order would carry the endorsement back to before it took effect.
        """
        now = Stance(org, code)
        for change in self.history.get((org, code), ()):
            if change.date and change.date[:7] <= month:
                now = self._step(now, change.doc)
        return now

    def counts_at(self, code: str, month: str) -> dict[str, int]:
        out = dict.fromkeys(STATUSES[:-1], 0)
        for (org, c), _ in self.history.items():
            if c == code:
                status = self.at(org, code, month).status
                if status != "none":
                    out[status] += 1
        return out


# --- obligations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether one organization met one obligation, as of a date, and on what record."""

    org: str
    status: str  # "met" | "missed" | "pending" | "undetermined"
    reason: str
    report: Report | None = None


@dataclass(frozen=True)
class Obligation:
    code: str
    version: str
    id: str
    what: str
    due: str
    met_by: str
    note: str | None
    evidence: list[dict[str, Any]]
    verdicts: list[Verdict]

    def count(self, status: str) -> int:
        return sum(1 for v in self.verdicts if v.status == status)


def obligations(book: StanceBook, code: str, as_of: str) -> list[Obligation]:
    """Every obligation of every version of ``code``, judged as of the date ``as_of`` (``YYYY-MM-DD``)."""
    out = []
    for version in book.versions.get(code, []):
        for item in version.get("obligations", ()):
            verdicts = [judge(book, org, code, item["due"], as_of)
                        for org in _bound(book, code, version["version"], item["due"])]
            out.append(Obligation(code, version["version"], item["id"], item["what"], item["due"], item["met_by"],
                                  item.get("note"), list(item.get("evidence", ())), verdicts))
    return out


def basis(book: StanceBook, obligation: Obligation) -> int | None:
    """The newest log entry the verdicts of ``obligation`` rest on, or None when there are no verdicts.

    A verdict rests on the organization's joining records of the version (which bind it and date
    it) and on the report it cites. A record that changes a verdict is one of these: a report the
    verdict now cites, or a joining that binds an organization or dates it. So the newest of them
    is when the verdicts last changed (the due date aside, which turns pending into the rest).
    """
    bound = {v.org for v in obligation.verdicts}
    cited = [v.report.index for v in obligation.verdicts if v.report is not None]
    joins = [change.index for org in bound
             for change in _joins(book.history.get((org, obligation.code), ()), obligation.version)]
    return max([*cited, *joins], default=None)


def _bound(book: StanceBook, code: str, version: str, due: str) -> list[str]:
    """Organizations that endorsed this version, unless their records show they joined only after ``due``."""
    orgs = []
    for (org, c), changes in book.history.items():
        if c != code:
            continue
        joins = _joins(changes, version)
        if joins and not all(ch.date and _after(ch.date, due) for ch in joins):
            orgs.append(org)
    return sorted(orgs)


def judge(book: StanceBook, org: str, code: str, due: str, as_of: str) -> Verdict:
    """Met, missed, pending or undetermined: one organization's record against a due date, as of ``as_of``."""
    reports = sorted((r for r in book.reports if r.org == org and r.code == code),
                     key=lambda r: (r.date is None, r.date or "", r.index))
    known = [r for r in reports if r.date and not _after(r.date, as_of)]
    on_time = [r for r in known if not _after(r.date or "", due) and not _straddles(r.date or "", due)]
    if on_time:
        return Verdict(org, "met", f"published {date_words(on_time[0].date)}", on_time[0])
    joined = _joins(book.history.get((org, code), ()))
    if as_of <= due:  # a report published on the due day still meets it: pending until the day is over
        return Verdict(org, "pending", f"due {date_words(due)}")
    unclear = [r for r in known if _straddles(r.date or "", due)]
    if unclear:
        return Verdict(org, "undetermined", f"published {date_words(unclear[0].date)}: the sources give only the "
                       "month, so whether it was on time is not known", unclear[0])
    undated = [r for r in reports if r.date is None]
    if undated:
        return Verdict(org, "undetermined", "published, but the sources do not state when", undated[0])
    if joined and all(ch.date is None for ch in joined):
        return Verdict(org, "undetermined", "no record of it by the due date, but the sources do not state when the "
                       "organization joined")
    late = [r for r in known if _after(r.date or "", due)]
    if late:
        return Verdict(org, "missed", f"published late, {date_words(late[0].date)}", late[0])
    return Verdict(org, "missed", f"no record of it by {date_words(due)}")


def _effective(doc: Mapping[str, Any]) -> str | None:
    """When a record took effect: a report when it was published, any other record its effective date."""
    stmt = doc["statement"]
    return stmt.get("published_on") if doc["type"] == "report.published" else stmt.get("effective_date")


def _joins(changes: Iterable[Change], version: str | None = None) -> list[Change]:
    """The changes an ``endorsement.made`` record made (of ``version``, if given).

    A report changes an endorser's stance too (its reports) but keeps the type and index of the
    record that set it, so only a change whose stance names its own log entry is a joining.
    """
    return [ch for ch in changes if ch.stance.type == "endorsement.made" and ch.stance.index == ch.index
            and (version is None or ch.stance.version == version)]


def _after(date: str, day: str) -> bool:
    """Whether a day or month lies wholly after the day ``day``."""
    return date[:7] > day[:7] or (len(date) == 10 and date > day)


def _straddles(date: str, day: str) -> bool:
    """A month that contains ``day``: neither wholly before nor wholly after it."""
    return len(date) == 7 and date == day[:7]
