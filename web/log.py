"""The transparency log over HTTP: C2SP tlog-tiles, proofs, receipts, discovery.

What it does: serves the latest signed checkpoint, Merkle tiles and entry
bundles (C2SP tlog-tiles), raw leaves, RFC 9162 inclusion and consistency
proofs as JSON, C2SP tlog-proof@v1 receipts, and the discovery document
``/.well-known/hcoc-registry.json``. Each view parses its input strictly,
asks the log or the registry once, and returns bytes with their content type
and caching headers.

What it does not do: it never signs (checkpoints come from the clock process)
and never serves a tile that the latest published checkpoint does not
justify, so a client only ever sees tiles it can verify against a signed
root. Tiles, entry bundles, leaves and proofs for an explicit tree size are
immutable and cacheable forever; the checkpoint and anything that defaults to
the latest checkpoint are cacheable for a few seconds only. Errors are
problem+json (see ``web.problems``).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from flask import Blueprint, Response, jsonify, request

from registry import keys, tiles, tilesource
from registry.errors import InputError, MalformedError, NotFoundError, TilePathError
from registry.signednote import format_verifier_key
from web import get_log, get_registry, get_settings, parse_index, refresh

bp = Blueprint("log", __name__)

TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"
JSON = "application/json"
IMMUTABLE = "public, max-age=31536000, immutable"
# The checkpoint changes whenever the clock signs; tlog-tiles asks for at most a few seconds.
SHORT_LIVED = "public, max-age=5"
DISCOVERY_MAX_AGE = "public, max-age=300"


# --- C2SP tlog-tiles ---------------------------------------------------------------


@bp.get("/checkpoint")
def checkpoint() -> Response:
    served = get_log().served_checkpoint()
    if served is None:
        raise NotFoundError("no checkpoint has been published yet")
    _, note = served
    response = _bytes(note, TEXT, SHORT_LIVED)
    # Of the served bytes: a cosignature arriving for the same checkpoint changes the ETag too.
    response.set_etag(hashlib.sha256(note).hexdigest())
    return response.make_conditional(request)


@bp.get("/tile/<path:rest>")
def tile(rest: str) -> Response:
    try:
        path = tiles.parse_tile_path(rest)
    except TilePathError as e:
        raise MalformedError(str(e)) from None
    latest = get_log().latest_checkpoint()
    size = 0 if latest is None else latest.size
    if not tiles.tile_available(path, size):
        raise NotFoundError(f"tile {rest} is not covered by the latest checkpoint (tree size {size})")
    width = path.width or tiles.TILE_WIDTH
    data = _entry_bundle(path.index, width) if path.level is None else _hash_tile(path.level, path.index, width)
    return _bytes(data, OCTETS, IMMUTABLE)


def _hash_tile(level: int, index: int, width: int) -> bytes:
    return tilesource.hash_tile(get_log().store, level, index, width)


def _entry_bundle(index: int, width: int) -> bytes:
    return tilesource.entry_bundle(get_registry(), index, width)


# --- JSON API ----------------------------------------------------------------------


@bp.get("/api/v1/log/entries/<index:index>")
def entry(index: int) -> Response:
    registry = get_registry()
    refresh()
    size = get_log().size()  # the integrated log: a stored entry the log has not taken is not served
    # Compare first: the store's integer columns overflow on indexes near 2**63.
    leaf = registry.leaf(index) if index < size else None
    if leaf is None:
        raise NotFoundError(f"no leaf {index}: the log has {size} leaves")
    # Leaves are canonical JSON (RFC 8785) already: served as stored, never re-serialized.
    return _bytes(leaf, JSON, IMMUTABLE)


@bp.get("/api/v1/log/proofs/inclusion")
def inclusion_proof() -> Response:
    index = _required_int("index")
    asked = _optional_int("size")
    size = _tree_size(asked)
    if index >= size:
        raise InputError(f"index {index} is not below the tree size {size}")
    log = get_log()
    proof = log.inclusion(index, size)
    body = {
        "index": proof.index,
        "tree_size": proof.tree_size,
        "leaf_hash": _b64(proof.leaf_hash),
        "hashes": [_b64(h) for h in proof.hashes],
        "root_hash": _b64(log.root(size)),
    }
    return _json(body, SHORT_LIVED if asked is None else IMMUTABLE)


@bp.get("/api/v1/log/proofs/consistency")
def consistency_proof() -> Response:
    old = _required_int("from")
    asked = _optional_int("to")
    new = _tree_size(asked)
    if old > new:
        raise InputError(f"from ({old}) is larger than to ({new})")
    log = get_log()
    body = {
        "from": old,
        "to": new,
        "hashes": [_b64(h) for h in log.consistency(old, new)],
        "from_root": _b64(log.root(old)),
        "to_root": _b64(log.root(new)),
    }
    return _json(body, SHORT_LIVED if asked is None else IMMUTABLE)


@bp.get("/api/v1/receipts/<index:index>")
def receipt(index: int) -> Response:
    # ?size=N asks for the receipt against that published checkpoint instead of the latest.
    size = _optional_int("size")
    if size is None:
        refresh()  # as for entries: a leaf the log has integrated is "not yet covered", any other "not found"
    data = get_log().receipt(index, size)
    response = _bytes(data, TEXT, SHORT_LIVED if size is None or _awaits_cosignatures(size) else IMMUTABLE)
    response.headers["Content-Disposition"] = f'attachment; filename="leaf-{index}.tlog-proof"'
    return response


def _awaits_cosignatures(size: int) -> bool:
    """Whether a configured witness has not cosigned the checkpoint at ``size`` yet: its receipt may still change."""
    witnesses = {w.label for w in get_settings().witnesses}
    return bool(witnesses - {label for label, _ in get_log().store.cosignatures(size)})


# --- discovery ---------------------------------------------------------------------


@bp.get("/.well-known/hcoc-registry.json")
def discovery() -> Response:
    settings = get_settings()
    base = settings.base_url
    public = keys.load_public_file(keys.public_path(settings.log_key))
    body = {
        "version": 1,
        "origin": settings.origin,
        "log_key": format_verifier_key(settings.origin, public),
        "base_url": base,
        "checkpoint": f"{base}/checkpoint",
        "tiles": f"{base}/tile/",
        "api": f"{base}/api/v1/",
        "feeds": {"atom": f"{base}/feeds/events.atom", "rss": f"{base}/feeds/events.rss"},
        "openapi": f"{base}/api/v1/openapi.json",
        "statements": f"{base}/api/v1/statements",
        "receipts": f"{base}/api/v1/receipts/{{index}}",
        "checkpoint_expected_within_seconds": settings.clock_interval,
        # The witnesses the clock asks to cosign each checkpoint, and how many cosignatures to demand.
        "witnesses": [{"url": w.url, "verifier_key": w.vkey} for w in settings.witnesses],
        "witness_quorum": settings.witness_quorum,
    }
    return _json(body, DISCOVERY_MAX_AGE)


# --- helpers -----------------------------------------------------------------------


def _tree_size(asked: int | None) -> int:
    """The tree size a proof is for: the one asked for, else the latest checkpoint's.

    A size beyond the integrated tree may be one the caller saw a moment ago
    (in a checkpoint from another host, say): only then is the log caught up
    with the event store, once, before answering.
    """
    log = get_log()
    if asked is None:
        latest = log.latest_checkpoint()
        if latest is None:
            raise NotFoundError("no checkpoint has been published yet; ask for an explicit size")
        return latest.size
    if asked > log.size():
        log.catch_up()
    return asked


def _required_int(name: str) -> int:
    value = _optional_int(name)
    if value is None:
        raise InputError(f"query parameter {name!r} is required")
    return value


def _optional_int(name: str) -> int | None:
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise InputError(f"query parameter {name!r} is given {len(values)} times")
    try:
        return parse_index(values[0])
    except ValueError as e:
        raise InputError(f"query parameter {name!r}: {e}") from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _bytes(data: bytes, content_type: str, cache_control: str) -> Response:
    response = Response(data, content_type=content_type)
    response.headers["Cache-Control"] = cache_control
    return response


def _json(body: dict[str, Any], cache_control: str) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = cache_control
    return response
