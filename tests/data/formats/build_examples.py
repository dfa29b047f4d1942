"""Build the examples of docs/FORMATS.md by running the registry with fixed keys and times.

Every example in the document is the output of this script: it creates a
registry in a temporary data directory, records the 20 statements of the
example log (one of every statement type) with fixed Ed25519 keys derived from
fixed seeds and fixed clocks, signs checkpoints at sizes 12 and 20, cosigns the
second as a witness, and fetches the HTTP documents from the real Flask app.
Ed25519 signatures are deterministic, so the output is the same on every run.

    python tests/data/formats/build_examples.py          # print the examples as JSON
    python tests/data/formats/build_examples.py --write  # refresh docs/FORMATS.md and example-log.txt

tests/test_formats.py imports :func:`build` and fails when the document no
longer matches what the code produces.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DOC = ROOT / "docs" / "FORMATS.md"
EXAMPLE_LOG = HERE / "example-log.txt"

ORIGIN = "registry.example.org/hcoc"
BASE_URL = "https://registry.example.org"
WITNESS = "witness.example.net/w1"
START = datetime(2025, 6, 2, 9, 0, 0, tzinfo=UTC)
FIRST_CHECKPOINT = 14  # checkpoints are signed at sizes 6 (the snapshot), 14 and 20
RECEIPT_INDEX = 13  # the self-signed endorsement.made of the Hiroshima Code
STATE_SIZE = 6  # the state example: after the first endorsement and its amendment
COSIGNED_AT = int(datetime(2025, 6, 20, 12, 0, 0, tzinfo=UTC).timestamp())
HIROSHIMA, HIROSHIMA_VERSION = "hiroshima-coc", "2023-10-30"
# Short paraphrases of the Code's 11 actions (as in the demo data), not the official text.
HIROSHIMA_HEADINGS = (
    "Identify, evaluate and mitigate risks across the AI lifecycle",
    "Mitigate vulnerabilities, incidents and misuse after deployment",
    "Publicly report capabilities, limitations and appropriate uses",
    "Share information and report incidents responsibly",
    "Adopt and disclose risk-based AI governance policies",
    "Invest in physical, cyber and insider-threat security",
    "Deploy content authentication and provenance where feasible",
    "Prioritise research on societal, safety and security risks",
    "Apply AI to global challenges such as climate, health, education",
    "Advance international technical standards",
    "Protect data inputs, personal data and intellectual property",
)
KEY_NAMES = ("root", "maintainer", "maintainer-b", "log", "witness", "org-key-1", "org-key-2")
# Which example statement shows each type: the leaf index in the example log.
STATEMENT_EXAMPLES = {
    "registry.genesis": 0,
    "maintainer.key_added": 1,
    "maintainer.key_revoked": 7,
    "code.revision_published": 9,
    "organization.registered": 3,
    "organization.updated": 10,
    "organization.key_added": 11,
    "organization.key_revoked": 12,
    "endorsement.made": 13,
    "endorsement.amended": 5,
    "endorsement.reaffirmed": 14,
    "endorsement.withdrawn": 15,
    "endorsement.declined": 17,
    "report.published": 18,
}
ATTESTED_EXAMPLE = 19  # a maintainer-signed (attested) endorsement.made
# JSON texts that canonical.loads refuses, one per line (explained in the document).
CANONICAL_REFUSED = (
    '{"a":1,"a":2}',
    '{"n":1.0}',
    '{"n":1e3}',
    '{"n":9007199254740992}',
    '[NaN]',
    '"\\ud800"',
    "[" * 18 + "]" * 18,
)
# Examples of input formats, written by hand and checked by tests/test_formats.py; never rewritten here.
# The archived copy of a press page (section 25): HTML, so served only as an attachment.
ARCHIVED_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Example AI endorses the Hiroshima Code</title></head>\n"
                 b"<body><p>Example AI endorses the Hiroshima Process International Code of Conduct.</p>"
                 b"</body></html>\n")
ARCHIVED_URL = "https://example-ai.example/news/hiroshima-code"
ARCHIVED_AT = "2025-06-03T10:00:00Z"
EVIDENCE_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition", "Content-Security-Policy",
                    "X-Content-Type-Options", "Cache-Control", "ETag")
HAND_WRITTEN = frozenset({"record-file", "stances", "stances-csv", "monitor-alert", "monitor-watch",
                          "monitor-documents"})
_FENCE = re.compile(r"^```([a-z]+) example=([a-z0-9-]+)\n(.*?)^```$", re.M | re.S)


def seed(name: str) -> bytes:
    """The 32-byte Ed25519 seed of an example key: SHA-256 of ``hcoc-registry example key: <name>``."""
    return hashlib.sha256(f"hcoc-registry example key: {name}".encode()).digest()


def example_key(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed(name))


def _nonce(index: int) -> str:
    return hashlib.sha256(f"hcoc-registry example nonce {index}".encode()).hexdigest()[:32]


def _signed_at(index: int) -> datetime:
    return START + timedelta(hours=12 * index)


def key_proof_file() -> bytes:
    """The example organization's key-proof file when it adds its second key: both of its keys, for this registry."""
    from registry import keyproof, keys

    ids = tuple(keys.key_id(example_key(name)) for name in ("org-key-1", "org-key-2"))
    return keyproof.format_key_file([keyproof.Listing(ORIGIN, "example-ai", ids)])


