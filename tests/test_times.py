"""Tests for registry.times: one format/parse pair, and the two rules its callers hold times to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registry import statements
from registry.errors import InvalidStatementError, MalformedError, TimeFormatError
from registry.times import format_time, parse_time


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-01-02 03:04:05Z", "form"),
        ("2024-01-02T03:04:05", "form"),
        ("2024-01-02T03:04:05.1Z", "form"),
        ("２０２４-01-02T03:04:05Z", "form"),  # non-ASCII digits
        ("0000-01-01T00:00:00Z", "date"),
        ("2024-02-30T00:00:00Z", "date"),
        ("2024-01-01T24:00:00Z", "date"),
        ("0999-01-01T00:00:00Z", "canonical"),  # format_time writes year 999 unpadded
    ],
)
def test_refusals_name_their_reason(text: str, reason: str) -> None:
    with pytest.raises(TimeFormatError) as caught:
        parse_time(text)
    assert caught.value.reason == reason
    assert isinstance(caught.value, MalformedError) and caught.value.code == "malformed"


def test_the_registry_own_times_take_any_year_it_writes() -> None:
    for moment in (datetime(1000, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)):
        assert parse_time(format_time(moment)) == moment
    assert parse_time("2024-02-29T23:59:59Z") == datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)


def test_a_year_range_is_checked_before_the_date() -> None:
    with pytest.raises(TimeFormatError) as caught:
        parse_time("1999-02-30T00:00:00Z", range(2000, 3000))
    assert caught.value.reason == "year"
    assert parse_time("2999-12-31T23:59:59Z", range(2000, 3000)).year == 2999


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-01-02T03:04:05", "signed_at: must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ"),
        (None, "signed_at: must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ"),
        ("1999-12-31T23:59:59Z", "signed_at: year must be between 2000 and 2999"),
        ("3000-01-01T00:00:00Z", "signed_at: year must be between 2000 and 2999"),
        ("2024-02-30T00:00:00Z", "signed_at: not a real date and time"),
    ],
)
def test_signed_times_keep_their_refusals(text: str, message: str) -> None:
    with pytest.raises(InvalidStatementError) as caught:
        statements.parse_timestamp(text, "signed_at")  # type: ignore[arg-type]
    assert caught.value.message == message and caught.value.field == "signed_at"
