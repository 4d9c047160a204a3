"""The flows run in-process by long-lived lanes: no process per flow run.

The lanes run in the API process under ``anjian serve`` (workflows/embedded.py), or in a worker
(``anjian worker``, or the child ``python -m workflows.serve`` of ``anjian serve --workers N``),
which imports Prefect and the flows once. Two lanes, each a thread:

* the **sweep lane**, every ``sweep_interval`` seconds: ``sweep-timers`` when a timer is due, then
  ``render-documents`` when an issued document waits to be rendered, then ``daily-digest`` once at
  08:00 Asia/Shanghai;
* the **delivery lane**: ``deliver-outbox`` when an outbox row is due (pending, or a ``sending`` row
  whose lease expired), checked as soon as a transaction that wrote to the outbox commits — in this
  process (cases/issuance/wakeup.py), or on PostgreSQL in another (``LISTEN``/``NOTIFY``) — and every
  ``delivery_poll`` seconds (1 s by default) as the fallback; a slow channel never holds up the
  timers.

Each of those calls is a Prefect flow run against the configured Prefect API — created, tracked
with its task runs, retried per task (``retries=2``) and listed in the Prefect UI like any other —
executed in this process. What a lane does when there is nothing to do is one indexed ``SELECT …
LIMIT 1`` on the app database: an idle tick creates no flow run, starts no process and sends
nothing to Prefect. The checks are the very conditions the flows claim work by
(``Timer.status/fire_at``, ``notifications.documents.store.due_documents``, the outbox claim in
``notifications.delivery.service``), so a tick that skips has nothing a flow run would have done.

Before each of those runs the lane asks the Prefect API's health check (``prefect_answers``, 2 s):
a Prefect server that does not answer (seen stalled for up to a minute with its SQLite database
locked) would hold the run in Prefect's client for a minute and more, so the lane then does the same
work without a flow run (the flows' own batch loops, workflows/passes.py: ``sweep_plainly`` /
``deliver_plainly`` / ``render_plainly`` / ``derive_plainly``) and says so on stderr once a minute; the
digest always waits for Prefect.

Exactly-once stays the app database's job (workflows/flows.py): any number of workers may run
these lanes against one database; ``SKIP LOCKED`` and unique keys keep every effect single.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from cases.platform import clock, heartbeat
from cases.platform.db import get_database
from cases.issuance.derive import derivations_due
from cases.analogs import clock as analog_clock
from cases.credit import sweep as credit_sweep
from cases.patterns import detect as pattern_detect
from cases.models import CalendarState, Deadline, Document, OutboxMessage, Timer
from workflows.prefect_env import DIGEST_TIMEZONE, default_worker_name

log = logging.getLogger("anjian.workflows.loop")

DELIVERY_POLL_SECONDS = 1.0
# A lane's delivery run stays open for the next messages (workflows/passes.py Linger): until this long
# without work, and at most this long in all (the Prefect UI shows one run per burst or per minute).
DELIVERY_LINGER_SECONDS = 10.0
DELIVERY_WINDOW_SECONDS = 60.0
IDLE_BEAT_SECONDS = 30.0  # an idle sweep lane's heartbeat (cases/platform/heartbeat.py: stale after >= 3 min)
DIGEST_HOUR = 8  # the digest's moment: 08:00 in DIGEST_TIMEZONE (prefect_env.DIGEST_CRON)


# ---------------------------------------------------------------- is Prefect there?

PROBE_SECONDS = 2.0


def prefect_answers(api_url: str | None = None, timeout: float = PROBE_SECONDS) -> bool:
    """Does the Prefect API answer ``GET /health`` within ``timeout``? Asked before each sweep and
    delivery run: Prefect's client waits up to a minute and retries when the server stalls (seen
    with its SQLite database locked, docs/performance.md), and the lanes must not wait with it."""
    import urllib.request

    if not api_url:
        from prefect.settings import PREFECT_API_URL

        api_url = PREFECT_API_URL.value()
    if not api_url:
        return True  # no server configured: Prefect runs its own (nothing to probe)
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, ValueError):
        return False


# A flow run that has not ended after STALL_SECONDS while the Prefect API does not answer its health
# check is taken for stalled (its client waits up to a minute per call, and retries): its work is done
# meanwhile without a flow run, by the same claims, so still exactly once.
STALL_SECONDS = 3.0


def run_guarded(flow_call: Callable[[], object], plain_call: Callable[[], object], *, api_url: str | None = None,
                name: str = "", stall_seconds: float = STALL_SECONDS,
                on_rescue: Callable[[str], None] | None = None) -> object:
    """``flow_call()`` (a flow run) with a watchdog: if the run has not returned after ``stall_seconds``
    and the Prefect API does not answer ``/health``, ``plain_call()`` (the same pass without a flow
    run) runs on the watchdog's thread, and again every ``stall_seconds`` while the stall lasts.

    The health check before a run (``prefect_answers``) covers a server already stalled; this covers
    one that stalls *inside* a run — seen on SQLite (docs/performance.md "The stall"), where the
    deliveries of the next minute waited for the stuck run. Both passes claim their rows in the
    database (``SKIP LOCKED``, leases, unique firings), so running them side by side is safe; what
    must not run twice at once in one process (rendering) holds its own lock."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(stall_seconds):
            if prefect_answers(api_url):
                continue  # a long run, not a stalled one
            if done.is_set():
                return
            if on_rescue is not None:
                on_rescue(name)
            try:
                plain_call()
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                print(f"anjian worker: {name} (while the flow run is stalled) failed: {type(exc).__name__}: {exc}"[:500],
                      file=sys.stderr, flush=True)

    watchdog = threading.Thread(target=watch, name=f"anjian-{name or 'flow'}-watchdog", daemon=True)
    watchdog.start()
    try:
        return flow_call()
    finally:
        done.set()


