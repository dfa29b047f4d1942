"""Tests for registry.terminal.safe: nothing a statement says may steer the terminal."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.terminal import safe

UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs"}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "\\u001b[31mred\\u001b[0m"),
        ("\x1b]0;title\x07", "\\u001b]0;title\\u0007"),
        ("bell\x07", "bell\\u0007"),
        ("over\rwrite", "over\\u000dwrite"),
        ("tab\there", "tab\\u0009here"),
        ("\x00\x08\x7f", "\\u0000\\u0008\\u007f"),
        ("\x85\x9b", "\\u0085\\u009b"),  # NEL and the 8-bit CSI
        ("abc\u202egpj.exe", "abc\\u202egpj.exe"),
        ("\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d"),
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),
        ("a\u200bb\u200cc\u200dd", "a\\u200bb\\u200cc\\u200dd"),
        ("\u2060\ufeff\u00ad", "\\u2060\\ufeff\\u00ad"),
        ("line\u2028sep\u2029para", "line\\u2028sep\\u2029para"),
        ("\U000e0001\U000e0041", "\\U000e0001\\U000e0041"),  # tag characters
        ("\ud800x\udfff", "\\ud800x\\udfff"),
    ],
)
def test_unsafe_characters_are_escaped(text: str, shown: str) -> None:
    assert safe(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain ASCII, with punctuation: <>&'\"\\/",
        "first line\nsecond line\n",
        "Société Générale — Zürich, São Paulo, Kraków",
        "Ελληνικά Кириллица",
        "日本語のテキスト 中文 한국어",
        "עברית والعربية",  # right-to-left letters are not overrides
        "\U0001F600\U0001F44D\U0001F3FD \u2764\ufe0f \U0001F1EF\U0001F1F5",
        "e\u0301 combining accent",
        "\u00a0no-break\u3000ideographic space",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert safe(text) == text


def test_non_strings_are_shown_by_str() -> None:
    assert safe(42) == "42"
    assert safe(None) == "None"

    class Shouty:
        def __str__(self) -> str:
            return "\x1b[2Jgone"

    assert safe(Shouty()) == "\\u001b[2Jgone"


interesting = st.sampled_from(
    ["\n", "\r", "\t", "\x1b", "\x07", "\x7f", "\x85", "\u200d", "\u202e", "\u2066", "\u2069", "\u2028",
     "\u2029", "\ufeff", "\U000e0001", "\ud800", "\udfff", "é", "日", "\U0001F600", "\\", "u"]
)  # fmt: skip
characters = interesting | st.characters() | st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp"])
texts = st.text(characters, max_size=40)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_output_has_no_control_format_or_surrogate_characters(text: str) -> None:
    for ch in safe(text):
        assert ch == "\n" or unicodedata.category(ch) not in UNSAFE_CATEGORIES, repr(ch)
        assert ch not in "\u2028\u2029"


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_safe_works_character_by_character(a: str, b: str) -> None:
    assert safe(a + b) == safe(a) + safe(b)
    assert safe(safe(a)) == safe(a)
    assert safe(a).count("\n") == a.count("\n")


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cc", "Cf", "Cs", "Zl", "Zp"]) | st.just("\n"), max_size=40))
def test_text_without_unsafe_characters_is_unchanged(text: str) -> None:
    assert safe(text) == text
