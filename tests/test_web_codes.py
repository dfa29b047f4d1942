"""The Code pages (web.codes, web.standings, templates) on the registry's real record, through the Flask app.

The story, on SQLite and on PostgreSQL: the shipped record file
(``registry/data/commitments.json``: four Codes, 52 organizations, 92 dated
events) is loaded as ``registry init --demo`` loads it, and the clock signs a
checkpoint. Then the pages must say what the stances folded from the log say:
xAI signed only the Safety and Security chapter of the EU GPAI Code of
Practice, Meta declined it, Anthropic removed White House commitments 2 and 7;
each organization is listed once, in its group, with its date, marks and the
record that set its stance; every item of every Code has a page saying who
covers it.

One registry per backend (module scope): the tests only read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml.html import HtmlElement

from registry import genesis, keys, loader
from registry.node import Node
from registry.stances import StanceBook
from registry.wording import date_words
from tests.conftest import ORIGIN, Backend, sign_checkpoint
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


def load_demo(backend: Backend) -> tuple[StanceBook, dict[str, Any], int]:
    """``registry init --demo`` in a test's data directory, and a signed checkpoint; the stances and state."""
    settings = backend.settings()
    for path in genesis.key_files(settings):
        genesis.ensure_key(path)
    node = Node(settings).open()
    try:
        maintainer = keys.load_private(settings.maintainer_key)
        genesis.record_genesis(node.registry, ORIGIN, keys.load_private(settings.root_key), maintainer)
        loaded = loader.load(node, loader.demo_document(), maintainer)
        assert loaded.conflicts == []
        checkpoint = sign_checkpoint(backend, node.registry)
        node.integrate()
        return node.views.stances(), node.views.current().doc, checkpoint.size
    finally:
        node.close()


@pytest.fixture(scope="module")
def demo(module_backend: Backend) -> Iterator[Demo]:
    book, state, size = load_demo(module_backend)
    with module_backend.serve() as app:
        yield Demo(app, book, state, size)


@pytest.fixture
def client(demo: Demo) -> FlaskClient:
    return demo.client()


def page(client: FlaskClient, path: str, status: int = 200) -> HtmlElement:
    response = client.get(path)
    assert response.status_code == status, (path, response.get_data(as_text=True)[:1000])
    assert response.mimetype == "text/html"
    return lxml.html.fromstring(response.get_data(as_text=True))


def text(el: HtmlElement) -> str:
    return " ".join(el.text_content().split())


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
