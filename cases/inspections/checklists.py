"""Checklists (检查表) as versioned data.

A checklist is YAML: ``code``, ``title``, ``applies_to`` (project / building) and ``items``, each
``{code, text, category?, basis?, major_hazard_item?, results?}`` (``results``: the results the item
may take, default all three — e.g. ``[pass, fail]`` for an item that always applies). ``parse_checklist`` checks it (codes unique,
category one of the hazard categories of the hazard machine, ``major_hazard_item`` a 2022 catalogue
item) and answers 422 naming the line's item by its label. ``load_version`` stores it as the next
version of its code unless a version with the same SHA-256 already exists (then that one is
answered). A version is never changed or deleted: an inspection names the version it used.

The shipped files (``state_machines/checklists/*.yaml``) are loaded by ``sync_shipped`` — at
``anjian db upgrade`` (with the reference data) and at start-up; an edited file becomes a new version.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.inspections import APPLIES_TO, RESULTS
from cases.ledger.labels import describe_options
from cases.models import Checklist, HazardCatalogItem, User
from cases.platform.errors import NotFound, ValidationFailed

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "state_machines" / "checklists"
MAX_ITEMS = 300
MAX_YAML_BYTES = 512 * 1024
CODE_MAX, TITLE_MAX, TEXT_MAX, BASIS_MAX = 64, 200, 500, 300


def hazard_categories() -> dict[str, str]:
    """The hazard categories (value → label) of the latest hazard machine's ``category`` field."""
    from cases.ledger.engine import get_registry

    definition = get_registry().latest("hazard")
    for spec in definition.create_fields:
        if spec.name == "category":
            return dict(spec.options or {})
    return {}


@dataclass
class Parsed:
    code: str
    title: str
    applies_to: str
    items: list[dict[str, Any]]
    sha256: str


def _err(field: str, label: str, message: str) -> dict[str, str]:
    return {"field": field, "label": label, "message": message}


def _text(raw: Any, limit: int) -> str | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or "\x00" in raw:
        return None
    raw = raw.strip()
    return raw if raw and len(raw) <= limit else None


