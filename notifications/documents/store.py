"""Rendering issued documents once: PDF + printable HTML, content-addressed under the data dir.

``render_pending_documents`` takes documents in status ``issued`` (numbered by a transition, see
:mod:`cases.issuance.documents`), builds their variables — the snapshot taken at issue over what the database
knows (:func:`notifications.rendering.variables.build_variables`) — renders them with
:func:`notifications.rendering.render.render_document` and stores

    <data_dir>/documents/<sha256>.pdf    the PDF (sha256 = SHA-256 of these bytes)
    <data_dir>/documents/<sha256>.html   the printable HTML it was made from

then marks the row ``rendered`` with the hash and the relative paths. Files are written to a
temporary name and renamed, and an existing file with the right hash is left alone, so a retry or
two workers rendering the same document at once are harmless; only the first to record wins
(``status = 'issued'`` is the condition of the update).

A render error (a template variable missing, a filter given a wrong value) marks the document
``failed`` with the reason, and records a ``document_failed`` event on the case — nothing is
stored, never a half document. ``rerender`` puts a failed document back in the queue (same
number) once the data is fixed. Any other error (disk full, …) leaves the document ``issued``
for the next run.
"""
from __future__ import annotations

import hashlib
import logging
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.platform.config import Settings, get_settings
from cases.platform.db import Database
from cases.ledger.access import require_role
from cases.issuance import wakeup
from cases.issuance.documents import ACCIDENT_GRADE_CODES, FAILED, ISSUED, RENDERED, STATUS_LABELS
from cases.platform.errors import ActionNotAllowed, NotFound
from cases.platform.files import write_atomically
from cases.models import Case, Document, Jurisdiction, OutboxMessage, User
from notifications.rendering.render import RenderError, RenderedDocument, TemplateVariableMissing, render_document
from notifications.rendering.variables import _coerce, build_variables

log = logging.getLogger(__name__)

DOCUMENTS_DIR = "documents"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_path(settings: Settings, relative: str) -> Path:
    return Path(settings.data_dir) / relative


def _kind_facts(session: Session, case: Case) -> dict[str, Any]:
    """Facts some document types need that notifications.rendering.variables does not read (lowest precedence)."""
    out: dict[str, Any] = {}
    # (A building's name, address and owner are case facts: notifications.rendering.variables.case_facts.)
    if case.accident_grade:
        out["accident_grade"] = ACCIDENT_GRADE_CODES.get(case.accident_grade, case.accident_grade)
    if case.appraisal_grade:
        out["appraisal_grade"] = case.appraisal_grade
    # (Who to contact when nobody is assigned yet is a case fact too: notifications.rendering.variables.case_facts.)
    return out


def document_variables(session: Session, doc: Document, settings: Settings | None = None) -> dict[str, Any]:
    """Template variables of a document: database facts < case details < the issue snapshot < 文号."""
    settings = settings or get_settings()
    # build_variables reads an outbox row; a transient one (never added to the session) carries the
    # snapshot, the number and the issue instant.
    row = OutboxMessage(case_id=doc.case_id, template=doc.doc_type, recipient_user_id=None,
                        variables=dict(doc.variables or {}), document_no=doc.number, created_at=doc.issued_at)
    merged = build_variables(session, row, settings)
    case = session.get(Case, doc.case_id)
    if case is not None:
        for k, v in _kind_facts(session, case).items():
            merged.setdefault(k, _coerce(k, v))
    merged["doc_number"] = doc.number
    # The authority that issued it, whatever the case's jurisdiction became since (提级).
    issuer = session.get(Jurisdiction, doc.issuing_jurisdiction_code) if doc.issuing_jurisdiction_code else None
    if issuer is not None and not (doc.variables or {}).get("issuing_authority"):
        merged["issuing_authority"] = issuer.authority_name
    if issuer is not None and case is not None and not (doc.variables or {}).get("contact_name"):
        contact = _issuer_contact(session, case, issuer)
        if contact is not None:
            merged["contact_name"], merged["contact_phone"] = contact
    return merged


