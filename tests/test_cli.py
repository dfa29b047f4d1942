"""The ``registry`` command line, end to end on each backend, each step signed by the right key."""

from __future__ import annotations

import base64
import gzip
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.cli import main
from tests.conftest import ORIGIN, Backend, signing_world


class Cli:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True) -> str:
        env = {**self.backend.env, "REGISTRY_DATA_DIR": str(self.backend.data_dir)}
        result = self.runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"{args}: {result.output}{result.stderr if result.stderr_bytes else ''}"
        else:
            assert result.exit_code != 0, f"{args} should have failed: {result.output}"
        return result.output if ok else result.stderr

    def json(self, *args: str) -> dict:
        return json.loads(self(*args).strip().splitlines()[-1])


REVISION = {
    "code": "hiroshima-coc", "version": "2023-10-30", "title": "Hiroshima Process International Code of Conduct",
    "issuer": "G7", "published_on": "2023-10-30", "source_url": "https://example.org/hcoc",
    "text_sha256": "12" * 32, "supersedes": None,
    "actions": [{"number": n, "heading": f"Action {n}"} for n in range(1, 12)],
}


def test_lifecycle_through_the_command_line(backend: Backend, tmp_path: Path) -> None:
    cli = Cli(backend)
    out = cli("init", "--origin", ORIGIN)
    assert "log verifier key: " + ORIGIN + "+" in out
    keyfile = backend.data_dir / "keys" / "maintainer.key"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    assert cli("init", "--origin", ORIGIN).count("created key") == 0  # safe to run twice
    # a maintainer publishes the Code
    rev = tmp_path / "rev.json"
    rev.write_text(json.dumps(REVISION))
    cli("code", "publish", str(rev))
    # the organization makes its own key; a maintainer registers it with that public key
    acme_key = tmp_path / "acme.key"
    key_id = cli("keys", "generate", "--out", str(acme_key)).strip()
    assert len(key_id) == 64 and stat.S_IMODE(acme_key.stat().st_mode) == 0o600
    cli("org", "register", "--slug", "acme", "--name", "Acme Research", "--country", "GB",
        "--kind", "academia", "--public-key", f"{acme_key}.pub")
    # the organization endorses actions 1-3 with its own key, then amends to all actions
    made = cli.json("endorse", "--org", "acme", "--code", "hiroshima-coc", "--version", "2023-10-30",
                    "--actions", "1,2,3", "--statement", "We commit.", "--key", str(acme_key), "--json")
    assert made["type"] == "endorsement.made" and made["duplicate"] is False
    cli("amend", "--org", "acme", "--code", "hiroshima-coc", "--actions", "all", "--key", str(acme_key))
    # a maintainer publishes a new version; the organization reaffirms under it
    rev2 = tmp_path / "rev2.json"
    rev2.write_text(json.dumps({**REVISION, "version": "2026-06-01", "supersedes": "2023-10-30",
                                "summary_of_changes": "Adds a twelfth action.",
                                "actions": [*REVISION["actions"], {"number": 12, "heading": "Action 12"}]}))
    cli("code", "publish", str(rev2))
    cli("reaffirm", "--org", "acme", "--code", "hiroshima-coc", "--version", "2026-06-01", "--key", str(acme_key))
    # then withdraws with a reason
    cli("withdraw", "--org", "acme", "--code", "hiroshima-coc", "--reason", "Policy review.", "--key", str(acme_key))
    # an attested record by a maintainer for another organization, via sign + submit
    cli("org", "register", "--slug", "beta", "--name", "Beta", "--country", "FR", "--kind", "company")
    envelope_text = cli("endorse", "--org", "beta", "--code", "hiroshima-coc", "--version", "2026-06-01",
                        "--key", str(keyfile), "--evidence", "https://news.example/beta", "--print")
    env_file = tmp_path / "beta.json"
    env_file.write_text(envelope_text)
    assert "recorded: endorsement.made" in cli("submit", str(env_file))
    assert "already recorded" in cli("submit", str(env_file))
    state = cli.json("replay", "--json")
    ends = {e["org"]: e for e in state["endorsements"]}
    assert ends["acme"]["status"] == "withdrawn" and ends["acme"]["version"] == "2026-06-01"
    assert ends["acme"]["attested"] is False and ends["beta"]["attested"] is True
    assert ends["acme"]["last"]["type"] == "endorsement.withdrawn" and ends["acme"]["endorsed_on"]
    status = cli.json("status", "--json")
    assert {"origin", "tree_size", "root_hash", "log_key"} <= set(status)
    assert status["tree_size"] == state["size"] == 11


