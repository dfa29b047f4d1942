"""Human sentences for log events, as the HTML pages show them.

What it does: :func:`describe` turns one event document (``ReadModels.events``)
into a short sentence ("Milestone Systems endorsed hiroshima-coc version
2023-10-30, all actions") made of :class:`Part`\\ s, so that a template can wrap
the parts that came from a signed statement (names, periods, versions) in
``<bdi>`` while the fixed wording stays plain. :func:`signature_kind` says who
vouches for an event: the organization itself (self-signed), a maintainer
recording it from public evidence (attested), or the registry's own
administration.

What it does not do: no markup and no escaping (templates do both), no I/O,
and no feed titles (``feeds.entries`` words those); the scope wording and the
set of attested types are the registry's own (``registry.statements``), shared
by both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from registry.statements import ABOUT_AN_ORGANIZATION as _ABOUT_AN_ORGANIZATION
from registry.statements import scope_words as scope_text  # the one wording, shared with the feeds


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


def describe(event: Mapping[str, Any], org_name: Callable[[str], str] | None = None) -> Title:
    """A sentence about ``event``; ``org_name`` maps a slug to the organization's current name."""
    stmt: Mapping[str, Any] = event.get("statement") or {}
    type_ = str(event.get("type"))
    slug = event.get("org")
    name = (org_name(slug) if org_name else None) or slug or "An organization"
    org = Part(name, user=True)
    code = Part(str(event.get("code") or stmt.get("code") or "a Code"), user=True)
    version = Part(str(event.get("version") or stmt.get("version") or "?"), user=True)
    p = Part

    match type_:
        case "registry.genesis":
            # The name usually says "registry" itself: "The registry <name> was founded" doubled it.
            parts = [p("Registry founded: "), p(str(stmt.get("name", "")), True)]
        case "maintainer.key_added":
            parts = [p("Maintainer key "), p(str(stmt.get("name", "")), True), p(" was added")]
        case "maintainer.key_revoked":
            parts = [p("A maintainer key was revoked")]
        case "code.revision_published":
            parts = [code, p(" version "), version, p(" was published")]
            if stmt.get("supersedes"):
                parts += [p(", superseding "), p(str(stmt["supersedes"]), True)]
        case "organization.registered":
            parts = [org, p(" was registered")]
        case "organization.updated":
            parts = [org, p("’s profile was updated")]
        case "organization.key_added":
            parts = [org, p(" gained a signing key")]
        case "organization.key_revoked":
            parts = [org, p(" lost a signing key (revoked)")]
        case "endorsement.made":
            parts = [org, p(" endorsed "), code, p(" version "), version, p(", " + scope_text(stmt.get("scope")))]
        case "endorsement.amended":
            parts = [org, p(" amended its endorsement of "), code]
            if "scope" in stmt:
                parts.append(p(": now " + scope_text(stmt["scope"])))
        case "endorsement.reaffirmed":
            parts = [org, p(" reaffirmed its endorsement of "), code, p(" for version "), version]
        case "endorsement.withdrawn":
            parts = [org, p(" withdrew its endorsement of "), code]
        case "endorsement.declined":
            parts = [org, p(" declined to endorse "), code, p(" version "), version]
        case "report.published":
            parts = [org, p(" published a report ("), p(str(stmt.get("framework", "")), True)]
            # The period may be absent: then nothing is said about it.
            if stmt.get("period"):
                parts += [p(", period "), p(str(stmt["period"]), True)]
            parts.append(p(")"))
        case _:
            parts = [p(type_)]
    return Title(tuple(parts))
