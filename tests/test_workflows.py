"""The Prefect side: the sweep and digest flows as real flow runs, a served schedule that really
fires, several workers on one database, a worker killed halfway, and Prefect being down.

Exactly-once is the app database's job (unique keys written in the firing's transaction);
these tests check it holds under what Prefect and operations do: retries, overlapping runs,
two worker processes, a SIGKILL between commits, an outage followed by catch-up.
"""
from __future__ import annotations

import atexit
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from workflows.prefect_env import apply_process_defaults

# Prefect reads its settings from the environment when first imported: quiet it, and keep
# its state out of ~/.prefect.
apply_process_defaults()
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="anjian-test-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)

import httpx  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from cases.platform import db as db_module  # noqa: E402
from cases.ledger import services  # noqa: E402
from cases.platform.config import Settings  # noqa: E402
from cases.clocks.deadlines import open_deadline  # noqa: E402
from cases.clocks.sweep import fire_due_batch  # noqa: E402
from cases.clocks.sweep import SimulatedCrash
from cases.ledger.identifiers import make_credit_code  # noqa: E402
from cases.models import (  # noqa: E402
    Case,
    CaseEvent,
    Deadline,
    Document,
    Enterprise,
    OutboxMessage,
    RungFiring,
    Supervision,
    Timer,
    User,
)
from tests.conftest import make_test_database, password_hash  # noqa: E402
from tests.machine_paths import HttpDriver, action_payload, create_payload  # noqa: E402
from workflows import flows  # noqa: E402

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the session (~9 s to start); flows called in a test are
    real flow runs against it. Heartbeats off: they add ~1 s to every sync flow run."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


@pytest.fixture
def app_db(db):
    """The flows take the app database from cases.platform.db.get_database(): point it at the test's."""
    previous = db_module._db
    db_module.set_database(db)
    yield db
    db_module.set_database(previous)


class _FixedClock:  # action_payload only asks the clock for dates
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def today(self):
        return self._now.date()


def _register(s, world, now: datetime, days: int, title: str) -> Case:
    officer = s.get(User, world.officer.id)
    case = services.create_case(s, officer, create_payload("hazard", world, _FixedClock(now), title=title), now=now)
    payload = action_payload("hazard", "register", world, _FixedClock(now), rectification_days=days)
    case, _ = services.perform_action(s, officer, case.id, "register", payload, version=case.version, now=now)
    return case


def register_hazard(db, world, now: datetime, *, days: int = 7, title: str = "脚手架连墙件缺失") -> int:
    """A hazard created and registered at ``now``: its rectification deadline and timers."""
    with db.transaction() as s:
        return _register(s, world, now, days, title).id


def seed_due_timers(db, world, now: datetime, n_cases: int, task_deadlines: int = 6) -> int:
    """``n_cases`` hazards registered 60 days before ``now`` (4 rectification rungs each) plus
    ``task_deadlines`` one-rung task deadlines per case: every timer is due at ``now``. Their two
    reminders are long past true, so the sweep skips them (``skipped_timers``); the rest fire."""
    past = now - timedelta(days=60)
    with db.transaction() as s:
        for i in range(n_cases):
            case = _register(s, world, past + timedelta(minutes=i), 7, f"批量隐患{i}")
            for k in range(task_deadlines):
                open_deadline(s, case=case, key=f"check{k}", label=f"回头看{k}", ladder="task",
                              start_at=past + timedelta(hours=k), amount=10 + k, unit="calendar_day", now=past,
                              light=False)
    with db.session() as s:
        due = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending", Timer.fire_at <= now))
    return due


def assert_exactly_once(db) -> dict:
    """Every fired timer has exactly one firing, no (deadline, rung) fired twice, every case's
    event log is numbered 1..n without gaps, and no outbox message is duplicated."""
    with db.session() as s:
        dup_firings = s.execute(select(RungFiring.deadline_id, RungFiring.rung, func.count())
                                .group_by(RungFiring.deadline_id, RungFiring.rung).having(func.count() > 1)).all()
        assert dup_firings == []
        fired = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired"))
        firings = s.scalar(select(func.count()).select_from(RungFiring))
        assert firings == fired
        rung_events = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "rung_fired"))
        assert rung_events == firings
        for case_id, event_seq in s.execute(select(Case.id, Case.event_seq)):
            seqs = list(s.scalars(select(CaseEvent.seq).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))
            assert seqs == list(range(1, event_seq + 1)), f"case {case_id}: seqs {seqs}"
        keys = s.scalar(select(func.count()).select_from(OutboxMessage))
        distinct = s.scalar(select(func.count(func.distinct(OutboxMessage.dedupe_key))))
        assert keys == distinct
        # a firing's messages all carry its cause: none from a rung that has no firing row
        causes = {":".join(k.split(":")[:3]) for k in
                  s.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("rung:%")))}
        firing_causes = {f"rung:{d}:{r}" for d, r in s.execute(select(RungFiring.deadline_id, RungFiring.rung))}
        assert causes <= firing_causes
        return {"firings": firings, "messages": keys}