def test_refusals_are_one_line_with_non_zero_exit(backend: Backend, tmp_path: Path) -> None:
    cli = Cli(backend)
    cli("init", "--origin", ORIGIN)
    acme_key = tmp_path / "acme.key"
    cli("keys", "generate", "--out", str(acme_key))
    err = cli("endorse", "--org", "acme", "--code", "nope", "--version", "1", "--key", str(acme_key), ok=False)
    assert err.startswith("refused: unknown-key:") and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"payload": "x"')
    err = cli("submit", str(bad), ok=False)
    assert err.startswith("refused: malformed:") and err.count("\n") == 1
    status = cli.json("status", "--json")
    assert status["tree_size"] == 2  # genesis and the maintainer key only


def test_sign_fills_in_common_fields(sqlite_backend: Backend, tmp_path: Path) -> None:
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN)
    stmt = tmp_path / "stmt.json"
    stmt.write_text(json.dumps({"type": "organization.registered", "org": "gamma", "name": "Gamma",
                                "country": "JP", "kind": "company", "public_keys": []}))
    env_text = cli("sign", "--key", str(sqlite_backend.data_dir / "keys" / "maintainer.key"), str(stmt))
    (tmp_path / "env.json").write_text(env_text)
    assert "organization.registered at leaf 2" in cli("submit", str(tmp_path / "env.json"))


def test_demo_data(sqlite_backend: Backend) -> None:
    cli = Cli(sqlite_backend)
    out = cli("init", "--origin", ORIGIN, "--demo")
    assert "demo data: 148 statements recorded" in out
    state = cli.json("replay", "--json")
    codes = {c["code"]: c["versions"] for c in state["codes"]}
    assert sorted(codes) == ["eu-gpai-cop", "hiroshima-coc", "seoul-faisc", "us-wh-voluntary-2023"]
    # The Hiroshima Code keeps its slug and first version id; the others are versioned by their dates.
    assert [v["version"] for v in codes["hiroshima-coc"]] == ["2023-10-30"]
    assert len(codes["hiroshima-coc"][0]["actions"]) == 11
    assert codes["eu-gpai-cop"][0]["action_noun"] == "chapter"
    orgs = {o["org"]: o for o in state["organizations"]}
    assert len(orgs) == 52 and orgs["kddi"]["country"] == "JP" and orgs["tii"]["kind"] == "research"
    stances = {(e["org"], e["code"]): e for e in state["endorsements"]}
    xai = stances[("xai", "eu-gpai-cop")]
    assert (xai["status"], xai["scope"], xai["attested"]) == ("active", [3], True)
    assert stances[("meta", "eu-gpai-cop")]["status"] == "declined"
    anthropic = stances[("anthropic", "us-wh-voluntary-2023")]
    assert anthropic["scope"] == [1, 3, 4, 5, 6, 8] and anthropic["effective_date"] == "2025-03"
    assert anthropic["last"]["scope_note"] and anthropic["last"]["date_note"]
    assert all(e["last"]["evidence"] for e in state["endorsements"])
    # loading twice adds nothing
    size = state["size"]
    assert "already loaded" in cli("init", "--demo")
    assert cli.json("replay", "--json")["size"] == size


def test_world_readable_key_is_refused(sqlite_backend: Backend, tmp_path: Path) -> None:
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN)
    key = sqlite_backend.data_dir / "keys" / "maintainer.key"
    os.chmod(key, 0o644)
    err = cli("org", "register", "--slug", "x", "--name", "X", "--country", "JP", "--kind", "company", ok=False)
    assert err.startswith("error: configuration:") and "chmod 600" in err


