"""Idle footprint of ``anjian serve``: the API, the embedded Prefect server and the flows, on the demo
data, with nobody using it.

Starts ``python -m anjian.cli serve`` from ``--repo`` (default: this checkout) with its own data
directory (SQLite, ``anjian db upgrade`` + ``anjian demo --cases N``) and its own ports, waits
``--settle`` seconds and then until the demo's backlog is worked off (every issued document
rendered, no timer and no outbox row due: what ``make run`` does in its first minutes is not
idling; ``--no-drain`` skips that wait), then samples the WHOLE process tree of the serving process every ``--every`` seconds for
``--window`` seconds and prints:

* CPU % of one core: per sample interval (median, mean) — counting processes that started and
  ended between two samples (a reaped child's time moves into its parent's cutime/cstime, and the
  tree's total is taken as utime+stime+cutime+cstime of every live process);
* RSS of the tree (sum over its processes): median and peak;
* the number of processes in the tree (median, max) and how many distinct pids were seen;
* restarts of Prefect seen in the serve log (server or worker exited / stopped answering, late
  runs dropped) and "database is locked" lines in Prefect's server log;
* the machine's load average at the start and at the end of the window.

    .venv/bin/python bench/idle.py                       # 60 s settle, 120 s window
    .venv/bin/python bench/idle.py --window 300          # the issue's 5-minute figure
    .venv/bin/python bench/idle.py --repo /work/main     # another checkout (e.g. before a change)
    .venv/bin/python bench/idle.py --cases 20            # a smaller demo: a shorter backlog to drain

Ports: ``--port`` (API) and ``--port + 1`` (embedded Prefect), default 18701/18702.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
RESTART_PATTERNS = {
    "server exited": re.compile(r"Prefect server exited"),
    "server stopped answering": re.compile(r"Prefect server stopped answering"),
    "worker exited": re.compile(r"Prefect worker exited"),
    "late runs dropped": re.compile(r"dropped \d+ late sweep run"),
}


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, cpu ticks incl. reaped children, rss bytes) of a live process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    ppid = int(fields[1])
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    rss = int(fields[21]) * PAGE
    return ppid, ticks, rss


def tree(root: int) -> dict[int, tuple[int, int]]:
    """{pid: (cpu ticks, rss)} of ``root`` and all its descendants."""
    procs = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                procs[int(entry.name)] = st
    out, todo = {}, [root]
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in out:
            out[pid] = procs[pid][1:]
            todo.extend(children.get(pid, []))
    return out


def memory(pid: int) -> tuple[str, float, float] | None:
    """(short command line, RSS MiB, USS MiB) of a live process: USS = its private pages
    (/proc/PID/smaps_rollup Private_Clean + Private_Dirty), what it would free by exiting."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        roll = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    kb = {line.split(":")[0]: int(line.split()[1]) for line in roll.splitlines()[1:] if line.endswith("kB")}
    words = [c.decode(errors="replace") for c in cmd if c]
    short = " ".join(Path(words[0]).name if i == 0 else w for i, w in enumerate(words[:6]))
    return short[:70], kb.get("Rss", 0) / 1024, (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024


def backlog(url: str) -> dict[str, int]:
    """Work the flows have not done yet: issued documents, due timers, due outbox rows."""
    from sqlalchemy import create_engine, text

    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            out = {
                "documents": c.scalar(text("SELECT count(*) FROM documents WHERE status = 'issued' AND "
                                           "(next_render_at IS NULL OR next_render_at <= CURRENT_TIMESTAMP)")),
                "timers": c.scalar(text("SELECT count(*) FROM timers WHERE status = 'pending' AND "
                                        "fire_at <= CURRENT_TIMESTAMP")),
                "outbox": c.scalar(text("SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'sending') "
                                        "AND next_attempt_at <= CURRENT_TIMESTAMP")),
            }
    finally:
        engine.dispose()
    return {k: v for k, v in out.items() if v}


def stop_serve(proc: subprocess.Popen, grace: float = 40.0) -> None:
    """SIGTERM ``anjian serve``, wait up to ``grace`` s, then SIGKILL its whole process group."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run(cmd: list[str], env: dict, cwd: Path) -> None:
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", type=Path, default=HERE, help="checkout whose code is served (default: this one)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--settle", type=float, default=60.0)
    p.add_argument("--window", type=float, default=120.0, help="seconds sampled (the issue's goal: 300)")
    p.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--port", type=int, default=18701, help="API port; the embedded Prefect gets port+1")
    p.add_argument("--database-url", default="", help="app database (default: SQLite in the data dir)")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    p.add_argument("--cases", type=int, default=200, help="demo cases (make run: 200)")
    p.add_argument("--no-drain", dest="drain", action="store_false",
                   help="do not wait for the demo's backlog (documents, timers, outbox) to be worked off")
    p.add_argument("--drain-timeout", type=float, default=1800.0)
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for anjian serve (e.g. MALLOC_ARENA_MAX=2); repeatable")
    args = p.parse_args(argv)

    repo = args.repo.resolve()
    data = Path(tempfile.mkdtemp(prefix="anjian-idle-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANJIAN_", "PREFECT_"))}
    env.update(PYTHONPATH=str(repo), ANJIAN_DATA_DIR=str(data), ANJIAN_PORT=str(args.port),
               ANJIAN_PREFECT_PORT=str(args.port + 1), ANJIAN_DATABASE_URL=args.database_url,
               PYTHONUNBUFFERED="1")
    env.update(dict(kv.split("=", 1) for kv in args.env))
    cli = [args.python, "-m", "anjian.cli"]
    run(cli + ["db", "upgrade"], env, repo)
    run(cli + ["demo", "--cases", str(args.cases)], env, repo)
    log_path = data / "serve.log"
    log = open(log_path, "wb")
    git = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    print(f"repo {repo} @ {git.stdout.strip()}; data {data}; ports {args.port}/{args.port + 1}", flush=True)
    proc = subprocess.Popen(cli + ["serve", "--no-access-log"], env=env, cwd=repo, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(args.settle)
        if args.drain:
            started = time.monotonic()
            url = args.database_url or f"sqlite:///{data / 'anjian.db'}"
            while (left := backlog(url)) and time.monotonic() - started < args.drain_timeout:
                if proc.poll() is not None:
                    break
                time.sleep(5)
            print(f"backlog {'worked off' if not left else f'NOT worked off ({left})'} after "
                  f"{args.settle + time.monotonic() - started:.0f} s", flush=True)
        if proc.poll() is not None:
            raise SystemExit(f"anjian serve exited ({proc.returncode}); see {log_path}")
        load_start = os.getloadavg()
        seen: set[int] = set()
        samples = []  # (t, total ticks, rss, nprocs)
        deadline = time.monotonic() + args.window
        while True:
            t = time.monotonic()
            procs = tree(proc.pid)
            seen |= set(procs)
            samples.append((t, sum(v[0] for v in procs.values()), sum(v[1] for v in procs.values()), len(procs)))
            if t >= deadline:
                break
            time.sleep(min(args.every, max(0.0, deadline - t)))
        load_end = os.getloadavg()
        per_process = [m for pid in sorted(tree(proc.pid)) if (m := memory(pid)) is not None]
    finally:
        stop_serve(proc)
        log.close()

    every = [100.0 * (b[1] - a[1]) / CLK_TCK / (b[0] - a[0]) for a, b in zip(samples, samples[1:])]
    # A negative interval: a process left the tree unreaped by it (e.g. a restarted server's own
    # children, reparented to init), taking its CPU time with it. Such intervals are left out.
    cpu = [c for c in every if c >= 0] or [0.0]
    total = statistics.fmean(cpu)
    rss = [s[2] / 2**20 for s in samples]
    nprocs = [s[3] for s in samples]
    text = log_path.read_text(errors="replace")
    server_log = data / "prefect" / "server.log"
    locked = server_log.read_text(errors="replace").count("database is locked") if server_log.exists() else 0
    restarts = {k: len(rx.findall(text)) for k, rx in RESTART_PATTERNS.items()}
    print(f"settle {args.settle:g} s, window {samples[-1][0] - samples[0][0]:.0f} s, {len(cpu)} intervals of "
          f"{args.every:g} s")
    print(f"load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} (2 cores)")
    print(f"CPU % of one core (whole tree): median {statistics.median(cpu):.1f}, mean {total:.1f}, "
          f"max {max(cpu):.1f}")
    print("CPU % per interval: " + " ".join(f"{c:.0f}" for c in every)
          + (f" ({len(every) - len(cpu)} negative interval(s) left out: a process lost from the tree)"
             if len(cpu) < len(every) else ""))
    print(f"RSS of the tree: median {statistics.median(rss):.0f} MiB, peak {max(rss):.0f} MiB")
    for cmd, rss_mib, uss_mib in per_process:
        print(f"  at the end: RSS {rss_mib:6.0f} MiB, USS {uss_mib:6.0f} MiB  {cmd}")
    print(f"processes in the tree: median {statistics.median(nprocs):g}, max {max(nprocs)}; "
          f"distinct pids seen {len(seen)}")
    print(f"Prefect restarts in the serve log: {sum(v for k, v in restarts.items() if k != 'late runs dropped')} "
          f"({', '.join(f'{k}: {v}' for k, v in restarts.items())}); 'database is locked' in server.log: {locked}")
    if args.keep:
        print(f"kept {data}")
    else:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
