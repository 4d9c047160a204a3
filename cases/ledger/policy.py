"""The access policy, one entry per resource: who may read and write what (issue 8, items 3 and 5).

``cases/ledger/access.py`` holds the primitives (jurisdiction subtree, the visible-cases clause, roles);
this module names, per resource, the rule built from them, and the checks the services and routes
call. ``RESOURCES`` is the declarative table (also what docs/security.md describes); the route
table in ``api/route_policy.py`` names, per route, which of these resources it serves, and
tests/test_access_policy.py proves every route × role × jurisdiction against it.

Two principles:

- **Jurisdiction and below.** Staff (officers, supervisors, admins) read and act within their own
  jurisdiction's subtree; an admin's acts (creating users, re-sending messages, re-rendering
  documents) are scoped the same way. Settings that are the same for the whole province
  (notification channels, the legal holiday calendar, role notification preferences) are
  province-level acts: only an admin of the root jurisdiction (the one with no parent) makes them.
- **Need to know for enterprise contacts.** A contact sees its own unit's record, the cases whose
  responsible unit (责任单位) is its unit, the projects its unit takes part in, and the messages
  addressed to its unit — never the building register, other units' data, officials' addresses or
  delivery transport details. Only the responsible unit's contacts act on a case; being a related
  unit (监理 …) or another project party gives no right to act for it.

What one may not see answers 404 in the same words as what does not exist.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from cases.ledger.access import STAFF_ROLES, in_subtree, require_role, subtree_codes, visible_cases_clause
from cases.platform.errors import Forbidden, NotFound, ValidationFailed
from cases.models import Case, CaseEnterprise, Enterprise, Jurisdiction, OutboxMessage, Project, ProjectParty, User

# ---------------------------------------------------------------- the table

# resource → who may read / write it. Words, not code: the checks below implement them, the route
# table (api/route_policy.py) points each route at one of these, docs/security.md quotes them.
RESOURCES: dict[str, dict[str, str]] = {
    "public": {"read": "anyone, without a token (health, docs, state-machine definitions)"},
    "page": {"read": "the pages for people (api/pages/): the session cookie's user; each page reads through the "
                     "same services and checks as the API route it mirrors",
             "write": "a form post needs the session and its CSRF field; then the same checks as the API"},
    "session": {"read": "the logged-in user, about themselves", "write": "anyone may try to log in"},
    "case": {"read": "staff: cases in their subtree (or originally theirs, after 提级); a contact: cases whose "
                     "responsible unit is its unit",
             "write": "create: officers/supervisors in their subtree (a contact: only a 企业自查隐患 of its own "
                      "unit on a project its unit takes part in); actions: the machine's roles, staff in "
                      "their subtree (the investigating authority for graded accidents), contacts of the "
                      "responsible unit only"},
    "case.messages": {"read": "staff who see the case: all, with receipts; a contact who sees the case: the "
                              "messages addressed to its unit's users, without delivery transport details"},
    "document": {"read": "whoever sees the case", "write": "re-render: staff who see the case"},
    "evidence": {"read": "whoever sees the case (photos, PDFs, thumbnails)",
                 "write": "upload: officers/supervisors who see the case, contacts of the responsible unit; "
                          "admins read only"},
    "supervision": {"read": "staff who see the case or whose subtree holds the listing body; a contact of the "
                            "responsible unit",
                    "write": "extension request: officers/supervisors who see the case; decision and lifting: "
                             "supervisors of the listing body or above"},
    "queue": {"read": "everyone logged in, over the cases they see"},
    "analog_task": {"read": "staff whose subtree holds the task's project or who see the case that proposed it; "
                            "never enterprise contacts (the regulator's inspection plan)",
                    "write": "cancel (with a reason): supervisors whose subtree holds the project or the proposing case"},
    "interview": {"read": "staff whose subtree holds the interviewing authority or who see the case; enterprise contacts "
                          "the 约谈 records that summoned their own unit (and their commitments)",
                  "write": "officers and supervisors who see the case (open, record held, commitments, mark met)"},
    "periodic_report": {"read": "staff whose subtree holds the jurisdiction (定期报表, cases/reports/)",
                        "write": "submit: staff of the jurisdiction itself, once its period has ended"},
    "calendar": {"read": "everyone logged in", "write": "root admin only (one calendar for the province)"},
    "inbox": {"read": "the recipient only", "write": "the recipient only (mark read)"},
    "preferences.own": {"read": "the user", "write": "the user"},
    "preferences.role": {"read": "any admin", "write": "root admin only (province-wide setting)"},
    "channels": {"read": "root admin only", "write": "root admin only (province-wide setting)"},
    "message.resend": {"write": "admins, for messages of cases they see; messages without a case (system "
                                "alerts): the root admin or the alert's recipient"},
    "jurisdictions": {"read": "everyone logged in: their own jurisdiction and below"},
    "enterprises": {"read": "staff: every enterprise's identity (name, credit code, jurisdiction, qualification, "
                            "credit score — a province-wide register for pickers and credit checks); personal "
                            "contact data (legal representative, contact name and phone) only of enterprises "
                            "registered in their subtree, party to a project in it, or a unit on a case they see; "
                            "a contact: its own unit only",
                    "write": "staff, registering an enterprise in their subtree"},
    "projects": {"read": "staff: projects in their subtree; a contact: projects its unit takes part in",
                 "write": "staff, in their subtree"},
    "buildings": {"read": "staff: buildings in their subtree (owners' names and phones); contacts: none",
                  "write": "staff, in their subtree"},
    "users": {"read": "staff: users in their subtree",
              "write": "admins: create, deactivate, activate a user in their subtree (user_for_admin); an "
                       "enterprise user's enterprise registered in their subtree"},
    "reference": {"read": "everyone logged in (the published hazard catalogue)"},
    "security_log": {"read": "admins: entries about users of their subtree"},
    "inspection": {"read": "staff: inspections in their subtree; a contact: inspections of projects its unit takes "
                           "part in (or naming its unit as inspected), read-only",
                   "write": "record, photos, a failed item to a case: officers/supervisors over the site"},
    "checklist": {"read": "everyone logged in (the published checklists)",
                  "write": "root admin only (province-wide data): a new version, never overwriting one"},
    "complaints": {"read": "staff who see the complaint's case (the complainant's contact included); contacts: none",
                   "write": "12345 referral: officers/supervisors, into their subtree; reply and merge: "
                            "officers/supervisors who see the case(s)"},
    "patterns": {"read": "staff: the 屡查屡犯 flags of their subtree (by the triggering case's jurisdiction); contacts: none",
                 "write": "acknowledge and decide: supervisors whose subtree holds the flag's jurisdiction"},
    "rankings": {"read": "staff: the publication record of any city (what was published is public anyway)",
                 "write": "publish: supervisors whose subtree holds the city (the city's, the province's)"},
    "rankings.public": {"read": "anyone, without login: a city's latest published ranking (enterprises' names, credit codes "
                                "and figures; no personal data)"},
    "complaints.public": {"read": "anyone with the lookup code: the status and the official reply, nothing else",
                          "write": "anyone (no login), rate-limited per client address"},
    "credit": {"read": "staff: enterprises registered in their subtree or recorded against by an authority of it; "
                       "contacts: their own unit's records",
               "write": "appeal: the recorded unit's contact; decision: officers/supervisors of the authority that "
                        "recorded it; a manual record: officers/supervisors who see the case"},
    "credit.public": {"read": "anyone (no login): the enterprises exposed now, causes, dates, authority; no person",
                      "write": "none"},
    "campaigns": {"read": "staff: campaigns organised at or below their jurisdiction, and those organised above it "
                          "whose scope reaches it (cases/campaigns/services.py can_see); contacts: none",
                  "write": "create: supervisors and admins of a city or province, for their own jurisdiction; edit: "
                           "supervisors and admins of the organiser's jurisdiction or above"},
    "referrals": {"read": "staff who see the referred case (their jurisdiction and below); contacts: none (a clue "
                          "handed to the police is not the referred unit's to read)",
                  "write": "refer, record the reply, withdraw: officers/supervisors who see the case"},
}


# ---------------------------------------------------------------- province-level acts


def root_jurisdiction(session: Session) -> Jurisdiction | None:
    """The jurisdiction with no parent (江苏省 in the shipped data)."""
    return session.scalars(select(Jurisdiction).where(Jurisdiction.parent_code.is_(None))
                           .order_by(Jurisdiction.code)).first()


def is_root_admin(session: Session, user: User) -> bool:
    if user.role != "admin":
        return False
    j = session.get(Jurisdiction, user.jurisdiction_code)
    return j is not None and j.parent_code is None


def require_root_admin(session: Session, user: User, what: str) -> None:
    """Province-wide settings (``what``: 通知渠道配置, 节假日安排 …) are the root admin's act."""
    require_role(user, "admin")
    if not is_root_admin(session, user):
        root = root_jurisdiction(session)
        mine = session.get(Jurisdiction, user.jurisdiction_code)
        raise Forbidden(f"{what}是全省统一设置，仅限{root.authority_name if root else '省级'}的系统管理员操作"
                        f"（您是{mine.authority_name if mine else user.jurisdiction_code}的系统管理员）")


