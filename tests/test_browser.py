"""The site in a real browser: gunicorn serving the demo registry, driven through Debian's Chromium.

The story: ``registry init --demo`` fills a fresh data directory and ``registry
checkpoint`` signs it; gunicorn serves ``web:create_app()`` on a free local
port. Chromium then (1) opens every page and sees no console error, the
overview with its SVG chart; (2) filters the organizations by country; (3)
checks the receipt of the demo endorsement (Milestone Systems) in ``/verify``
with the log key the page prefills, every step passing, pasted and uploaded;
(4) sees tampered receipts fail at the step that should catch them; (5)
without WebCrypto or its Ed25519, is told so and offered no verdict. A
registered organization with a hostile name and a very long statement shows
that nothing escapes the page or widens it on a phone.
Screenshots go to ``test-artifacts/screenshots/``.

Without ``/usr/bin/chromium`` these tests skip, unless
``REGISTRY_TEST_REQUIRE_BROWSER=1`` (then they fail). Nothing here installs a
browser: Playwright drives the system Chromium.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from registry import compose, config, envelope, keys
from registry.application import open_registry
from registry.signednote import format_verifier_key
from tests.test_web_pages import BIDI_NAME, HOSTILE_STATEMENT, LONG_NAME, SCRIPT_NAME

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("REGISTRY_TEST_REQUIRE_BROWSER") == "1"
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "screenshots"
ORIGIN = "browser.test/hcoc"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]
STEPS = ["parse", "key", "checkpoint", "leaf", "inclusion", "statement"]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"REGISTRY_TEST_REQUIRE_BROWSER=1 but there is no browser at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); set REGISTRY_TEST_REQUIRE_BROWSER=1 to fail")


@dataclass
class Site:
    """The running server and what the test knows out of band."""

    base: str
    data_dir: Path
    log_vkey: str
    maintainer_public: str
    errors: list[str] = field(default_factory=list)

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            data: bytes = response.read()
            return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _registry(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-c", "from scripts.cli import main; main()", *args],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/about", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer within 30 s")


def _record_hostile(data: Path, env: dict[str, str]) -> None:
    """An organization whose name and statement try to break out of the page, or its layout."""
    settings = config.load(data, env)
    maintainer = keys.load_private(settings.maintainer_key)
    old, new = keys.generate(), keys.generate()
    registry = open_registry(settings)
    try:
        for stmt in (
            compose.statement("organization.registered", ORIGIN, org="hostile", country="DE", kind="company",
                              name=SCRIPT_NAME + BIDI_NAME + LONG_NAME[:200], public_keys=[keys.encode_public(old)]),
            compose.statement("organization.key_added", ORIGIN, org="hostile", public_key=keys.encode_public(new)),
            compose.statement("organization.key_revoked", ORIGIN, org="hostile", key_id=keys.key_id(old),
                              reason=SCRIPT_NAME + " rotated"),
            compose.statement("endorsement.made", ORIGIN, org="hostile", code="hiroshima-coc", version="2023-10-30",
                              scope=[1, 2, 11], statement=HOSTILE_STATEMENT, effective_date="2025-01-01",
                              evidence=[{"url": "https://example.org/" + "x" * 300, "title": SCRIPT_NAME}]),
        ):
            registry.submit(envelope.sign(stmt, maintainer).canonical)
    finally:
        registry.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _require_chromium()
    data = tmp_path_factory.mktemp("browser-registry")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REGISTRY_DATA_DIR": str(data), "REGISTRY_DATABASE_URL": f"sqlite:///{data / 'registry.db'}",
           "REGISTRY_ORIGIN": ORIGIN, "REGISTRY_BASE_URL": base}
    _registry(env, "init", "--origin", ORIGIN, "--demo")
    _record_hostile(data, env)
    _registry(env, "checkpoint")
    log_public = keys.load_public_file(keys.public_path(data / "keys" / "log.key"))
    maintainer = (data / "keys" / "maintainer.key.pub").read_text("ascii").strip()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "web:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_up(base, server)
        yield Site(base, data, format_verifier_key(ORIGIN, log_public), maintainer)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """A browser page that records console errors, page errors and failed responses."""

    page: Any
    problems: list[str]

    def goto(self, site: Site, path: str) -> None:
        response = self.page.goto(site.base + path)
        assert response is not None and response.status == 200, path

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    yield from _tab(browser, {"width": 1280, "height": 900})


@pytest.fixture
def phone(browser: Any) -> Iterator[Tab]:
    yield from _tab(browser, {"width": 390, "height": 844})


def _tab(browser: Any, viewport: dict[str, int]) -> Iterator[Tab]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        yield Tab(page, problems)
    finally:
        context.close()


# --- pages ----------------------------------------------------------------------------


def test_overview_renders_its_chart_with_no_console_errors(site: Site, tab: Tab) -> None:
    tab.goto(site, "/")
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


def test_every_page_loads_cleanly_on_desktop_and_phone(site: Site, tab: Tab, phone: Tab) -> None:
    for name, path in PAGES.items():
        tab.goto(site, path)
        tab.shot(name)
    for name in ("overview", "organizations", "organization", "entry", "hostile"):
        phone.goto(site, PAGES.get(name, "/"))
        # Nothing may be wider than the phone's screen (long hashes and names wrap).
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width}px wide on a 390px phone"
        phone.shot(f"phone-{name}")
        if name == "overview":
            phone.page.locator("figure.chart").screenshot(path=str(SHOTS / "phone-chart.png"))
    assert tab.problems + phone.problems == []
    # the 404 page (its own status is the only console error: Chromium reports it)
    response = tab.page.goto(site.base + "/no/such/page")
    assert response is not None and response.status == 404
    assert "Not Found" in tab.page.title()
    tab.shot("not-found")
    assert all("/no/such/page" in p or "404" in p for p in tab.problems)


def test_organizations_filter_by_country(site: Site, tab: Tab) -> None:
    tab.goto(site, "/organizations")
    rows = tab.page.locator("table.orgs tbody tr")
    everyone = rows.count()
    tab.page.get_by_label("Country").select_option("JP")
    tab.page.get_by_role("button", name="Filter").click()
    tab.page.wait_for_url("**/organizations?*country=JP*")
    filtered = rows.count()
    assert 0 < filtered < everyone
    assert tab.page.locator("table.orgs tbody tr td:nth-of-type(1)").all_inner_texts() == ["JP"] * filtered
    assert tab.page.get_by_label("Country").input_value() == "JP"
    tab.shot("organizations-jp")
    assert tab.problems == []


# --- receipts in /verify ----------------------------------------------------------------


def _milestone_index(site: Site) -> int:
    size = int(site.get("/checkpoint").decode().split("\n")[1])
    for index in range(size):
        leaf = json.loads(site.get(f"/api/v1/log/entries/{index}"))
        statement = json.loads(base64.b64decode(leaf["envelope"]["payload"]))
        if statement["type"] == "endorsement.made" and statement["org"] == "milestone-systems":
            return index
    raise AssertionError("the demo data has no endorsement by milestone-systems")


@pytest.fixture(scope="module")
def receipt(site: Site) -> str:
    return site.get(f"/api/v1/receipts/{_milestone_index(site)}").decode("utf-8")


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


def test_verify_passes_a_good_receipt(site: Site, tab: Tab, receipt: str) -> None:
    states = _verify(tab, site, receipt, site.maintainer_public)
    assert states == dict.fromkeys(STEPS, "pass")
    assert tab.page.locator("#verdict").get_attribute("data-state") == "valid"
    assert all(t.startswith("✓") for t in tab.page.locator("#steps li .step-mark").all_inner_texts())
    assert "milestone-systems" in tab.page.locator("#entry-json").inner_text()
    tab.shot("verify-valid")
    # the same receipt as a chosen file (its exact bytes)
    states = _verify(tab, site, None, site.maintainer_public, upload=receipt.encode("utf-8"))
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
def test_verify_fails_a_tampered_receipt_at_the_right_step(site: Site, tab: Tab, receipt: str, case: str) -> None:
    tamper, signer, failing = TAMPERED[case]
    states = _verify(tab, site, tamper(receipt), signer(site) if signer else site.maintainer_public)
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
def test_verify_says_so_when_the_browser_cannot_check(site: Site, tab: Tab, missing: str) -> None:
    tab.page.add_init_script(NO_ED25519 if missing == "ed25519" else NO_SUBTLE)
    tab.goto(site, "/verify")
    tab.page.wait_for_selector("#verdict[data-state=unsupported]")
    support = tab.page.locator("#support")
    assert support.is_visible()
    assert ("Ed25519" if missing == "ed25519" else "WebCrypto") in support.inner_text()
    assert tab.page.locator("#verify-button").is_disabled()
    tab.shot(f"verify-unsupported-{missing}")
    assert tab.problems == []
