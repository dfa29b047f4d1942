"""The "For organizations" page (web.join) and the README section it mirrors.

The story, on SQLite and on PostgreSQL: a registry with a Code, served with
its own base URL. The page shows this registry's origin, base URL and log key
in every command, the key-proof file an organization publishes for it (which
parses, with the placeholders filled in, and proves the key for this
registry), and the Codes to endorse; /verify, /about and every page's footer
link to it. The README's "For organizations" section runs the same commands,
with the example registry's names, and only commands that exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from registry import keyproof, keys
from tests.conftest import ORIGIN, Backend, page, sign_checkpoint, signing_world, words
from web.pages import log_verifier_key

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://hcoc.test.example"


@dataclass
class Served:
    app: Any


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    with signing_world(module_backend) as world:
        world.code()
        sign_checkpoint(module_backend, world.registry)
        with module_backend.serve({"REGISTRY_BASE_URL": BASE_URL}) as app:
            yield Served(app)


def commands(text: str) -> list[str]:
    """The command lines of a text: each line that starts with ``registry `` (or sets VKEY)."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith(("registry ", "VKEY="))]


def test_the_page_fills_in_this_registrys_origin_base_url_and_log_key(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/for-organizations")
    with served.app.app_context():
        vkey = log_verifier_key()
    assert vkey and vkey.startswith(ORIGIN + "+")
    lines = commands("\n".join(code.text_content() for code in doc.xpath("//pre/code")))
    assert lines[0] == f"VKEY='{vkey}'"
    remote = f'registry --registry {BASE_URL} --log-key "$VKEY" '
    for command in ("endorse --org your-slug --code CODE --version VERSION --actions 1,3 ",
                    "amend --org your-slug --code CODE --actions all ", "withdraw --org your-slug --code CODE ",
                    "receipt INDEX > leaf-INDEX.tlog-proof", "org add-key --org your-slug --public-key new.key.pub ",
                    "org revoke-key --org your-slug --key-id OLD-KEY-ID "):
        assert any(line.startswith(remote + command) for line in lines), command
    assert f"registry org check-key your-slug --origin '{ORIGIN}' --url https://www.example.com " \
           "--public-key org.key.pub" in lines
    # What the maintainers need, in words.
    text = words(doc)
    for needed in ("legal name", "country", "kind", "website", "public key", "proof’s URL"):
        assert needed in text, needed
    # The Codes to endorse, with their latest versions.
    (item,) = doc.xpath("//ul[@class='join-codes']/li")
    assert words(item) == "Hiroshima Code (11 actions): --code hiroshima-coc --version 2023-10-30"


def test_the_key_file_shown_proves_a_key_for_this_registry(client: FlaskClient) -> None:
    doc = page(client, "/for-organizations")
    (block,) = doc.xpath("//pre[@class='key-file']/code")
    key = keys.generate()
    text = block.text_content().replace("your-slug", "acme").replace("YOUR-KEY-ID", keys.key_id(key))
    parsed = keyproof.parse_key_file(text.encode("utf-8"))
    assert parsed.keys_for(ORIGIN, "acme") == {keys.key_id(key)}
    assert keyproof.PATH in words(doc)


@pytest.mark.parametrize("path", ["/verify", "/about", "/organizations", "/"])
def test_pages_link_to_it(client: FlaskClient, path: str) -> None:
    doc = page(client, path)
    assert doc.xpath("//footer//a[@href='/for-organizations']"), path
    if path == "/verify":
        assert doc.xpath("//main//a[@href='/for-organizations']")


# --- the README's section --------------------------------------------------------------------

EXAMPLE_BASE, EXAMPLE_ORIGIN = "https://registry.example.org", "registry.example.org/hcoc"


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## For organizations\n")[1].split("\n## ")[0]


def test_the_readme_runs_the_pages_commands(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/for-organizations")
    on_page = commands("\n".join(code.text_content() for code in doc.xpath("//pre/code")))
    with served.app.app_context():
        vkey = log_verifier_key()
    readme = [line.replace(EXAMPLE_BASE, BASE_URL).replace(EXAMPLE_ORIGIN, ORIGIN)
              for line in commands(_readme_section())]
    example_vkey = json.loads(re.search(r"```json example=example-keys\n(.*?)```",
                                        (ROOT / "docs" / "FORMATS.md").read_text(encoding="utf-8"),
                                        re.S).group(1))["log"]["verifier_key"]
    assert readme[0] == f"VKEY='{example_vkey.replace(EXAMPLE_ORIGIN, ORIGIN)}'"
    assert on_page[0] == f"VKEY='{vkey}'"
    assert readme[1:] == on_page[1:]


def test_the_readme_key_file_is_the_pages(client: FlaskClient) -> None:
    block = re.search(r"```json\n(.*?)\n *```", _readme_section(), re.S)
    assert block is not None
    shown = "\n".join(line.removeprefix("   ") for line in block.group(1).splitlines()) + "\n"
    (on_page,) = page(client, "/for-organizations").xpath("//pre[@class='key-file']/code")
    assert shown.replace(EXAMPLE_ORIGIN, ORIGIN) == on_page.text_content()


def test_the_readme_names_only_commands_that_exist() -> None:
    import click

    from scripts.cli import main

    named = 0
    for line in commands(_readme_section()):
        if line.startswith("VKEY="):
            continue
        # Remote mode's global options come before the command: --registry URL --log-key VKEY.
        words_ = re.sub(r'^registry (--registry \S+ )?(--log-key "\$VKEY" )?', "", line).split()
        node: click.Command = main
        for word in words_:
            if word.startswith("-") or not isinstance(node, click.Group):
                break
            assert word in node.commands, line
            node = node.commands[word]
        named += 1
    assert named == 12
