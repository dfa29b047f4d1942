"""Tests of registry.statements: strict field validation of every statement type."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import keys, statements
from registry.countries import COUNTRIES
from registry.errors import InvalidStatementError, WrongRegistryError
from registry.statements import STATEMENT_TYPES, validate

ORIGIN = "hcoc-registry.example.org/log"


def _key(n: int) -> str:
    # Real keys: arbitrary 32 bytes are mostly not prime-order points, which decode_public refuses.
    return keys.encode_public(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


KEY_A = _key(10)
KEY_B = _key(11)
KEY_SYMBOLS = _key(2)  # has "+" and "/"
HEX = "0123456789abcdef" * 4
COMMON = {"registry": ORIGIN, "signed_at": "2024-05-01T12:00:00Z", "nonce": "f" * 32}
EVIDENCE = {
    "url": "https://example.org/press/2024?id=1#top",
    "sha256": HEX,
    "title": "Press release",
    "retrieved_on": "2024-04-30",
}
ACTIONS = [{"number": n, "heading": f"Action {n}"} for n in range(1, 12)]
# That the organization's website lists KEY_B (docs/FORMATS.md section 21), fetched before COMMON's signed_at.
PROOF_B = {"key_id": keys.key_id(keys.decode_public(KEY_B)),
           "url": "https://www.kddi.com/.well-known/hcoc-registry-keys", "fetched_at": "2024-05-01T11:55:00Z",
           "sha256": HEX}

# Every field of every type (required and optional), so the full example exercises all checks.
FULL: dict[str, dict[str, Any]] = {
    "registry.genesis": {"name": "Example registry", "root_key": KEY_A},
    "maintainer.key_added": {"public_key": KEY_A, "name": "Alice Maintainer"},
    "maintainer.key_revoked": {"key_id": HEX, "reason": "Rotated.\nOld laptop retired."},
    "code.revision_published": {
        "code": "hiroshima-coc",
        "version": "2023-10-30",
        "title": "Hiroshima Process International Code of Conduct",
        "issuer": "G7 Leaders",
        "published_on": "2023-10-30",
        "source_url": "https://digital-strategy.ec.europa.eu/en/library/hiroshima",
        "text_sha256": HEX,
        "actions": ACTIONS,
        "supersedes": None,
        "summary_of_changes": "First version.",
        "note": "Headings are short paraphrases.",
        "short_title": "Hiroshima Code",
        "action_noun": "action",
        "obligations": [{"id": "haip-report", "what": "Report under the HAIP framework", "due": "2025-04-22",
                         "met_by": "report.published", "note": "Yearly.", "evidence": [EVIDENCE]}],
    },
    "organization.registered": {
        "org": "kddi",
        "name": "KDDI Corporation",
        "country": "JP",
        "kind": "company",
        "website": "https://www.kddi.com/",
        "public_keys": [KEY_A, KEY_B],
        "evidence": [{"url": "https://oecd.ai/en/transparency/reports/26"}],
        "note": "Registered from its public HAIP report.",
        "key_proofs": [PROOF_B],
    },
    "organization.updated": {
        "org": "kddi",
        "name": "KDDI Corp.",
        "country": "JP",
        "kind": "company",
        "website": "http://kddi.example",
    },
    "organization.key_added": {"org": "kddi", "public_key": KEY_B, "key_proofs": [PROOF_B],
                               "evidence": [{"url": "https://www.kddi.com/security/keys"}]},
    "organization.key_revoked": {"org": "kddi", "key_id": HEX, "reason": "compromised"},
    "endorsement.made": {
        "org": "kddi",
        "code": "hiroshima-coc",
        "version": "2023-10-30",
        "scope": "all",
        "statement": "We endorse the Code.",
        "effective_date": "2024-05-01",
        "evidence": [EVIDENCE],
        "note": "Announced at a press conference.",
        "date_note": "The day is the press conference's.",
        "scope_note": "All actions, as the press release says.",
    },
    "endorsement.amended": {
        "org": "kddi",
        "code": "hiroshima-coc",
        "effective_date": "2024-06-01",
        "scope": [1, 3, 7],
        "statement": "Narrowed.",
        "evidence": [],
        "note": "Narrowed.",
        "date_note": "Month only.",
        "scope_note": "Which actions were dropped is not certain.",
    },
    "endorsement.reaffirmed": {
        "org": "kddi",
        "code": "hiroshima-coc",
        "version": "2025-01-01",
        "effective_date": "2025-02-01",
        "scope": [1, 2],
        "statement": "Still in.",
        "evidence": [EVIDENCE],
        "note": "Reaffirmed.",
        "date_note": "Exact.",
        "scope_note": "Same scope.",
    },
    "endorsement.withdrawn": {
        "org": "kddi",
        "code": "hiroshima-coc",
        "effective_date": "2025-03-01",
        "reason": "Changed strategy.",
        "evidence": [EVIDENCE, {"url": "http://example.org/b"}],
        "note": "Withdrawn by letter.",
        "date_note": "Date of the letter.",
    },
    "endorsement.declined": {
        "org": "kddi",
        "code": "hiroshima-coc",
        "version": "2023-10-30",
        "effective_date": "2024-01-15",
        "evidence": [{"url": "https://news.example/decline"}],
        "statement": "We will not sign.",
        "note": "Said on social media.",
        "date_note": "The post's date.",
    },
    "report.published": {
        "org": "kddi",
        "code": "hiroshima-coc",
        "framework": "oecd-haip",
        "period": "2024",
        "url": "https://oecd.ai/en/transparency/reports/26",
        "document_sha256": HEX,
        "title": "HAIP report 2024",
        "published_on": "2025-04-22",
        "evidence": [EVIDENCE],
        "note": "First cycle.",
        "date_note": "As shown on the report page.",
    },
}

# Written out from the specification rather than read from the module under test.
REQUIRED: dict[str, tuple[str, ...]] = {
    "registry.genesis": ("name", "root_key"),
    "maintainer.key_added": ("public_key", "name"),
    "maintainer.key_revoked": ("key_id",),
    "code.revision_published": (
        "code", "version", "title", "issuer", "published_on", "source_url", "actions",
        "supersedes",
    ),
    "organization.registered": ("org", "name", "country", "kind", "public_keys"),
    "organization.updated": ("org",),
    "organization.key_added": ("org", "public_key"),
    "organization.key_revoked": ("org", "key_id"),
    "endorsement.made": ("org", "code", "version", "scope", "effective_date"),
    "endorsement.amended": ("org", "code", "effective_date"),
    "endorsement.reaffirmed": ("org", "code", "version", "effective_date"),
    "endorsement.withdrawn": ("org", "code", "effective_date", "reason"),
    "endorsement.declined": ("org", "code", "version", "effective_date", "evidence"),
    "report.published": ("org", "code", "framework"),
}
COMMON_FIELDS = ("type", "registry", "signed_at", "nonce")
AT_LEAST_ONE = {
    "organization.updated": ("name", "country", "kind", "website"),
    "endorsement.amended": ("scope", "statement"),
}


def make(type_: str, **changes: Any) -> dict[str, Any]:
    """A fresh valid statement of ``type_`` with every field, then ``changes`` applied."""
    statement = {"type": type_, **COMMON, **copy.deepcopy(FULL[type_])}
    statement.update(changes)
    return statement


def minimal(type_: str) -> dict[str, Any]:
    """A valid statement of ``type_`` with only its required fields (plus one of a group)."""
    full = make(type_)
    keep = set(COMMON_FIELDS) | set(REQUIRED[type_]) | set(AT_LEAST_ONE.get(type_, ())[:1])
    return {name: value for name, value in full.items() if name in keep}


def without(statement: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in statement.items() if name not in names}


def assert_invalid(statement: Any, field: str | None) -> InvalidStatementError:
    with pytest.raises(InvalidStatementError) as info:
        validate(statement)
    assert info.value.field == field, info.value.message
    return info.value


# --- valid examples --------------------------------------------------------------


def test_tables_cover_every_type() -> None:
    assert set(FULL) == set(REQUIRED) == set(STATEMENT_TYPES) == set(statements.SIGNERS)
    assert len(STATEMENT_TYPES) == 14
    assert STATEMENT_TYPES[0] == "registry.genesis"


@pytest.mark.parametrize("type_", STATEMENT_TYPES)
@pytest.mark.parametrize("build", [make, minimal])
def test_valid_statement_is_returned_unchanged(type_: str, build: Any) -> None:
    statement = build(type_)
    before = copy.deepcopy(statement)
    assert validate(statement) is statement
    assert validate(statement, origin=ORIGIN) is statement
    assert statement == before


@pytest.mark.parametrize("type_", STATEMENT_TYPES)
def test_module_required_fields_match_the_specification(type_: str) -> None:
    fields = statements.SPECS[type_].fields
    assert {name for name, spec in fields.items() if spec.required} == set(COMMON_FIELDS + REQUIRED[type_])
    assert set(fields) == set(COMMON_FIELDS) | set(FULL[type_])


# --- structure -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "field"),
    [(t, f) for t in STATEMENT_TYPES for f in COMMON_FIELDS + REQUIRED[t]],
)
def test_missing_required_field_is_named(type_: str, field: str) -> None:
    error = assert_invalid(without(make(type_), field), field)
    assert "missing" in error.message


@pytest.mark.parametrize("type_", STATEMENT_TYPES)
def test_unknown_field_is_named(type_: str) -> None:
    assert_invalid(make(type_, colour="blue"), "colour")


@pytest.mark.parametrize(
    ("statement", "field"),
    [
        (make("endorsement.made", evidence=[EVIDENCE, {**EVIDENCE, "comment": "x"}]), "evidence.1.comment"),
        (make("code.revision_published", obligations=[{"id": "a", "what": "W", "due": "2025-02-10",
                                                        "met_by": "report.published", "by": "x"}]),
         "obligations.0.by"),
        (
            make("code.revision_published", actions=[{"number": 1, "heading": "A", "text": "x"}]),
            "actions.0.text",
        ),
        (make("endorsement.made", evidence=[{"sha256": HEX}]), "evidence.0"),
        (make("code.revision_published", actions=[{"number": 1}]), "actions.0.heading"),
    ],
)
def test_nested_objects_are_exact(statement: dict[str, Any], field: str) -> None:
    assert_invalid(statement, field)


@pytest.mark.parametrize("value", [None, [], "statement", 3, True, [("type", "registry.genesis")]])
def test_statement_must_be_an_object(value: Any) -> None:
    assert_invalid(value, None)


@pytest.mark.parametrize("value", ["nope", "Registry.Genesis", None, 1, ["registry.genesis"], {}])
def test_type_must_be_known(value: Any) -> None:
    assert_invalid(make("registry.genesis", type=value), "type")


def test_non_string_keys_are_refused() -> None:
    statement: dict[Any, Any] = make("registry.genesis")
    statement[1] = "x"
    assert_invalid(statement, None)


@pytest.mark.parametrize(("type_", "group"), list(AT_LEAST_ONE.items()))
def test_at_least_one_of_a_group(type_: str, group: tuple[str, ...]) -> None:
    assert_invalid(without(make(type_), *group), None)
    for name in group:
        validate({**without(make(type_), *group), name: make(type_)[name]})


# --- JSON types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "field", "value", "path"),
    [
        ("code.revision_published", "actions", [{"number": True, "heading": "A"}], "actions.0.number"),
        ("code.revision_published", "actions", [{"number": "1", "heading": "A"}], "actions.0.number"),
        ("code.revision_published", "actions", [{"number": 1, "heading": 5}], "actions.0.heading"),
        ("code.revision_published", "actions", [["number", 1]], "actions.0"),
        ("code.revision_published", "actions", {"number": 1}, "actions"),
        ("code.revision_published", "title", None, "title"),
        ("code.revision_published", "version", None, "version"),
        ("code.revision_published", "supersedes", 2023, "supersedes"),
        ("endorsement.made", "scope", [True], "scope.0"),
        ("endorsement.made", "scope", [1, False], "scope.1"),
        ("endorsement.made", "scope", ["1"], "scope.0"),
        ("endorsement.made", "scope", None, "scope"),
        ("endorsement.made", "org", 42, "org"),
        ("endorsement.made", "org", ["kddi"], "org"),
        ("endorsement.made", "statement", None, "statement"),
        ("endorsement.made", "statement", ["We endorse"], "statement"),
        ("endorsement.made", "evidence", None, "evidence"),
        ("endorsement.made", "evidence", EVIDENCE, "evidence"),
        ("endorsement.made", "evidence", ["https://example.org"], "evidence.0"),
        ("endorsement.made", "effective_date", 20240501, "effective_date"),
        ("organization.registered", "name", ["KDDI"], "name"),
        ("organization.registered", "country", ["JP"], "country"),
        ("organization.registered", "kind", None, "kind"),
        ("organization.registered", "website", None, "website"),
        ("organization.registered", "public_keys", KEY_A, "public_keys"),
        ("organization.registered", "public_keys", [1], "public_keys.0"),
        ("organization.registered", "public_keys", None, "public_keys"),
        ("registry.genesis", "root_key", b"x" * 32, "root_key"),
        ("registry.genesis", "registry", None, "registry"),
        ("registry.genesis", "signed_at", 1714564800, "signed_at"),
        ("registry.genesis", "nonce", 12345678901234567890123456789012, "nonce"),
        ("maintainer.key_revoked", "reason", None, "reason"),
        ("report.published", "url", None, "url"),
    ],
)
def test_wrong_json_type_is_refused(type_: str, field: str, value: Any, path: str) -> None:
    assert_invalid(make(type_, **{field: value}), path)


# --- field kinds -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["2023-02-30", "2023-13-01", "2023-00-10", "1899-12-31", "3000-01-01", "2023-1-01", "20230101",
     "2023-01-01T00:00:00Z", " 2023-01-01", "2023-01-01\n", "２０２３-01-01", "2023-01-0١"],
)
def test_bad_dates(value: str) -> None:
    assert_invalid(make("endorsement.made", effective_date=value), "effective_date")


@pytest.mark.parametrize(
    "value",
    ["2024-05-01T12:00:00.5Z", "2024-05-01T12:00:00+00:00", "2024-05-01T12:00:00z", "2024-05-01t12:00:00Z",
     "2024-05-01 12:00:00Z", "2024-05-01T12:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z",
     "2024-05-01T12:00:60Z", "2023-02-29T00:00:00Z", "1999-12-31T23:59:59Z", "3000-01-01T00:00:00Z",
     "2024-05-01T12:00:00Z\n", "2024-05-01"],
)
def test_bad_timestamps(value: str) -> None:
    assert_invalid(make("registry.genesis", signed_at=value), "signed_at")


def test_parse_helpers() -> None:
    assert statements.parse_timestamp("2024-02-29T23:59:59Z") == datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)
    assert statements.parse_date("1900-01-01") == date(1900, 1, 1)
    with pytest.raises(InvalidStatementError):
        statements.parse_timestamp("2024-02-30T00:00:00Z")
    with pytest.raises(InvalidStatementError):
        statements.parse_date(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["", "-kddi", "kddi-", "KDDI", "kd_di", "kd di", "kddi.", "ｋddi", "a" * 65, "kddi\n", "é"],
)
def test_bad_slugs(value: str) -> None:
    assert_invalid(make("endorsement.made", org=value), "org")


@pytest.mark.parametrize("value", ["a", "a" * 64, "a-b", "0", "a--b"])
def test_good_slugs(value: str) -> None:
    validate(make("endorsement.made", org=value))


@pytest.mark.parametrize("value", ["", ".1", "1.", "v-", "a" * 65, "1 0", "1_0", "1+0"])
def test_bad_version_ids(value: str) -> None:
    assert_invalid(make("endorsement.made", version=value), "version")


@pytest.mark.parametrize("value", ["2023-10-30", "v1.2.3-RC1", "A", "a" * 64])
def test_good_version_ids(value: str) -> None:
    validate(make("code.revision_published", version=value, supersedes=value))


@pytest.mark.parametrize(
    ("field", "value"),
    [("key_id", HEX.upper()), ("key_id", HEX[:-1]), ("key_id", HEX + "0"), ("key_id", "g" * 64)],
)
def test_bad_hex(field: str, value: str) -> None:
    assert_invalid(make("maintainer.key_revoked", **{field: value}), field)


@pytest.mark.parametrize("value", ["f" * 31, "f" * 65, "F" * 32, "", "f" * 31 + "g"])
def test_bad_nonces(value: str) -> None:
    assert_invalid(make("registry.genesis", nonce=value), "nonce")


@pytest.mark.parametrize("value", ["f" * 32, "0" * 33, "a" * 64])
def test_good_nonces(value: str) -> None:
    validate(make("registry.genesis", nonce=value))


@pytest.mark.parametrize(
    "value",
    ["", "a b", "a+b", "a\tb", "x" * 201, "héllo.example", "a\x7f"],
)
def test_bad_registry_origins(value: str) -> None:
    assert_invalid(make("registry.genesis", registry=value), "registry")


@pytest.mark.parametrize(
    "value",
    [
        KEY_A[:-1],
        KEY_A.rstrip("="),
        KEY_A + "=",
        "AAAA",
        KEY_SYMBOLS.replace("+", "-").replace("/", "_"),
        " " + KEY_A,
        KEY_A + "\n",
        "",
        "é" * 44,
    ],
)
def test_bad_public_keys(value: str) -> None:
    assert_invalid(make("organization.key_added", public_key=value), "public_key")


def test_public_key_uses_the_standard_alphabet() -> None:
    assert "+" in KEY_SYMBOLS and "/" in KEY_SYMBOLS
    validate(without(make("organization.key_added", public_key=KEY_SYMBOLS), "key_proofs"))


def test_duplicate_and_too_many_public_keys() -> None:
    assert_invalid(make("organization.registered", public_keys=[KEY_A, KEY_B, KEY_A]), "public_keys.2")
    many = [_key(n) for n in range(20, 29)]
    assert_invalid(make("organization.registered", public_keys=many), "public_keys")
    unproved = without(make("organization.registered"), "key_proofs")
    validate({**unproved, "public_keys": many[:8]})
    validate({**unproved, "public_keys": []})


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.org/file",
        "HTTPS://example.org/",
        "Http://example.org/",
        "https:example.org",
        "https:///path",
        "https://user:pass@example.org/",
        "https://user@example.org/",
        "https://example.org/a b",
        "https://example.org/a\nb",
        "https://example.org/\tb",
        "https://example.org/\x00",
        " https://example.org/",
        "https://example.org/\u3000",
        "https://example.org:99999/",
        "https://example.org:port/",
        "https://[::1/",
        "https://evil.example\\@good.example/",
        "https://good.example\\evil/",
        "//example.org/",
        "example.org",
        "https://:443/",
        "https://example.org/" + "a" * 2029,
    ],
)
def test_bad_urls(value: str) -> None:
    assert_invalid(make("report.published", url=value), "url")
    assert_invalid(make("endorsement.made", evidence=[{"url": value}]), "evidence.0.url")


@pytest.mark.parametrize(
    "value",
    [
        "https://example.org",
        "http://example.org:8080/a/b?c=d&e=<f>#g",
        "https://[2001:db8::1]/",
        "https://例え.jp/パス",
        "https://example.org/" + "a" * 2028,
    ],
)
def test_good_urls(value: str) -> None:
    validate(make("report.published", url=value))


@pytest.mark.parametrize("value", ["XK", "xx", "jp", "USA", "J", "", "EU", "UK", "ZZ"])
def test_bad_countries(value: str) -> None:
    assert_invalid(make("organization.registered", country=value), "country")
    assert_invalid(make("organization.updated", country=value), "country")


def test_country_list() -> None:
    assert len(COUNTRIES) == 249
    assert "XK" not in COUNTRIES
    assert {"JP", "US", "GB", "FR", "DE", "IT", "CA", "AX", "SS", "BQ"} <= COUNTRIES
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in COUNTRIES)


@pytest.mark.parametrize("value", ["Company", "ngo", "", "company "])
def test_bad_kinds(value: str) -> None:
    assert_invalid(make("organization.registered", kind=value), "kind")


# --- text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["KDDI\x00", "\x1b[31mKDDI", "KD\rDI", "KDDI\nCorp", "KD\tDI", "KDDI\x85", "", " KDDI", "KDDI ",
     "KDDI\u3000", "\ud800KDDI", "x" * 301],
)
def test_bad_line_text(value: str) -> None:
    assert_invalid(make("organization.registered", name=value), "name")


@pytest.mark.parametrize("value", ["a\x00b", "a\rb", "a\x1bb", "\ud83d", "\x7f"])
def test_bad_long_text(value: str) -> None:
    assert_invalid(make("endorsement.made", statement=value), "statement")


@pytest.mark.parametrize(
    ("type_", "field", "limit"),
    [
        ("registry.genesis", "name", 200),
        ("maintainer.key_added", "name", 200),
        ("code.revision_published", "title", 300),
        ("code.revision_published", "issuer", 500),
        ("organization.registered", "name", 300),
        ("report.published", "period", 64),
        ("report.published", "title", 300),
        ("maintainer.key_revoked", "reason", 2000),
        ("organization.key_revoked", "reason", 2000),
        ("code.revision_published", "summary_of_changes", 5000),
        ("code.revision_published", "note", 5000),
        ("endorsement.made", "statement", 5000),
        ("endorsement.declined", "statement", 5000),
        ("endorsement.withdrawn", "reason", 5000),
    ],
)
def test_length_limits(type_: str, field: str, limit: int) -> None:
    validate(make(type_, **{field: "x" * limit}))
    assert_invalid(make(type_, **{field: "x" * (limit + 1)}), field)


def test_nested_length_limits() -> None:
    heading = [{"number": 1, "heading": "h" * 301}]
    assert_invalid(make("code.revision_published", actions=heading), "actions.0.heading")
    title = [{"url": "https://example.org", "title": "t" * 301}]
    assert_invalid(make("endorsement.made", evidence=title), "evidence.0.title")


def test_long_text_allows_newlines_tabs_and_empty() -> None:
    validate(make("endorsement.made", statement="Line one\n\tLine two\n"))
    validate(make("endorsement.made", statement=""))
    assert_invalid(make("endorsement.withdrawn", reason=""), "reason")


HOSTILE = [
    "<script>alert(1)</script>",
    "\"'&<>",
    "Evil\u202eCorp",
    "🤖 Robots Inc. 🚀",
    "Zalgo Z̷̛a̶l̵g̸o",
    "n" * 300,
    "{{ config }} ${jndi:ldap://x} %s",
    "零一二 Ωmega ‏עברית",
    "zero\u200bwidth",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_but_legal_text_is_accepted(value: str) -> None:
    statement = make("organization.registered", name=value)
    assert validate(statement)["name"] == value
    validate(make("endorsement.made", statement=value + "\n" + value))
    validate(make("code.revision_published", actions=[{"number": 1, "heading": value}]))
    validate(make("endorsement.made", evidence=[{"url": "https://example.org", "title": value}]))


# --- scope, actions, evidence ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ([3, 1], "scope.1"),
        ([1, 1], "scope.1"),
        ([0], "scope.0"),
        ([101], "scope.0"),
        ([-1], "scope.0"),
        ([], "scope"),
        ("All", "scope"),
        ("", "scope"),
        (list(range(1, 102)), "scope"),
    ],
)
def test_bad_scopes(value: Any, path: str) -> None:
    assert_invalid(make("endorsement.made", scope=value), path)
    assert_invalid(make("endorsement.amended", scope=value), path)


def test_good_scopes() -> None:
    validate(make("endorsement.made", scope=[1]))
    validate(make("endorsement.made", scope=list(range(1, 101))))
    validate(make("endorsement.made", scope=[2, 50, 100]))


@pytest.mark.parametrize(
    ("numbers", "path"),
    [([2], "actions.0.number"), ([1, 3], "actions.1.number"), ([1, 1], "actions.1.number"),
     ([0, 1], "actions.0.number"), ([2, 1], "actions.0.number")],
)
def test_actions_numbered_one_to_n(numbers: list[int], path: str) -> None:
    actions = [{"number": n, "heading": "H"} for n in numbers]
    assert_invalid(make("code.revision_published", actions=actions), path)


def test_action_count_limits() -> None:
    assert_invalid(make("code.revision_published", actions=[]), "actions")
    too_many = [{"number": n, "heading": "H"} for n in range(1, 102)]
    assert_invalid(make("code.revision_published", actions=too_many), "actions")
    validate(make("code.revision_published", actions=too_many[:100]))


def test_evidence_limits() -> None:
    validate(make("endorsement.made", evidence=[EVIDENCE] * 20))
    assert_invalid(make("endorsement.made", evidence=[EVIDENCE] * 21), "evidence")
    assert_invalid(make("endorsement.made", evidence=[{**EVIDENCE, "sha256": HEX.upper()}]), "evidence.0.sha256")
    assert_invalid(make("endorsement.made", evidence=[{**EVIDENCE, "retrieved_on": "2024-02-30"}]),
                   "evidence.0.retrieved_on")


def test_declined_needs_evidence() -> None:
    assert_invalid(without(make("endorsement.declined"), "evidence"), "evidence")
    assert_invalid(make("endorsement.declined", evidence=[]), "evidence")
    validate(make("endorsement.declined", evidence=[{"url": "https://example.org"}]))


# --- origin ----------------------------------------------------------------------


def test_origin_mismatch_is_wrong_registry() -> None:
    statement = make("endorsement.made")
    with pytest.raises(WrongRegistryError):
        validate(statement, origin="other.example/log")
    with pytest.raises(WrongRegistryError):
        validate(make("endorsement.made", registry=ORIGIN + "x"), origin=ORIGIN)
    assert validate(statement, origin=ORIGIN) is statement


def test_field_errors_come_before_the_origin_check() -> None:
    with pytest.raises(InvalidStatementError):
        validate(make("endorsement.made", org="BAD"), origin="other.example/log")


# --- signers ---------------------------------------------------------------------


def test_signers_and_attestation() -> None:
    signers = statements.SIGNERS
    assert signers["registry.genesis"] == {"root"}
    assert signers["maintainer.key_added"] == signers["maintainer.key_revoked"] == {"root"}
    for type_ in ("code.revision_published", "organization.registered", "organization.updated",
                  "endorsement.declined"):
        assert signers[type_] == {"maintainer"}
    for type_ in ("organization.key_added", "organization.key_revoked", *statements.ATTESTABLE):
        assert signers[type_] == {"organization", "maintainer"}
    assert statements.ATTESTABLE == {
        "endorsement.made", "endorsement.amended", "endorsement.reaffirmed", "endorsement.withdrawn",
        "report.published",
    }
    assert statements.requires_evidence("endorsement.made", "maintainer")
    assert not statements.requires_evidence("endorsement.made", "organization")
    assert not statements.requires_evidence("organization.key_added", "maintainer")
    assert statements.requires_evidence("endorsement.declined", "maintainer")
    assert statements.KINDS == ("company", "academia", "civil-society", "public-sector", "research")


# --- properties ------------------------------------------------------------------

ALLOWED_ERRORS = (InvalidStatementError, WrongRegistryError)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ALL_FIELDS = sorted({name for spec in statements.SPECS.values() for name in spec.fields} | {"url", "number"})


def check_only_allowed_errors(value: Any) -> None:
    try:
        validate(value, origin=ORIGIN)
    except ALLOWED_ERRORS:
        pass


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_raises_only_statement_errors(value: Any) -> None:
    check_only_allowed_errors(value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(STATEMENT_TYPES), st.dictionaries(st.sampled_from(ALL_FIELDS), json_values, max_size=6))
def test_arbitrary_fields_raise_only_statement_errors(type_: str, fields: dict[str, Any]) -> None:
    check_only_allowed_errors({**fields, "type": type_})


@st.composite
def mutated_statements(draw: st.DrawFn) -> dict[str, Any]:
    """A valid statement with one field, or one field of a nested object, replaced or removed."""
    statement = make(draw(st.sampled_from(STATEMENT_TYPES)))
    target: dict[str, Any] = statement
    nested = [name for name in ("evidence", "actions") if statement.get(name)]
    if nested and draw(st.booleans()):
        items = statement[draw(st.sampled_from(nested))]
        target = items[draw(st.integers(0, len(items) - 1))]
    name = draw(st.sampled_from(sorted(target) + ALL_FIELDS))
    if draw(st.integers(0, 4)) == 0:
        target.pop(name, None)
    else:
        target[name] = draw(json_values | st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
    return statement


@settings(max_examples=400, deadline=None)
@given(mutated_statements())
def test_mutated_statements_raise_only_statement_errors(statement: dict[str, Any]) -> None:
    check_only_allowed_errors(statement)


def legal_line(max_size: int) -> st.SearchStrategy[str]:
    characters = st.characters(exclude_categories=("Cc", "Cs"))
    return st.text(characters, min_size=1, max_size=max_size).map(str.strip).filter(bool)


def legal_long(max_size: int) -> st.SearchStrategy[str]:
    characters = st.characters(exclude_categories=("Cc", "Cs")) | st.sampled_from("\n\t")
    return st.text(characters, max_size=max_size)


scopes = st.just("all") | st.sets(st.integers(1, 100), min_size=1).map(sorted)
slugs = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    org=slugs,
    name=legal_line(300),
    statement=legal_long(5000),
    heading=legal_line(300),
    scope=scopes,
    timestamp=st.datetimes(datetime(2000, 1, 1), datetime(2999, 12, 31, 23, 59, 59)),
    day=st.dates(date(1900, 1, 1), date(2999, 12, 31)),
    nonce=st.from_regex(r"\A[0-9a-f]{32,64}\Z"),
)
def test_generated_valid_statements_pass(
    org: str, name: str, statement: str, heading: str, scope: Any, timestamp: datetime, day: date, nonce: str
) -> None:
    common = {"signed_at": timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "nonce": nonce}
    effective = day.isoformat()
    cases = [
        without(make("organization.registered", org=org, name=name, **common), "key_proofs"),
        make("endorsement.made", org=org, scope=scope, statement=statement, effective_date=effective, **common),
        make("endorsement.amended", org=org, scope=scope, statement=statement, **common),
        make("endorsement.withdrawn", org=org, reason=statement or "x", effective_date=effective, **common),
        make("code.revision_published", actions=[{"number": 1, "heading": heading}], published_on=effective),
        make("report.published", org=org, title=heading, period=name[:64].strip() or "x", **common),
    ]
    for case in cases:
        assert validate(case, origin=ORIGIN) is case


# --- dates as precise as their sources (statement revision 2) ------------------------------


@pytest.mark.parametrize("type_", ["endorsement.made", "endorsement.amended", "endorsement.reaffirmed",
                                   "endorsement.withdrawn", "endorsement.declined"])
@pytest.mark.parametrize("value", ["2025-07-31", "2025-07", None])
def test_an_effective_date_is_a_day_a_month_or_null(type_: str, value: str | None) -> None:
    stmt = make(type_, effective_date=value)
    assert validate(stmt) is stmt


@pytest.mark.parametrize(("value", "message"), [
    ("2025", "must be a date YYYY-MM-DD or a month YYYY-MM"),
    ("2025-7", "must be a date YYYY-MM-DD or a month YYYY-MM"),
    ("2025-13", "not a real month"),
    ("2025-00", "not a real month"),
    ("1899-12", "year must be between 1900 and 2999"),
    ("2025-02-30", "not a real date"),
    ("2025-07-31T00:00:00Z", "must be a date YYYY-MM-DD"),
    (20250731, "must be a date YYYY-MM-DD"),
])
def test_a_partial_date_is_exact(value: Any, message: str) -> None:
    error = assert_invalid(make("endorsement.made", effective_date=value), "effective_date")
    assert message in str(error)


def test_the_effective_date_must_be_present_even_when_unknown() -> None:
    stmt = make("endorsement.made")
    del stmt["effective_date"]
    assert_invalid(stmt, "effective_date")


def test_date_precision_names_what_a_value_says() -> None:
    assert [statements.date_precision(v) for v in ("2025-07-31", "2025-07", None)] == ["day", "month", "unknown"]


def test_a_report_may_lack_its_period_address_and_day() -> None:
    stmt = make("report.published", published_on="2025-04")
    del stmt["period"], stmt["url"]
    assert validate(stmt) is stmt
    # Absent means "not stated"; null is not a second spelling of it.
    assert_invalid({**stmt, "published_on": None}, "published_on")
    assert_invalid({**stmt, "period": None}, "period")


def test_evidence_is_an_address_or_a_citation_with_its_kind_of_source() -> None:
    cited = {"citation": "International AI Safety Report 2026, section 3.2, footnote", "source": "secondary",
             "note": "Read in translation."}
    assert validate(make("endorsement.made", evidence=[cited]))
    assert "url or a citation" in str(assert_invalid(make("endorsement.made", evidence=[{"title": "T"}]), "evidence.0"))
    assert_invalid(make("endorsement.made", evidence=[{**cited, "source": "tertiary"}]), "evidence.0.source")
    assert_invalid(make("endorsement.made", evidence=[{**cited, "citation": ""}]), "evidence.0.citation")
    assert_invalid(make("endorsement.made", evidence=[{**cited, "citation": "a\nb"}]), "evidence.0.citation")


def test_obligations_have_distinct_ids_and_a_known_way_to_meet_them() -> None:
    one = {"id": "framework", "what": "Publish a safety framework", "due": "2025-02-10", "met_by": "report.published"}
    assert validate(make("code.revision_published", obligations=[one]))
    assert_invalid(make("code.revision_published", obligations=[one, one]), "obligations.1.id")
    assert_invalid(make("code.revision_published", obligations=[{**one, "met_by": "endorsement.made"}]),
                   "obligations.0.met_by")
    assert_invalid(make("code.revision_published", obligations=[{**one, "due": "2025-02"}]), "obligations.0.due")


def test_a_code_names_its_items_and_their_short_names() -> None:
    chapters = [{"number": 1, "heading": "Transparency: model documentation", "name": "Transparency"}]
    assert validate(make("code.revision_published", actions=chapters, action_noun="chapter", short_title="GPAI Code"))
    assert_invalid(make("code.revision_published", action_noun="article"), "action_noun")
    assert_invalid(make("code.revision_published", actions=[{**chapters[0], "name": ""}]), "actions.0.name")


def test_a_country_may_be_unknown_and_a_research_institute_is_a_kind() -> None:
    assert validate(make("organization.registered", country=None, kind="research"))
    assert validate(make("organization.updated", country=None))
    assert_invalid(make("organization.registered", country="XX"), "country")


# --- key proofs (revision 3) ------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["organization.registered", "organization.key_added"])
def test_a_proof_for_a_key_the_statement_does_not_add_is_refused(type_: str) -> None:
    other = {**PROOF_B, "key_id": keys.key_id(keys.decode_public(KEY_SYMBOLS))}
    error = assert_invalid(make(type_, key_proofs=[PROOF_B, other]), "key_proofs.1.key_id")
    assert error.reason == "not the id of a key this statement adds"


def test_a_registration_proves_any_of_the_keys_it_adds() -> None:
    proof_a = {**PROOF_B, "key_id": keys.key_id(keys.decode_public(KEY_A))}
    assert validate(make("organization.registered", key_proofs=[proof_a, PROOF_B]))
    # KEY_A is not added by a key_added of KEY_B.
    assert_invalid(make("organization.key_added", key_proofs=[proof_a]), "key_proofs.0.key_id")


@pytest.mark.parametrize(("proofs", "field"), [
    ([], "key_proofs"),
    ({"key_id": HEX}, "key_proofs"),
    ([PROOF_B, PROOF_B], "key_proofs.1.key_id"),
    ([{**PROOF_B, "note": "x"}], "key_proofs.0.note"),
    ([{k: v for k, v in PROOF_B.items() if k != "sha256"}], "key_proofs.0.sha256"),
    ([{**PROOF_B, "key_id": HEX.upper()}], "key_proofs.0.key_id"),
    ([{**PROOF_B, "sha256": "ab"}], "key_proofs.0.sha256"),
    ([{**PROOF_B, "fetched_at": "2024-05-01 11:55:00"}], "key_proofs.0.fetched_at"),
    # Fetched after the statement was signed: not evidence the signer had.
    ([{**PROOF_B, "fetched_at": "2024-05-01T12:00:01Z"}], "key_proofs.0.fetched_at"),
    # Only an https file at the well-known path proves control of a host.
    ([{**PROOF_B, "url": "http://www.kddi.com/.well-known/hcoc-registry-keys"}], "key_proofs.0.url"),
    ([{**PROOF_B, "url": "https://www.kddi.com/keys.json"}], "key_proofs.0.url"),
    ([{**PROOF_B, "url": "https://www.kddi.com/.well-known/hcoc-registry-keys?x=1"}], "key_proofs.0.url"),
    ([{**PROOF_B, "url": "https://www.kddi.com/.well-known/hcoc-registry-keys#k"}], "key_proofs.0.url"),
    ([{**PROOF_B, "url": "https://u@www.kddi.com/.well-known/hcoc-registry-keys"}], "key_proofs.0.url"),
])
def test_key_proofs_are_exact(proofs: Any, field: str) -> None:
    assert_invalid(make("organization.key_added", key_proofs=proofs), field)


def test_a_proof_fetched_the_second_it_was_signed_is_fine() -> None:
    assert validate(make("organization.key_added", key_proofs=[{**PROOF_B, "fetched_at": COMMON["signed_at"]}]))
    assert validate(make("organization.key_added", key_proofs=[
        {**PROOF_B, "url": "https://www.kddi.com:8443/.well-known/hcoc-registry-keys"}]))
