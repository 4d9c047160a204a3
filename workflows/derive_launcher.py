"""The API process's side of the derive process (workflows/derive_worker.py).

A request that committed an event with documents due calls :meth:`DeriveLauncher.wake` — it sets
an event and returns (no I/O on the request's thread). The launcher's thread then starts the derive
process if none is running (a fresh ``python -m workflows.derive_worker``, niced) — having first
derived up to ``ANJIAN_DERIVE_INLINE_CASES`` cases itself, so a webhook or SMS after a quiet spell
does not wait the ~1 s the process takes to start — and writes one byte to its stdin; the derive process works off every pending event in batches and stays warm
for ``ANJIAN_DERIVE_IDLE_SECONDS`` after its last work, so a busy period pays the start-up (the
imports: ~1.5 s of CPU without Prefect, ~4 s with it) once. A sign-in or signed-in request
(:meth:`DeriveLauncher.warm`) starts it ahead and keeps it up ``ANJIAN_DERIVE_KEEP_WARM_SECONDS``
after the last such request (a ``k`` on its stdin), so an officer who reads for minutes before
acting does not pay the start-up either; nobody signed in, nothing keeps it. Its ``o`` lines ("outbox rows
committed") wake this process's deliverer (cases/issuance/wakeup.py).

Without a wake — a commit by another process, a derive process killed mid-batch — the launcher
checks every ``poll_seconds`` whether an event is still due (one indexed ``SELECT … LIMIT 1``, the
partial index) and starts the derive process for it; under ``anjian serve`` the sweep lane's
check wakes it too (workflows/loop.py). Nothing is rendered in the API process, and nothing is
derived there while a derive process runs (under load it takes all of it: its own core, niced).
While a rendering launcher's derive process is not yet ready, the documents due are rendered by a
lean process it starts with the inline derivation (notifications/documents/cold_render.py): the first PDF
after a quiet spell is ready ~1 s after the commit instead of ~2.5 s.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from typing import Mapping

log = logging.getLogger("anjian.derive")

POLL_SECONDS = 15.0
WARM_EVERY_SECONDS = 5.0


class DeriveLauncher:
    def __init__(self, env: Mapping[str, str] | None = None, *, poll_seconds: float = POLL_SECONDS,
                 render: bool = False, python: str = sys.executable, due=None, inline_cases: int = 0,
                 database=None) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.configure(env, render=render)
        self.poll_seconds = float(poll_seconds)
        # > 0: woken while no derive process runs, this thread first derives up to this many cases
        # itself (ANJIAN_DERIVE_INLINE_CASES), so the first messages after a quiet spell do not wait
        # ~1 s for a process to start; the process is still started for the rest and the rendering.
        self.inline_cases = int(inline_cases)
        self.inline_derived = 0  # events derived on this thread (tests, logs)
        self._database = database  # default: cases.platform.db.get_database()
        self.python = python
        self._due = due  # () -> bool: is work pending? (default: cases.issuance.derive.derivations_due)
        self._wake = threading.Event()
        self._ready_pid: int | None = None
        self._warm = False
        self._committed = False
        self._flags = threading.Lock()  # _warm/_committed: set by request threads, taken by the thread
        self._warmed_at = -WARM_EVERY_SECONDS
        self.warmed = 0  # derive processes started by warm() (tests, logs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = 0  # derive processes started (tests, logs)
        self._cold = None  # notifications.documents.cold_render.ColdRenderer at work, if any
        self.cold_started = 0  # lean render processes started (tests, logs)

    # ------------------------------------------------------------ public

    def start(self) -> "DeriveLauncher":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="anjian-derive-launcher", daemon=True)
            self._thread.start()
        return self

    def configure(self, env: Mapping[str, str] | None = None, *, render: bool = False) -> None:
        """The environment of the derive processes started from now on (one running goes on)."""
        env = dict(os.environ if env is None else env)
        if env.get("ANJIAN_DERIVE_PREFECT_API_URL") and not env.get("PREFECT_API_URL"):
            env["PREFECT_API_URL"] = env["ANJIAN_DERIVE_PREFECT_API_URL"]
        if render:
            env["ANJIAN_DERIVE_RENDER"] = "1"
        env.setdefault("PYTHONUNBUFFERED", "1")
        with self._lock:
            changed = getattr(self, "env", env) != env
            self.env = env
            proc = self._proc if changed else None
            if proc is not None:
                self._proc = None
        if proc is not None:
            # A process started with the old environment (e.g. before ``anjian serve`` knew its
            # Prefect server: no rendering) finishes its batch and exits; the next one gets the new.
            try:
                proc.stdin.close()
            except OSError:
                pass
            if hasattr(self, "_wake"):
                self._wake.set()

    def wake(self) -> None:
        """Work was committed: have the derive process look (started if needed). Cheap, never blocks."""
        with self._flags:
            self._committed = True
        self._wake.set()

    def warm(self) -> None:
        """Someone is working (a sign-in or a signed-in request): have a derive process running, so
        the next commit's documents do not wait for one to start — its imports (~3 s of CPU with
        Prefect) and its first PDF's fonts — and tell it (a ``k``) to stay up
        ``ANJIAN_DERIVE_KEEP_WARM_SECONDS`` from now, however long this person reads before acting.
        Nobody at work: it leaves ``ANJIAN_DERIVE_IDLE_SECONDS`` after its last work, and an idle
        service starts none. Cheap, never blocks; at most one look every ``WARM_EVERY_SECONDS``."""
        now = time.monotonic()
        if now - self._warmed_at < WARM_EVERY_SECONDS:
            return
        self._warmed_at = now
        with self._flags:
            self._warm = True
        self._wake.set()

    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def ready(self) -> bool:
        """A derive process runs and has said it is ready (its imports done and WeasyPrint warmed
        up: it works at once, and its first render does not hold up the next derivations)."""
        pid = self.pid()
        return pid is not None and pid == self._ready_pid

    def stop(self, grace: float = 15.0) -> None:
        """Stop launching; the derive process finishes the batch in hand (stdin closed) or is killed."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._cold is not None:
            self._cold.stop()
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("derive process %s did not stop within %.0f s; killing it", proc.pid, grace)
            proc.kill()
            proc.wait(timeout=5)

    # ------------------------------------------------------------ the thread

    def _work_due(self) -> bool:
        try:
            if self._due is not None:
                return bool(self._due())
            from cases.platform.db import get_database
            from cases.issuance.derive import derivations_due

            return derivations_due(get_database())
        except Exception as exc:  # noqa: BLE001 - the database is away: the next poll
            log.warning("derive launcher: could not check for pending work: %s", exc)
            return False

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            woke = self._wake.wait(0 if first else self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._flags:
                warm, self._warm = self._warm, False
                committed, self._committed = self._committed, False
            if not woke and self.pid() is not None:
                continue  # a live derive process polls nothing: it was woken for what is pending
            if committed or (self.pid() is None and self._work_due()):
                if self.inline_cases > 0 and not self.ready():
                    cold = self._cold_renderer()  # a lean render process loads WeasyPrint meanwhile
                    self._derive_inline()  # none running, or one still starting (readied by warm())
                    if cold is not None:
                        cold.poke()
                self._signal()
            elif warm and self.pid() is None:
                if self._ensure() is not None:
                    self.warmed += 1
            if warm:
                self._keep_warm()
            first = False

    def _derive_inline(self) -> None:
        """A few cases' documents derived on this thread (rendered by the lean process of
        :meth:`_cold_renderer`, or by the derive process: the e-mails that attach a PDF wait for it,
        notifications/delivery/service.py); their commits wake this process's deliverer. Errors leave the
        events pending for the derive process."""
        try:
            from cases.platform.db import get_database
            from cases.issuance.derive import derive_pending

            db = self._database or get_database()
            self.inline_derived += derive_pending(db, limit=self.inline_cases)["events"]
        except Exception as exc:  # noqa: BLE001 - the derive process will find them still due
            log.warning("derive launcher: deriving in the API process failed: %s", exc)

    def _cold_renderer(self):
        """Rendering launchers only: the documents due while no derive process is ready are rendered
        by a lean process fed from this one (notifications/documents/cold_render.py) — started now, before the
        commit's documents are derived, or the one still at work."""
        if self.env.get("ANJIAN_DERIVE_RENDER") != "1":
            return None
        cold = self._cold
        if cold is not None and cold.alive():
            return cold
        try:
            from cases.platform.config import get_settings
            from notifications.documents.cold_render import ColdRenderer

            self._cold = cold = ColdRenderer(self.python, self.env, ready=self.ready, limit=self.inline_cases,
                                             database=self._database, nice=get_settings().derive_nice)
        except Exception as exc:  # noqa: BLE001 - e.g. no process could be started: the derive process renders
            log.warning("derive launcher: could not start the lean render process: %s", exc)
            return None
        self.cold_started += 1
        return cold

    def _signal(self) -> None:
        for _ in range(2):
            proc = self._ensure()
            if proc is None:
                return
            try:
                os.write(proc.stdin.fileno(), b"w")
                return
            except BlockingIOError:  # its pipe is full of wakes: it has plenty to look at
                return
            except (BrokenPipeError, OSError, ValueError):  # it just exited (idle or recycled): start the next
                with self._lock:
                    if self._proc is proc:
                        self._proc = None
                proc.wait()

    def _keep_warm(self) -> None:
        """Tell the running derive process someone is at work (``k``: it stays up a while)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.write(proc.stdin.fileno(), b"k")
        except (BlockingIOError, BrokenPipeError, OSError, ValueError):
            pass  # a full pipe is a busy process; a closed one is starting over at the next wake

    def _ensure(self) -> subprocess.Popen | None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return self._proc
            if self._stop.is_set():
                return None
            try:
                proc = subprocess.Popen([self.python, "-m", "workflows.derive_worker"], env=self.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
            except OSError as exc:
                log.error("could not start the derive process: %s", exc)
                return None
            os.set_blocking(proc.stdin.fileno(), False)
            self._proc = proc
            self.started += 1
        threading.Thread(target=self._read, args=(proc,), name="anjian-derive-out", daemon=True).start()
        return proc

    def _read(self, proc: subprocess.Popen) -> None:
        """The derive process's lines: ``o`` outbox rows committed — wake this process's deliverers;
        ``r`` ready (its imports done)."""
        from cases.issuance import wakeup

        for line in proc.stdout:
            said = line.strip()
            if said == b"o":
                wakeup.wake_outbox()
            elif said == b"r":
                self._ready_pid = proc.pid
        proc.wait()


_launcher: DeriveLauncher | None = None
_launcher_lock = threading.Lock()


def shared_launcher(env: Mapping[str, str] | None = None, **kwargs) -> DeriveLauncher:
    """This process's one launcher (started on first use)."""
    global _launcher
    with _launcher_lock:
        if _launcher is None:
            kwargs.setdefault("inline_cases", _inline_cases())
            _launcher = DeriveLauncher(env, **kwargs).start()
        return _launcher


def _inline_cases() -> int:
    from cases.platform.config import get_settings

    return get_settings().derive_inline_cases


def configure_shared_launcher(env: Mapping[str, str] | None = None, *, render: bool = False) -> DeriveLauncher:
    """Set what this process's derive processes get from now on (``anjian serve`` with its lanes
    in-process: render too, against its embedded Prefect server once it answers)."""
    global _launcher
    with _launcher_lock:
        if _launcher is None:
            _launcher = DeriveLauncher(env, render=render, inline_cases=_inline_cases()).start()
        else:
            _launcher.configure(env, render=render)
        return _launcher


def current_launcher() -> DeriveLauncher | None:
    return _launcher


def warm() -> None:
    launcher = current_launcher()
    if launcher is not None:
        launcher.warm()


def wake() -> None:
    """Wake this process's launcher (started on first use): what the API calls after a commit."""
    (_launcher or shared_launcher()).wake()
