"""The app under benchmark, plus a trivial route serving fixed bytes (the baseline of ``bench feeds``).

``/bench/fixed.atom`` answers with the bytes of the subscription feed as they were at start-up and
the same headers (ETag, Cache-Control, Content-Type), 304 on a matching If-None-Match, and does no
other work: the same server, workers and middleware, minus everything the feed view does.
"""

from __future__ import annotations

from flask import Flask, Response, request

from web import create_app as create_registry_app


def create_app() -> Flask:
    app = create_registry_app()
    fixed: dict[str, object] = {}

    @app.get("/bench/fixed.atom")
    def fixed_feed() -> Response:
        if not fixed:  # the feed's bytes and headers, taken once from the real route
            with app.test_client() as client:
                response = client.get("/feeds/events.atom")
            fixed.update(body=response.get_data(), etag=response.headers["ETag"].strip('"'),
                         headers={k: response.headers[k] for k in ("Content-Type", "Cache-Control", "ETag")})
        headers = fixed["headers"]
        if request.if_none_match.contains_weak(str(fixed["etag"])):
            return Response(b"", status=304, headers=headers)  # type: ignore[arg-type]
        return Response(fixed["body"], headers=headers)  # type: ignore[arg-type]

    return app
