"""The worker killed with SIGKILL mid timer batch and mid delivery, then run again.

Timers: a worker process sweeps 300 due timers in batches of 20 and is killed as soon as its first
batch is visible in the database — in the middle of a later batch. What it committed is whole
(each firing with its event, its documents and its messages), what it did not commit left no
trace; a second worker process finishes: every due rung fired exactly once, late, and each
deadline's rungs in ladder order. (tests/test_workflows.py kills a worker too and restarts the
sweep as a Prefect flow; this one checks the per-firing effects and the order, with two processes.)

Delivery: a worker process delivers e-mails to a real SMTP server on loopback (aiosmtpd) and is
killed while the server holds one message it has fully received — the window between "the channel
has it" and "the outcome is recorded". docs/notifications.md promises exactly-once in the database
and at-least-once towards the channel, a second copy only for a message caught in that window
(its receipt says ``abandoned``), and nothing touched again before the lease expires.
"""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from cases.platform.config import Settings
from cases.models import CaseEvent, DeliveryAttempt, Document, OutboxMessage, RungFiring, Timer, User
from notifications.delivery import service as delivery
from tests.conftest import password_hash
from tests.faults.conftest import REPO, free_port, wait_for

pytestmark = pytest.mark.slow

SWEEP_SCRIPT = r"""
import json, sys
from datetime import datetime
from cases.platform.db import Database
from cases.clocks.sweep import fire_all_due
url, name, now, batch = sys.argv[1:5]
out = fire_all_due(Database(url), datetime.fromisoformat(now), batch_size=int(batch), worker=name)
print(json.dumps(out), flush=True)
"""

DELIVERY_SCRIPT = r"""
import json, sys
from datetime import datetime
import notifications.delivery.preferences
from cases.platform.config import Settings
from cases.platform.db import Database
from notifications.delivery.service import deliver_pending
url, now, port, data_dir = sys.argv[1:5]
settings = Settings(smtp_host="127.0.0.1", smtp_port=int(port), smtp_from="anjian@test.local", data_dir=data_dir,
                    outbound_allow="127.0.0.1")  # the loopback SMTP server is this test's gateway
out = deliver_pending(Database(url), datetime.fromisoformat(now), limit=100, worker="doomed", settings=settings)
print(json.dumps(out), flush=True)
"""


def _python(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kill(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL, "the worker finished before it could be killed"


def _count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


# ---------------------------------------------------------------- timers


def assert_firings_whole(db) -> int:
    """Each firing has its event, its documents and its messages; no effect without its firing;
    no (deadline, rung) twice; every firing late (at or after its moment)."""
    with db.session() as s:
        firings = list(s.scalars(select(RungFiring)))
        keys = Counter((f.deadline_id, f.rung) for f in firings)
        assert max(keys.values(), default=1) == 1
        assert len(firings) == _count(db, Timer, Timer.status == "fired")
        assert len(firings) == _count(db, CaseEvent, CaseEvent.action == "rung_fired")
        assert all(f.fired_at >= f.scheduled_at for f in firings)
        causes = {f"rung:{f.deadline_id}:{f.rung}": f for f in firings}
        messages = Counter(":".join(k.split(":")[:3]) for k in
                           s.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("rung:%"))))
        assert set(messages) <= set(causes)
        documents = {n: c for n, c in s.execute(select(Document.number, Document.cause).where(Document.cause.like("rung:%")))}
        assert set(documents.values()) <= set(causes)
        for cause, f in causes.items():
            if "messages" in f.effects:  # (挂牌督办's firing records its supervision, not its messages)
                assert messages.get(cause, 0) == f.effects["messages"], cause
            for doc in f.effects.get("documents", []):
                assert documents.get(doc["number"]) == cause, (cause, doc)
        return len(firings)


def test_worker_killed_mid_timer_batch_then_another_fires_each_rung_once_in_order(db, world, clock):
    from tests.test_workflows import seed_due_timers, skipped_timers

    now = clock.now()
    total = seed_due_timers(db, world, now, n_cases=30, task_deadlines=6)
    assert total == 300
    w = _python(SWEEP_SCRIPT, db.url, "doomed", now.isoformat(), "20")
    try:
        wait_for(lambda: _count(db, RungFiring) or w.poll() is not None, "the first committed batch", every=0.005)
        _kill(w)
    finally:
        if w.poll() is None:
            w.kill()
    done = _count(db, Timer, Timer.status != "pending")
    assert 0 < done < total  # killed part-way
    before = assert_firings_whole(db)

    again = _python(SWEEP_SCRIPT, db.url, "second", now.isoformat(), "20")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["failed"] == 0 and result["fired"] + result["stale"] == total - done
    assert _count(db, Timer, Timer.status == "pending", Timer.fire_at <= now) == 0
    firings = assert_firings_whole(db)
    assert firings == before + result["fired"] == total - skipped_timers(db)
    with db.session() as s:
        # each deadline's rungs in ladder order: a later rung never fired before an earlier one
        rows = s.execute(select(RungFiring.deadline_id, RungFiring.scheduled_at).order_by(RungFiring.id)).all()
        by_worker = dict(s.execute(select(RungFiring.worker, func.count()).group_by(RungFiring.worker)).all())
    per_deadline: dict[int, list] = {}
    for deadline_id, scheduled_at in rows:
        per_deadline.setdefault(deadline_id, []).append(scheduled_at)
    assert all(v == sorted(v) for v in per_deadline.values())
    assert set(by_worker) == {"doomed", "second"}


