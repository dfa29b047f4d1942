"""feeds.entries on its own: event documents from the real fold in, feed items out (no store, no web)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from feeds.entries import ItemBuilder, describe, entry_id, statement_text, tag, tag_authority
from registry.views import event_document
from registry.wording import CodeNames, Names
from tests.conftest import ORIGIN, Actor, Fold

BASE = "https://registry.example.org"
CODE = "hiroshima-coc"


class Documents:
    """The read models' event query over a list of event documents (what ``ReadModels.events`` answers)."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.queries = 0

    def events(self, *, after: int = -1, limit: int = 50, org: str | None = None, orgs: list[str] | None = None,
               types: tuple[str, ...] = (), **_: Any) -> list[dict[str, Any]]:
        self.queries += 1
        found = [d for d in self.docs if d["index"] > after and (org is None or d["org"] == org)
                 and (orgs is None or d["org"] in orgs) and (not types or d["type"] in types)]
        return found[:limit]


def story(fold: Fold) -> list[dict[str, Any]]:
    acme = Actor()
    applied = [fold.code(), fold.org("acme", acme)]
    applied.append(fold.submit(acme.sign("endorsement.made", org="acme", code=CODE, version="2023-10-30",
                                         scope=[1, 2, 3, 5], effective_date="2024-02-01")))
    applied.append(fold.submit(fold.maintainer.sign("organization.updated", org="acme", name="Acme Renamed")))
    applied.append(fold.submit(acme.sign("endorsement.amended", org="acme", code=CODE, scope="all",
                                         statement="We now endorse every action \u202e.",
                                         effective_date="2024-03-01")))
    return [event_document(a, a.index) for a in applied]


def test_items_carry_the_leaf_digest_the_projection_stored(fold: Fold) -> None:
    docs = story(fold)
    items = ItemBuilder(Documents(docs), BASE, ORIGIN).items(docs)
    for item, doc in zip(items, docs, strict=True):
        assert item.event_hash == "sha256:" + hashlib.sha256(fold.leaves[doc["index"]]).hexdigest()
        assert item.entry_id == entry_id(ORIGIN, doc["index"])
        assert item.json_url == f"{BASE}/api/v1/log/entries/{doc['index']}"
    assert entry_id(ORIGIN, 7) == "tag:test.example,2023-10-30:log/test.example/registry/entry/7"


def test_titles_use_the_name_as_of_each_entry(fold: Fold) -> None:
    docs = story(fold)
    source = Documents(docs)
    made, renamed_then_amended = ItemBuilder(source, BASE, ORIGIN).items([docs[2], docs[4]])
    assert made.title == ("\u2068Acme Ltd\u2069 endorsed actions 1-3, 5 of the \u2068Hiroshima Code\u2069, "
                          "effective 1 February 2024")
    assert renamed_then_amended.title == ("\u2068Acme Renamed\u2069 amended its endorsement of the "
                                          "\u2068Hiroshima Code\u2069 (now all actions), effective 1 March 2024")
    assert made.org_name == "\u2068Acme Ltd\u2069" and made.code_title == "\u2068Hiroshima Code\u2069"
    # One query for the name histories of every organization the items name, one for the Code's revisions.
    assert source.queries == 2


@pytest.mark.parametrize(("chunk", "page", "queries"), [(500, 1000, 2), (7, 1000, 6), (500, 4, 12)])
def test_a_page_naming_many_organizations_reads_their_names_in_few_queries(
        fold: Fold, monkeypatch: pytest.MonkeyPatch, chunk: int, page: int, queries: int) -> None:
    """By default one query; in chunks of organizations and in pages of rows the same names, read in more."""
    monkeypatch.setattr("feeds.entries.NameHistory.CHUNK", chunk)
    monkeypatch.setattr("feeds.entries.PAGE", page)
    actors = {f"org-{i}": Actor() for i in range(30)}
    applied = [fold.code()] + [fold.org(slug, actor) for slug, actor in actors.items()]
    applied += [fold.submit(fold.maintainer.sign("organization.updated", org=slug, name=f"Renamed {slug}"))
                for slug in list(actors)[::3]]
    applied += [fold.submit(actor.sign("endorsement.made", org=slug, code=CODE, version="2023-10-30", scope="all",
                                       effective_date="2024-02-01")) for slug, actor in actors.items()]
    docs = [event_document(a, a.index) for a in applied]
    source = Documents(docs)
    items = ItemBuilder(source, BASE, ORIGIN).items(docs)
    assert source.queries == queries
    by_index = {item.index: item for item in items}
    registered, endorsed = docs[1:31], docs[-30:]
    for slug, made, endorsement in zip(actors, registered, endorsed, strict=True):
        # As of its registration the name it registered with; as of its endorsement the newer one, if renamed.
        assert by_index[made["index"]].org_name == f"\u2068{made['statement']['name']}\u2069"
        renamed = int(slug.split("-")[1]) % 3 == 0
        expected = f"Renamed {slug}" if renamed else made["statement"]["name"]
        assert by_index[endorsement["index"]].org_name == f"\u2068{expected}\u2069"


