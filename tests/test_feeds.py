"""Tests for feeds: Atom/RSS rendering read back with feedparser and lxml, and RFC 5005 archive paging."""

from __future__ import annotations

import hashlib
import html
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest
from feedgen.entry import FeedEntry
from lxml import etree
from lxml import html as lxml_html

from feeds import (
    EMPTY_FEED_UPDATED,
    REG_NS,
    FeedPage,
    PageLinks,
    archive_count,
    archive_links,
    archive_url,
    is_complete,
    newest_updated,
    page_of,
    page_range,
    render_atom,
    render_rss,
    subscription_links,
    subscription_range,
)
from feeds import render as render_module
from registry.errors import NotFoundError
from tests.conftest import FEED_BASE as BASE
from tests.conftest import FEED_CHECKPOINT as CHECKPOINT
from tests.conftest import FEED_HOSTILE as HOSTILE
from tests.conftest import canonical_text as canonical
from tests.conftest import make_item, make_page

ATOM = "{http://www.w3.org/2005/Atom}"
LONG = (HOSTILE * 100)[:5000]

Renderer = Callable[[FeedPage], bytes]


def sample_page() -> FeedPage:
    return make_page((
        make_item(0),
        make_item(1, org=None, org_name=None, org_url=None, code=None, code_version=None, type="key.added"),
        make_item(2, type="endorsement.withdrawn"),
    ))


def by_id(parsed: Any) -> dict[str, Any]:
    return {entry.id: entry for entry in parsed.entries}


# --- rendering ---------------------------------------------------------------------


@pytest.mark.parametrize(("render", "version"), [(render_atom, "atom10"), (render_rss, "rss20")])
def test_feeds_parse_cleanly_newest_first(render: Renderer, version: str) -> None:
    page = sample_page()
    parsed = feedparser.parse(render(page))
    assert parsed.bozo is False
    assert parsed.version == version
    assert [e.id for e in parsed.entries] == [item.entry_id for item in reversed(page.items)]


def test_ids_identical_across_formats_and_renders() -> None:
    page = sample_page()
    # Check: the same input renders to the same bytes (no now() anywhere)
    assert render_atom(page) == render_atom(page)
    assert render_rss(page) == render_rss(page)
    assert render_atom(make_page(page.items)) == render_atom(page)
    # Check: entry ids are the caller's tag: URIs, identical in Atom and RSS
    atom, rss = feedparser.parse(render_atom(page)), feedparser.parse(render_rss(page))
    expected = {item.entry_id for item in page.items}
    assert set(by_id(atom)) == set(by_id(rss)) == expected
    assert atom.feed.id == page.feed_id
    assert atom.feed.updated == "2025-03-01T09:32:00+00:00"


def test_entry_links_keep_rel_type_and_title() -> None:
    page = sample_page()
    item = page.items[0]
    expected = [
        {"href": item.page_url, "rel": "alternate", "type": "text/html"},
        {"href": item.json_url, "rel": "related", "type": "application/json", "title": "log entry"},
        {"href": item.proof_url, "rel": "related", "type": "application/json", "title": "inclusion proof"},
        {"href": item.receipt_url, "rel": "related", "type": "text/plain", "title": "receipt"},
    ]
    for render in (render_atom, render_rss):
        entry = by_id(feedparser.parse(render(page)))[item.entry_id]
        assert [dict(link) for link in entry.links] == expected, render.__name__


def test_plain_feedgen_would_lose_entry_link_rels(monkeypatch: pytest.MonkeyPatch) -> None:
    # feedgen 1.0.0 issue #135: without FixedEntry every entry link comes out
    # href-only. If this starts failing, feedgen was fixed and the workaround
    # can go (keep test_entry_links_keep_rel_type_and_title).
    monkeypatch.setattr(render_module, "FixedEntry", FeedEntry)
    page = sample_page()
    entry = by_id(feedparser.parse(render_atom(page)))[page.items[0].entry_id]
    assert {link.rel for link in entry.links} == {"alternate"}
    assert not any(link.get("type") == "text/plain" or link.get("title") for link in entry.links)


