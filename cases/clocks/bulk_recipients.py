"""Per-batch caches of the bulk sweep (cases/clocks/escalation_bulk.py): the jurisdictions, users,
enterprise contacts, recipients and channels a batch of rungs needs, each loaded once."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.clocks.bulk_rows import copy_text
from cases.clocks.sweep import _in
from cases.models import Jurisdiction

USER_COLS = ("id", "username", "display_name", "role", "jurisdiction_code", "enterprise_id", "supervisor_id",
             "email", "active")


class BatchContext:
    """Per-batch caches: jurisdictions, users (plain rows), recipients and channels."""

    def __init__(self, session: Session, cases: dict[int, Any], dialect: str) -> None:
        from cases.models import User

        self.s = session
        ut = User.__table__
        cols = [ut.c[c] for c in USER_COLS]
        self.jurisdictions: dict[str, Jurisdiction | None] = {}
        self.users: dict[int, Any] = {}
        ids = {c.assignee_id for c in cases.values() if c.assignee_id}
        if ids:
            self._load(select(*cols).where(_in(ut.c.id, sorted(ids), dialect)))
        sup_ids = {u.supervisor_id for u in self.users.values() if u.supervisor_id} - set(self.users)
        if sup_ids:
            self._load(select(*cols).where(_in(ut.c.id, sorted(sup_ids), dialect)))
        self.contacts: dict[int, list] = {}
        ents = sorted({c.enterprise_id for c in cases.values() if c.enterprise_id})
        if ents:
            for u in session.execute(select(*cols).where(_in(ut.c.enterprise_id, ents, dialect), ut.c.role == "enterprise",
                                                         ut.c.active.is_(True)).order_by(ut.c.id)):
                self.contacts.setdefault(u.enterprise_id, []).append(u)
        self.authority: dict[str, list] = {}
        self.nearest: dict[str, list] = {}
        self.channels: dict[tuple[int, str, bool], list[str]] = {}
        self.fanout: dict[tuple, list[tuple]] = {}
        self.listings: dict[int, str | None] = {}
        self.chain: dict[tuple, list] = {}

    def listing_code(self, supervision_id: int | None) -> str | None:
        """The listing body of a supervision's deadline (its approvers are that body's)."""
        if not supervision_id:
            return None
        if supervision_id not in self.listings:
            from cases.models import Supervision

            self.listings[supervision_id] = self.s.scalar(select(Supervision.listing_jurisdiction_code)
                                                          .where(Supervision.id == supervision_id))
        return self.listings[supervision_id]

    def _load(self, stmt) -> None:
        for u in self.s.execute(stmt):
            self.users[u.id] = u

    def jurisdiction(self, code: str) -> Jurisdiction | None:
        if code not in self.jurisdictions:
            self.jurisdictions[code] = self.s.get(Jurisdiction, code)
        return self.jurisdictions[code]

    def user(self, user_id: int):
        if user_id not in self.users:
            from cases.models import User

            ut = User.__table__
            self.users[user_id] = self.s.execute(select(*[ut.c[c] for c in USER_COLS]).where(ut.c.id == user_id)).first()
        return self.users[user_id]

    def recipients(self, case, roles: tuple[str, ...], listing: str | None = None) -> list:
        """Same answer as outbox.resolve_recipients, from the caches."""
        from cases.models import User

        out: dict[int, Any] = {}

        def add(users) -> None:
            for u in users:
                if u is not None and u.active:
                    out.setdefault(u.id, u)

        for role in roles:
            if role == outbox.ASSIGNEE and case.assignee_id:
                add([self.user(case.assignee_id)])
            elif role == outbox.ASSIGNEE:  # unassigned: the people who assign it (as outbox.resolve_recipients)
                code = case.jurisdiction_code
                if code not in self.nearest:
                    self.nearest[code] = outbox.nearest_supervisors(self.s, code)
                add(self.nearest[code])
            elif role == outbox.ASSIGNEE_SUPERVISOR:
                assignee = self.user(case.assignee_id) if case.assignee_id else None
                if assignee is not None and assignee.supervisor_id:
                    add([self.user(assignee.supervisor_id)])
                else:
                    code = case.jurisdiction_code
                    if code not in self.nearest:
                        self.nearest[code] = outbox.nearest_supervisors(self.s, code)
                    add(self.nearest[code])
            elif role == outbox.ENTERPRISE_CONTACT and case.enterprise_id:
                add(self.contacts.get(case.enterprise_id, []))
            elif role == outbox.AUTHORITY:
                code = case.jurisdiction_code
                if code not in self.authority:
                    self.authority[code] = list(self.s.scalars(select(User).where(
                        User.jurisdiction_code == code, User.role.in_(("officer", "supervisor")), User.active.is_(True))))
                add(self.authority[code])
            elif role in (outbox.APPROVERS, outbox.APPROVERS_SUPERVISOR, outbox.UPPER_SUPERVISORS):
                key = (role, case.jurisdiction_code, listing)
                if key not in self.chain:  # the same functions as outbox.resolve_recipients, cached
                    if role == outbox.UPPER_SUPERVISORS:
                        self.chain[key] = outbox.upper_supervisors(self.s, case.jurisdiction_code)
                    else:
                        fn = outbox.approvers if role == outbox.APPROVERS else outbox.approvers_supervisors
                        self.chain[key] = fn(self.s, case, listing)
                add(self.chain[key])
        return list(out.values())

    def channels_for(self, user, template: str, urgent: bool) -> list[str]:
        key = (user.id, template, urgent)
        if key not in self.channels:
            # Users are plain rows here; resolvers read id, role and email (cases.issuance.outbox,
            # notifications.delivery.preferences).
            self.channels[key] = outbox.channels_for(self.s, user, template, urgent)
        return self.channels[key]

    def fan_out(self, case, roles: tuple[str, ...], template: str, urgent: bool, listing: str | None = None) -> list[tuple]:
        """The outbox rows of one message, as pieces: (dedupe-key tail, user id, address, channel,
        variables tail; and as ``COPY`` text: the dedupe-key tail, the middle columns, the variables
        tail). Cached by everything the answer depends on."""
        key = (case.assignee_id, case.enterprise_id, case.jurisdiction_code, roles, template, urgent, listing)
        rows = self.fanout.get(key)
        if rows is None:
            rows = []
            for user in self.recipients(case, roles, listing):
                tail = ', "recipient_name": ' + json.dumps(user.display_name, ensure_ascii=False) + "}"
                for channel in self.channels_for(user, template, urgent):
                    address = user.email if channel == "email" else None
                    dedupe_tail = f":{template}:{user.id}:{channel}"
                    mid = f"\t{copy_text(template)}\t{user.id}\t{copy_text(address)}\t{copy_text(channel)}\t"
                    rows.append((dedupe_tail, user.id, address, channel, tail,
                                 copy_text(dedupe_tail), mid, copy_text(tail)))
            self.fanout[key] = rows
        return rows
