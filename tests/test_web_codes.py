"""The Code pages (web.codes, web.standings, templates) on the registry's real record, through the Flask app.

The story, on SQLite and on PostgreSQL: the shipped record file
(``registry/data/commitments.json``: four Codes, 52 organizations, 92 dated
events) is loaded as ``registry init --demo`` loads it, and the clock signs a
checkpoint. Then the pages must say what the stances folded from the log say:
xAI signed only the Safety and Security chapter of the EU GPAI Code of
Practice, Meta declined it, Anthropic removed White House commitments 2 and 7;
each organization is listed once, in its group, with its date, marks and the
record that set its stance; every item of every Code has a page saying who
covers it; the Seoul commitments' safety framework, due on 10 February 2025,
is judged for every signatory as of today and as of any day, on the page and
in the JSON API alike; the downloads of the stances hold all 52 x 4 pairs as
the stances say, the CSV the same rows as the JSON, with formulas made inert;
the feed of obligations falling due has the Seoul framework, with ids that
do not change with the site's address.

One registry per backend (module scope): the tests only read it.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml.html import HtmlElement

from registry import stancetable
from registry.stances import StanceBook, basis, obligations
from registry.times import parse_time
from registry.wording import date_words
from tests.conftest import ORIGIN, Backend, load_demo, page, signing_world, words
from web.codes import today
from web.standings import group_key

GPAI, SEOUL, WH, HIROSHIMA = "eu-gpai-cop", "seoul-faisc", "us-wh-voluntary-2023", "hiroshima-coc"
CODES = (HIROSHIMA, GPAI, SEOUL, WH)
ITEMS = {HIROSHIMA: 11, GPAI: 3, SEOUL: 8, WH: 8}


@dataclass
class Demo:
    app: Flask
    book: StanceBook
    state: dict[str, Any]
    checkpoint_size: int

    def client(self) -> FlaskClient:
        return self.app.test_client()


@pytest.fixture(scope="module")
def demo(module_backend: Backend) -> Iterator[Demo]:
    record = load_demo(module_backend)
    with module_backend.serve() as app:
        yield Demo(app, record.book, record.state, record.checkpoint_size)


@pytest.fixture
def client(demo: Demo) -> FlaskClient:
    return demo.client()


text = words


def rows(doc: HtmlElement, section: str) -> dict[str, HtmlElement]:
    """The stance rows of a section (by its id), by organization slug."""
    found = {}
    for li in doc.xpath(f"//section[@id='{section}' or h2/@id='{section}' or h3/@id='{section}']"
                        "//li[contains(@class, 'stance-row')]"):
        slug = li.xpath(".//a[contains(@class, 'stance-org')]/@href")[0].rsplit("/", 1)[1]
        assert slug not in found, f"{slug} listed twice in {section}"
        found[slug] = li
    return found


# --- the list of Codes -----------------------------------------------------------------------


def test_the_list_shows_titles_and_counts_by_stance(client: FlaskClient, demo: Demo) -> None:
    doc = page(client, "/codes")
    cards = doc.xpath("//li[contains(@class, 'code-card')]")
    assert len(cards) == 4
    titles = {card.xpath(".//h2/a/@href")[0].rsplit("/", 1)[1]: text(card.xpath(".//h2")[0]) for card in cards}
    by_slug = {c["code"]: c["versions"][-1] for c in demo.state["codes"]}
    assert titles == {slug: by_slug[slug]["title"] for slug in CODES}  # titles, never slugs
    for card in cards:
        slug = card.xpath(".//h2/a/@href")[0].rsplit("/", 1)[1]
        shown = {text(d.xpath("dt")[0]): int(text(d.xpath("dd")[0])) for d in card.xpath(".//dl/div")}
        counts = demo.book.counts(slug)
        assert shown == {"Endorsed in full": counts["endorsed"], "In part": counts["partial"],
                         "Declined": counts["declined"], "Withdrawn": counts["withdrawn"],
                         "Reported only": counts["reported"]}
    gpai = next(c for c in cards if "/codes/eu-gpai-cop" in c.xpath(".//h2/a/@href")[0])
    assert "Endorsed in full 27" in text(gpai) and "In part 1" in text(gpai) and "Declined 1" in text(gpai)


# --- who stands where ------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", CODES)
def test_every_organization_is_listed_once_in_its_group(client: FlaskClient, demo: Demo, slug: str) -> None:
    doc = page(client, f"/codes/{slug}")
    listed: dict[str, str] = {}
    for section in doc.xpath("//section[contains(@class, 'stance-group')]"):
        key = section.get("class").rsplit("stance-group-", 1)[1]
        for org in rows(doc, section.xpath("h3/@id")[0]):
            assert org not in listed
            listed[org] = key
    assert listed == {s.org: group_key(s) for s in demo.book.of_code(slug)}
    for org, row in rows(doc, "stances-heading").items():
        stance = demo.book.stance(org, slug)
        assert date_words(stance.date) in text(row)
        assert row.xpath(".//a[contains(@class, 'record-link')]/@href") == [f"/log/{stance.index}"]
        assert bool(row.xpath(".//span[contains(@class, 'badge-uncertain')]")) == stance.uncertain
        assert bool(row.xpath(".//span[contains(@class, 'badge-secondary')]")) == stance.secondary


def test_xai_endorses_the_safety_chapter_only_and_meta_declined(client: FlaskClient) -> None:
    doc = page(client, f"/codes/{GPAI}")
    assert text(doc.xpath("//h2[@id='items-heading']")[0]) == "Chapters (3)"
    headings = [text(li) for li in doc.xpath("//ol[contains(@class, 'code-items')]/li")]
    assert [h.split(":")[0] for h in headings] == ["Transparency", "Copyright", "Safety and Security"]
    xai = rows(doc, "group-partial")["xai"]
    assert "chapter 3 (Safety and Security)" in text(xai) and "1 August 2025" in text(xai)
    assert "meta" in rows(doc, "group-declined")
    assert text(doc.xpath("//h3[@id='group-endorsed']")[0]) == "Endorsed in full (27)"


def test_anthropic_removed_white_house_commitments_2_and_7(client: FlaskClient) -> None:
    doc = page(client, f"/codes/{WH}")
    anthropic = rows(doc, "group-narrowed")["anthropic"]
    assert "removed commitments 2, 7; now commitments 1, 3-6, 8" in text(anthropic)
    assert "March 2025" in text(anthropic)
    assert anthropic.xpath(".//span[contains(@class, 'badge-uncertain')]")
    assert "anthropic" not in rows(doc, "group-endorsed")


# --- one item ------------------------------------------------------------------------------------


def test_xai_is_under_chapter_3_and_not_chapters_1_and_2(client: FlaskClient) -> None:
    doc = page(client, f"/codes/{GPAI}/actions/3")
    assert text(doc.xpath("//h1")[0]) == "Chapter 3: Safety and Security"
    assert "chapter 3" in text(doc.xpath("//h2[@id='covering-heading']")[0])
    assert "xai" in rows(doc, "covering-heading") and "xai" not in rows(doc, "without-heading")
    for n in (1, 2):
        doc = page(client, f"/codes/{GPAI}/actions/{n}")
        assert "xai" not in rows(doc, "covering-heading")
        assert "endorses chapter 3 (Safety and Security)" in text(rows(doc, "without-heading")["xai"])


def test_anthropic_is_absent_from_white_house_commitment_2(client: FlaskClient) -> None:
    doc = page(client, f"/codes/{WH}/actions/2")
    assert text(doc.xpath("//h1")[0]) == "Commitment 2"
    assert "anthropic" not in rows(doc, "covering-heading")
    assert "removed commitment 2" in text(rows(doc, "without-heading")["anthropic"])
    assert "anthropic" in rows(page(client, f"/codes/{WH}/actions/1"), "covering-heading")


@pytest.mark.parametrize("slug", CODES)
def test_every_item_has_a_page_that_agrees_with_the_stances(client: FlaskClient, demo: Demo, slug: str) -> None:
    endorsing = {s.org for s in demo.book.of_code(slug) if s.endorsing}
    code_page = page(client, f"/codes/{slug}")
    for n in range(1, ITEMS[slug] + 1):
        doc = page(client, f"/codes/{slug}/actions/{n}")
        covering, without = set(rows(doc, "covering-heading")), set(rows(doc, "without-heading"))
        assert covering | without == endorsing and not covering & without
        link = code_page.xpath(f"//a[@href='/codes/{slug}/actions/{n}']")
        assert link and f"({len(covering)})" in text(link[0])


@pytest.mark.parametrize("path", [f"/codes/{GPAI}/actions/4", f"/codes/{GPAI}/actions/0",
                                  f"/codes/{GPAI}/actions/03", f"/codes/{GPAI}/actions/x", "/codes/nope/actions/1"])
def test_an_item_the_code_does_not_have_is_404(client: FlaskClient, path: str) -> None:
    page(client, path, status=404)


# --- obligations ---------------------------------------------------------------------------------


def verdict_rows(doc: HtmlElement) -> dict[str, tuple[str, HtmlElement]]:
    """Each organization's verdict in the obligations section: its status and its row."""
    found = {}
    for li in doc.xpath("//section[@id='obligations']//li[contains(@class, 'verdict-row')]"):
        slug = li.xpath(".//a[contains(@class, 'stance-org')]/@href")[0].rsplit("/", 1)[1]
        status = li.get("class").rsplit("verdict-row-", 1)[1]
        assert slug not in found
        found[slug] = (status, li)
    return found


