"""What every ``registry`` command shares: the stores of one run, opened lazily, or the remote registry it talks
to; and progress lines for long runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from registry import config
from registry.application import Registry
from registry.errors import ConfigurationError
from registry.node import Node
from registry.transparency import TransparencyLog
from registry.views import ReadModels

if TYPE_CHECKING:
    from scripts.cli.remote import Remote


class Context:
    """The settings and the stores of one command: a :class:`~registry.node.Node`, opened part by part on use.

    With ``--registry URL`` the commands that sign, submit or fetch receipts talk to that registry
    instead (:attr:`remote`) and never touch the data directory.
    """

    def __init__(self, data_dir: str | None, registry_url: str | None = None, log_key_pin: str | None = None) -> None:
        self.data_dir = data_dir
        self.registry_url = registry_url or None
        self.log_key_pin = log_key_pin or None
        self._node: Node | None = None
        self._remote: Remote | None = None

    @property
    def settings(self) -> config.Settings:
        return config.load(self.data_dir)

    def local(self) -> config.Settings:
        """The settings of the local registry this command works on; refused, creating nothing, if there is none."""
        settings = self.settings
        if config.has_local_registry(settings):
            return settings
        found = click.get_current_context(silent=True)
        command = found.command_path if found is not None else "this command"
        where = f"there is no registry in {settings.data_dir.absolute()} (no {config.CONFIG_FILE} there)"
        if self.registry_url is not None:
            raise ConfigurationError(f"`{command}` works on a local data directory only, and {where}; --registry "
                                     "serves the commands that sign or submit statements, receipt and status")
        raise ConfigurationError(f"{where}; nothing was created. Create one with `registry init` (or point "
                                 "--data-dir or REGISTRY_DATA_DIR at one), or talk to a registry with --registry URL")

    @property
    def remote(self) -> Remote | None:
        """The registry of ``--registry URL``, discovered and its log key trusted on first use; None without it."""
        if self.registry_url is None:
            return None
        if self._remote is None:
            from scripts.cli.remote import Remote

            self._remote = Remote.connect(self.registry_url, self.log_key_pin)
        return self._remote

    def origin(self, printing: bool = False) -> str:
        """The origin to sign for: the remote registry's, else the local one's. A statement only printed
        needs no local registry, but an origin stated somewhere (``REGISTRY_ORIGIN``, ``registry.json``):
        never the default, which is no registry's.
        """
        remote = self.remote
        if remote is not None:
            return remote.discovery.origin
        if not printing:
            return self.local().origin
        stated = config.stated_origin(self.data_dir)
        if stated is not None:
            return stated
        settings = self.settings
        if config.has_local_registry(settings):
            return settings.origin
        raise ConfigurationError(f"no registry to sign for: none in {settings.data_dir.absolute()} (no "
                                 f"{config.CONFIG_FILE}) "
                                 "and no --registry URL; give --registry URL (or REGISTRY_URL), or set "
                                 "REGISTRY_ORIGIN to the registry's origin")

    @property
    def node(self) -> Node:
        if self._node is None:
            self._node = Node(self.local(), signer=False)
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
