"""The inspection pages: ``/inspections`` (the list, with the API's filters), ``/inspections/new`` (record
one: the site with the pickers, the checklist, a campaign round, every item as 合格/不合格/不适用 with a
note and a photo — one multipart form, no JavaScript needed; ``project_id``, ``building_id``,
``analog_task_id`` and ``checklist_id`` in the query pre-fill it), ``/inspections/{id}`` (items,
findings, 转为隐患 / 转为重大隐患 per failed item, the 检查记录's files) and ``/admin/checklists`` (the
versions; the root admin uploads a new one). Same services and checks as api/routes/inspections.py."""
from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.pages.cases import pickers
from api.pages.common import CheckedForm, PageUser, redirect, render
from api.routes.inspections import item_photo_response, record_file
from cases.inspections import INSPECTION_TYPES, RESULTS
from cases.inspections import checklists as checklist_data
from cases.inspections import findings, reads, services
from cases.issuance import derive
from cases.ledger.access import STAFF_ROLES, in_subtree, require_role
from cases.ledger.policy import is_root_admin
from cases.models import AnalogTask, Campaign, CampaignRound, Project
from cases.platform.errors import ValidationFailed

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 30
RECORDERS = ("officer", "supervisor")


def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 19:
        return int(value.strip())
    return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


# ---------------------------------------------------------------- list


@router.get("/inspections")
def inspection_list(request: Request, user: PageUser):
    q = request.query_params
    form = {k: q.get(k, "") for k in ("project_id", "inspection_type", "findings", "date_from", "date_to", "campaign_id")}
    page = max(1, _int(q.get("page")) or 1)
    findings_value = {"yes": True, "no": False}.get(form["findings"])
    f = reads.InspectionFilters(project_id=_int(form["project_id"]), campaign_id=_int(form["campaign_id"]),
                                   inspection_type=form["inspection_type"] if form["inspection_type"] in INSPECTION_TYPES else None,
                                   date_from=_day(form["date_from"]), date_to=_day(form["date_to"]), findings=findings_value)
    errors = []
    with request.app.state.db.session() as s:
        try:
            rows, total = reads.list_inspections(s, user, f, page, PAGE_SIZE)
        except ValidationFailed as exc:
            rows, total, errors = [], 0, exc.errors
        items = reads.inspection_summaries(s, rows)
        root_admin = is_root_admin(s, user)
    return render(request, "inspections/list.html", user=user, title="检查记录", rows=items, total=total, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)), form=form, types=INSPECTION_TYPES, errors=errors,
                  may_record=user.role in RECORDERS, root_admin=root_admin or user.role == "admin")


# ---------------------------------------------------------------- new


def _campaign_rounds(s, user) -> list[tuple[str, str]]:
    """Active campaigns over the user's jurisdiction, each round an option ``campaign_id:round_no``."""
    out = []
    for c in s.scalars(select(Campaign).where(Campaign.status == "active").order_by(Campaign.id)):
        if not in_subtree(s, c.jurisdiction_code, user.jurisdiction_code) and not in_subtree(
                s, user.jurisdiction_code, c.jurisdiction_code):
            continue
        for r in s.scalars(select(CampaignRound).where(CampaignRound.campaign_id == c.id).order_by(CampaignRound.round_no)):
            out.append((f"{c.id}:{r.round_no}", f"{c.name} · 第{r.round_no}轮（{r.name}，{r.due_on.month}月{r.due_on.day}日前）"))
    return out