def _issuer_contact(session: Session, case: Case, issuer: Jurisdiction) -> tuple[str, str] | None:
    """The 联系人 of a letter is someone of the authority that signs it: the case's officer when the
    letter is their bureau's, else (a city's 督办函 or 通报 about a county's case) the issuing
    bureau's supervisor, then officer, with a phone. None: keep the case's contact."""
    contact_id = case.assignee_id or case.created_by_id  # as notifications.rendering.variables.case_facts
    contact = session.get(User, contact_id) if contact_id else None
    if contact is not None and contact.jurisdiction_code == issuer.code:
        return None
    staff = session.scalars(select(User).where(
        User.jurisdiction_code == issuer.code, User.role.in_(("supervisor", "officer")), User.active.is_(True),
        User.phone.is_not(None)).order_by(User.role.desc(), User.id)).first()  # supervisor before officer
    return (staff.display_name, staff.phone) if staff is not None else None


def _write_once(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically, unless the file already holds exactly these bytes."""
    if path.exists() and path.read_bytes() == data:
        return
    write_atomically(path, data)


def _failure_reason(exc: RenderError) -> str:
    if isinstance(exc, TemplateVariableMissing):
        return f"文书生成失败：缺少模板变量“{exc.variable}”（{exc}）"
    return f"文书生成失败：{exc}"


# Transient errors (the disk, WeasyPrint running out of something, …): retried by the render flow
# 1, 2, 4, 8 minutes after each other; the fifth failed attempt marks the document failed.
MAX_RENDER_ATTEMPTS = 5
RENDER_BACKOFF_BASE = timedelta(minutes=1)


def render_backoff(attempts: int) -> timedelta:
    return RENDER_BACKOFF_BASE * (2 ** max(0, attempts - 1))


def alert_admins(s: Session, doc: Document, reason: str, now: datetime, failure_event_id: int) -> int:
    """One ``system_alert`` inbox row per administrator of the case's province about a document that
    failed to render. The dedupe key holds the ``document_failed`` event: once per failure (never per
    attempt); a retried document that fails again is a new failure and is alerted again."""
    from notifications.delivery.alerts import insert_admin_alerts

    case = s.get(Case, doc.case_id)
    variables = {"alert_title": f"文书生成失败：{doc.title}（{doc.number}）",
                 "alert_detail": f"{reason}。修正数据后，可在案件的文书列表中重新生成（文号不变）。",
                 "failed_message_id": None, "failed_template_title": doc.title, "failed_channel": None,
                 "raised_at": now.isoformat()}
    return insert_admin_alerts(s, f"alert:doc{doc.id}:ev{failure_event_id}", case_id=doc.case_id,
                               jurisdiction_code=case.jurisdiction_code if case else None, variables=variables,
                               now=now, about=f"document {doc.id} failed ({reason})")


def _record_failure(db: Database, doc_id: int, reason: str, now: datetime, *, attempts: int | None = None) -> str:
    """Mark the document failed (only if it is still issued), record ``document_failed`` on the case
    and alert the administrators — all in one transaction."""
    with db.transaction() as s:
        values: dict[str, Any] = {"status": FAILED, "error": reason[:4000], "next_render_at": None}
        if attempts is not None:
            values["render_attempts"] = attempts
        done = s.execute(update(Document).where(Document.id == doc_id, Document.status == ISSUED)
                         .values(**values).execution_options(synchronize_session=False))
        if done.rowcount != 1:
            return "stale"
        wakeup.outbox_written(s)  # e-mails held for it (notifications/delivery/service.py) now fail: wake delivery
        doc = s.get(Document, doc_id)
        case = s.get(Case, doc.case_id)
        event = services.record_system_event(
            s, case, "document_failed", {"document_id": doc.id, "type": doc.doc_type, "number": doc.number,
                                         "error": reason, "attempts": doc.render_attempts},
            now=now, comment=f"{doc.title}（{doc.number}）生成失败")
        alert_admins(s, doc, reason, now, event.id)
    return "failed"


def _record_transient(db: Database, doc_id: int, exc: Exception, now: datetime) -> str:
    """A transient error: try again after a backoff, or — the cap reached — mark it failed."""
    with db.transaction() as s:
        doc = s.get(Document, doc_id)
        if doc is None or doc.status != ISSUED:
            return "stale"
        attempts = (doc.render_attempts or 0) + 1
        detail = f"{type(exc).__name__}: {exc}"
        if attempts < MAX_RENDER_ATTEMPTS:
            doc.render_attempts, doc.next_render_at = attempts, now + render_backoff(attempts)
            doc.error = f"第{attempts}次生成出错（{detail}），将于稍后自动重试"[:4000]
            log.warning("document %s: render attempt %s failed (%s); retry at %s", doc_id, attempts, detail,
                        doc.next_render_at)
            return "retry"
    log.error("document %s: render failed %s times (%s); marked failed", doc_id, attempts, detail)
    return _record_failure(db, doc_id, f"文书生成失败：连续{attempts}次出错（{detail}）", now, attempts=attempts)


def render_one(db: Database, doc_id: int, now: datetime, *, settings: Settings | None = None) -> str:
    """Render one issued document. Returns rendered / failed / retry (transient error, backoff) /
    waiting (in its backoff) / stale (someone else did) / skipped (not issued).

    Needs nothing but the ``documents`` row and the case's facts: no outbox row, no delivery."""
    settings = settings or get_settings()
    with db.session() as s:
        doc = s.get(Document, doc_id)
        if doc is None or doc.status != ISSUED:
            return "skipped"
        if doc.next_render_at is not None and doc.next_render_at > now:
            return "waiting"
        doc_type = doc.doc_type
        try:
            variables = document_variables(s, doc, settings)
        except RenderError as exc:
            variables, error = None, exc
    if variables is None:
        return _record_failure(db, doc_id, _failure_reason(error), now)
    try:
        rendered = render_document(doc_type, variables)
    except RenderError as exc:  # never a half document
        return _record_failure(db, doc_id, _failure_reason(exc), now)
    except Exception as exc:  # noqa: BLE001 - e.g. the PDF engine ran out of memory: transient
        return _record_transient(db, doc_id, exc, now)
    return store_rendered(db, doc_id, rendered, now, settings)


def store_rendered(db: Database, doc_id: int, rendered: RenderedDocument, now: datetime, settings: Settings) -> str:
    """Write a rendered document's files and mark it rendered (if it is still only issued): rendered /
    stale (someone else recorded it first) / retry (the files could not be written: backoff)."""
    pdf_rel = f"{DOCUMENTS_DIR}/{rendered.sha256}.pdf"
    html_rel = f"{DOCUMENTS_DIR}/{rendered.sha256}.html"
    try:
        _write_once(data_path(settings, html_rel), rendered.html.encode("utf-8"))
        _write_once(data_path(settings, pdf_rel), rendered.pdf)
    except OSError as exc:  # disk full, permissions, …: retried with backoff
        return _record_transient(db, doc_id, exc, now)
    with db.transaction() as s:
        done = s.execute(update(Document).where(Document.id == doc_id, Document.status == ISSUED).values(
            status=RENDERED, sha256=rendered.sha256, pdf_path=pdf_rel, html_path=html_rel, rendered_at=now,
            title=(rendered.title or "")[:64] or Document.title, error=None, next_render_at=None)
            .execution_options(synchronize_session=False))
        if done.rowcount == 1:
            wakeup.outbox_written(s)  # e-mails held for it (notifications/delivery/service.py) can go now
    return "rendered" if done.rowcount == 1 else "stale"


def due_documents(s: Session, now: datetime, limit: int) -> list[int]:
    """Issued documents whose render is due (not in a backoff), oldest first."""
    return list(s.scalars(select(Document.id).where(
        Document.status == ISSUED, or_(Document.next_render_at.is_(None), Document.next_render_at <= now))
        .order_by(Document.id).limit(limit)))


def render_pending_documents(db: Database, now: datetime, *, limit: int = 50,
                             settings: Settings | None = None) -> dict[str, int]:
    """Render up to ``limit`` due issued documents, oldest first; returns counts per outcome
    (rendered / failed / retry / stale; ``error`` for a bug that escaped ``render_one``)."""
    settings = settings or get_settings()
    with db.session() as s:
        ids = due_documents(s, now, limit)
    counts: Counter = Counter()
    for doc_id in ids:
        try:
            counts[render_one(db, doc_id, now, settings=settings)] += 1
        except Exception:  # the database itself: left as it is, retried next run
            log.exception("document %s: rendering failed", doc_id)
            counts["error"] += 1
    return dict(counts)


RETRY_ROLES = ("officer", "supervisor", "admin")


def rerender(db: Database, doc_id: int, *, user: User | None = None, now: datetime | None = None) -> Document:
    """Put a failed document back in the queue (same number, same snapshot) once its data is fixed;
    the render flow renders it on its next run. With ``user``: the case must be visible to them and
    they must be staff (the case's officers or an administrator); the request is recorded on the case.
    E-mails that failed only because this document had not been generated are sent again."""
    from notifications.delivery.service import resend_for_document

    with db.transaction() as s:
        doc = s.get(Document, doc_id)
        missing = NotFound(f"文书（编号{doc_id}）不存在或不在您的管辖范围内")
        if doc is None:
            raise missing
        if user is not None:
            try:
                case = services.get_case(s, user, doc.case_id)
            except NotFound:
                raise missing from None
            require_role(user, *RETRY_ROLES)
        if doc.status != FAILED:
            raise ActionNotAllowed(f"只能重新生成失败的文书（当前状态：{STATUS_LABELS.get(doc.status, doc.status)}）",
                                   state=doc.status)
        previous_error = doc.error
        doc.status, doc.error, doc.render_attempts, doc.next_render_at = ISSUED, None, 0, None
        if user is not None and now is not None:
            services.record_system_event(s, case, "document_rerender",
                                         {"document_id": doc.id, "type": doc.doc_type, "number": doc.number,
                                          "previous_error": previous_error},
                                         now=now, actor=user, comment=f"{doc.title}（{doc.number}）重新生成")
        if now is not None:
            resend_for_document(s, doc.number, now)
        s.flush()
        s.expunge(doc)
        return doc


def read_stored(doc: Document, settings: Settings, kind: str = "pdf") -> bytes | None:
    """The stored PDF (checked against its hash) or HTML of a rendered document; None if absent."""
    if doc.status != RENDERED:
        return None
    rel = doc.pdf_path if kind == "pdf" else doc.html_path
    if not rel:
        return None
    path = data_path(settings, rel)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if kind == "pdf" and sha256_hex(data) != doc.sha256:
        log.error("document %s: %s does not match its sha256", doc.id, path)
        return None
    return data


class DocumentNotReady(Exception):
    """The document a message carries is still waiting to be rendered (e.g. in a retry backoff):
    delivery postpones the message until ``until`` without counting an attempt."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class DocumentFailed(RenderError):
    """The document a message carries failed to render: the message fails without its own alert
    (the document's failure was alerted once); re-rendering the document sends it again."""


def stored_pdf_for_message(db: Database, msg: OutboxMessage, now: datetime,
                           settings: Settings | None = None) -> tuple[str, bytes] | None:
    """(title, PDF bytes) of the stored document a message carries (by 文号), rendering it first if
    it is still only issued and due; None when the message's number is no stored document (the caller
    then renders from the message). Raises DocumentNotReady while the document waits for a retry,
    DocumentFailed if it failed, RenderError if its file is lost."""
    settings = settings or get_settings()
    if not msg.document_no:
        return None
    with db.session() as s:
        doc = s.scalars(select(Document).where(Document.number == msg.document_no)).first()
        if doc is None or doc.doc_type != msg.template:
            return None
        doc_id = doc.id
    if doc.status == ISSUED:
        render_one(db, doc_id, now, settings=settings)
        with db.session() as s:
            doc = s.get(Document, doc_id)
    if doc.status == ISSUED:
        raise DocumentNotReady(f"文书{doc.number}尚未生成（{doc.error or '等待生成'}），消息推迟发送",
                               until=max(doc.next_render_at or now, now + timedelta(seconds=30)))
    if doc.status == FAILED:
        raise DocumentFailed(f"文书{doc.number}未能生成（{doc.error}）")
    data = read_stored(doc, settings)
    if data is None:
        raise RenderError(f"文书{doc.number}的PDF文件缺失或与登记的SHA-256不符")
    return doc.title, data


# The preflight of an action's documents (installed as cases.issuance.documents.preflight on import).
from notifications.documents import preflight as _preflight  # noqa: E402,F401