# ---------------------------------------------------------------- reference data (lists)


def visible_projects_clause(user: User) -> ColumnElement[bool]:
    """Staff: projects in their subtree; a contact: the projects its unit takes part in, wherever."""
    if user.role in STAFF_ROLES:
        return Project.jurisdiction_code.in_(subtree_codes(user.jurisdiction_code))
    if user.role == "enterprise" and user.enterprise_id is not None:
        return Project.id.in_(select(ProjectParty.project_id).where(ProjectParty.enterprise_id == user.enterprise_id))
    return false()


def visible_buildings_clause(user: User) -> ColumnElement[bool]:
    """The building register (private owners' names and phones) is the authorities': staff, their subtree."""
    from cases.models import Building

    if user.role in STAFF_ROLES:
        return Building.jurisdiction_code.in_(subtree_codes(user.jurisdiction_code))
    return false()


def visible_users_clause(user: User) -> ColumnElement[bool]:
    """Staff read the accounts of their subtree; contacts read none."""
    if user.role in STAFF_ROLES:
        return User.jurisdiction_code.in_(subtree_codes(user.jurisdiction_code))
    return false()


# ---------------------------------------------------------------- users


def user_for_admin(session: Session, admin: User, user_id: int) -> User:
    """An account an admin may manage (deactivate, reset …): one in their subtree; else 404 as if missing."""
    require_role(admin, "admin")
    missing = NotFound(f"用户（编号{user_id}）不存在或不在您的管辖范围内")
    target = session.get(User, user_id) if abs(user_id) <= 2**31 - 1 else None
    if target is None or not in_subtree(session, admin.jurisdiction_code, target.jurisdiction_code):
        raise missing
    return target



