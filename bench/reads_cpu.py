"""CPU per request of the big reads, this code against another copy (e.g. /work/main), in-process.

Wall time on a loaded 2-core machine is mostly the scheduler's; CPU time per request much less so.
This loads the real demo into a throw-away database (as bench/reads.py does), then runs a child
process per copy of the code, alternating copies ``--runs`` times: each builds the app as
``anjian serve`` does (``create_served_app`` where the copy has it), logs in the five demo users and
times ``--requests`` requests per (route, user) with ``time.process_time`` (every thread of the
process: the app's work and ~2–3 ms of Starlette's TestClient). Prints medians over the runs.

    .venv/bin/python bench/reads_cpu.py --versus /work/main
    .venv/bin/python bench/reads_cpu.py --versus /work/main --db postgresql
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

ROUTES = ("/api/inbox", "/api/overdue", "/api/queue", "/api/cases", "/api/cases?page_size=200", "/api/stats/lights",
          "/api/supervisions", "/api/jurisdictions", "/api/projects", "/api/me")
USERS = ("officer", "supervisor", "enterprise", "province", "admin")


def child(requests: int) -> None:
    import time

    from fastapi.testclient import TestClient

    import api.app as appmod

    app = appmod.create_served_app() if hasattr(appmod, "create_served_app") else appmod.create_app()
    client = TestClient(app)
    tokens = {u: client.post("/api/auth/token", data={"username": u, "password": "demo"}).json()["access_token"]
              for u in USERS}
    out = {}
    for u in USERS:
        headers = {"Authorization": "Bearer " + tokens[u]}
        for route in ROUTES:
            for _ in range(3):
                client.get(route, headers=headers)
            cpu = []
            for _ in range(requests):
                t = time.process_time()
                client.get(route, headers=headers)
                cpu.append((time.process_time() - t) * 1000)
            out[f"{route} [{u}]"] = statistics.median(cpu)
    json.dump(out, sys.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versus", required=False, help="another copy of the code (the 'before')")
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.requests)
        return 0
    from bench.reads import loadavg, prepare_db

    trees = {"this": str(ROOT)} | ({"before": args.versus} if args.versus else {})
    with tempfile.TemporaryDirectory(prefix="anjian-reads-cpu-") as tmp:
        env, dropme = prepare_db(args.db, Path(tmp), args.pg_url, str(ROOT))
        try:
            print(f"bench/reads_cpu.py  db={args.db}  load average {loadavg()}")
            results: dict[str, list[dict]] = {name: [] for name in trees}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    run = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                                          "--requests", str(args.requests)], cwd=tmp, check=True,
                                         env={**env, "PYTHONPATH": tree}, capture_output=True, text=True)
                    results[name].append(json.loads(run.stdout))
            med = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
            this = med["this"]
            before = med.get("before")
            print(f"load average {loadavg()}; CPU ms per request, median of {args.runs} runs × {args.requests} requests")
            print(f"{'route [user]':44} {'this':>7}" + (f" {'before':>7} {'ratio':>6}" if before else ""))
            for k in sorted(this, key=lambda k: -(before or this)[k]):
                line = f"{k:44} {this[k]:7.1f}"
                if before:
                    line += f" {before[k]:7.1f} {this[k] / before[k]:6.2f}"
                print(line)
            if before:
                print(f"median ratio: {statistics.median(this[k] / before[k] for k in this):.2f}")
        finally:
            if dropme:
                subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", dropme], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
