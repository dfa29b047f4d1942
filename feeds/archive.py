"""RFC 5005 archived-feed paging over an append-only log of ``n`` leaves.

Archive page ``k`` holds leaves ``[k*P, (k+1)*P)``. A page is *complete* once
``(k+1)*P <= n``; only complete pages are archive documents, and their entries
and links never change again, so the caller may serve them as immutable.
An incomplete page number is "not found" (``archive_links`` raises
``NotFoundError``): its leaves are in the subscription document instead.

The subscription document holds ``[archive_count*P, n)``: the leaves of the
current, incomplete page. When ``n`` is an exact multiple of ``P`` (and not 0)
that range is empty, and a new subscriber would see an empty feed; the
document then holds the newest complete page again, ``[n-P, n)``. RFC 5005
lets a subscription document overlap the archives (entries with the same id
are the same entry), so its ``prev-archive`` still names the newest complete
page, whichever leaves it holds: walking ``prev-archive`` from the subscription
document reaches every leaf, and sees the leaves of the newest page twice only
at exact multiples. The archive pages themselves are untouched: every leaf is
in exactly one archive page or in the current page. A reader that ignores
``prev-archive`` misses whatever was archived between two of its polls; that
is inherent to archived feeds.

An archive page's links depend on ``k`` alone, never on ``n``: ``prev-archive``
is page ``k-1`` (absent for page 0), ``current`` is the subscription document,
and ``next-archive`` is always page ``k+1``. For the newest archive that URL is
"not found" until page ``k+1`` completes; omitting it instead would change the
newest archive's bytes when the next page fills, breaking immutability.

This module computes ranges and URLs only; it does not read the log or render.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.errors import NotFoundError

PAGE_SIZE = 500
PAGE_PLACEHOLDER = "{page}"


@dataclass(frozen=True)
class PageLinks:
    """The RFC 5005 navigation links of one feed document."""

    self_url: str
    prev_archive_url: str | None
    next_archive_url: str | None
    current_url: str | None


def archive_count(n: int, page_size: int = PAGE_SIZE) -> int:
    """The number of complete archive pages in a log of ``n`` leaves."""
    _check(n, page_size)
    return n // page_size


def page_range(k: int, page_size: int = PAGE_SIZE) -> range:
    """The leaf indexes archive page ``k`` holds once complete."""
    _check(k, page_size)
    return range(k * page_size, (k + 1) * page_size)


def page_of(index: int, page_size: int = PAGE_SIZE) -> int:
    """The archive page number that holds leaf ``index``."""
    _check(index, page_size)
    return index // page_size


def subscription_range(n: int, page_size: int = PAGE_SIZE) -> range:
    """The leaf indexes the subscription document holds: the current page, else the newest complete one.

    Empty only for an empty log.
    """
    start = archive_count(n, page_size) * page_size
    # The current page is empty at an exact multiple: repeat the newest page rather than show nothing.
    return range(max(0, n - page_size) if start == n else start, n)


def is_complete(k: int, n: int, page_size: int = PAGE_SIZE) -> bool:
    """Whether archive page ``k`` is complete (servable, immutable) in a log of ``n`` leaves."""
    _check(n, page_size)
    return 0 <= k < archive_count(n, page_size)


def archive_url(template: str, k: int) -> str:
    """Fill ``{page}`` in ``template`` with ``k``.

    Raises:
        ValueError: the template has no ``{page}`` placeholder.
    """
    if PAGE_PLACEHOLDER not in template:
        raise ValueError(f"archive URL template needs {PAGE_PLACEHOLDER}: {template!r}")
    # str.replace, not str.format: other braces in a URL must stay literal.
    return template.replace(PAGE_PLACEHOLDER, str(k))


def subscription_links(n: int, *, subscription_url: str, archive_template: str,
                       page_size: int = PAGE_SIZE) -> PageLinks:
    """Links of the subscription document: ``prev-archive`` to the newest complete page, if any."""
    count = archive_count(n, page_size)
    prev = archive_url(archive_template, count - 1) if count else None
    return PageLinks(self_url=subscription_url, prev_archive_url=prev, next_archive_url=None, current_url=None)


def archive_links(k: int, n: int, *, subscription_url: str, archive_template: str,
                  page_size: int = PAGE_SIZE) -> PageLinks:
    """Links of archive page ``k``; they depend on ``k`` only, so the page stays byte-identical.

    Raises:
        NotFoundError: page ``k`` is not complete in a log of ``n`` leaves.
    """
    if not is_complete(k, n, page_size):
        raise NotFoundError(f"archive page {k} does not exist yet (log size {n}, page size {page_size})")
    return PageLinks(
        self_url=archive_url(archive_template, k),
        prev_archive_url=archive_url(archive_template, k - 1) if k > 0 else None,
        next_archive_url=archive_url(archive_template, k + 1),
        current_url=subscription_url,
    )


def _check(count: int, page_size: int) -> None:
    if count < 0:
        raise ValueError(f"must be >= 0, got {count}")
    if page_size <= 0:
        raise ValueError(f"page size must be > 0, got {page_size}")