# ---------------------------------------------------------------- is there work? (one indexed SELECT each)


def _exists(stmt) -> bool:
    with get_database().session() as s:
        return s.execute(stmt.limit(1)).first() is not None


def timers_due(now: datetime) -> bool:
    return _exists(select(Timer.id).where(Timer.status == "pending", Timer.fire_at <= now))


def calendar_stale() -> bool:
    """An open deadline computed with a calendar older than the last upload (cases/calendar/calendar_repair.py):
    the sweep flow repairs it first."""
    current = select(CalendarState.generation).where(CalendarState.id == 1).scalar_subquery()
    return _exists(select(Deadline.id).where(Deadline.status == "open", Deadline.calendar_gen < current))


def campaign_rounds_due(now: datetime) -> bool:
    """A campaign round's rung whose moment has come for a district not yet looked at (cases/campaigns/clock.py)."""
    from cases.campaigns.clock import rounds_due

    with get_database().session() as s:
        return rounds_due(s, now)


def documents_due(now: datetime) -> bool:
    from notifications.documents.store import ISSUED

    return _exists(select(Document.id).where(
        Document.status == ISSUED, or_(Document.next_render_at.is_(None), Document.next_render_at <= now)))


def outbox_due(now: datetime) -> bool:
    from notifications.delivery.service import deliverable

    return _exists(select(OutboxMessage.id).where(deliverable(now)))


def wakeup_channel() -> str:
    from cases.issuance.wakeup import CHANNEL

    return CHANNEL


def next_digest_at(after: datetime) -> datetime:
    """The first 08:00 Asia/Shanghai strictly after ``after`` (what the cron ``0 8 * * *`` in
    that zone gives)."""
    tz = ZoneInfo(DIGEST_TIMEZONE)
    local = after.astimezone(tz)
    moment = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if moment <= local:
        moment = (local + timedelta(days=1)).replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    return moment


def release_memory() -> None:
    """After rendering: WeasyPrint leaves its document trees as cyclic garbage that the collector's
    thresholds rarely reach (measured: 121 MiB after imports, 571 MiB after rendering 11 documents,
    177 MiB after ``gc.collect()``, 165 MiB after ``malloc_trim``), so collect it now and hand the
    freed heap back to the system."""
    import ctypes
    import gc

    # The served API process freezes its long-lived objects (api/gc_tuning.py); a render that was
    # in flight during one of those freezes would stay frozen for good: collect with them thawed,
    # then freeze again what is still alive (the long-lived objects, cheaply out of later passes).
    frozen = gc.get_freeze_count() if _thaw_on_release else 0
    if frozen:
        gc.unfreeze()
    gc.collect()
    if frozen:
        gc.freeze()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


