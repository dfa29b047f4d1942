"""The layering rules, enforced on every import at every depth (inside functions too).

``registry/`` is the core: it knows no HTTP, no feed format, no scheduler and no
command line. ``feeds/`` builds feed documents from values: no web, no command
line, no Flask. ``web/`` serves: it never schedules and never reaches into the
command line. Dynamic imports by name (``importlib.import_module("web")``,
``__import__("flask")``) count as imports.

No layer but ``scripts/`` makes outgoing HTTP requests: fetching an
organization's key-proof file (``scripts/keyfetch.py``) happens on the command
line, never in the web process, which must not wait on another site.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB_STACK = {"flask", "jinja2", "werkzeug", "gunicorn"}
RULES: dict[str, set[str]] = {
    "registry": {"web", "feeds", "scripts", "feedgen", "apscheduler", *WEB_STACK},
    "feeds": {"web", "scripts", "flask"},
    "web": {"scripts", "apscheduler"},
}
# Modules (and their submodules) a layer may not import: the standard library's HTTP clients.
HTTP_CLIENTS = ("http.client", "urllib.request", "ssl", "scripts.keyfetch", "scripts.evidencefetch")
MODULE_RULES: dict[str, tuple[str, ...]] = {"registry": HTTP_CLIENTS, "feeds": HTTP_CLIENTS, "web": HTTP_CLIENTS}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every module a source file imports, anywhere in it, with its line: absolute names only."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and _dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def _dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def violations(package: str) -> list[str]:
    banned = RULES[package]
    modules = MODULE_RULES.get(package, ())
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in banned or any(module == m or module.startswith(m + ".") for m in modules):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("package", sorted(RULES))
def test_layer_imports_only_what_it_may(package: str) -> None:
    assert violations(package) == []


def test_the_scanner_sees_imports_at_every_depth() -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    from web import create_app\n"
        "    class C:\n"
        "        def g(self):\n"
        "            import flask.json\n"
        "    importlib.import_module('feeds.archive')\n"
        "    __import__('apscheduler')\n"
        "from . import sibling\n"
    )
    found = sorted(imported_modules(source))
    assert found == [(1, "os"), (3, "web"), (6, "flask.json"), (7, "feeds.archive"), (8, "apscheduler")]


def test_the_clock_process_loads_no_web_stack() -> None:
    """What the clock imports, transitively, at start: the scheduler and the core, never Flask."""
    probe = ("import sys, scripts.clock, scripts.feedstore, registry.jobs, registry.node; "
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(WEB_STACK | {'web'})!r}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_rules_catch_an_http_client_in_the_web_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A web module that imported the key-proof fetcher, or an HTTP client, would be named."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "bad.py").write_text("import http.client\ndef f():\n    from scripts import keyfetch\n"
                                            "from scripts.keyfetch import fetch\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert sorted(violations("web")) == ["web/bad.py:1 imports http.client", "web/bad.py:3 imports scripts",
                                         "web/bad.py:4 imports scripts.keyfetch"]


def test_the_web_process_loads_no_fetcher() -> None:
    """What the web app's modules import, transitively: never the key-proof fetcher or any command-line module."""
    probe = ("import importlib, pkgutil, sys, web\n"
             "for found in pkgutil.iter_modules(web.__path__):\n"
             "    importlib.import_module('web.' + found.name)\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scripts'))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_witness_loads_no_web_stack() -> None:
    """A witness is a program of its own: its server and core never load Flask or the registry's web app."""
    probe = ("import sys, scripts.witness_server, scripts.cli.witness, registry.witnessing; "
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(WEB_STACK | {'web'})!r}))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]"
