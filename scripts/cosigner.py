"""The clock's witness requests: each configured witness asked in a thread of its own, never in the signer's way.

What it does: after each new checkpoint (and again after a pause while the
newest one lacks its cosignature) a thread per witness POSTs the
add-checkpoint body (``registry.cosigning``) to ``<url>/add-checkpoint``, with
the consistency proof from the size the registry believes the witness holds:
the largest size it has a stored cosignature of from that witness, else 0. A
409 names the witness's size: the request is made again once, with the proof
from that size. A cosignature line is verified against the configured key
before it is stored. Every request's outcome is a JSON line on stderr and a
count in the store (``/metrics`` shows both the counts and the newest size
each witness cosigned).

Signing never waits for any of this: the integrate-and-sign thread only sets
an event. A witness that is down, slow (each request is bounded:
``TIMEOUT`` seconds to connect and per read, three times that in all) or that
refuses costs its own thread only, and is asked again after a growing pause
(``RETRY_SECONDS`` doubling up to ``MAX_RETRY_SECONDS``) or at the next new
checkpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from registry import config, cosigning
from registry.cosigning import Outcome
from registry.errors import NoteError, RemoteError
from registry.logstore import StoredCheckpoint
from registry.signednote import NoteVerifier
from registry.times import format_time
from registry.transparency import TransparencyLog
from scripts.httpclient import Client

TIMEOUT = 3.0
RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0
ANSWER_LIMIT = 64 * 1024

Emit = Callable[..., None]


class WitnessAsker:
    """Keeps one witness's cosignature of the newest checkpoint, in a thread of its own."""

    def __init__(self, endpoint: config.WitnessEndpoint, log: TransparencyLog, log_verifier: NoteVerifier,
                 emit: Emit, timeout: float = TIMEOUT, on_cosigned: Callable[[], None] | None = None,
                 refresh: float = 3600.0) -> None:
        self.endpoint = endpoint
        self.refresh = refresh
        self.on_cosigned = on_cosigned  # told of each stored cosignature (the publisher rewrites the checkpoint)
        self.label = endpoint.label
        self.log = log
        self.log_verifier = log_verifier
        self.verifier = cosigning.witness_verifier(endpoint)
        self.emit = emit
        self.client = Client(endpoint.url, timeout)
        self.believed: int | None = None  # learnt from the store at the first round
        self.pause = RETRY_SECONDS
        self._due = threading.Event()
        self._due.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"witness {self.label}", daemon=True)

    def wake(self) -> None:
        self.pause = RETRY_SECONDS  # a new checkpoint: ask at once, and soon again if that fails
        self._due.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3 * TIMEOUT + 1) -> None:
        self._stop.set()
        self._due.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._due.wait(self.pause)
            if self._stop.is_set():
                return
            self._due.clear()
            try:
                done = self.round()
            except Exception as e:  # the store failed, say: try again later, never end the thread
                self.emit("witness_error", level="error", witness=self.label, error=f"{type(e).__name__}: {e}")
                done = False
            self.pause = RETRY_SECONDS if done else min(self.pause * 2, MAX_RETRY_SECONDS)

    def round(self) -> bool:
        """Ask for the newest checkpoint's cosignature unless stored already; whether it is there now."""
        latest = self.log.latest_checkpoint()
        if latest is None:
            return True
        held = [line for w, line in self.log.store.cosignatures(latest.size) if w == self.label]
        if held and not self._stale(held[0]):
            return True
        if held:
            self.believed = latest.size  # a refresh: the witness holds this size, the proof is empty
        elif self.believed is None:
            self.believed = self.log.store.cosigned_sizes().get(self.label, 0)
        outcome, size = self.ask(latest, self.believed)
        if outcome is Outcome.CONFLICT and size is not None:
            if size <= latest.size:
                self.believed = size
                outcome, _ = self.ask(latest, size)  # once, with the proof from the size it holds
            else:
                # It holds more of this log than the registry ever signed: a fork was cosigned, or the witness
                # is wrong. Said loudly; the next round starts again from what the store says.
                self.believed = None
                self.emit("witness_ahead", level="error", witness=self.label, url=self.endpoint.url,
                          size=latest.size, witness_size=size,
                          detail="the witness holds a larger tree of this log than its newest checkpoint")
        return outcome is Outcome.COSIGNED

    def _stale(self, line: str) -> bool:
        # A checkpoint carries no time; only a fresh cosignature tells a monitor (--max-age) that a quiet log
        # is idle, not frozen. The witness re-cosigns the size it holds (old size = size, no proof).
        made = cosigning.line_timestamp(line)
        return made is None or time.time() - made >= self.refresh

    def ask(self, latest: StoredCheckpoint, old: int) -> tuple[Outcome, int | None]:
        """One request; (outcome, the witness's size if it answered 409)."""
        fields: dict[str, Any] = {"witness": self.label, "url": self.endpoint.url, "size": latest.size,
                                  "old_size": old}
        proof = self.log.consistency(old, latest.size) if 0 < old < latest.size else []
        body = cosigning.request_body(old, proof, latest.note)
        try:
            answer = self.client.post(f"{self.endpoint.url}/add-checkpoint", body, "text/plain; charset=utf-8",
                                      ANSWER_LIMIT)
        except RemoteError as e:
            return self._done(Outcome.UNREACHABLE, fields, level="warning", detail=e.message)
        fields["status"] = answer.status
        if answer.status == 200:
            try:
                line = cosigning.verified_line(latest.note, self.log.origin, self.log_verifier, answer.body,
                                               self.verifier)
            except NoteError as e:
                return self._done(Outcome.BAD_ANSWER, fields, level="error", detail=e.message)
            self.log.store.add_cosignature(latest.size, self.label, line, _now())
            self.believed = latest.size
            if self.on_cosigned is not None:
                self.on_cosigned()
            return self._done(Outcome.COSIGNED, fields)
        detail = answer.body[:300].decode("utf-8", "replace").strip()
        if answer.status == 409:
            size = cosigning.parse_size(answer.body)
            if size is None or answer.headers.get_content_type() != "text/x.tlog.size":
                return self._done(Outcome.BAD_ANSWER, fields, level="error", detail=f"a 409 without a size: {detail}")
            return self._done(Outcome.CONFLICT, fields, level="warning", witness_size=size)[0], size
        if 400 <= answer.status < 500:
            return self._done(Outcome.REFUSED, fields, level="error", detail=detail)
        return self._done(Outcome.ERROR, fields, level="warning", detail=detail)

    def _done(self, outcome: Outcome, fields: dict[str, Any], **more: Any) -> tuple[Outcome, None]:
        self.log.store.count_witness_request(self.label, outcome.value, _now())
        self.emit("witness", outcome=outcome.value, **fields, **more)
        return outcome, None


class Cosigner:
    """One :class:`WitnessAsker` per configured witness; nothing at all without witnesses."""

    def __init__(self, settings: config.Settings, log: TransparencyLog, log_verifier: NoteVerifier | None,
                 emit: Emit, on_cosigned: Callable[[], None] | None = None) -> None:
        self.askers = [] if log_verifier is None else [
            WitnessAsker(w, log, log_verifier, emit, on_cosigned=on_cosigned, refresh=settings.witness_refresh_seconds)
            for w in settings.witnesses]

    def start(self) -> None:
        for asker in self.askers:
            asker.start()

    def wake(self) -> None:
        for asker in self.askers:
            asker.wake()

    def stop(self, budget: float = 2.0) -> None:
        """Stop every asker; a request under way gets ``budget`` seconds in all, then is left (daemon
        threads): an unanswered request changes nothing here, and the witness keeps what it cosigned."""
        for asker in self.askers:
            asker._stop.set()
            asker._due.set()
        deadline = time.monotonic() + budget
        for asker in self.askers:
            asker.stop(max(0.0, deadline - time.monotonic()))


def _now() -> str:
    return format_time(datetime.now(UTC))
