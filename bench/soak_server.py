"""The server side of bench/soak.py: start ``anjian serve`` (API + embedded Prefect + served flows)
on loopback with its own data dir, sample its process tree (RSS, CPU), ask Prefect which flow runs
ran, summarise its log, and stop the whole tree."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- process tree sampling

try:
    import psutil
except ImportError:  # pragma: no cover - /proc fallback
    psutil = None


def _children_proc(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            pass
    return out


FLOW_RUN_MARKERS = ("prefect.engine", "prefect/engine")  # the process a served flow run runs in


def _cmdline(p: int) -> str:
    try:
        with open(f"/proc/{p}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def tree_sample(pid: int) -> dict:
    """RSS (MiB) of the API process, of the long-lived processes (the API, the Prefect server, the
    flow runner: every process of the tree but the flow runs) and of the whole tree (with the
    flow-run processes alive at that moment); CPU seconds of the tree's live processes."""
    pids = [pid] + (_children_tree_psutil(pid) if psutil else _children_proc(pid))
    api_rss = tree_rss = cpu = long_rss = 0.0
    transient: list[str] = []
    for p in pids:
        cmd = _cmdline(p)
        try:
            if psutil:
                proc = psutil.Process(p)
                rss = proc.memory_info().rss
                t = proc.cpu_times()
                c = t.user + t.system
            else:
                with open(f"/proc/{p}/statm") as f:
                    rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                c = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError) if not psutil else (psutil.Error, OSError):
            continue
        tree_rss += rss
        cpu += c
        if p == pid:
            api_rss = rss
        if any(m in cmd for m in FLOW_RUN_MARKERS):
            transient.append(cmd[:120])
        else:
            long_rss += rss
    return {"t": time.time(), "api_mb": api_rss / 2**20, "long_mb": long_rss / 2**20, "tree_mb": tree_rss / 2**20,
            "cpu_s": cpu, "procs": len(pids), "long_procs": len(pids) - len(transient), "transient": transient}


def _children_tree_psutil(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


# ---------------------------------------------------------------- the server


def start_server(args, data_dir: Path, db_url: str) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANJIAN_DATA_DIR": str(data_dir), "ANJIAN_DATABASE_URL": db_url,
           "ANJIAN_PORT": str(args.port), "ANJIAN_HOST": "127.0.0.1", "ANJIAN_PREFECT_PORT": str(args.port + 1),
           "ANJIAN_BASE_URL": f"http://127.0.0.1:{args.port}"}
    for name in ("ANJIAN_PREFECT_API_URL", "ANJIAN_SMTP_HOST", "ANJIAN_WEBHOOK_URL", "ANJIAN_WECOM_WEBHOOK_KEY",
                 "ANJIAN_DINGTALK_TOKEN"):
        env.pop(name, None)  # embedded Prefect; no outbound channel configured: nothing leaves the machine
    cli = [sys.executable, "-m", "anjian.cli"]
    for step in (["db", "upgrade"], ["demo"]):
        t = time.time()
        subprocess.run(cli + step, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"  anjian {' '.join(step)}: {time.time() - t:.1f} s", flush=True)
    log = open(data_dir / "serve.log", "wb")
    proc = subprocess.Popen(cli + ["serve", "--no-access-log"], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"anjian serve exited ({proc.returncode}); see {data_dir / 'serve.log'}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        raise SystemExit("anjian serve did not answer /healthz within 180 s")
    return proc, env


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM ``anjian serve`` and everything it started (its own session), SIGKILL what is left
    after 30 s; return once the whole group is gone (before the data dir is removed)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + 30
    while time.time() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.3)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def flows_running(prefect_url: str, since: float) -> dict[str, int]:
    """Flow runs due between ``since`` (epoch s) and now, by state name, from the Prefect API
    (Completed: ran; Late/Scheduled: not started yet; Failed/Crashed: a fault)."""
    window = {"after_": datetime.fromtimestamp(since).astimezone().isoformat(),
              "before_": datetime.now().astimezone().isoformat()}
    try:
        r = httpx.post(f"{prefect_url}/api/flow_runs/filter", timeout=10,
                       json={"flow_runs": {"expected_start_time": window}, "limit": 200})
        r.raise_for_status()
    except httpx.HTTPError as exc:
        return {f"unreachable ({type(exc).__name__})": 1}
    counts: dict[str, int] = defaultdict(int)
    for run in r.json():
        counts[(run.get("state") or {}).get("name", "?")] += 1
    return dict(counts)


def log_summary(path: Path) -> str:
    """Tracebacks in the server's log (API, Prefect server, flow runs), with each distinct exception line."""
    text = path.read_text("utf-8", "replace")
    lines = text.splitlines()
    exceptions: dict[str, int] = defaultdict(int)
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                j += 1
            if j < len(lines):
                exceptions[lines[j][:200]] += 1
    out = [f"server log: {text.count('Traceback')} tracebacks ({path})"]
    out += [f"  {n:4d}× {e}" for e, n in sorted(exceptions.items(), key=lambda kv: -kv[1])[:8]]
    levels = defaultdict(int)
    for line in lines:
        for level in ("ERROR", "CRITICAL", "WARNING"):
            if f"| {level} " in line or line.startswith(f"{level}:"):
                levels[level] += 1
    if levels:
        out.append("  log lines by level: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))
    return "\n".join(out)
