"""Schemathesis against the app's own OpenAPI document, in-process over WSGI.

Every operation of ``/api/v1/openapi.json`` (the JSON API, the log routes, the
feeds and ``POST /api/v1/statements``) gets schema-valid and schema-invalid
requests generated from the document itself, on a registry with Codes,
organizations, endorsements, a checkpoint and a snapshot. For every response:

- schemathesis' checks: no 5xx (``not_a_server_error``), a documented status
  (``status_code_conformance``), a documented content type
  (``content_type_conformance``), a body matching the documented schema
  (``response_schema_conformance``), documented headers present
  (``response_headers_conformance``), and schema-invalid input refused with a
  4xx (``negative_data_rejection``);
- ours: every 4xx is a typed RFC 9457 problem (``application/problem+json``
  with ``type``, ``title`` and ``status`` equal to the HTTP status);
- for the submission endpoint: nothing is stored (the log size and the event
  store's last notification id are unchanged after every generated request;
  no generated envelope is validly signed). Besides schemathesis' bodies, it
  gets mutations of a validly signed envelope (recorded once beforehand, so a
  mutation that changes nothing is a duplicate, 200, and stores nothing either),
  well-formed statements signed with the wrong key, and raw byte noise.

Left out on purpose: ``positive_data_acceptance`` (the schema cannot say which
slugs exist or which cursors the API made, so schema-valid input is rightly
refused with 400/404), ``max_response_time`` (timing on a shared machine is
not a property of the code), and the stateful/auth checks (no links, no auth).

The default run makes about 300 requests on SQLite; the ``slow`` one 10,000
on SQLite and on PostgreSQL. Each prints how many requests it made.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import TestResponse

from registry import compose, envelope, keys
from registry.application import Registry
from registry.publish import publish_snapshot
from registry.transparency import open_log
from registry.views import open_read_models
from tests.conftest import ORIGIN, Actor, Backend, World, signing_world
from tests.test_web_api import HIROSHIMA, V1, populate

PROBLEM = "application/problem+json"
PROBLEM_TYPE_BASE = "https://hcoc-registry.org/problems/"
SUBMIT = "POST /api/v1/statements"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]
# What a raw (non-schemathesis) response is checked with: no case metadata, so no negative_data_rejection.
RAW_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
DEFAULT_BUDGET = 300
SLOW_BUDGET = 10_000


# --- the registry under test -------------------------------------------------------------


@dataclass
class Populated:
    """A populated registry behind an app, and a key that may sign for one of its organizations."""

    app: Flask
    world: World
    signer: Actor  # registered for organization FUZZ_ORG
    seed: bytes  # an envelope this signer signed, already recorded

    def sizes(self) -> tuple[int, int]:
        """The log size and the event store's last notification id (read from the store, not the app)."""
        registry: Registry = self.world.registry
        return registry.size(), registry.recorder.max_notification_id() or 0


FUZZ_ORG = "fuzz-org"


@contextlib.contextmanager
def populated_app(backend: Backend, **config: Any) -> Iterator[Populated]:
    """The story of tests/test_web_api.py, a signed checkpoint and snapshot, and one organization we hold."""
    with signing_world(backend) as world:
        populate(world)
        signer = Actor()
        world.org(FUZZ_ORG, signer)
        seed = signer.sign("endorsement.made", org=FUZZ_ORG, code=HIROSHIMA, version=V1, scope="all",
                           effective_date="2024-02-01")
        world.submit(seed)
        clock = open_log(backend.settings(), world.registry, with_signer=True)
        checkpoint, _ = clock.publish_checkpoint()
        assert checkpoint is not None
        views = open_read_models(backend.settings(), world.registry)
        snapshot, _ = publish_snapshot(clock)
        assert snapshot is not None
        views.store.datastore.close()
        clock.store.datastore.close()
        with backend.serve(**{"SUBMIT_RATE": "1000000/second", "FEED_PAGE_SIZE": 10, **config}) as app:
            yield Populated(app, world, signer, seed)


# --- checks of our own ---------------------------------------------------------------------


def assert_typed(status: int, content_type: str, body: bytes, where: str) -> None:
    """No 5xx; a 4xx is an RFC 9457 problem naming its own status."""
    assert status < 500, f"{where}: {status} {body[:300]!r}"
    if status < 400:
        return
    assert content_type.split(";")[0].strip() == PROBLEM, f"{where}: {status} answered as {content_type!r}"
    problem = json.loads(body)
    assert isinstance(problem, dict), where
    assert problem.get("status") == status, f"{where}: {problem}"
    assert isinstance(problem.get("title"), str) and problem["title"], f"{where}: {problem}"
    assert isinstance(problem.get("type"), str) and problem["type"].startswith(PROBLEM_TYPE_BASE), f"{where}: {problem}"