def expected(demo: Demo, as_of: str) -> dict[str, str]:
    (only,) = obligations(demo.book, SEOUL, as_of)
    return {v.org: v.status for v in only.verdicts}


def test_seoul_verdicts_as_of_today(client: FlaskClient, demo: Demo) -> None:
    doc = page(client, f"/codes/{SEOUL}")
    section = doc.xpath("//section[@id='obligations']")[0]
    assert "Publish a safety framework covering the commitments" in text(section)
    assert "Due 10 February 2025" in text(section)
    found = verdict_rows(doc)
    assert {org: status for org, (status, _) in found.items()} == expected(demo, today())
    counts = Counter(status for status, _ in found.values())
    assert (counts["met"], counts["missed"], counts["undetermined"], counts["pending"]) == (4, 6, 10, 0)
    assert "4 met, 6 missed, 10 undetermined" in text(section)
    # A verdict that rests on a report links its record, and the report where it has an address.
    status, anthropic = found["anthropic"]
    assert status == "met" and "published 19 September 2023" in text(anthropic)
    report = next(r for o in demo.state["organizations"] if o["org"] == "anthropic" for r in o["reports"]
                  if r["code"] == SEOUL)
    assert anthropic.xpath(".//a[contains(@class, 'record-link')]/@href") == [f"/log/{report['index']}"]
    assert report["url"] in anthropic.xpath(".//a[contains(@class, 'external')]/@href")
    assert "no record of it by 10 February 2025" in text(found["ibm"][1])
    assert "do not state when the organization joined" in text(found["minimax"][1])


