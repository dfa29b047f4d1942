"""Settings from ``REGISTRY_*`` environment variables and the data directory.

The data directory holds the keys (owner-only files), a small ``registry.json``
written by ``registry init`` (origin, base URL) and, by default, the SQLite
event store. Environment variables override the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from registry.errors import ConfigurationError

DEFAULT_DATA_DIR = "./instance"
DEFAULT_ORIGIN = "localhost/hcoc-registry"
CONFIG_FILE = "registry.json"


@dataclass(frozen=True)
class Settings:
    """Everything the registry needs to know about where it lives."""

    data_dir: Path
    database_url: str
    origin: str
    base_url: str
    root_key: Path
    maintainer_key: Path
    log_key: Path
    signed_at_past: int = 3600
    signed_at_future: int = 300
    feed_page_size: int = 500  # leaves per feed archive page (REGISTRY_FEED_PAGE_SIZE); part of every archive's URL
    # Seconds between the clock's integrate-and-sign runs when nothing wakes it (REGISTRY_CLOCK_INTERVAL): a
    # submission wakes it at once, so this bounds only a lost wake-up. Web processes promise it in every 201.
    clock_interval: float = 0.5
    # The largest document `registry evidence add` archives (REGISTRY_EVIDENCE_MAX_BYTES), in bytes.
    evidence_max_bytes: int = 20 * 1024 * 1024
    # Witnesses the clock asks to cosign each new checkpoint (REGISTRY_WITNESSES) and how many cosignatures
    # the registry tells clients to demand (REGISTRY_WITNESS_QUORUM; default: all of them).
    witnesses: tuple[WitnessEndpoint, ...] = ()
    witness_quorum: int = 0
    # How old the newest checkpoint's cosignature may grow before the clock asks the witness again
    # (REGISTRY_WITNESS_REFRESH_SECONDS): a quiet log must not look frozen to a monitor's --max-age.
    witness_refresh_seconds: float = 3600.0
    # Where the clock writes the public surface as files after each checkpoint (REGISTRY_PUBLISH_DIR; see
    # scripts/publishing.py); None: it does not.
    publish_dir: Path | None = None
    # How many of the newest leaves get a published receipt and log page (REGISTRY_PUBLISH_RECENT).
    publish_recent: int = 256
    extra: dict[str, str] = field(default_factory=dict)
    mirror: bool = False  # a mirror kept by `registry monitor` (registry.json "mirror"): it takes no submissions

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))


def data_root(data_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The data directory: ``data_dir``, else ``REGISTRY_DATA_DIR``, else ./instance."""
    env = os.environ if environ is None else environ
    return Path(data_dir or env.get("REGISTRY_DATA_DIR") or DEFAULT_DATA_DIR)


