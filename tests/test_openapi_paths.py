"""The OpenAPI document matches every tile path shape, as an OpenAPI 3.1 validator (openapi-core) reads it.

C2SP tile paths contain ``/`` (``/tile/0/x001/234``, ``/tile/entries/000.p/5``):
a path template matches one segment per parameter, so the document lists each
shape. Here openapi-core must find an operation for every real tile path the
app serves (and for tile indexes of every length up to 2**64), take its
parameters apart, and accept the app's real answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from registry import tiles
from tests.conftest import Backend, sign_checkpoint, signing_world
from web.openapi import document

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_dict(document(BASE))


def request_for(path: str) -> WerkzeugOpenAPIRequest:
    return WerkzeugOpenAPIRequest(Request(EnvironBuilder(path=path, base_url=BASE).get_environ()))


@pytest.mark.parametrize(("level", "index", "width"), [
    (0, 2, 71), (None, 1234, None), (None, 0, None), (5, 1_002_003, 7), (63, 2**64 - 1, None), (None, 2**64 - 1, 255),
    (0, 999, None),
])
def test_every_tile_path_shape_is_matched_and_parsed(spec: OpenAPI, level: int | None, index: int,
                                                     width: int | None) -> None:
    path = "/tile/" + tiles.format_tile_path(level, index, width)
    result = spec.unmarshal_request(request_for(path))
    assert not result.errors, (path, result.errors)
    found = result.parameters.path
    groups = [found[f"i{g}"] for g in range(len([k for k in found if k.startswith("i")]))]
    assert int("".join(groups)) == index
    assert found.get("level") == level and found.get("width") == width


@pytest.mark.parametrize("path", ["/tile/0/1234", "/tile/0/x1/234", "/tile/64/000", "/tile/0/000.p/256",
                                  "/tile/entries/000.p/0"])
def test_a_path_the_log_refuses_is_not_valid_for_the_document_either(spec: OpenAPI, path: str) -> None:
    assert spec.unmarshal_request(request_for(path)).errors


@pytest.fixture
def served(sqlite_backend: Backend) -> Iterator[Any]:
    with signing_world(sqlite_backend) as world:
        for slug in ("a", "b", "c"):
            world.org(slug)
        sign_checkpoint(sqlite_backend, world.registry)
    with sqlite_backend.serve() as app:
        yield app


def test_the_apps_real_tile_answers_validate(spec: OpenAPI, served: Any) -> None:
    client = served.test_client()
    for path in ("/tile/0/000.p/5", "/tile/entries/000.p/5"):
        response = client.get(path)
        assert response.status_code == 200, path
        request = request_for(path)
        assert not spec.unmarshal_request(request).errors, path
        assert not spec.unmarshal_response(request, WerkzeugOpenAPIResponse(response)).errors, path
