"""Jurisdictions, enterprises, projects, buildings, users and the hazard catalogue."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from api import responses
from api.deps import AppClock, CurrentUser, Db
from cases.ledger import policy
from cases.ledger.access import STAFF_ROLES, in_subtree, require_role, subtree_codes, visible_enterprise_clause
from cases.platform.errors import NotFound, ValidationFailed
from cases.ledger.identifiers import credit_code_problem
from cases.platform.identity import check_new_user
from cases.models import Building, Enterprise, HazardCatalogItem, Jurisdiction, Project, ProjectParty, User
from cases.platform.security import hash_password
from cases.ledger.validation import MAX_INT

router = APIRouter(prefix="/api", tags=["reference data"])


def _check_jurisdiction(s, user, code: str, field: str = "jurisdiction_code") -> None:
    if s.get(Jurisdiction, code) is None:
        raise ValidationFailed([{"field": field, "label": "所属辖区", "message": f"行政区划代码“{code}”不存在"}])
    if not in_subtree(s, user.jurisdiction_code, code):
        raise ValidationFailed([{"field": field, "label": "所属辖区", "message": "不在您的管辖范围内"}])


@router.get("/jurisdictions", summary="本辖区及下级辖区")
def jurisdictions(user: CurrentUser, db: Db):
    with db.session() as s:
        rows = s.scalars(select(Jurisdiction).where(Jurisdiction.code.in_(subtree_codes(user.jurisdiction_code)))
                         .order_by(Jurisdiction.path))
        return responses.fast_json({"items": [{"code": j.code, "name": j.name, "parent_code": j.parent_code,
                                               "level": j.level, "authority_name": j.authority_name} for j in rows]})


class EnterpriseIn(BaseModel):
    credit_code: str = Field(description="统一社会信用代码（18位，含校验位）")
    name: str = Field(min_length=1, max_length=200)
    jurisdiction_code: str
    legal_representative: str | None = Field(None, max_length=64)
    contact_name: str | None = Field(None, max_length=64)
    contact_phone: str | None = Field(None, max_length=32)
    qualification: str | None = Field(None, max_length=200)

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, v: str) -> str:
        problem = credit_code_problem(v)
        if problem:
            raise ValueError(problem)
        return v.strip().upper()


def enterprise_json(e: Enterprise) -> dict:
    return {"id": e.id, "credit_code": e.credit_code, "name": e.name, "jurisdiction_code": e.jurisdiction_code,
            "legal_representative": e.legal_representative, "contact_name": e.contact_name,
            "contact_phone": e.contact_phone, "qualification": e.qualification, "credit_score": e.credit_score}


def enterprises_query(user, q: str | None = None):
    """The enterprises ``user`` may read, matching ``q`` (name or credit code), by id (API and pickers)."""
    stmt = select(Enterprise).where(visible_enterprise_clause(user))
    if q:
        # autoescape: a typed % or _ is searched for literally, not as a LIKE wildcard
        stmt = stmt.where(or_(Enterprise.name.icontains(q, autoescape=True),
                              Enterprise.credit_code.icontains(q, autoescape=True)))
    return stmt.order_by(Enterprise.id)


@router.get("/enterprises", summary="企业")
def list_enterprises(user: CurrentUser, db: Db, q: str | None = Query(None, max_length=100),
                     page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        # An enterprise contact reads its own record only (not others' credit scores or phones).
        stmt = enterprises_query(user, q)
        rows = list(s.scalars(stmt.limit(page_size).offset((page - 1) * page_size)))
        # Staff see every enterprise's identity; personal contact data only where they have reason to.
        details = policy.enterprise_details_visible(s, user, [e.id for e in rows])
        return responses.fast_json({"items": [policy.enterprise_for(enterprise_json(e), e.id in details) for e in rows]})


@router.get("/enterprises/{enterprise_id}", summary="企业详情")
def get_enterprise(enterprise_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        e = (s.scalars(select(Enterprise).where(Enterprise.id == enterprise_id, visible_enterprise_clause(user))).first()
             if abs(enterprise_id) <= MAX_INT else None)
        if e is None:  # the same answer whether it does not exist or is another enterprise's
            raise NotFound(f"企业（编号{enterprise_id}）不存在或您无权查看")
        return policy.enterprise_for(enterprise_json(e), bool(policy.enterprise_details_visible(s, user, [e.id])))


@router.post("/enterprises", status_code=201, summary="新增企业（校验统一社会信用代码）")
def create_enterprise(body: EnterpriseIn, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, *STAFF_ROLES)
    try:
        with db.transaction() as s:
            _check_jurisdiction(s, user, body.jurisdiction_code)
            e = Enterprise(**body.model_dump(), credit_score=100, created_at=clock.now())
            s.add(e)
            s.flush()
            return policy.enterprise_for(enterprise_json(e), True)
    except IntegrityError:
        raise ValidationFailed([{"field": "credit_code", "label": "统一社会信用代码",
                                 "message": "该统一社会信用代码已登记"}]) from None


class PartyIn(BaseModel):
    enterprise_id: int
    role: Literal["builder", "contractor", "supervisor"]


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(None, max_length=64)
    jurisdiction_code: str
    address: str = Field(min_length=1, max_length=300)
    parties: list[PartyIn] = []


def project_json(p: Project) -> dict:
    return {"id": p.id, "name": p.name, "code": p.code, "jurisdiction_code": p.jurisdiction_code,
            "address": p.address, "status": p.status,
            "parties": [{"enterprise_id": x.enterprise_id, "role": x.role, "name": x.enterprise.name} for x in p.parties]}


def projects_query(user, q: str | None = None):
    """The projects ``user`` may read, matching ``q`` (name or address), by id (API and pickers)."""
    stmt = select(Project).where(policy.visible_projects_clause(user))
    if q:
        # autoescape: a typed % or _ is searched for literally, not as a LIKE wildcard
        stmt = stmt.where(or_(Project.name.icontains(q, autoescape=True),
                              Project.address.icontains(q, autoescape=True)))
    return stmt.order_by(Project.id)


@router.get("/projects", summary="工程项目（本辖区及下级）")
def list_projects(user: CurrentUser, db: Db, q: str | None = Query(None, max_length=100),
                  page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        rows = s.scalars(projects_query(user, q).limit(page_size).offset((page - 1) * page_size))
        return responses.fast_json({"items": [project_json(p) for p in rows]})


@router.post("/projects", status_code=201, summary="新增工程项目")
def create_project(body: ProjectIn, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, *STAFF_ROLES)
    with db.transaction() as s:
        _check_jurisdiction(s, user, body.jurisdiction_code)
        errors = [{"field": f"parties[{i}].enterprise_id", "label": "参建单位", "message": "企业不存在"}
                  for i, p in enumerate(body.parties) if s.get(Enterprise, p.enterprise_id) is None]
        if errors:
            raise ValidationFailed(errors)
        p = Project(name=body.name, code=body.code, jurisdiction_code=body.jurisdiction_code, address=body.address,
                    created_at=clock.now())
        p.parties = [ProjectParty(enterprise_id=x.enterprise_id, role=x.role) for x in body.parties]
        s.add(p)
        s.flush()
        s.refresh(p)
        return project_json(p)


class BuildingIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    jurisdiction_code: str
    address: str = Field(min_length=1, max_length=300)
    structure: str = Field(min_length=1, max_length=32)
    year_built: int | None = Field(None, ge=1800, le=2100)
    floors: int | None = Field(None, ge=1, le=200)
    use: str | None = Field(None, max_length=32)
    owner_name: str | None = Field(None, max_length=128)
    owner_phone: str | None = Field(None, max_length=32)


def building_json(b: Building) -> dict:
    return {k: getattr(b, k) for k in ("id", "name", "jurisdiction_code", "address", "structure", "year_built",
                                       "floors", "use", "owner_name", "owner_phone")}


def buildings_query(user, q: str | None = None):
    """The buildings ``user`` may read (contacts: none), matching ``q`` (name or address), by id."""
    stmt = select(Building).where(policy.visible_buildings_clause(user))
    if q:
        # autoescape: a typed % or _ is searched for literally, not as a LIKE wildcard
        stmt = stmt.where(or_(Building.name.icontains(q, autoescape=True),
                              Building.address.icontains(q, autoescape=True)))
    return stmt.order_by(Building.id)


@router.get("/buildings", summary="房屋（本辖区及下级）")
def list_buildings(user: CurrentUser, db: Db, q: str | None = Query(None, max_length=100),
                   page: int = Query(1, ge=1), page_size: int = Query(50, ge=1, le=200)):
    with db.session() as s:
        rows = s.scalars(buildings_query(user, q).limit(page_size).offset((page - 1) * page_size))
        return responses.fast_json({"items": [building_json(b) for b in rows]})


@router.post("/buildings", status_code=201, summary="新增房屋")
def create_building(body: BuildingIn, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, *STAFF_ROLES)
    with db.transaction() as s:
        _check_jurisdiction(s, user, body.jurisdiction_code)
        b = Building(**body.model_dump(), created_at=clock.now())
        s.add(b)
        s.flush()
        return building_json(b)


class UserIn(BaseModel):
    # The bounds here are cases/platform/identity.py's (so a form's errors come all at once); it checks the rest.
    username: str = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")
    display_name: str = Field(max_length=200)
    password: str = Field(min_length=10, max_length=200)
    role: Literal["officer", "supervisor", "admin", "enterprise"]
    jurisdiction_code: str
    enterprise_id: int | None = None
    supervisor_id: int | None = None
    email: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=32)


def user_json(u: User) -> dict:
    return {k: getattr(u, k) for k in ("id", "username", "display_name", "role", "jurisdiction_code",
                                       "enterprise_id", "supervisor_id", "email", "phone", "active")}


def users_query(user):
    """The accounts ``user`` may read (staff: their subtree), by id (API and pickers)."""
    return select(User).where(policy.visible_users_clause(user)).order_by(User.id)


@router.get("/users", summary="用户（本辖区及下级）")
def list_users(user: CurrentUser, db: Db):
    require_role(user, *STAFF_ROLES)
    with db.session() as s:
        rows = s.scalars(users_query(user))
        return {"items": [user_json(u) for u in rows]}


@router.post("/users", status_code=201, summary="新增用户（管理员）")
def create_user(body: UserIn, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, "admin")
    try:
        with db.transaction() as s:
            return user_json(add_user(s, user, body, clock.now()))
    except IntegrityError:  # a concurrent insert of the same name won the race
        raise ValidationFailed([{"field": "username", "label": "用户名", "message": "用户名已存在"}]) from None


def add_user(s, admin, body: UserIn, now) -> User:
    """An admin creates an account (the API's POST /api/users and the /admin page)."""
    require_role(admin, "admin")
    # The admin's subtree only, and an enterprise user's enterprise registered in it.
    policy.check_new_user_scope(s, admin, jurisdiction_code=body.jurisdiction_code, enterprise_id=body.enterprise_id)
    names = check_new_user(s, username=body.username, display_name=body.display_name, password=body.password,
                           role=body.role, enterprise_id=body.enterprise_id, supervisor_id=body.supervisor_id)
    data = {**body.model_dump(exclude={"password"}), **names}
    u = User(**data, password_hash=hash_password(body.password), active=True, created_at=now)
    s.add(u)
    s.flush()
    return u


def hazard_catalog_query(edition: str | None = None):
    stmt = select(HazardCatalogItem).order_by(HazardCatalogItem.id)
    return stmt.where(HazardCatalogItem.edition == edition) if edition else stmt


@router.get("/hazard-catalog", summary="重大事故隐患判定标准条目")
def hazard_catalog(user: CurrentUser, db: Db, edition: str | None = None):
    with db.session() as s:
        stmt = hazard_catalog_query(edition)
        return responses.fast_json({"items": [
            {"edition": i.edition, "document": i.document, "category_code": i.category_code,
             "category_name": i.category_name, "item_code": i.item_code, "text": i.text, "confirmed": i.confirmed}
            for i in s.scalars(stmt)]})
