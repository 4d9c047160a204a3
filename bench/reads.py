"""Every GET route under /api on the demo data, per role: p50/p95 per route, plus login.

What it does, per database (a throw-away one: a SQLite file in a temporary directory, or a new
PostgreSQL database dropped afterwards):

1. ``anjian db upgrade`` and ``anjian demo`` into it (the real demo: ~200 cases driven through the
   services, with their messages, deadlines and supervisions);
2. starts ``anjian serve --no-prefect`` as a separate process on a loopback port (``--stack`` picks
   uvicorn's HTTP parser and event loop: ``h11/asyncio`` or ``httptools/uvloop``);
3. logs in the demo users of each role (officer, supervisor, admin, enterprise, and province);
4. walks the app's GET routes (from its own /openapi.json), filling path parameters with real ids
   read through the API (the first case, supervision, document, enterprise of the user's lists);
5. measures each (route, user) in interleaved rounds: one request of every route per round, the
   rounds repeated ``--rounds`` times, so a burst of load on the shared machine hits every route alike.

Time is measured on the client over loopback, one keep-alive connection (http.client), from writing
the request to reading the whole body: the server's time plus one loopback round trip (~0.1 ms).
Login is measured the same way (POST /api/auth/token, one argon2 verification per request).

    .venv/bin/python bench/reads.py                       # SQLite
    .venv/bin/python bench/reads.py --db postgresql --rounds 30
    .venv/bin/python bench/reads.py --versus /work/main     # before/after, alternating request by request
    .venv/bin/python bench/reads.py --extra-path DIR --compare-stacks
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-not-for-production-0123456789"
USERS = ("officer", "supervisor", "admin", "enterprise", "province")
PASSWORD = "demo"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port(start: int, end: int) -> int:
    for port in range(start, end):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit(f"no free port in {start}-{end}")


class Server:
    def __init__(self, env: dict[str, str], port: int, workdir: Path, stack: str, extra_path: str | None):
        self.port = port
        env = dict(env)
        env["ANJIAN_PORT"] = str(port)
        if extra_path:
            env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], extra_path])
        env["ANJIAN_UVICORN_STACK"] = stack
        self.log = open(workdir / f"serve-{port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "anjian.cli", "serve", "--no-prefect", "--no-access-log",
                                      "--port", str(port)], cwd=str(workdir), env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"server did not start, see {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Client:
    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, token: str | None = None, body: bytes | None = None,
             ctype: str | None = None) -> tuple[int, bytes, float]:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if ctype:
            headers["Content-Type"] = ctype
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data, (time.perf_counter() - t0) * 1000
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                # uvicorn closes a keep-alive connection idle for 5 s: reconnect (not timed)
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def login(self, username: str) -> tuple[str, float]:
        body = urllib.parse.urlencode({"username": username, "password": PASSWORD}).encode()
        status, data, ms = self.call("POST", "/api/auth/token", body=body, ctype="application/x-www-form-urlencoded")
        if status != 200:
            raise SystemExit(f"login {username}: {status} {data[:200]!r}")
        return json.loads(data)["access_token"], ms


def first_id(client: Client, token: str, path: str, key: str = "id"):
    status, data, _ = client.call("GET", path, token)
    if status != 200:
        return None
    body = json.loads(data)
    items = body.get("items", body) if isinstance(body, dict) else body
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and it.get(key) is not None:
            return it[key]
    return None


def fill(client: Client, token: str, path: str, cache: dict) -> str | None:
    """``path`` with its parameters replaced by real ids this user can see (None: nothing to show)."""
    def case_id():
        if "case" not in cache:
            cache["case"] = first_id(client, token, "/api/cases?page_size=50")
        return cache["case"]

    def doc_id():
        if "doc" not in cache:
            cache["doc"] = None
            cid = case_id()
            if cid is not None:
                cache["doc"] = first_id(client, token, f"/api/cases/{cid}/documents")
        return cache["doc"]

    values = {
        "case_id": case_id,
        "supervision_id": lambda: cache.setdefault("sup", first_id(client, token, "/api/supervisions")),
        "doc_id": doc_id,
        "enterprise_id": lambda: cache.setdefault("ent", first_id(client, token, "/api/enterprises")),
        "kind": lambda: "hazard",
        "role": lambda: "officer",
        "name": lambda: "email",
    }
    out = path
    for name in re.findall(r"{(\w+)}", path):
        v = values.get(name, lambda: None)()
        if v is None:
            return None
        out = out.replace("{" + name + "}", str(v))
    if path == "/api/calendar/deadline":
        out += "?amount=10&unit=working_day"
    return out


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def prepare_db(kind: str, work: Path, pg_url: str, app_dir: str) -> tuple[dict[str, str], str | None]:
    env = dict(os.environ)
    env.update({"ANJIAN_DATA_DIR": str(work / "var"), "ANJIAN_SECRET_KEY": SECRET, "PYTHONPATH": app_dir,
                "ANJIAN_ENV": "development"})
    dropme = None
    if kind == "postgresql":
        name = f"anjian_reads_{uuid.uuid4().hex[:8]}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
        dropme = name
        base = pg_url.rsplit("/", 1)[0]
        env["ANJIAN_DATABASE_URL"] = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    for cmd in (["-m", "anjian.cli", "db", "upgrade"], ["-m", "anjian.cli", "demo"], ["-c", DELIVER]):
        subprocess.run([sys.executable, *cmd], cwd=str(work), env=env, check=True, stdout=subprocess.DEVNULL)
    return env, dropme


# What the delivery workers would have done by now: the demo's messages delivered (the in-app
# inbox shows only delivered messages; unconfigured channels fall back to it).
DELIVER = """
import notifications.delivery.preferences
from cases.platform.clock import now
from cases.platform.db import get_database
from notifications.delivery.service import deliver_pending
db = get_database()
while deliver_pending(db, now(), limit=500).get("sent"):
    pass
