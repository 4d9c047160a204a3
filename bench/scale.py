"""Reads and transitions at 10 k and 1 M cases on PostgreSQL, measured side by side in one run.

For each size (``--cases 10000,1000000``; ``--quick``: 10 000 and 100 000):

1. a scratch database ``anjian_scale_<size>_<random>`` on the server (``--admin-url``), migrated with
   the project's migrations (cases/platform/migrate.py), the reference data loaded (cases/reference.py), staff
   added (three officers and a supervisor per county, a supervisor per prefecture and one for the
   province) and 20 enterprises per county;
2. the cases, ~10 events each, their deadlines and timers COPYed in (bench/scale_data.py describes
   the distributions), then ANALYZE; build times are printed per step.

Then, round-robin over the databases (``--rounds`` times, so both sizes see the same machine load), the
service functions behind these endpoints are called in-process (no HTTP: the route function itself,
with a frozen clock, i.e. SQL + ORM + serialisation):

- ``queue``      GET /api/queue             a county officer (their open cases, red first)
- ``overdue``    GET /api/overdue page 1    the province's supervisor, and a prefecture's
- ``stats``      GET /api/stats/lights      counts by jurisdiction x kind x light, province / prefecture
- ``ledger``     GET /api/cases             prefecture supervisor: kind=hazard, state=rectifying, one county
- ``transition`` services.perform_action    ``register`` on a fresh hazard of the officer's county
                                            (one transaction: lock, state, event, deadline, timers, commit)

and p50 / p95 are printed per size with the ratio large/small. ``--explain`` then prints
EXPLAIN (ANALYZE, BUFFERS) for the slowest statement of each read on the largest database.
The databases are dropped at the end unless ``--keep``.

    .venv/bin/python bench/scale.py --quick
    .venv/bin/python bench/scale.py --cases 10000,1000000 --explain
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

# ``--code DIR`` (read before anything is imported): time another checkout's routes on the same
# databases — an A/B of two trees interleaved pass by pass (docs/performance.md "Scale").
ROOT = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv \
    else Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)


# Cases whose stored clock summary (migration 0005_clocksum) differs from their live deadlines.
MISMATCHES = """
SELECT count(*) FROM cases c LEFT JOIN (
  SELECT case_id, min(due_at) AS due_at, min(warn_at) AS warn_at FROM deadlines
   WHERE status = 'open' AND affects_light GROUP BY case_id) l ON l.case_id = c.id
 WHERE c.clock_due_at IS DISTINCT FROM l.due_at OR c.clock_warn_at IS DISTINCT FROM l.warn_at
    OR c.clock_live IS DISTINCT FROM (l.case_id IS NOT NULL)"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Scale:
    """One scratch database of ``n`` cases and the people the measurements act as."""

    def __init__(self, admin_url: str, n: int, open_ratio: float, prefix: str = "anjian_scale") -> None:
        from cases.platform.db import Database, create_scratch_postgres

        self.n = n
        self.url, self.drop = create_scratch_postgres(admin_url, prefix=f"{prefix}_{n}")
        self.name = self.url.rsplit("/", 1)[1]
        t0 = time.perf_counter()
        from cases.platform.migrate import upgrade

        upgrade(self.url)
        self.db = Database(self.url)
        self.times = {"migrate": time.perf_counter() - t0}
        self._people()
        self._bulk(open_ratio)

    def _people(self) -> None:
        from cases.ledger.identifiers import make_credit_code
        from cases.models import Enterprise, Jurisdiction, User
        from cases.reference import load_reference_data
        from bench.scale_data import counties

        t0 = time.perf_counter()
        self.officers: dict[str, list[int]] = {}
        self.enterprises: dict[str, list[int]] = {}
        with self.db.transaction() as s:
            load_reference_data(s)
            s.flush()
            levels = {j.code: j.level for j in s.query(Jurisdiction)}

            def user(name: str, role: str, code: str) -> User:
                u = User(username=name, display_name=name, password_hash="!bench-no-login", role=role,
                         jurisdiction_code=code, active=True, created_at=NOW)
                s.add(u)
                return u

            province = user("sup_320000", "supervisor", "320000")
            prefectures = {c: user(f"sup_{c}", "supervisor", c) for c, lv in levels.items() if lv == "prefecture"}
            staff = {}
            for county, parent in counties():
                sup = user(f"sup_{county}", "supervisor", county)
                offs = [user(f"off_{county}_{i}", "officer", county) for i in range(3)]
                ents = [Enterprise(credit_code=make_credit_code(f"91{county}{i:09d}"), name=f"{county}压测建设有限公司{i}",
                                   jurisdiction_code=county, credit_score=100, created_at=NOW) for i in range(20)]
                s.add_all(ents)
                staff[county] = (sup, offs, ents)
            s.flush()
            for county, (sup, offs, ents) in staff.items():
                for o in offs:
                    o.supervisor_id = sup.id
                self.officers[county] = [o.id for o in offs]
                self.enterprises[county] = [e.id for e in ents]
            self.province_id, self.suzhou_id = province.id, prefectures["320500"].id
            self.officer_id = self.officers["320508"][0]
        self.times["reference+staff"] = time.perf_counter() - t0

    def _bulk(self, open_ratio: float) -> None:
        import psycopg

        from bench.scale_data import generate

        t0 = time.perf_counter()
        dsn = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            self.built = generate(conn, self.n, now=NOW, officers=self.officers, enterprises=self.enterprises,
                                  open_ratio=open_ratio)
        self.times["copy"] = time.perf_counter() - t0
        with psycopg.connect(dsn) as conn:  # the COPYed clock summaries agree with the deadlines rows
            self.summary_mismatches = conn.execute(MISMATCHES).fetchone()[0]
        if self.summary_mismatches:
            raise SystemExit(f"{self.name}: {self.summary_mismatches} cases whose clock summary disagrees with deadlines")
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            self.size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        self.times["vacuum analyze"] = time.perf_counter() - t0

    @classmethod
    def attach(cls, admin_url: str, name: str) -> "Scale":
        """A database built by an earlier run with ``--keep`` (``--reuse``): nothing is built or dropped."""
        from sqlalchemy import func, select
        from sqlalchemy.engine import make_url

        from cases.platform.db import Database
        from cases.models import Case, Enterprise, User

        self = cls.__new__(cls)
        self.url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        self.name, self.drop, self.times, self.built = name, (lambda: None), {}, None
        self.db = Database(self.url)
        with self.db.session() as s:
            self.n = s.scalar(select(func.count()).select_from(Case))
            ids = dict(s.execute(select(User.username, User.id).where(
                User.username.in_(("sup_320000", "sup_320500", "off_320508_0")))).all())
            self.province_id, self.suzhou_id, self.officer_id = ids["sup_320000"], ids["sup_320500"], ids["off_320508_0"]
            self.enterprises = {"320508": list(s.scalars(select(Enterprise.id).where(
                Enterprise.jurisdiction_code == "320508").order_by(Enterprise.id)))}
        return self

    def users(self):
        from cases.models import User

        with self.db.session() as s:
            out = {k: s.get(User, i) for k, i in (("officer", self.officer_id), ("province", self.province_id),
                                                  ("suzhou", self.suzhou_id))}
            for u in out.values():
                s.expunge(u)
        return out

    def fresh_hazards(self, k: int) -> list[int]:
        """k hazards in state found (created through the services layer) for the transition runs."""
        from cases.ledger import services
        from cases.models import User

        with self.db.transaction() as s:
            actor = s.get(User, self.officer_id)
            return [services.create_case(s, actor, {"kind": "hazard", "title": f"压测隐患 {i}", "category": "scaffolding",
                                                    "source": "inspection"}, now=NOW).id for i in range(k)]


