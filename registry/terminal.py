"""Text for terminals: nothing a statement says may move the cursor or recolour the screen."""

from __future__ import annotations

import unicodedata


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs") or ch in "\u2028\u2029"


def safe(text: object) -> str:
    """``text`` with control and bidi-format characters shown as escapes (newlines kept)."""
    out = []
    for ch in str(text):
        if ch == "\n" or not _unsafe(ch):
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return "".join(out)


def safe_json(document: str) -> str:
    """A JSON document with every character :func:`safe` would escape written as a JSON ``\\u`` escape.

    For ``json.dumps`` output: outside its strings there is only whitespace, so
    each such character sits inside a string, and the document still parses to
    the same value (a character beyond U+FFFF becomes a surrogate pair, as JSON spells it).
    """
    return "".join(_json_escape(ch) if ch != "\n" and _unsafe(ch) else ch for ch in document)


def _json_escape(ch: str) -> str:
    units = ch.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))
