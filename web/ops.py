"""Operations endpoints: liveness, readiness, Prometheus metrics; request ids.

``/healthz`` answers as long as the process serves requests. ``/readyz``
checks that the event store answers and that the transparency log is caught
up within a bound (``REGISTRY_READY_MAX_LAG`` entries, default 100). ``/metrics``
exposes this worker's request counts and latencies and the registry's gauges
(tree size, store size, lag, last checkpoint age, the clock's job runs and
failures, the clock's requests to witnesses and their cosignatures). Counters
are per worker process, as gunicorn workers share nothing.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from registry.errors import RegistryError
from registry.times import parse_time
from web import get_log, get_registry, refresh

bp = Blueprint("ops", __name__)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    from flask import current_app

    registry = get_registry()
    try:
        refresh()  # at most once a second: checks, integrates and catches up, so a stuck catch-up shows here
        stored = registry.size()
        integrated = get_log().size()
    except RegistryError as e:  # a catch-up that cannot move: not ready, say why
        return jsonify({"status": "unavailable", "reason": e.code, "detail": e.message}), 503
    except Exception as e:  # the store is down: not ready, say why
        return jsonify({"status": "unavailable", "reason": f"{type(e).__name__}"}), 503
    halt = registry.ledger.halted
    if halt is not None:
        # A stored entry failed its checks: nothing after it is accepted or signed until an operator acts.
        return jsonify({"status": "halted", "index": halt.index, "reason": halt.reason, "stored": stored,
                        "tree_size": integrated}), 503
    lag = stored - integrated
    bound = int(current_app.config.get("READY_MAX_LAG", 100))
    status = 200 if lag <= bound else 503
    return jsonify({"status": "ok" if status == 200 else "lagging", "stored": stored, "tree_size": integrated,
                    "lag": lag, "max_lag": bound}), status


@bp.get("/metrics")
def metrics() -> Response:
    from flask import current_app

    return Response(generate_latest(current_app.extensions["metrics"]), mimetype=CONTENT_TYPE)


class RegistryCollector:
    """Gauges read at scrape time from the store, the log and the clock's job record."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Any:
        with self.app.app_context():
            log = self.app.extensions["node"].log
            stored = self.app.extensions["node"].registry.size()
            size = log.size()
            yield GaugeMetricFamily("registry_tree_size", "Leaves integrated into the transparency log", size)
            yield GaugeMetricFamily("registry_store_size", "Statements recorded in the event store", stored)
            yield GaugeMetricFamily("registry_log_lag", "Statements recorded but not yet in the tree", stored - size)
            halt = self.app.extensions["node"].registry.ledger.halted
            yield GaugeMetricFamily("registry_log_halted", "1 when a stored entry failed its checks and the log "
                                    "stopped before it", 0 if halt is None else 1)
            if halt is not None:
                yield GaugeMetricFamily("registry_log_halted_index", "The stored entry that failed its checks",
                                        halt.index)
            latest = log.latest_checkpoint()
            age = GaugeMetricFamily("registry_checkpoint_age_seconds", "Age of the latest signed checkpoint")
            if latest is not None:
                age.add_metric([], (datetime.now(UTC) - parse_time(latest.published_at)).total_seconds())
                yield GaugeMetricFamily("registry_checkpoint_size", "Tree size of the latest checkpoint", latest.size)
            yield age
            runs = CounterMetricFamily("registry_job_runs", "Clock job runs", labels=["job"])
            failures = CounterMetricFamily("registry_job_failures", "Clock job failures", labels=["job"])
            for name, count, failed, _, _ in log.store.jobs():
                runs.add_metric([name], count)
                failures.add_metric([name], failed)
            yield runs
            yield failures
            yield from self._witnesses(log, latest)

    def _witnesses(self, log: Any, latest: Any) -> Any:
        """What the clock's requests to the witnesses gave (counted in the store, as the clock runs elsewhere)."""
        requests = CounterMetricFamily("registry_witness_requests", "Requests the clock made to each witness, by "
                                       "outcome", labels=["witness", "outcome"])
        for witness, outcome, count in log.store.witness_requests():
            requests.add_metric([witness, outcome], count)
        yield requests
        sizes = GaugeMetricFamily("registry_witness_cosigned_size", "The largest checkpoint size each witness "
                                  "has cosigned", labels=["witness"])
        for witness, size in sorted(log.store.cosigned_sizes().items()):
            sizes.add_metric([witness], size)
        yield sizes
        count = 0 if latest is None else len(log.store.cosignatures(latest.size))
        yield GaugeMetricFamily("registry_checkpoint_cosignatures", "Witness cosignatures of the latest "
                                "checkpoint", count)
        quorum = self.app.extensions["node"].settings.witness_quorum
        yield GaugeMetricFamily("registry_checkpoint_quorum_met", "1 when the latest checkpoint has the "
                                "configured quorum of witness cosignatures", 1 if count >= quorum else 0)


class JSONLogFormatter(logging.Formatter):
    """The app's own log records as JSON lines, with the request id when there is a request."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "process": "web",
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        if has_request_context():
            entry |= {"request_id": g.get("request_id"), "method": request.method, "path": request.path}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, sort_keys=True, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (servers and tests swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def init_app(app: Flask) -> None:
    handler = _StderrHandler()
    handler.setFormatter(JSONLogFormatter())
    app.logger.handlers = [handler]
    registry = CollectorRegistry()
    requests = Counter("registry_http_requests", "HTTP requests", ["method", "endpoint", "status"],
                       registry=registry)
    latency = Histogram("registry_http_request_seconds", "HTTP request latency", ["endpoint"], registry=registry)
    registry.register(RegistryCollector(app))
    app.extensions["metrics"] = registry

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        endpoint = request.endpoint or "unknown"
        requests.labels(request.method, endpoint, str(response.status_code)).inc()
        latency.labels(endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    app.register_blueprint(bp)
