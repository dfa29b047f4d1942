"""The log entry (leaf) document: a DSSE envelope and the time it was recorded.

Leaf bytes are the RFC 8785 form of
``{"envelope": <DSSE envelope>, "format": "hcoc-registry/leaf/v1", "recorded_at": "<UTC time>"}``.
They are what the event store keeps and what the transparency log hashes
(``SHA-256(0x00 || leaf)``). The parser accepts only bytes the formatter would
have produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from registry import canonical, envelope
from registry.envelope import Envelope
from registry.errors import MalformedError

LEAF_FORMAT = "hcoc-registry/leaf/v1"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_LEAF_BYTES = 65535  # a C2SP entry bundle prefixes each entry with a uint16 length


@dataclass(frozen=True)
class Leaf:
    """One log entry: the envelope as recorded and when."""

    envelope: Envelope
    recorded_at: str


def format_time(moment: datetime) -> str:
    """UTC, seconds precision, ``Z`` suffix: the registry's one time format."""
    t = moment.astimezone(UTC)
    if t.year < 1000:  # strftime's %Y would not pad; keep one code path for the rare case
        return t.strftime(TIME_FORMAT)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def parse_time(text: str) -> datetime:
    """Parse :func:`format_time` output strictly."""
    # A regular expression and the constructor: strptime costs ~40 µs, on every leaf parsed.
    match = _TIME.fullmatch(text) if isinstance(text, str) else None
    try:
        if match is None:
            raise ValueError(text)
        moment = datetime(*(int(part) for part in match.groups()), tzinfo=UTC)
    except (TypeError, ValueError):
        raise MalformedError(f"not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ: {text!r}") from None
    if format_time(moment) != text:
        raise MalformedError(f"non-canonical time {text!r}")
    return moment


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
    except canonical.CanonicalError as e:
        raise MalformedError(f"log entry: {e}") from None
    if not isinstance(obj, dict) or set(obj) != {"envelope", "format", "recorded_at"}:
        raise MalformedError("log entry must have exactly envelope, format and recorded_at")
    if obj["format"] != LEAF_FORMAT:
        raise MalformedError(f"unknown log entry format {obj['format']!r}")
    parse_time(obj["recorded_at"])
    return Leaf(envelope=envelope.from_json(obj["envelope"]), recorded_at=obj["recorded_at"])
