"""What people read: an enterprise's credit (derived score, records with their trail, listings),
the blacklist / exposure lists for staff, and the public exposure list (no personal data)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.clocks.legal_time import shanghai_date
from cases.credit import services as credit
from cases.ledger.access import STAFF_ROLES, subtree_codes
from cases.models import Case, CreditListing, CreditRecord, CreditRecordEvent, Document, Enterprise, Jurisdiction, User
from cases.platform.errors import Forbidden, NotFound
from state_machines.credit_policy import credit_policy

# A record made in the transition that issues its document (documents are derived after commit)
# names it by the case: the document of this type on the record's case.
CASE_DOCUMENTS = {"major_hazard": "stop_work_order", "refused_stop_work": "stop_work_order"}


def _names(session: Session, codes) -> dict[str, str]:
    codes = set(codes)
    if not codes:
        return {}
    return dict(session.execute(select(Jurisdiction.code, Jurisdiction.authority_name).where(Jurisdiction.code.in_(codes))).all())


def records_out(session: Session, records: list[CreditRecord], today) -> list[dict[str, Any]]:
    ids = [r.id for r in records]
    events: dict[int, list] = {}
    actors: set[int] = set()
    if ids:
        for e in session.scalars(select(CreditRecordEvent).where(CreditRecordEvent.record_id.in_(ids))
                                 .order_by(CreditRecordEvent.at, CreditRecordEvent.id)):
            events.setdefault(e.record_id, []).append(e)
            if e.actor_id:
                actors.add(e.actor_id)
    users = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(actors))).all()) if actors else {}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_({r.case_id for r in records if r.case_id})))}
    docs = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(
        {r.document_id for r in records if r.document_id})))}
    by_case: dict[tuple[int, str], Document] = {}
    wanted = {(r.case_id, CASE_DOCUMENTS[r.cause]) for r in records if not r.document_id and r.case_id and r.cause in CASE_DOCUMENTS}
    if wanted:
        for d in session.scalars(select(Document).where(Document.case_id.in_({w[0] for w in wanted}),
                                                         Document.doc_type.in_({w[1] for w in wanted})).order_by(Document.id)):
            by_case.setdefault((d.case_id, d.doc_type), d)
    names = _names(session, {r.authority_code for r in records})
    out = []
    for r in records:
        doc = docs.get(r.document_id) if r.document_id else by_case.get((r.case_id, CASE_DOCUMENTS.get(r.cause, "")))
        case = cases.get(r.case_id)
        in_force = r.status in credit.IN_FORCE and r.valid_until > today
        out.append({
            "id": r.id, "enterprise_id": r.enterprise_id, "cause": r.cause, "cause_label": credit.CAUSE_LABELS.get(r.cause, r.cause),
            "item_code": r.item_code, "item_label": r.item_label, "table_version": r.table_version,
            "points": r.points, "original_points": r.original_points, "summary": r.summary,
            "case": {"id": case.id, "number": case.number, "title": case.title} if case else None,
            "document": {"id": doc.id, "number": doc.number, "title": doc.title} if doc else None,
            "authority_code": r.authority_code, "authority_name": names.get(r.authority_code, r.authority_code),
            "recorded_at": r.recorded_at, "valid_from": r.valid_from, "valid_until": r.valid_until,
            "status": r.status, "status_label": credit.STATUS_LABELS[r.status], "in_force": in_force,
            "events": [{"action": e.action, "action_label": credit.EVENT_LABELS.get(e.action, e.action), "at": e.at,
                        "actor": {"id": e.actor_id, "name": users.get(e.actor_id)} if e.actor_id else None,
                        "reason": e.reason, "points_before": e.points_before, "points_after": e.points_after}
                       for e in events.get(r.id, [])],
        })
    return out


def listings_out(session: Session, listings: list[CreditListing]) -> list[dict[str, Any]]:
    names = _names(session, {lst.authority_code for lst in listings})
    ents = {e.id: e for e in session.scalars(select(Enterprise).where(Enterprise.id.in_({lst.enterprise_id for lst in listings})))}
    return [{"id": lst.id, "list": lst.list, "list_label": credit.LIST_LABELS[lst.list],
             "enterprise": {"id": lst.enterprise_id, "name": ents[lst.enterprise_id].name,
                            "credit_code": ents[lst.enterprise_id].credit_code},
             "score": lst.score, "table_version": lst.table_version, "reason": lst.reason,
             "authority_code": lst.authority_code, "authority_name": names.get(lst.authority_code, lst.authority_code),
             "listed_at": lst.listed_at, "listed_on": lst.listed_on, "until": lst.until,
             "active": lst.active_key is not None, "lifted_at": lst.lifted_at, "lifted_reason": lst.lifted_reason}
            for lst in listings]


def enterprise_credit(session: Session, user: User, enterprise_id: int, now: datetime) -> dict[str, Any]:
    """An enterprise's credit: the score derived from its records in force today, the records
    (newest first) with their trail, and its listings (current and past)."""
    if not credit.can_read_enterprise(session, user, enterprise_id):
        raise NotFound(f"企业（编号{enterprise_id}）不存在或不在您的管辖范围内")
    e = session.get(Enterprise, enterprise_id)
    today = shanghai_date(now)
    policy = credit_policy()
    records = list(session.scalars(select(CreditRecord).where(CreditRecord.enterprise_id == enterprise_id)
                                   .order_by(CreditRecord.recorded_at.desc(), CreditRecord.id.desc())))
    listings = list(session.scalars(select(CreditListing).where(CreditListing.enterprise_id == enterprise_id)
                                    .order_by(CreditListing.listed_at.desc(), CreditListing.id.desc())))
    j = session.get(Jurisdiction, e.jurisdiction_code)
    return {
        "enterprise": {"id": e.id, "name": e.name, "credit_code": e.credit_code, "jurisdiction_code": e.jurisdiction_code,
                       "jurisdiction_name": j.name if j else e.jurisdiction_code},
        "score": credit.derived_score(session, enterprise_id, today, policy), "base_score": policy.base_score,
        "table_version": policy.version,
        "thresholds": [{"list": t.list, "label": t.label, "score_at_most": t.score_at_most, "period_days": t.period_days}
                       for t in policy.thresholds.values()],
        "records": records_out(session, records, today), "listings": listings_out(session, listings),
    }


def staff_listings(session: Session, user: User, list_name: str | None, *, active: bool = True,
                   limit: int = 500) -> list[dict[str, Any]]:
    """The blacklist / exposure list for staff: enterprises registered in their subtree."""
    if user.role not in STAFF_ROLES:
        raise Forbidden("黑名单和曝光名单的管理视图仅限监管人员")
    stmt = (select(CreditListing).join(Enterprise, Enterprise.id == CreditListing.enterprise_id)
            .where(Enterprise.jurisdiction_code.in_(subtree_codes(user.jurisdiction_code))))
    if list_name:
        stmt = stmt.where(CreditListing.list == list_name)
    if active:
        stmt = stmt.where(CreditListing.active_key.is_not(None))
    return listings_out(session, list(session.scalars(stmt.order_by(CreditListing.listed_at.desc(), CreditListing.id.desc())
                                                      .limit(limit))))


def public_exposure(session: Session, now: datetime) -> list[dict[str, Any]]:
    """The enterprises exposed today: name, 统一社会信用代码 (a public identifier), the causes in
    force (item labels and counts), the dates and the authority. No person is named."""
    today = shanghai_date(now)
    listings = list(session.scalars(select(CreditListing).where(CreditListing.list == "exposure",
                                                                 CreditListing.active_key.is_not(None))
                                    .order_by(CreditListing.listed_on.desc(), CreditListing.id)))
    out = []
    for row in listings_out(session, listings):
        causes = credit.records_summary(session, row["enterprise"]["id"], today)
        out.append({"enterprise_name": row["enterprise"]["name"], "credit_code": row["enterprise"]["credit_code"],
                    "causes": causes or "—", "score": row["score"], "listed_on": row["listed_on"], "until": row["until"],
                    "authority_name": row["authority_name"]})
    return out
