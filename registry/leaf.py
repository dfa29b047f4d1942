"""The log entry (leaf) document: a DSSE envelope and the time it was recorded.

Leaf bytes are the RFC 8785 form of
``{"envelope": <DSSE envelope>, "format": "hcoc-registry/leaf/v1", "recorded_at": "<UTC time>"}``.
They are what the event store keeps and what the transparency log hashes
(``SHA-256(0x00 || leaf)``). The parser accepts only bytes the formatter would
have produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import canonical, envelope
from registry.envelope import Envelope
from registry.errors import CanonicalError, MalformedError
from registry.times import parse_time

LEAF_FORMAT = "hcoc-registry/leaf/v1"
MAX_LEAF_BYTES = 65535  # a C2SP entry bundle prefixes each entry with a uint16 length


@dataclass(frozen=True)
class Leaf:
    """One log entry: the envelope as recorded and when."""

    envelope: Envelope
    recorded_at: str


def format_leaf(env: Envelope, recorded_at: str) -> bytes:
    """The canonical leaf bytes."""
    parse_time(recorded_at)
    # JCS orders members envelope < format < recorded_at and every value is ASCII that JSON does
    # not escape, so concatenation yields the RFC 8785 bytes (checked against rfc8785 in tests).
    data = b'{"envelope":%s,"format":"%s","recorded_at":"%s"}' % (
        env.canonical, LEAF_FORMAT.encode("ascii"), recorded_at.encode("ascii"))
    if len(data) > MAX_LEAF_BYTES:
        raise MalformedError(f"log entry would be {len(data)} bytes; the limit is {MAX_LEAF_BYTES}")
    return data


def parse_leaf(data: bytes) -> Leaf:
    """Parse leaf bytes; raise MalformedError unless they are exactly canonical."""
    if len(data) > MAX_LEAF_BYTES:
        raise MalformedError("log entry too large")
    try:
        obj = canonical.loads_canonical(data)
    except CanonicalError as e:
        raise MalformedError(f"log entry: {e}") from None
    if not isinstance(obj, dict) or set(obj) != {"envelope", "format", "recorded_at"}:
        raise MalformedError("log entry must have exactly envelope, format and recorded_at")
    if obj["format"] != LEAF_FORMAT:
        raise MalformedError(f"unknown log entry format {obj['format']!r}")
    parse_time(obj["recorded_at"])
    return Leaf(envelope=envelope.from_json(obj["envelope"]), recorded_at=obj["recorded_at"])
