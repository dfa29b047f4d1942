"""The demo data: the Hiroshima Code of Conduct and organizations with public sources.

Turns ``data/hiroshima_seed.json`` into maintainer-attested statements. It never
claims more than a source shows: every organization is registered citing its
source; a ``report.published`` record is made only where the source *is* a
report under the OECD HAIP reporting framework; an endorsement only where the
source says the organization itself signed or endorsed the Code.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib import resources
from typing import Any

from registry.compose import statement

CODE = "hiroshima-coc"
VERSION = "2023-10-30"
HEADINGS_CAVEAT = (
    "Action headings are short paraphrases, not the official text; read the source for the Code itself. "
    "The full text was not archived by this registry, so no text hash is recorded."
)

# Which seed organizations have a HAIP report at their source URL, and for which period.
REPORTS = {
    "KDDI Corporation": "2025 (first cycle)",
    "NTT (Nippon Telegraph and Telephone) Group": "not stated in the source excerpt",
    "Microsoft": "2025 (first cycle)",
    "Google": "2025 (first cycle)",
    "ABEJA, Inc.": "2025",
}
# Organizations whose source says they themselves signed or endorsed the Code, with the date it shows.
ENDORSEMENTS = {"Milestone Systems": "2024-01-31"}


def load_seed() -> dict[str, Any]:
    """The seed file shipped with the package."""
    return json.loads(resources.files("registry").joinpath("data/hiroshima_seed.json").read_text("utf-8"))


def slug(name: str) -> str:
    """A registry slug from an organization name (``ABEJA, Inc.`` -> ``abeja``)."""
    base = re.sub(r"\(.*?\)", "", name)
    base = re.sub(r"\b(inc|corporation|corp|ltd|group)\b\.?", "", base, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:64].strip("-")


def statements(origin: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every demo statement, in the order they must be recorded."""
    seed = load_seed()
    coc = seed["code_of_conduct"]
    out = [
        statement(
            "code.revision_published", origin, now=now,
            code=CODE, version=VERSION, title=coc["title"], issuer=coc["issuer"],
            published_on=coc["published"], source_url=coc["source_url"],
            actions=[{"number": a["number"], "heading": a["heading"]} for a in coc["actions"]],
            supersedes=None, note=HEADINGS_CAVEAT,
        )
    ]
    for org in seed["organizations"]:
        evidence = [{"url": org["source_url"], "title": f"{org['confidence']} source: {org['note']}"[:300]}]
        out.append(statement(
            "organization.registered", origin, now=now,
            org=slug(org["name"]), name=org["name"], country=org["country"], kind=org["kind"],
            public_keys=[], evidence=evidence, note=f"Source ({org['confidence']}): {org['note']}",
        ))
        if org["name"] in REPORTS:
            out.append(statement(
                "report.published", origin, now=now,
                org=slug(org["name"]), code=CODE, framework="oecd-haip", period=REPORTS[org["name"]],
                url=org["source_url"], title="HAIP transparency report (OECD.AI)", evidence=evidence,
            ))
        if org["name"] in ENDORSEMENTS:
            out.append(statement(
                "endorsement.made", origin, now=now,
                org=slug(org["name"]), code=CODE, version=VERSION, scope="all",
                statement=org["note"], effective_date=ENDORSEMENTS[org["name"]], evidence=evidence,
            ))
    return out
