"""Hypothesis fuzzing of the parsers that tests/test_{notes,tiles,envelope,leaf,statements}.py do not fuzz.

- The bundle reader (``registry.bundle.read``): arbitrary files, gzip of
  arbitrary bytes, line soups near the format, and mutations of a valid bundle
  (of its gzip bytes; of its text with the trailer kept, which must always be
  detected; of its text with the trailer recomputed). Only ``VerificationError``
  ever escapes, and a bundle that reads is consistent. A gzip bomb of one
  endless line is refused without being held in memory.
- Snapshot documents (``snapshots.verify_document``): arbitrary bytes, arbitrary
  JSON, byte and member mutations of a signed document, wrong entries. Only
  ``VerificationError``; whatever verifies says exactly what was signed.
- Snapshot note texts (``snapshots.parse_snapshot_text``): arbitrary bytes and
  near-misses; only ``VerificationError``; whatever parses is canonical, with a
  tree size in 0..2**63-1 like a checkpoint's.
- The HTTP API's query parameters: hostile strings (non-ASCII, NUL, numbers in
  odd forms, very long) in every documented query parameter of every GET
  route, one at a time and all at once, and raw query strings with broken
  percent-escapes: only 200, 400 or 404, errors as typed problems.
- URL path segments: hostile slugs, versions, indexes and tile paths (non-ASCII,
  ``%00``, ``%2F``, dot segments, very long) in every templated GET route: only
  200, 400 or 404, errors as typed problems, never 5xx.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import re
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from registry import bundle, canonical, compose, envelope, keys, snapshots, tlog
from registry.checkpoint import Checkpoint, sign_checkpoint
from registry.errors import VerificationError
from registry.leaf import format_leaf
from registry.signednote import signer_from_private
from registry.state import fold
from registry.times import format_time
from tests.conftest import ORIGIN, _make_backend
from tests.test_fuzz_api import Populated, assert_typed, populated_app
from tests.test_web_api import HIROSHIMA, V1

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
# Strings a hostile client sends: any non-surrogate text, odd numbers, NUL, bidi controls, very long.
NUMBERISH = ["0", "1", "01", "-1", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "١", "١٢", "1_0", "９", "9" * 19, "9" * 20,
             str(2**63 - 1), str(2**63), str(2**64), "-0", "", "∞", "NaN"]
HOSTILE = [*NUMBERISH, "\x00", "%00", "a\x00b", "%", "%zz", "%ff", "\u202eevil", "<script>", "'", '"', "\\", "..",
           ".", "/", "a/b", "a,b", ",", "acme,", "ACME", "acme ", "a" * 5000, "é" * 2000, "😀", "\ud7ff", "\ufffd",
           "\r\n", "null", "true", "[]", "{}"]
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
HOSTILE_TEXT = st.one_of(TEXT, st.sampled_from(HOSTILE), st.integers().map(str),
                         st.text(st.characters(exclude_categories=("Cs",)), min_size=300, max_size=3000))


# --- the bundle reader ----------------------------------------------------------------------


def leaf_texts() -> list[bytes]:
    return [b'{"leaf":%d}' % i for i in range(3)]


@pytest.fixture(scope="module")
def valid_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("bundle") / "valid.bundle"
    bundle.write(path, origin=ORIGIN, size=3, root=b"\x01" * 32, log_key="key+1234abcd+AAAA", leaves=leaf_texts(),
                 checkpoints=[b"checkpoint \xe2\x80\x94 one\n"], snapshots=[b'{"snapshot":1}'])
    data = path.read_bytes()
    assert bundle.read(path).leaves == leaf_texts()
    return data


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "candidate.bundle"


def read_bundle(path: Path, data: bytes) -> bundle.Bundle | None:
    """Read ``data`` as a bundle file: the Bundle, or None after a VerificationError (anything else fails)."""
    path.write_bytes(data)
    try:
        found = bundle.read(path)
    except VerificationError:
        return None
    # what reads is consistent: as many leaves as the header says, each ASCII
    assert len(found.leaves) == found.size
    assert all(leaf.isascii() for leaf in found.leaves)
    return found


def same(found: bundle.Bundle, original: bytes, scratch: Path) -> bool:
    expected = read_bundle(scratch.with_suffix(".orig"), original)
    return expected is not None and found == expected


def body_and_trailer(data: bytes) -> tuple[bytes, bytes]:
    text = gzip.decompress(data)
    body, trailer = text.rstrip(b"\n").rsplit(b"\n", 1)
    return body + b"\n", trailer + b"\n"


def with_trailer(body: bytes) -> bytes:
    """``body`` lines and the trailer the writer would put after them."""
    leaves = sum(line.startswith(b'{"leaf"') for line in body.split(b"\n"))
    end = {"end": {"leaves": leaves, "sha256": hashlib.sha256(body).hexdigest()}}
    return body + json.dumps(end, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@FAST
@given(data=st.binary(max_size=2000))
def test_bundle_arbitrary_files(scratch: Path, data: bytes) -> None:
    read_bundle(scratch, data)
    read_bundle(scratch, gzip.compress(data))


def bundle_line() -> st.SearchStrategy[bytes]:
    """A line near the format: header-ish, leaf/checkpoint/snapshot-ish, trailer-ish, or any JSON."""
    header = st.fixed_dictionaries({"format": st.sampled_from([bundle.FORMAT, "x"]), "origin": JSON_VALUES,
                                    "size": st.one_of(st.integers(-2, 5), JSON_VALUES),
                                    "root": st.one_of(st.just(""), TEXT, JSON_VALUES), "log_key": JSON_VALUES})
    member = st.dictionaries(st.sampled_from(["leaf", "checkpoint", "snapshot", "end", "x"]),
                             st.one_of(TEXT, JSON_VALUES), min_size=1, max_size=2)
    encoded = st.one_of(header, member, JSON_VALUES).map(lambda v: json.dumps(v, allow_nan=True).encode())
    raw = st.sampled_from([b'{"end"', b'{"end":', b'{"end": 1}', b"[" * 5000, b'{"leaf": "\xff"}',
                           b'{"leaf":"\\ud800"}', b'{"checkpoint":"\\udfff"}', b'{"leaf":"\\u00e9"}',
                           b'{"size":1e999}', b""])
    return st.one_of(encoded, raw).map(lambda line: line + b"\n")


@FAST
@given(lines=st.lists(bundle_line(), max_size=8), trailer=st.booleans(), terminated=st.booleans())
def test_bundle_line_soup(scratch: Path, lines: list[bytes], trailer: bool, terminated: bool) -> None:
    text = b"".join(lines)
    text = with_trailer(text) if trailer else text
    read_bundle(scratch, gzip.compress(text if terminated else text.rstrip(b"\n")))


@FAST
@given(data=st.data())
def test_bundle_gzip_byte_mutations(valid_bundle: bytes, scratch: Path, data: st.DataObject) -> None:
    raw = bytearray(valid_bundle)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if action == "flip":
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "delete":
            del raw[i]
        elif action == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=4))
        else:
            del raw[i:]
        if not raw:
            break
    found = read_bundle(scratch, bytes(raw))
    # the gzip CRC covers the content: a bundle that still reads (a header byte changed) is the same bundle
    assert found is None or same(found, valid_bundle, scratch)


@FAST
@given(data=st.data())
def test_bundle_edits_under_a_kept_trailer_are_detected(valid_bundle: bytes, scratch: Path,
                                                        data: st.DataObject) -> None:
    body, trailer = body_and_trailer(valid_bundle)
    i = data.draw(st.integers(0, len(body)))
    edited = body[:i] + data.draw(st.binary(min_size=1, max_size=6)) + body[i + data.draw(st.integers(0, 6)):]
    if edited == body:
        return
    assert read_bundle(scratch, gzip.compress(edited + trailer)) is None, edited


@FAST
@given(data=st.data())
def test_bundle_edits_with_a_recomputed_trailer(valid_bundle: bytes, scratch: Path, data: st.DataObject) -> None:
    body, _ = body_and_trailer(valid_bundle)
    lines = body.split(b"\n")[:-1]
    position = data.draw(st.integers(0, len(lines)))
    action = data.draw(st.sampled_from(["replace", "insert", "delete", "swap"]))
    if action == "replace" and position < len(lines):
        lines[position] = data.draw(bundle_line()).rstrip(b"\n")
    elif action == "insert":
        lines.insert(position, data.draw(bundle_line()).rstrip(b"\n"))
    elif action == "delete" and position < len(lines):
        del lines[position]
    elif action == "swap" and len(lines) > 1:
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[position % len(lines)], lines[j] = lines[j], lines[position % len(lines)]
    read_bundle(scratch, gzip.compress(with_trailer(b"".join(line + b"\n" for line in lines))))


@pytest.mark.parametrize("start", [b"a", b'{"end":"'], ids=["line", "trailer"])
def test_bundle_endless_line_is_refused_without_reading_it(scratch: Path, start: bytes) -> None:
    """A gzip bomb: 64 MiB without a newline compresses to about 300 KB; reading it must stop at MAX_LINE."""
    header = json.dumps({"format": bundle.FORMAT, "origin": ORIGIN, "size": 0, "root": "", "log_key": "k"}).encode()
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    chunk = b"a" * (1 << 20)
    data = compressor.compress(header + b"\n" + start) + b"".join(compressor.compress(chunk) for _ in range(64))
    data += compressor.flush()
    scratch.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(VerificationError, match="too long"):
            bundle.read(scratch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * bundle.MAX_LINE, f"held {peak >> 20} MiB to refuse one long line"


@pytest.mark.parametrize("text", [
    b'{"end"\n', b'{"end"]\n', b"[" * 100_000 + b"\n", b'{"leaf":"\\u00e9"}\n', b'{"checkpoint":"\\ud800"}\n',
    b'{"snapshot":"\\udfff"}\n',
], ids=["end-not-json", "end-broken", "deep", "leaf-not-ascii", "checkpoint-surrogate", "snapshot-surrogate"])
def test_bundle_hostile_lines_are_verification_errors(scratch: Path, text: bytes) -> None:
    header = json.dumps({"format": bundle.FORMAT, "origin": ORIGIN, "size": 1, "root": "", "log_key": "k"}).encode()
    with pytest.raises(VerificationError):
        bundle.read(_write(scratch, gzip.compress(header + b"\n" + text)))


@pytest.mark.parametrize("size", ["1e999", "-1e999", "NaN", '"9' + "9" * 5000 + '"'])
def test_bundle_hostile_header_sizes_are_verification_errors(scratch: Path, size: str) -> None:
    header = b'{"format":"%s","log_key":"k","origin":"o","root":"","size":%s}\n' % (bundle.FORMAT.encode(),
                                                                                  size.encode())
    with pytest.raises(VerificationError, match="header"):
        bundle.read(_write(scratch, gzip.compress(header)))


def test_bundle_corrupt_deflate_stream_is_a_verification_error(scratch: Path) -> None:
    # a gzip header (no flags), then a deflate block of the reserved type 3, then a zero CRC and size
    raw = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\x07" + b"\x00" * 8
    with pytest.raises(zlib.error):  # what gzip raises for it: neither an OSError nor an EOFError
        gzip.decompress(raw)
    with pytest.raises(VerificationError, match="not a readable bundle"):
        bundle.read(_write(scratch, raw))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- snapshot documents and notes ---------------------------------------------------------------


class SignedSnapshot:
    """A two-entry log, its signed checkpoint and snapshot document (no store: pure functions only)."""

    def __init__(self) -> None:
        root, maintainer = keys.generate(), keys.generate()
        now = format_time(datetime.now(UTC))
        statements = [
            envelope.sign(compose.statement("registry.genesis", ORIGIN, name="T", root_key=keys.encode_public(root)),
                          root),
            envelope.sign(compose.statement("maintainer.key_added", ORIGIN, public_key=keys.encode_public(maintainer),
                                            name="m"), root),
        ]
        self.leaves = [format_leaf(s, now) for s in statements]
        self.state = fold(self.leaves).to_json()
        tree = tlog.MemoryHashStore()
        tree.extend([tlog.leaf_hash(leaf) for leaf in self.leaves])
        self.signer = signer_from_private(ORIGIN, keys.generate())
        checkpoint = sign_checkpoint(Checkpoint(ORIGIN, 2, tree.root(2)), self.signer)
        self.document = snapshots.make_document(self.state, checkpoint, self.signer)
        self.note = snapshots.verify_document(self.document, self.signer.verifier, self.leaves).note

    def verify(self, data: bytes, leaves: list[bytes] | None = None) -> snapshots.VerifiedSnapshot | None:
        """None after a VerificationError; a success must be the signed snapshot itself."""
        try:
            verified = snapshots.verify_document(data, self.signer.verifier, leaves)
        except VerificationError:
            return None
        assert verified.note == self.note
        assert canonical.dumps(verified.state) == canonical.dumps(self.state)
        return verified


@pytest.fixture(scope="module")
def signed() -> SignedSnapshot:
    return SignedSnapshot()


def test_signed_snapshot_verifies(signed: SignedSnapshot) -> None:
    found = signed.verify(signed.document, signed.leaves)
    assert found is not None and found.rebuilt


@FAST
@given(data=st.one_of(st.binary(max_size=500), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_snapshot_arbitrary_documents(signed: SignedSnapshot, data: bytes) -> None:
    assert signed.verify(data) is None


@FAST
@given(data=st.data())
def test_snapshot_byte_mutations(signed: SignedSnapshot, data: st.DataObject) -> None:
    raw = bytearray(signed.document)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        if data.draw(st.booleans()):
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        else:
            raw[i:i + data.draw(st.integers(0, 3))] = data.draw(st.binary(max_size=3))
    signed.verify(bytes(raw), signed.leaves if data.draw(st.booleans()) else None)


DEEP: Any = 1
for _ in range(40):
    DEEP = [DEEP]
MEMBER_PATHS = [("checkpoint",), ("format",), ("note",), ("state",), ("state", "size"), ("state", "origin"),
                ("state", "keys"), ("state", "registry"), ("state", "format"), ("extra",)]


@FAST
@given(path=st.sampled_from(MEMBER_PATHS),
       value=st.one_of(JSON_VALUES, st.just(float("nan")), st.just(2**60), st.just(DEEP)))
def test_snapshot_member_mutations(signed: SignedSnapshot, path: tuple[str, ...], value: Any) -> None:
    doc = json.loads(signed.document)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    signed.verify(json.dumps(doc, allow_nan=True).encode())


@FAST
@given(data=st.data())
def test_snapshot_wrong_entries(signed: SignedSnapshot, data: st.DataObject) -> None:
    leaves = list(signed.leaves)
    action = data.draw(st.sampled_from(["drop", "swap", "flip", "extra", "noise"]))
    if action == "drop":
        del leaves[data.draw(st.integers(0, len(leaves) - 1))]
    elif action == "swap":
        leaves.reverse()
    elif action == "flip":
        i = data.draw(st.integers(0, len(leaves) - 1))
        raw = bytearray(leaves[i])
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1
        leaves[i] = bytes(raw)
    elif action == "extra":
        leaves.insert(data.draw(st.integers(0, len(leaves))), data.draw(st.binary(max_size=50)))
    else:
        leaves = data.draw(st.lists(st.binary(max_size=80), max_size=3))
    if leaves[:2] == signed.leaves:
        return  # entries past the snapshot's size are not read
    assert signed.verify(signed.document, leaves) is None


def snapshot_text(note: snapshots.SnapshotNote) -> bytes:
    return snapshots.format_snapshot_text(note)


def parse_snapshot(text: bytes) -> snapshots.SnapshotNote | None:
    try:
        parsed = snapshots.parse_snapshot_text(text)
    except VerificationError:
        return None
    assert snapshots.format_snapshot_text(parsed) == text  # only canonical text parses
    assert 0 <= parsed.size <= 2**63 - 1, parsed.size  # a tree size, as in a checkpoint
    assert len(parsed.state_hash) == len(parsed.root) == 32
    return parsed


@FAST
@given(text=st.binary(max_size=300))
def test_snapshot_text_arbitrary_bytes(text: bytes) -> None:
    parse_snapshot(text)


@FAST
@given(origin=st.one_of(st.just(ORIGIN), TEXT, st.just("")), size=st.one_of(st.sampled_from(NUMBERISH), TEXT),
       state_hash=st.one_of(st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
                            st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()), TEXT),
       root=st.binary(min_size=31, max_size=33).map(lambda b: base64.b64encode(b).decode()),
       header=st.sampled_from([snapshots.NOTE_HEADER, "hcoc-registry/snapshot/v2", ""]),
       tail=st.sampled_from(["\n", "", "\n\n", "\r\n", "\nextra\n"]))
def test_snapshot_text_near_misses(origin: str, size: str, state_hash: str, root: str, header: str,
                                   tail: str) -> None:
    parse_snapshot(f"{header}\n{origin}\n{size}\n{state_hash}\n{root}{tail}".encode())


@FAST
@given(origin=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), min_size=1, max_size=40),
       size=st.integers(0, 2**63 - 1), state_hash=st.binary(min_size=32, max_size=32),
       root=st.binary(min_size=32, max_size=32))
def test_snapshot_text_round_trips(origin: str, size: int, state_hash: bytes, root: bytes) -> None:
    note = snapshots.SnapshotNote(origin, size, state_hash, root)
    assert parse_snapshot(snapshot_text(note)) == note


@pytest.mark.parametrize("size", [-1, -(2**63), 2**63, 2**64])
def test_snapshot_text_refuses_sizes_no_tree_has(size: int) -> None:
    text = snapshot_text(snapshots.SnapshotNote(ORIGIN, size, b"\x00" * 32, b"\x01" * 32))
    with pytest.raises(VerificationError):
        snapshots.parse_snapshot_text(text)


# --- the HTTP API: query parameters and path segments ----------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    with contextlib.contextmanager(_make_backend)("sqlite", tmp_path_factory.mktemp("api")) as backend:
        with populated_app(backend) as populated:
            yield populated


@pytest.fixture(scope="module")
def openapi(served: Populated) -> dict[str, Any]:
    found: dict[str, Any] = served.app.test_client().get("/api/v1/openapi.json").get_json()
    return found


GOOD_PATH_VALUES = {"slug": "acme", "version": V1, "index": "0", "size": "2", "k": "0", "type": "endorsement.made",
                    "level": "0", "width": "2", "sha256": "ab" * 32, **{f"i{g}": "000" for g in range(7)}}


def concrete(template: str) -> str:
    path = template.replace("/codes/{slug}", f"/codes/{HIROSHIMA}")
    return re.sub(r"\{([^}]+)\}", lambda m: GOOD_PATH_VALUES[m.group(1)], path)


def get_routes(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, item["get"]) for path, item in openapi["paths"].items() if "get" in item]


def query_params(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    return [(path, p["name"]) for path, op in get_routes(openapi) for p in op["parameters"] if p["in"] == "query"]


def check(response: TestResponse, where: str) -> None:
    assert response.status_code in (200, 400, 404), f"{where}: {response.status_code} {response.data[:300]!r}"
    assert_typed(response.status_code, response.content_type or "", response.data, where)
    if response.status_code == 200 and response.mimetype == "application/json":
        json.loads(response.data)


def test_every_query_parameter_takes_every_hostile_value(served: Populated, openapi: dict[str, Any]) -> None:
    client = served.app.test_client()
    params = query_params(openapi)
    assert len(params) >= 25  # every list, filter, paging and proof parameter of the document
    statuses: set[int] = set()
    for path, name in params:
        for value in HOSTILE:
            response = client.get(concrete(path), query_string={name: value})
            check(response, f"{path}?{name}={value[:40]!r}")
            statuses.add(response.status_code)
    assert statuses == {200, 400, 404}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_query_strings(served: Populated, openapi: dict[str, Any], data: st.DataObject) -> None:
    path, operation = data.draw(st.sampled_from(get_routes(openapi)))
    names = [p["name"] for p in operation["parameters"] if p["in"] == "query"] + ["x", "limit"]
    query = data.draw(st.dictionaries(st.sampled_from(names), HOSTILE_TEXT, max_size=len(names)))
    check(served.app.test_client().get(concrete(path), query_string=query), f"{path} {query!r:.200}")


RAW_QUERY = st.lists(st.one_of(
    st.sampled_from(["limit=1", "limit=1&limit=2", "after", "=", "&", "&&", ";", "%", "%zz", "%ff%fe", "%00", "a=%00",
                     "cursor=%ff", "order=%C0%AF", "type=endorsement.made%2C", "size=%EF%BC%91", "+", "limit=+1"]),
    st.binary(max_size=20).map(lambda b: quote(b, safe="=&%+")),
), max_size=5).map("&".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), raw=RAW_QUERY)
def test_raw_query_strings(served: Populated, openapi: dict[str, Any], data: st.DataObject, raw: str) -> None:
    path, _ = data.draw(st.sampled_from(get_routes(openapi)))
    check(served.app.test_client().get(f"{concrete(path)}?{raw}"), f"{path}?{raw[:200]}")


def templated_routes(openapi: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(path, re.findall(r"\{([^}]+)\}", path)) for path, _ in get_routes(openapi) if "{" in path]


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], template)


RAW_SEGMENTS = ["%00", "a%00", "%2F", "a%2Fb", "%2e%2e", "%2E", "..", ".", "%", "%zz", "%ff", "%C0%AE", "%E2%80%AE",
                "%F0%9F%98%80", "a" * 5000, "9" * 25, "01", "-1", "%20", "+", "~", "x001", "000.p/0", "000.p/256",
                "x000/001", "x001/234.p/17", "000/000"]


def test_every_path_parameter_takes_every_hostile_segment(served: Populated, openapi: dict[str, Any]) -> None:
    client = served.app.test_client()
    routes = templated_routes(openapi)
    assert len(routes) >= 15
    for template, names in routes:
        for name in names:
            for segment in [*RAW_SEGMENTS, *(quote(v, safe="") for v in HOSTILE)]:
                values = {n: GOOD_PATH_VALUES[n] for n in names} | {name: segment}
                url = fill(template, values)
                check(client.get(url), f"{template} {name}={segment[:60]!r}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_path_segments(served: Populated, openapi: dict[str, Any], data: st.DataObject) -> None:
    template, names = data.draw(st.sampled_from(templated_routes(openapi)))
    values = {n: quote(data.draw(HOSTILE_TEXT), safe="") for n in names}
    if data.draw(st.booleans()):  # sometimes keep all but one segment valid, to get past the earlier checks
        keep = data.draw(st.sampled_from(names))
        values = {n: GOOD_PATH_VALUES[n] for n in names} | {keep: values[keep]}
    url = fill(template, values)
    check(served.app.test_client().get(url), url[:300])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(["/api/v1/", "/api/v1/log/", "/tile/", "/tile/entries/", "/.well-known/",
                               "/feeds/", "/api/v1/codes/" + HIROSHIMA + "/"]),
       segments=st.lists(st.one_of(TEXT.map(lambda t: quote(t, safe="")), st.sampled_from(RAW_SEGMENTS)),
                         min_size=1, max_size=4))
def test_random_paths_under_machine_prefixes(served: Populated, prefix: str, segments: list[str]) -> None:
    check(served.app.test_client().get(prefix + "/".join(segments)), prefix + "/".join(segments)[:200])
