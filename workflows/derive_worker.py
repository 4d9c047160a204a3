"""The derive process: documents derived after commit (cases/issuance/derive.py), out of the API process.

``python -m workflows.derive_worker`` is started on demand by the API process that committed an
event with documents due (workflows/derive_launcher.py) and works off the pending events in
batches: the 文号, the snapshot, recipients and outbox rows (:func:`cases.issuance.derive.derive_pending`),
then — where the launcher asks for it (``ANJIAN_DERIVE_RENDER=1``: under ``anjian serve``, whose
lanes run in the API process) — the PDFs of what it issued (``render-batch`` tasks), so WeasyPrint's
heap never lives in the API process. With a Prefect API configured (``PREFECT_API_URL``) a pass is
one Prefect flow run (``derive-documents``: derive-batch and render-batch task runs with retries,
listed in the UI) that lingers for the next commits — up to ``LINGER_IDLE_SECONDS`` without work,
``LINGER_WINDOW_SECONDS`` in all — so a busy minute costs one run's creation, not two per
transition; until Prefect is imported (on a thread, after a few quiet seconds: ``Pass.quiet``) and
without a Prefect API (``anjian serve --no-prefect``) the same batch loops run without a flow run
(workflows/passes.py).

Its protocol with the launcher is two pipes: a byte ``k`` on stdin is "someone is at work: stay up
``ANJIAN_DERIVE_KEEP_WARM_SECONDS`` from now", any other byte is "a commit left work", EOF is
"your parent is gone, finish the batch in hand and exit"; a line ``r`` on stdout is "ready"
(imports done and, when it renders, WeasyPrint warmed up: its next PDF costs what later ones do),
a line ``o`` is "outbox rows were committed" (the parent wakes its in-process deliverer; on
PostgreSQL the transaction that wrote them also sent the ``NOTIFY`` other processes
listen to: cases/issuance/wakeup.py). It runs niced (the kernel serves the requests first) and
exits after ``ANJIAN_DERIVE_IDLE_SECONDS`` (Settings.derive_idle_seconds) without work — and not
before ``ANJIAN_DERIVE_KEEP_WARM_SECONDS`` after the last ``k`` — or after ``ANJIAN_DERIVE_MAX_ITEMS``
events and documents (recycled: the heap goes back to the system); the launcher starts the next
one at the next commit. Killed at any point it loses nothing: the event's ``derive_due`` flag and
the partial index stay until the transaction that derived it commits, and the unique keys make a
second derivation a no-op (cases/issuance/derive.py).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time

log = logging.getLogger("anjian.derive_worker")

PASS_BUDGET_SECONDS = 20.0
# A full collection and malloc_trim (workflows/loop.py release_memory): after a quiet second, not
# after every pass (the renders collect their garbage after each batch themselves, workflows/passes.py).
RELEASE_AFTER_QUIET_SECONDS = 1.0
# Prefect is imported after this long without work, or after PREFECT_IMPORT_LATEST_SECONDS busy
# (Pass.quiet): an import beside a pass slows it by about as much as the import costs.
PREFECT_IMPORT_QUIET_SECONDS = 5.0
PREFECT_IMPORT_LATEST_SECONDS = 30.0


# A pass's flow run stays open for the next commits (workflows/passes.py Linger): this long without
# work, this long in all, polling for work left by others this often.
LINGER_IDLE_SECONDS = 10.0
LINGER_WINDOW_SECONDS = 60.0
LINGER_POLL_SECONDS = 1.0


class Pass:
    """One pass: derive what is pending, then render what is due — with Prefect, one flow run
    (``derive-documents``) that does both and lingers for the next commits."""

    def __init__(self, *, use_prefect: bool, render: bool, wake: threading.Event | None = None,
                 stop: threading.Event | None = None, linger_seconds: float = LINGER_IDLE_SECONDS) -> None:
        self.use_prefect, self.render = use_prefect, render
        # The last pass ended within its budget: it left nothing it saw (the main loop need not look again
        # before the next wake).
        self.settled = False
        self.wake = wake or threading.Event()
        self.stop = stop or threading.Event()
        self.linger_seconds = linger_seconds
        self._handover = False  # the last flow run ended at its window while busy: start the next at once
        # Prefect is imported on a thread (~2 s of CPU) when there is nothing to do (:meth:`quiet`),
        # or after PREFECT_IMPORT_LATEST_SECONDS of work; until it is in, passes run without a flow run.
        self.prefect_ready = threading.Event()
        self._prefect_importing = not use_prefect
        self._born = time.monotonic()
        self._prefect_thread: threading.Thread | None = None
        from cases.issuance import wakeup

        # The parent hears of each commit that wrote to the outbox on a pipe (_outbox_committed); other
        # processes by the NOTIFY inside that transaction (main: wakeup.notify_other_processes).
        wakeup.add_outbox_waker(self._outbox_committed)

    def prefect_settled(self) -> bool:
        """Prefect imported (or not wanted, or its import failed): nothing more is loaded for good."""
        return not self.use_prefect or self.prefect_ready.is_set() or (
            self._prefect_thread is not None and not self._prefect_thread.is_alive())

    def quiet(self) -> None:
        """Nothing to do for a while: the moment to import Prefect (~2 s of CPU, on a thread) without
        slowing a pass down — the commits that started this process, and those right after, are
        derived and rendered without a flow run and without sharing the CPU with the import."""
        if not self._prefect_importing:
            self._prefect_importing = True
            self._prefect_thread = threading.Thread(target=self._import_prefect, name="prefect-import", daemon=True)
            self._prefect_thread.start()

    def _import_prefect(self) -> None:
        try:
            from workflows.loop import import_prefect_quietly

            import_prefect_quietly()
            import workflows.derive_flow  # noqa: F401
            from workflows.loop import import_flow_engine

            import_flow_engine()  # the first flow run's imports, now rather than between a commit and its e-mail
        except Exception:  # noqa: BLE001 - the passes go on without flow runs
            log.exception("importing Prefect failed; deriving without flow runs")
        else:
            self.prefect_ready.set()
        finally:
            self.wake.set()  # the main loop looks again: what is loaded now may be frozen (main)

    def close(self) -> None:
        from cases.issuance import wakeup

        wakeup.remove_outbox_waker(self._outbox_committed)

    def _outbox_committed(self) -> None:
        _tell_parent()  # the parent's deliverer is told at once (one line on a pipe)

    def due(self) -> bool:
        """One indexed SELECT each: events to derive; documents to render."""
        from cases.platform import clock
        from cases.platform.db import get_database
        from cases.issuance.derive import derivations_due
        from workflows.loop import documents_due

        return derivations_due(get_database()) or (self.render and documents_due(clock.now()))

    def run(self) -> int:
        """Returns how many events were derived plus documents rendered."""
        started = time.monotonic()
        self.settled = False
        flow_run = self.use_prefect and self.prefect_ready.is_set()
        handover, self._handover = self._handover, False
        if flow_run and not handover and not self.due():
            return 0  # no empty flow run (a pass without one needs no check first: its listing is the check)
        # A Prefect server that does not answer its health check (stalled: docs/performance.md)
        # holds nothing up: this pass runs without flow runs.
        if flow_run and _prefect_answers():
            totals = self._flow_run()
        else:
            totals = self._plainly()
        done = sum(int(totals.get(k, 0)) for k in ("events", "rendered", "failed"))
        if done and not flow_run and time.monotonic() - self._born > PREFECT_IMPORT_LATEST_SECONDS:
            self.quiet()  # busy since it started: Prefect's import shares the CPU with the passes
        # Each batch loop of a pass ends when a batch is not full, or when the pass's budget is spent:
        # a pass shorter than its budget saw all there was.
        self.settled = time.monotonic() - started < PASS_BUDGET_SECONDS
        return done

    def _flow_run(self) -> dict:
        from workflows.derive_flow import derive_documents
        from workflows.loop import run_guarded
        from workflows.passes import Linger, lingering

        linger = None
        if self.linger_seconds > 0:
            linger = Linger(self.wake, self.stop, self.due, idle_seconds=self.linger_seconds,
                            window_seconds=LINGER_WINDOW_SECONDS, poll_seconds=LINGER_POLL_SECONDS,
                            pass_budget_seconds=PASS_BUDGET_SECONDS)

        def flow_call() -> dict:
            with lingering(linger):
                return _as_flow_run(derive_documents, budget_seconds=PASS_BUDGET_SECONDS, render=self.render)

        try:
            return run_guarded(flow_call, self._plainly, name="derive-documents") or {}
        finally:
            if linger is not None and linger.handover and not self.stop.is_set():
                self._handover = True  # the run ended at its window while busy: the next one now (Linger)
                self.wake.set()

    def _plainly(self) -> dict:
        """The same pass without a flow run (no Prefect API, not imported yet, or not answering)."""
        from workflows.passes import derive_and_render_pass, derive_now, render_now

        return derive_and_render_pass(derive_now, render_now if self.render else None,
                                      budget_seconds=PASS_BUDGET_SECONDS)


def _as_flow_run(flow, **kwargs) -> dict:
    """Call ``flow`` (a flow run), with Prefect's per-run heartbeat thread off (shared/notes/prefect.md)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return flow(**kwargs) or {}


