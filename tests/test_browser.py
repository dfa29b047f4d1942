"""The site in a real browser: gunicorn serving the demo registry, driven through Debian's Chromium.

The story: ``registry init --demo`` fills a fresh data directory and ``registry
checkpoint`` signs it; gunicorn serves ``web:create_app()`` on a free local
port. Chromium then (1) opens every page and sees no console error, the
overview with its table, chart, search and filters; (2) filters the organizations by country; (3)
checks the receipt of a demo endorsement (xAI's of the EU GPAI Code) in ``/verify``
with the log key the page prefills, every step passing, pasted and uploaded;
(4) sees tampered receipts fail at the step that should catch them; (5)
without WebCrypto or its Ed25519, is told so and offered no verdict; (6) reads
the Code pages and their per-item pages on a desktop and a phone, and judges
the Seoul commitments' obligation as of another day; (7) reads "For
organizations" with this registry's names, reached from /verify, and the
hostile organization's keys, one self-published at a very long host name,
on a desktop and a phone. A
registered organization with a hostile name and a very long statement shows
that nothing escapes the page or widens it on a phone.
Screenshots go to ``test-artifacts/screenshots/``. The site, the browser and
its tabs are fixtures of tests/conftest.py (one server for the session), over
the browser helpers of tests/harness.py.

Without ``/usr/bin/chromium`` these tests skip, unless
``REGISTRY_TEST_REQUIRE_BROWSER=1`` (then they fail). Nothing here installs a
browser: Playwright drives the system Chromium.

Chromium also follows an entry's "check it in your browser" link to
``/verify?index=N``, where the receipt is checked on load and "What this
record claims" says exactly what ``registry verify receipt`` says; its words,
computed by web/static/wording.js, equal the Python wording's for every demo
statement and for hostile names.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from registry import keys
from registry.terminal import safe
from registry.wording import Names, receipt_claim
from tests.conftest import BIDI_NAME, BROWSER_ORIGIN, PROOF_HOST, SCRIPT_NAME
from tests.harness import SHOTS, Site, Tab, open_tab
from tests.harness import VERIFY_STEPS as STEPS

# --- pages ----------------------------------------------------------------------------


def _fits(tab: Tab, width: int) -> None:
    """Nothing widens the page itself: the wide table scrolls inside its own box."""
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= width


def _rows(tab: Tab) -> list[str]:
    return tab.page.locator("table.matrix tbody th[scope=row] a").all_inner_texts()


@pytest.mark.parametrize("width", [1280, 390])
def test_overview_table_chart_search_and_filter(demo_site: Site, browser: Any, width: int) -> None:
    with open_tab(browser, {"width": width, "height": 900 if width > 400 else 844}) as tab:
        name = "overview" if width > 400 else "phone-overview"
        tab.goto(demo_site, "/")
        page = tab.page
        assert page.get_by_role("heading", level=1).is_visible()
        assert page.locator("link[rel=alternate][type='application/atom+xml']").count() >= 1
        everyone = _rows(tab)
        assert len(everyone) == 53  # the record's 52 and the hostile one
        _fits(tab, width)
        # The table: visible, scrolling sideways inside its box on a phone, names held on the left.
        wrap = page.locator(".matrix-wrap")
        assert wrap.is_visible()
        xai = page.locator("table.matrix tbody tr", has=page.locator("a[href='/organizations/xai']"))
        assert "chapter 3 (Safety and Security)" in xai.inner_text()
        if width < 400:
            assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
            first = page.locator("table.matrix tbody th[scope=row]").first
            left = first.bounding_box()["x"]
            wrap.evaluate("el => { el.scrollLeft = el.scrollWidth }")
            assert abs(first.bounding_box()["x"] - left) < 1  # sticky
            wrap.evaluate("el => { el.scrollLeft = 0 }")
        tab.shot(name)
        # The chart: a figure per Code, its bars drawn.
        chart = page.locator(".timelines")
        chart.scroll_into_view_if_needed()
        assert chart.is_visible() and page.locator("figure.timeline").count() == 4
        assert page.locator("svg.tl-bar rect.seg-endorsed").count() >= 4
        bar = page.locator("svg.tl-bar").first.bounding_box()
        assert bar["width"] > 200 and bar["height"] > 8
        chart.screenshot(path=str(SHOTS / f"{name}-chart.png"))
        # Search, by typing and pressing Enter (a plain GET form).
        page.get_by_label("Name contains").fill("ANTHRO")
        page.get_by_label("Name contains").press("Enter")
        page.wait_for_url("**/?*q=ANTHRO*")
        assert _rows(tab) == ["Anthropic"]
        assert page.locator("#result-count").inner_text() == "1 of 53 organizations match (name contains “ANTHRO”)."
        # Then a filter by Code instead, with the button.
        page.get_by_label("Name contains").fill("")
        page.get_by_label("Code", exact=True).select_option("eu-gpai-cop")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/?*code=eu-gpai-cop*")
        gpai = _rows(tab)
        assert 0 < len(gpai) < len(everyone) and "Meta Platforms" in gpai and "xAI" in gpai
        assert page.get_by_label("Code", exact=True).input_value() == "eu-gpai-cop"
        _fits(tab, width)
        tab.shot(f"{name}-gpai")
        assert tab.problems == []


PAGES = {
    "organizations": "/organizations",
    "organization": "/organizations/milestone-systems",
    "codes": "/codes",
    "code": "/codes/hiroshima-coc",
    "code-version": "/codes/hiroshima-coc/2023-10-30",
    "log": "/log",
    "entry": "/log/19",
    "verify": "/verify",
    "about": "/about",
    "join": "/for-organizations",
    "api": "/api/v1/",
    "hostile": "/organizations/hostile",
}


def test_every_page_loads_cleanly_on_desktop_and_phone(demo_site: Site, tab: Tab, phone: Tab) -> None:
    for name, path in PAGES.items():
        tab.goto(demo_site, path)
        tab.shot(name)
    for name in ("overview", "organizations", "organization", "entry", "hostile", "join"):
        phone.goto(demo_site, PAGES.get(name, "/"))
        # Nothing may be wider than the phone's screen (long hashes and names wrap).
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width}px wide on a 390px phone"
        phone.shot(f"phone-{name}")
    assert tab.problems + phone.problems == []
    # the 404 page (its own status is the only console error: Chromium reports it)
    response = tab.page.goto(demo_site.base + "/no/such/page")
    assert response is not None and response.status == 404
    assert "Not Found" in tab.page.title()
    tab.shot("not-found")
    assert all("/no/such/page" in p or "404" in p for p in tab.problems)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_join_page_and_the_keys_proof_fit(demo_site: Site, browser: Any, width: int) -> None:
    """/for-organizations with this registry's names; an organization's keys, one self-published, on a phone too."""
    with open_tab(browser, {"width": width, "height": 900 if width > 400 else 844}) as tab:
        prefix = "" if width > 400 else "phone-"
        tab.goto(demo_site, "/for-organizations")
        page = tab.page
        assert page.get_by_role("heading", level=1).inner_text() == "For organizations"
        commands = page.locator("pre code").all_inner_texts()
        assert commands[0] == f"VKEY='{demo_site.log_vkey}'"
        assert any(c.startswith(f'registry --registry {demo_site.base} --log-key "$VKEY" endorse --org your-slug')
                   for c in commands)
        assert f'"origin": "{BROWSER_ORIGIN}"' in page.locator("pre.key-file").inner_text()
        _fits(tab, width)
        tab.shot(f"{prefix}join")
        # From /verify, the link leads here.
        tab.goto(demo_site, "/verify")
        page.get_by_role("main").get_by_role("link", name="For organizations").click()
        page.wait_for_url("**/for-organizations")
        # The hostile organization's keys: the revoked one added by a maintainer with nothing, the new one
        # self-published at a long host name that wraps inside its cell.
        tab.goto(demo_site, "/organizations/hostile")
        keys_table = page.locator("table.keys")
        keys_table.scroll_into_view_if_needed()
        proofs = page.locator("table.keys td.key-proof").all_inner_texts()
        assert sorted(p.split(":")[0].split("\n")[0] for p in proofs) == ["None", f"Self-published at {PROOF_HOST}"]
        _fits(tab, width)
        page.locator("section[aria-labelledby=keys-heading]").screenshot(path=str(SHOTS / f"{prefix}keys-proof.png"))
        assert tab.problems == []


CODE_PAGES = {
    "codes": "/codes",
    "code-hiroshima": "/codes/hiroshima-coc",  # the hostile organization endorses actions 1, 2 and 11
    "code-gpai": "/codes/eu-gpai-cop",
    "code-seoul": "/codes/seoul-faisc",
    "code-wh": "/codes/us-wh-voluntary-2023",
    "code-item-hiroshima": "/codes/hiroshima-coc/actions/11",
    "code-item-gpai": "/codes/eu-gpai-cop/actions/3",
    "code-item-wh": "/codes/us-wh-voluntary-2023/actions/2",
}


def test_code_pages_fit_desktop_and_phone(demo_site: Site, tab: Tab, phone: Tab) -> None:
    for name, path in CODE_PAGES.items():
        for browser_tab, width, prefix in ((tab, 1280, ""), (phone, 390, "phone-")):
            browser_tab.goto(demo_site, path)
            # Nothing may be wider than the screen: long names, item headings and URLs wrap.
            shown = browser_tab.page.evaluate("document.documentElement.scrollWidth")
            assert shown <= width, f"{path} is {shown}px wide on a {width}px screen"
            assert browser_tab.page.get_by_role("heading", level=1).is_visible()
            browser_tab.shot(prefix + name)
    tab.goto(demo_site, "/codes/eu-gpai-cop/actions/3")
    assert tab.page.get_by_role("heading", level=1).inner_text() == "Chapter 3: Safety and Security"
    assert tab.page.locator("section:has(#covering-heading) a[href='/organizations/xai']").count() == 1
    assert tab.problems + phone.problems == []


def test_obligations_as_of_another_day(demo_site: Site, tab: Tab) -> None:
    tab.goto(demo_site, "/codes/seoul-faisc")
    rows = tab.page.locator("#obligations li.verdict-row")
    assert rows.count() == 20 and tab.page.locator("#obligations li.verdict-row-pending").count() == 0
    tab.page.get_by_label("Judge as of").fill("2025-01-01")
    tab.page.get_by_role("button", name="Show").click()
    tab.page.wait_for_url("**/codes/seoul-faisc?as_of=2025-01-01#obligations")
    assert tab.page.locator("#obligations li.verdict-row-pending").count() == 16
    assert tab.page.locator("#obligations li.verdict-row-met").count() == 4
    tab.page.locator("#obligations").screenshot(path=str(SHOTS / "obligations-2025-01-01.png"))
    assert tab.problems == []


def test_organizations_filter_by_country(demo_site: Site, tab: Tab) -> None:
    tab.goto(demo_site, "/organizations")
    rows = tab.page.locator("table.orgs tbody tr")
    everyone = rows.count()
    tab.page.get_by_label("Country").select_option("JP")
    tab.page.get_by_role("button", name="Filter").click()
    tab.page.wait_for_url("**/organizations?*country=JP*")
    filtered = rows.count()
    assert 0 < filtered < everyone
    assert tab.page.locator("table.orgs tbody tr td:nth-of-type(1)").all_inner_texts() == ["Japan"] * filtered
    assert tab.page.get_by_label("Country").input_value() == "JP"
    tab.shot("organizations-jp")
    assert tab.problems == []


# --- receipts in /verify ----------------------------------------------------------------


def _verify(tab: Tab, site: Site, receipt: str | None, signer: str, upload: bytes | None = None) -> dict[str, str]:
    """Run the verifier; the state of each step by name."""
    tab.goto(site, "/verify")
    page = tab.page
    assert page.locator("#log-key").input_value() == site.log_vkey  # prefilled with the key we know out of band
    page.wait_for_selector("#verify-button:enabled")
    if upload is not None:
        page.locator("#receipt-file").set_input_files(
            files=[{"name": "leaf.tlog-proof", "mimeType": "text/plain", "buffer": upload}])
        page.wait_for_selector("#verdict:has-text('Read')")
    else:
        page.locator("#receipt").fill(receipt or "")
    page.locator("#signer-key").fill(signer)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_selector("#verdict[data-state=valid], #verdict[data-state=invalid], #verdict[data-state=unsupported]")
    steps = page.locator("#steps li")
    return {steps.nth(i).get_attribute("data-step"): steps.nth(i).get_attribute("data-state")
            for i in range(steps.count())}


def test_verify_passes_a_good_receipt(demo_site: Site, tab: Tab, demo_receipt: str) -> None:
    states = _verify(tab, demo_site, demo_receipt, demo_site.maintainer_public)
    assert states == dict.fromkeys(STEPS, "pass")
    assert tab.page.locator("#verdict").get_attribute("data-state") == "valid"
    assert all(t.startswith("✓") for t in tab.page.locator("#steps li .step-mark").all_inner_texts())
    assert '"org": "xai"' in tab.page.locator("#entry-json").inner_text()
    tab.shot("verify-valid")
    # the same receipt as a chosen file (its exact bytes)
    states = _verify(tab, demo_site, None, demo_site.maintainer_public, upload=demo_receipt.encode("utf-8"))
    assert states == dict.fromkeys(STEPS, "pass")
    assert tab.problems == []


def _flip_base64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


def _flip_proof_hash(receipt: str) -> str:
    head, checkpoint = receipt.split("\n\n", 1)
    lines = head.split("\n")
    first_hash = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
    lines[first_hash] = _flip_base64(lines[first_hash])
    return "\n".join(lines) + "\n\n" + checkpoint


def _change_checkpoint_root(receipt: str) -> str:
    head, checkpoint = receipt.split("\n\n", 1)
    lines = checkpoint.split("\n")
    lines[2] = _flip_base64(lines[2])  # origin, size, root
    return head + "\n\n" + "\n".join(lines)


def _other_key(_: Site) -> str:
    return keys.encode_public(keys.generate())


TAMPERED: dict[str, tuple[Callable[[str], str], Callable[[Site], str] | None, str]] = {
    "proof-hash": (_flip_proof_hash, None, "inclusion"),
    "checkpoint-text": (_change_checkpoint_root, None, "checkpoint"),
    "wrong-signer": (lambda r: r, _other_key, "statement"),
    "not-a-receipt": (lambda r: r.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"), None, "parse"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_verify_fails_a_tampered_receipt_at_the_right_step(demo_site: Site, tab: Tab, demo_receipt: str,
                                                           case: str) -> None:
    tamper, signer, failing = TAMPERED[case]
    states = _verify(tab, demo_site, tamper(demo_receipt), signer(demo_site) if signer else demo_site.maintainer_public)
    position = STEPS.index(failing)
    assert states == {**dict.fromkeys(STEPS[:position], "pass"), failing: "fail",
                      **dict.fromkeys(STEPS[position + 1:], "skip")}
    assert tab.page.locator("#verdict").get_attribute("data-state") == "invalid"
    assert tab.page.locator(f"#steps li[data-step={failing}] .step-mark").inner_text() == "✗"
    tab.shot(f"verify-tampered-{case}")
    assert tab.problems == []


NO_ED25519 = """
const importKey = SubtleCrypto.prototype.importKey;
SubtleCrypto.prototype.importKey = function (format, data, algorithm, ...rest) {
  if (String(algorithm && algorithm.name || algorithm).toLowerCase() === 'ed25519') {
    return Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
  }
  return importKey.call(this, format, data, algorithm, ...rest);
};
"""
NO_SUBTLE = "Object.defineProperty(Crypto.prototype, 'subtle', { get() { return undefined; } });"


@pytest.mark.parametrize("missing", ["ed25519", "subtle"])
def test_verify_says_so_when_the_browser_cannot_check(demo_site: Site, tab: Tab, missing: str) -> None:
    tab.page.add_init_script(NO_ED25519 if missing == "ed25519" else NO_SUBTLE)
    tab.goto(demo_site, "/verify")
    tab.page.wait_for_selector("#verdict[data-state=unsupported]")
    support = tab.page.locator("#support")
    assert support.is_visible()
    assert ("Ed25519" if missing == "ed25519" else "WebCrypto") in support.inner_text()
    assert tab.page.locator("#verify-button").is_disabled()
    tab.shot(f"verify-unsupported-{missing}")
    assert tab.problems == []


# --- what a verified record claims ---------------------------------------------------------

XAI = ("xAI endorsed chapter 3 (Safety and Security) of the EU GPAI Code of Practice, effective 1 August 2025; "
       "recorded by a maintainer from secondary sources; in the log at #")


def _leaf(site: Site, index: int) -> tuple[dict[str, Any], str]:
    """Entry ``index``'s statement and signing key id."""
    leaf = json.loads(site.get(f"/api/v1/log/entries/{index}"))
    return json.loads(base64.b64decode(leaf["envelope"]["payload"])), leaf["envelope"]["signatures"][0]["keyid"]