def skipped_timers(db) -> int:
    """Late reminders the sweep skipped as no longer true (docs/legal-time.md "Late rungs")."""
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "skipped"))


def pending_due(db, now: datetime) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending", Timer.fire_at <= now))


def firings_of(db, case_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.execute(select(Deadline.ladder, RungFiring.rung).join(Deadline, Deadline.id == RungFiring.deadline_id)
                         .where(RungFiring.case_id == case_id).order_by(RungFiring.id)).all()
    return [(ladder, rung) for ladder, rung in rows]


# ---------------------------------------------------------------- the sweep as a flow run


@pytest.mark.slow
def test_sweep_flow_walks_the_whole_ladder_once_each(prefect_harness, app_db, world, clock):
    """Reminders → overdue (警示函) → 挂牌督办 → 督办 reminders → 约谈 → 通报批评 → 提级, each at its
    time and exactly once, as real flow runs; nothing fires a second before its time."""
    db = app_db
    case_id = register_hazard(db, world, clock.now(), days=7)
    seen: list[tuple[str, str]] = []
    for _ in range(20):
        with db.session() as s:
            next_at = s.scalar(select(func.min(Timer.fire_at)).where(Timer.case_id == case_id, Timer.status == "pending"))
        if next_at is None:
            break
        clock.set(next_at - timedelta(seconds=1))
        assert flows.sweep_timers()["fired"] == 0
        clock.set(next_at)
        result = flows.sweep_timers()
        assert result["fired"] >= 1 and result["failed"] == 0, result
        new = firings_of(db, case_id)[len(seen):]
        seen.extend(new)
        with db.session() as s:
            case = s.get(Case, case_id)
            actions = list(s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id)))
            templates = set(s.scalars(select(OutboxMessage.template).where(OutboxMessage.case_id == case_id)))
            for ladder, rung in new:
                if rung == "overdue" and ladder == "rectification":
                    assert {"overdue_warning", "warning_letter"} <= templates
                if rung == "listing":
                    sup = s.scalars(select(Supervision).where(Supervision.case_id == case_id)).one()
                    assert sup.listing_jurisdiction_code == "320500" and sup.reason == "overdue"
                    assert "listed" in actions and {"supervision_notice", "supervision_letter"} <= templates
                if rung == "interview":
                    assert "interview_notice" in templates
                if rung == "criticism":
                    assert "public_criticism" in templates
                if rung == "escalate":
                    assert "escalated" in actions and "escalation_transfer" in templates
                    assert case.jurisdiction_code == "320500" and case.origin_jurisdiction_code == "320508"
                if rung != "escalate":
                    assert case.jurisdiction_code == "320508"
    assert seen == [("rectification", "remind_before"), ("rectification", "remind_due_day"),
                    ("rectification", "overdue"), ("rectification", "listing"),
                    ("supervision", "remind_before"), ("supervision", "overdue"), ("supervision", "interview"),
                    ("supervision", "criticism"), ("supervision", "escalate")]
    before = assert_exactly_once(db)
    clock.advance(timedelta(days=400))
    assert flows.sweep_timers()["fired"] == 0
    assert assert_exactly_once(db) == before


@pytest.mark.slow
def test_sweep_task_retries_and_batches(prefect_harness, app_db, world, clock, monkeypatch):
    """A batch that fails (database gone for a moment) is retried by Prefect; the retry fires
    what is still due, so nothing fires twice. Many batches run in one flow run."""
    db = app_db
    total = seed_due_timers(db, world, clock.now(), n_cases=6, task_deadlines=2)
    assert total == 36
    real = flows.fire_due_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            real(*args, **kwargs)  # commits, then the connection "drops" before the answer
            raise ConnectionError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(flows, "fire_due_batch", flaky)
    result = flows.sweep_timers(batch_size=10)
    # the batch whose answer was lost is not counted, but fired once
    assert result["fired"] + result["stale"] + 10 == total
    assert calls["n"] == 4  # 10, 10 (answer lost), the retry's 10, the last 6
    assert pending_due(db, clock.now()) == 0
    assert skipped_timers(db) == 12  # the two reminders of each of the six hazards
    assert assert_exactly_once(db)["firings"] == total - 12


