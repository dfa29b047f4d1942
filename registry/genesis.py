"""What a new data directory starts with: its config file, its keys and its genesis records.

``registry init`` runs these steps in order, and each is safe to run again: it
keeps a config value, a key or a record that is already there. The genesis
records are the ``registry.genesis`` statement (naming the root key) and the
first ``maintainer.key_added``, both signed by the root key; the demo data (the
researched record in ``registry/data/commitments.json``) is loaded by
:mod:`registry.loader`.

What it does not do: print, or load key files. The caller loads the private
keys it signs with (they are files of the operator's, read by the shell).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from registry import compose, config, envelope, keys
from registry.application import Recorded, Registry
from registry.errors import ConfigurationError

KeyOutcome = Literal["created", "public only", "present"]


def write_config(current: config.Settings, origin: str | None, base_url: str | None) -> None:
    """Write the data directory's config file: the origin and base URL given, else those stored, else current's.

    Raises:
        ConfigurationError: the directory already belongs to another origin (an origin is fixed forever).
    """
    stored = config.read_config_file(current.data_dir)
    if origin and stored.get("origin") and stored["origin"] != origin:
        raise ConfigurationError(f"this data directory already belongs to origin {stored['origin']!r}")
    values = {
        "origin": origin or stored.get("origin") or current.origin,
        "base_url": base_url or stored.get("base_url") or current.base_url,
    }
    config.write_config_file(current.data_dir, values)


def key_files(settings: config.Settings) -> tuple[Path, Path, Path]:
    """The root, maintainer and log private key files, with the data directory's keys folder made owner-only."""
    (settings.data_dir / "keys").mkdir(mode=0o700, parents=True, exist_ok=True)
    return settings.root_key, settings.maintainer_key, settings.log_key


def ensure_key(path: Path) -> KeyOutcome:
    """Create the private key ``path`` (and its ``.pub``) unless it exists, or only its public key does."""
    if keys.public_path(path).exists() and not path.exists():
        # An imported mirror: it has the log's public key but not its private key. A new key
        # here would overwrite the public one and break every checkpoint's verification.
        return "public only"
    if path.exists():
        return "present"
    keys.save_private(keys.generate(), path)
    return "created"


def record_genesis(registry: Registry, origin: str, root: Any, maintainer: Any) -> bool:
    """Record the genesis statement and the first maintainer key in an empty registry; False if it is not empty."""
    if registry.size() != 0:
        return False
    _record(
        registry,
        compose.statement(
            "registry.genesis",
            origin,
            name="Hiroshima Code of Conduct registry",
            root_key=keys.encode_public(root),
        ),
        root,
    )
    _record(
        registry,
        compose.statement(
            "maintainer.key_added",
            origin,
            public_key=keys.encode_public(maintainer),
            name="maintainer (created by registry init)",
        ),
        root,
    )
    return True


def _record(registry: Registry, stmt: dict[str, Any], key: Any) -> Recorded:
    return registry.submit(envelope.sign(stmt, key).canonical)