def _prefect_answers() -> bool:
    from workflows.loop import prefect_answers

    return prefect_answers()


_told = threading.Lock()  # lines come from the main loop and the warm-up thread


class _Readiness:
    """``r`` once every part is done: the imports, and the warm-up when this process renders."""

    def __init__(self, parts: int) -> None:
        self._left, self._lock = parts, threading.Lock()

    def done(self) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            _tell_parent("r")


def _tell_parent(line: str = "o") -> None:
    try:
        with _told:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the parent is gone
        pass


class KeptWarm:
    """When the launcher last said someone is at work (a ``k`` on stdin; monotonic seconds)."""

    def __init__(self) -> None:
        self.at = float("-inf")

    def remaining(self, keep_seconds: float, now: float) -> float:
        return keep_seconds - (now - self.at)


def _read_wakes(fd: int, wake: threading.Event, stop: threading.Event, kept: KeptWarm) -> None:
    """``k`` on stdin: someone is at work (``kept``); any other byte: a commit left work (``wake``);
    EOF: the parent is gone (``stop`` too)."""
    while True:
        try:
            got = os.read(fd, 65536)
        except OSError:
            got = b""
        if not got:
            stop.set()
            wake.set()
            return
        if b"k" in got:
            kept.at = time.monotonic()
            got = got.replace(b"k", b"")
        if got:
            wake.set()