# ---------------------------------------------------------------- delivery


class HoldingSmtp:
    """An SMTP server on loopback that records every message it receives and, for the
    ``hold_at``-th, keeps the client waiting for its reply until released."""

    def __init__(self, hold_at: int) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.rcpt_tos[0], envelope.content))
        if len(self.received) == self.hold_at:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return "250 OK"


@pytest.fixture
def holding_smtp():
    handler = HoldingSmtp(hold_at=8)
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl, handler
    handler.release.set()
    ctl.stop()


def test_worker_killed_mid_delivery_sends_nothing_twice_beyond_the_crash_window(db, world, clock, holding_smtp,
                                                                                 tmp_path):
    ctl, smtp = holding_smtp
    now = clock.now()
    with db.transaction() as s:  # 20 people, one e-mail (and one inbox row) each: an address names a row
        people = [User(username=f"staff{i}", display_name=f"工作人员{i}", password_hash=password_hash(),
                       role="officer", jurisdiction_code="320508", active=True, created_at=now,
                       email=f"staff{i}@example.gov.cn") for i in range(20)]
        s.add_all(people)
        s.flush()
        variables = {"alert_title": "测试告警", "alert_detail": "工作进程中断演练", "raised_at": now.isoformat(),
                     "failed_template_title": "整改通知书", "failed_channel": "email"}
        for i, person in enumerate(people):  # as cases.issuance.outbox.enqueue writes them, e-mail configured
            for channel in ("inbox", "email"):
                s.add(OutboxMessage(dedupe_key=f"fault:{i}:system_alert:{person.id}:{channel}", case_id=None,
                                    template="system_alert", recipient_user_id=person.id,
                                    recipient_address=person.email if channel == "email" else None, channel=channel,
                                    variables={**variables, "failed_message_id": i, "recipient_name": person.display_name},
                                    urgent=False, status="pending", attempts=0, next_attempt_at=now, created_at=now))
    emails = _count(db, OutboxMessage, OutboxMessage.channel == "email")
    assert emails == 20

    w = _python(DELIVERY_SCRIPT, db.url, now.isoformat(), str(ctl.port), str(tmp_path / "data"))
    try:
        wait_for(lambda: smtp.holding.is_set() or w.poll() is not None, "the worker in the middle of a send",
                 every=0.01)
        assert smtp.holding.is_set(), w.communicate()[1]
        _kill(w)  # the server has the 8th message; the worker never hears back
    finally:
        smtp.release.set()
        if w.poll() is None:
            w.kill()
    with db.session() as s:
        status = Counter(s.scalars(select(OutboxMessage.status).where(OutboxMessage.channel == "email")))
    assert status["sent"] == 7 and status["sent"] + status["sending"] == 20  # the whole batch was claimed
    assert len(smtp.received) == 8

    # Run again at once: the claimed rows are leased to the dead worker; nobody sends them yet.
    settings = Settings(smtp_host="127.0.0.1", smtp_port=ctl.port, smtp_from="anjian@test.local",
                        data_dir=tmp_path / "data", outbound_allow="127.0.0.1")
    assert delivery.deliver_pending(db, now + timedelta(minutes=1), settings=settings, worker="second") == {}
    assert len(smtp.received) == 8
    # After the lease: the rest is sent, once each; the one caught in the window is sent again.
    later = now + delivery.LEASE + timedelta(seconds=1)
    counts = delivery.deliver_pending(db, later, settings=settings, worker="second")
    assert counts["sent"] >= 13 and counts["reclaimed"] >= 13
    assert delivery.deliver_pending(db, later + timedelta(days=1), settings=settings, worker="second") == {}

    copies = Counter(rcpt for rcpt, _ in smtp.received)
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email")))
        abandoned = {m.recipient_address for m in rows if s.scalar(
            select(func.count()).select_from(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == m.id, DeliveryAttempt.status == "abandoned"))}
        assert all(m.status == "sent" for m in rows)  # exactly once in the database
        assert _count(db, OutboxMessage, OutboxMessage.status != "sent") == 0  # the inbox rows too
    assert set(copies) == {m.recipient_address for m in rows}  # at least once towards the channel
    twice = {rcpt for rcpt, n in copies.items() if n > 1}
    assert max(copies.values()) == 2 and len(twice) == 1  # a second copy: only the one in the window,
    assert twice <= abandoned  # and its receipt says so
    [held_rcpt] = twice
    assert held_rcpt == smtp.received[7][0]
