"""Render a FeedPage as Atom 1.0 or RSS 2.0 bytes with feedgen 1.0.0.

Output is a pure function of the page: every date comes from the items (never
now()), so identical pages give identical bytes and archive pages can be
cached forever. Each entry carries its canonical statement JSON as text
(Atom ``<content type="text">``, RSS ``<reg:statement>``) plus the registry's
``reg:`` elements, one value per element text, because feedparser drops
attributes on unknown elements. An entry that is not a log entry (no leaf
index) has no statement, leaf index, hash or proof links: in RSS its content
is its description. All caller text goes in as XML text, which
lxml escapes; nothing is ever passed as HTML or XHTML, so hostile titles cannot
become markup. The one exception to "text as is" is RSS ``<description>``,
which RSS defines as HTML: there the summary is escaped once for HTML text
(``&``, ``<``, ``>`` only) before lxml escapes it for XML like every value.
Quotes stay as they are: HTML text does not need them escaped, and a reader
that shows the description as plain text would show ``&#x27;`` for ``'``.

feedparser strips surrounding whitespace from element text, so a reader of
``reg:checkpoint`` through it gets the note without its final newline; the
document itself carries the exact text.

This module does not choose URLs, word titles, page the log (see
``feeds.archive``) or cache; it knows nothing about HTTP.
"""

from __future__ import annotations

import html

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from lxml import etree

from feeds.items import FeedItem, FeedPage

REG_NS = "https://hcoc-registry.org/ns/feed/1"
FH_NS = "http://purl.org/syndication/history/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
TYPE_SCHEME = "https://hcoc-registry.org/ns/type"
CODE_SCHEME = "https://hcoc-registry.org/ns/code"
ORG_SCHEME = "https://hcoc-registry.org/ns/org"
ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
# Part of the generator element: bump it when the rendering changes, so caches
# keyed on it (and readers) can tell old archive bytes from new ones.
# 2: quotes in the RSS description are no longer HTML-escaped.
# 3: the subscription document of a log of whole pages repeats the newest page (it was empty,
#    and kept its ETag while the size stayed the same).
FORMAT_VERSION = "3"

_LINK_ATTRIBUTES = ("rel", "type", "hreflang", "title", "length")


def render_atom(page: FeedPage) -> bytes:
    """The page as an Atom 1.0 document (UTF-8, with XML declaration)."""
    return _generator(page, ATOM_TYPE).atom_str(pretty=False)


def render_rss(page: FeedPage) -> bytes:
    """The page as an RSS 2.0 document (UTF-8, with XML declaration)."""
    return _generator(page, RSS_TYPE).rss_str(pretty=False)


class FixedEntry(FeedEntry):
    """A FeedEntry whose Atom links keep their rel, type, hreflang, title and length.

    feedgen 1.0.0 (issue #135, from commit 966fea4) rebinds its loop variable
    ``link`` to the new lxml element inside ``atom_entry``, so every entry link
    comes out with ``href`` only and readers take all of them as
    ``rel="alternate"``: the proof and receipt links would be lost. The links
    are emitted in the order ``link()`` returns them, so the attributes are
    copied back pairwise. Harmless on a fixed feedgen (same values again).
    """

    def atom_entry(self, extensions: bool = True) -> etree._Element:
        entry = super().atom_entry(extensions=extensions)
        # strict: if a feedgen change ever emits a different number of links,
        # fail loudly rather than attach attributes to the wrong link.
        for node, spec in zip(entry.findall("link"), self.link() or [], strict=True):
            for key in _LINK_ATTRIBUTES:
                if spec.get(key):
                    node.set(key, str(spec[key]))
        return entry


class RegistryFeedExtension(BaseExtension):
    """Feed-level ``fh:archive``, ``reg:checkpoint`` and, for RSS, the navigation ``atom:link``s."""

    def __init__(self) -> None:
        self.page: FeedPage | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"reg": REG_NS, "fh": FH_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        self._history_and_checkpoint(feed)
        return feed

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss[0]
        assert self.page is not None
        # feedgen emits only rel="self" as atom:link in RSS (RFC 5005 appendix B
        # wants the archive rels there too); alternate is the channel <link>.
        for rel, href, media_type in _navigation(self.page, RSS_TYPE):
            if rel not in ("self", "alternate"):
                link = xml_elem(f"{{{ATOM_NS}}}link", channel, rel=rel, href=href)
                if media_type:
                    link.set("type", media_type)
        self._history_and_checkpoint(channel)
        return rss

    def _history_and_checkpoint(self, parent: etree._Element) -> None:
        assert self.page is not None
        if self.page.archive:
            xml_elem(f"{{{FH_NS}}}archive", parent)
        if self.page.checkpoint is not None:
            xml_elem(f"{{{REG_NS}}}checkpoint", parent).text = self.page.checkpoint