def operations(sc: Scale, users, clock):
    """name -> zero-argument callable, each one request's worth of work."""
    from api.routes.cases import list_cases
    from api.routes.deadlines import light_counts, my_queue, overdue
    from cases.ledger import services
    from cases.models import User

    fresh = iter(sc.fresh_hazards(sc.rounds))
    enterprise = sc.enterprises["320508"][0]

    def transition():
        with sc.db.transaction() as s:
            actor = s.get(User, sc.officer_id)
            services.perform_action(s, actor, next(fresh), "register", {
                "enterprise_id": enterprise, "severity": "general", "requirements": "立即整改"}, version=1,
                comment=None, now=NOW)

    def ledger():
        return list_cases(users["suzhou"], sc.db, {"kind": "hazard", "state": "rectifying", "jurisdiction": "320508"},
                          sort="-created_at", page=1, page_size=20)

    return {
        "queue (officer)": lambda: my_queue(users["officer"], sc.db, clock, page=1, page_size=50),
        "overdue p1 (province)": lambda: overdue(users["province"], sc.db, clock, kind=None, jurisdiction=None,
                                                 page=1, page_size=50),
        "overdue p1 (prefecture)": lambda: overdue(users["suzhou"], sc.db, clock, kind=None, jurisdiction=None,
                                                   page=1, page_size=50),
        "stats/lights (province)": lambda: light_counts(users["province"], sc.db, clock, jurisdiction=None),
        "stats/lights (prefecture)": lambda: light_counts(users["suzhou"], sc.db, clock, jurisdiction=None),
        "ledger filter (prefecture)": ledger,
        "transition register": transition,
    }


