"""The overview (web.overview, templates/overview.html): who committed to which AI codes, and when.

Two halves. The shaping functions, pure, over a small story folded in a
:class:`StanceBook`: a cell for every stance, narrowed endorsements named by
what they kept and removed, dates as precise as recorded, filters that refuse
what no form offers and search names literally, a chart with a row per month
in which something took effect and a last row for undated records. Then the
page itself, through the Flask app, on a registry holding the real record
(``registry/data/commitments.json``: four Codes, 52 organizations), on SQLite
and on PostgreSQL: every Code and organization shown, xAI's one chapter, Meta's
refusal, Anthropic's narrowed commitments, filters and search, 400 for bad
values, and counts that agree with the API's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from lxml.html import HtmlElement

from registry import loader
from registry.stances import StanceBook, obligations
from registry.wording import CodeNames
from tests.conftest import Backend, load_demo, page, words
from web.overview import (
    CHART_STATUSES,
    MAX_SEARCH,
    NO_COUNTRY,
    Filter,
    apply_filter,
    cell,
    chart_scale,
    code_counts,
    countries,
    months_apart,
    parse_filter,
    table,
    timeline,
    today,
)

# --- the pure half: a small story ------------------------------------------------------------

WH = CodeNames("wh", "Voluntary AI Commitments", "White House Commitments", "commitment",
               {"v1": {"version": "v1", "actions": [{"number": n, "heading": f"C{n}"} for n in range(1, 9)]}})
COP = CodeNames("cop", "General-Purpose AI Code of Practice", "GPAI Code", "chapter",
                {"v1": {"version": "v1", "actions": [
                    {"number": 1, "heading": "T", "name": "Transparency"},
                    {"number": 2, "heading": "C", "name": "Copyright"},
                    {"number": 3, "heading": "S", "name": "Safety and Security"}]}})
SECONDARY = [{"url": "https://press.example/x", "source": "secondary"}]
PRIMARY = [{"url": "https://lab.example/x", "source": "primary"}]


def _doc(index: int, type_: str, org: str | None, code: CodeNames, **statement: Any) -> dict[str, Any]:
    return {"index": index, "type": type_, "org": org, "code": code.slug, "attested": True,
            "statement": {"type": type_, "code": code.slug, **({"org": org} if org else {}), **statement}}


def _revision(index: int, code: CodeNames) -> dict[str, Any]:
    return _doc(index, "code.revision_published", None, code, version="v1",
                actions=code.versions["v1"]["actions"])


STORY = [
    _revision(0, WH),
    _revision(1, COP),
    _doc(2, "endorsement.made", "lab-a", WH, version="v1", scope="all", effective_date="2023-07-21", evidence=PRIMARY),
    _doc(3, "endorsement.made", "lab-b", COP, version="v1", scope=[3], effective_date="2025-08-01",
         evidence=SECONDARY),
    _doc(4, "endorsement.declined", "lab-c", COP, version="v1", effective_date="2025-07-18", evidence=SECONDARY),
    _doc(5, "endorsement.made", "lab-d", COP, version="v1", scope="all", effective_date=None,
         date_note="Listed by December; when it signed is not known.", evidence=PRIMARY),
    _doc(6, "report.published", "lab-e", WH, framework="x", published_on="2024-07"),
    _doc(7, "endorsement.amended", "lab-a", WH, scope=[1, 3, 4, 5, 6, 8], effective_date="2025-03",
         scope_note="Which commitments were dropped is inferred.", evidence=SECONDARY),
    _doc(8, "endorsement.withdrawn", "lab-d", COP, effective_date="2025-11", reason="Left.", evidence=PRIMARY),
    _doc(9, "endorsement.made", "lab-f", COP, version="v1", scope=[1, 2], effective_date="2025-08-01",
         evidence=PRIMARY),
]
BOOK = StanceBook().extended(STORY)
ORGS = [{"org": slug, "name": name, "country": country, "kind": kind} for slug, name, country, kind in (
    ("lab-a", "Anthropic", "US", "company"), ("lab-b", "xAI", "US", "company"), ("lab-c", "Meta", "US", "company"),
    ("lab-d", "Straße Labs", "DE", "research"), ("lab-e", "Ａｌｐｈａ Ｉｎｓｔｉｔｕｔｅ", None, "research"),
    ("lab-f", "Mistral AI", "FR", "company"), ("lab-g", "<script>alert(1)</script> & Co", "JP", "company"))]
ROWS = table(ORGS, [WH, COP], BOOK)


def _cell(org: str, code: CodeNames) -> Any:
    return cell(BOOK.stance(org, code.slug), code)


def test_a_cell_for_every_status() -> None:
    shown = {(c.status, c.label, c.detail, c.when, c.index) for c in (
        _cell("lab-b", COP), _cell("lab-c", COP), _cell("lab-d", COP), _cell("lab-e", WH), _cell("lab-f", COP),
        _cell("lab-g", COP))}
    assert shown == {
        ("partial", "Partial", "chapter 3 (Safety and Security)", "1 August 2025", 3),
        ("declined", "Declined", "", "18 July 2025", 4),
        ("withdrawn", "Withdrawn", "", "November 2025", 8),
        ("reported", "Reported (no endorsement)", "", "July 2024", 6),
        ("partial", "Partial", "chapters 1 (Transparency), 2 (Copyright)", "1 August 2025", 9),
        ("none", "No record", "", "date not stated in the sources", None),
    }
    before = cell(BOOK.at("lab-a", WH.slug, "2024-12"), WH)
    assert (before.status, before.label, before.detail, before.when) == ("endorsed", "Endorsed", "all commitments",
                                                                         "21 July 2023")
    assert _cell("lab-b", COP).secondary and not _cell("lab-f", COP).secondary
    assert BOOK.at("lab-d", COP.slug, "2099-12").status == "withdrawn"
    assert cell(BOOK.stance("lab-d", COP.slug), COP).uncertain is False  # the withdrawal is dated and sure


def test_a_narrowed_endorsement_says_what_it_kept_and_what_it_removed() -> None:
    narrowed = _cell("lab-a", WH)
    assert (narrowed.status, narrowed.label, narrowed.narrowed) == ("partial", "Partly removed", True)
    assert narrowed.detail == "kept commitments 1, 3-6, 8; removed commitments 2, 7"
    assert (narrowed.date, narrowed.when, narrowed.index) == ("2025-03", "March 2025", 7)
    assert narrowed.secondary and narrowed.uncertain


def test_an_undated_record_never_gets_a_date() -> None:
    book = StanceBook().extended(STORY[:6])
    undated = cell(book.stance("lab-d", COP.slug), COP)
    assert (undated.status, undated.date, undated.when, undated.uncertain) == (
        "endorsed", None, "date not stated in the sources", True)


def test_rows_by_name_with_a_cell_per_code() -> None:
    assert [r.org for r in ROWS] == ["lab-g", "lab-e", "lab-a", "lab-c", "lab-f", "lab-d", "lab-b"]
    assert all(list(r.cells) == ["wh", "cop"] for r in ROWS)
    assert [r.org for r in ROWS if r.endorsing] == ["lab-a", "lab-f", "lab-b"]


def _shown(**query: str) -> list[str]:
    return [r.org for r in apply_filter(ROWS, parse_filter(query, ["wh", "cop"]))]


def test_filters_by_code_country_and_kind() -> None:
    assert _shown() == [r.org for r in ROWS]
    assert _shown(code="cop") == ["lab-c", "lab-f", "lab-d", "lab-b"]  # any record on it, a withdrawal too
    assert _shown(code="wh") == ["lab-e", "lab-a"]
    assert _shown(country="US") == ["lab-a", "lab-c", "lab-b"]
    assert _shown(country=NO_COUNTRY) == ["lab-e"]
    assert _shown(country="IT") == []  # a real country with nobody in it
    assert _shown(kind="research") == ["lab-e", "lab-d"]
    assert _shown(code="cop", country="US", kind="company") == ["lab-c", "lab-b"]
    assert parse_filter({"code": " cop "}, ["cop"]) == Filter(code="cop")
    assert not parse_filter({}, ["cop"]).active and parse_filter({"q": "x"}, []).active


@pytest.mark.parametrize(("query", "expected"), [
    ({"q": "ANTHRO"}, ["lab-a"]),
    ({"q": "STRASSE"}, ["lab-d"]),  # ß folds to ss
    ({"q": "alpha inst"}, ["lab-e"]),  # full-width letters fold to ASCII
    ({"q": "ＭＥＴＡ"}, ["lab-c"]),
    ({"q": "<script>"}, ["lab-g"]),  # markup is text
    ({"q": "& Co"}, ["lab-g"]),
    ({"q": ".*"}, []),  # not a pattern
    ({"q": "%"}, []),
    ({"q": "' OR 1=1 --"}, []),
    ({"q": "\u202eIA"}, []),  # a direction override is a character like any other
    ({"q": "😀"}, []),
    ({"q": "  ai  "}, ["lab-f", "lab-b"]),  # stripped, like every filter value
    ({"q": "a" * MAX_SEARCH}, []),
])
def test_search_is_a_literal_case_free_substring(query: dict[str, str], expected: list[str]) -> None:
    assert _shown(**query) == expected


@pytest.mark.parametrize(("query", "message"), [
    ({"code": "nope"}, "no Code 'nope'"),
    ({"country": "ZZ"}, "unknown country code 'ZZ'"),
    ({"country": "us"}, "unknown country code 'us'"),
    ({"country": "NONE"}, "unknown country code"),
    ({"kind": "robot"}, "unknown kind 'robot'"),
    ({"q": "a" * (MAX_SEARCH + 1)}, f"at most {MAX_SEARCH}"),
    ({"q": "x" * 100_000}, f"at most {MAX_SEARCH}"),
    ({"q": "a\x00b"}, "control characters"),
    ({"q": "a\nb"}, "control characters"),
])
def test_values_no_form_offers_are_refused(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_filter(query, ["wh", "cop"])


def test_country_options_are_the_countries_present_by_name() -> None:
    assert countries(ROWS) == [("FR", "France"), ("DE", "Germany"), ("JP", "Japan"), ("US", "United States"),
                               (NO_COUNTRY, "country not stated")]
    assert ("IT", "Italy") in countries(ROWS, "IT")  # the chosen one stays selectable


def test_counts_count_organizations_as_the_book_does() -> None:
    counts = {c.code.slug: dict(c.counts) for c in code_counts(ROWS, [WH, COP])}
    assert counts == {"wh": BOOK.counts("wh"), "cop": BOOK.counts("cop")}
    assert counts["cop"] == {"endorsed": 0, "partial": 2, "declined": 1, "withdrawn": 1, "reported": 0}
    shown = apply_filter(ROWS, Filter(country="US"))
    assert {c.code.slug: c.endorsing for c in code_counts(shown, [WH, COP])} == {"wh": 1, "cop": 1}


def test_the_chart_skips_empty_months_and_ends_with_the_undated_row() -> None:
    cop = timeline(BOOK, COP)
    assert [(r.month, r.skipped) for r in cop.rows] == [("2025-07", 0), ("2025-08", 0), ("2025-11", 2), (None, 0)]
    assert cop.undated == 1
    assert [dict(r.counts) for r in cop.rows] == [
        {"endorsed": 0, "partial": 0, "declined": 1, "withdrawn": 0, "reported": 0},
        {"endorsed": 0, "partial": 2, "declined": 1, "withdrawn": 0, "reported": 0},
        # lab-d's undated endorsement is not in any month; its dated withdrawal is
        {"endorsed": 0, "partial": 2, "declined": 1, "withdrawn": 1, "reported": 0},
        BOOK.counts("cop"),
    ]
    assert cop.rows[-1].label == "Now" and cop.rows[0].label == "Jul 2025"
    # Segments lie end to end, one per status present, in the key's order.
    last = cop.rows[-1]
    assert [(s.status, s.x, s.width) for s in last.segments] == [("partial", 0, 2), ("declined", 2, 1),
                                                                ("withdrawn", 3, 1)]
    assert last.summary == "2 endorsed in part, 1 declined, 1 withdrew"
    wh = timeline(BOOK, WH)
    assert [(r.month, r.skipped) for r in wh.rows] == [("2023-07", 0), ("2024-07", 11), ("2025-03", 7)]
    assert wh.undated == 0 and dict(wh.rows[-1].counts) == BOOK.counts("wh")  # every record dated: the last is now
    assert chart_scale([cop, wh]) == 4
    assert chart_scale([timeline(StanceBook(), COP)]) == 1  # nothing to draw still has a width
    assert timeline(StanceBook(), COP).rows == []


def test_months_apart() -> None:
    assert months_apart("2024-12", "2025-01") == 1
    assert months_apart("2023-07", "2025-03") == 20
    assert months_apart("2025-03", "2025-03") == 0


# --- the page, on the real record --------------------------------------------------------------

DEMO = loader.demo_document()
CODES = ["us-wh-voluntary-2023", "hiroshima-coc", "seoul-faisc", "eu-gpai-cop"]  # oldest first
SHORT = {"hiroshima-coc": "Hiroshima AI Code of Conduct", "eu-gpai-cop": "EU GPAI Code of Practice",
         "seoul-faisc": "Seoul Frontier AI Safety Commitments",
         "us-wh-voluntary-2023": "2023 White House AI Commitments"}


@dataclass
class Served:
    app: Flask
    book: StanceBook


@pytest.fixture(scope="module")
def served(module_backend: Backend) -> Iterator[Served]:
    record = load_demo(module_backend)
    with module_backend.serve() as app:
        yield Served(app, record.book)


text = words


def matrix(doc: HtmlElement) -> dict[str, dict[str, HtmlElement]]:
    """The table of organizations by Codes: organization slug -> Code slug -> cell."""
    found = doc.xpath("//table[contains(@class, 'matrix')]")
    if not found:
        return {}  # nobody matches: no table at all
    table_ = found[0]
    codes = [a.get("href").rsplit("/", 1)[1] for a in table_.xpath("./thead/tr/th/a")]
    out = {}
    for tr in table_.xpath("./tbody/tr"):
        slug = tr.xpath("./th/a/@href")[0].rsplit("/", 1)[1]
        out[slug] = dict(zip(codes, tr.xpath("./td"), strict=True))
    return out


def test_every_code_and_every_organization(client: FlaskClient) -> None:
    doc = page(client, "/")
    assert doc.xpath("//h1")[0].text == "Who committed to which AI codes, and when"
    lead = text(doc.xpath("//p[@class='lead']")[0])
    assert lead.startswith("The registry follows 4 codes of conduct for advanced AI: 2023 White House AI Commitments, "
                           "Hiroshima AI Code of Conduct, Seoul Frontier AI Safety Commitments and EU GPAI Code of "
                           "Practice.")
    thead = doc.xpath("//table[contains(@class, 'matrix')]/thead//th/a")
    assert [(a.get("href"), text(a)) for a in thead] == [(f"/codes/{c}", SHORT[c]) for c in CODES]
    rows = matrix(doc)
    assert sorted(rows) == sorted(o["slug"] for o in DEMO["organizations"]) and len(rows) == 52
    names = [text(a) for a in doc.xpath("//table[contains(@class, 'matrix')]/tbody/tr/th/a")]
    assert names == sorted(names, key=str.casefold)
    assert "Anthropic" in names and "xAI" in names
    metas = {text(m) for m in doc.xpath("//span[@class='org-meta']")}
    assert {"United States · company", "country not stated · company", "Japan · company"} <= metas
    assert doc.xpath("//title")[0].text.startswith("Overview · ")


def test_the_cells_say_where_each_stands_and_link_the_record(client: FlaskClient, served: Served) -> None:
    rows = matrix(page(client, "/"))
    xai = rows["xai"]["eu-gpai-cop"]
    assert text(xai).startswith("Partial: chapter 3 (Safety and Security) 1 August 2025")
    assert xai.xpath("./a/@href") == [f"/log/{served.book.stance('xai', 'eu-gpai-cop').index}"]
    meta = rows["meta"]["eu-gpai-cop"]
    assert text(meta).startswith("Declined 18 July 2025") and "st-declined" in meta.get("class")
    anthropic = rows["anthropic"]["us-wh-voluntary-2023"]
    assert text(anthropic) == ("Partly removed: kept commitments 1, 3-6, 8; removed commitments 2, 7 March 2025 "
                               "secondary sources uncertain")
    assert anthropic.xpath(".//time/@datetime") == ["2025-03"]
    assert "st-narrowed" in anthropic.get("class")
    assert text(rows["xai"]["us-wh-voluntary-2023"]) == "No record" and not rows["xai"]["us-wh-voluntary-2023"].xpath(
        ".//a")
    undated = [c for r in rows.values() for c in r.values() if "date not stated in the sources" in text(c)]
    assert undated and all(not c.xpath(".//time") for c in undated)
    # Every cell agrees with the state the API serves: the same status, from the same log entry.
    state = json.loads(client.get("/api/v1/state").get_data())
    for e in state["endorsements"]:
        shown = rows[e["org"]][e["code"]]
        expected = {"active": "st-endorsed" if e["scope"] == "all" else "st-partial", "withdrawn": "st-withdrawn",
                    "declined": "st-declined"}[e["status"]]
        assert expected in shown.get("class").split(), (e["org"], e["code"])
        assert shown.xpath("./a/@href") == [f"/log/{e['last']['index']}"], (e["org"], e["code"])
    reported = {(o["org"], r["code"]) for o in state["organizations"] for r in o["reports"]} - {
        (e["org"], e["code"]) for e in state["endorsements"]}
    assert reported and {(o, c) for o, r in rows.items() for c, td in r.items()
                         if "st-reported" in td.get("class")} == reported


def _slugs(client: FlaskClient, query: str) -> list[str]:
    return list(matrix(page(client, "/" + query)))


def test_filters_and_search_narrow_the_rows(client: FlaskClient, served: Served) -> None:
    everyone = _slugs(client, "")
    gpai = _slugs(client, "?code=eu-gpai-cop")
    assert len(gpai) == sum(served.book.counts("eu-gpai-cop").values()) == 29
    assert "meta" in gpai and "xai" in gpai and set(gpai) < set(everyone)
    assert _slugs(client, "?q=anthro") == ["anthropic"]
    assert _slugs(client, "?q=%EF%BC%A1%EF%BC%AE%EF%BC%B4%EF%BC%A8%EF%BC%B2%EF%BC%AF") == ["anthropic"]  # ＡＮＴＨＲＯ
    assert _slugs(client, "?q=%3Cscript%3E") == []
    doc = page(client, "/?country=JP")
    japanese = list(matrix(doc))
    assert len(japanese) == 6 and {text(m) for m in doc.xpath("//span[@class='org-meta']")} == {"Japan · company"}
    unknown = page(client, f"/?country={NO_COUNTRY}")
    assert len(matrix(unknown)) == 14
    assert {text(m) for m in unknown.xpath("//span[@class='org-meta']")} <= {"country not stated · company",
                                                                              "country not stated · research institute"}
    assert _slugs(client, "?kind=research") != [] and len(_slugs(client, "?kind=research")) == 1
    both = page(client, "/?code=hiroshima-coc&country=JP&q=n")
    assert set(matrix(both)) <= set(japanese)
    assert text(both.xpath("//p[@id='result-count']")[0]) == (
        f"{len(matrix(both))} of 52 organizations match (name contains “n”).")
    assert both.xpath("//select[@id='code']/option[@selected]/@value") == ["hiroshima-coc"]
    assert both.xpath("//select[@id='country']/option[@selected]/@value") == ["JP"]
    assert both.xpath("//input[@id='q']/@value") == ["n"]
    # The country menu offers only the countries present, by name, and "not stated" last.
    options = both.xpath("//select[@id='country']/option/text()")
    assert options[0] == "Any country" and options[-1] == "country not stated"
    assert options[1:-1] == sorted(options[1:-1]) and "Italy" not in options and "Japan" in options
    hostile = page(client, "/?q=%3Cb%3E%E2%80%AEx%3C%2Fb%3E")
    assert not hostile.xpath("//main//b") and text(hostile.xpath("//p[@id='result-count']")[0]) == (
        "0 of 52 organizations match (name contains “<b>\u202ex</b>”).")
    assert hostile.xpath("//p[@id='result-count']/bdi")
    assert page(client, "/?q=").xpath("//p[@id='result-count']")[0].text_content().startswith("All 52")


@pytest.mark.parametrize("query", ["?code=nope", "?country=ZZ", "?country=jp", "?kind=robot",
                                   "?q=" + "a" * (MAX_SEARCH + 1), "?q=a%00b", "?q=a%0Ab"])
def test_bad_filter_values_are_a_400_page(client: FlaskClient, query: str) -> None:
    doc = page(client, "/" + query, status=400)
    assert doc.xpath("//main//h1")[0].text == "Bad Request"


def test_counts_and_chart_agree_with_the_table_and_the_api(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/")
    rows = matrix(doc)
    assert [int(c.text) for c in doc.xpath("//ul[@class='counts']//span[@class='count']")] == [52, 48]
    counts = {a.get("href").rsplit("/", 1)[1]: [int(td.text) for td in tr.xpath("./td[@data-status]")]
              for tr in doc.xpath("//table[@class='code-counts']/tbody/tr") for a in tr.xpath("./th/a")}
    figures = doc.xpath("//figure[@class='timeline']")
    assert [f.xpath("./figcaption/a/@href")[0] for f in figures] == [f"/codes/{c}" for c in CODES]
    for code, figure in zip(CODES, figures, strict=True):
        expected = [served.book.counts(code)[s] for s in CHART_STATUSES]
        # the counts table, the table's cells and the book agree ...
        assert counts[code] == expected
        assert [sum(1 for r in rows.values() if f"st-{s}" in r[code].get("class").split()) for s in CHART_STATUSES] \
            == expected
        # ... and with the API: endorsements by status, reports by organization
        api = json.loads(client.get(f"/api/v1/endorsements?code={code}&limit=200").get_data())
        assert api["next"] is None  # one page holds them all
        statuses = [e["status"] for e in api["items"]]
        chart_rows = figure.xpath(".//table[@class='tl-table']/tbody/tr")
        last = {td.get("data-status"): int(td.text) for td in chart_rows[-1].xpath("./td")}
        assert [last[s] for s in CHART_STATUSES] == expected
        assert last["endorsed"] + last["partial"] == statuses.count("active")
        assert (last["declined"], last["withdrawn"]) == (statuses.count("declined"), statuses.count("withdrawn"))
        assert last["total"] == sum(expected)
        # one row per month in which a record took effect, in order, then "Now" only for undated records
        months = [tr.xpath("./th")[0].text_content().strip() for tr in chart_rows]
        undated = served.book.undated(code)
        assert len(months) == len(served.book.months(code)) + (1 if undated else 0)
        if undated:
            assert months[-1] == f"Now (with {undated} undated record{'' if undated == 1 else 's'})"
            assert figure.xpath(".//li[contains(@class, 'tl-now')]//span[@class='tl-note']")[0].text == (
                f"with {undated} record{'' if undated == 1 else 's'} whose date the sources do not state")
        bars = figure.xpath(".//li[contains(@class, 'tl-row')]/svg")
        assert len(bars) == len(months)
        for svg, tr in zip(bars, chart_rows, strict=True):
            widths = {r.get("class").split()[1].removeprefix("seg-"): int(r.get("width"))
                      for r in svg.xpath("./*[local-name()='rect'][contains(@class, 'seg ')]")}
            assert widths == {td.get("data-status"): int(td.text) for td in tr.xpath("./td")
                              if td.get("data-status") in CHART_STATUSES and int(td.text)}
    # The White House commitments: every record dated, with quiet months skipped and said so.
    wh = figures[0]
    assert [t.strip() for t in wh.xpath(".//li[contains(@class, 'tl-row')]//time/text()")] == [
        "Jul 2023", "Sep 2023", "Jul 2024", "Mar 2025"]
    assert [text(g) for g in wh.xpath(".//li[@class='tl-gap']")] == [
        "1 month with nothing dated", "9 months with nothing dated", "7 months with nothing dated"]
    # Seoul: a 2023 safety framework counts as a report, not as an endorsement before the summit.
    seoul = figures[2].xpath(".//table[@class='tl-table']/tbody/tr")
    assert text(seoul[0].xpath("./th")[0]) == "September 2023"
    assert {td.get("data-status"): int(td.text) for td in seoul[0].xpath("./td")}["endorsed"] == 0


def test_obligations_downloads_and_latest_events(client: FlaskClient, served: Served) -> None:
    doc = page(client, "/")
    dues = doc.xpath("//ul[@class='dues']/li")
    assert len(dues) == 1
    due = dues[0]
    assert text(due.xpath("./p[@class='due-what']")[0]) == (
        "Seoul Frontier AI Safety Commitments: Publish a safety framework covering the commitments, "
        "due 10 February 2025.")
    assert set(due.xpath(".//a/@href")) == {"/codes/seoul-faisc#obligations"}
    shown = {li.get("class").removeprefix("verdict-"): int(li.xpath("./span")[0].text)
             for li in due.xpath(".//ul[@class='verdicts']/li")}
    [expected] = obligations(served.book, "seoul-faisc", today())
    assert shown == {v: expected.count(v) for v in ("met", "missed", "pending", "undetermined")}
    assert sum(shown.values()) == len(expected.verdicts) == 20
    downloads = doc.xpath("//section[@id='downloads']//a/@href")
    assert {"/api/v1/stances.csv", "/api/v1/stances", "/api/v1/state"} <= set(downloads)
    assert len(doc.xpath("//section[@id='latest']//ol[contains(@class, 'events')]/li")) == 10
    assert doc.xpath("//link[@rel='stylesheet']/@href")[-1] == "/static/overview.css"
    css = client.get("/static/overview.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    css.close()
    with served.app.test_request_context():
        assert url_for("pages.overview") == "/"