def test_the_content_is_the_signed_statement_with_invisible_characters_escaped(fold: Fold) -> None:
    doc = story(fold)[4]
    text = statement_text(doc["statement"])
    assert "\u202e" not in text and "\\u202e" in text
    assert json.loads(text) == doc["statement"]
    item = ItemBuilder(Documents([doc]), BASE, ORIGIN).item(doc)
    assert item.content == text


def test_an_event_document_needs_the_leaf_digest(fold: Fold) -> None:
    applied = fold.code()
    assert event_document(applied, applied.index)["leaf_sha256"] == hashlib.sha256(fold.leaves[-1]).hexdigest()
    with pytest.raises(ValueError, match="digest of the leaf bytes"):
        event_document(dataclasses.replace(applied, leaf_sha256=""), applied.index)


def test_maintainer_key_entries_name_the_root_key_once(fold: Fold) -> None:
    added = fold.submit(fold.root.sign("maintainer.key_added", public_key=Actor().public, name="Second"))
    revoked = fold.submit(fold.root.sign("maintainer.key_revoked", key_id=fold.maintainer.key_id,
                                         reason="Rotated."))
    docs = [event_document(a, a.index) for a in (added, revoked)]
    first, second = ItemBuilder(Documents(docs), BASE, ORIGIN).items(docs)
    root = fold.root.key_id[:16]
    assert first.title == "A maintainer key was added: \u2068Second\u2069"
    assert first.summary == f"Signed by the registry root key {root}."
    assert second.summary == (f"Key {fold.maintainer.key_id[:16]}. Reason: \u2068Rotated.\u2069 "
                              f"Signed by the registry root key {root}.")
    assert all(item.summary.count("Signed by") == 1 for item in (first, second))


def report_document(**statement: Any) -> dict[str, Any]:
    return {"index": 9, "type": "report.published", "org": "acme", "code": CODE, "version": None,
            "signer_role": "organization", "signer": "ab" * 32,
            "statement": {"type": "report.published", "org": "acme", "code": CODE, "framework": "oecd-haip",
                          **statement}}


REPORTED = "\u2068Acme\u2069 published a report under the \u2068Hiroshima Code\u2069 (oecd-haip"


@pytest.mark.parametrize(("statement", "title", "detail"), [
    ({"period": "FY2025", "url": "https://example.org/r.pdf", "published_on": "2025-04"},
     REPORTED + ", period \u2068FY2025\u2069) in April 2025", "Report: \u2068https://example.org/r.pdf\u2069 "),
    ({"url": "https://example.org/r.pdf", "published_on": "2025-04-22"}, REPORTED + ") on 22 April 2025",
     "Report: \u2068https://example.org/r.pdf\u2069 "),
    ({}, REPORTED + ") (date not stated in the sources)", "No address is given for the report. "),
])
def test_a_report_is_worded_with_only_the_fields_its_statement_has(statement: dict[str, Any], title: str,
                                                                   detail: str) -> None:
    names = Names({"acme": "Acme"}, {CODE: CodeNames(CODE, "Hiroshima Process Code", "Hiroshima Code", "action")})
    found_title, summary = describe(report_document(**statement), names)
    assert found_title == title
    assert " for " not in found_title
    assert summary == detail + "Signed by the organization's own key abababababababab."


def test_entry_ids_are_as_documented() -> None:
    # docs/FORMATS.md section 17 gives the id of an entry of its example log; the code must agree.
    doc = (Path(__file__).resolve().parents[1] / "docs" / "FORMATS.md").read_text(encoding="utf-8")
    feeds = doc.split("## 17. Feeds")[1].split("\n## ")[0]
    documented = re.findall(r"`(tag:[^`]+/entry/(\d+))`", feeds)
    assert documented
    for tag_id, index in documented:
        assert entry_id("registry.example.org/hcoc", int(index)) == tag_id
    assert f"`{tag('registry.example.org/hcoc', 'feed/events')}`" in feeds  # the feed's own id


@pytest.mark.parametrize(("origin", "authority"), [
    ("registry.example.org/hcoc", "registry.example.org"),
    ("Registry.Example.ORG/hcoc", "registry.example.org"),  # DNS names are case-insensitive
    ("localhost/hcoc-registry", "localhost"),
    ("a-1.b2.example", "a-1.b2.example"),
    ("registry.example.org:8443/hcoc", "hcoc-registry.org"),  # a port is no part of a DNS name
    ("reg_istry.example/x", "hcoc-registry.org"),
    ("-registry.example/x", "hcoc-registry.org"),
    ("registry-.example/x", "hcoc-registry.org"),
    ("registry..example/x", "hcoc-registry.org"),
    ("/hcoc", "hcoc-registry.org"),
    ("\u212adi.example/x", "hcoc-registry.org"),  # KELVIN SIGN lowercases to an ASCII k: still not a DNS name
])
def test_the_tag_authority_is_the_origins_host_when_it_is_a_dns_name(origin: str, authority: str) -> None:
    assert tag_authority(origin) == authority
    assert entry_id(origin, 3).startswith(f"tag:{authority},2023-10-30:log/")
