"""Envelope signatures checked in worker processes, in order, for long runs of log entries.

Checking an Ed25519 signature costs as much as reading a dozen stored rows, so
whoever checks many entries at once (the audit, the signer catching up on a
backlog) hands the signatures to a process pool in ordered chunks while it
folds the state itself. :class:`Signatures` keeps a few chunks in flight and
returns the failures in log order; with one worker it checks inline.

Worker processes are started with ``spawn`` (the parent holds database pools
and their threads), so a script that uses a pool must guard its entry point
with ``if __name__ == "__main__"``, as the ``registry`` command and pytest do.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

from registry import envelope
from registry.errors import RegistryError

CHUNK = 1000  # signatures per worker task


def verify_signatures(items: list[tuple[int, bytes, bytes]]) -> list[tuple[int, str]]:
    """Worker task: check (index, envelope JSON, signer public key) triples; return the failures in order.

    The caller has already parsed every envelope strictly, so a plain JSON decode recovers exactly
    the signed bytes here.
    """
    failures = []
    for index, data, public_key in items:
        try:
            obj = json.loads(data)
            signature = obj["signatures"][0]
            env = envelope.Envelope(payload=base64.b64decode(obj["payload"]), keyid=signature["keyid"],
                                    sig=base64.b64decode(signature["sig"]), payload_type=obj["payloadType"])
            envelope.verify(env, public_key)
        except RegistryError as e:
            failures.append((index, e.message))
        except (ValueError, KeyError, IndexError, TypeError) as e:
            failures.append((index, f"the envelope cannot be read: {e}"))
    return failures


class Signatures:
    """Ordered signature checking in a process pool (bounded: a few chunks in flight); inline when workers is 1."""

    def __init__(self, workers: int, chunk: int = CHUNK) -> None:
        # spawn, not fork: the parent holds database pools and their threads.
        self._pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
        self._chunk = chunk
        self._in_flight = 2 * workers
        self._batch: list[tuple[int, bytes, bytes]] = []
        self._running: deque[tuple[int, Future[list[tuple[int, str]]]]] = deque()
        self._failures: list[tuple[int, str]] = []
        self.checked = 0  # every signature before this index has a result (in ``failures``, if it failed)

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def add(self, index: int, data: bytes, public_key: bytes) -> None:
        if self._pool is None:
            self._failures += verify_signatures([(index, data, public_key)])
            self.checked = index + 1
            return
        self._batch.append((index, data, public_key))
        if len(self._batch) >= self._chunk:
            self._submit()

    def failures(self) -> list[tuple[int, str]]:
        """The failures found so far, in log order (more may come from chunks still running)."""
        return list(self._failures)

    def close(self) -> list[tuple[int, str]]:
        """Wait for every chunk; the failures in log order."""
        if self._pool is not None:
            self._submit()
            while self._running:
                self._collect()
            self._pool.shutdown()
            self._pool = None
        return self._failures

    def _submit(self) -> None:
        assert self._pool is not None
        if self._batch:
            end = self._batch[-1][0] + 1
            self._running.append((end, self._pool.submit(verify_signatures, self._batch)))
            self._batch = []
        while len(self._running) > self._in_flight:
            self._collect()

    def _collect(self) -> None:
        end, future = self._running.popleft()
        self._failures += future.result()
        self.checked = end

    def __enter__(self) -> Signatures:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
