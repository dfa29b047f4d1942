"""Strict field validation of every registry statement type.

A statement is the JSON object a DSSE envelope carries. :func:`validate` checks
one against the table of field specs below: the ``type`` is known, every
required field is present, no unknown field is, and every value has exactly
the accepted JSON type and form. Nothing is normalized or repaired: the payload
is signed bytes, so a value that is not already in its accepted form is refused
with an :class:`~registry.errors.InvalidStatementError` naming the field (a
dotted path such as ``actions.3.heading`` or ``evidence.0.url``).

Text is checked for structure only (length, control characters, surrounding
whitespace). Markup, quotes, bidi overrides and emoji are accepted on purpose:
the registry must record hostile names faithfully, and the site and the feeds
escape and isolate them. URLs and identifiers are stricter: no format
characters (category Cf) in a URL, and slugs, version ids, hashes, key ids and
origins are ASCII by their patterns.

A few checks span fields of one statement and need nothing else: a key proof
(``key_proofs``) must be for a key the same statement adds, fetched before it
was signed.

What this module does not do: verify signatures (``envelope``), decide whether
the signer's key is known, active or allowed for this organization, check the
``signed_at`` window, or apply any rule that depends on registry state (unknown
organizations or versions, endorsing twice, ...). Those belong to the domain
layer, which uses :data:`SIGNERS`, :data:`ATTESTABLE` and :func:`requires_evidence`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit

from registry import keys
from registry.countries import COUNTRIES
from registry.errors import InvalidStatementError, TimeFormatError, WrongRegistryError
from registry.times import parse_time

STATEMENT_TYPES: tuple[str, ...] = (
    "registry.genesis",
    "maintainer.key_added",
    "maintainer.key_revoked",
    "code.revision_published",
    "organization.registered",
    "organization.updated",
    "organization.key_added",
    "organization.key_revoked",
    "endorsement.made",
    "endorsement.amended",
    "endorsement.reaffirmed",
    "endorsement.withdrawn",
    "endorsement.declined",
    "report.published",
)
KINDS: tuple[str, ...] = ("company", "academia", "civil-society", "public-sector", "research")
# What a Code calls its numbered items (the EU GPAI Code has chapters, the Seoul and White House
# commitments have commitments); pages and feeds word scopes with it. "action" when a revision says nothing.
ACTION_NOUNS: tuple[str, ...] = ("action", "chapter", "commitment")
SOURCE_KINDS: tuple[str, ...] = ("primary", "secondary")
# The statement types whose record can meet a Code's dated obligation (code.revision_published ``obligations``).
OBLIGATION_MET_BY: tuple[str, ...] = ("report.published",)

ROOT = "root"
MAINTAINER = "maintainer"
ORGANIZATION = "organization"
ROLES: tuple[str, ...] = (ROOT, MAINTAINER, ORGANIZATION)

MAX_URL = 2048
MAX_ACTIONS = 100
MAX_PUBLIC_KEYS = 8
MAX_EVIDENCE = 20
MAX_OBLIGATIONS = 20
# Where an organization publishes the ids of its keys on its own website's host (docs/FORMATS.md section 21).
KEY_PROOF_PATH = "/.well-known/hcoc-registry-keys"

Check = Callable[[Any, str], None]

# [0-9] rather than \d: \d also matches non-ASCII digits such as "٣".
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_VERSION_ID = re.compile(r"[0-9A-Za-z](?:[0-9A-Za-z.-]{0,62}[0-9A-Za-z])?")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32,64}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# Printable ASCII without space or "+": the origin is the key name of C2SP
# signed notes and the first part of the "name+hash+base64" verifier key.
_ORIGIN = re.compile(r"[\x21-\x2a\x2c-\x7e]{1,200}")
_LONG_TEXT_CONTROLS = frozenset("\n\t")


# --- dates and times -------------------------------------------------------------


# Signed times lie in the years 2000 to 2999 (docs/FORMATS.md section 3). The registry's own
# times (recorded_at, published_at) take any year, so reading back what it wrote never fails.
_SIGNED_YEARS = range(2000, 3000)
# How parse_timestamp words each TimeFormatError reason; a time in those years has one spelling only.
_TIMESTAMP_REFUSALS = {
    "form": "must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ",
    "year": "year must be between 2000 and 2999",
    "date": "not a real date and time",
}


def parse_timestamp(s: str, field: str | None = None) -> datetime:
    """The UTC datetime of an exact ``YYYY-MM-DDTHH:MM:SSZ`` string (years 2000..2999)."""
    try:
        return parse_time(s, _SIGNED_YEARS)
    except TimeFormatError as e:
        _fail(_TIMESTAMP_REFUSALS[e.reason], field)


def parse_date(s: str, field: str | None = None) -> date:
    """The date of an exact ``YYYY-MM-DD`` string (years 1900..2999)."""
    match = _DATE.fullmatch(s) if isinstance(s, str) else None
    if match is None:
        _fail("must be a date YYYY-MM-DD", field)
    year, month, day = (int(part) for part in match.groups())
    if not 1900 <= year <= 2999:
        _fail("year must be between 1900 and 2999", field)
    try:
        return date(year, month, day)
    except ValueError:
        _fail("not a real date", field)


def parse_month(s: str, field: str | None = None) -> tuple[int, int]:
    """The (year, month) of an exact ``YYYY-MM`` string (years 1900..2999)."""
    match = _MONTH.fullmatch(s) if isinstance(s, str) else None
    if match is None:
        _fail("must be a date YYYY-MM-DD or a month YYYY-MM", field)
    year, month = (int(part) for part in match.groups())
    if not 1900 <= year <= 2999:
        _fail("year must be between 1900 and 2999", field)
    if not 1 <= month <= 12:
        _fail("not a real month", field)
    return year, month


def date_precision(value: str | None) -> str:
    """How precisely a dated field of a statement is known: ``day``, ``month`` or ``unknown`` (null)."""
    if value is None:
        return "unknown"
    return "month" if len(value) == 7 else "day"


# --- field kinds -----------------------------------------------------------------
# Each check takes (value, field path) and raises InvalidStatementError or returns.


def _fail(message: str, field: str | None) -> NoReturn:
    raise InvalidStatementError(message, field or None)


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        _fail("must be a string", field)
    try:
        # Lone surrogates cannot be encoded, so they could never be signed bytes.
        value.encode("utf-8")
    except UnicodeEncodeError:
        _fail("must not contain lone surrogates", field)
    return value


def _pattern(regex: re.Pattern[str], what: str) -> Check:
    def check(value: Any, field: str) -> None:
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            _fail(f"must be {what}", field)

    return check


_slug = _pattern(_SLUG, "a slug (lowercase letters, digits and inner hyphens, at most 64)")
_version_id = _pattern(_VERSION_ID, "a version id (letters, digits, inner dots and hyphens, at most 64)")
_sha256 = _pattern(_HEX64, "64 lowercase hex characters")
_key_id = _sha256
_nonce = _pattern(_NONCE, "32 to 64 lowercase hex characters")
_registry = _pattern(_ORIGIN, "a registry origin (1 to 200 printable ASCII characters, no space or '+')")


def _date(value: Any, field: str) -> None:
    parse_date(value, field)


def _day_or_month(value: Any, field: str) -> None:
    # A date as precise as its source and no more: a day, or only a month (never a made-up day).
    if isinstance(value, str) and _MONTH.fullmatch(value):
        parse_month(value, field)
    elif isinstance(value, str) and _DATE.fullmatch(value):
        parse_date(value, field)
    else:
        _fail("must be a date YYYY-MM-DD or a month YYYY-MM", field)


def _timestamp(value: Any, field: str) -> None:
    parse_timestamp(value, field)


def _choice(choices: tuple[str, ...] | frozenset[str], what: str) -> Check:
    def check(value: Any, field: str) -> None:
        # The isinstance test first: a list is unhashable and "in frozenset" would raise.
        if not isinstance(value, str) or value not in choices:
            _fail(f"must be {what}", field)

    return check


_type = _choice(STATEMENT_TYPES, "a known statement type")
_kind = _choice(KINDS, "one of " + ", ".join(KINDS))
_action_noun = _choice(ACTION_NOUNS, "one of " + ", ".join(ACTION_NOUNS))
_source_kind = _choice(SOURCE_KINDS, "one of " + ", ".join(SOURCE_KINDS))
_met_by = _choice(OBLIGATION_MET_BY, "one of " + ", ".join(OBLIGATION_MET_BY))
_country = _choice(COUNTRIES, "an ISO 3166-1 alpha-2 country code (uppercase)")


def _line(max_len: int) -> Check:
    """Single-line text: names, titles, headings."""

    def check(value: Any, field: str) -> None:
        text = _string(value, field)
        if not 1 <= len(text) <= max_len:
            _fail(f"must be 1 to {max_len} characters", field)
        if any(unicodedata.category(c) == "Cc" for c in text):
            _fail("must not contain control characters or line breaks", field)
        if text != text.strip():
            _fail("must not start or end with whitespace", field)

    return check


def _long(max_len: int, min_len: int = 0) -> Check:
    """Multi-line text: statements, reasons, summaries (newlines and tabs allowed)."""

    def check(value: Any, field: str) -> None:
        text = _string(value, field)
        if not min_len <= len(text) <= max_len:
            _fail(f"must be {min_len} to {max_len} characters", field)
        if any(unicodedata.category(c) == "Cc" and c not in _LONG_TEXT_CONTROLS for c in text):
            # \r is refused too: one line-ending convention keeps signed bytes unambiguous.
            _fail("must not contain control characters other than newline and tab", field)

    return check


def _url(value: Any, field: str) -> None:
    text = _string(value, field)
    if len(text) > MAX_URL:
        _fail(f"must be at most {MAX_URL} characters", field)
    # urlsplit silently drops tabs and newlines, so look at the raw text first.
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in text):
        _fail("must not contain whitespace or control characters", field)
    # Invisible format characters (bidi controls, zero-width characters, U+FEFF): a URL holding one
    # reads as another address than the one a browser visits, and no real URL needs one.
    if bad := next((c for c in text if unicodedata.category(c) == "Cf"), None):
        _fail(f"must not contain invisible format characters (U+{ord(bad):04X})", field)
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        _fail("not a valid URL", field)
    # urlsplit lowercases the scheme; require the exact lowercase form in the bytes.
    if parts.scheme not in ("http", "https") or not text.startswith(parts.scheme + "://"):
        _fail("must be an http:// or https:// URL", field)
    if "@" in parts.netloc:
        _fail("must not contain user info", field)
    # Browsers read "\" as "/", so the host they visit would differ from the one shown.
    if "\\" in parts.netloc:
        _fail("must not contain a backslash in the host", field)
    if not parts.hostname:
        _fail("must name a host", field)


def _public_key(value: Any, field: str) -> None:
    if not isinstance(value, str):
        _fail("must be a string", field)
    keys.decode_public(value, field)


def _int_in(low: int, high: int) -> Check:
    def check(value: Any, field: str) -> None:
        # type() rather than isinstance(): bool is an int subclass but not a JSON number.
        if type(value) is not int:
            _fail("must be an integer", field)
        if not low <= value <= high:
            _fail(f"must be between {low} and {high}", field)

    return check


def _nullable(inner: Check) -> Check:
    def check(value: Any, field: str) -> None:
        if value is not None:
            inner(value, field)

    return check


def _list(value: Any, field: str, min_items: int, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        _fail("must be a list", field)
    if not min_items <= len(value) <= max_items:
        _fail(f"must have {min_items} to {max_items} items", field)
    return value


def _list_of(item: Check, min_items: int, max_items: int) -> Check:
    def check(value: Any, field: str) -> None:
        for index, element in enumerate(_list(value, field, min_items, max_items)):
            item(element, f"{field}.{index}")

    return check


def _object(fields: Mapping[str, Field]) -> Check:
    def check(value: Any, field: str) -> None:
        _check_fields(value, fields, field)

    return check


def _scope(value: Any, field: str) -> None:
    if isinstance(value, str):
        if value == "all":
            return
        _fail('must be "all" or a list of action numbers', field)
    numbers = _list(value, field, 1, MAX_ACTIONS)
    action = _int_in(1, MAX_ACTIONS)
    for index, number in enumerate(numbers):
        action(number, f"{field}.{index}")
        if index and number <= numbers[index - 1]:
            _fail("action numbers must be distinct and in increasing order", f"{field}.{index}")


def _key_proof_url(value: Any, field: str) -> None:
    # Only the well-known path of an https host proves control of that host: a file at any other path
    # (a user's upload on a shared site) would prove nothing about who runs the site.
    _url(value, field)
    parts = urlsplit(value)
    if parts.scheme != "https" or parts.path != KEY_PROOF_PATH or "?" in value or "#" in value:
        _fail(f"must be https://<host>{KEY_PROOF_PATH}", field)


def _public_keys(value: Any, field: str) -> None:
    seen: set[str] = set()
    for index, key in enumerate(_list(value, field, 0, MAX_PUBLIC_KEYS)):
        _public_key(key, f"{field}.{index}")
        if key in seen:
            _fail("duplicate public key", f"{field}.{index}")
        seen.add(key)


# --- objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """How one field of an object is checked, and whether it must be present."""

    check: Check
    required: bool = True


def _opt(check: Check) -> Field:
    return Field(check, required=False)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_fields(value: Any, fields: Mapping[str, Field], path: str) -> None:
    if not isinstance(value, dict):
        _fail("must be a JSON object", path)
    for name in value:
        if not isinstance(name, str):
            _fail("field names must be strings", path)
        if name not in fields:
            _fail("unknown field", _join(path, name[:100]))
    for name, spec in fields.items():
        if spec.required and name not in value:
            _fail("required field is missing", _join(path, name))
    for name, spec in fields.items():
        if name in value:
            spec.check(value[name], _join(path, name))


_ACTION = {"number": Field(_int_in(1, MAX_ACTIONS)), "heading": Field(_line(300)), "name": _opt(_line(80))}


def _actions(value: Any, field: str) -> None:
    items = _list(value, field, 1, MAX_ACTIONS)
    for index, item in enumerate(items):
        _check_fields(item, _ACTION, f"{field}.{index}")
        if item["number"] != index + 1:
            _fail(f"actions must be numbered 1..n in order; expected {index + 1}", f"{field}.{index}.number")


_EVIDENCE_FIELDS = {
    "url": _opt(_url),
    "citation": _opt(_line(500)),
    "sha256": _opt(_sha256),
    "title": _opt(_line(300)),
    "retrieved_on": _opt(_date),
    "source": _opt(_source_kind),
    "note": _opt(_long(1000)),
}


def _evidence(value: Any, field: str) -> None:
    _check_fields(value, _EVIDENCE_FIELDS, field)
    # A document with no address of its own (a footnote, a print report) is cited in words instead.
    if "url" not in value and "citation" not in value:
        _fail("evidence needs a url or a citation", field)


_EVIDENCE = _evidence

_OBLIGATION_FIELDS = {
    "id": Field(_slug),
    "what": Field(_line(300)),
    "due": Field(_date),
    "met_by": Field(_met_by),
    "note": _opt(_long(1000)),
    "evidence": _opt(_list_of(_EVIDENCE, 0, MAX_EVIDENCE)),
}


_KEY_PROOF_FIELDS = {
    "key_id": Field(_key_id),
    "url": Field(_key_proof_url),
    "fetched_at": Field(_timestamp),
    "sha256": Field(_sha256),
}


def _key_proofs(value: Any, field: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(_list(value, field, 1, MAX_PUBLIC_KEYS)):
        _check_fields(item, _KEY_PROOF_FIELDS, f"{field}.{index}")
        if item["key_id"] in seen:
            _fail("one proof per key: this key id is already proved above", f"{field}.{index}.key_id")
        seen.add(item["key_id"])


def _check_key_proofs(statement: dict[str, Any]) -> None:
    """Each proof is for a key the statement adds, fetched before the statement was signed."""
    added = [statement["public_key"]] if "public_key" in statement else statement["public_keys"]
    ids = {keys.key_id(keys.decode_public(public)) for public in added}
    signed_at = parse_timestamp(statement["signed_at"])
    for index, proof in enumerate(statement["key_proofs"]):
        if proof["key_id"] not in ids:
            _fail("not the id of a key this statement adds", f"key_proofs.{index}.key_id")
        if parse_timestamp(proof["fetched_at"]) > signed_at:
            _fail("a proof is fetched before the statement that records it is signed",
                  f"key_proofs.{index}.fetched_at")


def _obligations(value: Any, field: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(_list(value, field, 0, MAX_OBLIGATIONS)):
        _check_fields(item, _OBLIGATION_FIELDS, f"{field}.{index}")
        if item["id"] in seen:
            _fail("duplicate obligation id", f"{field}.{index}.id")
        seen.add(item["id"])


# --- statement types -------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """The fields of one statement type, who may sign it, and its at-least-one group."""

    signers: frozenset[str]
    fields: Mapping[str, Field]
    at_least_one: tuple[str, ...] = ()


_COMMON: dict[str, Field] = {
    "type": Field(_type),
    "registry": Field(_registry),
    "signed_at": Field(_timestamp),
    "nonce": Field(_nonce),
}

_BY_ROOT = frozenset({ROOT})
_BY_MAINTAINER = frozenset({MAINTAINER})
_BY_EITHER = frozenset({ORGANIZATION, MAINTAINER})

_ORG = Field(_slug)
_CODE = Field(_slug)
_VERSION = Field(_version_id)
# Required, but null when the sources do not state it; a month when they state no day.
_EFFECTIVE = Field(_nullable(_day_or_month))
_REASON = _opt(_long(2000))
_STATEMENT = _opt(_long(5000))
_OPTIONAL_EVIDENCE = _opt(_list_of(_EVIDENCE, 0, MAX_EVIDENCE))
# The signer's own words about a record (for an attested record: the maintainer's summary of its
# sources), and what the sources leave uncertain about its date or its scope.
_NOTES = {"note": _opt(_long(2000)), "date_note": _opt(_long(1000))}
_SCOPE_NOTE = {"scope_note": _opt(_long(1000))}


def _spec(signers: frozenset[str], at_least_one: tuple[str, ...] = (), **fields: Field) -> Spec:
    return Spec(signers, {**_COMMON, **fields}, at_least_one)


SPECS: dict[str, Spec] = {
    "registry.genesis": _spec(_BY_ROOT, name=Field(_line(200)), root_key=Field(_public_key)),
    "maintainer.key_added": _spec(_BY_ROOT, public_key=Field(_public_key), name=Field(_line(200))),
    "maintainer.key_revoked": _spec(_BY_ROOT, key_id=Field(_key_id), reason=_REASON),
    "code.revision_published": _spec(
        _BY_MAINTAINER,
        code=_CODE,
        version=_VERSION,
        title=Field(_line(300)),
        issuer=Field(_line(500)),
        published_on=Field(_date),
        source_url=Field(_url),
        text_sha256=_opt(_sha256),
        actions=Field(_actions),
        supersedes=Field(_nullable(_version_id)),
        summary_of_changes=_opt(_long(5000)),
        note=_opt(_long(5000)),
        short_title=_opt(_line(80)),
        action_noun=_opt(_action_noun),
        obligations=_opt(_obligations),
    ),
    "organization.registered": _spec(
        _BY_MAINTAINER,
        org=_ORG,
        name=Field(_line(300)),
        country=Field(_nullable(_country)),
        kind=Field(_kind),
        website=_opt(_url),
        public_keys=Field(_public_keys),
        evidence=_OPTIONAL_EVIDENCE,
        note=_opt(_long(2000)),
        key_proofs=_opt(_key_proofs),
    ),
    "organization.updated": _spec(
        _BY_MAINTAINER,
        ("name", "country", "kind", "website"),
        org=_ORG,
        name=_opt(_line(300)),
        country=_opt(_nullable(_country)),
        kind=_opt(_kind),
        website=_opt(_url),
    ),
    "organization.key_added": _spec(_BY_EITHER, org=_ORG, public_key=Field(_public_key),
                                    evidence=_OPTIONAL_EVIDENCE, key_proofs=_opt(_key_proofs)),
    "organization.key_revoked": _spec(_BY_EITHER, org=_ORG, key_id=Field(_key_id), reason=_REASON),
    "endorsement.made": _spec(
        _BY_EITHER,
        org=_ORG,
        code=_CODE,
        version=_VERSION,
        scope=Field(_scope),
        statement=_STATEMENT,
        effective_date=_EFFECTIVE,
        evidence=_OPTIONAL_EVIDENCE,
        **_NOTES,
        **_SCOPE_NOTE,
    ),
    "endorsement.amended": _spec(
        _BY_EITHER,
        ("scope", "statement"),
        org=_ORG,
        code=_CODE,
        effective_date=_EFFECTIVE,
        scope=_opt(_scope),
        statement=_STATEMENT,
        evidence=_OPTIONAL_EVIDENCE,
        **_NOTES,
        **_SCOPE_NOTE,
    ),
    "endorsement.reaffirmed": _spec(
        _BY_EITHER,
        org=_ORG,
        code=_CODE,
        version=_VERSION,
        effective_date=_EFFECTIVE,
        scope=_opt(_scope),
        statement=_STATEMENT,
        evidence=_OPTIONAL_EVIDENCE,
        **_NOTES,
        **_SCOPE_NOTE,
    ),
    "endorsement.withdrawn": _spec(
        _BY_EITHER,
        org=_ORG,
        code=_CODE,
        effective_date=_EFFECTIVE,
        reason=Field(_long(5000, min_len=1)),
        evidence=_OPTIONAL_EVIDENCE,
        **_NOTES,
    ),
    "endorsement.declined": _spec(
        _BY_MAINTAINER,
        org=_ORG,
        code=_CODE,
        version=_VERSION,
        effective_date=_EFFECTIVE,
        evidence=Field(_list_of(_EVIDENCE, 1, MAX_EVIDENCE)),
        statement=_STATEMENT,
        **_NOTES,
    ),
    "report.published": _spec(
        _BY_EITHER,
        org=_ORG,
        code=_CODE,
        framework=Field(_slug),
        period=_opt(_line(64)),
        url=_opt(_url),
        document_sha256=_opt(_sha256),
        title=_opt(_line(300)),
        published_on=_opt(_day_or_month),
        evidence=_OPTIONAL_EVIDENCE,
        **_NOTES,
    ),
}
assert tuple(SPECS) == STATEMENT_TYPES

SIGNERS: dict[str, frozenset[str]] = {type_: spec.signers for type_, spec in SPECS.items()}

# Types an organization signs for itself that a maintainer may also record on its
# behalf from public sources; such attested records must cite evidence.
# (organization.key_* are signed by either role too, but a maintainer rotating a
# key is an administrative act, not a claim about what the organization said.)
ATTESTABLE: frozenset[str] = frozenset(
    {
        "endorsement.made",
        "endorsement.amended",
        "endorsement.reaffirmed",
        "endorsement.withdrawn",
        "report.published",
    }
)


# Records a maintainer makes about what an organization said or did, from public sources (never the
# organization's own act): the attestable types and a decline. Pages and feeds mark them "attested".
ABOUT_AN_ORGANIZATION: frozenset[str] = ATTESTABLE | {"endorsement.declined"}


def is_slug(value: Any) -> bool:
    """Whether ``value`` is a slug (lowercase letters, digits and inner hyphens, at most 64)."""
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def is_origin(value: Any) -> bool:
    """Whether ``value`` is a registry origin (1 to 200 printable ASCII characters, no space or ``+``)."""
    return isinstance(value, str) and _ORIGIN.fullmatch(value) is not None


def check_url(value: Any, field: str) -> None:
    """Refuse (InvalidStatementError naming ``field``) anything a statement would not accept as a url."""
    _url(value, field)


def is_key_id(value: Any) -> bool:
    """Whether ``value`` is a key id (64 lowercase hex characters)."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def scope_words(scope: Any, noun: str = "action") -> str:
    """The one wording of a scope: ``all actions``, ``actions 1-3, 5``, ``chapter 3``, ``no commitments``.

    ``noun`` is what the Code calls its items (a revision's ``action_noun``).
    """
    if scope == "all":
        return f"all {noun}s"
    if not isinstance(scope, list) or not scope:
        return f"no {noun}s"
    runs: list[list[int]] = []
    for number in scope:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    parts = [str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs]
    return (f"{noun} " if len(scope) == 1 else f"{noun}s ") + ", ".join(parts)


def requires_evidence(type_: str, role: str) -> bool:
    """Whether a statement of ``type_`` signed in ``role`` must carry non-empty ``evidence``."""
    # A decline is only ever a maintainer's record of someone else's refusal.
    return type_ == "endorsement.declined" or (role == MAINTAINER and type_ in ATTESTABLE)


def validate(statement: object, *, origin: str | None = None) -> dict[str, Any]:
    """Return ``statement`` unchanged if every field is valid; else raise InvalidStatementError."""
    if not isinstance(statement, dict):
        _fail("a statement must be a JSON object", None)
    type_ = statement.get("type")
    if type_ is None and "type" not in statement:
        _fail("required field is missing", "type")
    _type(type_, "type")
    spec = SPECS[type_]
    _check_fields(statement, spec.fields, "")
    if spec.at_least_one and not any(name in statement for name in spec.at_least_one):
        _fail(f"{type_} needs at least one of: {', '.join(spec.at_least_one)}", None)
    if "key_proofs" in statement:
        _check_key_proofs(statement)
    if origin is not None and statement["registry"] != origin:
        raise WrongRegistryError(f"statement is for registry {statement['registry']!r}, not {origin!r}")
    return statement