def _statements() -> list[tuple[str, dict[str, Any]]]:
    """(signer key name, statement) for every leaf of the example log, in order."""
    from registry import keys
    from registry.times import format_time

    pub = {name: keys.encode_public(example_key(name)) for name in KEY_NAMES}
    kid = {name: keys.key_id(example_key(name)) for name in KEY_NAMES}
    example_code_text = b"Example Code of Practice, version 1.1\n"
    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("root", "registry.genesis", {"name": "Example registry", "root_key": pub["root"]}),
        ("root", "maintainer.key_added", {"public_key": pub["maintainer"], "name": "Maintainer A"}),
        ("maintainer", "code.revision_published", {
            "code": "example-code", "version": "1.0", "title": "Example Code of Practice",
            "issuer": "Example Standards Forum", "published_on": "2024-03-01",
            "source_url": "https://standards.example.org/code/1.0",
            "actions": [
                {"number": 1, "heading": "Assess risks before release"},
                {"number": 2, "heading": "Publish a model card"},
                {"number": 3, "heading": "Report serious incidents"},
            ],
            "supersedes": None,
        }),
        ("maintainer", "organization.registered", {
            "org": "example-ai", "name": "Example AI Ltd", "country": "JP", "kind": "company",
            "website": "https://ai.example.com", "public_keys": [pub["org-key-1"]],
            "evidence": [{"url": "https://ai.example.com/about", "title": "About Example AI",
                          "retrieved_on": "2025-06-01"}],
        }),
        ("org-key-1", "endorsement.made", {
            "org": "example-ai", "code": "example-code", "version": "1.0", "scope": [1, 3],
            "effective_date": "2025-06-04",
        }),
        ("org-key-1", "endorsement.amended", {
            "org": "example-ai", "code": "example-code", "scope": [1, 2, 3],
            "statement": "Model cards are now published for every release.", "effective_date": "2025-06-04",
        }),
        ("root", "maintainer.key_added", {"public_key": pub["maintainer-b"], "name": "Maintainer B"}),
        ("root", "maintainer.key_revoked", {"key_id": kid["maintainer-b"], "reason": "Maintainer B left."}),
        ("maintainer", "code.revision_published", {
            "code": HIROSHIMA, "version": HIROSHIMA_VERSION,
            "title": "Hiroshima Process International Code of Conduct for Organizations Developing Advanced AI Systems",
            "issuer": "G7 Leaders, Hiroshima AI Process", "published_on": "2023-10-30",
            "source_url": "https://digital-strategy.ec.europa.eu/en/library/"
                          "hiroshima-process-international-code-conduct-advanced-ai-systems",
            "actions": [{"number": n, "heading": h} for n, h in enumerate(HIROSHIMA_HEADINGS, 1)],
            "supersedes": None, "note": "Action headings are short paraphrases, not the official text.",
        }),
        ("maintainer", "code.revision_published", {
            "code": "example-code", "version": "1.1", "title": "Example Code of Practice",
            "issuer": "Example Standards Forum", "published_on": "2025-01-15",
            "source_url": "https://standards.example.org/code/1.1",
            "text_sha256": hashlib.sha256(example_code_text).hexdigest(),
            "actions": [
                {"number": 1, "heading": "Assess risks before release"},
                {"number": 2, "heading": "Publish a model card"},
                {"number": 3, "heading": "Report serious incidents within 72 hours"},
            ],
            "supersedes": "1.0",
            "summary_of_changes": "Action 3 now sets a 72-hour deadline for incident reports.",
            "short_title": "Example Code", "action_noun": "commitment",
            "obligations": [{"id": "incident-process", "what": "Publish an incident-reporting process",
                             "due": "2025-09-30", "met_by": "report.published"}],
        }),
        ("maintainer", "organization.updated", {"org": "example-ai", "website": "https://www.ai.example.com"}),
        ("org-key-1", "organization.key_added", {
            "org": "example-ai", "public_key": pub["org-key-2"],
            # The file its website published (key_proof_file), fetched five minutes before signing.
            "key_proofs": [{"key_id": kid["org-key-2"], "url": "https://www.ai.example.com/.well-known/hcoc-registry-keys",
                            "fetched_at": format_time(_signed_at(11) - timedelta(minutes=5)),
                            "sha256": hashlib.sha256(key_proof_file()).hexdigest()}],
        }),
        ("org-key-2", "organization.key_revoked", {
            "org": "example-ai", "key_id": kid["org-key-1"], "reason": "Rotated to a new key.",
        }),
        ("org-key-2", "endorsement.made", {
            "org": "example-ai", "code": HIROSHIMA, "version": HIROSHIMA_VERSION, "scope": "all",
            "statement": "Example AI Ltd endorses the Code and will report under the HAIP framework.",
            "effective_date": "2025-06-08",
        }),
        ("org-key-2", "endorsement.reaffirmed", {
            "org": "example-ai", "code": "example-code", "version": "1.1", "effective_date": "2025-06-09",
        }),
        ("org-key-2", "endorsement.withdrawn", {
            "org": "example-ai", "code": "example-code", "effective_date": "2025-06-09",
            "reason": "We now follow the Hiroshima Code alone.",
            "evidence": [{"url": "https://ai.example.com/news/2025-06-09"}],
        }),
        ("maintainer", "organization.registered", {
            "org": "sample-lab", "name": "Sample Lab", "country": "DE", "kind": "academia", "public_keys": [],
        }),
        ("maintainer", "endorsement.declined", {
            "org": "sample-lab", "code": HIROSHIMA, "version": HIROSHIMA_VERSION, "effective_date": "2025-06-03",
            "evidence": [{"url": "https://lab.example.net/news/code-of-conduct",
                          "sha256": hashlib.sha256(b"Sample Lab news page\n").hexdigest(),
                          "title": "Why we are not signing", "retrieved_on": "2025-06-10"}],
            "statement": "Sample Lab said it will not sign the Code.",
        }),
        ("org-key-2", "report.published", {
            "org": "example-ai", "code": HIROSHIMA, "framework": "oecd-haip", "period": "2025",
            "url": "https://ai.example.com/reports/haip-2025.pdf",
            "document_sha256": hashlib.sha256(b"Example AI HAIP report 2025\n").hexdigest(),
            "title": "HAIP transparency report 2025", "published_on": "2025-06-08",
        }),
        ("maintainer", "endorsement.made", {
            "org": "sample-lab", "code": "example-code", "version": "1.1", "scope": "all",
            "effective_date": "2025-06",
            "evidence": [{"url": "https://lab.example.net/news/example-code", "title": "Sample Lab signs",
                          "source": "primary"},
                         {"citation": "Example Gazette, print edition of 12 June 2025, page 3", "source": "secondary",
                          "note": "Names Sample Lab among the first signatories."}],
            "note": "Sample Lab's own news page says it signed the Code in June 2025.",
            "date_note": "The page gives the month only.",
        }),
    ]
    out = []
    for index, (signer, type_, fields) in enumerate(rows):
        common = {"type": type_, "registry": ORIGIN, "signed_at": format_time(_signed_at(index)),
                  "nonce": _nonce(index)}
        out.append((signer, {**common, **fields}))
    return out


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _hex_lines(data: bytes, width: int = 32) -> str:
    return "".join(data[i:i + width].hex() + "\n" for i in range(0, len(data), width))


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


