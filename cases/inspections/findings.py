"""What an inspection found: an item's photo, and a failed item turned into a case.

Photos are stored like evidence (cases/evidence/storage.py: type sniffed from the bytes, EXIF time and
place, orientation applied, a thumbnail, files by SHA-256 under the data dir) and described in
``inspection_items.photo``; only photos (no PDF).

``case_from_item`` makes a failed item a case in one step, through ``cases.ledger.services.create_case``
(so every rule of case creation holds): a 一般安全隐患 (category from the item), or a 重大事故隐患
proposed on the item's 2022 catalogue item (or when the officer chooses it), or for a building a 危险房屋
case — pre-filled with the site, the inspected unit, the place, the item's text and note, source
监督检查 and the inspection's campaign. The link is kept both ways: ``inspection_items.case_id``, and the
case's creation event carries ``inspection`` (id, 文号, item) in its payload and names the 检查记录 in
its comment.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.evidence import storage
from cases.inspections import RESULTS
from cases.inspections.services import Photo, get_inspection, require_writer
from cases.ledger import services as ledger
from cases.ledger.validation import MAX_INT
from cases.models import Case, CaseEvent, Inspection, InspectionItem, User
from cases.platform.clock import SHANGHAI
from cases.platform.errors import ActionNotAllowed, NotFound, PayloadTooLarge, ValidationFailed

CASE_KINDS = {"hazard": "一般安全隐患", "major_hazard": "重大事故隐患", "dangerous_building": "危险房屋"}


# ---------------------------------------------------------------- photos


def _sniff_photo(data: bytes, label: str, field: str, settings) -> tuple[storage.Sniffed, Any]:
    cap = int(settings.evidence_max_bytes)
    if len(data) > cap:
        raise PayloadTooLarge(f"{label}：文件过大，每张照片最多 {cap // (1024 * 1024)} MB", field=field, max_bytes=cap)
    try:
        sniffed, im = storage.sniff(data)
    except ValidationFailed as exc:
        raise ValidationFailed([{"field": field, "label": label, "message": e["message"]} for e in exc.errors]) from None
    if not sniffed.is_image:
        raise ValidationFailed([{"field": field, "label": label, "message": "只接受照片（JPEG、PNG、WebP、HEIC）"}])
    return sniffed, im


def check_photos(photos: dict[str, Photo], results: list[dict[str, Any]], errors: list, settings) -> dict[str, tuple]:
    """The photos sent with a record, sniffed (problems added to ``errors`` by the item's label)."""
    out: dict[str, tuple] = {}
    codes = {r["code"] for r in results}
    for code, photo in photos.items():
        label, field = f"检查项“{code}”的照片", f"photo_{code}"
        if code not in codes:
            continue
        try:
            out[code] = (*_sniff_photo(photo.data, label, field, settings), photo)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        except PayloadTooLarge as exc:
            errors.append({"field": field, "label": label, "message": exc.message.split("：", 1)[-1]})
    return out


def _photo_record(settings, sniffed: storage.Sniffed, im, photo: Photo, user: User, now: datetime) -> dict[str, Any]:
    from cases.evidence.services import _clean_filename

    paths = storage.store(settings, photo.data, sniffed, im)
    return {"sha256": sniffed.sha256, "media_type": sniffed.media_type, "size": sniffed.size,
            "width": sniffed.width, "height": sniffed.height, "filename": _clean_filename(photo.filename),
            "original": paths.original, "display": paths.display, "thumb": paths.thumb, "meta": sniffed.meta,
            "uploaded_by_id": user.id, "uploaded_at": now.isoformat()}


def store_photos(session: Session, inspection: Inspection, sniffed: dict[str, tuple], settings, user: User,
                 now: datetime) -> None:
    items = {i.item_code: i for i in session.scalars(select(InspectionItem).where(
        InspectionItem.inspection_id == inspection.id))}
    for code, (s, im, photo) in sniffed.items():
        items[code].photo = _photo_record(settings, s, im, photo, user, now)
    session.flush()


def _item(session: Session, user: User, inspection_id: Any, item_id: Any, *, for_update: bool = False):
    inspection = get_inspection(session, user, inspection_id)
    missing = NotFound(f"检查项（编号{item_id}）不存在或不属于本检查记录")
    if isinstance(item_id, bool) or not isinstance(item_id, int) or abs(item_id) > MAX_INT:
        raise missing
    stmt = select(InspectionItem).where(InspectionItem.id == item_id, InspectionItem.inspection_id == inspection.id)
    if for_update:
        stmt = stmt.with_for_update()
    item = session.scalars(stmt).first()
    if item is None:
        raise missing
    return inspection, item


def get_item(session: Session, user: User, inspection_id: Any, item_id: Any) -> InspectionItem:
    return _item(session, user, inspection_id, item_id)[1]


def add_item_photo(session: Session, user: User, inspection_id: int, item_id: int, data: bytes, filename: Any,
                   now: datetime, settings) -> InspectionItem:
    """Attach (or replace) an item's photo."""
    inspection, item = _item(session, user, inspection_id, item_id, for_update=True)
    require_writer(session, user, inspection)
    sniffed, im = _sniff_photo(data, "照片", "file", settings)
    item.photo = _photo_record(settings, sniffed, im, Photo(data, filename if isinstance(filename, str) else ""),
                               user, now)
    session.flush()
    return item


# ---------------------------------------------------------------- a failed item → a case


def _found_at(inspection: Inspection, now: datetime) -> datetime:
    """The inspection's day (noon, Beijing time), never after now."""
    noon = datetime.combine(inspection.inspected_on, time(12, 0), tzinfo=SHANGHAI).astimezone(timezone.utc)
    return min(noon, now - timedelta(seconds=1))


def default_kind(inspection: Inspection, item: InspectionItem) -> str:
    if inspection.building_id is not None:
        return "dangerous_building"
    return "major_hazard" if item.major_hazard_item else "hazard"


def case_payload(inspection: Inspection, item: InspectionItem, kind: str, data: dict[str, Any],
                 now: datetime) -> dict[str, Any]:
    """What the new case is pre-filled with (the caller's ``title``, ``description``,
    ``hazard_item_code``, ``assignee_id``… win)."""
    description = f"{inspection.inspected_on.year}年{inspection.inspected_on.month}月{inspection.inspected_on.day}日" \
                  f"监督检查（检查记录{inspection.number}）发现，检查项{item.item_code}“{item.text}”不符合要求。"
    if item.note:
        description += f"\n检查情况：{item.note}"
    payload: dict[str, Any] = {
        "kind": kind, "title": f"不符合：{item.text}"[:200], "description": description,
        "location": inspection.place or None, "found_at": _found_at(inspection, now).isoformat(),
        "source": "inspection",
    }
    if inspection.project_id is not None:
        payload["project_id"] = inspection.project_id
    if inspection.building_id is not None:
        payload["building_id"] = inspection.building_id
    if inspection.enterprise_id is not None and kind != "dangerous_building":
        payload["enterprise_id"] = inspection.enterprise_id
    if kind == "hazard" and item.category:
        payload["category"] = item.category
    if kind == "major_hazard" and item.major_hazard_item:
        payload["hazard_item_code"] = item.major_hazard_item
    allowed = {"title", "description", "location", "assignee_id", "hazard_item_code", "category", "enterprise_id"}
    payload.update({k: v for k, v in data.items() if k in allowed and v not in (None, "")})
    if kind != "hazard":
        payload.pop("category", None)
    if kind != "major_hazard":
        payload.pop("hazard_item_code", None)
    return {k: v for k, v in payload.items() if v is not None}


def case_from_item(session: Session, user: User, inspection_id: int, item_id: int, data: dict[str, Any] | None = None,
                   now: datetime | None = None) -> Case:
    """A failed item → a case (once): see the module's docstring."""
    from cases.platform import clock

    now = now or clock.now()
    data = dict(data or {})
    inspection, item = _item(session, user, inspection_id, item_id, for_update=True)
    require_writer(session, user, inspection)
    if item.result != "fail":
        raise ActionNotAllowed(f"检查项“{item.item_code}”的检查结果为{RESULTS.get(item.result, item.result)}，"
                               "只有不合格的检查项可以转为案件")
    if item.case_id is not None:
        number = session.scalar(select(Case.number).where(Case.id == item.case_id))
        raise ActionNotAllowed(f"检查项“{item.item_code}”已转为案件{number or item.case_id}", case_id=item.case_id)
    kind = data.pop("kind", None) or default_kind(inspection, item)
    allowed = ("dangerous_building",) if inspection.building_id is not None else ("hazard", "major_hazard")
    if kind not in allowed:
        raise ValidationFailed([{"field": "kind", "label": "案件类型", "message": f"取值“{kind}”无效，可选："
                                 + "、".join(f"{k}（{CASE_KINDS[k]}）" for k in allowed)}])
    payload = case_payload(inspection, item, kind, data, now)
    payload["comment"] = f"由检查记录{inspection.number}的检查项{item.item_code}转为案件"
    case = ledger.create_case(session, user, payload, now=now)
    if inspection.campaign_id is not None:
        case.campaign_id = inspection.campaign_id
    event = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == 1)).one()
    event.payload = {**(event.payload or {}), "inspection": {
        "id": inspection.id, "number": inspection.number, "item_id": item.id, "item_code": item.item_code,
        "campaign_id": inspection.campaign_id, "round_no": inspection.round_no}}
    item.case_id = case.id
    # The 检查记录 prints the case numbers of its problems: rendered again (same 文号) on next request.
    inspection.document = {k: v for k, v in (inspection.document or {}).items()
                           if k not in ("sha256", "pdf_path", "html_path")}
    session.flush()
    return case


def case_inspection_link(session: Session, case_id: int) -> dict[str, Any] | None:
    """The inspection (id, 文号, item) a case was made from, if it was: for the case page."""
    row = session.execute(select(Inspection.id, Inspection.number, Inspection.inspected_on, InspectionItem.item_code,
                                 InspectionItem.text)
                          .join(InspectionItem, InspectionItem.inspection_id == Inspection.id)
                          .where(InspectionItem.case_id == case_id).limit(1)).first()
    if row is None:
        return None
    return {"id": row.id, "number": row.number, "inspected_on": row.inspected_on, "item_code": row.item_code,
            "item_text": row.text}