"""


def measure(ports: list[int], rounds: int, logins: int) -> list[dict]:
    """One result per server; with several servers (the same database, another copy of the code),
    every request goes to each in turn: the ratios come from the same moments."""
    clients = [Client(p) for p in ports]
    client = clients[0]
    tokens = {u: client.login(u)[0] for u in USERS}  # same key and installation: good on every server
    login_ms: list[list[float]] = [[] for _ in clients]
    for _ in range(logins):
        for u in USERS[:2]:
            for i, c in enumerate(clients):
                login_ms[i].append(c.login(u)[1])
    status, data, _ = client.call("GET", "/openapi.json")
    spec = json.loads(data)
    routes = sorted(p for p, ops in spec["paths"].items() if p.startswith("/api") and "get" in ops)
    plan = []  # (label, user, url)
    for u in USERS:
        cache: dict = {}
        for p in routes:
            url = fill(client, tokens[u], p, cache)
            if url is not None:
                plan.append((p, u, url))
    results = [{"times": {(p, u): [] for p, u, _ in plan}, "statuses": {}, "login": login_ms[i]}
               for i in range(len(clients))]
    for (p, u, url) in plan:  # warm-up
        for c in clients:
            c.call("GET", url, tokens[u])
    for r in range(rounds):
        pairs = list(zip(clients, results))
        if r % 2:  # every other round the other server goes first: no order bias between them
            pairs.reverse()
        for (p, u, url) in plan:
            for c, res in pairs:
                st, _, ms = c.call("GET", url, tokens[u])
                res["times"][(p, u)].append(ms)
                res["statuses"][(p, u)] = st
    return results


def report(title: str, res: dict) -> None:
    print(f"\n== {title}  (load average {loadavg()})")
    print(f"{'route':46} {'user':10} {'st':>3} {'p50 ms':>8} {'p95 ms':>8}")
    worst = []
    for (p, u), xs in sorted(res["times"].items()):
        p50, p95 = statistics.median(xs), percentile(xs, 0.95)
        worst.append((p95, p, u))
        print(f"{p:46} {u:10} {res['statuses'][(p, u)]:>3} {p50:8.1f} {p95:8.1f}")
    lx = res["login"]
    print(f"{'POST /api/auth/token (login)':46} {'':10} {'':>3} {statistics.median(lx):8.1f} {percentile(lx, 0.95):8.1f}")
    worst.sort(reverse=True)
    print("slowest p95: " + ", ".join(f"{p} [{u}] {v:.1f} ms" for v, p, u in worst[:5]))
    over = [w for w in worst if w[0] > 50]
    print(f"routes over 50 ms p95: {len(over)} of {len(worst)}")


def report_versus(title: str, this: dict, other: dict, other_name: str) -> None:
    print(f"\n== {title}: this code vs {other_name}, interleaved (load average {loadavg()})")
    print(f"{'route':40} {'user':10} {'st':>3} {'p50':>7} {'p95':>7} | {'p50':>7} {'p95':>7} | {'p50 ratio':>9}")
    ratios = []
    for key, xs in sorted(this["times"].items()):
        ys = other["times"][key]
        r = statistics.median(xs) / statistics.median(ys)
        ratios.append(r)
        print(f"{key[0]:40} {key[1]:10} {this['statuses'][key]:>3} {statistics.median(xs):7.1f} {percentile(xs, .95):7.1f}"
              f" | {statistics.median(ys):7.1f} {percentile(ys, .95):7.1f} | {r:9.2f}")
    lx, ly = this["login"], other["login"]
    print(f"{'login':40} {'':10} {'':>3} {statistics.median(lx):7.1f} {percentile(lx, .95):7.1f}"
          f" | {statistics.median(ly):7.1f} {percentile(ly, .95):7.1f} | {statistics.median(lx) / statistics.median(ly):9.2f}")
    print(f"median of the per-route p50 ratios: {statistics.median(ratios):.2f}")


def argon2_costs(n: int = 5) -> None:
    """CPU and wall time of one verification: argon2-cffi's default against the parameters chosen
    (cases/platform/security.py), interleaved."""
    from argon2 import PasswordHasher

    from cases.platform.security import PASSWORD_MEMORY_KIB, PASSWORD_PARALLELISM, PASSWORD_TIME_COST

    hashers = {"default m=64MiB t=3 p=4": PasswordHasher(),
               f"chosen m={PASSWORD_MEMORY_KIB // 1024}MiB t={PASSWORD_TIME_COST} p={PASSWORD_PARALLELISM}":
                   PasswordHasher(time_cost=PASSWORD_TIME_COST, memory_cost=PASSWORD_MEMORY_KIB,
                                  parallelism=PASSWORD_PARALLELISM)}
    hashes = {k: h.hash("bench-password") for k, h in hashers.items()}
    cpu: dict[str, list[float]] = {k: [] for k in hashers}
    wall: dict[str, list[float]] = {k: [] for k in hashers}
    for _ in range(n):
        for k, h in hashers.items():
            c0, w0 = time.process_time(), time.perf_counter()
            h.verify(hashes[k], "bench-password")
            cpu[k].append((time.process_time() - c0) * 1000)
            wall[k].append((time.perf_counter() - w0) * 1000)
    print(f"argon2 verification (load average {loadavg()}), median of {n}:")
    for k in hashers:
        print(f"  {k:28} CPU {statistics.median(cpu[k]):7.1f} ms   wall {statistics.median(wall[k]):7.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--logins", type=int, default=10, help="logins per user (officer, supervisor) for the login figure")
    ap.add_argument("--port", type=int, default=18800)
    ap.add_argument("--stack", default="auto", help="uvicorn http/loop: auto, h11/asyncio, httptools/uvloop")
    ap.add_argument("--compare-stacks", action="store_true",
                    help="also run h11/asyncio and httptools/uvloop servers side by side, interleaved, on /api/cases")
    ap.add_argument("--app-dir", default=str(ROOT), help="serve another copy of the code (e.g. /work/main for a 'before')")
    ap.add_argument("--versus", default=None,
                    help="also serve this copy of the code (e.g. /work/main) on the same database; requests alternate")
    ap.add_argument("--only-stacks", action="store_true", help="only the side-by-side comparison of uvicorn stacks")
    ap.add_argument("--extra-path", default=None, help="extra sys.path entry for the server (e.g. uvloop/httptools)")
    args = ap.parse_args()
    print(f"bench/reads.py  cpus={os.cpu_count()}  load average {loadavg()}")
    argon2_costs()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        work = Path(tempfile.mkdtemp(prefix="anjian-reads-"))
        dropme = None
        try:
            t0 = time.monotonic()
            env, dropme = prepare_db(kind, work, args.pg_url, args.app_dir)
            print(f"[{kind}] demo data loaded in {time.monotonic() - t0:.1f} s")
            port = free_port(args.port, args.port + 40)
            if args.only_stacks:
                compare_stacks(env, work, args)
                continue
            servers = [Server(env, port, work, args.stack, args.extra_path)]
            try:
                if args.versus:
                    other_env = dict(env, PYTHONPATH=str(Path(args.versus).resolve()))
                    servers.append(Server(other_env, free_port(port + 1, args.port + 40), work, args.stack, args.extra_path))
                results = measure([s.port for s in servers], args.rounds, args.logins)
                report(f"{kind}, stack {args.stack}, {args.rounds} interleaved rounds", results[0])
                if args.versus:
                    report_versus(kind, results[0], results[1], args.versus)
            finally:
                for server in servers:
                    server.stop()
            if args.compare_stacks:
                compare_stacks(env, work, args)
        finally:
            if dropme:
                subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", dropme], check=False)
            shutil.rmtree(work, ignore_errors=True)
    return 0


def compare_stacks(env: dict[str, str], work: Path, args) -> None:
    """Two servers at once (h11/asyncio and httptools/uvloop, orjson on both or neither is the
    app's choice), requests alternated between them: the ratio is from the same moments."""
    stacks = ["h11/asyncio", "httptools/uvloop"]
    servers, clients, tokens = [], [], []
    try:
        for i, st in enumerate(stacks):
            port = free_port(args.port + 40 + i * 5, args.port + 45 + i * 5)
            servers.append(Server(env, port, work, st, args.extra_path))
            c = Client(port)
            clients.append(c)
            tokens.append(c.login("supervisor")[0])
        urls = ["/api/me", "/api/cases?page_size=50", "/api/queue", "/api/inbox"]
        res = {(st, u): [] for st in stacks for u in urls}
        for _ in range(args.rounds * 5):
            for u in urls:
                for i, st in enumerate(stacks):
                    res[(st, u)].append(clients[i].call("GET", u, tokens[i])[2])
        print(f"\n== uvicorn stacks side by side (load average {loadavg()}), p50 / p95 ms")
        for u in urls:
            a, b = res[(stacks[0], u)], res[(stacks[1], u)]
            print(f"{u:28} {stacks[0]} {statistics.median(a):6.2f} / {percentile(a, .95):6.2f}   "
                  f"{stacks[1]} {statistics.median(b):6.2f} / {percentile(b, .95):6.2f}   "
                  f"ratio p50 {statistics.median(b) / statistics.median(a):.2f}")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
