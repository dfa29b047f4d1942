"""The composition root: the stores one process opens, opened and closed one way.

What it does: a :class:`Node` holds the settings and, opened on first use,
the registry application (the event store and its checked ledger), the
transparency log (with the log's private key only in the signing process)
and the read models (bounded by what the log has integrated). The web app,
the clock, the command line and the benchmarks all open their stores through
it, so a store is opened with the same options everywhere and ``close()``
closes exactly what was opened, in reverse order.

What it does not do: no HTTP, no scheduling, no feeds; it runs no job (see
``registry.jobs``) and reads no environment (``registry.config`` does).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import TracebackType

from registry import config
from registry.application import AnchorSource, Registry, open_registry
from registry.evidence import EvidenceStoreMixin, open_evidence_store
from registry.transparency import TransparencyLog, open_log
from registry.views import ReadModels, open_read_models
from registry.wakeup import Waker, open_waker

SNAPSHOT_EVERY_LEAVES = 1000
SNAPSHOT_EVERY = timedelta(days=1)


class Node:
    """Everything one process needs: settings, registry, log and read models, each opened on first use."""

    def __init__(self, settings: config.Settings, *, signer: bool = False, workers: int | None = None,
                 anchor: AnchorSource | None = None) -> None:
        self.settings = settings
        self.anchor = anchor
        self.signer = signer
        # The signer checks every entry itself; a long backlog has its signatures checked on every core.
        self.workers = workers if workers is not None else (2 if signer else 1)
        self.snapshot_every_leaves = SNAPSHOT_EVERY_LEAVES
        self.snapshot_every = SNAPSHOT_EVERY
        self._registry: Registry | None = None
        self._log: TransparencyLog | None = None
        self._views: ReadModels | None = None
        self._evidence: EvidenceStoreMixin | None = None
        self._waker: Waker | None = None
        self._waker_lock = threading.Lock()

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self.settings, workers=self.workers, anchor=self.anchor)
        return self._registry

    @property
    def log(self) -> TransparencyLog:
        if self._log is None:
            self._log = open_log(self.settings, self.registry, with_signer=self.signer)
        return self._log

    @property
    def views(self) -> ReadModels:
        if self._views is None:
            # Bounded by what the log has integrated: the read models never show a leaf ahead of it.
            self._views = open_read_models(self.settings, self.registry, bound=lambda: self.log.size())
        return self._views

    @property
    def evidence(self) -> EvidenceStoreMixin:
        """The archived documents, beside the log (same database and pool)."""
        if self._evidence is None:
            self._evidence = open_evidence_store(self.log.store)
        return self._evidence

    def signing(self) -> TransparencyLog:
        """The log with its signer (loading the log's private key), reopening it if it was opened without."""
        if not self.signer:
            self.signer = True
            if self._log is not None:
                self._log.store.datastore.close()
                self._log = self._evidence = None
        return self.log

    def integrate(self) -> int:
        """Integrate new entries into the tree, then the read models (what every writer does after a write)."""
        self.log.catch_up()
        return self.views.catch_up()

    def wake_clock(self) -> None:
        """Tell the clock process that an entry landed (after integrating it): a hint that never blocks or fails."""
        with self._waker_lock:  # web workers are threaded: one waker per process
            if self._waker is None:
                self._waker = open_waker(self.settings, self.log.store.datastore)
            waker = self._waker
        waker.wake()

    def open(self) -> Node:
        """Open every part now (a long-running process fails at start, not at its first request)."""
        self.log.size()  # opens the registry and the log
        self.views.store.head()  # and the read models
        return self

    def close(self) -> None:
        """Close what was opened, newest first; the node may be opened again afterwards."""
        views, log, registry = self._views, self._log, self._registry
        self._views = self._log = self._registry = None
        self._evidence = None
        with self._waker_lock:
            waker, self._waker = self._waker, None
        if waker is not None:
            waker.close()
        if views is not None:
            views.store.datastore.close()
        if log is not None:
            log.store.datastore.close()
        if registry is not None:
            registry.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def open_node(settings: config.Settings, *, signer: bool = True, workers: int | None = None) -> Node:
    """A node with every part opened."""
    return Node(settings, signer=signer, workers=workers).open()
