from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api import exports, responses
from api.deps import AppClock, CurrentClaims, CurrentUser, Db, signed_in_user
from api.errors import domain_error_body
from api.serialize import case_detail, case_summaries, events_json
from cases.issuance import derive
from cases.ledger import services
from cases.ledger.engine import get_registry
from cases.reads import case_lists
from cases.issuance.documents import CREATION_DOCUMENTS, issuing_json
from cases.platform.errors import ActionNotAllowed, NotFound, ValidationFailed
from cases.ledger.validation import MAX_INT

router = APIRouter(prefix="/api/cases", tags=["cases"])


class CaseCreate(BaseModel):
    """Common fields; kind-specific fields (see GET /api/state-machines/{kind} → create_fields) go alongside."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "kind": "hazard", "title": "3号楼外脚手架连墙件缺失", "description": "3号楼12–15层外架连墙件整层缺失",
        "location": "姑苏区某项目3号楼", "source": "inspection", "category": "scaffolding", "project_id": 1}})

    # The kinds of the loaded machine definitions (state_machines/definitions/<kind>/): a new kind
    # needs no edit here.
    kind: Literal.__getitem__(tuple(get_registry().kinds()))  # type: ignore[valid-type]
    title: str


class ActionRequest(BaseModel):
    """``version`` is the case version you saw; the action's fields go alongside it (or under ``fields``)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "version": 2, "enterprise_id": 1, "severity": "general", "requirements": "立即补设连墙件", "comment": "现场检查发现"}})

    version: int | None = None
    comment: str | None = None
    fields: dict[str, Any] | None = Field(default=None, description="字段（也可直接平铺在请求体中）")


def _derive_after(request: Request, background: BackgroundTasks, items: list) -> None:
    """The documents the committed action has due (cases/issuance/derive.py): derived before the response
    where the app says so (``app.state.derive_before_response``, the test suite's live server:
    deterministic reads right after an action); else by the derive process, woken here
    (``app.state.derive_waker``, the served app: workflows/derive_launcher.py — nothing rendered or
    numbered in this process); else (an app built for tests) in a background task after the response."""
    if not items:
        return
    state = request.app.state
    if getattr(state, "derive_before_response", False):
        derive.run_deferred(items)
    elif getattr(state, "derive_waker", None) is not None:
        state.derive_waker()
    else:
        background.add_task(derive.run_deferred, list(items))


@router.post("", status_code=201, summary="登记新案件（状态为“已发现”）")
def create_case(body: CaseCreate, claims: CurrentClaims, db: Db, clock: AppClock, request: Request,
                background: BackgroundTasks):
    data = body.model_dump(exclude_none=True)
    with derive.deferred() as pending:
        with db.transaction() as s:
            user = signed_in_user(request, s, claims)  # first statement of the transaction (as ``act``)
            case = services.create_case(s, user, data, now=clock.now())
            allowed = services.allowed_actions(s, user, case, now=clock.now())
            out = case_detail(s, case, allowed, actor=user,
                              issuing=None if CREATION_DOCUMENTS.get(case.kind) else [])
    _derive_after(request, background, pending)
    return out


_DATE_HELP = "（YYYY-MM-DD，北京时间，含当日）"


async def case_filters(
    user: CurrentUser,
    kind: str | None = Query(None, description="案件类型，可逗号分隔"),
    state: str | None = Query(None, description="状态，可逗号分隔"),
    jurisdiction: str | None = Query(None, description="辖区代码（含下级）"),
    assignee: str | None = Query(None, description="承办人编号，或 me"),
    enterprise_id: int | None = Query(None, le=MAX_INT),
    q: str | None = Query(None, max_length=100, description="全文：编号、标题、描述、地点"),
    accident_grade: str | None = None,
    appraisal_grade: str | None = None,
    open_only: bool = False,
    light: str | None = Query(None, description="red / yellow / green / none，可逗号分隔"),
    found_from: str | None = Query(None, description="发现日期起" + _DATE_HELP),
    found_to: str | None = Query(None, description="发现日期止" + _DATE_HELP),
    due_from: str | None = Query(None, description="整改期限（当前最早到期的期限）起" + _DATE_HELP),
    due_to: str | None = Query(None, description="整改期限止" + _DATE_HELP),
    closed_from: str | None = Query(None, description="结案日期起" + _DATE_HELP),
    closed_to: str | None = Query(None, description="结案日期止" + _DATE_HELP),
    jurisdiction_only: bool = Query(False, description="只要辖区本级的案件，不含下级（须同时指定 jurisdiction）"),
    rectification_due_from: str | None = Query(
        None, description="整改期限（每一轮）到期日起，只计已有结果的（已完成或已过到期时刻）" + _DATE_HELP),
    rectification_due_to: str | None = Query(None, description="整改期限到期日止" + _DATE_HELP),
    rectified_on_time: bool | None = Query(None, description="该整改期限是否按期完成（与整改期限到期日合用）"),
    overdue_month: str | None = Query(None, description="逾期月份（YYYY-MM）：当月有计灯期限届满而届满时仍未完成的案件"),
    moved_up: bool | None = Query(None, description="只要经提级移至本人辖区以上、由上级办理的案件（按原辖区可见）"),
    campaign_id: int | None = Query(None, ge=1, le=MAX_INT, description="专项行动编号：在该专项整治中发现的案件"),
    red_by: str | None = Query(None, description="预警：现在未变红、至该日24时将变红的未结案件" + _DATE_HELP),
    measure_by: str | None = Query(None, description="预警：至该日24时将升级（警示、挂牌、约谈、通报、提级等）的未结案件" + _DATE_HELP),
    measure_rung: str | None = Query(None, max_length=32, description="预警：只看这一级升级措施（与 measure_by 合用）"),
) -> dict[str, Any]:
    """The filters of the case list, shared by its exports (cases.reads.case_lists.case_query);
    ``async``: pure parsing, no thread-pool hop (api/deps.py)."""
    assignee_id = None
    if assignee == "me":
        assignee_id = user.id
    elif assignee:
        if not (assignee.isascii() and assignee.isdigit()) or int(assignee) > MAX_INT:
            raise ValidationFailed([{"field": "assignee", "label": "承办人",
                                     "message": "应为用户编号（整数），或 me（我自己）"}])
        assignee_id = int(assignee)
    return dict(kind=kind, state=state, jurisdiction=jurisdiction, assignee_id=assignee_id,
                enterprise_id=enterprise_id, text=q, accident_grade=accident_grade, appraisal_grade=appraisal_grade,
                open_only=open_only, light=light, found_from=found_from, found_to=found_to, due_from=due_from,
                due_to=due_to, closed_from=closed_from, closed_to=closed_to, jurisdiction_only=jurisdiction_only,
                rectification_due_from=rectification_due_from, rectification_due_to=rectification_due_to,
                rectified_on_time=rectified_on_time, overdue_month=overdue_month, moved_up=moved_up,
                campaign_id=campaign_id, red_by=red_by, measure_by=measure_by, measure_rung=measure_rung)