def _form_context(request: Request, user, values: dict[str, Any], errors: dict[str, list[str]] | None = None) -> dict:
    state = request.app.state
    with state.db.session() as s:
        building_mode = bool(values.get("building")) and not values.get("project")
        applies = "building" if building_mode else "project"
        offered = checklist_data.latest_versions(s)
        chosen_id = _int(str(values.get("checklist_id") or ""))
        chosen = next((c for c in offered if c.id == chosen_id), None)
        if chosen is None and chosen_id is not None:
            try:
                chosen = checklist_data.get_checklist(s, chosen_id)  # a pre-filled older version is kept
            except Exception:  # noqa: BLE001 - unknown id: the default below
                chosen = None
        if chosen is None:
            chosen = next((c for c in offered if c.applies_to == applies), None)
        project_options = [(o["value"], o["label"]) for o in pickers.items(s, user, "projects")]
        building_options = [(o["value"], o["label"]) for o in pickers.items(s, user, "buildings")]
        user_options = [(o["value"], o["label"]) for o in pickers.items(s, user, "users")]
        chosen_labels = {}
        for key, source in (("project", "projects"), ("building", "buildings"), ("inspector", "users")):
            v = _int(str(values.get(key) or ""))
            if v is not None:
                chosen_labels[key] = pickers.label_of(s, user, source, v)
        task = None
        task_id = _int(str(values.get("analog_task_id") or ""))
        if task_id is not None:
            t = s.get(AnalogTask, task_id)
            if t is not None:
                project = s.get(Project, t.project_id)
                task = {"id": t.id, "project": project.name if project else t.project_id, "due_on": t.due_on}
        rounds = _campaign_rounds(s, user)
        categories = checklist_data.hazard_categories()
        items = [{**it, "category_label": categories.get(it.get("category") or "")}
                 for it in (chosen.items if chosen else [])]
        checklist = {"id": chosen.id, "title": chosen.title, "version": chosen.version,
                     "applies_to": chosen.applies_to} if chosen else None
    return {"values": values, "errors": errors or {}, "checklists": [(c.id, f"{c.title}（第{c.version}版）") for c in offered],
            "checklist": checklist, "items": items, "project_options": project_options,
            "building_options": building_options, "user_options": user_options, "chosen": chosen_labels,
            "task": task, "rounds": rounds, "types": INSPECTION_TYPES, "results": RESULTS,
            "today": request.app.state.clock.now().date().isoformat()}


@router.get("/inspections/new")
def new_inspection(request: Request, user: PageUser):
    require_role(user, *RECORDERS)
    q = request.query_params
    values = {"project": q.get("project_id", ""), "building": q.get("building_id", ""),
              "analog_task_id": q.get("analog_task_id", ""), "checklist_id": q.get("checklist_id", ""),
              "inspection_type": q.get("inspection_type", "daily"), "campaign_round": q.get("campaign_round", "")}
    from cases.platform.clock import to_local

    values["inspected_on"] = to_local(request.app.state.clock.now()).date().isoformat()
    return render(request, "inspections/new.html", user=user, title="记录监督检查", **_form_context(request, user, values))


def _payload(s, user, form, items: list[dict]) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, Any]]:
    """The posted form → the service's payload (pickers resolved), the picker problems, the kept values."""
    kept: dict[str, Any] = {k: form.get(k) or "" for k in (
        "project", "building", "inspector", "checklist_id", "inspected_on", "inspection_type", "campaign_round",
        "analog_task_id", "place", "summary", "handling")}
    kept["unannounced"] = form.get("unannounced") == "true"
    problems: dict[str, list[str]] = {}
    payload: dict[str, Any] = {"checklist_id": _int(kept["checklist_id"]) if kept["checklist_id"] else None,
                               "inspected_on": kept["inspected_on"] or None,
                               "inspection_type": kept["inspection_type"] or None,
                               "unannounced": kept["unannounced"]}
    for key, field, source in (("project", "project_id", "projects"), ("building", "building_id", "buildings"),
                               ("inspector", "inspector", "users")):
        text = kept[key].strip() if isinstance(kept[key], str) else ""
        if not text:
            continue
        value, problem = pickers.resolve(s, user, source, text)
        if problem:
            problems.setdefault(field, []).append(problem)
        elif field == "inspector":
            payload["inspector_ids"] = [value]
        else:
            payload[field] = value
    if kept["campaign_round"]:
        cid, _, rno = kept["campaign_round"].partition(":")
        payload["campaign_id"], payload["round_no"] = _int(cid), _int(rno)
    if kept["analog_task_id"]:
        payload["analog_task_id"] = _int(kept["analog_task_id"])
    for key in ("place", "summary", "handling"):
        if kept[key]:
            payload[key] = kept[key]
    results = []
    for it in items:
        code = it["code"]
        result, note = form.get(f"result_{code}"), form.get(f"note_{code}") or ""
        kept[f"result_{code}"], kept[f"note_{code}"] = result or "", note
        results.append({"item_code": code, "result": result, "note": note})
    payload["items"] = results
    if payload["checklist_id"] is None:
        payload.pop("checklist_id")
    return payload, problems, kept