@pytest.mark.parametrize("name,shown", [("Evil\u200f[2J", "Evil\\u200f[2J"), ("RTL\u202eevil", "RTL\\u202eevil")])
def test_terminal_output_escapes_format_characters(sqlite_backend: Backend, name: str, shown: str) -> None:
    # Escape sequences (ESC) never get into the store; bidi and other format characters do, and are
    # shown escaped so they cannot reorder or hide what the terminal prints.
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN)
    cli("org", "register", "--slug", "evil", "--name", name, "--country", "JP", "--kind", "company")
    out = cli("replay")
    assert name not in out and shown in out
    err = cli("org", "register", "--slug", "esc", "--name", "A\x1b[2J", "--country", "JP", "--kind", "company",
              ok=False)
    assert "\x1b" not in err and err.startswith("refused: invalid-statement:")


def test_export_and_verify_bundle_offline(sqlite_backend: Backend, tmp_path: Path) -> None:
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN, "--demo")
    cli("checkpoint")
    bundle_file = tmp_path / "registry.bundle"
    assert "exported 150 entries" in cli("export", str(bundle_file))
    log_key = cli.json("status", "--json")["log_key"]
    out = cli("verify", "bundle", str(bundle_file), "--log-key", log_key)
    assert "ok   bundle: 150 entries" in out and "ok   checkpoints: 1 verified" in out
    other = "test.example/registry+00000000+AQ" + "A" * 42 + "="
    err = cli("verify", "bundle", str(bundle_file), "--log-key", other, ok=False)
    assert err.startswith("FAILED")


def test_show_entry_and_organization(sqlite_backend: Backend) -> None:
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN, "--demo")
    entry = cli.json("show", "entry", "6", "--json")
    assert entry["index"] == 6 and entry["type"] == "organization.registered" and len(entry["leaf_hash"]) == 64
    out = cli("show", "org", "milestone-systems")
    assert "Milestone Systems (milestone-systems): Denmark, company" in out
    assert "Hiroshima AI Code of Conduct: Endorsed: all actions, 31 January 2024 (entry 71; attested" in out
    assert ("Milestone Systems endorsed the Hiroshima AI Code of Conduct (all actions), effective 31 January 2024"
            in out)
    assert "hiroshima-coc" not in out  # names, not slugs
    replayed = cli("replay")
    assert ("endorsement xAI / EU GPAI Code of Practice: endorses chapter 3 (Safety and Security), version "
            "2025-07-10, effective 1 August 2025 (attested)") in replayed
    assert "organization Accexible (accexible): country not stated, company" in replayed
    assert cli("show", "entry", "999", ok=False).startswith("refused: not-found:")


def test_diff_refuses_reversed_sizes_and_sizes_beyond_the_log(sqlite_backend: Backend) -> None:
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN, "--demo")
    size = cli.json("status", "--json")["tree_size"]
    assert "organization.registered" in cli("diff", "2", str(size))
    err = cli("diff", str(size), "2", ok=False)
    assert err == (f"refused: malformed: size A ({size}) is larger than size B (2); give the older size first: "
                   f"diff 2 {size}\n")
    err = cli("diff", "2", str(size + 6), ok=False)
    assert err.startswith(f"refused: malformed: size B ({size + 6}) is outside the log, which has {size} entries")
    assert err.count("\n") == 1
    result = CliRunner().invoke(main, ["diff", str(size), "2"], catch_exceptions=False,
                                env={**sqlite_backend.env, "REGISTRY_DATA_DIR": str(sqlite_backend.data_dir)})
    assert result.exit_code == 1  # a refusal, as for every other malformed argument


