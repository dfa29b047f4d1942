"""One JSON object per line on stderr: the event log of the clock and the witness server.

Both write from several threads (the scheduler's jobs, the publisher, the request handlers). ``print`` writes
the text and its newline in two calls, so two threads could run their records together on one line, which a
log reader then cannot parse; each record here is one write, under one lock.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

_lock = threading.Lock()


def record(process: str, event: str, **fields: Any) -> str:
    """The line (without its newline) for one event of ``process``."""
    return json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "process": process,
                       "event": event, **fields}, sort_keys=True, default=str)


def write(line: str) -> None:
    """Write one line to stderr whole."""
    with _lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def emit(process: str, event: str, **fields: Any) -> None:
    write(record(process, event, **fields))


class LineHandler(logging.Handler):
    """A logging handler that writes each formatted record through ``write`` (so library log lines and our
    events never run together either)."""

    def emit(self, entry: logging.LogRecord) -> None:
        try:
            write(self.format(entry))
        except Exception:
            self.handleError(entry)
