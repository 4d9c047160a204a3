"""Write cost of the open-count trigger and the counts' indexes (migration 0008_counts) on a database
built by bench/scale.py --keep, in rolled-back transactions, variants interleaved: 2000 open cases closed
(closed_at set: the trigger appends 2000 rows) and 2000 open cases given a new state (a non-HOT update,
as every transition makes: one more entry in ix_cases_open_j_warn). Nothing is kept.

    .venv/bin/python bench/open_counts_write.py <database name> [rounds]
"""
import os, statistics, sys, time
import psycopg
dsn = "postgresql://postgres@127.0.0.1:5432/" + sys.argv[1]
OFF = ["DROP INDEX ix_cases_open_j_warn", "DROP INDEX ix_cases_open_due_first", "DROP INDEX ix_cases_open_unclocked",
       "ALTER TABLE cases DISABLE TRIGGER cases_open_counts_upd"]
STMTS = {"close 2000": "UPDATE cases SET closed_at = now() WHERE id IN (SELECT id FROM cases WHERE closed_at IS NULL ORDER BY id LIMIT 2000 OFFSET %s)",
         "new state 2000": "UPDATE cases SET state = state || '_' WHERE id IN (SELECT id FROM cases WHERE closed_at IS NULL ORDER BY id LIMIT 2000 OFFSET %s)"}
res = {(k, v): [] for k in STMTS for v in ("with", "no trigger", "without")}
with psycopg.connect(dsn) as conn:
    for r in range(int(sys.argv[2]) if len(sys.argv) > 2 else 5):
        for name, sql in STMTS.items():
            for variant in ("with", "no trigger", "without"):
                with conn.transaction(force_rollback=True):
                    for s in (OFF if variant == "without" else OFF[3:] if variant == "no trigger" else []):
                        conn.execute(s)
                    conn.execute("SELECT 1")
                    t = time.perf_counter()
                    conn.execute(sql, (r * 2000 + 20000,))
                    res[(name, variant)].append((time.perf_counter() - t) * 1e3)
print("load", " ".join(f"{x:.2f}" for x in os.getloadavg()))
for (name, variant), xs in res.items():
    print(f"{name:16} {variant:8} median {statistics.median(xs):7.1f} ms  ({', '.join(f'{x:.0f}' for x in xs)})")
