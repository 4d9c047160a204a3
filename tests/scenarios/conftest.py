"""The stage for the regulators' stories (tests/scenarios/README.md lists them).

A story is told through the real API (``story.act`` as the officer, the supervisor or the
enterprise contact), and time passes through the real sweep: ``story.advance`` moves the one
clock step by step and at every step does what the served flows do — fire every due timer
(``cases.clocks.sweep.fire_due_batch``, the body of the sweep flow's task), run the campaigns' round
clocks (``cases.campaigns.clock.fire_all_due_rounds``, last in every sweep), render every issued
document (``notifications.documents.store.render_pending_documents``) and deliver the outbox
(``notifications.delivery.service.deliver_pending``; the in-app inbox at once). Assertions then read
what a person would read: the documents' text, the events, the lights, who was notified.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
from sqlalchemy import select

from cases.platform.config import Settings
from cases.calendar.calendar_repair import repair_calendar
from cases.analogs import clock as analog_clock
from cases.credit import sweep as credit_sweep
from cases.patterns import detect as pattern_detect
from cases.clocks.sweep import fire_due_batch
from cases.campaigns.clock import fire_all_due_rounds
from cases.models import Document, OutboxMessage, User
from notifications.delivery.service import deliver_pending
from notifications.documents.store import read_stored, render_pending_documents
from tests.conftest import complete_project
from tests.machine_paths import HttpDriver

SHANGHAI = ZoneInfo("Asia/Shanghai")


def beijing(y: int, m: int, d: int, hour: int = 9, minute: int = 0) -> datetime:
    """An instant given as Beijing wall time, as a regulator would say it."""
    return datetime(y, m, d, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


def cn(d: date | datetime) -> str:
    """2026年11月30日 — how every document prints a date."""
    if isinstance(d, datetime):
        d = d.astimezone(SHANGHAI).date()
    return f"{d.year}年{d.month}月{d.day}日"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@dataclass
class Story:
    drv: HttpDriver
    db: Any
    world: Any
    clock: Any
    settings: Settings
    swept: list[dict] = field(default_factory=list)

    # ------------------------------------------------------------ acting
    def act(self, case: dict, action: str, user=None, **kw) -> dict:
        return self.drv.act(case, action, user, **kw)

    def try_act(self, case: dict, action: str, user=None, **kw):
        return self.drv.try_act(case, action, user, **kw)

    def get(self, case: dict, user=None) -> dict:
        return self.drv.get(case, user)

    def client(self, user):
        return self.drv.client(user)

    # ------------------------------------------------------------ time
    def sweep(self) -> dict:
        """One round of the served flows at the current instant."""
        now = self.clock.now()
        fired: dict[str, int] = {}
        repair_calendar(self.db, now)  # as sweep_timers does first
        analog_clock.sweep(self.db, now)  # as sweep_pass does next (类比排查, cases/analogs/clock.py)
        pattern_detect.sweep(self.db, now)  # then the repeat-offender flags (cases/patterns/detect.py)
        while True:
            counts = fire_due_batch(self.db, now, limit=500, worker="story")
            for k, v in counts.items():
                fired[k] = fired.get(k, 0) + v
            if counts.get("seen", 0) < 500:
                break
        credit_sweep.sweep(self.db, now)  # records expire, 黑名单/曝光 lifted (cases/credit/sweep.py), as sweep_pass does
        rounds = fire_all_due_rounds(self.db, now)  # the campaigns' round clocks, as sweep_pass does last
        rendered = render_pending_documents(self.db, now, settings=self.settings)
        delivered: dict[str, int] = {}
        while True:
            counts = deliver_pending(self.db, now, limit=200, worker="story", settings=self.settings)
            if not counts:
                break
            for k, v in counts.items():
                delivered[k] = delivered.get(k, 0) + v
            if sum(counts.values()) < 200:
                break
        out = {"at": now, "fired": fired, "rendered": rendered, "delivered": delivered, "campaign_rounds": rounds}
        self.swept.append(out)
        return out

    def advance(self, *, days: float = 0, hours: float = 0, to: datetime | None = None,
                step: timedelta = timedelta(hours=1)) -> None:
        """Move the clock forward to ``to`` (or by days/hours), sweeping at every ``step`` — as the
        served sweep would have, only without the seconds in between."""
        target = to if to is not None else self.clock.now() + timedelta(days=days, hours=hours)
        assert target >= self.clock.now(), "a story never goes back in time"
        while self.clock.now() < target:
            self.clock.set(min(self.clock.now() + step, target))
            self.sweep()
        self.sweep()

    # ------------------------------------------------------------ what a person reads
    def events(self, case: dict, user=None) -> list[dict]:
        return self.drv.events(case, user)

    def documents(self, case: dict, user=None) -> list[dict]:
        r = self.client(user or self.world.officer).get(f"/api/cases/{case['id']}/documents")
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def document_rows(self, case: dict, doc_type: str | None = None) -> list[Document]:
        with self.db.session() as s:
            q = select(Document).where(Document.case_id == case["id"]).order_by(Document.id)
            if doc_type:
                q = q.where(Document.doc_type == doc_type)
            rows = list(s.scalars(q))
            s.expunge_all()
            return rows

    def text_of(self, doc: Document | str) -> str:
        """The rendered PDF's text, whitespace removed (as pypdf extracts it)."""
        if isinstance(doc, str):
            with self.db.session() as s:
                doc = s.scalars(select(Document).where(Document.number == doc)).one()
                s.expunge(doc)
        data = read_stored(doc, self.settings, "pdf")
        assert data is not None, f"{doc.doc_type} {doc.number}: not rendered (status {doc.status}, {doc.error})"
        reader = pypdf.PdfReader(BytesIO(data))
        return squash("".join(page.extract_text() or "" for page in reader.pages))

    def messages(self, case: dict, template: str | None = None) -> list[OutboxMessage]:
        """Every outbox row written for the case (who was notified, by which channel, of what)."""
        with self.db.session() as s:
            q = select(OutboxMessage).where(OutboxMessage.case_id == case["id"]).order_by(OutboxMessage.id)
            if template:
                q = q.where(OutboxMessage.template == template)
            rows = list(s.scalars(q))
            s.expunge_all()
            return rows

    def notified(self, case: dict, template: str | None = None) -> set[str]:
        """Usernames of the people a case's messages went to (optionally of one template)."""
        with self.db.session() as s:
            ids = {m.recipient_user_id for m in self.messages(case, template) if m.recipient_user_id}
            return {u.username for u in s.scalars(select(User).where(User.id.in_(ids)))} if ids else set()


@pytest.fixture
def story(api, world, clock, db, fresh_data_settings) -> Story:
    """The 姑苏区 world of tests/conftest.py with a complete project (建设、施工、监理 units)."""
    complete_project(db, world, clock)
    return Story(HttpDriver(api, world, clock), db, world, clock, fresh_data_settings)
