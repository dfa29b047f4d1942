"""Record files: the researched record as statements, loaded idempotently, refused whole when an entry is bad.

``registry.records`` plans a file's statements (pure); ``registry.loader`` loads them into a real
registry through its ordinary write path. The shipped file (``registry/data/commitments.json``) is
the story: all of it loads on both backends, loading it again changes nothing, a record that
disagrees with the log is reported and not recorded, and one bad entry stops the file before
anything is stored.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from registry import genesis, keys, loader, records, statements
from registry.errors import InvalidRecordFileError
from registry.node import Node
from scripts.cli import main
from tests.conftest import ORIGIN, Backend

DEMO = loader.demo_document()


def _node(backend: Backend) -> tuple[Node, Any]:
    settings = backend.settings()
    for path in genesis.key_files(settings):
        genesis.ensure_key(path)
    node = Node(settings).open()
    genesis.record_genesis(node.registry, ORIGIN, keys.load_private(settings.root_key),
                           keys.load_private(settings.maintainer_key))
    return node, keys.load_private(settings.maintainer_key)


def test_the_shipped_record_plans_every_entry() -> None:
    planned = records.plan(DEMO, ORIGIN)
    types = [p.statement["type"] for p in planned]
    assert (types.count("code.revision_published"), types.count("organization.registered"),
            len(types)) == (4, 52, 148)
    assert len({p.identity for p in planned}) == 148
    (xai,) = [p.statement for p in planned if p.where.endswith("(xai, eu-gpai-cop)")
              and p.statement["type"] == "endorsement.made"]
    assert xai["scope"] == [3] and xai["effective_date"] == "2025-08-01" and "Announced on 2025-07-31." in xai["note"]
    # Dates never more precise than the source: months stay months, unknown stays null, a time becomes its day.
    dates = {p.statement.get("effective_date", p.statement.get("published_on")) for p in planned
             if p.statement["type"] in records.EVENT_TYPES}
    assert None in dates and "2025-03" in dates and "2025-04-22" in dates
    # Every event cites evidence, each item marked primary or secondary.
    for p in planned:
        if p.statement["type"] in records.EVENT_TYPES:
            assert p.statement["evidence"] and all(e["source"] in ("primary", "secondary")
                                                   for e in p.statement["evidence"])


def test_planning_is_pure_and_signs_nothing() -> None:
    first, second = records.plan(DEMO, ORIGIN), records.plan(DEMO, ORIGIN)
    assert [records.details(p.statement) for p in first] == [records.details(p.statement) for p in second]
    assert all(p.statement["registry"] == ORIGIN for p in first)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["events"][14]["evidence"][0].update(url="find_string id 1"),
     "events[14] (amazon, eu-gpai-cop): evidence.0.url: must not contain whitespace"),
    (lambda d: d["events"][3].update(date="2025"), "events[3] (salesforce, hiroshima-coc): date: must be a date"),
    (lambda d: d["events"][0].update(colour="red"), "events[0] (kddi, hiroshima-coc): colour: unknown member"),
    (lambda d: d["events"][0]["evidence"][0].update(confidence="tertiary"),
     "events[0] (kddi, hiroshima-coc): evidence.0: confidence: must be one of primary, secondary"),
    (lambda d: d["events"][0].update(org="nobody"), "no organization 'nobody' in the file or the registry"),
    (lambda d: d["organizations"][0].update(country="XX"), "organizations[0] (openai): country: must be an ISO"),
    (lambda d: d["organizations"].append(dict(d["organizations"][0])), "the same record as organizations[0]"),
    (lambda d: d["codes"][1]["actions"][0].pop("heading"), "codes[1] (eu-gpai-cop): actions.0.heading: required"),
    (lambda d: d["events"][0].update(scope=[1]), "a report.published record is about the whole Code"),
    (lambda d: d.pop("format"), "the file: format: required member is missing"),
    (lambda d: d.update(format="hcoc-registry/records/v2"), "format: must be 'hcoc-registry/records/v1'"),
])
def test_an_invalid_entry_is_named(change: Any, message: str) -> None:
    doc = copy.deepcopy(DEMO)
    change(doc)
    with pytest.raises(InvalidRecordFileError) as info:
        records.plan(doc, ORIGIN)
    assert message in str(info.value)


def test_the_whole_record_loads_and_loads_once(backend: Backend) -> None:
    node, maintainer = _node(backend)
    try:
        # Check the numbers as a reader would: loaded, then nothing new on a second load.
        first = loader.load(node, DEMO, maintainer)
        assert (first.count("loaded"), first.count("skipped"), first.conflicts) == (148, 0, [])
        size = node.registry.size()
        again = loader.load(node, DEMO, maintainer)
        assert (again.count("loaded"), again.count("skipped"), again.conflicts) == (0, 148, [])
        assert node.registry.size() == size == 150
        # Every record is attested: a maintainer signed it, citing evidence.
        book = node.views.stances()
        assert book.stance("xai", "eu-gpai-cop").scope == [3]
        assert book.stance("meta", "eu-gpai-cop").status == "declined"
        assert book.stance("anthropic", "us-wh-voluntary-2023").removed == (2, 7)
    finally:
        node.close()


def test_a_record_that_disagrees_with_the_log_is_reported_not_forced(sqlite_backend: Backend) -> None:
    node, maintainer = _node(sqlite_backend)
    try:
        loader.load(node, DEMO, maintainer)
        size = node.registry.size()
        doc = copy.deepcopy(DEMO)
        xai = next(e for e in doc["events"] if e["org"] == "xai" and e["code"] == "eu-gpai-cop")
        xai["scope"] = [1, 3]  # the same record (same identity) saying something else
        doc["events"].append({**copy.deepcopy(doc["events"][49]), "date": "2030-01-01"})  # endorsing twice
        doc["events"].append({"type": "endorsement.withdrawn", "org": "openai", "code": "eu-gpai-cop",
                              "date": "2026-01", "reason": "Stepped back.",
                              "evidence": [{"url": "https://news.example/openai", "confidence": "secondary"}]})
        report = loader.load(node, doc, maintainer)
        conflicts = {o.where: o.reason for o in report.conflicts}
        assert len(conflicts) == 2
        (scope,) = [r for w, r in conflicts.items() if w.startswith("events[") and "(xai, eu-gpai-cop)" in w]
        assert "says otherwise about: scope" in scope
        assert any("already endorses" in r for r in conflicts.values())
        # The third new record was valid and is recorded; the conflicting ones are not.
        assert report.count("loaded") == 1 and node.registry.size() == size + 1
        assert node.views.stances().stance("openai", "eu-gpai-cop").status == "withdrawn"
        assert node.views.stances().stance("xai", "eu-gpai-cop").scope == [3]
    finally:
        node.close()


def test_a_file_with_one_bad_entry_stores_nothing(sqlite_backend: Backend) -> None:
    node, maintainer = _node(sqlite_backend)
    try:
        doc = copy.deepcopy(DEMO)
        doc["events"][-1]["evidence"][0]["url"] = "javascript:alert(1)"
        with pytest.raises(InvalidRecordFileError, match=r"events\[91\]"):
            loader.load(node, doc, maintainer)
        assert node.registry.size() == 2  # the genesis records only
    finally:
        node.close()


def test_registry_load_on_the_command_line(sqlite_backend: Backend, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {**sqlite_backend.env, "REGISTRY_DATA_DIR": str(sqlite_backend.data_dir)}
    assert runner.invoke(main, ["init", "--origin", ORIGIN], env=env).exit_code == 0
    shipped = tmp_path / "commitments.json"
    shipped.write_text(json.dumps(DEMO), "utf-8")
    dry = runner.invoke(main, ["load", str(shipped), "--dry-run"], env=env)
    assert dry.exit_code == 0 and "would load 148 records; 0 already recorded; 0 conflicts" in dry.output
    done = runner.invoke(main, ["load", str(shipped), "--json"], env=env)
    report = json.loads(done.output)
    assert (done.exit_code, report["loaded"], report["skipped"]) == (0, 148, 0)
    again = runner.invoke(main, ["load", str(shipped)], env=env)
    assert again.exit_code == 0 and "loaded 0 records; 148 already recorded; 0 conflicts" in again.output
    bad = copy.deepcopy(DEMO)
    bad["events"][14]["evidence"][0]["url"] = "find_string id 60371686658"
    shipped.write_text(json.dumps(bad), "utf-8")
    refused = runner.invoke(main, ["load", str(shipped)], env=env)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("refused: invalid-record-file: events[14] (amazon, eu-gpai-cop): evidence.0.url")
    shipped.write_text("{not json", "utf-8")
    assert runner.invoke(main, ["load", str(shipped)], env=env).stderr.startswith("refused: malformed:")


def test_hostile_text_in_a_record_file_is_recorded_as_is_or_refused() -> None:
    doc = {"format": records.RECORDS_FORMAT, "organizations": [
        {"slug": "evil", "name": "Evil\u202e<script>", "country": None, "kind": "company"}]}
    (org,) = records.plan(doc, ORIGIN)
    assert statements.validate(org.statement)["name"] == "Evil\u202e<script>"
    doc["organizations"][0]["name"] = "line\nbreak"
    with pytest.raises(InvalidRecordFileError, match=r"organizations\[0\] \(evil\): name: must not contain control"):
        records.plan(doc, ORIGIN)
