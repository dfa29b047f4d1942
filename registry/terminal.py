"""Text for terminals: nothing a statement says may move the cursor or recolour the screen."""

from __future__ import annotations

import unicodedata


def safe(text: object) -> str:
    """``text`` with control and bidi-format characters shown as escapes (newlines kept)."""
    out = []
    for ch in str(text):
        category = unicodedata.category(ch)
        if ch == "\n" or (category not in ("Cc", "Cf", "Cs") and ch not in "\u2028\u2029"):
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return "".join(out)
