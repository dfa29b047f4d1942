"""Strict standard base64, the one spelling every signed or hashed byte string has.

What it does: :func:`b64encode` writes RFC 4648 standard base64 with ``=``
padding, and :func:`b64decode` accepts only what it writes. The alphabet is
the standard one (no ``-`` or ``_``), padding is required, nothing else may
appear (no whitespace or line breaks), and the unused low bits of the last
character must be zero, so two spellings never decode to the same bytes.

What it does not do: URL-safe or unpadded base64, or the lenient decoding the
stdlib does by default. Callers word the error in their own terms (a field, a
note line) when they need to.
"""

from __future__ import annotations

import base64

from registry.errors import Base64Error, NonCanonicalBase64Error


def b64encode(raw: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(raw).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Decode strict standard base64; ``what`` names the text in the error.

    Raises:
        Base64Error: ``text`` is not standard padded base64.
        NonCanonicalBase64Error: it decodes, but :func:`b64encode` spells those bytes otherwise.
    """
    try:
        encoded = text.encode("ascii")
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:  # UnicodeEncodeError and binascii.Error are both ValueErrors
        raise Base64Error(f"{what} is not standard base64") from None
    # The decoder ignores the unused low bits of the last character; only one spelling is ours.
    if base64.b64encode(raw) != encoded:
        raise NonCanonicalBase64Error(f"{what} is not canonical padded base64")
    return raw