def _python_line(site: Site, index: int, size: int) -> str:
    """What ``registry --data-dir DIR verify receipt`` prints after "claim: " for entry ``index``."""
    state = json.loads(site.get("/api/v1/state"))
    roles = {k["key_id"]: k["role"] for k in state["keys"]}
    stmt, key_id = _leaf(site, index)
    return safe(receipt_claim(stmt, Names.of(state), roles[key_id], index=index, size=size)).replace("\n", "\\n")


def _open_from_entry(tab: Tab, site: Site, index: int) -> dict[str, str]:
    tab.goto(site, f"/log/{index}")
    tab.page.get_by_role("link", name="Check it in your browser").click()
    tab.page.wait_for_url(f"**/verify?index={index}")
    tab.page.wait_for_selector("#verdict[data-state=valid], #verdict[data-state=invalid], "
                               "#verdict[data-state=unsupported]")
    steps = tab.page.locator("#steps li")
    return {steps.nth(i).get_attribute("data-step"): steps.nth(i).get_attribute("data-state")
            for i in range(steps.count())}


@pytest.mark.parametrize("viewport", ["tab", "phone"])
def test_an_entry_link_checks_its_receipt_and_says_what_it_claims(demo_site: Site, demo_index: int, viewport: str,
                                                                  request: pytest.FixtureRequest) -> None:
    tab: Tab = request.getfixturevalue(viewport)
    states = _open_from_entry(tab, demo_site, demo_index)
    # Checked on load with the prefilled log key; no signer key was given, so that step is skipped.
    assert states == {**dict.fromkeys(STEPS[:-1], "pass"), "statement": "skip"}
    assert tab.page.locator("#verdict").get_attribute("data-state") == "valid"
    size = int(demo_site.get("/checkpoint").decode().split("\n")[1])
    claim = tab.page.locator("#claim-text")
    assert claim.is_visible()
    assert claim.inner_text() == XAI + f"{demo_index}, covered by checkpoint {size}"
    assert claim.inner_text() == _python_line(demo_site, demo_index, size)
    assert tab.page.get_by_role("heading", name="What this record claims").is_visible()
    assert "this registry’s own" in tab.page.locator("#claim-source").inner_text()
    if viewport == "phone":
        assert tab.page.evaluate("document.documentElement.scrollWidth") <= 390
    tab.shot(f"{'phone-' if viewport == 'phone' else ''}verify-from-entry")
    # The signer's key, given, is checked too; the sentence stays the registry's.
    tab.page.locator("#signer-key").fill(demo_site.maintainer_public)
    tab.page.get_by_role("button", name="Verify").click()
    tab.page.wait_for_selector("#steps li[data-step=statement][data-state=pass]")
    assert claim.inner_text() == _python_line(demo_site, demo_index, size)
    assert tab.problems == []


