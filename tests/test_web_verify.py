"""/verify with an entry's receipt (``?index=N``) and the names its script words a claim with, through the Flask app.

The story, on SQLite and on PostgreSQL: a Code whose numbered items are
named chapters, an organization endorsing chapter 3 with its own key, one
with a hostile name attested by a maintainer, a checkpoint, then one more
entry that no checkpoint covers yet. What the browser does with the page is
in tests/test_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.countries import NAMES as COUNTRY_NAMES
from registry.wording import Names
from tests.conftest import BIDI_NAME, SCRIPT_NAME, Actor, Backend, page, sign_checkpoint, signing_world

HOSTILE = SCRIPT_NAME + BIDI_NAME
CHAPTERS = ["Transparency", "Copyright", "Safety and Security"]


@dataclass
class Served:
    app: Flask
    origin: str
    maintainer: str  # key id
    acme: str  # key id
    endorsed: int  # acme's endorsement, under the checkpoint
    uncovered: int  # recorded after the checkpoint
    size: int  # the checkpoint's tree size


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    with signing_world(module_backend) as world:
        m, acme = world.maintainer, Actor()
        world.submit(m.sign(
            "code.revision_published", code="gpai", version="2025-07-10", title="General-Purpose AI Code of Practice",
            short_title="GPAI Code", action_noun="chapter", issuer="A", published_on="2025-07-10",
            source_url="https://example.org/gpai", supersedes=None,
            actions=[{"number": n, "heading": f"Chapter {n}", "name": name} for n, name in enumerate(CHAPTERS, 1)]))
        world.org("acme", acme)
        endorsed = world.submit(acme.sign("endorsement.made", org="acme", code="gpai", version="2025-07-10",
                                          scope=[3], effective_date="2025-08-01")).index
        world.submit(m.sign("organization.registered", org="hostile", name=HOSTILE, country="DE", kind="company",
                            public_keys=[]))
        world.submit(m.sign("endorsement.made", org="hostile", code="gpai", version="2025-07-10", scope="all",
                            effective_date="2025-08", evidence=[{"citation": "A paper", "source": "secondary"}]))
        size = sign_checkpoint(module_backend, world.registry).size
        uncovered = world.org("late").index
        with module_backend.serve() as app:
            yield Served(app, module_backend.settings().origin, m.key_id, acme.key_id, endorsed, uncovered, size)


def test_an_entry_links_to_verify_with_its_receipt(client: FlaskClient, served: Served) -> None:
    entry = page(client, f"/log/{served.endorsed}")
    assert entry.xpath("//a[normalize-space()='Check it in your browser']/@href") == [
        f"/verify?index={served.endorsed}"]
    doc = page(client, f"/verify?index={served.endorsed}")
    receipt = client.get(f"/api/v1/receipts/{served.endorsed}").get_data(as_text=True)
    assert doc.xpath("//textarea[@id='receipt']")[0].text == receipt
    # Checked on load (verify.js), and said so beside the receipt, with a link back to the entry.
    assert doc.xpath("//form[@id='verify-form']/@data-autoverify") == ["true"]
    help_text = doc.xpath("//p[@id='receipt-help']")[0]
    assert help_text.xpath(".//a/@href")[0] == f"/log/{served.endorsed}"
    assert "checked as soon as the page has loaded" in help_text.text_content()
    # Without an index: an empty form, checked only when asked.
    plain = page(client, "/verify")
    assert not plain.xpath("//textarea[@id='receipt']")[0].text
    assert not plain.xpath("//form[@id='verify-form']/@data-autoverify")
    # An entry no checkpoint covers yet offers no receipt and no link.
    late = page(client, f"/log/{served.uncovered}")
    assert not late.xpath("//a[normalize-space()='Check it in your browser']")


@pytest.mark.parametrize("index", ["01", "x", "-1", "", "1.0", "\u0661"])
def test_a_malformed_index_is_a_bad_request(client: FlaskClient, index: str) -> None:
    doc = page(client, f"/verify?index={index}", status=400)
    assert "a decimal number without leading zeros" in doc.text_content()


def test_an_entry_without_a_receipt_is_not_found_and_says_why(client: FlaskClient, served: Served) -> None:
    doc = page(client, f"/verify?index={served.uncovered}", status=404)
    assert f"log entry {served.uncovered} is not covered by a signed checkpoint yet" in doc.text_content()
    doc = page(client, f"/verify?index={served.uncovered + 1000}", status=404)
    assert f"there is no log entry {served.uncovered + 1000}" in doc.text_content()


def test_the_page_carries_the_names_as_data_not_as_a_script(client: FlaskClient, served: Served) -> None:
    response = client.get("/verify")
    html = response.get_data(as_text=True)
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    doc = lxml.html.fromstring(html)
    block = doc.xpath("//script[@id='verify-words']")[0]
    assert block.get("type") == "application/json" and block.get("src") is None
    words = json.loads(block.text)
    assert words["origin"] == served.origin
    names = Names.of(client.get("/api/v1/state").get_json())
    assert words["names"] == names.to_json()
    assert words["names"]["codes"]["gpai"]["versions"]["2025-07-10"] == {"1": "Transparency", "2": "Copyright",
                                                                          "3": "Safety and Security"}
    assert words["names"]["organizations"]["hostile"] == HOSTILE
    assert words["roles"][served.maintainer] == "maintainer" and words["roles"][served.acme] == "organization"
    assert words["countries"] == COUNTRY_NAMES
    # The hostile name cannot end the block: '<' is written as \u003c.
    raw = html.split('id="verify-words">')[1].split("</script>")[0]
    assert "<" not in raw and "\\u003cscript\\u003e" in raw
