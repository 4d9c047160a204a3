"""Gap-free case numbers: ``<jurisdiction>-<kind code>-<year>-<6-digit serial>``."""
from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases.models import CaseNumberCounter


def next_serial(session: Session, jurisdiction_code: str, kind_code: str, year: int) -> int:
    """Increment the counter row inside the caller's transaction.

    The UPDATE takes the row lock, so concurrent creators queue and each gets the next value;
    a rolled-back creation rolls its increment back too, so numbers never skip.
    """
    where = (
        (CaseNumberCounter.jurisdiction_code == jurisdiction_code)
        & (CaseNumberCounter.kind_code == kind_code)
        & (CaseNumberCounter.year == year)
    )
    stmt = update(CaseNumberCounter).where(where).values(last_value=CaseNumberCounter.last_value + 1)
    value = session.execute(stmt.returning(CaseNumberCounter.last_value)).scalar()
    if value is not None:
        return value
    try:
        with session.begin_nested():
            session.execute(insert(CaseNumberCounter).values(
                jurisdiction_code=jurisdiction_code, kind_code=kind_code, year=year, last_value=1))
        return 1
    except IntegrityError:  # another transaction created the row first: take the next value
        return session.execute(stmt.returning(CaseNumberCounter.last_value)).scalar_one()


def format_case_number(jurisdiction_code: str, kind_code: str, year: int, serial: int) -> str:
    return f"{jurisdiction_code}-{kind_code}-{year}-{serial:06d}"
