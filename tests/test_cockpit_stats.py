"""cases/clocks/stats.py: the cockpit's figures computed from deadlines and events on known sets
(both databases): the drill-down rows, 按期整改率 with extensions and cancelled clocks, working
days to close across a weekend and the Beijing date boundary, the months of the trend."""
from __future__ import annotations

from datetime import date, datetime, timezone

from cases.clocks import stats
from cases.clocks.calendar_store import get_calendar
from cases.models import User


def _hazard(officer, world, title, *, days=3, found_at=None):
    body = {"kind": "hazard", "title": title, "project_id": world.p1.id}
    if found_at:
        body["found_at"] = found_at
    case = officer.post("/api/cases", json=body)
    assert case.status_code == 201, case.text
    r = officer.act(case.json(), "register", enterprise_id=world.e1.id, severity="general", requirements="整改",
                    rectification_days=days)
    assert r.status_code == 200, r.text
    return r.json()


def _user(db, user) -> User:
    with db.session() as s:
        u = s.get(User, user.id)
        s.expunge(u)
        return u


def test_the_subtree_rows_and_breadcrumb(db, world):
    with db.session() as s:
        city = stats.subtree(s, "320500")
        county = stats.subtree(s, "320508")
        assert stats.subtree(s, "999999") is None
    assert [p.code for p in city.chain] == ["320000", "320500"]
    assert "320508" in {c.code for c in city.children} and city.row_of["320508"] == "320508"
    assert city.row_of["320500"] == "320500" and city.rows[-1].code == "320500"
    assert county.children == [] and [p.code for p in county.rows] == ["320508"]


def test_on_time_rate_counts_extended_clocks_and_leaves_out_cancelled_ones(api, world, clock, db):
    officer, contact, supervisor = api(world.officer), api(world.contact), api(world.supervisor)
    on_time = _hazard(officer, world, "按期")                      # due Thu 26 Nov
    extended = _hazard(officer, world, "延期后按期")                # due 26 Nov, extended by 3 days
    late = _hazard(officer, world, "逾期")
    rejected = _hazard(officer, world, "复查不合格")
    pending = _hazard(officer, world, "未到期", days=15)            # due 8 Dec: not decided yet
    on_time = officer.act(on_time, "start_rectification").json()
    assert contact.act(on_time, "report_completion", completion_report="完成").status_code == 200
    extended = officer.act(extended, "start_rectification").json()
    extended = contact.act(extended, "request_extension", extension_days=3, reason="材料").json()
    extended = supervisor.act(extended, "decide_extension", approved=True, approved_days=3).json()
    assert [d["due_date"] for d in extended["deadlines"] if d["key"] == "rectification"] == ["2026-12-01"]
    # 复查不合格 before its due: the first clock is superseded by a new round (due 8 Dec): neither counts.
    rejected = officer.act(rejected, "start_rectification").json()
    assert officer.act(rejected, "reject", opinion="不合格", rectification_days=15).status_code == 200
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc))  # Mon 30 Nov
    for case in (extended, late):
        current = officer.get(f"/api/cases/{case['id']}").json()
        if current["state"] == "registered":
            current = officer.act(current, "start_rectification").json()
        assert contact.act(current, "report_completion", completion_report="完成").status_code == 200
    user = _user(db, world.supervisor)
    with db.session() as s:
        tree = stats.subtree(s, "320500")
        rates = stats.on_time_rates(s, user, tree, date(2026, 1, 1), date(2026, 12, 31), clock.now())
        only_nov = stats.on_time_rates(s, user, tree, date(2026, 11, 1), date(2026, 11, 30), clock.now())
    # Decided and due in 2026: 按期 (met before its due), 延期后按期 (met 30 Nov, due 1 Dec after the
    # extension), 逾期 (met 30 Nov, due 26 Nov).
    assert rates == {"320508": {"due": 3, "on_time": 2}}
    assert only_nov == {"320508": {"due": 2, "on_time": 1}}  # the extended one is due in December
    assert pending  # (its clock, due 8 Dec, is not decided on 30 Nov)


def test_working_days_to_close_use_the_beijing_date_and_skip_weekends(api, world, clock, db):
    officer = api(world.officer)
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc))  # Mon 30 Nov 10:00 Beijing
    # Found Tue 24 Nov 00:30 Beijing (still 23 Nov in UTC): 25, 26, 27, 30 Nov → 4 working days.
    a = _hazard(officer, world, "甲", found_at="2026-11-24T00:30:00+08:00")
    # Found Fri 20 Nov: 23–27 and 30 Nov → 6 working days (the weekend does not count).
    b = _hazard(officer, world, "乙", found_at="2026-11-20T15:00:00+08:00")
    for case in (a, b):
        case = officer.act(case, "start_rectification").json()
        case = officer.act(case, "verify", opinion="合格").json()
        assert officer.act(case, "close").status_code == 200
    user = _user(db, world.supervisor)
    with db.session() as s:
        tree = stats.subtree(s, "320500")
        times = stats.close_times(s, user, tree, date(2026, 11, 1), date(2026, 11, 30), get_calendar(s))
        none = stats.close_times(s, user, tree, date(2026, 12, 1), date(2026, 12, 31), get_calendar(s))
        ranking = stats.ranking(s, user, tree, date(2026, 11, 1), date(2026, 11, 30), clock.now(), get_calendar(s))
    assert times == {"320508": {"closed": 2, "working_days": 10}} and none == {}
    gusu = next(r for r in ranking if r["place"].code == "320508")
    assert gusu["closed"] == 2 and gusu["avg_days"] == 5.0


def test_the_trend_months_end_with_the_current_one():
    months = stats.months_back(date(2026, 11, 27))
    assert len(months) == 12 and months[0] == (date(2025, 12, 1), date(2025, 12, 31))
    assert months[-1] == (date(2026, 11, 1), date(2026, 11, 30)) and months[2] == (date(2026, 2, 1), date(2026, 2, 28))
    assert stats.months_back(date(2027, 1, 5), 2) == [(date(2026, 12, 1), date(2026, 12, 31)),
                                                      (date(2027, 1, 1), date(2027, 1, 31))]
