"""Feed values (feeds.items): what a FeedItem and a FeedPage refuse at construction, and ``newest_updated``."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from feeds import EMPTY_FEED_UPDATED, FeedItem, FeedPage, newest_updated
from tests.conftest import FEED_TIME, make_item, make_page

TEXT_FIELDS = [f.name for f in dataclasses.fields(FeedItem) if f.name != "event_hash" and (
    f.type in ("str", "str | None"))]
PAGE_TEXT_FIELDS = [f.name for f in dataclasses.fields(FeedPage) if f.type in ("str", "str | None")]
NOT_XML = ["\x00", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]
XML = ["\t", "\n", "\r", " ", "\ud7ff", "\ue000", "\ufffd", "\U00010000", "\U0010ffff"]


def test_every_text_field_is_checked() -> None:
    assert len(TEXT_FIELDS) == 15 and {"title", "code_title", "org_url"} <= set(TEXT_FIELDS)
    assert {"feed_id", "checkpoint", "author_name", "author_uri"} <= set(PAGE_TEXT_FIELDS)


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("char", NOT_XML, ids=[f"U+{ord(c):04X}" for c in NOT_XML])
def test_an_item_refuses_what_xml_cannot_carry_naming_the_field(field: str, char: str) -> None:
    changes = {field: f"text {char} text", "event_hash": "sha256:" + "0" * 64}  # a lone surrogate has no UTF-8
    with pytest.raises(ValueError, match=f"^{field} holds U\\+{ord(char):04X}"):
        make_item(0, **changes)


@pytest.mark.parametrize("char", XML, ids=[f"U+{ord(c):04X}" for c in XML])
def test_an_item_carries_every_xml_character(char: str) -> None:
    assert make_item(0, title=f"a{char}b", content=f"{{{char}}}").title == f"a{char}b"


@pytest.mark.parametrize("changes", [{"entry_id": ""}, {"title": ""}, {"content": ""}, {"index": -1}])
def test_an_item_needs_an_id_a_title_content_and_a_position(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_item(0, **changes)


def test_only_the_optional_parts_may_be_empty() -> None:
    item = make_item(0, summary="", org=None, org_name=None, org_url=None, code=None, code_version=None)
    assert (item.summary, item.org, item.index) == ("", None, 0)


@pytest.mark.parametrize("event_hash", [
    "sha256:" + "a" * 63, "sha256:" + "a" * 65, "sha256:" + "A" * 64, "sha512:" + "a" * 64, "a" * 64,
    "sha256:" + "a" * 64 + "\n", "sha256:" + "g" * 64,
])
def test_the_event_hash_is_sha256_in_lowercase_hex(event_hash: str) -> None:
    with pytest.raises(ValueError, match="event_hash"):
        make_item(0, event_hash=event_hash)


@pytest.mark.parametrize("moment", [
    datetime(2025, 1, 1, 9, 0),  # naive
    datetime(2025, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))),  # aware, not UTC
    datetime(2025, 1, 1, 9, 0, 0, 1, tzinfo=UTC),  # finer than seconds
])
def test_times_are_utc_at_seconds_precision(moment: datetime) -> None:
    with pytest.raises(ValueError, match="recorded_at"):
        make_item(0, recorded_at=moment)
    with pytest.raises(ValueError, match="updated"):
        make_page((), updated=moment)


def test_a_zero_offset_that_is_not_utc_itself_is_accepted() -> None:
    moment = datetime(2025, 1, 1, 9, 0, tzinfo=timezone(timedelta(0), "Z"))
    assert make_item(0, recorded_at=moment).recorded_at == moment


def test_values_are_frozen() -> None:
    item = make_item(0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.title = "edited"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_page((item,)).items = ()  # type: ignore[misc]


# --- pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("indexes", [(1, 0), (0, 0), (0, 2, 1), (3, 3, 4)])
def test_a_page_holds_items_oldest_first_once_each(indexes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        make_page(tuple(make_item(i) for i in indexes))


def test_a_page_may_skip_indexes() -> None:  # a filtered feed holds some leaves only
    assert [i.index for i in make_page((make_item(0), make_item(7), make_item(8))).items] == [0, 7, 8]


def test_an_archive_never_carries_the_changing_checkpoint() -> None:
    with pytest.raises(ValueError, match="checkpoint"):
        make_page((make_item(0),), archive=True)
    archived = make_page((make_item(0),), archive=True, checkpoint=None)
    assert archived.archive and archived.author_name == "HCoC Registry" and archived.author_uri is None


@pytest.mark.parametrize("field", PAGE_TEXT_FIELDS)
def test_a_page_refuses_what_xml_cannot_carry_naming_the_field(field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} holds U\\+0000"):
        make_page((), **{field: "text \x00"})


@pytest.mark.parametrize("changes", [{"feed_id": ""}, {"title": ""}])
def test_a_page_needs_an_id_and_a_title(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        make_page((), **changes)


def test_newest_updated() -> None:
    items = [make_item(3), make_item(1), make_item(2)]
    assert newest_updated(items) == FEED_TIME + timedelta(minutes=3)
    assert newest_updated(iter(items)) == FEED_TIME + timedelta(minutes=3)
    assert newest_updated([]) == EMPTY_FEED_UPDATED == datetime(2023, 10, 30, tzinfo=UTC)
    assert make_page(()).updated == EMPTY_FEED_UPDATED  # an empty feed's bytes do not depend on the clock


# --- entries that are not log entries (an obligation falling due) ------------------------------------

NOT_A_LEAF = {"index": None, "event_hash": None, "json_url": None, "proof_url": None, "receipt_url": None}


def notice(name: str, day: int, changed: int | None = None) -> FeedItem:
    published = datetime(2025, 2, day, tzinfo=UTC)
    return make_item(0, **NOT_A_LEAF, entry_id=f"tag:registry.example,2025:{name}", recorded_at=published,
                     updated_at=None if changed is None else published + timedelta(days=changed))


def test_an_entry_that_is_no_log_entry_has_none_of_a_leafs_parts() -> None:
    item = notice("a", 10, changed=3)
    assert item.index is None and item.updated == datetime(2025, 2, 13, tzinfo=UTC)
    for part in ("event_hash", "json_url", "proof_url", "receipt_url"):
        with pytest.raises(ValueError, match="not a log entry"):
            make_item(0, **{**NOT_A_LEAF, part: "sha256:" + "0" * 64})
    # and a log entry has all of them
    with pytest.raises(ValueError, match="JSON, proof and receipt"):
        make_item(0, proof_url=None)


def test_updated_at_is_utc_and_never_before_publication() -> None:
    with pytest.raises(ValueError, match="updated_at must not be before"):
        notice("a", 10, changed=-1)
    with pytest.raises(ValueError, match="updated_at"):
        make_item(0, updated_at=datetime(2025, 3, 1, 9, 30))
    assert make_item(0).updated == make_item(0).recorded_at  # a log entry never changes


def test_a_page_of_other_entries_by_publication_then_id() -> None:
    page = make_page((notice("b", 10), notice("c", 10), notice("a", 12, changed=30)), checkpoint=None,
                     updated=newest_updated((notice("a", 12, changed=30),)))
    assert page.updated == datetime(2025, 3, 14, tzinfo=UTC)
    with pytest.raises(ValueError, match="oldest first"):
        make_page((notice("a", 12), notice("b", 10)), checkpoint=None)
    with pytest.raises(ValueError, match="not both"):
        make_page((make_item(0), notice("a", 12)), checkpoint=None)
