"""Sentences about log events for the pages (web.titles): the words, which parts came from a statement, and
who vouches for a record."""

from __future__ import annotations

from typing import Any

import pytest

from registry.statements import STATEMENT_TYPES
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


def event(type_: str, org: str | None = "acme", **statement: Any) -> dict[str, Any]:
    return {"type": type_, "org": org, "code": statement.get("code"), "version": statement.get("version"),
            "statement": {"type": type_, **statement}}


EXPECTED: dict[str, tuple[dict[str, Any], str, list[str]]] = {  # type: (event, sentence, the statement's parts)
    "registry.genesis": (event("registry.genesis", None, name="Test registry"),
                         "Registry founded: Test registry", ["Test registry"]),
    "maintainer.key_added": (event("maintainer.key_added", None, name="Alice"), "Maintainer key Alice was added",
                             ["Alice"]),
    "maintainer.key_revoked": (event("maintainer.key_revoked", None), "A maintainer key was revoked", []),
    "code.revision_published": (event("code.revision_published", None, code=CODE, version="2025-01-15",
                                      supersedes=V1),
                                f"{CODE} version 2025-01-15 was published, superseding {V1}",
                                [CODE, "2025-01-15", V1]),
    "organization.registered": (event("organization.registered"), "Acme Ltd was registered", ["Acme Ltd"]),
    "organization.updated": (event("organization.updated"), "Acme Ltd’s profile was updated", ["Acme Ltd"]),
    "organization.key_added": (event("organization.key_added"), "Acme Ltd gained a signing key", ["Acme Ltd"]),
    "organization.key_revoked": (event("organization.key_revoked"), "Acme Ltd lost a signing key (revoked)",
                                 ["Acme Ltd"]),
    "endorsement.made": (event("endorsement.made", code=CODE, version=V1, scope=[1, 3]),
                         f"Acme Ltd endorsed {CODE} version {V1}, actions 1, 3", ["Acme Ltd", CODE, V1]),
    "endorsement.amended": (event("endorsement.amended", code=CODE, scope="all"),
                            f"Acme Ltd amended its endorsement of {CODE}: now all actions", ["Acme Ltd", CODE]),
    "endorsement.reaffirmed": (event("endorsement.reaffirmed", code=CODE, version="2025-01-15"),
                               f"Acme Ltd reaffirmed its endorsement of {CODE} for version 2025-01-15",
                               ["Acme Ltd", CODE, "2025-01-15"]),
    "endorsement.withdrawn": (event("endorsement.withdrawn", code=CODE),
                              f"Acme Ltd withdrew its endorsement of {CODE}", ["Acme Ltd", CODE]),
    "endorsement.declined": (event("endorsement.declined", code=CODE, version=V1),
                             f"Acme Ltd declined to endorse {CODE} version {V1}", ["Acme Ltd", CODE, V1]),
    "report.published": (event("report.published", code=CODE, framework="oecd-haip", period="FY2025"),
                         "Acme Ltd published a report (oecd-haip, period FY2025)",
                         ["Acme Ltd", "oecd-haip", "FY2025"]),
}


def test_every_statement_type_has_a_sentence() -> None:
    assert set(EXPECTED) == set(STATEMENT_TYPES)


@pytest.mark.parametrize("type_", list(EXPECTED))
def test_describe(type_: str) -> None:
    found, sentence, user = EXPECTED[type_]
    title = describe(found, {"acme": "Acme Ltd"}.get)
    assert title.text == str(title) == sentence
    assert [p.text for p in title.parts if p.user] == user  # exactly the statement's words are marked


def test_names_come_from_the_lookup_then_the_slug() -> None:
    found = event("organization.registered")
    assert describe(found).text == "acme was registered"
    assert describe(found, {}.get).text == "acme was registered"  # an unknown slug shows as itself
    assert describe(event("organization.registered", None)).text == "An organization was registered"
    hostile = describe(found, {"acme": "<b>Evil</b> \u202eCorp"}.get)
    assert hostile.parts[0] == Part("<b>Evil</b> \u202eCorp", user=True)  # no escaping here: templates do it


def test_missing_code_and_version_have_placeholders() -> None:
    assert describe({"type": "endorsement.made", "org": "acme"}).text == "acme endorsed a Code version ?, no actions"
    assert describe({"type": "endorsement.amended", "org": "acme", "code": CODE, "statement": {}}).text == (
        f"acme amended its endorsement of {CODE}")


def test_a_report_without_a_period_says_nothing_about_one() -> None:
    # Nor does it need a url: a statement dict may have neither.
    title = describe(event("report.published", code=CODE, framework="oecd-haip"), {"acme": "Acme Ltd"}.get)
    assert title.text == "Acme Ltd published a report (oecd-haip)"
    assert [p.text for p in title.parts if p.user] == ["Acme Ltd", "oecd-haip"]


def test_an_unknown_type_is_named_as_it_is() -> None:
    assert describe({"type": "something.new"}) == Title((Part("something.new"),))


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
        assert f"now {words}" in feed_describe(doc, "Acme")[0]


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
