"""The two SQL dialects the projections speak: SQLite and PostgreSQL.

Projection stores write SQL once, with ``%s`` placeholders and ``{t}`` where
a table name needs its schema; these mixins turn it into what each driver
wants. Rows come back as tuples either way (:func:`cols`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry import config
from registry.errors import StorageUnavailableError


def cols(row: Any) -> tuple[Any, ...]:
    """A result row as a tuple: psycopg is set up by the library to return dict rows, sqlite3 tuples."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


class SQLiteDialect:
    """SQLite: ``?`` placeholders, BLOB, tables in the store's own file."""

    blob_type = "BLOB"

    def _q(self, sql: str) -> str:
        return sql.replace("{t}", "").replace("%s", "?")

    def _blob_literal(self, value: bytes) -> str:
        return f"x'{value.hex()}'"

    def _create_statements(self) -> list[str]:
        raise NotImplementedError

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self._create_statements()]  # type: ignore[misc]


class PostgresDialect:
    """PostgreSQL: ``%s`` placeholders, BYTEA, tables in the configured schema."""

    blob_type = "BYTEA"
    datastore: Any
    sql_create_statements: list[Any]

    def _q(self, sql: str) -> str:
        return sql.replace("{t}", f'"{self.datastore.schema}".')

    def _blob_literal(self, value: bytes) -> str:
        return f"'\\x{value.hex()}'::bytea"

    def _create_statements(self) -> list[str]:
        raise NotImplementedError

    def _register_create_statements(self) -> None:
        from psycopg.sql import SQL

        self.sql_create_statements.extend(SQL(s) for s in self._create_statements())  # type: ignore[arg-type]


def open_with_retry(open_store: Any, attempts: int = 20, deadline: float = 15.0) -> Any:
    """Open a store, retrying while another process holds the lock its schema set-up needs.

    SQLite answers "database is locked" at once, without waiting, when a transaction that has
    read must upgrade to write under contention; table creation at start-up does exactly that.
    PostgreSQL processes racing to create the same schema collide on its unique rows.

    Raises:
        StorageUnavailableError: the store could not be opened (a server that does not answer,
            a file that cannot be opened or is not a database, or contention that did not end).
    """
    import random
    import sqlite3
    import time

    from eventsourcing.persistence import (
        IntegrityError,
        InternalError,
        OperationalError,
        PersistenceError,
        ProgrammingError,
    )

    give_up = time.monotonic() + deadline
    for attempt in range(attempts):
        try:
            return open_store()
        # Several processes creating the same tables at once (gunicorn workers at first start) collide
        # on the library's schema-version row, on CREATE TYPE or on the catalog ("tuple concurrently
        # updated"): the loser just tries again. A server that gave no connection at all is no race.
        except (OperationalError, IntegrityError, InternalError, ProgrammingError) as e:
            if attempt == attempts - 1 or time.monotonic() > give_up or _no_connection(e):
                raise _unavailable(e) from e
            time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
        except (PersistenceError, sqlite3.Error, *_driver_errors()) as e:
            raise _unavailable(e) from e
    raise AssertionError("unreachable")


def _unavailable(e: BaseException) -> StorageUnavailableError:
    # The library's and the drivers' messages name no password (the URL is never part of them).
    reason = " ".join(str(e).split()) or type(e).__name__
    return StorageUnavailableError(f"the store could not be opened: {reason}")


def _no_connection(e: BaseException) -> bool:
    """Whether the PostgreSQL pool got no connection: the server is down or refuses us."""
    return type(e.__cause__).__name__ == "PoolTimeout"


def _driver_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:  # SQLite-only installations
        return ()
    return (psycopg.Error,)


def postgres_connection(settings: Any, connect_timeout: int = 10) -> Any:
    """A connection of its own to the configured PostgreSQL database, in autocommit mode (outside any pool).

    For what must not share a pooled connection: a session-level advisory lock, a ``LISTEN``.
    """
    import psycopg

    env = config.eventsourcing_env(settings)
    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"] or None, autocommit=True,
        connect_timeout=connect_timeout,
    )


def sidecar_path(settings: Any, name: str) -> Path:
    """The SQLite file of the ``name`` store (log, views) beside the event store's file."""
    events = Path(settings.database_url[len("sqlite:///"):])
    return events.with_name(f"{events.stem}-{name}{events.suffix or '.db'}")


def open_tracking_store(settings: Any, name: str, sqlite_cls: Any, postgres_cls: Any) -> Any:
    """A store of ours beside the event store: its own SQLite file, or the same PostgreSQL database.

    ``name`` is the eventsourcing environment name (``log``, ``views``), so its settings are read as
    ``<NAME>_SQLITE_DBNAME`` and so on; the store is the library's tracking recorder of ``*_cls``.
    """
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    from registry import config

    env = config.eventsourcing_env(settings)
    cls = postgres_cls
    if not settings.is_postgres:
        env[f"{name.upper()}_SQLITE_DBNAME"] = str(sidecar_path(settings, name))
        cls = sqlite_cls
    return open_with_retry(lambda: InfrastructureFactory.construct(Environment(name, env)).tracking_recorder(cls))
