"""Bidi and other format characters (category Cf): recorded as signed, isolated wherever shown, refused in URLs.

A hostile organization name and statement carry U+202E (RIGHT-TO-LEFT
OVERRIDE), an unbalanced U+2066 (LEFT-TO-RIGHT ISOLATE), U+200F and U+FEFF.
The log keeps them byte for byte; every feed wraps each piece of such text in
FSI ... PDI, so that, by the stack rules of UAX #9, no direction change
reaches the words around it; the HTML pages put it in ``<bdi>``; the command
line shows escapes. URLs and identifiers cannot carry a format character at all.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import feedparser
import lxml.html
import pytest
from click.testing import CliRunner
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds import isolate
from registry import compose, envelope, statements, times
from registry.errors import InvalidStatementError
from registry.leaf import parse_leaf
from scripts.cli import main
from tests.conftest import ORIGIN, Actor, Backend, World, sign_checkpoint, signing_world

HOSTILE_NAME = "Evil \u202eproC\u2066 \u200fname\ufeff"
HOSTILE_STATEMENT = "We \u202eendorse\u2066 it\u200f\ufeff.\nSecond \u202eline \u2069\u2069 stray closers"
HOSTILE_REASON = "Gone \u202ebackwards\u2066 \u200f\ufeff"
CODE, VERSION = "hiroshima-coc", "2023-10-30"
FORMATS = ["atom", "rss"]
PAGE = 3

# Bidi embeddings and overrides, isolates, marks, zero-width characters, word joiner, BOM, soft
# hyphen, Mongolian vowel separator, a tag character: all of category Cf.
FORMAT_CHARACTERS = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f",
    "\u061c", "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u180e", "\U000e0001",
]  # fmt: skip


# --- a UAX #9 stack check -------------------------------------------------------------

_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE RLE LRO RLO
_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI RLI FSI
_PARAGRAPH = frozenset("\n\r\x1c\x1d\x1e\x85\u2029")


def leak(text: str) -> str | None:
    """Why a direction change in ``text`` reaches text outside the isolates it sits in, or None.

    Follows the directional status stack of UAX #9 (X2-X8): embeddings and
    overrides are closed by PDF only inside their own isolate, a PDI closes
    everything back to its matching isolate initiator, a paragraph separator
    ends everything. Outside every isolate only an FSI opening one may appear.
    """
    stack: list[str] = []
    for i, c in enumerate(text):
        if c in _PARAGRAPH:
            if stack:
                return f"paragraph break at {i} inside {stack}"
            continue
        if not stack and unicodedata.category(c) == "Cf" and c != "\u2068":
            return f"U+{ord(c):04X} at {i} outside any isolate: {text!r}"
        if c in _EMBEDDINGS:
            stack.append("E")
        elif c in _ISOLATES:
            stack.append("I")
        elif c == "\u202c" and stack and stack[-1] == "E":
            stack.pop()
        elif c == "\u2069" and "I" in stack:
            while stack.pop() != "I":
                pass
    return f"still open at the end: {stack}: {text!r}" if stack else None


def test_the_check_sees_leaks() -> None:
    assert leak("plain") is None and leak(isolate("a\u202eb")) is None
    assert leak("a\u202eb") and leak("\u2068a\u202eb") and leak("\u2068a\u2069\u2069b")
    assert leak("\u2068\u2069\u2069\u202e\u2069") and leak("\u2068a\n\u202eb\u2069")


bidi_text = st.text(st.sampled_from([*"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", "\n", "\u2029",
                                     "\u200f", "\ufeff", "a", "ب", " "]), max_size=30)


@settings(max_examples=400, deadline=None)
@given(bidi_text)
def test_isolate_closes_whatever_the_text_opens_and_keeps_the_text(text: str) -> None:
    shown = f"before {isolate(text)} after"
    assert leak(shown) is None, shown
    added = re.compile("[\u2068\u2069]")
    assert added.sub("", isolate(text)) == added.sub("", text)
    assert isolate(text).count("\n") == text.count("\n")


def test_isolate_on_plain_text_is_one_pair() -> None:
    assert isolate("Acme Ltd") == "\u2068Acme Ltd\u2069"
    assert isolate("a\u2069b") == "\u2068\u2068a\u2069b\u2069"  # a stray PDI gets an FSI of its own
    assert isolate("a\u2066b") == "\u2068a\u2066b\u2069\u2069"  # an open isolate gets a PDI of its own
    assert isolate("a\u202eb") == "\u2068a\u202eb\u2069"  # the PDI closes the override itself
    assert isolate("one\ntwo") == "\u2068one\u2069\n\u2068two\u2069"
    assert isolate("") == ""


# --- the served registry -----------------------------------------------------------------


@dataclass
class Served:
    app: Flask
    backend: Backend
    world: World
    signed: dict[str, bytes]  # what was signed, by name
    indexes: dict[str, int]


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    with signing_world(module_backend) as world:
        evil = Actor()
        world.code()
        signed = {
            "registered": world.maintainer.sign(
                "organization.registered", org="evil", name=HOSTILE_NAME, country="JP", kind="company",
                public_keys=[evil.public]),
            "endorsed": evil.sign("endorsement.made", org="evil", code=CODE, version=VERSION, scope="all",
                                  statement=HOSTILE_STATEMENT, effective_date="2024-02-01"),
            "reported": evil.sign("report.published", org="evil", code=CODE, framework="oecd-haip",
                                  period=HOSTILE_NAME, url="https://evil.example/report", title=HOSTILE_NAME),
            "withdrawn": evil.sign("endorsement.withdrawn", org="evil", code=CODE, reason=HOSTILE_REASON,
                                   effective_date="2024-06-01"),
        }
        indexes = {name: world.submit(data).index for name, data in signed.items()}
        sign_checkpoint(module_backend, world.registry)
        with module_backend.serve(FEED_PAGE_SIZE=PAGE) as app:
            yield Served(app, module_backend, world, signed, indexes)


# (1) recorded byte-exactly


def test_hostile_text_is_recorded_exactly_as_signed(served: Served) -> None:
    for name, data in served.signed.items():
        leaf = parse_leaf(served.world.registry.leaf(served.indexes[name]))
        assert leaf.envelope.payload == envelope.parse(data).payload, name
    endorsed = parse_leaf(served.world.registry.leaf(served.indexes["endorsed"])).envelope.statement()
    assert endorsed["statement"] == HOSTILE_STATEMENT
    registered = parse_leaf(served.world.registry.leaf(served.indexes["registered"])).envelope.statement()
    assert registered["name"] == HOSTILE_NAME
    # the public leaf carries the same signed bytes
    served_leaf = served.app.test_client().get(f"/api/v1/log/entries/{served.indexes['endorsed']}").data
    assert parse_leaf(served_leaf).envelope.payload == envelope.parse(served.signed["endorsed"]).payload


# (2) every feed isolates it


def _feeds(fmt: str, size: int) -> list[str]:
    return [f"/feeds/events.{fmt}", *(f"/feeds/events/archive/{k}.{fmt}" for k in range(size // PAGE)),
            f"/feeds/organizations/evil.{fmt}", f"/feeds/types/endorsement.made.{fmt}",
            f"/feeds/types/endorsement.withdrawn.{fmt}", f"/feeds/types/organization.registered.{fmt}",
            f"/feeds/types/report.published.{fmt}", f"/feeds/codes/{CODE}.{fmt}"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_feed_isolates_statement_text(served: Served, fmt: str) -> None:
    client = served.app.test_client()
    seen: dict[str, list[Any]] = {}
    for path in _feeds(fmt, served.world.registry.size()):
        response = client.get(path)
        assert response.status_code == 200, path
        parsed = feedparser.parse(response.data)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert leak(parsed.feed.title) is None, path
        for entry in parsed.entries:
            for text in (entry.title, entry.get("summary", ""), entry.get("author", "")):
                assert leak(text) is None, (path, text)
            # machine values: the statement JSON has escapes, not the raw characters, and parses back
            content = entry.content[0].value if fmt == "atom" else entry["reg_statement"]
            assert not [c for c in content if unicodedata.category(c) == "Cf"], path
            assert all(tag.term.isascii() for tag in entry.tags)  # type, code:version, org: ASCII identifiers
            seen.setdefault(entry["reg_type"], []).append((path, entry, json.loads(content)))
    assert isolate(HOSTILE_NAME) in client.get(f"/feeds/organizations/evil.{fmt}").get_data(as_text=True)
    for path, entry, statement in seen["endorsement.made"]:
        if statement["org"] == "evil":
            assert statement["statement"] == HOSTILE_STATEMENT
            assert entry.title.startswith(isolate(HOSTILE_NAME) + " endorsed"), path
            assert isolate(HOSTILE_STATEMENT) in entry.summary, path
            if fmt == "atom":
                assert entry.author == isolate(HOSTILE_NAME)
    withdrawn = [e for _, e, s in seen["endorsement.withdrawn"] if s["org"] == "evil"]
    assert withdrawn and all(isolate(HOSTILE_REASON) in e.summary and isolate(HOSTILE_NAME) in e.title
                             for e in withdrawn)
    reports = [e for _, e, s in seen["report.published"]]
    assert reports and all(f"(oecd-haip, period {isolate(HOSTILE_NAME)})" in e.title for e in reports)
    registered = [e for _, e, s in seen["organization.registered"] if s["org"] == "evil"]
    assert registered and all(e.title == f"{isolate(HOSTILE_NAME)} (Japan, company) was registered in this registry"
                              for e in registered)


# (3) the command line shows escapes


def cli(served: Served, *args: str) -> str:
    env = {**served.backend.env, "REGISTRY_DATA_DIR": str(served.backend.data_dir), "REGISTRY_ORIGIN": ORIGIN}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _raw_format_characters(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cf", "Cc") and c != "\n"]


def test_the_command_line_shows_no_raw_format_character(served: Served) -> None:
    outputs = {args: cli(served, *args) for args in (
        ("show", "org", "evil"), ("show", "entry", str(served.indexes["endorsed"])),
        ("show", "entry", str(served.indexes["registered"])), ("replay",), ("diff", "0", "7"), ("status",))}
    for args in (("show", "org", "evil", "--json"), ("show", "entry", str(served.indexes["endorsed"]), "--json"),
                 ("replay", "--json"), ("diff", "0", "7", "--json")):
        outputs[args] = cli(served, *args)
        json.loads(outputs[args])  # still JSON: the escapes are JSON escapes
    for args, out in outputs.items():
        assert _raw_format_characters(out) == [], args
    assert "Evil \\u202eproC\\u2066 \\u200fname\\ufeff" in outputs[("show", "org", "evil")]
    entry = json.loads(outputs[("show", "entry", str(served.indexes["endorsed"]), "--json")])
    assert entry["statement"]["statement"] == HOSTILE_STATEMENT  # the same text, escaped only on the way out
    shown = outputs[("show", "entry", str(served.indexes["endorsed"]))]
    assert json.loads(shown[shown.index("{"):])["statement"] == HOSTILE_STATEMENT
    assert json.loads(outputs[("show", "org", "evil", "--json")])["organization"]["name"] == HOSTILE_NAME


# HTML: <bdi> around every piece, isolates in <title>


def _text_nodes(doc: Any) -> Iterator[tuple[Any, str]]:
    for el in doc.iter():
        if isinstance(el.tag, str):
            if el.text:
                yield el, el.text
            if el.tail and el.getparent() is not None:
                yield el.getparent(), el.tail


@pytest.mark.parametrize("path", ["/organizations/evil", "/", "/log/{registered}", "/log/{endorsed}",
                                  "/log/{withdrawn}", "/organizations"])
def test_pages_isolate_the_hostile_name(served: Served, path: str) -> None:
    response = served.app.test_client().get(path.format(**served.indexes))
    assert response.status_code == 200
    doc = lxml.html.fromstring(response.get_data(as_text=True))
    found = 0
    for parent, chunk in _text_nodes(doc):
        if any(unicodedata.category(c) == "Cf" for c in chunk):
            found += 1
            if parent.tag == "title":
                assert leak(chunk) is None, chunk
            else:
                assert parent.tag == "bdi" or parent.xpath("ancestor::bdi"), (path, parent.tag, chunk)
    for el in doc.iter():  # attributes cannot hold <bdi>: isolates there
        for name, value in el.attrib.items() if isinstance(el.tag, str) else ():
            assert leak(value) is None, (path, name, value)
    assert found, f"{path} shows no hostile text"
    assert HOSTILE_NAME in doc.text_content()


# (4) URLs and identifiers cannot carry format characters


def test_the_characters_tested_are_format_characters() -> None:
    assert {unicodedata.category(c) for c in FORMAT_CHARACTERS} == {"Cf"}


def _statement(type_: str, **fields: Any) -> dict[str, Any]:
    return compose.statement(type_, ORIGIN, **fields)


KEY = Actor().public
URL_FIELDS = [
    (lambda url: _statement("endorsement.made", org="a", code=CODE, version=VERSION, scope="all",
                            effective_date="2024-01-01", evidence=[{"url": url}]), "evidence.0.url"),
    (lambda url: _statement("code.revision_published", code=CODE, version=VERSION, title="T", issuer="G7",
                            published_on="2023-10-30", source_url=url, supersedes=None,
                            actions=[{"number": 1, "heading": "A"}]), "source_url"),
    (lambda url: _statement("organization.registered", org="a", name="A", country="JP", kind="company",
                            website=url, public_keys=[]), "website"),
    (lambda url: _statement("organization.updated", org="a", website=url), "website"),
    (lambda url: _statement("report.published", org="a", code=CODE, framework="oecd-haip", period="2025",
                            url=url), "url"),
]


@pytest.mark.parametrize("char", FORMAT_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(("build", "field"), URL_FIELDS, ids=[f for _, f in URL_FIELDS])
def test_a_url_with_a_format_character_is_refused(build: Any, field: str, char: str) -> None:
    assert statements.validate(build("https://a.example/ok"))
    for url in (f"https://a.example/{char}", f"https://a{char}.example/", f"https://a.example/p?q={char}",
                f"https://a.example/#{char}", f"{char}https://a.example/"):
        with pytest.raises(InvalidStatementError) as refused:
            statements.validate(build(url))
        assert refused.value.field == field, url


def test_submit_refuses_a_url_with_a_format_character_and_stores_nothing(world: World) -> None:
    world.code()
    world.org("acme")
    before = world.registry.size(), world.registry.recorder.max_notification_id()
    for char in FORMAT_CHARACTERS:
        for data, field in [
            (world.maintainer.sign("endorsement.made", org="acme", code=CODE, version=VERSION, scope="all",
                                   effective_date="2024-01-01", evidence=[{"url": f"https://news.example/{char}x"}]),
             "evidence.0.url"),
            (world.maintainer.sign("organization.updated", org="acme", website=f"https://acme{char}.example/"),
             "website"),
        ]:
            with pytest.raises(InvalidStatementError) as refused:
                world.submit(data)
            assert refused.value.field == field
            assert "format character" in refused.value.message and field in refused.value.message
    assert (world.registry.size(), world.registry.recorder.max_notification_id()) == before
    # the same statement with a clean URL is accepted
    world.submit(world.maintainer.sign("organization.updated", org="acme", website="https://acme.example/"))
    assert world.registry.size() == before[0] + 1


_IDENTIFIERS = {  # field kind -> (pattern, a valid value)
    "slug": (statements._SLUG, "hiroshima-coc"),
    "version id": (statements._VERSION_ID, "2023-10.30"),
    "sha256 and key id": (statements._HEX64, "ab" * 32),
    "nonce": (statements._NONCE, "ab" * 16),
    "origin": (statements._ORIGIN, "registry.example/hcoc"),
    "date": (statements._DATE, "2023-10-30"),
    "timestamp": (times._TIME, "2023-10-30T12:00:00Z"),
}


@pytest.mark.parametrize("kind", list(_IDENTIFIERS))
def test_identifier_patterns_are_ascii_only(kind: str) -> None:
    pattern, valid = _IDENTIFIERS[kind]
    # An ASCII pattern without IGNORECASE (which lets [k] match the Kelvin sign) or the Unicode
    # classes \d \w \s matches ASCII characters only; check each of those conditions, then try
    # every format character in every position of a valid value.
    assert pattern.pattern.isascii() and not pattern.flags & re.IGNORECASE
    assert not re.search(r"\\[dDwWsSbB]", pattern.pattern)
    assert pattern.fullmatch(valid)
    for c in _every_format_character():
        for i in range(len(valid) + 1):
            assert not pattern.fullmatch(valid[:i] + c + valid[i:]), (kind, f"U+{ord(c):04X}")


@functools.cache
def _every_format_character() -> tuple[str, ...]:
    found = tuple(chr(i) for i in range(sys.maxunicode + 1) if unicodedata.category(chr(i)) == "Cf")
    assert set(FORMAT_CHARACTERS) <= set(found)
    return found


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f", "\ufeff", "\u200b"], ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(("field", "statement"), [
    ("org", _statement("organization.key_added", org="acme", public_key=KEY)),
    ("code", _statement("endorsement.withdrawn", org="acme", code=CODE, reason="r", effective_date="2024-01-01")),
    ("version", _statement("endorsement.made", org="acme", code=CODE, version=VERSION, scope="all",
                           effective_date="2024-01-01")),
    ("supersedes", _statement("code.revision_published", code=CODE, version="2", title="T", issuer="G7",
                              published_on="2023-10-30", source_url="https://a.example/", supersedes=VERSION,
                              actions=[{"number": 1, "heading": "A"}])),
    ("key_id", _statement("organization.key_revoked", org="acme", key_id="ab" * 32)),
    ("registry", _statement("organization.key_added", org="acme", public_key=KEY)),
    ("nonce", _statement("organization.key_added", org="acme", public_key=KEY)),
    ("public_key", _statement("organization.key_added", org="acme", public_key=KEY)),
    ("framework", _statement("report.published", org="acme", code=CODE, framework="oecd-haip", period="2025",
                             url="https://a.example/")),
    ("effective_date", _statement("endorsement.withdrawn", org="acme", code=CODE, reason="r",
                                  effective_date="2024-01-01")),
])  # fmt: skip
def test_identifiers_refuse_format_characters(field: str, statement: dict[str, Any], char: str) -> None:
    assert statements.validate(statement)
    value = statement[field]
    for bad in (value[:2] + char + value[2:], value + char, char + value):
        with pytest.raises(InvalidStatementError) as refused:
            statements.validate({**statement, field: bad})
        assert refused.value.field == field
