"""cases/reports: figures as of a cut-off replayed from the event log (both databases) — equal to the
live tables and the cockpit's 按期整改率 when the cut-off is now; unmoved by anything recorded later
(a property test); submission versions, 文号, late flags and the city's board."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cases.clocks.sweep import fire_all_due
from cases.models import Case, User
from cases.platform.errors import ActionNotAllowed, DomainError, Forbidden, ValidationFailed
from cases.reads import stats
from cases.reports import asof, policy, services as reports
from tests.report_world import Driver

UTC = timezone.utc


def _u(db, user) -> User:
    with db.session() as s:
        u = s.get(User, user.id)
        s.expunge(u)
        return u


def _world(db, world, clock) -> tuple[Driver, dict[str, int]]:
    """November 2026 in 姑苏区 and 吴中区: hazards met on time, late, extended, reopened, closed; an
    accident graded 较大 (moves to the city); one case 提级 by the ladder."""
    d = Driver(db, world, clock)
    ids = {}
    ids["on_time"] = d.hazard(title="按期整改")
    ids["late"] = d.hazard(title="逾期整改")
    ids["closed"] = d.hazard(title="整改销号")
    ids["dismissed"] = d.create(title="不予立案")
    ids["wz"] = d.hazard(actor=world.officer_wz, title="吴中隐患")
    ids["accident"] = d.accident(deaths=1, serious=2)
    ids["larger"] = d.accident(deaths=3)
    ids["moved"] = d.hazard(title="提级隐患")
    for key in ("on_time", "late", "closed"):
        d.act(ids[key], "start_rectification")
    d.act(ids["on_time"], "report_completion", completion_report="已整改")
    d.act(ids["closed"], "report_completion", completion_report="已整改")
    d.act(ids["closed"], "verify", opinion="合格")
    d.act(ids["closed"], "close")
    d.act(ids["dismissed"], "dismiss", reason="不属实")
    d.escalate(ids["moved"])
    clock.set(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))  # Sat 28 Nov: the 3-day clocks (due 26 Nov) are past
    d.act(ids["late"], "report_completion", completion_report="迟了")
    d.act(ids["closed"], "reopen", reason="回头看反弹", rectification_days=5)
    return d, ids


def test_as_of_now_the_replay_is_the_tables_and_the_rate_is_the_cockpits(db, world, clock):
    d, ids = _world(db, world, clock)
    now = clock.now()
    sup = _u(db, world.supervisor)
    with db.session() as s:
        tree = stats.subtree(s, "320500")
        comp = asof.compute(s, tree, date(2026, 11, 1), date(2026, 11, 30), now)
        # every case replayed from its events is what its row says now
        for case in s.scalars(select(Case)):
            events = s.execute(select(asof.CaseEvent).where(asof.CaseEvent.case_id == case.id)
                               .order_by(asof.CaseEvent.seq)).scalars().all()
            c = asof.replay(asof.CaseAsOf(case.id, jurisdiction=case.origin_jurisdiction_code), events, now)
            assert (c.kind, c.state, c.jurisdiction) == (case.kind, case.state, case.jurisdiction_code)
            assert (c.closed_at is not None) == (case.closed_at is not None)
            if case.closed_at:
                assert c.closed_at == asof.utc(case.closed_at)
            if case.kind == "accident":
                assert asof.grade_of(c.facts) == (case.accident_grade or "none")
        cockpit = stats.on_time_rates(s, sup, tree, date(2026, 11, 1), date(2026, 11, 30), now)
    total = comp.total["all"]
    assert total["rect_due"] == sum(r["due"] for r in cockpit.values())
    assert total["rect_on_time"] == sum(r["on_time"] for r in cockpit.values())
    # on time: 按期整改 and 整改销号 (met before its due; its reopened round is due in December);
    # late: 逾期整改, 吴中隐患, and 提级隐患 (held by the city now)
    assert (total["rect_due"], total["rect_on_time"]) == (5, 2)
    # per row: the districts, and the city's own level holding the 较大 accident and the 提级 case
    assert comp.figures["320500"]["kinds"]["accident"]["new"] == 1
    assert comp.figures["320500"]["accidents"]["larger"] == {"count": 1, "deaths": 3, "serious_injuries": 0,
                                                            "minor_injuries": 0, "direct_loss": 500000.0}
    assert comp.figures["320500"]["kinds"]["hazard"]["new"] == 1
    g = comp.figures["320508"]
    assert g["kinds"]["hazard"]["new"] == 4 and g["kinds"]["hazard"]["closed"] == 1  # the dismissed one
    assert g["accidents"]["ordinary"]["count"] == 1 and g["accidents"]["ordinary"]["serious_injuries"] == 2
    # 逾期 as the cockpit's trend counts it (any clock that lights the case, due in the month, not done by its due)
    for code in ("320508", "320506"):
        with db.session() as s:
            trend = stats.monthly_trend(s, sup, code, date(2026, 11, 28), now, n=1)
        assert comp.figures[code]["all"]["overdue"] == trend[0]["overdue"] > 0
        assert comp.figures[code]["all"]["new"] == trend[0]["opened"]
        assert comp.figures[code]["all"]["closed"] == trend[0]["closed"]
    assert g["kinds"]["hazard"]["open_end"] == 3  # 按期整改 (not verified), 逾期整改, the reopened one
    assert comp.figures["320506"]["kinds"]["hazard"]["rect_due"] == 1


def test_a_march_figure_does_not_move_with_what_is_recorded_later(db, world, clock):
    d, ids = _world(db, world, clock)
    cutoff = clock.now()
    with db.session() as s:
        tree = stats.subtree(s, "320500")
        before = asof.compute(s, tree, date(2026, 11, 1), date(2026, 11, 30), cutoff)
    clock.set(datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    d.act(ids["accident"], "update_casualties", deaths=2, serious_injuries=2, direct_loss=600000)
    d.act(ids["late"], "verify", opinion="合格")
    d.act(ids["late"], "close")
    d.escalate(ids["wz"])
    d.create(title="补录的11月隐患", found_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC).isoformat())
    with db.session() as s:
        tree = stats.subtree(s, "320500")
        again = asof.compute(s, tree, date(2026, 11, 1), date(2026, 11, 30), cutoff)
        live = asof.compute(s, tree, date(2026, 11, 1), date(2026, 11, 30), clock.now())
    assert again.figures == before.figures and again.total == before.total
    assert live.total["kinds"]["hazard"]["new"] == before.total["kinds"]["hazard"]["new"] + 1
    assert live.total["accidents"]["ordinary"]["deaths"] == before.total["accidents"]["ordinary"]["deaths"] + 1
    assert "320506" not in live.figures or live.figures["320506"]["kinds"]["hazard"]["new"] == 0


# ---------------------------------------------------------------- the property test

_OPS = ("act", "act", "act", "escalate", "backdated", "casualties", "advance", "sweep")
_FIELDS = {
    "start_rectification": {}, "report_completion": {"completion_report": "已整改"},
    "verify": {"opinion": "合格"}, "reject": {"opinion": "不合格", "rectification_days": 5}, "close": {},
    "reopen": {"reason": "回头看", "rectification_days": 4}, "request_extension": {"extension_days": 3, "reason": "材料"},
    "register": {"severity": "general", "requirements": "整改", "rectification_days": 3},
    "dismiss": {"reason": "不属实"},
    "reclassify": {"hazard_item_code": "8.5", "stop_work_scope": "partial", "reason": "认定为重大事故隐患",
                   "requirements": "停工整改"},
}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 50), st.integers(0, 50)), min_size=3, max_size=10))
def test_property_later_changes_never_move_a_past_report(db, world, clock, steps):
    """Built once per database (the examples accumulate: every example's changes come after the cut-off,
    and the report as of the cut-off must stay what it was)."""
    state = _PROPERTY.setdefault(id(db), {})
    if not state:
        d, ids = _world(db, world, clock)
        cutoff = clock.now()
        with db.session() as s:
            tree = stats.subtree(s, "320500")
            state.update(driver=d, cutoff=cutoff, ids=list(ids.values()),
                         report={p: asof.compute(s, tree, a, b, cutoff) for p, (a, b) in _PERIODS.items()})
        clock.advance(timedelta(seconds=1))  # "later" is recorded after the cut-off instant (at > T)
    d: Driver = state["driver"]
    applied = 0
    for op, a, b in steps:
        cid = state["ids"][a % len(state["ids"])]
        try:
            if op == "advance":
                clock.advance(timedelta(hours=1 + b * 7))
            elif op == "sweep":  # the ladder's rungs fire as the served sweep fires them (提级 included)
                fire_all_due(db, clock.now())
            elif op == "escalate":
                d.escalate(cid)
            elif op == "backdated":
                new = d.create(title="补录", found_at=datetime(2026, 11, 1 + b % 27, 2, tzinfo=UTC).isoformat())
                state["ids"].append(new)
            elif op == "casualties":
                d.act(cid, "update_casualties", actor=world.supervisor, deaths=b % 4, serious_injuries=b % 3,
                      direct_loss=100000 * (1 + b % 5))
            else:
                actor = world.supervisor
                allowed = [x for x in d.allowed(cid, actor) if x in _FIELDS]
                if not allowed:
                    continue
                action = allowed[b % len(allowed)]
                fields = dict(_FIELDS[action])
                if action in ("register", "reclassify"):
                    fields["enterprise_id"] = world.e1.id
                d.act(cid, action, actor, **fields)
                state.setdefault("actions", set()).add(action)
            applied += 1
        except DomainError:
            continue  # a guard refused (a window passed, a completion not reported): nothing written
    state["applied"] = state.get("applied", 0) + applied
    with db.session() as s:
        tree = stats.subtree(s, "320500")
        for p, (first, last) in _PERIODS.items():
            again = asof.compute(s, tree, first, last, state["cutoff"])
            assert again.figures == state["report"][p].figures, (p, reports.differences(state["report"][p].figures, again.figures))
            assert again.total == state["report"][p].total, p


_PROPERTY: dict[int, dict] = {}
_PERIODS = {"2026-11": (date(2026, 11, 1), date(2026, 11, 30)), "2026-Q4": (date(2026, 10, 1), date(2026, 12, 31)),
            "2026": (date(2026, 1, 1), date(2026, 12, 31))}


# ---------------------------------------------------------------- policy, submission, access


def test_periods_and_their_deadlines_come_from_the_policy():
    p = policy.load(1)
    assert p.version == 1 and not p.rolls_over_days_off
    assert p.deadline(policy.parse_period("month", "2026-03")) == date(2026, 4, 5)
    assert p.deadline(policy.parse_period("month", "2026-12")) == date(2027, 1, 5)
    assert p.deadline(policy.parse_period("quarter", "2026-Q1")) == date(2026, 4, 10)
    assert p.deadline(policy.parse_period("half", "2026-H1")) == date(2026, 8, 1)
    assert p.deadline(policy.parse_period("year", "2026")) == date(2026, 12, 31)
    assert policy.parse_period("quarter", "2026-Q4").label == "2026年第四季度"
    # v2 (current): a deadline on a day off moves to the next working day, on the statutory calendar
    from cases.clocks.holiday_calendar import HolidayCalendar

    v2, cal = policy.load(), HolidayCalendar()
    assert v2.version == 2 and v2.rolls_over_days_off and v2.periods == p.periods
    assert v2.deadline(policy.parse_period("month", "2026-03"), cal) == date(2026, 4, 7)   # 清明 4–6 April
    assert v2.deadline(policy.parse_period("month", "2026-09"), cal) == date(2026, 10, 8)  # 国庆 1–7 October
    assert v2.deadline(policy.parse_period("half", "2026-H1"), cal) == date(2026, 8, 3)    # Sat 1 August
    assert v2.deadline(policy.parse_period("quarter", "2026-Q1"), cal) == date(2026, 4, 10)  # a Friday: unchanged
    assert v2.deadline(policy.parse_period("year", "2026"), cal) == date(2026, 12, 31)
    with pytest.raises(ValueError):
        v2.deadline(policy.parse_period("month", "2026-03"))
    with pytest.raises(ValidationFailed) as e:
        policy.parse_period("month", "2026-13")
    assert e.value.errors[0]["label"] == "报告期" and "2026-03" in e.value.errors[0]["message"]
    with pytest.raises(ValidationFailed) as e:
        policy.parse_period("weekly", "2026")
    assert e.value.errors[0]["label"] == "报告周期"


def test_submission_versions_number_and_lateness(db, world, clock):
    d, ids = _world(db, world, clock)
    officer, wz, sup, contact = (_u(db, u) for u in (world.officer, world.officer_wz, world.supervisor, world.contact))
    with db.transaction() as s:
        with pytest.raises(ActionNotAllowed):  # November has not ended on 28 Nov
            reports.submit(s, officer, "320508", "month", "2026-11", now=clock.now())
    clock.set(datetime(2026, 12, 4, 2, 0, tzinfo=UTC))  # Fri 4 Dec: before the 5th
    with db.transaction() as s:
        first = reports.submit(s, officer, "320508", "month", "2026-11", now=clock.now())
        assert (first.version, first.late, first.late_days) == (1, False, 0)
        assert first.doc_number == "姑苏建质报〔2026〕1号"
        assert first.deadline_date == date(2026, 12, 7)  # the 5th is a Saturday: Monday 7th
        with pytest.raises(Forbidden):  # a district submits only its own report
            reports.submit(s, officer, "320506", "month", "2026-11", now=clock.now())
        with pytest.raises(Forbidden):
            reports.submit(s, sup, "320508", "month", "2026-11", now=clock.now())
        with pytest.raises(ValidationFailed) as e:  # a correction says why
            reports.submit(s, officer, "320508", "month", "2026-11", now=clock.now())
        assert e.value.errors[0]["label"] == "更正说明"
    with db.session() as s:
        with pytest.raises(Forbidden):
            reports.report(s, contact, "320508", "month", "2026-11", cutoff=None, now=clock.now())
        with pytest.raises(Forbidden):
            reports.report(s, wz, "320508", "month", "2026-11", cutoff=None, now=clock.now())
        board = reports.overview(s, sup, "320500", "month", "2026-11", now=clock.now())
    rows = {r["code"]: r for r in board["districts"]}
    assert rows["320508"]["status"] == "submitted" and rows["320506"]["status"] == "not_yet"
    clock.set(datetime(2026, 12, 10, 2, 0, tzinfo=UTC))  # Thu 10 Dec: 3 days after Monday 7th
    with db.transaction() as s:
        late = reports.submit(s, wz, "320506", "month", "2026-11", now=clock.now())
        assert (late.late, late.late_days) == (True, 3) and late.doc_number == "吴中建质报〔2026〕1号"
        second = reports.submit(s, officer, "320508", "month", "2026-11", now=clock.now(), note="更正检查数")
        assert (second.version, second.doc_number) == (2, "姑苏建质报〔2026〕2号")
    with db.session() as s:
        board = reports.overview(s, sup, "320500", "month", "2026-11", now=clock.now())
        versions = reports.submissions(s, officer, "320508", "month", "2026-11")
    rows = {r["code"]: r for r in board["districts"]}
    assert rows["320508"]["status"] == "submitted" and rows["320508"]["versions"] == 2  # the first was on time
    assert rows["320506"]["status"] == "late" and rows["320506"]["late_days"] == 3
    assert [v.version for v in versions] == [2, 1]
    # the districts' frozen figures summed vs the city's live computation: the city's own level differs
    assert board["submitted_sum"]["kinds"]["hazard"]["new"] == 5
    assert board["live"]["total"]["kinds"]["hazard"]["new"] == 6  # + the case 提级 to the city
    assert {"figure": "kinds.hazard.new", "before": 5, "after": 6} in board["differences"]


def test_the_credit_section_as_of_the_cut_off(db, world, clock):
    """The 不良行为记录 of the period (the accidents' records here) with their points as of the cut-off:
    an appeal withdrawn later moves today's figures, never the past report's, and is listed among the
    events after the cut-off."""
    from cases.credit import services as credit
    from cases.models import CreditRecord

    d, ids = _world(db, world, clock)
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # 姑苏区 reports November on 1 December
    cutoff = clock.now()
    nov = (date(2026, 11, 1), date(2026, 11, 30))
    with db.session() as s:
        expected = s.scalars(select(CreditRecord).where(CreditRecord.authority_code.in_(("320500", "320508", "320506")))).all()
        tree = stats.subtree(s, "320500")
        before = asof.compute(s, tree, *nov, cutoff)
    assert expected and before.total["credit"]["records"] == len(expected)
    assert before.total["credit"]["points"] == sum(r.points for r in expected) > 0
    mine = next(r for r in expected if r.enterprise_id == world.e1.id and r.authority_code == "320508")
    with db.transaction() as s:
        sub_id = reports.submit(s, s.get(User, world.officer.id), "320508", "month", "2026-11", now=cutoff).id
    clock.set(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    with db.transaction() as s:
        credit.appeal(s, s.get(User, world.contact.id), mine.id, "事故责任在分包单位", clock.now())
    with db.transaction() as s:
        credit.decide(s, s.get(User, world.officer.id), mine.id, "withdrawn", "经复核，责任主体认定有误", clock.now())
    with db.session() as s:
        tree = stats.subtree(s, "320500")
        again = asof.compute(s, tree, *nov, cutoff)
        live = asof.compute(s, tree, *nov, clock.now())
    assert again.total["credit"] == before.total["credit"]
    assert live.total["credit"]["withdrawn"] == 1 and live.total["credit"]["appealed"] == 1
    assert live.total["credit"]["points"] == before.total["credit"]["points"] - mine.points
    sup = _u(db, world.supervisor)
    with db.session() as s:
        out = reports.rerun(s, sup, sub_id, now=clock.now())
    assert out["same_as_frozen"], out["rerun_differences"]
    assert {"credit_record_event"} <= {e["type"] for e in out["events_after_cutoff"]}
    assert [e["action"] for e in out["events_after_cutoff"] if e["type"] == "credit_record_event"] == ["appealed", "withdrawn"]
