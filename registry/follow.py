"""Following the stored log: the one reader and decoder every projection uses.

What it does: :func:`pages` reads stored notifications in notification order
after a position, a page at a time. :func:`next_leaves` turns them into the
next dense run of leaves a projection needs (the transparency log's tree and
the read models each keep their own tracking position and size): it skips
entries the projection already holds (its tracking position may lag its head)
and stops at a gap, saying why. :func:`leaf_of` and :func:`entry_of` are the
one decoder of a stored log entry: the fast one for the leaf alone, the full
one (leaf and recorded envelope hash, every failure named) for the audit.

Why not the library's ``eventsourcing`` projection runner: it processes one
event per transaction, each with its own tracking record, so a rebuild would
run at the store's single-commit rate (about 2,300 commits/s on SQLite here),
below what batching gives; here a projection writes a batch of entries and one
tracking record in one transaction, and a leaf is decoded once per run.

What it does not do: no checking (``registry.ledger`` checks entries), no
writing, no locking; callers decide what a gap or a moved row means.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

LOG_ENTRY_TOPIC = "registry:Log.EntryRecorded"  # registry.application.LogEntryRecorded.TOPIC
PAGE = 1000
_LEAF_KEY = '"leaf":"'


@dataclass(frozen=True, slots=True)
class StoredLeaf:
    """One stored log entry: its notification id, its leaf index and its leaf bytes."""

    notification_id: int
    index: int
    leaf: bytes


def pages(recorder: Any, position: int = 0, *, page: int = PAGE,
          topics: Sequence[str] | None = (LOG_ENTRY_TOPIC,)) -> Iterator[list[Any]]:
    """Pages of stored notifications after ``position``, in notification order (``topics=None``: every row)."""
    while True:
        found = recorder.select_notifications(position, page, topics=None if topics is None else list(topics),
                                              inclusive_of_start=False)
        if not found:
            return
        yield found
        if len(found) < page:
            return
        position = found[-1].id


def next_leaves(recorder: Any, position: int, size: int, limit: int) -> tuple[list[StoredLeaf], str]:
    """Leaves ``size``.. (at most ``limit``, dense, in order) read after tracking ``position``.

    Also returns why it stopped short of ``limit`` (for the caller's error message): nothing follows
    the position, or the next stored entry is not the next leaf (a gap, or a row that moved).
    """
    out: list[StoredLeaf] = []
    for found in pages(recorder, position, page=max(1, min(limit, PAGE))):
        for n in found:
            index = n.originator_version - 1
            expected = size + len(out)
            if index < expected:
                continue  # held already: the tracking position lags the projection's head
            if index > expected:
                return out, f"the next stored entry after the tracking position is leaf {index}"
            if len(out) >= limit:
                return out, ""
            out.append(StoredLeaf(n.id, index, leaf_of(n.state)))
        if len(out) >= limit:
            return out, ""
    return out, "no stored entry follows the tracking position"


def leaf_of(state: bytes) -> bytes:
    """The leaf string member of a stored log entry's JSON, decoded without parsing the rest.

    The library writes ``{"timestamp": {...}, "leaf": "...", "envelope_hash": "..."}``; the leaf
    text inside is escaped, so an unescaped ``"leaf":"`` occurs once, as the member name. This is
    the hot loop of every projection, hence the direct scan; anything unexpected takes the slow path.
    """
    text = bytes(state).decode("utf-8")
    start = text.find(_LEAF_KEY)
    if start != -1:
        value, _ = json.decoder.scanstring(text, start + len(_LEAF_KEY))
        return value.encode("utf-8")
    return str(json.loads(text)["leaf"]).encode("utf-8")


def entry_of(state: bytes) -> tuple[bytes, str]:
    """The leaf bytes and the recorded envelope hash of a stored log entry, strictly.

    Raises:
        ValueError: the stored bytes are not a readable log entry.
    """
    try:
        doc = json.loads(bytes(state))
        leaf, envelope_hash = doc["leaf"], doc["envelope_hash"]
        if not isinstance(leaf, str) or not isinstance(envelope_hash, str):
            raise TypeError("the leaf and the envelope hash must be strings")
        return leaf.encode("ascii"), envelope_hash
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError) as e:
        raise ValueError(f"the stored event is not a readable log entry ({type(e).__name__})") from None
