"""RFC 8785 (JCS) canonical JSON: the one place where anything signed or hashed
is turned into bytes.

A leaf module: it imports nothing of ours but its error class. It wraps the ``rfc8785`` package and
adds the strict *parse* side: :func:`loads_canonical` accepts only bytes that
are already canonical, so a hash of stored bytes never depends on who
re-serialised them. Floats are refused outright: no registry document needs
them and they are where JCS implementations disagree.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from registry.errors import CanonicalError

MAX_DEPTH = 16
_FAST = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any) -> bytes:
    """Return the RFC 8785 bytes of ``value`` (dicts, lists, str, int, bool, None)."""
    if _check_value(value, 0):
        try:
            return rfc8785.dumps(value)
        except rfc8785.CanonicalizationError as e:
            raise CanonicalError(str(e)) from e
    # Fast path, byte-identical to RFC 8785 for what _check_value admits (tests prove it against
    # the rfc8785 package): no floats, integers within 2**53, and object keys without characters
    # beyond U+FFFF, so Python's code-point key order equals JCS's UTF-16 order. The json module
    # escapes exactly what JCS escapes (quote, backslash, controls as \b \f \n \r \t or \u00xx).
    # rfc8785 is ~7x slower and sits on every hot path: submission, integration, audit, rebuild.
    return _FAST.encode(value).encode("utf-8")


def loads(data: bytes) -> Any:
    """Parse JSON strictly: UTF-8, no duplicate keys, no floats, no NaN, bounded depth."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CanonicalError(f"not UTF-8: {e.reason}") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except CanonicalError:
        raise
    except RecursionError:
        raise CanonicalError("nested too deeply") from None
    except ValueError as e:
        raise CanonicalError(f"not JSON: {e}") from None
    _check_value(value, 0)
    return value


def loads_canonical(data: bytes) -> Any:
    """Parse ``data`` and require that it is byte-for-byte canonical."""
    value = loads(data)
    if dumps(value) != data:
        raise CanonicalError("JSON is not in RFC 8785 canonical form")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise CanonicalError(f"numbers must be integers, got {text!r}")


def _no_constant(text: str) -> Any:
    raise CanonicalError(f"{text} is not JSON")


def _check_value(value: Any, depth: int) -> bool:
    """Refuse what the registry never canonicalizes; True if a key needs the slow JCS key order."""
    # Exact type() tests first: this walk runs for every document the registry hashes or signs.
    kind = type(value)
    if kind is str:
        if not value.isascii():
            _check_string(value)
        return False
    if kind is dict:
        # Every value deeper than MAX_DEPTH is refused: an empty container may sit at the limit.
        if depth > MAX_DEPTH or (value and depth >= MAX_DEPTH):
            raise CanonicalError("nested too deeply")
        slow = False
        for key, item in value.items():
            if type(key) is not str:
                raise CanonicalError("object keys must be strings")
            if not key.isascii():
                _check_string(key)
                if max(map(ord, key)) > 0xFFFF:
                    slow = True
            if type(item) is str:
                if not item.isascii():
                    _check_string(item)
            elif _check_value(item, depth + 1):
                slow = True
        return slow
    if kind is list or kind is tuple:
        # Every value deeper than MAX_DEPTH is refused: an empty container may sit at the limit.
        if depth > MAX_DEPTH or (value and depth >= MAX_DEPTH):
            raise CanonicalError("nested too deeply")
        slow = False
        for item in value:
            if _check_value(item, depth + 1):
                slow = True
        return slow
    if kind is bool or value is None:
        return False
    if kind is int:
        # I-JSON (RFC 7493) integers: beyond 2**53 readers silently lose precision.
        if abs(value) > 2**53 - 1:
            raise CanonicalError("integer out of the I-JSON range")
        return False
    if isinstance(value, float):
        raise CanonicalError("floats are not allowed")
    if isinstance(value, str | int | dict | list | tuple):  # subclasses: the careful, slow way
        return _check_value(_plain(value), depth)
    raise CanonicalError(f"cannot canonicalize {type(value).__name__}")


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return bool(value)
    for base in (str, int, dict, list, tuple):
        if isinstance(value, base):
            return base(value)
    return value


def _check_string(text: str) -> None:
    # A lone surrogate (a "\\ud800" escape in JSON) has no UTF-8 form: refuse it
    # here, as a value or as a key, rather than let an encoder fail later.
    if _SURROGATE.search(text):
        raise CanonicalError("strings must not contain lone surrogates")