class RegistryEntryExtension(BaseEntryExtension):
    """Per-entry ``reg:`` elements; in RSS also the statement text and the related links."""

    def __init__(self) -> None:
        self.item: FeedItem | None = None

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        assert self.item is not None
        _registry_elements(entry, self.item)
        return entry

    def extend_rss(self, entry: etree._Element) -> etree._Element:
        assert self.item is not None
        _registry_elements(entry, self.item)
        # RSS has no text <content>; content:encoded and description are HTML. The content of a
        # log entry is its statement; any other entry's content is its description (_add_entry).
        if self.item.index is not None:
            xml_elem(f"{{{REG_NS}}}statement", entry).text = self.item.content
        for link in _entry_links(self.item)[1:]:  # [0], the page, is the RSS <link>
            xml_elem(f"{{{ATOM_NS}}}link", entry, **link)
        return entry


def _generator(page: FeedPage, media_type: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("reg", RegistryFeedExtension, RegistryEntryExtension)
    fg.reg.page = page
    fg.id(page.feed_id)
    fg.title(page.title)
    fg.subtitle(page.subtitle or page.title)  # also the RSS description, which is required
    fg.updated(page.updated)
    fg.generator("hcoc-registry feeds", version=FORMAT_VERSION)
    fg.author({"name": page.author_name, **({"uri": page.author_uri} if page.author_uri else {})})
    for rel, href, link_type in _navigation(page, media_type):
        fg.link(href=href, rel=rel, type=link_type)
    for item in reversed(page.items):  # newest first, as readers expect
        _add_entry(fg, item, atom=media_type == ATOM_TYPE)
    return fg


def _navigation(page: FeedPage, media_type: str) -> list[tuple[str, str, str | None]]:
    """Feed-level links as (rel, href, type); alternate last, because feedgen
    makes the last-added link the RSS channel <link>."""
    links: list[tuple[str, str, str | None]] = [("self", page.self_url, media_type)]
    for rel, href in (("prev-archive", page.prev_archive_url), ("next-archive", page.next_archive_url),
                      ("current", page.current_url)):
        if href:
            links.append((rel, href, media_type))
    if page.describedby_url:
        links.append(("describedby", page.describedby_url, "text/html"))
    links.append(("alternate", page.alternate_url, "text/html"))
    return links


def _add_entry(fg: FeedGenerator, item: FeedItem, *, atom: bool) -> None:
    fe = fg.add_entry(FixedEntry(), order="append")
    fe.reg.item = item
    fe.id(item.entry_id)  # also the RSS guid, isPermaLink="false"
    fe.title(item.title)
    fe.published(item.recorded_at)
    fe.updated(item.updated)
    if atom:
        fe.summary(item.summary, type="text")
        fe.content(item.content, type="text")
        if item.org_name:
            fe.author({"name": item.org_name, **({"uri": item.org_url} if item.org_url else {})})
    elif item.index is None:
        fe.description(html.escape(item.content).replace("\n", "<br>\n"))
    elif item.summary:
        # HTML text needs &, < and > escaped, nothing more; lxml adds the XML escaping on top.
        fe.description(html.escape(item.summary, quote=False))
    for link in _entry_links(item):
        fe.link(**link)
    fe.category(_categories(item, atom))


def _entry_links(item: FeedItem) -> list[dict[str, str]]:
    links = [
        {"href": item.page_url, "rel": "alternate", "type": "text/html"},
        {"href": item.json_url, "rel": "related", "type": "application/json", "title": "log entry"},
        {"href": item.proof_url, "rel": "related", "type": "application/json", "title": "inclusion proof"},
        {"href": item.receipt_url, "rel": "related", "type": "text/plain", "title": "receipt"},
    ]
    return [link for link in links if link["href"] is not None]  # an entry that is no log entry: the page only


def _categories(item: FeedItem, atom: bool) -> list[dict[str, str]]:
    categories = [{"term": item.type, "scheme": TYPE_SCHEME}]
    if item.code:
        term = f"{item.code}:{item.code_version}" if item.code_version else item.code
        categories.append(_labelled({"term": term, "scheme": CODE_SCHEME}, item.code_title, atom))
    if item.org:
        categories.append(_labelled({"term": item.org, "scheme": ORG_SCHEME}, item.org_name, atom))
    return categories


def _labelled(category: dict[str, str], label: str | None, atom: bool) -> dict[str, str]:
    # Atom's label is the name people read; the term stays the stable slug. (RSS has no label: feedgen
    # would put it in place of the term, so RSS keeps the term alone.)
    return {**category, "label": label} if label and atom else category


def _registry_elements(entry: etree._Element, item: FeedItem) -> None:
    log_entry = item.index is not None
    values: list[tuple[str, str | None]] = [
        ("leafIndex", str(item.index) if log_entry else None),
        ("eventHash", item.event_hash),
        ("type", item.type),
        ("attested", ("true" if item.attested else "false") if log_entry else None),
        ("code", item.code),
        ("codeVersion", item.code_version),
        ("org", item.org),
    ]
    for name, value in values:
        if value is not None:
            xml_elem(f"{{{REG_NS}}}{name}", entry).text = value
