"""Build statements: the common fields every statement carries, filled in."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from registry.times import format_time


def statement(type_: str, origin: str, *, now: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """A statement of ``type_`` for registry ``origin``, signed_at now, with a fresh random nonce."""
    return {
        "type": type_,
        "registry": origin,
        "signed_at": format_time(now or datetime.now(UTC)),
        "nonce": secrets.token_hex(16),
        **fields,
    }


def present(**fields: Any) -> dict[str, Any]:
    """Only the fields that have a value (for optional command-line options)."""
    return {k: v for k, v in fields.items() if v is not None}


def complete(stmt: dict[str, Any], origin: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Fill in whichever of registry, signed_at and nonce a hand-written statement lacks."""
    filled = dict(stmt)
    filled.setdefault("registry", origin)
    filled.setdefault("signed_at", format_time(now or datetime.now(UTC)))
    filled.setdefault("nonce", secrets.token_hex(16))
    return filled
