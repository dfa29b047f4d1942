"""RFC 5005 paging (feeds.archive), checked exhaustively on small logs.

For every log size up to 40 and page sizes 1 to 6: every leaf is in exactly one
archive page or in the current page, the subscription document is never empty
for a non-empty log, a client walking ``prev-archive`` from the subscription
document sees each archive page once, newest to oldest, and an archive page's
links never change as the log grows.
"""

from __future__ import annotations

import pytest

from feeds import (
    PAGE_SIZE,
    PageLinks,
    archive_count,
    archive_links,
    archive_url,
    is_complete,
    page_of,
    page_range,
    subscription_links,
    subscription_range,
)
from registry.errors import NotFoundError

SIZES = range(41)
PAGE_SIZES = range(1, 7)
SUB, TEMPLATE = "https://r.example/feed.atom", "https://r.example/archive/{page}.atom"


def links_of(k: int, n: int, p: int) -> PageLinks:
    return archive_links(k, n, subscription_url=SUB, archive_template=TEMPLATE, page_size=p)


@pytest.mark.parametrize("p", PAGE_SIZES)
def test_every_leaf_is_in_exactly_one_archive_page_or_the_current_page(p: int) -> None:
    for n in SIZES:
        count = archive_count(n, p)
        current = range(count * p, n)
        documents = [page_range(k, p) for k in range(count)] + [current]
        leaves = [i for document in documents for i in document]
        assert leaves == list(range(n)), (n, p)
        assert all(len(d) == p for d in documents[:-1]) and len(current) < p
        for i in range(n):
            assert i in page_range(page_of(i, p), p)
            assert is_complete(page_of(i, p), n, p) == (i not in current)
        # The subscription document: the current page, or the newest complete page when that is empty.
        expected = current if current or not count else page_range(count - 1, p)
        assert subscription_range(n, p) == expected, (n, p)
        assert bool(subscription_range(n, p)) == (n > 0)


@pytest.mark.parametrize("p", PAGE_SIZES)
def test_walking_prev_archive_visits_each_page_once(p: int) -> None:
    for n in SIZES:
        url = subscription_links(n, subscription_url=SUB, archive_template=TEMPLATE, page_size=p).prev_archive_url
        visited = []
        while url is not None:
            k = int(url.rsplit("/", 1)[1].split(".")[0])
            here = links_of(k, n, p)
            assert here.self_url == url and here.current_url == SUB
            visited.append(k)
            url = here.prev_archive_url
        assert visited == list(range(archive_count(n, p)))[::-1], (n, p)


@pytest.mark.parametrize("p", PAGE_SIZES)
def test_an_archive_page_never_changes_and_only_complete_pages_exist(p: int) -> None:
    for k in range(6):
        first = links_of(k, (k + 1) * p, p)  # the moment page k completes
        assert first.next_archive_url == archive_url(TEMPLATE, k + 1)  # named before it exists
        with pytest.raises(NotFoundError):
            links_of(k + 1, (k + 1) * p, p)
        for n in range((k + 1) * p, 41):
            assert links_of(k, n, p) == first
        for n in range((k + 1) * p):
            with pytest.raises(NotFoundError, match=f"archive page {k} does not exist yet"):
                links_of(k, n, p)


def test_the_subscription_document_of_a_log_filling_whole_pages_repeats_the_newest_page() -> None:
    assert subscription_range(12, 4) == range(8, 12) == page_range(2, 4)
    found = subscription_links(12, subscription_url=SUB, archive_template=TEMPLATE, page_size=4)
    assert found == PageLinks(SUB, archive_url(TEMPLATE, 2), None, None)
    assert subscription_links(3, subscription_url=SUB, archive_template=TEMPLATE, page_size=4) == PageLinks(
        SUB, None, None, None)


def test_the_default_page_size() -> None:
    assert PAGE_SIZE == 500
    assert archive_count(1499) == 2 and page_of(1000) == 2 and subscription_range(1001) == range(1000, 1001)


@pytest.mark.parametrize("call", [
    lambda: archive_count(-1, 4), lambda: page_range(-1, 4), lambda: page_of(-1, 4), lambda: subscription_range(-1, 4),
    lambda: is_complete(0, -1, 4), lambda: archive_count(4, 0), lambda: page_range(1, -2), lambda: page_of(1, 0),
])
def test_negative_counts_and_empty_pages_are_refused(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_is_complete_is_false_outside_the_archive() -> None:
    assert [is_complete(k, 8, 4) for k in (-1, 0, 1, 2)] == [False, True, True, False]


def test_archive_url_fills_the_placeholder_only() -> None:
    assert archive_url("https://r.example/{page}.atom?x={y}", 7) == "https://r.example/7.atom?x={y}"
    assert archive_url("{page}/{page}", 3) == "3/3"
    with pytest.raises(ValueError, match=r"needs \{page\}"):
        archive_url("https://r.example/{Page}.atom", 1)
