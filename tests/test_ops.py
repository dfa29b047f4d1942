"""Health, readiness and metrics endpoints; request ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from registry import keys
from registry.transparency import open_log
from tests.conftest import Backend, make_world
from web import close_app, create_app


@pytest.fixture
def client(backend: Backend) -> Iterator[tuple[FlaskClient, Backend]]:
    settings = backend.settings()
    keys.save_private(keys.generate(), settings.log_key)
    registry = backend.open()
    world = make_world(registry)
    world.code()
    log = open_log(settings, registry, with_signer=True)
    log.publish_checkpoint()
    app = create_app({"DATA_DIR": str(backend.data_dir),
                      "ENVIRON": {**backend.env, "REGISTRY_ORIGIN": settings.origin, "REGISTRY_READY_MAX_LAG": "1"}})
    app.extensions["test_world"] = world
    try:
        yield app.test_client(), backend
    finally:
        close_app(app)
        registry.close()


def test_health_ready_and_metrics(client: tuple[FlaskClient, Backend]) -> None:
    c, _ = client
    assert c.get("/healthz").json == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json["lag"] == 0
    world = c.application.extensions["test_world"]
    world.org("late-1")
    world.org("late-2")  # two statements recorded by another process, not yet integrated
    lagging = c.get("/readyz")
    assert lagging.status_code == 503 and lagging.json["lag"] == 2
    text = c.get("/metrics").get_data(as_text=True)
    assert "registry_tree_size 3.0" in text and "registry_log_lag 2.0" in text
    assert "registry_checkpoint_age_seconds" in text and 'registry_http_requests_total{endpoint="ops.readyz"' in text


def test_request_ids(client: tuple[FlaskClient, Backend]) -> None:
    c, _ = client
    assert c.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    generated = c.get("/healthz", headers={"X-Request-Id": "bad id; Injected=1 " + "x" * 80}).headers["X-Request-Id"]
    assert len(generated) == 32 and "Injected" not in generated


def test_app_logs_are_json_lines_with_the_request_id(client: tuple[FlaskClient, Backend], capsys) -> None:
    import json

    c, _ = client

    @c.application.get("/_log_probe")  # a route that logs, added for this test only
    def probe() -> str:
        c.application.logger.warning("probe message")
        return "ok"

    assert c.get("/_log_probe", headers={"X-Request-Id": "req-42"}).status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    record = next(r for r in lines if r["message"] == "probe message")
    assert record["request_id"] == "req-42" and record["path"] == "/_log_probe" and record["level"] == "WARNING"
