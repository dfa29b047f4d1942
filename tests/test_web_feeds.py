"""The feeds over HTTP (web.feeds, feeds.entries, feeds.documents), read back with feedparser and lxml.

On SQLite and on PostgreSQL: a registry of a few organizations (one with a
hostile name, one whose statement is 5,000 characters of hostile text, one
renamed after it endorsed), endorsements self-signed and attested, a
withdrawal, and a signed checkpoint, served with archive pages of 5 entries.
A watchdog walks the RFC 5005 chain from the subscription document and must
find exactly the log; the same leaf has the same id in every feed; links,
hashes and content verify against the log API; conditional requests answer
304 without rendering; hostile text stays text in Atom and RSS alike.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree, html

from feeds import documents as feed_documents
from feeds import isolate
from feeds.entries import entry_id
from registry import canonical
from registry.statements import scope_words
from registry.times import parse_time
from tests.conftest import ORIGIN, Actor, Backend, World, make_world, sign_checkpoint, signing_world

PAGE = 5
BASE = "http://127.0.0.1:8000"
HOSTILE_NAME = '<script>alert(1)</script> "Quote\'s" \u202eevil Corp'
HOSTILE_TEXT = '<script>alert(1)</script> & "double" \'single\' \u202eevil\u202c ]]> <b onmouseover=x> \uffff '
LONG_STATEMENT = (HOSTILE_TEXT * 100)[:5000]
CODE, VERSION = "hiroshima-coc", "2023-10-30"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
RSS_TYPE = "application/rss+xml; charset=utf-8"
FORMATS = ["atom", "rss"]


@dataclass
class Served:
    app: Flask
    backend: Backend
    size: int
    checkpoint: str

    def client(self) -> FlaskClient:
        return self.app.test_client()


def register(world: World, slug: str, name: str, actor: Actor | None = None) -> None:
    world.submit(world.maintainer.sign("organization.registered", org=slug, name=name, country="JP", kind="company",
                                       public_keys=[actor.public] if actor else []))


def populate(world: World) -> None:
    m = world.maintainer
    kddi, acme, hostile, renamed = Actor(), Actor(), Actor(), Actor()
    world.code()
    register(world, "kddi", "KDDI Corporation", kddi)
    register(world, "acme", "Acme", acme)
    register(world, "hostile", HOSTILE_NAME, hostile)
    register(world, "oldname", "Old Name Inc", renamed)
    common = {"code": CODE, "version": VERSION, "effective_date": "2024-02-01"}
    world.submit(kddi.sign("endorsement.made", org="kddi", scope=[1, 2, 3], **common))
    world.submit(m.sign("endorsement.made", org="acme", scope="all", evidence=[{"url": "https://news.example/a"}],
                        **common))
    world.submit(hostile.sign("endorsement.made", org="hostile", scope=[2, 4, 5, 6], statement=LONG_STATEMENT,
                              **common))
    world.submit(renamed.sign("endorsement.made", org="oldname", scope="all", **common))
    world.submit(m.sign("organization.updated", org="oldname", name="New Name Inc"))
    world.submit(acme.sign("endorsement.withdrawn", org="acme", code=CODE, reason=HOSTILE_TEXT.strip(),
                           effective_date="2024-06-01"))
    world.submit(acme.sign("endorsement.made", org="acme", scope=[1], **common))
    world.submit(acme.sign("endorsement.withdrawn", org="acme", code=CODE, reason="Merged into a group policy.",
                           effective_date="2024-07-01"))
    for i in range(6):
        register(world, f"filler-{i}", f"Filler {i}")


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    with signing_world(module_backend) as world:
        populate(world)
        checkpoint = sign_checkpoint(module_backend, world.registry)
        assert world.registry.size() % PAGE != 0
        with module_backend.serve(FEED_PAGE_SIZE=PAGE) as app:
            yield Served(app, module_backend, world.registry.size(), checkpoint.note.decode())


@pytest.fixture(scope="module")
def events(served: Served) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = served.client().get("/api/v1/events", query_string={"limit": 200}).get_json()["items"]
    assert len(found) == served.size
    return found


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch, served: Served) -> list[str]:
    """Counts renders from now on, with an empty render cache."""
    calls: list[str] = []
    for name in ("render_atom", "render_rss"):
        original = getattr(feed_documents, name)

        def counted(page: Any, original: Any = original, name: str = name) -> bytes:
            calls.append(name)
            return original(page)  # type: ignore[no-any-return]

        monkeypatch.setattr(feed_documents, name, counted)
    served.app.extensions.pop("feed_cache", None)
    return calls


def fetch(client: FlaskClient, url: str, **headers: str) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, (url, parsed.get("bozo_exception"))
    return response, parsed


def link(parsed: Any, rel: str) -> str | None:
    return next((x["href"] for x in parsed.feed.get("links", []) if x["rel"] == rel), None)


def local(url: str) -> str:
    assert url.startswith(BASE + "/"), url  # RFC 5005: follow links of the same authority only
    return url[len(BASE):]


def leaf_index(entry: Any) -> int:
    return int(entry["reg_leafindex"])


# --- subscription and archives ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_subscription_document(client: FlaskClient, served: Served, events: list[dict[str, Any]], fmt: str) -> None:
    response, parsed = fetch(client, f"/feeds/events.{fmt}")
    assert parsed.version == ("atom10" if fmt == "atom" else "rss20")
    assert response.headers["Content-Type"] == (ATOM_TYPE if fmt == "atom" else RSS_TYPE)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["ETag"].startswith('"') and not response.headers["ETag"].startswith("W/")
    first_open = served.size // PAGE * PAGE
    assert sorted(leaf_index(e) for e in parsed.entries) == list(range(first_open, served.size))
    assert [leaf_index(e) for e in parsed.entries] == sorted((leaf_index(e) for e in parsed.entries), reverse=True)
    newest = parse_time(events[-1]["recorded_at"])
    assert response.headers["Last-Modified"] == format_datetime(newest, usegmt=True)
    assert parsed.feed["reg_checkpoint"] == served.checkpoint.strip()  # feedparser strips the final newline
    assert f"<reg:checkpoint>{served.checkpoint}</reg:checkpoint>".encode() in response.data
    assert link(parsed, "prev-archive") == f"{BASE}/feeds/events/archive/{served.size // PAGE - 1}.{fmt}"
    assert link(parsed, "self") == f"{BASE}/feeds/events.{fmt}"
    assert "fh_archive" not in parsed.feed


@pytest.mark.parametrize("fmt", FORMATS)
def test_archive_chain_is_exactly_the_log(client: FlaskClient, served: Served, fmt: str) -> None:
    _, parsed = fetch(client, f"/feeds/events.{fmt}")
    seen = [e.id for e in parsed.entries]
    url, pages = link(parsed, "prev-archive"), 0
    while url is not None:
        response, page = fetch(client, local(url))
        pages += 1
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert page.feed["fh_archive"] == ""
        assert link(page, "current") == f"{BASE}/feeds/events.{fmt}"
        k = int(url.rsplit("/", 1)[1].split(".")[0])
        assert link(page, "next-archive") == f"{BASE}/feeds/events/archive/{k + 1}.{fmt}"
        assert sorted(leaf_index(e) for e in page.entries) == list(range(k * PAGE, (k + 1) * PAGE))
        assert "reg_checkpoint" not in page.feed  # an archive page never changes; a checkpoint does
        seen.extend(e.id for e in page.entries)
        url = link(page, "prev-archive")
    assert pages == served.size // PAGE
    assert sorted(seen) == sorted(entry_id(ORIGIN, i) for i in range(served.size))
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("url", [
    "/feeds/events/archive/{full}.atom", "/feeds/events/archive/{full}.rss", "/feeds/events/archive/1000000.atom",
    "/feeds/events/archive/01.atom", "/feeds/events/archive/0.json", "/feeds/types/endorsement.made.json",
    "/feeds/types/endorsement.nonsense.atom", "/feeds/organizations/nobody.rss", "/feeds/codes/nothing.atom",
])
def test_missing_feeds_are_404(client: FlaskClient, served: Served, url: str) -> None:
    response = client.get(url.replace("{full}", str(served.size // PAGE)))
    assert response.status_code == 404


def test_a_page_size_dividing_the_log_repeats_the_newest_page_in_the_subscription(served: Served) -> None:
    with served.backend.serve(FEED_PAGE_SIZE=served.size) as app:
        client = app.test_client()
        _, parsed = fetch(client, "/feeds/events.atom")
        assert sorted(leaf_index(e) for e in parsed.entries) == list(range(served.size))
        assert link(parsed, "prev-archive") == f"{BASE}/feeds/events/archive/0.atom"
        _, page = fetch(client, "/feeds/events/archive/0.atom")
        assert len(page.entries) == served.size and link(page, "prev-archive") is None
        assert client.get("/feeds/events/archive/1.atom").status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_subscription_feed_always_carries_the_newest_entries(backend: Backend, fmt: str) -> None:
    """Sizes 19, 20 (an exact multiple of the page size: the current page is empty) and 21, pages of 4."""
    registry = backend.open()
    try:
        world = make_world(registry)
        world.code()
        while registry.size() < 19:
            register(world, f"org-{registry.size()}", f"Org {registry.size()}")
        with backend.serve(FEED_PAGE_SIZE=4) as app:
            client = app.test_client()
            for size in (19, 20, 21):
                if size > registry.size():
                    new = world.maintainer.sign("organization.registered", org=f"org-{size - 1}",
                                                name=f"Org {size - 1}", country="JP", kind="company", public_keys=[])
                    assert client.post("/api/v1/statements", data=new,
                                       content_type="application/json").status_code == 201
                _, parsed = fetch(client, f"/feeds/events.{fmt}")
                newest = [leaf_index(e) for e in parsed.entries]
                assert newest and max(newest) == size - 1, size
                # A watchdog walks prev-archive from the subscription document, dropping repeated ids.
                seen: dict[str, int] = {e.id: leaf_index(e) for e in parsed.entries}
                url = link(parsed, "prev-archive")
                assert url == f"{BASE}/feeds/events/archive/{size // 4 - 1}.{fmt}"
                while url is not None:
                    _, page = fetch(client, local(url))
                    seen.update((e.id, leaf_index(e)) for e in page.entries)
                    url = link(page, "prev-archive")
                assert sorted(seen.values()) == list(range(size)), size
                assert set(seen) == {entry_id(ORIGIN, i) for i in range(size)}
    finally:
        registry.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_moving_the_site_keeps_every_id(served: Served, fmt: str) -> None:
    """The same log served under two base URLs with one origin: the same entry and feed ids, moved links."""
    def read(app: Flask) -> tuple[dict[int, str], set[str | None], set[str]]:
        client = app.test_client()
        ids: dict[int, str] = {}
        feed_ids: set[str | None] = set()  # RSS has no feed id
        links: set[str] = set()
        for url in [f"/feeds/events.{fmt}", *(f"/feeds/events/archive/{k}.{fmt}" for k in range(served.size // PAGE))]:
            _, parsed = fetch(client, url)
            feed_ids.add(parsed.feed.get("id"))
            for entry in parsed.entries:
                ids[leaf_index(entry)] = entry.id
                links.add(entry.link)
        return ids, feed_ids, links

    ids, feed_ids, links = read(served.app)
    with served.backend.serve({"REGISTRY_BASE_URL": "https://moved.example"}, FEED_PAGE_SIZE=PAGE) as moved:
        moved_ids, moved_feed_ids, moved_links = read(moved)
    assert sorted(ids) == list(range(served.size))
    assert moved_ids == ids and moved_feed_ids == feed_ids
    assert feed_ids == ({f"tag:test.example,2023-10-30:log/{ORIGIN}/feed/events"} if fmt == "atom" else {None})
    assert all(link.startswith(BASE + "/") for link in links)
    assert all(link.startswith("https://moved.example/") for link in moved_links)


# --- entries ------------------------------------------------------------------------------------


def all_entries(client: FlaskClient, served: Served, fmt: str) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for k in range(served.size // PAGE):
        found.update((leaf_index(e), e) for e in fetch(client, f"/feeds/events/archive/{k}.{fmt}")[1].entries)
    found.update((leaf_index(e), e) for e in fetch(client, f"/feeds/events.{fmt}")[1].entries)
    return found


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_carry_the_statement_its_hash_and_links(client: FlaskClient, served: Served,
                                                        events: list[dict[str, Any]], fmt: str) -> None:
    entries = all_entries(client, served, fmt)
    assert sorted(entries) == list(range(served.size))
    for doc in events:
        i = doc["index"]
        entry = entries[i]
        assert entry.id == entry_id(ORIGIN, i) == f"tag:test.example,2023-10-30:log/{ORIGIN}/entry/{i}"
        if fmt == "rss":
            assert entry.guidislink is False  # isPermaLink="false": a tag: id is no URL
        text = entry.content[0].value if fmt == "atom" else entry["reg_statement"]
        assert json.loads(text) == doc["statement"]
        # U+FFFF (not XML) and format characters such as U+202E are written as \u escapes; else byte-exact
        if not any(c == "\uffff" or unicodedata.category(c) == "Cf"
                   for c in json.dumps(doc["statement"], ensure_ascii=False)):
            assert text.encode() == canonical.dumps(doc["statement"])
        leaf = client.get(f"/api/v1/log/entries/{i}").data
        assert entry["reg_eventhash"] == "sha256:" + hashlib.sha256(leaf).hexdigest()
        assert entry["reg_type"] == doc["type"]
        links = {(x["rel"], x.get("type"), x["href"]) for x in entry.links}
        assert links >= {
            ("related", "application/json", f"{BASE}/api/v1/log/entries/{i}"),
            ("related", "application/json", f"{BASE}/api/v1/log/proofs/inclusion?index={i}"),
            ("related", "text/plain", f"{BASE}/api/v1/receipts/{i}"),
        }
        assert entry.link == f"{BASE}/log/{i}"
        if fmt == "atom":
            assert ("alternate", "text/html", f"{BASE}/log/{i}") in links
        assert parse_time(doc["recorded_at"]).timetuple()[:6] == tuple(entry.published_parsed)[:6]


def test_the_same_leaf_has_the_same_id_and_words_everywhere(client: FlaskClient, served: Served,
                                                            events: list[dict[str, Any]]) -> None:
    entries = {fmt: all_entries(client, served, fmt) for fmt in FORMATS}
    withdrawn = [d["index"] for d in events if d["type"] == "endorsement.withdrawn"]
    for fmt in FORMATS:
        for url in (f"/feeds/organizations/acme.{fmt}", f"/feeds/types/endorsement.withdrawn.{fmt}",
                    f"/feeds/codes/{CODE}.{fmt}"):
            _, parsed = fetch(client, url)
            assert parsed.entries
            for e in parsed.entries:
                same = entries[fmt][leaf_index(e)]
                assert (e.id, e.title, e["reg_eventhash"]) == (same.id, same.title, same["reg_eventhash"])
                assert e.id == entries["atom"][leaf_index(e)].id  # and across formats
        _, by_type = fetch(client, f"/feeds/types/endorsement.withdrawn.{fmt}")
        assert sorted(leaf_index(e) for e in by_type.entries) == withdrawn
        assert by_type.feed["reg_checkpoint"] == served.checkpoint.strip()


def test_renders_are_byte_identical(served: Served) -> None:
    urls = ["/feeds/events.atom", "/feeds/events.rss", "/feeds/events/archive/0.atom", "/feeds/organizations/acme.rss"]
    first = {u: served.client().get(u).data for u in urls}
    with served.backend.serve(FEED_PAGE_SIZE=PAGE) as other:  # another process: its own cache, its own render
        for url in urls:
            assert other.test_client().get(url).data == first[url], url


def test_filtered_feeds_hold_the_newest_entries(client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
                                                served: Served, events: list[dict[str, Any]]) -> None:
    monkeypatch.setattr(feed_documents, "FILTERED_ENTRIES", 3)
    served.app.extensions.pop("feed_cache", None)
    _, parsed = fetch(client, f"/feeds/codes/{CODE}.atom")
    mine = [d["index"] for d in events if d["code"] == CODE]
    assert sorted(leaf_index(e) for e in parsed.entries) == mine[-3:]
    assert "prev-archive" not in {x["rel"] for x in parsed.feed.links}
    served.app.extensions.pop("feed_cache", None)


def test_titles_say_what_happened(client: FlaskClient, served: Served) -> None:
    titles = {leaf_index(e): e.title for e in all_entries(client, served, "atom").values()}
    # every piece of statement text is in Unicode isolates (FSI ... PDI)
    # Codes by name, dates in words: "Names, not slugs"
    code = "the \u2068Hiroshima Code\u2069"
    assert f"\u2068KDDI Corporation\u2069 endorsed actions 1-3 of {code}, effective 1 February 2024" in titles.values()
    assert (f"\u2068Acme\u2069 endorsed {code} (all actions), effective 1 February 2024 (attested by a maintainer)"
            in titles.values())
    assert (f"\u2068Acme\u2069 withdrew its endorsement of {code}, effective 1 July 2024: "
            "\u2068Merged into a group policy.\u2069" in titles.values())
    # names as they were when the entry was recorded: the rename does not rewrite history
    assert f"\u2068Old Name Inc\u2069 endorsed {code} (all actions), effective 1 February 2024" in titles.values()
    assert "\u2068New Name Inc\u2069 updated its profile (name)" in titles.values()
    assert scope_words([1, 2, 3, 5, 7, 8]) == "actions 1-3, 5, 7-8" and scope_words([4]) == "action 4"


def test_feed_titles_say_what_they_contain(client: FlaskClient) -> None:
    def title(path: str) -> str:
        found = str(feedparser.parse(client.get(path).data).feed.title)
        assert found.endswith(" · Hiroshima Code registry")
        return found.removesuffix(" · Hiroshima Code registry")

    assert title("/feeds/types/endorsement.withdrawn.atom") == "Withdrawals from every Code"
    assert title("/feeds/organizations/kddi.rss") == "\u2068KDDI Corporation\u2069: every record"
    assert title("/feeds/codes/hiroshima-coc.atom") == "\u2068Hiroshima Code\u2069: every record"
    assert title("/feeds/events.atom") == "All log entries"


# --- HTTP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/feeds/events.atom", "/feeds/events/archive/1.rss",
                                 "/feeds/types/endorsement.made.atom"])
def test_conditional_get(client: FlaskClient, renders: list[str], url: str) -> None:
    # 1. a client that saw this version: 304, nothing rendered
    first = client.get(url, headers={"If-None-Match": '"x"'})  # a stale ETag: 200, rendered once
    # (a complete archive page may come from the shared store of rendered pages instead)
    archived = "/archive/" in url
    assert first.status_code == 200 and (len(renders) <= 1 if archived else len(renders) == 1)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    renders.clear()
    client.application.extensions.pop("feed_cache", None)
    not_modified = client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert not_modified.headers["ETag"] == etag and not_modified.headers["Cache-Control"] == first.headers[
        "Cache-Control"]
    assert client.get(url, headers={"If-None-Match": f"W/{etag}"}).status_code == 304  # weak comparison
    assert client.get(url, headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    # 2. Last-Modified alone, and both validators matching
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-None-Match": etag, "If-Modified-Since": modified}).status_code == 304
    assert renders == []
    # 3. a stale ETag wins over a matching date (RFC 9110): 200, rendered
    stale = client.get(url, headers={"If-None-Match": '"stale"', "If-Modified-Since": modified})
    expected = 0 if archived else 1  # archives: served from the shared store, never rendered again
    assert stale.status_code == 200 and stale.data == first.data and len(renders) == expected
    # 4. an older date: 200 from the render cache, no second render
    old = client.get(url, headers={"If-Modified-Since": "Mon, 30 Oct 2023 00:00:00 GMT"})
    assert old.status_code == 200 and old.data == first.data and len(renders) == expected
    head = client.head(url)
    assert head.status_code == 200 and head.headers["ETag"] == etag and head.data == b""


def named(tree: Any, name: str) -> list[Any]:
    """Elements of that local name, in any namespace."""
    return [el for el in tree.iter() if isinstance(el.tag, str) and etree.QName(el).localname == name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_text_stays_text(client: FlaskClient, served: Served, fmt: str) -> None:
    for url in (f"/feeds/organizations/hostile.{fmt}", f"/feeds/events/archive/1.{fmt}",
                f"/feeds/types/endorsement.withdrawn.{fmt}"):
        response, parsed = fetch(client, url)
        tree = etree.fromstring(response.data)
        assert not named(tree, "script")
        titles = [el.text or "" for el in named(tree, "title")]
        assert any("<script>alert(1)</script>" in t for t in titles), url  # the markup is text, as written
        if fmt == "atom":
            assert {e.title_detail.type for e in parsed.entries} == {"text/plain"}
            assert {e.summary_detail.type for e in parsed.entries} == {"text/plain"}
        if fmt == "rss":
            # readers render <description> as HTML: parsed so, it holds no markup, only the text
            shown = []
            for description in tree.iter("description"):
                fragment = html.fragment_fromstring(description.text or "", create_parent="div")
                assert not [el for el in fragment.iter() if el.tag == "script"]
                shown.append(fragment.text_content())
            assert any("<script>alert(1)</script>" in text for text in shown), url
    _, parsed = fetch(client, f"/feeds/organizations/hostile.{fmt}")
    made = next(e for e in parsed.entries if e["reg_type"] == "endorsement.made")
    assert made.title == (f"{isolate(HOSTILE_NAME)} endorsed actions 2, 4-6 of the \u2068Hiroshima Code\u2069, "
                          "effective 1 February 2024")
    statement = json.loads(made.content[0].value if fmt == "atom" else made["reg_statement"])["statement"]
    assert statement == LONG_STATEMENT and len(statement) == 5000
    if fmt == "atom":
        assert made.author == isolate(HOSTILE_NAME)
        assert made.summary.startswith("Statement: \u2068<script>")
        assert "\ufffd" in made.summary  # U+FFFF cannot be XML text; it shows as U+FFFD
    assert parsed.feed.title == f"{isolate(HOSTILE_NAME)}: every record · Hiroshima Code registry"


def test_new_entries_move_the_subscription_but_not_the_archives(backend: Backend) -> None:
    registry = backend.open()
    try:
        world = make_world(registry)
        world.code()
        for i in range(3):
            register(world, f"org-{i}", f"Org {i}")
        with backend.serve(FEED_PAGE_SIZE=PAGE, SUBMIT_RATE="100/minute") as app:
            client = app.test_client()
            sub, archive = client.get("/feeds/events.atom"), client.get("/feeds/events/archive/0.atom")
            assert archive.status_code == 200
            new = world.maintainer.sign("organization.registered", org="late", name="Late", country="JP",
                                        kind="company", public_keys=[])
            assert client.post("/api/v1/statements", data=new, content_type="application/json").status_code == 201
            moved = client.get("/feeds/events.atom", headers={"If-None-Match": sub.headers["ETag"]})
            assert moved.status_code == 200 and moved.headers["ETag"] != sub.headers["ETag"]
            titles = {e.title for e in feedparser.parse(moved.data).entries}
            assert "\u2068Late\u2069 (Japan, company) was registered in this registry" in titles
            again = client.get("/feeds/events/archive/0.atom", headers={"If-None-Match": archive.headers["ETag"]})
            assert again.status_code == 304
            assert client.get("/feeds/types/organization.registered.atom",
                              headers={"If-None-Match": sub.headers["ETag"]}).status_code == 200
    finally:
        registry.close()