# --- the fuzzer ------------------------------------------------------------------------------


@dataclass
class Fuzz:
    """Runs generated cases against the app and keeps count."""

    populated: Populated
    schema: Any
    requests: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    store_checks: int = 0
    _operations: list[Any] = field(default_factory=list)

    def send(self, case: Any) -> None:
        label = case.operation.label
        submit = label == SUBMIT
        before = self.populated.sizes() if submit else None
        response = case.call()
        self.requests += 1
        self.statuses[(label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)
        content_type = (response.headers.get("content-type") or [""])[0]
        assert_typed(response.status_code, content_type, response.content, label)
        if submit:
            # Generated envelopes are never validly signed: a 2xx here would be a recorded forgery.
            assert response.status_code >= 400, f"a generated envelope was accepted: {case.body!r:.300}"
            assert self.populated.sizes() == before, f"a refused submission stored something: {case.body!r:.300}"
            self.store_checks += 1

    def send_raw(self, data: bytes, content_type: str = "application/json") -> TestResponse:
        """POST bytes that schemathesis would not produce; same checks, plus the duplicate rule."""
        before = self.populated.sizes()
        response = self.populated.app.test_client().post("/api/v1/statements", data=data, content_type=content_type)
        self.requests += 1
        self.statuses[(SUBMIT + " (raw)", response.status_code)] += 1
        operation = self.schema["/api/v1/statements"]["POST"]
        operation.Case(body={}, media_type="application/json").validate_response(response, checks=RAW_CHECKS)
        assert_typed(response.status_code, response.content_type or "", response.data, f"raw POST {data[:80]!r}")
        if response.status_code < 400:
            # Only a byte-for-byte restatement of the already recorded seed may be accepted, as a duplicate.
            body = response.get_json()
            assert response.status_code == 200 and body["duplicate"] is True, (data[:300], body)
            assert body["envelope_hash"] == envelope.parse(self.populated.seed).hash
        assert self.populated.sizes() == before, f"stored something for {data[:300]!r}"
        self.store_checks += 1
        return response

    def operation(self, label: str, mode: GenerationMode, examples: int) -> bool:
        """Up to ``examples`` generated cases of one operation; False if none can be generated in this mode."""
        operation = next(o for o in self.operations() if o.label == label)

        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate, Phase.shrink])
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            self.send(case)

        try:
            run()
        except Unsatisfiable:
            # e.g. no way to make an operation without parameters, or a plain string path parameter, invalid
            return False
        return True

    def operations(self) -> list[Any]:
        if not self._operations:
            self._operations = [result.ok() for result in self.schema.get_all_operations()]
        return self._operations

    def run(self, budget: int) -> None:
        """Spread ``budget`` requests over every (operation, mode), repeating passes until it is spent."""
        pairs = [(o.label, m) for o in self.operations() for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                 if m == GenerationMode.POSITIVE or can_be_invalid(o)]
        raw_share = budget // 5  # hand-made submissions (see raw_submissions)
        target = budget - raw_share
        possible = set(pairs)
        while self.requests < target and possible:
            before = self.requests
            active = [p for p in pairs if p in possible]
            for position, (label, mode) in enumerate(active):
                remaining = target - self.requests
                if remaining <= 0:
                    break
                quota = max(1, math.ceil(remaining / (len(active) - position)))
                if not self.operation(label, mode, quota):
                    possible.discard((label, mode))
            if self.requests == before:
                break
        raw_submissions(self, budget - self.requests)


def can_be_invalid(operation: Any) -> bool:
    """Whether any input of the operation has a schema-invalid value (a plain string path segment has none)."""
    raw = operation.definition.raw
    if "requestBody" in raw:
        return True
    return any(p["in"] != "path" or p["schema"] != {"type": "string"} for p in raw.get("parameters", []))