@contextmanager
def _recorded(data_dir: Path) -> Iterator[Any]:
    """Record the example log in ``data_dir``; yield the registry application."""
    from registry import config, envelope, keys
    from registry.application import open_registry
    from registry.signednote import signer_from_private
    from registry.transparency import TransparencyLog, open_log_store

    keys_dir = data_dir / "keys"
    for name in ("root", "maintainer", "log"):
        keys.save_private(example_key(name), keys_dir / f"{name}.key")
    config.write_config_file(data_dir, {"origin": ORIGIN, "base_url": BASE_URL})
    settings = config.load(data_dir, environ={})
    registry = open_registry(settings)
    log = TransparencyLog(registry, open_log_store(settings), ORIGIN,
                          signer_from_private(ORIGIN, example_key("log")))
    rows = _statements()
    try:
        for index, (signer, stmt) in enumerate(rows):
            moment = _signed_at(index) + timedelta(seconds=7)
            registry.submit(envelope.sign(stmt, example_key(signer)).canonical, now=moment)
            if index + 1 in (STATE_SIZE, FIRST_CHECKPOINT, len(rows)):
                log.publish_checkpoint(now=moment + timedelta(minutes=1))
        yield registry, log
    finally:
        log.store.datastore.close()
        registry.close()


WITNESS_URL = "https://witness.example.net/w1"