def load(data_dir: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings for a data directory (default from ``REGISTRY_DATA_DIR``, else ./instance)."""
    env = os.environ if environ is None else environ
    root = data_root(data_dir, env)
    stored = read_config_file(root)
    keys_dir = root / "keys"
    return Settings(
        data_dir=root,
        database_url=env.get("REGISTRY_DATABASE_URL") or stored.get("database_url") or default_database_url(root),
        origin=env.get("REGISTRY_ORIGIN") or stored.get("origin") or DEFAULT_ORIGIN,
        base_url=(env.get("REGISTRY_BASE_URL") or stored.get("base_url") or "http://127.0.0.1:8000").rstrip("/"),
        root_key=Path(env.get("REGISTRY_ROOT_KEY") or keys_dir / "root.key"),
        maintainer_key=Path(env.get("REGISTRY_MAINTAINER_KEY") or keys_dir / "maintainer.key"),
        log_key=Path(env.get("REGISTRY_LOG_KEY") or keys_dir / "log.key"),
        signed_at_past=int(env.get("REGISTRY_SIGNED_AT_PAST", "3600")),
        signed_at_future=int(env.get("REGISTRY_SIGNED_AT_FUTURE", "300")),
        feed_page_size=int(env.get("REGISTRY_FEED_PAGE_SIZE", "500")),
        clock_interval=_positive_seconds(env, "REGISTRY_CLOCK_INTERVAL", "0.5"),
        # 64 MiB at most: an export bundle carries each document on one line, and its reader bounds lines.
        evidence_max_bytes=_whole("REGISTRY_EVIDENCE_MAX_BYTES",
                                  env.get("REGISTRY_EVIDENCE_MAX_BYTES", str(20 * 1024 * 1024)),
                                  1, 64 * 1024 * 1024, "a number of bytes"),
        **_witness_settings(env),
        publish_dir=Path(env["REGISTRY_PUBLISH_DIR"]) if env.get("REGISTRY_PUBLISH_DIR") else None,
        publish_recent=_whole("REGISTRY_PUBLISH_RECENT", env.get("REGISTRY_PUBLISH_RECENT", "256"), 0, 1_000_000),
        extra={k: v for k, v in env.items() if k.startswith("REGISTRY_POSTGRES_")},
        mirror=stored.get("mirror") is True,
    )


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the registry asks: its base URL (POST <url>/add-checkpoint) and cosignature/v1 verifier key."""

    url: str
    vkey: str

    @property
    def label(self) -> str:
        """``name+hex(key ID)``: how the store, the logs and the metrics name this witness."""
        name, key_id, _ = self.vkey.split("+", 2)
        return f"{name}+{key_id}"


def parse_witnesses(text: str) -> tuple[WitnessEndpoint, ...]:
    """``REGISTRY_WITNESSES``: comma-separated ``URL VKEY`` pairs (one space between); empty for none.

    Raises:
        ConfigurationError: naming the entry: not two fields, not an http(s) URL with a host, not a
            cosignature/v1 (type 0x04) verifier key, or a witness key or URL listed twice.
    """
    from registry.errors import NoteError
    from registry.signednote import SIG_TYPE_COSIGNATURE_V1, parse_verifier_key

    found: list[WitnessEndpoint] = []
    for number, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            if text.strip():
                raise ConfigurationError(f"REGISTRY_WITNESSES: entry {number} is empty (a stray comma?)")
            continue
        fields = entry.split(" ")
        if len(fields) != 2:
            raise ConfigurationError(f"REGISTRY_WITNESSES: entry {number} must be 'URL VKEY' (one space), "
                                     f"not {entry!r}")
        url, vkey = fields[0].rstrip("/"), fields[1]
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query and not parts.fragment
        except ValueError:
            ok = False
        if not ok:
            raise ConfigurationError(f"REGISTRY_WITNESSES: entry {number}: {url!r} is not an http(s) base URL")
        try:
            verifier = parse_verifier_key(vkey)
        except NoteError as e:
            raise ConfigurationError(f"REGISTRY_WITNESSES: entry {number}: {e.message}") from None
        if verifier.sig_type != SIG_TYPE_COSIGNATURE_V1:
            raise ConfigurationError(f"REGISTRY_WITNESSES: entry {number}: the key is not a cosignature/v1 "
                                     "(type 0x04) witness key")
        endpoint = WitnessEndpoint(url, vkey)
        for other in found:
            if other.url == url or other.label == endpoint.label or parse_verifier_key(
                    other.vkey).public_key == verifier.public_key:
                raise ConfigurationError(f"REGISTRY_WITNESSES: entry {number} repeats a witness (URL or key)")
        found.append(endpoint)
    return tuple(found)


def _witness_settings(env: Any) -> dict[str, Any]:
    witnesses = parse_witnesses(env.get("REGISTRY_WITNESSES", ""))
    refresh = _positive_seconds(env, "REGISTRY_WITNESS_REFRESH_SECONDS", "3600")
    # By default all of them; at most the witnesses listed in REGISTRY_WITNESSES.
    quorum = _whole("REGISTRY_WITNESS_QUORUM", env.get("REGISTRY_WITNESS_QUORUM") or str(len(witnesses)),
                    0, len(witnesses))
    return {"witnesses": witnesses, "witness_quorum": quorum, "witness_refresh_seconds": refresh}


def _positive_seconds(env: Any, name: str, default: str) -> float:
    text = env.get(name, default)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 86400:  # also refuses nan and inf
        raise ConfigurationError(f"{name} must be a number of seconds above 0 and at most 86400, not {text!r}")
    return value


def _whole(name: str, text: str, low: int, high: int, what: str = "a whole number") -> int:
    """The whole number setting ``name`` within [low, high] (ASCII digits only), or a ConfigurationError."""
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise ConfigurationError(f"{name} must be {what} from {low} to {high}, not {text[:40]!r}")
    return int(text)


def default_database_url(root: Path) -> str:
    return f"sqlite:///{root / 'registry.db'}"


def has_local_registry(settings: Settings) -> bool:
    """Whether a registry lives where ``settings`` point: the data directory's ``registry.json``
    (``registry init`` and ``registry import`` write it), a database named explicitly, or the
    default SQLite file. Nothing is opened or created to find out.
    """
    default = default_database_url(settings.data_dir)
    return ((settings.data_dir / CONFIG_FILE).is_file() or settings.database_url != default
            or Path(default.removeprefix("sqlite:///")).is_file())


def stated_origin(data_dir: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> str | None:
    """The origin ``REGISTRY_ORIGIN`` or the data directory's ``registry.json`` names; None rather than the default."""
    env = os.environ if environ is None else environ
    origin = env.get("REGISTRY_ORIGIN") or read_config_file(data_root(data_dir, env)).get("origin")
    return origin if isinstance(origin, str) and origin else None


def read_config_file(root: Path) -> dict[str, Any]:
    path = root / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigurationError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must hold a JSON object")
    return data


def write_config_file(root: Path, values: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG_FILE).write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """The ``eventsourcing`` library's environment for the configured database."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path:
            raise ConfigurationError("sqlite URL needs a path: sqlite:///PATH")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigurationError(
                f"cannot create the directory of the SQLite database {path}: {e.strerror or e}"
            ) from None
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            # Writers from several processes wait for each other this long before we retry.
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "y",
        }
    if settings.is_postgres:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or not parts.path.strip("/") or port == -1:
            raise ConfigurationError("PostgreSQL URL must be postgresql://USER[:PASS]@HOST[:PORT]/DB")
        extra = settings.extra
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.strip("/"),
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": extra.get("REGISTRY_POSTGRES_POOL_SIZE", "2"),
            "POSTGRES_MAX_OVERFLOW": extra.get("REGISTRY_POSTGRES_MAX_OVERFLOW", "4"),
            "POSTGRES_LOCK_TIMEOUT": extra.get("REGISTRY_POSTGRES_LOCK_TIMEOUT", "10"),
            # Seconds to wait for a pooled connection; the library retries each call 10 times, so a
            # dead server must fail fast for a 503 to reach the client before gunicorn's timeout.
            "POSTGRES_CONNECT_TIMEOUT": extra.get("REGISTRY_POSTGRES_CONNECT_TIMEOUT", "2"),
            "POSTGRES_SCHEMA": extra.get("REGISTRY_POSTGRES_SCHEMA", "public"),
            "POSTGRES_PRE_PING": "y",
            # Never 'y': the library's DB functions drop the table lock and tailing readers miss events.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "CREATE_TABLE": "y",
        }
    raise ConfigurationError(
        f"unsupported database URL {redacted_url(url)!r}: use sqlite:///PATH or postgresql://..."
    )


def redacted_url(url: str) -> str:
    """``url`` with any password (and any query, which may hold one) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(an unparsable URL)"
    if parts.query:
        parts = parts._replace(query="***")
    if password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    return parts.geturl()


def database_label(settings: Settings) -> str:
    """The configured database for an operator's message: the SQLite path or the redacted URL."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return f"SQLite database {url[len('sqlite:///'):]}"
    return f"database {redacted_url(url)}"