def _field_errors(errors: list[dict[str, str]], items: list[dict]) -> tuple[dict[str, list[str]], list[str]]:
    """The service's errors by the form's field names (``items[3].result`` → ``result_<code>``)."""
    by: dict[str, list[str]] = {}
    general: list[str] = []
    codes = [it["code"] for it in items]
    for e in errors:
        field = e.get("field") or ""
        name = field
        if field.startswith("items[") and "]" in field:
            rest = field.split("]", 1)[1]
            idx = _int(field[6:field.index("]")])
            if idx is not None and idx < len(codes):
                name = f"{'note' if rest == '.note' else 'result'}_{codes[idx]}"
        elif field.startswith("inspector_ids"):
            name = "inspector"
        elif field in ("campaign_id", "round_no"):
            name = "campaign_round"
        message = f"{e['label']}：{e['message']}" if name == field and field not in {
            "project_id", "building_id", "inspected_on", "inspection_type", "checklist_id", "place", "summary",
            "handling", "analog_task_id", "unannounced", "enterprise_id"} and not field.startswith("photo_") else e["message"]
        if name in ("items", "body") or name == "":
            general.append(f"{e['label']}：{e['message']}")
        else:
            by.setdefault(name, []).append(message)
    return by, general


@router.post("/inspections/new")
async def record(request: Request, user: PageUser, form: CheckedForm):
    require_role(user, *RECORDERS)
    state = request.app.state
    photos: dict[str, services.Photo] = {}
    for key, value in form.multi_items():
        if key.startswith("photo_") and isinstance(value, UploadFile) and value.filename:
            photos[key[6:]] = services.Photo(await value.read(int(state.settings.evidence_max_bytes) + 1), value.filename)

    def work():
        with state.db.session() as s:
            chosen = _int(form.get("checklist_id") or "")
            items = []
            if chosen is not None:
                try:
                    items = checklist_data.get_checklist(s, chosen).items
                except Exception:  # noqa: BLE001 - the service names it
                    items = []
            payload, problems, kept = _payload(s, user, form, items)
        if problems:
            return None, problems, [], kept
        try:
            with state.db.transaction() as s:
                row = services.record_inspection(s, user, payload, state.clock.now(), photos=photos,
                                                 settings=state.settings)
                return (row.id, row.number, row.findings), {}, [], kept
        except ValidationFailed as exc:
            by, general = _field_errors(exc.errors, items)
            return None, by, general, kept

    done, errors, general, kept = await run_in_threadpool(work)
    if done is None:
        ctx = _form_context(request, user, kept, errors)
        return render(request, "inspections/new.html", user=user, title="记录监督检查", status_code=422,
                      general=general, photos_lost=bool(photos), **ctx)
    inspection_id, number, found = done
    what = f"发现问题{found}项" if found else "未发现问题"
    return redirect(request, f"/inspections/{inspection_id}", notice=f"已记录监督检查 {number}（{what}）")


# ---------------------------------------------------------------- one inspection


@router.get("/inspections/{inspection_id}")
def inspection_page(inspection_id: int, request: Request, user: PageUser):
    with request.app.state.db.session() as s:
        row = services.get_inspection(s, user, inspection_id)
        detail = reads.inspection_detail(s, user, row, prefix="")
        may_write = user.role in RECORDERS and in_subtree(s, user.jurisdiction_code, row.jurisdiction_code)
    return render(request, "inspections/detail.html", user=user, title=f"检查记录 {detail['number']}", i=detail,
                  may_write=may_write, building=detail["building"] is not None)


