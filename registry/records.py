"""Record files: Codes, organizations and dated events with their sources, as statements a maintainer attests.

What it does: :func:`plan` reads a parsed record file (docs/FORMATS.md section
17, format ``hcoc-registry/records/v1``; ``registry/data/commitments.json`` is
the registry's own) and turns every entry into the statement a maintainer signs
for it, in file order: each Code version a ``code.revision_published``, each
organization an ``organization.registered``, each event an endorsement, decline
or report record citing its evidence. Every statement is checked by
``statements.validate``; the first entry that is not exactly right stops the
plan with an :class:`~registry.errors.InvalidRecordFileError` naming the entry
and its field in the file's own terms (``events[14] (amazon, eu-gpai-cop):
evidence.0.url: ...``), so a file with one bad entry loads nothing.
:func:`identity` is what makes loading idempotent: the same record always has
the same identity, whoever signed it and whenever.

The file's research notes stay with the records they concern: an event's
``statement`` (the researcher's summary of the sources) and ``note`` become
the record's ``note``, the maintainer's own words; ``date_note`` and
``scope_note`` say what the sources leave uncertain; each evidence item keeps
whether it is a primary or a secondary source.

What it does not do: sign, submit, or read the registry (``registry.loader``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry import compose, statements
from registry.errors import InvalidRecordFileError, InvalidStatementError

RECORDS_FORMAT = "hcoc-registry/records/v1"
EVENT_TYPES = (
    "endorsement.made",
    "endorsement.amended",
    "endorsement.reaffirmed",
    "endorsement.withdrawn",
    "endorsement.declined",
    "report.published",
)
# The types a record file can produce; the identities of records of these types are compared on load.
RECORD_TYPES = ("code.revision_published", "organization.registered", *EVENT_TYPES)

_TOP = {"format": True, "_about": False, "codes": False, "organizations": False, "events": False}
_CODE = {
    "slug": True, "title": True, "issuer": True, "published": True, "source_url": True, "actions": True,
    "version": False, "supersedes": False, "short_title": False, "action_noun": False, "report_framework": False,
    "notes": False, "actions_confidence": False, "other_urls": False, "outcomes": False, "obligations": False,
}
_ORG = {"slug": True, "name": True, "country": True, "kind": True, "website": False, "note": False}
_EVENT = {
    "type": True, "org": True, "code": True, "date": True, "evidence": True,
    "scope": False, "statement": False, "note": False, "date_note": False, "scope_note": False,
    "report_url": False, "announced": False, "framework": False, "period": False, "version": False, "reason": False,
}
_EVIDENCE = {"url": False, "citation": False, "title": False, "confidence": False, "note": False,
             "sha256": False, "retrieved_on": False}
_OBLIGATION = {"id": True, "what": True, "due": True, "met_by": True, "note": False, "evidence": False}
# Statement fields that the file spells otherwise, per kind of entry: statement field -> file field.
_CODE_NAMES = {"code": "slug", "published_on": "published", "note": "notes"}
_ORG_NAMES = {"org": "slug"}
_EVENT_NAMES = {"effective_date": "date", "published_on": "date", "url": "report_url", "note": "statement"}


@dataclass(frozen=True)
class Planned:
    """One record of the file as the statement a maintainer signs for it."""

    where: str  # the entry, as errors and reports name it: "events[14] (amazon, eu-gpai-cop)"
    statement: dict[str, Any]

    @property
    def identity(self) -> tuple[Any, ...]:
        return identity(self.statement)


@dataclass(frozen=True)
class Known:
    """What the registry already holds that a file's events may refer to without repeating it."""

    organizations: frozenset[str] = frozenset()
    latest_versions: Mapping[str, str] | None = None  # Code slug -> its latest version id


