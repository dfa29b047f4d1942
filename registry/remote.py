"""Remote mode's pure parts: what a client makes of a registry's answers before it trusts them.

What it does: checks a registry URL (http or https only); parses the discovery
document (docs/FORMATS.md section 12) and refuses one whose origin is not its
log key's name or whose URLs lead to another site; holds the log key against
a pin and against the keys a user has seen before (trust on first use, in a
small JSON file: :func:`parse_known_keys` / :func:`format_known_keys`);
parses the answer to a submission and a problem document; checks a fetched
receipt end to end (:func:`check_receipt`: the receipt itself with
:func:`registry.receipts.verify_receipt`, then that its entry is the envelope
that was sent); names the receipt file; and builds the names a claim is worded
in from the JSON API's documents.

What it does not do: any I/O. ``scripts/httpclient.py`` fetches, and
``scripts/cli/remote.py`` reads and writes the files and says what happened.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from registry import envelope, receipts
from registry.envelope import Envelope
from registry.errors import ConfigurationError, NoteError, ReceiptError, RegistryError, VerificationError
from registry.leaf import Leaf, parse_leaf
from registry.signednote import NoteVerifier, parse_verifier_key
from registry.wording import Names

DISCOVERY_PATH = ".well-known/hcoc-registry.json"
ENVELOPE_TYPE = "application/vnd.hcoc-registry.envelope+json"
KNOWN_KEYS_FORMAT = "hcoc-registry/known-keys/v1"
RECEIPT_SUFFIX = ".tlog-proof"

# Bounds on what a client reads of each answer: all of them are small but the API's documents.
SMALL_ANSWER = 64 * 1024  # discovery, submission answers, problems, checkpoints
RECEIPT_ANSWER = 1 << 20  # a tlog-proof receipt is at most 1 MiB (docs/FORMATS.md section 9)
API_ANSWER = 4 * 1024 * 1024

_ORIGIN_SLUG = re.compile(r"[^a-z0-9.-]")


# --- URLs -------------------------------------------------------------------------


def registry_url(text: str) -> str:
    """A registry's base URL, checked and ending in ``/``: http or https, a host, no credentials or query.

    Raises:
        ConfigurationError: anything else.
    """
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigurationError(f"--registry {text!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"--registry must be an http:// or https:// URL, not {text!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("--registry must not carry a user name or password")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"--registry must not have a query or a fragment: {text!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return parts._replace(path=path).geturl()


def site(url: str) -> tuple[str, str, int]:
    """A URL's web origin: scheme, host and port (RFC 6454), the unit no answer may lead out of."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), port or default