@pytest.mark.slow
def test_readyz_reports_the_sweep_heartbeat(prefect_harness, app_db, live_server, world, clock):
    """/readyz: no sweep ever ran → worker unknown (degraded, still 200); after a real sweep flow run
    → ok with the worker's name; once the sweep has not run for 6 intervals (at least 3 minutes) →
    stale, with a Chinese message; the next sweep makes it ok again."""
    import httpx

    def ready() -> tuple[int, dict]:
        r = httpx.get(f"{live_server.url}/readyz", timeout=30)
        return r.status_code, r.json()

    status, body = ready()
    assert (status, body["status"], body["checks"]["worker"]["status"]) == (200, "degraded", "unknown")
    flows.sweep_timers()
    status, body = ready()
    worker = body["checks"]["worker"]
    assert (status, body["status"], worker["status"]) == (200, "ok", "ok"), body
    assert worker["worker"] and worker["age_seconds"] <= 1
    clock.advance(timedelta(minutes=10))
    status, body = ready()
    worker = body["checks"]["worker"]
    assert (status, body["status"], worker["status"]) == (200, "degraded", "stale"), body
    assert "10分钟没有运行" in worker["message"]
    flows.deliver_outbox()  # another flow's beat does not stand for the sweep's
    assert ready()[1]["checks"]["worker"]["status"] == "stale"
    flows.sweep_timers()
    assert ready()[1]["checks"]["worker"]["status"] == "ok"


@pytest.mark.slow
def test_daily_digest_one_message_per_supervisor_per_day(prefect_harness, app_db, world, clock):
    db = app_db
    now = clock.now()
    # ≤10 days run in working days: 5 from Fri 13 Nov end Fri 20 Nov (overdue); 4 from Wed 18 Nov end
    # Tue 24 Nov (three working days ahead from Thu 19 Nov: yellow).
    red = register_hazard(db, world, now - timedelta(days=10), days=5, title="已逾期的隐患")
    yellow = register_hazard(db, world, now - timedelta(days=5), days=4, title="临期的隐患")
    register_hazard(db, world, now, days=30, title="期限还早的隐患")
    result = flows.daily_digest()
    # No SMTP configured: inbox only (苏州市's supervisor has an address, but e-mail is not in use).
    assert result == {"supervisors": 2, "messages": 2}
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == "daily_digest")
                              .order_by(OutboxMessage.id)))
    by_user = {r.recipient_user_id: r.variables for r in rows}
    assert set(by_user) == {world.supervisor.id, world.province.id}
    v = by_user[world.supervisor.id]
    assert v["digest_date"] == "2026-11-23" and v["jurisdiction_name"] == "苏州市"
    assert v["total_open"] == 3 and v["counts"] == {"red": 1, "yellow": 1, "green": 1, "none": 0}
    assert [c["light"] for c in v["cases"]] == ["red", "yellow"]
    first = v["cases"][0]
    with db.session() as s:
        red_case = s.get(Case, red)
    assert first["case_number"] == red_case.number and first["days_left"] < 0
    assert first["assignee_name"] == "officer" and first["kind"] == "hazard"
    assert first["case_url"].endswith(f"/cases/{red}") and v["cases"][1]["case_url"].endswith(f"/cases/{yellow}")
    assert {"due_date", "case_title"} <= set(first)
    assert rows[0].case_id is None and rows[0].dedupe_key.startswith("digest:2026-11-23:daily_digest:")
    # the same day again: nothing new; the next day: a new digest
    clock.advance(timedelta(hours=3))
    assert flows.daily_digest()["messages"] == 0
    clock.advance(timedelta(days=1))
    assert flows.daily_digest()["messages"] == 2
    # the outbox flow (served as deliver-outbox beside the sweep) takes every due row
    delivered = flows.deliver_outbox()
    with db.session() as s:
        pending = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending",
                                                                                 OutboxMessage.next_attempt_at <= clock.now()))
    assert sum(delivered.values()) >= 4 and pending == 0


# ---------------------------------------------------------------- document rendering, a job of its own