def parse_checklist(data: bytes | str, catalogue_codes: set[str] | None = None) -> Parsed:
    """The checklist a YAML text describes, checked; ValidationFailed lists every problem."""
    raw_bytes = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw_bytes) > MAX_YAML_BYTES:
        raise ValidationFailed([_err("file", "检查表文件", f"过大：最多{MAX_YAML_BYTES // 1024} KB")])
    try:
        doc = yaml.safe_load(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationFailed([_err("file", "检查表文件", "应为 UTF-8 编码的 YAML 文本")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第{mark.line + 1}行第{mark.column + 1}列" if mark is not None else ""
        raise ValidationFailed([_err("file", "检查表文件", f"不是合法的 YAML{('（' + where + '）') if where else ''}")]) from None
    if not isinstance(doc, dict):
        raise ValidationFailed([_err("file", "检查表文件", "应为包含 code、title、applies_to、items 的 YAML 对象")])
    errors: list[dict[str, str]] = []
    code = _text(doc.get("code"), CODE_MAX)
    if code is None or not all(c.isascii() and (c.isalnum() or c in "_-") for c in code):
        errors.append(_err("code", "检查表代码", f"必填，由字母、数字、下划线或连字符组成，不超过{CODE_MAX}个字符"))
    title = _text(doc.get("title"), TITLE_MAX)
    if title is None:
        errors.append(_err("title", "检查表名称", f"必填，不超过{TITLE_MAX}个字符"))
    applies_to = doc.get("applies_to", "project")
    if applies_to not in APPLIES_TO:
        errors.append(_err("applies_to", "适用对象", f"取值“{applies_to}”无效，{describe_options(APPLIES_TO)}"))
    raw_items = doc.get("items")
    items: list[dict[str, Any]] = []
    if not isinstance(raw_items, list) or not raw_items:
        errors.append(_err("items", "检查项", "应为非空的检查项列表"))
        raw_items = []
    elif len(raw_items) > MAX_ITEMS:
        errors.append(_err("items", "检查项", f"最多{MAX_ITEMS}项"))
        raw_items = []
    categories = hazard_categories()
    seen: set[str] = set()
    for i, raw in enumerate(raw_items):
        where = f"items[{i}]"
        label = f"第{i + 1}个检查项"
        if not isinstance(raw, dict):
            errors.append(_err(where, label, "应为包含 code、text 的对象"))
            continue
        item_code = _text(raw.get("code"), CODE_MAX)
        if item_code is None:
            errors.append(_err(f"{where}.code", f"{label}的代码", f"必填，不超过{CODE_MAX}个字符"))
            continue
        label = f"检查项“{item_code}”"
        if item_code in seen:
            errors.append(_err(f"{where}.code", f"{label}的代码", "与前面的检查项重复：代码须唯一"))
        seen.add(item_code)
        text = _text(raw.get("text"), TEXT_MAX)
        if text is None:
            errors.append(_err(f"{where}.text", f"{label}的内容", f"必填，不超过{TEXT_MAX}个字符"))
        category = raw.get("category")
        if category is not None and category not in categories:
            errors.append(_err(f"{where}.category", f"{label}的隐患类别",
                               f"取值“{category}”无效，{describe_options(categories)}"))
        if category is not None and applies_to == "building":
            errors.append(_err(f"{where}.category", f"{label}的隐患类别", "既有房屋检查表的检查项不设隐患类别"))
        basis = raw.get("basis")
        if basis is not None and _text(basis, BASIS_MAX) is None:
            errors.append(_err(f"{where}.basis", f"{label}的依据", f"应为不超过{BASIS_MAX}个字符的文本"))
        major = raw.get("major_hazard_item")
        major = str(major) if isinstance(major, (int, float, str)) and not isinstance(major, bool) else major
        if major is not None:
            if applies_to == "building":
                errors.append(_err(f"{where}.major_hazard_item", f"{label}的重大事故隐患判定条目",
                                   "既有房屋检查表的检查项不对应重大事故隐患判定条目"))
            elif not isinstance(major, str) or (catalogue_codes is not None and major not in catalogue_codes):
                errors.append(_err(f"{where}.major_hazard_item", f"{label}的重大事故隐患判定条目",
                                   f"判定标准中没有条目“{major}”"))
        results = raw.get("results", list(RESULTS))
        if (not isinstance(results, list) or not results or any(r not in RESULTS for r in results)
                or "pass" not in results or "fail" not in results or len(set(results)) != len(results)):
            errors.append(_err(f"{where}.results", f"{label}的可选结果",
                               "应为 pass（合格）、fail（不合格）、na（不适用）中不重复的几项，且须含 pass 和 fail"))
            results = list(RESULTS)
        items.append({"code": item_code, "text": text, "category": category, "results": results,
                      "basis": _text(basis, BASIS_MAX) if basis is not None else None, "major_hazard_item": major})
    unknown = sorted(set(doc) - {"code", "title", "applies_to", "items"})
    if unknown:
        errors.append(_err(unknown[0], f"字段“{unknown[0]}”", "不是检查表的字段（可填写：code、title、applies_to、items）"))
    if errors:
        raise ValidationFailed(errors)
    return Parsed(code, title, applies_to, items, hashlib.sha256(raw_bytes).hexdigest())


def catalogue_codes(session: Session) -> set[str]:
    return set(session.scalars(select(HazardCatalogItem.item_code)))


@dataclass
class Loaded:
    checklist: Checklist
    created: bool  # False: this exact YAML was already a version


def load_version(session: Session, data: bytes | str, now: datetime, user: User | None = None) -> Loaded:
    """Store the YAML as the next version of its checklist (or answer the version it already is).
    With ``user``: an admin's upload — checklists are the same for the whole province, so the root
    admin's act (cases.ledger.policy.require_root_admin)."""
    if user is not None:
        from cases.ledger.policy import require_root_admin

        require_root_admin(session, user, "检查表")
    parsed = parse_checklist(data, catalogue_codes(session))
    same = session.scalars(select(Checklist).where(Checklist.code == parsed.code, Checklist.sha256 == parsed.sha256)
                           .order_by(Checklist.version.desc())).first()
    if same is not None:
        return Loaded(same, False)
    # One version number at a time per code: the unique (code, version) refuses a racing twin.
    latest = session.scalar(select(func.max(Checklist.version)).where(Checklist.code == parsed.code)) or 0
    row = Checklist(code=parsed.code, version=latest + 1, title=parsed.title, applies_to=parsed.applies_to,
                    items=parsed.items, sha256=parsed.sha256, loaded_at=now,
                    loaded_by_id=user.id if user is not None else None)
    session.add(row)
    session.flush()
    return Loaded(row, True)


def sync_shipped(session: Session, now: datetime, directory: Path = SHIPPED_DIR) -> int:
    """Load every shipped checklist whose YAML is new; returns how many versions were added."""
    added = 0
    for path in sorted(directory.glob("*.yaml")):
        if load_version(session, path.read_bytes(), now).created:
            added += 1
    return added


def latest_versions(session: Session, applies_to: str | None = None) -> list[Checklist]:
    """The newest version of each checklist, by title (what a new inspection is offered)."""
    newest = (select(Checklist.code, func.max(Checklist.version).label("v")).group_by(Checklist.code).subquery())
    stmt = select(Checklist).join(newest, (Checklist.code == newest.c.code) & (Checklist.version == newest.c.v))
    if applies_to:
        stmt = stmt.where(Checklist.applies_to == applies_to)
    return list(session.scalars(stmt.order_by(Checklist.applies_to.desc(), Checklist.code)))


def all_versions(session: Session) -> list[Checklist]:
    return list(session.scalars(select(Checklist).order_by(Checklist.code, Checklist.version.desc())))


def get_checklist(session: Session, checklist_id: int) -> Checklist:
    row = session.get(Checklist, checklist_id) if isinstance(checklist_id, int) and abs(checklist_id) < 2**62 else None
    if row is None:
        raise NotFound(f"检查表（编号{checklist_id}）不存在")
    return row


def checklist_json(row: Checklist, *, items: bool = True) -> dict[str, Any]:
    categories = hazard_categories()
    out: dict[str, Any] = {
        "id": row.id, "code": row.code, "version": row.version, "title": row.title,
        "applies_to": row.applies_to, "applies_to_label": APPLIES_TO.get(row.applies_to, row.applies_to),
        "sha256": row.sha256, "loaded_at": row.loaded_at.isoformat(), "loaded_by_id": row.loaded_by_id,
        "item_count": len(row.items or []),
    }
    if items:
        out["items"] = [{**it, "category_label": categories.get(it.get("category")) if it.get("category") else None}
                        for it in row.items or []]
    return out
