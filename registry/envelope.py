"""DSSE envelopes (in-toto/secure-systems-lab DSSE v1) carrying registry statements.

Signing covers PAE(payloadType, payload) where the payload is the RFC 8785
bytes of the statement. The parser is strict and bounded: exactly the three
DSSE members, exactly one signature with a key id, standard padded base64,
a payload that is canonical JSON of an object, and size limits that keep every
log entry under the 64 KiB that a C2SP entry bundle allows. What is stored and
hashed is :attr:`Envelope.canonical`, the RFC 8785 form of the envelope object,
so formatting differences in what a client sent never change the record.

Not here: who may sign what (``statements``/``domain``) and key files (``keys``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import canonical, ed25519, keys
from registry.encoding import b64decode, b64encode
from registry.errors import CanonicalError, InvalidSignatureError, MalformedError, TooLargeError

PAYLOAD_TYPE = "application/vnd.hcoc-registry.statement+json"
MAX_STATEMENT_BYTES = 16 * 1024
MAX_ENVELOPE_BYTES = 32 * 1024
SIGNATURE_SIZE = 64
_KEYID = re.compile(r"[0-9a-f]{64}")
_MEMBERS = {"payload", "payloadType", "signatures"}


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope with one Ed25519 signature."""

    payload: bytes
    keyid: str
    sig: bytes
    payload_type: str = PAYLOAD_TYPE

    def to_json(self) -> dict[str, Any]:
        """The envelope as a JSON object."""
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": self.keyid, "sig": b64encode(self.sig)}],
        }

    @cached_property
    def canonical(self) -> bytes:
        """RFC 8785 bytes of the envelope: what the registry stores and hashes."""
        # Every member is ASCII that JSON never escapes (base64, hex, the fixed type) and the
        # members are already in JCS order, so formatting gives the RFC 8785 bytes directly;
        # tests check this against the rfc8785 package. It runs once per submission on the hot path.
        return (
            f'{{"payload":"{b64encode(self.payload)}","payloadType":"{self.payload_type}",'
            f'"signatures":[{{"keyid":"{self.keyid}","sig":"{b64encode(self.sig)}"}}]}}'
        ).encode("ascii")

    @cached_property
    def hash(self) -> str:
        """Lowercase hex SHA-256 of :attr:`canonical` (the statement's identity)."""
        return hashlib.sha256(self.canonical).hexdigest()

    def statement(self) -> dict[str, Any]:
        """The statement object inside (parsed once; treat it as read-only)."""
        cached = self.__dict__.get("_statement")
        if cached is None:
            cached = self.__dict__["_statement"] = canonical.loads(self.payload)
        return cached


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what the signature covers."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign(statement: dict[str, Any], key: Ed25519PrivateKey) -> Envelope:
    """Canonicalize ``statement`` and sign it into an envelope."""
    payload = canonical.dumps(statement)
    if len(payload) > MAX_STATEMENT_BYTES:
        raise TooLargeError(f"statement is {len(payload)} bytes; the limit is {MAX_STATEMENT_BYTES}")
    return Envelope(payload=payload, keyid=keys.key_id(key), sig=key.sign(pae(PAYLOAD_TYPE, payload)))


def verify(envelope: Envelope, public_key: bytes) -> None:
    """Check the signature with the raw public key, strictly (registry.ed25519); raise InvalidSignatureError."""
    if keys.key_id(public_key) != envelope.keyid:
        raise InvalidSignatureError("the key id does not match the public key")
    # OpenSSL alone accepts S >= L and small-order R or keys: under the identity key, R = identity
    # and S = 0 verify for every message. The shape check is O(1); it runs on every audited entry.
    shape = ed25519.check_signature(envelope.sig, public_key)
    if not shape:
        raise InvalidSignatureError(f"the signature for key {envelope.keyid[:16]} is refused: {shape.reason}")
    if not ed25519.verify(public_key, envelope.sig, pae(envelope.payload_type, envelope.payload)):
        raise InvalidSignatureError(f"the signature does not verify for key {envelope.keyid[:16]}")


def parse(data: bytes) -> Envelope:
    """Parse envelope JSON strictly; raise MalformedError (or TooLargeError)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise TooLargeError(f"envelope is {len(data)} bytes; the limit is {MAX_ENVELOPE_BYTES}")
    try:
        obj = canonical.loads(data)
    except CanonicalError as e:
        raise MalformedError(f"envelope: {e}") from None
    return from_json(obj)


def from_json(obj: Any) -> Envelope:
    """Build an envelope from an already-parsed JSON object, strictly."""
    if not isinstance(obj, dict) or set(obj) != _MEMBERS:
        raise MalformedError("envelope must be an object with payload, payloadType and signatures")
    if obj["payloadType"] != PAYLOAD_TYPE:
        raise MalformedError(f"payloadType must be {PAYLOAD_TYPE!r}")
    sigs = obj["signatures"]
    if not isinstance(sigs, list) or len(sigs) != 1:
        raise MalformedError("envelope must carry exactly one signature")
    entry = sigs[0]
    if not isinstance(entry, dict) or set(entry) != {"keyid", "sig"}:
        raise MalformedError("a signature must be an object with keyid and sig")
    keyid = entry["keyid"]
    if not isinstance(keyid, str) or not _KEYID.fullmatch(keyid):
        raise MalformedError("keyid must be 64 lowercase hex characters (SHA-256 of the key)")
    sig = _unb64(entry["sig"], "sig")
    if len(sig) != SIGNATURE_SIZE:
        raise MalformedError("sig must be a 64-byte Ed25519 signature")
    payload = _unb64(obj["payload"], "payload")
    if len(payload) > MAX_STATEMENT_BYTES:
        raise TooLargeError(f"statement is {len(payload)} bytes; the limit is {MAX_STATEMENT_BYTES}")
    try:
        statement = canonical.loads_canonical(payload)
    except CanonicalError as e:
        raise MalformedError(f"payload: {e}") from None
    if not isinstance(statement, dict):
        raise MalformedError("payload must be a JSON object")
    env = Envelope(payload=payload, keyid=keyid, sig=sig)
    env.__dict__["_statement"] = statement  # parsed above; spares a second parse on the hot path
    return env


def _unb64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedError(f"{name} must be a base64 string")
    return b64decode(value, name)  # its Base64Error is a MalformedError
