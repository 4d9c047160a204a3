"""Inspections (检查记录) and checklists (检查表): record an inspection with every item's result, list
and read them under the jurisdiction tree, turn a failed item into a case, attach an item's photo,
the 检查记录 as PDF / printable HTML; the checklist versions, and an admin's upload of a new version.
Services: cases/inspections/; the document: notifications/documents/inspection_record.py; docs/inspections.md."""
from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, Optional
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AppClock, AppSettings, CurrentUser, Db
from api.responses import OrjsonResponse
from api.routes.evidence import EVIDENCE_CSP, read_upload
from api.security import DOCUMENT_CSP
from cases.evidence import storage
from cases.inspections import checklists as checklist_data
from cases.inspections import findings, reads, services
from cases.issuance import derive
from cases.ledger.validation import MAX_INT
from cases.platform.errors import NotFound, ValidationFailed
from notifications.documents.inspection_record import TITLE, stored_record

router = APIRouter(prefix="/api", tags=["inspections"])


class ItemResult(BaseModel):
    item_code: Any = Field(..., description="检查项代码（检查表中的 code）")
    result: Any = Field(..., description="检查结果：pass 合格、fail 不合格、na 不适用")
    note: Any = Field(None, description="说明（不合格时写明具体情况）")


class InspectionCreate(BaseModel):
    """An inspection with one result per item of the checklist version named by ``checklist_id``.
    Exactly one of ``project_id`` and ``building_id``. Every field is checked by the service; a
    problem is a 422 naming the field by its Chinese label."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "project_id": 1, "inspected_on": "2026-11-23", "inspection_type": "daily", "unannounced": True,
        "checklist_id": 1, "inspector_ids": [2], "place": "3号楼施工现场", "summary": "现场在建3栋，塔吊2台",
        "handling": "对发现的问题下达整改通知", "campaign_id": None, "round_no": None, "analog_task_id": None,
        "items": [{"item_code": "GL-01", "result": "pass"},
                  {"item_code": "JSJ-02", "result": "fail", "note": "3号楼12–15层连墙件整层缺失"}]}})

    project_id: Any = Field(None, description="工程项目编号（与 building_id 二选一）")
    building_id: Any = Field(None, description="房屋编号（与 project_id 二选一）")
    inspected_on: Any = Field(None, description="检查日期（YYYY-MM-DD，北京时间，不晚于今天）")
    inspection_type: Any = Field(None, description="检查类型：daily 日常、special 专项、follow_up 回头看、comprehensive 综合、key 重点")
    unannounced: Any = Field(None, description="是否“四不两直”")
    checklist_id: Any = Field(None, description="检查表版本的编号（GET /api/checklists）；检查记录永久保留所用版本")
    items: Any = Field(None, description="每个检查项的结果", json_schema_extra={"items": ItemResult.model_json_schema()})
    inspector_ids: Any = Field(None, description="其他检查人员的用户编号（记录人自动列为检查人员）")
    enterprise_id: Any = Field(None, description="受检单位（不填：项目的施工单位）")
    campaign_id: Any = Field(None, description="所属专项行动")
    round_no: Any = Field(None, description="专项行动的轮次（填写专项行动时必填）")
    analog_task_id: Any = Field(None, description="对应的类比排查任务（须为本项目未完成的任务）；不填时本项目所有未完成的类比排查任务均视为已完成")
    place: Any = Field(None, description="检查地点（不填：项目或房屋地址）")
    summary: Any = Field(None, description="检查情况")
    handling: Any = Field(None, description="处理意见")


class CaseFromItem(BaseModel):
    """Optional: the case kind (default: 重大事故隐患 when the item names a catalogue item, else
    一般安全隐患; a building's item: 危险房屋) and what to change in the pre-filled fields."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"kind": "major_hazard"}})

    kind: Optional[str] = Field(None, description="hazard 一般安全隐患、major_hazard 重大事故隐患、dangerous_building 危险房屋")
    title: Optional[str] = Field(None, max_length=200, description="标题（默认取检查项内容）")
    description: Optional[str] = Field(None, max_length=8000, description="情况描述")
    location: Optional[str] = Field(None, max_length=300, description="地点")
    hazard_item_code: Optional[str] = Field(None, max_length=16, description="重大事故隐患判定条目（默认取检查项的条目）")
    category: Optional[str] = Field(None, max_length=32, description="隐患类别（默认取检查项的类别）")
    enterprise_id: Optional[int] = Field(None, le=MAX_INT, description="责任单位（默认：受检单位）")
    assignee_id: Optional[int] = Field(None, le=MAX_INT, description="承办人")


def _date(value: str | None, field: str, label: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed([{"field": field, "label": label, "message": "应为日期（YYYY-MM-DD）"}]) from None


@router.post("/inspections", status_code=201, summary="记录一次监督检查（检查表每项的结果；签发检查记录文号；关闭类比排查任务）")
def record_inspection(body: InspectionCreate, user: CurrentUser, db: Db, clock: AppClock):
    with db.transaction() as s:
        row = services.record_inspection(s, user, body.model_dump(exclude_unset=True), clock.now())
        return reads.inspection_detail(s, user, row)


@router.get("/inspections", summary="检查记录列表（本辖区及下级；企业联系人：本单位参建项目的检查记录）")
def list_inspections(user: CurrentUser, db: Db,
                     project_id: Optional[int] = Query(None, le=MAX_INT, description="工程项目"),
                     building_id: Optional[int] = Query(None, le=MAX_INT, description="房屋"),
                     date_from: Optional[str] = Query(None, max_length=10, description="检查日期起（YYYY-MM-DD，含当日）"),
                     date_to: Optional[str] = Query(None, max_length=10, description="检查日期止（YYYY-MM-DD，含当日）"),
                     inspection_type: Optional[str] = Query(None, max_length=16, description="检查类型"),
                     campaign_id: Optional[int] = Query(None, le=MAX_INT, description="专项行动"),
                     round_no: Optional[int] = Query(None, ge=1, le=99, description="轮次"),
                     findings: Optional[bool] = Query(None, description="true：发现问题的；false：未发现问题的"),
                     page: int = Query(1, ge=1, le=100000), page_size: int = Query(50, ge=1, le=200)):
    f = reads.InspectionFilters(project_id=project_id, building_id=building_id,
                                   date_from=_date(date_from, "date_from", "检查日期（起）"),
                                   date_to=_date(date_to, "date_to", "检查日期（止）"), inspection_type=inspection_type,
                                   campaign_id=campaign_id, round_no=round_no, findings=findings)
    with db.session() as s:
        rows, total = reads.list_inspections(s, user, f, page, page_size)
        return {"items": reads.inspection_summaries(s, rows), "total": total, "page": page, "page_size": page_size}


@router.get("/inspections/{inspection_id}", summary="一条检查记录：各检查项结果、照片、转成的案件")
def get_inspection(inspection_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return reads.inspection_detail(s, user, services.get_inspection(s, user, inspection_id))


@router.post("/inspections/{inspection_id}/items/{item_id}/case", status_code=201,
             summary="不合格检查项转为案件（一般隐患；对应判定条目的提议为重大事故隐患；房屋为危险房屋），双向关联")
def case_from_item(inspection_id: int, item_id: int, user: CurrentUser, db: Db, clock: AppClock, request: Request,
                   background: BackgroundTasks, body: CaseFromItem | None = None):
    from api.routes.cases import _derive_after

    with derive.deferred() as pending:
        with db.transaction() as s:
            case = findings.case_from_item(s, user, inspection_id, item_id,
                                           body.model_dump(exclude_none=True) if body else {}, clock.now())
            out = {"case": {"id": case.id, "number": case.number, "kind": case.kind, "state": case.state,
                            "title": case.title, "campaign_id": case.campaign_id},
                   "item_id": item_id, "inspection_id": inspection_id}
    _derive_after(request, background, pending)
    return out


@router.post("/inspections/{inspection_id}/items/{item_id}/photo", response_class=OrjsonResponse,
             summary="上传检查项照片（JPEG/PNG/WebP/HEIC，按内容识别；替换原有照片）")
def upload_item_photo(inspection_id: int, item_id: int, user: CurrentUser, db: Db, clock: AppClock,
                      settings: AppSettings, file: UploadFile = File(..., description="照片")):
    data = read_upload(file, settings)
    with db.transaction() as s:
        item = findings.add_item_photo(s, user, inspection_id, item_id, data, file.filename, clock.now(), settings)
        return reads.item_json(item, None, inspection_id)


def item_photo_response(request: Request, item, settings, thumb: bool) -> Response:
    photo = item.photo or {}
    if not photo:
        raise NotFound(f"检查项“{item.item_code}”没有照片")
    relative = photo.get("thumb") if thumb else (photo.get("display") or photo.get("original"))
    media = "image/jpeg" if thumb or photo.get("display") else photo.get("media_type", "image/jpeg")
    data = storage.read(settings, relative)
    if data is None:
        raise NotFound(f"检查项“{item.item_code}”的照片文件缺失，请联系管理员")
    etag = f'"{photo["sha256"]}-{"t" if thumb else "d"}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate",
               "Content-Security-Policy": EVIDENCE_CSP, "X-Content-Type-Options": "nosniff",
               "Content-Disposition": f"inline; filename=\"inspection-item-{item.id}.jpg\""}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=media, headers=headers)


@router.get("/inspections/{inspection_id}/items/{item_id}/photo", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
            summary="检查项照片（thumb=true：缩略图）")
def item_photo(inspection_id: int, item_id: int, request: Request, user: CurrentUser, db: Db, settings: AppSettings,
               thumb: bool = False):
    with db.session() as s:
        item = findings.get_item(s, user, inspection_id, item_id)
        s.expunge(item)
    return item_photo_response(request, item, settings, thumb)


def record_file(request: Request, db, settings, user, inspection_id: int, kind: str) -> Response:
    """The 检查记录's PDF or printable HTML (rendered on first request; ETag: the PDF's hash):
    the API route and the page's cookie-authenticated twin."""
    with db.transaction() as s:
        row = services.get_inspection(s, user, inspection_id)
        data, digest = stored_record(s, row, settings, kind)
        number = row.number or str(row.id)
    etag = f'"{digest if kind == "pdf" else hashlib.sha256(data).hexdigest()}"'
    headers = {"ETag": etag, "X-Document-SHA256": digest, "X-Document-Number": quote(number),
               "Cache-Control": "private, max-age=0, must-revalidate",
               "Content-Disposition": f"inline; filename*=UTF-8''{quote(f'{TITLE}-{number}.{kind}')}"}
    if kind == "html":
        headers["Content-Security-Policy"] = DOCUMENT_CSP
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type="application/pdf" if kind == "pdf" else "text/html; charset=utf-8",
                    headers=headers)