def _same_site_url(value: Any, base: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise VerificationError(f"{name} is not a URL", "discovery")
    url = urljoin(base, value)
    if urlsplit(url).scheme not in ("http", "https") or site(url) != site(base):
        raise VerificationError(f"{name} {value!r} leads to another site than {base}; refusing to follow it",
                                "discovery")
    return url


# --- discovery and the log key ------------------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    """What a registry's discovery document says, checked: its origin, log key and where things are."""

    url: str  # the registry's base URL, as given
    origin: str
    log_key: NoteVerifier
    api: str
    checkpoint: str
    statements: str
    receipts: str  # a prefix, or a template with {index}

    def receipt_url(self, index: int) -> str:
        if "{index}" in self.receipts:
            return self.receipts.replace("{index}", str(index))
        return self.receipts + str(index)


def discovery_url(base: str) -> str:
    return urljoin(base, DISCOVERY_PATH)


def parse_discovery(data: bytes, base: str) -> Discovery:
    """Check a discovery document fetched from ``base``.

    Raises:
        VerificationError: step ``discovery``: not JSON, not version 1, no origin or log key, an
            origin that is not the log key's name, or a URL on another site.
    """
    doc = parse_json_object(data, "the discovery document", step="discovery")
    if doc.get("version") != 1:
        raise VerificationError(f"version {doc.get('version')!r} is not 1", "discovery")
    origin, vkey = doc.get("origin"), doc.get("log_key")
    if not isinstance(origin, str) or not isinstance(vkey, str):
        raise VerificationError("the document has no origin or no log_key", "discovery")
    try:
        verifier = parse_verifier_key(vkey)
    except NoteError as e:
        raise VerificationError(f"log_key is not a verifier key: {e.message}", "discovery") from None
    if verifier.name != origin:
        raise VerificationError(f"the document names origin {origin!r}, but its log key is named "
                                f"{verifier.name!r}", "discovery")
    api = _same_site_url(doc.get("api", "api/v1/"), base, "api")
    api = api if api.endswith("/") else api + "/"
    receipts_url = _same_site_url(doc.get("receipts", urljoin(api, "receipts/")), base, "receipts")
    if "{index}" not in receipts_url and not receipts_url.endswith("/"):
        receipts_url += "/"
    return Discovery(
        url=base, origin=origin, log_key=verifier, api=api,
        checkpoint=_same_site_url(doc.get("checkpoint", "checkpoint"), base, "checkpoint"),
        statements=_same_site_url(doc.get("statements", urljoin(api, "statements")), base, "statements"),
        receipts=receipts_url,
    )


def parse_pin(text: str) -> NoteVerifier:
    """The ``--log-key`` pin as a verifier key.

    Raises:
        ConfigurationError: it is not one.
    """
    try:
        return parse_verifier_key(text.strip())
    except NoteError as e:
        raise ConfigurationError(f"--log-key is not a verifier key (name+hash+base64): {e.message}") from None


def check_pin(discovery: Discovery, pin: NoteVerifier) -> None:
    """Refuse a registry whose log key is not the pinned one.

    Raises:
        VerificationError: step ``log key``.
    """
    if discovery.log_key.vkey != pin.vkey:
        raise VerificationError(f"the registry at {discovery.url} presents the log key {discovery.log_key.vkey}, "
                                f"but --log-key pins {pin.vkey}; nothing was signed or sent", "log key")


@dataclass(frozen=True)
class KnownKeys:
    """The log key a user has seen for each origin, as the known-keys file holds them."""

    log_keys: Mapping[str, str]  # origin -> verifier key


def parse_known_keys(data: bytes, where: str) -> KnownKeys:
    """Parse the known-keys file ``where``: ``{"format": ..., "log_keys": {origin: vkey}}``.

    Raises:
        ConfigurationError: naming the file, when it is not exactly that.
    """
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise ConfigurationError(f"{where} is not valid JSON ({e}); fix or delete it") from None
    if not isinstance(doc, dict) or doc.get("format") != KNOWN_KEYS_FORMAT or set(doc) != {"format", "log_keys"}:
        raise ConfigurationError(f"{where} is not a known-keys file ({KNOWN_KEYS_FORMAT}); fix or delete it")
    found = doc["log_keys"]
    if not isinstance(found, dict):
        raise ConfigurationError(f"{where}: log_keys must be an object of origin: verifier key")
    for origin, vkey in found.items():
        try:
            name = parse_verifier_key(vkey).name if isinstance(vkey, str) else None
        except NoteError:
            name = None
        if name != origin:
            raise ConfigurationError(f"{where}: the entry for {origin!r} is not a verifier key named after it")
    return KnownKeys(dict(found))


def format_known_keys(known: KnownKeys) -> bytes:
    """The known-keys file: indented JSON, one origin a line, for a person to read and edit."""
    doc = {"format": KNOWN_KEYS_FORMAT, "log_keys": dict(sorted(known.log_keys.items()))}
    return (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def trust(known: KnownKeys, discovery: Discovery, where: str) -> Literal["known", "new"]:
    """Whether ``discovery``'s log key is the one remembered for its origin (``known``) or the first (``new``).

    Raises:
        VerificationError: step ``log key``: another key is remembered for the origin.
    """
    seen = known.log_keys.get(discovery.origin)
    if seen is None:
        return "new"
    if seen != discovery.log_key.vkey:
        raise VerificationError(
            f"the registry at {discovery.url} (origin {discovery.origin}) now presents the log key "
            f"{discovery.log_key.vkey}, but {where} remembers {seen} for it. Nothing was signed or sent. If its "
            f"operator announced a new key, check it from a second source, then edit or delete the line for "
            f"{discovery.origin} in {where}", "log key")
    return "known"


def remember(known: KnownKeys, discovery: Discovery) -> KnownKeys:
    return KnownKeys({**known.log_keys, discovery.origin: discovery.log_key.vkey})


# --- submitting and proving -------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """The registry's answer to a submission (docs/FORMATS.md section 5, Submitting)."""

    index: int
    envelope_hash: str
    statement_hash: str
    type: str
    recorded_at: str
    duplicate: bool
    expected_within: float | None  # seconds until a checkpoint should cover it, if the registry says

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "envelope_hash": self.envelope_hash, "statement_hash": self.statement_hash,
                "type": self.type, "recorded_at": self.recorded_at, "duplicate": self.duplicate}


_HEX64 = re.compile(r"[0-9a-f]{64}")


def parse_submission(data: bytes, sent: Envelope) -> Submission:
    """Check the answer to submitting ``sent``: the record it names must be of that statement.

    Raises:
        VerificationError: step ``submission``.
    """
    doc = parse_json_object(data, "the answer to the submission", step="submission")
    index, expected = doc.get("index"), doc.get("checkpoint_expected_within_seconds")
    envelope_hash, statement_hash = doc.get("envelope_hash"), doc.get("statement_hash")
    if (isinstance(index, bool) or not isinstance(index, int) or index < 0
            or not isinstance(envelope_hash, str) or not _HEX64.fullmatch(envelope_hash)
            or not isinstance(statement_hash, str) or not _HEX64.fullmatch(statement_hash)):
        raise VerificationError("the answer has no index, envelope_hash or statement_hash", "submission")
    duplicate = doc.get("duplicate") is True
    if statement_hash != hashlib.sha256(sent.payload).hexdigest():
        raise VerificationError(f"the registry names statement {statement_hash}, not the one sent", "submission")
    if not duplicate and envelope_hash != sent.hash:
        raise VerificationError(f"the registry names envelope {envelope_hash}, not the one sent ({sent.hash})",
                                "submission")
    within = expected if isinstance(expected, int | float) and not isinstance(expected, bool) else None
    return Submission(index, envelope_hash, statement_hash, str(doc.get("type", "")), str(doc.get("recorded_at", "")),
                      duplicate, None if within is None or within < 0 else float(within))


def parse_problem(data: bytes, status: int) -> tuple[str, str]:
    """The code and detail of a problem document (docs/FORMATS.md section 13); a guess from the status if none."""
    try:
        doc = parse_json_object(data, "problem", step="problem")
    except VerificationError:
        doc = {}
    kind, detail = doc.get("type"), doc.get("detail")
    code = kind.rsplit("/", 1)[-1] if isinstance(kind, str) and kind else f"http-{status}"
    if not re.fullmatch(r"[a-z0-9-]{1,64}", code):
        code = f"http-{status}"
    text = detail if isinstance(detail, str) and detail else f"the registry answered HTTP {status}"
    return code, " ".join(text.split())[:500]


@dataclass(frozen=True)
class CheckedReceipt:
    """A receipt that verified against the log key, for the entry expected."""

    verified: receipts.VerifiedReceipt
    leaf: Leaf

    @property
    def size(self) -> int:
        return self.verified.checkpoint.checkpoint.size


def check_receipt(data: bytes, discovery: Discovery, index: int, *, envelope_hash: str | None = None,
                  sent: Envelope | None = None, signer: bytes | None = None) -> CheckedReceipt:
    """Verify a fetched receipt: the log's checkpoint and the inclusion proof, then the entry.

    The receipt must be of leaf ``index``; its entry of the envelope ``envelope_hash`` and of the
    statement ``sent`` by the same key (when given); its signature must verify with the raw public
    key ``signer`` (when given).

    Raises:
        VerificationError: naming the step (``receipt`` with the receipt's own step, ``entry``,
            ``statement signature``).
    """
    try:
        verified = receipts.verify_receipt(data, origin=discovery.origin, log_verifier=discovery.log_key)
    except ReceiptError as e:
        raise VerificationError(e.reason, f"receipt {e.step}") from None
    if verified.index != index:
        raise VerificationError(f"the registry sent a receipt for leaf {verified.index}, not {index}", "entry")
    if verified.leaf is None:
        raise VerificationError("the receipt does not carry its entry", "entry")
    try:
        leaf = parse_leaf(verified.leaf)
    except RegistryError as e:
        raise VerificationError(e.message, "entry") from None
    found = leaf.envelope
    if envelope_hash is not None and found.hash != envelope_hash:
        raise VerificationError(f"leaf {index} holds envelope {found.hash}, not {envelope_hash}", "entry")
    if sent is not None and (found.payload != sent.payload or found.keyid != sent.keyid):
        raise VerificationError(f"leaf {index} holds another statement than the one sent", "entry")
    if signer is not None:
        try:
            envelope.verify(found, signer)
        except RegistryError as e:
            raise VerificationError(e.message, "statement signature") from None
    return CheckedReceipt(verified, leaf)


def origin_slug(origin: str) -> str:
    """The origin with every character outside [a-z0-9.-] replaced by ``-``: ``registry.example.org-hcoc``."""
    return _ORIGIN_SLUG.sub("-", origin)


def receipt_file_name(origin: str, index: int) -> str:
    return f"{origin_slug(origin)}-{index}{RECEIPT_SUFFIX}"


# --- names ----------------------------------------------------------------------------------


def names_from_api(organization: Mapping[str, Any] | None, code: Mapping[str, Any] | None) -> Names:
    """The names a claim is worded in, from ``/api/v1/organizations/<slug>`` and ``/api/v1/codes/<slug>``.

    A document that is missing or not of the expected shape names nothing (the claim keeps the slugs).
    """
    state: dict[str, Any] = {"organizations": [], "codes": []}
    if organization and isinstance(organization.get("org"), str) and isinstance(organization.get("name"), str):
        state["organizations"].append({"org": organization["org"], "name": organization["name"]})
    if code and isinstance(code.get("code"), str) and _versions_ok(code.get("versions")):
        state["codes"].append({"code": code["code"], "versions": code["versions"]})
    return Names.of(state)


def _versions_ok(versions: Any) -> bool:
    return isinstance(versions, list) and all(
        isinstance(v, dict) and isinstance(v.get("version"), str) and isinstance(v.get("title"), str)
        and isinstance(v.get("actions", []), list) and all(isinstance(a, dict) for a in v.get("actions", []))
        for v in versions)


def signer_role(organization: Mapping[str, Any] | None, key_id: str) -> str | None:
    """``organization`` when the organization's document lists ``key_id`` among its keys, else None (unknown)."""
    found = organization.get("keys") if organization else None
    if isinstance(found, list) and any(isinstance(k, dict) and k.get("key_id") == key_id for k in found):
        return "organization"
    return None


# --- JSON -------------------------------------------------------------------------------------


def parse_json_object(data: bytes, what: str, *, step: str) -> dict[str, Any]:
    """A JSON object from a registry's answer (numbers may be fractions); no duplicate keys.

    Raises:
        VerificationError: naming ``step``.
    """
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise VerificationError(f"{what} is not JSON: {e}", step) from None
    if not isinstance(doc, dict):
        raise VerificationError(f"{what} is not a JSON object", step)
    return doc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result
