"""Writing messages to the outbox, in the caller's transaction, with recipients resolved from roles.

Delivery (rendering, channels, retries, receipts) is the notifications package's job; here we
only decide *who* gets *what* and make the row, idempotently (``dedupe_key``).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session

from cases.issuance import wakeup
from cases.models import Case, Jurisdiction, OutboxMessage, User

# Recipient roles the ladder and the services speak of.
ASSIGNEE = "assignee"
ASSIGNEE_SUPERVISOR = "assignee_supervisor"
ENTERPRISE_CONTACT = "enterprise_contact"
AUTHORITY = "authority"                  # staff of the case's supervising jurisdiction
LISTING_AUTHORITY = "listing_authority"  # supervisors of the listing jurisdiction
# Whoever decides (an extension request): the supervisors nearest the case's jurisdiction, or for a
# listing's own request the listing body's supervisors (pass listing_jurisdiction_code).
APPROVERS = "approvers"
APPROVERS_SUPERVISOR = "approvers_supervisor"  # the approvers' own supervisor, else the level above
UPPER_SUPERVISORS = "upper_supervisors"        # supervisors of the level above the case's jurisdiction


def default_channels(user: User) -> list[str]:
    """Channels for a user when they have set no preference: the in-app inbox, plus email if known."""
    channels = ["inbox"]
    if user.email:
        channels.append("email")
    return channels


# The notifications package may install a preference-aware resolver: fn(session, user, template, urgent).
channel_resolver = None


def channels_for(session: Session, user: User, template: str, urgent: bool) -> list[str]:
    if channel_resolver is not None:
        return channel_resolver(session, user, template, urgent)
    return default_channels(user)


# The recipients' SELECTs, built once (most derived documents run one; building and keying a
# statement costs ~0.1–0.3 ms of CPU each time).
_ENTERPRISE_CONTACTS = select(User).where(User.enterprise_id == bindparam("enterprise_id"), User.role == "enterprise",
                                          User.active.is_(True))
_AUTHORITY = select(User).where(User.jurisdiction_code == bindparam("code"), User.role.in_(("officer", "supervisor")),
                                User.active.is_(True))
_LISTING_AUTHORITY = select(User).where(User.jurisdiction_code == bindparam("code"), User.role == "supervisor",
                                        User.active.is_(True))


def resolve_recipients(session: Session, case: Case, roles: Iterable[str], *,
                       listing_jurisdiction_code: str | None = None) -> list[User]:
    out: dict[int, User] = {}

    def add(users: Iterable[User]) -> None:
        for u in users:
            if u is not None and u.active:
                out.setdefault(u.id, u)

    for role in roles:
        if role == ASSIGNEE:
            # An unassigned case (e.g. just taken over by a higher authority) is the business of the
            # people who assign it: its reminders never go nowhere.
            add([session.get(User, case.assignee_id)] if case.assignee_id
                else nearest_supervisors(session, case.jurisdiction_code))
        elif role == ASSIGNEE_SUPERVISOR:
            assignee = session.get(User, case.assignee_id) if case.assignee_id else None
            if assignee is not None and assignee.supervisor_id:
                add([session.get(User, assignee.supervisor_id)])
            else:
                add(nearest_supervisors(session, case.jurisdiction_code))
        elif role == ENTERPRISE_CONTACT and case.enterprise_id:
            add(session.scalars(_ENTERPRISE_CONTACTS, {"enterprise_id": case.enterprise_id}))
        elif role == AUTHORITY:
            add(session.scalars(_AUTHORITY, {"code": case.jurisdiction_code}))
        elif role == LISTING_AUTHORITY and listing_jurisdiction_code:
            add(session.scalars(_LISTING_AUTHORITY, {"code": listing_jurisdiction_code}))
        elif role == APPROVERS:
            add(approvers(session, case, listing_jurisdiction_code))
        elif role == APPROVERS_SUPERVISOR:
            add(approvers_supervisors(session, case, listing_jurisdiction_code))
        elif role == UPPER_SUPERVISORS:
            add(upper_supervisors(session, case.jurisdiction_code))
    return list(out.values())


def approvers(session: Session, case: Case, listing_jurisdiction_code: str | None = None) -> list[User]:
    """Who may decide a request on the case (decide_extension is a supervisor's action in every
    machine): the listing body's supervisors for a listing, else the supervisors nearest the case."""
    if listing_jurisdiction_code:
        return nearest_supervisors(session, listing_jurisdiction_code)
    return nearest_supervisors(session, case.jurisdiction_code)


