"""The enterprises' credit score, read through this one function only (the published ranking and
its exports). Today the score is the number on the enterprise (``enterprises.credit_score``); when
the score is derived from credit records (issue 12 part 1), this function is what changes — and
``SOURCE``, which every publication records, says which score it printed."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Enterprise

SOURCE = "enterprise_credit_score"


def credit_scores(session: Session, enterprise_ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(enterprise_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Enterprise.id, Enterprise.credit_score).where(Enterprise.id.in_(ids))).all())