def test_a_failed_inclusion_check_names_its_step_once_with_base64_roots(sqlite_backend: Backend,
                                                                          tmp_path: Path) -> None:
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN, "--demo")
    cli("checkpoint")
    log_key = cli.json("status", "--json")["log_key"]
    receipt = cli("receipt", "5")
    head, _, checkpoint = receipt.partition("\n\n")
    header, extra, index, *proof = head.split("\n")
    forged = tmp_path / "forged.tlog-proof"
    forged.write_text("\n".join([header, extra, index, base64.b64encode(bytes(32)).decode(), *proof[1:]])
                      + "\n\n" + checkpoint)
    err = cli("verify", "receipt", str(forged), "--log-key", log_key, ok=False)
    root = checkpoint.split("\n")[2]  # the signed root, base64, as the ok line prints it
    assert err.startswith("FAILED: verification-failed: inclusion: inclusion proof leads to root ")
    assert err.count("inclusion:") == 1 and err.count("\n") == 1
    assert err.rstrip("\n").endswith(f", expected {root}")
    good = tmp_path / "good.tlog-proof"
    good.write_text(receipt)
    assert f"ok   inclusion: leaf 5 is in the tree with root {root}" in cli("verify", "receipt", str(good),
                                                                            "--log-key", log_key)


def test_export_says_it_wrote_gzip_and_verify_bundle_needs_the_log_key(sqlite_backend: Backend,
                                                                        tmp_path: Path) -> None:
    cli = Cli(sqlite_backend)
    cli("init", "--origin", ORIGIN)
    env = {**sqlite_backend.env, "REGISTRY_DATA_DIR": str(sqlite_backend.data_dir)}
    runner = CliRunner()
    out = tmp_path / "out"  # not the data directory, whose registry.json is the configuration
    out.mkdir()
    misnamed = out / "registry.json"
    result = runner.invoke(main, ["export", str(misnamed)], env=env, catch_exceptions=False)
    assert result.exit_code == 0
    assert f"to {misnamed} as a gzip-compressed bundle (hcoc-registry/bundle/v2)" in result.stdout
    assert result.stderr == "note: registry.json is gzip-compressed, not plain JSON; name it registry.hcoc-bundle\n"
    with gzip.open(misnamed, "rt") as f:  # what the note says: gzip, JSON Lines inside
        assert json.loads(f.readline())["format"] == "hcoc-registry/bundle/v2"
    named = out / "registry.hcoc-bundle"
    result = runner.invoke(main, ["export", str(named)], env=env, catch_exceptions=False)
    assert result.exit_code == 0 and result.stderr == "", result.output
    # verifying needs the log key from elsewhere: without it, a usage error that names the option
    result = runner.invoke(main, ["verify", "bundle", str(named)], catch_exceptions=False)
    assert result.exit_code == 2 and "Missing option '--log-key'" in result.stderr
    log_key = cli.json("status", "--json")["log_key"]
    assert "ok   bundle: 2 entries" in cli("verify", "bundle", str(named), "--log-key", log_key)


def test_replay_until_a_date_means_the_end_of_that_day(sqlite_backend: Backend) -> None:
    # Wide, so that the help is not wrapped at a hyphen of YYYY-MM-DD.
    help_text = " ".join(CliRunner().invoke(main, ["replay", "--help"], terminal_width=400).output.split())
    assert "a date YYYY-MM-DD means the end of that day (UTC), 23:59:59Z" in help_text
    # genesis and the maintainer key now, then one entry in the last second of a day and one in the first of the next
    with signing_world(sqlite_backend) as world:
        for slug, moment in (("late", datetime(2099, 1, 1, 23, 59, 59, tzinfo=UTC)),
                             ("early", datetime(2099, 1, 2, 0, 0, 0, tzinfo=UTC))):
            world.registry.submit(world.maintainer.sign("organization.registered", org=slug, name=slug.title(),
                                                        country="JP", kind="company", public_keys=[]),
                                  now=moment, live=False)
    cli = Cli(Backend(sqlite_backend.name, sqlite_backend.data_dir,
                      {**sqlite_backend.env, "REGISTRY_ORIGIN": ORIGIN}))
    cli("job", "catch-up")  # integrate what was recorded behind the log's back, as the clock would
    sizes = {until: cli.json("replay", "--until", until, "--json")["size"]
             for until in ("2099-01-01T23:59:58Z", "2099-01-01", "2099-01-01T23:59:59Z", "2099-01-02")}
    assert sizes == {"2099-01-01T23:59:58Z": 2, "2099-01-01": 3, "2099-01-01T23:59:59Z": 3, "2099-01-02": 4}
