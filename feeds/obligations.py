"""The feed of obligations falling due: one entry per obligation whose due date has come, with its verdicts.

What it does: :func:`item` makes the entry of one obligation judged on or
after its due date (:class:`Due`): a title that says what fell due, when, and
how the verdicts stand ("4 met, 6 missed, 10 undetermined"), content that
lists the organizations by verdict with their reasons, and a link to the
obligations of the Code's page. The entry is *published* on the due date and
*updated* when the newest record its verdicts rest on was recorded, if that is
later (:func:`registry.stances.basis`). :func:`obligation_id` is its ``tag:``
id: the log origin, the Code, the version and the obligation's id, never the
site's address, so moving the site changes links and not ids. :func:`page`
is the whole feed.

Untrusted text (Code titles, what an obligation asks, names) goes in through
:func:`feeds.isolate`, as in every feed.

What it does not do: judge (the core does, as of a date the caller gives),
read the clock or the log, or word a log entry (``feeds.entries`` does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from feeds.entries import tag
from feeds.items import FeedItem, FeedPage, newest_updated
from feeds.text import isolate, xml_text
from registry.stances import Obligation
from registry.wording import date_words, tally

# Part of the feed's ETag: bump it whenever the words below change.
WORDS_VERSION = "2"  # 2: an obligation falls due when its due day is over
TYPE = "obligation"
VERDICTS = (("met", "Met"), ("missed", "Missed"), ("undetermined", "Undetermined"), ("pending", "Pending"))
def obligation_id(origin: str, code: str, version: str, obligation: str) -> str:
    """The id of an obligation's entry: ``tag:...:log/<origin>/obligation/<code>/<version>/<id>``."""
    return tag(origin, f"obligation/{code}/{version}/{obligation}")


@dataclass(frozen=True)
class Due:
    """An obligation judged as of a day on or after its due date, and what the entry needs besides."""

    obligation: Obligation
    code_title: str  # the Code's short title
    names: Mapping[str, str]  # organization slug -> name
    changed_at: datetime | None  # when the newest record its verdicts rest on was recorded


def fell_due(obligation: Obligation, today: str) -> bool:
    """Whether the due day is over (a report dated on it still meets it; from the next day nothing is pending)."""
    return obligation.due < today


def due_moment(day: str) -> datetime:
    """The end of the due day (UTC), when the obligation fell due."""
    return datetime.fromisoformat(day).replace(hour=23, minute=59, second=59, tzinfo=UTC)


def counts(obligation: Obligation) -> dict[str, int]:
    return {status: obligation.count(status) for status, _ in VERDICTS}


def title(due: Due) -> str:
    """``Seoul Frontier AI Safety Commitments: 'Publish a safety framework' fell due on 10 February 2025: ...``."""
    o = due.obligation
    return (f"{isolate(due.code_title)}: '{isolate(o.what)}' fell due on {date_words(o.due)}: "
            f"{tally(counts(o))}")


def content(due: Due) -> str:
    """The organizations by verdict, each with its reason, one per line."""
    o = due.obligation
    lines = [f"Due {date_words(o.due)}, under version {o.version} of the {isolate(due.code_title)}: "
             f"met by a record of type {o.met_by} dated on or before that day."]
    if o.note:
        lines.append(f"Note: {isolate(o.note)}")
    if not o.verdicts:
        lines.append("No organization is bound by it.")
    for status, label in VERDICTS:
        verdicts = [v for v in o.verdicts if v.status == status]
        if not verdicts:
            continue
        lines.append("")
        lines.append(f"{label} ({len(verdicts)}):")
        for v in sorted(verdicts, key=lambda v: (due.names.get(v.org, v.org).casefold(), v.org)):
            record = f" (log entry {v.report.index})" if v.report else ""
            lines.append(f"- {isolate(due.names.get(v.org, v.org))}: {v.reason}{record}")
    return "\n".join(lines)


def item(due: Due, base_url: str, origin: str) -> FeedItem:
    o = due.obligation
    published = due_moment(o.due)
    updated = max(published, due.changed_at) if due.changed_at else published
    bound = len(o.verdicts)
    return FeedItem(
        index=None, entry_id=obligation_id(origin, o.code, o.version, o.id), type=TYPE,
        title=xml_text(title(due)),
        summary=xml_text(f"{tally(counts(o))} of the {bound} organization{'' if bound == 1 else 's'} "
                         f"bound by it, judged from the registry's records."),
        recorded_at=published, content=xml_text(content(due)), event_hash=None,
        page_url=f"{base_url}/codes/{o.code}#obligations", json_url=None, proof_url=None, receipt_url=None,
        org=None, org_name=None, org_url=None, code=o.code, code_version=o.version, attested=False,
        updated_at=updated if updated != published else None,
    )


def page(base_url: str, origin: str, fmt: str, dues: Iterable[Due]) -> FeedPage:
    """The feed document: every obligation that fell due, oldest due date first."""
    items = tuple(sorted((item(d, base_url, origin) for d in dues), key=lambda i: (i.recorded_at, i.entry_id)))
    return FeedPage(
        feed_id=tag(origin, "feed/obligations"),
        title="HCoC registry: Obligations falling due",
        subtitle="Each dated obligation of a Code once its due date has come, with every bound organization's "
                 "verdict; an entry is updated when a newer record changes a verdict.",
        self_url=f"{base_url}/feeds/obligations.{fmt}", alternate_url=f"{base_url}/codes",
        updated=newest_updated(items), items=items, archive=False, prev_archive_url=None, next_archive_url=None,
        current_url=None, checkpoint=None, describedby_url=None, author_uri=base_url,
    )
