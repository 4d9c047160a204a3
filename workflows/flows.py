"""Prefect flows: the timer sweep (every rung of every escalation ladder, 回头看, re-appraisal
and evaluation checks), the supervisors' daily digest, document rendering, and outbox delivery.

Prefect schedules, retries, distributes and shows these runs; it does not make them correct.
Exactly-once comes from the app database: a rung fires in the same transaction that marks
its timer fired and inserts its ``rung_firings`` row (unique per deadline and rung), and a
message is written to the outbox under a unique ``dedupe_key``. A retried task, two workers
sweeping at once, or a sweep killed halfway and run again therefore cannot fire anything twice.

"now" comes from ``cases.platform.clock.now()`` (the one clock; ``ANJIAN_CLOCK_OFFSET`` shifts it) and
the app database from ``cases.platform.db.get_database()``: the flows run in the API process in tests,
and in a flow-run process spawned by a worker in production.

The batch loops themselves are workflows/passes.py (Prefect-free, shared with the lanes' fallback and
the derive process): each flow here hands its pass its Prefect task, so every batch is a task run
with its retries inside the flow run.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import case as sql_case, func, select
from sqlalchemy.orm import Session

from cases.platform import clock, heartbeat
from cases.platform.db import get_database
from cases.clocks.sweep import fire_due_batch
from cases.models import Case, Deadline, Jurisdiction, OutboxMessage, User
import notifications.delivery.preferences as _preferences  # noqa: F401  (installs cases.issuance.outbox.channel_resolver)
from workflows.passes import (DELIVERY_BATCH, RENDER_BATCH, SWEEP_BUDGET_SECONDS, current_linger, deliver_now, delivery_pass,
                              record_heartbeat, render_now, render_pass, sweep_pass)
from workflows.prefect_env import DELIVERY_FLOW, DIGEST_FLOW, RENDER_FLOW, SWEEP_FLOW, default_worker_name

DIGEST_MAX_CASES = 50
LIGHTS = ("red", "yellow", "green", "none")


# ---------------------------------------------------------------- sweep


@task(name="fire-due-batch", retries=2, retry_delay_seconds=2, persist_result=False, cache_policy=NO_CACHE,
      log_prints=False)
def fire_batch(limit: int, worker: str, batch_no: int) -> dict[str, int]:
    """One app transaction: claim up to ``limit`` due timers (oldest first) and fire them.

    A Prefect task per batch, not per timer (a task costs ~6 ms of orchestration). A retry
    after a failure re-reads what is still due: whatever the failed attempt committed is not
    due any more, whatever it did not commit was rolled back.
    """
    return fire_due_batch(get_database(), clock.now(), limit=limit, worker=worker)


@flow(name=SWEEP_FLOW, persist_result=False, log_prints=False)
def sweep_timers(batch_size: int | None = None, budget_seconds: float = SWEEP_BUDGET_SECONDS,
                 worker: str | None = None, deliver: bool = False) -> dict[str, Any]:
    """Fire every due timer, batch after batch, until none is due or the time budget is spent.

    ``deliver``: then deliver the outbox in the same run. The served deployment leaves it off:
    ``deliver-outbox`` is served next to the sweep (workflows/serve.py), so a slow or unreachable
    channel never holds up the timers.
    """
    worker = worker or default_worker_name()
    totals = sweep_pass(lambda limit, batch_no: fire_batch(limit, worker, batch_no), batch_size=batch_size,
                        budget_seconds=budget_seconds, logger=get_run_logger())
    if deliver:
        totals["delivery"] = delivery_pass(lambda limit: deliver_batch(limit, worker), logger=get_run_logger(),
                                           budget_seconds=max(5.0, budget_seconds - totals["seconds"]))
    record_heartbeat(worker, heartbeat.SWEEP)
    return totals


# ---------------------------------------------------------------- daily digest


def base_url(settings=None) -> str:
    """Links in messages: ``ANJIAN_BASE_URL``, through the one function the notifications use."""
    from notifications.rendering.variables import base_url as _base_url

    return _base_url(settings)


def digest_variables(session: Session, user: User, now: datetime, *, url: str | None = None) -> dict[str, Any]:
    """What one supervisor's digest says: open cases they oversee (their jurisdiction and
    below, including cases escalated away from it) by light, and the red and yellow ones."""
    from cases.reads import case_lists
    from cases.clocks.lights import light_expression

    from notifications.rendering import variables as links

    base = url or base_url()
    today = clock.to_local(now).date()
    light = light_expression(now)
    live = ((Deadline.case_id == Case.id) & (Deadline.status == "open") & Deadline.affects_light.is_(True)
            & Deadline.due_at.is_not(None))
    next_due_at = select(Deadline.due_at).where(live).order_by(Deadline.due_at).limit(1).correlate(Case).scalar_subquery()
    next_due_date = select(Deadline.due_date).where(live).order_by(Deadline.due_at).limit(1).correlate(Case).scalar_subquery()
    open_cases = case_lists.case_query(user, open_only=True)  # staff: jurisdiction subtree (cases.ledger.access.subtree_codes)
    sub = open_cases.with_only_columns(
        Case.id, Case.number, Case.title, Case.kind, Case.assignee_id, light.label("light"),
        next_due_at.label("due_at"), next_due_date.label("due_date")).subquery()

    counts = {k: 0 for k in LIGHTS}
    for lt, n in session.execute(select(sub.c.light, func.count()).group_by(sub.c.light)):
        counts[lt] = n
    rank = sql_case((sub.c.light == "red", 0), else_=1)
    rows = session.execute(select(sub).where(sub.c.light.in_(("red", "yellow")))
                           .order_by(rank, sub.c.due_at, sub.c.id).limit(DIGEST_MAX_CASES)).all()
    assignee_ids = {r.assignee_id for r in rows if r.assignee_id}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(assignee_ids))).all()) if assignee_ids else {}
    items = []
    for r in rows:
        items.append({
            "case_id": r.id, "case_number": r.number, "case_title": r.title, "kind": r.kind, "light": r.light,
            "due_date": r.due_date.isoformat() if r.due_date else None,
            "days_left": (r.due_date - today).days if r.due_date else None,
            "assignee_name": names.get(r.assignee_id) or "未指派",
            "case_url": links.case_url(r.id, base=base),
        })
    j = session.get(Jurisdiction, user.jurisdiction_code)
    return {
        "jurisdiction_code": user.jurisdiction_code,
        "jurisdiction_name": j.name if j else user.jurisdiction_code,
        "digest_date": today.isoformat(),
        "total_open": sum(counts.values()),
        "counts": counts,
        "cases": items,
        "dashboard_url": links.dashboard_url(user.jurisdiction_code, base=base),
    }


def write_digest(session: Session, user: User, now: datetime) -> int:
    """Enqueue today's digest for one supervisor (a row per channel); 0 if it was written
    already today. The outbox's unique dedupe key makes a concurrent second run a no-op too."""
    from cases.issuance import outbox

    cause = f"digest:{clock.to_local(now).date().isoformat()}"
    mine = OutboxMessage.dedupe_key.startswith(f"{cause}:daily_digest:{user.id}:", autoescape=True)

    def written() -> int:  # counted, not taken from the INSERT's rowcount (-1 on psycopg)
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(mine)) or 0

    if written():
        return 0
    outbox.enqueue(session, case=None, template="daily_digest", recipients=[user], cause=cause,
                   variables=digest_variables(session, user, now), now=now)
    return written()


