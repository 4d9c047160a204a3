"""cases/reads/stats.py: the cockpit's figures computed from deadlines and events on known sets
(both databases): the drill-down rows, 按期整改率 with extensions and cancelled clocks, working
days to close across a weekend and the Beijing date boundary, the months of the trend."""
from __future__ import annotations

from datetime import date, datetime, timezone

from cases.reads import stats
from cases.calendar.calendar_store import get_calendar
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


def test_a_case_with_an_on_time_round_and_a_late_one_counts_once_as_late_as_the_ledger_lists_it(api, world, clock, db):
    officer, contact = api(world.officer), api(world.contact)
    case = officer.act(_hazard(officer, world, "两轮整改"), "start_rectification").json()
    case = contact.act(case, "report_completion", completion_report="已完成").json()   # round 1 met on time
    case = officer.act(case, "reject", opinion="复查不合格", rectification_days=3).json()  # round 2 starts
    clock.set(datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc))
    assert contact.act(officer.get(f"/api/cases/{case['id']}").json(), "report_completion",
                       completion_report="补充整改").status_code == 200                  # round 2 met late
    user = _user(db, world.supervisor)
    with db.session() as s:
        rates = stats.on_time_rates(s, user, stats.subtree(s, "320500"), date(2026, 1, 1), date(2026, 12, 31),
                                    clock.now())
    assert rates == {"320508": {"due": 1, "on_time": 0}}
    supervisor = api(world.supervisor)
    period = "jurisdiction=320508&rectification_due_from=2026-01-01&rectification_due_to=2026-12-31"
    listed = {flag: supervisor.get(f"/api/cases?{period}{flag}").json()["total"]
              for flag in ("", "&rectified_on_time=true", "&rectified_on_time=false")}
    assert listed == {"": 1, "&rectified_on_time=true": 0, "&rectified_on_time=false": 1}


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


def _case(client, world, title, *, county="320508", found_at, days=3):
    project, unit = (world.p1, world.e1) if county == "320508" else (world.p2, world.e2)
    case = client.post("/api/cases", json={"kind": "hazard", "title": title, "project_id": project.id,
                                           "found_at": found_at})
    assert case.status_code == 201, case.text
    r = client.act(case.json(), "register", enterprise_id=unit.id, severity="general", requirements="整改",
                   rectification_days=days)
    assert r.status_code == 200, r.text
    return client.act(r.json(), "start_rectification").json()


def _close(client, case):
    case = client.act(case, "verify", opinion="合格").json()
    assert client.act(case, "close").status_code == 200


def _recount(s, root_code, start, end, today, now, calendar):
    """Every figure of the ranking and the trend recounted in Python from the rows, by the definitions
    of docs/cockpit.md (the cases whose current jurisdiction lies under ``root_code``)."""
    from datetime import timedelta

    from sqlalchemy import select

    from cases.models import Case, Deadline, Jurisdiction

    paths = dict(s.execute(select(Jurisdiction.code, Jurisdiction.path)).all())
    tree = stats.subtree(s, root_code)
    cases = {c.id: c for c in s.scalars(select(Case)) if paths[c.jurisdiction_code].startswith(paths[root_code])}
    clocks = [d for d in s.scalars(select(Deadline)) if d.case_id in cases]
    bj = lambda t: (t.astimezone(timezone.utc) + timedelta(hours=8)).date()  # noqa: E731 (Beijing date)
    late_by_case: dict[int, bool] = {}  # cases, not clocks: late when any clock due in the period was
    for d in clocks:
        if (d.key == "rectification" and d.status in ("open", "met", "missed") and d.due_date is not None
                and d.due_at is not None and start <= d.due_date <= end and (d.status == "met" or d.due_at <= now)):
            late = not (d.status == "met" and d.closed_at <= d.due_at)
            late_by_case[d.case_id] = late_by_case.get(d.case_id, False) or late
    rates: dict[str, dict[str, int]] = {}
    for case_id, late in late_by_case.items():
        row = rates.setdefault(tree.row_of[cases[case_id].jurisdiction_code], {"due": 0, "on_time": 0})
        row["due"] += 1
        row["on_time"] += int(not late)
    times: dict[str, dict[str, int]] = {}
    for c in cases.values():
        if c.closed_at is not None and start <= bj(c.closed_at) <= end:
            row = times.setdefault(tree.row_of[c.jurisdiction_code], {"closed": 0, "working_days": 0})
            row["closed"] += 1
            day, found = bj(c.closed_at), bj(c.found_at)
            row["working_days"] += sum(1 for n in range((day - found).days)
                                       if calendar.is_working_day(found + timedelta(days=n + 1)))
    trend = []
    for first, last in stats.months_back(today):
        late = {d.case_id for d in clocks if d.affects_light and d.due_at is not None and d.due_at <= now
                and first <= bj(d.due_at) <= last
                and (d.closed_at is None or d.closed_at > d.due_at)}
        trend.append({"first": first, "last": last,
                      "opened": sum(1 for c in cases.values() if first <= bj(c.found_at) <= last),
                      "closed": sum(1 for c in cases.values() if c.closed_at and first <= bj(c.closed_at) <= last),
                      "overdue": len(late)})
    return rates, times, trend


