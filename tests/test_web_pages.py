"""The HTML pages (web.pages, web.titles, templates), read through the Flask test client.

The story, on SQLite and on PostgreSQL: a registry records a Code in two
versions (the second renames action 3 and adds action 12), organizations in
several countries and kinds, a self-signed endorsement later amended, an
attested endorsement later withdrawn, a refusal, a report, a key rotation,
organizations with hostile names (markup, quotes, a bidi override, 300
characters) and a 5,000-character statement, after enough filler to need two
log pages; the clock signs a checkpoint. Every page then renders, links its
feeds, carries no inline script or style, shows hostile text escaped and
intact, and filters, pages and diffs correctly.

One world per backend (module scope): the tests only read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml.html import HtmlElement

from registry import keys, tlog
from registry.application import Registry
from registry.config import Settings
from registry.errors import InvalidStatementError
from registry.signednote import signer_from_private
from registry.wording import Names
from tests.conftest import (
    BIDI_NAME,
    HOSTILE_STATEMENT,
    LONG_NAME,
    ORIGIN,
    SCRIPT_NAME,
    Actor,
    Backend,
    World,
    page,
    sign_checkpoint,
    signing_world,
)
from web.codes import diff_versions
from web.pages import pretty_json, safe_url
from web.titles import describe

CODE = "hiroshima-coc"
V1, V2 = "2023-10-30", "2025-06-01"
QUOTED_NAME = "\"quoted' & <b>bold</b>"
HOSTILE_TITLE = "<img src=x onerror=alert(3)> evidence"
HOSTILE_REASON = "</blockquote><script>alert(4)</script> we changed our mind"
FILLERS = 45
EVIDENCE = [{"url": "https://example.org/press", "title": HOSTILE_TITLE}]


@dataclass
class Served:
    app: Flask
    settings: Settings
    registry: Registry
    indexes: dict[str, int]

    def client(self) -> FlaskClient:
        return self.app.test_client()


def record_story(world: World) -> dict[str, int]:
    """Everything the pages are checked against; the log index of the notable entries."""
    m = world.maintainer
    at: dict[str, int] = {}
    # 1. a Code in two versions
    at["v1"] = world.code(V1).index
    actions = [{"number": n, "heading": f"Action {n}"} for n in range(1, 13)]
    actions[2]["heading"] = "Action 3, reworded"
    at["v2"] = world.submit(m.sign(
        "code.revision_published", code=CODE, version=V2, title="Hiroshima Code", issuer="G7",
        published_on="2025-06-01", source_url="https://example.org/code/v2", actions=actions, supersedes=V1,
        summary_of_changes="Action 3 reworded; action 12 added.")).index
    # 2. acme signs for itself, amends, then rotates its key
    acme, acme2 = Actor(), Actor()
    world.org("acme", acme)
    at["acme-endorsed"] = world.submit(acme.sign(
        "endorsement.made", org="acme", code=CODE, version=V1, scope=[1, 3, 7], statement="We endorse it.",
        effective_date="2024-02-01")).index
    world.submit(acme.sign("endorsement.amended", org="acme", code=CODE, effective_date="2024-03-01",
                           scope=[1, 3, 7, 9]))
    world.submit(acme.sign("organization.key_added", org="acme", public_key=acme2.public))
    at["acme-revoked"] = world.submit(acme2.sign("organization.key_revoked", org="acme", key_id=acme.key_id,
                                                 reason="rotated")).index
    # 3. beta (attested), endorsed then withdrawn; gamma declined; delta only reports
    for slug, country, kind in (("beta", "US", "academia"), ("gamma", "FR", "civil-society"),
                                ("delta", "JP", "public-sector")):
        world.submit(m.sign("organization.registered", org=slug, name=f"{slug.title()} Org", country=country,
                            kind=kind, public_keys=[]))
    world.submit(m.sign("endorsement.made", org="beta", code=CODE, version=V2, scope="all",
                        effective_date="2025-07-01", evidence=EVIDENCE))
    at["beta-withdrawn"] = world.submit(m.sign(
        "endorsement.withdrawn", org="beta", code=CODE, effective_date="2025-08-01", reason=HOSTILE_REASON,
        evidence=EVIDENCE)).index
    world.submit(m.sign("endorsement.declined", org="gamma", code=CODE, version=V2, effective_date="2025-07-02",
                        evidence=[{"url": "https://example.org/refusal"}]))
    at["delta-report"] = world.submit(m.sign(
        "report.published", org="delta", code=CODE, framework="oecd-haip", period="2025", title=HOSTILE_TITLE,
        url="https://example.org/report.pdf", evidence=EVIDENCE)).index
    # 4. enough entries for a second log page
    for i in range(FILLERS):
        world.submit(m.sign("organization.registered", org=f"filler-{i}", name=f"Filler {i}", country="CA",
                            kind="company", public_keys=[]))
    # 5. hostile names, one with a hostile and very long statement (the newest entries: the overview shows them)
    for slug, name in (("script", SCRIPT_NAME), ("quoted", QUOTED_NAME), ("bidi", BIDI_NAME), ("long", LONG_NAME)):
        at[slug] = world.submit(m.sign("organization.registered", org=slug, name=name, country="DE",
                                       kind="company", public_keys=[], evidence=EVIDENCE)).index
    at["script-endorsed"] = world.submit(m.sign(
        "endorsement.made", org="script", code=CODE, version=V2, scope="all", statement=HOSTILE_STATEMENT,
        effective_date="2025-07-03", evidence=EVIDENCE)).index
    return at


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    with signing_world(module_backend) as world:
        indexes = record_story(world)
        sign_checkpoint(module_backend, world.registry)
        with module_backend.serve() as app:
            yield Served(app, module_backend.settings(), world.registry, indexes)


def feeds_of(doc: HtmlElement) -> dict[str, set[str]]:
    links = doc.xpath("//head/link[@rel='alternate']")
    return {kind: {link.get("href") for link in links if link.get("type") == f"application/{kind}+xml"}
            for kind in ("atom", "rss")}


# --- every page ------------------------------------------------------------------------

PAGES: dict[str, str] = {
    "/": "/feeds/events",
    "/organizations": "/feeds/events",
    "/organizations?country=DE&kind=company": "/feeds/events",
    "/organizations/acme": "/feeds/organizations/acme",
    "/organizations/script": "/feeds/organizations/script",
    "/codes": "/feeds/events",
    f"/codes/{CODE}": f"/feeds/codes/{CODE}",
    f"/codes/{CODE}/{V1}": f"/feeds/codes/{CODE}",
    f"/codes/{CODE}/{V2}": f"/feeds/codes/{CODE}",
    f"/codes/{CODE}/actions/12": f"/feeds/codes/{CODE}",
    "/log": "/feeds/events",
    "/log?before=20": "/feeds/events",
    "/log/0": "/feeds/types/registry.genesis",
    "/verify": "/feeds/events",
    "/about": "/feeds/events",
    "/for-organizations": "/feeds/events",
    "/api/v1/": "/feeds/events",
}


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_and_links_its_feeds(client: FlaskClient, path: str) -> None:
    doc = page(client, path)
    feeds = feeds_of(doc)
    assert PAGES[path] + ".atom" in feeds["atom"]
    assert PAGES[path] + ".rss" in feeds["rss"]
    assert {h.removesuffix(".atom") for h in feeds["atom"]} == {h.removesuffix(".rss") for h in feeds["rss"]}
    # landmarks, language, labelled controls
    assert doc.get("lang") == "en"
    for landmark in ("header", "nav", "main", "footer"):
        assert doc.xpath(f"//{landmark}"), landmark
    assert len(doc.xpath("//h1")) == 1
    labelled = {label.get("for") for label in doc.xpath("//label")}
    for control in doc.xpath("//input[not(@type='hidden')] | //select | //textarea"):
        assert control.get("id") in labelled, lxml.html.tostring(control)


@pytest.mark.parametrize("path", list(PAGES))
def test_pages_carry_no_inline_script_or_style(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "script-src" not in csp and "style-src" not in csp
    doc = lxml.html.fromstring(response.get_data(as_text=True))
    assert not doc.xpath("//style | //*[@style]")
    for script in doc.xpath("//script"):
        if script.get("type") == "application/json":  # data the browser never runs (/verify's names)
            assert not script.get("src") and json.loads(script.text)
            continue
        assert script.get("src", "").startswith("/static/") and not (script.text or "").strip()
    assert not [a for el in doc.iter() if isinstance(el.tag, str) for a in el.attrib if a.lower().startswith("on")]
    assert not doc.xpath("//@href[starts-with(normalize-space(.), 'javascript:')]")


def test_static_files_and_favicon(client: FlaskClient) -> None:
    for path, mimetype in (("/static/site.css", "text/css"), ("/static/verify.js", "text/javascript"),
                           ("/favicon.ico", "image/svg+xml"), ("/static/favicon.svg", "image/svg+xml")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == mimetype
        response.close()


# --- hostile text ------------------------------------------------------------------------

HOSTILE_PAGES = {
    "/": [SCRIPT_NAME, QUOTED_NAME, BIDI_NAME, LONG_NAME],
    "/organizations": [SCRIPT_NAME, QUOTED_NAME, BIDI_NAME, LONG_NAME],
    "/organizations/script": [SCRIPT_NAME, HOSTILE_STATEMENT, HOSTILE_TITLE],
    "/organizations/quoted": [QUOTED_NAME, HOSTILE_TITLE],
    "/organizations/bidi": [BIDI_NAME],
    "/organizations/long": [LONG_NAME],
    "/organizations/beta": [HOSTILE_REASON, HOSTILE_TITLE],
    "/organizations/delta": [HOSTILE_TITLE],
    f"/codes/{CODE}": [SCRIPT_NAME],
    f"/codes/{CODE}/{V2}": [SCRIPT_NAME],
    f"/codes/{CODE}/actions/12": [SCRIPT_NAME],
    "/log": [SCRIPT_NAME, QUOTED_NAME, BIDI_NAME, LONG_NAME],
}


def _text_nodes(doc: HtmlElement) -> Iterator[tuple[HtmlElement, str]]:
    for el in doc.iter():
        if isinstance(el.tag, str):
            if el.text:
                yield el, el.text
            if el.tail is not None and el.getparent() is not None:
                yield el.getparent(), el.tail


def assert_shown_as_text(doc: HtmlElement, expected: list[str]) -> None:
    assert [s.get("src") for s in doc.xpath("//script") if not s.get("src", "").startswith("/static/")] == []
    assert not doc.xpath("//b | //img | //*[@onerror]")
    text = doc.text_content()
    for value in expected:
        assert value in text, value[:60]
    # Every piece of text holding a direction override sits inside a <bdi> (or, in <title>, Unicode isolates).
    for parent, chunk in _text_nodes(doc):
        if "\u202e" in chunk:
            if parent.tag == "title":
                assert chunk.index("\u2068") < chunk.index("\u202e") < chunk.index("\u2069"), chunk
            else:
                assert parent.tag == "bdi" or parent.xpath("ancestor::bdi"), chunk


@pytest.mark.parametrize("path", list(HOSTILE_PAGES))
def test_hostile_text_is_escaped_and_intact(client: FlaskClient, path: str) -> None:
    assert_shown_as_text(page(client, path), HOSTILE_PAGES[path])


def test_hostile_statement_on_its_log_entry(client: FlaskClient, served: Served) -> None:
    doc = page(client, f"/log/{served.indexes['script-endorsed']}")
    assert_shown_as_text(doc, [SCRIPT_NAME])
    shown = json.loads(doc.xpath("//pre[contains(@class, 'json')]")[0].text_content())
    assert shown["statement"] == HOSTILE_STATEMENT  # the \u202e is escaped in the page, the JSON is the same
    assert "\u202e" not in doc.xpath("//pre[contains(@class, 'json')]")[0].text_content()


def test_names_in_titles_and_headings_stay_whole(client: FlaskClient) -> None:
    doc = page(client, "/organizations/quoted")
    assert doc.xpath("//h1")[0].text_content().strip() == QUOTED_NAME
    assert doc.xpath("//title")[0].text_content().startswith(f"\u2068{QUOTED_NAME}\u2069 · ")
    doc = page(client, "/organizations/long")
    assert doc.xpath("//h1//bdi")[0].text == LONG_NAME


def test_safe_url_allows_only_http_and_https() -> None:
    for good in ("https://example.org/a?b=c#d", "http://example.org", "https://例え.jp/パス"):
        assert safe_url(good) == good
    for bad in ("javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
                "data:text/html,<script>alert(1)</script>", "vbscript:x", "//evil.example/x", "/relative",
                "https:evil.example", "HTTPS://example.org", "https://user@example.org", "https://\u202eexample.org",
                "https://exa mple.org", "", None, 42, "ftp://example.org"):
        assert safe_url(bad) is None, bad


def test_pretty_json_escapes_invisible_characters_and_stays_json() -> None:
    value = {"name": "a\u202eb\u200bc\U000e0001d\x85e 日本", "n": [1, 2]}
    shown = pretty_json(value)
    assert json.loads(shown) == value
    assert "\\u202e" in shown and "\\udb40\\udc01" in shown and "\\u0085" in shown and "日本" in shown
    assert not any(c in shown for c in "\u202e\u200b\U000e0001\x85")


def test_a_javascript_url_cannot_be_recorded(served: Served) -> None:
    # Refused by the statement schema, before any key or rule is looked at.
    with pytest.raises(InvalidStatementError) as refused:
        served.registry.submit(Actor().sign(
            "endorsement.made", org="acme", code=CODE, version=V1, scope="all", effective_date="2024-01-01",
            evidence=[{"url": "javascript:alert(1)"}]))
    assert refused.value.field == "evidence.0.url"


# --- organizations ---------------------------------------------------------------------------


def org_rows(client: FlaskClient, query: str) -> list[str]:
    doc = page(client, "/organizations" + query)
    return [a.get("href").rsplit("/", 1)[1] for a in doc.xpath("//table[contains(@class, 'orgs')]//th/a")]


def test_organizations_filters(client: FlaskClient) -> None:
    everyone = org_rows(client, "")
    assert len(everyone) == 8 + FILLERS
    assert org_rows(client, "?country=JP") == ["acme", "delta"]
    assert org_rows(client, "?kind=academia") == ["beta"]
    assert org_rows(client, "?status=active") == ["acme", "script"]
    assert org_rows(client, "?status=withdrawn") == ["beta"]
    assert org_rows(client, "?status=declined") == ["gamma"]
    assert org_rows(client, f"?code={CODE}") == ["acme", "beta", "gamma", "script"]
    assert org_rows(client, f"?code={CODE}&status=active&country=DE") == ["script"]
    none = org_rows(client, "?status=none")
    assert "delta" in none and "acme" not in none and len(none) == len(everyone) - 4
    assert org_rows(client, "?country=IT") == []  # a real country with nobody in it
    doc = page(client, "/organizations?country=JP&status=active")
    assert doc.xpath("//select[@id='country']/option[@selected]/@value") == ["JP"]
    assert doc.xpath("//select[@id='status']/option[@selected]/@value") == ["active"]
    assert doc.xpath("//form[@method='get']")


@pytest.mark.parametrize("query", ["?country=ZZ", "?country=jp", "?kind=robot", "?status=maybe", "?code=nope"])
def test_organizations_refuses_values_no_form_offers(client: FlaskClient, query: str) -> None:
    doc = page(client, "/organizations" + query, status=400)
    assert doc.xpath("//main//h1")[0].text == "Bad Request"


def test_organization_profile_keys_stances_reports(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/organizations/acme")
    text = doc.text_content()
    # keys: the first revoked (with its entry), the second active
    rows = doc.xpath("//table[contains(@class, 'keys')]/tbody/tr")
    assert [r.xpath(".//span[contains(@class, 'status')]")[0].text for r in rows] == ["Revoked", "Active"]
    assert f"/log/{served.indexes['acme-revoked']}" in lxml.html.tostring(rows[0]).decode()
    # stance: self-signed, scope per action after the amendment
    stance = doc.xpath("//article[contains(@class, 'stance')]")[0]
    assert stance.xpath(".//span[contains(@class, 'badge-self-signed')]")
    assert stance.xpath(".//*[contains(@class, 'caveat')]")  # endorses an older version
    scope = [(r[0].text, r[2].text) for r in stance.xpath(".//table[contains(@class, 'scope')]/tbody/tr")]
    assert scope == [(str(n), "Yes" if n in (1, 3, 7, 9) else "No") for n in range(1, 12)]
    assert "No report is recorded." in text
    # beta: attested, withdrawn with its reason and evidence (host shown, link kept)
    doc = page(client, "/organizations/beta")
    stance = doc.xpath("//article[contains(@class, 'stance')]")[0]
    assert stance.xpath(".//span[contains(@class, 'badge-attested')]")
    assert stance.xpath(".//span[contains(@class, 'status-withdrawn')]")
    assert stance.xpath(".//a[@href='https://example.org/press']")
    # delta: a report, and no endorsement (reports are never counted as endorsements)
    doc = page(client, "/organizations/delta")
    assert doc.xpath("//ul[contains(@class, 'reports')]//a[@href='https://example.org/report.pdf']")
    (reported,) = doc.xpath("//article[contains(@class, 'stance')]")
    assert "stance-reported" in reported.get("class")
    assert reported.xpath(".//span[contains(@class, 'status')]")[0].text == "Reported (no endorsement)"
    # the timeline links to the log
    assert doc.xpath(f"//ol[contains(@class, 'events')]//a[@href='/log/{served.indexes['delta-report']}']")


def test_unknown_organization_is_404(client: FlaskClient) -> None:
    doc = page(client, "/organizations/nobody", status=404)
    assert "nobody" in doc.text_content()


# --- Codes ------------------------------------------------------------------------------------


def test_code_version_diff(client: FlaskClient) -> None:
    doc = page(client, f"/codes/{CODE}/{V2}")
    added = [li.text_content() for li in doc.xpath("//li[contains(@class, 'diff-added')]")]
    changed = [li.text_content() for li in doc.xpath("//li[contains(@class, 'diff-changed')]")]
    assert added == ["Added action 12: Action 12"]
    assert any("action 3: Action 3 → Action 3, reworded" in c for c in changed)
    assert any("source url" in c for c in changed)
    assert not doc.xpath("//li[contains(@class, 'diff-removed')]")
    assert len(doc.xpath("//ol[contains(@class, 'actions')]/li")) == 12
    # the first version supersedes nothing and says it is superseded
    doc = page(client, f"/codes/{CODE}/{V1}")
    assert not doc.xpath("//li[contains(@class, 'diff-added')]")
    assert "superseded" in doc.xpath("//p[contains(@class, 'lead')]")[0].text_content()
    # the Code page is its latest version, with every organization's stance
    doc = page(client, f"/codes/{CODE}")
    assert V2 in doc.xpath("//p[contains(@class, 'lead')]")[0].text_content()
    # acme (partial), beta (withdrawn), gamma (declined), delta (reported only), script (endorsed)
    assert len(doc.xpath("//section[h2[@id='stances-heading']]//li[contains(@class, 'stance-row')]")) == 5
    page(client, f"/codes/{CODE}/2099-01-01", status=404)
    page(client, "/codes/nope", status=404)


def test_diff_versions_unit() -> None:
    old = {"version": "1", "title": "T", "actions": [{"number": 1, "heading": "a"}, {"number": 2, "heading": "b"}]}
    new = {"version": "2", "title": "T2", "actions": [{"number": 1, "heading": "A"}]}
    diff = diff_versions(old, new)
    assert diff.removed == [{"number": 2, "heading": "b"}] and diff.added == []
    assert diff.changed == [(1, "a", "A")] and diff.fields == [("title", "T", "T2")]
    assert diff_versions(old, old).empty


# --- the log ---------------------------------------------------------------------------------


def test_log_pages_newest_first_with_a_cursor(client: FlaskClient, served: Served) -> None:
    size = served.registry.size()
    doc = page(client, "/log")
    first = [int(a.text.lstrip("#")) for a in doc.xpath("//a[contains(@class, 'event-index')]")]
    assert first == list(range(size - 1, size - 51, -1))
    older = doc.xpath("//a[@rel='next']/@href")[0]
    assert older == f"/log?before={size - 50}"
    doc = page(client, older)
    second = [int(a.text.lstrip("#")) for a in doc.xpath("//a[contains(@class, 'event-index')]")]
    assert second == list(range(size - 51, -1, -1))
    assert not doc.xpath("//a[@rel='next']")
    for bad in ("?before=x", "?before=01", "?before=-1", "?index=abc"):
        page(client, "/log" + bad, status=400)
    response = client.get("/log?index=3")
    assert response.status_code == 302 and response.headers["Location"].endswith("/log/3")


def test_log_entry_shows_statement_signer_leaf_hash_and_proof(client: FlaskClient, served: Served) -> None:
    index = served.indexes["acme-endorsed"]
    doc = page(client, f"/log/{index}")
    text = doc.text_content()
    leaf = served.registry.leaf(index)
    assert leaf is not None
    assert tlog.leaf_hash(leaf).hex() in text
    statement = json.loads(doc.xpath("//pre[contains(@class, 'json')]")[0].text_content())
    assert statement["type"] == "endorsement.made" and statement["scope"] == [1, 3, 7]
    assert doc.xpath("//span[contains(@class, 'badge-self-signed')]")
    assert "organization" in text and "Acme Ltd" in text
    proof = client.get(f"/api/v1/log/proofs/inclusion?index={index}").get_json()
    shown = [c.text for c in doc.xpath("//ol[contains(@class, 'proof')]//code")]
    assert shown == proof["hashes"] and proof["hashes"]
    assert doc.xpath(f"//a[@href='/api/v1/receipts/{index}']")
    assert doc.xpath("//a[@rel='prev']") and doc.xpath("//a[@rel='next']")
    # the newest entry has no "next" link; past the end is a 404 page
    doc = page(client, f"/log/{served.registry.size() - 1}")
    assert not doc.xpath("//a[@rel='next']")
    page(client, f"/log/{served.registry.size()}", status=404)


# --- overview, verify, about, errors -----------------------------------------------------------


def test_overview_counts_table_chart_and_latest_events(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/")
    counts = [int(c.text) for c in doc.xpath("//ul[contains(@class, 'counts')]//span[@class='count']")]
    assert counts == [8 + FILLERS, 2]  # organizations on record, endorsing at least one Code
    by_status = {td.get("data-status"): int(td.text)
                 for td in doc.xpath("//table[@class='code-counts']//td[@data-status]")}
    assert by_status == {"endorsed": 1, "partial": 1, "declined": 1, "withdrawn": 1, "reported": 1}
    cells = {tr.xpath("./th/a/@href")[0].rsplit("/", 1)[1]: " ".join(tr.xpath("./td")[0].text_content().split())
             for tr in doc.xpath("//table[contains(@class, 'matrix')]/tbody/tr")}
    assert len(cells) == 8 + FILLERS
    assert cells["acme"] == "Partial: actions 1, 3, 7, 9 1 March 2024"  # widened: nothing removed
    assert cells["beta"] == "Withdrawn 1 August 2025"
    assert cells["delta"] == "Reported (no endorsement) date not stated in the sources"
    assert cells["filler-0"] == "No record"
    # By effective date: acme's two months, fifteen quiet months, July and August 2025, then the undated report.
    rows = doc.xpath("//details[contains(@class, 'chart-data')]//tbody/tr")
    assert [r.xpath("./th")[0].text_content().strip() for r in rows] == [
        "February 2024", "March 2024", "July 2025", "August 2025", "Now (with 1 undated record)"]
    assert [" ".join(g.text_content().split()) for g in doc.xpath("//li[@class='tl-gap']")] == [
        "15 months with nothing dated"]
    assert [int(td.text) for td in rows[2].xpath("./td")] == [2, 1, 1, 0, 0, 4]
    assert [int(td.text) for td in rows[-1].xpath("./td")] == [1, 1, 1, 1, 1, 5]
    latest = doc.xpath("//ol[contains(@class, 'events')]/li")
    assert len(latest) == 10
    assert "Every record in the registry" in doc.xpath("//footer")[0].text_content()


def test_verify_page_prefills_the_log_key_and_sends_nothing(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/verify")
    vkey = signer_from_private(ORIGIN, keys.load_private(served.settings.log_key)).verifier_key
    assert doc.xpath("//input[@id='log-key']/@value") == [vkey]
    assert doc.xpath("//script/@src") == ["/static/wording.js", "/static/verify.js"]
    form = doc.xpath("//form[@id='verify-form']")[0]
    assert form.get("action") is None and form.get("method") is None
    assert not form.xpath(".//*[@name]")  # no control would be submitted even without the script
    assert form.xpath(".//button[@disabled]")  # enabled by the script once WebCrypto is found
    for name in ("wording.js", "verify.js"):
        script = client.get(f"/static/{name}")
        source = script.get_data(as_text=True)
        script.close()
        for banned in ("fetch(", "XMLHttpRequest", "innerHTML", "sendBeacon", "WebSocket", "eval("):
            assert banned not in source, (name, banned)


def test_about_publishes_the_log_key_and_how_to_verify(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/about")
    vkey = signer_from_private(ORIGIN, keys.load_private(served.settings.log_key)).verifier_key
    assert doc.xpath("//code[@id='vkey']")[0].text == vkey
    discovery = client.get("/.well-known/hcoc-registry.json").get_json()
    assert discovery["log_key"] == vkey
    commands = doc.xpath("//pre[contains(@class, 'commands')]")[0].text_content()
    assert "registry verify receipt" in commands and vkey in commands
    assert doc.xpath("//*[@id='signatures']") and "does not promise" in doc.text_content()
    roles = [r.xpath("./td")[0].text for r in doc.xpath("//table[contains(@class, 'keys')]/tbody/tr")]
    assert roles == sorted(roles, key=lambda r: r != "root") and set(roles) == {"root", "maintainer"}


def test_the_api_reference_shows_every_operation_of_the_openapi_document(client: FlaskClient,
                                                                         served: Served) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    doc = page(client, "/api/v1/")
    articles = {(a.xpath("./h3/span[@class='method']")[0].text, a.xpath("./h3/code")[0].text): a
                for a in doc.xpath("//article[@class='operation']")}
    expected = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert set(articles) == expected and len(expected) >= 30
    def text(markdown: str) -> str:
        return markdown.replace("`", "")  # `code` spans are shown as <code>

    for path, item in document["paths"].items():
        for method, operation in item.items():
            article = articles[(method.upper(), path)]
            assert text(operation["summary"]) in article.text_content()
            tables = {t.xpath("./caption")[0].text: t for t in article.xpath(".//table")}
            parameters = tables["Parameters"].xpath("./tbody/tr") if "Parameters" in tables else []
            assert len(parameters) == len(operation.get("parameters", [])), path
            for row, parameter in zip(parameters, operation.get("parameters", []), strict=True):
                name, where, required, _type, description = (td.text_content() for td in row.xpath("./td"))
                assert (name, where, required, description) == (
                    parameter["name"], parameter["in"], "yes" if parameter["required"] else "no",
                    text(parameter["description"]))
            rows = {r.xpath("./td")[0].text: r for r in tables["Responses"].xpath("./tbody/tr")}
            assert set(rows) == set(operation["responses"]), path
            for status, response in operation["responses"].items():
                row = rows[status]
                assert text(response["description"]) in row.text_content()
                for media_type in response.get("content", {}):
                    assert media_type in row.text_content()
    # grouped by tag, in the document's order, each with its description
    assert [h.text for h in doc.xpath("//section[@class='api-group']/h2")] == [
        t["name"].capitalize() for t in document["tags"]]
    assert all(t["description"] in doc.text_content() for t in document["tags"])
    # the raw document is one link away, for people and (rel=alternate) for programs
    assert doc.xpath("//main//a[@href='/api/v1/openapi.json']")
    assert doc.xpath("//head/link[@rel='alternate'][@type='application/json']/@href") == ["/api/v1/openapi.json"]


def test_the_discovery_documents_api_link_answers(client: FlaskClient, served: Served) -> None:
    api = client.get("/.well-known/hcoc-registry.json").get_json()["api"]
    assert api == f"{served.settings.base_url}/api/v1/"
    response = client.get(api.removeprefix(served.settings.base_url))
    assert response.status_code == 200 and response.mimetype == "text/html"
    for short in ("/api", "/api/v1"):
        moved = client.get(short)
        assert moved.status_code == 308 and moved.headers["Location"].endswith("/api/v1/"), short
    # linked from every page's footer and from /about
    assert page(client, "/").xpath("//footer//a[@href='/api/v1/']")
    assert page(client, "/about").xpath("//main//a[@href='/api/v1/']")


def test_not_found_page(client: FlaskClient) -> None:
    doc = page(client, "/no/such/page", status=404)
    assert doc.xpath("//main//h1")[0].text == "Not Found"
    assert feeds_of(doc)["atom"] == {"/feeds/events.atom"}
    assert doc.xpath("//nav//a[@href='/organizations']")
    # where clients are programs, errors stay problem+json
    response = client.get("/api/v1/no/such/thing")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_the_genesis_entry_names_the_registry_once(client: FlaskClient) -> None:
    lead = page(client, "/log/0").xpath("//main/p[@class='lead']")[0]
    assert lead.text_content().startswith("Registry founded: Test registry ")
    assert lead.xpath("./bdi")[0].text == "Test registry"


def test_titles_describe_events_with_user_parts_marked() -> None:
    event: dict[str, Any] = {"type": "endorsement.made", "org": "acme", "code": CODE, "version": V1,
                             "statement": {"scope": [2], "effective_date": "2025-01-01"}}
    title = describe(event, Names({"acme": SCRIPT_NAME}, {}))
    assert title.text == f"{SCRIPT_NAME} endorsed item 2 of the Code {CODE}, effective 1 January 2025"
    assert [p.text for p in title.parts if p.user] == [SCRIPT_NAME, f"Code {CODE}"]
    withdrawn = describe({"type": "endorsement.withdrawn", "org": "x", "code": CODE, "statement": {}})
    assert withdrawn.text == f"x withdrew its endorsement of the Code {CODE}, effective date not stated in the sources"
