"""Recording causes, the derived score, listings, appeals and decisions (docs/credit.md)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cases.clocks.legal_time import shanghai_date
from cases.ledger.access import STAFF_ROLES, in_subtree, require_role
from cases.models import Case, CreditListing, CreditRecord, CreditRecordEvent, Document, Enterprise, Jurisdiction, User
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, ValidationFailed, field_error
from state_machines.credit_policy import CreditPolicy, credit_policy

IN_FORCE = ("active", "appealed")
STATUS_LABELS = {"active": "有效", "appealed": "申诉中", "withdrawn": "已撤销", "expired": "已过期"}
EVENT_LABELS = {"recorded": "记录", "appealed": "企业申诉", "upheld": "维持", "corrected": "更正",
                "withdrawn": "撤销", "regraded": "重新定级", "expired": "到期失效"}
OUTCOMES = {"upheld": "维持", "corrected": "更正", "withdrawn": "撤销"}
LIST_LABELS = {"blacklist": "黑名单", "exposure": "曝光"}
CAUSE_LABELS = {"major_hazard": "重大事故隐患", "accident_ordinary": "一般事故", "accident_larger": "较大事故",
                "accident_major": "重大事故", "accident_especially_major": "特别重大事故",
                "overdue_rectification": "逾期未整改", "interview": "约谈", "refused_stop_work": "拒不停工",
                "late_report": "事故迟报、漏报", "commitment_missed": "未履行约谈承诺"}
MANUAL_CAUSES = ("refused_stop_work",)  # no machine event records these: staff record them with the case


def _insert(session: Session):
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def add_event(session: Session, record_id: int, action: str, now: datetime, *, actor: User | None = None,
              reason: str | None = None, before: int | None = None, after: int | None = None) -> None:
    session.add(CreditRecordEvent(record_id=record_id, action=action, at=now, actor_id=actor.id if actor else None,
                                  reason=reason, points_before=before, points_after=after))


def in_force_clause(today: date):
    return (CreditRecord.status.in_(IN_FORCE)) & (CreditRecord.valid_until > today)


def derived_score(session: Session, enterprise_id: int, today: date, policy: CreditPolicy | None = None) -> int:
    """base − the points of the records in force on ``today`` (never below 0). The base is the
    current table's; each record's points are those of its own table."""
    policy = policy or credit_policy()
    points = session.scalar(select(func.coalesce(func.sum(CreditRecord.points), 0)).where(
        CreditRecord.enterprise_id == enterprise_id, in_force_clause(today))) or 0
    return max(0, policy.base_score - int(points))


def refresh_score(session: Session, enterprise_id: int, now: datetime) -> int:
    """Recompute the cache ``Enterprise.credit_score`` from the records, in the caller's transaction.
    PostgreSQL: the enterprise row is locked first, so two transactions recording against the same
    unit take turns and the second one's sum (a new snapshot) sees the first one's record."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Enterprise.id).where(Enterprise.id == enterprise_id).with_for_update())
    score = derived_score(session, enterprise_id, shanghai_date(now))
    session.execute(update(Enterprise).where(Enterprise.id == enterprise_id).values(credit_score=score)
                    .execution_options(synchronize_session=False))
    e = session.get(Enterprise, enterprise_id)  # keep a loaded instance in step
    if e is not None:
        session.refresh(e, ["credit_score"])
    return score


def records_summary(session: Session, enterprise_id: int, today: date) -> str:
    rows = session.execute(select(CreditRecord.item_label, func.count()).where(
        CreditRecord.enterprise_id == enterprise_id, in_force_clause(today))
        .group_by(CreditRecord.item_label).order_by(CreditRecord.item_label)).all()
    return "；".join(f"{label}{n}次" if n > 1 else label for label, n in rows)


def apply_thresholds(session: Session, enterprise_id: int, score: int, now: datetime) -> list[str]:
    """List the enterprise on each list whose threshold ``score`` reaches and where it is not
    listed now (``active_key`` unique: once at a time). Returns the lists newly joined."""
    policy = credit_policy()
    today = shanghai_date(now)
    joined = []
    enterprise = session.get(Enterprise, enterprise_id)
    for name, t in policy.thresholds.items():
        if score > t.score_at_most:
            continue
        reason = (f"信用分{score}分，达到{t.label}标准（{t.score_at_most}分及以下）。"
                  f"在效不良行为记录：{records_summary(session, enterprise_id, today)}")
        row = dict(enterprise_id=enterprise_id, list=name, active_key=f"{name}:{enterprise_id}",
                   table_version=policy.version, score=score, reason=reason,
                   authority_code=enterprise.jurisdiction_code, listed_at=now, listed_on=today,
                   until=today + timedelta(days=t.period_days))
        inserted = session.execute(_insert(session)(CreditListing).values(**row)
                                   .on_conflict_do_nothing(index_elements=["active_key"])
                                   .returning(CreditListing.id)).scalar()
        if inserted:
            joined.append(name)
            tell_listing(session, inserted, "listed", now)
    return joined


