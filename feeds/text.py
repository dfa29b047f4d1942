"""Untrusted text as a feed carries it: XML 1.0 characters only, each piece in Unicode isolates.

:func:`xml_text` replaces what XML 1.0 cannot carry. :func:`isolate` wraps a
piece of text taken from a statement (a name, a heading, a reason, a URL) in
FIRST STRONG ISOLATE U+2068 ... POP DIRECTIONAL ISOLATE U+2069, so that a
direction override or an unbalanced isolate inside it cannot reorder the
words around it when a reader shows the title or summary. The text itself is
kept exactly as signed: only isolates are added around it.

What it does not do: escape markup (lxml writes every value as XML text) or
word anything; the caller isolates each untrusted piece before joining it
with its own words.
"""

from __future__ import annotations

import re

FSI = "\u2068"  # FIRST STRONG ISOLATE
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE
_ISOLATE_INITIATORS = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
# Characters XML 1.0 cannot carry at all; lxml would refuse them mid-render
# with a message that does not name the field.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# UAX #9 paragraph separators (bidi class B): every embedding and isolate ends at one.
_PARAGRAPH = re.compile("(\n|\r\n?|[\x1c-\x1e\x85\u2029])")


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot carry replaced by U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def isolate(text: str) -> str:
    """``text`` in FSI ... PDI, one pair per paragraph, closing whatever the text leaves open.

    Per UAX #9 (X6a) a PDI closes every embedding and override opened since
    its matching isolate initiator, so an unbalanced U+202E stays inside. A
    plain pair is not enough otherwise, and each case is handled by adding
    isolates only, never by touching the text: a PDI matches the *nearest*
    open initiator, so an unbalanced U+2066 in the text would take our PDI and
    leave our FSI open over the words after it (one more PDI per initiator the
    text leaves open); a PDI in the text with no initiator of its own would
    close our FSI early (one more FSI for each); and a paragraph separator
    ends every isolate (each paragraph gets a pair of its own).
    """
    return "".join(part if _PARAGRAPH.fullmatch(part) else _isolate_line(part) for part in _PARAGRAPH.split(text))


def _isolate_line(line: str) -> str:
    if not line:
        return line
    depth = stray = 0
    for ch in line:
        if ch in _ISOLATE_INITIATORS:
            depth += 1
        elif ch == PDI:
            if depth:
                depth -= 1
            else:
                stray += 1
    return FSI * (1 + stray) + line + PDI * (1 + depth)
