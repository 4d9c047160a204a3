"""Soak: 80 % reads / 20 % actions against a real ``anjian serve`` (API + embedded Prefect server +
served flows) for a bounded time, on loopback; counts, errors, latency per request kind, and the
RSS and CPU of the server's whole process tree sampled every few seconds.

    .venv/bin/python bench/soak.py                    # 30 minutes, PostgreSQL scratch database (make soak)
    .venv/bin/python bench/soak.py --minutes 2        # the short version (make soak-short)
    .venv/bin/python bench/soak.py --db sqlite --rate 6 --threads 4

What it does:
- A throw-away data dir (ANJIAN_DATA_DIR) and database: a scratch PostgreSQL database on the
  machine's server (``ANJIAN_BENCH_POSTGRES_URL``, dropped at the end) or a SQLite file in the data
  dir. ``anjian db upgrade`` and ``anjian demo`` (≈200 cases in every kind and state), then
  ``anjian serve`` as a subprocess on 127.0.0.1:``--port`` with its Prefect server on ``--port``+1:
  the sweep, render, delivery (and digest) flows run on their schedules throughout. No outbound
  channel is configured (no SMTP host, webhook, WeCom or DingTalk): deliveries go to the in-app
  inbox only, and no traffic leaves the machine.
- The demo users ``officer``, ``supervisor`` and ``enterprise`` log in through ``/api/auth/token``.
- A fixed schedule of ``--rate`` operations per second (open loop: a slot is not skipped when the
  server is slow; an operation that starts after its slot is counted as late), shared by
  ``--threads`` threads. Each slot is a read with probability 0.8, else an action:
  * reads: the user's queue, case list (random page / filter), case detail, case events, inbox,
    deadlines of a case, supervisions, overdue list, projects;
  * actions: one of the user's actions on a case it may act on (``allowed_actions`` of
    ``GET /api/cases/{id}``, fields generated from the machine definition by
    ``tests/machine_paths.value_for``, the generator the lifecycle tests use), or — one in four,
    so the pool of open cases does not run dry — a new case (``POST /api/cases``). A case is
    worked by one thread at a time; its version comes from the last answer about it.
- Counted per request kind: requests, latency (request sent → response read) p50/p95/p99/max.
  **Errors**: 5xx, transport errors and timeouts — must be 0. **Refusals**: 4xx answers to actions
  (a guard the generator did not satisfy, a case moved on by a timer: 409 refreshes the case), shown
  with their codes; an action refused twice on a kind is not tried again.
- RSS: the ``anjian serve`` process (the API) and its whole process tree (Prefect server, the flow
  runner and the flow-run processes it starts), every ``--sample-seconds`` (psutil, else /proc);
  printed at start (after warm-up), middle and end, with min/max. CPU: seconds used by the tree's
  live processes over the run (flow-run processes that exited in between are not counted), and the
  load average before and after.

Why a thread pool of httpx clients and not locust: the rate this machine sustains is tens of
requests per second, which threads do easily; locust would add gevent (monkey-patching the
process, in conflict with psutil sampling from a thread and with httpx) and its own statistics
(whose percentiles are rounded buckets) for nothing we need. One process, one schedule, exact
percentiles.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from bench.soak_server import flows_running, log_summary, start_server, stop_group, tree_sample  # noqa: E402

PG_ADMIN = os.environ.get("ANJIAN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BEIJING = ZoneInfo("Asia/Shanghai")
USERS = {"officer": 0.5, "supervisor": 0.3, "enterprise": 0.2}  # share of operations per demo user
DEMO_PASSWORD = "demo"
CREATE_SHARE = 0.25  # of actions: a new case
SKIP_ACTIONS = {"reopen", "dismiss", "reclassify", "conclude_safe"}  # end a case's work or change its kind


# ---------------------------------------------------------------- the load


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.error_count = 0
        self.refusals: dict[str, int] = defaultdict(int)
        self.refusal_samples: dict[str, str] = {}
        self.late = 0
        self.ops = {"read": 0, "action": 0}
        self.t0 = time.time()
        self.slowest: list[tuple[float, float, str]] = []  # (seconds, at (s since start), what)
        self.per_minute: dict[int, list[float]] = defaultdict(list)
        self.per_minute_kind: dict[tuple[int, str], list[float]] = defaultdict(list)

    def record(self, kind: str, seconds: float, what: str = "") -> None:
        at = time.time() - self.t0
        with self.lock:
            self.latency[kind].append(seconds)
            self.per_minute[int(at // 60)].append(seconds)
            self.per_minute_kind[(int(at // 60), kind)].append(seconds)
            if len(self.slowest) < 10 or seconds > self.slowest[0][0]:
                self.slowest.append((seconds, at, what or kind))
                self.slowest.sort()
                del self.slowest[:-10]

    def error(self, text: str) -> None:
        with self.lock:
            self.error_count += 1
            if len(self.errors) < 20:
                self.errors.append(text)

    def refusal(self, key: str, body: str) -> None:
        with self.lock:
            self.refusals[key] += 1
            self.refusal_samples.setdefault(key, body[:200])


class Load:
    def __init__(self, base: str, stats: Stats, rng: random.Random) -> None:
        self.base = base
        self.stats = stats
        self.rng = rng
        self.tokens: dict[str, str] = {}
        self.me: dict[str, dict] = {}
        self.pool: dict[str, list[int]] = {}        # case ids each user may see (open cases)
        self.cases: dict[tuple[str, int], dict] = {}  # (user, id) → last detail seen
        self.busy: set[int] = set()
        self.lock = threading.Lock()
        self.refused_twice: set[tuple[str, str]] = set()
        self.local = threading.local()
        self.projects: list[dict] = []
        self.buildings: list[dict] = []

    def client(self) -> httpx.Client:
        c = getattr(self.local, "client", None)
        if c is None:
            c = self.local.client = httpx.Client(base_url=self.base, timeout=60)
        return c

    def request(self, kind: str, user: str, method: str, path: str, **kw) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        t = time.perf_counter()
        try:
            r = self.client().request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            self.stats.error(f"{kind} {method} {path}: {type(exc).__name__} {exc}")
            return None
        self.stats.record(kind, time.perf_counter() - t, f"{kind} {method} {path} → {r.status_code}")
        if r.status_code >= 500:
            self.stats.error(f"{kind} {method} {path}: {r.status_code} {r.text[:300]}")
            return None
        return r

    def login(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as c:
            for u in USERS:
                r = c.post("/api/auth/token", data={"username": u, "password": DEMO_PASSWORD})
                r.raise_for_status()
                self.tokens[u] = r.json()["access_token"]
                self.me[u] = c.get("/api/me", headers={"Authorization": f"Bearer {self.tokens[u]}"}).json()
            h = {"Authorization": f"Bearer {self.tokens['officer']}"}
            self.projects = c.get("/api/projects", params={"page_size": 200}, headers=h).json().get("items", [])
            self.buildings = c.get("/api/buildings", params={"page_size": 200}, headers=h).json().get("items", [])
        for u in USERS:
            self.refresh_pool(u)

    def refresh_pool(self, user: str) -> None:
        ids: list[int] = []
        for page in (1, 2, 3):
            r = self.request("list_cases", user, "GET", "/api/cases",
                             params={"open_only": "true", "page_size": 100, "page": page})
            if r is None or r.status_code != 200:
                break
            items = r.json()["items"]
            ids += [c["id"] for c in items]
            if len(items) < 100:
                break
        with self.lock:
            self.pool[user] = ids

    # -- reads

    def read(self, user: str) -> None:
        pool = self.pool.get(user) or []
        case_id = self.rng.choice(pool) if pool else None
        choice = self.rng.random()
        if choice < 0.25:
            self.request("queue", user, "GET", "/api/queue")
        elif choice < 0.45 and case_id:
            r = self.request("case_detail", user, "GET", f"/api/cases/{case_id}")
            if r is not None and r.status_code == 200:
                with self.lock:
                    self.cases[(user, case_id)] = r.json()
        elif choice < 0.60:
            self.request("list_cases", user, "GET", "/api/cases",
                         params={"page": self.rng.randint(1, 5), "page_size": 20,
                                 **({"open_only": "true"} if self.rng.random() < 0.5 else {})})
        elif choice < 0.72:
            self.request("inbox", user, "GET", "/api/inbox")
        elif choice < 0.82 and case_id:
            self.request("case_events", user, "GET", f"/api/cases/{case_id}/events")
        elif choice < 0.88 and case_id:
            self.request("case_deadlines", user, "GET", f"/api/cases/{case_id}/deadlines")
        elif choice < 0.93:
            self.request("supervisions", user, "GET", "/api/supervisions")
        elif choice < 0.97 and user != "enterprise":
            self.request("overdue", user, "GET", "/api/overdue")
        else:
            self.request("queue", user, "GET", "/api/queue")

    # -- actions

    def create(self) -> None:
        from tests.machine_paths import CHINESE

        kind = self.rng.choice(["hazard", "hazard", "major_hazard", "dangerous_building"])
        mine = [p for p in self.projects if p.get("jurisdiction", {}).get("code", p.get("jurisdiction_code")) == "320508"] \
            or self.projects
        body: dict = {"kind": kind, "title": f"压测{kind}案件", "description": CHINESE, "location": "姑苏区平江路1号",
                      "source": "inspection"}
        if kind == "hazard":
            body.update(project_id=self.rng.choice(mine)["id"], category="scaffolding")
        elif kind == "major_hazard":
            body.update(project_id=self.rng.choice(mine)["id"], hazard_item_code="7.2")
        else:
            blds = [b for b in self.buildings if (b.get("jurisdiction") or {}).get("code", b.get("jurisdiction_code")) == "320508"] \
                or self.buildings
            body.update(building_id=self.rng.choice(blds)["id"], source="survey", building_use="residential", occupants=6)
        r = self.request("action:create", "officer", "POST", "/api/cases", json=body)
        if r is None:
            return
        if r.status_code != 201:
            self.stats.refusal(f"create {kind} → {r.status_code}", r.text)
            return
        case = r.json()
        with self.lock:
            for u in ("officer", "supervisor"):
                self.pool.setdefault(u, []).append(case["id"])
            self.cases[("officer", case["id"])] = case

    def act(self, user: str) -> None:
        with self.lock:
            pool = [c for c in self.pool.get(user) or [] if c not in self.busy]
            if not pool:
                return self._no_work(user)
            case_id = self.rng.choice(pool)
            self.busy.add(case_id)
            case = self.cases.get((user, case_id))
        try:
            if case is None:
                r = self.request("case_detail", user, "GET", f"/api/cases/{case_id}")
                if r is None or r.status_code != 200:
                    return
                case = r.json()
            self._act_on(user, case)
        finally:
            with self.lock:
                self.busy.discard(case_id)

    def _no_work(self, user: str) -> None:
        threading.Thread(target=self.refresh_pool, args=(user,), daemon=True).start()

    def _act_on(self, user: str, case: dict) -> None:
        from tests.machine_paths import OVERRIDES, comment_for, value_for
        from cases.ledger.engine import get_registry

        kind = case["kind"]
        if kind == "major_hazard" and case.get("state") == "rectifying" and self.rng.random() < 0.3:
            # The 整改后 photo verification waits for (major_hazard v2 guard): what people upload on site.
            from tests.evidence_files import fresh_png

            r = self.request("evidence upload", user, "POST", f"/api/cases/{case['id']}/evidence",
                             files={"file": ("整改后.png", fresh_png(), "image/png")}, data={"purpose": "after"})
            if r is not None and r.status_code in (200, 201):
                with self.lock:
                    self.cases.pop((user, case["id"]), None)  # verify may be allowed now: read it again
                return
        options = [a for a in case.get("allowed_actions", [])
                   if a not in SKIP_ACTIONS and (kind, a) not in self.refused_twice]
        if not options:
            with self.lock:  # nothing for this user here: out of the pool
                if case["id"] in self.pool.get(user, []):
                    self.pool[user].remove(case["id"])
            return
        action = self.rng.choice(options)
        spec = get_registry().get(kind, case.get("machine_version")).action(action)
        world = _World(case, self.me[user])
        clock = _Clock()
        fields = {f.name: value_for(f, world, clock) for f in spec.fields}
        fields.update(OVERRIDES.get((kind, action), {}))
        body = {"version": case["version"], **fields}
        if comment_for(spec):
            body["comment"] = comment_for(spec)
        r = self.request(f"action:{action}", user, "POST", f"/api/cases/{case['id']}/actions/{action}", json=body)
        if r is None:
            return
        if r.status_code == 200:
            new = r.json()
            with self.lock:
                self.cases[(user, case["id"])] = new
                if new.get("closed_at") or not new.get("allowed_actions"):
                    if case["id"] in self.pool.get(user, []):
                        self.pool[user].remove(case["id"])
            return
        key = f"{kind}.{action} → {r.status_code}"
        self.stats.refusal(key, r.text)
        with self.lock:
            self.cases.pop((user, case["id"]), None)  # read it again next time
            if r.status_code != 409:
                n = self.stats.refusals[key]
                if n >= 2:
                    self.refused_twice.add((kind, action))


class _World:
    """What ``tests.machine_paths.value_for`` asks of a test world: the enterprise and the officer."""

    def __init__(self, case: dict, me: dict) -> None:
        ent = case.get("enterprise") or {}
        self.e1 = type("E", (), {"id": ent.get("id") or case.get("enterprise_id") or 1})()
        assignee = (case.get("assignee") or {}).get("id") if isinstance(case.get("assignee"), dict) else case.get("assignee_id")
        self.officer = type("U", (), {"id": assignee or me["id"]})()


class _Clock:
    def now(self):
        return datetime.now(BEIJING)

    def today(self):
        return datetime.now(BEIJING).date()


def run_load(load: Load, stats: Stats, args, stop_at: float, max_ops: int) -> None:
    interval = 1.0 / args.rate
    start = time.monotonic()
    counter = iter(range(max_ops))
    counter_lock = threading.Lock()
    users, weights = list(USERS), list(USERS.values())

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            with counter_lock:
                i = next(counter, None)
            if i is None:
                return
            slot = start + i * interval
            now = time.monotonic()
            if time.time() >= stop_at:
                return
            if slot > now:
                time.sleep(slot - now)
            elif now - slot > interval * 2:
                with stats.lock:
                    stats.late += 1
            user = rng.choices(users, weights)[0]
            if rng.random() < 0.8:
                with stats.lock:
                    stats.ops["read"] += 1
                load.read(user)
            else:
                with stats.lock:
                    stats.ops["action"] += 1
                if rng.random() < CREATE_SHARE or user == "enterprise" and not load.pool.get(user):
                    load.create()
                else:
                    load.act(user)

    threads = [threading.Thread(target=worker, args=(args.seed + i,), daemon=True) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---------------------------------------------------------------- report


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def report(stats: Stats, samples: list[dict], args, elapsed: float, load_before, load_after, flows, db_label) -> str:
    lines = []
    total = sum(len(v) for v in stats.latency.values())
    reads = sum(len(v) for k, v in stats.latency.items() if not k.startswith("action:"))
    actions = total - reads
    lines.append(f"soak: {db_label}, {elapsed / 60:.1f} min, target {args.rate:g} op/s on {args.threads} threads")
    lines.append(f"requests: {total} ({total / elapsed:.1f}/s): reads {reads} ({100 * reads / max(total, 1):.0f} %), "
                 f"actions {actions} ({100 * actions / max(total, 1):.0f} %); operations late: {stats.late}")
    lines.append(f"errors (5xx, transport, timeout): {stats.error_count}")
    for e in stats.errors:
        lines.append(f"  ! {e}")
    refused = sum(stats.refusals.values())
    lines.append(f"refusals (4xx to actions): {refused}")
    for k, n in sorted(stats.refusals.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {n:5d}  {k}   e.g. {stats.refusal_samples[k][:140]}")
    lines.append("")
    lines.append("| request | n | p50 ms | p95 ms | p99 ms | max ms |")
    lines.append("|---|---|---|---|---|---|")
    groups = sorted(stats.latency.items(), key=lambda kv: (kv[0].startswith("action:"), -len(kv[1])))
    everything_r = [x for k, v in stats.latency.items() if not k.startswith("action:") for x in v]
    everything_a = [x for k, v in stats.latency.items() if k.startswith("action:") for x in v]
    for name, values in groups + [("all reads", everything_r), ("all actions", everything_a)]:
        if values:
            lines.append(f"| {name} | {len(values)} | {1000 * pct(values, 50):.0f} | {1000 * pct(values, 95):.0f} | "
                         f"{1000 * pct(values, 99):.0f} | {1000 * max(values):.0f} |")
    lines.append("p99 per minute of the run (ms): " + ", ".join(
        f"{m + 1}: {1000 * pct(v, 99):.0f}" for m, v in sorted(stats.per_minute.items())))
    top = [k for k, _ in sorted(stats.latency.items(), key=lambda kv: -len(kv[1]))[:4]]
    for kind in top + ["inbox"] * ("inbox" not in top):
        lines.append(f"p50 of {kind} per minute (ms): " + ", ".join(
            f"{m + 1}: {1000 * pct(v, 50):.0f}" for (m, k), v in sorted(stats.per_minute_kind.items()) if k == kind))
    lines.append("slowest requests (s, at s after start):")
    for seconds, at, what in reversed(stats.slowest):
        lines.append(f"  {seconds:6.2f}  at {at:5.0f}  {what}")
    lines.append("")
    if samples:
        first, mid, last = samples[0], samples[len(samples) // 2], samples[-1]
        lines.append(f"RSS MiB, {len(samples)} samples every {args.sample_seconds:g} s after {args.warmup:g} s of load:")
        lines.append("| processes | start | middle | end | min | max |")
        lines.append("|---|---|---|---|---|---|")
        for key, label in (("api_mb", "API (anjian serve)"),
                           ("long_mb", f"long-lived ({first['long_procs']} processes: API, Prefect server, flow runner)"),
                           ("tree_mb", "whole tree, with the flow-run processes alive at the sample")):
            vals = [s[key] for s in samples]
            lines.append(f"| {label} | {first[key]:.0f} | {mid[key]:.0f} | {last[key]:.0f} | {min(vals):.0f} | {max(vals):.0f} |")
        procs = [s["procs"] for s in samples]
        longp = {s["long_procs"] for s in samples}
        lines.append(f"processes in the tree: {min(procs)}–{max(procs)}; long-lived: {sorted(longp)}; "
                     f"samples with a flow run alive: {sum(1 for s in samples if s['transient'])}")
        kinds = {c for s in samples for c in s["transient"]}
        for c in sorted(kinds)[:3]:
            lines.append(f"  flow-run process e.g.: {c}")
        span = last["t"] - first["t"]
        if span > 0:
            cpu = last["cpu_s"] - first["cpu_s"]
            lines.append(f"CPU of the tree's live processes: {cpu:.0f} s over {span:.0f} s "
                         f"({100 * cpu / span:.0f} % of one core), {1000 * cpu / max(total, 1):.1f} ms per request")
    lines.append(f"load average (1/5/15 min) before: {load_before}, after: {load_after}")
    lines.append(f"Prefect flow runs started during the soak, by state: {flows}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    p.add_argument("--rate", type=float, default=5, help="operations per second (80 %% reads, 20 %% actions)")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--port", type=int, default=18600, help="API port; its Prefect server on +1")
    p.add_argument("--sample-seconds", type=float, default=5)
    p.add_argument("--warmup", type=float, default=45,
                   help="seconds of load before the first RSS sample counts (Prefect and the flow runner are up)")
    p.add_argument("--max-requests", type=int, default=None, help="stop after this many operations (default: rate × time)")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the data dir and database")
    args = p.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="anjian-soak-"))
    drop = None
    if args.db == "postgresql":
        from cases.platform.db import create_scratch_postgres

        db_url, drop = create_scratch_postgres(PG_ADMIN, "anjian_soak")
    else:
        db_url = f"sqlite:///{data_dir}/anjian.db"
    print(f"soak: data dir {data_dir}, database {db_url}", flush=True)
    proc = None
    try:
        proc, _ = start_server(args, data_dir, db_url)
        base = f"http://127.0.0.1:{args.port}"
        stats = Stats()
        load = Load(base, stats, random.Random(args.seed))
        load.login()
        time.sleep(5)  # Prefect server and the served flows come up beside the API
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        samples: list[dict] = []
        stop_sampling = threading.Event()
        t0 = stats.t0 = time.time()

        def sampler() -> None:
            while not stop_sampling.is_set():
                s = tree_sample(proc.pid)
                if s["t"] - t0 >= args.warmup:
                    samples.append(s)
                if stop_sampling.wait(args.sample_seconds):
                    return

        threading.Thread(target=sampler, daemon=True).start()
        seconds = args.minutes * 60
        max_ops = args.max_requests or int(args.rate * seconds) + 1
        print(f"soak: {args.minutes:g} min at {args.rate:g} op/s ({max_ops} operations at most) …", flush=True)
        run_load(load, stats, args, time.time() + seconds, max_ops)
        elapsed = time.time() - t0
        samples.append(tree_sample(proc.pid))
        stop_sampling.set()
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        flows = flows_running(f"http://127.0.0.1:{args.port + 1}", t0)
        if proc.poll() is not None:
            stats.error(f"anjian serve exited during the soak ({proc.returncode})")
        print(report(stats, samples, args, elapsed, load_before, load_after, flows, args.db))
        print(log_summary(data_dir / "serve.log"))
        return 1 if stats.error_count else 0
    finally:
        if proc is not None:
            stop_group(proc)
        if drop and not args.keep:
            drop()
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
