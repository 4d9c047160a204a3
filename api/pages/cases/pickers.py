"""Pickers: what a form's reference field may name, as JSON for app.js (``/picker/…?q=``), and the same
lists and lookups for the form pages themselves (the first options, a chosen id's name, a typed name).

Every list is the query behind the API's own list (``api.routes.reference``): a user is offered only
what they may read there (an officer of 吴中区 never sees 姑苏区 projects). Cookie-authenticated.

Without JavaScript a reference field is an ``<input list=…>`` whose ``<datalist>`` the server filled
with the first visible options; what is posted — an id, or a name typed or chosen — is resolved here
(``resolve``): digits are an id, anything else the exact name (or the option's whole label) of one
visible row; a name that is no row's, or several rows', is said so at the field.
"""
from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.pages.common import PageUser
from api.routes.reference import (buildings_query, enterprises_query, hazard_catalog_query, projects_query,
                                  users_query)
from cases.ledger.accident import GRADE_LABELS, accident_grade
from cases.ledger.access import STAFF_ROLES
from cases.ledger.validation import MAX_INT
from cases.models import Building, Enterprise, HazardCatalogItem, Project, User

router = APIRouter(include_in_schema=False)

FIRST = 30  # options the server puts in a datalist (and a JSON answer holds at most)
SOURCES = ("enterprises", "projects", "buildings", "users", "hazard-items")
RESOLVE_MAX = 50  # same-named rows compared by their whole label
UNRESOLVED = "未找到“{text}”：请从列表中选择，或输入名称全称、编号"
AMBIGUOUS = "名为“{text}”的不止一个：请从列表中选择（名称后附有区分信息），或输入编号"
MODELS = {"enterprises": (Enterprise, Enterprise.name), "projects": (Project, Project.name),
          "buildings": (Building, Building.name), "users": (User, User.display_name)}


def _query(user, source: str, q: str | None):
    if source == "enterprises":
        return enterprises_query(user, q)
    if source == "projects":
        return projects_query(user, q)
    if source == "buildings":
        return buildings_query(user, q)
    if source == "users":  # who can be an assignee: active staff who handle cases
        stmt = users_query(user).where(User.active.is_(True), User.role.in_(("officer", "supervisor")))
        if q:
            stmt = stmt.where(User.display_name.icontains(q, autoescape=True)
                              | User.username.icontains(q, autoescape=True))
        return stmt
    raise KeyError(source)


def item(source: str, row: Any) -> dict[str, str]:
    """``{"value": id, "label": "名称 · 补充"}`` — what a person tells rows apart by."""
    if source == "enterprises":
        return {"value": str(row.id), "label": f"{row.name} · {row.credit_code}"}
    if source == "projects":
        return {"value": str(row.id), "label": f"{row.name} · {row.address}"}
    if source == "buildings":
        return {"value": str(row.id), "label": f"{row.name} · {row.address}"}
    if source == "users":
        return {"value": str(row.id), "label": f"{row.display_name} · {row.username}"}
    return {"value": row.item_code, "label": f"{row.item_code} {row.category_name}：{row.text}"}


def items(session: Session, user, source: str, q: str | None = None, limit: int = FIRST) -> list[dict[str, str]]:
    q = (q or "").strip()[:100] or None
    if source == "hazard-items":
        stmt = hazard_catalog_query()
        if q:
            stmt = stmt.where(HazardCatalogItem.item_code.icontains(q, autoescape=True)
                              | HazardCatalogItem.text.icontains(q, autoescape=True)
                              | HazardCatalogItem.category_name.icontains(q, autoescape=True))
        return [item(source, r) for r in session.scalars(stmt.limit(limit))]
    if source in ("users", "buildings") and user.role not in STAFF_ROLES:
        return []
    return [item(source, r) for r in session.scalars(_query(user, source, q).limit(limit))]


def hazard_groups(session: Session) -> list[tuple[str, list[dict[str, str]]]]:
    """The catalogue by category (a select with optgroups: no JavaScript needed)."""
    groups: dict[str, list[dict[str, str]]] = {}
    for r in session.scalars(hazard_catalog_query()):
        groups.setdefault(r.category_name, []).append(
            {"value": r.item_code, "label": f"{r.item_code} {r.text}", "text": r.text})
    return list(groups.items())


def label_of(session: Session, user, source: str, value: Any) -> str | None:
    """The label of a chosen id (only if the user may see it), for "已选：…" under the field."""
    if source == "hazard-items":
        row = session.scalars(hazard_catalog_query().where(HazardCatalogItem.item_code == str(value)).limit(1)).first()
        return item(source, row)["label"] if row else None
    if not (isinstance(value, int) and abs(value) <= MAX_INT):
        return None
    model, _ = MODELS[source]
    row = session.scalars(_query(user, source, None).where(model.id == value).limit(1)).first()
    return item(source, row)["label"] if row else None


def resolve(session: Session, user, source: str, text: str) -> tuple[int | str, str | None]:
    """What was posted → (an id, None): digits are the id; else the exact name (a user's, or login) —
    or the whole label "名称 · 补充" of an option, which tells same-named rows apart — of one visible
    row. Otherwise (the text as it is, why not): the service refuses the text, the page says why."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) < 19:
        return int(text), None
    name = text.split(" · ")[0].strip()
    model, name_col = MODELS[source]
    same = (name_col == name) | (User.username == name) if source == "users" else name_col == name
    rows = list(session.scalars(_query(user, source, None).where(same).limit(RESOLVE_MAX)))
    if len(rows) > 1 and " · " in text:
        rows = [r for r in rows if item(source, r)["label"] == text] or rows
    if len(rows) == 1:
        return rows[0].id, None
    if rows:
        return text, AMBIGUOUS.format(text=text)
    return text, UNRESOLVED.format(text=text)


def grade_of(deaths: Any, serious: Any, loss: Any) -> tuple[str | None, str]:
    """The server's own rule (cases.ledger.accident): blank counts as 0; unreadable → no grade."""
    try:
        d = int(deaths or 0)
        s = int(serious or 0)
        money = float(loss or 0)
    except (TypeError, ValueError, OverflowError):
        return None, "请填写有效的人数和金额"
    if not math.isfinite(money):
        return None, "请填写有效的人数和金额"
    grade = accident_grade(d, s, money)
    return grade, GRADE_LABELS[grade] if grade else "未达到房屋市政工程生产安全事故等级"


@router.get("/picker/accident-grade")
def accident_grade_json(request: Request, user: PageUser, deaths: str | None = Query(None, max_length=20),
                        serious: str | None = Query(None, max_length=20), loss: str | None = Query(None, max_length=30)):
    grade, label = grade_of(deaths, serious, loss)
    return JSONResponse({"grade": grade, "label": label}, headers={"Cache-Control": "no-store"})


@router.get("/picker/{source}")
def picker(source: str, request: Request, user: PageUser, q: str | None = Query(None, max_length=100)):
    if source not in SOURCES:
        return JSONResponse({"items": [], "detail": "没有这个选择列表"}, status_code=404)
    with request.app.state.db.session() as s:
        return JSONResponse({"items": items(s, user, source, q)}, headers={"Cache-Control": "no-store"})
