"""The batch loops of the background work, once, without Prefect: the timer sweep, delivery,
rendering and derivation.

A pass calls the batch function it is given until nothing more is due or its time budget is spent,
and adds up what the batches return. Three callers:

* the Prefect flows (workflows/flows.py, workflows/derive_flow.py) give it their tasks
  (``fire-due-batch``, ``deliver-batch``, ``render-batch``, ``derive-batch``), so each batch is a
  task run with its retries inside the flow run, and their run logger for the summary lines;
* the lanes' fallback while the Prefect API does not answer (workflows/loop.py ``FlowLoop``):
  :func:`sweep_plainly`, :func:`deliver_plainly`, :func:`render_plainly` give it the plain batch
  functions below — same claims, same exactly-once, no flow run, no task retries (what fails stays
  due for the next pass);
* the derive process without a Prefect API, or while it does not answer (workflows/derive_worker.py).

Nothing here imports Prefect: the derive process without a Prefect API and the fallback must not
wait for its import, nor for its server.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
import threading
import time
from datetime import datetime
from typing import Any, Callable, Mapping

from sqlalchemy import func, select

from cases.platform import clock, heartbeat
from cases.platform.config import get_settings
from cases.platform.db import get_database
from cases.clocks.sweep import fire_due_batch
from cases.analogs import clock as analog_clock
from cases.credit import sweep as credit_sweep
from cases.patterns import detect as pattern_detect
from cases.models import Timer

log = logging.getLogger("anjian.workflows")

# A pass stops after this long even if work remains: the next one goes on where it stopped
# (timers, outbox rows and documents are rows, oldest first), and one run never hogs a worker.
SWEEP_BUDGET_SECONDS = 50.0
RENDER_BATCH = 5  # documents per batch; the renderer's garbage is collected after each
DELIVERY_BATCH = 100
DERIVE_BATCH = 50  # cases per batch

Counts = Mapping[str, int]


def add_counts(totals: dict[str, Any], counts: Counts) -> None:
    for key, n in counts.items():
        totals[key] = totals.get(key, 0) + n


_add = add_counts


# ---------------------------------------------------------------- sweep


def repair_calendar_task() -> int:
    """First in every sweep: deadlines a process computed with a calendar older than the last
    upload are recomputed (cases.calendar.calendar_repair), so their timers fire on the right dates.
    Never fails the sweep: what is not repaired now is repaired by the next one."""
    from cases.calendar.calendar_repair import BATCH, repair_calendar

    total = 0
    try:
        while True:
            result = repair_calendar(get_database(), clock.now())
            total += result["deadlines"]
            if result["deadlines"] < BATCH:
                return total
    except Exception:  # noqa: BLE001
        log.warning("sweep: the calendar repair failed; the next sweep tries again", exc_info=True)
        return total


def campaign_rounds_task() -> dict[str, int]:
    """Last in every sweep: the campaigns' round clocks (cases/campaigns/clock.py: reminders and
    督办函 to the districts behind a round, once each). Never fails the sweep: what is not fired now
    is fired by the next one."""
    from cases.campaigns.clock import fire_all_due_rounds

    try:
        return fire_all_due_rounds(get_database(), clock.now())
    except Exception:  # noqa: BLE001
        log.warning("sweep: the campaign round clocks failed; the next sweep tries again", exc_info=True)
        return {}


def count_due(now: datetime) -> int:
    with get_database().session() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending", Timer.fire_at <= now)) or 0


def sweep_pass(fire: Callable[[int, int], Counts], *, batch_size: int | None = None,
               budget_seconds: float = SWEEP_BUDGET_SECONDS, logger: Any = None) -> dict[str, Any]:
    """Repair the calendar, then fire every due timer, batch after batch (``fire(limit, batch_no)``:
    one app transaction each, cases.clocks.sweep.fire_due_batch), until none is due or the time
    budget is spent. ``logger``: where the summary goes (the flow's run logger), else nowhere."""
    batch_size = batch_size or get_settings().timer_batch_size
    started = time.monotonic()
    totals: dict[str, Any] = {"fired": 0, "duplicate": 0, "stale": 0, "failed": 0, "seen": 0, "batches": 0}
    repaired = repair_calendar_task()
    if repaired:
        totals["calendar_repaired"] = repaired
    _add(totals, analog_clock.sweep(get_database(), clock.now()))  # 类比排查 reminders and overdue notices
    _add(totals, pattern_detect.sweep(get_database(), clock.now()))  # 屡查屡犯 flags (cases/patterns/detect.py)
    while True:
        counts = fire(batch_size, totals["batches"])
        totals["batches"] += 1
        for key in ("fired", "duplicate", "stale", "failed", "seen"):
            totals[key] += counts.get(key, 0)
        if counts.get("seen", 0) < batch_size or counts.get("seen", 0) == counts.get("failed", 0):
            break  # nothing more is due (or only timers that keep failing: they wait for the next run)
        if time.monotonic() - started >= budget_seconds:
            totals["remaining_due"] = count_due(clock.now())
            break
    _add(totals, credit_sweep.sweep(get_database(), clock.now()))  # 不良行为记录 expire, 黑名单/曝光 lifted
    rounds = campaign_rounds_task()
    if rounds.get("sent") or rounds.get("checked"):
        totals["campaign_rounds"] = rounds
    totals["seconds"] = round(time.monotonic() - started, 3)
    if logger is not None:
        if totals["failed"]:
            logger.warning("sweep: %(fired)s fired, %(failed)s failed, %(stale)s stale, %(duplicate)s duplicate "
                           "in %(batches)s batch(es)", totals)
        elif totals["seen"]:
            logger.info("sweep: %(fired)s fired, %(stale)s stale, %(duplicate)s duplicate in %(batches)s batch(es), "
                        "%(seconds)ss", totals)
        if totals.get("remaining_due"):
            logger.warning("sweep: time budget spent with %s timer(s) still due; the next run continues",
                           totals["remaining_due"])
    return totals


def record_heartbeat(worker: str, flow_name: str) -> None:
    """The run ended on ``worker`` (cases/platform/heartbeat.py; /readyz reads it). Never fails the run."""
    try:
        heartbeat.beat(get_database(), worker, flow_name, clock.now())
    except Exception:  # noqa: BLE001 - a missing heartbeat shows in /readyz; the sweep's work is done
        log.warning("could not record the %s heartbeat of %s", flow_name, worker, exc_info=True)


# ---------------------------------------------------------------- outbox delivery


def delivery_pass(deliver: Callable[[int], Counts], *, limit: int = DELIVERY_BATCH,
                  budget_seconds: float = SWEEP_BUDGET_SECONDS, logger: Any = None) -> dict[str, int]:
    """Deliver batch after batch (``deliver(limit)``: notifications.delivery.service.deliver_pending) until
    a batch finds nothing due or the time budget is spent."""
    started = time.monotonic()
    totals: dict[str, int] = {}
    while time.monotonic() - started < budget_seconds:
        counts = deliver(limit)
        if not counts:
            break  # nothing was due
        _add(totals, counts)
    if logger is not None:
        if totals.get("failed"):
            logger.warning("delivery: %s", totals)
        elif totals:
            logger.info("delivery: %s", totals)
    return totals


class Linger:
    """A delivery flow run started by a lane stays open for more work: woken by the next commit that
    writes to the outbox (or its poll), it delivers within the same run instead of the lane starting
    a new one — no flow-run creation (an API round trip to Prefect, 0.1 s to seconds when its SQLite
    is busy) between a transition and its message. The run ends after ``idle_seconds`` without work,
    after ``window_seconds`` in all, or when the lane stops; an idle service starts no run at all.
    The derive process's runs linger the same way (workflows/derive_flow.py). With
    ``pass_budget_seconds`` a pass that ended within it saw all there was: the next look waits for a
    wake or the poll instead of following at once (one check fewer per pass: the derive process's
    passes are one per commit at a moderate rate).

    ``handover``: the run ended at its window while work was still coming (some within
    ``idle_seconds``). The lane then starts the next run at once, whether or not anything is due, so
    under steady traffic no commit waits for a flow run to be created (docs/performance.md session
    29: one such creation took 2.5 s once, Prefect's SQLite busy); that run ends after
    ``idle_seconds`` without work like any other."""

    def __init__(self, wake: threading.Event, stop: threading.Event, due: Callable[[], bool], *,
                 idle_seconds: float, window_seconds: float, poll_seconds: float,
                 pass_budget_seconds: float | None = None) -> None:
        self.wake, self.stop, self.due = wake, stop, due
        self.idle_seconds, self.window_seconds, self.poll_seconds = idle_seconds, window_seconds, poll_seconds
        self.pass_budget_seconds = pass_budget_seconds
        self.handover = False

    def more(self, run_pass: Callable[[], dict[str, int]], totals: dict[str, int],
             on_work: Callable[[], None] | None = None) -> dict[str, int]:
        started = last_work = time.monotonic()
        self.handover = False
        while not self.stop.is_set():
            now = time.monotonic()
            idle_left = self.idle_seconds - (now - last_work)
            left = min(idle_left, self.window_seconds - (now - started))
            if left <= 0:
                self.handover = idle_left > 0  # the window ended, not the work
                break
            self.wake.clear()  # a commit from now on ends the wait below
            counts = run_pass() if self.due() else {}
            if counts:
                _add(totals, counts)
                took, last_work = time.monotonic() - now, time.monotonic()
                if on_work is not None:
                    on_work()
                if self.wake.is_set() or self.pass_budget_seconds is None or took >= self.pass_budget_seconds:
                    continue  # woken meanwhile, or the pass may have left work: look again at once
            self.wake.wait(min(self.poll_seconds, left))
        return totals


_lane = threading.local()


@contextmanager
def lingering(linger: Linger | None):
    """Flow runs called in this thread meanwhile may linger (``current_linger``)."""
    previous = getattr(_lane, "linger", None)
    _lane.linger = linger
    try:
        yield
    finally:
        _lane.linger = previous


def current_linger() -> Linger | None:
    return getattr(_lane, "linger", None)


# ---------------------------------------------------------------- document rendering


def collect_render_garbage() -> None:
    """After each batch, not only after the run: WeasyPrint leaves ~40 MiB of cyclic garbage per
    document, and a run rendering a backlog for its whole budget grew the derive process past 1 GiB
    (seen with `make run`'s 200-case demo) before the collection at the end."""
    from workflows.loop import release_memory

    release_memory()


def render_pass(render: Callable[[int], Counts], *, limit: int = RENDER_BATCH,
                budget_seconds: float = SWEEP_BUDGET_SECONDS, logger: Any = None) -> dict[str, int]:
    """Render batch after batch (``render(limit)``: notifications.documents.store.render_pending_documents),
    the renderer's garbage collected after each, until a batch is not full or the budget is spent."""
    started = time.monotonic()
    totals: dict[str, int] = {}
    while time.monotonic() - started < budget_seconds:
        counts = render(limit)
        collect_render_garbage()
        _add(totals, counts)
        if sum(counts.values()) < limit:
            break  # nothing more is due
    if logger is not None:
        if totals.get("failed") or totals.get("retry") or totals.get("error"):
            logger.warning("render: %s", totals)
        elif totals:
            logger.info("render: %s", totals)
    return totals


# ---------------------------------------------------------------- derivation


def derive_pass(derive: Callable[[int], Counts], *, limit: int = DERIVE_BATCH,
                budget_seconds: float = SWEEP_BUDGET_SECONDS, logger: Any = None) -> dict[str, int]:
    """Derive batch after batch (``derive(limit)``: cases.issuance.derive.derive_pending) until a
    batch is not full, derives nothing (only what other derivers hold), or the budget is spent."""
    started = time.monotonic()
    totals: dict[str, int] = {}
    while time.monotonic() - started < budget_seconds:
        counts = derive(limit)
        _add(totals, counts)
        if counts.get("cases", 0) + counts.get("busy", 0) + counts.get("errors", 0) < limit or not counts.get("cases"):
            break  # nothing more, or only what others hold
    if logger is not None and totals.get("events"):
        logger.info("derive: %s", totals)
    return totals


def derive_and_render_pass(derive: Callable[[int], Counts], render: Callable[[int], Counts] | None, *,
                           budget_seconds: float = SWEEP_BUDGET_SECONDS,
                           limit: int = DERIVE_BATCH, logger: Any = None) -> dict[str, int]:
    """The derive process's pass, in a flow run (``derive_batch``/``render_batch`` tasks) or without
    one (:func:`derive_now`/:func:`render_now`): derive, then — with ``render`` — render what is due.
    Messages without a PDF (webhook, SMS, inbox) leave once derived; an e-mail carrying a document
    is not claimed until it is rendered (notifications/delivery/service.py): the render's commit wakes the
    deliverers in turn (cases/issuance/wakeup.py)."""
    from workflows.loop import documents_due

    totals = derive_pass(derive, limit=limit, budget_seconds=budget_seconds, logger=logger)
    if render is not None and documents_due(clock.now()):
        _add(totals, render_pass(render, budget_seconds=budget_seconds, logger=logger))
    return totals


# ---------------------------------------------------------------- the batches without a flow run


def fire_now(limit: int, worker: str) -> Counts:
    return fire_due_batch(get_database(), clock.now(), limit=limit, worker=worker)


def deliver_now(limit: int, worker: str) -> Counts:
    from notifications.delivery.service import deliver_pending

    return deliver_pending(get_database(), clock.now(), limit=limit, worker=worker)


# One render at a time in a process: a stalled flow run's pass and its stand-in (workflows/loop.py
# run_guarded) may overlap, and WeasyPrint (Pango, fontconfig) is not made for threads.
_render_lock = threading.Lock()


def render_now(limit: int) -> Counts:
    from notifications.documents.store import render_pending_documents

    with _render_lock:
        return render_pending_documents(get_database(), clock.now(), limit=limit)


def derive_now(limit: int) -> Counts:
    from cases.issuance.derive import PG_BATCH_CASES, derive_pending

    return derive_pending(get_database(), limit=limit, batch=PG_BATCH_CASES)


def sweep_plainly(worker: str, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> dict[str, Any]:
    """What ``sweep-timers`` does, without a flow run (the lanes' fallback, workflows/loop.py)."""
    totals = sweep_pass(lambda limit, _batch_no: fire_now(limit, worker), budget_seconds=budget_seconds)
    record_heartbeat(worker, heartbeat.SWEEP)
    return totals


def deliver_plainly(worker: str, budget_seconds: float = SWEEP_BUDGET_SECONDS,
                    limit: int = DELIVERY_BATCH) -> dict[str, int]:
    """What ``deliver-outbox`` does, without a flow run (the lanes' fallback, as :func:`sweep_plainly`)."""
    totals = delivery_pass(lambda n: deliver_now(n, worker), limit=limit, budget_seconds=budget_seconds)
    record_heartbeat(worker, heartbeat.DELIVERY)
    return totals


def render_plainly(budget_seconds: float = SWEEP_BUDGET_SECONDS, limit: int = RENDER_BATCH) -> dict[str, int]:
    """What ``render-documents`` does, without a flow run (the lanes' fallback, the derive process
    without Prefect)."""
    return render_pass(render_now, limit=limit, budget_seconds=budget_seconds)


def derive_plainly(budget_seconds: float = SWEEP_BUDGET_SECONDS, limit: int = DERIVE_BATCH) -> dict[str, int]:
    """What ``derive-documents`` does, without a flow run (the derive process without Prefect)."""
    return derive_pass(derive_now, limit=limit, budget_seconds=budget_seconds)