def test_served_lanes_check_for_work_exactly_as_the_flows_claim_it(app_db, world, clock):
    """What `anjian worker` and `anjian serve` run (workflows/loop.py): a lane starts a flow run only
    when its check finds work, so each check must find work exactly when the flow would claim some —
    due timers, issued documents to render (rendering is a job of its own, not a side effect of
    delivery), due outbox rows."""
    from notifications.delivery.service import deliver_pending
    from notifications.documents.store import render_pending_documents
    from workflows import loop

    db = app_db
    now = clock.now()
    assert not (loop.timers_due(now) or loop.documents_due(now) or loop.outbox_due(now))
    register_hazard(db, world, now - timedelta(days=30), days=7)
    assert loop.timers_due(now) and loop.documents_due(now)  # the 整改通知书 waits to be rendered
    assert not loop.timers_due(now - timedelta(days=30))  # nothing was due at registration
    while fire_due_batch(db, now, limit=2, worker="t")["seen"]:
        assert loop.timers_due(now) == (pending_due(db, now) > 0)
    assert not loop.timers_due(now) and loop.outbox_due(now)
    while render_pending_documents(db, now, limit=1):
        pass
    assert not loop.documents_due(now)
    while deliver_pending(db, now, limit=1, worker="t"):
        pass
    assert not loop.outbox_due(now)
    with db.session() as s:
        later = s.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status.in_(("pending", "sending"))))
    if later is not None:  # a message in its backoff is due again at its next attempt, not before
        assert not loop.outbox_due(later - timedelta(seconds=1)) and loop.outbox_due(later)


def test_daily_digest_moment_is_eight_oclock_in_shanghai():
    from workflows.loop import next_digest_at

    utc = timezone.utc
    assert next_digest_at(datetime(2026, 11, 26, 23, 59, tzinfo=utc)) == datetime(2026, 11, 27, 0, 0, tzinfo=utc)
    assert next_digest_at(datetime(2026, 11, 27, 0, 0, tzinfo=utc)) == datetime(2026, 11, 28, 0, 0, tzinfo=utc)
    assert next_digest_at(datetime(2026, 11, 27, 1, 0, tzinfo=utc)) == datetime(2026, 11, 28, 0, 0, tzinfo=utc)


@pytest.mark.slow
def test_render_flow_alone_renders_without_any_delivery(prefect_harness, app_db, world, clock, tmp_path,
                                                         monkeypatch):
    """A notice issued by a transition is rendered by one run of the render flow, with no delivery run
    and without its outbox rows (deleted here: the render never reads them)."""
    from cases.platform.config import reset_settings_cache
    from cases.models import DeliveryAttempt, Document
    from notifications.documents.store import read_stored
    from tests.conftest import complete_project

    monkeypatch.setenv("ANJIAN_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    try:
        complete_project(app_db, world, clock)
        case_id = register_hazard(app_db, world, clock.now(), days=7)
        with app_db.transaction() as s:
            s.execute(OutboxMessage.__table__.delete().where(OutboxMessage.case_id == case_id))
        assert flows.render_documents() == {"rendered": 1}
        with app_db.session() as s:
            [doc] = s.scalars(select(Document).where(Document.case_id == case_id)).all()
            assert doc.status == "rendered" and doc.render_attempts == 0
            assert s.scalar(select(func.count()).select_from(DeliveryAttempt)) == 0
        from cases.platform.config import get_settings
        assert read_stored(doc, get_settings()).startswith(b"%PDF")
        assert flows.render_documents() == {}
    finally:
        reset_settings_cache()


# ---------------------------------------------------------------- several workers, crashes


WORKER_SCRIPT = r"""
import json, sys
from datetime import datetime
from cases.platform.db import Database
from cases.clocks.sweep import fire_all_due
url, name, now, batch = sys.argv[1:5]
db = Database(url)
print("ready", flush=True)
sys.stdin.readline()
out = fire_all_due(db, datetime.fromisoformat(now), batch_size=int(batch), worker=name)
print(json.dumps(out), flush=True)
"""


def start_worker(db, name: str, now: datetime, batch: int) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, db.url, name, now.isoformat(), str(batch)],
                         cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


