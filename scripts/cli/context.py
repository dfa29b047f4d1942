"""What every ``registry`` command shares: the stores of one run, opened lazily, and progress lines for long runs."""

from __future__ import annotations

from typing import Any

import click

from registry import config
from registry.application import Registry
from registry.node import Node
from registry.transparency import TransparencyLog
from registry.views import ReadModels


class Context:
    """The settings and the stores of one command: a :class:`~registry.node.Node`, opened part by part on use."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir
        self._node: Node | None = None

    @property
    def settings(self) -> config.Settings:
        return config.load(self.data_dir)

    @property
    def node(self) -> Node:
        if self._node is None:
            self._node = Node(self.settings, signer=False)
        return self._node

    @property
    def registry(self) -> Registry:
        return self.node.registry

    def log(self, signer: bool = False) -> TransparencyLog:
        return self.node.signing() if signer else self.node.log

    def views(self) -> ReadModels:
        # Bounded by what the log has integrated; commands that record (submit, endorse, ...) integrate.
        return self.node.views

    def close(self) -> None:
        if self._node is not None:
            self._node.close()


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
