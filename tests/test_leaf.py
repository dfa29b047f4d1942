"""Tests for registry.leaf: the log entry document, its time format and its size limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import canonical, envelope
from registry.envelope import Envelope
from registry.errors import MalformedError
from registry.leaf import LEAF_FORMAT, MAX_LEAF_BYTES, Leaf, format_leaf, parse_leaf
from registry.times import format_time, parse_time

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ENV = envelope.sign({"type": "test.statement", "n": 1}, KEY)
WHEN = "2026-01-02T03:04:05Z"


def leaf_json(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"envelope": ENV.to_json(), "format": LEAF_FORMAT, "recorded_at": WHEN}
    for name, value in changes.items():
        if value is None:
            del obj[name]
        else:
            obj[name] = value
    return obj


# --- format / parse ----------------------------------------------------------------------


def test_leaf_bytes_known_layout() -> None:
    assert format_leaf(ENV, WHEN) == (
        b'{"envelope":' + ENV.canonical + b',"format":"hcoc-registry/leaf/v1","recorded_at":"' + WHEN.encode() + b'"}'
    )


def test_format_parse_round_trip() -> None:
    data = format_leaf(ENV, WHEN)
    leaf = parse_leaf(data)
    assert leaf == Leaf(envelope=ENV, recorded_at=WHEN)
    assert format_leaf(leaf.envelope, leaf.recorded_at) == data
    assert canonical.loads_canonical(data) == leaf_json()
    data.decode("ascii")  # the store keeps leaves as ASCII text


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.text(max_size=10), st.integers(-(2**53 - 1), 2**53 - 1) | st.text(max_size=20), max_size=5),
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=st.just(UTC)),
)
def test_round_trip_hypothesis(statement: dict[str, Any], moment: datetime) -> None:
    env = envelope.sign(statement, KEY)
    when = format_time(moment)
    leaf = parse_leaf(format_leaf(env, when))
    assert leaf.envelope == env
    assert leaf.recorded_at == when
    assert leaf.envelope.statement() == statement


@pytest.mark.parametrize(
    "data",
    [
        json.dumps(leaf_json()).encode(),
        json.dumps(leaf_json(), indent=2).encode(),
        format_leaf(ENV, WHEN) + b"\n",
        b" " + format_leaf(ENV, WHEN),
        canonical.dumps(leaf_json()).replace(b'"format":"hcoc', b'"format":"\\u0068coc'),
        b'{"format":"hcoc-registry/leaf/v1","envelope":'
        + ENV.canonical + b',"recorded_at":"' + WHEN.encode() + b'"}',
        b'{"envelope":' + json.dumps(ENV.to_json(), indent=1).encode()
        + b',"format":"hcoc-registry/leaf/v1","recorded_at":"' + WHEN.encode() + b'"}',
    ],
)
def test_parse_refuses_non_canonical_bytes(data: bytes) -> None:
    assert canonical.loads(data) == leaf_json()  # the same leaf, spelled differently
    with pytest.raises(MalformedError, match="canonical"):
        parse_leaf(data)


@pytest.mark.parametrize(
    "obj",
    [
        leaf_json(format="hcoc-registry/leaf/v2"),
        leaf_json(format="hcoc-registry/leaf/v1 "),
        leaf_json(format=""),
        leaf_json(format=1),
        leaf_json(extra=True),
        leaf_json(envelope=None),
        leaf_json(format=None),
        leaf_json(recorded_at=None),
        [leaf_json()],
        "leaf",
        {},
    ],
    ids=repr,
)
def test_parse_refuses_wrong_shape_or_format(obj: Any) -> None:
    with pytest.raises(MalformedError):
        parse_leaf(canonical.dumps(obj))


@pytest.mark.parametrize(
    "envelope_obj",
    [
        ENV.to_json() | {"signatures": ENV.to_json()["signatures"] * 2},
        ENV.to_json() | {"payloadType": "application/json"},
        ENV.to_json() | {"extra": 1},
        [ENV.to_json()],
        ENV.canonical.decode(),
    ],
)
def test_parse_refuses_a_bad_envelope(envelope_obj: Any) -> None:
    with pytest.raises(MalformedError):
        parse_leaf(canonical.dumps(leaf_json(envelope=envelope_obj)))


BAD_TIMES = [
    "2026-01-01T00:00:00.5Z",
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T00:00:00+00:00",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00z",
    "2026-01-01t00:00:00Z",
    "2026-01-01 00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2025-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-01-32T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T00:60:00Z",
    "2026-12-31T23:59:60Z",
    "2026-1-01T00:00:00Z",
    "2026-01-1T00:00:00Z",
    "2026-01-01T0:00:00Z",
    "26-01-01T00:00:00Z",
    " 2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00Z ",
    "2026-01-01T00:00:00ZZ",
    "２０２６-01-01T00:00:00Z",
    "",
]


@pytest.mark.parametrize("when", BAD_TIMES)
def test_parse_refuses_bad_recorded_at(when: str) -> None:
    with pytest.raises(MalformedError):
        parse_time(when)
    with pytest.raises(MalformedError):
        parse_leaf(format_leaf(ENV, when))


@pytest.mark.parametrize("when", [20260101, None, ["2026-01-01T00:00:00Z"], True])
def test_parse_refuses_recorded_at_of_another_type(when: Any) -> None:
    data = canonical.dumps({"envelope": ENV.to_json(), "format": LEAF_FORMAT, "recorded_at": when})
    with pytest.raises(MalformedError):
        parse_leaf(data)


@pytest.mark.parametrize("when", ["2024-02-29T23:59:59Z", "2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_good_times(when: str) -> None:
    assert format_time(parse_time(when)) == when
    assert parse_leaf(format_leaf(ENV, when)).recorded_at == when


def test_format_time_converts_to_utc_and_drops_fractions() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert format_time(datetime(2026, 1, 2, 12, 4, 5, 999_999, tzinfo=tokyo)) == WHEN
    assert parse_time(WHEN) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)
def test_time_round_trip(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = format_time(aware)
    assert parse_time(text) == aware.replace(microsecond=0)
    assert format_time(parse_time(text)) == text


# --- size limit ----------------------------------------------------------------------------------


def _leaf_with_pad(pad: int) -> tuple[Envelope, int]:
    """An envelope (not a valid statement size, but well-formed) and its leaf length."""
    env = Envelope(payload=canonical.dumps({"pad": "x" * pad}), keyid=ENV.keyid, sig=ENV.sig)
    length = len(canonical.dumps({"envelope": env.to_json(), "format": LEAF_FORMAT, "recorded_at": WHEN}))
    return env, length


def test_leaves_over_65535_bytes_are_refused() -> None:
    low, high = 0, 60_000  # the largest pad whose leaf fits
    while low < high:
        mid = (low + high + 1) // 2
        if _leaf_with_pad(mid)[1] <= MAX_LEAF_BYTES:
            low = mid
        else:
            high = mid - 1
    fits, fits_length = _leaf_with_pad(low)
    too_big, too_big_length = _leaf_with_pad(low + 1)
    assert MAX_LEAF_BYTES - 4 < fits_length <= MAX_LEAF_BYTES < too_big_length
    assert len(format_leaf(fits, WHEN)) == fits_length
    with pytest.raises(MalformedError, match="limit"):
        format_leaf(too_big, WHEN)
    big = canonical.dumps({"envelope": too_big.to_json(), "format": LEAF_FORMAT, "recorded_at": WHEN})
    with pytest.raises(MalformedError, match="too large"):
        parse_leaf(big)


def test_parse_leaf_checks_size_before_parsing() -> None:
    with pytest.raises(MalformedError, match="too large"):
        parse_leaf(b" " * (MAX_LEAF_BYTES + 1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_malformed(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_leaf(data)


def test_constructed_leaf_equals_rfc8785() -> None:
    # format_leaf concatenates for speed; it must equal the rfc8785 package's bytes.
    import rfc8785

    for when in ("2024-02-29T23:59:59Z", "2026-11-28T05:36:43Z"):
        expected = rfc8785.dumps({"envelope": ENV.to_json(), "format": LEAF_FORMAT, "recorded_at": when})
        assert format_leaf(ENV, when) == expected