@pytest.mark.parametrize("render", [render_atom, render_rss])
def test_categories_carry_schemes(render: Renderer) -> None:
    page = sample_page()
    entries = by_id(feedparser.parse(render(page)))
    full, bare = entries[page.items[0].entry_id], entries[page.items[1].entry_id]
    assert [(t.term, t.scheme) for t in full.tags] == [
        ("endorsement.created", "https://hcoc-registry.org/ns/type"),
        ("hiroshima-coc:2023-10-30", "https://hcoc-registry.org/ns/code"),
        ("acme", "https://hcoc-registry.org/ns/org"),
    ]
    assert [(t.term, t.scheme) for t in bare.tags] == [("key.added", "https://hcoc-registry.org/ns/type")]


@pytest.mark.parametrize("render", [render_atom, render_rss])
def test_registry_elements_are_readable(render: Renderer) -> None:
    page = sample_page()
    parsed = feedparser.parse(render(page))
    entries = by_id(parsed)
    full, bare = entries[page.items[0].entry_id], entries[page.items[1].entry_id]
    assert (full.reg_leafindex, full.reg_eventhash, full.reg_type) == ("0", page.items[0].event_hash,
                                                                      "endorsement.created")
    assert (full.reg_attested, bare.reg_attested) == ("false", "true")
    assert (full.reg_code, full.reg_codeversion, full.reg_org) == ("hiroshima-coc", "2023-10-30", "acme")
    # Check: unset values are absent, not empty
    assert not {"reg_code", "reg_codeversion", "reg_org"} & set(bare)
    # Check: the checkpoint comes through (feedparser strips the final newline;
    # the document itself carries the exact note text)
    assert parsed.feed.reg_checkpoint == CHECKPOINT.rstrip("\n")
    root = etree.fromstring(render(page))
    assert [el.text for el in root.iter(f"{{{REG_NS}}}checkpoint")] == [CHECKPOINT]


def test_canonical_json_round_trips_byte_exact() -> None:
    content = canonical({"long": LONG, "note": HOSTILE, "emoji": "😀", "tab": "\t"})
    item = make_item(7, content=content)
    page = make_page((item,))
    atom = feedparser.parse(render_atom(page)).entries[0]
    rss = feedparser.parse(render_rss(page)).entries[0]
    want = hashlib.sha256(content.encode()).hexdigest()
    assert atom.content[0].type == "text/plain"
    assert hashlib.sha256(atom.content[0].value.encode()).hexdigest() == want
    assert hashlib.sha256(rss.reg_statement.encode()).hexdigest() == want
    assert atom.reg_eventhash == rss.reg_eventhash == f"sha256:{want}"


def test_hostile_text_stays_text() -> None:
    item = make_item(0, title=HOSTILE, summary=HOSTILE, org_name=LONG, type=HOSTILE)
    page = make_page((item,))
    atom, rss = render_atom(page), render_rss(page)
    for raw in (atom, rss):
        root = etree.fromstring(raw)
        tags = {etree.QName(el).localname.lower() for el in root.iter() if isinstance(el.tag, str)}
        assert "script" not in tags and "b" not in tags
    atom_root = etree.fromstring(atom)
    atom_entry = atom_root.find(f"{ATOM}entry")
    assert atom_entry.find(f"{ATOM}title").text == HOSTILE
    assert atom_entry.find(f"{ATOM}summary").text == HOSTILE
    assert atom_entry.find(f"{ATOM}author/{ATOM}name").text == LONG
    assert atom_entry.find(f"{{{REG_NS}}}type").text == HOSTILE
    # Check: RSS <description> is HTML by definition, so the summary is
    # HTML-escaped there: a reader renders exactly the original text
    rss_item = etree.fromstring(rss).find("channel/item")
    assert rss_item.find("title").text == HOSTILE
    assert html.unescape(rss_item.find("description").text) == HOSTILE
    # Check: feedparser hands the text back unchanged
    parsed = feedparser.parse(atom).entries[0]
    assert (parsed.title, parsed.summary, parsed.author) == (HOSTILE, HOSTILE, LONG)
    assert feedparser.parse(rss).entries[0].title == HOSTILE



def test_rss_description_is_escaped_once_and_reads_as_the_atom_summary() -> None:
    item = make_item(0, summary="The organization's \"own\" key & <b>notes</b> < 3")
    page = make_page((item,))
    atom = feedparser.parse(render_atom(page)).entries[0]
    rss = feedparser.parse(render_rss(page)).entries[0]
    assert atom.summary == item.summary and atom.summary_detail.type == "text/plain"
    # RSS <description> is HTML: feedparser hands it on as HTML, and a reader shows that HTML's text
    assert rss.summary_detail.type == "text/html"
    shown = lxml_html.fragment_fromstring(rss.summary, create_parent="div").text_content()
    assert shown == atom.summary
    # escaped once, for HTML text: & and < only, never the quotes (a plain-text reader would show &#x27;)
    assert rss.summary == "The organization's \"own\" key &amp; &lt;b&gt;notes&lt;/b&gt; &lt; 3"

