"""Evidence (证据材料): upload a photo or PDF to a case, list a case's evidence, serve a file and its
thumbnail. Files are served as their sniffed type, never as HTML: images inline with their own
media type, ``nosniff`` and a CSP that allows nothing; PDFs (and an original requested as such) as
attachments."""
from __future__ import annotations

from typing import Literal, Optional
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from api.deps import AppClock, AppSettings, CurrentUser, Db
from api.responses import OrjsonResponse
from cases.evidence import services, storage
from cases.platform.errors import NotFound

router = APIRouter(prefix="/api", tags=["evidence"])

# Served files: no script, no style, no frame — the bytes are only ever an image or a download.
EVIDENCE_CSP = "default-src 'none'; img-src 'self'; sandbox; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
FILE_MEDIA = {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "image/heic": {}, "application/pdf": {}}
Purpose = Literal["before", "after", "review", "other"]


def read_upload(upload: UploadFile, settings) -> bytes:
    """The uploaded bytes, at most one byte past the cap (the service answers 413 for that byte; the
    body cap of api/limits.py already holds the whole request to a little more)."""
    return upload.file.read(int(settings.evidence_max_bytes) + 1)


def file_response(request: Request, ev, settings, *, thumb: bool = False, original: bool = False) -> Response:
    """The stored bytes of one piece of evidence with safe headers (ETag: the content hash and which copy)."""
    if thumb:
        if not ev.thumb_path:
            raise NotFound(f"证据材料（编号{ev.id}）是PDF文件，没有缩略图")
        relative, media = ev.thumb_path, "image/jpeg"
    elif original or not ev.display_path:
        relative, media = ev.stored_path, ev.media_type
    else:
        relative, media = ev.display_path, "image/jpeg"
    data = storage.read(settings, relative)
    if data is None:
        raise NotFound(f"证据材料（编号{ev.id}）的文件缺失，请联系管理员")
    etag = f'"{relative.rsplit("/", 1)[-1].split(".")[0]}-{"t" if thumb else "o" if original else "d"}"'
    image = media.startswith("image/")
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic",
           "application/pdf": "pdf"}.get(media, "bin")
    stem = ev.filename.rsplit(".", 1)[0] if "." in ev.filename else ev.filename
    name = f"{stem}{'-缩略图' if thumb else ''}.{ext}"
    disposition = "inline" if image and not original else "attachment"
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate",
               "Content-Security-Policy": EVIDENCE_CSP, "X-Content-Type-Options": "nosniff",
               "Content-Disposition": f"{disposition}; filename=\"evidence-{ev.id}.{ext}\"; "
                                      f"filename*=UTF-8''{quote(name)}"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=media if image else "application/pdf", headers=headers)


@router.post("/cases/{case_id}/evidence", status_code=201, response_class=OrjsonResponse,
             summary="上传证据材料（照片 JPEG/PNG/WebP/HEIC 或 PDF；类型按内容识别）",
             responses={200: {"description": "同一文件已以相同用途上传过：返回已有的记录"}})
def upload_evidence(case_id: int, user: CurrentUser, db: Db, clock: AppClock, settings: AppSettings,
                    file: UploadFile = File(..., description="照片或PDF文件"),
                    purpose: Purpose = Form(..., description="用途：before 整改前、after 整改后、review 复查、other 其他"),
                    event_id: Optional[int] = Form(None, description="所属操作（案件记录的编号），可不填"),
                    note: Optional[str] = Form(None, max_length=services.NOTE_MAX, description="说明")):
    data = read_upload(file, settings)
    with db.transaction() as s:
        added = services.add_evidence(s, user, case_id, data, file.filename, purpose, event_id, clock.now(),
                                      settings, note=note)
        body = services.evidence_json(added.evidence, user.display_name if added.created else
                                      services.uploader_names(s, [added.evidence]).get(added.evidence.uploaded_by_id))
    body["created"] = added.created
    return OrjsonResponse(body, status_code=201 if added.created else 200)


@router.get("/cases/{case_id}/evidence", summary="案件的证据材料（用途、拍摄时间与地点、上传人、文件与缩略图链接）")
def list_case_evidence(case_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        rows = services.list_evidence(s, user, case_id)
        names = services.uploader_names(s, rows)
        return {"items": [services.evidence_json(r, names.get(r.uploaded_by_id)) for r in rows]}


@router.get("/evidence/{evidence_id}", response_class=Response, responses={200: {"content": FILE_MEDIA}},
            summary="证据文件：照片按识别出的类型显示（已按EXIF方向摆正）；PDF为下载；original=true 下载原始文件")
def evidence_file(evidence_id: int, request: Request, user: CurrentUser, db: Db, settings: AppSettings,
                  original: bool = False):
    with db.session() as s:
        ev = services.get_evidence(s, user, evidence_id)
        s.expunge(ev)
    return file_response(request, ev, settings, original=original)


@router.get("/evidence/{evidence_id}/thumb", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}}, summary="证据照片的缩略图（JPEG；PDF无缩略图）")
def evidence_thumb(evidence_id: int, request: Request, user: CurrentUser, db: Db, settings: AppSettings):
    with db.session() as s:
        ev = services.get_evidence(s, user, evidence_id)
        s.expunge(ev)
    return file_response(request, ev, settings, thumb=True)
