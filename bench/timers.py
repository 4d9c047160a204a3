"""Durable timers drained by ``cases.clocks.sweep.fire_due_batch``: timers/s, lateness, duplicates —
on SQLite and PostgreSQL, one worker and two concurrent worker processes — and, beside it, the
alternative design (one Prefect scheduled flow run per deadline) at a small N.

Workload (per case, all rows bulk-inserted straight into a throw-away migrated database):
  * one ``rectification`` deadline (ladder ``rectification``) with 3 due timers:
    ``remind_before`` (effect remind), ``remind_due_day`` (remind), ``overdue``
    (overdue_warning + warning_letter: a gap-free 文号 and a document message);
  * one ``reinspection`` deadline (ladder ``internal``) with 2 due timers:
    ``remind_before`` (remind), ``overdue`` (overdue_warning).
  So N timers = N/5 cases: 40 % remind_before, 20 % remind_due_day, 40 % overdue (half of those
  issue a warning letter). No ``listing``/``escalate`` rungs (they take the per-timer path).
  Recipients: 10 officers (each with a supervisor who has an email), 1 enterprise contact with an
  email: a remind on a rectification deadline writes 3 outbox rows, an overdue warning 3.

Clock: frozen at (latest fire_at + 1 s). Lateness of a timer = wall-clock seconds from the start of
the drain to the commit of the batch that fired it (i.e. how long a timer that was due when the
sweep started waited for its effects to be durable). Reported as p50/p99 over timers.

Duplicates: rung_firings grouped by (deadline_id, rung) having count > 1; outbox_messages grouped
by dedupe_key having count > 1; plus: every timer fired exactly once, one rung_fired event per
firing, event seqs per case contiguous (1..cases.event_seq).

Each database is seeded once and every run drains its own copy (PostgreSQL: ``CREATE DATABASE …
TEMPLATE``, after one ``VACUUM ANALYZE`` as autovacuum would have done on a live database;
SQLite: a copy of the file), so ``--repeat`` runs and ``--baseline`` runs start from the same
rows. ``--repeat N`` runs every configuration N times, interleaved, and prints medians.
``--baseline REV`` also drains, with one worker, with the sweep module (``cases/clocks/sweep.py``) as of git revision
REV (loaded from ``git show``; the rest of the code is the current one) and prints
current/baseline ratios.

    .venv/bin/python bench/timers.py                         # both databases, 100,000 timers
    .venv/bin/python bench/timers.py --db postgresql --timers 20000 --batch 500
    .venv/bin/python bench/timers.py --db postgresql --repeat 3 --baseline dcad569 --no-prefect
    .venv/bin/python bench/timers.py --prefect-only --prefect-n 200
    .venv/bin/python bench/timers.py --no-prefect
    .venv/bin/python bench/timers.py --insert-methods 2200 --repeat 15   # outbox insert: COPY vs json_to_recordset …
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("ANJIAN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # a Monday, 09:00 Beijing time
TIMERS_PER_CASE = 5


# ---------------------------------------------------------------- databases


def _empty_database(backend: str, tmp: Path) -> tuple[str, callable]:
    """A new, empty database: (url, drop)."""
    if backend == "sqlite":
        path = tmp / f"bench-timers-{uuid.uuid4().hex[:6]}.db"

        def drop_file() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return f"sqlite:///{path}", drop_file
    return _pg_database(None)


def _pg_database(template: str | None) -> tuple[str, callable]:
    from cases.platform.db import create_scratch_postgres

    return create_scratch_postgres(PG_ADMIN, "anjian_bench_timers", template)


def make_database(backend: str, tmp: Path):
    from cases.platform.db import Database
    from cases.platform.migrate import upgrade
    from cases.reference import load_reference_data

    url, drop = _empty_database(backend, tmp)
    upgrade(url)
    db = Database(url)
    with db.transaction() as s:
        load_reference_data(s)
    return db, drop


def settle(backend: str, url: str) -> None:
    """After seeding, before copying: PostgreSQL VACUUM ANALYZE; SQLite: checkpoint the WAL into
    the file, so a plain copy of the file is the whole database."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(u.database) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    import psycopg

    with psycopg.connect(u.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def copy_database(backend: str, url: str, tmp: Path) -> tuple[str, callable]:
    """A copy of a seeded (and settled, disposed) database: (url, drop)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if backend == "sqlite":
        copy_url, drop = _empty_database("sqlite", tmp)
        shutil.copyfile(u.database, make_url(copy_url).database)
        return copy_url, drop
    return _pg_database(u.database)


def seed(db, n_timers: int) -> dict:
    """Bulk-insert cases, deadlines and due timers; returns facts about the workload."""
    from sqlalchemy import insert

    from cases.ledger.identifiers import make_credit_code
    from cases.models import Case, Deadline, Enterprise, Timer, User

    n_cases = max(1, n_timers // TIMERS_PER_CASE)
    t0 = time.perf_counter()
    now = NOW0
    with db.transaction() as s:
        e = Enterprise(credit_code=make_credit_code("91320508MA1T12345"), name="苏州定时器压测建设有限公司",
                       jurisdiction_code="320508", credit_score=100, created_at=now)
        s.add(e)
        s.flush()
        sup = User(username="bench_sup", display_name="压测科长", password_hash="x", role="supervisor",
                   jurisdiction_code="320500", active=True, created_at=now, email="sup@example.gov.cn")
        s.add(sup)
        s.flush()
        officers = []
        for i in range(10):
            u = User(username=f"bench_off{i}", display_name=f"压测监督员{i}", password_hash="x", role="officer",
                     jurisdiction_code="320508", active=True, created_at=now, supervisor_id=sup.id,
                     email=f"off{i}@example.gov.cn")
            s.add(u)
            officers.append(u)
        s.add(User(username="bench_contact", display_name="企业联系人", password_hash="x", role="enterprise",
                   jurisdiction_code="320508", enterprise_id=e.id, active=True, created_at=now, email="c@example.com"))
        s.flush()
        officer_ids = [u.id for u in officers]
        enterprise_id = e.id

    chunk = 2000
    done = 0
    base_due = now - timedelta(days=1)
    while done < n_cases:
        k = min(chunk, n_cases - done)
        with db.transaction() as s:
            rows = [{"number": f"320508-YH-2026-{done + i:07d}", "kind": "hazard", "machine_version": 1,
                     "state": "rectifying", "jurisdiction_code": "320508", "origin_jurisdiction_code": "320508",
                     "title": f"定时器压测隐患 {done + i}", "description": "", "location": "", "source": "inspection",
                     "severity": "general", "enterprise_id": enterprise_id, "assignee_id": officer_ids[(done + i) % 10],
                     "created_by_id": officer_ids[0], "details": {}, "rectification_rounds": 0, "reopen_count": 0,
                     "found_at": now - timedelta(days=10), "created_at": now - timedelta(days=10),
                     "updated_at": now - timedelta(days=10), "version": 1, "event_seq": 0} for i in range(k)]
            case_ids = list(s.scalars(insert(Case).returning(Case.id, sort_by_parameter_order=True), rows))
            drows = []
            for j, cid in enumerate(case_ids):
                due = base_due - timedelta(minutes=(done + j) % 600)
                common = {"case_id": cid, "policy_version": 1, "affects_light": True, "extensions": [], "pauses": [],
                          "due_at": due, "due_date": due.date(), "provisional": False, "calendar_version": "bench",
                          "status": "open", "created_at": now - timedelta(days=10)}
                drows.append({**common, "key": "rectification", "label": "整改期限", "ladder": "rectification",
                              "start_at": due - timedelta(days=7), "amount": 7, "unit": "calendar_day", "max_extension": 30})
                drows.append({**common, "key": "reinspection", "label": "复查期限", "ladder": "internal", "party": "officer",
                              "start_at": due - timedelta(days=3), "amount": 3, "unit": "working_day"})
            dl = list(s.execute(insert(Deadline).returning(Deadline.id, Deadline.case_id, Deadline.ladder, Deadline.due_at,
                                                           sort_by_parameter_order=True), drows))
            trows = []
            for d in dl:
                rungs = (("remind_before", -3 * 86400), ("remind_due_day", -1), ("overdue", 0)) \
                    if d.ladder == "rectification" else (("remind_before", -86400), ("overdue", 0))
                for rung, off in rungs:
                    trows.append({"case_id": d.case_id, "deadline_id": d.id, "rung": rung,
                                  "fire_at": d.due_at + timedelta(seconds=off), "status": "pending", "attempts": 0,
                                  "created_at": now - timedelta(days=10)})
            s.execute(insert(Timer), trows)
        done += k
    with db.session() as s:
        from sqlalchemy import func, select

        n = s.scalar(select(func.count()).select_from(Timer))
        latest = s.scalar(select(func.max(Timer.fire_at)))
        mix = dict(s.execute(select(Timer.rung, func.count()).group_by(Timer.rung)).all())
    return {"cases": n_cases, "timers": n, "seed_s": time.perf_counter() - t0, "latest_fire_at": latest, "mix": mix}


# ---------------------------------------------------------------- draining


def load_escalation(path: str | None):
    """cases.clocks.sweep (the sweep: fire_timer, fire_due_batch), or the module in ``path`` (a baseline
    revision's sweep.py, or its escalation.py before the sweep moved out of it). Since the bulk path moved
    to cases/clocks/escalation_bulk.py, a baseline's fire_due_batch uses today's bulk module: compare
    against revisions before that move, or the per-timer path only."""
    if path is None:
        import cases.clocks.sweep

        return cases.clocks.sweep
    import importlib.util

    name = "escalation_baseline"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def baseline_file(rev: str, tmp: Path) -> str:
    """The sweep's module as of git revision ``rev`` (cases/clocks/sweep.py; before the layout split
    cases/escalation.py), written into ``tmp``."""
    for rel in ("cases/clocks/sweep.py", "cases/escalation.py"):
        shown = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode == 0:
            text = shown.stdout
            break
    else:
        raise SystemExit(f"no sweep module at {rev}")
    path = tmp / "escalation_baseline.py"
    path.write_text(text)
    return str(path)


_DB_TIME: dict | None = None  # while a --breakdown drain runs: seconds in the database, by kind


def _breakdown(db) -> dict:
    """Time spent in the database while draining (``--breakdown``): PostgreSQL — time blocked in
    psycopg (server work plus round trips), by COPY / statements / commit; SQLite — time in
    statements (the database runs in-process). The rest of the drain is Python."""
    import collections

    from sqlalchemy import event

    global _DB_TIME
    _DB_TIME = collections.Counter()
    if db.dialect == "postgresql":
        import psycopg

        if not getattr(psycopg.Connection.wait, "bench_timer", False):
            real_wait = psycopg.Connection.wait

            def wait(self, gen, *args, **kwargs):
                if _DB_TIME is None:
                    return real_wait(self, gen, *args, **kwargs)
                t = time.perf_counter()
                try:
                    return real_wait(self, gen, *args, **kwargs)
                finally:
                    name = getattr(gen, "__name__", "")
                    kind = "COPY" if "copy" in name else "commit" if "commit" in name else "statements"
                    _DB_TIME[f"db {kind}"] += time.perf_counter() - t

            wait.bench_timer = True
            psycopg.Connection.wait = wait
    else:
        @event.listens_for(db.engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["bench_t0"] = time.perf_counter()

        @event.listens_for(db.engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):
            kind = "inserts" if statement.startswith("INSERT") else "statements"
            _DB_TIME[f"db {kind}"] += time.perf_counter() - conn.info["bench_t0"]
    return _DB_TIME


def _drain(url: str, now: datetime, batch: int, worker: str, out=None, impl: str | None = None, barrier=None,
           breakdown: bool = False) -> dict:
    """Loop fire_due_batch until nothing is due; one (count, wall-clock time of commit) per batch.
    With ``barrier``: set up (imports, engine) first, then wait there for the other workers."""
    import logging

    from cases.platform.db import Database

    logging.getLogger("anjian.escalation").setLevel(os.environ.get("BENCH_ESCALATION_LOG", "CRITICAL"))
    try:  # as in the sweep flow (workflows/flows.py): channels from the users' preferences
        import notifications.delivery.preferences  # noqa: F401
    except ImportError:
        pass
    fire_due_batch = load_escalation(impl).fire_due_batch
    db = Database(url)
    stats = _breakdown(db) if breakdown else None
    batches = []
    totals = {"fired": 0, "duplicate": 0, "stale": 0, "failed": 0}
    empty = 0
    if barrier is not None:
        barrier.wait()
    busy = 0.0
    while True:
        t0 = time.perf_counter()
        counts = fire_due_batch(db, now, limit=batch, worker=worker)
        busy += time.perf_counter() - t0
        t = time.time()
        if counts["seen"]:
            batches.append((counts["fired"], t))
        for k in totals:
            totals[k] += counts[k]
        if counts["seen"] == 0:
            # Another worker may still hold rows locked (skip locked): look again briefly.
            empty += 1
            if empty >= 3:
                break
            time.sleep(0.05)
            continue
        empty = 0
    db.dispose()
    result = {"worker": worker, "batches": batches, "totals": totals}
    if stats is not None:
        global _DB_TIME
        result["breakdown"] = {"total": busy, **stats}
        _DB_TIME = None
    if out is not None:
        out.put(result)
    return result


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def check(db) -> dict:
    from sqlalchemy import func, select, text

    from cases.models import CaseEvent, OutboxMessage, RungFiring, Timer

    with db.session() as s:
        dup_firings = s.scalar(select(func.count()).select_from(
            select(RungFiring.deadline_id, RungFiring.rung).group_by(RungFiring.deadline_id, RungFiring.rung)
            .having(func.count() > 1).subquery()))
        dup_outbox = s.scalar(select(func.count()).select_from(
            select(OutboxMessage.dedupe_key).group_by(OutboxMessage.dedupe_key).having(func.count() > 1).subquery()))
        firings = s.scalar(select(func.count()).select_from(RungFiring))
        # Late reminders no longer true are skipped, not fired (docs/legal-time.md "Late rungs").
        pending = s.scalar(select(func.count()).select_from(Timer).where(Timer.status.not_in(("fired", "skipped"))))
        skipped = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "skipped"))
        events = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "rung_fired"))
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage))
        # seqs contiguous: per case count == max == min+count-1 == cases.event_seq
        bad_seq = s.execute(text(
            "SELECT count(*) FROM cases c LEFT JOIN (SELECT case_id, count(*) n, min(seq) lo, max(seq) hi "
            "FROM case_events GROUP BY case_id) e ON e.case_id = c.id "
            "WHERE coalesce(e.n, 0) <> c.event_seq OR coalesce(e.hi, 0) <> c.event_seq OR coalesce(e.lo, 1) <> 1")).scalar()
        docs = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.document_no.is_not(None)))
        distinct_docs = s.scalar(select(func.count(func.distinct(OutboxMessage.document_no))))
    return {"duplicate_firings": dup_firings, "duplicate_outbox": dup_outbox, "firings": firings,
            "timers_not_fired": pending, "timers_skipped": skipped, "rung_fired_events": events, "outbox_rows": outbox,
            "cases_with_bad_seq": bad_seq, "document_numbers": distinct_docs, "document_messages": docs}


def seed_template(backend: str, n: int, tmp: Path) -> dict:
    """Migrate and seed a database once; runs drain copies of it."""
    db, drop = make_database(backend, tmp)
    try:
        facts = seed(db, n)
        url = db.url
        db.dispose()
        settle(backend, url)
    except BaseException:
        drop()
        raise
    return {"url": url, "drop": drop, **facts}


def run_timers(backend: str, template: dict, batch: int, workers: int, tmp: Path, impl: str | None = None,
               breakdown: bool = False) -> dict:
    url, drop = copy_database(backend, template["url"], tmp)
    try:
        facts = {k: v for k, v in template.items() if k not in ("url", "drop", "latest_fire_at")}
        now = template["latest_fire_at"] + timedelta(seconds=1)
        if workers == 1:
            start = time.time()
            results = [_drain(url, now, batch, "bench-w0", None, impl, None, breakdown)]
        else:  # the clock starts when every worker process is ready
            ctx = mp.get_context("spawn")
            q, barrier = ctx.Queue(), ctx.Barrier(workers + 1)
            procs = [ctx.Process(target=_drain, args=(url, now, batch, f"bench-w{i}", q, impl, barrier))
                     for i in range(workers)]
            for p in procs:
                p.start()
            barrier.wait()
            start = time.time()
            results = [q.get() for _ in procs]
            for p in procs:
                p.join()
        elapsed = max((b[-1][1] - start for r in results for b in [r["batches"]] if b), default=0.0)
        lateness = []
        for r in results:
            for fired, t in r["batches"]:
                lateness.extend([t - start] * fired)
        fired = sum(r["totals"]["fired"] for r in results)
        from cases.platform.db import Database

        db = Database(url)
        checks = check(db)
        db.dispose()
        return {"db": backend, "impl": "baseline" if impl else "current", "workers": workers, "batch": batch, **facts,
                "fired": fired, "seconds": elapsed, "timers_per_s": fired / elapsed if elapsed else 0,
                "lateness_p50_s": _pct(lateness, 50), "lateness_p99_s": _pct(lateness, 99),
                "per_worker": {r["worker"]: r["totals"] for r in results}, **checks,
                **({"breakdown": results[0]["breakdown"]} if "breakdown" in results[0] else {})}
    finally:
        drop()


# ---------------------------------------------------------------- outbox insert methods


def run_insert_methods(rows_per_statement: int, reps: int, tmp: Path) -> dict:
    """The outbox rows of a drained batch, re-keyed, into ``outbox_messages`` (PostgreSQL) by each
    candidate method, interleaved; one committed transaction per statement. Each timing includes
    building the method's parameter from the row tuples in Python. Median and min ms."""
    import psycopg
    from sqlalchemy.engine import make_url

    from cases.platform.db import Database
    from cases.clocks.sweep import fire_due_batch
    from cases.clocks.bulk_rows import OUTBOX_COLS as _OUTBOX_COLS

    template = seed_template("postgresql", max(5000, rows_per_statement), tmp)
    url, drop = copy_database("postgresql", template["url"], tmp)
    try:
        db = Database(url)
        now = template["latest_fire_at"] + timedelta(seconds=1)
        while fire_due_batch(db, now, limit=2000)["seen"]:
            pass
        db.dispose()
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = psycopg.connect(dsn)
        cols = ", ".join(_OUTBOX_COLS)
        rows = conn.execute(f"SELECT {cols.replace('variables', 'variables::text')} FROM outbox_messages ORDER BY id "
                            f"LIMIT %s", (rows_per_statement,)).fetchall()
        conn.rollback()
        types = {"dedupe_key": "text", "case_id": "bigint", "template": "text", "recipient_user_id": "bigint",
                 "recipient_address": "text", "channel": "text", "variables": "json", "document_no": "text",
                 "urgent": "boolean", "status": "text", "attempts": "integer", "next_attempt_at": "timestamptz",
                 "created_at": "timestamptz"}
        key = {"n": 0}

        def keyed():
            key["n"] += 1
            return [(f"m{key['n']}:{r[0]}",) + tuple(r[1:]) for r in rows]

        def as_json(rs, kind):
            parts = []
            for r in rs:
                d = {c: (v.isoformat() if isinstance(v, datetime) else v) for c, v in zip(_OUTBOX_COLS, r) if c != "variables"}
                parts.append(json.dumps(d, ensure_ascii=False)[:-1] + ', "variables": ' + r[6] + "}")
            record = ", ".join(f"{c} {kind if c == 'variables' else types[c]}" for c in _OUTBOX_COLS)
            conn.execute(f"INSERT INTO outbox_messages ({cols}) SELECT {cols} FROM {kind}_to_recordset(%s::{kind}) "
                         f"AS x({record}) ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
                         ("[" + ", ".join(parts) + "]",)).fetchall()

        def unnest(rs):
            arrays = [list(col) for col in zip(*rs)]
            sel = ", ".join(f"%s::{types[c]}[]" for c in _OUTBOX_COLS)
            conn.execute(f"INSERT INTO outbox_messages ({cols}) SELECT * FROM unnest({sel}) "
                         f"ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key", arrays).fetchall()

        def copy_rows(rs):
            with conn.cursor().copy(f"COPY outbox_messages ({cols}) FROM STDIN") as cp:
                for r in rs:
                    cp.write_row(r)

        methods = {"INSERT … SELECT FROM json_to_recordset(:rows) ON CONFLICT DO NOTHING RETURNING": lambda rs: as_json(rs, "json"),
                   "INSERT … SELECT FROM jsonb_to_recordset(:rows) ON CONFLICT DO NOTHING RETURNING": lambda rs: as_json(rs, "jsonb"),
                   "INSERT … SELECT FROM unnest(:arrays) ON CONFLICT DO NOTHING RETURNING": unnest,
                   "COPY FROM STDIN, psycopg write_row per tuple": copy_rows}
        times: dict[str, list[float]] = {m: [] for m in methods}
        for rep in range(reps):
            for name, fn in (list(methods.items()) if rep % 2 == 0 else list(methods.items())[::-1]):
                rs = keyed()
                t = time.perf_counter()
                fn(rs)
                conn.commit()
                times[name].append(time.perf_counter() - t)
        conn.close()
    finally:
        drop()
        template["drop"]()
    out = {"rows": len(rows), "reps": reps,
           "methods": {m: {"median_ms": statistics.median(v) * 1000, "min_ms": min(v) * 1000} for m, v in times.items()}}
    for m, v in out["methods"].items():
        print(f"insert     {len(rows):,} outbox rows: {v['median_ms']:7.1f} ms median, {v['min_ms']:6.1f} min  {m}", flush=True)
    return out


# ---------------------------------------------------------------- the Prefect alternative


PREFECT_FLOW = r'''
import os, sys, time
from prefect import flow

@flow(name="bench-fire-deadline", log_prints=False)
def fire_deadline(deadline_id: int, rung: str, fire_at: str):
    # The effect under test is the scheduling, not the work: record the start time.
    with open(os.environ["BENCH_OUT"], "a") as f:
        f.write(f"{deadline_id},{rung},{fire_at},{time.time()}\n")

if __name__ == "__main__":
    fire_deadline.serve(name="per-deadline", limit=int(os.environ.get("BENCH_LIMIT", "10")))
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_prefect(n: int, exec_window: float, tmp: Path) -> dict:
    """N deadline rungs as N scheduled flow runs of a served deployment on a real `prefect server start`."""
    import asyncio
    import urllib.request

    home = tmp / "prefect-home"
    home.mkdir(exist_ok=True)
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_UI_ENABLED": "false"}
    venv_bin = Path(sys.executable).parent
    prefect_bin = venv_bin / "prefect"
    server = subprocess.Popen([str(prefect_bin), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=open(tmp / "prefect-server.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    served = None
    out: dict = {"n": n}
    try:
        t0 = time.time()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
                break
            except Exception:
                if time.time() - t0 > 90 or server.poll() is not None:
                    raise RuntimeError("prefect server did not become healthy (see prefect-server.log)")
                time.sleep(0.5)
        out["server_healthy_s"] = time.time() - t0
        flow_file = tmp / "bench_prefect_flow.py"
        flow_file.write_text(PREFECT_FLOW)
        record = tmp / "prefect-fired.csv"
        record.write_text("")
        served = subprocess.Popen([sys.executable, str(flow_file)], env={**env, "BENCH_OUT": str(record)},
                                  stdout=open(tmp / "prefect-serve.log", "w"), stderr=subprocess.STDOUT,
                                  start_new_session=True, cwd=str(tmp))
        os.environ.update({k: v for k, v in env.items() if k.startswith("PREFECT_")})
        from prefect.client.orchestration import get_client
        from prefect.states import Scheduled

        async def wait_deployment():
            async with get_client() as client:
                for _ in range(240):
                    try:
                        return (await client.read_deployment_by_name("bench-fire-deadline/per-deadline")).id
                    except Exception:
                        await asyncio.sleep(0.5)
                raise RuntimeError("deployment never appeared (see prefect-serve.log)")

        dep_id = asyncio.run(wait_deployment())
        # All due "now": scheduled_time = now (the same as the timer rows, which are all overdue).
        base = datetime.now(timezone.utc)

        async def create():
            async with get_client() as client:
                t = time.perf_counter()
                for i in range(n):
                    at = base + timedelta(milliseconds=i)
                    await client.create_flow_run_from_deployment(
                        dep_id, parameters={"deadline_id": i, "rung": "overdue", "fire_at": at.isoformat()},
                        state=Scheduled(scheduled_time=at))
                return time.perf_counter() - t

        create_s = asyncio.run(create())
        created_at = time.time()
        out["create_s"] = create_s
        out["create_runs_per_s"] = n / create_s
        deadline = created_at + exec_window
        while time.time() < deadline:
            lines = [l for l in record.read_text().splitlines() if l]
            if len(lines) >= n:
                break
            time.sleep(1)
        lines = [l.split(",") for l in record.read_text().splitlines() if l]
        executed = len(lines)
        out["executed"] = executed
        out["exec_window_s"] = min(exec_window, time.time() - created_at)
        if executed:
            lat = [float(l[3]) - datetime.fromisoformat(l[2]).timestamp() for l in lines]
            span = max(float(l[3]) for l in lines) - created_at
            out["exec_runs_per_s"] = executed / max(span, 1e-6)
            out["lateness_p50_s"] = _pct(lat, 50)
            out["lateness_p99_s"] = _pct(lat, 99)
        else:
            out["exec_runs_per_s"] = 0.0
    finally:
        for p in (served, server):
            if p is not None and p.poll() is None:
                try:
                    os.killpg(p.pid, 15)
                    p.wait(timeout=30)
                except Exception:
                    os.killpg(p.pid, 9)
    return out


# ---------------------------------------------------------------- main


def fmt(r: dict) -> str:
    return (f"{r['db']:<10} {r['impl']:<8} workers={r['workers']} batch={r['batch']} timers={r['timers']:,} fired={r['fired']:,} "
            f"in {r['seconds']:.2f}s → {r['timers_per_s']:,.0f} timers/s; lateness p50 {r['lateness_p50_s']:.2f}s "
            f"p99 {r['lateness_p99_s']:.2f}s; duplicates: firings {r['duplicate_firings']} outbox {r['duplicate_outbox']}; "
            f"not fired {r['timers_not_fired']}; rung_fired events {r['rung_fired_events']:,}; outbox rows "
            f"{r['outbox_rows']:,}; bad seq cases {r['cases_with_bad_seq']}; 文号 {r['document_numbers']:,} "
            f"(seed {r['seed_s']:.1f}s)")


def fmt_breakdown(r: dict) -> str:
    b = r["breakdown"]
    db = {k: v for k, v in b.items() if k.startswith("db ")}
    py = b["total"] - sum(db.values())
    parts = ", ".join(f"{k[3:]} {v:.1f}s" for k, v in sorted(db.items(), key=lambda kv: -kv[1]))
    return (f"breakdown  {r['db']:<10} {r['impl']:<8} batch={r['batch']}: {b['total']:.1f}s in fire_due_batch = "
            f"database {sum(db.values()):.1f}s ({parts}) + Python {py:.1f}s "
            f"({1e6 * sum(db.values()) / r['fired']:.0f} + {1e6 * py / r['fired']:.0f} µs per timer)")


def summarize(rows: list[dict], baseline: str | None) -> list[dict]:
    """Medians per (database, implementation, workers); prints them and current/baseline ratios."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["db"], r["impl"], r["workers"], r["batch"]), []).append(r)
    out = []
    for (db, impl, workers, batch), rs in groups.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("timers_per_s", "seconds", "lateness_p50_s", "lateness_p99_s")}
        bad = sum(r["duplicate_firings"] + r["duplicate_outbox"] + r["timers_not_fired"] + r["cases_with_bad_seq"] for r in rs)
        out.append({"db": db, "impl": impl, "workers": workers, "batch": batch, "runs": len(rs), **med, "problems": bad,
                    "outbox_per_timer": rs[0]["outbox_rows"] / max(rs[0]["fired"], 1)})
        print(f"median     {db:<10} {impl:<8} workers={workers} batch={batch} over {len(rs)} run(s): "
              f"{med['timers_per_s']:,.0f} timers/s "
              f"({med['seconds']:.1f}s for {rs[0]['fired']:,}); lateness p50 {med['lateness_p50_s']:.1f}s p99 "
              f"{med['lateness_p99_s']:.1f}s; duplicates/unfired/bad seqs in all runs: {bad}", flush=True)
    for s in out:
        base = next((b for b in out if b["impl"] == "baseline" and b["db"] == s["db"] and b["workers"] == s["workers"]
                     and b["batch"] == s["batch"]), None)
        if s["impl"] == "current" and base:
            print(f"ratio      {s['db']:<10} workers={s['workers']} batch={s['batch']}: current / baseline {baseline} = "
                  f"{s['timers_per_s'] / base['timers_per_s']:.1f}×", flush=True)
    return out


def main(argv=None) -> int:
    from cases.platform.config import get_settings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--timers", type=int, default=100_000)
    ap.add_argument("--batch", type=int, nargs="+", default=[get_settings().timer_batch_size],
                    help="batch size(s); the baseline runs with the first")
    ap.add_argument("--workers", type=int, nargs="*", default=None,
                    help="worker counts (default: 1 on each db, plus 2 on PostgreSQL)")
    ap.add_argument("--no-prefect", action="store_true")
    ap.add_argument("--prefect-only", action="store_true")
    ap.add_argument("--prefect-n", type=int, default=200)
    ap.add_argument("--prefect-window", type=float, default=120.0, help="seconds to let served runs execute")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (interleaved); medians are printed")
    ap.add_argument("--baseline", metavar="REV",
                    help="also drain with the sweep module as of this git revision (one worker)")
    ap.add_argument("--insert-methods", type=int, metavar="ROWS",
                    help="only compare ways of inserting ROWS outbox rows into PostgreSQL (COPY, json_to_recordset, …)")
    ap.add_argument("--breakdown", action="store_true",
                    help="one-worker runs: time in the database (by kind) and in Python")
    ap.add_argument("--json", help="write all results to this file")
    args = ap.parse_args(argv)

    import logging
    logging.getLogger("anjian.escalation").setLevel(os.environ.get("BENCH_ESCALATION_LOG", "CRITICAL"))
    tmp = Path(tempfile.mkdtemp(prefix="anjian-bench-timers-"))
    results: dict = {"timers": [], "prefect": None}
    if args.insert_methods:
        try:
            results["insert_methods"] = run_insert_methods(args.insert_methods, max(args.repeat, 5), tmp)
        finally:
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2, default=str))
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    print(f"workload: {args.timers:,} due timers over {args.timers // TIMERS_PER_CASE:,} hazard cases; per case a "
          f"rectification deadline (remind_before, remind_due_day, overdue[+warning letter]) and a reinspection deadline "
          f"(remind_before, overdue): 40% remind_before, 20% remind_due_day, 40% overdue; batch {', '.join(map(str, args.batch))}", flush=True)
    try:
        if not args.prefect_only:
            impls = [None] + ([baseline_file(args.baseline, tmp)] if args.baseline else [])
            backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
            for backend in backends:
                counts = args.workers or ([1, 2] if backend == "postgresql" else [1])
                template = seed_template(backend, args.timers, tmp)
                print(f"{backend:<10} seeded {template['timers']:,} timers in {template['seed_s']:.1f}s", flush=True)
                try:
                    # the baseline runs with one worker and the first batch size only (its
                    # two-worker runs take minutes)
                    configs = [(impl, w, b) for w in counts for b in args.batch for impl in impls
                               if impl is None or (w == 1 and b == args.batch[0])]
                    for rep in range(args.repeat):
                        for impl, w, b in (configs if rep % 2 == 0 else configs[::-1]):
                            r = run_timers(backend, template, b, w, tmp, impl, args.breakdown)
                            r["rep"] = rep
                            results["timers"].append(r)
                            print(fmt(r), flush=True)
                            if "breakdown" in r:
                                print(fmt_breakdown(r), flush=True)
                finally:
                    template["drop"]()
            results["summary"] = summarize(results["timers"], args.baseline)
        if not args.no_prefect:
            n = args.prefect_n
            try:
                p = run_prefect(n, args.prefect_window, tmp)
                results["prefect"] = p
                print(f"prefect    one scheduled flow run per deadline, N={n}: create {p['create_runs_per_s']:.1f} runs/s; "
                      f"executed {p['executed']}/{n} in {p['exec_window_s']:.0f}s → {p['exec_runs_per_s']:.2f} runs/s"
                      + (f"; lateness p50 {p['lateness_p50_s']:.1f}s p99 {p['lateness_p99_s']:.1f}s" if p["executed"] else ""),
                      flush=True)
                summary = results.get("summary") or []
                ref = next((r for r in summary if r["db"] == "postgresql" and r["impl"] == "current" and r["workers"] == 1
                            and r["batch"] == args.batch[0]),
                           next((r for r in summary if r["impl"] == "current"), None))
                if ref:
                    print(f"ratio      durable timers ({ref['db']}, 1 worker, batch {ref['batch']}, median) vs Prefect run "
                          f"per deadline: "
                          f"{ref['timers_per_s'] / p['create_runs_per_s']:,.0f}× the Prefect create rate, "
                          f"{ref['timers_per_s'] / max(p['exec_runs_per_s'], 1e-9):,.0f}× its execute rate", flush=True)
            except Exception as exc:
                print(f"prefect    FAILED: {type(exc).__name__}: {exc} (logs in {tmp})", flush=True)
                results["prefect"] = {"error": str(exc)}
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        if results.get("prefect") is None or "error" not in (results.get("prefect") or {}):
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
