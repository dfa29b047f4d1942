"""Human sentences for log events, as the HTML pages show them.

What it does: :func:`describe` turns one event document (``ReadModels.events``)
into a short sentence ("xAI endorsed chapter 3 (Safety and Security) of the EU
GPAI Code of Practice, effective 1 August 2025") made of :class:`Part`\\ s, so
that a template can wrap the parts that came from a signed statement (names,
titles, periods, versions) in ``<bdi>`` while the fixed wording stays plain.
The words are ``registry.wording``'s, shared with the command line and feeds. :func:`signature_kind` says who
vouches for an event: the organization itself (self-signed), a maintainer
recording it from public evidence (attested), or the registry's own
administration.

What it does not do: no markup and no escaping (templates do both), no I/O,
and no feed titles (``feeds.entries`` words those); the scope wording and the
set of attested types are the registry's own (``registry.statements``), shared
by both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.statements import ABOUT_AN_ORGANIZATION as _ABOUT_AN_ORGANIZATION
from registry.statements import scope_words as scope_text  # noqa: F401 - the one wording, for templates
from registry.wording import Names, claim_parts

NO_NAMES = Names({}, {})


@dataclass(frozen=True)
class Part:
    """A piece of a sentence; ``user`` marks text taken from a statement."""

    text: str
    user: bool = False


@dataclass(frozen=True)
class Title:
    """A sentence about one event."""

    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SignatureKind:
    """Who vouches for a record, as a short label and an explanation."""

    key: str  # "self-signed" | "attested" | "maintainer" | "root"
    label: str
    explanation: str


SELF_SIGNED = SignatureKind(
    "self-signed", "Self-signed", "Signed by the organization with its own registered key.")
ATTESTED = SignatureKind(
    "attested", "Attested",
    "Recorded by a registry maintainer from public evidence; the organization did not sign it.")
MAINTAINER = SignatureKind(
    "maintainer", "Maintainer record", "Registry administration, signed by a maintainer key.")
ROOT = SignatureKind("root", "Root record", "Signed by the registry's root key.")


def signature_kind(type_: str, signer_role: str) -> SignatureKind:
    """Self-signed, attested, or an administrative record, from the statement type and the signer's role."""
    if signer_role == "organization":
        return SELF_SIGNED
    if signer_role == "root":
        return ROOT
    return ATTESTED if type_ in _ABOUT_AN_ORGANIZATION else MAINTAINER


def record_kind(attested: bool) -> SignatureKind:
    """The kind of an endorsement or report record from its ``attested`` flag."""
    return ATTESTED if attested else SELF_SIGNED


def describe(event: Mapping[str, Any], names: Names | None = None) -> Title:
    """A sentence about ``event`` (an event document), in the registry's one wording (``registry.wording``).

    ``names`` gives organizations' and Codes' names; without it (or for a slug it does not know)
    the slug stands for the name.
    """
    stmt = {**(event.get("statement") or {}), "type": event.get("type")}
    for field in ("org", "code"):
        if stmt.get(field) is None and event.get(field) is not None:
            stmt[field] = event[field]
    pieces = claim_parts(stmt, names or NO_NAMES, event.get("version"))
    return Title(tuple(Part(text, user) for text, user in pieces))
