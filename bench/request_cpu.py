"""CPU and statements per transition of the request's own part, in process (no HTTP), then of its derivation.

What the API's action route does inside its transaction — ``services.perform_action`` and the
case page it answers with (``api.serialize.case_detail`` with ``allowed_actions``) — for the hazard
walk of bench/transitions.py (register → start_rectification → verify → close, as one officer),
on a throw-away PostgreSQL (or SQLite) database. The documents due are collected, not derived
(``derive.deferred``), so the figure is the request's alone. One thread, one transition at a time:
process CPU time (``time.process_time``) per transition, the statements it sent, and wall time.
After each round, the round's pending events are derived as the derive process derives them
(``derive_pending`` in batches of cases, no rendering): CPU and statements per derived event.

Which code it measures is whatever ``cases``/``api`` import resolves to, so an A/B is two runs:

    PYTHONPATH=$PWD .venv/bin/python bench/request_cpu.py --cases 300            # this checkout
    PYTHONPATH=/work/main .venv/bin/python bench/request_cpu.py --cases 300      # another one
    ... --profile /tmp/x.prof       # cProfile of the measured loop (pstats file)
    ... --db sqlite
"""
from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where bench/transitions.py would shadow the
# `transitions` library the app imports: drop it (the code measured comes from PYTHONPATH).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ACTIONS = [
    ("register", {"severity": "general", "requirements": "立即停止相关部位作业，整改到位后书面回复"}),
    ("start_rectification", {}),
    ("verify", {"opinion": "复查整改到位", "inspectors": "李某、王某"}),
    ("close", {}),
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    p.add_argument("--cases", type=int, default=300, help="hazards walked in the measured loop (default 300)")
    p.add_argument("--warm", type=int, default=20, help="hazards walked first, unmeasured (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="measured loops, each over --cases fresh hazards")
    p.add_argument("--profile", help="write a cProfile of the measured loops here")
    p.add_argument("--pg-url", default=os.environ.get("ANJIAN_BENCH_POSTGRES_URL",
                                                      "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = p.parse_args()

    import api.app  # noqa: F401  (the served app's imports: the documents' preflight, rules, preferences)
    import cases
    from api.serialize import case_detail
    from cases.issuance import derive
    from cases.ledger import services
    from cases.platform.db import Database, create_scratch_postgres
    from cases.issuance.documents import issuing_json
    from cases.platform.migrate import upgrade
    from cases.models import User
    from sqlalchemy import event

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(cases.__file__))))
    from bench.transitions import create_cases, setup_world

    print(f"code: {os.path.dirname(cases.__file__)}; load {open('/proc/loadavg').read().split()[:3]}")
    now = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    if args.db == "postgresql":
        url, drop = create_scratch_postgres(args.pg_url, "anjian_lean_cpu")
    else:
        tmp = tempfile.mkdtemp(prefix="anjian-lean-cpu-")
        url, drop = f"sqlite:///{tmp}/cpu.db", (lambda: None)
    try:
        upgrade(url)
        db = Database(url)
        world = setup_world(db, now)
        total = args.warm + args.cases * args.rounds
        create_cases(db, world, total, now)
        with db.session() as s:
            user = s.get(User, world.officer_id)
            s.expunge(user)
        statements = [0]

        def count(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith("BEGIN"):
                statements[0] += 1

        event.listen(db.engine, "before_cursor_execute", count)

        def walk(case_id: int) -> None:
            version = 1
            for action, fields in ACTIONS:
                payload = {**fields, "enterprise_id": world.enterprise_id} if action == "register" else fields
                with derive.deferred():
                    with db.transaction() as s:
                        case, ev = services.perform_action(s, user, case_id, action, payload, version=version, now=now)
                        case_detail(s, case, services.allowed_actions(s, user, case, now=now), actor=user,
                                    issuing=issuing_json(ev))
                version += 1

        ids = list(range(1, total + 1))
        for cid in ids[:args.warm]:
            walk(cid)
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not wall
        results, derived = [], []
        for r in range(args.rounds):
            chunk = ids[args.warm + r * args.cases: args.warm + (r + 1) * args.cases]
            statements[0] = 0
            if profiler:
                profiler.enable()
            c0, w0 = time.process_time(), time.perf_counter()
            for cid in chunk:
                walk(cid)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            if profiler:
                profiler.disable()
            n = len(chunk) * len(ACTIONS)
            results.append((cpu / n * 1e3, wall / n * 1e3, statements[0] / n))
            print(f"round {r + 1}: {n} transitions, CPU {cpu / n * 1e3:.2f} ms, wall {wall / n * 1e3:.2f} ms, "
                  f"{statements[0] / n:.2f} statements per transition")
            # Then what the derive process does with them (its batches of cases per transaction).
            statements[0] = 0
            c0 = time.process_time()
            events = 0
            while got := derive.derive_pending(db, limit=10 * derive.PG_BATCH_CASES,
                                               batch=derive.PG_BATCH_CASES)["events"]:
                events += got
            dcpu = time.process_time() - c0
            derived.append((dcpu / max(events, 1) * 1e3, statements[0] / max(events, 1)))
            print(f"         derived after: {events} events, CPU {derived[-1][0]:.2f} ms, "
                  f"{derived[-1][1]:.2f} statements per event (no rendering)")
        print(f"median CPU {statistics.median(x[0] for x in results):.2f} ms/transition, wall "
              f"{statistics.median(x[1] for x in results):.2f} ms, statements {results[0][2]:.2f}; "
              f"derived after: median CPU {statistics.median(x[0] for x in derived):.2f} ms/event, "
              f"statements {statistics.median(x[1] for x in derived):.2f}; "
              f"load {open('/proc/loadavg').read().split()[:3]}")
        if profiler:
            profiler.dump_stats(args.profile)
        db.dispose()
    finally:
        drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