def wait_while_warm(wake: threading.Event, since: float, kept: KeptWarm, idle: float, keep: float) -> bool:
    """Wait for a wake (True) until ``idle`` seconds have passed since ``since`` and ``keep`` since
    the last ``k`` (False: time to leave). A ``k`` arriving meanwhile extends the wait."""
    while True:
        now = time.monotonic()
        remaining = max(idle - (now - since), kept.remaining(keep, now))
        if remaining <= 0:
            return False
        if wake.wait(remaining):
            return True


# After the parent dies (killed, or stopped without closing this pipe) a pass may hang on a Prefect
# server that died with it: the Prefect client retries its calls with back-off for minutes. What this
# process does is transactional and exactly-once by unique keys (a killed derive process loses
# nothing: tests/test_derive_process.py), so it leaves that long after its parent is gone.
PARENT_GONE_GRACE_SECONDS = 10.0


def _watch_parent(parent: int, grace: float = PARENT_GONE_GRACE_SECONDS) -> None:
    """Exit the whole process ``grace`` seconds after the parent is gone, whatever the pass is doing."""
    while os.getppid() == parent:
        time.sleep(1.0)
    time.sleep(grace)
    print(f"anjian derive: the parent process {parent} is gone; leaving (work left is derived later)",
          file=sys.stderr, flush=True)
    os._exit(0)


