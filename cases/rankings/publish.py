"""Publishing a city's enterprise ranking (企业排名公示).

The simplest honest model: nothing is public until a person decides it is. A supervisor of the city
(or of the province above it) publishes the ranking for a period; the figures are computed then
(cases/reads/enterprise_ranking.py for the 责令停工通知书 per active project, :mod:`cases.rankings.score`
for the credit score) and frozen in ``ranking_publications`` with the period, the publishing
authority, who and when. The public page shows the city's latest publication — exactly what was
published, however the data moves afterwards — and a new publication supersedes it (the earlier
ones stay, listed for staff).

What is published: the enterprise's name and 统一社会信用代码 (a legal person's public identity) and
the figures; never a person's name, phone or any case text."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.ledger.access import in_subtree, require_role
from cases.models import Enterprise, Jurisdiction, User
from cases.models.rankings import RankingPublication
from cases.platform.errors import NotFound, ValidationFailed
from cases.rankings import score
from cases.reads import enterprise_ranking

LIMIT = 100  # rows per table


def city_code(raw: str | None) -> str | None:
    """``3205`` or ``320500`` → ``320500``; anything else → None."""
    text = (raw or "").strip()
    if text.isascii() and text.isdigit():
        if len(text) == 4:
            text += "00"
        if len(text) == 6 and text.endswith("00") and not text.endswith("0000"):
            return text
    return None


def _city(session: Session, raw: str | None) -> Jurisdiction:
    code = city_code(raw)
    city = session.get(Jurisdiction, code) if code else None
    if city is None or city.level != "prefecture":
        raise ValidationFailed([{"field": "city", "label": "设区市",
                                 "message": "请填写设区市的行政区划代码（4位如3205，或6位如320500）"}])
    return city


def compute(session: Session, city: Jurisdiction, start: date, end: date) -> dict[str, list[dict[str, Any]]]:
    stop = enterprise_ranking.stop_work_ranking(session, city.code, start, end, limit=LIMIT)
    from cases.ledger.access import subtree_codes

    units = list(session.execute(select(Enterprise.id, Enterprise.name, Enterprise.credit_code)
                                 .where(Enterprise.jurisdiction_code.in_(subtree_codes(city.code)))))
    codes = {i: c for i, _, c in units}
    codes.update(dict(session.execute(select(Enterprise.id, Enterprise.credit_code).where(
        Enterprise.id.in_({r["enterprise_id"] for r in stop} or {0}))).all()))
    scores = score.credit_scores(session, [i for i, _, _ in units])
    credit = sorted(({"name": n, "credit_code": c, "credit_score": scores.get(i)} for i, n, c in units),
                    key=lambda r: (r["credit_score"] is None, r["credit_score"] or 0, r["name"]))[:LIMIT]
    stop_rows = [{"name": r["name"], "credit_code": codes.get(r["enterprise_id"], ""), "orders": r["orders"],
                  "active_projects": r["active_projects"], "ratio": r["ratio"]} for r in stop]
    for rank, r in enumerate(stop_rows, 1):
        r["rank"] = rank
    for rank, r in enumerate(credit, 1):
        r["rank"] = rank
    return {"stop_work": stop_rows, "credit": credit}


def publish(session: Session, user: User, raw_city: str | None, start: date | None, end: date | None,
            now: datetime, today: date) -> RankingPublication:
    require_role(user, "supervisor")
    city = _city(session, raw_city)
    if not in_subtree(session, user.jurisdiction_code, city.code):
        raise NotFound(f"设区市“{city.code}”不存在或不在您的管辖范围内")
    start = start or today.replace(month=1, day=1)
    end = end or today
    errors = []
    if end > today:
        errors.append({"field": "to", "label": "统计截止日期", "message": "不能晚于今天"})
    if start > end:
        errors.append({"field": "from", "label": "统计起始日期", "message": "不能晚于统计截止日期"})
    if errors:
        raise ValidationFailed(errors)
    authority = session.get(Jurisdiction, user.jurisdiction_code)
    pub = RankingPublication(city_code=city.code, authority_name=authority.authority_name, period_from=start,
                             period_to=end, published_at=now, published_by_id=user.id, score_source=score.SOURCE,
                             **compute(session, city, start, end))
    session.add(pub)
    session.flush()
    return pub


def as_dict(session: Session, pub: RankingPublication) -> dict[str, Any]:
    city = session.get(Jurisdiction, pub.city_code)
    return {"id": pub.id, "city_code": pub.city_code, "city_name": city.name if city else pub.city_code,
            "authority_name": pub.authority_name, "period_from": pub.period_from, "period_to": pub.period_to,
            "published_at": pub.published_at, "score_source": pub.score_source,
            "stop_work": pub.stop_work, "credit": pub.credit}


def latest(session: Session, raw_city: str | None) -> dict[str, Any] | None:
    """The city's latest publication (the public read: no login); None if none yet."""
    city = _city(session, raw_city)
    pub = session.scalars(select(RankingPublication).where(RankingPublication.city_code == city.code)
                          .order_by(RankingPublication.published_at.desc(), RankingPublication.id.desc()).limit(1)).first()
    return as_dict(session, pub) if pub is not None else None


def history(session: Session, user: User, raw_city: str | None) -> list[dict[str, Any]]:
    """Every publication of the city, newest first (staff whose subtree holds the city, or above)."""
    from cases.ledger.access import STAFF_ROLES

    require_role(user, *STAFF_ROLES)
    city = _city(session, raw_city)
    rows = session.execute(select(RankingPublication, User.display_name)
                           .join(User, User.id == RankingPublication.published_by_id)
                           .where(RankingPublication.city_code == city.code)
                           .order_by(RankingPublication.published_at.desc(), RankingPublication.id.desc())).all()
    return [{**{k: v for k, v in as_dict(session, p).items() if k not in ("stop_work", "credit")},
             "published_by": name, "stop_work_rows": len(p.stop_work), "credit_rows": len(p.credit)} for p, name in rows]
