"""A case's documents (文书) and their stored PDF / printable HTML, with the content hash as ETag."""
from __future__ import annotations

import hashlib
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import AppClock, AppSettings, CurrentUser, Db
from api.security import DOCUMENT_CSP
from cases.ledger import services
from cases.ledger.access import STAFF_ONLY_DOC_TYPES, STAFF_ROLES, require_role
from cases.issuance.documents import FAILED, ISSUED, RENDERED, STATUS_LABELS, case_documents, document_json, issuing_documents
from cases.platform.errors import NotFound
from cases.models import Document
from cases.ledger.validation import MAX_INT
from notifications.documents.store import read_stored, rerender

router = APIRouter(prefix="/api", tags=["documents"])


def _visible_document(s, user, doc_id: int) -> Document:
    missing = NotFound(f"文书（编号{doc_id}）不存在或不在您的管辖范围内")
    if abs(doc_id) > MAX_INT:
        raise missing
    doc = s.get(Document, doc_id)
    if doc is None:
        raise missing
    try:
        services.get_case(s, user, doc.case_id)
    except NotFound:
        raise missing from None
    if user.role not in STAFF_ROLES and doc.doc_type in STAFF_ONLY_DOC_TYPES:  # a 移送函 (cases/referrals)
        raise missing
    return doc


def document_file(request: Request, db, settings, user, doc_id: int, kind: str) -> Response:
    """A visible document's stored PDF or printable HTML (sandboxed by its CSP), ETag = its hash:
    the API's /api/documents/{id}.pdf|.html and the pages' cookie-authenticated twins."""
    with db.session() as s:
        doc = _visible_document(s, user, doc_id)
        s.expunge(doc)
    if doc.status == ISSUED:
        raise NotFound(f"文书“{doc.title}”（{doc.number}）尚未生成，请稍后再试", status=doc.status,
                       status_label=STATUS_LABELS[ISSUED])
    if doc.status == FAILED:
        raise NotFound(f"文书“{doc.title}”（{doc.number}）生成失败：{doc.error}", status=doc.status,
                       status_label=STATUS_LABELS[FAILED])
    data = read_stored(doc, settings, kind) if doc.status == RENDERED else None
    if data is None:
        raise NotFound(f"文书“{doc.title}”（{doc.number}）的文件缺失或已损坏，请联系管理员", status=doc.status)
    digest = doc.sha256 if kind == "pdf" else hashlib.sha256(data).hexdigest()
    etag = f'"{digest}"'
    headers = {"ETag": etag, "X-Content-SHA256": digest, "X-Document-SHA256": doc.sha256,
               "X-Document-Number": quote(doc.number), "Cache-Control": "private, max-age=0, must-revalidate",
               "Content-Disposition": f"inline; filename*=UTF-8''{quote(f'{doc.title}-{doc.number}.{kind}')}"}
    if kind == "html":  # user text inside: sandboxed, it can never run script on this origin
        headers["Content-Security-Policy"] = DOCUMENT_CSP
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    media = "application/pdf" if kind == "pdf" else "text/html; charset=utf-8"
    return Response(content=data, media_type=media, headers=headers)


@router.get("/cases/{case_id}/documents", summary="案件的文书（文号、状态、SHA-256、下载链接）")
def list_case_documents(case_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return {"items": case_document_list(s, user, case_id)}


def case_document_list(s, user, case_id: int) -> list[dict]:
    """A visible case's documents: the issued ones, then those an event has due and not yet issued
    (status issuing, 生成中) — the API and the case page."""
    services.get_case(s, user, case_id)
    staff = user.role in STAFF_ROLES  # a 移送函 is staff's (cases/referrals)
    return [*(document_json(d) for d in case_documents(s, case_id) if staff or d.doc_type not in STAFF_ONLY_DOC_TYPES),
            *issuing_documents(s, case_id)]


@router.get("/documents/{doc_id}.pdf", summary="下载文书PDF（ETag 为其SHA-256；生成前为404）",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def document_pdf(doc_id: int, request: Request, user: CurrentUser, db: Db, settings: AppSettings):
    return document_file(request, db, settings, user, doc_id, "pdf")


@router.get("/documents/{doc_id}.html", summary="文书的可打印HTML（生成前为404）",
            response_class=Response, responses={200: {"content": {"text/html": {}}}})
def document_html(doc_id: int, request: Request, user: CurrentUser, db: Db, settings: AppSettings):
    return document_file(request, db, settings, user, doc_id, "html")


@router.get("/documents/{doc_id}", summary="文书信息")
def document_info(doc_id: int, user: CurrentUser, db: Db):
    with db.session() as s:
        return document_json(_visible_document(s, user, doc_id))


@router.post("/documents/{doc_id}/rerender", summary="重新生成失败的文书（文号不变；案件的执法人员或管理员）")
def retry_document(doc_id: int, user: CurrentUser, db: Db, clock: AppClock):
    """Puts a failed document back in the render queue (same number and snapshot) and re-queues the
    e-mails that failed with it; the render flow renders it on its next run."""
    return document_json(rerender(db, doc_id, user=user, now=clock.now()))


@router.post("/admin/documents/{doc_id}/rerender", summary="管理员：数据修正后重新生成失败的文书（文号不变）")
def rerender_document(doc_id: int, user: CurrentUser, db: Db, clock: AppClock):
    require_role(user, "admin")
    return document_json(rerender(db, doc_id, user=user, now=clock.now()))
