"""Sentences about log events for the pages (web.titles): the words, which parts came from a statement, and
who vouches for a record."""

from __future__ import annotations

from typing import Any

import pytest

from registry.statements import STATEMENT_TYPES
from registry.wording import CodeNames, Names
from web.titles import (
    ATTESTED,
    MAINTAINER,
    ROOT,
    SELF_SIGNED,
    Part,
    Title,
    describe,
    record_kind,
    scope_text,
    signature_kind,
)

CODE, V1 = "hiroshima-coc", "2023-10-30"
GPAI = CodeNames("eu-gpai-cop", "General-Purpose AI Code of Practice", "EU GPAI Code", "chapter", {
    "2025-07-10": {"version": "2025-07-10", "actions": [{"number": 1, "heading": "T", "name": "Transparency"},
                                                        {"number": 3, "heading": "S", "name": "Safety"}]}})
NAMES = Names({"acme": "Acme Ltd"}, {CODE: CodeNames(CODE, "Hiroshima Process Code", "Hiroshima Code", "action"),
                                     "eu-gpai-cop": GPAI})


def event(type_: str, org: str | None = "acme", **statement: Any) -> dict[str, Any]:
    return {"type": type_, "org": org, "code": statement.get("code"), "version": statement.get("version"),
            "statement": {"type": type_, **statement}}


EXPECTED: dict[str, tuple[dict[str, Any], str, list[str]]] = {  # type: (event, sentence, the statement's parts)
    "registry.genesis": (event("registry.genesis", None, name="Test registry"),
                         "Registry founded: Test registry", ["Test registry"]),
    "maintainer.key_added": (event("maintainer.key_added", None, name="Alice"), "A maintainer key was added: Alice",
                             ["Alice"]),
    "maintainer.key_revoked": (event("maintainer.key_revoked", None), "A maintainer key was revoked", []),
    "code.revision_published": (event("code.revision_published", None, code=CODE, version="2025-01-15",
                                      title="Hiroshima Process Code", published_on="2025-01-15", supersedes=V1),
                                f"Version 2025-01-15 of the Hiroshima Process Code was published on 15 January 2025, "
                                f"superseding version {V1}",
                                ["Hiroshima Process Code"]),
    "organization.registered": (event("organization.registered", name="Acme Ltd", country="JP", kind="company"),
                                "Acme Ltd (Japan, company) was registered in this registry", ["Acme Ltd"]),
    "organization.updated": (event("organization.updated", website="https://acme.example"),
                             "Acme Ltd updated its profile (website)", ["Acme Ltd"]),
    "organization.key_added": (event("organization.key_added"), "Acme Ltd added a signing key", ["Acme Ltd"]),
    "organization.key_revoked": (event("organization.key_revoked"), "Acme Ltd revoked a signing key", ["Acme Ltd"]),
    "endorsement.made": (event("endorsement.made", code=CODE, version=V1, scope=[1, 3], effective_date="2024-05"),
                         "Acme Ltd endorsed actions 1, 3 of the Hiroshima Code, effective May 2024",
                         ["Acme Ltd", "Hiroshima Code"]),
    "endorsement.amended": (event("endorsement.amended", code=CODE, scope="all", effective_date="2024-06-01"),
                            "Acme Ltd amended its endorsement of the Hiroshima Code (now all actions), "
                            "effective 1 June 2024", ["Acme Ltd", "Hiroshima Code"]),
    "endorsement.reaffirmed": (event("endorsement.reaffirmed", code=CODE, version="2025-01-15",
                                     effective_date=None),
                               "Acme Ltd reaffirmed its endorsement of the Hiroshima Code for version 2025-01-15, "
                               "effective date not stated in the sources",
                               ["Acme Ltd", "Hiroshima Code"]),
    "endorsement.withdrawn": (event("endorsement.withdrawn", code=CODE, effective_date="2025-03-01"),
                              "Acme Ltd withdrew its endorsement of the Hiroshima Code, effective 1 March 2025",
                              ["Acme Ltd", "Hiroshima Code"]),
    "endorsement.declined": (event("endorsement.declined", code=CODE, version=V1, effective_date="2025-07-18"),
                             "Acme Ltd declined to endorse the Hiroshima Code, effective 18 July 2025",
                             ["Acme Ltd", "Hiroshima Code"]),
    "report.published": (event("report.published", code=CODE, framework="oecd-haip", period="FY2025",
                               published_on="2025-04"),
                         "Acme Ltd published a report under the Hiroshima Code (oecd-haip, period FY2025) "
                         "in April 2025", ["Acme Ltd", "Hiroshima Code", "FY2025"]),
}


