"""Load a record file into a registry: what is recorded already is skipped, what conflicts is reported.

What it does: :func:`load` plans every statement of the file first
(``registry.records.plan``: a file with one invalid entry loads nothing),
then compares each with what the log holds. A record whose identity
(``records.identity``) is in the log with the same content is skipped; one
whose identity is there with other content is reported as a conflict with
the fields that differ, and never forced. Every other statement is signed
with the maintainer key and submitted through the registry's ordinary write
path, in file order; one the registry refuses (an endorsement that already
exists, a withdrawal of nothing, ...) is reported with the registry's
reason and stores nothing, and loading goes on with the next.

What it does not do: parse JSON (the caller gives the parsed document),
print, or catch storage failures (they stop the load; what was stored stays,
and loading the file again skips it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from registry import envelope, records
from registry.errors import RegistryError
from registry.node import Node

DEMO_FILE = "data/commitments.json"


@dataclass(frozen=True)
class Outcome:
    """What happened to one record of the file."""

    where: str
    type: str
    status: str  # "loaded" | "skipped" | "conflict" | "new" (a dry run's "would load")
    index: int | None = None  # the log entry that holds it (loaded, or skipped as recorded there)
    reason: str = ""


@dataclass
class LoadReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def conflicts(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "conflict"]

    def to_json(self) -> dict[str, Any]:
        return {
            "loaded": self.count("loaded"), "skipped": self.count("skipped"), "conflicts": self.count("conflict"),
            "new": self.count("new"),
            "records": [{"entry": o.where, "type": o.type, "status": o.status, "index": o.index,
                         **({"reason": o.reason} if o.reason else {})} for o in self.outcomes],
        }


def demo_document() -> Any:
    """The registry's own record file (the researched record of four Codes), shipped with the package."""
    return json.loads(resources.files("registry").joinpath(DEMO_FILE).read_text("utf-8"))


def load(node: Node, doc: Any, maintainer: Any, *, dry_run: bool = False, now: datetime | None = None,
         progress: Callable[[int, int], None] | None = None) -> LoadReport:
    """Load the parsed record file ``doc`` into the node's registry, signing with ``maintainer``.

    Raises:
        InvalidRecordFileError: an entry is invalid; nothing was stored.
    """
    node.integrate()
    current = node.views.current()
    known = records.Known(frozenset(current.organizations),
                          {slug: c["versions"][-1]["version"] for slug, c in current.codes.items() if c["versions"]})
    planned = records.plan(doc, node.settings.origin, now=now, known=known)
    recorded = _recorded(node.views.events, {p.statement["type"] for p in planned})
    report = LoadReport()
    for done, item in enumerate(planned):
        if progress:
            progress(done, len(planned))
        report.outcomes.append(_load_one(node, item, recorded, maintainer, dry_run, now))
    if not dry_run:
        node.integrate()
        node.wake_clock()  # once for the whole file: a running clock signs a checkpoint covering it
    return report


def _load_one(node: Node, item: records.Planned, recorded: dict[tuple[Any, ...], tuple[int, dict[str, Any]]],
              maintainer: Any, dry_run: bool, now: datetime | None) -> Outcome:
    type_ = item.statement["type"]
    found = recorded.get(item.identity)
    if found is not None:
        index, stmt = found
        mine, theirs = records.details(item.statement), records.details(stmt)
        if mine == theirs:
            return Outcome(item.where, type_, "skipped", index)
        differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        return Outcome(item.where, type_, "conflict", index,
                       f"the record at log entry {index} says otherwise about: {', '.join(differ)}")
    if dry_run:
        return Outcome(item.where, type_, "new")
    try:
        rec = node.registry.submit(envelope.sign(item.statement, maintainer).canonical, now=now)
    except RegistryError as refusal:
        if refusal.code in ("invalid-statement", "malformed", "too-large"):
            raise  # planning validated it: a statement the registry finds invalid is a bug, not a conflict
        return Outcome(item.where, type_, "conflict", None, refusal.diagnostics())
    recorded[item.identity] = (rec.index, item.statement)
    return Outcome(item.where, type_, "loaded", rec.index)


def _recorded(events: Callable[..., list[dict[str, Any]]],
              types: Iterable[str]) -> dict[tuple[Any, ...], tuple[int, dict[str, Any]]]:
    """The identity of every record of these types in the log, with its index and statement (the first one)."""
    found: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    after = -1
    wanted = tuple(sorted(types))
    while batch := events(types=wanted, after=after, limit=1000):
        for doc in batch:
            found.setdefault(records.identity(doc["statement"]), (doc["index"], doc["statement"]))
        after = batch[-1]["index"]
    return found