def test_rss_guid_and_channel_link() -> None:
    page = sample_page()
    raw = render_rss(page)
    channel = etree.fromstring(raw).find("channel")
    # Check: the channel <link> is the HTML page, not the feed (feedgen uses the last link added)
    assert channel.find("link").text == page.alternate_url
    guids = channel.findall("item/guid")
    assert [g.get("isPermaLink") for g in guids] == ["false"] * len(page.items)
    assert all(entry.guidislink is False for entry in feedparser.parse(raw).entries)


# --- archive documents -----------------------------------------------------------

P = 5


def render_site(n: int, render: Renderer = render_atom, ext: str = "atom") -> tuple[str, dict[str, bytes]]:
    """What the web layer serves for a log of n leaves: url -> bytes."""
    subscription = f"{BASE}/feeds/events.{ext}"
    template = f"{BASE}/feeds/events/archive/{{page}}.{ext}"
    items = [make_item(i) for i in range(n)]

    def page(leaves: range, links: PageLinks, feed_id: str, archive: bool) -> bytes:
        chosen = tuple(items[i] for i in leaves)
        return render(make_page(
            chosen, feed_id=feed_id, self_url=links.self_url, updated=newest_updated(chosen), archive=archive,
            prev_archive_url=links.prev_archive_url, next_archive_url=links.next_archive_url,
            current_url=links.current_url, checkpoint=None if archive else f"{CHECKPOINT}size {n}\n",
        ))

    links = subscription_links(n, subscription_url=subscription, archive_template=template, page_size=P)
    docs = {subscription: page(subscription_range(n, P), links, "tag:registry.example,2025:feed/events", False)}
    for k in range(archive_count(n, P)):
        links = archive_links(k, n, subscription_url=subscription, archive_template=template, page_size=P)
        docs[links.self_url] = page(page_range(k, P), links, f"tag:registry.example,2025:feed/events/archive/{k}",
                                    True)
    return subscription, docs


def rel_hrefs(parsed: Any) -> dict[str, str]:
    return {link.rel: link.href for link in parsed.feed.links}


@pytest.mark.parametrize(("render", "ext"), [(render_atom, "atom"), (render_rss, "rss")])
def test_archive_and_subscription_documents(render: Renderer, ext: str) -> None:
    subscription, docs = render_site(3 * P + 2, render, ext)
    # Check: the subscription document points back at the newest archive and is not one
    sub = feedparser.parse(docs[subscription])
    assert "fh_archive" not in sub.feed
    assert rel_hrefs(sub)["prev-archive"] == f"{BASE}/feeds/events/archive/2.{ext}"
    assert "next-archive" not in rel_hrefs(sub)
    # Check: a middle archive has fh:archive and all three RFC 5005 links
    middle = feedparser.parse(docs[f"{BASE}/feeds/events/archive/1.{ext}"])
    assert middle.bozo is False and middle.feed.fh_archive == ""
    links = rel_hrefs(middle)
    assert links["prev-archive"] == f"{BASE}/feeds/events/archive/0.{ext}"
    assert links["next-archive"] == f"{BASE}/feeds/events/archive/2.{ext}"
    assert links["current"] == subscription
    assert "reg_checkpoint" not in middle.feed
    # Check: the oldest archive has no prev-archive
    assert "prev-archive" not in rel_hrefs(feedparser.parse(docs[f"{BASE}/feeds/events/archive/0.{ext}"]))


@pytest.mark.parametrize("n", [0, 1, P - 1, P, P + 1, 3 * P + 7])
@pytest.mark.parametrize(("render", "ext"), [(render_atom, "atom"), (render_rss, "rss")])
def test_walking_prev_archive_sees_every_leaf_once(n: int, render: Renderer, ext: str) -> None:
    url: str | None
    url, docs = render_site(n, render, ext)
    seen: list[int] = []
    visited = 0
    while url is not None:
        parsed = feedparser.parse(docs[url])
        assert parsed.bozo is False
        seen.extend(int(entry.reg_leafindex) for entry in parsed.entries)
        url = rel_hrefs(parsed).get("prev-archive")
        visited += 1
    assert sorted(set(seen)) == list(range(n))
    # Only a log of whole pages repeats its newest page in the subscription document.
    assert len(seen) == n + (P if n and n % P == 0 else 0)
    assert visited == len(docs)


