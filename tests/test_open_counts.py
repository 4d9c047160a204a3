"""The open cases per (jurisdiction, kind) kept on write — ``case_open_counts``, signed rows appended by
triggers on ``cases`` (migration 0008_counts) — stay equal to the open cases through the case life
cycle (create, close, dismiss, reopen, reclassify, 提级 by the sweep and by an accident's grade, delete),
folds and concurrent writers, and the light counts built on them equal the plain count of the lights
computed from the deadlines rows for every kind of user, on both databases."""
from __future__ import annotations

import threading

from sqlalchemy import delete, func, select, text


from cases.clocks import lights
from cases.ledger import services
from cases.reads import case_lists
from cases.reads.light_stats import fold_open_counts, light_count_rows
from cases.models import Case, CaseOpenCount
from tests.machine_paths import ServiceDriver, action_payload


def stored(s) -> dict[tuple[str, str], int]:
    return {(c, k): n for c, k, n in s.execute(
        select(CaseOpenCount.jurisdiction_code, CaseOpenCount.kind, func.sum(CaseOpenCount.n))
        .group_by(CaseOpenCount.jurisdiction_code, CaseOpenCount.kind)) if n}


def actual(s) -> dict[tuple[str, str], int]:
    return {(c, k): n for c, k, n in s.execute(
        select(Case.jurisdiction_code, Case.kind, func.count()).where(Case.closed_at.is_(None))
        .group_by(Case.jurisdiction_code, Case.kind))}


def plain_light_counts(s, user, now, jurisdiction=None) -> list[tuple]:
    light = lights.computed_light_expression(now).label("light")
    sub = (case_lists.case_query(user, jurisdiction=jurisdiction).where(Case.closed_at.is_(None))
           .with_only_columns(Case.jurisdiction_code, Case.kind, light).subquery())
    return sorted(tuple(r) for r in s.execute(
        select(sub.c.jurisdiction_code, sub.c.kind, sub.c.light, func.count())
        .group_by(sub.c.jurisdiction_code, sub.c.kind, sub.c.light)))


def check(db, world, now, step: str) -> dict:
    with db.session() as s:
        counts = actual(s)
        assert stored(s) == counts, step
        for user in (world.officer, world.officer_wz, world.supervisor, world.province):
            for jurisdiction in (None, "320508", "320500"):
                assert sorted(light_count_rows(s, user, now, jurisdiction=jurisdiction)) \
                    == plain_light_counts(s, user, now, jurisdiction), (step, user.username, jurisdiction)
    return counts


def test_open_counts_follow_the_case_life_cycle(db, world, clock):
    drv = ServiceDriver(db, world, clock)
    now = clock.now()
    a = drv.create("hazard")
    counts = check(db, world, now, "created")
    assert counts == {("320508", "hazard"): 1}
    for action in ("register", "start_rectification", "verify", "close"):
        drv.act(a, action)
    assert check(db, world, now, "closed") == {}
    drv.act(a, "reopen")
    assert check(db, world, now, "reopened") == {("320508", "hazard"): 1}

    b = drv.create("hazard")
    drv.act(b, "reclassify")  # the kind changes while open
    assert check(db, world, now, "reclassified") == {("320508", "hazard"): 1, ("320508", "major_hazard"): 1}
    c = drv.create("hazard")
    drv.act(c, "dismiss")
    check(db, world, now, "dismissed")

    d = drv.create("hazard")
    with db.transaction() as s:  # 提级 as the sweep's rung does it (cases.clocks.escalation.escalate)
        case = s.get(Case, d)
        services.record_system_event(s, case, "escalated", {"from": "320508", "to": "320500"}, now=now,
                                     changes={"jurisdiction_code": "320500"}, comment="提级")
    counts = check(db, world, now, "escalated")
    assert counts[("320500", "hazard")] == 1 and counts[("320508", "hazard")] == 1

    e = drv.create("accident")  # 3 deaths: 较大事故, investigated by the prefecture — the case moves up
    drv.act(e, "register", payload=action_payload("accident", "register", world, clock, deaths=3))
    with db.session() as s:
        assert s.get(Case, e).jurisdiction_code == "320500"
    assert check(db, world, now, "accident moved up")[("320500", "accident")] == 1

    with db.transaction() as s:  # a delete (cascades to its events and clocks)
        s.execute(delete(Case).where(Case.id == d))
        s.execute(delete(Case).where(Case.id == c))  # closed: no change
    assert ("320500", "hazard") not in check(db, world, now, "deleted")

    with db.transaction() as s:
        removed = fold_open_counts(s)
    assert removed > 0
    with db.session() as s:
        rows = s.scalar(select(func.count()).select_from(CaseOpenCount))
        assert rows == len(actual(s))
    check(db, world, now, "folded")
    drv.act(a, "verify")  # after a fold the signed rows add up again
    drv.act(a, "close")
    assert ("320508", "hazard") not in check(db, world, now, "closed after the fold")


