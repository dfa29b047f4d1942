"""A monitor's alerts and watch lines: their JSON format, the evidence files, and the files that keep them.

What it does: an :class:`Alert` is one problem a monitor found (a fork, a
rollback, a bad signature, tiles that do not hash to the signed root, an
entry that fails the audit, a frozen log, anything unverifiable, an archived
document served with bytes that are not its own), with the
evidence saved as files in the mirror's data directory so anyone can check it
offline. :class:`AlertBook` keeps them, one JSON line each, in
``monitor/alerts.jsonl`` and says whether an alert is new: the same problem
(same kind, same signed checkpoints) is reported once, not every round.
Watch lines (new verified entries that match a ``--watch`` filter) are kept
the same way in ``monitor/watch.jsonl``. Both files feed the Atom feeds the
mirror serves (``web/monitor.py``). The line formats are docs/FORMATS.md
section 23.

What it does not do: decide what is a problem (``registry.monitor``), print
or serve anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALERT_FORMAT = "hcoc-registry/alert/v1"
WATCH_FORMAT = "hcoc-registry/watch/v1"
KINDS = ("fork", "rollback", "bad-signature", "tiles", "invalid-entry", "freeze", "unverifiable", "evidence")
MONITOR_DIR = "monitor"
ALERTS_FILE = "alerts.jsonl"
WATCH_FILE = "watch.jsonl"
EVIDENCE_DIR = "evidence"
FEED_ENTRIES = 200  # newest lines an Atom feed shows


@dataclass(frozen=True)
class Alert:
    """One problem, with the bytes that prove it (file name -> content), saved as evidence."""

    kind: str
    message: str
    accepted_size: int | None = None
    served_size: int | None = None
    evidence: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}")

    def identity(self, origin: str) -> str:
        """The same problem gets the same id: its kind, origin and evidence bytes (never the time)."""
        digest = hashlib.sha256(f"{ALERT_FORMAT}\n{self.kind}\n{origin}\n".encode())
        for name in sorted(self.evidence):
            content = self.evidence[name]
            digest.update(f"{name}\n{len(content)}\n".encode() + content)
        return digest.hexdigest()[:32]


def alert_line(alert: Alert, *, origin: str, registry: str, time: str, evidence: list[str]) -> dict[str, Any]:
    """The JSON object of one alert (docs/FORMATS.md section 23)."""
    return {
        "format": ALERT_FORMAT, "id": alert.identity(origin), "kind": alert.kind, "time": time, "origin": origin,
        "registry": registry, "message": alert.message, "accepted_size": alert.accepted_size,
        "served_size": alert.served_size, "evidence": evidence,
    }


class AlertBook:
    """The alerts and watch lines of one mirror, in ``DIR/monitor/``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.dir = data_dir / MONITOR_DIR
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)

    @property
    def alerts_path(self) -> Path:
        return self.dir / ALERTS_FILE

    @property
    def watch_path(self) -> Path:
        return self.dir / WATCH_FILE

    def known(self, alert_id: str) -> bool:
        return any(line.get("id") == alert_id for line in read_lines(self.alerts_path))

    def record(self, alert: Alert, *, origin: str, registry: str, time: str) -> dict[str, Any] | None:
        """Save the evidence and keep the alert line; None when this very alert was reported before."""
        alert_id = alert.identity(origin)
        if self.known(alert_id):
            return None
        where = self.dir / EVIDENCE_DIR / alert_id
        where.mkdir(mode=0o755, parents=True, exist_ok=True)
        paths = []
        for name, content in sorted(alert.evidence.items()):
            if "/" in name or name.startswith("."):
                raise ValueError(f"not an evidence file name: {name!r}")
            write_atomic(where / name, content)
            paths.append(str((where / name).relative_to(self.data_dir)))
        line = alert_line(alert, origin=origin, registry=registry, time=time, evidence=paths)
        _append(self.alerts_path, line)
        return line

    def watch(self, line: dict[str, Any]) -> None:
        _append(self.watch_path, line)


def read_lines(path: Path, newest: int | None = None) -> list[dict[str, Any]]:
    """The JSON lines of a file (a torn last line, from a crash while appending, is skipped)."""
    if not path.exists():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines if newest is None else lines[-newest:]


def _append(path: Path, value: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(value, sort_keys=True, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` so that a reader sees the old bytes or the new, never a mix."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def lines_newest_first(path: Path) -> Iterator[dict[str, Any]]:
    yield from reversed(read_lines(path, FEED_ENTRIES))
