"""Add, list and read a case's evidence. The caller owns the transaction; ``now`` is injected.

Visibility is the case's (cases/ledger/access.py): whoever sees the case sees its evidence, and what
one may not see is a 404 worded like a missing id. Uploading: officers and supervisors who see the
case, and the contacts of its responsible unit (a contact sees only those cases anyway) — an
enterprise reports its rectification with photos. Admins read, they do not add evidence.

Evidence may be added in any state of the case, a closed one included (回头看 photos).

Duplicates: the file is stored once per content (SHA-256). The same bytes uploaded again to the
same case with the same purpose answer with the existing row (``created`` False): no second row, no
second event. The same bytes under another purpose are a new row — except that a photo identical
to one of the case's 整改前 photos is refused as 整改后 (the rectification would prove nothing).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cases.evidence import PURPOSES, storage
from cases.ledger import services as ledger
from cases.ledger.access import require_role
from cases.ledger.labels import describe_options
from cases.ledger.policy import may_act_for_enterprise
from cases.ledger.validation import MAX_INT
from cases.models import Case, CaseEvent, Evidence, User
from cases.platform.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed

NOTE_MAX = 2000
FILENAME_MAX = 200


@dataclass
class Added:
    evidence: Evidence
    created: bool  # False: the same file was already there for this case and purpose


def _size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.3g} MB"
    return f"{max(1, n // 1024)} KB"


def _missing(evidence_id: int) -> NotFound:
    return NotFound(f"证据材料（编号{evidence_id}）不存在或不在您的管辖范围内")


def _clean_filename(filename: Any) -> str:
    name = filename if isinstance(filename, str) else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "\"<>")
    return name.strip()[:FILENAME_MAX] or "未命名"


def _may_upload(user: User, case: Case) -> None:
    if user.role == "enterprise":
        if not may_act_for_enterprise(user, case):
            raise Forbidden("只有责任单位的联系人可以为本案件上传证据材料")
        return
    require_role(user, "officer", "supervisor", "enterprise")


def add_evidence(s: Session, user: User, case_id: int, data: bytes, filename: Any, purpose: Any,
                 event_id: Any, now: datetime, settings, note: Any = None) -> Added:
    """Sniff, check and store one file and record it on the case (an ``evidence_added`` event)."""
    case = ledger.get_case(s, user, case_id)
    _may_upload(user, case)
    errors: list[dict[str, str]] = []
    if purpose not in PURPOSES:
        errors.append({"field": "purpose", "label": "用途", "message": f"取值无效，{describe_options(PURPOSES)}"})
    event = None
    if event_id is not None:
        if isinstance(event_id, bool) or not isinstance(event_id, int) or abs(event_id) > MAX_INT:
            errors.append({"field": "event_id", "label": "所属操作", "message": "应为本案件一条记录的编号"})
        else:
            event = s.get(CaseEvent, event_id)
            if event is None or event.case_id != case.id:
                errors.append({"field": "event_id", "label": "所属操作",
                               "message": f"本案件没有编号为{event_id}的记录"})
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX or "\x00" in note):
        errors.append({"field": "note", "label": "说明", "message": f"应为不超过{NOTE_MAX}个字符的文本"})
    if errors:
        raise ValidationFailed(errors)
    cap = int(settings.evidence_max_bytes)
    if len(data) > cap:
        raise PayloadTooLarge(f"文件：过大（{_size_text(len(data))}），每个文件最多 {_size_text(cap)}",
                       field="file", max_bytes=cap)
    sniffed, im = storage.sniff(data)

    # One upload at a time per case (the duplicate check below and the event's number); NO KEY, as a
    # transition locks it: rows that only reference the case (a deriver's documents) do not hold it up.
    s.execute(select(Case.id).where(Case.id == case.id).with_for_update(key_share=True))
    same = s.scalars(select(Evidence).where(Evidence.case_id == case.id, Evidence.sha256 == sniffed.sha256)).all()
    for row in same:
        if row.purpose == purpose:
            return Added(row, False)
    if purpose == "after" and any(row.purpose == "before" for row in same):
        raise storage.file_error("与本案件的整改前照片完全相同，不能作为整改后照片")

    paths = storage.store(settings, data, sniffed, im)
    name = _clean_filename(filename)
    ev = Evidence(case_id=case.id, event_id=event.id if event is not None else None, purpose=purpose,
                  media_type=sniffed.media_type, sha256=sniffed.sha256, size=sniffed.size, filename=name,
                  note=note or None, width=sniffed.width, height=sniffed.height, photo_meta=sniffed.meta,
                  stored_path=paths.original, display_path=paths.display, thumb_path=paths.thumb,
                  uploaded_by_id=user.id, uploaded_at=now)
    s.add(ev)
    s.flush()
    kind = "照片" if sniffed.is_image else "文件"
    ledger.record_system_event(
        s, case, "evidence_added",
        {"evidence_id": ev.id, "purpose": purpose, "purpose_label": PURPOSES[purpose], "media_type": ev.media_type,
         "sha256": ev.sha256, "filename": name, "event_id": ev.event_id},
        now=now, actor=user, comment=f"上传{PURPOSES[purpose]}{kind}：{name}")
    return Added(ev, True)


def list_evidence(s: Session, user: User, case_id: int) -> list[Evidence]:
    """The case's evidence, oldest first (404 if the caller does not see the case)."""
    ledger.get_case(s, user, case_id)
    return list(s.scalars(select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.id)))


