"""What every ``registry`` command shares: the stores of one run, opened lazily, and progress lines for long runs."""

from __future__ import annotations

from typing import Any

import click

from registry import config
from registry.application import Registry, open_registry
from registry.transparency import TransparencyLog, open_log
from registry.views import ReadModels, open_read_models


class Context:
    """Lazily opened settings and application for one command."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir
        self._registry: Registry | None = None
        self._log: TransparencyLog | None = None
        self._views: ReadModels | None = None

    @property
    def settings(self) -> config.Settings:
        return config.load(self.data_dir)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self.settings)
        return self._registry

    def log(self, signer: bool = False) -> TransparencyLog:
        if self._log is None or (signer and self._log.signer is None):
            if self._log is not None:
                self._log.store.datastore.close()
            self._log = open_log(self.settings, self.registry, with_signer=signer)
        return self._log

    def views(self) -> ReadModels:
        if self._views is None:
            # Bounded by what the log has integrated; commands that record (submit, endorse, ...) integrate.
            self._views = open_read_models(self.settings, self.registry, bound=lambda: self.log().size())
        return self._views

    def close(self) -> None:
        if self._views is not None:
            self._views.store.datastore.close()
        if self._log is not None:
            self._log.store.datastore.close()
        if self._registry is not None:
            self._registry.close()


pass_ctx = click.make_pass_decorator(Context)


def progress_reporter(verb: str) -> Any:
    """A progress callback for long runs: a line on stderr at most every five seconds."""
    import time

    started = last = time.monotonic()

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 5:
            last = now
            click.echo(f"{verb} {done} of {total} entries ({now - started:.0f} s)", err=True)

    return report
