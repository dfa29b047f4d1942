"""Plain words for records: Codes by their titles, scopes by their items, dates as precise as they are.

What it does: :class:`Names` holds what a sentence needs from the registry
state (organization names, each Code's versions with their titles, short
titles, item nouns and item names); :func:`date_words` says a day, a month or
"date not stated in the sources"; :func:`scope_phrase` says which items a
scope covers ("chapter 3 (Safety and Security)", "all commitments");
:func:`claim` is the one sentence that says what a log entry's statement
claims, :func:`provenance` who vouches for it and on what sources, and
:func:`tally` how an obligation's verdicts stand. The command line, the pages
and the feeds use the same words.

What it does not do: markup, escaping or isolating untrusted text (pages and
feeds do that), and no I/O.

For a verified receipt, :func:`receipt_claim` joins the claim and its
provenance with the record's place in the log; ``web/static/wording.js`` says
the same words in the browser from :meth:`Names.to_json` (tests hold the two
to the same output).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry.countries import country_name
from registry.statements import scope_words

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
UNKNOWN_DATE = "date not stated in the sources"
KIND_NAMES = {"company": "company", "academia": "academic institution", "civil-society": "civil-society group",
              "public-sector": "public-sector body", "research": "research institute"}


def date_words(value: str | None) -> str:
    """``31 July 2025``, ``July 2025``, or ``date not stated in the sources``: never more precise than the value."""
    if value is None:
        return UNKNOWN_DATE
    year, month = value[:4], MONTHS[int(value[5:7]) - 1]
    if len(value) == 7:
        return f"{month} {year}"
    return f"{int(value[8:10])} {month} {year}"


def month_words(month: str) -> str:
    """``2025-07`` as ``July 2025``."""
    return f"{MONTHS[int(month[5:7]) - 1]} {month[:4]}"


def short_month(month: str) -> str:
    """``2025-07`` as ``Jul 2025``, for axes and narrow tables."""
    return f"{MONTHS[int(month[5:7]) - 1][:3]} {month[:4]}"


@dataclass(frozen=True)
class CodeNames:
    """How one Code is named: its latest version's titles and item noun, and each version's items."""

    slug: str
    title: str
    short: str
    noun: str
    versions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # version id -> the version

    def item_names(self, version: str | None) -> dict[int, str]:
        """Item names in ``version``; with no version, the names every version gives alike.

        A version these names do not hold (a state behind the record) names nothing: its items
        may have been renumbered or renamed, and a wrong name would be worse than a number.
        """
        if version is not None:
            return _named_items(self.versions[version]) if version in self.versions else {}
        named = [_named_items(v) for v in self.versions.values()]
        if not named:
            return {}
        return {n: name for n, name in named[0].items() if all(other.get(n) == name for other in named[1:])}

    def to_json(self) -> dict[str, Any]:
        """What a browser needs to word a record as :func:`claim` does (web/static/wording.js)."""
        return {"title": self.title, "short": self.short, "noun": self.noun,
                "versions": {v: {str(n): name for n, name in _named_items(found).items()}
                             for v, found in self.versions.items()}}


def _named_items(version: Mapping[str, Any]) -> dict[int, str]:
    return {a["number"]: a["name"] for a in version.get("actions", ()) if a.get("name")}


@dataclass(frozen=True)
class Names:
    """Names of organizations and Codes from a state document (``RegistryState.to_json()``)."""

    organizations: Mapping[str, str]
    codes: Mapping[str, CodeNames]

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> Names:
        codes = {}
        for c in state["codes"]:
            if not c["versions"]:
                continue
            latest = c["versions"][-1]
            codes[c["code"]] = CodeNames(c["code"], latest["title"], latest.get("short_title") or latest["title"],
                                         latest.get("action_noun") or "action",
                                         {v["version"]: v for v in c["versions"]})
        return cls({o["org"]: o["name"] for o in state["organizations"]}, codes)

    def org(self, slug: str | None) -> str:
        if slug is None:
            return "an organization"
        return self.organizations.get(slug, slug)

    def code(self, slug: str | None) -> CodeNames:
        found = self.codes.get(slug or "")
        if found is None:
            # Known by its slug alone: "the Code eu-gpai-cop", and "item" for what it numbers, since
            # only its revision says whether those are actions, chapters or commitments.
            name = f"Code {slug}" if slug else "Code"
            return CodeNames(slug or "", name, name, "item")
        return found

    def to_json(self) -> dict[str, Any]:
        """These names as JSON, for web/static/wording.js (items keyed by their number as a string)."""
        return {"organizations": dict(self.organizations),
                "codes": {slug: code.to_json() for slug, code in self.codes.items()}}

    def country(self, code: str | None) -> str:
        return country_name(code)


Piece = tuple[str, bool]  # a piece of a sentence, and whether its text was taken from a statement


def scope_pieces(scope: Any, code: CodeNames, version: str | None = None) -> list[Piece]:
    """Which items a scope covers, named where the Code names them: ``chapter 3 (Safety and Security)``."""
    words = scope_words(scope, code.noun)
    names = code.item_names(version)
    if isinstance(scope, list) and scope and len(scope) <= 3 and all(n in names for n in scope):
        head = f"{code.noun} " if len(scope) == 1 else f"{code.noun}s "
        out: list[Piece] = [(head, False)]
        for position, n in enumerate(scope):
            out += [((", " if position else "") + f"{n} (", False), (names[n], True), (")", False)]
        return out
    return [(words, False)]


def scope_phrase(scope: Any, code: CodeNames, version: str | None = None) -> str:
    return "".join(text for text, _ in scope_pieces(scope, code, version))


def on_date(value: str | None) -> str:
    """``on 31 July 2025``, ``in July 2025``, or ``(date not stated in the sources)``."""
    if value is None:
        return f"({UNKNOWN_DATE})"
    return ("in " if len(value) == 7 else "on ") + date_words(value)


def _effective(stmt: Mapping[str, Any]) -> str:
    value = stmt.get("effective_date")
    return f"effective {date_words(value)}" if value else f"effective {UNKNOWN_DATE}"


def claim_parts(stmt: Mapping[str, Any], names: Names, version: str | None = None) -> list[Piece]:
    """The one sentence that says what a statement claims, in names rather than slugs, piece by piece.

    Pieces taken from a statement (names, titles, versions, periods) are marked, so that pages can
    isolate them in ``<bdi>`` and feeds in Unicode isolates. ``version`` is the Code version the
    record concerns when the statement does not name it (an amendment or withdrawal concerns the
    endorsed version).
    """
    def t(text: str) -> Piece:
        return text, False

    def u(text: Any) -> Piece:
        return str(text), True

    type_ = stmt.get("type")
    org = u(names.org(stmt["org"])) if stmt.get("org") else t("An organization")
    code = names.code(stmt.get("code"))
    the_code = [t("the "), u(code.short)]
    version = stmt.get("version") or version
    match type_:
        case "endorsement.made":
            if stmt.get("scope") == "all":
                return [org, t(" endorsed "), *the_code, t(f" ({scope_words('all', code.noun)}), {_effective(stmt)}")]
            return [org, t(" endorsed "), *scope_pieces(stmt.get("scope"), code, version), t(" of "), *the_code,
                    t(f", {_effective(stmt)}")]
        case "endorsement.amended":
            change = ([t(" (now "), *scope_pieces(stmt["scope"], code, version), t(")")] if "scope" in stmt
                      else [t(" (its statement changed)")])
            return [org, t(" amended its endorsement of "), *the_code, *change, t(f", {_effective(stmt)}")]
        case "endorsement.reaffirmed":
            # Version ids and framework slugs are ASCII by the statement schema: nothing to isolate.
            return [org, t(" reaffirmed its endorsement of "), *the_code, t(f" for version {version}"),
                    t(f", {_effective(stmt)}")]
        case "endorsement.withdrawn":
            return [org, t(" withdrew its endorsement of "), *the_code, t(f", {_effective(stmt)}")]
        case "endorsement.declined":
            return [org, t(" declined to endorse "), *the_code, t(f", {_effective(stmt)}")]
        case "report.published":
            period = [t(", period "), u(stmt["period"])] if stmt.get("period") else []
            return [org, t(" published a report under "), *the_code, t(f" ({stmt.get('framework', '')}"), *period,
                    t(") " + on_date(stmt.get("published_on")))]
        case "code.revision_published":
            supersedes = [t(f", superseding version {stmt['supersedes']}")] if stmt.get("supersedes") else []
            return [t(f"Version {version} of the "), u(stmt.get("title", code.title)),
                    t(" was published " + on_date(stmt.get("published_on"))), *supersedes]
        case "organization.registered":
            kind = KIND_NAMES.get(stmt.get("kind", ""), str(stmt.get("kind")))
            return [u(stmt.get("name", names.org(stmt.get("org")))),
                    t(f" ({country_name(stmt.get('country'))}, {kind}) was registered in this registry")]
        case "organization.updated":
            changed = [f for f in ("name", "country", "kind", "website") if f in stmt]
            return [org, t(f" updated its profile ({', '.join(changed)})" if changed else " updated its profile")]
        case "organization.key_added":
            return [org, t(" added a signing key")]
        case "organization.key_revoked":
            return [org, t(" revoked a signing key")]
        case "maintainer.key_added":
            return [t("A maintainer key was added: "), u(stmt.get("name", ""))]
        case "maintainer.key_revoked":
            return [t("A maintainer key was revoked")]
        case "registry.genesis":
            # The name usually says "registry" itself: "The registry <name> was founded" doubled it.
            return [t("Registry founded: "), u(stmt.get("name", ""))]
    return [t(f"A {type_} record")]


def claim(stmt: Mapping[str, Any], names: Names, version: str | None = None) -> str:
    """:func:`claim_parts` as one string."""
    return "".join(text for text, _ in claim_parts(stmt, names, version))


def tally(counts: Mapping[str, int]) -> str:
    """Verdicts on an obligation by status: ``4 met, 6 missed, 10 undetermined`` (pending only when some are)."""
    parts = [f"{counts.get(status, 0)} {status}" for status in ("met", "missed", "undetermined")]
    if counts.get("pending"):
        parts.append(f"{counts['pending']} pending")
    return ", ".join(parts)


def sources(evidence: Any) -> str:
    """``primary``, ``secondary``, ``primary and secondary`` or ``unmarked``: the kinds of sources cited."""
    kinds = {e.get("source") for e in evidence or () if isinstance(e, dict)}
    if kinds >= {"primary", "secondary"}:
        return "primary and secondary"
    if "primary" in kinds:
        return "primary"
    if "secondary" in kinds:
        return "secondary"
    return "unmarked"


def secondary_only(evidence: Any) -> bool:
    """Whether every source a record cites is a secondary one (press, blogs, third parties)."""
    return sources(evidence) == "secondary"


def uncertain(stmt: Mapping[str, Any]) -> bool:
    """Whether the record says its sources leave its date or its scope uncertain."""
    return bool(stmt.get("date_note") or stmt.get("scope_note"))


def provenance(stmt: Mapping[str, Any], signer_role: str | None, *, key_id: str = "",
               key_checked: bool = False) -> str:
    """Who vouches for a record: the organization itself, or a maintainer from which kind of sources.

    ``signer_role`` is None where the signer's key is not in the state at hand (a verifier with a
    receipt and public keys only): the record then names its key ``key_id``, and whether the
    signature was checked against a key the verifier was given (``key_checked``).
    """
    if signer_role is None:
        return _unknown_signer(stmt, key_id, key_checked)
    if signer_role == "organization":
        return "signed by the organization itself"
    if signer_role == "root":
        return "signed by the registry's root key"
    evidence = stmt.get("evidence")
    return f"recorded by a maintainer from {_cited(evidence)}" if evidence else "recorded by a maintainer"


def _cited(evidence: Any) -> str:
    kinds = sources(evidence)
    return "sources not marked primary or secondary" if kinds == "unmarked" else f"{kinds} sources"


STANCE_LABELS = {"endorsed": "Endorsed", "partial": "Partial", "declined": "Declined", "withdrawn": "Withdrawn",
                 "reported": "Reported (no endorsement)", "none": "No record"}


def stance_parts(status: str, scope: Any, removed: Any, code: CodeNames, version: str | None = None) -> tuple[str, str]:
    """A stance as a label and what it covers: (``Endorsed``, ``all chapters``), (``Partial``, ``chapter 3
    (Safety and Security)``), (``Partly removed``, ``kept commitments 1, 3-6, 8; removed commitments 2, 7``),
    (``Declined``, ``""``)."""
    if status == "endorsed":
        return STANCE_LABELS[status], scope_words("all", code.noun)
    if status == "partial" and removed:
        return "Partly removed", (f"kept {scope_phrase(scope, code, version)}; removed "
                                  f"{scope_words(list(removed), code.noun)}")
    if status == "partial":
        return STANCE_LABELS[status], scope_phrase(scope, code, version)
    return STANCE_LABELS.get(status, STANCE_LABELS["none"]), ""


def stance_words(status: str, scope: Any, removed: Any, code: CodeNames, version: str | None = None) -> str:
    """A stance in a few words: ``Endorsed: all chapters``, ``Partial: chapter 3 (Safety and Security)``,
    ``Partly removed: kept commitments 1, 3-6, 8; removed commitments 2, 7``, ``Declined``.
    """
    label, detail = stance_parts(status, scope, removed, code, version)
    return f"{label}: {detail}" if detail else label


def scope_change(before: Any, after: Any, numbers: list[int], code: CodeNames, version: str | None = None) -> str:
    """What an amendment did to a scope: ``from all commitments to commitments 1, 3-6, 8 (removed 2, 7)``.

    ``numbers`` are the item numbers of the version (what ``all`` covers).
    """
    def items(scope: Any) -> set[int]:
        return set(numbers) if scope == "all" else set(scope or ())

    removed, added = sorted(items(before) - items(after)), sorted(items(after) - items(before))
    words = f"from {scope_phrase(before, code, version)} to {scope_phrase(after, code, version)}"
    changes = ([f"removed {', '.join(map(str, removed))}"] if removed else []) + (
        [f"added {', '.join(map(str, added))}"] if added else [])
    return words + (f" ({'; '.join(changes)})" if changes else " (no item changed)")


# What the feed of each statement type holds, as its title says it (web/feeds.py, and the pages' feed links).
TYPE_FEEDS = {
    "registry.genesis": "The registry's founding",
    "maintainer.key_added": "Maintainer keys added",
    "maintainer.key_revoked": "Maintainer keys revoked",
    "code.revision_published": "New versions of every Code",
    "organization.registered": "Organizations registered",
    "organization.updated": "Changes to organizations' profiles",
    "organization.key_added": "Signing keys added by organizations",
    "organization.key_revoked": "Signing keys revoked by organizations",
    "endorsement.made": "Endorsements of every Code",
    "endorsement.amended": "Changes of scope (amendments) on every Code",
    "endorsement.reaffirmed": "Endorsements carried to new Code versions",
    "endorsement.withdrawn": "Withdrawals from every Code",
    "endorsement.declined": "Public refusals to endorse every Code",
    "report.published": "Reports under every Code",
}
EVERY_RECORD = "every record"


def _unknown_signer(stmt: Mapping[str, Any], key_id: str, key_checked: bool) -> str:
    # Only the registry's state ties a key to a role; without it, say which key and what was checked.
    role = "its role is not known without the registry's state"
    said = (f"signed by key {key_id[:16]}…, the signer key given ({role})" if key_checked
            else f"signed by key {key_id[:16]}… (not checked; {role})")
    evidence = stmt.get("evidence")
    return f"{said}, citing {_cited(evidence)}" if evidence else said


def receipt_claim(stmt: Mapping[str, Any], names: Names, signer_role: str | None, *, index: int, size: int,
                  key_id: str = "", key_checked: bool = False) -> str:
    """One line for a verified receipt: what its record claims, who vouches for it, where it is in the log.

    ``size`` is the tree size of the checkpoint the receipt proves the entry under. The version is
    the statement's own (an amendment names none: its scope is named only where every version agrees).
    """
    said = provenance(stmt, signer_role, key_id=key_id, key_checked=key_checked)
    return f"{claim(stmt, names)}; {said}; in the log at #{index}, covered by checkpoint {size}"
