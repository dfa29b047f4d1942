"""The clock's and the witness server's event lines stay whole when several threads log at once."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts import jsonlog

THREADS = 8
EACH = 400
# Larger than a text stream's buffer, so every write flushes, and the flush's OS write lets another thread in:
# with ``print``'s two writes (text, then newline) that is where two records ran together on one line.
PADDING = "x" * 10_000


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """sys.stderr to a real line-buffered file (inside the test: pytest sets its own capture before each phase)."""
    saved, interval = sys.stderr, sys.getswitchinterval()
    with path.open("w", encoding="utf-8", buffering=1) as stream:
        sys.stderr = stream
        # Switch threads as often as possible, so that any gap between a record and its newline is hit.
        sys.setswitchinterval(1e-6)
        try:
            yield
        finally:
            sys.stderr = saved
            sys.setswitchinterval(interval)


def hammer(target) -> None:  # type: ignore[no-untyped-def]
    start = threading.Barrier(THREADS)

    def run(n: int) -> None:
        start.wait()
        for i in range(EACH):
            target(n, i)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_events_are_whole_lines(tmp_path: Path) -> None:
    stderr_file = tmp_path / "stderr"
    with stderr_to(stderr_file):
        hammer(lambda n, i: jsonlog.emit("clock", "job", thread=n, i=i, padding=PADDING))
    records = [json.loads(line) for line in stderr_file.read_text().splitlines()]
    assert len(records) == THREADS * EACH
    assert {(r["thread"], r["i"]) for r in records} == {(n, i) for n in range(THREADS) for i in range(EACH)}
    assert {r["process"] for r in records} == {"clock"} and {r["event"] for r in records} == {"job"}


def test_library_log_records_and_events_do_not_run_together(tmp_path: Path) -> None:
    stderr_file = tmp_path / "stderr"
    logger = logging.getLogger("test.jsonlog")
    handler = jsonlog.LineHandler()
    handler.setFormatter(logging.Formatter('{"library": "%(message)s"}'))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with stderr_to(stderr_file):
            hammer(lambda n, i: logger.warning("%d-%d-%s", n, i, PADDING) if i % 2
                   else jsonlog.emit("witness", "e", i=i, padding=PADDING))
    finally:
        logger.removeHandler(handler)
    records = [json.loads(line) for line in stderr_file.read_text().splitlines()]
    assert len(records) == THREADS * EACH
    assert sum("library" in r for r in records) == THREADS * EACH // 2