@task(name="write-digest", retries=2, retry_delay_seconds=2, persist_result=False, cache_policy=NO_CACHE)
def digest_for(user_id: int, now: datetime) -> int:
    with get_database().transaction() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            return 0
        return write_digest(s, user, now)


@flow(name=DIGEST_FLOW, persist_result=False, log_prints=False)
def daily_digest() -> dict[str, int]:
    """One outbox message (per channel) per active supervisor per Shanghai date."""
    logger = get_run_logger()
    now = clock.now()  # one instant, so one Shanghai date, for every supervisor of this run
    with get_database().session() as s:
        supervisors = list(s.scalars(select(User.id).where(User.role == "supervisor", User.active.is_(True))
                                     .order_by(User.id)))
    written = sum(digest_for(uid, now) for uid in supervisors)
    result = {"supervisors": len(supervisors), "messages": written}
    logger.info("daily digest: %(messages)s message(s) for %(supervisors)s supervisor(s)", result)
    return result


# ---------------------------------------------------------------- document rendering


@task(name="render-batch", retries=2, retry_delay_seconds=2, persist_result=False, cache_policy=NO_CACHE)
def render_batch(limit: int) -> dict[str, int]:
    """Render up to ``limit`` due issued documents (notifications.documents.store: a document is marked
    rendered only if it is still issued, so a retried task or a second worker never renders twice)."""
    return render_now(limit)


@flow(name=RENDER_FLOW, persist_result=False, log_prints=False)
def render_documents(limit: int = RENDER_BATCH, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> dict[str, int]:
    """Render what transitions and rungs issued — PDF and HTML, stored with their SHA-256 — whether or
    not anyone gets the document by e-mail: an inbox-only recipient downloads it from the case.
    Transient errors are retried with backoff; a document that cannot be rendered is marked failed
    on the case and alerted to the administrators once (docs/notifications.md)."""
    return render_pass(render_batch, limit=limit, budget_seconds=budget_seconds, logger=get_run_logger())


# ---------------------------------------------------------------- outbox delivery


@task(name="deliver-batch", retries=2, retry_delay_seconds=2, persist_result=False, cache_policy=NO_CACHE)
def deliver_batch(limit: int, worker: str) -> dict[str, int]:
    """Claim and deliver up to ``limit`` due outbox rows (notifications.delivery.service: a claim is
    committed before anything is sent, so a retry never holds a row twice)."""
    return deliver_now(limit, worker)


@flow(name=DELIVERY_FLOW, persist_result=False, log_prints=False)
def deliver_outbox(limit: int = DELIVERY_BATCH, budget_seconds: float = SWEEP_BUDGET_SECONDS,
                   worker: str | None = None) -> dict[str, int]:
    """Deliver what the sweep, the digest and the officers' actions put in the outbox: the in-app
    inbox at once, e-mail / webhook / 企业微信 / 钉钉 through their channels (docs/notifications.md)."""
    worker = worker or default_worker_name()
    logger = get_run_logger()
    totals = delivery_pass(lambda n: deliver_batch(n, worker), limit=limit, budget_seconds=budget_seconds,
                           logger=logger)
    record_heartbeat(worker, heartbeat.DELIVERY)
    linger = current_linger()  # started by a lane (workflows/loop.py): stay open for the next messages
    if linger is not None:
        linger.more(lambda: delivery_pass(lambda n: deliver_batch(n, worker), limit=limit,
                                          budget_seconds=budget_seconds, logger=logger),
                    totals, on_work=lambda: record_heartbeat(worker, heartbeat.DELIVERY))
    return totals