def main() -> int:
    from cases.platform.config import Settings

    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()

    settings = Settings()  # ANJIAN_DERIVE_* from the environment the launcher gave this process
    try:
        os.nice(settings.derive_nice)
    except OSError:
        pass
    logging.basicConfig(level=logging.WARNING, format="anjian derive: %(levelname)s %(name)s: %(message)s")
    wake, stop = threading.Event(), threading.Event()
    warming = None
    readiness = _Readiness(2 if settings.derive_render else 1)
    if settings.derive_render:  # fonts opened while the app imports: the first PDF costs what later ones do
        from notifications.rendering.pdf_engine import warm_up

        def warm_then_wake() -> None:
            try:
                warm_up()
            finally:
                # Ready once a document costs what later ones do: until then the launcher goes on
                # deriving a few cases itself, so a webhook does not wait behind this process's
                # first render (~1 s more while WeasyPrint loads).
                readiness.done()
                wake.set()  # the main loop looks again: what is loaded now may be frozen

        warming = threading.Thread(target=warm_then_wake, name="pdf-warm-up", daemon=True)
        warming.start()
    idle = settings.derive_idle_seconds
    keep = settings.derive_keep_warm_seconds
    kept = KeptWarm()
    max_items = settings.derive_max_items
    # What the API process installs at import (api/app.py): guards and effects, channel resolver.
    from cases.ledger.rules import EFFECTS  # noqa: F401
    import notifications.delivery.preferences  # noqa: F401
    import notifications.documents.store  # noqa: F401

    use_prefect = bool(os.environ.get("PREFECT_API_URL")) and settings.derive_prefect
    from cases.issuance import wakeup

    wakeup.notify_other_processes()  # its outbox commits NOTIFY other processes' deliverers themselves
    work = Pass(use_prefect=use_prefect, render=settings.derive_render, wake=wake, stop=stop)
    threading.Thread(target=_read_wakes, args=(sys.stdin.fileno(), wake, stop, kept), name="wakes", daemon=True).start()
    readiness.done()  # imports done: with the warm-up too, the launcher stops deriving cases itself
    from workflows.loop import freeze_long_lived, release_memory

    done = since_release = 0
    frozen = False
    while True:
        wake.clear()  # a commit from now on wakes the wait below
        since = time.monotonic()  # woken (or just worked): idle counts from here
        try:
            n = work.run()
        except Exception as exc:  # noqa: BLE001 - the flow failed after its retries: left pending
            print(f"anjian derive: pass failed: {type(exc).__name__}: {exc}"[:500], file=sys.stderr, flush=True)
            n = 0
            time.sleep(1.0)
        done += n
        if stop.is_set() or done >= max_items:
            break  # the parent is gone (finish the batch in hand and leave), or recycled
        if n:
            since_release += n
            if wake.is_set() or not work.settled:
                continue  # a commit came meanwhile, or the budget cut the pass short: go on at once
        if wake.wait(RELEASE_AFTER_QUIET_SECONDS):
            continue  # more work within the second
        if not frozen and (warming is None or not warming.is_alive()) and work.prefect_settled():
            frozen, since_release = True, 0  # nothing in flight: what lives now lives for good
            freeze_long_lived()
        elif since_release:  # the heap back to the system, once per busy spell
            since_release = 0
            release_memory()
        quiet_wait = PREFECT_IMPORT_QUIET_SECONDS - RELEASE_AFTER_QUIET_SECONDS
        left = max(idle - (time.monotonic() - since), kept.remaining(keep, time.monotonic()))
        if not work.prefect_settled() and left > quiet_wait:
            if wake.wait(quiet_wait):
                continue
            work.quiet()  # quiet for a few seconds: Prefect is imported now (its end wakes this loop)
        if not wait_while_warm(wake, since, kept, idle, keep):
            break  # idle for ANJIAN_DERIVE_IDLE_SECONDS since the last wake or work (the waits above
            # included), and nobody at work for ANJIAN_DERIVE_KEEP_WARM_SECONDS
    if work.prefect_ready.is_set():
        from workflows.embedded import drain_prefect_services

        drain_prefect_services(5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
