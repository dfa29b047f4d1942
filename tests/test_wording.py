"""registry/wording.py: the sentence a verified receipt prints, with the registry's names and without them."""

from __future__ import annotations

from typing import Any

import pytest

from registry import envelope, loader, records
from registry.wording import CodeNames, Names, provenance, receipt_claim, scope_phrase
from tests.conftest import ORIGIN, Fold

MAINTAINER_KEY = "8e56a564ff845df958c826eeea667ad8ed14c1139912d13fadd796bf0902d26b"


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The demo record file folded in memory: the state document and every statement, in log order."""
    fold = Fold()
    planned = [p.statement for p in records.plan(loader.demo_document(), ORIGIN)]
    for stmt in planned:
        fold.submit(envelope.sign(stmt, fold.maintainer.key).canonical)
    return fold.state.to_json(), planned


def _xai_gpai(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return next(s for s in statements if s["type"] == "endorsement.made" and s["org"] == "xai"
                and s["code"] == "eu-gpai-cop")


def test_a_receipt_line_in_the_registrys_names(demo: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    state, statements = demo
    line = receipt_claim(_xai_gpai(statements), Names.of(state), "maintainer", index=99, size=152)
    assert line == ("xAI endorsed chapter 3 (Safety and Security) of the EU GPAI Code of Practice, effective "
                    "1 August 2025; recorded by a maintainer from secondary sources; in the log at #99, covered by "
                    "checkpoint 152")


def test_without_the_state_the_line_uses_slugs_and_claims_no_role(
        demo: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    stmt = _xai_gpai(demo[1])
    nothing = Names({}, {})
    # No chapter name and no noun: only the Code's revision says its items are chapters.
    assert receipt_claim(stmt, nothing, None, index=99, size=152, key_id=MAINTAINER_KEY) == (
        "xai endorsed item 3 of the Code eu-gpai-cop, effective 1 August 2025; signed by key 8e56a564ff845df9… "
        "(not checked; its role is not known without the registry's state), citing secondary sources; "
        "in the log at #99, covered by checkpoint 152")
    checked = receipt_claim({**stmt, "scope": "all"}, nothing, None, index=99, size=152, key_id=MAINTAINER_KEY,
                            key_checked=True)
    assert checked.startswith("xai endorsed the Code eu-gpai-cop (all items), effective 1 August 2025; "
                              "signed by key 8e56a564ff845df9…, the signer key given (its role is not known")


@pytest.mark.parametrize(("evidence", "said"), [
    (None, ""),
    ([{"url": "https://a.example", "source": "primary"}], ", citing primary sources"),
    ([{"citation": "A paper", "source": "secondary"}, {"url": "https://a.example", "source": "primary"}],
     ", citing primary and secondary sources"),
    ([{"url": "https://a.example"}], ", citing sources not marked primary or secondary"),
])
def test_an_unknown_signer_still_names_the_kinds_of_sources(evidence: Any, said: str) -> None:
    stmt = {"type": "report.published"} | ({"evidence": evidence} if evidence else {})
    assert provenance(stmt, None, key_id="ab" * 32) == (
        f"signed by key {'ab' * 8}… (not checked; its role is not known without the registry's state){said}")
    # A known role is worded as before, whatever key or check is given.
    assert provenance(stmt, "organization", key_id="ab" * 32, key_checked=True) == "signed by the organization itself"


def _chapters(version: str, names: dict[int, str]) -> dict[str, Any]:
    return {"version": version, "actions": [{"number": n, "heading": f"Chapter {n}", "name": name}
                                            for n, name in names.items()]}


def test_item_names_never_guess_a_version() -> None:
    versions = {"1": _chapters("1", {1: "Transparency", 2: "Copyright"}),
                "2": _chapters("2", {1: "Transparency", 2: "Rights"})}
    code = CodeNames("c", "Code", "Code", "chapter", versions)
    assert code.item_names("2") == {1: "Transparency", 2: "Rights"}
    # An amendment names no version: only what every version calls alike is named.
    assert code.item_names(None) == {1: "Transparency"}
    assert scope_phrase([2], code) == "chapter 2"
    # A version these names do not know (a state behind the record): numbers only.
    assert code.item_names("3") == {}
    assert scope_phrase([1], code, "3") == "chapter 1"


def test_names_as_json_for_the_browser(demo: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    doc = Names.of(demo[0]).to_json()
    assert doc["organizations"]["xai"] == "xAI"
    gpai = doc["codes"]["eu-gpai-cop"]
    assert (gpai["short"], gpai["noun"]) == ("EU GPAI Code of Practice", "chapter")
    assert gpai["versions"]["2025-07-10"]["3"] == "Safety and Security"
