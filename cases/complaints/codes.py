"""The lookup code (查询码) and the public routes' allowance per client address.

The code: 16 characters from Crockford's base-32 alphabet (no I, L, O, U), 80 random bits, shown
as ``XXXX-XXXX-XXXX-XXXX`` once, to the complainant only. Stored is its SHA-256 (of the normalised
code): 80 bits are not found by trying, offline or online, and a plain hash keeps working when the
installation's signing key is rotated. Lookups with an unknown code count against the address.

The allowance: each public submission, and each lookup with an unknown code, is a ``complaint_hits``
row keyed by an HMAC of the client address (the address itself is not kept); at the hourly limit
(settings ``complaint_submits_per_hour`` / ``complaint_bad_lookups_per_hour``) the next request is
refused with ``RateLimited`` (429) until the oldest counted one is an hour old. The rows live in
the database, so the limit holds across API processes and restarts.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cases.models import ComplaintHit
from cases.platform.clock import SHANGHAI
from cases.platform.errors import DomainError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32
CODE_LENGTH = 16
WINDOW = timedelta(hours=1)
# What a person may type for a letter that is not in the alphabet (Crockford's reading).
_READS_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise(code: str) -> str | None:
    """The code as stored (upper case, no dashes or spaces), or None if it cannot be one."""
    if not isinstance(code, str) or len(code) > 40:
        return None
    raw = "".join(ch for ch in code.upper() if ch not in "- \u3000").translate(_READS_AS)
    if len(raw) != CODE_LENGTH or any(ch not in ALPHABET for ch in raw):
        return None
    return raw


def code_hash(code: str) -> str | None:
    raw = normalise(code)
    return hashlib.sha256(f"anjian-complaint|{raw}".encode()).hexdigest() if raw else None


def client_key(secret: str, address: str | None) -> str:
    """An HMAC of the client address: counts per address without keeping the address."""
    return hmac.new(secret.encode(), f"complaint-client|{address or '-'}".encode(), hashlib.sha256).hexdigest()


class RateLimited(DomainError):
    """Too many public requests from one address within the hour (429, Retry-After)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


_WHAT = {"submit": "提交举报", "lookup": "查询（查询码有误）"}


def check_allowance(session: Session, kind: str, key: str, now: datetime, limit: int) -> None:
    """Raise RateLimited when ``key`` already used its hourly allowance of ``kind``."""
    since = now - WINDOW
    count, oldest = session.execute(
        select(func.count(), func.min(ComplaintHit.at)).where(
            ComplaintHit.kind == kind, ComplaintHit.client_key == key, ComplaintHit.at > since)).one()
    if count >= limit:
        until = (oldest or now) + WINDOW
        local = until.astimezone(SHANGHAI)
        raise RateLimited(f"{_WHAT[kind]}过于频繁：同一网络地址每小时最多{limit}次，请于{local:%H:%M}（北京时间）后再试",
                          retry_after=max(1, math.ceil((until - now).total_seconds())))


def count_hit(session: Session, kind: str, key: str, now: datetime) -> None:
    session.add(ComplaintHit(kind=kind, client_key=key, at=now))
    # Rows older than the window count for nothing: the table stays small.
    session.execute(delete(ComplaintHit).where(ComplaintHit.at < now - 2 * WINDOW)
                    .execution_options(synchronize_session=False))