# --- hand-made submissions --------------------------------------------------------------------


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """Byte-level and JSON-level edits of a validly signed envelope."""
    doc = json.loads(seed)
    position = st.integers(0, len(seed) - 1)

    def flip(i: int, bit: int) -> bytes:
        raw = bytearray(seed)
        raw[i] ^= 1 << bit
        return bytes(raw)

    def with_field(path: tuple[str, ...], value: Any) -> bytes:
        edited = json.loads(seed)
        target = edited
        for key in path[:-1]:
            target = target[key]
            target = target[0] if isinstance(target, list) else target  # "signatures" holds one object
        target[path[-1]] = value
        return json.dumps(edited).encode()

    b64 = st.binary(max_size=96).map(lambda b: base64.b64encode(b).decode())
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                          max_size=3), max_leaves=6)
    fields = st.sampled_from([("payload",), ("payloadType",), ("signatures",), ("signatures", "keyid"),
                              ("signatures", "sig")])
    return st.one_of(
        st.builds(flip, position, st.integers(0, 7)),
        st.builds(lambda i: seed[:i], position),  # truncated
        st.builds(lambda i, junk: seed[:i] + junk + seed[i:], position, st.binary(min_size=1, max_size=8)),
        st.builds(with_field, fields, st.one_of(b64, json_values)),
        st.just(json.dumps(doc, indent=2).encode()),  # the same envelope, formatted: a duplicate
        st.just(seed + b"\n"),
    )


def wrong_signer(populated: Populated) -> st.SearchStrategy[bytes]:
    """Well-formed statements for the organization we hold, signed with a key that may not sign them."""
    impostor = keys.generate()

    def sign(kind: str, claim_keyid: bool) -> bytes:
        fields: dict[str, Any] = {"org": FUZZ_ORG, "code": HIROSHIMA, "effective_date": "2024-03-01"}
        fields |= {"reason": "fuzz"} if kind == "endorsement.withdrawn" else {"version": V1, "scope": [1]}
        signed = envelope.sign(compose.statement(kind, ORIGIN, **fields), impostor)
        env = signed.to_json()
        if claim_keyid:  # claims to be the organization's key: the signature cannot verify
            env["signatures"][0]["keyid"] = populated.signer.key_id
        return json.dumps(env).encode()

    return st.builds(sign, st.sampled_from(["endorsement.withdrawn", "endorsement.amended"]), st.booleans())


def raw_submissions(fuzz: Fuzz, budget: int) -> None:
    if budget <= 0:
        return
    media = st.sampled_from(["application/json", "application/vnd.hcoc-registry.envelope+json",
                             "application/json; charset=utf-8"])
    bodies = st.one_of(mutations(fuzz.populated.seed), wrong_signer(fuzz.populated), st.binary(max_size=256))

    @settings(max_examples=budget, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=bodies, content_type=media)
    def run(data: bytes, content_type: str) -> None:
        fuzz.send_raw(data, content_type)

    run()


# --- the tests ------------------------------------------------------------------------------------


def fuzz_everything(populated: Populated, budget: int) -> Fuzz:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", populated.app)
    fuzz = Fuzz(populated, schema)
    start = time.monotonic()
    fuzz.run(budget)
    elapsed = time.monotonic() - start
    labels = {o.label for o in fuzz.operations()}
    hit = {label.removesuffix(" (raw)") for label, _ in fuzz.statuses}
    by_status = Counter(status for _, status in fuzz.statuses.elements())
    print(f"\nschemathesis: {fuzz.requests} requests over {len(labels)} operations in {elapsed:.1f} s; "
          f"statuses {dict(sorted(by_status.items()))}; {fuzz.store_checks} submissions with the store checked")
    assert hit == labels, f"operations never called: {sorted(labels - hit)}"
    assert fuzz.requests >= budget * 0.9, f"only {fuzz.requests} requests of a budget of {budget}"
    assert fuzz.store_checks >= budget // 5
    # the generated requests reached the app's logic, not just its router: successes and refusals both
    assert by_status[200] > 0 and by_status[400] > 0 and by_status[404] > 0
    return fuzz


def test_openapi_fuzz(sqlite_backend: Backend) -> None:
    with populated_app(sqlite_backend) as populated:
        before = populated.sizes()
        fuzz_everything(populated, DEFAULT_BUDGET)
        assert populated.sizes() == before


@pytest.mark.slow
def test_openapi_fuzz_long(backend: Backend) -> None:
    with populated_app(backend) as populated:
        before = populated.sizes()
        fuzz_everything(populated, SLOW_BUDGET)
        assert populated.sizes() == before


def test_the_store_check_can_fail(sqlite_backend: Backend) -> None:
    """The submission check is not vacuous: a validly signed new statement is stored, and seen to be."""
    with populated_app(sqlite_backend) as populated:
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", populated.app)
        fuzz = Fuzz(populated, schema)
        fresh = populated.signer.sign("endorsement.amended", org=FUZZ_ORG, code=HIROSHIMA, scope=[1, 2],
                                      effective_date="2024-03-01")
        with pytest.raises(AssertionError):
            fuzz.send_raw(fresh)
        assert populated.sizes()[0] == populated.world.registry.size()

