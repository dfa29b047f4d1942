"""Untrusted text for feeds (feeds.text): ``xml_text`` and ``isolate``.

``isolate`` is checked against a small model of UAX #9 isolate matching: in
every paragraph of the output the FSI it opens first is closed by the PDI it
adds last, nothing is left open and no PDI is left unmatched, and taking the
added isolates off gives the text back unchanged.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds import isolate, xml_text
from feeds.text import FSI, NOT_XML, PDI

INITIATORS = "\u2066\u2067\u2068"  # LRI, RLI, FSI
EMBEDDINGS = "\u202a\u202b\u202c\u202d\u202e"  # LRE, RLE, PDF, LRO, RLO
SEPARATORS = ["\n", "\r\n", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2029"]
PARAGRAPH = re.compile("\r\n|[\n\r\x1c-\x1e\x85\u2029]")
TRICKY = st.lists(st.sampled_from([*INITIATORS, PDI, *EMBEDDINGS, *SEPARATORS, "a", "\u05d0", " "]),
                  max_size=30).map("".join)


def matches(line: str) -> dict[int, int]:
    """Isolate initiator position -> its PDI position, as UAX #9 (BD9) pairs them; asserts none is unmatched."""
    open_at: list[int] = []
    pairs = {}
    for position, ch in enumerate(line):
        if ch in INITIATORS:
            open_at.append(position)
        elif ch == PDI:
            assert open_at, f"unmatched PDI at {position} in {line!r}"
            pairs[open_at.pop()] = position
    assert not open_at, f"left open in {line!r}"
    return pairs


def check_isolated(text: str, shown: str) -> None:
    source, out = PARAGRAPH.split(text), PARAGRAPH.split(shown)
    assert PARAGRAPH.findall(shown) == PARAGRAPH.findall(text)  # the separators stay, in place
    for original, line in zip(source, out, strict=True):
        if not original:
            assert line == ""  # an empty paragraph gets no pair
            continue
        assert matches(line)[0] == len(line) - 1  # the first FSI closes last: nothing escapes
        assert wrapped(original, line)  # only isolates were added around the text, never inside it


def wrapped(original: str, line: str) -> bool:
    """Whether ``line`` is ``original`` with one or more FSI before it and one or more PDI after it."""
    added = len(line) - len(original)
    return any(line == FSI * before + original + PDI * (added - before) for before in range(1, added))


@settings(max_examples=300, deadline=None)
@given(TRICKY)
def test_isolate_closes_everything_in_every_paragraph(text: str) -> None:
    check_isolated(text, isolate(text))


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s[0]):04X}{len(s)}" for s in SEPARATORS])
def test_each_paragraph_separator_ends_a_pair(separator: str) -> None:
    assert isolate(f"one\u202e{separator}two") == f"{FSI}one\u202e{PDI}{separator}{FSI}two{PDI}"


@pytest.mark.parametrize(("text", "shown"), [
    ("", ""),
    ("plain", f"{FSI}plain{PDI}"),
    (f"{PDI}{PDI}x", f"{FSI * 3}{PDI}{PDI}x{PDI}"),  # one more FSI for each stray PDI
    ("\u2067\u2066x", f"{FSI}\u2067\u2066x{PDI * 3}"),  # one more PDI for each initiator left open
    (f"{FSI}x{PDI}", f"{FSI}{FSI}x{PDI}{PDI}"),  # already isolated: isolated again, never unwrapped
    ("a\n\nb", f"{FSI}a{PDI}\n\n{FSI}b{PDI}"),
])
def test_isolate_examples(text: str, shown: str) -> None:
    assert isolate(text) == shown
    check_isolated(text, shown)


def test_xml_text_replaces_only_what_xml_cannot_carry() -> None:
    bad = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]
    good = ["\t", "\n", "\r", " ", "~", "\x7f", "\x85", "\ud7ff", "\ue000", "\ufffd", "\U00010000", "\U0010ffff"]
    assert xml_text("".join(bad)) == "\ufffd" * len(bad)
    assert xml_text("".join(good)) == "".join(good)
    assert all(NOT_XML.fullmatch(c) for c in bad) and not any(NOT_XML.search(c) for c in good)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_xml_text_keeps_the_length_and_is_idempotent(text: str) -> None:
    shown = xml_text(text)
    assert len(shown) == len(text) and xml_text(shown) == shown and NOT_XML.search(shown) is None
    assert all(a == b or b == "\ufffd" for a, b in zip(text, shown, strict=True))
