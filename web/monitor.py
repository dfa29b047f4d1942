"""A mirror's monitor feeds: the alerts and the watch lines of ``registry monitor``, as Atom.

``/monitor/alerts.atom`` and ``/monitor/watch.atom`` read ``DIR/monitor/alerts.jsonl``
and ``DIR/monitor/watch.jsonl`` (``registry.alerts``) of the data directory this
site serves; where no monitor ever ran they are 404. The newest
``registry.alerts.FEED_ENTRIES`` lines are shown, newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response

from feeds.text import xml_text
from registry.alerts import ALERTS_FILE, MONITOR_DIR, WATCH_FILE, lines_newest_first
from registry.errors import NotFoundError
from web import get_settings

bp = Blueprint("monitor", __name__, url_prefix="/monitor")
MEDIA_TYPE = "application/atom+xml; charset=utf-8"


@bp.get("/alerts.atom")
def alerts() -> Response:
    return _feed(ALERTS_FILE, "alerts", "Monitor alerts", lambda line: (
        f"{line.get('kind')}: {line.get('message')}",
        f"{line.get('message')}\n\nevidence: {', '.join(map(str, line.get('evidence') or []))}"))


@bp.get("/watch.atom")
def watch() -> Response:
    return _feed(WATCH_FILE, "watch", "Watched entries", lambda line: (
        f"{line.get('index')}: {line.get('claim')}",
        f"{line.get('type')} (entry {line.get('index')}, watched as {', '.join(map(str, line.get('watch') or []))})"))


def _feed(name: str, what: str, title: str, words: Any) -> Response:
    settings = get_settings()
    path = Path(settings.data_dir) / MONITOR_DIR / name
    if not path.exists():
        raise NotFoundError(f"no monitor {what} here: `registry monitor` has not run on this data directory")
    base = settings.base_url
    fg = FeedGenerator()
    fg.id(f"{base}/monitor/{what}.atom")
    fg.title(xml_text(f"{title}: {settings.origin}"))
    fg.link(href=f"{base}/monitor/{what}.atom", rel="self")
    fg.updated(datetime.now(UTC))
    for line in reversed(list(lines_newest_first(path))):  # feedgen puts the last added first
        entry = fg.add_entry()
        key = line.get("id") or f"{line.get('index')}"
        entry.id(f"{base}/monitor/{what}/{xml_text(str(key))}")
        heading, body = words(line)
        entry.title(xml_text(str(heading))[:300])
        entry.content(xml_text(str(body)), type="text")
        entry.updated(_time(line.get("time")))
    return Response(fg.atom_str(pretty=True), mimetype=MEDIA_TYPE.split(";")[0],
                    headers={"Content-Type": MEDIA_TYPE, "Cache-Control": "no-cache"})


def _time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