def test_a_hostile_name_in_the_claim_is_text(demo_site: Site, tab: Tab) -> None:
    index = json.loads(demo_site.get("/api/v1/events?org=hostile&type=endorsement.made"))["items"][0]["index"]
    states = _open_from_entry(tab, demo_site, index)
    assert states["inclusion"] == "pass"
    size = int(demo_site.get("/checkpoint").decode().split("\n")[1])
    shown = tab.page.locator("#claim-text").inner_text()
    assert shown == _python_line(demo_site, index, size)
    assert SCRIPT_NAME in shown and "\\u202e" in shown and "\u202e" not in shown
    # No markup came of it: the page's three scripts (data, wording, verifier) and nothing in the sentence.
    assert tab.page.locator("script").count() == 3 and tab.page.locator("#claim-text *").count() == 0
    tab.shot("verify-hostile-claim")
    assert tab.problems == []


def _state_of(organizations: dict[str, str], codes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A state document with just what Names.of reads."""
    return {"organizations": [{"org": slug, "name": name} for slug, name in organizations.items()],
            "codes": [{"code": slug, "versions": versions} for slug, versions in codes.items()]}


HOSTILE_STATE = _state_of(
    {"evil": SCRIPT_NAME + BIDI_NAME + "\u2028\U000e0001 & <b>x</b>", "quote": "\"'`${1}`"},
    {"c": [{"version": "1", "title": "<i>T</i>", "short_title": "S\u202e", "action_noun": "chapter",
            "actions": [{"number": 1, "name": "<img src=x onerror=alert(1)>"}, {"number": 2, "name": "Two"}]},
           {"version": "2", "title": "T2", "actions": [{"number": 1, "name": "<img src=x onerror=alert(1)>"},
                                                        {"number": 2, "name": "Deux"}]}]})
HOSTILE_STATEMENTS = [
    {"type": "endorsement.made", "org": "evil", "code": "c", "version": "1", "scope": [1, 2],
     "effective_date": None, "evidence": [{"citation": "x", "source": "primary"}]},
    {"type": "endorsement.amended", "org": "quote", "code": "c", "scope": [1, 2], "effective_date": "2025-02"},
    {"type": "endorsement.made", "org": "constructor", "code": "constructor", "version": "9", "scope": [1, 2, 3, 5],
     "effective_date": "2025-01-09"},
    {"type": "report.published", "org": "tostring", "code": "c", "framework": "f", "period": "2024 <b>",
     "published_on": "2025-03", "evidence": [{"url": "https://x.example"}]},
    {"type": "organization.registered", "org": "n", "name": "\u202e<script>", "country": None, "kind": "research",
     "public_keys": []},
]


def test_the_browser_words_every_record_as_python_does(demo_site: Site, tab: Tab) -> None:
    tab.goto(demo_site, "/verify")
    words = json.loads(tab.page.locator("#verify-words").text_content())
    state = json.loads(demo_site.get("/api/v1/state"))
    roles = {k["key_id"]: k["role"] for k in state["keys"]}
    names = Names.of(state)
    size = int(demo_site.get("/checkpoint").decode().split("\n")[1])
    cases: list[dict[str, Any]] = []
    expected: list[str] = []
    for index in range(size):
        stmt, key_id = _leaf(demo_site, index)
        # In the registry's names and roles, and as a verifier without them (with and without a signer key).
        for ours, checked in ((True, False), (False, False), (False, True)):
            role = roles[key_id] if ours else None
            cases.append({"stmt": stmt, "names": words["names"] if ours else {}, "role": role, "index": index,
                          "size": size, "keyId": key_id, "checked": checked})
            expected.append(receipt_claim(stmt, names if ours else Names({}, {}), role, index=index, size=size,
                                          key_id=key_id, key_checked=checked))
    hostile = Names.of(HOSTILE_STATE)
    for stmt in HOSTILE_STATEMENTS:
        for role in ("maintainer", "organization", "root", None):
            cases.append({"stmt": stmt, "names": hostile.to_json(), "role": role, "index": 7, "size": 8,
                          "keyId": "ab" * 32, "checked": role is None})
            expected.append(receipt_claim(stmt, hostile, role, index=7, size=8, key_id="ab" * 32,
                                          key_checked=role is None))
    said = tab.page.evaluate("""([cases, countries]) => cases.map((c) => {
        const w = window.hcocWording;
        const line = w.receiptClaim(c.stmt, w.names(c.names, countries), c.role,
                                    { index: c.index, size: c.size, keyId: c.keyId, keyChecked: c.checked });
        return [line, w.shown(line)];
    })""", [cases, words["countries"]])
    assert len(said) == len(expected) > 3 * 150
    for (line, shown), want in zip(said, expected, strict=True):
        assert line == want
        assert shown == safe(want).replace("\n", "\\n")
    assert tab.problems == []
