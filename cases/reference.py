"""Reference data: the jurisdiction tree and the major-hazard catalogue, loaded idempotently."""
from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.ledger.identifiers import division_level
from cases.models import HazardCatalogItem, Jurisdiction

DATA_DIR = Path(__file__).parent / "data"


def authority_name(name: str, level: str, parent: Jurisdiction | None) -> str:
    """The construction regulator's name as printed on documents."""
    if level == "province":
        return f"{name}住房和城乡建设厅"
    if level == "county" and parent is not None and not name.startswith(parent.name[:2]):
        return f"{parent.name}{name}住房和城乡建设局"
    return f"{name}住房和城乡建设局"


def load_jurisdictions(session: Session, path: Path = DATA_DIR / "jiangsu-divisions.csv") -> int:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    existing = {j.code: j for j in session.scalars(select(Jurisdiction))}
    added = 0
    # Parents first: the file lists province, prefectures, then counties.
    for row in sorted(rows, key=lambda r: (len(r["parent_code"] or ""), r["code"])):
        if row["code"] in existing:
            continue
        parent = existing.get(row["parent_code"]) if row["parent_code"] else None
        level = row.get("level") or division_level(row["code"])
        j = Jurisdiction(
            code=row["code"], name=row["name"], parent_code=parent.code if parent else None, level=level,
            path=(parent.path if parent else "") + row["code"] + "/",
            authority_name=authority_name(row["name"], level, parent), note=row.get("note") or None,
        )
        session.add(j)
        existing[j.code] = j
        added += 1
    session.flush()
    return added


def load_hazard_catalog(session: Session, path: Path = DATA_DIR / "major-hazards-2022.yaml") -> int:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    edition = str(raw["edition"])
    existing = set(session.scalars(select(HazardCatalogItem.item_code).where(HazardCatalogItem.edition == edition)))
    effective = raw["effective_from"]
    effective = effective.isoformat() if isinstance(effective, date) else str(effective)
    added = 0
    for cat in raw["categories"]:
        for item in cat["items"]:
            if str(item["code"]) in existing:
                continue
            session.add(HazardCatalogItem(
                edition=edition, document=raw["document"], effective_from=effective,
                category_code=cat["code"], category_name=cat["name"], item_code=str(item["code"]),
                text=item["text"], confirmed=bool(item.get("confirmed", True)),
            ))
            added += 1
    session.flush()
    return added


def load_reference_data(session: Session) -> None:
    load_jurisdictions(session)
    load_hazard_catalog(session)
    from cases.inspections.checklists import sync_shipped  # checklists: a new version when a file changed
    from cases.platform.clock import now

    sync_shipped(session, now())