def approvers_supervisors(session: Session, case: Case, listing_jurisdiction_code: str | None = None) -> list[User]:
    """Up the approvers' chain: their own supervisor where one is set, else the level above theirs."""
    found = approvers(session, case, listing_jurisdiction_code)
    bosses = [session.get(User, u.supervisor_id) for u in found if u.supervisor_id]
    bosses = [u for u in bosses if u is not None and u.active]
    if bosses:
        return bosses
    codes = {u.jurisdiction_code for u in found} or {listing_jurisdiction_code or case.jurisdiction_code}
    out: dict[int, User] = {}
    for code in sorted(codes):
        for u in upper_supervisors(session, code):
            out.setdefault(u.id, u)
    return list(out.values())


def upper_supervisors(session: Session, jurisdiction_code: str) -> list[User]:
    """The nearest supervisors strictly above the jurisdiction (a city's for a district)."""
    j = session.get(Jurisdiction, jurisdiction_code)
    return nearest_supervisors(session, j.parent_code) if j is not None and j.parent_code else []


def nearest_supervisors(session: Session, jurisdiction_code: str) -> list[User]:
    """Supervisors of the jurisdiction, else of the nearest ancestor that has any."""
    code: str | None = jurisdiction_code
    while code:
        users = list(session.scalars(select(User).where(User.jurisdiction_code == code, User.role == "supervisor",
                                                        User.active.is_(True))))
        if users:
            return users
        j = session.get(Jurisdiction, code)
        code = j.parent_code if j else None
    return []


def enqueue(session: Session, *, case: Case | None, template: str, recipients: Iterable[User], cause: str,
            variables: dict[str, Any], now: datetime, urgent: bool = False, document_no: str | None = None) -> int:
    """One row per (recipient, channel); a row whose dedupe key exists already is skipped.

    ``cause`` names what produced the message (e.g. ``rung:17:overdue``): the same cause never
    produces a second message for the same recipient and channel, however often it is retried.
    """
    rows = []
    for user in recipients:
        for channel in channels_for(session, user, template, urgent):
            rows.append({
                "dedupe_key": f"{cause}:{template}:{user.id}:{channel}",
                "case_id": case.id if case is not None else None, "template": template,
                "recipient_user_id": user.id, "recipient_address": user.email if channel == "email" else None,
                "channel": channel, "variables": {**variables, "recipient_name": user.display_name},
                "document_no": document_no, "urgent": urgent, "status": "pending", "attempts": 0,
                "next_attempt_at": now, "created_at": now,
            })
    if not rows:
        return 0
    inserted = _insert_new(session, rows)
    if inserted:
        wakeup.outbox_written(session)  # its commit wakes the delivery lane of this process
    return inserted


# The rows whose dedupe key is new, in one round trip, by a statement SQLAlchemy compiles once per
# process. Its dialects' INSERT … ON CONFLICT constructs are never cached (``inherit_cache = False``
# in SQLAlchemy 2.0, its issue #10445): compiling one per call was ~a tenth of the derive process's
# CPU per event in a cProfile (docs/performance.md, session 19). RETURNING counts the rows inserted.
_COLUMNS = ("dedupe_key", "case_id", "template", "recipient_user_id", "recipient_address", "channel", "variables",
            "document_no", "urgent", "status", "attempts", "next_attempt_at", "created_at")
# PostgreSQL: the rows as one JSON parameter, typed by the table's own row type.
_PG_INSERT = (f"INSERT INTO outbox_messages ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} "
              "FROM json_populate_recordset(NULL::outbox_messages, CAST(:rows AS json)) "
              "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id")
_PG = {False: text(_PG_INSERT),
       # deliverers in other processes (wakeup.notify_with_insert): woken by the server at commit
       True: text(f"{_PG_INSERT}, pg_notify('{wakeup.CHANNEL}', '')")}
# SQLite: a plain (cached) INSERT with OR IGNORE, its rows sent as one multi-row VALUES.
_SQLITE = insert(OutboxMessage.__table__).prefix_with("OR IGNORE").returning(OutboxMessage.id)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        payload = json.dumps(rows, default=_instant)  # as the JSON column writes it
        return len(conn.execute(_PG[wakeup.notify_with_insert(session)], {"rows": payload}).all())
    return len(conn.execute(_SQLITE, rows).all())


def _instant(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
