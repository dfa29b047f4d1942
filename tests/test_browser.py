"""The site in a real browser: gunicorn serving the demo registry, driven through Debian's Chromium.

The story: ``registry init --demo`` fills a fresh data directory and ``registry
checkpoint`` signs it; gunicorn serves ``web:create_app()`` on a free local
port. Chromium then (1) opens every page and sees no console error, the
overview with its SVG chart; (2) filters the organizations by country; (3)
checks the receipt of a demo endorsement (xAI's of the EU GPAI Code) in ``/verify``
with the log key the page prefills, every step passing, pasted and uploaded;
(4) sees tampered receipts fail at the step that should catch them; (5)
without WebCrypto or its Ed25519, is told so and offered no verdict. A
registered organization with a hostile name and a very long statement shows
that nothing escapes the page or widens it on a phone.
Screenshots go to ``test-artifacts/screenshots/``. The site, the browser and
its tabs are fixtures of tests/conftest.py (one server for the session), over
the browser helpers of tests/harness.py.

Without ``/usr/bin/chromium`` these tests skip, unless
``REGISTRY_TEST_REQUIRE_BROWSER=1`` (then they fail). Nothing here installs a
browser: Playwright drives the system Chromium.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from registry import keys
from tests.harness import SHOTS, Site, Tab
from tests.harness import VERIFY_STEPS as STEPS

# --- pages ----------------------------------------------------------------------------


def test_overview_renders_its_chart_with_no_console_errors(demo_site: Site, tab: Tab) -> None:
    tab.goto(demo_site, "/")
    chart = tab.page.locator("svg.chart-svg")
    assert chart.is_visible()
    assert tab.page.locator("svg.chart-svg rect.bar-endorsed").count() >= 1
    assert tab.page.locator("link[rel=alternate][type='application/atom+xml']").count() >= 1
    assert tab.page.get_by_role("heading", level=1).is_visible()
    tab.shot("overview")
    chart.screenshot(path=str(SHOTS / "chart.png"))
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
    "hostile": "/organizations/hostile",
}


def test_every_page_loads_cleanly_on_desktop_and_phone(demo_site: Site, tab: Tab, phone: Tab) -> None:
    for name, path in PAGES.items():
        tab.goto(demo_site, path)
        tab.shot(name)
    for name in ("overview", "organizations", "organization", "entry", "hostile"):
        phone.goto(demo_site, PAGES.get(name, "/"))
        # Nothing may be wider than the phone's screen (long hashes and names wrap).
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width}px wide on a 390px phone"
        phone.shot(f"phone-{name}")
        if name == "overview":
            phone.page.locator("figure.chart").screenshot(path=str(SHOTS / "phone-chart.png"))
    assert tab.problems + phone.problems == []
    # the 404 page (its own status is the only console error: Chromium reports it)
    response = tab.page.goto(demo_site.base + "/no/such/page")
    assert response is not None and response.status == 404
    assert "Not Found" in tab.page.title()
    tab.shot("not-found")
    assert all("/no/such/page" in p or "404" in p for p in tab.problems)


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