_thaw_on_release = True


def freeze_long_lived() -> None:
    """For a process that freezes once, at a moment it has nothing in flight (the derive process
    between two passes, its imports and font warm-up done): collect, then freeze what is left — the
    modules, mappers, fonts and compiled statements it keeps — so later full collections walk only
    what its passes create (a full collection with Prefect imported: 130-160 ms of CPU, measured).
    From then on :func:`release_memory` collects without thawing: nothing was in flight."""
    import gc

    global _thaw_on_release
    release_memory()
    gc.freeze()
    _thaw_on_release = False


# Loggers of the process that runs the lanes which Prefect's logging setup (run on its first
# import) would take over: uvicorn's (level WARNING, Prefect's handler) when the lanes run in the API.
_KEPT_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


def import_prefect_quietly() -> None:
    """Import Prefect and the flows, keeping the level, handlers and propagation of the host's
    uvicorn/fastapi loggers as they were (Prefect's dictConfig reconfigures them)."""
    kept = {}
    for name in _KEPT_LOGGERS:
        lg = logging.getLogger(name)
        kept[name] = (lg.level, list(lg.handlers), lg.propagate, lg.disabled)
    import workflows.flows  # noqa: F401  (imports prefect and sets up its logging)

    for name, (level, handlers, propagate, disabled) in kept.items():
        lg = logging.getLogger(name)
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled


def import_flow_engine() -> None:
    """What a process's first flow run would import on its way (Prefect 3: the flow and task
    engines, and FastAPI's encoder for the run's parameters — ~0.1 s of CPU, ~0.15 s off that first
    run's 0.4–0.6 s, measured in docs/performance.md), imported now, at a quiet moment. Best effort:
    a module another Prefect release moved is simply imported by the run itself."""
    import importlib

    for name in ("prefect.flow_engine", "prefect.task_engine", "fastapi.encoders"):
        try:
            importlib.import_module(name)
        except ImportError:
            log.debug("import_flow_engine: %s not found", name)


# ---------------------------------------------------------------- the lanes


