"""Server time of the pages people use, p50 / p95 per page, on the demo data and on a large database.

    .venv/bin/python bench/pages.py --demo                       # SQLite, `anjian demo`'s data
    .venv/bin/python bench/scale.py --cases 1000000 --keep       # build 1 M cases once (minutes), then
    .venv/bin/python bench/pages.py --reuse anjian_scale_1000000_xxxx

The app is served in this process on a loopback port (uvicorn, as the test suite serves it) and each
page is fetched over real HTTP with a page session cookie of the user it is for, ``--rounds`` times
after 3 warm-up rounds, pages interleaved. The time is the client's round trip on loopback (request
sent → last byte; for the exports → first byte, since they stream): the server's time plus well under
a millisecond. Goals (issue 10): every page ≤ 200 ms on the demo data; at 1 M cases cockpit counts and
overdue page 1 p95 ≤ 100 ms, a filtered ledger page ≤ 300 ms. A page that does not answer 200 is
reported, not timed.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

DEMO_AT = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
GOALS = {"cockpit": 100, "overdue": 100, "ledger": 300}


def _serve(app) -> tuple[uvicorn.Server, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def _demo(tmp: Path):
    from sqlalchemy import select

    from cases.demo import load_demo
    from cases.models import Case, User
    from cases.platform.db import Database
    from cases.platform.migrate import upgrade
    from cases.reference import load_reference_data

    url = f"sqlite:///{tmp}/pages.db"
    upgrade(url)
    db = Database(url)
    with db.transaction() as s:
        load_reference_data(s)
        load_demo(s, now=DEMO_AT)
    with db.session() as s:
        users = {u.username: u.id for u in s.scalars(select(User))}
        case = s.scalar(select(Case.id).where(Case.closed_at.is_(None), Case.state != "found",
                                              Case.jurisdiction_code == "320508").order_by(Case.id))
    people = {"officer": users["officer"], "city": users["supervisor"], "province": users.get("province", users["supervisor"]),
              "enterprise": users["enterprise"]}
    return db, DEMO_AT, people, case, "320508"


def _scale(admin_url: str, name: str):
    from sqlalchemy import select

    from bench.scale import NOW, Scale
    from cases.models import Case

    sc = Scale.attach(admin_url, name)
    with sc.db.session() as s:
        case = s.scalar(select(Case.id).where(Case.jurisdiction_code == "320508", Case.closed_at.is_(None),
                                              Case.assignee_id == sc.officer_id).limit(1))
    people = {"officer": sc.officer_id, "city": sc.suzhou_id, "province": sc.province_id}
    return sc.db, NOW, people, case, "320508"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", action="store_true", help="SQLite with the demo data")
    ap.add_argument("--reuse", help="a database kept by bench/scale.py --keep")
    ap.add_argument("--admin-url", default=os.environ.get("ANJIAN_BENCH_ADMIN_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    if not (args.demo or args.reuse):
        ap.error("--demo or --reuse NAME")

    from api.app import create_app
    from cases.platform.clock import Clock, set_clock
    from cases.platform.config import Settings
    from cases.platform.security import issue_token

    tmp = Path(tempfile.mkdtemp(prefix="anjian-pages-"))
    db, now, people, case, county = _demo(tmp) if args.demo else _scale(args.admin_url, args.reuse)
    clock = Clock()
    clock.set(now)
    set_clock(clock)
    settings = Settings(secret_key="bench-pages-" + "0" * 32, database_url=db.url, data_dir=tmp / "data")
    app = create_app(database=db, clock=clock, settings=settings)
    app.state.derive_before_response = True
    server, base = _serve(app)
    key = app.state.signing_key
    clients = {}
    for who, uid in people.items():
        c = httpx.Client(base_url=base, timeout=120)
        c.cookies.set("anjian_session", issue_token(uid, key, now, timedelta(days=1)), domain="127.0.0.1")
        clients[who] = c
    ledger_q = f"kind=hazard&state=rectifying&jurisdiction={county}"
    pages = [
        ("workbench", "officer", "/"),
        ("case page", "officer", f"/cases/{case}"),
        ("inbox", "officer", "/inbox"),
        ("cockpit (city)", "city", "/cockpit"),
        ("cockpit (province)", "province", "/cockpit"),
        ("overdue p1 (province)", "province", "/cockpit/overdue"),
        ("supervisions (city)", "city", "/cockpit/supervisions"),
        ("escalation log (city)", "city", "/cockpit/escalations"),
        ("ranking and trend (city)", "city", "/cockpit/performance"),
        ("ledger filtered (city)", "city", f"/ledger?{ledger_q}"),
        ("ledger all (province)", "province", "/ledger"),
        ("export.xlsx first byte (city)", "city", f"/ledger/export.xlsx?{ledger_q}"),
        ("export.csv first byte (city)", "city", f"/ledger/export.csv?{ledger_q}"),
    ]
    if "enterprise" in clients:
        pages.append(("workbench (enterprise)", "enterprise", "/"))
    print(f"# bench/pages.py {'demo (SQLite)' if args.demo else args.reuse}  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
          f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}  cpus {os.cpu_count()}")
    samples: dict[str, list[float]] = {name: [] for name, _, _ in pages}
    broken: dict[str, str] = {}
    for r in range(args.rounds + 3):
        for name, who, path in pages:
            if name in broken:
                continue
            t0 = time.perf_counter()
            with clients[who].stream("GET", path) as resp:
                if "export" in name:
                    next(resp.iter_raw(), b"")
                else:
                    resp.read()
                elapsed = (time.perf_counter() - t0) * 1e3
            if resp.status_code != 200:
                broken[name] = f"{path} answered {resp.status_code}"
                continue
            if r >= 3:
                samples[name].append(elapsed)
    server.should_exit = True
    print(f"{'page (ms)':<34} {'p50':>8} {'p95':>8}  goal")
    for name, _, path in pages:
        if name in broken:
            print(f"{name:<34} {'—':>8} {'—':>8}  not timed: {broken[name]}")
            continue
        xs = sorted(samples[name])
        p95 = xs[max(0, int(len(xs) * 0.95) - 1)]
        goal = next((g for k, g in GOALS.items() if name.startswith(k)), 200) if not args.demo else 200
        print(f"{name:<34} {statistics.median(xs):>8.1f} {p95:>8.1f}  ≤{goal} {'met' if p95 <= goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