def test_every_figure_equals_a_recount_by_its_definition(api, world, clock, db):
    """The figures read through the subtree's codes (stats._scope, the indexed path of migration
    0010_stats) against a recount in Python, for every user and root a page can show — including a
    case moved up by 提级 and cases of two counties, found and closed in different months."""
    from datetime import timedelta

    from sqlalchemy import select

    from cases.ledger import services
    from cases.models import Case

    officer, wz = api(world.officer), api(world.officer_wz)
    on_time = _case(officer, world, "按期结案", found_at="2026-03-10T09:00:00+08:00")
    contact = api(world.contact)
    on_time = contact.act(on_time, "report_completion", completion_report="完成").json()
    _close(officer, officer.get(f"/api/cases/{on_time['id']}").json())
    late = _case(officer, world, "逾期后完成", found_at="2026-06-01T23:30:00+08:00")
    _close(wz, _case(wz, world, "吴中结案", county="320506", found_at="2026-09-15T10:00:00+08:00"))
    _case(wz, world, "吴中未到期", county="320506", found_at="2025-12-20T08:00:00+08:00", days=30)
    still_late = _case(wz, world, "吴中逾期未改", county="320506", found_at="2026-10-31T17:00:00+08:00")
    moved = _case(officer, world, "提级", found_at="2025-12-01T00:10:00+08:00")
    with db.transaction() as s:  # 提级 as the sweep's rung does it
        services.record_system_event(s, s.get(Case, moved["id"]), "escalated", {"from": "320508", "to": "320500"},
                                     now=clock.now(), changes={"jurisdiction_code": "320500"}, comment="提级")
    clock.set(clock.now() + timedelta(days=9))
    late = officer.get(f"/api/cases/{late['id']}").json()
    assert contact.act(late, "report_completion", completion_report="完成").status_code == 200
    assert still_late["state"]

    now = clock.now()
    today = (now + timedelta(hours=8)).date()
    with db.session() as s:
        calendar = get_calendar(s)
        for who, root in ((world.supervisor, "320500"), (world.province, "320000"), (world.province, "320500"),
                          (world.admin, "320506"), (world.officer, "320508"), (world.officer_wz, "320506")):
            user = s.get(User, who.id)
            # The subtree's codes select exactly the visible cases of the subtree.
            assert (set(s.scalars(select(Case.id).where(stats._scope(s, user, root))))
                    == set(s.scalars(select(Case.id).where(stats._in_subtree(user, root))))), (who.username, root)
            tree = stats.subtree(s, root)
            for start, end in ((date(2026, 1, 1), today), (date(2025, 12, 1), date(2026, 12, 31))):
                rates, times, trend = _recount(s, root, start, end, today, now, calendar)
                assert stats.on_time_rates(s, user, tree, start, end, now) == rates, (who.username, root)
                assert stats.close_times(s, user, tree, start, end, calendar) == times, (who.username, root)
            assert stats.monthly_trend(s, user, root, today, now) == trend, (who.username, root)
        city = stats.monthly_trend(s, s.get(User, world.supervisor.id), "320500", today, now)
    # The set is not trivial (now 2 Dec 2026: the two cases found in December 2025 are before the 12 months).
    assert [sum(m[k] for m in city) for k in ("opened", "closed", "overdue")] == [4, 2, 3]


def test_the_clocks_follow_their_case_up_when_it_is_escalated(api, world, clock, db):
    """deadlines.jurisdiction_code (migration 0017_deadline_j) is set on insert and moves with 提级."""
    from sqlalchemy import select

    from cases.clocks import lights
    from cases.ledger import services
    from cases.models import Case, Deadline

    case = _hazard(api(world.officer), world, "提级后的期限")
    with db.session() as s:
        assert set(s.scalars(select(Deadline.jurisdiction_code).where(Deadline.case_id == case["id"]))) == {"320508"}
    with db.transaction() as s:
        row = s.get(Case, case["id"])
        services.record_system_event(s, row, "escalated", {"from": "320508", "to": "320500"}, now=clock.now(),
                                     changes={"jurisdiction_code": "320500"}, comment="提级")
    with db.session() as s:
        assert set(s.scalars(select(Deadline.jurisdiction_code).where(Deadline.case_id == case["id"]))) == {"320500"}
        assert s.execute(lights.jurisdiction_mismatches()).all() == []