def test_seoul_verdicts_before_the_due_date(client: FlaskClient, demo: Demo) -> None:
    doc = page(client, f"/codes/{SEOUL}?as_of=2025-01-01")
    found = {org: status for org, (status, _) in verdict_rows(doc).items()}
    assert found == expected(demo, "2025-01-01")
    # Pending, except those whose framework was published already.
    assert {org for org, status in found.items() if status != "pending"} == {"anthropic", "google", "magic",
                                                                              "openai"}
    assert {status for status in found.values()} == {"met", "pending"}
    assert "As of 1 January 2025" in text(doc.xpath("//section[@id='obligations']")[0])
    assert doc.xpath("//input[@name='as_of']/@value") == ["2025-01-01"]


@pytest.mark.parametrize("value", ["2025-02-30", "2025-2-1", "yesterday", "1899-12-31", "2025-01-01T00:00:00Z"])
def test_a_bad_as_of_is_a_400_page(client: FlaskClient, value: str) -> None:
    doc = page(client, f"/codes/{SEOUL}?as_of={value}", status=400)
    assert "as_of" in text(doc)


def test_a_code_without_obligations_says_so(client: FlaskClient) -> None:
    doc = page(client, f"/codes/{GPAI}")
    assert "sets no dated obligations" in text(doc.xpath("//section[@id='obligations']")[0])


def test_obligations_api_agrees_with_the_page(client: FlaskClient, demo: Demo) -> None:
    for as_of in ("2025-01-01", "2025-02-10", today()):
        query = "" if as_of == today() else f"?as_of={as_of}"
        response = client.get(f"/api/v1/codes/{SEOUL}/obligations{query}")
        assert response.status_code == 200 and response.mimetype == "application/json"
        body = response.get_json()
        assert (body["code"], body["as_of"], body["size"]) == (SEOUL, as_of, demo.book.size)
        (only,) = body["obligations"]
        assert (only["id"], only["due"], only["version"]) == ("safety-framework", "2025-02-10", "2024-05-21")
        shown = {org: status for org, (status, _) in verdict_rows(page(client, f"/codes/{SEOUL}{query}")).items()}
        assert {v["org"]: v["status"] for v in only["verdicts"]} == shown == expected(demo, as_of)
        assert only["counts"] == {s: list(shown.values()).count(s) for s in ("met", "missed", "pending",
                                                                             "undetermined")}
    anthropic = next(v for v in only["verdicts"] if v["org"] == "anthropic")
    assert anthropic["report"]["published_on"] == "2023-09-19" and anthropic["name"] == "Anthropic"
    assert client.get(f"/api/v1/codes/{GPAI}/obligations").get_json()["obligations"] == []