@router.post("/inspections/{inspection_id}/items/{item_id}/case")
def item_to_case(inspection_id: int, item_id: int, request: Request, user: PageUser, form: CheckedForm,
                 background: BackgroundTasks):
    from api.routes.cases import _derive_after

    kind = form.get("kind") or None
    state = request.app.state
    with derive.deferred() as pending:
        with state.db.transaction() as s:
            case = findings.case_from_item(s, user, inspection_id, item_id, {"kind": kind} if kind else {},
                                           state.clock.now())
            case_id, number = case.id, case.number
    _derive_after(request, background, pending)
    return redirect(request, f"/cases/{case_id}", notice=f"已由检查记录转为案件 {number}")


@router.post("/inspections/{inspection_id}/items/{item_id}/photo")
async def item_photo_upload(inspection_id: int, item_id: int, request: Request, user: PageUser, form: CheckedForm):
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed([{"field": "file", "label": "照片", "message": "请选择要上传的照片"}])
    state = request.app.state
    data = await upload.read(int(state.settings.evidence_max_bytes) + 1)

    def add():
        with state.db.transaction() as s:
            return findings.add_item_photo(s, user, inspection_id, item_id, data, upload.filename, state.clock.now(),
                                           state.settings).item_code

    code = await run_in_threadpool(add)
    return redirect(request, f"/inspections/{inspection_id}", notice=f"已上传检查项{code}的照片")


@router.get("/inspections/{inspection_id}/items/{item_id}/photo")
def item_photo(inspection_id: int, item_id: int, request: Request, user: PageUser, thumb: bool = False):
    with request.app.state.db.session() as s:
        item = findings.get_item(s, user, inspection_id, item_id)
        s.expunge(item)
    return item_photo_response(request, item, request.app.state.settings, thumb)


@router.get("/inspections/{inspection_id}/document.pdf")
def record_pdf(inspection_id: int, request: Request, user: PageUser):
    state = request.app.state
    return record_file(request, state.db, state.settings, user, inspection_id, "pdf")


@router.get("/inspections/{inspection_id}/document.html")
def record_html(inspection_id: int, request: Request, user: PageUser):
    state = request.app.state
    return record_file(request, state.db, state.settings, user, inspection_id, "html")


# ---------------------------------------------------------------- checklists (admin)


def _checklists_page(request: Request, user, *, status: int = 200, errors=None):
    with request.app.state.db.session() as s:
        rows = [checklist_data.checklist_json(c) for c in checklist_data.all_versions(s)]
        root = is_root_admin(s, user)
    return render(request, "inspections/checklists.html", user=user, title="检查表", rows=rows, root_admin=root,
                  errors=errors or [], status_code=status)


@router.get("/admin/checklists")
def checklists_page(request: Request, user: PageUser):
    require_role(user, *STAFF_ROLES)
    return _checklists_page(request, user)


@router.post("/admin/checklists")
async def upload_checklist(request: Request, user: PageUser, form: CheckedForm):
    require_role(user, "admin")
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _checklists_page(request, user, status=422,
                                errors=[{"label": "检查表文件", "message": "请选择要上传的 YAML 文件"}])
    data = await upload.read(checklist_data.MAX_YAML_BYTES + 1)
    state = request.app.state

    def load():
        with state.db.transaction() as s:
            loaded = checklist_data.load_version(s, data, state.clock.now(), user)
            return loaded.checklist.title, loaded.checklist.version, loaded.created

    try:
        title, version, created = await run_in_threadpool(load)
    except ValidationFailed as exc:
        return _checklists_page(request, user, status=422, errors=exc.errors)
    notice = f"已载入“{title}”第{version}版" if created else f"“{title}”第{version}版与上传的文件相同，未新增版本"
    return redirect(request, "/admin/checklists", notice=notice)

