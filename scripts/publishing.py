"""``registry publish DIR``: the read-only public surface of the registry, written as files.

What it does: :class:`Publisher` writes into a directory, at the paths the
site serves them (docs/FORMATS.md section 24 gives the layout), the latest
checkpoint, every Merkle tile and entry bundle it justifies, receipts of the
newest leaves against it, the snapshots, the discovery and OpenAPI
documents, every feed (the subscription feeds, every complete archive page,
per organization, per Code, per statement type, obligations; Atom and RSS)
and a static copy of the HTML pages and their assets. A front server
(``deploy/nginx.conf``) serves the directory and passes everything else to
the application.

Same bytes by construction: everything but the tiles and bundles is fetched
from the application itself (``create_app`` and its test client), so a file
holds exactly what the site answers at that path. Tiles and bundles, which a
log of a million entries has thousands of, are read from the log's stores by
the functions the site's tile views use (:mod:`registry.tilesource`).

Consistent: one run reads the latest checkpoint once, and every tile, bundle
and receipt it writes is for that checkpoint's tree size; tiles and bundles
are written before the checkpoint that justifies them, so a reader who finds
a checkpoint finds its tiles. Feeds and pages are what the application
serves at that moment (each names the checkpoint it carries).

Incremental: a small state file (``.publish-state.json``) records the tree
size published last and the files that a later run replaces or removes. Full
tiles, full bundles, complete feed archive pages and snapshots at a size
never change: each is written once and never again, even if the state file is
lost (an existing file is left alone). Anything else is compared with the
file on disk and written only if its bytes differ. A publisher that runs
again (the clock's) skips the run when nothing it depends on moved since its
own last run: the checkpoint, the read models' head, the day, the latest
snapshot and the state file.

Archived evidence: every document ``registry evidence add`` archived (or a
mirror fetched) is written once at ``evidence/<sha256>.<ext>``, the extension
from its media type, so the front server can serve ``/evidence/<sha256>`` with
the application's headers; the file names themselves are not paths of the site.

Extra publishers: ``Publisher(extras=...)`` takes functions called once per
run with the :class:`Run` (after the checkpoint is written), for resources
published by other parts of the registry.

Atomic per file: every file is written to a temporary file in its own
directory, flushed to disk and renamed over the old one, so a reader sees the
old file or the new one, never part of either.

Removed files: a partial tile or bundle that a later run supersedes (it grew,
or became full) is deleted after the new checkpoint is written; receipts and
log entry pages are kept for the ``recent`` newest leaves only (a receipt
against the newest checkpoint changes with every checkpoint, so keeping all
of them would rewrite the whole log each time). The front server passes any
path it has no file for to the application, which answers older partial
tiles, older receipts and everything dynamic.

What it does not do: sign anything, write outside its directory, or follow
symbolic links out of it; two runs on one directory wait for each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from feeds.archive import archive_count
from registry import config, evidence, tiles, tilesource
from registry.errors import ConfigurationError, PublishError, RegistryError
from registry.statements import STATEMENT_TYPES

FORMAT = "hcoc-registry/published/v1"
STATE_FILE = ".publish-state.json"
LOCK_FILE = ".publish-lock"
FEED_FORMATS = ("atom", "rss")
# Resources whose path is also a directory of other resources: their file gets a suffix (see file_for).
SUFFIXED = {"/api/v1/snapshots": ".json"}
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
PROGRESS_SECONDS = 2.0


# --- the layout (pure) --------------------------------------------------------------------------


def file_for(path: str, content_type: str = "") -> str:
    """The file (relative to the published directory) that holds what the site serves at ``path``.

    Most resources are at their own path. A path ending in ``/`` is its ``index.html``; an HTML page
    is ``<path>.html`` (pages such as ``/codes`` are also directories of other pages); the few data
    resources that are directories too get the suffix ``SUFFIXED`` names.

    Raises:
        ValueError: not an absolute path of plain segments (no empty, ``.``-led or ``..`` segment).
    """
    if not path.startswith("/") or "?" in path or "\\" in path or "\x00" in path:
        raise ValueError(f"not a site path: {path!r}")
    if path == "/":
        return "index.html"
    inner = path[1:-1] if path.endswith("/") else path[1:]
    for segment in inner.split("/"):
        if not segment or (segment.startswith(".") and segment != ".well-known"):
            raise ValueError(f"not a site path: {path!r}")
    if path.endswith("/"):
        return f"{inner}/index.html"
    if content_type.startswith("text/html"):
        return f"{inner}.html"
    return inner + SUFFIXED.get(path, "")


# --- files ----------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a flushed temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # world-readable: the front server's workers run as another user
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")  # what write_atomic's mkstemp names look like


def sweep_temporary_files(root: Path) -> int:
    """Delete the temporary files a killed run left under ``root``; how many. Call it holding the lock."""
    swept = 0
    for path in root.rglob(".*.tmp"):
        if _TEMPORARY.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            swept += 1
    return swept


@dataclass
class Report:
    """What one run did: files written (by kind), left as they were, deleted; bytes written; seconds."""

    size: int = 0
    previous_size: int = 0
    written: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    deleted: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "previous_size": self.previous_size, "written": sum(self.written.values()),
                "written_by_kind": dict(sorted(self.written.items())), "unchanged": self.unchanged,
                "deleted": self.deleted, "bytes": self.bytes, "seconds": round(self.seconds, 3)}


class Writer:
    """Writes files under one directory, each only when its bytes change (or once, for immutable ones)."""

    def __init__(self, root: Path, report: Report) -> None:
        self.root = root
        self.report = report

    def path(self, relative: str) -> Path:
        return self.root / relative

    def put(self, relative: str, data: bytes, kind: str, *, once: bool = False) -> bool:
        """Write ``data`` unless the file holds it already (``once``: unless the file exists); True if written."""
        target = self.path(relative)
        try:
            if once and target.is_file():
                self.report.unchanged += 1
                return False
            if not once and target.stat().st_size == len(data) and target.read_bytes() == data:
                self.report.unchanged += 1
                return False
        except FileNotFoundError:
            pass
        write_atomic(target, data)
        self.report.written[kind] = self.report.written.get(kind, 0) + 1
        self.report.bytes += len(data)
        return True

    def delete(self, relative: str) -> None:
        try:
            self.path(relative).unlink()
        except FileNotFoundError:
            return
        self.report.deleted += 1


# --- the state file -------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """What the last run published: the tree size, and the files a later run replaces or removes."""

    size: int = 0
    checkpoint_sha256: str | None = None
    partial_tiles: tuple[str, ...] = ()  # paths after tile/
    recent: tuple[int, int] = (0, 0)  # [first, stop) of the leaves with a published receipt and log page
    archive_pages: int = 0  # complete feed archive pages written (each in every format)

    def to_json(self, origin: str) -> dict[str, Any]:
        return {"format": FORMAT, "origin": origin, "size": self.size, "checkpoint_sha256": self.checkpoint_sha256,
                "partial_tiles": list(self.partial_tiles), "recent": list(self.recent),
                "archive_pages": self.archive_pages}


def parse_state(data: bytes, origin: str) -> State:
    """A state file's contents, checked; an unusable one is an error (the operator moves it away).

    Raises:
        ConfigurationError: not a state file of this format and origin.
    """
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT!r}")
        if doc.get("origin") != origin:
            raise ValueError(f"it was written for the origin {doc.get('origin')!r}, not {origin!r}")
        size, archive_pages = doc["size"], doc["archive_pages"]
        first, stop = doc["recent"]
        partials = doc["partial_tiles"]
        checkpoint = doc["checkpoint_sha256"]
        numbers = (size, archive_pages, first, stop)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
            raise ValueError("size, archive_pages and recent must be non-negative integers")
        if not isinstance(partials, list) or not all(isinstance(p, str) for p in partials):
            raise ValueError("partial_tiles must be a list of tile paths")
        for p in partials:
            tiles.parse_tile_path(p)
        if checkpoint is not None and not (isinstance(checkpoint, str) and re.fullmatch(r"[0-9a-f]{64}", checkpoint)):
            raise ValueError("checkpoint_sha256 must be 64 lowercase hex digits")
    except (ValueError, KeyError, TypeError, RegistryError) as e:
        raise ConfigurationError(f"{STATE_FILE} of the published directory is unusable: {e}; move it away "
                                 "to publish everything again") from None
    return State(size, checkpoint, tuple(partials), (first, stop), archive_pages)


# --- the publisher --------------------------------------------------------------------------------


@dataclass
class Run:
    """One publication in progress: what extra publishers (``Publisher.extras``) get."""

    app: Flask
    client: Any  # the app's test client
    writer: Writer
    size: int  # the tree size of the checkpoint being published
    previous: State
    progress: Callable[[str], None]

    def page(self, path: str, kind: str, *, once: bool = False) -> bytes:
        """GET ``path`` from the application and write what it serves at the file :func:`file_for` names."""
        data, content_type = self.get(path)
        self.writer.put(file_for(path, content_type), data, kind, once=once)
        return data

    def get(self, path: str) -> tuple[bytes, str]:
        """The body and content type the application serves at ``path`` (a query string included); 200 only."""
        response = self.client.get(path)
        try:
            if response.status_code != 200:
                raise PublishError(f"{path} answered {response.status_code}, not 200: "
                                   f"{response.get_data()[:200].decode('utf-8', 'replace')}")
            return bytes(response.get_data()), response.content_type or ""
        finally:
            response.close()  # files (static assets) are streamed: close them


Extra = Callable[[Run], None]


class Publisher:
    """Publishes one registry into directories; keeps its application open between runs (the clock's)."""

    def __init__(self, settings: config.Settings, environ: Mapping[str, str] | None = None, *,
                 recent: int | None = None, extras: tuple[Extra, ...] = ()) -> None:
        from web import create_app

        self.settings = settings
        self.recent = settings.publish_recent if recent is None else recent
        if self.recent < 0:
            raise ConfigurationError("the number of recent leaves to publish receipts for cannot be negative")
        # Hook for other published resources: each is called once per run,
        # after the checkpoint is written, with the Run.
        self.extras = extras
        self._done: tuple[Any, ...] | None = None  # what the last complete run published (see publish)
        self.app = create_app({"DATA_DIR": str(settings.data_dir),
                               "ENVIRON": dict(os.environ if environ is None else environ)})

    def close(self) -> None:
        from web import close_app

        close_app(self.app)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def publish(self, root: Path, progress: Callable[[str], None] | None = None) -> Report:
        """Bring ``root`` up to the latest checkpoint; what was written."""
        say = progress or (lambda _message: None)
        started = time.perf_counter()
        root.mkdir(parents=True, exist_ok=True)
        report = Report()
        with _locked(root), self.app.app_context():
            from web import get_node, refresh

            head = refresh(force=True)  # the feeds and pages below see everything integrated so far
            previous = self._state(root)
            report.previous_size = previous.size
            client = self.app.test_client()
            served = client.get("/checkpoint")
            if served.status_code == 404:
                say("no checkpoint has been signed yet: nothing to publish")
                report.seconds = time.perf_counter() - started
                return report
            if served.status_code != 200:
                raise PublishError(f"/checkpoint answered {served.status_code}")
            note = bytes(served.get_data())
            size = _note_size(note)
            report.size = size
            # What every published byte depends on. Unchanged since this publisher's last complete run into
            # this directory (the clock's idle runs): nothing to do. The first run of a process always checks
            # everything, so a new release's pages are written at its first run.
            snapshot = get_node().log.store.snapshot()
            # An archived document changes no checkpoint (``registry evidence add`` records nothing in the log):
            # their number is part of what a run depends on.
            fingerprint = (str(root.resolve()), hashlib.sha256(note).hexdigest(), head,
                           time.strftime("%Y-%m-%d", time.gmtime()), None if snapshot is None else snapshot.size,
                           get_node().evidence.count(), previous)
            if fingerprint == self._done and (root / STATE_FILE).is_file():
                report.seconds = time.perf_counter() - started
                return report
            report.deleted += sweep_temporary_files(root)  # left by a run that was killed while writing
            run = Run(self.app, client, Writer(root, report), size, previous, say)
            node = get_node()
            partials = self._log_files(run, node)
            run.writer.put("checkpoint", note, "checkpoint")  # after the tiles it justifies
            for stale in sorted(set(previous.partial_tiles) - set(partials)):
                run.writer.delete(f"tile/{stale}")
            recent = self._recent(run)
            self._documents(run)
            pages = self._feeds(run)
            self._pages(run)
            self._evidence(run, node)
            for extra in self.extras:
                extra(run)
            state = State(size, hashlib.sha256(note).hexdigest(), tuple(partials), recent, pages)
            encoded = (json.dumps(state.to_json(self.settings.origin), indent=2, sort_keys=True) + "\n").encode()
            path = root / STATE_FILE
            if not path.is_file() or path.read_bytes() != encoded:  # a run that changed nothing writes nothing
                write_atomic(path, encoded)
            self._done = (*fingerprint[:-1], state)
        report.seconds = time.perf_counter() - started
        return report

    def _state(self, root: Path) -> State:
        path = root / STATE_FILE
        if not path.is_file():
            return State()
        return parse_state(path.read_bytes(), self.settings.origin)

    # --- the log: tiles, bundles, receipts -----------------------------------------------------

    def _log_files(self, run: Run, node: Any) -> list[str]:
        """Every full tile and bundle not written yet, and the partial ones of this size; the partial paths."""
        size, old, writer = run.size, min(run.previous.size, run.size), run.writer
        store, registry = node.log.store, node.registry
        ticker = _Ticker(run.progress)
        level = 0
        while size >> (tiles.TILE_HEIGHT * level):
            first = (old >> (tiles.TILE_HEIGHT * level)) // tiles.TILE_WIDTH
            stop = (size >> (tiles.TILE_HEIGHT * level)) // tiles.TILE_WIDTH
            for index in range(first, stop):
                path = f"tile/{tiles.format_tile_path(level, index)}"
                if not writer.path(path).is_file():  # never read, let alone rewritten, once there
                    writer.put(path, tilesource.hash_tile(store, level, index, tiles.TILE_WIDTH), "tile", once=True)
                ticker.tick(f"tiles: level {level}, {index + 1}/{stop}")
            level += 1
        first, stop = old // tiles.TILE_WIDTH, size // tiles.TILE_WIDTH
        while first < stop and writer.path(f"tile/{tiles.format_tile_path(None, first)}").is_file():
            first += 1  # already there (a run that stopped before its state file was written)
        for index, data in tilesource.full_bundles(registry, first, stop):
            writer.put(f"tile/{tiles.format_tile_path(None, index)}", data, "bundle", once=True)
            ticker.tick(f"entry bundles: {index + 1}/{stop}")
        partials = tiles.tiles_for_size(size)
        for path in partials:
            parsed = tiles.parse_tile_path(path)
            width = parsed.width or tiles.TILE_WIDTH
            if parsed.level is None:
                data = tilesource.entry_bundle(registry, parsed.index, width)
            else:
                data = tilesource.hash_tile(store, parsed.level, parsed.index, width)
            writer.put(f"tile/{path}", data, "partial_tile")
        return partials

    def _recent(self, run: Run) -> tuple[int, int]:
        """Receipts (against this checkpoint) and log entry pages of the newest leaves; the range published."""
        size, writer = run.size, run.writer
        first = max(0, size - self.recent)
        old_first, old_stop = run.previous.recent
        for index in range(old_first, min(old_stop, first)):
            writer.delete(f"api/v1/receipts/{index}")
            writer.delete(file_for(f"/log/{index}", "text/html"))
        ticker = _Ticker(run.progress)
        for index in range(first, size):
            # ?size= names this checkpoint even if the clock signs another meanwhile: the bytes are those
            # /api/v1/receipts/<index> serves while this checkpoint is the latest.
            receipt, _ = run.get(f"/api/v1/receipts/{index}?size={size}")
            writer.put(f"api/v1/receipts/{index}", receipt, "receipt")
            run.page(f"/log/{index}", "page")
            ticker.tick(f"receipts: {index + 1 - first}/{size - first}")
        return first, size

    # --- documents, feeds, pages ---------------------------------------------------------------

    def _documents(self, run: Run) -> None:
        from web import get_log

        for path in ("/.well-known/hcoc-registry.json", "/api/v1/openapi.json", "/api/v1/snapshots"):
            run.page(path, "document")
        sizes = get_log().store.snapshot_sizes()
        if sizes:
            run.page("/api/v1/snapshots/latest", "snapshot")
        for size in sizes:
            if not run.writer.path(f"api/v1/snapshots/{size}").is_file():
                run.page(f"/api/v1/snapshots/{size}", "snapshot", once=True)

    def _feeds(self, run: Run) -> int:
        """Every feed; the number of complete archive pages (all written)."""
        from web import feeds as web_feeds
        from web.pages import current_site

        site = current_site()
        pages = archive_count(run.size, web_feeds.feed_site().page_size)
        ticker = _Ticker(run.progress)
        for fmt in FEED_FORMATS:
            run.page(f"/feeds/events.{fmt}", "feed")
            run.page(f"/feeds/obligations.{fmt}", "feed")
            for k in range(min(run.previous.archive_pages, pages), pages):
                if not run.writer.path(f"feeds/events/archive/{k}.{fmt}").is_file():
                    run.page(f"/feeds/events/archive/{k}.{fmt}", "archive_page", once=True)
                ticker.tick(f"feed archive pages ({fmt}): {k + 1}/{pages}")
            for type_ in STATEMENT_TYPES:
                run.page(f"/feeds/types/{type_}.{fmt}", "feed")
            for slug in sorted(site.orgs):
                run.page(f"/feeds/organizations/{slug}.{fmt}", "feed")
            for slug, code in sorted(site.codes.items()):
                if code["versions"]:
                    run.page(f"/feeds/codes/{slug}.{fmt}", "feed")
        return pages

    def _pages(self, run: Run) -> None:
        from web.pages import current_site

        site = current_site()
        for path in ("/", "/organizations", "/codes", "/log", "/about", "/verify", "/for-organizations", "/api/v1/",
                     "/favicon.ico"):
            run.page(path, "page")
        for slug in sorted(site.orgs):
            run.page(f"/organizations/{slug}", "page")
        for slug, code in sorted(site.codes.items()):
            versions = code["versions"]
            if not versions:
                continue
            run.page(f"/codes/{slug}", "page")
            for version in versions:
                run.page(f"/codes/{slug}/{version['version']}", "page")
            for action in versions[-1]["actions"]:
                run.page(f"/codes/{slug}/actions/{action['number']}", "page")
        for asset in sorted(p.name for p in STATIC.iterdir() if p.is_file()):
            run.page(f"/static/{asset}", "asset")


    def _evidence(self, run: Run, node: Any) -> None:
        """Every archived document not written yet, at ``evidence/<sha256>.<ext>``: written once, never again
        (its name is its hash). Bytes that no longer hash to their name are never published (``registry audit``
        names the row)."""
        store = node.evidence
        for document in store.documents():
            path = evidence.published_path(document)
            if run.writer.path(path).is_file():
                run.writer.report.unchanged += 1
                continue
            data = store.data(document.sha256)
            if data is None or evidence.digest(data) != document.sha256:
                # Not a reason to stop publishing the log: the front server passes the path to the application,
                # which refuses it too.
                run.progress(f"the archived document {document.sha256} no longer hashes to its name: not "
                             "published (registry audit names the row)")
                continue
            run.writer.put(path, data, "evidence", once=True)


def _note_size(note: bytes) -> int:
    lines = note.split(b"\n")
    try:
        return int(lines[1].decode("ascii"))
    except (IndexError, ValueError, UnicodeDecodeError):
        raise PublishError("the application's /checkpoint does not name a tree size on its second line") from None


class _Ticker:
    """Progress lines on long runs: at most one every PROGRESS_SECONDS."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.last = time.monotonic()

    def tick(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.say(message)
            self.last = now


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One run at a time per directory (the clock's and an operator's, say): the second waits."""
    try:
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise ConfigurationError(f"the published directory {root} cannot be written: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