@pytest.mark.slow
def test_two_worker_processes_fire_every_rung_exactly_once(db, world, clock):
    """Two OS processes sweep the same database at once (PostgreSQL: SKIP LOCKED splits the
    batches; SQLite: writers queue): 2,000 due timers over 200 cases (PostgreSQL; 600 over 60
    on SQLite), each fired exactly once."""
    now = clock.now()
    n_cases = 200 if db.dialect == "postgresql" else 60  # SQLite: writers queue anyway; keep it short
    total = seed_due_timers(db, world, now, n_cases=n_cases, task_deadlines=6)
    assert total == 10 * n_cases
    workers = [start_worker(db, f"w{i}", now, 50) for i in (1, 2)]
    try:
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        results = [json.loads(w.communicate(timeout=120)[0].strip().splitlines()[-1]) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert all(w.returncode == 0 for w in workers)
    assert sum(r["fired"] + r["stale"] for r in results) == total
    assert pending_due(db, now) == 0
    skipped = skipped_timers(db)
    assert skipped == 2 * n_cases  # each hazard's two reminders, long past true
    with db.session() as s:
        by_worker = dict(s.execute(select(RungFiring.worker, func.count()).group_by(RungFiring.worker)).all())
    assert set(by_worker) <= {"w1", "w2"} and sum(by_worker.values()) == total - skipped
    if db.dialect == "postgresql":
        # SKIP LOCKED splits the work; on SQLite one writer may legitimately drain it all first.
        assert set(by_worker) == {"w1", "w2"}
    assert assert_exactly_once(db)["firings"] == total - skipped


@pytest.mark.slow
def test_worker_killed_mid_sweep_then_restarted_fires_each_rung_once(prefect_harness, app_db, world, clock):
    db = app_db
    now = clock.now()
    # A batch that raises before its commit leaves no trace.
    total = seed_due_timers(db, world, now, n_cases=60, task_deadlines=6)
    with pytest.raises(SimulatedCrash):
        fire_due_batch(db, now, limit=100, crash_after=60)
    assert pending_due(db, now) == total
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(RungFiring)) == 0
    # A worker SIGKILLed between two commits, in the middle of its next batch.
    w = start_worker(db, "doomed", now, 40)
    try:
        w.stdin.write("go\n")
        w.stdin.flush()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.session() as s:
                if s.scalar(select(func.count()).select_from(RungFiring)):
                    break
            time.sleep(0.01)
        w.send_signal(signal.SIGKILL)
        w.wait(timeout=10)
    finally:
        if w.poll() is None:
            w.kill()
    assert w.returncode == -signal.SIGKILL
    with db.session() as s:
        fired_before = s.scalar(select(func.count()).select_from(RungFiring))
    done_before = fired_before + skipped_timers(db)
    assert 0 < fired_before and done_before < total
    assert_exactly_once(db)
    # Restarted: the sweep flow finishes the job.
    result = flows.sweep_timers(batch_size=200)
    assert result["fired"] + result["stale"] == total - done_before and result["failed"] == 0
    assert pending_due(db, now) == 0
    assert assert_exactly_once(db)["firings"] == total - skipped_timers(db)


