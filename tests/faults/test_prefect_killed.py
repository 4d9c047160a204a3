"""The Prefect server frozen (unreachable), then killed, while timers come due.

What ``anjian serve`` runs (workflows/embedded.py: a real ``prefect server start`` and the served
flows, sweeping every 2 s here) on a SQLite app database. The server is frozen with SIGSTOP — it
holds its port and answers nothing, as a hung or partitioned server does — while a hazard
registered a month ago puts four timers due (besides the four of one registered before the start), then killed with SIGKILL. The supervisor restarts
it; the sweep fires what came due, late, once each (two rungs, the two stale reminders skipped),
and nothing fires twice though the restarted scheduler may run missed sweeps back to back.

tests/test_workflows.py covers the other outages: ``test_served_schedule_really_fires`` (a served
schedule works at all) and ``test_prefect_down_officers_work_then_timers_catch_up_in_order`` (the
API works without Prefect; the catch-up sweep after a 30-day gap fires oldest first).
"""
from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cases.platform.config import Settings
from cases.models import RungFiring
from tests.conftest import make_test_database
from tests.faults.conftest import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.prefect]


def test_prefect_server_frozen_then_killed_timers_fire_once_when_it_is_back(tmp_path, monkeypatch):
    from tests.test_workflows import assert_exactly_once, pending_due, register_hazard, seed_world, skipped_timers
    from workflows.embedded import EmbeddedPrefect

    app_db, _ = make_test_database("sqlite", tmp_path)
    now = datetime.now(timezone.utc)
    world = seed_world(app_db, now)
    first = register_hazard(app_db, world, now - timedelta(days=30), days=7)
    settings = Settings(data_dir=tmp_path / "data", database_url=app_db.url, prefect_port=free_port(),
                        sweep_interval_seconds=2)
    monkeypatch.setenv("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    # The server's scheduler makes the served deployments' runs every 60 s by default: every second
    # here, so the test waits on the sweep and not on the scheduler's loop.
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "1")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    supervisor = EmbeddedPrefect(settings, stop_grace=3)  # a worker whose API died is slow to stop
    server_pid = None
    try:
        marks = [("start", time.monotonic())]
        assert supervisor.start(wait=120), supervisor.status()
        marks.append(("ready", time.monotonic()))
        # Frozen as soon as it is up: the port is held, nothing answers. Meanwhile four more timers come due.
        server_pid = supervisor.status()["server"]["pid"]
        os.killpg(server_pid, signal.SIGSTOP)  # its own session: the server and its children
        marks.append(("frozen", time.monotonic()))
        second = register_hazard(app_db, world, datetime.now(timezone.utc) - timedelta(days=30), days=7,
                                 title="塔吊限位失灵")
        due = pending_due(app_db, datetime.now(timezone.utc))
        assert due >= 4  # the second hazard's four, and the first's if no sweep ran yet
        time.sleep(6)  # three sweep intervals with the server unreachable
        fired_while_frozen = pending_due(app_db, datetime.now(timezone.utc)) < due
        # Killed (a frozen process takes SIGKILL): the supervisor restarts it and the worker.
        os.killpg(server_pid, signal.SIGKILL)
        marks.append(("killed", time.monotonic()))
        wait_for(lambda: supervisor.restarts["server"] >= 1, "the supervisor to notice", timeout=60, every=0.2)
        marks.append(("noticed", time.monotonic()))
        wait_for(lambda: not pending_due(app_db, datetime.now(timezone.utc)), "the timers after the restart",
                 timeout=180, every=0.5)
        marks.append(("fired after restart", time.monotonic()))
        # Let a few more sweeps run (missed runs included): nothing more fires.
        firings = assert_exactly_once(app_db)["firings"]
        wait_for(lambda: supervisor.ready.is_set(), "the restarted worker", timeout=60)
        time.sleep(4)
        assert assert_exactly_once(app_db)["firings"] == firings == 2 * 4 - skipped_timers(app_db)
        with app_db.session() as s:
            rows = s.execute(select(RungFiring.case_id, RungFiring.scheduled_at, RungFiring.fired_at)
                             .order_by(RungFiring.id)).all()
        assert {r.case_id for r in rows} == {first, second}
        assert all(r.fired_at >= r.scheduled_at for r in rows)  # late, never early
        # Its database was new at the first start only: migrated first then, not again on the restart.
        server_log = (tmp_path / "data" / "prefect" / "server.log").read_text(errors="replace")
        assert server_log.count("starting Prefect server") >= 2 and server_log.count("Migrations succeeded!") == 1
        print(f"fired while the server was frozen: {fired_while_frozen}; restarts: {supervisor.restarts}; "
              + ", ".join(f"{name} +{t - marks[0][1]:.1f}s" for name, t in marks))
    finally:
        if server_pid is not None:
            try:
                os.killpg(server_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        supervisor.stop()
        app_db.dispose()
