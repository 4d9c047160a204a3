"""Who may see and act on what: role and jurisdiction rules, in one place."""
from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from cases.platform.errors import Forbidden
from cases.models import Case, Jurisdiction, User

STAFF_ROLES = ("officer", "supervisor", "admin")
# Records of a case that only staff read (a referral to 公安 is not the enterprise's to read:
# cases/referrals): its events, its clock (and that clock's rung events), its documents.
STAFF_ONLY_EVENT_ACTIONS = frozenset({"referred", "referral_replied", "referral_withdrawn"})
STAFF_ONLY_DEADLINE_KEYS = frozenset({"referral_reply"})
STAFF_ONLY_DOC_TYPES = frozenset({"referral_letter"})
ROLE_LABELS = {"officer": "监管人员", "supervisor": "督办/审批人员", "admin": "系统管理员", "enterprise": "企业联系人"}


def subtree_codes(jurisdiction_code: str):
    """Subquery: the jurisdiction and everything below it (materialised path prefix)."""
    root_path = select(Jurisdiction.path).where(Jurisdiction.code == jurisdiction_code).scalar_subquery()
    return select(Jurisdiction.code).where(Jurisdiction.path.startswith(root_path, autoescape=False))


def visible_cases_clause(user: User) -> ColumnElement[bool]:
    """The cases ``user`` may see, as a WHERE clause (lists, detail, queue, counts, documents...).

    Staff: their jurisdiction and everything below it. An enterprise contact: the cases whose
    *responsible unit* (``Case.enterprise_id``) is their own enterprise, nothing else. Being a
    party to the project (施工单位, 监理单位 ...) or a related unit of a case whose responsible unit
    is another enterprise does not make it visible: that case is the other enterprise's business.
    """
    if user.role in STAFF_ROLES:
        codes = subtree_codes(user.jurisdiction_code)
        # After 提级 the original county still works the case, so it keeps seeing it.
        return or_(Case.jurisdiction_code.in_(codes), Case.origin_jurisdiction_code.in_(codes))
    if user.role == "enterprise" and user.enterprise_id is not None:
        return Case.enterprise_id == user.enterprise_id
    return false()


def can_see_case(session: Session, user: User, case: Case) -> bool:
    return session.scalar(select(Case.id).where(Case.id == case.id, visible_cases_clause(user))) is not None


def visible_enterprise_clause(user: User) -> ColumnElement[bool]:
    """Enterprise records ``user`` may read: staff all of them; a contact only its own."""
    from cases.models import Enterprise

    if user.role in STAFF_ROLES:
        return true()
    if user.role == "enterprise" and user.enterprise_id is not None:
        return Enterprise.id == user.enterprise_id
    return false()


def in_subtree(session: Session, root_code: str, code: str) -> bool:
    """``code`` is ``root_code`` or below it: the materialised paths, held per process
    (cases.reads.jurisdiction_cache) — the same test as ``subtree_codes`` without a query."""
    from cases.reads.jurisdiction_cache import jurisdiction_facts

    facts = jurisdiction_facts(session, (root_code, code))
    root, node = facts.get(root_code), facts.get(code)
    return root is not None and node is not None and node.path.startswith(root.path)


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        allowed = "、".join(ROLE_LABELS[r] for r in roles)
        raise Forbidden(f"此操作仅限{allowed}，当前角色为{ROLE_LABELS.get(user.role, user.role)}")