CaseFilters = Annotated[dict[str, Any], Depends(case_filters)]
_SORT = Query("-created_at", description="排序字段，前缀 - 表示倒序，可逗号分隔")


@router.get("", summary="案件列表（本辖区及下级）")
def list_cases(
    user: CurrentUser, db: Db, filters: CaseFilters,
    sort: str = _SORT,
    page: int = Query(1, ge=1, le=1_000_000),
    page_size: int = Query(20, ge=1, le=200),
):
    with db.session() as s:
        result = case_lists.list_cases(s, user, sort=sort, page=page, page_size=page_size, **filters)
        items = case_summaries(s, result.items)
    return responses.fast_json({"items": items, "total": result.total, "page": result.page, "page_size": result.page_size})


# Before /{case_id}: "export.xlsx" is not a case id.
@router.get("/export.xlsx", summary="导出台账（Excel，与案件列表相同的筛选和排序，不分页）",
            response_class=Response, responses={200: {"content": {exports.XLSX_MEDIA: {}}}})
def export_xlsx(user: CurrentUser, db: Db, clock: AppClock, filters: CaseFilters, sort: str = _SORT):
    return exports.xlsx_response(db, user, now=clock.now(), today=clock.today(), sort=sort, filters=filters)


@router.get("/export.csv", summary="导出台账（CSV，UTF-8 带BOM，与案件列表相同的筛选和排序，不分页）",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(user: CurrentUser, db: Db, clock: AppClock, filters: CaseFilters, sort: str = _SORT):
    return exports.csv_response(db, user, now=clock.now(), today=clock.today(), sort=sort, filters=filters)


@router.get("/{case_id}", summary="案件详情（含当前用户可执行的操作）")
def get_case(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        case = services.get_case(s, user, case_id)
        return responses.fast_json(case_detail(s, case, services.allowed_actions(s, user, case, now=clock.now()),
                                               actor=user))


@router.get("/{case_id}/events", summary="案件全部历史记录（按顺序）")
def get_events(case_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return responses.fast_json({"items": events_json(s, services.case_events(s, user, case_id))})


@router.post("/{case_id}/actions/{action}", summary="执行操作（须提交看到的版本号）")
def act(case_id: int, action: str, claims: CurrentClaims, db: Db, clock: AppClock, request: Request,
        background: BackgroundTasks, body: ActionRequest = Body(default_factory=ActionRequest)):
    extra = dict(body.model_extra or {})
    payload = {**extra, **(body.fields or {})}
    now = clock.now()
    try:
        with derive.deferred() as pending:
            with db.transaction() as s:
                # The user check is this transaction's first statement: one connection per action.
                user = signed_in_user(request, s, claims)
                case, event = services.perform_action(s, user, case_id, action, payload, version=body.version,
                                                      comment=body.comment, now=now)
                # This action's documents are 生成中 (GET /api/cases/{id} lists every event's still due).
                out = case_detail(s, case, services.allowed_actions(s, user, case, now=now), actor=user,
                                  issuing=issuing_json(event))
        _derive_after(request, background, pending)
    except ActionNotAllowed as exc:
        # Say what *is* possible now, for this caller.
        body_json = domain_error_body(exc)
        try:
            with db.session() as s:
                current = services.get_case(s, user, case_id)
                body_json["state"] = current.state
                body_json["version"] = current.version
                body_json["allowed_actions"] = [a.name for a in services.allowed_actions(s, user, current, now=now)]
        except NotFound:
            pass
        return JSONResponse(body_json, status_code=409)
    return responses.fast_json(out)


@router.get("/{case_id}/accident-report", summary="事故信息报送表：按全国平台填报顺序的事故信息，含快报与详细报告的迟报、漏报标记")
def accident_report(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    from cases.reads.accident_report import accident_report as build

    with db.session() as s:
        return build(s, user, case_id, clock.now())
