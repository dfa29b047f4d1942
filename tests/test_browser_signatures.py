"""/verify in Chromium refuses weak keys and badly shaped Ed25519 signatures before WebCrypto sees them.

The attack: list the identity point as a key and the signature R = identity,
S = 0 verifies for every message (OpenSSL accepts it, and so may the browser's
WebCrypto, which the first test asks). So receipts are built here, offline, for
a one-leaf log: (1) a genuine one passes every step, as does the demo site's
own receipt; (2) a whole receipt forged "by" the identity log key fails at the
log key; (3) a checkpoint or statement signature with R = identity, any other
small-order R, or S >= L fails at its step, naming the defect; (4) a statement
forged "by" the identity key, a non-canonical spelling of it, or a key with a
small-order component fails at the signer key. The server, browser and tabs are
the session's of tests/conftest.py, as in tests/test_browser.py (Debian's
Chromium; skipped without it).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import canonical, ed25519, keys, tlog
from registry.checkpoint import Checkpoint, format_checkpoint_text
from registry.envelope import PAYLOAD_TYPE, Envelope, pae
from registry.leaf import format_leaf
from registry.receipts import Receipt, format_receipt
from registry.signednote import (
    SIG_TYPE_ED25519,
    Note,
    NoteSignature,
    format_note,
    note_key_id,
    parse_note,
    sign_note,
    signer_from_private,
)
from tests.conftest import BROWSER_ORIGIN as ORIGIN
from tests.harness import VERIFY_STEPS as STEPS
from tests.harness import Site, Tab

LOG_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"browser signatures: log").digest())
SIGNER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"browser signatures: signer").digest())
IDENTITY = b"\x01" + bytes(31)
FORGED = IDENTITY + bytes(32)  # R = identity, S = 0
ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
# The 8 points of order dividing 8 (tests/test_ed25519.py derives them): y values with both signs where x != 0.
SMALL_ORDER = [
    IDENTITY,
    bytes.fromhex("ec" + "ff" * 30 + "7f"),  # order 2
    bytes(32),  # order 4
    bytes(31) + b"\x80",  # order 4
    ORDER_8,
    ORDER_8[:31] + bytes([ORDER_8[31] | 0x80]),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
]
STATEMENT = {"type": "endorsement.made", "org": "victim-corp", "registry": ORIGIN, "code": "hiroshima-coc",
             "version": "2023-10-30", "scope": "all", "statement": "Forged.", "effective_date": "2025-01-01",
             "signed_at": "2025-01-01T00:00:00Z", "nonce": "f" * 32}
PAYLOAD = canonical.dumps(STATEMENT)
MESSAGE = pae(PAYLOAD_TYPE, PAYLOAD)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _high_s(sig: bytes) -> bytes:
    """The same signature with S + L in place of S: OpenSSL-valid arithmetic, but a second spelling."""
    return sig[:32] + (int.from_bytes(sig[32:], "little") + ed25519.L).to_bytes(32, "little")


def _vkey(public: bytes) -> str:
    # By hand: format_verifier_key now refuses to build a vkey for a weak key.
    key_id = note_key_id(ORIGIN, SIG_TYPE_ED25519, public)
    return f"{ORIGIN}+{key_id.hex()}+{_b64(bytes([SIG_TYPE_ED25519]) + public)}"


LOG_VKEY = _vkey(keys.public_bytes(LOG_KEY))


def _receipt(public: bytes, sig: bytes, *, log_public: bytes | None = None, log_sig: bytes | None = None) -> str:
    """A receipt for a one-leaf log whose entry is STATEMENT signed ``sig`` under key id SHA-256(public).

    The checkpoint is signed by LOG_KEY unless ``log_sig`` (under ``log_public``) replaces that signature.
    """
    leaf = format_leaf(Envelope(payload=PAYLOAD, keyid=keys.key_id(public), sig=sig), "2025-01-01T00:00:07Z")
    text = format_checkpoint_text(Checkpoint(ORIGIN, 1, tlog.leaf_hash(leaf)))
    if log_sig is None:
        checkpoint = sign_note(text, signer_from_private(ORIGIN, LOG_KEY))
    else:
        key_id = note_key_id(ORIGIN, SIG_TYPE_ED25519, log_public or keys.public_bytes(LOG_KEY))
        checkpoint = format_note(Note(text, (NoteSignature(ORIGIN, key_id, log_sig),)))
    return format_receipt(Receipt(leaf, 0, (), checkpoint)).decode("utf-8")


def _run(tab: Tab, site: Site, receipt: str, log_vkey: str, signer: str) -> dict[str, tuple[str, str]]:
    """Check ``receipt`` in /verify; (state, detail) of each step by name."""
    tab.goto(site, "/verify")
    page = tab.page
    page.wait_for_selector("#verify-button:enabled")
    page.locator("#receipt").fill(receipt)
    page.locator("#log-key").fill(log_vkey)
    page.locator("#signer-key").fill(signer)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_selector("#verdict[data-state=valid], #verdict[data-state=invalid], #verdict[data-state=unsupported]")
    return {li.get_attribute("data-step"): (li.get_attribute("data-state"), li.locator(".step-detail").inner_text())
            for li in tab.page.locator("#steps li").all()}


COUNT_VERIFY = """
window.verifyCalls = 0;
const verify = SubtleCrypto.prototype.verify;
SubtleCrypto.prototype.verify = function (...args) { window.verifyCalls += 1; return verify.apply(this, args); };
"""


def _fails_at(steps: dict[str, tuple[str, str]], failing: str, *words: str) -> None:
    position = STEPS.index(failing)
    assert {name: state for name, (state, _) in steps.items()} == {
        **dict.fromkeys(STEPS[:position], "pass"), failing: "fail", **dict.fromkeys(STEPS[position + 1:], "skip")}
    detail = steps[failing][1]
    assert all(word in detail for word in words), detail


# --- what is defended against ------------------------------------------------------------------


def test_webcrypto_alone_is_asked_about_the_forgery(demo_site: Site, tab: Tab) -> None:
    tab.goto(demo_site, "/verify")
    answer: Any = tab.page.evaluate(
        """async ([key, sig]) => {
          const raw = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
          try {
            const k = await crypto.subtle.importKey('raw', raw(key), { name: 'Ed25519' }, false, ['verify']);
            return await crypto.subtle.verify({ name: 'Ed25519' }, k, raw(sig), new TextEncoder().encode('anything'));
          } catch (e) { return e.name; }
        }""", [_b64(IDENTITY), _b64(FORGED)])
    # Chromium 156 answers true: it would be fooled. Another browser may refuse; the page must not depend on it.
    print(f"\nChromium's WebCrypto on the identity key with R = identity, S = 0: {answer!r}")
    assert answer in (True, False, "DataError", "NotSupportedError", "OperationError")
    assert tab.problems == []


# --- genuine receipts still pass -----------------------------------------------------------------


def test_genuine_receipts_pass(demo_site: Site, tab: Tab, demo_receipt: str) -> None:
    genuine = _receipt(keys.public_bytes(SIGNER), SIGNER.sign(MESSAGE))
    steps = _run(tab, demo_site, genuine, LOG_VKEY, keys.encode_public(SIGNER))
    assert {name: state for name, (state, _) in steps.items()} == dict.fromkeys(STEPS, "pass")
    assert tab.page.locator("#verdict").get_attribute("data-state") == "valid"
    # the demo site's own receipt, with the key the page prefills
    steps = _run(tab, demo_site, demo_receipt, demo_site.log_vkey, demo_site.maintainer_public)
    assert {name: state for name, (state, _) in steps.items()} == dict.fromkeys(STEPS, "pass")
    assert tab.problems == []


# --- forgeries ---------------------------------------------------------------------------------


def test_a_receipt_forged_by_the_identity_log_key_fails_at_the_key(demo_site: Site, tab: Tab) -> None:
    tab.page.add_init_script(COUNT_VERIFY)
    forged = _receipt(IDENTITY, FORGED, log_public=IDENTITY, log_sig=FORGED)
    _fails_at(_run(tab, demo_site, forged, _vkey(IDENTITY), _b64(IDENTITY)), "key", "log key", "small-order")
    assert tab.page.evaluate("window.verifyCalls") == 0  # refused before WebCrypto was asked
    assert tab.page.locator("#verdict").get_attribute("data-state") == "invalid"
    tab.shot("verify-forged-identity-log-key")
    assert tab.problems == []


@pytest.mark.parametrize(
    ("case", "words"),
    [("identity-r", ("R", "small-order")), ("order-8-r", ("R", "small-order")), ("high-s", ("S", "not below"))],
)
def test_a_badly_shaped_checkpoint_signature_fails_at_the_checkpoint(demo_site: Site, tab: Tab, case: str,
                                                                     words: tuple[str, ...]) -> None:
    text_sig = {"identity-r": FORGED, "order-8-r": ORDER_8 + bytes(32)}.get(case)
    if text_sig is None:  # S + L on the log's own genuine signature of this checkpoint
        genuine = _receipt(keys.public_bytes(SIGNER), SIGNER.sign(MESSAGE))
        note = parse_note(genuine.split("\n\n", 1)[1].encode())
        text_sig = _high_s(note.signatures[0].signature)
    steps = _run(tab, demo_site, _receipt(keys.public_bytes(SIGNER), SIGNER.sign(MESSAGE), log_sig=text_sig),
                 LOG_VKEY, "")
    _fails_at(steps, "checkpoint", *words)
    assert tab.problems == []


def test_a_statement_forged_by_the_identity_key_fails_at_the_statement(demo_site: Site, tab: Tab) -> None:
    tab.page.add_init_script(COUNT_VERIFY)
    steps = _run(tab, demo_site, _receipt(IDENTITY, FORGED), LOG_VKEY, _b64(IDENTITY))
    _fails_at(steps, "statement", "signer key", "small-order point", "anyone")
    assert tab.page.evaluate("window.verifyCalls") == 1  # the genuine checkpoint only
    tab.shot("verify-forged-identity-signer")
    assert tab.problems == []


def test_every_small_order_r_and_a_high_s_fail_at_the_statement(demo_site: Site, tab: Tab) -> None:
    public = keys.public_bytes(SIGNER)
    for r in SMALL_ORDER:
        _fails_at(_run(tab, demo_site, _receipt(public, r + bytes(32)), LOG_VKEY, _b64(public)),
                  "statement", "R", "small-order")
    steps = _run(tab, demo_site, _receipt(public, _high_s(SIGNER.sign(MESSAGE))), LOG_VKEY, _b64(public))
    _fails_at(steps, "statement", "S", "not below the group order")
    assert tab.problems == []


def test_weak_signer_keys_fail_at_the_statement(demo_site: Site, tab: Tab) -> None:
    honest = keys.public_bytes(SIGNER)
    point, torsion = ed25519._decode(honest), ed25519._decode(ORDER_8)
    assert not isinstance(point, str) and not isinstance(torsion, str)
    weak = {
        (ed25519.P + 1).to_bytes(32, "little"): "not a canonical encoding",  # the identity's y + p
        IDENTITY[:31] + b"\x80": "not a canonical encoding",  # the identity with x = 0 and the sign bit set
        ed25519._encode(ed25519._add(point, torsion)): "prime-order subgroup",  # honest key + a point of order 8
    }
    for public, words in weak.items():
        _fails_at(_run(tab, demo_site, _receipt(public, FORGED), LOG_VKEY, _b64(public)), "statement", "signer key",
                  words)
    # and a weak log key, spelt non-canonically
    log = (ed25519.P + 1).to_bytes(32, "little")
    _fails_at(_run(tab, demo_site, _receipt(honest, FORGED, log_public=log, log_sig=FORGED), _vkey(log), ""),
              "key", "log key", "not a canonical encoding")
    assert tab.problems == []