@router.get("/inspections/{inspection_id}/document.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}}, summary="检查记录PDF（含文号与签字栏）")
def record_pdf(inspection_id: int, request: Request, user: CurrentUser, db: Db, settings: AppSettings):
    return record_file(request, db, settings, user, inspection_id, "pdf")


@router.get("/inspections/{inspection_id}/document.html", response_class=Response,
            responses={200: {"content": {"text/html": {}}}}, summary="检查记录的可打印HTML")
def record_html(inspection_id: int, request: Request, user: CurrentUser, db: Db, settings: AppSettings):
    return record_file(request, db, settings, user, inspection_id, "html")


# ---------------------------------------------------------------- checklists


@router.get("/checklists", summary="检查表（每个检查表的最新版本；all_versions=true：全部版本）")
def list_checklists(user: CurrentUser, db: Db, all_versions: bool = False,
                    applies_to: Optional[str] = Query(None, max_length=16, description="project 工程项目 / building 既有房屋")):
    with db.session() as s:
        rows = checklist_data.all_versions(s) if all_versions else checklist_data.latest_versions(s, applies_to)
        return {"items": [checklist_data.checklist_json(r, items=False) for r in rows]}


@router.get("/checklists/{checklist_id}", summary="检查表的一个版本（含全部检查项）")
def get_checklist(checklist_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return checklist_data.checklist_json(checklist_data.get_checklist(s, checklist_id))


@router.post("/checklists", status_code=201, response_class=OrjsonResponse,
             summary="管理员：上传检查表 YAML，作为该检查表的新版本（不覆盖旧版本；内容相同则返回已有版本）",
             responses={200: {"description": "同一内容已是一个版本：返回该版本"}})
def upload_checklist(user: CurrentUser, db: Db, clock: AppClock,
                     file: UploadFile = File(..., description="检查表 YAML（code、title、applies_to、items）")):
    data = file.file.read(checklist_data.MAX_YAML_BYTES + 1)
    with db.transaction() as s:
        loaded = checklist_data.load_version(s, data, clock.now(), user)
        body = checklist_data.checklist_json(loaded.checklist)
    body["created"] = loaded.created
    return OrjsonResponse(body, status_code=201 if loaded.created else 200)
