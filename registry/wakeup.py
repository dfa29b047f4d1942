"""Waking the clock when an entry lands, so that a checkpoint covers it at once rather than at the next tick.

A process that records a statement calls :meth:`Waker.wake` once it has
integrated it; the clock process runs a :class:`Listener`, which calls back
on every wake-up from a thread of its own. The backend picks the mechanism:

- PostgreSQL: ``NOTIFY`` (``pg_notify``) on a channel named after the schema,
  so two registries on one server never wake each other, sent through the
  store's connection pool; the clock ``LISTEN``\\ s on a connection of its own.
- SQLite (one host): one byte sent to a Unix datagram socket in the data
  directory (``clock.sock``, owner-only) that the clock binds.

A wake-up is a hint, nothing more. Sending never blocks and never fails a
submission (no clock running is normal); a lost wake-up costs at most the
clock's polling interval; and what the clock does when woken is what it does
on every tick (idempotent, signing under the signer lock).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from registry import config
from registry.sqlstore import postgres_connection

SOCKET_NAME = "clock.sock"
STOP_CHECK_SECONDS = 0.5  # how long a listener thread waits before looking at its stop flag again
LISTEN_WAIT_SECONDS = 10.0  # how long starting waits for the first LISTEN before the clock goes on polling
RECONNECT_MAX_SECONDS = 10.0

log = logging.getLogger("registry.wakeup")


def channel(settings: config.Settings) -> str:
    """The ``NOTIFY`` channel of a registry: one per schema, a plain lowercase identifier."""
    schema = settings.extra.get("REGISTRY_POSTGRES_SCHEMA", "public")
    return "hcoc_wake_" + hashlib.sha256(f"hcoc-registry wake {schema}".encode()).hexdigest()[:16]


def socket_path(settings: config.Settings) -> Path:
    """Where the clock of a SQLite registry listens: in the data directory that web and clock share."""
    return settings.data_dir / SOCKET_NAME


# --- the sending side ----------------------------------------------------------------


class Waker(Protocol):
    def wake(self) -> None: ...

    def close(self) -> None: ...


class SocketWaker:
    """Sends one byte to the clock's socket; never blocks, and ignores every failure."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def wake(self) -> None:
        # No socket file or a stale one (no clock running), or a full queue (the clock has wake-ups
        # pending already): each is fine, and the clock's polling covers anything else.
        with contextlib.suppress(OSError):
            self._sock.sendto(b"w", self.path)

    def close(self) -> None:
        self._sock.close()


class NotifyWaker:
    """``pg_notify`` through a pooled connection (the store's own), after the submission committed."""

    def __init__(self, channel: str, datastore: Any) -> None:
        self.channel = channel
        self.datastore = datastore

    def wake(self) -> None:
        try:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", (self.channel,))
        except Exception as e:  # the statement is recorded: the clock's polling will find it
            log.warning("could not wake the clock (it will find the entry within its interval): %s", e)

    def close(self) -> None:
        pass  # the pool is the store's, closed with it


def open_waker(settings: config.Settings, datastore: Any) -> Waker:
    """The waker of this backend; ``datastore`` is a store's PostgreSQL datastore (unused with SQLite)."""
    if settings.is_postgres:
        return NotifyWaker(channel(settings), datastore)
    return SocketWaker(socket_path(settings))


# --- the listening side ----------------------------------------------------------------


class Listener:
    """Calls ``on_wake`` from a thread of its own for each wake-up (closely spaced ones may merge)."""

    mechanism = "none"

    def __init__(self, on_wake: Callable[[], None]) -> None:
        self.on_wake = on_wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start listening; whether wake-ups can arrive (if not, the clock polls only)."""
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_CHECK_SECONDS * 4 + 5)

    def _spawn(self, target: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=target, name=f"wakeup-{self.mechanism}", daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        try:
            self.on_wake()
        except Exception:
            log.exception("a wake-up callback failed")


class SocketListener(Listener):
    """Binds ``clock.sock`` (owner-only) and reads one datagram per wake-up."""

    mechanism = "unix-socket"

    def __init__(self, path: Path, on_wake: Callable[[], None]) -> None:
        super().__init__(on_wake)
        self.path = path
        self._sock: socket.socket | None = None
        self._inode: int | None = None

    def start(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            _remove_socket_file(self.path)
            sock.bind(str(self.path))
            os.chmod(self.path, 0o600)  # only the owner (the web processes' user) may wake the clock
            self._inode = os.stat(self.path).st_ino
        except OSError as e:  # a path too long for AF_UNIX, a read-only directory, a file in the way
            sock.close()
            log.warning("the clock cannot receive wake-ups at %s (%s); it polls only", self.path, e)
            return False
        sock.settimeout(STOP_CHECK_SECONDS)
        self._sock = sock
        self._spawn(self._run)
        return True

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                self._sock.recv(64)
            except TimeoutError:
                continue
            except OSError as e:
                log.warning("reading wake-ups failed: %s", e)
                self._stop.wait(STOP_CHECK_SECONDS)
                continue
            self._wake()

    def close(self) -> None:
        super().close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            # Only our own socket: a clock started since may have taken the path over.
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self._inode:
                    os.unlink(self.path)


def _remove_socket_file(path: Path) -> None:
    """Remove a socket left at ``path``: a killed clock's (stale) or a running one's (taken over).

    A clock that starts while another runs (during a deploy) takes the wake-ups; the older one keeps
    polling until it stops. Anything but a socket is the operator's and stays: binding then fails.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(mode):
        os.unlink(path)


class NotifyListener(Listener):
    """``LISTEN`` on a dedicated connection; reconnects (and wakes once) after losing it."""

    mechanism = "postgres-notify"

    def __init__(self, settings: config.Settings, on_wake: Callable[[], None]) -> None:
        super().__init__(on_wake)
        self.settings = settings
        self.channel = channel(settings)
        self._listening = threading.Event()

    def start(self) -> bool:
        self._spawn(self._run)
        # Wait for the first LISTEN, so that a submission right after the clock says it started wakes it.
        if not self._listening.wait(LISTEN_WAIT_SECONDS):
            log.warning("the clock is not listening for wake-ups yet; it polls until it is")
        return True

    def _run(self) -> None:
        from psycopg import sql

        pause = STOP_CHECK_SECONDS
        while not self._stop.is_set():
            try:
                with postgres_connection(self.settings, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    pause = STOP_CHECK_SECONDS
                    self._listening.set()
                    self._wake()  # for whatever landed while nobody listened
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=STOP_CHECK_SECONDS):
                            self._wake()
            except Exception as e:
                log.warning("listening for wake-ups failed (retrying in %.1f s; the clock polls meanwhile): %s",
                            pause, e)
            self._stop.wait(pause)
            pause = min(pause * 2, RECONNECT_MAX_SECONDS)


def open_listener(settings: config.Settings, on_wake: Callable[[], None]) -> Listener:
    """The listener of this backend (not started)."""
    if settings.is_postgres:
        return NotifyListener(settings, on_wake)
    return SocketListener(socket_path(settings), on_wake)