@pytest.mark.slow
def test_prefect_down_officers_work_then_timers_catch_up_in_order(prefect_harness, app_db, api, world, clock,
                                                                  monkeypatch):
    """While Prefect is down officers keep working over HTTP: the API process does not even
    import Prefect. When the sweep runs again, the overdue timers fire late, oldest first."""
    db = app_db
    probe = subprocess.run([sys.executable, "-c", "import sys, api.app, anjian.runner, workflows.embedded; "
                            "print('prefect' in sys.modules)"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "False", probe.stderr
    drv = HttpDriver(api, world, clock)
    cases = []
    for i, days in enumerate((9, 3, 6, 12)):
        case = drv.create("hazard", title=f"停机期间登记的隐患{i}")
        case = drv.act(case, "register", rectification_days=days)
        assert case["state"] == "registered"
        cases.append(case)
        clock.advance(timedelta(hours=5))
    drv.act(cases[0], "start_rectification", world.contact)
    outage_end = clock.now() + timedelta(days=30)
    clock.set(outage_end)
    due = pending_due(db, outage_end)
    assert due >= 12
    boundaries: list[int] = []  # the last firing id after each batch (one transaction each)
    real = flows.fire_due_batch

    def recording(*args, **kwargs):
        out = real(*args, **kwargs)
        with db.session() as s:
            boundaries.append(s.scalar(select(func.max(RungFiring.id))) or 0)
        return out

    monkeypatch.setattr(flows, "fire_due_batch", recording)
    result = flows.sweep_timers(batch_size=5)
    # Late reminders that are no longer true are skipped (docs/legal-time.md "Late rungs"); the rest fire.
    skipped = skipped_timers(db)
    assert result["fired"] + result["stale"] == due and result["fired"] == due - skipped
    assert result["failed"] == 0 and result["batches"] >= 3
    with db.session() as s:
        rows = s.execute(select(RungFiring.id, RungFiring.deadline_id, RungFiring.scheduled_at, RungFiring.fired_at)
                         .order_by(RungFiring.id)).all()
    assert all(r.fired_at == outage_end and r.fired_at > r.scheduled_at for r in rows)  # late, not lost
    # Oldest first: each batch takes the earliest due timers, so no firing of a later batch was
    # due before one of an earlier batch; and each deadline's rungs fire in their order.
    batches, lo = [], 0
    for hi in boundaries:
        batches.append([r.scheduled_at for r in rows if lo < r.id <= hi])
        lo = hi
    batches = [b for b in batches if b]
    assert len(batches) >= 3
    for earlier, later in zip(batches, batches[1:]):
        assert max(earlier) <= min(later)
    by_deadline: dict[int, list] = {}
    for r in rows:
        by_deadline.setdefault(r.deadline_id, []).append(r.scheduled_at)
    assert all(v == sorted(v) for v in by_deadline.values())
    assert assert_exactly_once(db)["firings"] == due - skipped


# ---------------------------------------------------------------- a served schedule really fires


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def seed_world(db, now: datetime):
    """Minimal users for a case: officer (姑苏区) under a supervisor (苏州市), an enterprise."""
    from cases.models import Project
    from tests.conftest import World

    with db.transaction() as s:
        e1 = Enterprise(credit_code=make_credit_code("91320508MA1P11111"), name="苏州测试建设有限公司",
                        jurisdiction_code="320508", credit_score=100, created_at=now)
        s.add(e1)
        s.flush()
        sup = User(username="supervisor", display_name="supervisor", password_hash=password_hash(), role="supervisor",
                   jurisdiction_code="320500", active=True, created_at=now)
        s.add(sup)
        s.flush()
        officer = User(username="officer", display_name="officer", password_hash=password_hash(), role="officer",
                       jurisdiction_code="320508", supervisor_id=sup.id, active=True, created_at=now,
                       phone="0512-65220000")  # the letters print the officer's phone
        s.add(officer)
        p1 = Project(name="姑苏测试项目", jurisdiction_code="320508", address="平江路1号", created_at=now)
        s.add(p1)
        s.flush()
        s.expunge_all()
    return World(officer, None, sup, None, None, None, e1, None, p1, None, None, None)


def completed_runs(api_url: str, flow: str) -> list[dict]:
    """The flow's completed runs; a Prefect server too busy to answer within the timeout (a loaded
    machine) counts as none yet — every caller polls until its own generous bound."""
    body = {"flows": {"name": {"any_": [flow]}}, "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    try:
        return httpx.post(f"{api_url}/flow_runs/filter", json=body, timeout=60).json()
    except httpx.TimeoutException:
        return []


def count_flow_runs(api_url: str) -> int:
    return httpx.post(f"{api_url}/flow_runs/count", json={}, timeout=60).json()


def descendants(pid: int) -> dict[int, str]:
    """The live processes below ``pid`` (from /proc): {pid: command line}. A process that exits (or
    is a zombie) between the two reads is named by its stat's short name, in brackets: ``[ldconfig]``."""
    parent, name = {}, {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            parent[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            name[int(entry.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in out:
                try:
                    cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except (FileNotFoundError, ProcessLookupError):
                    cmd = ""
                out[child] = cmd.strip() or f"[{name[child]}]"
                todo.append(child)
    return out


# What ctypes' find_library runs (maybe named for its target, x86_64-linux-gnu-gcc-12).
LIBRARY_PROBE = re.compile(r"(x86_64-linux-gnu-)?(ldconfig(\.real)?|gcc|cc1?|collect2|ld(\.bfd|\.gold)?|objdump)(-\d+)?")


def is_library_probe(command: str) -> bool:
    """Is this command line (or ``[short name]``, cut at 15 characters) a find_library probe?"""
    words = command.strip("[]").split()
    program = os.path.basename(words[0]) if words else ""
    return bool(LIBRARY_PROBE.fullmatch(program)) or (command.startswith("[") and program.startswith("x86_64-linux-gn"))


@pytest.mark.slow
def test_served_schedule_really_fires(tmp_path, monkeypatch):
    """A real `prefect server start` and a worker sweeping every 2 s (what `anjian serve` runs, via
    EmbeddedPrefect): a due timer in a SQLite app database is fired by a sweep flow run, and Prefect
    lists that run as completed. Guards the pins (SQLAlchemy < 2.1, FastAPI < 0.155) without which
    the server never starts or never records a run."""
    from workflows.embedded import EmbeddedPrefect

    app_db, _ = make_test_database("sqlite", tmp_path)
    now = datetime.now(timezone.utc)
    world = seed_world(app_db, now)
    case_id = register_hazard(app_db, world, now - timedelta(days=30), days=7)
    due = pending_due(app_db, now)
    assert due == 4
    settings = Settings(data_dir=tmp_path / "data", database_url=app_db.url, prefect_port=_free_port(),
                        sweep_interval_seconds=2)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    supervisor = EmbeddedPrefect(settings, stop_grace=10)
    pids: list[int] = []
    try:
        assert supervisor.start(wait=90), supervisor.status()
        pids = supervisor.pids
        assert len(pids) == 2
        # Each wait has its own generous bound: on a loaded machine (CI at load 10+) the server's
        # first flow runs can take well over a minute; the test waits on progress, not on time.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and pending_due(app_db, now):
            time.sleep(0.5)
        assert pending_due(app_db, now) == 0, supervisor.status()
        with app_db.session() as s:
            workers = set(s.scalars(select(RungFiring.worker).where(RungFiring.case_id == case_id)))
        assert len(workers) == 1 and next(iter(workers)).startswith("embedded-")
        # the two reminders of a deadline 23 days overdue are skipped, not sent (docs/legal-time.md)
        assert skipped_timers(app_db) == 2
        assert assert_exactly_once(app_db)["firings"] == due - 2
        runs = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            runs = completed_runs(supervisor.api_url, "sweep-timers")
            if runs:
                break
            time.sleep(0.5)
        assert runs and all(r["state_type"] == "COMPLETED" for r in runs)
        # the served deliver-outbox sent what the rungs wrote (in-app inbox: no channel needed)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with app_db.session() as s:
                inbox = dict(s.execute(select(OutboxMessage.template, OutboxMessage.status).where(
                    OutboxMessage.channel == "inbox", OutboxMessage.template.in_(("reminder", "overdue_warning")))).all())
            if len(inbox) == 1 and set(inbox.values()) <= {"sent", "failed"}:  # not pending / sending
                break
            time.sleep(0.5)
        assert inbox == {"overdue_warning": "sent"}, inbox  # the stale reminders were skipped
        assert (tmp_path / "data" / "prefect" / "prefect.db").exists()  # PREFECT_HOME under ANJIAN_DATA_DIR
    finally:
        supervisor.stop()
        app_db.dispose()
    assert not [p for p in pids if _alive(p)]


@pytest.mark.slow
def test_served_flow_runs_execute_in_the_worker_process_and_idle_ticks_make_none(tmp_path, monkeypatch):
    """No process per flow run (issue 9, "Rest"): `anjian serve`'s worker fires the rungs, renders
    the documents and delivers the messages as Prefect flow runs executed in its own process — the
    firings name its pid, and it starts no child process but a library probe — and once nothing is due,
    ticks create no flow run at all."""
    from workflows.embedded import EmbeddedPrefect

    app_db, _ = make_test_database("sqlite", tmp_path)
    now = datetime.now(timezone.utc)
    world = seed_world(app_db, now)
    case_id = register_hazard(app_db, world, now - timedelta(days=30), days=7)
    settings = Settings(data_dir=tmp_path / "data", database_url=app_db.url, prefect_port=_free_port(),
                        sweep_interval_seconds=1)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    supervisor = EmbeddedPrefect(settings, stop_grace=10)
    children: dict[int, str] = {}

    def settled() -> bool:
        with app_db.session() as s:
            waiting = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status.in_(("pending", "sending")), OutboxMessage.next_attempt_at <= datetime.now(timezone.utc)))
            unrendered = s.scalar(select(func.count()).select_from(Document).where(Document.status == "issued"))
        return not pending_due(app_db, datetime.now(timezone.utc)) and not waiting and not unrendered

    try:
        assert supervisor.start(wait=90), supervisor.status()
        worker_pid = supervisor.status()["worker"]["pid"]
        deadline = time.monotonic() + 90
        # A flow-run process lives for seconds (its imports alone take ~3 s of CPU): sampled every 0.2 s.
        # The rows change inside a flow run, before the run's final state reaches the Prefect server:
        # wait for the three flows' completed runs too, not only for the rows.
        flows = ("sweep-timers", "render-documents", "deliver-outbox")
        while time.monotonic() < deadline and not (settled() and all(completed_runs(supervisor.api_url, f) for f in flows)):
            children.update(descendants(worker_pid))
            time.sleep(0.2)
        assert settled(), supervisor.status()
        with app_db.session() as s:
            workers = set(s.scalars(select(RungFiring.worker).where(RungFiring.case_id == case_id)))
        assert workers == {f"embedded-{socket.gethostname()}:{worker_pid}"[:64]}
        for flow in flows:
            assert completed_runs(supervisor.api_url, flow), flow
        # Idle: three sweep ticks and more than three outbox checks later, Prefect has no new run.
        before = count_flow_runs(supervisor.api_url)
        idle_until = time.monotonic() + 4
        while time.monotonic() < idle_until:
            children.update(descendants(worker_pid))
            time.sleep(0.2)
        assert count_flow_runs(supervisor.api_url) == before
        assert supervisor.status()["worker"]["pid"] == worker_pid and supervisor.restarts == {"server": 0, "worker": 0}
        # Not one flow-run process (a Python running prefect.engine or the flows). What the worker may
        # start is a library's probe: WeasyPrint's cffi finds its libraries with ctypes' find_library,
        # which runs `ldconfig -p` and, for a name ldconfig does not know, gcc (with collect2 and ld)
        # and objdump. A sample can catch one between fork and exec, still showing the worker's own
        # command line; how many a 0.2 s sampler sees depends on the machine's speed (5 in one CI run).
        own = open(f"/proc/{worker_pid}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
        assert not [c for c in children.values() if c != own and not is_library_probe(c)], children
    finally:
        supervisor.stop()
        app_db.dispose()


def test_an_idle_sweep_lane_still_beats_without_a_flow_run(app_db, world, clock):
    """Nothing due creates no flow run, yet /readyz must not call an idle worker stale: the lane
    records the sweep's heartbeat itself (at most every IDLE_BEAT_SECONDS)."""
    from cases.platform import heartbeat
    from workflows.loop import FlowLoop

    loop = FlowLoop(sweep_interval=10, digest=False, worker="idle-test")
    assert heartbeat.last_beat(app_db, heartbeat.SWEEP) is None
    loop._sweep_tick()
    beat = heartbeat.last_beat(app_db, heartbeat.SWEEP)
    assert beat is not None and beat.worker == "idle-test" and beat.last_seen_at == clock.now()
    assert loop.runs["sweep-timers"] == 0
    clock.advance(timedelta(seconds=5))
    loop._sweep_tick()  # within IDLE_BEAT_SECONDS: no second write
    assert heartbeat.last_beat(app_db, heartbeat.SWEEP).last_seen_at == beat.last_seen_at


def test_without_prefect_the_plain_passes_derive_and_render_a_backlog_in_batches(app_db, world, clock, monkeypatch,
                                                                                 tmp_path):
    """The Prefect-free passes (workflows/passes.py: what the lanes and the derive process run when
    Prefect does not answer) derive the documents of 7 registrations, then render them 5 at a time,
    the renderer's garbage collected after each batch."""
    from cases.models import Document
    from cases.platform import config
    from workflows import passes

    monkeypatch.setenv("ANJIAN_DATA_DIR", str(tmp_path))
    config.get_settings.cache_clear()  # the renderer writes under this test's data dir
    ids = [register_hazard(app_db, world, clock.now(), title=f"积压隐患{i}") for i in range(7)]
    passes.derive_plainly(budget_seconds=120)
    with app_db.session() as s:
        docs = s.scalars(select(Document).where(Document.case_id.in_(ids))).all()
    assert len(docs) == 7 and {d.status for d in docs} == {"issued"}
    collected = []
    real = passes.collect_render_garbage
    monkeypatch.setattr(passes, "collect_render_garbage", lambda: (collected.append(1), real())[1])
    rendered = passes.render_plainly(budget_seconds=300, limit=5)
    with app_db.session() as s:
        assert {d.status for d in s.scalars(select(Document).where(Document.case_id.in_(ids)))} == {"rendered"}
    assert len(collected) == 2, (collected, rendered)  # a full batch of 5, then the last 2
    config.get_settings.cache_clear()


def test_prefect_queues_are_drained_and_waited_for_even_from_a_running_event_loop(recwarn):
    """`EmbeddedPrefect.stop` drains Prefect's log and event queues before the server goes. Called
    where an event loop runs (the served app's lifespan), Prefect's ``drain_all`` returns a coroutine
    instead of waiting — it was left un-awaited ("coroutine 'wait' was never awaited", seen in the
    suite) and nothing waited. The drain now runs in a thread of its own, which has no loop."""
    import asyncio
    import gc

    import prefect.logging.handlers  # noqa: F401  (the services exist only once Prefect is imported)
    from workflows.embedded import drain_prefect_services

    async def stopping() -> None:
        drain_prefect_services(0.5)

    # A loop of its own in a thread of its own: the suite's main thread may already run one.
    failed: list[BaseException] = []
    gc.collect()  # what earlier tests left behind warns now, not below
    recwarn.clear()

    def served() -> None:
        try:
            asyncio.run(stopping())
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    thread = threading.Thread(target=served)
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and not failed, failed
    gc.collect()
    assert not [w for w in recwarn.list if "never awaited" in str(w.message)], [str(w.message) for w in recwarn.list]
