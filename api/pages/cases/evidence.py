"""Evidence on the pages: upload from the case page (multipart form with its CSRF field), and the
files and thumbnails behind the session cookie — the same services, rules and safe headers as the
API (api/routes/evidence.py). ``evidence_items`` gives the case page what the partial
``case/_evidence.html`` renders."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.pages.common import CheckedForm, PageUser, env, redirect
from api.routes.evidence import file_response, read_upload
from cases.evidence import PURPOSES, services
from cases.models import User
from cases.platform.errors import ValidationFailed

router = APIRouter(include_in_schema=False)

env.globals.update(EVIDENCE_PURPOSES=PURPOSES)


def evidence_items(s: Session, user: User, case_id: int) -> list[dict[str, Any]]:
    """The case's evidence as the partial wants it: ``services.evidence_json`` with page URLs
    (``/evidence/{id}``, ``/evidence/{id}/thumb``). 404 when the user does not see the case."""
    rows = services.list_evidence(s, user, case_id)
    names = services.uploader_names(s, rows)
    return [services.evidence_json(r, names.get(r.uploaded_by_id), prefix="") for r in rows]


def _optional_int(form, name: str, label: str) -> int | None:
    raw = form.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValidationFailed([{"field": name, "label": label, "message": "应为整数"}]) from None


@router.post("/cases/{case_id}/evidence")
async def upload_evidence(request: Request, case_id: int, user: PageUser, form: CheckedForm):
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed([{"field": "file", "label": "文件", "message": "请选择要上传的照片或PDF文件"}])
    purpose = form.get("purpose")
    event_id = _optional_int(form, "event_id", "所属操作")
    note = form.get("note")
    note = note.strip() or None if isinstance(note, str) else None
    state = request.app.state

    def add():
        data = read_upload(upload, state.settings)
        with state.db.transaction() as s:
            added = services.add_evidence(s, user, case_id, data, upload.filename, purpose, event_id,
                                          state.clock.now(), state.settings, note=note)
            return added.created, added.evidence.filename, added.evidence.media_type

    created, name, media = await run_in_threadpool(add)
    kind = "照片" if media.startswith("image/") else "文件"
    what = f"{PURPOSES[purpose]}{kind}“{name}”"
    notice = f"已上传{what}" if created else f"{what}此前已上传过，未重复保存"
    return redirect(request, f"/cases/{case_id}#evidence", notice=notice)


def _evidence(request: Request, user: User, evidence_id: int):
    state = request.app.state
    with state.db.session() as s:
        ev = services.get_evidence(s, user, evidence_id)
        s.expunge(ev)
    return ev


@router.get("/evidence/{evidence_id}")
def evidence_file(request: Request, evidence_id: int, user: PageUser, original: bool = False):
    return file_response(request, _evidence(request, user, evidence_id), request.app.state.settings, original=original)


@router.get("/evidence/{evidence_id}/thumb")
def evidence_thumb(request: Request, evidence_id: int, user: PageUser):
    return file_response(request, _evidence(request, user, evidence_id), request.app.state.settings, thumb=True)
