"""Stored feed archive pages: render the missing ones ahead of readers, and check the stored ones.

Complete archive pages never change, so they are rendered once and kept in
the read-model store, from which every web process serves them. The clock
renders every complete page not stored yet (the ``archives`` job), so no
reader waits for a render; the audit renders each stored page afresh and
compares. Both use ``feeds.documents``, the functions the web's feed views
use, so a page rendered here is the page a reader would get, under the same
key. Nothing here imports Flask.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import PersistenceError

from feeds.archive import archive_count, is_complete
from feeds.documents import FORMATS, FeedSite, archive_path, etag, parse_archive_path, render_archive
from registry.jobs import JOBS
from registry.node import Node


def feed_site(node: Node) -> FeedSite:
    settings = node.settings
    return FeedSite(settings.base_url, settings.origin, settings.feed_page_size)


def archives(node: Node) -> dict[str, Any]:
    """Render and store every complete feed archive page not stored yet."""
    node.log.catch_up()
    size = node.views.catch_up()
    site, store = feed_site(node), node.views.store
    pages = archive_count(size, site.page_size)
    rendered = 0
    for k in range(pages):
        for fmt in FORMATS:
            path = archive_path(k, fmt)
            if store.feed_page(path, etag(site, path)) is not None:
                continue
            page = render_archive(site, node.views, fmt, k, size)
            try:
                store.put_feed_page(page.path, page.etag, page.body, page.updated.isoformat())
            except PersistenceError as e:
                raise RuntimeError(f"{path} could not be stored: {e}") from e
            rendered += 1
    return {"archive_pages": pages * len(FORMATS), "rendered": rendered}


def check_stored_pages(node: Node) -> list[tuple[str, str, str]]:
    """Every stored page a reader would be served that differs from a fresh render: (path, etag, problem).

    A row is served only under the validator its path has now (which depends on the base URL, the
    page size and the feed wording): rows under another one (an earlier configuration) are never
    served, and ``registry rebuild`` drops them. The node must have the deployment's settings.
    """
    stored = node.views.store.feed_pages()
    if not stored:
        return []
    # As far as the read models go, without catching them up: an audit writes nothing, and a page
    # beyond their head is judged once they reach it.
    size = node.views.store.head()[0]
    site, problems = feed_site(node), []
    for path, stored_etag, body, _updated in stored:
        found = parse_archive_path(path)
        if found is None or stored_etag != etag(site, path) or not is_complete(found[0], size, site.page_size):
            continue
        k, fmt = found
        if render_archive(site, node.views, fmt, k, size).body != body:
            problems.append((path, stored_etag, "the stored page differs from the page the log gives "
                                                "(`registry rebuild` drops it)"))
    return problems


# Every job the clock runs and `registry job NAME` runs by hand.
ALL_JOBS = {**JOBS, "archives": archives}
