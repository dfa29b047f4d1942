"""What an audit found: findings, their order and limit, and the result.

What it does: a :class:`Finding` names one problem (the log index, what
failed, how, and the stored table and row when it is about one);
:class:`Findings` keeps the most telling MAX_FINDINGS of them, lowest index
first, and counts the rest; :class:`AuditResult` is what the audit and the
command line report. Pure values: no I/O.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

MAX_FINDINGS = 1000  # kept (lowest indexes first); the rest are only counted


@dataclass(frozen=True)
class Finding:
    """One problem: the log index it concerns (None for published artefacts), what failed, and how.

    ``table`` and ``row`` name the stored row it is about, when it is about one.
    """

    index: int | None
    what: str
    detail: str
    table: str | None = None
    row: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "what": self.what, "detail": self.detail, "table": self.table, "row": self.row}


@dataclass(frozen=True)
class AuditResult:
    """What an audit found; truthy when clean."""

    entries: int
    integrated: int
    checkpoints: int
    snapshots: int
    root: bytes
    state_hash: str
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0  # findings beyond MAX_FINDINGS
    # Documents the log cites by hash that are not archived here: listed for the auditor, not a failure.
    missing_evidence: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def __bool__(self) -> bool:
        return self.ok

    @property
    def first_bad_index(self) -> int | None:
        """The lowest log index any finding names."""
        return min((f.index for f in self.findings if f.index is not None), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "entries": self.entries, "integrated": self.integrated,
            "checkpoints": self.checkpoints, "snapshots": self.snapshots,
            "root_hash": base64.b64encode(self.root).decode("ascii"), "state_hash": self.state_hash,
            "first_bad_index": self.first_bad_index, "findings": [f.to_json() for f in self.findings],
            "suppressed": self.suppressed,
            "missing_evidence": [m.to_json() for m in self.missing_evidence],
        }


_RANK = {what: rank for rank, what in enumerate(
    ("log version", "duplicate", "leaf", "signature", "rule", "event", "tree hash", "derived row"))}
# The table a finding is about when its kind says it (entries are in the event store: see Auditor.tables).
_TABLE_OF = {"tree hash": "log_tiles", "log head": "log_head", "checkpoint": "log_checkpoints",
             "snapshot": "log_snapshots"}
_ENTRY_KINDS = ("log version", "duplicate", "leaf", "signature", "rule", "event")


class Findings:
    """Findings, at most MAX_FINDINGS of them (the lowest indexes); the rest are counted."""

    def __init__(self, limit: int = MAX_FINDINGS, events_table: str | None = None) -> None:
        self.limit = limit
        self.events_table = events_table
        self.items: list[Finding] = []
        self.suppressed = 0

    def add(self, index: int | None, what: str, detail: str, table: str | None = None,
            row: str | None = None) -> None:
        if table is None:
            table = self.events_table if what in _ENTRY_KINDS else _TABLE_OF.get(what)
        if row is None and what in _ENTRY_KINDS and index is not None:
            row = f"log version {index + 1}"
        self.items.append(Finding(index, what, detail, table, row))
        if len(self.items) > 2 * self.limit:
            self._trim()

    def sorted(self) -> list[Finding]:
        self._trim()
        return list(self.items)

    def _trim(self) -> None:
        # By index, then the most telling first; stable otherwise (workers finish in any order).
        self.items.sort(key=lambda f: (f.index is None, f.index or 0, _RANK.get(f.what, len(_RANK))))
        self.suppressed += max(0, len(self.items) - self.limit)
        del self.items[self.limit:]