def identity(stmt: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two statements the same record, whatever their signer, time and nonce.

    A Code version is known by (code, version), an organization by its slug, an endorsement record
    by (type, organization, Code, effective date), a report by its subject and address, period and date.
    """
    type_ = stmt["type"]
    if type_ == "code.revision_published":
        return type_, stmt["code"], stmt["version"]
    if type_ == "organization.registered":
        return type_, stmt["org"]
    if type_ == "report.published":
        return (type_, stmt["org"], stmt["code"], stmt["framework"], stmt.get("url"), stmt.get("period"),
                stmt.get("published_on"))
    return type_, stmt["org"], stmt["code"], stmt.get("effective_date")


def details(stmt: Mapping[str, Any]) -> dict[str, Any]:
    """A statement without the fields every signing makes anew (signed_at, nonce, registry)."""
    return {k: v for k, v in stmt.items() if k not in ("registry", "signed_at", "nonce")}


def plan(doc: Any, origin: str, *, now: datetime | None = None, known: Known | None = None) -> list[Planned]:
    """Every record of a parsed record file as a statement for ``origin``, in file order.

    Raises:
        InvalidRecordFileError: the first entry that is not exactly right, named with its field.
    """
    known = known or Known()
    _keys(doc, _TOP, "the file")
    if doc["format"] != RECORDS_FORMAT:
        raise InvalidRecordFileError(f"format: must be {RECORDS_FORMAT!r}", "the file")
    codes = _list(doc, "codes")
    orgs = _list(doc, "organizations")
    events = _list(doc, "events")
    out: list[Planned] = []
    versions: dict[str, Mapping[str, Any]] = {}  # Code slug -> its last version in the file
    for i, entry in enumerate(codes):
        where = f"codes[{i}]" + (f" ({entry['slug']})" if isinstance(entry, dict) and "slug" in entry else "")
        stmt = _build(where, _CODE_NAMES, lambda e=entry, w=where: _code(e, w, origin, now))
        _unique(out, stmt, where)
        versions[stmt["code"]] = {**entry, "version": stmt["version"]}
        out.append(Planned(where, stmt))
    slugs = set(known.organizations)
    for i, entry in enumerate(orgs):
        where = f"organizations[{i}]" + (f" ({entry['slug']})" if isinstance(entry, dict) and "slug" in entry else "")
        stmt = _build(where, _ORG_NAMES, lambda e=entry, w=where: _organization(e, w, origin, now))
        _unique(out, stmt, where)
        slugs.add(stmt["org"])
        out.append(Planned(where, stmt))
    latest = dict(known.latest_versions or {})
    for i, entry in enumerate(events):
        where = f"events[{i}]"
        if isinstance(entry, dict) and isinstance(entry.get("org"), str) and isinstance(entry.get("code"), str):
            where += f" ({entry['org']}, {entry['code']})"
        stmt = _build(where, _EVENT_NAMES, lambda e=entry, w=where: _event(e, w, origin, now, versions, latest))
        if stmt["org"] not in slugs:
            raise InvalidRecordFileError(f"org: no organization {stmt['org']!r} in the file or the registry", where)
        out.append(Planned(where, stmt))
    return out


# --- entries ---------------------------------------------------------------------------------


def _code(entry: Any, where: str, origin: str, now: datetime | None) -> dict[str, Any]:
    _keys(entry, _CODE, where)
    fields: dict[str, Any] = {
        "code": entry["slug"], "version": entry.get("version", entry["published"]), "title": entry["title"],
        "issuer": entry["issuer"], "published_on": entry["published"], "source_url": entry["source_url"],
        "actions": entry["actions"], "supersedes": entry.get("supersedes"),
    }
    for name in ("short_title", "action_noun"):
        if name in entry:
            fields[name] = entry[name]
    if "obligations" in entry:
        fields["obligations"] = [_obligation(o, f"{where}: obligations.{n}")
                                 for n, o in enumerate(_items(entry["obligations"], f"{where}: obligations"))]
    if note := _code_note(entry, where):
        fields["note"] = note
    if "report_framework" in entry and not statements.is_slug(entry["report_framework"]):
        raise InvalidRecordFileError("report_framework: must be a slug", where)
    return compose.statement("code.revision_published", origin, now=now, **fields)


def _code_note(entry: Mapping[str, Any], where: str) -> str:
    """The Code's research notes in one text: notes, how sure the headings are, other copies, groupings."""
    parts = [_text(entry, "notes", where), _text(entry, "actions_confidence", where)]
    if parts[1]:
        parts[1] = "About the action headings: " + parts[1]
    for n, other in enumerate(_items(entry.get("other_urls", []), f"{where}: other_urls")):
        _keys(other, {"url": True, "status": True}, f"{where}: other_urls.{n}")
        parts.append(f"Another copy: {_str(other['url'], where)} ({_str(other['status'], where)})")
    for n, outcome in enumerate(_items(entry.get("outcomes", []), f"{where}: outcomes")):
        _keys(outcome, {"number": True, "heading": True, "commitments": True}, f"{where}: outcomes.{n}")
        numbers = outcome["commitments"]
        if not isinstance(numbers, list) or not all(type(x) is int for x in numbers):
            raise InvalidRecordFileError(f"outcomes.{n}.commitments: must be a list of numbers", where)
        noun = entry.get("action_noun", "action")
        parts.append(f"Outcome {outcome['number']}: {_str(outcome['heading'], where)} "
                     f"({statements.scope_words(numbers, noun)})")
    return "\n\n".join(p for p in parts if p)


def _organization(entry: Any, where: str, origin: str, now: datetime | None) -> dict[str, Any]:
    _keys(entry, _ORG, where)
    fields = {"org": entry["slug"], "name": entry["name"], "country": entry["country"], "kind": entry["kind"],
              "public_keys": []}
    if entry.get("website") is not None:
        fields["website"] = entry["website"]
    if entry.get("note"):
        fields["note"] = entry["note"]
    return compose.statement("organization.registered", origin, now=now, **fields)


def _event(entry: Any, where: str, origin: str, now: datetime | None, versions: Mapping[str, Mapping[str, Any]],
           latest: Mapping[str, str]) -> dict[str, Any]:
    _keys(entry, _EVENT, where)
    type_ = entry["type"]
    if type_ not in EVENT_TYPES:
        raise InvalidRecordFileError(f"type: must be one of {', '.join(EVENT_TYPES)}", where)
    code = entry["code"]
    in_file = versions.get(code) if isinstance(code, str) else None
    fields: dict[str, Any] = {"org": entry["org"], "code": code,
                              "evidence": [_evidence(e, f"{where}: evidence.{n}")
                                           for n, e in enumerate(_items(entry["evidence"], f"{where}: evidence"))]}
    if type_ in ("endorsement.made", "endorsement.reaffirmed", "endorsement.declined"):
        version = entry.get("version") or (in_file["version"] if in_file else latest.get(code))
        if version is None:
            raise InvalidRecordFileError(f"code: no Code {code!r} in the file or the registry", where)
        fields["version"] = version
    elif in_file is None and code not in latest:
        raise InvalidRecordFileError(f"code: no Code {code!r} in the file or the registry", where)
    scope = entry.get("scope")
    if type_ in ("endorsement.made", "endorsement.amended", "endorsement.reaffirmed"):
        if type_ == "endorsement.made" and scope is None:
            raise InvalidRecordFileError("scope: required for an endorsement", where)
        if scope is not None:
            fields["scope"] = scope
    elif scope not in (None, "all"):
        # A decline, a withdrawal or a report is about the whole Code.
        raise InvalidRecordFileError(f"scope: a {type_} record is about the whole Code; give \"all\" or nothing", where)
    date = _day(entry["date"])
    if type_ == "report.published":
        framework = entry.get("framework") or (in_file or {}).get("report_framework")
        if framework is None:
            raise InvalidRecordFileError(
                "framework: give the reporting framework, or report_framework on its Code", where)
        fields["framework"] = framework
        for name, field in (("report_url", "url"), ("period", "period")):
            if entry.get(name) is not None:
                fields[field] = entry[name]
        if date is not None:
            fields["published_on"] = date
    else:
        fields["effective_date"] = date
    if type_ == "endorsement.withdrawn":
        if "reason" not in entry:
            raise InvalidRecordFileError("reason: required for a withdrawal", where)
        fields["reason"] = entry["reason"]
    elif "reason" in entry:
        raise InvalidRecordFileError(f"reason: only a withdrawal has a reason, not a {type_}", where)
    note = _event_note(entry, where)
    if note:
        fields["note"] = note
    for name in ("date_note", "scope_note"):
        if name in entry:
            if name == "scope_note" and type_ in ("endorsement.withdrawn", "endorsement.declined",
                                                  "report.published"):
                raise InvalidRecordFileError(f"scope_note: a {type_} record has no scope", where)
            fields[name] = entry[name]
    return compose.statement(type_, origin, now=now, **fields)


def _event_note(entry: Mapping[str, Any], where: str) -> str:
    parts = [_text(entry, "statement", where), _text(entry, "note", where)]
    if "announced" in entry:
        statements.parse_date(entry["announced"], "announced")
        parts.append(f"Announced on {entry['announced']}.")
    return "\n\n".join(p for p in parts if p)


def _evidence(item: Any, where: str) -> dict[str, Any]:
    _keys(item, _EVIDENCE, where)
    out = {k: v for k, v in item.items() if k not in ("confidence", "url") and v is not None}
    if item.get("url") is not None:
        out["url"] = item["url"]
    if "confidence" in item:
        if item["confidence"] not in statements.SOURCE_KINDS:
            raise InvalidRecordFileError(f"confidence: must be one of {', '.join(statements.SOURCE_KINDS)}",
                                         where)
        out["source"] = item["confidence"]
    return out


def _obligation(item: Any, where: str) -> dict[str, Any]:
    _keys(item, _OBLIGATION, where)
    out = dict(item)
    if "evidence" in item:
        out["evidence"] = [_evidence(e, f"{where}.evidence.{n}")
                           for n, e in enumerate(_items(item["evidence"], f"{where}.evidence"))]
    return out


# --- checks ----------------------------------------------------------------------------------


def _build(where: str, names: Mapping[str, str], make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The entry's statement, validated; a refusal names the entry and the file's own field name."""
    try:
        return statements.validate(make())
    except InvalidRecordFileError:
        raise
    except InvalidStatementError as e:
        field, message = e.field, e.reason
        if field:
            head, dot, rest = field.partition(".")
            head = names.get(head, head)
            rest = rest.replace(".source", ".confidence") if head == "evidence" else rest
            field = head + dot + rest
        raise InvalidRecordFileError(f"{field}: {message}" if field else message, where) from None
    except (KeyError, TypeError, AttributeError) as e:
        raise InvalidRecordFileError(f"malformed entry ({type(e).__name__}: {e})", where) from None


def _keys(value: Any, allowed: Mapping[str, bool], where: str) -> None:
    if not isinstance(value, dict):
        raise InvalidRecordFileError("must be a JSON object", where)
    for name in value:
        if name not in allowed:
            raise InvalidRecordFileError(f"{str(name)[:64]}: unknown member", where)
    for name, required in allowed.items():
        if required and name not in value:
            raise InvalidRecordFileError(f"{name}: required member is missing", where)


def _list(doc: Mapping[str, Any], name: str) -> list[Any]:
    return _items(doc.get(name, []), name)


def _items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRecordFileError("must be a list", where)
    return value


def _text(entry: Mapping[str, Any], name: str, where: str) -> str:
    return _str(entry[name], f"{where}: {name}") if entry.get(name) is not None else ""


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRecordFileError("must be a string", where)
    return value


def _day(value: Any) -> Any:
    """A source's date as the statement holds it: a timestamp is known to the day (UTC); the rest as given."""
    if isinstance(value, str) and len(value) == 20 and value[10] == "T":
        return value[:10]
    return value


def _unique(out: list[Planned], stmt: dict[str, Any], where: str) -> None:
    key = identity(stmt)
    for earlier in out:
        if earlier.identity == key:
            raise InvalidRecordFileError(f"the same record as {earlier.where}", where)
