"""The credit pass of the sweep (workflows/passes.py ``sweep_pass``): records whose validity has
ended expire (status ``expired`` and an ``expired`` event, once: a conditional UPDATE), the score
cache of their enterprises is recomputed, and a listing whose period has ended is lifted once the
score is above its threshold again (once: ``active_key`` cleared by a conditional UPDATE). A
listing whose period has ended while the score still reaches the threshold stays until it does not."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cases.clocks.legal_time import shanghai_date
from cases.credit import services as credit
from cases.models import CreditListing, CreditRecord, Enterprise
from state_machines.credit_policy import credit_policy

log = logging.getLogger("anjian.credit")


def _due_clause(today):
    expiring = (CreditRecord.status.in_(credit.IN_FORCE)) & (CreditRecord.valid_until <= today)
    return expiring


def due(session: Session, now: datetime) -> bool:
    """Anything for the pass to do (the sweep lane's one-row checks): a record to expire, or a listing
    past its period whose unit's score (the cache, exact once the expiries are done) no longer
    reaches its list's threshold. A listing that still reaches it is not work: it would wake the
    sweep at every tick until a record expires (which the first check sees)."""
    today = shanghai_date(now)
    if session.execute(select(CreditRecord.id).where(_due_clause(today)).limit(1)).first() is not None:
        return True
    thresholds = credit_policy().thresholds
    liftable = CreditListing.list.not_in(sorted(thresholds))
    for name, t in thresholds.items():
        liftable = liftable | ((CreditListing.list == name) & (Enterprise.credit_score > t.score_at_most))
    return session.execute(select(CreditListing.id).join(Enterprise, Enterprise.id == CreditListing.enterprise_id)
                           .where(CreditListing.active_key.is_not(None), CreditListing.until <= today, liftable)
                           .limit(1)).first() is not None


def run(session: Session, now: datetime) -> dict[str, int]:
    today = shanghai_date(now)
    expired = sorted(session.execute(update(CreditRecord).where(_due_clause(today)).values(status="expired")
                                     .returning(CreditRecord.id, CreditRecord.enterprise_id, CreditRecord.points)
                                     .execution_options(synchronize_session=False)).all(), key=lambda r: (r[1], r[0]))
    for record_id, _, points in expired:
        credit.add_event(session, record_id, "expired", now, reason="有效期届满", before=points, after=0)
    scores = {e: credit.refresh_score(session, e, now) for e in sorted({r[1] for r in expired})}
    policy = credit_policy()
    lifted = 0
    for listing in session.scalars(select(CreditListing).where(CreditListing.active_key.is_not(None),
                                                               CreditListing.until <= today).order_by(CreditListing.id)):
        score = scores.get(listing.enterprise_id)
        if score is None:
            score = scores[listing.enterprise_id] = credit.refresh_score(session, listing.enterprise_id, now)
        t = policy.thresholds.get(listing.list)
        if t is None or score > t.score_at_most:
            lifted += credit.lift(session, [listing.id], now,
                                  f"列入期限届满，信用分{score}分，不再达到{credit.LIST_LABELS[listing.list]}标准，予以移出")
    return {"credit_expired": len(expired), "credit_lifted": lifted}


def sweep(db, now: datetime) -> dict[str, int]:
    """One transaction of :func:`run`; never fails the sweep (what is not done now stays due)."""
    try:
        with db.transaction() as s:
            return run(s, now)
    except Exception:  # noqa: BLE001
        log.warning("sweep: the credit pass failed; the next sweep tries again", exc_info=True)
        return {"credit_failed": 1}


def due_check(db, now: datetime) -> bool:
    with db.session() as s:
        return due(s, now)
