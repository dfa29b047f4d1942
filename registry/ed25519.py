"""Strict Ed25519: which public keys and signatures the registry accepts, before OpenSSL checks them.

OpenSSL (through ``cryptography``) verifies RFC 8032 signatures but exposes no
point validation, and it accepts keys no honest key generator produces. The
worst is the identity point (``AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=``):
under it the signature R = identity, S = 0 verifies for every message, so
whoever lists that key lets anyone sign as them. The other small-order points
are as bad for some messages, and a non-canonical encoding gives one key two
spellings (two key ids). So this module is hand-written, with its own
arithmetic on the twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2 over
p = 2^255 - 19 in extended coordinates, and refuses:

- as a public key (:func:`check_public_key`, where a key enters; cached): a
  non-canonical encoding (y >= p, or x = 0 with the sign bit set), a y that is
  on no curve point, any of the 8 small-order points, and any point outside the
  prime-order subgroup ([L]A != identity). Keys from key generation are
  [a]B for the base point B, so they always pass.
- as a signature (:func:`check_signature`, once per signature, O(1): no point
  decompression): S >= L (a second, malleated spelling of a signature), an R
  whose y is >= p or the y of a small-order point, and the same y checks on the
  public key as defence in depth.

It does not sign, does not replace OpenSSL's verification (:func:`verify` runs
the checks, then OpenSSL), and is not constant time: it only ever sees public
values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the base point's subgroup
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 (2 is a non-square mod p)
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
_Y_MASK = (1 << 255) - 1
_NON_CANONICAL_Y = "is not a canonical encoding: its y is not below p = 2^255 - 19"
_SMALL_ORDER = "is a small-order point: it would let anyone sign"

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, xy = T/Z
_IDENTITY: _Point = (0, 1, 1, 0)


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: truthy when accepted; otherwise ``reason`` says why not."""

    reason: str = ""

    def __bool__(self) -> bool:
        return not self.reason


ACCEPTED = Verdict()


def _sqrt(n: int) -> int | None:
    # p = 5 (mod 8): n^((p+3)/8) is a root of n or of -n; a root of -n times sqrt(-1) is a root of n.
    root = pow(n, (P + 3) // 8, P)
    if root * root % P != n:
        root = root * SQRT_M1 % P
    return root if root * root % P == n else None


def _order8_y() -> int:
    # Doubling a point of order 8 gives one of order 4, whose y is 0; with the affine doubling law
    # that means x^2 = -y^2, and on the curve d*y^4 + 2*y^2 - 1 = 0. Of the two roots y^2, one is a square.
    root = _sqrt((1 + D) % P)
    if root is None:
        raise AssertionError("1 + d has no square root mod p")
    for y2 in ((-1 + root) * pow(D, -1, P) % P, (-1 - root) * pow(D, -1, P) % P):
        y = _sqrt(y2)
        if y is not None:
            return min(y, P - y)
    raise AssertionError("the curve has no point of order 8")


_Y8 = _order8_y()
SMALL_ORDER_Y = frozenset({0, 1, P - 1, _Y8, P - _Y8})
"""y of the 8 points of order dividing 8: identity (1), order 2 (p-1), order 4 (0), order 8 (two values)."""


def _add(a: _Point, b: _Point) -> _Point:
    # Unified addition for a = -1 (Hisil-Wong-Carter-Dawson 2008), valid for doubling too.
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % P
    pb = (y1 + x1) * (y2 + x2) % P
    pc = 2 * D * t1 * t2 % P
    pd = 2 * z1 * z2 % P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return e * f % P, g * h % P, f * g % P, e * h % P


def _double(a: _Point) -> _Point:
    x1, y1, z1, _ = a
    xx, yy = x1 * x1 % P, y1 * y1 % P
    c = 2 * z1 * z1 % P
    e = ((x1 + y1) ** 2 - xx - yy) % P
    g = yy - xx  # -X^2 + Y^2: the curve's a = -1
    f = g - c
    h = -xx - yy
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(k: int, a: _Point) -> _Point:
    result = _IDENTITY
    for bit in bin(k)[2:]:
        result = _double(result)
        if bit == "1":
            result = _add(result, a)
    return result


def _is_identity(a: _Point) -> bool:
    x, y, z, _ = a
    return x % P == 0 and (y - z) % P == 0


def _decode(raw: bytes) -> _Point | str:
    """The point an encoding names, or why it names none (RFC 8032 section 5.1.3, strictly)."""
    n = int.from_bytes(raw, "little")
    y, sign = n & _Y_MASK, n >> 255
    if y >= P:
        return _NON_CANONICAL_Y
    y2 = y * y % P
    x = _sqrt((y2 - 1) * pow(D * y2 + 1, -1, P) % P)
    if x is None:
        return "is not a point on the Ed25519 curve"
    if x == 0 and sign:
        return "is not a canonical encoding: x is 0 but its sign bit is set"
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def _encode(a: _Point) -> bytes:
    x, y, z, _ = a
    inverse = pow(z, -1, P)
    x, y = x * inverse % P, y * inverse % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def check_public_key(raw: bytes) -> Verdict:
    """Whether ``raw`` is an acceptable Ed25519 public key: canonical, on the curve, of prime order."""
    return _check_public_key(bytes(raw))


@lru_cache(maxsize=65536)  # ~1 ms a key (the [L]A ladder); replay and audit ask about the same keys again
def _check_public_key(raw: bytes) -> Verdict:
    if len(raw) != PUBLIC_KEY_SIZE:
        return Verdict(f"has {len(raw)} bytes, not {PUBLIC_KEY_SIZE}")
    point = _decode(raw)
    if isinstance(point, str):
        return Verdict(point)
    if _is_identity(_double(_double(_double(point)))):
        return Verdict(_SMALL_ORDER)
    if not _is_identity(_multiply(L, point)):
        return Verdict("is not in the prime-order subgroup: it has a small-order component")
    return ACCEPTED


def check_signature(sig: bytes, public_raw: bytes) -> Verdict:
    """Whether a signature has an acceptable shape (S < L; R and the key not small-order); O(1)."""
    if len(sig) != SIGNATURE_SIZE:
        return Verdict(f"the signature has {len(sig)} bytes, not {SIGNATURE_SIZE}")
    if int.from_bytes(sig[32:], "little") >= L:
        return Verdict("the signature's S is not below the group order L (a non-canonical, malleated signature)")
    problem = _y_problem(sig[:32], "is a small-order point, the shape of a forged signature")
    if problem:
        return Verdict(f"the signature's R {problem}")
    if len(public_raw) != PUBLIC_KEY_SIZE:
        return Verdict(f"the public key has {len(public_raw)} bytes, not {PUBLIC_KEY_SIZE}")
    problem = _y_problem(public_raw, _SMALL_ORDER)
    if problem:
        return Verdict(f"the public key {problem}")
    return ACCEPTED


def _y_problem(encoding: bytes, small_order: str) -> str | None:
    # The y alone decides both: no square root is taken here (this runs once per signature).
    y = int.from_bytes(encoding, "little") & _Y_MASK
    if y >= P:
        return _NON_CANONICAL_Y
    if y in SMALL_ORDER_Y:
        return small_order
    return None


def verify(public_raw: bytes, sig: bytes, message: bytes) -> bool:
    """Whether ``sig`` is a strictly shaped Ed25519 signature of ``message`` that OpenSSL accepts."""
    if not check_signature(sig, public_raw):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, message)
    except (InvalidSignature, ValueError):
        return False
    return True