def get_evidence(s: Session, user: User, evidence_id: int) -> Evidence:
    """One piece of evidence, if the caller sees its case; else a 404 worded like a missing id."""
    if isinstance(evidence_id, bool) or not isinstance(evidence_id, int) or abs(evidence_id) > MAX_INT:
        raise _missing(evidence_id)
    ev = s.get(Evidence, evidence_id)
    if ev is None:
        raise _missing(evidence_id)
    try:
        ledger.get_case(s, user, ev.case_id)
    except NotFound:
        raise _missing(evidence_id) from None
    return ev


def has_rectification_photo(s: Session, case_id: int) -> bool:
    """At least one 整改后 photo (an image, not a PDF) of the current round of rectification: uploaded
    at or after the case's last 核查不合格 (``reject``) or 重新打开 (``reopen``) — the photos of a
    round that failed its check prove nothing about the next one."""
    round_start = (select(func.max(CaseEvent.at))
                   .where(CaseEvent.case_id == case_id, CaseEvent.action.in_(("reject", "reopen")))
                   .scalar_subquery())
    return s.scalar(select(Evidence.id).where(
        Evidence.case_id == case_id, Evidence.purpose == "after", Evidence.media_type.like("image/%"),
        or_(round_start.is_(None), Evidence.uploaded_at >= round_start)).limit(1)) is not None


def uploader_names(s: Session, rows: list[Evidence]) -> dict[int, str]:
    ids = {r.uploaded_by_id for r in rows}
    if not ids:
        return {}
    return dict(s.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def evidence_json(ev: Evidence, uploader: str | None = None, *, prefix: str = "/api") -> dict[str, Any]:
    """What a list shows of one piece of evidence, with the URLs of its file and thumbnail."""
    image = ev.media_type.startswith("image/")
    return {
        "id": ev.id, "case_id": ev.case_id, "event_id": ev.event_id,
        "purpose": ev.purpose, "purpose_label": PURPOSES.get(ev.purpose, ev.purpose),
        "media_type": ev.media_type, "is_image": image, "filename": ev.filename, "note": ev.note,
        "size": ev.size, "sha256": ev.sha256, "width": ev.width, "height": ev.height,
        "taken_at": (ev.photo_meta or {}).get("taken_at"), "taken_offset": (ev.photo_meta or {}).get("taken_offset"),
        "gps": (ev.photo_meta or {}).get("gps"), "camera": (ev.photo_meta or {}).get("camera"),
        "uploaded_at": ev.uploaded_at.isoformat(), "uploaded_by": {"id": ev.uploaded_by_id, "name": uploader},
        "url": f"{prefix}/evidence/{ev.id}",
        "thumb_url": f"{prefix}/evidence/{ev.id}/thumb" if ev.thumb_path else None,
    }