def test_empty_subscription_feed_is_stable() -> None:
    subscription, docs = render_site(0)
    parsed = feedparser.parse(docs[subscription])
    assert parsed.bozo is False and parsed.entries == []
    assert parsed.feed.updated == EMPTY_FEED_UPDATED.isoformat()
    assert render_site(0)[1] == docs


def test_complete_archive_pages_never_change() -> None:
    _, before = render_site(2 * P + 3)
    _, after = render_site(5 * P)
    archived = [url for url in before if "/archive/" in url]
    assert len(archived) == 2
    for url in archived:
        assert after[url] == before[url], url


def test_render_500_entries() -> None:
    page = make_page(tuple(make_item(i) for i in range(500)))
    start = time.perf_counter()
    raw = render_atom(page)
    elapsed = time.perf_counter() - start
    print(f"render_atom, 500 entries: {elapsed * 1000:.1f} ms, {len(raw) // 1024} KiB")
    assert len(etree.fromstring(raw).findall(f"{ATOM}entry")) == 500


# --- paging arithmetic and value checks --------------------------------------------


def test_paging_arithmetic() -> None:
    assert [archive_count(n, P) for n in (0, 1, P - 1, P, P + 1, 3 * P + 7)] == [0, 0, 0, 1, 1, 4]
    assert page_range(2, P) == range(10, 15)
    assert [page_of(i, P) for i in (0, P - 1, P, 3 * P + 6)] == [0, 0, 1, 4]
    assert subscription_range(3 * P + 7, P) == range(4 * P, 3 * P + 7)
    assert subscription_range(2 * P, P) == range(P, 2 * P)  # the current page is empty: the newest page again
    assert subscription_range(0, P) == range(0)
    assert archive_count(1000) == 2 and page_range(1) == range(500, 1000)
    assert [is_complete(k, 2 * P, P) for k in (-1, 0, 1, 2)] == [False, True, True, False]


def test_archive_links() -> None:
    kwargs: dict[str, Any] = {"subscription_url": "https://r/f.atom", "archive_template": "https://r/a/{page}.atom",
                              "page_size": P}
    assert subscription_links(0, **kwargs) == PageLinks("https://r/f.atom", None, None, None)
    assert subscription_links(2 * P, **kwargs).prev_archive_url == "https://r/a/1.atom"
    # Check: the newest archive already names the next page: its bytes must not change later
    assert archive_links(1, 2 * P, **kwargs) == PageLinks(
        "https://r/a/1.atom", "https://r/a/0.atom", "https://r/a/2.atom", "https://r/f.atom")
    assert archive_links(0, P, **kwargs).prev_archive_url is None
    for k in (-1, 2, 3):
        with pytest.raises(NotFoundError):
            archive_links(k, 2 * P + 4, **kwargs)
    with pytest.raises(ValueError, match="template"):
        archive_url("https://r/a/latest.atom", 1)
    assert archive_url("https://r/{x}/{page}", 3) == "https://r/{x}/3"
    with pytest.raises(ValueError):
        archive_count(-1)
    with pytest.raises(ValueError):
        archive_count(1, 0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"recorded_at": datetime(2025, 1, 1)}, "timezone"),
    ({"recorded_at": datetime(2025, 1, 1, 1, tzinfo=UTC).replace(microsecond=5)}, "seconds"),
    ({"event_hash": "sha256:ABC"}, "event_hash"),
    ({"title": "bell \x07"}, "title"),
    ({"summary": "not a character \ufffe"}, "summary"),
    ({"index": -1}, "index"),
])
def test_item_rejects_what_feeds_cannot_carry(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_item(0, **changes)


def test_page_rejects_disorder_and_mutable_archives() -> None:
    with pytest.raises(ValueError, match="oldest first"):
        make_page((make_item(1), make_item(0)))
    with pytest.raises(ValueError, match="checkpoint"):
        make_page((make_item(0),), archive=True)
    assert newest_updated(()) == EMPTY_FEED_UPDATED
