"""Worker heartbeats: every served flow run records its worker and the time it ended, so /readyz
can say whether timers are being swept (api/readiness.py, docs/security.md "Database trouble")."""
from __future__ import annotations

import os
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from cases.platform.db import Database
from cases.models import WorkerHeartbeat

# The flows that beat (one name each, whatever the Prefect flow is called).
SWEEP = "sweep"
DELIVERY = "delivery"

# A sweep that has not run for this many intervals (and at least STALE_FLOOR) is stale.
STALE_INTERVALS = 6
STALE_FLOOR = timedelta(minutes=3)  # a lane busy with a backlog (sweep, then render: up to 50 s each) is not dead


def beat(db: Database, worker: str, flow: str, now: datetime) -> None:
    """Record that ``flow`` ran on ``worker`` at ``now`` (one UPDATE; an INSERT the first time)."""
    values = {"last_seen_at": now, "pid": os.getpid()}
    with db.transaction() as s:
        done = s.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker == worker[:64],
                                                       WorkerHeartbeat.flow == flow[:64]).values(**values))
        if done.rowcount:
            return
    try:
        with db.transaction() as s:
            s.add(WorkerHeartbeat(worker=worker[:64], flow=flow[:64], **values))
    except IntegrityError:  # another run of the same worker inserted it first: update instead
        with db.transaction() as s:
            s.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker == worker[:64],
                                                    WorkerHeartbeat.flow == flow[:64]).values(**values))


def last_beat(db: Database, flow: str) -> WorkerHeartbeat | None:
    """The most recent heartbeat of ``flow`` on any worker."""
    with db.session() as s:
        row = s.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.flow == flow)
                        .order_by(WorkerHeartbeat.last_seen_at.desc()).limit(1)).first()
        if row is not None:
            s.expunge(row)
        return row


def stale_after(sweep_interval_seconds: float) -> timedelta:
    return max(STALE_FLOOR, timedelta(seconds=STALE_INTERVALS * sweep_interval_seconds))