class FlowLoop:
    """Run the flows in this process until ``stop()``. ``runs`` counts the flow runs each lane
    started (and ``failures`` those that raised), for tests and logs."""

    def __init__(self, *, sweep_interval: float, delivery_poll: float = DELIVERY_POLL_SECONDS,
                 delivery_linger: float = DELIVERY_LINGER_SECONDS, delivery_window: float = DELIVERY_WINDOW_SECONDS,
                 digest: bool = True, worker: str | None = None, api_url: str | None = None,
                 gate: Callable[[], bool] | None = None, offload: Callable[[], None] | None = None) -> None:
        from workflows.flows import daily_digest, deliver_outbox, render_documents, sweep_timers
        from workflows.passes import SWEEP_BUDGET_SECONDS

        self.sweep_interval = float(sweep_interval)
        self.delivery_poll = float(delivery_poll)
        self.delivery_linger = float(delivery_linger)
        self.delivery_window = float(delivery_window)
        self._delivery_handover = False  # the last delivery run ended at its window while busy (Linger)
        self.worker = worker
        self.api_url = api_url  # the Prefect API of the lanes' flow runs (else Prefect's own setting)
        self.gate = gate        # ticks skip while it says False (e.g. the embedded server restarting)
        # Set (the API process's lanes): derivation and rendering are the derive process's
        # (workflows/derive_launcher.py); the sweep lane only wakes it when its check finds work.
        self.offload = offload
        budget = min(SWEEP_BUDGET_SECONDS, max(5.0, 5 * self.sweep_interval))
        self._sweep = lambda: sweep_timers(worker=worker, budget_seconds=budget)
        self._render = lambda: render_documents(budget_seconds=budget)
        from workflows.derive_flow import derive_documents

        self._derive = lambda: derive_documents(budget_seconds=budget)
        self._deliver_once = lambda: deliver_outbox(worker=worker, budget_seconds=budget)
        # The same work without a flow run, while the Prefect API does not answer (prefect_answers):
        # a stalled Prefect server delays no rung and no message (exactly-once is the database's).
        from workflows.passes import deliver_plainly, derive_plainly, render_plainly, sweep_plainly

        plain_worker = worker or default_worker_name()
        self._plain = {"sweep-timers": lambda: sweep_plainly(plain_worker, budget),
                       "deliver-outbox": lambda: deliver_plainly(plain_worker, budget),
                       "render-documents": lambda: render_plainly(budget),
                       "derive-documents": lambda: derive_plainly(budget)}
        self.plain_runs = dict.fromkeys(self._plain, 0)
        self.rescues = dict.fromkeys(self._plain, 0)  # passes run while a flow run was stalled (run_guarded)
        self._next_plain_warning = 0.0
        self._digest = daily_digest if digest else None
        self.next_digest = next_digest_at(clock.now()) if digest else None
        self.runs = {"sweep-timers": 0, "derive-documents": 0, "render-documents": 0, "deliver-outbox": 0,
                     "daily-digest": 0}
        self.failures = dict.fromkeys(self.runs, 0)
        self._stop = threading.Event()
        # Set by wake() — a commit that wrote to the outbox in this process (cases/issuance/wakeup.py) — so
        # the delivery lane checks at once instead of at its next poll.
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_idle_beat = 0.0

    # ------------------------------------------------------------ public

    def start(self) -> None:
        from cases.issuance import wakeup

        for name, body, every, wake, first in (
                ("sweep", self._sweep_tick, self.sweep_interval, None, None),
                ("delivery", self._delivery_tick, self.delivery_poll, self._wake, self._load_senders)):
            t = threading.Thread(target=self._lane, args=(body, every, wake, first), name=f"anjian-{name}-lane",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        wakeup.add_outbox_waker(self.wake)
        if self.offload is not None:
            from notifications.delivery.service import render_elsewhere

            render_elsewhere(True)  # an e-mail waits for the derive process's render, never renders here
        db = get_database()
        if db.dialect == "postgresql":
            t = threading.Thread(target=self._listen, args=(db.url,), name="anjian-outbox-listen", daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        """Check the outbox now (called after a commit that wrote to it)."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the lanes to stop after the flow run in hand; True if they all stopped in time."""
        from cases.issuance import wakeup

        wakeup.remove_outbox_waker(self.wake)
        if self.offload is not None:
            from notifications.delivery.service import render_elsewhere

            render_elsewhere(False)
        self._stop.set()
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def wait(self) -> None:
        """Block until ``stop()`` (from a signal handler or another thread)."""
        while not self._stop.wait(1.0):
            pass

    def _listen(self, url: str) -> None:
        """PostgreSQL: ``LISTEN`` for commits of other processes that wrote to the outbox
        (cases/issuance/wakeup.py) and wake the delivery lane; reconnect after an error. The poll goes on
        regardless (the fallback)."""
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {wakeup_channel()}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=2.0, stop_after=1):
                            self.wake()
            except Exception as exc:  # the database is away: poll meanwhile, listen again later
                log.warning("outbox LISTEN failed (%s: %s); polling only, retrying in 10 s", type(exc).__name__, exc)
                self._stop.wait(10.0)

    # ------------------------------------------------------------ ticks

    def _run(self, name: str, call: Callable[[], object]) -> None:
        self.runs[name] += 1
        plain = self._plain.get(name)
        if plain is not None and not prefect_answers(self.api_url):
            self.plain_runs[name] += 1
            self._warn_plain(name)
            call = plain
        elif plain is not None:
            flow_call = call
            call = lambda: run_guarded(flow_call, plain, api_url=self.api_url, name=name,  # noqa: E731
                                       on_rescue=self._rescued)
        try:
            call()
        except Exception as exc:  # the flow run failed (after its task retries) or Prefect is unreachable
            self.failures[name] += 1
            print(f"anjian worker: {name} failed: {type(exc).__name__}: {exc}"[:500], file=sys.stderr, flush=True)

    def _warn_plain(self, name: str) -> None:
        if time.monotonic() >= self._next_plain_warning:
            self._next_plain_warning = time.monotonic() + 60.0
            print(f"anjian worker: the Prefect API did not answer its health check within {PROBE_SECONDS:.0f} s; "
                  f"{name} runs without a flow run until it does", file=sys.stderr, flush=True)

    def _rescued(self, name: str) -> None:
        """A flow run of ``name`` stalled inside (run_guarded): its pass runs without one meanwhile."""
        self.rescues[name] += 1
        self._warn_plain(name)

    def _sweep_tick(self) -> None:
        now = clock.now()
        if (timers_due(now) or calendar_stale() or campaign_rounds_due(now)
                or analog_clock.due_check(get_database(), now)
                or credit_sweep.due_check(get_database(), now)
                or pattern_detect.due_check(get_database(), now)):
            self._run("sweep-timers", self._sweep)  # the flow records the sweep's heartbeat
        elif time.monotonic() >= self._next_idle_beat:
            # Nothing due is a sweep done too: /readyz must not call an idle worker stale. At most
            # every IDLE_BEAT_SECONDS (one UPDATE), well inside the stale bound (cases/platform/heartbeat.py).
            from workflows.passes import record_heartbeat

            record_heartbeat(self.worker or default_worker_name(), heartbeat.SWEEP)
            self._next_idle_beat = time.monotonic() + IDLE_BEAT_SECONDS
        if self.offload is not None:
            if not self._stop.is_set() and (derivations_due(get_database()) or documents_due(clock.now())):
                self.offload()  # the derive process runs derive-documents / render-documents
        else:
            if not self._stop.is_set() and derivations_due(get_database()):  # documents an API process left (cases/issuance/derive.py)
                self._run("derive-documents", self._derive)
            if not self._stop.is_set() and documents_due(clock.now()):
                self._run("render-documents", self._render)
                release_memory()
        if self._digest is not None and not self._stop.is_set() and clock.now() >= self.next_digest:
            self.next_digest = next_digest_at(clock.now())
            self._run("daily-digest", self._digest)

    def _deliver(self) -> object:
        """A delivery flow run that lingers for the next messages (workflows/passes.py Linger)."""
        from workflows.passes import Linger, lingering

        linger = Linger(self._wake, self._stop, lambda: outbox_due(clock.now()), idle_seconds=self.delivery_linger,
                        window_seconds=self.delivery_window, poll_seconds=min(self.delivery_poll, DELIVERY_POLL_SECONDS))
        try:
            with lingering(linger if self.delivery_linger > 0 else None):
                return self._deliver_once()
        finally:
            if linger.handover and not self._stop.is_set():
                self._delivery_handover = True  # the next run now, before the next commit needs it
                self._wake.set()

    def _delivery_tick(self) -> None:
        handover, self._delivery_handover = self._delivery_handover, False
        if handover or outbox_due(clock.now()):
            self._run("deliver-outbox", self._deliver)

    @staticmethod
    def _load_senders() -> None:
        """The delivery lane's first step: a channel that sends outside has its sender loaded now,
        not on the way of the first message (notifications/channels/usage.py)."""
        try:
            from cases.platform.config import get_settings
            from notifications.channels.usage import load_senders_if_configured

            with get_database().session() as s:
                load_senders_if_configured(s, get_settings())
        except Exception as exc:  # noqa: BLE001 - the first message loads them itself
            log.warning("could not load the senders ahead: %s: %s", type(exc).__name__, exc)

    def _lane(self, body: Callable[[], None], every: float, wake: threading.Event | None,
              first: Callable[[], None] | None = None) -> None:
        if first is not None:
            first()
        # Settings live in a context variable: set them in the lane's own thread. Heartbeats off:
        # each would add a thread per run and ~1 s to every sync flow run (shared/notes/prefect.md).
        from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        overrides = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        if self.api_url:
            overrides[PREFECT_API_URL] = self.api_url
        sleeper = wake or self._stop  # stop() sets both
        with temporary_settings(overrides):
            while not self._stop.is_set():
                started = time.monotonic()
                if wake is not None:
                    wake.clear()  # a commit from now on wakes the next wait
                try:
                    if self.gate is None or self.gate():
                        body()
                except Exception as exc:  # the app database is unreachable: try again next tick
                    print(f"anjian worker: tick failed: {type(exc).__name__}: {exc}"[:500], file=sys.stderr,
                          flush=True)
                sleeper.wait(max(0.05, every - (time.monotonic() - started)))
