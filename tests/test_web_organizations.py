"""The organization page, on the real record: one organization across every Code, in whose words.

The story: the researched record (``registry/data/commitments.json``) loaded into a real store on
both backends, then an organization with a key of its own endorses, amends and withdraws for
itself. Its page and the record's best-known cases (Anthropic's partial removal, xAI's one chapter,
Meta's refusal, the Seoul safety frameworks) are read through the Flask app as a visitor would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest

from registry import keys
from tests.conftest import Actor, Backend, World, load_demo, sign_checkpoint


@dataclass
class Served:
    app: Any
    world: World


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    load_demo(module_backend)
    registry = module_backend.open()
    try:
        world = World(registry, Actor(), Actor(keys.load_private(module_backend.settings().maintainer_key)))
        own = Actor()
        world.org("own-voice", own)
        common = {"org": "own-voice", "code": "eu-gpai-cop"}
        world.submit(own.sign("endorsement.made", **common, version="2025-07-10", scope="all",
                              statement="We sign the Code <b>in full</b>.", effective_date="2025-09-01"))
        world.submit(own.sign("endorsement.amended", **common, scope=[1, 3], effective_date="2025-10"))
        world.submit(own.sign("endorsement.withdrawn", **common, effective_date=None,
                              reason="Our products left the EU market."))
        sign_checkpoint(module_backend, registry)
        with module_backend.serve() as app:
            yield Served(app, world)
    finally:
        registry.close()


def text(client: Any, path: str) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, whitespace folded."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def test_a_partial_removal_says_what_was_kept_and_removed(client: Any) -> None:
    page = text(client, "/organizations/anthropic")
    assert ("2023 White House AI Commitments : Partly removed: kept commitments 1, 3-6, 8; "
            "removed commitments 2, 7") in page
    assert "Effective March 2025" in page
    # Whose words: the summary is the maintainers', and the uncertainty is shown as such.
    assert "The maintainers’ summary of the sources (their words, not the organization’s)" in page
    assert "Uncertain date: Reports dated 5 Mar 2025" in page and "Uncertain scope:" in page
    assert "Public statement" not in page
    # The timeline row of the amendment says what it did to the scope.
    assert "Scope changed from all commitments to commitments 1, 3-6, 8 (removed 2, 7)" in page


def test_registration_is_not_a_commitment_date(client: Any) -> None:
    page = text(client, "/organizations/anthropic")
    assert "In this registry since" in page and "not a date of its commitments" in page
    assert "Registered " not in page
    assert "the earliest on record took effect 21 July 2023 ( 2023 White House AI Commitments )" in page


def test_one_chapter_a_refusal_and_names_not_slugs(client: Any) -> None:
    xai = text(client, "/organizations/xai")
    assert "EU GPAI Code of Practice : Partial: chapter 3 (Safety and Security)" in xai
    assert "Effective 1 August 2025" in xai and "secondary sources" in xai
    meta = text(client, "/organizations/meta")
    assert "EU GPAI Code of Practice : Declined" in meta and "Country United States" in meta
    unknown = text(client, "/organizations/dweve")
    assert "Effective date not stated in the sources" in unknown and "Country country not stated" in unknown


def test_a_note_is_shown_once(client: Any) -> None:
    page = text(client, "/organizations/milestone-systems")
    note = "Announced it had voluntarily signed, and would implement, the G7 Code of Conduct"
    assert page.count(note) == 1


def test_the_organizations_own_words_are_labelled_as_its_own(client: Any) -> None:
    page = text(client, "/organizations/own-voice")
    assert "EU GPAI Code of Practice : Withdrawn" in page and "Self-signed" in page
    assert "Reason given for the withdrawal Our products left the EU market." in page
    assert "Effective date not stated in the sources" in page
    # The withdrawal's row gives its reason; the amendment's row says what changed.
    assert "Reason given: Our products left the EU market." in page
    assert "Scope changed from all chapters to chapters 1 (Transparency), 3 (Safety and Security) (removed 2)" in page
    raw = client.get("/organizations/own-voice").get_data(as_text=True)
    assert "<b>in full</b>" not in raw


def test_obligations_are_judged_on_each_page(client: Any) -> None:
    assert re.search(r"Publish a safety framework covering the commitments , due 10 February 2025: met "
                     r"\(published 18 December 2023", text(client, "/organizations/openai"))
    assert "due 10 February 2025: missed (no record of it by 10 February 2025)" in text(client, "/organizations/ibm")
    assert "undetermined (published February 2025: the sources give only the month" in text(
        client, "/organizations/meta")


def test_an_unknown_organization_is_a_404_page(client: Any) -> None:
    response = client.get("/organizations/no-such-org")
    assert response.status_code == 404 and "no organization 'no-such-org'" in unescape(response.get_data(as_text=True))


def test_the_api_says_how_precisely_each_date_is_known(client: Any) -> None:
    def found(org: str, code: str) -> dict[str, Any]:
        items = client.get("/api/v1/endorsements", query_string={"code": code, "limit": 100}).get_json()["items"]
        return next(e for e in items if e["org"] == org)

    assert (found("anthropic", "us-wh-voluntary-2023")["effective_date"],
            found("anthropic", "us-wh-voluntary-2023")["effective_date_precision"]) == ("2025-03", "month")
    assert (found("writer", "eu-gpai-cop")["effective_date"],
            found("writer", "eu-gpai-cop")["effective_date_precision"]) == (None, "unknown")
    assert found("xai", "eu-gpai-cop")["effective_date_precision"] == "day"
    org = client.get("/api/v1/organizations/anthropic").get_json()
    assert {e["code"]: e["effective_date_precision"] for e in org["endorsements"]}["us-wh-voluntary-2023"] == "month"


def test_an_entry_and_every_list_of_records_show_the_marks_and_notes(client: Any, served: Served) -> None:
    book = served.app.extensions["node"].views.stances()
    amended = book.stance("anthropic", "us-wh-voluntary-2023").index
    entry = text(client, f"/log/{amended}")
    assert "Anthropic amended its endorsement of the 2023 White House AI Commitments" in entry
    assert "secondary sources" in entry and "uncertain" in entry
    assert "The maintainers’ note (their words):" in entry and "Uncertain scope:" in entry
    assert "Sources cited" in entry and "secondary source" in entry
    # The log's rows carry the same marks as the pages.
    log = client.get(f"/log?before={amended + 1}").get_data(as_text=True)
    first_row = log.split('<li class="event">')[1].split("</li>")[0]
    assert f"#{amended}" in first_row and "badge-secondary" in first_row and "badge-uncertain" in first_row