def _cn(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def tell_listing(session: Session, listing_id: int, action: str, now: datetime) -> int:
    """信用惩戒告知: the enterprise's contacts are told it was listed on (``listed``) or lifted from
    (``lifted``) a list, by the authority of its registration, once per listing and action (the
    outbox's dedupe key), in the transaction that lists or lifts it. Returns the messages queued."""
    from cases.issuance import outbox

    listing = session.get(CreditListing, listing_id)
    enterprise = session.get(Enterprise, listing.enterprise_id)
    contacts = list(session.scalars(select(User).where(User.enterprise_id == enterprise.id, User.role == "enterprise",
                                                       User.active.is_(True)).order_by(User.id)))
    if not contacts:
        return 0
    authority = session.get(Jurisdiction, listing.authority_code)
    lifted = action == "lifted"
    period = f"{_cn(listing.listed_on)}至{_cn(shanghai_date(listing.lifted_at) if lifted and listing.lifted_at else listing.until)}"
    return outbox.enqueue(session, case=None, template="credit_listing", recipients=contacts,
                          cause=f"credit_listing:{listing.id}:{action}", now=now, variables={
                              "enterprise_name": enterprise.name, "enterprise_credit_code": enterprise.credit_code,
                              "list_label": {"blacklist": "黑名单", "exposure": "曝光名单"}.get(listing.list, listing.list),
                              "listing_action": "移出" if lifted else "列入",
                              "credit_score": derived_score(session, enterprise.id, shanghai_date(now)),
                              "listing_reason": (listing.lifted_reason if lifted else listing.reason) or "",
                              "listing_period": period,
                              "issuing_authority": authority.authority_name if authority else listing.authority_code,
                              "dashboard_url": f"/enterprises/{enterprise.id}/credit"})


def lift(session: Session, listing_ids: list[int], now: datetime, reason: str) -> int:
    """Lift listings once each (the conditional UPDATE clears ``active_key``)."""
    if not listing_ids:
        return 0
    lifted = session.execute(update(CreditListing).where(
        CreditListing.id.in_(listing_ids), CreditListing.active_key.is_not(None))
        .values(active_key=None, lifted_at=now, lifted_reason=reason)
        .returning(CreditListing.id).execution_options(synchronize_session=False)).scalars().all()
    for listing_id in sorted(lifted):
        session.expire(session.get(CreditListing, listing_id))  # the row as updated
        tell_listing(session, listing_id, "lifted", now)
    return len(lifted)


def lift_if_below(session: Session, enterprise_id: int, score: int, now: datetime, why: str) -> int:
    """After a decision that lowered the points: lift the listings the score no longer reaches."""
    policy = credit_policy()
    n = 0
    for listing in session.scalars(select(CreditListing).where(CreditListing.enterprise_id == enterprise_id,
                                                               CreditListing.active_key.is_not(None))):
        t = policy.thresholds.get(listing.list)
        if t is not None and score > t.score_at_most:
            n += lift(session, [listing.id], now, f"{why}，信用分恢复为{score}分，不再达到{t.label}标准")
    return n


def record_cause(session: Session, *, enterprise_id: int, cause: str, source_key: str, authority_code: str,
                 now: datetime, summary: str, case_id: int | None = None, document: Document | None = None,
                 actor: User | None = None) -> CreditRecord | None:
    """Record ``cause`` against the enterprise under the current table, once per ``source_key``
    (None if it is recorded already); the score cache and the lists follow in the same transaction."""
    policy = credit_policy()
    item = policy.item(cause)
    today = shanghai_date(now)
    record_id = session.execute(_insert(session)(CreditRecord).values(
        enterprise_id=enterprise_id, cause=cause, source_key=source_key, table_version=policy.version,
        item_code=item.code, item_label=item.label, points=item.points, original_points=item.points,
        summary=summary, case_id=case_id, document_id=document.id if document else None,
        document_number=document.number if document else None, authority_code=authority_code,
        recorded_at=now, recorded_by_id=actor.id if actor else None, valid_from=today,
        valid_until=today + timedelta(days=item.validity_days), status="active",
    ).on_conflict_do_nothing(index_elements=["source_key"]).returning(CreditRecord.id)).scalar()
    if record_id is None:
        return None
    add_event(session, record_id, "recorded", now, actor=actor, reason=summary, after=item.points)
    score = refresh_score(session, enterprise_id, now)
    tell_record(session, record_id, score, now)
    apply_thresholds(session, enterprise_id, score, now)
    return session.get(CreditRecord, record_id)


def tell_record(session: Session, record_id: int, score: int, now: datetime) -> int:
    """不良行为记录告知: the unit's contacts are told of a record made against it — the item, the points,
    what it is about, until when it counts, the score now, and that it may appeal — once per record
    (outbox cause ``credit_record:<id>``), in the transaction that records it."""
    from cases.issuance import outbox

    record = session.get(CreditRecord, record_id)
    enterprise = session.get(Enterprise, record.enterprise_id)
    contacts = list(session.scalars(select(User).where(User.enterprise_id == enterprise.id, User.role == "enterprise",
                                                       User.active.is_(True)).order_by(User.id)))
    if not contacts:
        return 0
    authority = session.get(Jurisdiction, record.authority_code)
    last_day = record.valid_until - timedelta(days=1)
    return outbox.enqueue(session, case=None, template="credit_record", recipients=contacts,
                          cause=f"credit_record:{record.id}", now=now, variables={
                              "enterprise_name": enterprise.name, "enterprise_credit_code": enterprise.credit_code,
                              "record_item": f"{record.item_code} {record.item_label}", "record_points": record.points,
                              "listing_reason": record.summary,
                              "listing_period": f"{_cn(record.valid_from)}至{_cn(last_day)}",
                              "credit_score": score,
                              "issuing_authority": authority.authority_name if authority else record.authority_code,
                              "dashboard_url": f"/enterprises/{enterprise.id}/credit"})


def regrade(session: Session, record: CreditRecord, cause: str, now: datetime, reason: str) -> bool:
    """An accident re-graded within its 30 days: the record takes the new grade's item and points
    from its own table version (never the current one)."""
    if record.cause == cause or record.status not in IN_FORCE:
        return False
    item = credit_policy(record.table_version).item(cause)
    before = record.points
    record.cause, record.item_code, record.item_label, record.points = cause, item.code, item.label, item.points
    session.flush()
    add_event(session, record.id, "regraded", now, reason=reason, before=before, after=item.points)
    score = refresh_score(session, record.enterprise_id, now)
    apply_thresholds(session, record.enterprise_id, score, now)
    lift_if_below(session, record.enterprise_id, score, now, "事故重新定级")
    return True


# ---------------------------------------------------------------- appeal and decision


def get_record(session: Session, user: User, record_id: int, *, for_update: bool = False) -> CreditRecord:
    stmt = select(CreditRecord).where(CreditRecord.id == record_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    record = session.scalar(stmt)
    if record is None or not can_read_enterprise(session, user, record.enterprise_id):
        raise NotFound("不良行为记录不存在")
    return record


def can_read_enterprise(session: Session, user: User, enterprise_id: int) -> bool:
    """Staff: the enterprise is registered in their subtree, or a record of it was made by an
    authority of their subtree. An enterprise contact: its own unit only."""
    if user.role == "enterprise":
        return user.enterprise_id == enterprise_id
    if user.role not in STAFF_ROLES:
        return False
    e = session.get(Enterprise, enterprise_id)
    if e is None:
        return False
    if in_subtree(session, user.jurisdiction_code, e.jurisdiction_code):
        return True
    codes = session.scalars(select(CreditRecord.authority_code).where(
        CreditRecord.enterprise_id == enterprise_id).distinct()).all()
    return any(in_subtree(session, user.jurisdiction_code, c) for c in codes)


def _text(value: Any, field: str, label: str, *, max_length: int = 2000) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        raise field_error(field, "必须填写", label)
    if len(text) > max_length:
        raise field_error(field, f"不能超过{max_length}字", label)
    return text


def appeal(session: Session, user: User, record_id: int, reason: str, now: datetime) -> CreditRecord:
    """The enterprise's contact appeals a record in force, with its reasons (once per record)."""
    record = get_record(session, user, record_id, for_update=True)
    if user.role != "enterprise" or user.enterprise_id != record.enterprise_id:
        raise Forbidden("只有被记录企业的联系人可以提出申诉")
    reason = _text(reason, "reason", "申诉理由")
    if record.status != "active":
        raise ActionNotAllowed(f"该记录当前状态为“{STATUS_LABELS[record.status]}”，不能申诉")
    if session.scalar(select(CreditRecordEvent.id).where(CreditRecordEvent.record_id == record.id,
                                                         CreditRecordEvent.action == "appealed").limit(1)):
        raise ActionNotAllowed("该记录已申诉并已处理，不能再次申诉")
    record.status = "appealed"
    add_event(session, record.id, "appealed", now, actor=user, reason=reason, before=record.points, after=record.points)
    session.flush()
    return record


def decide(session: Session, user: User, record_id: int, outcome: str, reason: str, now: datetime,
           points: int | None = None) -> CreditRecord:
    """The authority that recorded it decides an appeal: upheld (维持), corrected (更正: the points
    under the record's own table, lower than before) or withdrawn (撤销)."""
    record = get_record(session, user, record_id, for_update=True)
    require_role(user, "officer", "supervisor")
    if user.jurisdiction_code != record.authority_code:
        j = session.get(Jurisdiction, record.authority_code)
        raise Forbidden(f"该记录由{j.authority_name if j else record.authority_code}作出，申诉由其处理")
    errors = []
    if outcome not in OUTCOMES:
        errors.append({"field": "outcome", "label": "处理结果",
                       "message": "必须是 " + "、".join(f"{k}（{v}）" for k, v in OUTCOMES.items())})
    if not isinstance(reason, str) or not reason.strip():
        errors.append({"field": "reason", "label": "处理理由", "message": "必须填写"})
    item_points = credit_policy(record.table_version).item(record.cause).points
    if outcome == "corrected":
        if points is None or isinstance(points, bool) or not isinstance(points, int) or not 0 < points < record.points:
            errors.append({"field": "points", "label": "更正后分值",
                           "message": f"更正时必须填写，且为1至{record.points - 1}之间的整数（原分值{record.points}分，"
                                      f"扣分表第{record.table_version}版该项{item_points}分）"})
    if errors:
        raise ValidationFailed(errors)
    if record.status != "appealed":
        raise ActionNotAllowed(f"该记录当前状态为“{STATUS_LABELS[record.status]}”，没有待处理的申诉")
    reason = reason.strip()[:2000]
    before = record.points
    if outcome == "upheld":
        record.status = "active"
    elif outcome == "corrected":
        record.status, record.points = "active", points
    else:
        record.status = "withdrawn"
    session.flush()
    add_event(session, record.id, outcome, now, actor=user, reason=reason, before=before,
              after=0 if outcome == "withdrawn" else record.points)
    score = refresh_score(session, record.enterprise_id, now)
    if outcome != "upheld":
        lift_if_below(session, record.enterprise_id, score, now, f"不良行为记录{record.item_code}经申诉{OUTCOMES[outcome]}")
    return record


def record_manual(session: Session, user: User, *, case_id: Any, cause: Any, facts: Any, now: datetime) -> CreditRecord:
    """A cause no machine event records (拒不执行停工指令), recorded by staff with the case behind
    it; the case's latest 停工通知书 is the document. Once per case, cause and day."""
    from cases.ledger import services

    require_role(user, "officer", "supervisor")
    errors = []
    if cause not in MANUAL_CAUSES:
        errors.append({"field": "cause", "label": "记录事由",
                       "message": "必须是 " + "、".join(f"{c}（{CAUSE_LABELS[c]}）" for c in MANUAL_CAUSES)})
    if isinstance(case_id, bool) or not isinstance(case_id, int):
        errors.append({"field": "case_id", "label": "案件", "message": "必须填写案件编号（整数）"})
    if not isinstance(facts, str) or not facts.strip():
        errors.append({"field": "facts", "label": "事实经过", "message": "必须填写"})
    elif len(facts) > 2000:
        errors.append({"field": "facts", "label": "事实经过", "message": "不能超过2000字"})
    if errors:
        raise ValidationFailed(errors)
    case = services.get_case(session, user, case_id)  # 404 for a case the user may not see
    if case.enterprise_id is None:
        raise ActionNotAllowed("该案件未登记责任单位，不能记录不良行为")
    doc = session.scalar(select(Document).where(Document.case_id == case.id, Document.doc_type == "stop_work_order")
                         .order_by(Document.id.desc()).limit(1))
    if cause == "refused_stop_work" and doc is None:
        raise ActionNotAllowed("该案件尚未下达责令停工通知书，不能记录拒不执行停工指令")
    key = f"{cause}:{case.id}:{shanghai_date(now).isoformat()}"
    record = record_cause(session, enterprise_id=case.enterprise_id, cause=cause, source_key=key,
                          authority_code=user.jurisdiction_code, now=now, case_id=case.id, document=doc, actor=user,
                          summary=f"{case.number}（{case.title}）：{facts.strip()}")
    if record is None:
        raise ActionNotAllowed("该案件今日已记录过此事由")
    return record