def explain(sc: Scale, ops) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest statement each read issues."""
    from sqlalchemy import event

    seen: list[tuple[float, str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["t0"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        seen.append((time.perf_counter() - conn.info["t0"], statement, parameters))

    for name, fn in ops.items():
        if name.startswith("transition"):
            continue
        seen.clear()
        event.listen(sc.db.engine, "before_cursor_execute", before)
        event.listen(sc.db.engine, "after_cursor_execute", after)
        try:
            fn()
        finally:
            event.remove(sc.db.engine, "before_cursor_execute", before)
            event.remove(sc.db.engine, "after_cursor_execute", after)
        dt, stmt, params = max(seen, key=lambda x: x[0])
        print(f"\n### {name} ({sc.n:,} cases): {len(seen)} statements, slowest {dt * 1e3:.1f} ms\n")
        print(stmt.strip(), "\n", params, "\n")
        with sc.db.engine.connect() as conn:
            cur = conn.connection.driver_connection.cursor()
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + stmt, params)
            print("\n".join(r[0] for r in cur.fetchall()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="10000,1000000", help="sizes, comma-separated (smallest first)")
    ap.add_argument("--quick", action="store_true", help="10 000 and 100 000 cases")
    ap.add_argument("--open-ratio", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=40, help="samples per operation and size")
    ap.add_argument("--admin-url", default=os.environ.get("ANJIAN_BENCH_ADMIN_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) on the largest database")
    ap.add_argument("--keep", action="store_true", help="keep the databases (their names are printed)")
    ap.add_argument("--reuse", help="databases kept by an earlier run (names, comma-separated, smallest first): "
                                    "measure them instead of building")
    ap.add_argument("--code", help="the checkout whose routes are timed (default: this one)")
    ap.add_argument("--dump", help="append the raw samples as one JSON line per size to this file (with --label)")
    ap.add_argument("--label", default="", help="what --dump records the samples as (e.g. before / after)")
    ap.add_argument("--db-prefix", default="anjian_scale", help="name prefix of the scratch databases")
    args = ap.parse_args()
    sizes = [10_000, 100_000] if args.quick else [int(x) for x in args.cases.split(",")]
    if args.reuse:
        sizes = args.reuse.split(",")

    from cases.platform.clock import Clock

    clock = Clock()
    clock.set(NOW)
    print(f"# bench/scale.py  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  load average {load()}  cpus {os.cpu_count()}")
    scales: list[Scale] = []
    try:
        for n in sizes:
            t0 = time.perf_counter()
            if args.reuse:
                scales.append(Scale.attach(args.admin_url, n))
                print(f"\nreusing {n}: {scales[-1].n:,} cases; code {ROOT}")
                continue
            sc = Scale(args.admin_url, n, args.open_ratio, args.db_prefix)
            scales.append(sc)
            b = sc.built
            print(f"\nbuilt {sc.name}: {b.cases:,} cases ({b.open_cases:,} open: red {b.lights['red']:,} yellow "
                  f"{b.lights['yellow']:,} green {b.lights['green']:,}), {b.events:,} events, {b.deadlines:,} deadlines, "
                  f"{b.timers:,} timers; {sc.size} on disk")
            print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in sc.times.items())
                  + f"; total {time.perf_counter() - t0:.1f} s; load average {load()}")
        for sc in scales:
            sc.rounds = args.rounds + 3
            sc.ops = operations(sc, sc.users(), clock)
            sc.samples = {k: [] for k in sc.ops}
        print(f"\nmeasuring: {args.rounds} rounds (+3 warm-up), sizes interleaved; load average {load()}")
        for r in range(args.rounds + 3):
            for sc in scales:
                for name, fn in sc.ops.items():
                    t0 = time.perf_counter()
                    fn()
                    if r >= 3:
                        sc.samples[name].append((time.perf_counter() - t0) * 1e3)
        print(f"done; load average {load()}\n")
        if args.dump:
            import json

            with open(args.dump, "a") as f:
                for sc in scales:
                    f.write(json.dumps({"label": args.label, "db": sc.name, "n": sc.n, "load": load(),
                                        "samples": sc.samples}) + "\n")
        small, big = scales[0], scales[-1]
        head = "".join(f" | {sc.n:>9,} p50 | {sc.n:>9,} p95" for sc in scales)
        print(f"{'operation (ms)':<28}{head} | p50 ratio")
        for name in small.ops:
            cells = ""
            for sc in scales:
                xs = sorted(sc.samples[name])
                cells += f" | {statistics.median(xs):>13.1f} | {xs[int(len(xs) * 0.95) - 1 if len(xs) > 1 else 0]:>13.1f}"
            ratio = statistics.median(big.samples[name]) / statistics.median(small.samples[name])
            print(f"{name:<28}{cells} | {ratio:8.2f}x")
        if args.explain:
            explain(big, big.ops)
    finally:
        for sc in scales:
            sc.db.dispose()
            if args.keep or args.reuse:
                print(f"kept {sc.name}")
            else:
                sc.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