def witness_settings() -> tuple[str, str]:
    """REGISTRY_WITNESSES and REGISTRY_WITNESS_QUORUM of the example registry: the example witness, quorum 1."""
    from registry import keys
    from registry.signednote import SIG_TYPE_COSIGNATURE_V1, format_verifier_key

    vkey = format_verifier_key(WITNESS, keys.public_bytes(example_key("witness")), SIG_TYPE_COSIGNATURE_V1)
    return f"{WITNESS_URL} {vkey}", "1"


def build() -> dict[str, str]:
    """Every example of docs/FORMATS.md by name, as the exact text of its block."""
    from registry import canonical, envelope, keys, leaf, snapshots, state, tiles, tlog
    from registry.checkpoint import cosign_checkpoint
    from registry.evidence import open_evidence_store
    from registry.signednote import SIG_TYPE_COSIGNATURE_V1, format_verifier_key, parse_note, signer_from_private
    from registry.witness import format_add_checkpoint
    from registry.witnessing import LogState, format_state
    from web import close_app, create_app

    ex: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "instance"
        with _recorded(data_dir) as (registry, log):
            leaves = list(registry.leaves())
            size = len(leaves)
            ex["example-log"] = "".join(f"{data.decode('ascii')}\n" for data in leaves)
            archived, _ = open_evidence_store(log.store).add(
                ARCHIVED_PAGE, source_url=ARCHIVED_URL, added_at=ARCHIVED_AT, max_bytes=1 << 20)
            app = create_app({"DATA_DIR": data_dir, "ENVIRON": {"REGISTRY_WITNESSES": witness_settings()[0],
                                                                "REGISTRY_WITNESS_QUORUM": "1"}})
            try:
                client = app.test_client()

                def get(path: str, expect: int = 200) -> bytes:
                    response = client.get(path)
                    assert response.status_code == expect, (path, response.status_code, response.data)
                    return response.data

                checkpoint = get("/checkpoint")
                ex["checkpoint"] = checkpoint.decode()
                ex["discovery"] = get("/.well-known/hcoc-registry.json").decode()
                ex["proof-inclusion"] = get(f"/api/v1/log/proofs/inclusion?index={RECEIPT_INDEX}&size={size}").decode()
                ex["proof-consistency"] = get(
                    f"/api/v1/log/proofs/consistency?from={FIRST_CHECKPOINT}&to={size}").decode()
                ex["receipt"] = get(f"/api/v1/receipts/{RECEIPT_INDEX}").decode()
                ex["problem"] = get(f"/api/v1/log/entries/{size}", 404).decode()
                ex["tile-level0"] = _hex_lines(get(f"/tile/0/000.p/{size}"))
                bundle = get(f"/tile/entries/000.p/{size}")
                ex["entry-bundle-prefix"] = _hex_lines(bundle[:64])
                assert get(f"/api/v1/log/entries/{RECEIPT_INDEX}") == leaves[RECEIPT_INDEX]
                # Submitting a recorded envelope again: answered with the existing record, nothing stored.
                resubmitted = client.post("/api/v1/statements", data=leaf.parse_leaf(leaves[RECEIPT_INDEX]).envelope
                                          .canonical, content_type="application/vnd.hcoc-registry.envelope+json")
                assert resubmitted.status_code == 200, resubmitted.data
                ex["submission-response"] = resubmitted.data.decode()
                served = client.get(f"/evidence/{archived.sha256}")
                assert served.status_code == 200 and served.data == ARCHIVED_PAGE
                ex["evidence-response"] = "HTTP/1.1 200 OK\n" + "".join(
                    f"{name}: {served.headers[name]}\n" for name in EVIDENCE_HEADERS) + "\n" + served.data.decode()
                ex["bundle-document-line"] = json.dumps({"document": {
                    "sha256": archived.sha256, "media_type": archived.media_type, "source_url": archived.source_url,
                    "added_at": archived.added_at, "data": base64.b64encode(ARCHIVED_PAGE).decode("ascii")}},
                    sort_keys=True, separators=(",", ":"))
            finally:
                close_app(app)

            # keys
            key_table = {}
            for name in KEY_NAMES:
                private = example_key(name)
                key_table[name] = {
                    "seed": seed(name).hex(),
                    "public_key": keys.encode_public(private),
                    "key_id": keys.key_id(private),
                }
            log_public = keys.public_bytes(example_key("log"))
            witness_public = keys.public_bytes(example_key("witness"))
            key_table["log"]["verifier_key"] = format_verifier_key(ORIGIN, log_public)
            key_table["witness"]["verifier_key"] = format_verifier_key(
                WITNESS, witness_public, SIG_TYPE_COSIGNATURE_V1)
            ex["example-keys"] = _pretty(key_table)
            ex["private-key-file"] = _pem(example_key("org-key-2"))
            ex["public-key-file"] = keys.encode_public(example_key("org-key-2")) + "\n"
            ex["verifier-key"] = key_table["log"]["verifier_key"] + "\n"
            ex["key-proof-file"] = key_proof_file().decode("utf-8")
            ex["publish-state"] = publish_state()

            # canonical JSON
            ex["canonical-input"] = '{ "b": [1, true, null], "a": "é\\u00e9", "\\u20ac": -0, "c": {"z": 1, "y": 2} }\n'
            ex["canonical-output"] = canonical.dumps(json.loads(ex["canonical-input"])).decode("utf-8") + "\n"
            ex["canonical-refused"] = "".join(f"{line}\n" for line in CANONICAL_REFUSED)

            # statements, envelope, leaf
            for type_, index in STATEMENT_EXAMPLES.items():
                stmt = leaf.parse_leaf(leaves[index]).envelope.statement()
                ex["statement-" + type_.replace(".", "-").replace("_", "-")] = _pretty(_readable(stmt))
            attested = leaf.parse_leaf(leaves[ATTESTED_EXAMPLE]).envelope.statement()
            ex["statement-endorsement-made-attested"] = _pretty(_readable(attested))
            entry = leaf.parse_leaf(leaves[RECEIPT_INDEX])
            env = entry.envelope
            ex["envelope"] = env.canonical.decode("ascii") + "\n"
            ex["envelope-hash"] = env.hash + "\n"
            # Without the space that follows it: trailing spaces do not survive editors.
            ex["pae-prefix"] = envelope.pae(env.payload_type, env.payload)[: -len(env.payload) - 1].decode() + "\n"
            ex["leaf"] = leaves[RECEIPT_INDEX].decode("ascii") + "\n"
            ex["leaf-hash"] = tlog.leaf_hash(leaves[RECEIPT_INDEX]).hex() + "\n"

            # cosignature
            cp_text = parse_note(checkpoint).text
            line = cosign_checkpoint(cp_text, WITNESS, example_key("witness"), COSIGNED_AT)
            ex["cosignature-message"] = f"cosignature/v1\ntime {COSIGNED_AT}\n" + cp_text.decode()
            ex["checkpoint-cosigned"] = checkpoint.decode() + line

            # witnesses (section 22): the clock's request from the first checkpoint to this one, the
            # witness's state file once it cosigned it, and the registry's settings that name the witness
            proof = tlog.prove_consistency(FIRST_CHECKPOINT, size, log.store.read)
            ex["witness-request"] = format_add_checkpoint(FIRST_CHECKPOINT, proof, checkpoint).decode()
            ex["witness-state"] = format_state({ORIGIN: LogState(size, log.root(size), COSIGNED_AT)}).decode()
            ex["witness-settings"] = "".join(f"{k}={v}\n" for k, v in zip(
                ("REGISTRY_WITNESSES", "REGISTRY_WITNESS_QUORUM"), (*witness_settings(), ), strict=True))

            # tiles
            ex["tile-paths"] = "".join(_tile_row(tiles.parse_tile_path(p)) for p in (
                "0/000", "0/000.p/20", "1/000.p/1", "entries/000.p/20", "0/x001/234.p/17", "2/x001/x234/067",
            ))
            ex["tiles-for-size"] = "".join(
                f"{n}: {' '.join(tiles.tiles_for_size(n))}\n" for n in (1, 20, 256, 70000))

            # state and snapshot
            folded = state.fold(leaves[:STATE_SIZE])
            ex["state"] = _pretty(folded.to_json())
            ex["state-hash"] = folded.hash() + "\n"
            snapshot_checkpoint = log.store.checkpoint(STATE_SIZE).note
            document = snapshots.make_document(folded.to_json(), snapshot_checkpoint,
                                               signer_from_private(ORIGIN, example_key("log")))
            ex["snapshot-checkpoint"] = snapshot_checkpoint.decode()
            ex["snapshot-note"] = json.loads(document)["note"]
            ex["snapshot-document-hash"] = hashlib.sha256(document).hexdigest() + "\n"
    # A block ends with a newline; documents that do not (JSON, say) get one added.
    return {name: text if text.endswith("\n") else text + "\n" for name, text in ex.items()}


