"""Supervisors' statistics read from the clocks and the records (the cockpit's API twins): early
warning (预警), the enterprise ranking (企业排名) and the repeat offenders (屡查屡犯). Staff only, within
the user's jurisdiction subtree (``staff_subtree_code``, which the other statistics routes share)."""
from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import AppClock, CurrentUser, Db

router = APIRouter(prefix="/api", tags=["statistics"])


def staff_subtree_code(s, user, jurisdiction: str | None) -> str:
    """The jurisdiction a staff statistic is asked for (default: the user's own): within the user's
    subtree, else 404 worded like a missing one; an enterprise contact gets 403."""
    from cases.ledger.access import STAFF_ROLES, in_subtree, require_role
    from cases.platform.errors import NotFound

    require_role(user, *STAFF_ROLES)
    code = (jurisdiction or user.jurisdiction_code).strip()[:12]
    if not in_subtree(s, user.jurisdiction_code, code):
        raise NotFound(f"辖区“{code}”不存在或不在您的管辖范围内")
    return code


@router.get("/stats/early-warning", summary="预警：未来N个工作日内将变红、将升级的案件（按下级辖区）")
def early_warning_figures(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str | None = None,
                          days: int = Query(5, ge=1, le=60, description="预警天数（工作日，含调休）")):
    """Per district of ``jurisdiction`` (default: the user's), the open cases that will turn red and
    that will climb a measure rung of the ladder by 24:00 of the ``days``-th working day — from the
    clocks and the sweep's pending timers (cases/reads/early_warning.py). Staff only."""
    from cases.calendar.calendar_store import get_calendar
    from cases.platform.errors import NotFound
    from cases.reads import early_warning, stats

    now = clock.now()
    with db.session() as s:
        code = staff_subtree_code(s, user, jurisdiction)
        tree = stats.subtree(s, code)
        if tree is None:
            raise NotFound(f"辖区“{code}”不存在或不在您的管辖范围内")
        win = early_warning.window(now, days, get_calendar(s))
        figures = early_warning.figures(s, user, tree, now, win)
    labels = early_warning.rung_labels()
    return {"jurisdiction": {"code": tree.root.code, "name": tree.root.name}, "days": days, "at": now,
            "until": win.until, "last_day": win.last_day.isoformat(), "rung_labels": labels,
            "rows": [{"jurisdiction": {"code": r["place"].code, "name": r["place"].name}, "own_level": r["own_level"],
                      "turning_red": r["red"], "climbing": r["climbing"], "rungs": r["rungs"]} for r in figures["rows"]],
            "total_turning_red": figures["total_red"], "total_climbing": figures["total_climbing"]}


@router.get("/stats/enterprise-ranking", summary="企业排名：停工通知书与在建项目之比、信用分（按辖区）")
def enterprise_ranking(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str | None = None,
                       period_from: str | None = Query(None, alias="from", description="统计起始日期（YYYY-MM-DD，默认当年1月1日）"),
                       period_to: str | None = Query(None, alias="to", description="统计截止日期（YYYY-MM-DD，默认今天）")):
    """The units of ``jurisdiction``'s subtree (default: the user's) by 责令停工通知书 per project under
    construction in the period, and by credit score (cases/reads/enterprise_ranking.py). Staff only."""
    from cases.reads import enterprise_ranking as ranking
    from cases.reads.case_lists import legal_date

    with db.session() as s:
        code = staff_subtree_code(s, user, jurisdiction)
        today = clock.today()
        start = legal_date("from", period_from) or today.replace(month=1, day=1)
        end = legal_date("to", period_to) or today
        return {"jurisdiction": code, "from": start.isoformat(), "to": end.isoformat(),
                "stop_work": ranking.stop_work_ranking(s, code, start, end), "credit": ranking.credit_ranking(s, code)}


@router.get("/stats/repeat-offenders", summary="屡查屡犯：达到重复违法情形的企业（按辖区），附处理建议和所涉案件")
def repeat_offenders(user: CurrentUser, db: Db, clock: AppClock, jurisdiction: str | None = None):
    """Enterprises whose 重大事故隐患 or overdue 整改期限 in the subtree reach a pattern of
    state_machines/policies/patterns-v1.yaml (cases/reads/repeat_offenders.py). Staff only."""
    from cases.ledger.access import subtree_codes
    from cases.reads.repeat_offenders import flagged

    with db.session() as s:
        code = staff_subtree_code(s, user, jurisdiction)
        codes = sorted(s.scalars(subtree_codes(code)))
        return {"jurisdiction": code, "at": clock.now(), "items": flagged(s, codes, clock.now())}
