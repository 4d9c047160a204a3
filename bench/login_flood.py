"""Latency of /api/cases with and without a flood of bad logins (issue 8, item 2), printed.

An API server in this process (uvicorn, a throw-away SQLite database, loopback port 18100 unless
--port), one officer with 50 cases' worth of nothing (the list is empty: this measures the request
path, not the query). First /api/cases alone, then while ``--flood`` parallel clients send bad logins
as fast as they are answered (throttling limits raised so that every one runs argon2). Prints median
and p95 of /api/cases in both phases and the logins answered per second.

    .venv/bin/python bench/login_flood.py --flood 60 --samples 100
"""
from __future__ import annotations

import os
import sys

# bench/transitions.py would shadow the `transitions` package: drop this directory from the path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import statistics
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from cases.platform.clock import Clock
from cases.platform.config import Settings
from cases.platform.db import Database
from cases.platform.migrate import upgrade
from cases.models import User
from cases.reference import load_reference_data
from cases.platform.security import hash_password, issue_token


def _measure(url: str, token: str, samples: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        for _ in range(samples):
            t = time.perf_counter()
            assert c.get("/api/cases").status_code == 200
            out.append((time.perf_counter() - t) * 1000)
    return out


def _summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    return f"{name:<28} median {statistics.median(ms):7.1f} ms   p95 {ms[int(len(ms) * 0.95) - 1]:7.1f} ms"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--flood", type=int, default=60)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--port", type=int, default=18100)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="anjian-login-flood-"))
    url = f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    db = Database(url)
    clock = Clock()
    with db.transaction() as s:
        load_reference_data(s)
        u = User(username="officer", display_name="officer", password_hash=hash_password("secret-pw"), role="officer",
                 jurisdiction_code="320508", active=True, created_at=clock.now())
        s.add(u)
        s.flush()
        officer_id = u.id
    settings = Settings(secret_key="bench-secret-0123456789-0123456789-abcdef", database_url=url, data_dir=tmp,
                        login_max_failures=10**9, login_max_failures_per_address=10**9)
    app = create_app(database=db, clock=clock, settings=settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{args.port}"
    token = issue_token(officer_id, app.state.signing_key, clock.now(), timedelta(hours=1))
    quiet = _measure(base, token, args.samples)

    stop = threading.Event()
    logins = [0]

    def flood() -> None:
        with httpx.Client(base_url=base, timeout=300) as c:
            while not stop.is_set():
                c.post("/api/auth/token", data={"username": "officer", "password": "wrong-password"})
                logins[0] += 1

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(args.flood)]
    for t in threads:
        t.start()
    time.sleep(2)
    start, before = time.perf_counter(), logins[0]
    loud = _measure(base, token, args.samples)
    rate = (logins[0] - before) / (time.perf_counter() - start)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    server.should_exit = True
    print(_summary("/api/cases alone", quiet))
    print(_summary(f"/api/cases, {args.flood} login clients", loud))
    print(f"bad logins answered: {rate:.1f}/s (argon2 on {settings.login_hash_threads} threads)")


if __name__ == "__main__":
    main()