def _tile_row(tile: Any) -> str:
    level = "entries" if tile.level is None else f"level {tile.level}"
    unit = ("entry" if tile.width == 1 else "entries") if tile.level is None else (
        "hash" if tile.width == 1 else "hashes")
    width = "full (256)" if tile.width is None else f"{tile.width} {unit}"
    return f"{tile!s:<18} {level:<8} index {tile.index:<8} {width}\n"


def publish_state() -> str:
    """The state file of a directory published at tree size 1234 (section 24), with the default settings."""
    import hashlib

    from registry import tiles
    from scripts.publishing import State

    size = 1234
    state = State(size, hashlib.sha256(b"the checkpoint file of size 1234").hexdigest(),
                  tuple(tiles.tiles_for_size(size)), (size - 256, size), size // 500)
    return json.dumps(state.to_json(ORIGIN), indent=2, sort_keys=True) + "\n"


def _readable(stmt: dict[str, Any]) -> dict[str, Any]:
    """The statement with the common fields first (the order is cosmetic: signing canonicalizes)."""
    first = ("type", "registry", "signed_at", "nonce")
    return {**{k: stmt[k] for k in first}, **{k: v for k, v in stmt.items() if k not in first}}


def write(examples: dict[str, str]) -> list[str]:
    """Replace every marked block of docs/FORMATS.md; return the names not found in the document."""
    text = DOC.read_text(encoding="utf-8")
    found: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        lang, name = match.group(1), match.group(2)
        found.add(name)
        body = examples.get(name)
        if name in HAND_WRITTEN:
            return match.group(0)
        if body is None:
            raise SystemExit(f"docs/FORMATS.md has an example {name!r} that build() does not make")
        return f"```{lang} example={name}\n{body}```"

    DOC.write_text(_FENCE.sub(replace, text), encoding="utf-8")
    EXAMPLE_LOG.write_text(examples["example-log"], encoding="ascii")
    return sorted(set(examples) - found - {"example-log"})


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    built = build()
    if sys.argv[1:] == ["--write"]:
        missing = write(built)
        print("not in the document:", ", ".join(missing) or "none")
    else:
        print(json.dumps(built, indent=1, ensure_ascii=False))