def test_the_counts_route_folds_when_the_rows_pile_up(db, world, clock, monkeypatch):
    """GET /api/stats/lights collapses the signed rows once there are many, and its figures do not move."""
    from api.routes.deadlines import light_counts
    from cases.reads import light_stats

    drv = ServiceDriver(db, world, clock)
    ids = [drv.create("hazard") for _ in range(4)]
    drv.act(ids[0], "dismiss")
    monkeypatch.setattr(light_stats, "FOLD_AFTER", 2)
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(CaseOpenCount))
    first = light_counts(world.province, db, clock, jurisdiction=None)
    with db.session() as s:
        after = s.scalar(select(func.count()).select_from(CaseOpenCount))
    assert (before, after) == (5, 1)
    assert light_counts(world.province, db, clock, jurisdiction=None).body == first.body


def test_concurrent_writers_lose_no_count(db, world, clock):
    """Transactions creating and dismissing cases of one (jurisdiction, kind) at once, with two threads
    folding in between: the sum is exact (PostgreSQL runs them concurrently; SQLite takes turns)."""
    drv = ServiceDriver(db, world, clock)
    writers = 4
    errors: list[BaseException] = []
    lock, left = threading.Lock(), [writers]

    def write(i: int) -> None:
        try:
            start.wait()
            for j in range(6):
                case_id = drv.create("hazard")
                if j % 2:
                    drv.act(case_id, "dismiss")
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            with lock:
                left[0] -= 1
                if not left[0]:
                    done.set()

    done = threading.Event()

    def fold() -> None:
        try:
            start.wait()
            while not done.is_set():  # until every writer is done
                with db.transaction() as s:
                    fold_open_counts(s)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)] + \
        [threading.Thread(target=fold) for _ in range(2)]  # two folds may run at once too
    start = threading.Barrier(len(threads))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    with db.session() as s:
        assert stored(s) == actual(s) == {("320508", "hazard"): writers * 3}


def test_upgrade_backfills_the_counts(tmp_path):
    """Migrating a database that already has open and closed cases (0007 → 0008) counts them."""
    from datetime import datetime, timezone

    from cases.platform.db import Database
    from cases.platform.migrate import downgrade, upgrade
    from cases.reference import load_reference_data
    from tests.conftest import BACKENDS, _create_pg_database, seed_world

    now = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    for backend in BACKENDS:
        if backend == "sqlite":
            url, drop = f"sqlite:///{tmp_path}/backfill.db", (lambda: None)
        else:
            url, drop = _create_pg_database()
        try:
            upgrade(url)
            db = Database(url)
            with db.transaction() as s:
                load_reference_data(s)
            world = seed_world(db, now)
            with db.transaction() as s:
                for i in range(9):
                    code, kind = [("320508", "hazard"), ("320506", "accident"), ("320500", "hazard")][i % 3]
                    s.add(Case(number=f"320508-YH-2026-7{i:05d}", kind=kind, machine_version=1, state="rectifying",
                               jurisdiction_code=code, origin_jurisdiction_code=code, title="t", description="",
                               location="", created_by_id=world.officer.id, details={}, found_at=now,
                               created_at=now, updated_at=now, closed_at=now if i % 4 == 0 else None))
            db.dispose()
            downgrade(url, "0007_derive")
            db = Database(url)
            with db.session() as s:
                assert s.scalar(text("SELECT count(*) FROM cases")) == 9
            db.dispose()
            upgrade(url)
            db = Database(url)
            with db.session() as s:
                assert stored(s) == actual(s) == {("320508", "hazard"): 2, ("320506", "accident"): 2,
                                                  ("320500", "hazard"): 2}
            db.dispose()
        finally:
            drop()
