"""A mirror's fetch of one archived evidence document from a registry: bounded, and checked against its name.

What it does: :func:`fetch_evidence` GETs ``/evidence/<sha256>`` from a
registry with the bounded client of remote mode (a timeout, a size limit, a
redirect only within the registry's own site) and returns the bytes only if
they hash to the name asked for. A monitor calls it for each hash that newly
cited evidence names, and keeps the bytes with ``registry evidence``'s store.

What it does not do: decide which hashes to fetch, store anything, or trust the
served media type (a mirror sniffs the bytes itself, as ``evidence add`` does).
"""

from __future__ import annotations

from urllib.parse import urljoin

from registry.errors import DocumentMismatchError, NotFoundError, RemoteError
from registry.evidence import HARD_MAX_BYTES, digest, parse_sha256
from registry.remote import registry_url
from scripts.httpclient import TIMEOUT, Client


def fetch_evidence(base_url: str, sha256: str, *, limit: int = HARD_MAX_BYTES, timeout: float = TIMEOUT) -> bytes:
    """The archived document named ``sha256`` from the registry at ``base_url``, verified against the name.

    Raises:
        MalformedError: ``sha256`` is not 64 lowercase hex characters (nothing is fetched).
        NotFoundError: the registry has not archived it (404).
        RemoteError: unreachable, an answer over ``limit`` bytes, or another status.
        DocumentMismatchError: the bytes served do not hash to ``sha256`` (a VerificationError that keeps
            them, as evidence).
    """
    parse_sha256(sha256)
    base = registry_url(base_url)
    url = urljoin(base, f"evidence/{sha256}")
    answer = Client(base, timeout).get(url, limit, accept="*/*")
    if answer.status == 404:
        raise NotFoundError(f"{base} has not archived {sha256}")
    if answer.status != 200:
        raise RemoteError("unexpected-answer", f"{url} answered {answer.status}", refused=False)
    found = digest(answer.body)
    if found != sha256:
        raise DocumentMismatchError(f"{url} served bytes that hash to {found}", answer.body)
    return answer.body
