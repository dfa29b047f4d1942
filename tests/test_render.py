"""Atom and RSS bytes (feeds.render), read back element by element with lxml.

tests/test_feeds.py reads the documents as feed readers do (feedparser); here
the exact elements are checked: which appear only when the page or item has the
value, what the navigation links are for a subscription and an archive page,
how RSS escapes its one HTML field, and that equal pages give equal bytes.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from lxml import etree

from feeds import FORMAT_VERSION, REG_NS, render_atom, render_rss
from feeds.render import CODE_SCHEME, FH_NS, ORG_SCHEME, TYPE_SCHEME
from tests.conftest import FEED_BASE, FEED_CHECKPOINT, FEED_TIME, make_item, make_page

A = "{http://www.w3.org/2005/Atom}"
R = "{" + REG_NS + "}"
DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
BARE = dict(org=None, org_name=None, org_url=None, code=None, code_version=None, type="maintainer.key_added")


def atom(page: object) -> etree._Element:
    data = render_atom(page)  # type: ignore[arg-type]
    assert data.startswith(DECLARATION)
    return etree.fromstring(data)


def rss(page: object) -> etree._Element:
    data = render_rss(page)  # type: ignore[arg-type]
    assert data.startswith(DECLARATION)
    return etree.fromstring(data)


def links(parent: etree._Element) -> list[tuple[str, str, str | None]]:
    return [(e.get("rel"), e.get("href"), e.get("type")) for e in parent.findall(f"{A}link")]


def registry_values(entry: etree._Element) -> dict[str, str]:
    return {e.tag[len(R):]: e.text for e in entry if e.tag.startswith(R) and e.tag != f"{R}statement"}


# --- Atom --------------------------------------------------------------------------------------


def test_atom_entries_newest_first_with_their_times() -> None:
    feed = atom(make_page((make_item(0), make_item(4), make_item(9))))
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}id") for e in entries] == [f"tag:registry.example,2025:event/{i}" for i in (9, 4, 0)]
    for entry, index in zip(entries, (9, 4, 0), strict=True):
        stamp = (FEED_TIME + timedelta(minutes=index)).isoformat()
        assert entry.findtext(f"{A}published") == entry.findtext(f"{A}updated") == stamp
    assert feed.findtext(f"{A}updated") == (FEED_TIME + timedelta(minutes=9)).isoformat()
    generator = feed.find(f"{A}generator")
    assert generator is not None and generator.get("version") == FORMAT_VERSION


def test_atom_entry_parts() -> None:
    item = make_item(3)
    entry = atom(make_page((item,))).find(f"{A}entry")
    assert entry is not None
    assert entry.find(f"{A}content").get("type") == "text" and entry.findtext(f"{A}content") == item.content
    assert entry.find(f"{A}summary").get("type") == "text" and entry.findtext(f"{A}summary") == item.summary
    assert entry.findtext(f"{A}author/{A}name") == "Acme Ltd"
    assert entry.findtext(f"{A}author/{A}uri") == f"{FEED_BASE}/organizations/acme"
    assert [(c.get("term"), c.get("scheme")) for c in entry.findall(f"{A}category")] == [
        ("endorsement.created", TYPE_SCHEME), ("hiroshima-coc:2023-10-30", CODE_SCHEME), ("acme", ORG_SCHEME)]
    assert registry_values(entry) == {"leafIndex": "3", "eventHash": item.event_hash, "type": "endorsement.created",
                                      "attested": "true", "code": "hiroshima-coc", "codeVersion": "2023-10-30",
                                      "org": "acme"}


def test_atom_leaves_out_what_an_item_does_not_have() -> None:
    entry = atom(make_page((make_item(2, **BARE),))).find(f"{A}entry")
    assert entry is not None and entry.find(f"{A}author") is None
    assert [c.get("term") for c in entry.findall(f"{A}category")] == ["maintainer.key_added"]
    assert registry_values(entry) == {"leafIndex": "2", "eventHash": make_item(2, **BARE).event_hash,
                                      "type": "maintainer.key_added", "attested": "false"}
    code_only = atom(make_page((make_item(2, code_version=None),))).find(f"{A}entry")
    assert code_only is not None
    assert [c.get("term") for c in code_only.findall(f"{A}category")][1] == "hiroshima-coc"


def test_a_subscription_document_links_back_and_carries_the_checkpoint() -> None:
    page = make_page((make_item(0),), prev_archive_url=f"{FEED_BASE}/feeds/events/archive/4.atom")
    feed = atom(page)
    assert links(feed) == [
        ("self", page.self_url, "application/atom+xml"),
        ("prev-archive", f"{FEED_BASE}/feeds/events/archive/4.atom", "application/atom+xml"),
        ("describedby", f"{FEED_BASE}/verify", "text/html"),
        ("alternate", f"{FEED_BASE}/log", "text/html"),
    ]
    assert feed.findtext(f"{R}checkpoint") == FEED_CHECKPOINT  # exactly, with its final newline
    assert feed.find(f"{{{FH_NS}}}archive") is None
    assert feed.findtext(f"{A}author/{A}name") == "HCoC Registry"


def test_an_archive_document_has_all_three_archive_links_and_no_checkpoint() -> None:
    page = make_page((make_item(0),), archive=True, checkpoint=None, describedby_url=None,
                     self_url=f"{FEED_BASE}/a/1.atom", prev_archive_url=f"{FEED_BASE}/a/0.atom",
                     next_archive_url=f"{FEED_BASE}/a/2.atom", current_url=f"{FEED_BASE}/feeds/events.atom",
                     author_uri=f"{FEED_BASE}/about")
    feed = atom(page)
    assert [rel for rel, _, _ in links(feed)] == ["self", "prev-archive", "next-archive", "current", "alternate"]
    assert feed.find(f"{{{FH_NS}}}archive") is not None and feed.find(f"{R}checkpoint") is None
    assert feed.findtext(f"{A}author/{A}uri") == f"{FEED_BASE}/about"


# --- RSS ---------------------------------------------------------------------------------------


def test_rss_items() -> None:
    item = make_item(1, summary='Acme <b>"bold"</b> & co', title="<i>title</i>")
    channel = rss(make_page((item,))).find("channel")
    assert channel is not None
    assert channel.findtext("link") == f"{FEED_BASE}/log"  # alternate, the last link
    rss_item = channel.find("item")
    assert rss_item is not None
    guid = rss_item.find("guid")
    assert guid is not None and guid.text == item.entry_id and guid.get("isPermaLink") == "false"
    assert rss_item.findtext("title") == "<i>title</i>"  # text, escaped by the XML writer
    # RSS description is HTML: escaped once for HTML text (quotes need no escaping there)
    assert rss_item.findtext("description") == 'Acme &lt;b&gt;"bold"&lt;/b&gt; &amp; co'
    assert rss_item.findtext(f"{R}statement") == item.content
    assert rss_item.findtext("link") == item.page_url
    assert links(rss_item) == [("related", item.json_url, "application/json"),
                               ("related", item.proof_url, "application/json"),
                               ("related", item.receipt_url, "text/plain")]
    assert registry_values(rss_item)["leafIndex"] == "1"


def test_rss_has_no_description_for_an_empty_summary() -> None:
    rss_item = rss(make_page((make_item(1, summary=""),))).find("channel/item")
    assert rss_item is not None and rss_item.find("description") is None


def test_rss_channel_navigation_uses_atom_links() -> None:
    page = make_page((make_item(0),), prev_archive_url=f"{FEED_BASE}/a/3.rss", self_url=f"{FEED_BASE}/f.rss")
    channel = rss(page).find("channel")
    assert channel is not None
    assert links(channel) == [("self", f"{FEED_BASE}/f.rss", "application/rss+xml"),
                              ("prev-archive", f"{FEED_BASE}/a/3.rss", "application/rss+xml"),
                              ("describedby", f"{FEED_BASE}/verify", "text/html")]
    assert channel.findtext(f"{R}checkpoint") == FEED_CHECKPOINT


# --- a pure function of the page ------------------------------------------------------------------


def test_equal_pages_give_equal_bytes() -> None:
    items = (make_item(0), make_item(1, **BARE), make_item(2))
    first, second = make_page(items), make_page(tuple(dataclasses.replace(i) for i in items))
    assert first is not second
    for render in (render_atom, render_rss):
        assert render(first) == render(second) == render(first)
    assert render_atom(first) != render_atom(dataclasses.replace(first, title="Other"))


def test_an_empty_page_renders_without_entries() -> None:
    feed = atom(make_page(()))
    assert feed.findall(f"{A}entry") == [] and feed.findtext(f"{A}updated") == "2023-10-30T00:00:00+00:00"
    assert rss(make_page(())).findall("channel/item") == []


def test_an_entry_that_is_no_log_entry_links_its_page_only() -> None:
    item = make_item(0, index=None, event_hash=None, json_url=None, proof_url=None, receipt_url=None,
                     content="Met (1):\n- Acme <b>Ltd</b>", updated_at=FEED_TIME + timedelta(days=2))
    page = make_page((item,), checkpoint=None)
    entry = atom(page).find(f"{A}entry")
    assert [(link.get("rel"), link.get("href")) for link in entry.findall(f"{A}link")] == [
        ("alternate", item.page_url)]
    assert entry.findtext(f"{A}published") == "2025-03-01T09:30:00+00:00"
    assert entry.findtext(f"{A}updated") == "2025-03-03T09:30:00+00:00"
    assert entry.find(f"{R}leafIndex") is None and entry.find(f"{R}eventHash") is None
    assert entry.find(f"{R}attested") is None and entry.findtext(f"{R}type") == item.type
    assert entry.findtext(f"{A}content") == item.content
    # RSS: no statement; the content is the description, as HTML that shows the text as it is.
    rss_item = etree.fromstring(render_rss(page)).find("channel/item")
    assert rss_item.find(f"{R}statement") is None and rss_item.find(f"{A}link") is None
    assert rss_item.findtext("description") == "Met (1):<br>\n- Acme &lt;b&gt;Ltd&lt;/b&gt;"