def check_new_user_scope(session: Session, admin: User, *, jurisdiction_code: str,
                         enterprise_id: int | None) -> None:
    """An admin creates users in their own subtree only; an enterprise user's enterprise must be
    registered in that subtree too (else its contact could act on another city's cases)."""
    require_role(admin, "admin")
    errors = []
    if session.get(Jurisdiction, jurisdiction_code) is None:
        errors.append({"field": "jurisdiction_code", "label": "所属辖区",
                       "message": f"行政区划代码“{jurisdiction_code}”不存在"})
    elif not in_subtree(session, admin.jurisdiction_code, jurisdiction_code):
        errors.append({"field": "jurisdiction_code", "label": "所属辖区", "message": "不在您的管辖范围内"})
    if enterprise_id is not None:
        e = session.get(Enterprise, enterprise_id) if abs(enterprise_id) <= 2**31 - 1 else None
        if e is not None and not in_subtree(session, admin.jurisdiction_code, e.jurisdiction_code):
            errors.append({"field": "enterprise_id", "label": "所属企业",
                           "message": "该企业登记在您的管辖范围之外，不能为其开设账号"})
    if errors:
        raise ValidationFailed(errors)


# ---------------------------------------------------------------- messages


def message_for_admin(session: Session, admin: User, message_id: int) -> OutboxMessage:
    """A message an admin may act on (re-send): of a case they see; a message without a case (a
    system alert) only for the root admin or its own recipient. Otherwise 404, as if missing."""
    missing = NotFound(f"消息（编号{message_id}）不存在")
    require_role(admin, "admin")
    msg = session.get(OutboxMessage, message_id) if abs(message_id) <= 2**31 - 1 else None
    if msg is None:
        raise missing
    if msg.case_id is not None:
        visible = session.scalar(select(Case.id).where(Case.id == msg.case_id, visible_cases_clause(admin)))
        if visible is None:
            raise missing
    elif msg.recipient_user_id != admin.id and not is_root_admin(session, admin):
        raise missing
    return msg