@pytest.mark.parametrize(("url", "status"), [
    (f"/api/v1/codes/{SEOUL}/obligations?as_of=2025-02-30", 400),
    (f"/api/v1/codes/{SEOUL}/obligations?as_of=", 400),
    (f"/api/v1/codes/{SEOUL}/obligations?on=2025-01-01", 400),
    ("/api/v1/codes/nothing/obligations", 404),
])
def test_obligations_api_refuses_what_it_cannot_answer(client: FlaskClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status and response.mimetype == "application/problem+json"


# --- downloads of the stances -----------------------------------------------------------------------


def test_the_json_download_is_every_pair_as_the_stances_say(client: FlaskClient, demo: Demo) -> None:
    response = client.get("/api/v1/stances")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert (body["format"], body["origin"], body["size"]) == ("hcoc-registry/stances/v1", ORIGIN, demo.book.size)
    assert body["checkpoint"]["size"] == demo.checkpoint_size
    assert body["checkpoint"]["note"].startswith(f"{ORIGIN}\n{demo.checkpoint_size}\n")
    rows = body["stances"]
    assert len(rows) == 52 * 4 == len({(r["org"], r["code"]) for r in rows})
    assert [(r["org"], r["code"]) for r in rows] == sorted((r["org"], r["code"]) for r in rows)
    orgs = {o["org"]: o for o in demo.state["organizations"]}
    for row in rows:
        stance = demo.book.stance(row["org"], row["code"])
        assert (row["status"], row["index"], row["version"], row["effective_date"]) == (
            stance.status, stance.index, stance.version, stance.date)
        assert row["scope"] == (stance.scope if stance.endorsing else None)
        assert (row["org_name"], row["country"], row["kind"]) == (
            orgs[row["org"]]["name"], orgs[row["org"]]["country"], orgs[row["org"]]["kind"])
        assert row["checkpoint_size"] == (None if stance.index is None else demo.checkpoint_size)
        assert row["date_precision"] == {None: "unknown", 7: "month", 10: "day"}[
            None if stance.date is None else len(stance.date)]
    by_pair = {(r["org"], r["code"]): r for r in rows}
    xai = by_pair[("xai", GPAI)]
    assert (xai["status"], xai["scope"], xai["scope_words"]) == ("partial", [3], "chapter 3")
    anthropic = by_pair[("anthropic", WH)]
    assert (anthropic["removed"], anthropic["effective_date"], anthropic["date_precision"]) == (
        [2, 7], "2025-03", "month")
    assert by_pair[("meta", GPAI)]["status"] == "declined" and by_pair[("meta", GPAI)]["scope"] is None
    assert by_pair[("accexible", GPAI)]["country"] is None and by_pair[("accexible", GPAI)]["country_name"] is None
    assert by_pair[("ntt", HIROSHIMA)]["status"] == "reported"
    assert sum(1 for r in rows if r["status"] == "none") == 52 * 4 - sum(len(demo.book.of_code(c)) for c in CODES)


def test_the_csv_download_is_the_same_table(client: FlaskClient, demo: Demo) -> None:
    response = client.get("/api/v1/stances.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="hcoc-registry-stances-{demo.book.size}.csv"')
    raw = response.get_data(as_text=True)
    assert raw.count("\r\n") == 52 * 4 + 1
    parsed = list(csv.reader(io.StringIO(raw, newline="")))
    assert tuple(parsed[0]) == stancetable.COLUMNS
    rows = client.get("/api/v1/stances").get_json()["stances"]
    assert parsed[1:] == [[stancetable.cell(row[c]) for c in stancetable.COLUMNS] for row in rows]
    by_pair = {(r[0], r[5]): dict(zip(parsed[0], r, strict=True)) for r in parsed[1:]}
    assert by_pair[("anthropic", WH)]["removed"] == "2;7"
    assert by_pair[("xai", GPAI)]["scope"] == "3" and by_pair[("xai", SEOUL)]["scope"] == "all"
    assert by_pair[("01-ai", GPAI)]["index"] == "" and by_pair[("01-ai", GPAI)]["attested"] == "false"


def test_the_downloads_are_linked_from_the_code_pages_and_about(client: FlaskClient) -> None:
    for path in (f"/codes/{GPAI}", f"/codes/{SEOUL}/2024-05-21", "/about"):
        links = page(client, path).xpath("//a/@href")
        assert "/api/v1/stances" in links and "/api/v1/stances.csv" in links, path


# A name is one line without leading whitespace (statements refuse tabs and line breaks): the four others.
HOSTILE_NAMES = ['=HYPERLINK("https://evil.example","click")', "+1+2", "-2+3", "@SUM(A1)", "Plain, \"quoted\" Ltd"]


def test_formulas_in_names_are_inert_in_the_csv(sqlite_backend: Backend) -> None:
    with signing_world(sqlite_backend) as world:
        world.code()
        for i, name in enumerate(HOSTILE_NAMES):
            world.submit(world.maintainer.sign("organization.registered", org=f"org-{i}", name=name,
                                               country="JP", kind="company", public_keys=[]))
        with sqlite_backend.serve() as app:
            client = app.test_client()
            body = client.get("/api/v1/stances").get_json()
            raw = client.get("/api/v1/stances.csv").get_data(as_text=True)
    # No checkpoint yet: the table says so, and covers nothing.
    assert body["checkpoint"] is None and all(r["checkpoint_size"] is None for r in body["stances"])
    assert [r["org_name"] for r in body["stances"]] == HOSTILE_NAMES  # the JSON is never altered
    parsed = list(csv.DictReader(io.StringIO(raw, newline="")))
    shown = [r["org_name"] for r in parsed]
    assert shown == ["'" + n for n in HOSTILE_NAMES[:-1]] + [HOSTILE_NAMES[-1]]
    assert not any(cell.startswith(stancetable.FORMULA_STARTS) for r in parsed for cell in r.values())


# --- the feed of obligations falling due ----------------------------------------------------------------

SEOUL_TITLE = ("Seoul Frontier AI Safety Commitments: 'Publish a safety framework covering the commitments' fell due "
               "on 10 February 2025: 4 met, 6 missed, 10 undetermined")


def plain(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")


def feed(client: FlaskClient, fmt: str) -> Any:
    response = client.get(f"/feeds/obligations.{fmt}")
    assert response.status_code == 200 and response.mimetype == f"application/{fmt}+xml"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_the_obligations_feed_has_the_seoul_framework(client: FlaskClient, demo: Demo, fmt: str) -> None:
    parsed = feed(client, fmt)
    (entry,) = parsed.entries  # the one obligation of the record, due in the past
    assert plain(entry.title) == SEOUL_TITLE
    assert entry.link == f"http://127.0.0.1:8000/codes/{SEOUL}#obligations"
    assert entry.id == f"tag:test.example,2023-10-30:log/{ORIGIN}/obligation/{SEOUL}/2024-05-21/safety-framework"
    assert entry.published_parsed[:3] == (2025, 2, 10)
    (ob,) = obligations(demo.book, SEOUL, today())
    if fmt == "atom":  # RSS items have a pubDate only
        # Updated when the newest record the verdicts rest on was recorded (the record was loaded just now).
        newest = client.get(f"/api/v1/events?after={basis(demo.book, ob) - 1}&limit=1").get_json()["items"][0]
        assert entry.updated_parsed[:6] == parse_time(newest["recorded_at"]).timetuple()[:6]
    body = plain(entry.content[0].value if fmt == "atom" else html.unescape(entry.summary))
    names = {o["org"]: o["name"] for o in demo.state["organizations"]}
    for verdict in ob.verdicts:
        assert f"- {names[verdict.org]}: {verdict.reason}" in body
    assert body.index("Met (4):") < body.index("Missed (6):") < body.index("Undetermined (10):")


def test_the_obligations_feed_ids_do_not_depend_on_the_base_url(module_backend: Backend, demo: Demo) -> None:
    here = feed(demo.client(), "atom")
    with module_backend.serve({"REGISTRY_BASE_URL": "https://elsewhere.example"}) as other:
        there = feed(other.test_client(), "atom")
    assert [e.id for e in here.entries] == [e.id for e in there.entries] and here.feed.id == there.feed.id
    assert here.entries[0].link != there.entries[0].link == f"https://elsewhere.example/codes/{SEOUL}#obligations"


def test_the_obligations_feed_answers_304_and_is_linked_from_the_code_pages(client: FlaskClient) -> None:
    response = client.get("/feeds/obligations.atom")
    again = client.get("/feeds/obligations.atom", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    for path in ("/codes", f"/codes/{SEOUL}", f"/codes/{SEOUL}/2024-05-21", f"/codes/{GPAI}/actions/3"):
        hrefs = page(client, path).xpath("//head/link[@rel='alternate']/@href")
        assert {"/feeds/obligations.atom", "/feeds/obligations.rss"} <= set(hrefs), path
