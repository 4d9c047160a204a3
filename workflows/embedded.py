"""The Prefect that ``anjian serve`` brings along (the ``make run`` default).

Two child processes, kept alive by a supervisor thread:

1. ``prefect server start`` on 127.0.0.1:``ANJIAN_PREFECT_PORT`` with PREFECT_HOME under
   ``ANJIAN_DATA_DIR/prefect`` (its own SQLite database) — unless ``ANJIAN_PREFECT_API_URL``
   names an external server (scale-out), in which case none is started;
2. ``python -m workflows.serve``: the worker running the flows against that API, each flow run
   in-process (workflows/loop.py; no process per run, nothing sent to Prefect on an idle tick).

The API never depends on them. If the Prefect server will not start or dies, officers keep
working; the supervisor restarts it with exponential backoff, and the timers — rows in the app
database — simply fire late, oldest first, on the first sweep after it is back.
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from workflows.prefect_env import (api_healthy, local_api_url, operator_database_url, prefect_home, server_env,
                                   worker_env)

log = logging.getLogger("anjian.prefect")

_PR_SET_PDEATHSIG = 1
try:  # loaded before any fork: the child only makes the call
    _libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover
    _libc = None


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the thread that started us dies (e.g. the
    ``anjian serve`` process is killed with -9), so no orphan server or runner is left behind."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def terminate(proc: subprocess.Popen | None, grace: float) -> int | None:
    """SIGTERM the process, wait up to ``grace`` seconds, then SIGKILL its whole process group
    (whatever it started, e.g. the server's own workers). Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("process %s did not stop within %.0f s; killing it", proc.pid, grace)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group is ours alone (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover
        return None


def drain_prefect_services(timeout: float) -> None:
    """Send what the in-process flow runs left queued (their logs and events) while the server is
    still up: at interpreter exit Prefect would otherwise retry sending it to a stopped server.

    Prefect's ``drain_all`` only waits when no event loop runs in the calling thread — in one (the
    served app's lifespan, a test's loop) it returns a coroutine instead and nothing waits. So it
    is called from a thread of its own, which has no loop: each service gets ``timeout`` seconds."""
    if "prefect" not in sys.modules:
        return

    def drain() -> None:
        try:
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            for service in (APILogWorker, EventsWorker):
                service.drain_all(timeout=timeout, at_exit=False)
        except Exception as exc:  # noqa: BLE001 - stopping goes on
            log.warning("could not drain Prefect's log and event queues: %s", exc)

    thread = threading.Thread(target=drain, name="anjian-prefect-drain", daemon=True)
    thread.start()
    thread.join(2 * timeout + 1)


def ensure_postgres_database(url: str) -> bool:
    """Create the database ``url`` names on its server if it does not exist (connecting to the
    server's ``postgres`` database as the same user). True if it was created."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (u.database,)).fetchone():
            return False
        try:
            conn.execute(f'CREATE DATABASE "{u.database}"')
        except psycopg.errors.DuplicateDatabase:  # created meanwhile by another process
            return False
    return True


class Backoff:
    def __init__(self, initial: float = 1.0, maximum: float = 60.0) -> None:
        self.initial, self.maximum, self.current = initial, maximum, initial

    def next(self) -> float:
        delay, self.current = self.current, min(self.current * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self.current = self.initial


class EmbeddedPrefect:
    """``start()`` returns at once; a supervisor thread starts and watches the children.
    ``stop()`` stops them (SIGTERM, wait, then SIGKILL) and is safe to call twice."""

    STABLE_SECONDS = 60.0      # a child that ran this long resets its backoff
    HEALTH_EVERY = 10.0        # seconds between health checks of a running server
    # Failed checks in a row before the server is restarted: a server that is alive but slow (a loaded
    # machine, a big SQLite write) is not restarted for that — about 2 minutes without an answer.
    UNHEALTHY_LIMIT = 6

    def __init__(self, settings, *, startup_timeout: float = 90.0, stop_grace: float = 15.0,
                 python: str | None = None, in_process_flows: bool = False) -> None:
        self.settings = settings
        self.external = bool(settings.prefect_api_url)
        self.port = int(settings.prefect_port)
        self.api_url = settings.prefect_api_url.rstrip("/") if self.external else local_api_url(self.port)
        self.home: Path = prefect_home(settings)
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.python = python or sys.executable
        self.ready = threading.Event()  # set once the server answers and the worker is started
        self.restarts = {"server": 0, "worker": 0}
        self._server: subprocess.Popen | None = None
        self._worker: subprocess.Popen | None = None
        # in_process_flows: the lanes run as threads of this process (the API's, under `anjian
        # serve` with one uvicorn process) instead of a `python -m workflows.serve` child.
        self.in_process = in_process_flows
        self._loop = None  # workflows.loop.FlowLoop once started (in-process mode)
        self._server_log: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # The children's parent-death signal fires when the thread that started them ends, so the
        # supervisor thread lives until stop() has stopped them (in the order it chooses).
        self._released = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ public

    def start(self, wait: float | None = None) -> bool:
        """Start supervising; with ``wait``, block up to that many seconds until ready."""
        if self._thread is not None:
            return self.ready.is_set()
        self.home.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._supervise, name="anjian-prefect", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        where = self.api_url if self.external else f"{self.api_url} (embedded, PREFECT_HOME={self.home})"
        log.info("Prefect: %s", where)
        print(f"Prefect: {where}", file=sys.stderr, flush=True)
        if wait:
            return self.ready.wait(wait)
        return False

    def stop(self) -> None:
        self._stop.set()
        with self._lock:  # no child is being spawned now, and none will be
            worker, server, loop = self._worker, self._server, self._loop
        # The worker first, while its server is still there to hear it go.
        if loop is not None:
            loop.stop(self.stop_grace)
            drain_prefect_services(5.0)
        terminate(worker, self.stop_grace)
        terminate(server, self.stop_grace)
        self._released.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.stop_grace + 10)
        if self._server_log is not None:
            self._server_log.close()
            self._server_log = None
        self.ready.clear()

    def status(self) -> dict:
        def state(p: subprocess.Popen | None):
            return None if p is None else {"pid": p.pid, "running": p.poll() is None, "exit_code": p.poll()}
        worker = state(self._worker)
        if self.in_process:
            loop = self._loop
            worker = None if loop is None else {"pid": os.getpid(), "in_process": True,
                                                "running": any(t.is_alive() for t in loop._threads)}
        return {"api_url": self.api_url, "external": self.external, "server": state(self._server),
                "worker": worker, "restarts": dict(self.restarts)}

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self._server, self._worker) if p is not None and p.poll() is None]

    # ------------------------------------------------------------ children

    def _spawn(self, attr: str, args: list[str], env: dict[str, str], stdout) -> subprocess.Popen | None:
        """Start a child and record it in one step under the lock, so ``stop()`` either sees it
        or prevents it."""
        with self._lock:
            if self._stop.is_set():
                return None
            proc = subprocess.Popen(args, env=env, stdout=stdout, stderr=subprocess.STDOUT if stdout else None,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_die_with_parent if _libc is not None else None)
            setattr(self, attr, proc)
            return proc

    def _start_server(self) -> subprocess.Popen | None:
        if self._server_log is None:
            self._server_log = open(self.home / "server.log", "ab")
        self._server_log.write(f"\n=== anjian: starting Prefect server {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        self._server_log.flush()
        prefect = Path(self.python).with_name("prefect")
        cmd = [str(prefect)] if prefect.exists() else [self.python, "-m", "prefect"]
        database_url, created = self._server_database()
        env = server_env(self.settings, database_url=database_url)
        if created or (database_url is None and not operator_database_url(env) and not self._sqlite_file().exists()):
            self._migrate_first(cmd, env)
        return self._spawn("_server", cmd + ["server", "start", "--host", "127.0.0.1", "--port", str(self.port),
                                             "--analytics-off"], env, self._server_log)

    def _sqlite_file(self) -> Path:
        return self.home / "prefect.db"  # Prefect's default database under PREFECT_HOME

    def _migrate_first(self, cmd: list[str], env: dict[str, str]) -> None:
        """A new Prefect database is migrated by a short process of its own before the server starts:
        a server that migrates its own database keeps the migrations' memory for its whole life
        (~30 MiB of the idle tree, docs/performance.md session 29). If this fails the server migrates
        as before."""
        proc = self._spawn("_server", cmd + ["server", "database", "upgrade", "-y"], env, self._server_log)
        if proc is None:
            return
        try:
            code = proc.wait(self.startup_timeout)
        except subprocess.TimeoutExpired:
            code = terminate(proc, 5)
        if code and not self._stop.is_set():
            log.warning("Prefect: migrating its new database first failed (exit code %s); the server migrates it "
                        "itself. See %s", code, self.home / "server.log")

    def _server_database(self) -> tuple[str | None, bool]:
        """On PostgreSQL, the server's own database next to the app's (created if missing) and
        whether it was just created; None (SQLite under PREFECT_HOME) on SQLite, when the operator
        chose one, or when it cannot be created (said in the log)."""
        from workflows.prefect_env import prefect_database_url

        url = prefect_database_url(self.settings)
        if url is None or operator_database_url(os.environ):
            return None, False
        try:
            created = ensure_postgres_database(url)
        except Exception as exc:  # no CREATEDB right, server away: Prefect still runs, on SQLite
            log.error("Prefect: could not create its PostgreSQL database (%s: %s); using SQLite under %s. Create it "
                      "or set PREFECT_SERVER_DATABASE_CONNECTION_URL.", type(exc).__name__, exc, self.home)
            print(f"Prefect: could not create its PostgreSQL database ({type(exc).__name__}); using SQLite",
                  file=sys.stderr, flush=True)
            return None, False
        return url, created

    def _start_worker(self) -> subprocess.Popen | None:
        cmd = [self.python, "-m", "workflows.serve", "--name", f"embedded-{socket.gethostname()}",
               "--sweep-interval", str(self.settings.sweep_interval_seconds), "--wait", "30"]
        # The API process of `anjian serve` has said which channels are not configured: the worker
        # it supervises (and restarts) does not say it again.
        env = {**worker_env(self.settings, self.api_url), "ANJIAN_CHANNEL_WARNING_DONE": "1"}
        return self._spawn("_worker", cmd, env, None)

    def _start_loop(self):
        """In-process mode: run the flows' lanes as threads of this process (once; they pause while
        the server is not ready and go on when it is back). Returns the FlowLoop, None if stopping."""
        from workflows.prefect_env import apply_process_defaults

        with self._lock:
            if self._stop.is_set():
                return None
            if "prefect" not in sys.modules:
                # Prefect reads these when first imported (where the operator has not set them).
                apply_process_defaults()
                os.environ.setdefault("PREFECT_API_URL", self.api_url)
                os.environ.setdefault("PREFECT_HOME", str(self.home))
            from workflows.loop import FlowLoop, import_prefect_quietly
            from workflows.serve import delivery_poll

            from workflows.derive_launcher import configure_shared_launcher

            import_prefect_quietly()
            worker = f"embedded-{socket.gethostname()}:{os.getpid()}"[:64]  # recorded on each rung firing
            # Documents are derived and rendered by the derive process (workflows/derive_worker.py),
            # each pass a flow run against this server: WeasyPrint's heap never lives in the API.
            # A derive process left from before (no rendering) is replaced; none is started while
            # nothing is due (its thread checks at once; the sweep lane's check after that).
            launcher = configure_shared_launcher(worker_env(self.settings, self.api_url), render=True)
            self._loop = FlowLoop(sweep_interval=self.settings.sweep_interval_seconds,
                                  delivery_poll=delivery_poll(self.settings), worker=worker,
                                  api_url=self.api_url, gate=self.ready.is_set, offload=launcher.wake)
            self._loop.start()
        try:
            from workflows.serve import retire_old_deployments

            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings({PREFECT_API_URL: self.api_url}):
                retire_old_deployments()
        except Exception as exc:  # never a reason not to serve
            log.warning("could not look for old deployments: %s", exc)
        print(f"Prefect flows: sweep-timers, render-documents, deliver-outbox, daily-digest run in this process "
              f"(pid {os.getpid()}) against {self.api_url}", file=sys.stderr, flush=True)
        return self._loop

    def _sleep(self, seconds: float) -> bool:
        """Wait, waking early on stop; True if we should go on."""
        return not self._stop.wait(seconds)

    # ------------------------------------------------------------ supervisor

    def _ensure_server(self, backoff: Backoff) -> bool:
        """Start the server and wait until it answers; False when it did not (retry later)."""
        if not port_free(self.port):
            if api_healthy(self.api_url):
                log.error("Prefect: port %s already has a Prefect server that is not ours; set ANJIAN_PREFECT_PORT "
                          "to a free port or ANJIAN_PREFECT_API_URL to use that server", self.port)
            else:
                log.error("Prefect: port %s is in use; set ANJIAN_PREFECT_PORT to a free port", self.port)
            return False
        proc = self._start_server()
        if proc is None:
            return False
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline and not self._stop.is_set() and proc.poll() is None:
            if api_healthy(self.api_url, timeout=1.0):
                return True
            self._stop.wait(0.25)
        if not self._stop.is_set():
            log.error("Prefect server did not become healthy (exit code %s); see %s", proc.poll(),
                      self.home / "server.log")
            terminate(proc, 5)
        return False

    def _supervise(self) -> None:
        server_backoff, worker_backoff = Backoff(), Backoff()
        server_since = worker_since = time.monotonic()
        last_check, unhealthy = 0.0, 0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if not self.external:
                    server = self._server
                    if server is None or server.poll() is not None:
                        if server is not None:
                            self.restarts["server"] += 1
                            log.warning("Prefect server exited (code %s); restarting. Timers fire late, in order, "
                                        "once it is back.", server.returncode)
                        self.ready.clear()
                        terminate(self._worker, 5)  # its runner would only fail against a dead API
                        with self._lock:
                            self._worker = None
                        if not self._ensure_server(server_backoff):
                            if not self._sleep(server_backoff.next()):
                                break
                            continue
                        server_since, last_check, unhealthy = time.monotonic(), time.monotonic(), 0
                    elif now - last_check >= self.HEALTH_EVERY:
                        last_check = now
                        unhealthy = 0 if api_healthy(self.api_url, timeout=10.0) else unhealthy + 1
                        if unhealthy >= self.UNHEALTHY_LIMIT:
                            log.error("Prefect server stopped answering; restarting it")
                            terminate(server, 5)
                            continue
                    if now - server_since >= self.STABLE_SECONDS:
                        server_backoff.reset()
                if self.in_process:
                    if self._loop is None and self._start_loop() is None:
                        break
                    self.ready.set()
                    self._stop.wait(1.0)
                    continue
                worker = self._worker
                if worker is None or worker.poll() is not None:
                    if worker is not None:
                        self.restarts["worker"] += 1
                        log.warning("Prefect worker exited (code %s); restarting", worker.returncode)
                        with self._lock:
                            self._worker = None
                        if time.monotonic() - worker_since < self.STABLE_SECONDS:
                            if not self._sleep(worker_backoff.next()):
                                break
                        else:
                            worker_backoff.reset()
                    if self._start_worker() is None:
                        break
                    worker_since = time.monotonic()
                    self.ready.set()
                self._stop.wait(1.0)
        except Exception:  # the API must outlive any bug here
            log.exception("Prefect supervisor failed; Prefect is no longer watched until anjian serve is restarted")
        self._released.wait()  # see __init__: our exit would SIGTERM the children