def messages_for_admin_clause(session: Session, admin: User) -> ColumnElement[bool]:
    """The messages ``admin`` may act on, as a WHERE clause (the list behind the re-send forms):
    the same rule as ``message_for_admin``."""
    require_role(admin, "admin")
    of_case = OutboxMessage.case_id.in_(select(Case.id).where(visible_cases_clause(admin)))
    if is_root_admin(session, admin):
        return or_(of_case, OutboxMessage.case_id.is_(None))
    return or_(of_case, (OutboxMessage.case_id.is_(None)) & (OutboxMessage.recipient_user_id == admin.id))


def case_messages_clause(user: User) -> ColumnElement[bool]:
    """Among a visible case's messages, those ``user`` may read: staff all; a contact those
    addressed to its own unit's users."""
    if user.role in STAFF_ROLES:
        return true()
    if user.role == "enterprise" and user.enterprise_id is not None:
        return OutboxMessage.recipient_user_id.in_(
            select(User.id).where(User.enterprise_id == user.enterprise_id, User.role == "enterprise"))
    return false()


# Delivery transport details: which server answered what, the worker, the dedupe key.
TRANSPORT_FIELDS = ("last_error", "provider_response", "dedupe_key", "next_attempt_at")
ATTEMPT_TRANSPORT_FIELDS = ("error", "provider_response", "worker")


def receipt_for(user: User, receipt: dict[str, Any]) -> dict[str, Any]:
    """A message receipt as ``user`` may read it: a contact gets status and times, no transport detail."""
    if user.role in STAFF_ROLES:
        return receipt
    out = {k: v for k, v in receipt.items() if k not in TRANSPORT_FIELDS}
    if "receipts" in out:
        out["receipts"] = [{k: v for k, v in a.items() if k not in ATTEMPT_TRANSPORT_FIELDS}
                           for a in out["receipts"]]
    return out


# ---------------------------------------------------------------- enterprises

# Personal data in an enterprise record: shown to staff only where they have a reason to know.
ENTERPRISE_PERSONAL_FIELDS = ("legal_representative", "contact_name", "contact_phone")


def enterprise_details_clause(user: User) -> ColumnElement[bool]:
    """Enterprises whose personal contact data ``user`` may read: a contact its own; staff those
    registered in their subtree, party to a project in it, or a unit on a case they see."""
    if user.role == "enterprise":
        return Enterprise.id == user.enterprise_id if user.enterprise_id is not None else false()
    if user.role not in STAFF_ROLES:
        return false()
    codes = subtree_codes(user.jurisdiction_code)
    parties = (select(ProjectParty.enterprise_id).join(Project, Project.id == ProjectParty.project_id)
               .where(Project.jurisdiction_code.in_(codes)))
    responsible = select(Case.enterprise_id).where(visible_cases_clause(user), Case.enterprise_id.is_not(None))
    related = select(CaseEnterprise.enterprise_id).join(Case, Case.id == CaseEnterprise.case_id).where(
        visible_cases_clause(user))
    return or_(Enterprise.jurisdiction_code.in_(codes), Enterprise.id.in_(parties),
               Enterprise.id.in_(responsible), Enterprise.id.in_(related))


def enterprise_details_visible(session: Session, user: User, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.scalars(select(Enterprise.id).where(Enterprise.id.in_(ids), enterprise_details_clause(user))))


def enterprise_for(record: dict[str, Any], details: bool) -> dict[str, Any]:
    """An enterprise record with its personal data withheld unless ``details``."""
    if details:
        return {**record, "contact_details_withheld": False}
    return {**record, **{k: None for k in ENTERPRISE_PERSONAL_FIELDS}, "contact_details_withheld": True}


# ---------------------------------------------------------------- case actions


def may_act_for_enterprise(user: User, case: Case) -> bool:
    """An enterprise action (整改完成, 申请延期 …) is the responsible unit's: only its own contacts
    take it — not a related unit (监理 …) nor another party of the project."""
    return user.role == "enterprise" and user.enterprise_id is not None and case.enterprise_id == user.enterprise_id