def test_every_statement_type_has_a_sentence() -> None:
    assert set(EXPECTED) == set(STATEMENT_TYPES)


@pytest.mark.parametrize("type_", list(EXPECTED))
def test_describe(type_: str) -> None:
    found, sentence, user = EXPECTED[type_]
    title = describe(found, NAMES)
    assert title.text == str(title) == sentence
    assert [p.text for p in title.parts if p.user] == user  # exactly the statement's words are marked


def test_named_items_are_named_and_marked() -> None:
    found = event("endorsement.made", code="eu-gpai-cop", version="2025-07-10", scope=[3], effective_date="2025-08-01")
    title = describe(found, NAMES)
    assert title.text == "Acme Ltd endorsed chapter 3 (Safety) of the EU GPAI Code, effective 1 August 2025"
    assert [p.text for p in title.parts if p.user] == ["Acme Ltd", "Safety", "EU GPAI Code"]
    two = describe(event("endorsement.amended", code="eu-gpai-cop", version="2025-07-10", scope=[1, 3],
                         effective_date=None), NAMES)
    assert "(now chapters 1 (Transparency), 3 (Safety))" in two.text


def test_names_come_from_the_lookup_then_the_slug() -> None:
    found = event("organization.key_added")
    assert describe(found).text == "acme added a signing key"
    assert describe(found, Names({}, {})).text == "acme added a signing key"  # an unknown slug shows as itself
    assert describe(event("organization.key_added", None)).text == "An organization added a signing key"
    hostile = describe(found, Names({"acme": "<b>Evil</b> \u202eCorp"}, {}))
    assert hostile.parts[0] == Part("<b>Evil</b> \u202eCorp", user=True)  # no escaping here: templates do it


def test_missing_fields_have_placeholders() -> None:
    assert describe({"type": "endorsement.made", "org": "acme"}).text == (
        "acme endorsed no items of the Code, effective date not stated in the sources")
    assert describe({"type": "endorsement.amended", "org": "acme", "code": CODE, "statement": {}}).text == (
        f"acme amended its endorsement of the Code {CODE} (its statement changed), effective date not stated in the "
        "sources")


def test_a_report_without_a_period_says_nothing_about_one() -> None:
    # Nor does it need a url or a date: a statement dict may have none of them.
    title = describe(event("report.published", code=CODE, framework="oecd-haip"), NAMES)
    assert title.text == ("Acme Ltd published a report under the Hiroshima Code (oecd-haip) "
                          "(date not stated in the sources)")
    assert [p.text for p in title.parts if p.user] == ["Acme Ltd", "Hiroshima Code"]


def test_an_unknown_type_is_named_as_it_is() -> None:
    assert describe({"type": "something.new"}) == Title((Part("A something.new record"),))


@pytest.mark.parametrize(("scope", "words"), [
    ("all", "all actions"), ([4], "action 4"), ([1, 2, 11], "actions 1-2, 11"), ([1, 2, 3, 5], "actions 1-3, 5"),
    ([], "no actions"), (None, "no actions"), ("some", "no actions"),
])
def test_scope_text(scope: Any, words: str) -> None:
    """The pages word a scope as the feeds do: one wording (``registry.statements.scope_words``)."""
    from feeds.entries import describe as feed_describe

    assert scope_text(scope) == words
    if isinstance(scope, list) and scope:
        doc = {"type": "endorsement.amended", "org": "acme", "code": CODE, "signer_role": "organization",
               "signer": "ab" * 32, "statement": {"code": CODE, "scope": scope, "effective_date": "2026-01-01"}}
        # A Code known by its slug alone numbers "items"; the words are the same but for the noun.
        assert f"(now {words.replace('action', 'item')})" in feed_describe(doc, Names({}, {}))[0]


@pytest.mark.parametrize("type_", STATEMENT_TYPES)
def test_who_vouches_for_a_record(type_: str) -> None:
    assert signature_kind(type_, "organization") is SELF_SIGNED
    assert signature_kind(type_, "root") is ROOT
    about_an_organization = type_.startswith("endorsement.") or type_ == "report.published"
    assert signature_kind(type_, "maintainer") is (ATTESTED if about_an_organization else MAINTAINER)


def test_record_kind_and_the_kinds_themselves() -> None:
    assert record_kind(True) is ATTESTED and record_kind(False) is SELF_SIGNED
    kinds = (SELF_SIGNED, ATTESTED, MAINTAINER, ROOT)
    assert [k.key for k in kinds] == ["self-signed", "attested", "maintainer", "root"]
    assert all(k.label and k.explanation.endswith(".") for k in kinds)
